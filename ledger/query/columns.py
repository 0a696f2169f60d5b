"""Values that a query reads from record contents, kept by git blob id between runs.

Reading every record's content takes most of a second at 10,000 records (60 MB of JSON). A
field's values depend on nothing but the bytes of one file, which never change under a blob
id, so each field is kept as one column, blob id -> values, in the store's ``values.sqlite``:
a later query reads the column and only the files it has not seen yet. A judgment of the
acceptance criteria depends on the evaluation and its baseline, and is kept by both blob ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ledger.query.fields import Resolved, Type, Used, value_types

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.signoffs.stages import Verdict
    from ledger.state.ledger_state import LedgerState

T = TypeVar("T")
SPACE = "query"
READ_BATCH = 512  # record contents read from git at a time
Values = tuple[Any, ...]
Extract = Callable[[Mapping[str, Any]], Values]


def kept_columns(
    state: LedgerState, wanted: Mapping[str, Extract], files: Sequence[RecordFile]
) -> dict[str, dict[str, Values]]:
    """For each wanted column (name -> how a content gives its values), the values of every
    file by blob id; contents are read only for the blobs no column has kept. Columns read
    once stay with the state (``LedgerState.derived``) for the session's next query."""
    held: dict[str, dict[str, Values]] = state.derived.setdefault("query columns", {})
    absent = [name for name in wanted if name not in held]
    keys = {name: f"column\0{name}".encode() for name in wanted}
    if absent and state.values is not None:
        kept = state.values.get(SPACE, [keys[name] for name in absent])
        held.update((name, dict(kept.get(keys[name]) or {})) for name in absent)
    columns = {name: held.setdefault(name, {}) for name in wanted}
    missing = [f for f in files if any(f.blob not in columns[name] for name in wanted)]
    for batch in _batches(missing):
        contents = state.contents(batch)
        for file in batch:
            content = contents.get(file.relpath)
            for name, extract in wanted.items():
                column = columns[name]
                if file.blob not in column:
                    column[file.blob] = extract(content) if content is not None else ()
    if missing and state.values is not None:
        blobs = {f.blob for f in state.records.valid()}
        state.values.put(
            SPACE,
            {keys[name]: _trimmed(column, blobs) for name, column in columns.items()},
        )
    return columns


def kept_outcomes(state: LedgerState, files: Sequence[RecordFile]) -> dict[str, str]:
    """Each evaluation's outcome (``outcome_word`` of its verdicts) by blob id."""
    from ledger.signoffs.stages import outcome_word

    return {blob: outcome_word(found) for blob, found in kept_verdicts(state, files).items()}


def kept_verdicts(
    state: LedgerState, files: Sequence[RecordFile]
) -> dict[str, list[Verdict] | None]:
    """Each evaluation's acceptance criteria judged from its metrics (None: it or its
    baseline is no valid record), by blob id. Kept by its blob and its baseline's, the two
    inputs a judgment depends on; held by the state for the session's next view."""
    from ledger.signoffs.stages import Verdict, verdicts

    by_id = state.records.by_id

    def key(file: RecordFile) -> str:
        links = file.facts.links
        baselines = [by_id.get(k.target) for k in links if k.relation == "compared-with"]
        return "\0".join([file.blob, *(b.blob if b is not None else "-" for b in baselines)])

    keyed = {key(f): f for f in files if f.facts.kind == "evaluation"}
    name = b"verdicts"
    kept: dict[str, Any] | None = state.derived.get("verdicts")
    if kept is None:
        kept = dict(state.values.get(SPACE, [name]).get(name) or {}) if state.values else {}
        state.derived["verdicts"] = kept
    missing = [f for k, f in keyed.items() if k not in kept]
    for batch in _batches(missing):
        for path, content in state.contents(batch).items():
            found = verdicts(state, content)
            kept[key(state.records.by_path[path])] = (
                None if found is None else [tuple(v) for v in found]
            )
    if missing and state.values is not None:
        # Trimmed against every evaluation at the state, not the ones asked for now: views
        # ask a batch at a time, or for one model's, and must not drop each other's.
        every = {key(f) for f in state.records.valid() if f.facts.kind == "evaluation"}
        state.values.put(SPACE, {name: _trimmed(kept, every)})
    return {
        f.blob: None if (rows := kept.get(k)) is None else [Verdict(*row) for row in rows]
        for k, f in keyed.items()
    }


def _trimmed(column: dict[str, T], blobs: set[str]) -> dict[str, T]:
    """A column to keep: values of other revisions' blobs stay unless they outnumber those
    of this one (``blobs``, every record file at the state)."""
    if len(column) <= 2 * len(blobs):
        return column
    return {blob: values for blob, values in column.items() if blob in blobs}


def _batches(files: Sequence[RecordFile]) -> Iterator[Sequence[RecordFile]]:
    for start in range(0, len(files), READ_BATCH):
        yield files[start : start + READ_BATCH]


# --- what one content gives -----------------------------------------------------------------


def extractor(field: Resolved) -> Extract:
    """How a record's content gives the values of a content field."""
    if field.source == "record":
        return lambda content: tuple(_scalars(_follow([content], field.path)))
    if field.source == "param":
        (name,) = field.path
        return lambda content: tuple(_scalars(_follow([content], ("hyperparameters", name))))
    if field.source == "metric":
        name, *part = field.path
        selector = field.selector
        return lambda content: tuple(
            _scalars(_follow(list(_metrics(content, name, selector)), tuple(part)))
        )
    raise ValueError(f"{field.key} is not read from contents")


def _metrics(
    content: Mapping[str, Any], name: str, selector: tuple[str, str] | None
) -> Iterator[Mapping[str, Any]]:
    if selector is None:
        groups: Iterable[Any] = [content]
    else:
        groups = [
            g
            for g in content.get("subgroup_metrics") or []
            if isinstance(g, dict) and (str(g.get("attribute")), str(g.get("group"))) == selector
        ]
    for group in groups:
        for metric in group.get("metrics") or []:
            if isinstance(metric, dict) and metric.get("name") == name:
                yield metric


def _follow(nodes: list[Any], path: Sequence[str]) -> list[Any]:
    """The values at ``path`` below ``nodes``; a list met on the way stands for its items."""
    for key in path:
        nodes = [
            item
            for node in nodes
            for item in (node if isinstance(node, list) else [node])
            if isinstance(item, dict)
            for item in [item.get(key)]
            if item is not None
        ]
    return nodes


def _scalars(nodes: list[Any]) -> Iterator[Any]:
    for node in nodes:
        for item in node if isinstance(node, list) else [node]:
            if isinstance(item, str | int | float | bool):
                yield item


def overall_metrics(content: Mapping[str, Any]) -> Values:
    """(name, value) of each overall metric with a numeric value (``ledger list``)."""
    return tuple(
        (str(m["name"]), float(m["value"]))
        for m in content.get("metrics") or []
        if isinstance(m, dict)
        and isinstance(m.get("value"), int | float)
        and not isinstance(m.get("value"), bool)
    )


def used_names(content: Mapping[str, Any]) -> Values:
    """What a record contributes to the catalogue: its metric names, its subgroups, and its
    hyperparameters with the types of their values."""
    metrics = {
        str(m["name"])
        for group in [content, *(content.get("subgroup_metrics") or [])]
        if isinstance(group, dict)
        for m in group.get("metrics") or []
        if isinstance(m, dict) and "name" in m
    }
    subgroups = sorted(
        (str(g.get("attribute")), str(g.get("group")))
        for g in content.get("subgroup_metrics") or []
        if isinstance(g, dict)
    )
    hyper = content.get("hyperparameters")
    params = sorted(
        (str(k), sorted(value_types([v])))
        for k, v in (hyper.items() if isinstance(hyper, dict) else [])
    )
    return (sorted(metrics), subgroups, params)


def merged_names(column: Iterable[Values]) -> Used:
    metrics: set[str] = set()
    subgroups: set[tuple[str, str]] = set()
    params: dict[str, set[Type]] = {}
    for values in column:
        if not values:
            continue
        names, groups, hyper = values
        metrics.update(names)
        subgroups.update((str(a), str(g)) for a, g in groups)
        for name, types in hyper:
            params.setdefault(name, set()).update(types)
    return Used(
        frozenset(metrics),
        frozenset(subgroups),
        {name: frozenset(types) for name, types in params.items()},
    )
