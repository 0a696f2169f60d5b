"""ledger compare: two or more evaluations (or models) in one table, differences in words,
intervals weighed in plain sentences, and the "not comparable" verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import git, run_ledger, supersede_evaluation

EVAL_10 = "evaluation:sepsis-risk-heldout@1.0"
EVAL_11 = "evaluation:sepsis-risk-heldout@1.1"
EVAL_12 = "evaluation:sepsis-risk-heldout@1.2"


def _compared(repo: Path, *args: str) -> dict[str, Any]:
    done = run_ledger("compare", *args, "--format", "json", cwd=repo)
    assert done.code == 0, done.err
    result: dict[str, Any] = json.loads(done.out)
    return result


def test_two_evaluations_attribute_the_change_to_the_dataset_update(demo_repo: Path) -> None:
    result = _compared(demo_repo, EVAL_10, EVAL_11)
    assert result["records"] == [EVAL_10, EVAL_11]
    assert result["comparable"] is True and result["explained_by"] == ["data"]
    assert result["attribution"] == (
        "The difference can only come from data (training data: dataset:sepsis-cohort@1.0 -> "
        "dataset:sepsis-cohort@1.1); model configuration and evaluation conditions are unchanged."
    )
    whats = {d["what"]: d["values"] for d in result["differences"]}
    # Named in words, list items by what they hold: no cohort.sex[0].n.
    assert whats["sepsis-cohort: cohort / size"] == [1200, 2000]
    assert "sepsis-cohort: cohort / sex / F / n" in whats
    assert "sepsis-cohort: cohort / subgroups / site / counts / east / n" in whats
    assert not any("[" in what for what in whats)


def test_intervals_are_weighed_in_plain_sentences(demo_repo: Path) -> None:
    result = _compared(demo_repo, EVAL_10, EVAL_11)
    within = {m["name"]: m["within_intervals"] for m in result["metrics"]}
    assert within == {"auroc": True, "sensitivity": False, "specificity": True}
    assert result["intervals"] == [
        "Within the intervals: auroc, specificity: every estimate lies inside each other "
        "record's interval, so these differences lie within the intervals' overlap.",
        f"Beyond an interval: sensitivity: {EVAL_10}'s 0.8506 lies outside {EVAL_11}'s 95% "
        "interval 0.6714-0.846.",
    ]
    text = run_ledger("compare", EVAL_10, EVAL_11, cwd=demo_repo).out
    lines = text.splitlines()
    assert lines[0].startswith("compare 2 evaluations at ")
    assert lines[1].split() == [EVAL_10, EVAL_11]
    assert lines[3].split() == ["auroc", "0.8549", "(0.8192-0.8905)", "0.85", "(0.8134-0.8866)"]
    assert "model configuration: nothing differs" in lines
    assert "evaluation conditions: nothing differs" in lines
    assert "  sepsis-cohort: cohort / size" in text and "CI -" not in text


def test_models_have_no_evaluation_conditions(demo_repo: Path) -> None:
    text = run_ledger("compare", "model:sepsis-risk@1.0", "sepsis-risk@latest", cwd=demo_repo).out
    assert text.startswith("compare 2 models at ")
    assert "evaluation conditions" not in text
    assert text.rstrip().endswith("model configuration is unchanged.")


def test_three_evaluations_and_a_query(repo: Path, tmp_path: Path) -> None:
    supersede_evaluation(repo, tmp_path, _without_intervals)
    by_refs = _compared(repo, EVAL_10, EVAL_11, "sepsis-risk-heldout@latest")
    by_query = _compared(repo, "--query", "name = 'sepsis-risk-heldout'", "--all-versions")
    assert by_refs == by_query
    assert by_refs["records"] == [EVAL_10, EVAL_11, EVAL_12]
    auroc = next(m for m in by_refs["metrics"] if m["name"] == "auroc")
    assert auroc["within_intervals"] is None  # v1.2 states no interval
    assert auroc["estimates"][2] == {"level": None, "lower": None, "upper": None, "value": 0.85}
    assert by_refs["intervals"][-1].startswith(
        "No interval to weigh the difference against: auroc, sensitivity, specificity"
    )
    text = run_ledger("compare", EVAL_10, EVAL_11, EVAL_12, cwd=repo).out
    auroc_line = next(line for line in text.splitlines() if line.startswith("auroc"))
    assert auroc_line.split() == [
        "auroc",
        "0.8549",
        "(0.8192-0.8905)",
        "0.85",
        "(0.8134-0.8866)",
        "0.85",
    ]
    assert "The differences can only come from data (training data: " in text
    assert "/ dataset:sepsis-cohort@1.1 / dataset:sepsis-cohort@1.1)" in text


def test_results_on_other_test_data_or_other_definitions_are_not_comparable(
    repo: Path,
) -> None:
    path = repo / "records/evaluation/sepsis-risk-heldout/1.1.json"
    data = json.loads(path.read_text())
    data["metrics"][0]["definition"] = "TP / all positives, at any threshold"
    data["version"] = "1.2"
    (path.parent / "1.2.json").write_text(json.dumps(data, indent=2))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "Redefine sensitivity", cwd=repo)
    result = _compared(repo, EVAL_11, "sepsis-risk-heldout@1.2")
    assert result["comparable"] is False
    assert result["not_comparable_because"] == ["sensitivity is defined differently"]
    assert result["attribution"] == "Not comparable: sensitivity is defined differently."


def test_bad_comparisons_are_refused_in_one_line(demo_repo: Path) -> None:
    cases = {
        (EVAL_10,): "compare needs two or more REFs (or --query FILTER)",
        (EVAL_10, EVAL_10): f"{EVAL_10} is named twice",
        ("sepsis-cohort@1.0", "sepsis-cohort@1.1"): "compare evaluations or models",
        (EVAL_10, "model:sepsis-risk@1.0"): "not mixed kinds",
        (EVAL_10, "nope@latest"): "nope@latest: no record of that name",
        (EVAL_10, "--query", "kind = 'model'"): "compare takes REFs or --query, not both",
        ("--query", "kind = 'evaluation'"): "selects 1 record(s) at HEAD; compare needs two or "
        "more; --all-versions adds superseded versions",
        ("--query", "metrics.aurco > 0"): "unknown field 'metrics.aurco'",
    }
    for args, says in cases.items():
        done = run_ledger("compare", *args, cwd=demo_repo)
        assert done.code == 2, args
        assert says in done.err and done.err.count("\n") == 1, done.err


def _without_intervals(draft: dict[str, Any]) -> None:
    unstated = {"not_applicable": "a point estimate from a vendor report"}
    for metric in draft["metrics"]:
        metric["ci"] = unstated
    for group in draft.get("subgroup_metrics", []):
        for metric in group["metrics"]:
            metric["ci"] = unstated
    draft["setup"]["acceptance_criteria"] = [
        c for c in draft["setup"]["acceptance_criteria"] if c.get("bound", "estimate") == "estimate"
    ]
    draft.pop("impact_assessment", None)
