"""examples/tracking/run.sh: a git + DVC project whose pipeline records its data, model and
evaluation with ledger.tracking, in two iterations, built end to end as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT, git, run_ledger

RUN_SH = PROJECT / "examples" / "tracking" / "run.sh"
RECORDS = [
    f"records/{kind}/{name}/{version}.json"
    for kind, name, versions in (
        ("dataset", "deterioration-cohort", ("1.0", "1.1")),
        ("dataset", "deterioration-test", ("1.0",)),
        ("model", "deterioration-risk", ("1.0", "1.1")),
        ("evaluation", "deterioration-risk-heldout", ("1.0", "1.1")),
    )
    for version in versions
]


def run_example(target: Path) -> subprocess.CompletedProcess[str]:
    """run.sh with the environment's ledger, dvc and python first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", str(RUN_SH), str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=600,
    )


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("example") / "proj"
    return root, run_example(root)


@pytest.fixture(scope="module")
def project(built: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    root, done = built
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def record(project: Path, relpath: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / relpath).read_text(encoding="utf-8"))
    return data


def test_the_example_builds_both_iterations_and_verifies(
    built: tuple[Path, subprocess.CompletedProcess[str]], project: Path
) -> None:
    _, done = built
    assert "Traceback" not in done.stderr
    # The models and evaluations were made inside `dvc repro` and written by `ledger complete`,
    # each evaluation waiting for the model record it links to.
    assert done.stderr.count("PendingRecordWarning") == 4
    assert "until model:deterioration-risk@1.1 is written" in done.stderr
    assert "ok: verified" in done.stdout and "lineage at commit" in done.stdout
    for relpath in RECORDS:
        assert (project / relpath).is_file(), relpath
    assert sorted(
        str(p.relative_to(project)) for p in project.glob("records/*/*/*.json")
    ) == sorted(RECORDS)
    assert not list(project.glob(".ledger/pending/*")) and not list(
        project.glob(".ledger/drafts/*")
    )
    assert git("status", "--porcelain", cwd=project) == ""  # everything committed
    assert len(git("log", "--format=%H", cwd=project).split()) == 5
    verified = run_ledger("verify", cwd=project)
    assert verified.code == 0, verified.out + verified.err
    assert run_ledger("validate", cwd=project).code == 0


def test_the_data_is_tracked_by_dvc_and_pushed_to_the_local_remote(project: Path) -> None:
    cohort = record(project, "records/dataset/deterioration-cohort/1.1.json")
    assert cohort["snapshot"]["dvc_file"] == "data/cohort.csv.dvc"
    model = record(project, "records/model/deterioration-risk/1.1.json")
    assert (model["artifact"]["dvc_file"], model["artifact"]["stage"]) == ("dvc.lock", "train")
    remote = project / ".dvc-remote"
    pushed = {p.parent.name + p.name for p in remote.glob("files/md5/*/*")}
    for snapshot in (cohort["snapshot"], model["artifact"]):
        assert snapshot["md5"] in pushed
    verified = run_ledger("verify", "--data", cwd=project)
    assert verified.code == 0, verified.out + verified.err


def test_a_new_dataset_version_states_only_what_changed(project: Path) -> None:
    earlier = record(project, "records/dataset/deterioration-cohort/1.0.json")
    later = record(project, "records/dataset/deterioration-cohort/1.1.json")
    assert later["supersedes"]["ref"] == "dataset:deterioration-cohort@1.0"
    assert later["supersedes"]["change_type"] == "data-update"
    assert (earlier["cohort"]["size"], later["cohort"]["size"]) == (400, 600)
    assert later["source"]["collection_period"] == {"start": "2024-01", "end": "2024-09"}
    for key in ("title", "governance", "selection", "uses", "known_biases"):
        assert later[key] == earlier[key], key
    assert later["source"]["data_sources"] == earlier["source"]["data_sources"]


def test_the_retrained_model_supersedes_with_the_documentation_inherited(project: Path) -> None:
    earlier = record(project, "records/model/deterioration-risk/1.0.json")
    model = record(project, "records/model/deterioration-risk/1.1.json")
    assert model["supersedes"] == {
        "ref": "model:deterioration-risk@1.0",
        "reason": "Retrained on cohort 1.1",
        "change_type": "retrain",
        "sha256": model["supersedes"]["sha256"],
    }
    documentation = ("title", "description", "intended_use", "outputs", "known_risks")
    for key in (*documentation, "model_type", "regulatory_status", "planned_changes"):
        assert model[key] == earlier[key], key
    for key in ("procedure", "hardware", "class_imbalance", "missing_data_handling"):
        assert model["training"][key] == earlier["training"][key], key
    # What the run measured is its own: its data, its script, its environment and artifact.
    cohort = record(project, "records/dataset/deterioration-cohort/1.1.json")
    (trained_on,) = model["training"]["datasets"]
    assert trained_on["ref"] == "dataset:deterioration-cohort@1.1"
    assert trained_on["role"] == "training" and len(trained_on["sha256"]) == 64
    assert cohort["snapshot"]["md5"] in (project / "dvc.lock").read_text()
    assert model["training"]["code"] == {"path": "src/train.py"}
    assert model["hyperparameters"]["epochs"] == 300
    assert model["artifact"]["md5"] != earlier["artifact"]["md5"]
    # The code was committed before each run: the environment names the commit, nothing else.
    assert model["training"]["environment"]["description"].endswith(
        git("rev-parse", "HEAD~1", cwd=project).strip()[:12]
    )


def test_both_models_are_evaluated_on_the_same_test_set(project: Path) -> None:
    first = record(project, "records/evaluation/deterioration-risk-heldout/1.0.json")
    second = record(project, "records/evaluation/deterioration-risk-heldout/1.1.json")
    assert first["model"]["ref"] == "model:deterioration-risk@1.0"
    assert second["model"]["ref"] == "model:deterioration-risk@1.1"
    assert first["datasets"] == second["datasets"]
    assert [d["ref"] for d in second["datasets"]] == ["dataset:deterioration-test@1.0"]
    assert second["supersedes"]["change_type"] == "re-evaluation"
    assert second["baseline"]["ref"] == "evaluation:deterioration-risk-heldout@1.0"
    assert second["setup"]["protocol"] == first["setup"]["protocol"]  # inherited
    names = [m["name"] for m in second["metrics"]]
    assert names[:3] == ["sensitivity", "specificity", "auroc"]
    assert {g["group"] for g in second["subgroup_metrics"]} == {"F", "M"}
    assert second["test_population"]["size"] == 300


@pytest.mark.parametrize("occupied", ["file inside", "a file"])
def test_a_target_that_is_not_empty_is_refused_and_left_alone(
    tmp_path: Path, occupied: str
) -> None:
    target = tmp_path / "proj"
    if occupied == "a file":
        target.write_text("keep me\n", encoding="utf-8")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = sorted(
        (p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()
    )
    done = run_example(target)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "not empty" in done.stderr
    after = sorted(
        (p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()
    )
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
