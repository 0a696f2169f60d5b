"""Pull-request reviews, comparisons and offline audit exports, as users and auditors run them."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, run_ledger

EVAL_10 = "evaluation:sepsis-risk-heldout@1.0"
EVAL_11 = "evaluation:sepsis-risk-heldout@1.1"


def test_markdown_review_names_every_changed_record_and_the_metric_deltas(
    demo_repo: Path,
) -> None:
    result = run_ledger("diff", "HEAD~2", "HEAD", "--format", "markdown", cwd=demo_repo)
    assert result.code == 0, result.err
    md = result.out
    for ref in ("model:sepsis-risk@1.1", EVAL_11):
        assert f"| added | `{ref}` |" in md
    assert "supersedes `model:sepsis-risk@1.0` (retrain)" in md
    assert f"### Metrics: `{EVAL_11}` vs `{EVAL_10}`" in md
    assert "| sensitivity | 0.8506 | 0.7701 | -0.0805 |" in md
    assert "```mermaid" in md and "No new errors." in md
    assert ":warning: `L801`" in md  # the demo's commits are unsigned
    assert "dataset:sepsis-cohort@1.1" not in md.split("### Records")[1].split("###")[0]


def test_json_review_and_text_review_agree(demo_repo: Path) -> None:
    review = json.loads(run_ledger("diff", "HEAD~2", "--format", "json", cwd=demo_repo).out)
    assert review["added"] == [EVAL_11, "model:sepsis-risk@1.1"]
    assert review["changed_in_place"] == [] and review["deleted"] == []
    text = run_ledger("diff", "HEAD~2", cwd=demo_repo).out
    assert text.splitlines()[-1] == "no violations"


def test_review_flags_a_record_changed_in_place(repo: Path) -> None:
    path = repo / "records/dataset/sepsis-test/1.0.json"
    data = json.loads(path.read_text())
    data["description"] += " Edited."
    path.write_text(json.dumps(data, indent=2))
    git("commit", "-qam", "Edit in place", cwd=repo)
    review = json.loads(run_ledger("diff", "HEAD~1", "--format", "json", cwd=repo).out)
    assert review["changed_in_place"] == ["records/dataset/sepsis-test/1.0.json"]
    assert {f["code"] for f in review["new_findings"]} >= {"L601", "L603"}
    md = run_ledger("diff", "HEAD~1", "--format", "markdown", cwd=repo).out
    assert "| :x: changed in place | `records/dataset/sepsis-test/1.0.json` |" in md


def test_two_exports_are_identical(demo_repo: Path, exported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    assert run_ledger("export", "--rev", "HEAD", "-o", str(again), cwd=demo_repo).code == 0
    assert again.read_bytes() == exported.read_bytes()


def _fhir_in_background(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make an export map its FHIR in a background process however small the ledger; the
    processes started, as the export asked for them."""
    from ledger import workers
    from ledger.audit import export as module

    started: list[object] = []

    def fork_background(*args: Any) -> Any:
        started.append(workers.fork_background(*args))
        return started[-1]

    monkeypatch.setenv("LEDGER_WORKERS", "2")
    monkeypatch.setattr(workers, "PARALLEL_FROM", 1)
    monkeypatch.setattr(module, "fork_background", fork_background)
    return started


def test_fhir_mapped_in_a_background_process_gives_the_same_export(
    demo_repo: Path, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.api import Ledger

    started = _fhir_in_background(monkeypatch)
    out = tmp_path / "audit.zip"
    shutil.rmtree(demo_repo / ".git/ledger", ignore_errors=True)  # nothing kept: all mapped
    with Ledger.open(demo_repo) as book:
        book.export(out)
    assert len(started) == 2 and None not in started  # one process per FHIR version
    assert out.read_bytes() == exported.read_bytes()
    with Ledger.open(demo_repo) as book:  # what the background process kept reads back
        book.export(out)
    assert out.read_bytes() == exported.read_bytes()


def test_parts_the_fhir_processes_take_give_the_same_export(
    demo_repo: Path, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FHIR processes, once done, take the technical files and the lineage when the
    parent has not reached them yet: the zip holds the same bytes."""
    import time

    from ledger.api import Ledger
    from ledger.audit import export as module

    started = _fhir_in_background(monkeypatch)
    helpers: list[Any] = []
    start_fhir, write_signoffs = module.start_fhir, module._write_signoffs

    def spy(state: Any) -> Any:
        helpers.append(start_fhir(state))
        return helpers[-1]

    def late(state: Any, bundle: Any) -> None:
        # The parent reaches the parts only once both are taken.
        folder = helpers[-1].claims.folder
        deadline = time.monotonic() + 120
        while not all((folder / part.name).exists() for part in helpers[-1].parts):
            assert time.monotonic() < deadline, "the FHIR processes took no part"
            time.sleep(0.05)
        write_signoffs(state, bundle)

    monkeypatch.setattr(module, "start_fhir", spy)
    monkeypatch.setattr(module, "_write_signoffs", late)
    out = tmp_path / "audit.zip"
    shutil.rmtree(demo_repo / ".git/ledger", ignore_errors=True)
    with Ledger.open(demo_repo) as book:
        book.export(out)
    assert len(started) == 2
    taken = [part for done in helpers[-1]._done for part in done.parts]
    assert sorted(taken) == sorted(part.name for part in helpers[-1].parts)
    assert out.read_bytes() == exported.read_bytes()
    assert not helpers[-1].claims.folder.exists()  # removed with the processes' files


def test_an_error_in_the_background_process_stops_the_export(
    demo_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import threading

    from ledger.api import Ledger
    from ledger.fhir import bundle
    from ledger.fhir.checks import FhirMappingError
    from ledger.workers import Background

    def fail(*args: object) -> object:
        raise FhirMappingError(["a mapping gone wrong"])

    started = _fhir_in_background(monkeypatch)
    monkeypatch.setattr(bundle, "_map_records", fail)
    out = tmp_path / "audit.zip"
    before = threading.active_count()
    shutil.rmtree(demo_repo / ".git/ledger", ignore_errors=True)
    with Ledger.open(demo_repo) as book, pytest.raises(FhirMappingError) as raised:
        book.export(out)
    assert raised.value.problems == ["a mapping gone wrong"]
    assert "in the background process" in "".join(getattr(raised.value, "__notes__", []))
    assert len(started) == 2 and all(isinstance(child, Background) for child in started)
    for child in started:
        assert isinstance(child, Background)
        with pytest.raises(ChildProcessError):  # waited for: no process is left behind
            os.waitpid(child.pid, os.WNOHANG)
    assert threading.active_count() == before
    assert list(tmp_path.iterdir()) == []


def test_a_refused_export_stops_the_fhir_it_started(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FHIR Bundles are mapped while verify runs; an export that verify refuses stops
    the processes mapping them, and leaves nothing."""
    import os

    from ledger.api import Ledger
    from ledger.errors import ExportRefusedError
    from ledger.workers import Background

    path = repo / "records/dataset/sepsis-test/1.0.json"
    data = json.loads(path.read_text())
    data["description"] += " Edited."
    path.write_text(json.dumps(data, indent=2))
    git("commit", "-qam", "edit in place", cwd=repo)
    started = _fhir_in_background(monkeypatch)
    out = tmp_path / "audit.zip"
    with Ledger.open(repo) as book, pytest.raises(ExportRefusedError):
        book.export(out)
    assert len(started) == 2
    for child in started:
        assert isinstance(child, Background)
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)
    assert not out.exists()


@pytest.mark.parametrize("where", ["producing", "compressing"])
def test_an_export_that_fails_midway_leaves_nothing_and_no_thread(
    demo_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    import threading

    from ledger.api import Ledger
    from ledger.audit import export as module
    from ledger.errors import UsageError

    def fail(*args: object) -> object:
        raise OSError(28, "No space left on device")

    # Entries are produced in the caller's thread and compressed in the zip writer's.
    monkeypatch.setattr(module, "verify_text" if where == "producing" else "_entry_info", fail)
    out = tmp_path / "audit.zip"
    before = threading.active_count()
    # A full disk is the environment's matter: one clean error (exit 2), never a traceback.
    with Ledger.open(demo_repo) as book, pytest.raises(UsageError, match="No space left"):
        book.export(out)
    assert threading.active_count() == before
    assert list(tmp_path.iterdir()) == []


def test_export_holds_the_ledger_and_nothing_else(exported: Path) -> None:
    names = zipfile.ZipFile(exported).namelist()
    assert "manifest.json" in names and "README.md" in names
    assert sum(n.startswith("records/") for n in names) == 7
    assert {
        "lineage/lineage.json",
        "lineage/lineage.mmd",
        "lineage/lineage.dot",
        "lineage/lineage.html",
        "fhir/provenance-r5.json",
        "fhir/provenance-r4b.json",
        "verification/report.json",
        "verification/report.txt",
    } <= set(names)
    assert not [n for n in names if n.startswith(("data/", "models/", ".dvc"))]
    manifest = json.loads(zipfile.ZipFile(exported).read("manifest.json"))
    assert len(manifest["commit"]) == 40 and len(manifest["records"]) == 7


def test_the_exported_verification_is_what_verify_says(demo_repo: Path, exported: Path) -> None:
    bundle = zipfile.ZipFile(exported)
    for fmt, name in (("json", "report.json"), ("text", "report.txt")):
        said = run_ledger("verify", "--format", fmt, cwd=demo_repo)
        assert bundle.read(f"verification/{name}").decode() == said.out


def test_verify_export_passes_in_an_empty_folder(exported: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(exported, alone / "audit.zip")
    result = run_ledger("verify-export", "audit.zip", cwd=alone)
    assert result.code == 0, result.out
    assert result.out.splitlines()[-1] == "ok: 7 record(s) valid"


def _rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename in change:
                continue
            new.writestr(info, old.read(info))
        for name, data in change.items():
            if data is not None:
                new.writestr(name, data)


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        (
            {"records/dataset/sepsis-test/1.0.json": None},
            "L902",
            "records/dataset/sepsis-test/1.0.json",
        ),
        ({"notes.txt": b"added later"}, "L901", "notes.txt"),
        ({"lineage/lineage.mmd": b"flowchart LR\n"}, "L903", "lineage/lineage.mmd"),
    ],
    ids=["removed", "added", "modified"],
)
def test_verify_export_names_an_edited_removed_or_added_file(
    exported: Path, tmp_path: Path, change: dict[str, bytes | None], code: str, named: str
) -> None:
    tampered = tmp_path / "tampered.zip"
    _rewrite(exported, tampered, change)
    result = run_ledger("verify-export", str(tampered), "--format", "json", cwd=tmp_path)
    assert result.code == 1
    findings = json.loads(result.out)["findings"]
    assert any(f["code"] == code and f["path"] == named for f in findings), findings


def test_a_record_edited_with_a_forged_manifest_still_fails(exported: Path, tmp_path: Path) -> None:
    path = "records/dataset/sepsis-test/1.0.json"
    archive = zipfile.ZipFile(exported)
    record = json.loads(archive.read(path))
    record["description"] += " Forged."
    forged = (json.dumps(record, indent=2) + "\n").encode()
    manifest = json.loads(archive.read("manifest.json"))
    manifest["files"][path] = hashlib.sha256(forged).hexdigest()
    tampered = tmp_path / "forged.zip"
    _rewrite(exported, tampered, {path: forged, "manifest.json": json.dumps(manifest).encode()})
    result = run_ledger("verify-export", str(tampered), "--format", "json", cwd=tmp_path)
    assert result.code == 1
    codes = {(f["code"], f["path"]) for f in json.loads(result.out)["findings"]}
    assert ("L903", path) in codes  # its canonical hash no longer matches the manifest
    assert ("L302", "records/evaluation/sepsis-risk-heldout/1.0.json") in codes


def test_verify_export_of_a_missing_or_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    assert run_ledger("verify-export", "nope.zip", cwd=tmp_path).code == 2
    (tmp_path / "bad.zip").write_text("not a zip")
    result = run_ledger("verify-export", "bad.zip", cwd=tmp_path)
    assert result.code == 2 and "cannot be read as a zip" in result.err
