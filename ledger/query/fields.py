"""What a field of a filter names, and the type of its values.

A field is one of:

- a property of the record version as committed: ``id``, ``kind``, ``name``, ``version``,
  ``title``, ``current``, ``author``, ``date``, ``commit``, ``path``;
- a link: ``supersedes``, ``trained_on``, ``evaluates``, ``evaluated_on``, ``compared_with``,
  and ``model`` (the model an evaluation evaluates, or a model itself);
- ``outcome``: what an evaluation's acceptance criteria give, computed from its metrics;
- a metric of an evaluation: ``metrics.NAME``, in a subgroup ``metrics[ATTRIBUTE=GROUP].NAME``,
  or a part of it: ``metrics.NAME.lower``, ``.upper``, ``.n``, ``.events``;
- a hyperparameter: ``params.NAME`` (a model's own, an evaluation's model's);
- any other field of a record by its dotted path, as the record schemas define it
  (``cohort.size``, ``setup.evaluation_type``, ``intended_use.population``).

Names are checked against what exists: the schemas for record fields, and for metrics and
hyperparameters the names the ledger's records use. An unknown one is an error that names the
nearest known names.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ledger.errors import UsageError
from ledger.query.grammar import Field

Source = Literal["property", "link", "outcome", "metric", "param", "record"]
Type = Literal["string", "number", "boolean", "version", "reference", "object"]

PROPERTIES: dict[str, Type] = {
    "id": "reference",
    "kind": "string",
    "name": "string",
    "version": "version",
    "title": "string",
    "current": "boolean",
    "author": "string",
    "date": "string",
    "commit": "string",
    "path": "string",
}
# Query names of the link relations (a hyphen reads as subtraction in a filter).
LINKS: dict[str, str] = {
    "supersedes": "supersedes",
    "trained_on": "trained-on",
    "evaluates": "evaluates",
    "evaluated_on": "evaluated-on",
    "compared_with": "compared-with",
    "model": "evaluates",
}
METRIC_PARTS: dict[str, tuple[str, ...]] = {
    "value": ("value",),
    "lower": ("ci", "lower"),
    "upper": ("ci", "upper"),
    "n": ("n",),
    "events": ("events",),
}


class UnknownFieldError(UsageError):
    """A field, metric or hyperparameter no record has."""


class FieldTypeError(UsageError):
    """A value or an operator that a field's values can never match."""


@dataclass(frozen=True)
class Resolved:
    """A field as the query reads it: where its values come from and what they are."""

    field: Field
    source: Source
    types: frozenset[Type]
    #: The record path (``record``), the metric (``metric``: name, then the part's path) or
    #: the hyperparameter (``param``); for a link, the relation.
    path: tuple[str, ...] = ()
    #: A metric's subgroup.
    selector: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        """The column name: the field as written, without spaces."""
        return self.field.text

    @property
    def content_key(self) -> str:
        """What the value of one record file depends on besides its bytes: nothing, so this
        names the kept column of its values."""
        selector = "" if self.selector is None else "=".join(self.selector)
        return "\0".join([self.source, selector, *self.path])


class Catalogue:
    """The names that exist: record fields with their types (from the schemas), and the
    metrics, subgroups and hyperparameters the records at the revision use. Each part is
    read when a field first needs it: a filter on ``kind`` and ``model`` reads none."""

    def __init__(
        self,
        record_fields: Callable[[], Mapping[str, frozenset[Type]]],
        used: Callable[[], Used],
    ) -> None:
        self._record_fields, self._used = record_fields, used

    @functools.cached_property
    def record_fields(self) -> Mapping[str, frozenset[Type]]:
        return self._record_fields()

    @functools.cached_property
    def used(self) -> Used:
        return self._used()

    @property
    def metrics(self) -> frozenset[str]:
        return self.used.metrics

    @property
    def subgroups(self) -> frozenset[tuple[str, str]]:
        return self.used.subgroups

    @property
    def params(self) -> Mapping[str, frozenset[Type]]:
        return self.used.params

    def names(self) -> list[str]:
        return sorted(
            {
                *PROPERTIES,
                *LINKS,
                "outcome",
                *(f"metrics.{m}" for m in self.metrics),
                *(f"params.{p}" for p in self.params),
                # metrics.* and params.* name metrics and hyperparameters, not record paths.
                *(f for f in self.record_fields if f.split(".")[0] not in ("metrics", "params")),
            }
        )


@dataclass(frozen=True)
class Used:
    """The metric names, subgroups and hyperparameters (with their values' types) records use."""

    metrics: frozenset[str]
    subgroups: frozenset[tuple[str, str]]
    params: Mapping[str, frozenset[Type]]


def resolve(field: Field, catalogue: Catalogue, what: str) -> Resolved:
    """What ``field`` names, or UnknownFieldError with the nearest known names."""
    segments = field.segments
    head = segments[0]
    if head.selector is not None and head.name != "metrics":
        raise _unknown(field, catalogue, what, "only metrics take a subgroup selector")
    if len(segments) == 1 and head.selector is None:
        if head.name in PROPERTIES:
            return Resolved(field, "property", frozenset({PROPERTIES[head.name]}), (head.name,))
        if head.name in LINKS:
            return Resolved(field, "link", frozenset({"reference"}), (LINKS[head.name],))
        if head.name == "outcome":
            return Resolved(field, "outcome", frozenset({"string"}))
    if head.name == "metrics":
        return _metric(field, catalogue, what)
    if head.name == "params":
        if len(segments) != 2 or segments[1].selector is not None:
            raise _unknown(field, catalogue, what, "a hyperparameter is params.NAME")
        name = segments[1].name
        if name not in catalogue.params:
            raise _unknown(field, catalogue, what, f"no model has the hyperparameter {name!r}")
        return Resolved(field, "param", catalogue.params[name], (name,))
    if any(s.selector is not None for s in segments):
        raise _unknown(field, catalogue, what, "only metrics take a subgroup selector")
    dotted = ".".join(s.name for s in segments)
    types = catalogue.record_fields.get(dotted)
    if types is None:
        raise _unknown(field, catalogue, what, "no record kind has this field")
    return Resolved(field, "record", types, tuple(s.name for s in segments))


def _metric(field: Field, catalogue: Catalogue, what: str) -> Resolved:
    segments = field.segments
    if len(segments) not in (2, 3) or any(s.selector for s in segments[1:]):
        raise _unknown(
            field, catalogue, what, "a metric is metrics.NAME or metrics[ATTRIBUTE=GROUP].NAME"
        )
    selector = segments[0].selector
    if selector is not None and selector not in catalogue.subgroups:
        known = ", ".join(f"[{a}={g}]" for a, g in sorted(catalogue.subgroups)) or "none"
        raise UnknownFieldError(
            f"{what}: no evaluation has the subgroup [{selector[0]}={selector[1]}] named by "
            f"{field.text!r} at column {field.column + 1}; subgroups: {known}"
        )
    name = segments[1].name
    if name not in catalogue.metrics:
        raise _unknown(field, catalogue, what, f"no evaluation has the metric {name!r}")
    part = segments[2].name if len(segments) == 3 else "value"
    if part not in METRIC_PARTS:
        raise UnknownFieldError(
            f"{what}: {field.text!r} at column {field.column + 1}: a metric's parts are "
            f"{', '.join(METRIC_PARTS)}"
        )
    return Resolved(field, "metric", frozenset({"number"}), (name, *METRIC_PARTS[part]), selector)


def _unknown(field: Field, catalogue: Catalogue, what: str, why: str) -> UnknownFieldError:
    names = catalogue.names()
    head = field.segments[0].name
    if head in ("metrics", "params"):  # a misspelt metric is nearest to other metrics
        names = [n for n in names if n.startswith(head + ".")]
    nearest = difflib.get_close_matches(field.text, names, n=3, cutoff=0.6)
    hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
    return UnknownFieldError(
        f"{what}: unknown field {field.text!r} at column {field.column + 1} ({why}){hint}"
    )


# --- the record fields of the schemas ------------------------------------------------------

_JSON_TYPES: dict[str, Type] = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "object": "object",
}
_DEPTH = 8  # records nest a handful of levels; recursive definitions stop here


def record_fields(schemas: Mapping[str, Any]) -> dict[str, frozenset[Type]]:
    """Every dotted path of every record kind's schema, with the types its values take (a
    list's path is its items' path). ``schemas`` are the published schemas by file name."""
    found: dict[str, set[Type]] = {}
    for name, schema in schemas.items():
        if name != "common.schema.json":
            _walk(schema, name, schemas, "", found, 0)
    return {path: frozenset(types) for path, types in found.items()}


def _walk(
    node: Any,
    document: str,
    schemas: Mapping[str, Any],
    path: str,
    found: dict[str, set[Type]],
    depth: int,
) -> None:
    if not isinstance(node, Mapping) or depth > _DEPTH:
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        target_document, _, pointer = ref.partition("#")
        document = target_document or document
        target: Any = schemas[document]
        for part in pointer.strip("/").split("/"):
            target = target[part]
        _walk(target, document, schemas, path, found, depth + 1)
    for branch in (*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())):
        _walk(branch, document, schemas, path, found, depth + 1)
    kind = node.get("type")
    if path and ("const" in node or "enum" in node):
        values = node.get("enum", [node.get("const")])
        found.setdefault(path, set()).update(_type_of(v) for v in values)
    for one in [kind] if isinstance(kind, str) else kind or []:
        if one == "array":
            _walk(node.get("items"), document, schemas, path, found, depth + 1)
        elif one in _JSON_TYPES and path:
            found.setdefault(path, set()).add(_JSON_TYPES[one])
    for key, child in (node.get("properties") or {}).items():
        _walk(child, document, schemas, f"{path}.{key}" if path else key, found, depth + 1)


def _type_of(value: object) -> Type:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def value_types(values: Iterable[object]) -> frozenset[Type]:
    """The types of hyperparameter values as records state them (a list's, its items')."""
    found: set[Type] = set()
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            found.add("object" if isinstance(item, dict | list) else _type_of(item))
    return frozenset(found)
