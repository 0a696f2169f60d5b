"""``ledger verify``: prove, at any revision, that the committed ledger is intact.

Everything is read from git objects at the revision (never the working tree): the records and
every rule ``validate`` applies, then what only history can show — versions changed or deleted
after they were committed, snapshots against the DVC files of the record's own commit, data
versions nobody recorded, pipelines that used other data, test data leaking into training, and
who signed the commits.
"""

from __future__ import annotations

import bisect
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ledger.canonical import NotCanonicalizableError, record_hash
from ledger.checked import CheckedStore
from ledger.config import Config
from ledger.dvc_files import DvcFileError, DvcOutput, find_output, parse_dvc_file, parse_dvc_lock
from ledger.findings import Finding, Severity, finding
from ledger.history import SIGNATURE_STATES, Commit, GitTree, Repository
from ledger.identity import RecordId
from ledger.jsonload import load_json_bytes
from ledger.links import check_links
from ledger.records import DatasetRecord, EvaluationRecord, ModelRecord, Snapshot
from ledger.snapshots import check_snapshot, dvc_outputs, snapshot_sites
from ledger.trees import FileSource
from ledger.validate import Entry, Progress, Report, TreeCheck, claimed_id, inspect_tree

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


@dataclass
class _RecordHistory:
    """The versions one record file went through: (commit, change status, blob)."""

    versions: list[tuple[Commit, str, str | None]] = field(default_factory=list)

    @property
    def last_commit(self) -> Commit:
        return self.versions[-1][0]


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

    With ``remember``, record files found clean are remembered by blob id (ledger.checked) and
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
        histories = _record_histories(commits, config.records_dir)
        found = _restale(tree, _previous_hashes(repo, histories, config))
        found += _history_findings(histories)
        found += _snapshots_at_their_commit(repo, tree, histories, commits)
        linear = all(len(c.parents) <= 1 for c in commits)
        at_rev: FileSource = (
            _FilesAt(repo, _changes_by_path(commits), len(commits) - 1, sha) if linear else view
        )
        found += _dvc_files_at_rev(at_rev, tree)
        found += _unrecorded_data(repo, commits, tree, histories)
        found += _pipelines(view, tree)
        found += _leakage(root, tree)
        summaries = _summaries(commits, config.records_dir)
        found += _signatures(summaries, require_signed)
        if data:
            found += _data(root, view, tree)
    return VerifyReport(
        commit=sha,
        checked=[e.relpath for e in tree.entries],
        findings=sorted(set(found), key=Finding.sort_key),
        commits=summaries,
    )


def _is_record_path(path: str, records_dir: str) -> bool:
    return path.startswith(records_dir.rstrip("/") + "/") and path.endswith(".json")


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


def _record_histories(commits: Iterable[Commit], records_dir: str) -> dict[str, _RecordHistory]:
    histories: dict[str, _RecordHistory] = defaultdict(_RecordHistory)
    for commit in commits:
        for change in commit.changes:
            if _is_record_path(change.path, records_dir):
                histories[change.path].versions.append((commit, change.status, change.new_blob))
    return histories


def _previous_hashes(
    repo: Repository, histories: dict[str, _RecordHistory], config: Config
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


def _history_findings(histories: dict[str, _RecordHistory]) -> list[Finding]:
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


class _FilesAt:
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


def _changes_by_path(commits: list[Commit]) -> dict[str, list[tuple[int, str | None]]]:
    """For each file, (commit index, new blob) of every change, in walk order."""
    changes: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for i, commit in enumerate(commits):
        for change in commit.changes:
            changes[change.path].append((i, change.new_blob))
    return changes


def _snapshots_at_their_commit(
    repo: Repository,
    tree: TreeCheck,
    histories: dict[str, _RecordHistory],
    commits: list[Commit],
) -> list[Finding]:
    """Each record's snapshot against the DVC files as they stood in its own commit."""
    linear = all(len(c.parents) <= 1 for c in commits)
    order = {c.sha: i for i, c in enumerate(commits)}
    changes = _changes_by_path(commits)
    found: list[Finding] = []
    for entry in tree.entries:
        history = histories.get(entry.relpath)
        if entry.record is None or history is None:
            continue
        commit = history.last_commit
        at_commit: FileSource = (
            _FilesAt(repo, changes, order[commit.sha], commit.sha)
            if linear
            else GitTree(repo, commit.sha)  # with merges, ask git for the commit's own tree
        )
        for pointer, snap in snapshot_sites(entry.record):
            problems = check_snapshot(at_commit, entry.relpath, pointer, snap)
            found += [_at(f, commit) for f in problems]
    return found


def _dvc_files_at_rev(view: FileSource, tree: TreeCheck) -> list[Finding]:
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


def _unrecorded_data(
    repo: Repository,
    commits: list[Commit],
    tree: TreeCheck,
    histories: dict[str, _RecordHistory],
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


def _pipelines(view: GitTree, tree: TreeCheck) -> list[Finding]:
    """The dvc.lock stage that produced a model must have used the recorded training data."""
    found: list[Finding] = []
    by_id = tree.by_id
    for entry in tree.entries:
        model = entry.record
        if not isinstance(model, ModelRecord) or entry.claimed in tree.superseded:
            continue
        art = model.artifact
        if posixpath.basename(art.dvc_file) != "dvc.lock" or art.stage is None:
            continue
        try:
            stages = parse_dvc_lock(view.read_text(art.dvc_file) or "", art.dvc_file)
        except DvcFileError:
            continue  # check_snapshot reports an unreadable lock file
        deps = {d.repo_path: d for d in stages.get(art.stage, ([], []))[0]}
        for i, link in enumerate(model.training.datasets):
            target = by_id.get(RecordId.parse(link.ref))
            if target is None or not isinstance(target.record, DatasetRecord):
                continue
            snap = target.record.snapshot
            out = _repo_output(view, snap)
            dep = deps.get(out.repo_path) if out else None
            pointer = f"/training/datasets/{i}"
            if dep is None:
                found.append(
                    finding(
                        "L406",
                        entry.relpath,
                        pointer,
                        f"stage {art.stage!r} does not depend on {snap.path} ({link.ref}); it "
                        f"depends on {', '.join(sorted(deps)) or 'nothing'}",
                    )
                )
            elif dep.md5 != snap.md5:
                found.append(
                    finding(
                        "L406",
                        entry.relpath,
                        pointer,
                        f"stage {art.stage!r} used {dep.repo_path} with md5 {dep.md5}, but "
                        f"{link.ref} documents md5 {snap.md5}",
                    )
                )
    return found


def _repo_output(view: GitTree, snap: Snapshot) -> DvcOutput | None:
    try:
        outputs = dvc_outputs(view, snap.dvc_file, snap.stage)
    except DvcFileError:
        return None
    return find_output(outputs or [], snap.path)


def _leakage(root: Path, tree: TreeCheck) -> list[Finding]:
    """Test data that is, or shares files with, the evaluated model's training data."""
    from ledger.data_check import shared_files

    found: list[Finding] = []
    by_id = tree.by_id
    for entry in tree.entries:
        evaluation = entry.record
        if not isinstance(evaluation, EvaluationRecord):
            continue
        model_entry = by_id.get(RecordId.parse(evaluation.model.ref))
        if model_entry is None or not isinstance(model_entry.record, ModelRecord):
            continue
        training = [
            (link.ref, by_id[RecordId.parse(link.ref)].record)
            for link in model_entry.record.training.datasets
            if RecordId.parse(link.ref) in by_id
        ]
        for i, test_link in enumerate(evaluation.datasets):
            test = by_id.get(RecordId.parse(test_link.ref))
            if test is None or not isinstance(test.record, DatasetRecord):
                continue
            for train_ref, train in training:
                if not isinstance(train, DatasetRecord):
                    continue
                a, b = test.record.snapshot, train.snapshot
                pointer = f"/datasets/{i}"
                if a.sha256 == b.sha256 or a.md5 == b.md5:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"test data {test_link.ref} is the same snapshot as {train_ref}, "
                            f"which {evaluation.model.ref} was trained on",
                        )
                    )
                    continue
                if not (a.md5.endswith(".dir") or b.md5.endswith(".dir")):
                    continue
                shared = shared_files(root, a.md5, b.md5)
                if shared is None:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"cannot check whether {test_link.ref} overlaps {train_ref}: a .dir "
                            "manifest is not in the DVC cache (run `dvc fetch`)",
                            severity=Severity.WARNING,
                        )
                    )
                elif shared:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"test data {test_link.ref} shares {len(shared)} file(s) with "
                            f"{train_ref}, which {evaluation.model.ref} was trained on",
                        )
                    )
    return found


def _summaries(commits: Iterable[Commit], records_dir: str) -> list[CommitSummary]:
    summaries: list[CommitSummary] = []
    for commit in commits:
        paths = tuple(
            sorted(c.path for c in commit.changes if _is_record_path(c.path, records_dir))
        )
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


def _data(root: Path, view: GitTree, tree: TreeCheck) -> list[Finding]:
    from ledger.data_check import SnapshotSite, check_data

    sites: list[SnapshotSite] = []
    for entry in tree.entries:
        if entry.record is None:
            continue
        for pointer, snap in snapshot_sites(entry.record):
            if snap.hash is None:
                continue  # a DVC 2 md5-dos2unix hash names no DVC 3 cache object
            out = _repo_output(view, snap)
            sites.append(
                SnapshotSite(
                    entry.relpath,
                    pointer,
                    out.repo_path if out else snap.path,
                    snap.md5,
                    snap.md5.endswith(".dir"),
                    in_workspace=entry.claimed not in tree.superseded,
                )
            )
    return check_data(root, sites)
