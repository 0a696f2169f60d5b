"""Sign-offs and promotions as views show them: who, as what, when, meaning what, and
whether it counts.

``show``, ``log``, the review, the export and FHIR all read them through ``signoffs_of``, so
a sign-off that verify discounts is shown as discounted everywhere, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.git.commits import Commit
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.signoffs.entry import Entry
    from ledger.signoffs.rules import Checked
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class SignOffView:
    path: str
    entry: Entry
    commit: Commit | None
    #: What keeps the sign-off from counting (empty: it counts).
    problems: tuple[str, ...]

    @property
    def counts(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The entry as its file states it, then what verify says of it."""
        return {
            **self.entry.model_dump(exclude_none=True),
            "path": self.path,
            "commit": self.commit.sha if self.commit else None,
            "signature": str(self.commit.signature) if self.commit else None,
            "counts": self.counts,
            "problems": list(self.problems),
        }

    def line(self) -> str:
        status = "signed, counts" if self.counts else "DOES NOT COUNT: " + "; ".join(self.problems)
        return f"{self.entry.summary()} ({status})"


def signoffs_of(state: LedgerState, record: RecordId) -> list[SignOffView]:
    """The sign-offs of one version at ``state``, oldest first."""
    return _views(state.checked_by_record.get(record, []))


def all_signoffs(state: LedgerState) -> list[SignOffView]:
    """Every readable sign-off at ``state``, by path (which orders them by version and time)."""
    return _views(state.checked_signoffs)


def _views(checked: Checked) -> list[SignOffView]:
    return sorted(
        (
            SignOffView(one.path, one.entry, one.commit, tuple(f.message for f in problems))
            for one, problems in checked
        ),
        key=lambda view: view.path,
    )
