"""ledger.measure.binary: an evaluation's metrics from labels and scores, checked against
hand computations, brute-force definitions and data whose calibration is known."""

from __future__ import annotations

import json
import math
import random

import pytest

from ledger.errors import UsageError
from ledger.measure.binary import (
    binary_metrics,
    calibration_intercept,
    calibration_slope,
    delong,
    wilson_interval,
)
from ledger.records.evaluation import Metric, SubgroupMetrics

LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SCORES = [0.9, 0.8, 0.4, 0.35, 0.5, 0.3, 0.2, 0.2, 0.1, 0.05]


def _by_name(metrics: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(m["name"]): m for m in metrics}


def test_counts_and_proportions_match_a_hand_computation() -> None:
    result = binary_metrics(LABELS, SCORES, 0.4)
    found = _by_name(result.metrics)
    # At 0.4: events 0.9, 0.8, 0.4 flagged (TP 3, FN 1); non-events 0.5 flagged (FP 1, TN 5).
    assert found["sensitivity"]["value"] == 0.75
    assert found["specificity"]["value"] == round(5 / 6, 4)
    lower, upper = wilson_interval(3, 4)
    assert found["sensitivity"]["ci"] == {
        "lower": round(lower, 4),
        "upper": round(upper, 4),
        "level": 0.95,
        "method": "Wilson score",
    }
    assert found["sensitivity"]["threshold"] == 0.4
    assert "threshold" not in found["auroc"]
    assert (result.n, result.events) == (10, 4)
    assert all(m["n"] == 10 and m["events"] == 4 for m in result.metrics)


def test_wilson_interval_matches_the_published_value() -> None:
    # 8 of 10 at 95 %: 0.4902 to 0.9433 (Newcombe 1998, method 3).
    lower, upper = wilson_interval(8, 10)
    assert (round(lower, 4), round(upper, 4)) == (0.4902, 0.9433)


def test_auroc_and_delong_variance_match_their_definitions() -> None:
    rng = random.Random(3)
    labels = [rng.random() < 0.3 for _ in range(80)]
    scores = [round(rng.random() + 0.4 * y, 2) for y in labels]  # rounded: ties occur
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else 0.5 if x == y else 0.0

    m, n = len(positives), len(negatives)
    v10 = [sum(psi(x, y) for y in negatives) / n for x in positives]
    v01 = [sum(psi(x, y) for x in positives) / m for y in negatives]
    auc = sum(v10) / m
    s10 = sum((v - auc) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - auc) ** 2 for v in v01) / (n - 1)
    got_auc, variance = delong(positives, negatives)
    assert got_auc == pytest.approx(auc, abs=1e-12)
    assert variance == pytest.approx(s10 / m + s01 / n, rel=1e-9)
    found = _by_name(
        binary_metrics([int(y) for y in labels], scores, 0.5, probabilities=False).metrics
    )
    assert found["auroc"]["value"] == round(auc, 4)


def test_brier_score_is_the_mean_squared_error() -> None:
    found = _by_name(binary_metrics(LABELS, SCORES, 0.4).metrics)
    expected = sum((s - y) ** 2 for s, y in zip(SCORES, LABELS, strict=True)) / len(LABELS)
    assert found["brier_score"]["value"] == round(expected, 4)
    ci = found["brier_score"]["ci"]
    assert isinstance(ci, dict) and ci["lower"] <= found["brier_score"]["value"] <= ci["upper"]


def _simulated(n: int, slope: float, seed: int) -> tuple[list[int], list[float]]:
    """Outcomes from logit P = x; predictions from logit p = x / slope: a true slope of
    ``slope`` and, for a symmetric x, an intercept of 0."""
    rng = random.Random(seed)
    labels, scores = [], []
    for _ in range(n):
        x = rng.gauss(0, 1.5)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-x))))
        scores.append(1 / (1 + math.exp(-x / slope)))
    return labels, scores


@pytest.mark.parametrize("slope", [1.0, 0.5, 2.0])
def test_calibration_slope_recovers_a_known_miscalibration(slope: float) -> None:
    labels, scores = _simulated(6000, slope, seed=11)
    found = _by_name(binary_metrics(labels, scores, 0.5).metrics)
    fitted = found["calibration_slope"]
    ci = fitted["ci"]
    assert isinstance(ci, dict)
    assert ci["lower"] <= slope <= ci["upper"], fitted
    intercept = found["calibration_intercept"]["ci"]
    assert isinstance(intercept, dict)
    if slope == 1.0:
        assert intercept["lower"] <= 0 <= intercept["upper"]


def test_the_fits_solve_their_score_equations() -> None:
    labels, scores = _simulated(500, 1.3, seed=5)
    logits = [math.log(p / (1 - p)) for p in scores]
    fit = calibration_intercept(labels, logits)
    assert fit is not None
    a, _ = fit
    residual = sum(y - 1 / (1 + math.exp(-(a + o))) for y, o in zip(labels, logits, strict=True))
    assert abs(residual) < 1e-8
    assert calibration_slope(labels, [0.2] * len(labels)) is None  # no spread: no slope


def test_subgroups_are_sorted_with_missing_labels_as_their_own_group() -> None:
    sex = ["M", "F", None, "F", "M", "F", "M", float("nan"), "F", "M"]
    result = binary_metrics(LABELS, SCORES, 0.4, subgroups={"sex": sex})
    assert [(s["attribute"], s["group"]) for s in result.subgroup_metrics] == [
        ("sex", "F"),
        ("sex", "M"),
        ("sex", "missing"),
    ]
    for group in result.subgroup_metrics:
        SubgroupMetrics.model_validate(group)
    assert sum(s["metrics"][0]["n"] for s in result.subgroup_metrics) == 10
    for metric in result.metrics:
        Metric.model_validate(metric)


def test_a_group_without_events_leaves_out_what_needs_them_and_says_so() -> None:
    site = ["a", "a", "a", "a", "b", "b", "b", "a", "a", "a"]
    result = binary_metrics(LABELS, SCORES, 0.4, subgroups={"site": site})
    b = next(s for s in result.subgroup_metrics if s["group"] == "b")
    assert [m["name"] for m in b["metrics"]] == ["specificity"]
    assert "site=b: no events, so sensitivity, AUROC and calibration are not computed" in (
        result.notes
    )
    # In site a the predictions separate the outcomes: the slope has no finite estimate.
    assert [m["name"] for m in next(iter(result.subgroup_metrics))["metrics"]][-1] == (
        "calibration_intercept"
    )
    assert any(n.startswith("site=a: the calibration slope is not computed") for n in result.notes)


def test_fields_say_not_applicable_without_subgroups() -> None:
    fields = binary_metrics(LABELS, SCORES, 0.4).fields()
    assert fields["subgroup_metrics"] == {
        "not_applicable": "no subgroup columns were given to the evaluation"
    }
    assert json.loads(json.dumps(fields)) == fields


def test_scores_that_are_not_probabilities_skip_calibration() -> None:
    scores = [s * 10 - 3 for s in SCORES]
    names = [m["name"] for m in binary_metrics(LABELS, scores, 1.0, probabilities=False).metrics]
    assert names == ["sensitivity", "specificity", "auroc"]


def test_numpy_and_pandas_inputs_give_the_same_bytes() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    sex = ["M", "F", None, "F", "M", "F", "M", "F", "F", "M"]
    plain = binary_metrics(LABELS, SCORES, 0.4, subgroups={"sex": sex})
    frame = pd.DataFrame({"y": LABELS, "p": SCORES, "sex": sex})
    from_pandas = binary_metrics(frame["y"], frame["p"], 0.4, subgroups={"sex": frame["sex"]})
    from_numpy = binary_metrics(
        np.array(LABELS, dtype=bool), np.array(SCORES), 0.4, subgroups={"sex": np.array(sex)}
    )
    assert json.dumps(from_pandas.fields()) == json.dumps(plain.fields())
    # numpy turns None into the string "None" in a str array: a missing label all the same.
    assert json.dumps(from_numpy.fields()) == json.dumps(plain.fields())


@pytest.mark.parametrize(
    ("labels", "scores", "kwargs", "message"),
    [
        ([1, 0, 1], [0.2, 0.4], {}, "y_true has 3 values and y_score 2"),
        ([1, 0, 2], [0.2, 0.4, 0.5], {}, "y_true[2] is 2; labels must be 0 or 1"),
        ([1, 0, "1"], [0.2, 0.4, 0.5], {}, "y_true[2] is '1'"),
        ([1, 0, 1], [0.2, float("nan"), 0.5], {}, "y_score[1] is nan; scores must be finite"),
        ([1, 0, 1], [0.2, 0.4, float("inf")], {}, "y_score[2] is inf"),
        ([1, 1, 1], [0.2, 0.4, 0.5], {}, "y_true holds only events"),
        ([0, 0], [0.2, 0.4], {}, "y_true holds only non-events"),
        ([], [], {}, "y_true is empty"),
        ([1, 0], [0.2, 1.4], {}, "y_score[1] is 1.4, outside [0, 1]; pass probabilities=False"),
        ([1, 0], [0.2, 0.4], {"subgroups": {"sex": ["F"]}}, "subgroup 'sex' has 1 values for 2"),
        ([1, 0], [0.2, 0.4], {"subgroups": {"sex": [None, ""]}}, "subgroup 'sex' has no values"),
        ([1, 0], [0.2, 0.4], {"threshold": float("nan")}, "the threshold is nan"),
    ],
)
def test_bad_input_is_one_line_naming_the_value(
    labels: list[object], scores: list[object], kwargs: dict[str, object], message: str
) -> None:
    threshold = kwargs.pop("threshold", 0.5)
    with pytest.raises(UsageError) as caught:
        binary_metrics(labels, scores, threshold, **kwargs)  # type: ignore[arg-type]
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.exit_code == 2
