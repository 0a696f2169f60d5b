"""``ledger compare`` of two or more evaluations (or models): one table, records as columns.

The table's rows are the metrics with their intervals, then every compared value that is not
the same in all of them, by group (data, model configuration, evaluation conditions; models
have no evaluation conditions). Under it, in plain sentences: which metric differences lie
within the intervals' overlap and which do not, why results cannot be compared (different test
data, a metric defined differently), and where the differences can come from.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.kinds.spec import Group
from ledger.records.identity import RecordId
from ledger.views.compare import (
    COMPARE_DEPTH,
    GROUPS,
    Contents,
    facets,
    metric_map,
    not_comparable,
    same_kind,
)
from ledger.views.table import text_table

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float | None = None
    upper: float | None = None
    level: float | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.lower, self.upper)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper, "level": self.level}


@dataclass(frozen=True)
class MetricRow:
    name: str
    #: One estimate per record compared, None where a record does not state the metric.
    estimates: tuple[Estimate | None, ...]

    def beyond(self, refs: Sequence[str]) -> list[str]:
        """Each estimate that lies outside another record's interval, in words."""
        found = []
        for (ref_x, x), (ref_y, y) in itertools.permutations(
            zip(refs, self.estimates, strict=True), 2
        ):
            if x is None or y is None or y.interval is None:
                continue
            low, high = y.interval
            if not low <= x.value <= high:
                found.append(f"{ref_x}'s {_num(x.value)} lies outside {ref_y}'s {_interval(y)}")
        return found

    @property
    def weighed(self) -> bool:
        """Whether every record states the metric with an interval."""
        return all(e is not None and e.interval is not None for e in self.estimates)


@dataclass(frozen=True)
class DifferenceRow:
    group: Group
    what: str
    values: tuple[Any, ...]

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "what": self.what, "values": list(self.values)}


@dataclass
class ComparisonTable:
    commit: str
    kind: str
    records: list[str]
    models: list[str] | None = None
    metrics: list[MetricRow] = field(default_factory=list)
    differences: list[DifferenceRow] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)

    @property
    def groups(self) -> tuple[Group, ...]:
        """The groups compared: models have no evaluation conditions."""
        return GROUPS if self.kind == "evaluation" else GROUPS[:2]

    @property
    def comparable(self) -> bool:
        return not self.not_comparable

    @property
    def explained_by(self) -> list[Group]:
        return [g for g in self.groups if any(d.group == g for d in self.differences)]

    def intervals(self) -> list[str]:
        """Which metric differences lie within the intervals' overlap, in sentences."""
        if not self.metrics:
            return []
        within = [m.name for m in self.metrics if m.weighed and not m.beyond(self.records)]
        lines = []
        if within:
            lines.append(
                f"Within the intervals: {', '.join(within)}: every estimate lies inside each "
                "other record's interval, so these differences lie within the intervals' overlap."
            )
        for metric in self.metrics:
            beyond = metric.beyond(self.records) if metric.weighed else []
            if beyond:
                lines.append(f"Beyond an interval: {metric.name}: " + "; ".join(beyond) + ".")
        unweighed = [m.name for m in self.metrics if not m.weighed]
        if unweighed:
            lines.append(
                f"No interval to weigh the difference against: {', '.join(unweighed)} (a record "
                "states no interval, or not the metric)."
            )
        return lines

    @property
    def attribution(self) -> str:
        """One sentence on where the differences can come from."""
        if not self.comparable:
            return "Not comparable: " + "; ".join(self.not_comparable) + "."
        groups = self.explained_by
        if not groups:
            return f"No difference in {_listed(self.groups, 'or')}."
        noun = "difference" if len(self.records) == 2 else "differences"
        sentence = f"The {noun} can only come from {_listed(groups, 'and')}"
        training = next((d for d in self.differences if d.what == "training data"), None)
        if training is not None:
            arrow = " -> " if len(self.records) == 2 else " / "
            sentence += f" (training data: {arrow.join(_short(v) for v in training.values)})"
        same = [g for g in self.groups if g not in groups]
        if same:
            sentence += f"; {_listed(same, 'and')} {'are' if len(same) > 1 else 'is'} unchanged"
        return sentence + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "kind": self.kind,
            "records": self.records,
            "models": self.models,
            "metrics": [
                {
                    "name": m.name,
                    "estimates": [e.to_json() if e else None for e in m.estimates],
                    "within_intervals": (not m.beyond(self.records)) if m.weighed else None,
                }
                for m in self.metrics
            ],
            "differences": [d.to_json() for d in self.differences],
            "comparable": self.comparable,
            "not_comparable_because": self.not_comparable,
            "explained_by": self.explained_by,
            "intervals": self.intervals(),
            "attribution": self.attribution,
        }

    def text(self) -> str:
        rows: list[list[str]] = []
        if self.models:
            rows.append(["model", *self.models])
        for metric in self.metrics:
            rows.append([metric.name, *(_estimate(e) for e in metric.estimates)])
        blank = [""] * len(self.records)
        for group in self.groups:
            found = [d for d in self.differences if d.group == group]
            rows.append([_heading(group, len(found)), *blank])
            rows += [[f"  {d.what}", *(_short(v) for v in d.values)] for d in found]
        lines = [f"compare {len(self.records)} {self.kind}s at {self.commit[:12]}"]
        lines.append(text_table(["", *self.records], rows, first=72).rstrip("\n"))
        lines += self.intervals()
        lines.append(self.attribution)
        return "\n".join(lines) + "\n"


def compare_table(state: LedgerState, refs: Sequence[RecordId]) -> ComparisonTable:
    """Two or more evaluations, or two or more models, of ``state`` side by side."""
    content = Contents(state)
    content.prefetch(refs, COMPARE_DEPTH)
    same_kind(refs)
    records = [content(ref) for ref in refs]
    result = ComparisonTable(state.commit, refs[0].kind, [str(ref) for ref in refs])
    if result.kind == "evaluation":
        result.models = [r["model"]["ref"] for r in records]
        result.metrics = _metric_rows(records)
    found = [facets(content, ref) for ref in refs]
    keys = list(dict.fromkeys(key for one in found for key in one))
    keys.sort(key=lambda key: GROUPS.index(key[0]))
    for key in keys:
        values = tuple(one.get(key) for one in found)
        if any(v != values[0] for v in values[1:]):
            result.differences.append(DifferenceRow(key[0], key[1], values))
    result.not_comparable = not_comparable(content, refs, found)
    return result


def _metric_rows(records: Sequence[Mapping[str, Any]]) -> list[MetricRow]:
    maps = [metric_map(r) for r in records]
    names = sorted({name for one in maps for name in one})
    return [MetricRow(name, tuple(_estimate_of(one.get(name)) for one in maps)) for name in names]


def _estimate_of(metric: Mapping[str, Any] | None) -> Estimate | None:
    if metric is None or not isinstance(metric.get("value"), int | float):
        return None
    ci = metric.get("ci")
    ci = ci if isinstance(ci, Mapping) else {}
    return Estimate(metric["value"], ci.get("lower"), ci.get("upper"), ci.get("level"))


def _heading(group: Group, found: int) -> str:
    if not found:
        return f"{group}: nothing differs"
    return f"{group}: {found} difference{'s' if found > 1 else ''}"


def _num(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _interval(e: Estimate) -> str:
    assert e.lower is not None and e.upper is not None
    level = f"{e.level:.0%} " if e.level else ""
    return f"{level}interval {_num(e.lower)}-{_num(e.upper)}"


def _estimate(e: Estimate | None) -> str:
    if e is None:
        return "not stated"
    if e.lower is None or e.upper is None:
        return _num(e.value)
    return f"{_num(e.value)} ({_num(e.lower)}-{_num(e.upper)})"


def _short(value: Any) -> str:
    """A value as a table cell: lists joined, long hex digests cut, nothing as "not stated"."""
    if value is None:
        return "not stated"
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value) or "none"
    text = str(value)
    if len(text) >= 32 and all(c in "0123456789abcdef" for c in text):
        return text[:12] + "…"
    return text


def _listed(items: Sequence[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conjunction} {items[-1]}"
