"""Acceptance criteria are judged from the metrics (consistency.judge): a stated outcome that
disagrees, and a criterion with nothing to judge, are L106; the same verdicts decide promotion
and the technical file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.checks.consistency import judge
from ledger.records.evaluation import EvaluationRecord
from tests.conftest import git, run_ledger, supersede_evaluation

EVALUATION = "records/evaluation/sepsis-risk-heldout/1.1.json"
#: Judged from its own metrics alone: two bounds, no non-inferiority criterion.
FIRST = "records/evaluation/sepsis-risk-heldout/1.0.json"


def _record(repo: Path, path: str = EVALUATION) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / path).read_text())
    return data


def _l106(repo: Path, data: dict[str, object]) -> set[str]:
    (repo / FIRST).write_text(json.dumps(data, indent=2))
    done = run_ledger("validate", FIRST, "--format", "json", cwd=repo)
    return {f["pointer"] for f in json.loads(done.out)["findings"] if f["code"] == "L106"}


def test_the_demo_evaluation_passes_its_criteria_as_judged(repo: Path) -> None:
    judged = judge(EvaluationRecord.model_validate(_record(repo)))
    # The third, non-inferiority against the baseline, cannot be judged from one record.
    assert [(j.criterion.metric, j.met) for j in judged] == [
        ("auroc", True),
        ("sensitivity", True),
        ("auroc", None),
    ]
    auroc = next(m for m in _record(repo)["metrics"] if m["name"] == "auroc")
    assert judged[0].measured == auroc["ci"]["lower"]  # the bound the criterion names


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"threshold": 0.99}, "/setup/outcome"),  # fails, yet the record says "pass"
        ({"threshold": 1}, "/setup/outcome"),  # a whole number is a threshold too
        ({"metric": "ppv"}, "/setup/acceptance_criteria/0"),  # nothing to judge
    ],
)
def test_an_outcome_the_metrics_do_not_give_is_l106(
    repo: Path, change: dict[str, object], pointer: str
) -> None:
    data = _record(repo, FIRST)
    data["setup"]["acceptance_criteria"][0].update(change)
    assert pointer in _l106(repo, data)


def test_an_outcome_the_metrics_give_is_not_l106(repo: Path) -> None:
    data = _record(repo, FIRST)
    data["setup"]["acceptance_criteria"][0]["threshold"] = 0.99
    data["setup"]["outcome"] = "fail"
    assert _l106(repo, data) == set()


# --- what verify checks across records: L704, L705, non-inferiority --------------------------


def _verify(repo: Path) -> list[dict[str, str]]:
    done = run_ledger("verify", "--format", "json", cwd=repo)
    return [f for f in json.loads(done.out)["findings"] if f["code"] != "L801"]


def test_the_demo_keeps_its_criteria_pre_specified_and_assessed(repo: Path) -> None:
    record = _record(repo)
    assert record["setup"]["modification"] == "PCCP-1"
    assert set(record["impact_assessment"]) == {
        "what_changed",
        "benefit_risk",
        "subgroup_effects",
    }
    assert not [f for f in _verify(repo) if f["code"] in ("L106", "L704", "L705", "L706")]


def test_a_changed_model_without_an_impact_assessment_is_l705(repo: Path, tmp_path: Path) -> None:
    path = supersede_evaluation(repo, tmp_path, lambda d: d.pop("impact_assessment"))
    (found,) = [f for f in _verify(repo) if f["code"] == "L705"]
    assert found["path"] == path and found["pointer"] == "/impact_assessment"
    assert "sensitivity 0.851 to 0.770" in found["message"]  # beyond the new interval


@pytest.mark.parametrize(
    ("edit", "pointer", "says"),
    [
        (
            lambda d: d["setup"]["acceptance_criteria"][1].update(threshold=0.5),
            "/setup/acceptance_criteria",
            "differs from the planned change 'PCCP-1' of model:sepsis-risk@1.1",
        ),
        (
            lambda d: d["setup"].update(modification="PCCP-9"),
            "/setup/modification",
            "names the planned change 'PCCP-9'",
        ),
        (
            lambda d: d["setup"].pop("modification"),
            "/setup/acceptance_criteria",
            "differs from the evaluation_criteria of model:sepsis-risk@1.1",
        ),
    ],
)
def test_criteria_that_were_not_fixed_before_are_l704(
    repo: Path, tmp_path: Path, edit: Any, pointer: str, says: str
) -> None:
    path = supersede_evaluation(repo, tmp_path, edit)
    (found,) = [f for f in _verify(repo) if f["code"] == "L704"]
    assert (found["path"], found["pointer"]) == (path, pointer) and says in found["message"]


def test_criteria_committed_with_the_evaluation_are_not_pre_specified(repo: Path) -> None:
    # Every version that planned PCCP-1 and the evaluation verifying it, in one commit.
    git("reset", "-q", "--soft", "HEAD~5", cwd=repo)
    git("commit", "-qm", "Retrain and evaluate at once", cwd=repo)
    (found,) = [f for f in _verify(repo) if f["code"] == "L704"]
    assert "was committed no later than the planned change 'PCCP-1' of" in found["message"]


def test_a_non_inferiority_outcome_is_judged_against_the_baseline(
    repo: Path, tmp_path: Path
) -> None:
    def claim_fail(draft: dict[str, Any]) -> None:
        draft["setup"]["outcome"] = "fail"  # the metrics and the baseline give "pass"

    path = supersede_evaluation(repo, tmp_path, claim_fail)
    (found,) = [f for f in _verify(repo) if f["code"] == "L706"]
    assert (found["path"], found["pointer"]) == (path, "/setup/outcome")
    assert "evaluation:sepsis-risk-heldout@1.0 give 'pass'" in found["message"]


def test_non_inferiority_without_a_baseline_is_l706(repo: Path, tmp_path: Path) -> None:
    def no_baseline(draft: dict[str, Any]) -> None:
        draft["baseline"] = {"not_applicable": "none"}

    path = supersede_evaluation(repo, tmp_path, no_baseline)
    found = [f for f in _verify(repo) if f["code"] == "L706"]
    assert [(f["path"], f["pointer"]) for f in found] == [(path, "/baseline")]


def test_a_bad_criterion_is_named_by_the_kind_it_was_meant_as(repo: Path) -> None:
    """Two kinds of criterion are both objects: the error is the one of the kind whose fields
    the value uses, at its own pointer, not "expected one object or the other"."""
    data = _record(repo)
    data["setup"]["acceptance_criteria"][2]["margin"] = -0.05
    data["setup"]["acceptance_criteria"][0]["operator"] = "=>"
    (repo / EVALUATION).write_text(json.dumps(data, indent=2))
    done = run_ledger("validate", EVALUATION, "--format", "json", cwd=repo)
    found = {(f["code"], f["pointer"]) for f in json.loads(done.out)["findings"]}
    assert ("L105", "/setup/acceptance_criteria/2/margin") in found
    assert ("L105", "/setup/acceptance_criteria/0/operator") in found
    assert not any(code == "L104" for code, _ in found)


def _merge_with_changes_of_its_own(repo: Path) -> None:
    """A merge commit that changes a DVC-named file itself: the history walk then holds a
    merge, and "committed before" is judged by commit time instead of history order."""
    git("checkout", "-q", "-b", "side", "HEAD~1", cwd=repo)
    (repo / "side.txt").write_text("side\n")
    git("add", "side.txt", cwd=repo)
    git("commit", "-qm", "Side work", cwd=repo)
    git("checkout", "-q", "-", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=repo)
    (repo / "extra.dvc").write_text("outs: []\n")
    git("add", "extra.dvc", cwd=repo)
    git("commit", "-qm", "Merge side", cwd=repo)


def test_pre_specification_is_judged_across_a_merge(repo: Path) -> None:
    _merge_with_changes_of_its_own(repo)
    with Ledger.open(repo) as book:
        assert not book.state().history.linear  # the merge is in the history walked
    assert not [f for f in _verify(repo) if f["code"] in ("L704", "L705", "L706")]


def test_criteria_committed_with_the_evaluation_are_found_across_a_merge(repo: Path) -> None:
    git("reset", "-q", "--soft", "HEAD~5", cwd=repo)
    git("commit", "-qm", "Retrain and evaluate at once", cwd=repo)
    _merge_with_changes_of_its_own(repo)
    (found,) = [f for f in _verify(repo) if f["code"] == "L704"]
    assert "was committed no later than the planned change 'PCCP-1' of" in found["message"]
