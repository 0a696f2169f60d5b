"""Coverage gained or lost by a change: what ``ledger diff`` shows of it.

A change touches the packages that hold a record it adds or edits. For each such model (by
name), the coverage of its current version at the head is compared, item by item, with that
of its current version at the base; the items whose status moved are listed.
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


def coverage_changes(
    before: LedgerState, after: LedgerState, touched: Iterable[RecordId]
) -> list[CoverageChange]:
    """The coverage items that moved for each model whose package at ``after`` holds one of
    the ``touched`` records."""
    touched = set(touched)
    current = [f.facts.claimed for f in after.records.current()]
    models = sorted((m for m in current if m and m.kind == "model"), key=str)
    hit = [m for m in models if any(touched & set(ids) for ids in members(after, m).values())]
    if not hit:
        return []
    frameworks = chosen(ALL)
    earlier = _current_models(before)
    pairs = [(earlier.get(m.name), m) for m in hit]
    heads = [assess(p, frameworks) for p in packages_of(after, [m for _, m in pairs])]
    kept = [b for b, _ in pairs if b is not None]
    bases = {c.package.model: c for c in (assess(p, frameworks) for p in packages_of(before, kept))}
    found: list[CoverageChange] = []
    for (base_model, _), head in zip(pairs, heads, strict=True):
        base = bases.get(base_model) if base_model is not None else None
        found += _moved(base, head)
    return found


def _current_models(state: LedgerState) -> dict[str, RecordId]:
    """Each model name's current version (the highest, when a fork left several)."""
    found: dict[str, RecordId] = {}
    for file in state.records.current():
        claimed = file.facts.claimed
        if claimed is None or claimed.kind != "model":
            continue
        held = found.get(claimed.name)
        if held is None or claimed.version_key > held.version_key:
            found[claimed.name] = claimed
    return found


def _moved(base: Coverage | None, head: Coverage) -> list[CoverageChange]:
    before = {
        (f.framework.id, i.item.id): i.status
        for f in (base.frameworks if base else ())
        for i in f.items
    }
    changes = []
    for framework in head.frameworks:
        for item in framework.items:
            was = before.get((framework.framework.id, item.item.id))
            if was is item.status:
                continue
            changes.append(
                CoverageChange(
                    str(base.package.model) if base else None,
                    str(head.package.model),
                    framework.framework.title,
                    item.item.id,
                    item.item.summary,
                    was,
                    item.status,
                    item.reason,
                )
            )
    return changes
