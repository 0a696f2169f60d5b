"""``fhir_base`` in ledger.toml: the base of every FHIR naming and code system, in R5 and R4B,
in provenance and in audit exports, with resource ids that do not depend on it; a copy of the
demo repository, FHIR checked by the guard, fhir.resources and the official HL7 schemas."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import best_match

from ledger.fhir.checks import bundle_problems
from ledger.fhir.ids import DEFAULT_BASE, FORMER_BASE, NAMESPACE, systems
from ledger.fhir.versions import fhir_version
from tests.conftest import git, run_ledger

BASE = "https://fhir.example-hospital.org/ledger/"
VERSIONS = ["R5", "R4B"]
# Where a system URI stands: ledger's own are the ones under a base.
_SYSTEM = re.compile(r'"system": ?"([^"]*)"')
HL7 = ("http://terminology.hl7.org/", "http://hl7.org/", "urn:", "http://unitsofmeasure.org")


def set_base(repo: Path, base: str) -> None:
    toml = repo / "ledger.toml"
    text = re.sub(r"(?m)^fhir_base = .*\n", "", toml.read_text())
    toml.write_text(text.replace("[ledger]\n", f'[ledger]\nfhir_base = "{base}"\n', 1))


def provenance(repo: Path, version: str) -> str:
    result = run_ledger("provenance", "--fhir-version", version, cwd=repo)
    assert result.code == 0, result.err
    return result.out


def own_systems(text: str) -> set[str]:
    """The system URIs that are not HL7's, FHIR's or UCUM's own."""
    return {s for s in _SYSTEM.findall(text) if not s.startswith(HL7)}


def used(base: str) -> set[str]:
    """The systems a Bundle uses: all but the git commit's, which ``meta.source`` names as a
    SWHID instead."""
    named = systems(base)
    return set(named[1:]) - {named.git_commit, named.git_commit_code}


def ids(text: str) -> list[str]:
    return [entry["fullUrl"] for entry in json.loads(text)["entry"]]


def assert_valid(text: str, version: str, official_schema: Any) -> None:
    bundle = json.loads(text)
    assert bundle_problems(bundle, version) == []
    fhir_version(version).model("Bundle").model_validate(bundle)
    error = best_match(official_schema(version).iter_errors(bundle))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"


def test_the_default_base_is_the_package_index_name_and_ids_keep_their_namespace(
    demo_repo: Path,
) -> None:
    text = provenance(demo_repo, "R5")
    assert own_systems(text) == used(DEFAULT_BASE)  # every one, each under it
    assert DEFAULT_BASE == "https://pypi.org/project/healthcare-ai-ledger/fhir/"
    assert ".invalid" not in text
    # The namespace of the ids stays the one of the base before the setting.
    assert uuid.uuid5(uuid.NAMESPACE_URL, "https://ledger.invalid/fhir/") == NAMESPACE
    assert FORMER_BASE == "https://ledger.invalid/fhir/"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_configured_base_names_every_system_valid_and_with_the_same_ids(
    repo: Path, official_schema: Any, version: str
) -> None:
    before = provenance(repo, version)
    set_base(repo, BASE)
    text = provenance(repo, version)
    assert_valid(text, version, official_schema)
    assert own_systems(text) == used(BASE)
    assert DEFAULT_BASE not in text
    assert ids(text) == ids(before)  # the same resources, under the same ids
    # Only the systems differ: with them put back, the same bytes.
    assert text.replace(BASE, DEFAULT_BASE) == before
    assert provenance(repo, version) == text  # the same bytes twice
    ndjson = run_ledger("provenance", "--fhir-version", version, "--format", "ndjson", cwd=repo)
    assert ndjson.code == 0 and own_systems(ndjson.out) == used(BASE)


def test_w3c_prov_names_live_under_the_configured_base(repo: Path) -> None:
    def prov() -> str:
        result = run_ledger("provenance", "--format", "prov-json", cwd=repo)
        assert result.code == 0, result.err
        return result.out

    assert f'"{DEFAULT_BASE}record/"' in prov()
    set_base(repo, BASE)
    text = prov()
    assert f'"{BASE}record/"' in text and DEFAULT_BASE not in text


def test_kept_fhir_entries_never_serve_another_base(repo: Path) -> None:
    kept = repo / ".git" / "ledger"
    first = provenance(repo, "R5")
    assert any(kept.rglob("values.sqlite"))  # entries were kept, by a key
    set_base(repo, BASE)
    second = provenance(repo, "R5")
    assert own_systems(second) == used(BASE)
    # What a run that keeps nothing gives.
    fresh = repo.parent / "fresh"
    shutil.copytree(repo, fresh, symlinks=True)
    shutil.rmtree(fresh / ".git" / "ledger")
    assert provenance(fresh, "R5") == second
    set_base(repo, DEFAULT_BASE)  # and back: the old entries are the old base's
    assert provenance(repo, "R5") == first


@pytest.mark.parametrize(
    "value",
    [
        '"https://fhir.example-hospital.org/ledger"',  # no final /
        '"fhir.example-hospital.org/ledger/"',
        '"ftp://fhir.example-hospital.org/ledger/"',
        '"https:///ledger/"',
        '"https://fhir.example-hospital.org/ledger/?v=1/"',
        '"https://fhir.example-hospital.org/a b/"',
        '"https://user@fhir.example-hospital.org/ledger/"',
        "3",
    ],
)
def test_a_bad_base_is_one_line_naming_file_and_setting_and_exit_2(repo: Path, value: str) -> None:
    toml = repo / "ledger.toml"
    toml.write_text(toml.read_text().replace("[ledger]\n", f"[ledger]\nfhir_base = {value}\n", 1))
    for args in (("provenance",), ("verify",)):
        result = run_ledger(*args, cwd=repo)
        assert result.code == 2, result.err
        (line,) = result.err.strip().splitlines()
        assert "ledger.toml: fhir_base must be an absolute https:// or http:// URL" in line
        assert "fhir.example-hospital.org/ledger/" in line  # what to set instead


def test_init_documents_the_setting_and_its_default_loads(tmp_path: Path) -> None:
    assert run_ledger("init", str(tmp_path / "new"), cwd=tmp_path).code == 0
    text = (tmp_path / "new" / "ledger.toml").read_text()
    assert "# fhir_base = " in text and "package index" in text
    from ledger.config import load_config

    assert load_config(tmp_path / "new").fhir_base == DEFAULT_BASE


def _entries(path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def _with_manifest(path: Path, out: Path, edit: Any) -> Path:
    entries = _entries(path)
    with zipfile.ZipFile(out, "w") as archive:
        for info, data in entries:
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                edit(manifest)
                data = json.dumps(manifest).encode()
            archive.writestr(info, data)
    return out


def _verify_export(path: Path) -> tuple[int, set[tuple[str, str]]]:
    result = run_ledger("verify-export", str(path), "--format", "json", cwd=path.parent)
    assert result.code in (0, 1), result.err
    return result.code, {(f["code"], f["path"]) for f in json.loads(result.out)["findings"]}


def test_an_export_names_its_base_and_verify_export_finds_records_by_it(repo: Path) -> None:
    set_base(repo, BASE)
    git("commit", "-qam", "Our own FHIR base", cwd=repo)
    out = repo.parent / "audit.zip"
    assert run_ledger("export", "-o", str(out), cwd=repo).code == 0
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["fhir_base"] == BASE
    bundle = zipfile.ZipFile(out).read("fhir/provenance-r4b.json").decode()
    assert own_systems(bundle) == used(BASE)
    assert _verify_export(out) == (0, set())

    def other(manifest: dict[str, Any]) -> None:
        manifest["fhir_base"] = DEFAULT_BASE

    code, found = _verify_export(_with_manifest(out, repo.parent / "other.zip", other))
    assert code == 1 and ("L909", "fhir/provenance-r5.json") in found

    def broken(manifest: dict[str, Any]) -> None:
        manifest["fhir_base"] = "https://fhir.example-hospital.org/ledger"

    code, found = _verify_export(_with_manifest(out, repo.parent / "broken.zip", broken))
    assert code == 1 and ("L904", "manifest.json") in found


def test_an_export_from_before_the_setting_is_read_with_the_former_base(repo: Path) -> None:
    """An export made before ``fhir_base`` existed has no base in its manifest, and its
    Bundles' systems lie under the former base."""
    set_base(repo, FORMER_BASE)  # still accepted as a setting: it is a URL ending in /
    git("commit", "-qam", "The former base", cwd=repo)
    out = repo.parent / "audit.zip"
    assert run_ledger("export", "-o", str(out), cwd=repo).code == 0

    def former(manifest: dict[str, Any]) -> None:
        del manifest["fhir_base"]

    old = _with_manifest(out, repo.parent / "old.zip", former)
    assert _verify_export(old) == (0, set())
    assert hashlib.sha256(zipfile.ZipFile(old).read("manifest.json")).hexdigest()
