"""The sign-offs of a ledger at one commit, each with the commit that added it.

The sign-off files are few next to records, so they are read afresh at each commit (one
``ls-tree`` and one batch of ``cat-file``) rather than kept; their history comes from the
state's one walk, which follows the sign-off folder as it follows records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from ledger.findings import Finding, finding
from ledger.git.commits import Commit
from ledger.records.identity import is_json_name

if TYPE_CHECKING:
    from ledger.signoffs.entry import Entry, Promotion, SignOff
    from ledger.state.ledger_state import LedgerState


def is_signoff(entry: Entry) -> TypeGuard[SignOff]:
    return not entry.promotes


def is_promotion(entry: Entry) -> TypeGuard[Promotion]:
    return entry.promotes


@dataclass(frozen=True)
class ReadSignOff:
    """A sign-off file as read: its entry, or the problems that keep it from being one."""

    path: str
    entry: Entry | None
    problems: tuple[Finding, ...]


@dataclass(frozen=True)
class SignedOff:
    """A readable sign-off at the commit: its file, its entry and the commit that added it
    (None when no commit of the history did)."""

    path: str
    entry: Entry
    commit: Commit | None
    #: Whether history shows the file changed, or deleted and added again, after it was added.
    rewritten: bool


@dataclass(frozen=True)
class SignOffs:
    """Every sign-off file at the commit, and the sign-off files history shows deleted."""

    read: list[ReadSignOff]
    signed: list[SignedOff]
    deleted: list[tuple[str, Commit]]
    #: Sign-off files history shows changed after they were added, readable or not.
    rewritten: list[str]

    @property
    def problems(self) -> list[Finding]:
        return [f for one in self.read for f in one.problems]


def signoffs_at(state: LedgerState) -> SignOffs:
    """The sign-offs committed at ``state``'s commit."""
    folder = state.config.signoffs_dir
    listing = state.repo.list_tree(state.commit, folder)
    paths = sorted(p for p in listing if is_json_name(p))
    read: list[ReadSignOff] = []
    if paths:
        from ledger.signoffs.entry import read_signoff  # the typed model, only when needed

        blobs = state.repo.blobs(listing[p][1] for p in paths)
        read = [
            read_signoff(blobs.get(listing[p][1], b""), p, folder, state.config.limits)
            if listing[p][0] in ("100644", "100755")
            else ReadSignOff(p, None, (finding("L804", p, "", "is not a regular file"),))
            for p in paths
        ]
    history = state.history
    signed: list[SignedOff] = []
    for one in read:
        if one.entry is None:
            continue
        versions = history.versions(one.path)
        added = history.commits[versions[0].index] if versions else None
        signed.append(SignedOff(one.path, one.entry, added, len(versions) > 1))
    prefix = folder.rstrip("/") + "/"
    deleted = [
        (path, history.commits[versions[-1].index])
        for path, versions in history.by_path.items()
        if path.startswith(prefix) and versions[-1].blob is None and path not in listing
    ]
    rewritten = [one.path for one in read if len(history.versions(one.path)) > 1]
    return SignOffs(read, signed, sorted(deleted, key=lambda item: item[0]), rewritten)
