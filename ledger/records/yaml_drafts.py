"""Drafts in YAML: a template of every field of a kind, commented from the published schema,
and the strict reading of such a draft back into record fields.

``render_draft(kind, like)`` is what ``ledger draft`` writes: the fields a record holds, in the
schema's order, each preceded by a comment with its description, whether it is required and
what it takes; ``like`` (an existing version's content) fills in the values. What ``ledger new``
fills from its options is left out: the identity, the DVC snapshot and ``supersedes``. Values are
written as JSON scalars, which YAML reads back unchanged (quoted strings stay strings).

``read_yaml_draft`` reads one back. YAML's conveniences that would change a record silently are
refused or turned off: a repeated key is L004 (YAML keeps the last one without a word), dates
stay text (not ``datetime``), ``.nan`` and ``.inf`` are L005, keys must be text. An empty value
means "not given": the field is dropped, so a template is filled in one field at a time and
``ledger new`` lists what is still missing. The result passes the same strict JSON reading as a
record file (size, depth, exact numbers).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ledger.findings import Finding, finding
from ledger.kinds import spec
from ledger.records.jsonload import Limits, load_json_bytes
from ledger.records.schemas import generate_schemas, schema_filename

_IDENTITY = ("kind", "schema_version", "name", "version", "supersedes")
_TYPES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "nothing",
}
_NOT_APPLICABLE = '{not_applicable: "<reason>"}'


def render_draft(
    kind: str, like: Mapping[str, Any] | None = None, *, header: Sequence[str] = ()
) -> str:
    """A YAML draft of a record of ``kind``; with ``like``, its values filled in. ``header``
    (lines of text) replaces the opening that says where the values came from and what to run."""
    schemas = generate_schemas()
    schema = schemas[schema_filename(spec(kind).kind)]
    writer = _Writer(schemas)
    source = (
        f"prefilled from {like.get('kind')}:{like.get('name')}@{like.get('version')}"
        if like
        else "empty"
    )
    opening = header or [
        f"A draft of a {kind} record ({source}), for",
        f"  ledger new {kind} NAME --version VERSION --from THIS_FILE",
    ]
    writer.lines += [f"# {_one_line(line)}".rstrip() for line in opening]
    writer.lines += [
        "# Each field is preceded by what it holds. A field left empty is not given;",
        "# ledger new lists every required field still missing. Write text in double quotes.",
        '# A documentation field that does not apply takes {not_applicable: "<reason>"}.',
    ]
    skip = {*_IDENTITY, *spec(kind).snapshots}
    writer.object(schema, like or {}, "", skip)
    return "\n".join(writer.lines) + "\n"


class _Writer:
    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.definitions = {
            name: definition
            for schema in schemas.values()
            for name, definition in schema.get("$defs", {}).items()
        }
        self.lines: list[str] = []

    def resolve(self, schema: Any) -> Any:
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        return self.definitions[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else schema

    def object(
        self, schema: Any, value: Mapping[str, Any], indent: str, skip: set[str] | None = None
    ) -> None:
        schema = self.resolve(schema)
        required = set(schema.get("required", []))
        for key, field in schema.get("properties", {}).items():
            if key in (skip or ()):
                continue
            self.comment(indent, field, key in required)
            self.field(indent, key, field, value.get(key))

    def comment(self, indent: str, field: Any, required: bool) -> None:
        resolved = self.resolve(field)
        description = field.get("description") or resolved.get("description") or ""
        parts = [description.strip().rstrip(".")] if description else []
        parts.append(("required: " if required else "optional: ") + self.takes(field))
        self.lines.append(f"{indent}# {'. '.join(parts)}")

    def takes(self, field: Any) -> str:
        """What a field takes, in words."""
        field = self.resolve(field)
        if "const" in field:
            return f"{json.dumps(field['const'])}"
        if "enum" in field:
            return "one of " + ", ".join(json.dumps(v) for v in field["enum"])
        if "anyOf" in field:
            words = []
            for branch in field["anyOf"]:
                resolved = self.resolve(branch)
                if resolved.get("required") == ["not_applicable"]:
                    words.append(_NOT_APPLICABLE)
                else:
                    words.append(self.takes(branch))
            return " or ".join(dict.fromkeys(words))
        kind = field.get("type")
        if kind == "array":
            least = field.get("minItems", 0)
            items = self.resolve(field.get("items", {}))
            what = (
                "objects with " + ", ".join(items["properties"])
                if "properties" in items
                else self.takes(items)
            )
            return f"a list of {what}" + (f" (at least {least})" if least else "")
        if kind == "object" and "properties" in field:
            return "an object with " + ", ".join(field["properties"])
        return _TYPES.get(str(kind), "a value")

    def field(self, indent: str, key: str, field: Any, value: Any) -> None:
        resolved = self.resolve(field)
        head = f"{indent}{json.dumps(key) if not _plain(key) else key}:"
        if value is None:
            if "properties" in resolved and "anyOf" not in field:
                self.lines.append(head)
                self.object(resolved, {}, indent + "  ")
            elif resolved.get("type") == "array" and "properties" in self.resolve(
                resolved.get("items", {})
            ):
                self.lines.append(head)
                self.item(self.resolve(resolved["items"]), {}, indent + "  ")
            else:
                self.lines.append(head)
            return
        self.value(head, indent, field, value)

    def value(self, head: str, indent: str, field: Any, value: Any) -> None:
        resolved = self._branch(field, value)
        if isinstance(value, Mapping) and value:
            self.lines.append(head)
            if "properties" in resolved:
                self.object(resolved, value, indent + "  ")
            else:
                for key, item in value.items():
                    self.value(
                        f"{indent}  {json.dumps(key) if not _plain(key) else key}:",
                        indent + "  ",
                        {},
                        item,
                    )
        elif isinstance(value, list) and value:
            self.lines.append(head)
            items = self.resolve(resolved.get("items", {}))
            for item in value:
                chosen = self._branch(items, item) if isinstance(item, Mapping) else items
                if isinstance(item, Mapping) and item and "properties" in chosen:
                    self.item(chosen, item, indent + "  ")
                else:
                    self.value(f"{indent}  -", indent + "    ", items, item)
        else:
            self.lines.append(f"{head} {json.dumps(value, ensure_ascii=False)}")

    def item(self, schema: Any, value: Mapping[str, Any], indent: str) -> None:
        """One object of a list: ``- `` before its first key, its comments above."""
        start = len(self.lines)
        self.object(schema, value, indent + "  ")
        first = next(
            i for i in range(start, len(self.lines)) if not self.lines[i].lstrip().startswith("#")
        )
        self.lines[first] = f"{indent}- {self.lines[first][len(indent) + 2 :]}"

    def _branch(self, field: Any, value: Any) -> Any:
        """The alternative of an ``anyOf`` that a value takes: the not-applicable object for a
        ``not_applicable`` statement; for another object, the first whose properties hold
        every key of the value (one criterion kind or another), else the first object; else
        the first of the value's type."""
        resolved = self.resolve(field)
        if "anyOf" not in resolved:
            return resolved
        branches = [self.resolve(b) for b in resolved["anyOf"]]
        if isinstance(value, Mapping):
            reason_given = "not_applicable" in value
            objects = [
                b
                for b in branches
                if b.get("type") == "object"
                and (b.get("required") == ["not_applicable"]) == reason_given
            ]
            fitting = [b for b in objects if set(value) <= set(b.get("properties", {}))]
            return (fitting or objects or [{}])[0]
        if isinstance(value, list):
            return next((b for b in branches if b.get("type") == "array"), {})
        return {}


def _one_line(text: str) -> str:
    """``text`` safe inside a YAML comment: a line break (YAML counts NEL and the Unicode line
    and paragraph separators too) would end the comment and let the rest be read as fields."""
    return "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)


def _plain(key: str) -> bool:
    return key.replace("_", "").isalnum() and key.isascii() and not key[0].isdigit()


# --- reading --------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML as a draft needs it: no dates, no repeated keys, text keys only."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _DraftError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _DraftError("L003", f"line {line}: the key {key!r} is not text; quote it")
        if key in seen:
            raise _DraftError("L004", f"line {line}: the key {key!r} is given twice; keep one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml_draft(data: bytes, path: str, limits: Limits) -> tuple[Any, list[Finding]]:
    """The fields of a YAML draft, and what is wrong with it (findings at ``path``)."""
    if len(data) > limits.max_bytes:
        return None, [finding("L007", path, "", f"the draft is over {limits.max_bytes} bytes")]
    try:
        value = yaml.load(data, Loader=_Loader)
    except _DraftError as error:
        return None, [finding(error.code, path, "", str(error))]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        return None, [finding("L003", path, "", f"{where}{problem} (YAML syntax)")]
    except RecursionError:
        return None, [finding("L008", path, "", "the draft nests too deeply")]
    try:
        text = json.dumps(_given(value), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return None, [finding("L005", path, "", "the draft holds .nan or .inf; write a number")]
    return load_json_bytes(text.encode(), path, limits)


def _given(value: Any) -> Any:
    """``value`` without what was left empty: null values, and objects and lists that hold
    nothing else."""
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _given(v)) for k, v in value.items()) if not _empty(v)}
    if isinstance(value, list):
        return [v for v in (_given(v) for v in value) if not _empty(v)]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, dict | list) and not value)
