"""The Python API: every operation of the CLI, for training scripts and notebooks too.

    from ledger.api import Ledger

    with Ledger.open(".") as book:
        book.new_record("dataset", "sepsis-cohort", "1.0", fields, snapshot="data/cohort.csv.dvc")
        report = book.verify()

A ``Ledger`` holds one session with the repository (one ``git cat-file`` process, the kept
facts and states under ``.git/ledger``) and closes it on ``close()``. Each state of the ledger
at a commit is read once per session; every view derives from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.bulk import quiet_gc
from ledger.checks.record_file import RecordFacts
from ledger.checks.tree import (
    FactsCache,
    Progress,
    RecordFile,
    Report,
    load_records,
    report,
    tree_findings,
)
from ledger.config import Config, load_config
from ledger.errors import (
    InvalidRecordsError,
    LedgerError,
    RecordExistsError,
    RecordNotFoundError,
    UsageError,
)
from ledger.findings import SORT_KEY, Finding, Severity, finding
from ledger.git.repository import Listing, Repository, find_repository_root
from ledger.git.trees import GitTree
from ledger.kinds import spec
from ledger.records.drafts import inherited, merge_fields
from ledger.records.identity import KINDS, LATEST, PartialRef, RecordId, parse_partial
from ledger.records.jsonload import load_json_bytes
from ledger.records.serialize import dumps_record, place_inside, write_atomic
from ledger.trees import Overlay, WorkingTree

if TYPE_CHECKING:
    from ledger.audit.verify_export import ExportCheck
    from ledger.fhir.bundle import ProvenanceBundle
    from ledger.importers.mlflow_import import ImportResult
    from ledger.records.pending import Pending
    from ledger.signoffs.sign import Committed
    from ledger.state.ledger_state import LedgerState
    from ledger.state.store import Store
    from ledger.views.comparison_table import ComparisonTable
    from ledger.views.coverage import CoverageReport
    from ledger.views.formats import LineageView
    from ledger.views.graph import Direction
    from ledger.views.listing import RecordList
    from ledger.views.log import RecordLog
    from ledger.views.query import QueryResult
    from ledger.views.reports import VerifyReport
    from ledger.views.review import Review
    from ledger.views.signoffs import SignOffView
    from ledger.views.status import Status
    from ledger.views.technical_file import TechnicalFile


@dataclass(frozen=True)
class ShownRecord:
    record_id: RecordId
    path: str
    sha256: str
    content: dict[str, Any]
    #: The committed sign-offs of this version (at ``--rev``, or at HEAD).
    signoffs: Sequence[SignOffView] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": str(self.record_id),
            "path": self.path,
            "sha256": self.sha256,
            "record": self.content,
            "signoffs": [one.to_json() for one in self.signoffs],
        }

    def text(self) -> str:
        import json

        head = f"{self.record_id}\npath:   {self.path}\nsha256: {self.sha256}\n"
        signed = "".join(f"  {one.line()}\n" for one in self.signoffs)
        head += f"sign-offs:\n{signed}" if signed else "sign-offs: none\n"
        return head + "\n" + json.dumps(self.content, indent=2, ensure_ascii=False) + "\n"


class Ledger:
    """A repository's ledger: its working tree, index and committed history."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = root
        self.config = config or load_config(root)
        self.tree = WorkingTree(root)
        #: What the session noticed but did not fail on (a discarded kept state), for the user.
        self.notes: list[str] = []
        self._repository: Repository | None = None
        self._store: Store | None = None
        self._cache: FactsCache | None = None
        self._states: dict[str, LedgerState] = {}
        self.remember = True

    @classmethod
    def open(cls, start: Path | str = ".") -> Ledger:
        """The ledger of the git work tree containing ``start``."""
        return cls(find_repository_root(Path(start).resolve()))

    # --- the session -----------------------------------------------------------------------

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            self._repository = Repository(self.root)
        return self._repository

    @property
    def store(self) -> Store | None:
        """The kept facts and states; None when remembering is off (``--no-cache``)."""
        if self._store is None and self.remember:
            from ledger.state.store import Store

            self._store = Store(self.repository.git_dir, self.config)
        return self._store

    @property
    def cache(self) -> FactsCache:
        if self._cache is None:
            from ledger.dvc.files import PARSED

            store = self.store
            with quiet_gc():
                self._cache = FactsCache(store.load_facts() if store is not None else None)
                if store is not None:
                    PARSED.load_later(store.load_parsed)
                    self.notes += store.notes
                    store.notes.clear()
        return self._cache

    def close(self) -> None:
        if self._store is not None:
            for state in self._states.values():
                if state.dirty:
                    self._store.save_state(state.kept)
                    state.dirty = False
            self._store.close()
            self.notes += self._store.notes
            self._store.notes.clear()
        if self._store is not None and self._cache is not None:
            from ledger.dvc.files import PARSED

            self._store.add_facts(self._cache.added)
            self._cache.added.clear()
            self._store.add_parsed(PARSED.added)
            PARSED.added.clear()
            PARSED.load_later(None)
        if self._cache is not None:
            self._cache.close()
        if self._repository is not None:
            self._repository.close()
            self._repository = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self, rev: str = "HEAD", progress: Progress | None = None) -> LedgerState:
        """The ledger as committed at ``rev``, read once per session."""
        from ledger.state.ledger_state import load_state

        sha = self.repository.resolve(rev)
        if sha not in self._states:
            cache = self.cache
            read = [state.kept for state in self._states.values()]
            with quiet_gc():
                self._states[sha] = load_state(
                    self.repository, self.store, cache, self.config, sha, progress, read
                )
            if self.store is not None:
                self.notes += self.store.notes
                self.store.notes.clear()
        return self._states[sha]

    def relpath(self, path: Path | str) -> str:
        """A user-given path (absolute or relative to the current folder) relative to the root."""
        absolute = Path(path).absolute()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            raise UsageError(f"{path}: outside the repository at {self.root}") from None

    # --- checks ----------------------------------------------------------------------------

    def validate(
        self, paths: Sequence[Path | str] | None = None, progress: Progress | None = None
    ) -> Report:
        """Check the working tree; with ``paths``, report on those files only."""
        only = None
        if paths:
            only = [self.relpath(p) for p in paths]
            missing = [
                p for p in only if not (self.root / p).exists() and not (self.root / p).is_symlink()
            ]
            if missing:
                raise UsageError(f"{missing[0]}: no such file")
        return self._check(self.tree, only, progress)

    def validate_staged(self) -> Report:
        """Check what is about to be committed: the records and DVC files in the index."""
        return self._check(GitTree(self.repository, None), None, None)

    def _check(self, view: Any, only: Sequence[str] | None, progress: Progress | None) -> Report:
        """What ``validate`` finds in ``view``: each record and the tree they make, the data
        of records not committed yet, train/test leakage, records left pending, and committed
        versions that ``view`` changed or deleted (what verify would report once committed)."""
        from ledger.checks.history import changed_since_head
        from ledger.checks.patterns import leakage_findings, new_data_findings
        from ledger.records.pending import pending_findings

        folder = self.config.records_dir
        records = load_records(view, folder, self.config.limits, self.cache, only or (), progress)
        self.cache.close()  # the workers that checked the files, if they were many
        found = tree_findings(records, folder, view)
        head = self._committed(folder)
        committed = {blob for _, blob in head.values()}
        found += new_data_findings(self.root, view, records, committed, only)
        found += leakage_findings(self.root, records)
        found += pending_findings(self.root)
        if not isinstance(view, Overlay):  # an overlay adds a record; it changes none
            where = "index" if isinstance(view, GitTree) else "working tree"
            parents = {"HEAD": head, **self._merged(folder)}
            found += changed_since_head(parents, records, folder, self._facts_of_blobs, where)
            found += self._changed_signoffs(isinstance(view, GitTree), where)
        return report(records, found, only)

    def _changed_signoffs(self, staged: bool, where: str) -> list[Finding]:
        """Committed sign-off files the index or the working tree changed or deleted."""
        from ledger.checks.record_file import blob_id
        from ledger.signoffs.rules import changed_signoffs

        folder = self.config.signoffs_dir
        parents = {"HEAD": self._committed(folder), **self._merged(folder)}
        paths = {p for listing in parents.values() for p in listing}
        if not paths:
            return []
        now: dict[str, str | None] = {}
        if staged:
            index = self.repository.list_index(folder)
            now = {p: index[p][1] if p in index else None for p in paths}
        else:
            for path in paths:
                file = self.root / path
                regular = file.is_file() and not file.is_symlink()
                now[path] = blob_id(file.read_bytes()) if regular else None
        return changed_signoffs(parents, now, where)

    def _merged(self, folder: str) -> dict[str, Listing]:
        """The record files of the commit being merged, while a merge is under way."""
        try:
            merging = self.repository.resolve("MERGE_HEAD")
        except UsageError:
            return {}
        return {"MERGE_HEAD": self.repository.list_tree(merging, folder)}

    def _facts_of_blobs(self, blobs: Iterable[str]) -> dict[str, RecordFacts]:
        return self.cache.of_blobs(self.repository, blobs, self.config.limits)

    def committed_records(self) -> Listing:
        """The record files at HEAD, by path (none before the first commit)."""
        return self._committed(self.config.records_dir)

    def _committed(self, folder: str) -> Listing:
        """The record files at HEAD (none before the first commit)."""
        try:
            head = self.repository.resolve("HEAD")
        except UsageError:
            return {}
        return self.repository.list_tree(head, folder)

    def verify(
        self,
        rev: str = "HEAD",
        *,
        data: bool = False,
        require_signed: bool = False,
        progress: Progress | None = None,
    ) -> VerifyReport:
        """Integrity of the committed ledger at ``rev``: links, DVC snapshots, history,
        signatures, and with ``data`` the workspace, DVC cache and remote."""
        from ledger.records.pending import pending_findings
        from ledger.views.reports import VerifyReport

        state = self.state(rev, progress)
        found = state.verify_findings(self.root, require_signed=require_signed, data=data)
        # Records the working tree left pending: a run whose record was never written.
        pending = pending_findings(self.root)
        if pending:  # the others come sorted, without repeats
            found = sorted({*found, *pending}, key=SORT_KEY)
        return VerifyReport(
            commit=state.commit,
            checked=[f.relpath for f in state.records.files],
            findings=found,
            commits=list(state.history.record_commits(self.config.records_dir)),
        )

    # --- records ---------------------------------------------------------------------------

    def resolve(self, ref: str, rev: str | None = None) -> RecordFile:
        """The record a REF names: KIND:NAME@VERSION, NAME@VERSION or a record file's path,
        in the working tree or at commit ``rev``. Identity decides place, so only the paths
        the identity stands for are looked at."""
        if ref.endswith(".json"):
            candidates = [self.relpath(ref) if rev is None else ref.removeprefix("./")]
        else:
            wanted = parse_partial(ref)
            if wanted.version == LATEST:
                ref = self._latest(wanted, rev)
                wanted = parse_partial(ref)
            kinds = [wanted.kind] if wanted.kind else list(KINDS)
            candidates = [
                RecordId(kind, wanted.name, wanted.version).relpath(self.config.records_dir)
                for kind in kinds
            ]
        if rev is None:
            present = [
                c for c in candidates if (self.root / c).exists() or (self.root / c).is_symlink()
            ]
            files = self._working_files(present)
        else:
            by_path = self.state(rev).records.by_path
            files = [by_path[c] for c in candidates if c in by_path]
        if not files:
            where = "the working tree" if rev is None else f"revision {rev}"
            raise RecordNotFoundError(
                f"{ref}: no such record in {where}; check the spelling, or list records with "
                "`ledger list`"
            )
        if len(files) > 1:
            raise UsageError(
                f"{ref} is ambiguous ({', '.join(f.relpath for f in files)}); name the kind"
            )
        file = files[0]
        if not file.facts.valid or file.facts.claimed is None or file.facts.sha256 is None:
            problems = file.facts.findings_at(file.relpath, self.config.records_dir)
            raise InvalidRecordsError(
                problems or [finding("L101", file.relpath, "", "not a readable record")]
            )
        return file

    def _latest(self, wanted: PartialRef, rev: str | None) -> str:
        """The REF of the version of ``wanted``'s name that no other version supersedes, in
        the working tree or at ``rev``; the highest such version if branches left several."""
        kinds = [wanted.kind] if wanted.kind else list(KINDS)
        found: dict[RecordId, RecordFacts] = {}
        for kind in kinds:
            if rev is None:
                # Identity decides place: a name's versions are the files of one folder.
                any_version = RecordId(kind, wanted.name, "0.0").relpath(self.config.records_dir)
                folder = any_version.rsplit("/", 1)[0]
                place = self.root / folder
                listed = place.is_dir() and not place.is_symlink()
                names = sorted(p.name for p in place.glob("*.json")) if listed else []
                files = self._working_files([f"{folder}/{name}" for name in names])
            else:
                versions = self.state(rev).records.versions.get((kind, wanted.name), [])
                files = [file for _, file in versions]
            for file in files:
                if file.facts.valid and file.facts.claimed is not None:
                    found[file.facts.claimed] = file.facts
        superseded = {f.supersedes.target for f in found.values() if f.supersedes is not None}
        current = [record for record in found if record not in superseded]
        if not current:
            where = "the working tree" if rev is None else f"revision {rev}"
            raise RecordNotFoundError(
                f"{wanted.name}@latest: no record of that name in {where}; list records with "
                "`ledger list`"
            )
        if len({record.kind for record in current}) > 1:
            kinds_found = ", ".join(sorted({record.kind for record in current}))
            raise UsageError(f"{wanted.name}@latest is a {kinds_found}; name the kind")
        return str(max(current, key=lambda record: record.version_key))

    def list_records(
        self, kind: str | None = None, rev: str = "HEAD", *, all_versions: bool = False
    ) -> RecordList:
        """The records committed at ``rev``, current versions only unless ``all_versions``."""
        from ledger.views.listing import list_records

        if kind is not None and kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        return list_records(self.state(rev), kind, all_versions=all_versions)

    def query(
        self,
        filter: str,
        *,
        order_by: str | None = None,
        limit: int | None = None,
        columns: str | Sequence[str] | None = None,
        rev: str = "HEAD",
        all_versions: bool = False,
    ) -> QueryResult:
        """The record versions at ``rev`` that ``filter`` selects, in the language of MLflow's
        ``search_runs`` (``metrics.auroc > 0.8 and model = 'sepsis-risk'``): current ones
        unless ``all_versions``, ordered by ``order_by`` (``metrics.auroc desc, date``), at most
        ``limit``, with ``columns`` (default: the identity, every field the filter and the
        order name, and the title). ``result.rows`` holds one dict per version."""
        from ledger.query.run import run_query

        return run_query(
            self.state(rev),
            filter,
            order_by=order_by,
            limit=limit,
            columns=columns,
            all_versions=all_versions,
        )

    def _working_files(self, paths: list[str]) -> list[RecordFile]:
        read = self.tree.read_records(paths, self.config.limits)
        files = []
        for path in paths:
            data, problems = read[path]
            if data is None:
                raise InvalidRecordsError(problems)
            files.append(RecordFile(path, "", self.cache.facts_of(data, self.config.limits)))
        return files

    def record_id(self, ref: str, rev: str | None = None) -> RecordId:
        """The identity of the record a REF names (which must exist at ``rev``)."""
        claimed = self.resolve(ref, rev).facts.claimed
        assert claimed is not None  # resolve raises for a file that is not a valid record
        return claimed

    def show(self, ref: str, rev: str | None = None) -> ShownRecord:
        file = self.resolve(ref, rev)
        assert file.facts.claimed is not None and file.facts.sha256 is not None
        if rev is None:
            data = (self.root / file.relpath).read_bytes()
            content, _ = load_json_bytes(data, file.relpath, self.config.limits)
        else:
            content = self.state(rev).content(file)
        assert isinstance(content, dict)
        signoffs = self.signoffs(file.facts.claimed, rev or "HEAD")
        return ShownRecord(file.facts.claimed, file.relpath, file.facts.sha256, content, signoffs)

    def signoffs(self, record: RecordId, rev: str = "HEAD") -> list[SignOffView]:
        """The sign-offs of one version committed at ``rev`` (none before the first commit)."""
        from ledger.signoffs.entry import entry_folder
        from ledger.views.signoffs import signoffs_of

        try:
            sha = self.repository.resolve(rev)
        except UsageError:
            if rev != "HEAD":
                raise
            return []  # a repository without commits has no sign-offs
        # Checking a sign-off needs the whole state; a version without any needs one ls-tree.
        if not self.repository.list_tree(sha, entry_folder(self.config.signoffs_dir, record)):
            return []
        return signoffs_of(self.state(sha), record)

    def sign(self, ref: str, *, meaning: str, role: str, comment: str | None = None) -> Committed:
        """Sign the committed version ``ref`` names: a sign-off file in a signed commit of
        its own (``ledger.signoffs.sign``)."""
        from ledger.signoffs.sign import sign

        file = self.resolve(ref, "HEAD")
        return sign(
            self.root, self.state("HEAD"), file, meaning=meaning, role=role, comment=comment
        )

    def promote(self, ref: str, *, stage: str, reason: str) -> Committed:
        """Move the committed model version ``ref`` names to ``stage``: refused unless it
        meets what the stage demands (``ledger.signoffs.stages``)."""
        from ledger.signoffs.sign import promote

        file = self.resolve(ref, "HEAD")
        return promote(self.root, self.state("HEAD"), file, stage=stage, reason=reason)

    def technical_file(self, ref: str, rev: str = "HEAD") -> TechnicalFile:
        """The technical file of the model version ``ref`` names, as committed at ``rev``."""
        from ledger.views.technical_file import technical_file

        record = self.record_id(ref, rev)
        if record.kind != "model":
            raise UsageError(
                f"{record} is a {record.kind}; only model versions have a technical file"
            )
        return technical_file(self.state(rev), record)

    def coverage(
        self, ref: str | None = None, framework: str = "all", rev: str = "HEAD"
    ) -> CoverageReport:
        """How the records of model version ``ref`` and what it links to (by default, of
        every current model version) meet the items of ``framework`` (``all``: each one
        ledger knows, ``ledger.coverage.frameworks.names``)."""
        from ledger.coverage.frameworks import chosen
        from ledger.views.coverage import coverage_report

        frameworks = chosen(framework)  # an unknown name fails before anything is read
        state = self.state(rev)
        if ref is None:
            return coverage_report(state, frameworks)
        record = self.record_id(ref, rev)
        if record.kind != "model":
            raise UsageError(
                f"{record} is a {record.kind}; coverage is of a model version and what it "
                "links to: name a model, or none for every current one"
            )
        return coverage_report(state, frameworks, [record])

    def report(self, output: Path | str, rev: str = "HEAD") -> list[str]:
        """Write the static report of ``rev`` into the folder ``output`` (new, empty, or a
        previous report holding only what it wrote); the files written, relative to it."""
        from ledger.site import build_report

        return build_report(self.root, self.state(rev), Path(output))

    def status(self, rev: str = "HEAD") -> Status:
        """Each model version's stage at ``rev``: who promoted it, when and why."""
        from ledger.views.status import model_status

        return model_status(self.root, self.state(rev))

    def log(self, ref: str, rev: str = "HEAD") -> RecordLog:
        """Every commit that touched the record's file, oldest first."""
        from ledger.views.log import record_log

        try:
            relpath = self.resolve(ref, rev).relpath
        except RecordNotFoundError:
            # A deleted record has history but no file at ``rev``: its identity names its path.
            relpath = RecordId.parse(ref).relpath(self.config.records_dir)
        found = record_log(self.state(rev), relpath)
        if not found.entries:
            raise RecordNotFoundError(f"{ref}: no commit reachable from {rev} touched {relpath}")
        return found

    # --- views -----------------------------------------------------------------------------

    def lineage(
        self,
        ref: str | None = None,
        rev: str = "HEAD",
        *,
        direction: Direction = "both",
        depth: int | None = None,
        all_versions: bool = False,
    ) -> LineageView:
        """The lineage graph at ``rev``, or the part around ``ref`` the options choose."""
        from ledger.views.formats import LineageView
        from ledger.views.graph import select

        state = self.state(rev)
        record = self.record_id(ref, rev) if ref else None
        graph = select(
            state.graph, record, direction=direction, depth=depth, all_versions=all_versions
        )
        return LineageView(graph, state)

    def provenance(
        self,
        ref: str | None = None,
        rev: str = "HEAD",
        fhir_version: str = "R5",
        bundle_type: str = "collection",
    ) -> ProvenanceBundle:
        """FHIR Provenance of every record version at ``rev``, or of ``ref`` and its upstream,
        as a Bundle of ``bundle_type`` (``collection`` or ``transaction``)."""
        from ledger.fhir.bundle import ProvenanceBundle
        from ledger.fhir.versions import fhir_version as check_version

        check_version(fhir_version)
        state = self.state(rev)
        view = self.lineage(ref, rev, direction="upstream", all_versions=True)
        return ProvenanceBundle(state, view.graph, fhir_version, bundle_type)

    def diff(self, base: str, head: str = "HEAD") -> Review:
        """A review of what changed in the ledger between ``base`` and ``head``."""
        from ledger.views.review import review

        after = self.state(head)  # first: the base's history is then a part of the head's
        return review(self.root, self.state(base), after)

    def compare(
        self, *refs: str, query: str | None = None, rev: str = "HEAD", all_versions: bool = False
    ) -> ComparisonTable:
        """Two or more evaluations (or models) side by side, named by REF or selected by a
        ``query`` filter (current versions unless ``all_versions``): their metrics with
        intervals, what differs in data, model configuration and evaluation conditions, and
        why they may not be comparable."""
        from ledger.views.comparison_table import compare_table

        if query is not None:
            if refs:
                raise UsageError("compare takes REFs or --query, not both")
            selected = self.query(query, columns=["id"], rev=rev, all_versions=all_versions)
            refs = tuple(row["id"] for row in selected.rows)
            if len(refs) < 2:
                more = "" if all_versions else "; --all-versions adds superseded versions"
                raise UsageError(
                    f"--query {query!r} selects {len(refs)} record(s) at {rev}; compare needs "
                    f"two or more{more}"
                )
        if len(refs) < 2:
            raise UsageError("compare needs two or more REFs (or --query FILTER)")
        ids = [self.record_id(ref, rev) for ref in refs]
        twice = sorted(str(i) for i, n in Counter(ids).items() if n > 1)
        if twice:
            raise UsageError(f"{twice[0]} is named twice; compare different versions")
        return compare_table(self.state(rev), ids)

    def export(
        self, output: Path, rev: str = "HEAD", *, allow_findings: bool = False, sign: bool = False
    ) -> dict[str, str]:
        """Write the offline audit bundle of ``rev`` to ``output``; refused when verify finds
        errors there, unless ``allow_findings`` (the bundle then says so first). With ``sign``,
        the manifest is signed with git's SSH signing key."""
        from ledger.audit.export import export
        from ledger.audit.signing import signing_key

        key = signing_key(self.repository) if sign else None
        state = self.state(rev)
        return export(self.root, state, output, allow_findings=allow_findings, signing_key=key)

    # --- what needs no ledger of its own ---------------------------------------------------

    @staticmethod
    def init(directory: Path, *, hook: bool = False) -> list[str]:
        """Set up ``directory`` for records (``git init`` if needed); what was done, by line."""
        from ledger.initialize import init_repository, install_hook

        done = init_repository(directory)
        return [*done, install_hook(directory)] if hook else done

    @staticmethod
    def verify_export(
        path: Path, expect_manifest: str | None = None, allowed_signers: Path | None = None
    ) -> ExportCheck:
        """Check an audit export with nothing but the export, with ``expect_manifest`` its
        manifest against the SHA-256 its producer handed over separately, and with
        ``allowed_signers`` the manifest's SSH signature."""
        from ledger.audit.verify_export import verify_export

        return verify_export(path, expect_manifest, allowed_signers)

    @staticmethod
    def demo(directory: Path, echo: Callable[[str], None] = print) -> None:
        """Build the example repository (git + DVC) of a team's whole workflow."""
        from ledger.demo.workflow import run_demo

        run_demo(directory, echo=echo)

    # --- writing records -------------------------------------------------------------------

    def draft(self, kind: str, like: str | None = None) -> str:
        """A YAML draft of a ``kind`` record, every field commented from the schema; with
        ``like`` (a REF), prefilled from that version as it stands in the working tree."""
        from ledger.records.yaml_drafts import render_draft

        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        earlier = None
        if like is not None:
            shown = self.show(like)
            if shown.record_id.kind != kind:
                raise UsageError(f"{like} is a {shown.record_id.kind}, not a {kind}")
            earlier = shown.content
        return render_draft(kind, earlier)

    def import_mlflow(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_ids: Sequence[str] = (),
    ) -> ImportResult:
        """Draft records from MLflow runs (``ledger.importers.mlflow_import``): one YAML draft
        per record, holding what MLflow logged and naming exactly what is still missing."""
        from ledger.importers.mlflow_import import import_mlflow

        return import_mlflow(self, tracking_uri, experiment, run_ids)

    def link(self, ref: str) -> dict[str, str]:
        """A hash link to the record ``ref`` names, as it stands in the working tree."""
        shown = self.resolve(ref)
        return {"ref": str(shown.facts.claimed), "sha256": str(shown.facts.sha256)}

    def snapshot(
        self, dvc_file: str, stage: str | None = None, output: str | None = None
    ) -> dict[str, object]:
        from ledger.dvc.snapshots import snapshot_from_dvc

        snap = snapshot_from_dvc(self.tree, self.root, dvc_file, stage, output)
        return snap.model_dump(mode="json", exclude_none=True)

    def build_record(
        self,
        kind: str,
        name: str,
        version: str,
        fields: Mapping[str, Any],
        *,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
        waiting_on: Collection[str] = (),
    ) -> dict[str, object]:
        """The record ``new_record`` would write: identity, fields, snapshot and link hashes
        (except those of links to the pending records ``waiting_on`` names)."""
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        record_id = RecordId.parse(f"{kind}:{name}@{version}")
        data: dict[str, object] = {
            "kind": kind,
            "schema_version": 1,
            "name": name,
            "version": version,
        }
        clashes = sorted(set(fields) & set(data))
        if clashes:
            raise UsageError(
                f"the draft sets {', '.join(clashes)}; identity comes from the "
                "command line, remove it from the draft"
            )
        data.update(merge_fields(self._earlier_fields(kind, fields), fields))
        if snapshot is not None:
            names = spec(kind).snapshots
            if not names:
                raise UsageError(f"a {kind} has no DVC snapshot; link its datasets instead")
            data[names[0]] = self.snapshot(snapshot, stage, output)
        problems = self.pin_links(data, record_id, waiting_on)
        if problems:
            raise InvalidRecordsError(problems)
        return data

    def check_new_record(
        self,
        kind: str,
        name: str,
        version: str,
        fields: Mapping[str, Any],
        *,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
        source: str | None = None,
        pending: bool = False,
        waiting_on: Collection[str] = (),
    ) -> tuple[Path, bytes]:
        """Every check of ``new_record``, nothing written: where the record would go and its
        bytes. With ``source`` (the draft the fields came from), the problems found in the
        new record name that draft, the file to fix, not a record file that does not exist.
        With ``pending``, the record's DVC snapshot is still to come (``ledger.records.pending``),
        and so are the records ``waiting_on`` names, pending too: everything else is checked,
        and ``ledger complete`` checks the rest."""
        try:
            data = self.build_record(
                kind,
                name,
                version,
                fields,
                snapshot=snapshot,
                stage=stage,
                output=output,
                waiting_on=waiting_on,
            )
            record_id = RecordId.parse(f"{kind}:{name}@{version}")
            relpath = record_id.relpath(self.config.records_dir)
            target = place_inside(self.root, relpath)
            if target.exists() or target.is_symlink():
                raise RecordExistsError(
                    f"{relpath}: {record_id} already exists and versions are immutable; "
                    "write a new version that supersedes it"
                )
            content = dumps_record(data)
            checked = self._check(Overlay(self.root, {relpath: content}), [relpath], None)
            found = checked.findings
            if pending:
                waiting = {f"/{name}" for name in spec(kind).snapshots}
                found = [f for f in found if f.code != "L102" or f.pointer not in waiting]
                links = [
                    pointer + "/"
                    for _, pointer, link in spec(kind).link_sites(data)
                    if link.get("ref") in waiting_on
                ]
                found = [f for f in found if not f"{f.pointer}/".startswith(tuple(links))]
            if any(f.severity is Severity.ERROR for f in found):
                raise InvalidRecordsError(found)
        except InvalidRecordsError as error:
            if source is None:
                raise
            # build_record parsed the identity before it found anything to report.
            relpath = RecordId.parse(f"{kind}:{name}@{version}").relpath(self.config.records_dir)
            raise InvalidRecordsError(
                [f._replace(path=source) if f.path == relpath else f for f in error.findings]
            ) from None
        return target, content

    def new_record(
        self,
        kind: str,
        name: str,
        version: str,
        fields: Mapping[str, Any],
        *,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
        source: str | None = None,
    ) -> Path:
        """Check and write a new record version; nothing is written if anything is wrong."""
        target, content = self.check_new_record(
            kind,
            name,
            version,
            fields,
            snapshot=snapshot,
            stage=stage,
            output=output,
            source=source,
        )
        write_atomic(target, content)
        return target

    def complete(self) -> tuple[list[Path], list[Finding]]:
        """``ledger complete``: write the records DVC stages left pending, each snapshot taken
        from dvc.lock now that the run is over; the records written, and the problems of those
        that could not be (they stay pending). A record that links to another pending one
        (an evaluation of the model the same ``dvc repro`` trained) is written after it."""
        from ledger.records.pending import pending_files, read_pending

        written: list[Path] = []
        problems: list[Finding] = []
        waiting: dict[str, tuple[Path, Pending]] = {}
        for path in pending_files(self.root):
            shown = self.relpath(path)
            try:
                record = read_pending(path, shown, self.config.limits)
            except LedgerError as error:
                problems.append(finding("L410", shown, "", f"cannot be completed: {error.message}"))
                continue
            waiting[record.ref] = (path, record)
        while waiting:
            ready = [
                ref
                for ref, (_, record) in waiting.items()
                if not set(_link_refs(record)) & (set(waiting) - {ref})
            ]
            if not ready:  # links in a circle: each one's finding says which
                ready = list(waiting)
            for ref in ready:
                path, record = waiting.pop(ref)
                shown = self.relpath(path)
                try:
                    written.append(
                        self.new_record(
                            record.kind,
                            record.name,
                            record.version,
                            record.fields,
                            snapshot=record.dvc_file,
                            stage=record.stage,
                            output=record.output,
                            source=shown,
                        )
                    )
                except InvalidRecordsError as error:
                    problems += error.findings
                    continue
                except LedgerError as error:  # the data changed since dvc.lock recorded it, ...
                    message = f"cannot be completed: {error.message}"
                    problems.append(finding("L410", shown, "", message))
                    continue
                path.unlink()
        return written, problems

    def _earlier_fields(self, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """What a superseding version takes from the version it names (nothing when that
        version cannot be read: the link's own finding says why)."""
        supersedes = fields.get("supersedes")
        ref = supersedes.get("ref") if isinstance(supersedes, Mapping) else None
        if not isinstance(ref, str):
            return {}
        try:
            earlier = self.show(ref)
        except (RecordNotFoundError, UsageError):
            return {}
        if earlier.record_id.kind != kind:
            return {}
        return inherited(kind, earlier.content)

    def pin_links(
        self, data: dict[str, Any], record_id: RecordId, waiting_on: Collection[str] = ()
    ) -> list[Finding]:
        """Pin every link of ``data`` that names only its target, in place, to the target's
        hash in the working tree; a target that is not there is a finding, unless it is one
        of the pending records ``waiting_on`` names (its hash is still to come)."""
        problems: list[Finding] = []
        relpath = record_id.relpath(self.config.records_dir)
        for _, pointer, link in spec(record_id.kind).link_sites(data):
            if isinstance(link, dict) and "sha256" not in link and link.get("ref") in waiting_on:
                continue
            if "sha256" not in link and isinstance(link, dict):
                try:
                    link.update(self.link(str(link["ref"])))
                except (RecordNotFoundError, UsageError) as exc:
                    problems.append(finding("L301", relpath, pointer + "/ref", exc.message))
        return problems


def _link_refs(record: Pending) -> list[str]:
    """The REFs a pending record's links name."""
    return [
        str(link.get("ref"))
        for _, _, link in spec(record.kind).link_sites(record.fields)
        if isinstance(link, dict)
    ]
