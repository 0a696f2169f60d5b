"""What only history shows: record versions changed or deleted after they were committed,
links pinned to an amended record's earlier content, snapshots against the DVC files of their
own commit, and data versions nobody recorded."""

from __future__ import annotations

import functools
import itertools
import posixpath
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping

from ledger.checks.record_file import RecordFacts
from ledger.checks.tree import RecordFile, TreeRecords
from ledger.dvc.files import (
    DvcFileError,
    DvcOutput,
    dvc_text,
    find_output,
    parse_dvc_file,
    parse_dvc_lock,
)
from ledger.dvc.snapshots import SnapshotRef, check_snapshot, data_version
from ledger.findings import Finding, finding
from ledger.git.commits import Commit
from ledger.git.history import DvcTexts, History, Version, is_record_path
from ledger.git.repository import Repository
from ledger.records.identity import RecordId
from ledger.trees import FileSource

FactsOf = Callable[[Iterable[str]], dict[str, RecordFacts]]


def previous_hashes(
    history: History, records: TreeRecords, facts_of: FactsOf
) -> dict[RecordId, set[str]]:
    """Canonical hashes of every earlier content of the records that were amended."""
    earlier = [
        v.blob
        for file in records.files
        for v in history.versions(file.relpath)[:-1]
        if v.blob is not None
    ]
    previous: dict[RecordId, set[str]] = defaultdict(set)
    for facts in facts_of(earlier).values():
        if facts.claimed is not None and facts.sha256 is not None:
            previous[facts.claimed].add(facts.sha256)
    return previous


def history_findings(
    history: History, records_dir: str, facts_of: FactsOf, only: Container[str] | None = None
) -> list[Finding]:
    """L601/L602: a committed record file changed or deleted by a later commit (with
    ``only``, of those files). A change that keeps the record's canonical content (keys
    reordered, indentation, escapes, a number written another way, the file's mode) changes
    no hash that pins it and is not one."""
    changed: list[tuple[str, Version, Version]] = []
    for path, versions in history.by_path.items():
        if not is_record_path(path, records_dir) or (only is not None and path not in only):
            continue
        changed += [(path, before, after) for before, after in itertools.pairwise(versions)]
    blobs = {v.blob for _, before, after in changed for v in (before, after) if v.blob}
    facts = facts_of(blobs) if blobs else {}
    found: list[Finding] = []
    for path, before, after in changed:
        if after.status != "D" and same_record(before.blob, after.blob, facts):
            continue
        commit = history.commits[after.index]
        who = f"by {commit.author.name} on {commit.author_date} (commit {commit.sha[:12]})"
        if after.status == "D":
            found.append(finding("L602", path, "", f"deleted {who}", commit=commit.sha))
        else:
            message = f"changed after it was committed, {who}"
            found.append(finding("L601", path, "", message, commit=commit.sha))
    return found


def changed_since_head(
    parents: Mapping[str, Mapping[str, tuple[str, str]]],
    records: TreeRecords,
    records_dir: str,
    facts_of: FactsOf,
    where: str,
) -> list[Finding]:
    """L601/L602 before the commit: a record file committed in a parent of the next commit
    (``parents``: HEAD, and MERGE_HEAD while a merge is under way, each path -> mode and blob)
    that ``where`` (the index, or the working tree) has deleted, or changed from what every
    parent holding it has, as ``verify`` reads a merge. The rule ``verify`` applies to
    history, found while it is still one ``git restore`` away."""
    found: list[Finding] = []
    held: dict[str, set[str]] = defaultdict(set)
    for listing in parents.values():
        for path, (_, blob) in listing.items():
            if is_record_path(path, records_dir):
                held[path].add(blob)
    named = " or ".join(parents)
    changed: list[tuple[str, set[str], str]] = []
    for path, blobs in sorted(held.items()):
        file = records.by_path.get(path)
        if file is None:
            message = f"committed at {named} and deleted in the {where}"
            found.append(finding("L602", path, "", message, _restore(path)))
        elif file.blob not in blobs:
            changed.append((path, blobs, file.blob))
    wanted = {b for _, olds, new in changed for b in (*olds, new)}
    facts = facts_of(wanted) if wanted else {}
    for path, olds, new in changed:
        if not any(same_record(old, new, facts) for old in olds):
            message = f"committed at {named} and changed in the {where}"
            fix = f"{_restore(path)}, and write the change as a new version"
            found.append(finding("L601", path, "", message, fix))
    return found


def _restore(path: str) -> str:
    return f"restore it (git restore --staged --worktree -- {path})"


def same_record(old: str | None, new: str | None, facts: Mapping[str, RecordFacts]) -> bool:
    """Whether two versions of a record file (blob ids, ``facts`` holding theirs) hold the
    same record: the same bytes, or clean contents with one canonical hash."""
    if old is None or new is None:
        return False
    if old == new:
        return True
    before, after = facts.get(old), facts.get(new)
    return (
        before is not None
        and after is not None
        and before.sha256 is not None
        and before.sha256 == after.sha256
        and not before.problems
        and not after.problems
    )


def snapshot_at_commit(texts: DvcTexts, file: RecordFile, sha: str) -> list[Finding]:
    """A record's snapshots against the DVC files as they stood in commit ``sha``, its own."""
    found: list[Finding] = []
    for site in file.facts.snapshots:
        problems = check_snapshot(texts.at(sha), file.relpath, site.pointer, site.snapshot)
        found += [_at(f, sha) for f in problems]
    return found


def dvc_files_at_rev(dvc: FileSource, file: RecordFile) -> list[Finding]:
    """A current version's DVC files must still exist at the revision (changed data is L405)."""
    found: list[Finding] = []
    for site in file.facts.snapshots:
        problems = check_snapshot(dvc, file.relpath, site.pointer, site.snapshot)
        found += [f for f in problems if f.code in ("L401", "L402", "L404")]
    return found


def _at(problem: Finding, sha: str) -> Finding:
    return Finding(
        problem.code,
        problem.path,
        problem.pointer,
        f"{problem.message} (in commit {sha[:12]})",
        problem.severity,
        problem.fix,
        sha,
    )


#: A DVC output as records document it: its DVC file, stage and path.
OutputKey = tuple[str, str | None, str]


def output_key(snap: SnapshotRef) -> OutputKey:
    return snap.dvc_file, snap.stage, _normpath(snap.path)


# Each path once: the history checks key every snapshot of every record by its output.
_normpath = functools.lru_cache(maxsize=1 << 16)(posixpath.normpath)


def _outputs_in(data: bytes, snap: SnapshotRef) -> DvcOutput | None:
    try:
        text = dvc_text(data, snap.dvc_file)
        if posixpath.basename(snap.dvc_file) == "dvc.lock":
            stages = parse_dvc_lock(text, snap.dvc_file)
            outs = stages.get(snap.stage or "", ([], []))[1]
        else:
            outs = parse_dvc_file(text, snap.dvc_file)
    except DvcFileError:
        return None
    return find_output(outs, snap.path)


def unrecorded_data(
    repo: Repository, history: History, records: TreeRecords, only: Container[str] | None = None
) -> list[Finding]:
    """Data a record documents that later changed in DVC with no record of the new version.
    Each is reported at the latest version documenting the output (with ``only``, those
    reported at these files)."""
    documented: dict[OutputKey, set[tuple[object, ...]]] = defaultdict(set)
    since: dict[OutputKey, int] = {}  # when the output was first documented
    owner: dict[OutputKey, tuple[str, SnapshotRef]] = {}  # the latest version documenting it
    superseded = records.superseded
    for file in records.valid():
        versions = history.versions(file.relpath)
        if not versions:
            continue
        for site in file.facts.snapshots:
            key = output_key(site.snapshot)
            documented[key].add(data_version(site.snapshot))
            since[key] = min(versions[0].index, since.get(key, versions[0].index))
            if key not in owner or file.facts.claimed not in superseded:
                owner[key] = (file.relpath, site.snapshot)
    by_file: dict[str, list[OutputKey]] = defaultdict(list)
    for key, (relpath, _) in owner.items():
        if only is None or relpath in only:
            by_file[key[0]].append(key)
    later = [
        (version, path)
        for path, keys in by_file.items()
        for version in history.versions(path)
        if version.blob is not None and any(version.index > since[k] for k in keys)
    ]
    texts = repo.blobs(v.blob for v, _ in later if v.blob)
    found: list[Finding] = []
    reported: set[tuple[OutputKey, tuple[object, ...]]] = set()
    for version, path in sorted(later, key=lambda item: item[0].index):
        content = texts.get(version.blob or "")
        if content is None:
            continue
        commit = history.commits[version.index]
        for key in by_file[path]:
            relpath, snap = owner[key]
            if version.index <= since[key]:
                continue
            out = _outputs_in(content, snap)
            # Any field that names the data counts: a DVC file whose size alone was edited,
            # or whose hash name was dropped, no longer says what the record documented.
            if out is None or out.md5 is None or data_version(out) in documented[key]:
                continue
            if (key, data_version(out)) not in reported:
                reported.add((key, data_version(out)))
                found.append(_unrecorded(relpath, out, commit))
    return found


def _unrecorded(relpath: str, out: DvcOutput, commit: Commit) -> Finding:
    return finding(
        "L405",
        relpath,
        "",
        f"{out.repo_path} changed to md5 {out.md5}, size {out.size}"
        + (f", {out.nfiles} files" if out.nfiles is not None else "")
        + (f", hash {out.hash}" if out.hash is not None else ", no hash name")
        + f" in commit {commit.sha[:12]} "
        f"({commit.author.name}, {commit.author_date}) and no record documents it",
        commit=commit.sha,
    )
