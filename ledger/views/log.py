"""``ledger log REF``: the history of one record, from git.

Records say what; git says who, when and why. Each entry is a commit that added, changed or
deleted the record's file, with the canonical hash of the content it left behind, so an old
version can be found by the hash a link pinned.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.records.canonical import NotCanonicalizableError, record_hash
from ledger.config import Config
from ledger.git.repository import Commit, Repository
from ledger.records.jsonload import load_json_bytes

_ACTIONS = {"A": "added", "M": "changed", "D": "deleted", "T": "changed type"}


@dataclass(frozen=True)
class LogEntry:
    commit: Commit
    action: str
    blob: str | None
    sha256: str | None

    def to_json(self) -> dict[str, object]:
        c = self.commit
        return {
            "commit": c.sha,
            "action": self.action,
            "author": {"name": c.author.name, "email": c.author.email, "date": c.author_date},
            "committer": {
                "name": c.committer.name,
                "email": c.committer.email,
                "date": c.committer_date,
            },
            "message": c.message,
            "reason": c.trailer("Ledger-Reason"),
            "signature": c.signature_state,
            "signer": c.signer,
            "blob": self.blob,
            "sha256": self.sha256,
        }

    def text(self) -> str:
        c = self.commit
        lines = [
            f"{c.sha[:12]} {self.action} by {c.author} at {c.author_date}",
            f"    committed by {c.committer} at {c.committer_date}; signature: "
            f"{c.signature_state}{f' ({c.signer})' if c.signer else ''}",
        ]
        if self.sha256:
            lines.append(f"    sha256 {self.sha256}")
        lines.append(f"    {c.subject}")
        reason = c.trailer("Ledger-Reason")
        if reason:
            lines.append(f"    reason: {reason}")
        return "\n".join(lines)


def record_log(repo: Repository, config: Config, relpath: str, rev: str) -> list[LogEntry]:
    """Every commit reachable from ``rev`` that touched ``relpath``, oldest first."""
    entries: list[LogEntry] = []
    for commit in repo.walk(repo.resolve(rev), [relpath]):
        for change in commit.changes:
            if change.path != relpath:
                continue
            entries.append(
                LogEntry(
                    commit,
                    _ACTIONS.get(change.status, change.status),
                    change.new_blob,
                    _hash_of(repo, change.new_blob, config),
                )
            )
    return entries


def _hash_of(repo: Repository, blob: str | None, config: Config) -> str | None:
    content = repo.blob(blob) if blob else None
    if content is None:
        return None
    data, problems = load_json_bytes(content, "", config.limits)
    if problems:
        return None
    try:
        return record_hash(data)
    except NotCanonicalizableError:
        return None
