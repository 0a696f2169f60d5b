"""``ledger log REF``: the history of one record, from the state's history.

Records say what; git says who, when and why. Each entry is a commit that added, changed or
deleted the record's file, with the canonical hash of the content it left behind, so an old
version can be found by the hash a link pinned; then the version's sign-offs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.git.commits import Commit
from ledger.records.identity import id_from_relpath
from ledger.views.signoffs import SignOffView, signoffs_of

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

_ACTIONS = {"A": "added", "M": "changed", "D": "deleted", "T": "changed type"}


@dataclass(frozen=True)
class LogEntry:
    commit: Commit
    action: str
    blob: str | None
    sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "blob": self.blob,
            "sha256": self.sha256,
            "commit": self.commit.to_json(),
        }

    def text(self) -> str:
        c = self.commit
        lines = [
            f"{c.sha[:12]} {self.action} by {c.author} at {c.author_date}",
            f"    committed by {c.committer} at {c.committer_date}; signature: "
            f"{c.signature.description}{f' ({c.signer})' if c.signer else ''}",
        ]
        if self.sha256:
            lines.append(f"    sha256 {self.sha256}")
        lines.append(f"    {c.subject}")
        if c.reason:
            lines.append(f"    reason: {c.reason}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RecordLog:
    path: str
    entries: list[LogEntry]
    #: The sign-offs of the version, each with the commit that added it.
    signoffs: Sequence[SignOffView] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "history": [e.to_json() for e in self.entries],
            "signoffs": [one.to_json() for one in self.signoffs],
        }

    def text(self) -> str:
        lines = [self.path, *(e.text() for e in self.entries)]
        for one in self.signoffs:
            commit = f"{one.commit.sha[:12]} " if one.commit else ""
            lines.append(f"{commit}signed off: {one.line()}")
        return "\n".join(lines) + "\n"


def record_log(state: LedgerState, relpath: str) -> RecordLog:
    """Every commit of the state's history that touched ``relpath``, oldest first, and the
    sign-offs of the version it holds."""
    versions = state.history.versions(relpath)
    facts = state.facts_of(v.blob for v in versions if v.blob)
    entries = []
    for version in versions:
        known = facts.get(version.blob) if version.blob else None
        entries.append(
            LogEntry(
                state.history.commits[version.index],
                _ACTIONS.get(version.status, version.status),
                version.blob,
                known.sha256 if known else None,
            )
        )
    record = id_from_relpath(relpath, state.config.records_dir)
    signed = signoffs_of(state, record) if record is not None else []
    return RecordLog(relpath, entries, signed)
