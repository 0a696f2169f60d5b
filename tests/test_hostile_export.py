"""Audit exports built by someone hiding a change: odd entries, forged manifests and copies.

Each case rewrites a real export of the demo with ``zipfile`` (and, where zipfile will not
write what an attacker can, by patching the zip's bytes), then runs ``ledger verify-export``
as an auditor would. The command must name the entry with the rule code, exit 1 and never
crash, and read no more into memory than the checks need.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ledger.fhir.ids import systems
from tests.conftest import LEDGER, run_ledger

RECORD = "records/dataset/sepsis-test/1.0.json"
REF = "dataset:sepsis-test@1.0"
Entries = list[tuple[zipfile.ZipInfo, bytes]]


def _entries(path: Path) -> Entries:
    with zipfile.ZipFile(path) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def _write(path: Path, entries: Entries) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": the point of some cases
        for info, data in entries:
            archive.writestr(info, data)
    return path


def _content(entries: Entries, name: str) -> bytes:
    return next(data for info, data in entries if info.filename == name)


def _with_manifest(entries: Entries, manifest: dict[str, Any]) -> Entries:
    text = json.dumps(manifest).encode()
    return [(i, text if i.filename == "manifest.json" else d) for i, d in entries]


def _replaced(entries: Entries, changes: dict[str, bytes], *, rehash: bool = True) -> Entries:
    """The entries with some contents replaced and, with ``rehash``, a manifest that vouches
    for the new contents (what a forger who rewrote the manifest too would hand over)."""
    out = [(info, changes.get(info.filename, data)) for info, data in entries]
    if not rehash:
        return out
    manifest = json.loads(_content(out, "manifest.json"))
    for name, data in changes.items():
        manifest["files"][name] = hashlib.sha256(data).hexdigest()
    return _with_manifest(out, manifest)


def _verify(path: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = run_ledger("verify-export", str(path), "--format", "json", *args, cwd=path.parent)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)["findings"]


def _codes(findings: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(f["code"], f["path"]) for f in findings}


def _patch_headers(data: bytes, name: str, *, flags: int = 0, method: int | None = None) -> bytes:
    """Set bits of an entry's flags, or its compression method, in the local header and in
    the central directory, as a hand-made zip can."""
    out = bytearray(data)
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        local = archive.getinfo(name).header_offset
    at = data.find(b"PK\x01\x02")
    central = []
    while at != -1:
        (length,) = struct.unpack_from("<H", data, at + 28)
        if data[at + 46 : at + 46 + length] == name.encode():
            central.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    for header, (flag_at, method_at) in [(local, (6, 8))] + [(c, (8, 10)) for c in central]:
        (old,) = struct.unpack_from("<H", out, header + flag_at)
        struct.pack_into("<H", out, header + flag_at, old | flags)
        if method is not None:
            struct.pack_into("<H", out, header + method_at, method)
    return bytes(out)


def test_an_untouched_export_verifies_with_its_manifest_anchor(
    demo_repo: Path, exported: Path, tmp_path: Path
) -> None:
    anchor = hashlib.sha256(zipfile.ZipFile(exported).read("manifest.json")).hexdigest()
    assert _verify(exported, "--expect-manifest", anchor) == (0, [])
    assert _verify(exported, "--expect-manifest", anchor.upper()) == (0, [])


def test_a_manifest_other_than_the_one_handed_over_is_named(exported: Path) -> None:
    code, findings = _verify(exported, "--expect-manifest", "0" * 64)
    assert code == 1 and _codes(findings) == {("L908", "manifest.json")}


def test_a_malformed_anchor_is_a_usage_error_before_anything_is_read(tmp_path: Path) -> None:
    result = run_ledger("verify-export", "nope.zip", "--expect-manifest", "abc", cwd=tmp_path)
    assert result.code == 2 and "64 hex characters" in result.err


def test_a_fully_forged_export_fails_only_against_the_anchor(
    exported: Path, tmp_path: Path
) -> None:
    """Rewriting a record, every hash that pins it, its copies and the manifest leaves a
    consistent bundle: what catches it is the manifest SHA-256 handed over separately."""
    entries = _entries(exported)
    anchor = hashlib.sha256(_content(entries, "manifest.json")).hexdigest()
    readme = _content(entries, "README.md") + b"\nForged.\n"
    forged = _write(tmp_path / "forged.zip", _replaced(entries, {"README.md": readme}))
    assert _verify(forged) == (0, [])
    code, findings = _verify(forged, "--expect-manifest", anchor)
    assert code == 1 and _codes(findings) == {("L908", "manifest.json")}


@pytest.mark.parametrize(
    ("flags", "method"),
    [(0x1, None), (0, 1), (0, 98), (0, 99)],
    ids=["encrypted", "shrunk", "ppmd", "aes"],
)
def test_an_entry_zipfile_cannot_read_is_named(
    exported: Path, tmp_path: Path, flags: int, method: int | None
) -> None:
    data = _patch_headers(exported.read_bytes(), RECORD, flags=flags, method=method)
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(data)
    code, findings = _verify(hostile)
    assert code == 1
    assert ("L906", RECORD) in _codes(findings)
    assert ("L902", RECORD) not in _codes(findings)  # reported once, as what it is


def test_corrupt_compressed_data_is_named(exported: Path, tmp_path: Path) -> None:
    name = "lineage/lineage.html"
    data = bytearray(exported.read_bytes())
    info = zipfile.ZipFile(exported).getinfo(name)
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    for at in range(start + 100, start + 140):
        data[at] ^= 0x5A
    hostile = tmp_path / "corrupt.zip"
    hostile.write_bytes(bytes(data))
    code, findings = _verify(hostile)
    assert code == 1 and ("L906", name) in _codes(findings)


def test_a_tampered_copy_placed_before_the_genuine_entry_is_named(
    exported: Path, tmp_path: Path
) -> None:
    entries = _entries(exported)
    original = _content(entries, RECORD)
    tampered = original.replace(b"held-out", b"hold-out", 1)
    assert tampered != original
    hostile = _write(tmp_path / "twice.zip", [(zipfile.ZipInfo(RECORD), tampered), *entries])
    # unzip extracts one of the two; which one depends on the tool.
    code, findings = _verify(hostile)
    assert code == 1 and ("L907", RECORD) in _codes(findings)
    assert any("2 times" in f["message"] for f in findings if f["code"] == "L907")


@pytest.mark.parametrize(
    "name",
    [
        "Records/dataset/sepsis-test/1.0.json",
        "records/dataset/sepsis-test/1.0.JSON",
    ],
    ids=["folder-case", "suffix-case"],
)
def test_names_one_file_system_merges_are_both_named(
    exported: Path, tmp_path: Path, name: str
) -> None:
    hostile = _write(tmp_path / "case.zip", [*_entries(exported), (zipfile.ZipInfo(name), b"{}")])
    code, findings = _verify(hostile)
    assert code == 1
    assert {("L907", RECORD), ("L907", name)} <= _codes(findings)


def test_unicode_spellings_of_one_name_are_named(exported: Path, tmp_path: Path) -> None:
    composed, decomposed = "notes/caf\u00e9.txt", "notes/cafe\u0301.txt"
    entries = [
        *_entries(exported),
        (zipfile.ZipInfo(composed), b"a"),
        (zipfile.ZipInfo(decomposed), b"b"),
    ]
    code, findings = _verify(_write(tmp_path / "nfc.zip", entries))
    assert code == 1
    assert {("L907", composed), ("L907", decomposed)} <= _codes(findings)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../outside.txt", "../outside.txt"),
        ("/etc/ledger.txt", "/etc/ledger.txt"),
        ("records\\dataset\\x.json", "records\\dataset\\x.json"),
        ("records//dataset/x.json", "records//dataset/x.json"),
        ("notes/line\nbreak.txt", "notes/line\\x0abreak.txt"),
    ],
    ids=["dot-dot", "absolute", "backslash", "empty-part", "newline"],
)
def test_names_that_extract_elsewhere_are_named(
    exported: Path, tmp_path: Path, name: str, shown: str
) -> None:
    hostile = _write(tmp_path / "path.zip", [*_entries(exported), (zipfile.ZipInfo(name), b"x")])
    code, findings = _verify(hostile)
    assert code == 1 and ("L907", shown) in _codes(findings)


def test_a_record_entry_that_is_a_symbolic_link_is_named(exported: Path, tmp_path: Path) -> None:
    """unzip restores a link, which the auditor's viewer follows to another file; the bytes
    inside (the link's target) happen to be what the manifest vouches for."""
    entries = []
    for info, data in _entries(exported):
        if info.filename == RECORD:
            info.external_attr = 0o120777 << 16
            info.create_system = 3
        entries.append((info, data))
    code, findings = _verify(_write(tmp_path / "link.zip", entries))
    assert code == 1 and ("L907", RECORD) in _codes(findings)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda m: m["records"].__setitem__(REF, "not an object"), f"/records/{REF}"),
        (lambda m: m["records"].__setitem__(REF, {"path": RECORD}), f"/records/{REF}"),
        (
            lambda m: m["files"].__setitem__(RECORD, 42),
            "/files/records~1dataset~1sepsis-test~11.0.json",
        ),
        (lambda m: m.__setitem__("commit", "HEAD"), "/commit"),
        (
            lambda m: m["records"][REF].__setitem__("path", "fhir/provenance-r5.json"),
            None,
        ),
    ],
    ids=["record-not-object", "record-without-hash", "file-hash-not-string", "commit", "path"],
)
def test_malformed_manifest_entries_are_named_at_their_pointer(
    exported: Path, tmp_path: Path, change: Any, pointer: str | None
) -> None:
    entries = _entries(exported)
    manifest = json.loads(_content(entries, "manifest.json"))
    change(manifest)
    code, findings = _verify(_write(tmp_path / "manifest.zip", _with_manifest(entries, manifest)))
    assert code == 1
    if pointer is None:  # a record placed at another file: that record is not in the export
        assert ("L902", "fhir/provenance-r5.json") in _codes(findings), findings
    else:
        assert any(f["code"] == "L904" and f["pointer"] == pointer for f in findings), findings


_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stderr)
"""


def _peak_mb(*args: str, cwd: Path) -> tuple[int, float]:
    """Exit code and peak resident memory of one ledger run, in MB, measured from a fresh
    process: ``RUSAGE_CHILDREN`` of this one holds the largest of every earlier test's runs."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, LEDGER, *args], cwd=cwd, capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    code, peak_kb = done.stdout.split()
    return int(code), int(peak_kb) / 1024


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux")
def test_huge_entries_are_hashed_as_they_stream_not_held(exported: Path, tmp_path: Path) -> None:
    """Three 200 MiB entries (a few hundred kB each compressed): one unlisted, one in place
    of the FHIR Bundle, one in place of a record. Held in memory, they would take 600 MiB."""
    huge = b"\0" * (200 << 20)
    entries = []
    for info, data in _entries(exported):
        info.compress_type = zipfile.ZIP_DEFLATED
        if info.filename in (RECORD, "fhir/provenance-r5.json"):
            data = huge
        entries.append((info, data))
    extra = zipfile.ZipInfo("padding.bin")
    extra.compress_type = zipfile.ZIP_DEFLATED
    hostile = _write(tmp_path / "huge.zip", [*entries, (extra, huge)])
    assert hostile.stat().st_size < 10 << 20
    code, peak = _peak_mb("verify-export", str(hostile), "--format", "json", cwd=tmp_path)
    assert code == 1
    assert peak < 400, f"{peak:.0f} MB"
    _, findings = _verify(hostile)
    codes = _codes(findings)
    assert {("L901", "padding.bin"), ("L903", "fhir/provenance-r5.json"), ("L903", RECORD)} <= codes
    assert any(f["code"] == "L007" and str(200 << 20) in f["message"] for f in findings)


def _lineage_with(entries: Entries, field: str, value: str) -> bytes:
    lineage = json.loads(_content(entries, "lineage/lineage.json"))
    for node in lineage["nodes"]:
        if node.get("id") == f"record:{REF}":
            node[field] = value
    return json.dumps(lineage).encode()


def _fhir_with(entries: Entries, value: str) -> bytes:
    """The R5 Bundle with the record hash identifying the dataset's resource replaced."""
    bundle = json.loads(_content(entries, "fhir/provenance-r5.json"))
    for item in bundle["entry"]:
        identifiers = item["resource"].get("identifier", [])
        if {"system": systems().record, "value": REF} in identifiers:
            for ident in identifiers:
                if ident["system"] == systems().record_sha256:
                    ident["value"] = value
    return json.dumps(bundle).encode()


def _history_with(entries: Entries, field: str, value: str) -> bytes:
    name = "history/" + RECORD.removeprefix("records/")
    history = json.loads(_content(entries, name))
    history["history"][-1][field] = value
    return json.dumps(history).encode()


@pytest.mark.parametrize(
    ("build", "name", "pointer"),
    [
        (
            lambda e: {"lineage/lineage.json": _lineage_with(e, "sha256", "a" * 64)},
            "lineage/lineage.json",
            "/sha256",
        ),
        (
            lambda e: {"lineage/lineage.json": _lineage_with(e, "blob", "b" * 40)},
            "lineage/lineage.json",
            "/blob",
        ),
        (
            lambda e: {
                "history/dataset/sepsis-test/1.0.json": _history_with(e, "sha256", "c" * 64)
            },
            "history/dataset/sepsis-test/1.0.json",
            "/sha256",
        ),
        (
            lambda e: {"history/dataset/sepsis-test/1.0.json": _history_with(e, "blob", "d" * 40)},
            "history/dataset/sepsis-test/1.0.json",
            "/blob",
        ),
        (
            lambda e: {"verification/report.json": json.dumps({"commit": "e" * 40}).encode()},
            "verification/report.json",
            "/commit",
        ),
        (
            lambda e: {"fhir/provenance-r5.json": _fhir_with(e, "f" * 64)},
            "fhir/provenance-r5.json",
            "/identifier/1",
        ),
    ],
    ids=["lineage-hash", "lineage-blob", "history-hash", "history-blob", "report-commit", "fhir"],
)
def test_copies_that_disagree_with_the_records_are_named(
    exported: Path, tmp_path: Path, build: Any, name: str, pointer: str
) -> None:
    """The manifest is rewritten to vouch for the edited copy, as a forger would."""
    entries = _entries(exported)
    forged = _write(tmp_path / "copy.zip", _replaced(entries, build(entries)))
    code, findings = _verify(forged)
    assert code == 1
    assert [
        f
        for f in findings
        if f["code"] == "L909" and f["path"] == name and f["pointer"].endswith(pointer)
    ], findings


def test_a_rewritten_record_with_a_rewritten_manifest_is_caught_by_its_copies(
    exported: Path, tmp_path: Path
) -> None:
    """A forger edits a record that nothing links to and rewrites the manifest's file and
    record hashes for it: the canonical hash and links agree, the copies do not."""
    from ledger.records.canonical import record_hash

    entries = _entries(exported)
    name = "records/evaluation/sepsis-risk-heldout/1.1.json"
    ref = "evaluation:sepsis-risk-heldout@1.1"
    record = json.loads(_content(entries, name))
    record["description"] += " Every subgroup passed."
    data = (json.dumps(record, indent=2) + "\n").encode()
    forged_entries = _replaced(entries, {name: data})
    manifest = json.loads(_content(forged_entries, "manifest.json"))
    manifest["records"][ref]["sha256"] = record_hash(record)
    forged = _write(tmp_path / "forged.zip", _with_manifest(forged_entries, manifest))
    code, findings = _verify(forged)
    assert code == 1
    paths = {f["path"] for f in findings if f["code"] == "L909"}
    assert paths == {
        "lineage/lineage.json",
        "history/evaluation/sepsis-risk-heldout/1.1.json",
        "fhir/provenance-r5.json",
        "fhir/provenance-r4b.json",
    }
    assert not [f for f in findings if f["code"] != "L909"], findings


def test_a_record_whose_history_was_removed_from_export_and_manifest_is_named(
    exported: Path, tmp_path: Path
) -> None:
    history = "history/dataset/sepsis-test/1.0.json"
    entries = [(i, d) for i, d in _entries(exported) if i.filename != history]
    manifest = json.loads(_content(entries, "manifest.json"))
    del manifest["files"][history]
    code, findings = _verify(_write(tmp_path / "nohistory.zip", _with_manifest(entries, manifest)))
    assert code == 1 and _codes(findings) == {("L909", history)}


LEAF = "records/evaluation/sepsis-risk-heldout/1.1.json"  # a record no other links to


def _failing(repo: Path) -> Path:
    """The demo with a committed record edited in place: verify fails (L601), and the records
    as committed still make a sound tree."""
    path = repo / LEAF
    data = json.loads(path.read_text())
    data["description"] += " Edited."
    path.write_text(json.dumps(data, indent=2))
    subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "commit", "-qam", "Edit in place"],
        cwd=repo,
        check=True,
    )
    return repo


def test_an_export_of_a_failing_ledger_is_refused(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.zip"
    refused = run_ledger("export", "-o", str(out), cwd=_failing(repo))
    assert refused.code == 1
    assert f"{LEAF}: error L601 changed after it was committed" in refused.err
    assert "ledger: export refused: ledger verify finds 1 error(s)" in refused.err
    assert not out.exists()


def test_an_allowed_failing_export_says_so_first_and_does_not_pass(
    repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "audit.zip"
    done = run_ledger("export", "-o", str(out), "--allow-findings", cwd=_failing(repo))
    assert done.code == 0 and "verification failed: 1 error(s)" in done.out
    entries = _entries(out)
    readme = _content(entries, "README.md").decode()
    assert readme.splitlines()[2].startswith("**Verification FAILED at this commit: 1 error(s)**")
    manifest = json.loads(_content(entries, "manifest.json"))
    recorded = manifest["verification"]
    assert (recorded["ok"], recorded["errors"]) == (False, 1)
    checked = run_ledger("verify-export", str(out), cwd=tmp_path)
    assert checked.code == 1
    assert f"export of commit {manifest['commit']}" in checked.out
    sha = hashlib.sha256(_content(entries, "manifest.json")).hexdigest()
    assert f"manifest sha256 {sha}" in checked.out
    assert "recorded verification: FAILED, 1 error(s)" in checked.out
    assert checked.out.endswith("the export is intact (7 record(s)), but its ledger failed\n")

    # Editing the recorded failure out of the manifest leaves the report disagreeing with it.
    manifest["verification"] = {**recorded, "ok": True, "errors": 0}
    forged = _write(tmp_path / "forged.zip", _with_manifest(entries, manifest))
    code, findings = _verify(forged)
    assert code == 1
    assert ("L909", "verification/report.json") in _codes(findings)


def test_verify_export_prints_what_the_export_says_of_itself(exported: Path) -> None:
    checked = run_ledger("verify-export", str(exported), "--format", "json", cwd=exported.parent)
    assert checked.code == 0
    facts = json.loads(checked.out)["export"]
    assert facts["intact"] is True and facts["verification"]["ok"] is True
    manifest = _content(_entries(exported), "manifest.json")
    assert facts["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert facts["commit"] == json.loads(manifest)["commit"]


def _ssh_key(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key, key.with_suffix(".pub").read_text().strip()


def _signing_repo(repo: Path, key: Path) -> Path:
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key))):
        subprocess.run(["git", "config", name, value], cwd=repo, check=True)
    return repo


def test_a_signed_export_is_checked_against_allowed_signers(repo: Path, tmp_path: Path) -> None:
    key, public = _ssh_key(tmp_path, "producer")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'qa@example.org namespaces="ledger-export" {public}\n')
    out = tmp_path / "signed.zip"
    done = run_ledger("export", "-o", str(out), "--sign", cwd=_signing_repo(repo, key))
    assert done.code == 0 and "signed yes" in done.out, done.err
    again = tmp_path / "again.zip"
    assert run_ledger("export", "-o", str(again), "--sign", cwd=repo).code == 0
    assert again.read_bytes() == out.read_bytes()  # Ed25519 signatures are deterministic

    checked = run_ledger("verify-export", str(out), "--allowed-signers", str(allowed), cwd=tmp_path)
    assert checked.code == 0, checked.out
    assert "signed by qa@example.org" in checked.out
    unchecked = run_ledger("verify-export", str(out), cwd=tmp_path)
    assert unchecked.code == 0 and "signed; give --allowed-signers FILE" in unchecked.out

    # A key the auditor does not trust, and a signature over other bytes, are both L910.
    stranger, _ = _ssh_key(tmp_path, "stranger")
    entries = _entries(out)
    manifest = _content(entries, "manifest.json")
    forged_sig = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-q", "-f", str(stranger), "-n", "ledger-export"],
        input=manifest,
        capture_output=True,
        check=True,
    ).stdout
    forged = _write(
        tmp_path / "stranger.zip",
        _replaced(entries, {"manifest.json.sig": forged_sig}, rehash=False),
    )
    code, findings = _verify(forged, "--allowed-signers", str(allowed))
    assert code == 1 and ("L910", "manifest.json.sig") in _codes(findings)
    edited = json.loads(manifest)
    edited["ledger_version"] = "0.0.0"
    tampered = _write(tmp_path / "tampered.zip", _with_manifest(entries, edited))
    code, findings = _verify(tampered, "--allowed-signers", str(allowed))
    assert code == 1 and ("L910", "manifest.json.sig") in _codes(findings)


def test_an_unsigned_export_fails_a_signature_check(exported: Path, tmp_path: Path) -> None:
    _, public = _ssh_key(tmp_path, "auditor")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"qa@example.org {public}\n")
    code, findings = _verify(exported, "--allowed-signers", str(allowed))
    assert code == 1
    assert {(f["code"], f["message"]) for f in findings} >= {("L910", "the export is not signed")}


def test_export_sign_without_a_signing_key_says_how_to_set_one(repo: Path, tmp_path: Path) -> None:
    done = run_ledger("export", "-o", str(tmp_path / "x.zip"), "--sign", cwd=repo)
    assert done.code == 2 and "git config gpg.format ssh" in done.err
    assert not (tmp_path / "x.zip").exists()
