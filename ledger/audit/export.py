"""``ledger export``: an offline audit bundle an auditor can verify without the repository.

The zip holds the records as of REV, the schemas they validate against, each record's history,
the lineage (JSON, Mermaid, DOT, HTML), FHIR Provenance (R5 and R4B), the verification report,
a README for the auditor and a manifest with the SHA-256 of every file and the commit id. It is
deterministic: entries in a fixed order, fixed timestamps and permissions, so the same REV gives
the same bytes. Data files never go in; only the ledger does.

The bundle is written as it is produced, entry by entry into the zip (the FHIR Bundles and the
lineage stream in chunks), hashing each entry on the way for the manifest, which comes last:
a ledger of 100,000 records is exported without holding the export in memory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import queue
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from ledger import __version__
from ledger.audit.deflated import Deflated, deflate, place
from ledger.audit.parts import Claims, Deflating, Sink
from ledger.audit.signing import SIGNATURE, sign_manifest
from ledger.bulk import quiet_gc
from ledger.errors import ExportRefusedError
from ledger.findings import Finding, Severity
from ledger.records.schemas import dumps_schema, generate_schemas
from ledger.records.serialize import atomic_writer
from ledger.views.formats import (
    COVERAGE,
    LINEAGE,
    PROVENANCE,
    LineageView,
    blocks,
    json_chunks,
    to_json_text,
)
from ledger.views.graph import select
from ledger.views.log import record_log
from ledger.views.reports import VerifyReport, verify_text
from ledger.views.signoffs import all_signoffs
from ledger.workers import Background, fork_background

if TYPE_CHECKING:
    from ledger.records.identity import RecordId
    from ledger.state.ledger_state import LedgerState

FORMAT = "ledger-export/1"
MANIFEST = "manifest.json"
EXPORTED_SIGNOFFS = "signoffs/"
READ_BATCH = 512  # record files read from git at a time
FHIR_VERSIONS = ("R5", "R4B")
# 1980-01-01 is the earliest time a zip can hold: no wall clock leaks into the bundle.
_EPOCH = (1980, 1, 1, 0, 0, 0)

README = """\
# Audit export of a ledger

{status}

This bundle documents the datasets, models and evaluations of one repository as committed at
commit {commit}. It was produced by ledger {version} and needs neither the repository nor a
network to check.

- `records/`: the records, byte for byte as committed (`<kind>/<name>/<version>.json`)
- `schemas/`: the JSON Schemas (Draft 2020-12) the records validate against
- `history/`: for each record, the commits that added or changed it (author, committer, dates,
  message, reason, signature status) and the SHA-256 of each content
- `coverage/coverage.json`: for each current model version, each item of the reporting
  frameworks ledger knows (TRIPOD+AI, EU AI Act, GMLP, FDA PCCP, CHAI Applied Model Card, HL7
  AI Transparency on FHIR): met, partial, missing or not applicable, with the reason
- `lineage/`: the lineage graph as JSON, Mermaid, Graphviz DOT and a self-contained HTML page
- `fhir/`: FHIR Provenance Bundles, R5 and R4B; their naming systems and code systems lie
  under the base the manifest names (`fhir_base`)
- `technical-file/`: for each current model version, its technical file as Markdown and HTML
  (`<name>/<version>.md`, `.html`): intended use, data, training, evaluation with subgroups and
  intervals, changes against the previous version, criteria and their computed outcome,
  sign-offs, risks, planned changes and history, in the order of EU AI Act Annex IV
- `signoffs/`: the sign-offs of record versions (`ledger sign`), byte for byte as committed
  (`<kind>/<name>/<version>/<time>-<meaning>-<role>.json`): who signed which version's SHA-256,
  as what role, meaning what, and when
- `verification/`: the report of `ledger verify` at that commit (JSON and text), and
  `signoffs.json`: each sign-off with the commit that added it, git's verdict on that commit's
  signature and whether verify counts it (and if not, why)
- `manifest.json`: the commit id, the FHIR base, every record's canonical SHA-256 and every
  file's SHA-256

## How to verify

1. `ledger verify-export {name}`: checks every file against the manifest, each record's
   canonical hash (RFC 8785 JSON, SHA-256) and links, the records against the schemas, the
   history, lineage and FHIR files against the records, and the FHIR Bundles. Exit code 0 means
   intact; 1 names each file that was added, removed, changed, unreadable or ambiguous (a
   name twice, names that differ only in case, a link instead of a file).
2. Without ledger: `sha256sum` each file and compare with `manifest.json`; a record's link
   `sha256` is the SHA-256 of the target record's RFC 8785 canonical JSON.
3. Compare the SHA-256 of `manifest.json` with the one the producer gave you separately:
   `ledger verify-export {name} --expect-manifest SHA256` does it for you. Without it, a
   forger who rewrote the records, the history and the manifest together goes unseen.
4. If the bundle holds `manifest.json.sig`, the producer signed the manifest with an SSH key:
   `ledger verify-export {name} --allowed-signers FILE` (git's allowed-signers format) names
   who signed it, or `ssh-keygen -Y verify -n ledger-export` does without ledger.
"""


class _Placed(NamedTuple):
    """An entry compressed ahead (``ledger.audit.deflated``): its compressed data is the next
    ``entry.compressed`` bytes of ``source``."""

    path: str
    entry: Deflated
    source: IO[bytes]


#: One step of writing the zip: ("open", path), ("data", bytes), ("close", path) or
#: ("place", _Placed).
_Step = tuple[str, str | bytes | _Placed]
_BATCH_BYTES = 1 << 20


class _Bundle:
    """A zip being written: each entry streamed in, its SHA-256 kept for the manifest.

    Entries are produced in the calling thread and compressed and hashed in a thread of their
    own: zlib and hashlib release the GIL, so compressing one block overlaps producing the
    next. They pass in batches of about a megabyte (one entry of a large file, or many small
    ones: handing over each small file costs more than compressing it), through a queue that
    holds a few batches at most.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(stream, "w")
        self.hashes: dict[str, str] = {}
        self._queue: queue.Queue[list[_Step] | None] = queue.Queue(maxsize=8)
        self._batch: list[_Step] = []
        self._size = 0
        self._error: BaseException | None = None
        self._writer = self._start()

    def __enter__(self) -> _Bundle:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._stop()
        if kind is None and self._error is None:
            return
        with contextlib.suppress(Exception):
            self.archive.close()  # what it wrote goes with the unfinished file
        if kind is None and self._error is not None:
            raise self._error

    def add(self, path: str, chunks: Iterable[str]) -> None:
        self.add_bytes(path, (block.encode() for block in blocks(chunks)))

    def add_bytes(self, path: str, pieces: Iterable[bytes]) -> None:
        self._put(("open", path))
        for data in pieces:
            self._put(("data", data))
        self._put(("close", path))

    def place(self, path: str, entry: Deflated, source: IO[bytes]) -> None:
        """An entry compressed ahead, copied in unchanged where it comes in the order."""
        self._put(("place", _Placed(path, entry, source)))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No writer thread while the body runs: it may start worker processes, and a
        process with threads forks none (``ledger.workers``)."""
        self._stop()
        try:
            yield
        finally:
            self._writer = self._start()

    def _start(self) -> threading.Thread:
        writer = threading.Thread(target=self._write, name="ledger-export-zip")
        writer.start()
        return writer

    def _stop(self) -> None:
        self._hand_over()
        self._queue.put(None)
        self._writer.join()

    def wait(self) -> None:
        """Wait until every entry so far is written; raise what stopped the writer, if
        anything."""
        self._hand_over()
        self._queue.join()
        if self._error is not None:
            raise self._error

    def _put(self, step: _Step) -> None:
        if self._error is not None:
            raise self._error
        self._batch.append(step)
        if isinstance(step[1], bytes):
            self._size += len(step[1])
            if self._size >= _BATCH_BYTES:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
            self._batch, self._size = [], 0

    def _write(self) -> None:
        entry: IO[bytes] | None = None
        digest = hashlib.sha256()
        while (batch := self._queue.get()) is not None:
            try:
                for kind, value in batch if self._error is None else ():
                    if isinstance(value, bytes):
                        assert entry is not None
                        digest.update(value)
                        entry.write(value)
                    elif isinstance(value, _Placed):
                        place(self.archive, _entry_info(value.path), value.entry, value.source)
                        self.hashes[value.path] = value.entry.sha256
                    elif kind == "open":
                        entry = self.archive.open(_entry_info(value), "w")
                        digest = hashlib.sha256()
                    elif entry is not None:
                        entry.close()
                        entry = None
                        self.hashes[value] = digest.hexdigest()
            except BaseException as exc:  # re-raised in the producer's thread
                self._error = exc
            finally:
                # After an error batches are drained unread: the producer never waits on a
                # full queue, and learns of the error at its next step.
                self._queue.task_done()
        self._queue.task_done()  # the None that stopped it
        if entry is not None:  # the producer stopped within an entry
            with contextlib.suppress(Exception):
                entry.close()


def _entry_info(path: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the permission bits below mean the same everywhere
    info.external_attr = 0o644 << 16
    return info


def verification(findings: Iterable[Finding]) -> dict[str, Any]:
    """What the manifest records of ``ledger verify`` at the exported commit."""
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in findings if f.severity is not Severity.ERROR)
    return {"ok": errors == 0, "errors": errors, "warnings": warnings}


def _status(verified: dict[str, Any]) -> str:
    if verified["ok"]:
        return (
            f"**Verification passed** at this commit ({verified['warnings']} warning(s)); "
            "`verification/` holds the report."
        )
    return (
        f"**Verification FAILED at this commit: {verified['errors']} error(s)**, listed in "
        "`verification/report.txt`. The producer exported it anyway (`--allow-findings`): "
        "these records break the ledger's rules as committed."
    )


def write_export(
    root: Path,
    state: LedgerState,
    stream: IO[bytes],
    findings: list[Finding],
    signing_key: str | None = None,
    helpers: Helpers | None = None,
) -> tuple[int, bytes]:
    """Write the audit bundle of ``state`` (whose ``ledger verify`` found ``findings``) into
    ``stream``, its manifest signed with ``signing_key`` if given; the number of files and
    the manifest's bytes. ``helpers``: the processes mapping the FHIR Bundles
    (``start_fhir``), if started; else they are mapped here."""
    if helpers is not None:
        helpers.findings = findings
    with _Bundle(stream) as bundle:
        records = _write_all(root, state, bundle, findings, helpers)
        bundle.wait()  # every entry hashed: the manifest can list them
        content = _manifest(
            state.commit,
            state.config.fhir_base,
            records,
            bundle.hashes,
            verification(findings),
        )
        manifest = to_json_text(content).encode()
        bundle.add_bytes(MANIFEST, [manifest])
        if signing_key is not None:
            bundle.add_bytes(SIGNATURE, [sign_manifest(manifest, signing_key)])
    bundle.archive.close()
    return len(bundle.hashes), manifest


def _write_all(
    root: Path,
    state: LedgerState,
    bundle: _Bundle,
    findings: list[Finding],
    helpers: Helpers | None,
) -> dict[str, dict[str, str]]:
    status = _status(verification(findings))
    readme = README.format(status=status, commit=state.commit, version=__version__, name="FILE.zip")
    bundle.add("README.md", [readme])
    records: dict[str, dict[str, str]] = {}
    exported = [f for f in state.records.files if f.facts.claimed and f.facts.sha256]
    for start in range(0, len(exported), READ_BATCH):
        batch = exported[start : start + READ_BATCH]
        committed = state.repo.blobs(f.blob for f in batch)  # the files exactly as committed
        for file in batch:
            assert file.facts.claimed is not None and file.facts.sha256 is not None
            path = file.facts.claimed.relpath("records")
            bundle.add_bytes(path, [committed[file.blob]])
            records[str(file.facts.claimed)] = {"path": path, "sha256": file.facts.sha256}
    for file in exported:
        assert file.facts.claimed is not None
        history = record_log(state, file.relpath)
        value = {"record": str(file.facts.claimed), "history": history.to_json()["history"]}
        bundle.add(f"history/{file.facts.claimed.relpath('')}", [to_json_text(value)])
    _write_signoffs(state, bundle)
    parts = helpers.parts if helpers is not None else _parts(state)
    for index, part in enumerate(parts):
        if part.name == LINEAGE_PART:  # the schemas come between, in the zip's order
            for name, schema in generate_schemas().items():
                bundle.add(f"schemas/{name}", [dumps_schema(schema)])
        _write_part(state, bundle, helpers, index, part)
    if helpers is not None:
        done = helpers.results(state)
        for version, child, result in zip(FHIR_VERSIONS, helpers.children, done, strict=True):
            bundle.place(_fhir_path(version), result.fhir, child.outputs[0])
    for version in FHIR_VERSIONS if helpers is None else ():
        chunks = iter(_fhir_chunks(state, version))
        with bundle.paused():
            first = next(chunks, "")  # the records are mapped, in worker processes if many
        bundle.add(_fhir_path(version), itertools.chain([first], chunks))
    if helpers is not None and helpers.ahead is not None:
        for path, entry in helpers.ahead.entries:
            bundle.place(path, entry, helpers.ahead.output)
    else:
        _write_report(state, bundle, findings)
    return records


def _write_report(state: LedgerState, bundle: Sink, findings: list[Finding]) -> None:
    """The report of ``ledger verify`` at the commit, as JSON and as text."""
    report = VerifyReport(
        commit=state.commit,
        checked=[f.relpath for f in state.records.files],
        findings=findings,
        commits=list(state.history.record_commits(state.config.records_dir)),
    )
    bundle.add("verification/report.json", json_chunks(report.json_value()))
    bundle.add("verification/report.txt", [verify_text(report)])


def _fhir_path(version: str) -> str:
    return f"fhir/provenance-{version.lower()}.json"


def _fhir_chunks(state: LedgerState, version: str) -> Iterable[str]:
    from ledger.fhir.bundle import ProvenanceBundle

    return PROVENANCE.render("json", ProvenanceBundle(state, state.graph, version))


class _Done(NamedTuple):
    """What a FHIR process hands back: notes on the kept values, its Bundle (deflated into
    its first output) and the parts it took (each deflated into the output of its index)."""

    notes: list[str]
    fhir: Deflated
    parts: dict[str, list[tuple[str, Deflated]]]


class Helpers:
    """The processes mapping the FHIR Bundles, one per version, and the parts of the export
    they may take once done (``ledger.audit.parts``)."""

    def __init__(self, parts: list[Part], children: list[Background], claims: Claims) -> None:
        self.parts, self.children, self.claims = parts, children, claims
        self._done: list[_Done] | None = None
        #: The verification report, deflated ahead (``results``), and the findings it needs.
        self.ahead: Deflating | None = None
        self.findings: list[Finding] | None = None

    def results(self, state: LedgerState) -> list[_Done]:
        """What each process did, once all are done (waited for at the first call)."""
        if self._done is None:
            if self.findings is not None:
                # What comes after the children's entries, made before waiting for them: the
                # parent often waits, and this would otherwise run alone at the end.
                self.ahead = Deflating(tempfile.TemporaryFile())  # noqa: SIM115
                _write_report(state, self.ahead, self.findings)
                self.ahead.output.seek(0)
            self._done = [child.result() for child in self.children]
            for done in self._done:
                if state.values is not None:  # what the child found wrong with the kept values
                    state.values.notes.extend(done.notes)
        return self._done

    def close(self) -> None:
        """Stop the processes still running, and remove their files and the claims."""
        for child in self.children:
            child.close()
        self.claims.close()
        if self.ahead is not None:
            self.ahead.output.close()


def start_fhir(state: LedgerState) -> Helpers | None:
    """The FHIR Bundles, each version mapped in a process of its own from the start (when the
    ledger is large enough and processors are free), while this one verifies and writes
    everything else; None when they are better mapped here, in turn. Mapping every record
    twice is a large part of an export: two processes of one version each share the
    processors with this one. Each child deflates its Bundle, which the parent copies into
    the zip in its place, then takes the parts (``_parts``) this one has not reached yet.
    Call before any thread starts (a process with threads forks none)."""
    # Made here, before the forks, so that no process makes them again: the mapping reads
    # the graph and the sign-offs, and so does the rest of the export.
    records = sum(1 for node in state.graph.records() if not node.attrs.get("missing"))
    state.checked_signoffs  # noqa: B018
    claims = Claims()
    parts = _parts(state)

    def mapper(version: str) -> Callable[[list[IO[bytes]]], _Done]:
        def work(outputs: list[IO[bytes]]) -> _Done:
            state.repo.after_fork()
            kept = state.values = state.values.after_fork() if state.values is not None else None
            # Compressed here, as the zip's entry: the parent, which writes the rest of the
            # export, only copies it in.
            pieces = (block.encode() for block in blocks(_fhir_chunks(state, version)))
            entry = deflate(pieces, outputs[0])
            taken: dict[str, list[tuple[str, Deflated]]] = {}
            # From the last part back: the parent takes them from the first.
            for index in reversed(range(len(parts))):
                if claims.claim(parts[index].name):
                    sink = Deflating(outputs[1 + index])
                    with quiet_gc():  # as in the parent (``export``)
                        parts[index].write(state, sink)
                    taken[parts[index].name] = sink.entries
            state.repo.close()
            if kept is None:
                return _Done([], entry, taken)
            kept.close()
            return _Done(kept.notes, entry, taken)

        return work

    started: list[Background] = []
    helpers = Helpers(parts, started, claims)
    try:
        for version in FHIR_VERSIONS:
            child = fork_background(records, mapper(version), 1 + len(parts), len(FHIR_VERSIONS))
            if child is None:
                break
            started.append(child)
    except BaseException:
        helpers.close()
        raise
    if len(started) < len(FHIR_VERSIONS):  # all or none: this process maps the rest in turn
        helpers.close()
        return None
    return helpers


def _write_part(
    state: LedgerState, bundle: _Bundle, helpers: Helpers | None, index: int, part: Part
) -> None:
    """The ``index``-th of the parts: written here, unless a FHIR process took it first;
    then its entries are copied in from that process's file once it is done."""
    if helpers is None or helpers.claims.claim(part.name):
        part.write(state, bundle)
        return
    for child, done in zip(helpers.children, helpers.results(state), strict=True):
        for path, entry in done.parts.get(part.name, ()):
            bundle.place(path, entry, child.outputs[1 + index])


def _write_signoffs(state: LedgerState, bundle: _Bundle) -> None:
    """The sign-off files as committed, under ``signoffs/`` whatever the repository calls the
    folder, and what verify says of each."""
    folder = state.config.signoffs_dir.rstrip("/") + "/"
    read = state.signoffs.read
    listing = state.repo.list_tree(state.commit, state.config.signoffs_dir) if read else {}
    committed = state.repo.blobs(listing[one.path][1] for one in read)
    for one in read:
        data = committed.get(listing[one.path][1])
        if data is not None:
            bundle.add_bytes(EXPORTED_SIGNOFFS + one.path.removeprefix(folder), [data])
    views = [
        {**view.to_json(), "path": EXPORTED_SIGNOFFS + view.path.removeprefix(folder)}
        for view in all_signoffs(state)
    ]
    value = {"commit": state.commit, "signoffs": views}
    bundle.add("verification/signoffs.json", [to_json_text(value)])


def _models(state: LedgerState) -> list[RecordId]:
    """The current model versions, each with a technical file, in the zip's order."""
    return state.records.current_ids("model")


def _write_technical_files(
    state: LedgerState, bundle: Sink, models: list[RecordId] | None = None
) -> None:
    """The technical file of each of ``models`` (of every current model version if None), as
    Markdown and as HTML."""
    from ledger.query.columns import kept_verdicts
    from ledger.signoffs.stages import evaluations_of
    from ledger.views.technical_file import blobs_read, technical_file

    models = _models(state) if models is None else models
    for start in range(0, len(models), READ_BATCH):
        part = models[start : start + READ_BATCH]
        # A technical file reads a dozen records one or two at a time: a round trip to git
        # each (9,900 of them for 2,580 files at 10,000 records), unless read ahead at once.
        with state.repo.holding(blobs_read(state, part)):
            # The evaluations (and their baselines, held too) judged a batch at a time, as the
            # lineage page judges them: a technical file's criteria are these judgments, kept
            # with them, never judged twice.
            kept_verdicts(state, [e for record in part for e in evaluations_of(state, record)])
            for record in part:
                document = technical_file(state, record)
                folder = f"technical-file/{record.name}/{record.version}"
                bundle.add(f"{folder}.html", [document.html()])
                bundle.add(f"{folder}.md", [document.markdown()])


def _write_coverage(state: LedgerState, bundle: Sink) -> None:
    """Each current model version's coverage of every reporting framework ledger knows."""
    from ledger.coverage import ALL
    from ledger.coverage.frameworks import chosen
    from ledger.views.coverage import coverage_report

    bundle.add(
        "coverage/coverage.json", COVERAGE.render("json", coverage_report(state, chosen(ALL)))
    )


def _write_lineage(state: LedgerState, bundle: Sink) -> None:
    """The lineage of every version, as JSON, Mermaid, DOT and an HTML page."""
    shown = LineageView(select(state.graph, all_versions=True), state)
    for fmt, suffix in (("json", "json"), ("mermaid", "mmd"), ("dot", "dot"), ("html", "html")):
        bundle.add(f"lineage/lineage.{suffix}", LINEAGE.render(fmt, shown))


class Part(NamedTuple):
    """A part of the export that a FHIR process may write (``ledger.audit.parts``): it
    depends on the state alone, never on what was written before it."""

    name: str
    write: Callable[[LedgerState, Sink], None]


LINEAGE_PART = "lineage"
#: Technical files per part: about 1.5 s of work at 10,000 records, so that the processes
#: that finish first share the last seconds evenly.
MODELS_PER_PART = 1000


def _parts(state: LedgerState) -> list[Part]:
    """The parts, in the zip's order: the technical files a thousand models at a time, the
    coverage report, then the lineage."""
    models = _models(state)
    parts = [
        Part(
            f"technical-file-{start}",
            functools.partial(
                _write_technical_files, models=models[start : start + MODELS_PER_PART]
            ),
        )
        for start in range(0, len(models), MODELS_PER_PART)
    ]
    return [*parts, Part("coverage", _write_coverage), Part(LINEAGE_PART, _write_lineage)]


def _manifest(
    sha: str,
    fhir_base: str,
    records: dict[str, dict[str, str]],
    hashes: dict[str, str],
    verified: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "ledger_version": __version__,
        "commit": sha,
        # The FHIR Bundles' naming systems lie under it: the verifier finds records by them.
        "fhir_base": fhir_base,
        "verification": verified,
        "records": records,
        "files": dict(sorted(hashes.items())),
    }


def export(
    root: Path,
    state: LedgerState,
    output: Path,
    *,
    allow_findings: bool = False,
    signing_key: str | None = None,
) -> dict[str, str]:
    """Write the audit bundle of ``state`` to ``output`` atomically; what to tell the user.
    Refused when ``ledger verify`` finds errors at the commit, unless ``allow_findings``: then
    the README and the manifest say so first. With ``signing_key``, the manifest is signed
    (``ledger.audit.signing``)."""
    helpers = start_fhir(state)  # mapped while verify runs: a refused export stops them
    try:
        findings = state.verify_findings(root, require_signed=False, data=False)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors and not allow_findings:
            raise ExportRefusedError(errors, state.commit)
        # The export makes objects per record, file and edge and frees each by reference
        # counting (as the command line's rendering does): the collector's walks over
        # them were a tenth of the parent's time.
        with quiet_gc(), atomic_writer(output) as stream:
            count, manifest = write_export(root, state, stream, findings, signing_key, helpers)
    finally:
        if helpers is not None:
            helpers.close()
    digest = hashlib.sha256()
    with output.open("rb") as written:
        for block in iter(lambda: written.read(1 << 20), b""):
            digest.update(block)
    return {
        "output": str(output),
        "commit": state.commit,
        "files": str(count),
        "sha256": digest.hexdigest(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "verification": "passed" if not errors else f"failed: {len(errors)} error(s)",
        "signed": "yes" if signing_key is not None else "no",
    }


def load_manifest(data: bytes) -> dict[str, Any] | None:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("records"), dict):
        return None
    return manifest
