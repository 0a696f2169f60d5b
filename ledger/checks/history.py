"""What only history shows: record versions changed or deleted after they were committed,
snapshots against the DVC files of their own commit, and data versions nobody recorded."""

from __future__ import annotations

import bisect
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ledger.records.canonical import NotCanonicalizableError, record_hash
from ledger.config import Config
from ledger.dvc.files import DvcFileError, DvcOutput, find_output, parse_dvc_file, parse_dvc_lock
from ledger.checks.findings import Finding, finding
from ledger.git.repository import Commit, GitTree, Repository
from ledger.records.identity import RecordId
from ledger.records.jsonload import load_json_bytes
from ledger.records import Snapshot
from ledger.dvc.snapshots import check_snapshot, snapshot_sites
from ledger.trees import FileSource
from ledger.checks.tree import Entry, TreeCheck, claimed_id


@dataclass
class RecordHistory:
    """The versions one record file went through: (commit, change status, blob)."""

    versions: list[tuple[Commit, str, str | None]] = field(default_factory=list)

    @property
    def last_commit(self) -> Commit:
        return self.versions[-1][0]


def is_record_path(path: str, records_dir: str) -> bool:
    return path.startswith(records_dir.rstrip("/") + "/") and path.endswith(".json")


def record_histories(commits: Iterable[Commit], records_dir: str) -> dict[str, RecordHistory]:
    histories: dict[str, RecordHistory] = defaultdict(RecordHistory)
    for commit in commits:
        for change in commit.changes:
            if is_record_path(change.path, records_dir):
                histories[change.path].versions.append((commit, change.status, change.new_blob))
    return histories


def previous_hashes(
    repo: Repository, histories: dict[str, RecordHistory], config: Config
) -> dict[RecordId, set[str]]:
    """Canonical hashes of every earlier content of records that were amended."""
    previous: dict[RecordId, set[str]] = defaultdict(set)
    for history in histories.values():
        blobs = [blob for _, _, blob in history.versions if blob is not None]
        for blob in blobs[:-1]:
            content = repo.blob(blob)
            data, problems = load_json_bytes(content or b"", "", config.limits)
            if problems or not isinstance(data, dict):
                continue
            record_id = claimed_id(data)
            if record_id is None:
                continue
            try:
                previous[record_id].add(record_hash(data))
            except NotCanonicalizableError:
                continue
    return previous


def history_findings(histories: dict[str, RecordHistory]) -> list[Finding]:
    found: list[Finding] = []
    for path, history in histories.items():
        for commit, status, _ in history.versions[1:]:
            who = f"by {commit.author.name} on {commit.author_date} (commit {commit.sha[:12]})"
            if status == "D":
                found.append(finding("L602", path, "", f"deleted {who}", commit=commit.sha))
            else:
                found.append(
                    finding(
                        "L601",
                        path,
                        "",
                        f"changed after it was committed, {who}",
                        commit=commit.sha,
                    )
                )
    return found


class FilesAt:
    """DVC files as they stood at one commit, known from the walk's changes.

    The walk lists every change to every DVC file, so in a linear history the content at a
    commit is the last change at or before it: no tree lookup per record is needed.
    """

    def __init__(
        self,
        repo: Repository,
        changes: Mapping[str, list[tuple[int, str | None]]],
        index: int,
        sha: str,
    ) -> None:
        self.repo, self.changes, self.index = repo, changes, index
        self.label = f"commit {sha[:12]}"

    def read_text(self, relpath: str) -> str | None:
        history = self.changes.get(relpath, [])
        at = bisect.bisect_right(history, self.index, key=lambda change: change[0])
        blob = history[at - 1][1] if at else None
        content = self.repo.blob(blob) if blob else None
        return None if content is None else content.decode("utf-8", "replace")


def changes_by_path(commits: list[Commit]) -> dict[str, list[tuple[int, str | None]]]:
    """For each file, (commit index, new blob) of every change, in walk order."""
    changes: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for i, commit in enumerate(commits):
        for change in commit.changes:
            changes[change.path].append((i, change.new_blob))
    return changes


def snapshots_at_their_commit(
    repo: Repository,
    tree: TreeCheck,
    histories: dict[str, RecordHistory],
    commits: list[Commit],
) -> list[Finding]:
    """Each record's snapshot against the DVC files as they stood in its own commit."""
    linear = all(len(c.parents) <= 1 for c in commits)
    order = {c.sha: i for i, c in enumerate(commits)}
    changes = changes_by_path(commits)
    found: list[Finding] = []
    for entry in tree.entries:
        history = histories.get(entry.relpath)
        if entry.record is None or history is None:
            continue
        commit = history.last_commit
        at_commit: FileSource = (
            FilesAt(repo, changes, order[commit.sha], commit.sha)
            if linear
            else GitTree(repo, commit.sha)  # with merges, ask git for the commit's own tree
        )
        for pointer, snap in snapshot_sites(entry.record):
            problems = check_snapshot(at_commit, entry.relpath, pointer, snap)
            found += [_at(f, commit) for f in problems]
    return found


def dvc_files_at_rev(view: FileSource, tree: TreeCheck) -> list[Finding]:
    """The latest versions' DVC files must still exist at the revision (changed data is L405)."""
    found: list[Finding] = []
    for entry in tree.entries:
        if entry.record is None or entry.claimed in tree.superseded:
            continue
        for pointer, snap in snapshot_sites(entry.record):
            problems = check_snapshot(view, entry.relpath, pointer, snap)
            found += [f for f in problems if f.code in ("L401", "L402", "L404")]
    return found


def _at(problem: Finding, commit: Commit) -> Finding:
    return Finding(
        problem.code,
        problem.path,
        problem.pointer,
        f"{problem.message} (in commit {commit.sha[:12]})",
        problem.severity,
        problem.fix,
        commit.sha,
    )


_Key = tuple[str, str | None, str]


def _snapshot_key(snap: Snapshot) -> _Key:
    return snap.dvc_file, snap.stage, posixpath.normpath(snap.path)


def _outputs_in(text: str, snap: Snapshot) -> DvcOutput | None:
    try:
        if posixpath.basename(snap.dvc_file) == "dvc.lock":
            stages = parse_dvc_lock(text, snap.dvc_file)
            outs = stages.get(snap.stage or "", ([], []))[1]
        else:
            outs = parse_dvc_file(text, snap.dvc_file)
    except DvcFileError:
        return None
    return find_output(outs, snap.path)


def unrecorded_data(
    repo: Repository,
    commits: list[Commit],
    tree: TreeCheck,
    histories: dict[str, RecordHistory],
) -> list[Finding]:
    """Data a record documents that later changed in DVC with no record of the new version."""
    order = {c.sha: i for i, c in enumerate(commits)}
    documented: dict[_Key, set[str]] = defaultdict(set)
    since: dict[_Key, int] = {}  # when the output was first documented
    owner: dict[_Key, tuple[Entry, Snapshot]] = {}  # the latest version documenting it
    for entry in tree.entries:
        history = histories.get(entry.relpath)
        if entry.record is None or history is None:
            continue
        at = order[history.versions[0][0].sha]
        for _, snap in snapshot_sites(entry.record):
            key = _snapshot_key(snap)
            documented[key].add(snap.md5)
            since[key] = min(at, since.get(key, at))
            if key not in owner or entry.claimed not in tree.superseded:
                owner[key] = (entry, snap)
    by_file: dict[str, list[_Key]] = defaultdict(list)
    for key in owner:
        by_file[key[0]].append(key)
    found: list[Finding] = []
    reported: set[tuple[_Key, str]] = set()
    for index, commit in enumerate(commits):
        for change in commit.changes:
            if change.new_blob is None or change.path not in by_file:
                continue
            content = repo.blob(change.new_blob)
            for key in by_file[change.path]:
                entry, snap = owner[key]
                if index <= since[key] or content is None:
                    continue
                out = _outputs_in(content.decode("utf-8", "replace"), snap)
                if out is None or out.md5 is None or out.md5 in documented[key]:
                    continue
                if (key, out.md5) not in reported:
                    reported.add((key, out.md5))
                    found.append(
                        finding(
                            "L405",
                            entry.relpath,
                            "",
                            f"{out.repo_path} changed to md5 {out.md5} in commit {commit.sha[:12]} "
                            f"({commit.author.name}, {commit.author_date}) and no record "
                            "documents it",
                            commit=commit.sha,
                        )
                    )
    return found
