"""The demo's synthetic cohort, logistic regression and metrics: determinism and correctness."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.demo.cohort import (
    COLUMNS,
    Row,
    from_csv,
    generate_cohort,
    summarize,
    to_csv,
)
from ledger.demo.metrics import (
    DELONG_METHOD,
    WILSON_METHOD,
    auroc,
    delong,
    delong_interval,
    evaluate,
    performance,
    wilson_interval,
)
from ledger.demo.training import Hyperparameters, TrainedModel, log_loss, train


@pytest.fixture(scope="module")
def train_v10() -> list[Row]:
    return generate_cohort(1200, seed=1)


@pytest.fixture(scope="module")
def test_set() -> list[Row]:
    return generate_cohort(600, seed=99)


@pytest.fixture(scope="module")
def model_v10(train_v10: list[Row]) -> TrainedModel:
    return train(train_v10, Hyperparameters())


# --- cohort -------------------------------------------------------------------------------


def test_cohort_csv_is_byte_identical_across_runs() -> None:
    first = to_csv(generate_cohort(300, seed=5))
    assert first == to_csv(generate_cohort(300, seed=5))
    assert b"\r" not in first
    assert first.split(b"\n")[0] == ",".join(COLUMNS).encode()
    assert first.endswith(b"\n") and first.count(b"\n") == 301


def test_v11_is_a_true_extension_of_v10(train_v10: list[Row]) -> None:
    v11 = generate_cohort(2000, seed=1)
    assert v11[:1200] == train_v10
    assert to_csv(v11).startswith(to_csv(train_v10))


def test_different_seed_gives_different_patients(train_v10: list[Row], test_set: list[Row]) -> None:
    assert test_set != train_v10[:600]
    assert len(set(test_set) & set(train_v10)) < 5  # identical synthetic rows are chance only


def test_summary_counts_add_up(train_v10: list[Row]) -> None:
    summary = summarize(train_v10)
    assert (summary.size, summary.events) == (1200, 187)  # pinned: the generator is seeded
    assert summary.events == sum(row.sepsis for row in train_v10)
    assert summary.prevalence == round(187 / 1200, 4)
    assert 0.10 <= summary.prevalence <= 0.20
    assert sum(n for _, n in summary.sex_counts) == summary.size
    assert sum(n for _, n in summary.site_counts) == summary.size
    assert [name for name, _ in summary.site_counts] == ["east", "north", "south"]
    assert 18 <= summary.age_min <= summary.age_median <= summary.age_max <= 90
    assert all(n == 0 for _, n in summary.missing_counts)


def test_summary_counts_missing_values(train_v10: list[Row]) -> None:
    rows = [dataclasses.replace(train_v10[0], lactate=None), *train_v10[1:10]]
    assert dict(summarize(rows).missing_counts)["lactate"] == 1


def test_min_age_excludes_younger_rows_from_the_same_stream() -> None:
    older = generate_cohort(300, seed=1, min_age=65)
    assert len(older) == 300
    assert min(row.age for row in older) >= 65
    eligible = [row for row in generate_cohort(2000, seed=1) if row.age >= 65]
    assert older == eligible[:300]


def test_csv_round_trip(train_v10: list[Row]) -> None:
    rows = [*train_v10[:50], dataclasses.replace(train_v10[50], wbc=None)]
    data = to_csv(rows)
    assert from_csv(data) == rows
    assert to_csv(from_csv(data)) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"age,sex\n40,F\n",
        b",".join(c.encode() for c in COLUMNS) + b"\n40,X,north,80.0,16.0,37.0,8.0,1.2,120.0,0\n",
        b",".join(c.encode() for c in COLUMNS) + b"\n40,F,north,80.05,16.0,37.0,8.0,1.2,120.0,0\n",
        b",".join(c.encode() for c in COLUMNS) + b"\n40,F,north,80.0,16.0,37.0,8.0,1.2,120.0,2\n",
    ],
)
def test_from_csv_rejects_malformed_input(bad: bytes) -> None:
    with pytest.raises(ValueError):
        from_csv(bad)


# --- training -----------------------------------------------------------------------------


def test_model_json_is_byte_identical_across_runs(train_v10: list[Row]) -> None:
    hp = Hyperparameters(epochs=50)
    first = train(train_v10[:400], hp).to_json()
    assert first == train(train_v10[:400], hp).to_json()
    assert first.endswith(b"}\n")


def test_model_json_round_trip(model_v10: TrainedModel, test_set: list[Row]) -> None:
    restored = TrainedModel.from_json(model_v10.to_json())
    assert restored == model_v10
    assert restored.predict_proba(test_set[0]) == model_v10.predict_proba(test_set[0])
    with pytest.raises(ValueError, match="model"):
        TrainedModel.from_json(b'{"format": "something-else"}')


def test_training_improves_on_the_null_model(model_v10: TrainedModel, train_v10: list[Row]) -> None:
    assert model_v10.final_loss < model_v10.initial_loss - 0.05
    prevalence = sum(row.sepsis for row in train_v10) / len(train_v10)
    null_loss = -(prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence))
    assert model_v10.initial_loss == pytest.approx(null_loss, abs=1e-6)
    assert log_loss(model_v10, train_v10) < null_loss - 0.05
    assert all(round(w, 6) == w for w in model_v10.weights)


def test_trained_model_beats_chance_on_the_test_set(
    model_v10: TrainedModel, test_set: list[Row]
) -> None:
    result = evaluate(model_v10, test_set, model_v10.hyperparameters.decision_threshold)
    auc = result.overall.auroc
    assert auc.value is not None and auc.value > 0.7
    assert auc.ci is not None and auc.ci.lower > 0.5 and auc.ci.method == DELONG_METHOD
    assert result.overall.sensitivity.value is not None
    assert result.overall.sensitivity.value > 0.5


def test_evaluation_subgroups_partition_the_test_set(
    model_v10: TrainedModel, test_set: list[Row]
) -> None:
    result = evaluate(model_v10, test_set, 0.15)
    counts = result.overall.counts
    assert counts.tp + counts.fp + counts.tn + counts.fn == counts.n == 600
    for attribute, groups in (("sex", ["F", "M"]), ("age band", ["18-64", "65+"])):
        parts = [s for s in result.subgroups if s.attribute == attribute]
        assert [s.group for s in parts] == groups
        assert sum(s.performance.counts.n for s in parts) == counts.n
        assert sum(s.performance.counts.events for s in parts) == counts.events
    sensitivity = result.overall.sensitivity
    assert sensitivity.value == round(counts.tp / counts.events, 4)
    assert sensitivity.ci is not None and sensitivity.ci.method == WILSON_METHOD


# --- metrics ------------------------------------------------------------------------------


def test_wilson_interval_matches_hand_computation() -> None:
    # 8/10: centre (0.8 + z²/20) / (1 + z²/10), half-width z·sqrt(0.016 + z²/400) / (1 + z²/10).
    lower, upper = wilson_interval(8, 10)
    assert lower == pytest.approx(0.490162, abs=1e-6)
    assert upper == pytest.approx(0.943318, abs=1e-6)
    assert wilson_interval(2, 10) == pytest.approx((1 - upper, 1 - lower))
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0


def test_auroc_counts_ties_as_half() -> None:
    # Events 0.8, 0.5, 0.5 vs non-events 0.5, 0.2: of 6 pairs, 4 ordered right and 2 tied.
    assert auroc([0.8, 0.5, 0.5, 0.5, 0.2], [1, 1, 1, 0, 0]) == pytest.approx(5 / 6)
    assert auroc([0.3, 0.3, 0.3], [1, 0, 0]) == 0.5
    assert auroc([0.9, 0.1], [1, 0]) == 1.0


def _delong_reference(scores: list[float], labels: list[int]) -> tuple[float, float]:
    """O(m·n) DeLong straight from the definition, to check the midrank algorithm."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else 0.5 if x == y else 0.0

    v10 = [sum(psi(x, y) for y in neg) / len(neg) for x in pos]
    v01 = [sum(psi(x, y) for x in pos) / len(pos) for y in neg]
    auc = sum(v10) / len(pos)
    s10 = sum((v - auc) ** 2 for v in v10) / (len(v10) - 1)
    s01 = sum((v - auc) ** 2 for v in v01) / (len(v01) - 1)
    return auc, s10 / len(pos) + s01 / len(neg)


def test_delong_matches_the_definition() -> None:
    rng = random.Random(3)
    labels = [int(rng.random() < 0.3) for _ in range(120)]
    scores = [round(y * 0.8 + rng.random(), 1) for y in labels]  # rounding forces ties
    auc, variance = delong(scores, labels)
    ref_auc, ref_variance = _delong_reference(scores, labels)
    assert auc == pytest.approx(ref_auc)
    assert variance == pytest.approx(ref_variance)


def test_delong_interval_contains_estimate_and_shrinks_with_n() -> None:
    def width(n: int) -> float:
        rng = random.Random(11)
        labels = [int(rng.random() < 0.2) for _ in range(n)]
        scores = [rng.gauss(float(y), 1.0) for y in labels]
        auc, bounds = delong_interval(scores, labels)
        assert bounds is not None and bounds[0] < auc < bounds[1]
        return bounds[1] - bounds[0]

    assert width(4000) < width(400) / 2  # roughly 1/sqrt(n)


def test_undefined_metrics_are_none_not_zero() -> None:
    only_negatives = performance([0.1, 0.4, 0.7], [0, 0, 0], threshold=0.5)
    assert only_negatives.sensitivity.value is None and only_negatives.sensitivity.ci is None
    assert only_negatives.auroc.value is None and only_negatives.auroc.ci is None
    assert only_negatives.specificity.value == round(2 / 3, 4)
    one_event = performance([0.9, 0.4, 0.2], [1, 0, 0], threshold=0.5)
    assert one_event.auroc.value == 1.0 and one_event.auroc.ci is None


@given(
    st.lists(st.tuples(st.integers(-20, 20), st.booleans()), min_size=2, max_size=60).filter(
        lambda pairs: len({label for _, label in pairs}) == 2
    )
)
def test_auroc_respects_order_only(pairs: list[tuple[int, bool]]) -> None:
    scores = [float(score) for score, _ in pairs]
    labels = [int(label) for _, label in pairs]
    value = auroc(scores, labels)
    assert 0.0 <= value <= 1.0
    assert auroc([-s for s in scores], labels) == pytest.approx(1 - value, abs=1e-12)
    assert auroc([s**3 + 5.0 for s in scores], labels) == value  # strictly increasing, exact
