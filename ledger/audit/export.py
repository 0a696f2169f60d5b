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

import hashlib
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ledger import __version__
from ledger.records.schemas import dumps_schema, generate_schemas
from ledger.records.serialize import atomic_writer
from ledger.views.formats import LINEAGE, PROVENANCE, LineageView, blocks, to_json_text
from ledger.views.graph import select
from ledger.views.log import record_log
from ledger.views.reports import VerifyReport, verify_text

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

FORMAT = "ledger-export/1"
MANIFEST = "manifest.json"
READ_BATCH = 512  # record files read from git at a time
# 1980-01-01 is the earliest time a zip can hold: no wall clock leaks into the bundle.
_EPOCH = (1980, 1, 1, 0, 0, 0)

README = """\
# Audit export of a ledger

This bundle documents the datasets, models and evaluations of one repository as committed at
commit {commit}. It was produced by ledger {version} and needs neither the repository nor a
network to check.

- `records/`: the records, byte for byte as committed (`<kind>/<name>/<version>.json`)
- `schemas/`: the JSON Schemas (Draft 2020-12) the records validate against
- `history/`: for each record, the commits that added or changed it (author, committer, dates,
  message, reason, signature status) and the SHA-256 of each content
- `lineage/`: the lineage graph as JSON, Mermaid, Graphviz DOT and a self-contained HTML page
- `fhir/`: FHIR Provenance Bundles, R5 and R4B
- `verification/`: the report of `ledger verify` at that commit (JSON and text)
- `manifest.json`: the commit id, every record's canonical SHA-256 and every file's SHA-256

## How to verify

1. `ledger verify-export {name}`: checks every file against the manifest, each record's
   canonical hash (RFC 8785 JSON, SHA-256) and links, the records against the schemas, and the
   FHIR Bundles. Exit code 0 means intact; 1 names each file that was added, removed or changed.
2. Without ledger: `sha256sum` each file and compare with `manifest.json`; a record's link
   `sha256` is the SHA-256 of the target record's RFC 8785 canonical JSON.
3. Compare the SHA-256 of `manifest.json` with the one the producer gave you separately.
"""


class _Bundle:
    """A zip being written: each entry streamed in, its SHA-256 kept for the manifest."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(stream, "w")
        self.hashes: dict[str, str] = {}

    def add(self, path: str, chunks: Iterable[str]) -> None:
        self.add_bytes(path, (block.encode() for block in blocks(chunks)))

    def add_bytes(self, path: str, pieces: Iterable[bytes]) -> None:
        info = zipfile.ZipInfo(path, date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # unix, so the permission bits below mean the same everywhere
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        with self.archive.open(info, "w") as entry:
            for data in pieces:
                digest.update(data)
                entry.write(data)
        self.hashes[path] = digest.hexdigest()


def write_export(root: Path, state: LedgerState, stream: IO[bytes]) -> tuple[int, bytes]:
    """Write the audit bundle of ``state`` into ``stream``; the number of files and the
    manifest's bytes."""
    from ledger.fhir.bundle import ProvenanceBundle

    bundle = _Bundle(stream)
    bundle.add(
        "README.md", [README.format(commit=state.commit, version=__version__, name="FILE.zip")]
    )
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
    for name, schema in generate_schemas().items():
        bundle.add(f"schemas/{name}", [dumps_schema(schema)])
    shown = LineageView(select(state.graph, all_versions=True), state)
    for fmt, suffix in (("json", "json"), ("mermaid", "mmd"), ("dot", "dot"), ("html", "html")):
        bundle.add(f"lineage/lineage.{suffix}", LINEAGE.render(fmt, shown))
    for version in ("R5", "R4B"):
        fhir = ProvenanceBundle(state, state.graph, version)
        bundle.add(f"fhir/provenance-{version.lower()}.json", PROVENANCE.render("json", fhir))
    report = VerifyReport(
        commit=state.commit,
        checked=[f.relpath for f in state.records.files],
        findings=state.verify_findings(root, require_signed=False, data=False),
        commits=list(state.history.record_commits(state.config.records_dir)),
    )
    bundle.add("verification/report.json", [to_json_text(report.to_json())])
    bundle.add("verification/report.txt", [verify_text(report)])
    manifest = to_json_text(_manifest(state.commit, records, bundle.hashes)).encode()
    bundle.add_bytes(MANIFEST, [manifest])
    bundle.archive.close()
    return len(bundle.hashes), manifest


def _manifest(
    sha: str, records: dict[str, dict[str, str]], hashes: dict[str, str]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "ledger_version": __version__,
        "commit": sha,
        "records": records,
        "files": dict(sorted(hashes.items())),
    }


def export(root: Path, state: LedgerState, output: Path) -> dict[str, str]:
    """Write the audit bundle of ``state`` to ``output`` atomically; what to tell the user."""
    with atomic_writer(output) as stream:
        count, manifest = write_export(root, state, stream)
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
