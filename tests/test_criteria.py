"""Acceptance criteria are judged from the metrics (consistency.judge): a stated outcome that
disagrees, and a criterion with nothing to judge, are L106; the same verdicts decide promotion
and the technical file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.checks.consistency import judge
from ledger.records.evaluation import EvaluationRecord
from tests.conftest import run_ledger

EVALUATION = "records/evaluation/sepsis-risk-heldout/1.1.json"


def _record(repo: Path) -> dict[str, object]:
    return json.loads((repo / EVALUATION).read_text())


def _l106(repo: Path, data: dict[str, object]) -> set[str]:
    (repo / EVALUATION).write_text(json.dumps(data, indent=2))
    done = run_ledger("validate", EVALUATION, "--format", "json", cwd=repo)
    return {f["pointer"] for f in json.loads(done.out)["findings"] if f["code"] == "L106"}


def test_the_demo_evaluation_passes_its_criteria_as_judged(repo: Path) -> None:
    judged = judge(EvaluationRecord.model_validate(_record(repo)))
    assert [(j.criterion.metric, j.met) for j in judged] == [("auroc", True), ("sensitivity", True)]
    auroc = next(m for m in _record(repo)["metrics"] if m["name"] == "auroc")  # type: ignore[attr-defined]
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
    data = _record(repo)
    data["setup"]["acceptance_criteria"][0].update(change)  # type: ignore[index]
    assert pointer in _l106(repo, data)


def test_an_outcome_the_metrics_give_is_not_l106(repo: Path) -> None:
    data = _record(repo)
    data["setup"]["acceptance_criteria"][0]["threshold"] = 0.99  # type: ignore[index]
    data["setup"]["outcome"] = "fail"  # type: ignore[index]
    assert _l106(repo, data) == set()
