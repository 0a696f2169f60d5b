"""Coverage gained or lost by a change: what ``ledger diff`` shows of it.

A change touches the packages that hold a record it adds or edits. For each such model (by
name), the coverage of its current version at the head is compared, item by item, with that
of its current version at the base: each framework's counts, and the items whose status moved
(a model new in the change has counts only: every item of it is new).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.coverage import ALL
from ledger.coverage.assess import Coverage, Status, assess, members, packages_of
from ledger.coverage.frameworks import chosen
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

BATCH = 200  # models compared at a time

#: From worst to best: a move to the right is coverage gained. Not applicable stands beside
#: met: the records say why the item does not apply, which is what the item needs.
_RANK = {Status.MISSING: 0, Status.PARTIAL: 1, Status.MET: 2, Status.NOT_APPLICABLE: 2}


@dataclass(frozen=True)
class CoverageChange:
    """One item whose status differs between a model's current versions at base and head."""

    before_model: str | None
    after_model: str
    framework: str
    item: str
    summary: str
    before: Status | None
    after: Status
    reason: str

    @property
    def direction(self) -> str:
        """``gained``, ``lost``, or ``changed`` (between met and not applicable)."""
        if self.before is None or _RANK[self.after] > _RANK[self.before]:
            return "gained"
        return "lost" if _RANK[self.after] < _RANK[self.before] else "changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "model_before": self.before_model,
            "model_after": self.after_model,
            "framework": self.framework,
            "item": self.item,
            "summary": self.summary,
            "before": self.before.value if self.before else None,
            "after": self.after.value,
            "direction": self.direction,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ModelCoverage:
    """What a change did to the coverage of one model (by name)."""

    before: str | None
    after: str
    #: Each framework's counts by status, at the base (None: a new model) and at the head.
    counts: tuple[tuple[str, dict[str, int] | None, dict[str, int]], ...]
    moved: tuple[CoverageChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "model_before": self.before,
            "model_after": self.after,
            "frameworks": [
                {"framework": title, "before": before, "after": after}
                for title, before, after in self.counts
            ],
            "moved": [c.to_json() for c in self.moved],
        }


def coverage_changes(
    before: LedgerState, after: LedgerState, touched: Iterable[RecordId]
) -> list[ModelCoverage]:
    """For each model whose package at ``after`` holds one of the ``touched`` records, its
    coverage against its current version at ``before``."""
    touched = set(touched)
    models = sorted(after.records.current_ids("model"), key=str)
    hit = [m for m in models if any(touched & set(ids) for ids in members(after, m).values())]
    if not hit:
        return []
    frameworks = chosen(ALL)
    earlier = _current_models(before)
    pairs = [(earlier.get(m.name), m) for m in hit]
    found: list[ModelCoverage] = []
    # A batch of models at a time: their records' contents and every item's result are held
    # only while the batch is compared (a change can touch thousands of packages).
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        heads = [assess(p, frameworks) for p in packages_of(after, [m for _, m in batch])]
        kept = [b for b, _ in batch if b is not None]
        bases = {p.model: assess(p, frameworks) for p in packages_of(before, kept)}
        found += (
            _compared(bases[base_model] if base_model is not None else None, head)
            for (base_model, _), head in zip(batch, heads, strict=True)
        )
    return found


def _counts(coverage: Coverage) -> dict[str, dict[str, int]]:
    return {f.framework.title: {s.value: f.count(s) for s in Status} for f in coverage.frameworks}


def _current_models(state: LedgerState) -> dict[str, RecordId]:
    """Each model name's current version (the highest, when a fork left several)."""
    found: dict[str, RecordId] = {}
    for model in state.records.current_ids("model"):
        held = found.get(model.name)
        if held is None or model.version_key > held.version_key:
            found[model.name] = model
    return found


def _compared(base: Coverage | None, head: Coverage) -> ModelCoverage:
    after = _counts(head)
    before = _counts(base) if base is not None else {}
    counts = tuple((title, before.get(title), n) for title, n in after.items())
    if base is None:
        return ModelCoverage(None, str(head.package.model), counts, ())
    was = {(f.framework.id, i.item.id): i.status for f in base.frameworks for i in f.items}
    moved = tuple(
        CoverageChange(
            str(base.package.model),
            str(head.package.model),
            framework.framework.title,
            item.item.id,
            item.item.summary,
            was.get((framework.framework.id, item.item.id)),
            item.status,
            item.reason,
        )
        for framework in head.frameworks
        for item in framework.items
        if was.get((framework.framework.id, item.item.id)) is not item.status
    )
    return ModelCoverage(str(base.package.model), str(head.package.model), counts, moved)
