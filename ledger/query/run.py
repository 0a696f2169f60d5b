"""A query run over the record versions at a commit: filter, order, limit, columns.

Predicates are compiled once into functions of a record file, then applied to every version.
Logic is three-valued, as in SQL: a comparison on a field a record does not have is unknown,
``not`` of unknown is unknown, and a row is kept only when the filter is true. A field with
several values (a model's training datasets, a list inside a record) matches ``=``, ``<``,
``in`` and ``like`` when any value does, and ``!=``, ``not in`` and ``not like`` when none does.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ledger.query.columns import (
    Extract,
    Values,
    extractor,
    kept_columns,
    kept_outcomes,
    merged_names,
    used_names,
)
from ledger.query.fields import (
    Catalogue,
    FieldTypeError,
    Resolved,
    Type,
    Used,
    record_fields,
    resolve,
)
from ledger.query.grammar import (
    And,
    Compare,
    Expression,
    Field,
    Like,
    Member,
    Not,
    Or,
    OrderKey,
    Value,
    parse_fields,
    parse_filter,
    parse_order,
    predicates,
)
from ledger.records.identity import RecordId
from ledger.views.query import QueryResult

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState

Test = Callable[["RecordFile"], "bool | None"]
Getter = Callable[["RecordFile"], Values]

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.eq,  # negated after matching: none of the values equals
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def run_query(
    state: LedgerState,
    text: str,
    *,
    order_by: str | None = None,
    limit: int | None = None,
    columns: str | Sequence[str] | None = None,
    all_versions: bool = False,
) -> QueryResult:
    """The record versions at ``state`` that ``text`` selects (current ones unless
    ``all_versions``), ordered, limited, with the chosen columns."""
    if limit is not None and limit < 0:
        raise FieldTypeError(f"--limit {limit}: a limit is a number of rows, 0 or more")
    tree = parse_filter(text)
    order = parse_order(order_by) if order_by else []
    if isinstance(columns, str):
        chosen = parse_fields(columns)
    elif columns:
        chosen = [f for one in columns for f in parse_fields(one)]
    else:
        chosen = []
    reader = _Reader(state, all_versions)
    # Every name and type is checked before any record is read, then contents once.
    test = reader.compile(tree, "filter")
    keys = [(reader.resolve(k.field, "order"), k.descending) for k in order]
    shown = [reader.resolve(f, "columns") for f in chosen] or reader.default_columns(tree, order)
    reader.load()
    rows = [file for file in reader.files if test(file) is True]
    rows.sort(key=_identity_order)
    for resolved, descending in reversed(keys):
        rank = _version_rank if "version" in resolved.types else _rank
        get = reader.getters[resolved.key]
        rows.sort(key=_sort_key(get, rank, descending), reverse=descending)
    if limit is not None:
        rows = rows[:limit]
    getters = [(r.key, reader.getters[r.key]) for r in shown]
    return QueryResult(
        state.commit,
        text,
        [r.key for r in shown],
        [{key: _shown(get(file)) for key, get in getters} for file in rows],
    )


class _Reader:
    """The record versions a query looks at, and how it reads each field of them."""

    def __init__(self, state: LedgerState, all_versions: bool) -> None:
        self.state = state
        superseded = state.records.superseded
        self.every = list(state.records.valid())
        self.files = [f for f in self.every if all_versions or f.record_id not in superseded]
        self.catalogue = Catalogue(self._record_fields, self._used)
        self.resolved: dict[str, Resolved] = {}
        self.columns: dict[str, dict[str, Values]] = {}
        self.outcomes: dict[str, str] = {}
        #: How each resolved field is read, once ``load`` has read what they need.
        self.getters: dict[str, Getter] = {}

    # --- names ---------------------------------------------------------------------------

    def resolve(self, field: Field, what: str) -> Resolved:
        resolved = resolve(field, self.catalogue, what)
        if "object" in resolved.types and len(resolved.types) == 1:
            inner = sorted(
                n for n in self.catalogue.record_fields if n.startswith(field.text + ".")
            )
            raise FieldTypeError(
                f"{what}: {field.text!r} at column {field.column + 1} holds objects; name one "
                f"of its fields: {', '.join(inner[:6])}"
            )
        self.resolved[resolved.key] = resolved
        return resolved

    def _record_fields(self) -> dict[str, frozenset[Type]]:
        # The schemas' paths: kept (the store's fingerprint covers the models they come
        # from), and held by the state for the session's next query.
        derived = self.state.derived
        if "query fields" not in derived:
            derived["query fields"] = self._schema_fields()
        fields: dict[str, frozenset[Type]] = derived["query fields"]
        return fields

    def _schema_fields(self) -> dict[str, frozenset[Type]]:
        values = self.state.values
        key = b"record-fields"
        kept = values.get("query", [key]).get(key) if values is not None else None
        if kept is not None:
            return {path: frozenset(types) for path, types in kept.items()}
        from ledger.records.schemas import generate_schemas

        found = record_fields(generate_schemas())
        if values is not None:
            values.put("query", {key: {path: sorted(t) for path, t in found.items()}})
        return found

    def _used(self) -> Used:
        derived = self.state.derived
        if "query names" not in derived:
            wanted = [f for f in self.every if f.facts.kind in ("evaluation", "model")]
            column = kept_columns(self.state, {"used": used_names}, wanted)["used"]
            derived["query names"] = merged_names(column[f.blob] for f in wanted)
        used: Used = derived["query names"]
        return used

    def default_columns(self, tree: Expression, order: list[OrderKey]) -> list[Resolved]:
        """The identity, every field the filter and the order name, and the title."""
        named = [p.field for p in predicates(tree)] + [k.field for k in order]
        keys = dict.fromkeys(["id", *(f.text for f in named), "title"])
        return [self.resolved.get(k) or self.resolve(_plain(k), "columns") for k in keys]

    # --- values --------------------------------------------------------------------------

    def load(self) -> None:
        """Read every content column the resolved fields need, in one pass over contents."""
        needed = {r.content_key: r for r in self.resolved.values()}
        wanted: dict[str, Extract] = {}
        for key, resolved in needed.items():
            if resolved.source in ("record", "metric", "param") and key not in self.columns:
                wanted[key] = extractor(resolved)
        if wanted:
            self.columns.update(kept_columns(self.state, wanted, self.every))
        if any(r.source == "outcome" for r in needed.values()) and not self.outcomes:
            self.outcomes = kept_outcomes(self.state, self.every)
        self.getters.update((key, self.getter(r)) for key, r in self.resolved.items())

    def getter(self, field: Resolved) -> Getter:
        source = field.source
        if source == "property":
            return _property(self.state, field.path[0])
        if source == "link":
            return _links(field)
        if source == "outcome":
            outcomes = self.outcomes
            return lambda file: (o,) if (o := outcomes.get(file.blob)) else ()
        column = self.columns[field.content_key]
        if source == "param":
            by_id = self.state.records.by_id

            def param(file: RecordFile) -> Values:
                if file.facts.kind == "model":
                    return column.get(file.blob, ())
                models = [
                    by_id.get(link.target)
                    for link in file.facts.links
                    if link.relation == "evaluates"
                ]
                return tuple(v for m in models if m is not None for v in column.get(m.blob, ()))

            return param
        return lambda file: column.get(file.blob, ())

    # --- the filter ----------------------------------------------------------------------

    def compile(self, tree: Expression, what: str) -> Test:
        if isinstance(tree, Not):
            inner = self.compile(tree.operand, what)
            return lambda file: None if (v := inner(file)) is None else not v
        if isinstance(tree, And):
            parts = [self.compile(t, what) for t in tree.operands]
            return functools.partial(_combined, False, parts)
        if isinstance(tree, Or):
            parts = [self.compile(t, what) for t in tree.operands]
            return functools.partial(_combined, True, parts)
        resolved = self.resolve(tree.field, what)
        getters, key = self.getters, resolved.key
        if isinstance(tree, Compare):
            match = _compare(resolved, tree, what)
            negate = tree.operator == "!="
        elif isinstance(tree, Member):
            match = _member(resolved, tree, what)
            negate = tree.negated
        else:
            match = _like(resolved, tree, what)
            negate = tree.negated

        def test(file: RecordFile) -> bool | None:
            values = getters[key](file)
            if not values:
                return None
            found = any(match(v) for v in values)
            return not found if negate else found

        return test


def _combined(decisive: bool, parts: list[Test], file: RecordFile) -> bool | None:
    """``and`` (``decisive`` False: one false part decides) or ``or`` (True: one true part
    decides) in SQL's three-valued logic: otherwise unknown if any part is, else the other."""
    unknown = False
    for part in parts:
        value = part(file)
        if value is decisive:
            return decisive
        unknown = unknown or value is None
    return None if unknown else not decisive


# --- matching one value ---------------------------------------------------------------------


def _literal_type(value: Value) -> Type:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    return "string"


def _check(field: Resolved, value: Value, column: int, what: str) -> None:
    wanted = _literal_type(value)
    accepts = set(field.types)
    if accepts & {"reference", "version"}:
        accepts.add("string")
    if wanted not in accepts:
        holds = " or ".join(sorted(t for t in field.types if t != "object"))
        raise FieldTypeError(
            f"{what}: {field.key} holds {holds} values; {_written(value)} at column "
            f"{column + 1} is a {wanted}"
        )


def _written(value: Value) -> str:
    """A literal as the filter wrote it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return repr(value)


def _compare(field: Resolved, tree: Compare, what: str) -> Callable[[Any], bool]:
    value = tree.value
    _check(field, value, tree.value_column, what)
    op = _ORDERING[tree.operator]
    ordering = tree.operator not in ("=", "!=")
    if ordering and field.types & {"reference", "boolean"}:
        raise FieldTypeError(
            f"{what}: {field.key} at column {tree.field.column + 1} is compared with = != in or "
            f"like, not {tree.operator}"
        )
    if "reference" in field.types:
        return functools.partial(_names, str(value))
    if "version" in field.types:
        assert isinstance(value, str)
        try:
            wanted = RecordId("dataset", "x", value).version_key
        except ValueError:
            raise FieldTypeError(
                f"{what}: {value!r} at column {tree.value_column + 1} is no version (1.0, 2.1.3)"
            ) from None
        return lambda v: op(RecordId("dataset", "x", v).version_key, wanted)
    kind = type(value)
    if kind is float:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and op(v, value)
    return lambda v: type(v) is kind and op(v, value)


def _names(wanted: str, ref: RecordId) -> bool:
    """A link or identity matches its full reference, NAME@VERSION, or its name."""
    return wanted in (str(ref), f"{ref.name}@{ref.version}", ref.name)


def _member(field: Resolved, tree: Member, what: str) -> Callable[[Any], bool]:
    tests = [
        _compare(field, Compare(tree.field, "=", v, c), what)
        for v, c in zip(tree.values, tree.value_columns, strict=True)
    ]
    return lambda v: any(test(v) for test in tests)


def _like(field: Resolved, tree: Like, what: str) -> Callable[[Any], bool]:
    _check(field, tree.pattern, tree.value_column, what)
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in tree.pattern)
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL if tree.case_insensitive else re.DOTALL)
    return lambda v: isinstance(v, str | RecordId) and regex.fullmatch(str(v)) is not None


# --- values of properties and links --------------------------------------------------------


def _property(state: LedgerState, name: str) -> Getter:
    if name in ("author", "date", "commit"):

        def recorded(file: RecordFile) -> Values:
            commit = state.introduced(file)
            if commit is None:
                return ()
            if name == "author":
                return (f"{commit.author.name} <{commit.author.email}>",)
            return (commit.author_date if name == "date" else commit.sha,)

        return recorded
    if name == "current":
        superseded = state.records.superseded
        return lambda file: (file.record_id not in superseded,)
    if name == "path":
        return lambda file: (file.relpath,)
    if name == "title":
        return lambda file: (file.facts.title,)
    if name == "id":
        return lambda file: (file.record_id,)
    return lambda file: (getattr(file.record_id, name),)


def _links(field: Resolved) -> Getter:
    (relation,) = field.path
    own_model = field.field.text == "model"

    def targets(file: RecordFile) -> Values:
        if own_model and file.facts.kind == "model":
            return (file.record_id,)
        return tuple(link.target for link in file.facts.links if link.relation == relation)

    return targets


# --- ordering and output -------------------------------------------------------------------


def _identity_order(file: RecordFile) -> tuple[Any, ...]:
    record = file.record_id
    assert record is not None
    return (record.kind, record.name, record.version_key)


def _sort_key(
    get: Getter, rank: Callable[[Any], tuple[int, Any]], descending: bool
) -> Callable[[RecordFile], tuple[Any, ...]]:
    """Rows without a value sort last in either direction; values of different types sort
    by type first (numbers, text, truth values, references)."""
    present, absent = (1, 0) if descending else (0, 1)

    def key(file: RecordFile) -> tuple[Any, ...]:
        values = get(file)
        if not values:
            return (absent, (0, 0))
        return (present, rank(values[0]))

    return key


def _rank(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (2, int(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, RecordId):
        return (3, (value.kind, value.name, value.version_key))
    return (1, value)


def _version_rank(value: Any) -> tuple[int, Any]:
    return (0, RecordId("dataset", "x", str(value)).version_key)


def _shown(values: Values) -> Any:
    shown = [str(v) if isinstance(v, RecordId) else v for v in values]
    if not shown:
        return None
    return shown[0] if len(shown) == 1 else shown


def _plain(name: str) -> Field:
    return parse_fields(name)[0]
