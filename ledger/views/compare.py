"""``ledger compare``: why two evaluations (or two models) differ.

Metric differences come first; then every difference in their lineage that could explain them,
grouped as data, model configuration and evaluation conditions. Two results on different test
sets, or with differently defined metrics, are said plainly not to be comparable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.errors import UsageError
from ledger.kinds import spec
from ledger.kinds.spec import Group
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

GROUPS: tuple[Group, ...] = ("data", "model configuration", "evaluation conditions")


@dataclass(frozen=True)
class Difference:
    group: Group
    what: str
    a: Any
    b: Any

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "what": self.what, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: float | None
    b: float | None
    ci_a: tuple[float, float] | None
    ci_b: tuple[float, float] | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else round(self.b - self.a, 6)

    @property
    def intervals_overlap(self) -> bool | None:
        if self.ci_a is None or self.ci_b is None:
            return None
        return self.ci_a[0] <= self.ci_b[1] and self.ci_b[0] <= self.ci_a[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "ci_a": list(self.ci_a) if self.ci_a else None,
            "ci_b": list(self.ci_b) if self.ci_b else None,
            "intervals_overlap": self.intervals_overlap,
        }


@dataclass
class Comparison:
    a: str
    b: str
    kind: str
    metrics: list[MetricDelta] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)
    models: tuple[str, str] | None = None

    @property
    def comparable(self) -> bool:
        return not self.not_comparable

    @property
    def explained_by(self) -> list[Group]:
        return [g for g in GROUPS if any(d.group == g for d in self.differences)]

    @property
    def attribution(self) -> str:
        """One sentence on where the difference can come from."""
        if not self.comparable:
            return "Not comparable: " + "; ".join(self.not_comparable) + "."
        groups = self.explained_by
        if not groups:
            return "No difference in data, model configuration or evaluation conditions."
        same = [g for g in GROUPS if g not in groups]
        sentence = "The difference can only come from " + " and ".join(groups)
        if "data" in groups:
            change = next(d for d in self.differences if d.group == "data")
            sentence += f" ({change.what}: {_short(change.a)} -> {_short(change.b)})"
        if same:
            sentence += "; " + " and ".join(same) + (" are" if len(same) > 1 else " is")
            sentence += " unchanged"
        return sentence + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "comparable": self.comparable,
            "not_comparable_because": self.not_comparable,
            "metrics": [m.to_json() for m in self.metrics],
            "differences": [d.to_json() for d in self.differences],
            "explained_by": self.explained_by,
            "attribution": self.attribution,
            "models": list(self.models) if self.models else None,
        }


class Contents:
    """Record contents by identity, read from the state once each."""

    def __init__(self, state: LedgerState) -> None:
        self.state = state
        self.read: dict[str, dict[str, Any]] = {}

    def prefetch(self, refs: Iterable[RecordId], depth: int) -> None:
        """Read ``refs`` and what they link to, ``depth`` links deep, one batch per level: a
        review compares hundreds of evaluations, and reading each record it looks at on its
        own took one round trip to git per record."""
        level = set(refs)
        for _ in range(depth + 1):
            by_id = self.state.records.by_id
            files = [
                file
                for ref in level
                if str(ref) not in self.read
                and (file := by_id.get(ref)) is not None
                and file.facts.valid
            ]
            found = self.state.contents(files)
            for file in files:
                if file.relpath in found:
                    self.read[str(file.facts.claimed)] = found[file.relpath]
            level = {
                link.target
                for file in files
                for link in file.facts.links
                if link.relation in _COMPARED_LINKS
            }

    def __call__(self, ref: RecordId | str) -> dict[str, Any]:
        key = str(ref)
        if key not in self.read:
            record_id = ref if isinstance(ref, RecordId) else RecordId.parse(ref)
            file = self.state.records.by_id.get(record_id)
            if file is None or not file.facts.valid:
                raise UsageError(f"{ref}: no such record at commit {self.state.commit[:12]}")
            self.read[key] = self.state.content(file)
        return self.read[key]

    def has(self, ref: str) -> bool:
        found = self.state.records.by_id.get(RecordId.parse(ref))
        return found is not None and found.facts.valid


#: How many links deep ``compare`` reads from the records it compares, and along which links:
#: an evaluation's model and test sets, then the model's training sets.
COMPARE_DEPTH = 2
_COMPARED_LINKS = frozenset(("evaluates", "evaluated-on", "trained-on"))


def compare(
    state: LedgerState, ref_a: RecordId, ref_b: RecordId, content: Contents | None = None
) -> Comparison:
    """Compare two evaluations or two models of the state (``content``: contents read
    already, shared by many comparisons)."""
    if content is None:
        content = Contents(state)
        content.prefetch([ref_a, ref_b], COMPARE_DEPTH)
    a, b = content(ref_a), content(ref_b)
    if ref_a.kind != ref_b.kind or ref_a.kind == "dataset":
        raise UsageError("compare two evaluations or two models (not datasets, not mixed kinds)")
    result = Comparison(str(ref_a), str(ref_b), ref_a.kind)
    if ref_a.kind == "evaluation":
        result.metrics = _metric_deltas(a, b)
        _evaluation_conditions(content, a, b, result)
        model_a, model_b = content(a["model"]["ref"]), content(b["model"]["ref"])
        result.models = (a["model"]["ref"], b["model"]["ref"])
    else:
        model_a, model_b = a, b
    _model_differences(content, model_a, model_b, result)
    return result


def _metric_map(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {m["name"]: m for m in record.get("metrics", [])}


def _ci(metric: Mapping[str, Any] | None) -> tuple[float, float] | None:
    ci = (metric or {}).get("ci", {})
    return (ci["lower"], ci["upper"]) if "lower" in ci else None


def _metric_deltas(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[MetricDelta]:
    ma, mb = _metric_map(a), _metric_map(b)
    return [
        MetricDelta(
            name,
            ma[name]["value"] if name in ma else None,
            mb[name]["value"] if name in mb else None,
            _ci(ma.get(name)),
            _ci(mb.get(name)),
        )
        for name in sorted(set(ma) | set(mb))
    ]


def _evaluation_conditions(
    content: Contents, a: Mapping[str, Any], b: Mapping[str, Any], result: Comparison
) -> None:
    def test_sets(record: Mapping[str, Any]) -> dict[str, str]:
        return {
            d["ref"]: content(d["ref"])["snapshot"]["md5"]
            for d in record.get("datasets", [])
            if content.has(d["ref"])
        }

    sets_a, sets_b = test_sets(a), test_sets(b)
    if sorted(sets_a.values()) != sorted(sets_b.values()):
        result.differences.append(
            Difference("evaluation conditions", "test data", sorted(sets_a), sorted(sets_b))
        )
        result.not_comparable.append("they were computed on different test data")
    ma, mb = _metric_map(a), _metric_map(b)
    for name in sorted(set(ma) & set(mb)):
        for key in ("definition", "threshold"):
            if ma[name].get(key) != mb[name].get(key):
                result.differences.append(
                    Difference(
                        "evaluation conditions",
                        f"{name} {key}",
                        ma[name].get(key),
                        mb[name].get(key),
                    )
                )
                if key == "definition":
                    result.not_comparable.append(f"{name} is defined differently")
    _declared(spec("evaluation").compared, a, b, "", result)


def _declared(
    compared: Mapping[Group, tuple[str, ...]],
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    label: str,
    result: Comparison,
) -> None:
    """Differences in the fields a kind declares as compared, under the group it names."""
    for group, paths in compared.items():
        for path in paths:
            for where, x, y in _diffs(_at(a, path), _at(b, path), path):
                result.differences.append(Difference(group, f"{label}{where}", x, y))


def _at(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _model_differences(
    content: Contents, a: Mapping[str, Any], b: Mapping[str, Any], result: Comparison
) -> None:
    _declared(spec("model").compared, a, b, "", result)
    refs_a = [d["ref"] for d in a["training"]["datasets"]]
    refs_b = [d["ref"] for d in b["training"]["datasets"]]
    if refs_a != refs_b:
        result.differences.append(Difference("data", "training datasets", refs_a, refs_b))
    for ref_x, ref_y in zip(refs_a, refs_b, strict=False):
        if ref_x == ref_y or not content.has(ref_x) or not content.has(ref_y):
            continue
        label = f"{ref_y.split('@')[0]} "
        _declared(spec("dataset").compared, content(ref_x), content(ref_y), label, result)


def _diffs(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Leaf-level differences between two JSON values, as (dotted path, a, b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _diffs(a.get(key), b.get(key), f"{path}.{key}")
    elif (
        isinstance(a, list)
        and isinstance(b, list)
        and len(a) == len(b)
        and all(isinstance(x, dict) for x in a + b)
    ):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diffs(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
