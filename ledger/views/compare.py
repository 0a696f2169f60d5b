"""Why evaluations (or models) differ: the pieces ``ledger compare``, reviews and technical
files share.

Everything compared of a record (``facets``) is named in words, not JSON paths: keys become
words and the items of a list are named by what they hold (``cohort / sex / F / n``), grouped
as data, model configuration and evaluation conditions. Results on different test data, or
with differently defined metrics, are said plainly not to be comparable. ``compare`` sets two
records side by side for reviews and technical files; ``views.comparison_table`` any number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    """Two records compared: what reviews and technical files show of a change."""

    a: str
    b: str
    kind: str
    metrics: list[MetricDelta] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)
    models: tuple[str, str] | None = None


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
    same_kind([ref_a, ref_b])
    a, b = content(ref_a), content(ref_b)
    result = Comparison(str(ref_a), str(ref_b), ref_a.kind)
    if ref_a.kind == "evaluation":
        result.metrics = _metric_deltas(a, b)
        result.models = (a["model"]["ref"], b["model"]["ref"])
    facets_a, facets_b = facets(content, ref_a), facets(content, ref_b)
    for (group, what), x, y in _differing(facets_a, facets_b):
        result.differences.append(Difference(group, what, x, y))
    result.not_comparable = not_comparable(content, [ref_a, ref_b], [facets_a, facets_b])
    return result


def same_kind(refs: Sequence[RecordId]) -> None:
    kinds = {ref.kind for ref in refs}
    if len(kinds) > 1 or "dataset" in kinds:
        raise UsageError("compare evaluations or models (not datasets, not mixed kinds)")


def metric_map(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {m["name"]: m for m in record.get("metrics", []) if isinstance(m, Mapping)}


def _ci(metric: Mapping[str, Any] | None) -> tuple[float, float] | None:
    ci = (metric or {}).get("ci", {})
    return (ci["lower"], ci["upper"]) if "lower" in ci else None


def _metric_deltas(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[MetricDelta]:
    ma, mb = metric_map(a), metric_map(b)
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


# --- what is compared, named in words ---------------------------------------------------------

#: A compared value, by group and the words that name it.
Facet = tuple[Group, str]


def facets(content: Contents, ref: RecordId) -> dict[Facet, Any]:
    """Everything compared of an evaluation or a model, each value named in words: for an
    evaluation its test data, metric definitions and thresholds and declared conditions, then
    its model's; for a model its declared configuration, its training data and what those
    datasets state of themselves."""
    record = content(ref)
    found: dict[Facet, Any] = {}
    if ref.kind == "evaluation":
        found["evaluation conditions", "test data"] = [
            d["ref"] for d in record.get("datasets", []) if isinstance(d, Mapping)
        ]
        for name, metric in metric_map(record).items():
            for key in ("definition", "threshold"):
                if key in metric:
                    found["evaluation conditions", f"{name} {key}"] = metric[key]
        _declared(spec("evaluation").compared, record, "", found)
        record = content(record["model"]["ref"])
    _declared(spec("model").compared, record, "", found)
    training = record.get("training", {}).get("datasets", [])
    refs = (
        [d["ref"] for d in training if isinstance(d, Mapping)] if isinstance(training, list) else []
    )
    found["data", "training data"] = refs
    for target in refs:
        if content.has(target):
            # By the dataset's name, so that a new version of it lines up with the old one.
            label = f"{RecordId.parse(target).name}: "
            _declared(spec("dataset").compared, content(target), label, found)
    return found


def _declared(
    compared: Mapping[Group, tuple[str, ...]],
    record: Mapping[str, Any],
    label: str,
    found: dict[Facet, Any],
) -> None:
    """The fields a kind declares as compared, under the group it names."""
    for group, paths in compared.items():
        for path in paths:
            for what, value in _leaves(_at(record, path), [_words(p) for p in path.split(".")]):
                found[group, label + what] = value


def _at(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


#: Keys whose value names an item of a list (``{"category": "F", "n": 630}`` is "F").
_NAMING_KEYS = ("name", "metric", "attribute", "category", "ref", "role", "path", "id", "key")


def _leaves(value: Any, words: list[str]) -> Iterator[tuple[str, Any]]:
    """Each leaf of a JSON value with the words that name it: keys as words, and the items of
    a list of objects by what names them (``cohort / sex / F / n``), by position only when
    nothing does."""
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from _leaves(value[key], [*words, _words(key)])
    elif isinstance(value, list) and value and all(isinstance(x, Mapping) for x in value):
        names = [_item_name(x) for x in value]
        if None in names or len(set(names)) < len(names):
            names = [f"item {i}" for i in range(1, len(value) + 1)]
        for name, item in zip(names, value, strict=True):
            yield from _leaves(item, [*words, str(name)])
    elif value is not None:
        yield " / ".join(words), value


def _item_name(item: Mapping[str, Any]) -> str | None:
    if "attribute" in item and "group" in item:
        return f"{item['attribute']} = {item['group']}"
    for key in _NAMING_KEYS:
        if isinstance(item.get(key), str | int | float):
            return str(item[key])
    return None


def _words(key: str) -> str:
    return key.replace("_", " ")


def _differing(*facets: Mapping[Facet, Any]) -> Iterator[tuple[Facet, Any, Any]]:
    """Facets whose values are not all equal, in the order the records name them, with the
    values of the first two (``ComparisonTable`` reads them all)."""
    order = list(dict.fromkeys(key for one in facets for key in one))
    order.sort(key=lambda key: GROUPS.index(key[0]))
    for key in order:
        values = [one.get(key) for one in facets]
        if any(v != values[0] for v in values[1:]):
            yield key, values[0], values[1] if len(values) > 1 else None


def not_comparable(
    content: Contents, refs: Sequence[RecordId], found: Sequence[Mapping[Facet, Any]]
) -> list[str]:
    """Why results cannot be set side by side: different test data (by content, so two
    records of the same data agree), or a metric defined differently."""
    if refs[0].kind != "evaluation":
        return []
    why = []
    data = [tuple(sorted(_test_data(content, content(ref)))) for ref in refs]
    if len(set(data)) > 1:
        why.append(_among(refs, "they were computed on different test data"))
    names = sorted({key[1] for one in found for key in one if key[1].endswith(" definition")})
    for name in names:
        if len({one.get(("evaluation conditions", name)) for one in found}) > 1:
            why.append(f"{name.removesuffix(' definition')} is defined differently")
    return why


def _among(refs: Sequence[RecordId], why: str) -> str:
    return why if len(refs) == 2 else why.replace("they", "some")


def _test_data(content: Contents, record: Mapping[str, Any]) -> list[str]:
    """The md5 of each test set's snapshot: the data itself, whichever record names it."""
    return [
        content(d["ref"])["snapshot"]["md5"]
        for d in record.get("datasets", [])
        if isinstance(d, Mapping) and content.has(d["ref"])
    ]
