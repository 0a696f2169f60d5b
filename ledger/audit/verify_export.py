"""``ledger verify-export FILE.zip``: check an audit bundle with nothing but the bundle.

No repository, no DVC, no network: every file against the manifest (and the manifest against
the SHA-256 its producer handed over, with ``--expect-manifest``), every record's canonical
hash, links and schema, the copies of records in the history, lineage and FHIR files, and
the FHIR Bundles. An added, removed, modified, unreadable or ambiguous file is named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.audit.archive import (
    MANIFEST_LIMIT,
    Archive,
    Entry,
    Keep,
    open_zip,
    printable,
    read_archive,
)
from ledger.audit.export import EXPORTED_SIGNOFFS, MANIFEST, load_manifest
from ledger.audit.signing import SIGNATURE, check_signature
from ledger.checks.record_file import blob_id
from ledger.checks.tree import FactsCache, Report, load_records, tree_findings
from ledger.config import Config, fhir_base_of
from ledger.errors import UsageError
from ledger.findings import SORT_KEY, Finding, finding
from ledger.records.identity import is_json_name
from ledger.records.jsonload import Limits, too_large
from ledger.signoffs.entry import read_signoff
from ledger.trees import Read

_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: Copies of records the checks compare with the records; each file's history stays small.
_HISTORY_LIMIT = 16 << 20
_SIGNATURE_LIMIT = 64 << 10  # an SSH signature is under a kilobyte
_VIEWS = ("lineage/lineage.json", "verification/report.json", "verification/signoffs.json")
_FHIR = {"R5": "fhir/provenance-r5.json", "R4B": "fhir/provenance-r4b.json"}


class ZipTree:
    """A TreeView over the records inside an export."""

    label = "export"

    def __init__(self, files: dict[str, Read]) -> None:
        self.files = files

    def record_files(self, records_dir: str) -> dict[str, str | None]:
        prefix = records_dir.rstrip("/") + "/"
        return {p: None for p in sorted(self.files) if p.startswith(prefix) and is_json_name(p)}

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        return {p: self.files[p] for p in relpaths}

    def preload(self, relpaths: Iterable[str]) -> None:
        pass  # nothing to read ahead: the files are in memory

    def read_text(self, relpath: str) -> str | None:
        return None  # exports hold no DVC files; snapshots were verified when exporting


def expected_manifest(value: str | None) -> str | None:
    """``--expect-manifest``, checked: the SHA-256 ``ledger export`` printed."""
    if value is None:
        return None
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise UsageError(
            f"--expect-manifest {value!r} is not a SHA-256; give the 64 hex characters "
            "`ledger export` printed as 'manifest sha256'"
        )
    return digest


def verify_export(
    path: Path, expect_manifest: str | None = None, allowed_signers: Path | None = None
) -> ExportCheck:
    expect = expected_manifest(expect_manifest)
    if allowed_signers is not None and not allowed_signers.is_file():
        raise UsageError(f"{allowed_signers}: no such allowed-signers file")
    limits = Config().limits
    with open_zip(path) as archive:
        contents = read_archive(archive, _keep(limits))
    try:
        check = _verify(contents, limits, expect)
        return _signature(check, contents, allowed_signers)
    finally:
        contents.close()


def _signature(check: ExportCheck, contents: Archive, allowed: Path | None) -> ExportCheck:
    """The manifest's signature: who of ``allowed`` made it (L910 when nobody did), or, with
    no allowed signers given, only whether there is one."""
    manifest, signature = contents.entries.get(MANIFEST), contents.entries.get(SIGNATURE)
    check.signed = signature is not None
    if allowed is None:
        return check
    if signature is None or manifest is None or signature.cut or manifest.cut:
        why = "the export is not signed" if signature is None else "it cannot be read whole"
        check.findings.append(finding("L910", SIGNATURE, "", why))
    else:
        check.signer = check_signature(manifest.data(), signature.data(), allowed)
        if check.signer is None:
            message = f"is not a signature of manifest.json by a key in {allowed}"
            check.findings.append(finding("L910", SIGNATURE, "", message))
    check.findings.sort(key=SORT_KEY)
    return check


def _keep(limits: Limits) -> Keep:
    """What of each entry the checks read: the files they parse, each up to a limit."""

    def keep(name: str) -> int | None:
        if name == MANIFEST:
            return MANIFEST_LIMIT
        if name == SIGNATURE:
            return _SIGNATURE_LIMIT
        if name.startswith(("records/", EXPORTED_SIGNOFFS)):
            return limits.max_bytes
        if name.startswith("history/"):
            return _HISTORY_LIMIT
        if name in _VIEWS or name in _FHIR.values():
            return 1 << 62  # spooled to disk past a few megabytes
        return None

    return keep


def _verify(contents: Archive, limits: Limits, expect: str | None) -> ExportCheck:
    found = list(contents.findings)
    entries = contents.entries
    # Names already reported as unreadable or ambiguous are not reported again as missing.
    reported = contents.skipped
    manifest_entry = entries.get(MANIFEST)
    if expect is not None and manifest_entry is not None and manifest_entry.sha256 != expect:
        found.append(
            finding(
                "L908",
                MANIFEST,
                "",
                f"has SHA-256 {manifest_entry.sha256[:12]}…, the producer gave {expect[:12]}…",
            )
        )
    manifest = None
    if manifest_entry is not None and not manifest_entry.cut:
        manifest = load_manifest(manifest_entry.data())
    if manifest is None:
        if MANIFEST not in reported:
            why = "manifest.json is missing or not a ledger export manifest"
            if manifest_entry is not None and manifest_entry.cut:
                why = f"manifest.json is over {MANIFEST_LIMIT >> 20} MiB, more than any export's"
            found.append(finding("L904", MANIFEST, "", why))
        return ExportCheck(checked=[], findings=sorted(set(found), key=SORT_KEY))
    listed, records, problems = _manifest_parts(manifest)
    found += problems
    for name in sorted(set(entries) - set(listed) - {MANIFEST, SIGNATURE}):
        found.append(finding("L901", printable(name), "", "is not listed in the manifest"))
    for name in sorted(set(listed) - set(entries) - reported):
        found.append(finding("L902", printable(name), "", "is listed in the manifest but missing"))
    for name in sorted(set(listed) & set(entries)):
        actual = entries[name].sha256
        if actual != listed[name]:
            found.append(
                finding(
                    "L903",
                    name,
                    "",
                    f"has SHA-256 {actual[:12]}…, the manifest says {listed[name][:12]}…",
                )
            )
    # Files the manifest vouches for; the others are reported above and read no further.
    vouched = {n: e for n, e in entries.items() if listed.get(n) == e.sha256}
    present = {
        n: _record_read(e, limits)
        for n, e in entries.items()
        if n in listed and n.startswith("records/")
    }
    tree = load_records(ZipTree(present), "records", limits, FactsCache())
    found += tree_findings(tree, "records", None)
    for ref, meta in sorted(records.items()):
        file = tree.by_path.get(meta["path"])
        if file is None and meta["path"] in reported:
            continue
        if file is None or str(file.facts.claimed) != ref:
            found.append(finding("L902", meta["path"], "", f"{ref} is not in the export"))
        elif file.facts.sha256 != meta["sha256"]:
            found.append(
                finding(
                    "L903",
                    file.relpath,
                    "",
                    f"{ref} hashes to "
                    f"{str(file.facts.sha256)[:12]}…, the manifest says {meta['sha256'][:12]}…",
                )
            )
    blobs = {
        ref: blob_id(data)
        for ref, meta in records.items()
        if meta["path"] in vouched and (data := present.get(meta["path"], (None, []))[0])
    }
    found += _copies(vouched, manifest["commit"], records, blobs, reported)
    found += _signoffs(vouched, records, limits)
    found += _fhir(vouched, records, _fhir_base(manifest))
    verified, problems = _recorded_verification(manifest, vouched)
    found += problems
    return ExportCheck(
        checked=[f.relpath for f in tree.files],
        findings=sorted(set(found), key=SORT_KEY),
        commit=str(manifest["commit"]),
        manifest_sha256=manifest_entry.sha256 if manifest_entry is not None else None,
        verification=verified,
    )


@dataclass
class ExportCheck(Report):
    """What ``verify-export`` found, and what the export says of itself: the commit, the
    manifest's SHA-256 (to compare with the one the producer handed over) and the result of
    ``ledger verify`` the producer recorded."""

    commit: str | None = None
    manifest_sha256: str | None = None
    verification: dict[str, Any] | None = None
    #: Whether the export holds a manifest signature, and who of the allowed signers made it.
    signed: bool = False
    signer: str | None = None

    @property
    def intact(self) -> bool:
        """The bundle is what its producer wrote (the checks found no error)."""
        return super().ok

    @property
    def ok(self) -> bool:
        """Intact, and of a ledger that passed verification: an intact bundle of a failed
        ledger is not "ok" to an auditor's script."""
        return self.intact and (self.verification is None or self.verification.get("ok") is True)

    def json_value(self) -> dict[str, object]:
        value = super().json_value()
        value["export"] = {
            "intact": self.intact,
            "commit": self.commit,
            "manifest_sha256": self.manifest_sha256,
            "verification": self.verification,
            "signed": self.signed,
            "signer": self.signer,
        }
        return value


def _recorded_verification(
    manifest: dict[str, Any], vouched: dict[str, Entry]
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The manifest's record of ``ledger verify`` at the commit, checked against the report
    the export holds: a bundle whose failure was edited out of one must disagree with the
    other. Exports older than the record have only the report, which then speaks."""
    report = _json(vouched.get("verification/report.json"))
    findings = report.get("findings") if isinstance(report, dict) else None
    counted = None
    if isinstance(findings, list):
        errors = sum(1 for f in findings if isinstance(f, dict) and f.get("severity") == "error")
        counted = {"ok": errors == 0, "errors": errors, "warnings": len(findings) - errors}
    if "verification" not in manifest:
        return counted, []
    recorded = manifest["verification"]
    shape = isinstance(recorded, dict) and set(recorded) == {"ok", "errors", "warnings"}
    if not shape or not all(type(recorded[k]) is int for k in ("errors", "warnings")):
        message = "is not {ok, errors, warnings} as ledger writes it"
        return None, [finding("L904", MANIFEST, "/verification", message)]
    if counted is not None and recorded != counted:
        message = (
            f"lists {counted['errors']} error(s) and {counted['warnings']} warning(s); the "
            f"manifest records {recorded['errors']} and {recorded['warnings']}"
        )
        return recorded, [finding("L909", "verification/report.json", "/findings", message)]
    return recorded, []


def _record_read(entry: Entry, limits: Limits) -> Read:
    if entry.cut:
        return None, too_large(entry.name, entry.size, limits)
    return entry.data(), []


def _manifest_parts(
    manifest: dict[str, Any],
) -> tuple[dict[str, str], dict[str, dict[str, str]], list[Finding]]:
    """The files and records the manifest lists, with a finding for each malformed entry
    (which is left out: a manifest that cannot vouch for something vouches for nothing)."""
    found: list[Finding] = []

    def bad(pointer: str, what: str) -> None:
        found.append(finding("L904", MANIFEST, pointer, what))

    if not isinstance(manifest.get("commit"), str) or not _COMMIT.fullmatch(manifest["commit"]):
        bad("/commit", "is not a commit id (40 or 64 hex characters)")
    if "fhir_base" in manifest and _fhir_base(manifest) is None:
        bad("/fhir_base", "is not an absolute https:// or http:// URL ending in '/'")
    listed: dict[str, str] = {}
    for name, digest in manifest["files"].items():
        if isinstance(digest, str) and _SHA256.fullmatch(digest):
            listed[name] = digest
        else:
            bad(f"/files/{_escaped(name)}", "is not a SHA-256 (64 lower-case hex characters)")
    records: dict[str, dict[str, str]] = {}
    for ref, meta in manifest["records"].items():
        if (
            isinstance(meta, dict)
            and isinstance(meta.get("path"), str)
            and isinstance(meta.get("sha256"), str)
            and _SHA256.fullmatch(meta["sha256"])
        ):
            records[ref] = {"path": meta["path"], "sha256": meta["sha256"]}
        else:
            bad(
                f"/records/{_escaped(ref)}",
                'is not {"path": <the record\'s file>, "sha256": <its canonical SHA-256>}',
            )
    return listed, records, found


def _escaped(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _copies(
    vouched: dict[str, Entry],
    commit: object,
    records: dict[str, dict[str, str]],
    blobs: dict[str, str],
    reported: set[str],
) -> list[Finding]:
    """The history and lineage files against the records: each is a copy of what the records
    say (their identities, canonical hashes and git blob ids, and the commit), written by the
    same export, so a forger who rewrote a record and its manifest entry must rewrite these
    consistently too (and the FHIR Bundles, ``_mapped_records``)."""
    found: list[Finding] = []

    def differs(path: str, pointer: str, what: str) -> None:
        found.append(finding("L909", path, pointer, what))

    for name in _VIEWS:
        if name not in vouched:
            continue  # missing or changed: the manifest check names it
        view = _json(vouched[name])
        if not isinstance(view, dict):
            differs(name, "", "is not the JSON object ledger writes there")
        elif view.get("commit") != commit:
            differs(name, "/commit", f"names commit {view.get('commit')}, the manifest {commit}")
    lineage = _json(vouched.get("lineage/lineage.json"))
    if isinstance(lineage, dict) and isinstance(lineage.get("nodes"), list):
        shown: set[str] = set()
        for at, node in enumerate(lineage["nodes"]):
            if not isinstance(node, dict) or node.get("kind") != "record":
                continue
            ref = str(node.get("id", "")).removeprefix("record:")
            where = f"/nodes/{at}"
            shown.add(ref)
            if ref not in records:
                differs(
                    "lineage/lineage.json", where, f"shows {ref}, which the export does not hold"
                )
                continue
            if node.get("sha256") != records[ref]["sha256"]:
                differs(
                    "lineage/lineage.json",
                    f"{where}/sha256",
                    f"{ref}'s hash differs from its record's",
                )
            if ref in blobs and node.get("blob") != blobs[ref]:
                differs(
                    "lineage/lineage.json",
                    f"{where}/blob",
                    f"{ref}'s blob id differs from its record file's",
                )
        for ref in sorted(set(records) - shown):
            differs("lineage/lineage.json", "/nodes", f"has no node for {ref}")
    histories = {
        "history/" + meta["path"].removeprefix("records/"): ref for ref, meta in records.items()
    }
    for name in sorted(n for n in vouched if n.startswith("history/") and n not in histories):
        differs(name, "", "is the history of a record the export does not hold")
    for name, ref in sorted(histories.items()):
        entry = vouched.get(name)
        if entry is None:
            if name not in reported and name not in vouched:
                differs(name, "", f"{ref} has no history in the export")
            continue
        found += _history(name, entry, ref, records[ref]["sha256"], blobs.get(ref))
    return found


def _signoffs(
    vouched: dict[str, Entry], records: dict[str, dict[str, str]], limits: Limits
) -> list[Finding]:
    """Each sign-off file against the records it signs (their hashes must be the signed
    ones), and against ``verification/signoffs.json``, which lists exactly those files."""
    found: list[Finding] = []
    names = sorted(n for n in vouched if n.startswith(EXPORTED_SIGNOFFS))
    for name in names:
        read = read_signoff(vouched[name].data(), name, EXPORTED_SIGNOFFS.rstrip("/"), limits)
        found += read.problems
        entry = read.entry
        if entry is None:
            continue
        signed = records.get(entry.signs.ref)
        if signed is None or signed["sha256"] != entry.signs.sha256:
            what = "is not in the export" if signed is None else "has other content"
            found.append(finding("L807", name, "/signs", f"signs {entry.signs.ref}, which {what}"))
    listing = _json(vouched.get("verification/signoffs.json"))
    if isinstance(listing, dict) and isinstance(listing.get("signoffs"), list):
        listed = sorted(
            str(one.get("path")) for one in listing["signoffs"] if isinstance(one, dict)
        )
        if listed != names:
            found.append(
                finding(
                    "L909",
                    "verification/signoffs.json",
                    "/signoffs",
                    f"lists {len(listed)} sign-off file(s), the export holds {len(names)}",
                )
            )
    return found


def _history(name: str, entry: Entry, ref: str, sha256: str, blob: str | None) -> list[Finding]:
    value = _json(entry)
    if not isinstance(value, dict) or not isinstance(value.get("history"), list):
        return [finding("L909", name, "", "is not a record's history (JSON with a history list)")]
    found = []
    if value.get("record") != ref:
        found.append(finding("L909", name, "/record", f"names {value.get('record')}, not {ref}"))
    steps = value["history"]
    last = steps[-1] if steps and isinstance(steps[-1], dict) else None
    where = f"/history/{len(steps) - 1}"
    if last is None or last.get("action") == "deleted":
        found.append(finding("L909", name, "/history", "does not end with the record's content"))
    else:
        if last.get("sha256") != sha256:
            found.append(
                finding("L909", name, f"{where}/sha256", f"ends with a content other than {ref}'s")
            )
        if blob is not None and last.get("blob") != blob:
            found.append(
                finding("L909", name, f"{where}/blob", f"ends with a file other than {ref}'s")
            )
    return found


def _json(entry: Entry | None) -> object:
    if entry is None or entry.cut:
        return None
    try:
        return json.loads(entry.data())
    except (ValueError, UnicodeDecodeError):
        return None


def _fhir_base(manifest: dict[str, Any]) -> str | None:
    """The base of the FHIR Bundles' naming systems the manifest names (an export written
    before the setting existed names none: it used the former base); None when it names
    something else than a base, which ``_manifest_parts`` reports."""
    from ledger.fhir.ids import FORMER_BASE

    try:
        return fhir_base_of(manifest.get("fhir_base", FORMER_BASE), MANIFEST)
    except UsageError:
        return None


def _fhir(
    vouched: dict[str, Entry], records: dict[str, dict[str, str]], base: str | None
) -> list[Finding]:
    """Each FHIR Bundle: valid FHIR of its version, and its record resources copies of the
    records (the identity and canonical hash each one is identified by)."""
    from ledger.fhir.checks import bundle_problems

    found: list[Finding] = []
    for version, name in _FHIR.items():
        entry = vouched.get(name)
        if entry is None:
            continue  # the manifest check names it as removed or changed
        try:
            bundle = json.loads(entry.data())
        except (ValueError, UnicodeDecodeError) as exc:
            found.append(finding("L905", name, "", f"is not JSON: {exc}"))
            continue
        found += [
            finding("L905", name, "", problem) for problem in bundle_problems(bundle, version)
        ]
        if base is not None:
            found += _mapped_records(name, bundle, records, base)
    return found


def _mapped_records(
    name: str, bundle: object, records: dict[str, dict[str, str]], base: str
) -> list[Finding]:
    """L909 for a record resource whose identifiers name another hash than the record's, or
    a record the export does not hold, and for a record no resource maps; record resources
    are those identified in the naming systems under ``base``."""
    from ledger.fhir.ids import systems

    named_by = systems(base)
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list):
        return []  # bundle_problems says what is wrong with it
    found: list[Finding] = []
    mapped: set[str] = set()
    for at, item in enumerate(entries):
        resource = item.get("resource") if isinstance(item, dict) else None
        identifiers = resource.get("identifier") if isinstance(resource, dict) else None
        if not isinstance(identifiers, list):
            continue
        named = {
            ident.get("system"): (index, ident.get("value"))
            for index, ident in enumerate(identifiers)
            if isinstance(ident, dict)
        }
        if named_by.record not in named:
            continue
        ref = str(named[named_by.record][1])
        where = f"/entry/{at}/resource/identifier"
        mapped.add(ref)
        if ref not in records:
            found.append(
                finding("L909", name, where, f"maps {ref}, which the export does not hold")
            )
            continue
        index, digest = named.get(named_by.record_sha256, (len(identifiers), None))
        if digest != records[ref]["sha256"]:
            found.append(
                finding("L909", name, f"{where}/{index}", f"{ref}'s hash differs from its record's")
            )
    found += [
        finding("L909", name, "/entry", f"has no resource for {ref}")
        for ref in sorted(set(records) - mapped)
    ]
    return found
