"""A Bulk Data file set (`provenance --format ndjson -o DIR`) and a transaction Bundle
(`--bundle-type transaction`): what a FHIR server or a Bulk Data client loads as meant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import best_match

from ledger.fhir.versions import fhir_version
from tests.conftest import git, run_ledger, supersede_evaluation

VERSIONS = ["R5", "R4B"]
Json = dict[str, Any]


def _file_set(repo: Path, out: Path, *args: str) -> Json:
    done = run_ledger("provenance", "--format", "ndjson", "-o", str(out), *args, cwd=repo)
    assert done.code == 0, done.err
    manifest: Json = json.loads((out / "manifest.json").read_text())
    return manifest


def _lines(path: Path) -> list[Json]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _references(value: Any) -> list[str]:
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    if not isinstance(value, dict):
        return []
    found = [value["reference"]] if isinstance(value.get("reference"), str) else []
    return found + [r for v in value.values() for r in _references(v)]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_file_per_resource_type_whose_references_resolve_within_the_set(
    demo_repo: Path, tmp_path: Path, version: str
) -> None:
    out = tmp_path / "bulk"
    manifest = _file_set(demo_repo, out, "--fhir-version", version)
    model = fhir_version(version)
    present: set[str] = set()
    references: list[str] = []
    for item in manifest["output"]:
        path = out / item["url"]
        assert item["url"] == f"{item['type']}.ndjson"
        resources = _lines(path)
        assert item["count"] == len(resources) > 0
        assert item["fileSize"] == path.stat().st_size
        for resource in resources:
            assert resource["resourceType"] == item["type"]  # one type per file
            model.model(item["type"]).model_validate(resource)
            present.add(f"{item['type']}/{resource['id']}")
            references += _references(resource)
    assert references and set(references) <= present  # relative, and every one resolves
    files = {p.name for p in out.iterdir()}
    assert files == {"manifest.json", ".ledger-bulk.json"} | {i["url"] for i in manifest["output"]}
    assert {i["type"] for i in manifest["output"]} >= {"Provenance", "Device", "Observation"}


def test_the_manifest_follows_the_bulk_data_ig(demo_repo: Path, tmp_path: Path) -> None:
    manifest = _file_set(demo_repo, tmp_path / "bulk")
    assert manifest["manifestType"] == (
        "http://hl7.org/fhir/uv/bulkdata/StructureDefinition/BulkDataManifest"
    )
    assert manifest["requiresAccessToken"] is False
    assert manifest["outputFormat"] == "application/fhir+ndjson"
    # The data as of the latest commit that recorded a version: the demo's HEAD.
    head = git("show", "-s", "--format=%cI", "HEAD", cwd=demo_repo).strip()
    assert manifest["transactionTime"] == head.replace("+00:00", "Z")


def test_files_url_makes_the_manifest_urls_absolute(demo_repo: Path, tmp_path: Path) -> None:
    served = "https://files.example.org/ledger/2026-12"
    manifest = _file_set(demo_repo, tmp_path / "bulk", "--files-url", served)
    assert all(i["url"] == f"{served}/{i['type']}.ndjson" for i in manifest["output"])
    refused = run_ledger(
        "provenance",
        "--format",
        "ndjson",
        "-o",
        str(tmp_path / "b2"),
        "--files-url",
        "files/",
        cwd=demo_repo,
    )
    assert refused.code == 2 and "give an absolute http(s) URL" in refused.err
    assert not (tmp_path / "b2").exists()


def test_the_same_revision_gives_the_same_bytes_and_replaces_its_own_set(
    demo_repo: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    _file_set(demo_repo, first)
    _file_set(demo_repo, second)
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    _file_set(demo_repo, first, "--rev", "HEAD~2")  # a previous set is replaced whole
    earlier, now = (len(_lines(out / "Provenance.ndjson")) for out in (first, second))
    assert earlier < now


def test_a_folder_that_is_not_a_file_set_is_refused_and_left_alone(
    demo_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    done = run_ledger("provenance", "--format", "ndjson", "-o", str(out), cwd=demo_repo)
    assert done.code == 2
    assert "is not a ledger Bulk Data file set" in done.err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.")]  # no leftovers


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transaction_puts_each_resource_at_its_own_id(
    demo_repo: Path, official_schema: Any, version: str
) -> None:
    done = run_ledger(
        "provenance", "--fhir-version", version, "--bundle-type", "transaction", cwd=demo_repo
    )
    assert done.code == 0, done.err
    bundle = json.loads(done.out)
    assert bundle["type"] == "transaction"
    fhir_version(version).model("Bundle").model_validate(bundle)
    error = best_match(official_schema(version).iter_errors(bundle))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"
    urls = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        urls.append(entry["request"]["url"])
    assert len(urls) == len(set(urls))
    collection = json.loads(run_ledger("provenance", "--fhir-version", version, cwd=demo_repo).out)
    assert bundle["id"] != collection["id"]
    assert [e["resource"] for e in bundle["entry"]] == [e["resource"] for e in collection["entry"]]


def test_loading_a_later_transaction_puts_the_same_ids_and_content_for_what_did_not_change(
    repo: Path, tmp_path: Path
) -> None:
    """What makes loading idempotent: a resource's id and content depend on what it is made
    of, so a server that loaded the earlier transaction updates only what changed."""

    def puts() -> dict[str, Json]:
        done = run_ledger("provenance", "--bundle-type", "transaction", cwd=repo)
        assert done.code == 0, done.err
        return {e["request"]["url"]: e["resource"] for e in json.loads(done.out)["entry"]}

    before = puts()
    assert puts() == before
    supersede_evaluation(repo, tmp_path, lambda draft: None)
    after = puts()
    assert len(after) > len(before)
    changed = [url for url in before if after.get(url) != before[url]]
    assert changed == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "ndjson", "--bundle-type", "transaction"], "--bundle-type goes with"),
        (["--format", "ndjson", "--files-url", "https://x.org/"], "--files-url goes with"),
        (["--format", "provn", "--bundle-type", "transaction"], "--bundle-type goes with"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    demo_repo: Path, args: list[str], message: str
) -> None:
    done = run_ledger("provenance", *args, cwd=demo_repo)
    assert done.code == 2 and message in done.err


def test_a_folder_for_a_single_file_format_is_a_usage_error(
    demo_repo: Path, tmp_path: Path
) -> None:
    done = run_ledger("provenance", "-o", str(tmp_path), cwd=demo_repo)
    assert done.code == 2 and "is a folder" in done.err
