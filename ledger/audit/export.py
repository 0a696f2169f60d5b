"""``ledger export``: an offline audit bundle an auditor can verify without the repository.

The zip holds the records as of REV, the schemas they validate against, each record's history,
the lineage (JSON, Mermaid, DOT, HTML), FHIR Provenance (R5 and R4B), the verification report,
a README for the auditor and a manifest with the SHA-256 of every file and the commit id. It is
deterministic: entries sorted, fixed timestamps and permissions, so the same REV gives the same
bytes. Data files never go in; only the ledger does.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from ledger import __version__
from ledger.config import Config
from ledger.git.repository import GitTree, Repository
from ledger.views.graph import build_graph, select
from ledger.views.log import record_log
from ledger.views.reports import to_json_text, verify_text
from ledger.records.schemas import dumps_schema, generate_schemas
from ledger.records.serialize import write_atomic
from ledger.checks.tree import load_tree
from ledger.checks.verify import verify

FORMAT = "ledger-export/1"
MANIFEST = "manifest.json"
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


def build_export(root: Path, config: Config, rev: str = "HEAD") -> tuple[str, dict[str, bytes]]:
    """The commit id of ``rev`` and every file of its export, by path."""
    from ledger.fhir import bundle_json, provenance_bundle
    from ledger.views.formats import render

    files: dict[str, bytes] = {}
    with Repository(root) as repo:
        sha = repo.resolve(rev)
        view = GitTree(repo, sha)
        entries, _ = load_tree(view, config)
        records: dict[str, dict[str, str]] = {}
        for entry in entries:
            if entry.claimed is None or entry.sha256 is None:
                continue
            path = entry.claimed.relpath("records")
            blob = repo.blob(f"{sha}:{entry.relpath}")
            assert blob is not None
            files[path] = blob
            records[str(entry.claimed)] = {"path": path, "sha256": entry.sha256}
            history = record_log(repo, config, entry.relpath, sha)
            files["history/" + path[len("records/") :]] = to_json_text(
                {"record": str(entry.claimed), "history": [h.to_json() for h in history]}
            ).encode()
    for name, schema in generate_schemas().items():
        files[f"schemas/{name}"] = dumps_schema(schema).encode()
    graph = build_graph(root, config, sha)
    shown = select(graph, all_versions=True)
    for fmt, suffix in (("json", "json"), ("mermaid", "mmd"), ("dot", "dot"), ("html", "html")):
        files[f"lineage/lineage.{suffix}"] = render(shown, fmt).encode()
    for version in ("R5", "R4B"):
        files[f"fhir/provenance-{version.lower()}.json"] = bundle_json(
            provenance_bundle(graph, version)
        ).encode()
    report = verify(root, config, sha)
    files["verification/report.json"] = to_json_text(report.to_json()).encode()
    files["verification/report.txt"] = verify_text(report).encode()
    files["README.md"] = README.format(commit=sha, version=__version__, name="FILE.zip").encode()
    files[MANIFEST] = to_json_text(_manifest(sha, records, files)).encode()
    return sha, files


def _manifest(
    sha: str, records: dict[str, dict[str, str]], files: dict[str, bytes]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "ledger_version": __version__,
        "commit": sha,
        "records": records,
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below mean the same everywhere
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path], compresslevel=9)
    return buffer.getvalue()


def export(root: Path, config: Config, output: Path, rev: str = "HEAD") -> dict[str, str]:
    """Write the audit bundle of ``rev`` to ``output`` atomically; return what to tell the user."""
    sha, files = build_export(root, config, rev)
    data = zip_bytes(files)
    write_atomic(output, data, overwrite=True)
    return {
        "output": str(output),
        "commit": sha,
        "files": str(len(files)),
        "sha256": hashlib.sha256(data).hexdigest(),
        "manifest_sha256": hashlib.sha256(files[MANIFEST]).hexdigest(),
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
