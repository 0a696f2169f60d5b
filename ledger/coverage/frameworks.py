"""The reporting frameworks ledger knows, read from the data files beside this module.

Each file is checked against ``framework.schema.json`` when it is read: a framework file that
does not say what it means is an error in ledger, never a silent gap in a coverage report.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ledger.coverage import ALL, FOLDER, names
from ledger.errors import EXIT_INTERNAL, LedgerError, UsageError

Kind = Literal["dataset", "model", "evaluation"]
Role = Literal["development", "test"]


#: What a framework file must look like.
SCHEMA = Path(__file__).with_name("framework.schema.json")


class FrameworkFileError(LedgerError):
    """A framework data file that ledger itself ships is malformed: a defect in ledger,
    which ``tests/test_coverage.py`` keeps from being released."""

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class FieldRef:
    """A record field that holds (part of) an item: in which records, at which pointer."""

    kind: Kind
    pointer: str
    role: Role | None = None

    @functools.cached_property
    def key(self) -> str:
        """The field as one string: a key whose hash Python keeps (a dataclass hashes its
        fields again each time)."""
        return f"{self.kind}\0{self.role or ''}\0{self.pointer}"

    @functools.cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple(_unescape(s) for s in self.pointer.split("/")[1:])

    def __str__(self) -> str:
        where = f"{self.kind} ({self.role})" if self.role else self.kind
        return f"{where} {self.pointer}"


@dataclass(frozen=True)
class Item:
    id: str
    summary: str
    required: bool
    section: str | None = None
    #: Why a development-time ledger cannot hold the item (then it is not applicable).
    outside: str | None = None
    fields: tuple[FieldRef, ...] = ()
    #: Whether the fields, all filled, hold the whole item.
    full: bool = True
    #: What the fields do not hold.
    gap: str | None = None


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    version: str
    citation: str
    url: str
    items: tuple[Item, ...]


def chosen(name: str) -> list[Framework]:
    """The framework ``name`` names, or every one for ``all``; an unknown name is a usage
    error that lists the known ones."""
    known = names()
    if name == ALL:
        return [load(n) for n in known]
    if name not in known:
        raise UsageError(f"unknown framework {name!r}; use one of: {', '.join([*known, ALL])}")
    return [load(name)]


@functools.cache
def load(name: str) -> Framework:
    path = FOLDER / f"{name}.json"
    where = f"ledger/coverage/frameworks/{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FrameworkFileError(f"{where}: cannot be read ({exc})") from None
    problem = _schema_problem(data)
    if problem is not None:
        raise FrameworkFileError(f"{where}: {problem}")
    if data["id"] != name:
        raise FrameworkFileError(f"{where}: its id is {data['id']!r}, not its file name")
    items = tuple(_item(i) for i in data["items"])
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise FrameworkFileError(f"{where}: item {item.id!r} is listed twice")
        seen.add(item.id)
    return Framework(
        data["id"], data["title"], data["version"], data["citation"], data["url"], items
    )


def _item(data: dict[str, Any]) -> Item:
    fields = tuple(FieldRef(f["kind"], f["pointer"], f.get("role")) for f in data.get("fields", ()))
    return Item(
        id=data["id"],
        summary=data["summary"],
        required=data["required"],
        section=data.get("section"),
        outside=data.get("outside"),
        fields=fields,
        full=data.get("covers", "full") == "full",
        gap=data.get("gap"),
    )


def _schema_problem(data: object) -> str | None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    pointer = "".join(f"/{p}" for p in error.absolute_path)
    return f"at {pointer or '/'}: {error.message}"


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return schema


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def field_exists(field: FieldRef) -> bool:
    """Whether the record schema of ``field.kind`` has the field its pointer names (``*``:
    the elements of a list); a framework file must map only to fields that exist."""
    schema = _record_schema(field.kind)
    nodes: list[Any] = [schema]
    for segment in field.segments:
        nodes = [child for node in nodes for child in _children(schema, node, segment)]
        if not nodes:
            return False
    return True


def _children(root: dict[str, Any], node: Any, segment: str) -> list[Any]:
    """The schemas one segment below ``node``, through references and alternatives."""
    found: list[Any] = []
    for branch in _branches(root, node):
        if segment == "*" or segment.isdigit():
            if "items" in branch:
                found.append(branch["items"])
        elif segment in branch.get("properties", {}):
            found.append(branch["properties"][segment])
    return found


def _branches(root: dict[str, Any], node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _branches(root, root["$defs"][ref.removeprefix("#/$defs/")])
    found = [node]
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, ()):
            found += _branches(root, option)
    return found


@functools.cache
def _record_schema(kind: Kind) -> dict[str, Any]:
    from ledger.kinds import spec

    schema: dict[str, Any] = spec(kind).model.model_json_schema()
    return schema
