"""`ledger import mlflow`: real MLflow stores (SQLite, and the file store HealthChain uses),
real runs logged by tests/mlflow_runs.py, imported into a copy of the demo repository."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.records.jsonload import Limits
from ledger.records.yaml_drafts import read_yaml_draft
from tests.conftest import git, log_runs, run_ledger

DRAFTS = ".ledger/drafts/mlflow"


@pytest.fixture(scope="module")
def store(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """An SQLite store holding every kind of run the import meets."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, log_runs(uri, git("rev-parse", "HEAD", cwd=demo_repo).strip())


def draft(repo: Path, run_id: str, kind: str) -> tuple[str, dict[str, Any]]:
    text = (repo / DRAFTS / f"{run_id}-{kind}.yaml").read_bytes()
    fields, problems = read_yaml_draft(text, "draft", Limits())
    assert not problems, problems
    return text.decode(), fields


def imported(repo: Path, uri: str, *args: str) -> Any:
    result = run_ledger(
        "import", "mlflow", "--tracking-uri", uri, "--format", "json", *args, cwd=repo
    )
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def test_training_run_becomes_model_and_evaluation_drafts(repo: Path, store: Any) -> None:
    uri, ids = store
    code, report = imported(repo, uri, "--run", ids["train"])
    assert code == 0
    assert [(d["kind"], d["written"]) for d in report["drafts"]] == [
        ("model", True),
        ("evaluation", True),
    ]
    text, model = draft(repo, ids["train"], "model")
    # MLflow's params and HealthChain's context, where they belong; nothing invented.
    assert model["hyperparameters"] == {"epochs": "300", "l2": "0.01"}
    assert model["organization"] == "Example University Hospital"
    assert model["regulatory_tags"] == ["HIPAA", "IRB-approved"]
    assert model["model_type"] == "logistic regression"
    assert model["training"]["datasets"] == [
        {"ref": "dataset:sepsis-cohort@1.1", "role": "training"}
    ]
    assert model["training"]["code"] == {"path": "scripts/pipeline.py"}
    refs = {(r["kind"], r["id"]) for r in model["external_refs"]}
    assert ("run_id", ids["train"]) in refs and ("logged_model_id", ids["model"]) in refs
    assert model["extensions"]["mlflow.org/run"]["run_name"] == "train-1.2"
    assert "title" not in model and "intended_use" not in model
    assert "HealthChain's healthchain.data_sources ('ed-ehr-extract') has no place" in text
    assert "healthchain.patient_sample_size ('400')" in text  # an evaluation's, not a model's
    # The header names exactly what is missing (documentation comes from v1.1 on --supersedes).
    assert "--supersedes model:sepsis-risk@1.1" in text
    missing = {m["pointer"] for m in report["drafts"][0]["missing"]}
    assert missing == {
        "/artifact",
        "/dependencies",
        "/framework",
        "/training/environment",
        "/training/seeds",
    }
    for pointer in missing:
        assert f"#   {pointer}: required field" in text

    _, evaluation = draft(repo, ids["train"], "evaluation")
    assert evaluation["model"] == {"ref": "model:sepsis-risk@1.2"}
    assert evaluation["datasets"] == [{"ref": "dataset:sepsis-test@1.0", "role": "test"}]
    assert evaluation["metrics"] == [
        {"name": "auroc", "value": 0.83},
        {"name": "sensitivity", "value": 0.71},
    ]
    assert evaluation["test_population"] == {
        "description": "Adult ED admissions, aged 18-90",
        "size": 400,
    }
    missing = {m["pointer"] for m in report["drafts"][1]["missing"]}
    assert {"/title", "/setup", "/metrics/0/n", "/metrics/1/ci"} <= missing
    assert "/model/sha256" not in missing and "/metrics/0/value" not in missing


def test_the_run_period_is_mlflows_start_and_end_time_to_the_second(repo: Path, store: Any) -> None:
    from mlflow.tracking import MlflowClient

    uri, ids = store
    imported(repo, uri, "--run", ids["train"], "--run", ids["recheck"])
    for run_id, kinds in (
        (ids["train"], ("model", "evaluation")),
        (ids["recheck"], ("evaluation",)),
    ):
        with warnings.catch_warnings():  # MLflow's own deprecation warnings, not ledger's
            warnings.simplefilter("ignore")
            info = MlflowClient(uri).get_run(run_id).info
        period = [
            datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for ms in (info.start_time, info.end_time)
        ]
        for kind in kinds:
            _, fields = draft(repo, run_id, kind)
            assert [fields["started"], fields["ended"]] == period


def test_finished_draft_becomes_a_record_and_a_second_import_links_to_it(
    repo: Path, store: Any
) -> None:
    uri, ids = store
    imported(repo, uri, "--run", ids["train"])
    _, fields = draft(repo, ids["train"], "model")
    fields.update(
        framework={"name": "ledger.demo.training (pure Python)", "version": "1"},
        dependencies={"not_applicable": "Python standard library only"},
    )
    fields["training"].update(seeds=[11], environment={"description": "CPython 3.11"})
    finished = repo.parent / "model.json"
    finished.write_text(json.dumps(fields))
    new = run_ledger(
        "new", "model", "sepsis-risk", "--version", "1.2", "--from", str(finished),
        "--snapshot", "models/sepsis-risk.json.dvc", "--supersedes", "model:sepsis-risk@1.1",
        "--reason", "Retrained with MLflow tracking", "--change-type", "retrain",
        cwd=repo,
    )  # fmt: skip
    assert new.code == 0, new.err
    record = json.loads((repo / "records/model/sepsis-risk/1.2.json").read_text())
    assert record["hyperparameters"] == {"epochs": "300", "l2": "0.01"}
    assert record["started"] == fields["started"] and record["ended"] == fields["ended"]
    assert record["intended_use"]  # taken over from v1.1
    assert run_ledger("validate", cwd=repo).code == 0

    # Importing everything now: the training run's model is recorded, and the run that used
    # its MLflow model links the evaluation to that record.
    code, report = imported(repo, uri, "--experiment", "sepsis")
    skipped = {(s["run_id"], s["reason"]) for s in report["skipped"]}
    assert (ids["train"], "model:sepsis-risk@1.2 records its model already") in skipped
    _, recheck = draft(repo, ids["recheck"], "evaluation")
    assert recheck["model"] == {"ref": "model:sepsis-risk@1.2"}
    # MLflow's own 8-digit digest matches nothing; the path at the run's commit does.
    assert recheck["datasets"] == [{"ref": "dataset:sepsis-test@1.0", "role": "test"}]
    assert code == 1  # the leaky run


def test_unmatched_inputs_are_notes_never_guesses(repo: Path, store: Any) -> None:
    uri, ids = store
    code, report = imported(repo, uri, "--run", ids["elsewhere"])
    assert code == 0
    assert [d["kind"] for d in report["drafts"]] == ["model"]  # its loss is the training's
    text, model = draft(repo, ids["elsewhere"], "model")
    assert model["training"]["datasets"] == [{"role": "training"}]
    assert "matches no dataset record" in text and "'scratch'" in text
    assert "'Side Model', which is not a valid record name" in text
    assert "ledger new model NAME --version VERSION" in text
    # A line break in MLflow's dataset name stays inside its comment.
    assert "intended_use" not in model
    assert "'other\\nintended_use: injected'" in text


def test_phi_in_params_stops_the_run_and_names_the_field(repo: Path, store: Any) -> None:
    uri, ids = store
    code, report = imported(repo, uri, "--run", ids["leaky"])
    assert code == 1
    assert report["drafts"] == []
    [problem] = report["problems"]
    assert problem["code"] == "L501"
    assert problem["path"] == f"mlflow run {ids['leaky']}"
    assert problem["pointer"] == "/params/note"
    assert "123-45-6789" not in json.dumps(report)
    assert not (repo / DRAFTS).exists()


def test_runs_with_nothing_to_record_are_skipped(repo: Path, store: Any) -> None:
    uri, ids = store
    code, report = imported(repo, uri, "--run", ids["empty"], "--run", ids["crashed"])
    assert code == 0 and report["drafts"] == []
    reasons = {s["run_id"]: s["reason"] for s in report["skipped"]}
    assert "neither a model nor a metric" in reasons[ids["empty"]]
    assert "the run is FAILED" in reasons[ids["crashed"]]


def test_import_again_leaves_drafts_and_never_overwrites_edits(repo: Path, store: Any) -> None:
    uri, ids = store
    imported(repo, uri, "--run", ids["train"])
    _, again = imported(repo, uri, "--run", ids["train"])
    assert [d["written"] for d in again["drafts"]] == [False, False]
    path = repo / DRAFTS / f"{ids['train']}-model.yaml"
    path.write_text(path.read_text().replace("title:", 'title: "Mine"'))
    _, edited = imported(repo, uri, "--run", ids["train"])
    assert [d["kind"] for d in edited["drafts"]] == ["evaluation"]
    assert "was changed since the import wrote it" in edited["skipped"][0]["reason"]
    assert 'title: "Mine"' in path.read_text()


def test_file_store(repo: Path, tmp_path: Path) -> None:
    """HealthChain's default: a folder of runs, read with MLFLOW_ALLOW_FILE_STORE."""
    folder = tmp_path / "mlruns"
    folder.mkdir()
    ids = log_runs(str(folder), git("rev-parse", "HEAD", cwd=repo).strip(), "small")
    code, report = imported(repo, str(folder))
    assert code == 0
    assert [d["kind"] for d in report["drafts"]] == ["model", "evaluation"]
    _, model = draft(repo, ids["train"], "model")
    assert model["training"]["datasets"] == [
        {"ref": "dataset:sepsis-cohort@1.1", "role": "training"}
    ]
    text = run_ledger("import", "mlflow", "--tracking-uri", folder.as_uri(), cwd=repo)
    assert text.code == 0 and "unchanged" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tracking-uri", "sqlite:///nowhere/mlflow.db"], "no such MLflow database"),
        (["--tracking-uri", "missing-folder"], "no such MLflow store folder"),
        (["--tracking-uri", "http://localhost:5000"], "only local MLflow stores"),
        ([], "no MLflow store given"),
    ],
)
def test_stores_that_do_not_exist_are_refused(repo: Path, args: list[str], message: str) -> None:
    result = run_ledger("import", "mlflow", *args, cwd=repo)
    assert result.code == 2 and message in result.err
    assert not (repo / "nowhere").exists() and not (repo / "missing-folder").exists()


def test_unknown_run_and_experiment_are_refused(repo: Path, store: Any) -> None:
    uri, ids = store
    run = run_ledger("import", "mlflow", "--tracking-uri", uri, "--run", "0" * 32, cwd=repo)
    assert run.code == 2 and "no MLflow run" in run.err
    exp = run_ledger("import", "mlflow", "--tracking-uri", uri, "--experiment", "nope", cwd=repo)
    assert exp.code == 2 and "no MLflow experiment 'nope' (there are: Default, sepsis)" in exp.err
    outside = run_ledger(
        "import", "mlflow", "--tracking-uri", uri, "--experiment", "Default", "--run", ids["train"],
        cwd=repo,
    )  # fmt: skip
    assert outside.code == 2 and "is not in experiment 'Default'" in outside.err
    assert not (repo / DRAFTS).exists()


def test_without_mlflow_installed_the_error_says_how_to_install(repo: Path, store: Any) -> None:
    uri, _ = store
    blocked = "import sys; sys.modules['mlflow'] = None; from ledger.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", blocked, "import", "mlflow", "--tracking-uri", uri],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "pip install 'healthcare-ai-ledger[mlflow]'" in done.stderr


def test_a_symlinked_drafts_folder_is_refused(repo: Path, store: Any, tmp_path: Path) -> None:
    uri, ids = store
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".ledger/drafts").mkdir(parents=True, exist_ok=True)
    (repo / DRAFTS).symlink_to(elsewhere)
    result = run_ledger("import", "mlflow", "--tracking-uri", uri, "--run", ids["train"], cwd=repo)
    assert result.code == 2
    assert ".ledger/drafts/mlflow is a symbolic link" in result.err
    assert list(elsewhere.iterdir()) == []


def test_a_commit_tag_that_is_not_a_commit_id_matches_nothing(repo: Path, tmp_path: Path) -> None:
    """A run tagged with a branch name instead of its commit id: the data it read cannot be
    told from today's, so its dataset input is not matched by DVC snapshot."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = log_runs(uri, "HEAD", "small")
    imported(repo, uri, "--run", ids["train"])
    text, model = draft(repo, ids["train"], "model")
    assert model["training"]["datasets"] == [{"role": "training"}]
    notes = " ".join(line.lstrip("# -") for line in text.splitlines())
    assert "'cohort' (digest" in notes and 'data/cohort.csv"}) matches no dataset record' in notes
