"""The rules one state of the repository can be checked against: each file on its own (its
kept ``RecordFacts``), then the records together — duplicate identities, links and their
hashes, cycles, and snapshots against the DVC files of the same state.

This is ``ledger validate`` (the working tree, or the index for the pre-commit gate), and the
part of ``ledger verify`` that does not need history.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from ledger.checks.links import check_links, find_cycles
from ledger.checks.record_file import (
    RecordFacts,
    blob_id,
    check_many,
    check_record_bytes,
    unreadable,
)
from ledger.dvc.snapshots import check_snapshot, dvc_paths
from ledger.findings import SORT_KEY, Finding, Severity, finding
from ledger.records.identity import RecordId
from ledger.records.jsonload import Limits
from ledger.trees import FileSource, TreeView
from ledger.workers import PARALLEL_FROM, Background, Workers, can_fork, fork_pool

if TYPE_CHECKING:
    from ledger.git.repository import Repository

Progress = Callable[[int, int], None]
READ_BATCH = 4096  # record files read, and held, at a time
CHUNK = 128  # files per task sent to a worker


class FactsCache:
    """Facts by blob id; ``ledger.state.store`` keeps them between runs.

    Checking many files at once (``check``) spreads them over worker processes, one per
    processor: checking is pure Python, so threads would wait on each other.
    """

    def __init__(self, known: dict[str, RecordFacts] | None = None) -> None:
        self.known: dict[str, RecordFacts] = known if known is not None else {}
        self.added: dict[str, RecordFacts] = {}
        self._pool: Workers | None = None

    def prepare(self, unchecked: int) -> None:
        """Start worker processes if ``unchecked`` files are many enough to pay for them.
        Call it while the process has no other thread (see ``ledger.workers``)."""
        if self._pool is None:
            self._pool = fork_pool(unchecked)

    def check(self, files: dict[str, bytes], limits: Limits) -> None:
        """Check the files (blob id -> bytes) not checked before, in worker processes when
        they are many (started by ``prepare`` or here; ``close`` stops them)."""
        todo = {blob: data for blob, data in files.items() if blob not in self.known}
        if self._pool is None:
            # A working tree's blob ids are known only once its files are read: the workers
            # start at the first batch that shows enough unchecked files (``fork_pool``
            # declines while the process runs another thread).
            self._pool = fork_pool(len(todo))
        if self._pool is None or len(todo) < CHUNK:
            for blob, data in todo.items():
                self.facts_of(data, limits, blob)
            return
        blobs = list(todo)
        chunks = [blobs[i : i + CHUNK] for i in range(0, len(blobs), CHUNK)]
        results = self._pool.map(check_many, [[todo[b] for b in c] for c in chunks], repeat(limits))
        for chunk, facts in zip(chunks, results, strict=True):
            for blob, one in zip(chunk, facts, strict=True):
                self.put(blob, one)

    def check_ahead(
        self, repo: Repository, blobs: Iterable[str], limits: Limits
    ) -> Background | None:
        """Start checking a few regular record files (by blob id) in a forked process, so
        that this one does other work meanwhile; ``collect`` takes their facts. None when
        they are all known, or many (``check`` spreads those over workers), or no process
        can be forked. Files over the size limit are left to ``load_records``, which says so.

        After a commit the files it added are the only ones to check, and the first check
        imports the typed models (about 0.1 s): the command reads its kept state meanwhile."""
        todo = [blob for blob in dict.fromkeys(blobs) if blob not in self.known]
        if not todo or len(todo) >= PARALLEL_FROM or not can_fork():
            return None
        files = {b: data for b, data in repo.blobs(todo).items() if len(data) <= limits.max_bytes}
        if not files:
            return None
        work = functools.partial(_check_files, files, limits)
        return Background(lambda _: work(), 0, 1)

    def collect(self, ahead: Background | None) -> None:
        """The facts ``check_ahead`` found."""
        if ahead is None:
            return
        with ahead:
            for blob, facts in ahead.result():
                self.put(blob, facts)

    def close(self) -> None:
        """Stop the worker processes (the facts stay): later work forks its own."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def get(self, blob: str) -> RecordFacts | None:
        return self.known.get(blob)

    def put(self, blob: str, facts: RecordFacts) -> None:
        if blob not in self.known:
            self.known[blob] = facts
            self.added[blob] = facts

    def of_blobs(
        self, repo: Repository, blobs: Iterable[str], limits: Limits
    ) -> dict[str, RecordFacts]:
        """Facts of record blobs in git (earlier versions too), read from ``repo`` and checked
        unless they were checked before."""
        wanted = set(blobs)
        missing = [b for b in wanted if self.get(b) is None]
        for blob, data in repo.blobs(missing).items():
            self.facts_of(data, limits, blob)
        return {b: f for b in wanted if (f := self.get(b)) is not None}

    def facts_of(self, data: bytes, limits: Limits, blob: str | None = None) -> RecordFacts:
        """The facts of a file's bytes, checked now unless they were checked before."""
        blob = blob or blob_id(data)
        facts = self.known.get(blob)
        if facts is None:
            facts = check_record_bytes(data, limits)
            self.put(blob, facts)
        return facts


def _check_files(files: dict[str, bytes], limits: Limits) -> list[tuple[str, RecordFacts]]:
    return [(blob, check_record_bytes(data, limits)) for blob, data in files.items()]


class RecordFile(NamedTuple):
    """One record file of a tree state: where it is, its blob id and its facts (a tuple, made
    in C: every run makes one per record)."""

    relpath: str
    blob: str
    facts: RecordFacts

    @property
    def record_id(self) -> RecordId | None:
        return self.facts.claimed


@dataclass
class Report:
    """What a check found, and what it looked at."""

    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, Iterator) else v for k, v in self.json_value().items()}

    def json_value(self) -> dict[str, object]:
        """``to_json`` with the lists that grow with the ledger as iterators
        (``views.formats.json_chunks`` encodes them an item at a time)."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "findings": map(Finding.to_json, self.findings),
        }


_RELPATH = operator.attrgetter("relpath")


class TreeRecords:
    """The record files of one tree state, indexed by path and by identity."""

    def __init__(self, files: Iterable[RecordFile]) -> None:
        self.files = sorted(files, key=_RELPATH)
        self.by_path = {f.relpath: f for f in self.files}

    @functools.cached_property
    def by_id(self) -> dict[RecordId, RecordFile]:
        return {f.facts.claimed: f for f in self.files if f.facts.claimed is not None}

    @functools.cached_property
    def hashes(self) -> dict[RecordId, str]:
        return {
            f.facts.claimed: f.facts.sha256
            for f in self.files
            if f.facts.claimed is not None and f.facts.sha256 is not None
        }

    @functools.cached_property
    def successors(self) -> dict[RecordId, list[RecordFile]]:
        """The files that supersede each version, by the version they name."""
        found: dict[RecordId, list[RecordFile]] = defaultdict(list)
        for file in self.files:
            link = file.facts.supersedes
            if link is not None:
                found[link.target].append(file)
        return found

    @functools.cached_property
    def superseded(self) -> set[RecordId]:
        """Versions that a later record in the same tree supersedes."""
        return set(self.successors)

    @functools.cached_property
    def versions(self) -> dict[tuple[str, str], list[tuple[RecordId, RecordFile]]]:
        """The valid files of each record (kind and name), with the identity each claims."""
        found: dict[tuple[str, str], list[tuple[RecordId, RecordFile]]] = defaultdict(list)
        for file in self.valid():
            claimed = file.facts.claimed
            assert claimed is not None  # valid() holds files that claim an identity
            found[claimed.kind, claimed.name].append((claimed, file))
        return found

    def valid(self) -> Iterable[RecordFile]:
        """Files holding a valid record (those whose links and snapshots are known)."""
        return self._valid

    @functools.cached_property
    def _valid(self) -> tuple[RecordFile, ...]:
        # Chosen once: a run passes over the valid records a dozen times.
        return tuple(f for f in self.files if f.facts.valid and f.facts.claimed is not None)

    def current(self) -> Iterable[RecordFile]:
        """Valid records that no record of the same tree supersedes."""
        superseded = self.superseded
        return (f for f in self.valid() if f.facts.claimed not in superseded)

    def current_ids(self, kind: str) -> list[RecordId]:
        """The identities of the current versions of ``kind``, in path order."""
        return [c for f in self.current() if (c := f.facts.claimed) and c.kind == kind]


def load_records(
    view: TreeView,
    records_dir: str,
    limits: Limits,
    cache: FactsCache,
    extra: Iterable[str] = (),
    progress: Progress | None = None,
) -> TreeRecords:
    """Every record file of ``view`` (plus ``extra`` files named by the user), with facts:
    kept ones where the blob was checked before, the rest checked now."""
    listing = dict(view.record_files(records_dir))
    for path in extra:
        listing.setdefault(path, None)
    paths = sorted(listing)
    files: list[RecordFile] = []
    # Files are read a batch at a time, so a large ledger's records never sit in memory at once.
    for start in range(0, len(paths), READ_BATCH):
        batch = paths[start : start + READ_BATCH]
        wanted = [p for p in batch if listing[p] is None or cache.get(listing[p] or "") is None]
        read = view.read_records(wanted, limits)
        blobs = {
            p: listing[p] or blob_id(data) for p, (data, _) in read.items() if data is not None
        }
        cache.check({blobs[p]: data for p, (data, _) in read.items() if data is not None}, limits)
        for path in batch:
            blob = blobs.get(path, listing[path])
            facts = cache.get(blob) if blob is not None else None
            if facts is None:
                facts, blob = unreadable(read[path][1]), blob or ""
            files.append(RecordFile(path, blob or "", facts))
            if progress is not None:
                progress(len(files), len(paths))
    return TreeRecords(files)


def tree_findings(
    records: TreeRecords,
    records_dir: str,
    dvc: FileSource | None,
    previous: Mapping[RecordId, set[str]] | None = None,
    only: Container[str] | None = None,
) -> list[Finding]:
    """Every finding one tree state shows.

    With ``dvc`` the current versions' snapshots are compared with its DVC files (history
    checks compare every version with the DVC files of its own commit instead). ``previous``
    (earlier contents of amended records) turns mismatches that pin them into stale links.
    With ``only``, the findings about those files, without cycles (``find_cycles``: a
    cycle's finding names its first record, whichever file closed it).
    """
    files = records.files if only is None else [f for f in records.files if f.relpath in only]
    found = [f for file in files for f in file.facts.findings_at(file.relpath, records_dir)]
    found += [f for f in _duplicates(records.files) if only is None or f.path in only]
    found += _version_chains(records, only)
    hashes = records.hashes
    for file in files:
        if file.facts.valid and file.facts.claimed is not None:
            found += check_links(
                file.facts.links, file.facts.claimed, file.relpath, hashes, previous
            )
    if dvc is not None:
        current = [f for f in records.current() if only is None or f.relpath in only]
        dvc.preload(dvc_paths(site.snapshot for file in current for site in file.facts.snapshots))
        for file in current:
            for site in file.facts.snapshots:
                found += check_snapshot(dvc, file.relpath, site.pointer, site.snapshot)
    if only is None:
        found += cycles(records)
    return found


def cycles(records: TreeRecords) -> list[Finding]:
    """L305: cycles among the links of valid records."""
    return find_cycles(
        (file.relpath, file.facts.claimed, file.facts.links)
        for file in records.valid()
        if file.facts.claimed is not None
    )


def _version_chains(records: TreeRecords, only: Container[str] | None) -> list[Finding]:
    """L306/L307: the versions of one record form a single chain. Each version but the first
    supersedes one (where to is L304's matter), and no version has two successors: a fork
    leaves two current versions, and every view would show both. With ``only``, the findings
    about those files."""
    versions = records.versions
    if only is None:
        names: Iterable[tuple[str, str]] = versions
    else:
        ids = (f.facts.claimed for f in records.files if f.relpath in only)
        names = {(c.kind, c.name) for c in ids if c is not None}
    found: list[Finding] = []
    for name in names:
        group = versions.get(name, [])
        # Most records have one version, which is its first: no sort key is needed then.
        first = min(c.version_key for c, _ in group) if len(group) > 1 else None
        for claimed, file in group:
            link = file.facts.supersedes
            if link is None and first is not None and claimed.version_key > first:
                message = f"{claimed} supersedes no version, though an earlier one is recorded"
                found.append(finding("L307", file.relpath, "", message))
            elif link is not None and len(records.successors[link.target]) > 1:
                rivals = sorted(str(f.facts.claimed) for f in records.successors[link.target])
                message = (
                    f"{link.target} is superseded by {' and '.join(rivals)}: "
                    "each stays a current version"
                )
                found.append(finding("L306", file.relpath, link.pointer + "/ref", message))
    return [f for f in found if only is None or f.path in only]


def _duplicates(files: Iterable[RecordFile]) -> list[Finding]:
    by_id: dict[RecordId, list[str]] = defaultdict(list)
    for file in files:
        if file.facts.claimed is not None:
            by_id[file.facts.claimed].append(file.relpath)
    return [
        finding(
            "L202",
            path,
            "",
            f"{record_id} is also claimed by " + ", ".join(p for p in paths if p != path),
        )
        for record_id, paths in by_id.items()
        if len(paths) > 1
        for path in paths
    ]


def report(
    records: TreeRecords, found: Iterable[Finding], only: Sequence[str] | None = None
) -> Report:
    """A report of ``found`` over ``records``; with ``only``, about those files alone (links
    still resolved against every record of the tree)."""
    checked = [f.relpath for f in records.files]
    findings = list(found)
    if only is not None:
        wanted = set(only)
        checked = [p for p in checked if p in wanted]
        findings = [f for f in findings if f.path in wanted]
    return Report(checked=checked, findings=sorted(set(findings), key=SORT_KEY))
