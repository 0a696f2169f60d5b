"""``ledger status``: each model's versions and the stage each stands in, with who promoted
it, when and why. A version's stage is its latest promotion that verify counts; a current
version never promoted is in ``development``. A promotion whose evidence does not hold (L811)
still names the stage, marked disputed with the reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.records.identity import RecordId
from ledger.signoffs.collected import is_promotion
from ledger.signoffs.rules import valid_signoffs
from ledger.signoffs.stages import leaking, still_justified

if TYPE_CHECKING:
    from ledger.signoffs.entry import Promotion
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class StageRow:
    model: RecordId
    current: bool
    stage: str
    promotion: Promotion | None
    #: Why the promotion's evidence does not hold (L811; empty: it holds).
    disputed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        promotion = self.promotion
        return {
            "model": str(self.model),
            "current": self.current,
            "stage": self.stage,
            "promoted_by": promotion.signer.model_dump() if promotion else None,
            "promoted_at": promotion.signed_at if promotion else None,
            "reason": promotion.reason if promotion else None,
            "evaluation": promotion.evaluation.ref if promotion and promotion.evaluation else None,
            "disputed": list(self.disputed),
        }


@dataclass(frozen=True)
class Status:
    commit: str
    rows: list[StageRow]

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "models": [row.to_json() for row in self.rows]}

    def text(self) -> str:
        lines = [f"model stages at {self.commit[:12]}"]
        for row in self.rows:
            mark = "*" if row.current else " "
            line = f"{mark} {row.model!s:<40} {row.stage}"
            if row.promotion is not None:
                p = row.promotion
                line += f" (by {p.signer.name} <{p.signer.email}> at {p.signed_at}: {p.reason})"
            if row.disputed:
                line += " DISPUTED: " + "; ".join(row.disputed)
            lines.append(line)
        if not self.rows:
            lines.append("  no models")
        lines.append("* current version")
        return "\n".join(lines) + "\n"


def model_status(root: Path, state: LedgerState) -> Status:
    latest: dict[RecordId, Promotion] = {}
    valid = valid_signoffs(state.checked_signoffs)
    for record, entries in valid.items():
        promotions = [one.entry for one in entries if is_promotion(one.entry)]
        if promotions:
            latest[record] = max(promotions, key=lambda p: p.signed_at)
    current = set(state.records.current_ids("model"))
    leaks = leaking(root, state) if latest else set()
    rows = [
        StageRow(
            record,
            record in current,
            latest[record].stage if record in latest else "development",
            latest.get(record),
            tuple(still_justified(state, latest[record], valid, leaks)) if record in latest else (),
        )
        for record in sorted(current | set(latest), key=lambda r: (r.name, r.version_key))
    ]
    return Status(state.commit, rows)
