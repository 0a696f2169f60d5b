"""``ledger verify``: prove, at any revision, that the committed ledger is intact.

Everything is read from git objects at the revision (never the working tree): the records and
every rule ``validate`` applies, then what only history can show — versions changed or deleted
after they were committed, snapshots against the DVC files of the record's own commit, data
versions nobody recorded, pipelines that used other data, test data leaking into training, and
who signed the commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ledger.state.store import CheckedStore
from ledger.config import Config
from ledger.checks.findings import Finding, Severity, finding
from ledger.git.repository import SIGNATURE_STATES, Commit, GitTree, Repository
from ledger.records.identity import RecordId
from ledger.checks.links import check_links
from ledger.checks.patterns import data_findings, leakage_findings, pipeline_findings
from ledger.checks.history import (
    FilesAt,
    changes_by_path,
    dvc_files_at_rev,
    history_findings,
    is_record_path,
    previous_hashes,
    record_histories,
    snapshots_at_their_commit,
    unrecorded_data,
)
from ledger.trees import FileSource
from ledger.checks.tree import Progress, Report, TreeCheck, inspect_tree

# Plain pathspecs: "*" matches across folders, and is twice as fast as :(glob) magic.
DVC_PATHSPECS = ("*.dvc", "*dvc.lock")  # "*dvc.lock" covers dvc.lock in any folder


@dataclass(frozen=True)
class CommitSummary:
    """A commit that changed records: who, when, why, and whether it is signed."""

    sha: str
    author: str
    author_date: str
    committer: str
    committer_date: str
    subject: str
    signature: str
    signer: str
    records: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.sha,
            "author": self.author,
            "author_date": self.author_date,
            "committer": self.committer,
            "committer_date": self.committer_date,
            "subject": self.subject,
            "signature": self.signature,
            "signer": self.signer,
            "records": list(self.records),
        }


@dataclass
class VerifyReport(Report):
    """A validation report of the committed tree, with the commit and the commits that
    changed records."""

    commit: str = ""
    commits: list[CommitSummary] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "commit": self.commit,
            "commits": [c.to_json() for c in self.commits],
        }


def verify(
    root: Path,
    config: Config,
    rev: str = "HEAD",
    *,
    data: bool = False,
    require_signed: bool = False,
    progress: Progress | None = None,
    remember: bool = True,
) -> VerifyReport:
    """Verify the ledger as committed at ``rev``.

    With ``remember``, record files found clean are remembered by blob id (ledger.state.store) and
    only parsed on later runs; every tree-level and history check still runs in full.
    """
    with Repository(root) as repo, ThreadPoolExecutor(1) as background:
        repo.require_full_history()
        sha = repo.resolve(rev)
        # git walks the history in its own process while Python checks the records at REV:
        # the two biggest costs overlap instead of adding up.
        walking = background.submit(repo.walk, sha, [config.records_dir, *DVC_PATHSPECS])
        view = GitTree(repo, sha)
        store = CheckedStore(repo, config) if remember else None
        tree = inspect_tree(
            view,
            config,
            snapshots=False,
            progress=progress,
            known=store.clean if store else None,
            keep_content=False,
        )
        if store is not None:
            store.save()
        commits = walking.result()
        histories = record_histories(commits, config.records_dir)
        found = _restale(tree, previous_hashes(repo, histories, config))
        found += history_findings(histories)
        found += snapshots_at_their_commit(repo, tree, histories, commits)
        linear = all(len(c.parents) <= 1 for c in commits)
        at_rev: FileSource = (
            FilesAt(repo, changes_by_path(commits), len(commits) - 1, sha) if linear else view
        )
        found += dvc_files_at_rev(at_rev, tree)
        found += unrecorded_data(repo, commits, tree, histories)
        found += pipeline_findings(view, tree)
        found += leakage_findings(root, tree)
        summaries = _summaries(commits, config.records_dir)
        found += _signatures(summaries, require_signed)
        if data:
            found += data_findings(root, view, tree)
    return VerifyReport(
        commit=sha,
        checked=[e.relpath for e in tree.entries],
        findings=sorted(set(found), key=Finding.sort_key),
        commits=summaries,
    )


def _restale(tree: TreeCheck, previous: dict[RecordId, set[str]]) -> list[Finding]:
    """The tree's findings, with hash mismatches that pin an amended record's earlier content
    turned into stale-link findings (history is only known after the tree was checked)."""
    mismatched = {f.path for f in tree.findings if f.code == "L302"}
    if not mismatched or not previous:
        return list(tree.findings)
    found = [f for f in tree.findings if not (f.code == "L302" and f.path in mismatched)]
    hashes = {e.claimed: e.sha256 for e in tree.entries if e.claimed and e.sha256}
    for entry in tree.entries:
        if entry.relpath in mismatched and entry.record and entry.claimed:
            found += [
                f
                for f in check_links(entry.record, entry.claimed, entry.relpath, hashes, previous)
                if f.code in ("L302", "L603")
            ]
    return found


def _summaries(commits: Iterable[Commit], records_dir: str) -> list[CommitSummary]:
    summaries: list[CommitSummary] = []
    for commit in commits:
        paths = tuple(sorted(c.path for c in commit.changes if is_record_path(c.path, records_dir)))
        if paths:
            summaries.append(
                CommitSummary(
                    commit.sha,
                    str(commit.author),
                    commit.author_date,
                    str(commit.committer),
                    commit.committer_date,
                    commit.subject,
                    commit.signature_state,
                    commit.signer,
                    paths,
                )
            )
    return summaries


def _signatures(summaries: Iterable[CommitSummary], require_signed: bool) -> list[Finding]:
    found: list[Finding] = []
    strict = Severity.ERROR if require_signed else Severity.WARNING
    for summary in summaries:
        where = summary.records[0]
        about = f"commit {summary.sha[:12]} ({summary.author}, {summary.subject!r})"
        if summary.signature == "unsigned":
            found.append(
                finding(
                    "L801", where, "", f"{about} is not signed", severity=strict, commit=summary.sha
                )
            )
        elif summary.signature == "bad":
            found.append(
                finding("L802", where, "", f"{about} has a bad signature", commit=summary.sha)
            )
        elif summary.signature != SIGNATURE_STATES["G"]:
            found.append(
                finding(
                    "L803",
                    where,
                    "",
                    f"{about}: signature {summary.signature}",
                    severity=strict,
                    commit=summary.sha,
                )
            )
    return found
