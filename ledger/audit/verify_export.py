"""``ledger verify-export FILE.zip``: check an audit bundle with nothing but the bundle.

No repository, no DVC, no network: every file against the manifest, every record's canonical
hash, links and schema, and the FHIR Bundles. An added, removed or modified file is named.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ledger.audit.export import MANIFEST, load_manifest
from ledger.checks.tree import FactsCache, Report, load_records, tree_findings
from ledger.config import Config
from ledger.errors import UsageError
from ledger.findings import Finding, finding
from ledger.records.identity import is_json_name
from ledger.records.jsonload import Limits
from ledger.trees import Read


class ZipTree:
    """A TreeView over the records inside an export."""

    label = "export"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def record_files(self, records_dir: str) -> dict[str, str | None]:
        prefix = records_dir.rstrip("/") + "/"
        return {p: None for p in sorted(self.files) if p.startswith(prefix) and is_json_name(p)}

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        return {p: (self.files[p], []) for p in relpaths}

    def preload(self, relpaths: Iterable[str]) -> None:
        pass  # nothing to read ahead: the files are in memory

    def read_text(self, relpath: str) -> str | None:
        return None  # exports hold no DVC files; snapshots were verified when exporting


def read_zip(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir()
            }
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot be read as a zip file ({exc})") from None


def verify_export(path: Path) -> Report:
    files = read_zip(path)
    found: list[Finding] = []
    manifest = load_manifest(files.get(MANIFEST, b""))
    if manifest is None:
        found.append(
            finding(
                "L904", MANIFEST, "", "manifest.json is missing or not a ledger export manifest"
            )
        )
        return Report(checked=[], findings=found)
    listed: dict[str, str] = manifest["files"]
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        found.append(finding("L901", name, "", "is not listed in the manifest"))
    for name in sorted(set(listed) - set(files)):
        found.append(finding("L902", name, "", "is listed in the manifest but missing"))
    for name in sorted(set(listed) & set(files)):
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != listed[name]:
            found.append(
                finding(
                    "L903",
                    name,
                    "",
                    f"has SHA-256 {actual[:12]}…, the manifest says {str(listed[name])[:12]}…",
                )
            )
    present = {n: d for n, d in files.items() if n in listed}
    config = Config()
    records = load_records(ZipTree(present), "records", config.limits, FactsCache())
    found += tree_findings(records, "records", None)
    for ref, meta in sorted(manifest["records"].items()):
        file = records.by_path.get(str(meta.get("path")))
        if file is None or str(file.facts.claimed) != ref:
            found.append(finding("L902", str(meta.get("path")), "", f"{ref} is not in the export"))
        elif file.facts.sha256 != meta.get("sha256"):
            found.append(
                finding(
                    "L903",
                    file.relpath,
                    "",
                    f"{ref} hashes to "
                    f"{str(file.facts.sha256)[:12]}…, the manifest says "
                    f"{str(meta.get('sha256'))[:12]}…",
                )
            )
    found += _fhir(present)
    return Report(
        checked=[f.relpath for f in records.files],
        findings=sorted(set(found), key=Finding.sort_key),
    )


def _fhir(files: dict[str, bytes]) -> list[Finding]:
    from ledger.fhir.checks import bundle_problems

    found: list[Finding] = []
    for version in ("R5", "R4B"):
        name = f"fhir/provenance-{version.lower()}.json"
        if name not in files:
            continue  # the manifest check names it as removed
        try:
            bundle = json.loads(files[name])
        except ValueError as exc:
            found.append(finding("L905", name, "", f"is not JSON: {exc}"))
            continue
        found += [
            finding("L905", name, "", problem) for problem in bundle_problems(bundle, version)
        ]
    return found
