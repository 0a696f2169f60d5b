"""ledger.tracking: records written from training and evaluation code, in a real git + DVC
repository (a copy of the demo's), refused early, and never half-written."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import InvalidRecordsError, RecordExistsError, UsageError
from ledger.tracking import Run, binary_metrics, track
from tests.conftest import git, run_ledger

DVC = str(Path(sys.executable).with_name("dvc"))
EVALUATION = "records/evaluation/sepsis-risk-heldout/1.1.json"


def _documentation(repo: Path, relpath: str, *drop: str) -> dict[str, Any]:
    """An existing record's fields without its identity and the named fields."""
    data = json.loads((repo / relpath).read_text())
    skip = {"kind", "schema_version", "name", "version", "supersedes", *drop}
    return {k: v for k, v in data.items() if k not in skip}


def _scores(n: int = 300) -> tuple[list[int], list[float], list[str]]:
    rng = random.Random(4)
    labels = [int(rng.random() < 0.2) for _ in range(n)]
    scores = [min(0.99, max(0.01, rng.random() * 0.6 + 0.35 * y)) for y in labels]
    sex = [rng.choice("FM") for _ in range(n)]
    return labels, scores, sex


def _evaluation_fields(repo: Path) -> dict[str, Any]:
    return _documentation(repo, EVALUATION, "model", "datasets", "metrics", "subgroup_metrics")


def _track_evaluation(repo: Path, name: str = "sepsis-risk-recheck", **kwargs: Any) -> track:
    return track(
        "evaluation",
        name,
        "1.0",
        evaluates="model:sepsis-risk@1.1",
        tested_on=["dataset:sepsis-test@1.0"],
        fields=_evaluation_fields(repo),
        root=repo,
        **kwargs,
    )


def test_a_tracked_evaluation_is_written_whole_and_verifies(repo: Path) -> None:
    labels, scores, sex = _scores()
    with _track_evaluation(repo) as run:
        run.log_evaluation(binary_metrics(labels, scores, 0.3, subgroups={"sex": sex}))
    written = repo / "records/evaluation/sepsis-risk-recheck/1.0.json"
    record = json.loads(written.read_text())
    assert record["model"]["ref"] == "model:sepsis-risk@1.1" and record["model"]["sha256"]
    assert [m["name"] for m in record["metrics"]][:3] == ["sensitivity", "specificity", "auroc"]
    assert {s["group"] for s in record["subgroup_metrics"]} == {"F", "M"}
    assert run_ledger("validate", cwd=repo).code == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Record the re-check", cwd=repo)
    assert run_ledger("verify", cwd=repo).code == 0


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_run_period_comes_from_the_clock_in_utc_to_the_second(repo: Path) -> None:
    labels, scores, _ = _scores()
    before = _utc_now()
    with _track_evaluation(repo) as run:
        inside = _utc_now()
        assert before <= run.fields["started"] <= inside and "ended" not in run.fields
        time.sleep(1.1)  # a run of at least a second: its end is a later second
        run.log_evaluation(binary_metrics(labels, scores, 0.3))
    after = _utc_now()
    record = json.loads((repo / "records/evaluation/sepsis-risk-recheck/1.0.json").read_text())
    # All "Z" and to the second: as text in the order of time.
    assert record["started"] < record["ended"] and inside <= record["ended"] <= after
    assert all(len(record[k]) == 20 and record[k].endswith("Z") for k in ("started", "ended"))
    assert run_ledger("validate", cwd=repo).code == 0


def test_a_period_the_code_sets_is_kept_and_a_reversed_one_refused(repo: Path) -> None:
    labels, scores, _ = _scores()
    before = _utc_now()
    with _track_evaluation(repo) as run:
        run.set(started="2026-03-01T10:00:00+01:00")
        run.log_evaluation(binary_metrics(labels, scores, 0.3))
    record = json.loads((repo / "records/evaluation/sepsis-risk-recheck/1.0.json").read_text())
    assert record["started"] == "2026-03-01T10:00:00+01:00"
    assert before <= record["ended"] <= _utc_now()  # filled: the code did not set it
    period = {"started": "2026-03-01T10:00:00Z", "ended": "2026-03-01T09:00:00Z"}
    with pytest.raises(InvalidRecordsError) as caught:  # noqa: SIM117
        with _track_evaluation(repo, name="sepsis-risk-reversed") as run:
            run.set(**period)
            run.log_evaluation(binary_metrics(labels, scores, 0.3))
    assert [(f.code, f.pointer) for f in caught.value.findings] == [("L107", "/ended")]
    assert not (repo / "records/evaluation/sepsis-risk-reversed").exists()


def test_the_decorator_form_records_each_call(repo: Path) -> None:
    labels, scores, _ = _scores()

    @_track_evaluation(repo, name="sepsis-risk-decorated")
    def evaluate(threshold: float, run: Run) -> str:
        run.log_evaluation(binary_metrics(labels, scores, threshold))
        return run.ref

    assert evaluate(0.3) == "evaluation:sepsis-risk-decorated@1.0"
    record = json.loads((repo / "records/evaluation/sepsis-risk-decorated/1.0.json").read_text())
    assert record["subgroup_metrics"] == {
        "not_applicable": "no subgroup columns were given to the evaluation"
    }


def test_an_existing_version_is_refused_before_the_block_runs(repo: Path) -> None:
    ran = False
    with pytest.raises(RecordExistsError, match="already exists"):  # noqa: SIM117
        with track("evaluation", "sepsis-risk-heldout", "1.1", root=repo):
            ran = True
    assert not ran


def test_a_link_that_does_not_resolve_is_refused_at_entry(repo: Path) -> None:
    with pytest.raises(InvalidRecordsError) as caught:  # noqa: SIM117
        with track("evaluation", "x", "1.0", evaluates="model:nope@1.0", root=repo):
            pytest.fail("the block must not run")
    assert [f.code for f in caught.value.findings] == ["L301"]
    assert "model:nope@1.0" in caught.value.message


def test_a_wrong_value_is_refused_where_it_is_logged(repo: Path) -> None:
    with _track_evaluation(repo) as run:
        with pytest.raises(InvalidRecordsError) as caught:
            run.set(setup={"outcome": "maybe"})
        assert [(f.code, f.pointer) for f in caught.value.findings] == [("L105", "/setup/outcome")]
        with pytest.raises(InvalidRecordsError) as caught:
            run.set(limitations=["Reviewed with the patient John Smith, MRN 12345678"])
        assert {f.code for f in caught.value.findings} == {"L501"}
        assert all(f.path == "evaluation:sepsis-risk-recheck@1.0" for f in caught.value.findings)
        with pytest.raises(UsageError, match="log_params is for model records"):
            run.log_params({"C": 1.0})
        labels, scores, _ = _scores()
        run.log_evaluation(binary_metrics(labels, scores, 0.3))
    assert (repo / "records/evaluation/sepsis-risk-recheck/1.0.json").is_file()


def test_an_exception_writes_nothing_and_saves_the_draft(repo: Path) -> None:
    labels, scores, _ = _scores()
    with pytest.raises(RuntimeError) as caught:  # noqa: SIM117
        with _track_evaluation(repo) as run:
            run.log_evaluation(binary_metrics(labels, scores, 0.3))
            raise RuntimeError("the GPU fell over")
    assert not (repo / "records/evaluation/sepsis-risk-recheck").exists()
    draft = repo / ".ledger/drafts/evaluation-sepsis-risk-recheck-1.0.json"
    assert json.loads(draft.read_text()) == run.fields
    # When the run began, and no end: it never ended as a run that could be recorded.
    assert "started" in run.fields and "ended" not in run.fields
    note = caught.value.__notes__[0]
    assert "nothing was recorded for evaluation:sepsis-risk-recheck@1.0" in note
    assert ".ledger/drafts/evaluation-sepsis-risk-recheck-1.0.json" in note
    # The draft is what `ledger new --from` takes: the saved work is not lost.
    done = run_ledger(
        "new",
        "evaluation",
        "sepsis-risk-recheck",
        "--version",
        "1.0",
        "--from",
        str(draft),
        cwd=repo,
    )
    assert done.code == 0, done.err


def test_a_draft_may_be_saved_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "elsewhere" / "draft.json"
    with pytest.raises(InvalidRecordsError) as caught:  # noqa: SIM117
        with track("evaluation", "x", "1.0", root=repo, draft=draft):
            pass
    assert {f.path for f in caught.value.findings} == {str(draft)}
    assert str(draft) in caught.value.__notes__[0] and draft.is_file()


def test_an_incomplete_record_names_the_draft_and_each_missing_field(repo: Path) -> None:
    fields = _evaluation_fields(repo)
    del fields["test_population"], fields["limitations"]
    with pytest.raises(InvalidRecordsError) as caught:  # noqa: SIM117
        with track(
            "evaluation",
            "sepsis-risk-recheck",
            "1.0",
            evaluates="model:sepsis-risk@1.1",
            tested_on=["dataset:sepsis-test@1.0"],
            fields=fields,
            root=repo,
        ):
            pass
    shown = ".ledger/drafts/evaluation-sepsis-risk-recheck-1.0.json"
    assert {(f.path, f.code, f.pointer) for f in caught.value.findings} >= {
        (shown, "L102", "/metrics"),
        (shown, "L102", "/test_population"),
        (shown, "L102", "/limitations"),
    }
    assert not (repo / "records/evaluation/sepsis-risk-recheck").exists()
    assert (repo / shown).is_file()


TRAIN = """\
import json, sys
from ledger.tracking import track

fields = json.loads(open(sys.argv[1]).read())
with track("model", "sepsis-risk", "1.2", fields=fields, supersedes="model:sepsis-risk@1.1",
           reason="Recalibrated on the tuning split", change_type="recalibration",
           snapshot="models/recalibrated.json.dvc", framework="pydantic") as run:
    run.log_params({"C": 0.5, "penalty": "l2"})
"""


def test_a_training_script_records_its_environment_and_itself(repo: Path) -> None:
    (repo / "models/recalibrated.json").write_text('{"weights": [0.5, 0.25]}\n')
    subprocess.run([DVC, "add", "-q", "models/recalibrated.json"], cwd=repo, check=True)
    fields = _documentation(
        repo,
        "records/model/sepsis-risk/1.1.json",
        "artifact",
        "dependencies",
        "framework",
        "hyperparameters",
    )
    fields["training"] = {
        k: v for k, v in fields["training"].items() if k not in ("environment", "code")
    }
    (repo / "scripts/recalibrate.py").write_text(TRAIN)
    draft = repo.parent / "fields.json"
    draft.write_text(json.dumps(fields))
    done = subprocess.run(
        [sys.executable, "scripts/recalibrate.py", str(draft)],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "UncommittedCodeWarning" in done.stderr and "scripts/recalibrate.py" in done.stderr
    record = json.loads((repo / "records/model/sepsis-risk/1.2.json").read_text())
    assert record["framework"] == {"name": "pydantic", "version": metadata.version("pydantic")}
    names = {d["name"] for d in record["dependencies"]}
    assert {"pydantic", "jsonschema", "healthcare-ai-ledger"} <= names
    assert record["training"]["code"] == {"path": "scripts/recalibrate.py"}
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    description = record["training"]["environment"]["description"]
    # The script is uncommitted code; the .dvc file and .gitignore DVC wrote are not.
    assert f"code at commit {head[:12]} with 1 uncommitted file(s)" in description
    assert record["hyperparameters"] == {"C": 0.5, "penalty": "l2"}
    assert record["artifact"]["dvc_file"] == "models/recalibrated.json.dvc"
    assert record["supersedes"]["sha256"]
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Recalibrate", cwd=repo)
    assert run_ledger("verify", cwd=repo).code == 0


def test_a_retrained_model_logs_only_what_changed(repo: Path) -> None:
    (repo / "models/retrained.json").write_text('{"weights": [0.4, 0.3]}\n')
    subprocess.run([DVC, "add", "-q", "models/retrained.json"], cwd=repo, check=True)
    with track(
        "model",
        "sepsis-risk",
        "1.2",
        supersedes="model:sepsis-risk@1.1",
        reason="Retrained with a smaller penalty",
        change_type="retrain",
        trained_on=["dataset:sepsis-cohort@1.1"],
        snapshot="models/retrained.json.dvc",
        framework="pydantic",
        fields={"training": {"seeds": [11], "code": {"path": "scripts/pipeline.py"}}},
        root=repo,
    ) as run:
        run.log_params({"l2": 0.001})
    earlier = json.loads((repo / "records/model/sepsis-risk/1.1.json").read_text())
    record = json.loads((repo / "records/model/sepsis-risk/1.2.json").read_text())
    for key in ("title", "intended_use", "outputs", "known_risks", "model_type"):
        assert record[key] == earlier[key], key
    assert record["training"]["procedure"] == earlier["training"]["procedure"]
    # Measured fields are this run's own: no hyperparameter of 1.1 is carried over.
    assert record["hyperparameters"] == {"l2": 0.001}
    assert record["training"]["seeds"] == [11]
    assert record["training"]["environment"] != earlier["training"]["environment"]


STREAMS = """\
import sys
from pathlib import Path

from ledger.tracking import track

before = sys.stdout, sys.stderr
with track("model", "sepsis-risk", "1.2", supersedes="model:sepsis-risk@1.1",
           reason="Retrained as a folder", change_type="retrain",
           trained_on=["dataset:sepsis-cohort@1.1"], snapshot=sys.argv[1],
           framework="pydantic", fields={"training": {"seeds": [11]}}) as run:
    run.log_params({"l2": 0.001})
print("same streams" if (sys.stdout, sys.stderr) == before else "streams replaced")
"""


@pytest.mark.parametrize("output", ["models/retrained.json", "models/retrained"])
def test_recording_leaves_the_scripts_streams_alone(repo: Path, output: str) -> None:
    """Hashing a snapshot must not let DVC's logging wrap the training script's stdout and
    stderr (colorama would strip the colours the script prints afterwards)."""
    path = repo / output
    if output.endswith(".json"):
        path.write_text('{"weights": [0.4]}\n')
    else:
        path.mkdir()
        (path / "weights.json").write_text('{"weights": [0.4]}\n')
    subprocess.run([DVC, "add", "-q", output], cwd=repo, check=True)
    (repo / "scripts/streams.py").write_text(STREAMS)
    done = subprocess.run(
        [sys.executable, "scripts/streams.py", f"{output}.dvc"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "same streams\n"
