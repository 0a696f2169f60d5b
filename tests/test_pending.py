"""Records made inside `dvc repro` wait for dvc.lock: pending, completed by ledger complete,
and reported (L410) while they are left behind. A real DVC pipeline in a copy of the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, run_ledger

DVC = str(Path(sys.executable).with_name("dvc"))
MODEL_12 = "records/model/sepsis-risk/1.2.json"
PENDING = ".ledger/pending/model-sepsis-risk-1.2.json"
RETRAIN = """\
import sys
from pathlib import Path

from ledger.tracking import track

with track("model", "sepsis-risk", "1.2", supersedes="model:sepsis-risk@1.1",
           reason="Retrained in the pipeline", change_type="retrain",
           trained_on=["dataset:sepsis-cohort@1.1"], framework="pydantic",
           fields={"training": {"seeds": [3]}}) as run:
    run.log_params({"l2": 0.02})
    Path("models/pipeline.json").write_text('{"weights": [0.1, 0.2]}\\n')
"""


@pytest.fixture
def reproduced(repo: Path) -> Path:
    """The demo with a stage that retrains and records model 1.2, run once by dvc repro."""
    (repo / "scripts/retrain.py").write_text(RETRAIN)
    stage = ["-n", "retrain", "-d", "scripts/retrain.py", "-d", "data/cohort.csv", "-o"]
    stage.append("models/pipeline.json")
    subprocess.run(
        [DVC, "stage", "add", "-q", *stage, f"{sys.executable} scripts/retrain.py"],
        cwd=repo,
        check=True,
    )
    done = subprocess.run([DVC, "repro", "retrain"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PendingRecordWarning" in done.stderr and "ledger complete" in done.stderr
    return repo


def test_a_record_made_in_a_stage_waits_and_is_completed(reproduced: Path) -> None:
    repo = reproduced
    assert not (repo / MODEL_12).exists() and (repo / PENDING).is_file()
    checked = run_ledger("validate", cwd=repo)
    assert checked.code == 1 and checked.out.startswith(f"{PENDING}: error L410 ")
    done = run_ledger("complete", cwd=repo)
    assert (done.code, done.out) == (0, f"wrote {MODEL_12}\n"), done.err
    assert not (repo / PENDING).exists()
    record = json.loads((repo / MODEL_12).read_text())
    lock = (repo / "dvc.lock").read_text()
    assert record["artifact"]["dvc_file"] == "dvc.lock"
    assert record["artifact"]["stage"] == "retrain"
    assert record["artifact"]["md5"] in lock
    assert record["training"]["code"] == {"path": "scripts/retrain.py"}
    assert record["hyperparameters"] == {"l2": 0.02}
    assert run_ledger("validate", cwd=repo).code == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Retrain in the pipeline", cwd=repo)
    verified = run_ledger("verify", cwd=repo)
    assert verified.code == 0, verified.out
    assert run_ledger("complete", cwd=repo).out == "nothing pending\n"


def test_a_pending_record_left_behind_fails_the_gate_and_verify(reproduced: Path) -> None:
    repo = reproduced
    git("add", "-A", cwd=repo)
    gate = run_ledger("validate", "--staged", cwd=repo)
    assert gate.code == 1 and f"{PENDING}: error L410 " in gate.out
    verify = run_ledger("verify", cwd=repo)
    assert verify.code == 1 and f"{PENDING}: error L410 " in verify.out


def test_data_changed_after_the_run_keeps_the_record_pending(reproduced: Path) -> None:
    repo = reproduced
    (repo / "models/pipeline.json").write_text('{"weights": [9]}\n')
    done = run_ledger("complete", cwd=repo)
    assert done.code == 1
    assert done.err.startswith(f"{PENDING}: error L410 cannot be completed: ")
    assert "changed since DVC recorded it" in done.err and done.err.count("\n") == 1
    assert (repo / PENDING).is_file() and not (repo / MODEL_12).exists()


def test_a_damaged_pending_file_is_named_not_a_crash(repo: Path) -> None:
    (repo / ".ledger/pending").mkdir(parents=True)
    (repo / PENDING).write_text('{"kind": "model"}')
    done = run_ledger("complete", cwd=repo)
    assert done.code == 1
    assert f"{PENDING}: error L410 cannot be completed: " in done.err
    assert "not a pending record ledger wrote" in done.err


EVALUATE = """\
import json
from pathlib import Path

from ledger.tracking import track

old = json.loads(Path("records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
skip = {"kind", "schema_version", "name", "version", "supersedes", "model", "datasets"}
docs = {key: value for key, value in old.items() if key not in skip}
with track("evaluation", "sepsis-risk-pipeline", "1.0", fields=docs,
           evaluates="model:sepsis-risk@1.2", tested_on=["dataset:sepsis-test@1.0"]):
    Path("reports/pipeline.json").write_text('{"auroc": 0.8}\\n')
"""
EVALUATION = "records/evaluation/sepsis-risk-pipeline/1.0.json"


def test_a_stage_evaluating_the_model_of_an_earlier_stage_waits_for_it(reproduced: Path) -> None:
    """One `dvc repro` trains and evaluates: the evaluation links to a model that is still
    pending, so it waits too, and `ledger complete` writes the model first."""
    repo = reproduced
    (repo / "scripts/evaluate.py").write_text(EVALUATE)
    stage = ["-n", "evaluate", "-d", "scripts/evaluate.py", "-d", "models/pipeline.json"]
    stage += ["-o", "reports/pipeline.json", f"{sys.executable} scripts/evaluate.py"]
    subprocess.run([DVC, "stage", "add", "-q", *stage], cwd=repo, check=True)
    done = subprocess.run([DVC, "repro", "evaluate"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "until model:sepsis-risk@1.2 is written" in done.stderr
    waiting = ".ledger/pending/evaluation-sepsis-risk-pipeline-1.0.json"
    assert (repo / waiting).is_file() and not (repo / EVALUATION).exists()

    completed = run_ledger("complete", cwd=repo)
    assert (completed.code, completed.out) == (0, f"wrote {MODEL_12}\nwrote {EVALUATION}\n")
    model = run_ledger("show", "model:sepsis-risk@1.2", "--format", "json", cwd=repo)
    evaluation = json.loads((repo / EVALUATION).read_text())
    assert evaluation["model"] == {
        "ref": "model:sepsis-risk@1.2",
        "sha256": json.loads(model.out)["sha256"],
    }
    assert not (repo / ".ledger/pending").exists() or not any((repo / ".ledger/pending").iterdir())
    assert run_ledger("validate", cwd=repo).code == 0


def test_a_link_to_a_pending_record_outside_a_stage_is_refused(reproduced: Path) -> None:
    """Only a stage of the running `dvc repro` may wait for a pending record: elsewhere the
    record it links to must be completed first."""
    repo = reproduced
    (repo / "scripts/evaluate.py").write_text(EVALUATE)
    done = subprocess.run(
        [sys.executable, "scripts/evaluate.py"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "L301" in done.stderr and "model:sepsis-risk@1.2" in done.stderr
    assert not (repo / EVALUATION).exists()
