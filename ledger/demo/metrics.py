"""The demo's evaluation: sensitivity, specificity and AUROC with 95 % CIs, overall and by
sex and age band, from the statistics of ``ledger.measure.binary`` (Wilson score intervals,
DeLong's variance). Reported numbers are rounded to 4 decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

from ledger.demo.cohort import Row
from ledger.measure.binary import delong as positives_delong
from ledger.measure.binary import delong_interval as positives_delong_interval
from ledger.measure.binary import wilson_interval

CONFIDENCE_LEVEL = 0.95
Z_95 = NormalDist().inv_cdf(0.5 + CONFIDENCE_LEVEL / 2)
WILSON_METHOD = "Wilson score"
DELONG_METHOD = "DeLong (1988) variance, Wald interval on the AUROC scale, clipped to [0, 1]"
DEFINITIONS = {
    "sensitivity": "TP / (TP + FN); predicted positive when predicted risk >= threshold",
    "specificity": "TN / (TN + FP); predicted negative when predicted risk < threshold",
    "auroc": "Mann-Whitney U / (events * non-events); tied scores count one half",
}
AGE_BANDS: tuple[tuple[str, int, int], ...] = (("18-64", 0, 64), ("65+", 65, 200))
_DECIMALS = 4


class Scorer(Protocol):
    def predict_proba(self, row: Row) -> float: ...


@dataclass(frozen=True, slots=True)
class Interval:
    lower: float
    upper: float
    method: str
    level: float = CONFIDENCE_LEVEL


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric value and its CI; ``None`` where it is undefined (e.g. no events)."""

    value: float | None
    ci: Interval | None


@dataclass(frozen=True, slots=True)
class Counts:
    n: int
    events: int
    tp: int
    fp: int
    tn: int
    fn: int


@dataclass(frozen=True, slots=True)
class Performance:
    threshold: float
    counts: Counts
    sensitivity: Estimate
    specificity: Estimate
    auroc: Estimate


@dataclass(frozen=True, slots=True)
class Subgroup:
    attribute: str
    group: str
    performance: Performance


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Overall performance plus subgroups by sex and by age band (only groups present)."""

    threshold: float
    overall: Performance
    subgroups: tuple[Subgroup, ...]


def _split(scores: Sequence[float], labels: Sequence[int]) -> tuple[list[float], list[float]]:
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    if any(y not in (0, 1) for y in labels) or not all(math.isfinite(s) for s in scores):
        raise ValueError("labels must be 0/1 and scores finite")
    positives = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    negatives = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not positives or not negatives:
        raise ValueError("AUROC needs at least one event and one non-event")
    return positives, negatives


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve, P(score of event > score of non-event) + P(tie) / 2."""
    return delong(scores, labels)[0]


def delong(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float | None]:
    """AUROC and its DeLong variance; the variance is ``None`` with < 2 events or non-events."""
    return positives_delong(*_split(scores, labels))


def delong_interval(
    scores: Sequence[float], labels: Sequence[int], z: float = Z_95
) -> tuple[float, tuple[float, float] | None]:
    """AUROC and its DeLong Wald interval clipped to [0, 1] (unrounded)."""
    return positives_delong_interval(*_split(scores, labels), z)


def _r(value: float) -> float:
    return round(value, _DECIMALS)


def _proportion(successes: int, trials: int) -> Estimate:
    if trials == 0:
        return Estimate(value=None, ci=None)
    lower, upper = wilson_interval(successes, trials)
    return Estimate(_r(successes / trials), Interval(_r(lower), _r(upper), WILSON_METHOD))


def performance(scores: Sequence[float], labels: Sequence[int], threshold: float) -> Performance:
    """Counts, sensitivity and specificity at ``threshold``, and AUROC, all with 95 % CIs."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    flagged = [s >= threshold for s in scores]
    pairs = list(zip(flagged, labels, strict=True))
    tp, fn = pairs.count((True, 1)), pairs.count((False, 1))
    fp, tn = pairs.count((True, 0)), pairs.count((False, 0))
    auc = Estimate(value=None, ci=None)
    if tp + fn and fp + tn:
        value, bounds = delong_interval(scores, labels)
        ci = None if bounds is None else Interval(_r(bounds[0]), _r(bounds[1]), DELONG_METHOD)
        auc = Estimate(_r(value), ci)
    return Performance(
        threshold=threshold,
        counts=Counts(n=len(labels), events=tp + fn, tp=tp, fp=fp, tn=tn, fn=fn),
        sensitivity=_proportion(tp, tp + fn),
        specificity=_proportion(tn, tn + fp),
        auroc=auc,
    )


def _age_band(age: int) -> str:
    return next(label for label, low, high in AGE_BANDS if low <= age <= high)


def evaluate(model: Scorer, rows: list[Row], threshold: float) -> Evaluation:
    """Overall and subgroup (sex, age band) performance of ``model`` on ``rows``."""
    if not rows:
        raise ValueError("cannot evaluate on an empty set")
    scores = [model.predict_proba(row) for row in rows]
    labels = [row.sepsis for row in rows]
    groupings = (
        ("sex", [row.sex for row in rows], sorted({row.sex for row in rows})),
        ("age band", [_age_band(row.age) for row in rows], [label for label, _, _ in AGE_BANDS]),
    )
    subgroups: list[Subgroup] = []
    for attribute, keys, groups in groupings:
        for group in groups:
            members = [i for i, key in enumerate(keys) if key == group]
            if members:
                result = performance(
                    [scores[i] for i in members], [labels[i] for i in members], threshold
                )
                subgroups.append(Subgroup(attribute, group, result))
    return Evaluation(
        threshold=threshold,
        overall=performance(scores, labels, threshold),
        subgroups=tuple(subgroups),
    )
