"""A FHIR Bulk Data file set of a Bundle's resources: ``ledger provenance --format ndjson -o DIR``.

As the Bulk Data Access IG lays out an export: one ``<Type>.ndjson`` file per resource type,
each line one resource, references relative (``Type/id``) so that they resolve within the set
(or on a server that loads it), and ``manifest.json``, the Bulk Data manifest listing each file
with its type, resource count and size. ``transactionTime`` is the time of the latest commit
that recorded a version in the set, so the same revision gives the same bytes.

The manifest's file URLs are the files' names, relative to the manifest, unless ``files_url``
says where the folder will be served (the IG asks for absolute URLs, which only the one who
serves the files knows). The folder is written whole or not at all (``ledger.folders``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import ledger
from ledger.errors import UsageError
from ledger.fhir.ids import fhir_instant
from ledger.folders import BULK, staged

if TYPE_CHECKING:
    from ledger.fhir.bundle import ProvenanceBundle

MANIFEST: Final = "manifest.json"
MANIFEST_TYPE: Final = "http://hl7.org/fhir/uv/bulkdata/StructureDefinition/BulkDataManifest"
NDJSON: Final = "application/fhir+ndjson"


def write_file_set(bundle: ProvenanceBundle, out: Path, files_url: str | None = None) -> list[str]:
    """Write ``bundle``'s resources into the folder ``out`` as a Bulk Data file set; the
    files written, manifest included."""
    if files_url is not None and not files_url.startswith(("https://", "http://")):
        raise UsageError(f"--files-url {files_url!r}: give an absolute http(s) URL")
    base = files_url if files_url is None or files_url.endswith("/") else files_url + "/"
    outputs: list[dict[str, Any]] = []
    with staged(out, BULK) as stage:
        for resource_type, lines in bundle.typed_ndjson():
            name = f"{resource_type}.ndjson"
            count, size = stage.write_lines(name, lines)
            url = name if base is None else base + name
            outputs.append({"type": resource_type, "url": url, "count": count, "fileSize": size})
        manifest = {
            "manifestType": MANIFEST_TYPE,
            "transactionTime": bundle.timestamp or _commit_time(bundle),
            "requiresAccessToken": False,
            "outputFormat": NDJSON,
            "output": outputs,
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        stage.write(MANIFEST, text.encode())
        stage.finish({"generator": f"ledger {ledger.__version__}", "commit": bundle.graph.commit})
    return sorted(stage.written)


def _commit_time(bundle: ProvenanceBundle) -> str:
    """The commit time of the revision itself, for a set with no version in it."""
    return fhir_instant(bundle.state.repo.committed_at(bundle.graph.commit))
