"""The command contract: init, new, validate, show, --version and exit codes, as users run them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger import __version__
from tests.conftest import (
    COHORT_11,
    SUPERSEDE_COHORT_11,
    Result,
    cohort_draft,
    git,
    run_ledger,
)


def test_version_and_help(tmp_path: Path) -> None:
    assert run_ledger("--version", cwd=tmp_path).out.strip() == f"ledger, version {__version__}"
    help_text = run_ledger("--help", cwd=tmp_path).out
    for command in ("init", "new", "validate", "show", "demo"):
        assert command in help_text


def test_init_sets_up_records_schemas_and_configuration(tmp_path: Path) -> None:
    result = run_ledger("init", str(tmp_path / "proj"), cwd=tmp_path)
    assert result.code == 0, result.err
    proj = tmp_path / "proj"
    assert (proj / ".git").is_dir() and (proj / "ledger.toml").is_file()
    assert sorted(p.name for p in (proj / "schemas").iterdir()) == [
        "common.schema.json",
        "dataset.schema.json",
        "evaluation.schema.json",
        "model.schema.json",
    ]
    assert run_ledger("validate", cwd=proj).out.strip() == "ok: 0 record(s) valid"


def _new(repo: Path, draft: str | Path, version: str, *options: str) -> Result:
    """``ledger new`` for the next cohort version, its snapshot from data/cohort.csv.dvc."""
    return run_ledger(
        "new",
        "dataset",
        "sepsis-cohort",
        "--version",
        version,
        "--from",
        str(draft),
        "--snapshot",
        "data/cohort.csv.dvc",
        *options,
        cwd=repo,
    )


def test_new_fills_the_snapshot_and_link_hashes(repo: Path, tmp_path: Path) -> None:
    draft = cohort_draft(repo, tmp_path)
    result = _new(
        repo,
        str(draft),
        "1.2",
        *SUPERSEDE_COHORT_11,
    )
    assert result.code == 0, result.err
    assert result.out.strip() == "wrote records/dataset/sepsis-cohort/1.2.json"
    written = json.loads((repo / "records/dataset/sepsis-cohort/1.2.json").read_text())
    assert written["supersedes"]["ref"] == "dataset:sepsis-cohort@1.1"
    shown = json.loads(
        run_ledger("show", "dataset:sepsis-cohort@1.1", "--format", "json", cwd=repo).out
    )
    assert written["supersedes"]["sha256"] == shown["sha256"]
    dvc_file = (repo / "data/cohort.csv.dvc").read_text()
    assert written["snapshot"]["md5"] in dvc_file
    assert run_ledger("validate", cwd=repo).code == 0


def test_new_refuses_to_overwrite_a_version(repo: Path, tmp_path: Path) -> None:
    before = (repo / COHORT_11).read_bytes()
    result = _new(repo, cohort_draft(repo, tmp_path), "1.1")
    assert result.code == 1
    assert "already exists and versions are immutable" in result.err
    assert (repo / COHORT_11).read_bytes() == before


def test_new_with_a_bad_draft_writes_nothing(repo: Path, tmp_path: Path) -> None:
    draft = cohort_draft(repo, tmp_path, drop=("cohort",))
    result = _new(repo, draft, "1.2")
    assert result.code == 1
    # The draft is the file to fix; the record's path does not exist yet.
    assert result.err.startswith(f"{draft}#/cohort: error L102")
    assert "it is an object with unit, size, age, sex, subgroups, outcome" in result.err
    assert not (repo / "records/dataset/sepsis-cohort/1.2.json").exists()
    assert git("status", "--porcelain", cwd=repo) == ""


def test_dry_run_checks_as_new_does_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    bad = cohort_draft(repo, tmp_path, drop=("cohort", "splits"))
    new = _new(repo, bad, "1.2", *SUPERSEDE_COHORT_11)
    dry = _new(repo, bad, "1.2", *SUPERSEDE_COHORT_11, "--dry-run")
    assert (dry.code, dry.err, dry.out) == (new.code, new.err, "")
    assert dry.code == 1 and f"{bad}#/splits: error L102" in dry.err
    good = cohort_draft(repo, tmp_path)
    dry = _new(repo, good, "1.2", *SUPERSEDE_COHORT_11, "--dry-run")
    assert dry.code == 0, dry.err
    assert json.loads(dry.out)["version"] == "1.2"
    assert git("status", "--porcelain", cwd=repo) == ""


def test_a_superseding_version_takes_the_documentation_it_leaves_out(
    repo: Path, tmp_path: Path
) -> None:
    earlier = json.loads((repo / COHORT_11).read_text())
    measured = {key: earlier[key] for key in ("cohort", "splits", "quality_checks")}
    measured["cohort"]["missing_data"] = "None after the recount"  # the draft's, not 1.1's
    draft = tmp_path / "measured.json"
    draft.write_text(json.dumps(measured))
    result = _new(repo, draft, "1.2", *SUPERSEDE_COHORT_11)
    assert result.code == 0, result.err
    written = json.loads((repo / "records/dataset/sepsis-cohort/1.2.json").read_text())
    for key in ("title", "source", "selection", "governance", "known_biases", "uses"):
        assert written[key] == earlier[key], key
    assert written["cohort"]["missing_data"] == "None after the recount"
    assert written["supersedes"]["reason"] == "Recount after review"
    assert run_ledger("validate", cwd=repo).code == 0


def test_what_a_version_measures_is_never_taken_over(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "title.json"
    draft.write_text(json.dumps({"title": "Recounted cohort"}))
    result = _new(repo, draft, "1.2", *SUPERSEDE_COHORT_11)
    assert result.code == 1
    missing = {line.split(":")[0] for line in result.err.splitlines()}
    assert missing == {f"{draft}#/cohort", f"{draft}#/splits", f"{draft}#/quality_checks"}


def test_new_refuses_a_later_version_that_supersedes_nothing(repo: Path, tmp_path: Path) -> None:
    draft = cohort_draft(repo, tmp_path)
    result = _new(repo, draft, "1.2")
    assert result.code == 1
    assert result.err.startswith(f"{draft}: error L307 ")
    assert "ledger new --supersedes" in result.err
    assert git("status", "--porcelain", cwd=repo) == ""


@pytest.mark.parametrize("linked", ["records", "records/dataset", "records/dataset/elsewhere"])
def test_new_never_writes_through_a_symlinked_folder(
    repo: Path, tmp_path: Path, linked: str
) -> None:
    """A folder on the way to the record that is a link would put the file outside the
    repository (where git never sees it); new refuses and writes nothing anywhere."""
    outside = tmp_path / "outside"
    folder = repo / linked
    if folder.exists():
        shutil.move(folder, outside)
    else:
        outside.mkdir()
    folder.symlink_to(outside)
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    draft = cohort_draft(repo, tmp_path)
    result = run_ledger(
        *("new", "dataset", "elsewhere", "--version", "1.0", "--from", str(draft)),
        *("--snapshot", "data/cohort.csv.dvc"),
        cwd=repo,
    )
    assert result.code == 2
    assert f"{linked} is a symbolic link" in result.err and "outside the repository" in result.err
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before


def test_new_with_a_dangling_link_writes_nothing(repo: Path, tmp_path: Path) -> None:
    result = _new(
        repo,
        cohort_draft(repo, tmp_path),
        "1.2",
        "--supersedes",
        "dataset:sepsis-cohort@0.9",
        "--reason",
        "x",
        "--change-type",
        "correction",
    )
    assert result.code == 1
    assert "#/supersedes/ref: error L301" in result.err
    assert git("status", "--porcelain", cwd=repo) == ""


def test_new_refuses_data_changed_since_dvc_add(repo: Path, tmp_path: Path) -> None:
    with (repo / "data/cohort.csv").open("a") as handle:
        handle.write("50,F,north,80.0,16.0,37.0,8.0,1.2,120.0,0\n")
    result = _new(repo, cohort_draft(repo, tmp_path), "1.2")
    assert result.code == 2
    assert "changed since DVC recorded it" in result.err


def test_show_accepts_every_ref_form(demo_repo: Path) -> None:
    outputs = {
        ref: run_ledger("show", ref, "--format", "json", cwd=demo_repo).out
        for ref in ("dataset:sepsis-cohort@1.1", "sepsis-cohort@1.1", COHORT_11)
    }
    assert len(set(outputs.values())) == 1
    shown = json.loads(outputs[COHORT_11])
    assert shown["id"] == "dataset:sepsis-cohort@1.1" and shown["path"] == COHORT_11
    text = run_ledger("show", "sepsis-cohort@1.1", cwd=demo_repo).out
    assert text.startswith("dataset:sepsis-cohort@1.1\npath:   " + COHORT_11)


def test_show_of_a_missing_record_is_a_usage_error(demo_repo: Path) -> None:
    result = run_ledger("show", "dataset:nope@1.0", cwd=demo_repo)
    assert result.code == 2
    assert "no such record" in result.err
    assert run_ledger("show", "not a ref", cwd=demo_repo).code == 2


def test_validate_json_report(demo_repo: Path) -> None:
    report = json.loads(run_ledger("validate", "--format", "json", cwd=demo_repo).out)
    assert report["ok"] is True and report["findings"] == []
    assert len(report["checked"]) == 7


def test_validate_named_paths_reports_only_those(repo: Path) -> None:
    (repo / "records/dataset/sepsis-cohort/bad.json").write_text("{")
    only = run_ledger("validate", COHORT_11, cwd=repo)
    assert only.code == 0, only.out
    everything = run_ledger("validate", cwd=repo)
    assert everything.code == 1


def test_python_api_writes_the_same_record_as_the_cli(repo: Path, tmp_path: Path) -> None:
    draft = json.loads(cohort_draft(repo, tmp_path).read_text())
    link = ("dataset:sepsis-cohort@1.1", "Recount after review", "correction")
    draft["supersedes"] = dict(zip(("ref", "reason", "change_type"), link, strict=True))
    script = (
        "import json, sys\nfrom ledger.api import Ledger\n"
        "book = Ledger.open('.')\n"
        "print(book.new_record('dataset', 'sepsis-cohort', '1.2', json.loads(sys.argv[1]), "
        "snapshot='data/cohort.csv.dvc'))\n"
    )
    subprocess.run([sys.executable, "-c", script, json.dumps(draft)], cwd=repo, check=True)
    via_api = (repo / "records/dataset/sepsis-cohort/1.2.json").read_bytes()
    (repo / "records/dataset/sepsis-cohort/1.2.json").unlink()
    options = ("--supersedes", link[0], "--reason", link[1], "--change-type", link[2])
    assert _new(repo, cohort_draft(repo, tmp_path), "1.2", *options).code == 0
    assert (repo / "records/dataset/sepsis-cohort/1.2.json").read_bytes() == via_api


def _snapshot_of_stage(repo: Path, tmp_path: Path, stage: str, *spec: str) -> dict[str, Any]:
    """Add and run a real DVC stage, then take its output's snapshot with ledger new --dry-run."""
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run(
        [*dvc, "stage", "add", "-n", stage, *spec], cwd=repo, check=True, capture_output=True
    )
    subprocess.run([*dvc, "repro", stage], cwd=repo, check=True, capture_output=True)
    result = run_ledger(
        "new",
        "dataset",
        "sepsis-prep",
        "--version",
        "1.0",
        "--from",
        str(cohort_draft(repo, tmp_path)),
        "--snapshot",
        "dvc.lock",
        "--stage",
        stage,
        "--dry-run",
        cwd=repo,
    )
    assert result.code == 0, result.err
    assert not (repo / "records/dataset/sepsis-prep").exists()
    return dict(json.loads(result.out)["snapshot"])


def test_new_takes_a_snapshot_from_a_dvc_lock_stage(repo: Path, tmp_path: Path) -> None:
    snapshot = _snapshot_of_stage(
        repo,
        tmp_path,
        "prep",
        "-d",
        "data/test.csv",
        "-o",
        "data/prep.csv",
        "cp data/test.csv data/prep.csv",
    )
    assert snapshot["dvc_file"] == "dvc.lock" and snapshot["stage"] == "prep"
    assert snapshot["path"] == "data/prep.csv"
    assert snapshot["md5"] in (repo / "dvc.lock").read_text()


def test_new_finds_the_output_of_a_stage_with_its_own_working_folder(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "work").mkdir()
    snapshot = _snapshot_of_stage(
        repo,
        tmp_path,
        "prepw",
        "-w",
        "work",
        "-d",
        "../data/test.csv",
        "-o",
        "out.csv",
        "cp ../data/test.csv out.csv",
    )
    assert snapshot["path"] == "out.csv"


def test_a_made_up_snapshot_sha256_is_refused_before_it_is_committed(
    repo: Path, tmp_path: Path
) -> None:
    """md5 and size from the DVC file, a SHA-256 written by hand: validate and the gate hash
    the data of records not committed yet (the data is at hand then) and name the SHA-256."""
    result = _new(
        repo,
        cohort_draft(repo, tmp_path),
        "1.2",
        *SUPERSEDE_COHORT_11,
    )
    assert result.code == 0, result.err
    target = repo / "records/dataset/sepsis-cohort/1.2.json"
    assert run_ledger("validate", cwd=repo).code == 0
    record = json.loads(target.read_text())
    true_sha = record["snapshot"]["sha256"]
    record["snapshot"]["sha256"] = ("0" if true_sha[0] != "0" else "1") + true_sha[1:]
    target.write_text(json.dumps(record, indent=2) + "\n")
    for args in (("validate",), ("validate", "--staged")):
        git("add", "-A", cwd=repo)
        found = json.loads(run_ledger(*args, "--format", "json", cwd=repo).out)["findings"]
        assert [(f["code"], f["pointer"]) for f in found] == [("L407", "/snapshot/sha256")], args
        assert f"has SHA-256 {true_sha}" in found[0]["message"]
