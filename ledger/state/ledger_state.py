"""One state of the ledger at a commit, read once: the views' single source.

``load_state`` builds it from git with one history walk and one cat-file session, or from a
kept state (``ledger.state.store``) plus the commits since: for an ancestor's kept state only
the commits after it are walked, and only record files with new blob ids are checked. The
findings and the lineage graph are derived from it on first use; every view (lineage, FHIR,
reviews, comparisons, exports, logs) is a function of it and never walks history again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.bulk import quiet_gc
from ledger.checks.criteria import CODES as CRITERIA_CODES
from ledger.checks.criteria import criteria_findings
from ledger.checks.history import (
    dvc_files_at_rev,
    history_findings,
    previous_hashes,
    same_record,
    snapshot_at_commit,
    unrecorded_data,
)
from ledger.checks.patterns import data_findings, leakage_findings, pipeline_findings
from ledger.checks.record_file import RecordFacts
from ledger.checks.signatures import signature_findings
from ledger.checks.tree import (
    FactsCache,
    Progress,
    RecordFile,
    TreeRecords,
    cycles,
    load_records,
    tree_findings,
)
from ledger.config import Config
from ledger.dvc.snapshots import dvc_paths
from ledger.findings import SEVERITIES, SORT_KEY, Finding
from ledger.git.commits import Commit, Signature
from ledger.git.history import DvcTexts, FilesAt, History, is_record_path, relevant
from ledger.git.repository import REGULAR_MODES, Repository, listing_after
from ledger.git.trees import GitTree
from ledger.records.identity import RecordId
from ledger.signoffs.collected import SignOffs, signoffs_at
from ledger.signoffs.rules import Checked, check_signoffs, signoff_findings
from ledger.state.delta import Since
from ledger.state.store import KeptState, Store, with_verdicts
from ledger.state.values import KeptValues

if TYPE_CHECKING:
    from ledger.views.graph import LineageGraph


Row = tuple[str, str, str, str, str, str, str]


def _rows(found: Iterable[Finding]) -> list[Row]:
    """Findings as kept: plain strings (``marshal`` writes no enum)."""
    return [(c, p, q, m, str(s), f, k) for c, p, q, m, s, f, k in found]


def _findings(rows: Iterable[Row | list[str]]) -> list[Finding]:
    return [Finding(c, p, q, m, SEVERITIES[s], f, k) for c, p, q, m, s, f, k in rows]


class _Memo:
    """Findings of checks whose inputs are immutable, by a key that names those inputs."""

    def __init__(self, known: dict[str, list[Row]]) -> None:
        self.known = known
        self.used: dict[str, list[Row]] = {}

    def __call__(self, key: str, check: Callable[[], list[Finding]]) -> list[Finding]:
        rows = self.known.get(key)
        if rows is None:
            rows = _rows(check())
        self.used[key] = rows
        return _findings(rows)


class LedgerState:
    """The ledger as committed at ``commit``: its record files with their facts, and the
    history of record and DVC files that reached it."""

    def __init__(
        self,
        repo: Repository,
        config: Config,
        cache: FactsCache,
        commit: str,
        records: TreeRecords,
        history: History,
        kept: KeptState,
        values: KeptValues | None = None,
        since: Since | None = None,
    ) -> None:
        self.repo, self.config, self.cache = repo, config, cache
        self.commit, self.records, self.history = commit, records, history
        self.kept = kept
        #: A kept ancestor whose findings this state's can start from.
        self.since = since
        #: The records whose findings were checked again from ``since`` (None: all were).
        self.rechecked: set[str] | None = None
        #: Values derived from records that views keep between runs (None: nothing is kept).
        self.values = values
        #: Whether ``kept`` holds something the store does not have yet.
        self.dirty = False
        #: Values views derived from this state, held for as long as it is: a session that
        #: asks again (a second query) reads them from memory, not from ``values``.
        self.derived: dict[str, Any] = {}

    # --- what views read -------------------------------------------------------------------

    @functools.cached_property
    def dvc_texts(self) -> DvcTexts:
        return DvcTexts(self.repo, self.history)

    @functools.cached_property
    def dvc(self) -> FilesAt:
        """The DVC files at the commit, read as checks ask for them (each check preloads
        what it will read in one batch). Findings name it "the checked commit", not by its
        id: what is found of files that did not change holds at any later commit, and is
        kept for it (``_Memo``, ``_same_ledger``)."""
        return self.dvc_texts.at(self.commit, "checked commit")

    def content(self, file: RecordFile) -> dict[str, Any]:
        """A record's content, read from git (records are not kept in memory: views that
        print content read it as they go)."""
        return self.contents([file])[file.relpath]

    def contents(self, files: Iterable[RecordFile]) -> dict[str, dict[str, Any]]:
        """Contents of many records at once, by path, for the valid ones. Their bytes passed
        the strict reading (``load_json_bytes``) when their facts were made, and where that
        reads a value at all, plain ``json.loads`` reads the same one, faster."""
        chosen = [f for f in files if f.facts.valid]
        blobs = self.repo.blobs(f.blob for f in chosen)
        return {f.relpath: json.loads(blobs[f.blob]) for f in chosen if f.blob in blobs}

    def introduced(self, file: RecordFile) -> Commit | None:
        """The commit that left a record file's current content: its latest version's, or,
        where the commits after one only reformatted the file (the same canonical record,
        ``same_record``), that one's. Its snapshot is checked against the DVC files of that
        commit, and lineage and FHIR name it as the commit that recorded the version."""
        versions = self.history.versions(file.relpath)
        if not versions or versions[-1].blob is None:
            return None
        at = self._first_of_content.get(file.relpath, len(versions) - 1)
        return self.history.commits[versions[at].index]

    @functools.cached_property
    def _first_of_content(self) -> dict[str, int]:
        """For each record file committed more than once, the first of the versions at its
        end that all hold the same record; the facts of every version come in one batch."""
        changed = {
            file.relpath: versions
            for file in self.records.files
            if len(versions := self.history.versions(file.relpath)) > 1
        }
        if not changed:
            return {}
        facts = self.facts_of(v.blob for versions in changed.values() for v in versions if v.blob)
        first: dict[str, int] = {}
        for path, versions in changed.items():
            at = len(versions) - 1
            while at and same_record(versions[at - 1].blob, versions[at].blob, facts):
                at -= 1
            first[path] = at
        return first

    def facts_of(self, blobs: Iterable[str]) -> dict[str, RecordFacts]:
        """Facts of any record blobs (earlier versions too), checked once and kept."""
        return self.cache.of_blobs(self.repo, blobs, self.config.limits)

    # --- derived once ----------------------------------------------------------------------

    @functools.cached_property
    def findings(self) -> list[Finding]:
        """Everything the committed ledger shows at this commit, from git objects alone
        (signatures and ``--data`` are added by ``verify_findings``); computed once per
        commit and kept with the state."""
        kept = self.kept
        with quiet_gc():
            if kept.findings is not None:
                return _findings(kept.findings)
            memo = _Memo(kept.verdicts)
            if self.since is None:
                found = self._find(memo)
                kept.verdicts = memo.used
            else:
                found = self._find_since(self.since, memo)
            found = sorted(set(found), key=SORT_KEY)
        kept.findings = _rows(found)
        self.dirty = True
        return found

    def _find_since(self, since: Since, memo: _Memo) -> list[Finding]:
        """The findings from a kept ancestor's: those about records no change since can
        reach are its findings (``ledger.state.delta``); the others are checked again.
        Like ``_find``, in no order and possibly repeated: ``findings`` sorts them once."""
        folder = self.config.records_dir
        only = since.affected(self.kept.records, self.records, self.history, self.facts_of, folder)
        self.rechecked = only
        found = _findings(
            row
            for row in since.findings
            if row[1] not in only and row[0] != "L305" and row[0] not in CRITERIA_CODES
        )
        found += self._find(memo, only)
        found += cycles(self.records)
        found += criteria_findings(self, memo)
        # What was remembered of the records checked again is replaced by what they used.
        self.kept.verdicts = {
            **{k: v for k, v in memo.known.items() if k.split("\0", 2)[1] not in only},
            **memo.used,
        }
        return found

    def _find(self, memo: _Memo, only: Container[str] | None = None) -> list[Finding]:
        """The findings (with ``only``, those about these files, cycles apart), unsorted."""
        records, history, texts = self.records, self.history, self.dvc_texts
        folder = self.config.records_dir
        previous = previous_hashes(history, records, self.facts_of)
        found = tree_findings(records, folder, None, previous or None, only)
        found += history_findings(history, folder, self.facts_of, only)
        # Snapshots against DVC files depend on nothing but the record's blob and the DVC
        # files of one commit, all immutable: each is checked once and remembered.
        at_commit: list[tuple[str, RecordFile, str]] = []
        at_rev: list[tuple[str, RecordFile]] = []
        for file in records.valid():
            if not file.facts.snapshots or (only is not None and file.relpath not in only):
                continue
            commit = self.introduced(file)
            if commit is not None:
                at_commit.append(
                    (f"at\0{file.relpath}\0{file.blob}\0{commit.sha}", file, commit.sha)
                )
            if file.facts.claimed not in records.superseded:
                names = [
                    texts.name(self.commit, p) or "-"
                    for p in sorted(dvc_paths(s.snapshot for s in file.facts.snapshots))
                ]
                at_rev.append(("rev\0" + "\0".join([file.relpath, file.blob, *names]), file))
        texts.preload(
            (sha, p)
            for key, file, sha in at_commit
            if key not in memo.known
            for p in dvc_paths(s.snapshot for s in file.facts.snapshots)
        )
        for key, file, sha in at_commit:
            found += memo(key, functools.partial(snapshot_at_commit, texts, file, sha))
        here = self.dvc
        here.preload(
            p
            for key, file in at_rev
            if key not in memo.known
            for p in dvc_paths(s.snapshot for s in file.facts.snapshots)
        )
        for key, file in at_rev:
            found += memo(key, functools.partial(dvc_files_at_rev, here, file))
        found += unrecorded_data(self.repo, history, records, only)
        found += pipeline_findings(self.dvc, records, only)
        if only is None:
            found += criteria_findings(self, memo)
        return found

    def verify_findings(self, root: Path, *, require_signed: bool, data: bool) -> list[Finding]:
        """``ledger verify``: the findings, test-data leakage (which reads ``.dir`` manifests
        from the DVC cache), signatures, and with ``data`` the workspace, cache and remote."""
        with quiet_gc():
            return self._verify_findings(root, require_signed, data)

    def _verify_findings(self, root: Path, require_signed: bool, data: bool) -> list[Finding]:
        found = list(self.findings)
        found += leakage_findings(root, self.records)
        changed = self.history.record_commits(self.config.records_dir)
        found += signature_findings(changed, require_signed)
        found += signoff_findings(root, self, self.signoffs, self.checked_signoffs)
        if data:
            found += data_findings(root, self.dvc, self.records)
        return sorted(set(found), key=SORT_KEY)

    @functools.cached_property
    def evaluations(self) -> dict[RecordId, list[RecordFile]]:
        """The valid evaluations of each model version, by the version they evaluate: one
        pass over the records for every view that asks of many models."""
        found: dict[RecordId, list[RecordFile]] = defaultdict(list)
        for file in self.records.valid():
            if file.facts.kind == "evaluation":
                for link in file.facts.links:
                    if link.relation == "evaluates":
                        found[link.target].append(file)
        return found

    @functools.cached_property
    def signoffs(self) -> SignOffs:
        """The sign-off files at the commit, read afresh (they are few)."""
        return signoffs_at(self)

    @functools.cached_property
    def checked_signoffs(self) -> Checked:
        """Each readable sign-off with what keeps it from counting (nothing, when it does)."""
        return check_signoffs(self, self.signoffs)

    @functools.cached_property
    def checked_by_record(self) -> dict[RecordId, Checked]:
        """``checked_signoffs`` by the version each signs (views ask version by version)."""
        found: dict[RecordId, Checked] = defaultdict(list)
        for one, problems in self.checked_signoffs:
            found[one.entry.record_id].append((one, problems))
        return found

    @functools.cached_property
    def graph(self) -> LineageGraph:
        from ledger.views.graph import build_graph

        with quiet_gc():
            return build_graph(self)


def load_state(
    repo: Repository,
    store: Store | None,
    cache: FactsCache,
    config: Config,
    sha: str,
    progress: Progress | None = None,
    read: Iterable[KeptState] = (),
) -> LedgerState:
    """The state at commit ``sha``: kept, or built from the nearest kept ancestor, or from git.

    ``read`` are states the session read already: the history of an ancestor of one of them
    is that history without the commits the ancestor cannot reach (``diff`` reads the head
    first, then the base this way).
    """
    repo.require_full_history()
    kept = store.load_state(sha) if store is not None else None
    fresh = kept is None
    since = None
    if kept is None:
        kept = _from_descendant(repo, sha, read)
        if kept is not None:
            kept.records = dict(GitTree(repo, sha).listing(config.records_dir))
    if kept is None:
        kept, records, since = _walk(repo, store, cache, config, sha, progress)
    else:
        view = GitTree(repo, sha, {config.records_dir: kept.records})
        records = load_records(view, config.records_dir, config.limits, cache, progress=progress)
        cache.close()  # workers, if the records new since the kept state were many
    if _signed(kept.commits) and kept.trust != trust_fingerprint(repo):
        kept, fresh = _reverified(repo, kept), True
    values = store.values if store is not None else None
    history = History(kept.commits)
    state = LedgerState(repo, config, cache, sha, records, history, kept, values, since)
    state.dirty = fresh  # the session saves it (``Ledger.close``)
    return state


def _walk(
    repo: Repository,
    store: Store | None,
    cache: FactsCache,
    config: Config,
    sha: str,
    progress: Progress | None,
) -> tuple[KeptState, TreeRecords, Since | None]:
    folder = config.records_dir
    ancestor = _kept_ancestor(repo, store, sha)
    # The two trees compared once: the record listing and the findings both follow from it
    # (a merge can change a file that no commit of the walk changed).
    changes = repo.tree_changes(ancestor, sha) if ancestor is not None else []
    # The files new since are checked in another process while this one reads the kept state.
    ahead = cache.check_ahead(
        repo,
        (
            c.new_blob
            for c in changes
            if c.new_blob and c.new_mode in REGULAR_MODES and is_record_path(c.path, folder)
        ),
        config.limits,
    )
    try:
        base = store.load_state(ancestor) if store is not None and ancestor is not None else None
        if base is None:
            changes, listing = [], repo.list_tree(sha, folder)
        else:
            listing = listing_after(base.records, changes, folder)
    except BaseException:
        if ahead is not None:
            ahead.close()  # stopped and its files removed, not left to the end of the process
        raise
    cache.collect(ahead)
    view = GitTree(repo, sha, {folder: listing})
    cache.prepare(sum(1 for _, blob in listing.values() if cache.get(blob) is None))
    with ThreadPoolExecutor(1) as background:
        # git walks the history in its own process while Python checks the records at the
        # commit: the two biggest costs overlap instead of adding up.
        keep = relevant(folder, config.signoffs_dir)
        walking = background.submit(repo.walk, sha, keep, base.commit if base else None)
        records = load_records(view, folder, config.limits, cache, progress=progress)
        commits = repo.commits(walking.result())
    cache.close()  # a running pool keeps a thread, and a process with threads forks no more
    history = [*(base.commits if base is not None else []), *commits]
    kept = KeptState(sha, base.trust if base is not None else "", dict(listing), history)
    since = None
    if base is not None:
        kept.verdicts = base.verdicts  # checks of immutable inputs hold at any later commit
        kept.plain = base.plain  # the history starts with the base's commits, unchanged
        kept.base = base  # and is kept as the base's file plus what differs
        if base.findings is not None:
            since = Since(base.records, base.findings, len(base.commits), changes)
            if not commits and since.same_ledger(kept.records, records, folder):
                # Findings are a function of the record files, the history and the DVC
                # files at the commit: none of them differs.
                kept.findings, since = base.findings, None
    elif _signed(history):
        kept.trust = trust_fingerprint(repo)  # the walk's verdicts are git's own, just now
    return kept, records, since


def _from_descendant(repo: Repository, sha: str, read: Iterable[KeptState]) -> KeptState | None:
    """``sha``'s history from a state read already whose commit descends from it."""
    for other in read:
        if other.commit != sha and repo.is_ancestor(sha, other.commit):
            reachable = repo.reachable(sha)
            commits = [c for c in other.commits if c.sha in reachable]
            kept = KeptState(sha, other.trust, {}, commits)
            kept.verdicts = other.verdicts
            return kept
    return None


def _kept_ancestor(repo: Repository, store: Store | None, sha: str) -> str | None:
    """The most recently used commit with a kept state that ``sha`` descends from."""
    if store is None:
        return None
    for commit in store.kept_commits():
        if commit != sha and repo.is_ancestor(commit, sha):
            return commit
    return None


def _signed(commits: Iterable[Commit]) -> bool:
    return any(c.signature is not Signature.UNSIGNED for c in commits)


def _reverified(repo: Repository, kept: KeptState) -> KeptState:
    """The kept state with every signature checked again: the keys one trusts changed."""
    signed = [c.sha for c in kept.commits if c.signature is not Signature.UNSIGNED]
    commits = with_verdicts(kept.commits, repo.verdicts(signed))
    fresh = KeptState(kept.commit, trust_fingerprint(repo), kept.records, commits)
    fresh.verdicts = kept.verdicts
    return fresh


def trust_fingerprint(repo: Repository) -> str:
    """A digest of what decides signature verdicts: git's gpg settings, the allowed-signers
    and revocation files they name, and the GnuPG keyring files' sizes and times."""
    config = repo.config_lines("^gpg\\.")
    digest = hashlib.sha256("\n".join(config).encode())
    for line in config:
        key, _, value = line.partition(" ")
        if key.endswith(("allowedsignersfile", "revocationfile")):
            path = Path(value).expanduser()
            path = path if path.is_absolute() else repo.root / path
            digest.update(_file_bytes(path))
    home = Path(os.environ.get("GNUPGHOME") or Path.home() / ".gnupg")
    for name in ("pubring.kbx", "pubring.gpg", "trustdb.gpg"):
        try:
            info = (home / name).stat()
        except OSError:
            continue
        digest.update(f"{name} {info.st_size} {info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"-"
