"""A binary classifier's performance, as an evaluation record states it.

``binary_metrics(y_true, y_score, threshold, subgroups=...)`` returns the record's ``metrics``
and ``subgroup_metrics``, overall and per subgroup, each metric with its n, events, definition
and interval:

- sensitivity and specificity at the threshold (a unit is predicted positive when its score is
  at least the threshold), with Wilson score intervals, which stay inside [0, 1] and keep their
  coverage near 0 and 1 where the Wald interval does not;
- AUROC, the Mann-Whitney statistic, with DeLong's variance computed by the midrank algorithm
  of Sun and Xu (2014) in O(n log n), and a Wald interval clipped to [0, 1];
- for probabilities, calibration: the Brier score with a normal interval for a mean, the
  calibration intercept (calibration-in-the-large: logistic regression of the outcome on an
  intercept with the logit of the prediction as offset) and the calibration slope (the
  coefficient of that logit when it is fitted too), both with Wald intervals from the
  information matrix of the fit.

Everything is computed in plain Python from the values' ``tolist()`` where they have one
(numpy arrays, pandas Series), so the same inputs give the same bytes with or without numpy.
A metric that is undefined in a subgroup (no events, one class, a fit that does not converge)
is left out and said so in ``notes``; bad input is a ``UsageError`` naming the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from ledger.errors import UsageError
from ledger.measure.cohort import MISSING_CATEGORY, category

WILSON = "Wilson score"
DELONG = "DeLong (1988) variance, Wald interval clipped to [0, 1]"
MEAN_NORMAL = "normal approximation for a mean"
WALD_FIT = "Wald, from the information matrix of the logistic fit"
DEFINITIONS = {
    "sensitivity": "TP / (TP + FN); predicted positive when score >= threshold",
    "specificity": "TN / (TN + FP); predicted negative when score < threshold",
    "auroc": "Mann-Whitney U / (events * non-events); tied scores count one half",
    "brier_score": "mean of (predicted probability - outcome)^2",
    "calibration_intercept": "a in logit P(outcome) = a + logit(p): calibration-in-the-large",
    "calibration_slope": "b in logit P(outcome) = a + b * logit(p)",
}
Z_95 = NormalDist().inv_cdf(0.975)
#: Probabilities of exactly 0 or 1 have no logit; the calibration fits take them this close.
LOGIT_EPSILON = 1e-12
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True)
class BinaryEvaluation:
    """An evaluation's metrics, ready for its record (``fields()``), with what was left out."""

    threshold: float
    n: int
    events: int
    metrics: list[dict[str, Any]]
    subgroup_metrics: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The record fields: ``metrics`` and ``subgroup_metrics`` (``not_applicable`` when no
        subgroups were given)."""
        subgroups: Any = self.subgroup_metrics or {
            "not_applicable": "no subgroup columns were given to the evaluation"
        }
        return {"metrics": self.metrics, "subgroup_metrics": subgroups}


def binary_metrics(
    y_true: Iterable[Any],
    y_score: Iterable[Any],
    threshold: float,
    *,
    subgroups: Mapping[str, Iterable[Any]] | None = None,
    probabilities: bool = True,
    level: float = 0.95,
    decimals: int = 4,
) -> BinaryEvaluation:
    """Sensitivity, specificity, AUROC and (for ``probabilities``) calibration, overall and for
    each group of each subgroup column (a missing label forms the group "missing")."""
    labels = _labels(y_true)
    scores = _scores(y_score, len(labels), probabilities)
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise UsageError(f"the threshold is {threshold!r}; give a finite number")
    if not 0 < level < 1:
        raise UsageError(f"the interval level is {level!r}; give a fraction such as 0.95")
    if 0 in (sum(labels), len(labels) - sum(labels)):
        only = "events" if sum(labels) else "non-events"
        raise UsageError(
            f"y_true holds only {only}; sensitivity, specificity and AUROC need both classes"
        )
    metric = _Metrics(threshold, probabilities, NormalDist().inv_cdf(0.5 + level / 2), level)
    notes: list[str] = []
    overall = metric.all(labels, scores, "overall", notes, decimals)
    by_group: list[dict[str, Any]] = []
    for attribute, values in (subgroups or {}).items():
        groups = _groups(attribute, values, len(labels))
        for group, members in groups.items():
            found = metric.all(
                [labels[i] for i in members],
                [scores[i] for i in members],
                f"{attribute}={group}",
                notes,
                decimals,
            )
            by_group.append({"attribute": attribute, "group": group, "metrics": found})
    return BinaryEvaluation(float(threshold), len(labels), sum(labels), overall, by_group, notes)


# --- the statistics ----------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (unrounded)."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials and trials > 0")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0 or n successes the exact bound is 0 or 1; floating point would leave ~1e-17.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == trials else min(1.0, centre + half)
    return lower, upper


def _midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def delong(positives: list[float], negatives: list[float]) -> tuple[float, float | None]:
    """AUROC and its DeLong variance (``None`` with fewer than 2 events or non-events)."""
    m, n = len(positives), len(negatives)
    within_pos = _midranks(positives)
    within_neg = _midranks(negatives)
    overall = _midranks(positives + negatives)
    # A positive's overall rank minus its rank among positives counts the negatives below it
    # (ties half): that is its DeLong component V10 times n; likewise for negatives.
    v10 = [(overall[i] - within_pos[i]) / n for i in range(m)]
    v01 = [1 - (overall[m + j] - within_neg[j]) / m for j in range(n)]
    auc = math.fsum(v10) / m
    if m < 2 or n < 2:
        return auc, None
    return auc, _sample_variance(v10) / m + _sample_variance(v01) / n


def delong_interval(
    positives: list[float], negatives: list[float], z: float = Z_95
) -> tuple[float, tuple[float, float] | None]:
    """AUROC and its DeLong Wald interval clipped to [0, 1] (None without a variance)."""
    auc, variance = delong(positives, negatives)
    if variance is None:
        return auc, None
    half = z * math.sqrt(variance)
    return auc, (max(0.0, auc - half), min(1.0, auc + half))


def _sample_variance(values: list[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _logit(p: float) -> float:
    p = min(max(p, LOGIT_EPSILON), 1 - LOGIT_EPSILON)
    return math.log(p / (1 - p))


def calibration_intercept(labels: list[int], offsets: list[float]) -> tuple[float, float] | None:
    """The intercept with the logits as offset, and its variance; None if the fit fails."""
    a = 0.0
    for _ in range(_MAX_ITERATIONS):
        fitted = [_sigmoid(a + o) for o in offsets]
        score = math.fsum(y - p for y, p in zip(labels, fitted, strict=True))
        information = math.fsum(p * (1 - p) for p in fitted)
        if information <= 0:
            return None
        step = score / information
        a += step
        if abs(step) < _TOLERANCE:
            return a, 1 / information
    return None


def calibration_slope(labels: list[int], logits: list[float]) -> tuple[float, float] | None:
    """The slope of the logits in a logistic fit with intercept, and its variance; None if the
    fit fails (no spread in the predictions, or separation)."""
    a, b = 0.0, 1.0
    for _ in range(_MAX_ITERATIONS):
        fitted = [_sigmoid(a + b * x) for x in logits]
        weights = [p * (1 - p) for p in fitted]
        residuals = [y - p for y, p in zip(labels, fitted, strict=True)]
        g0 = math.fsum(residuals)
        g1 = math.fsum(r * x for r, x in zip(residuals, logits, strict=True))
        h00 = math.fsum(weights)
        h01 = math.fsum(w * x for w, x in zip(weights, logits, strict=True))
        h11 = math.fsum(w * x * x for w, x in zip(weights, logits, strict=True))
        determinant = h00 * h11 - h01 * h01
        if determinant <= 1e-12 * max(1.0, h00 * h11):
            return None
        step_a = (h11 * g0 - h01 * g1) / determinant
        step_b = (h00 * g1 - h01 * g0) / determinant
        a, b = a + step_a, b + step_b
        if max(abs(step_a), abs(step_b)) < _TOLERANCE:
            return b, h00 / determinant
        if not (math.isfinite(a) and math.isfinite(b)):
            return None
    return None


@dataclass(frozen=True)
class _Metrics:
    threshold: float
    probabilities: bool
    z: float
    level: float

    def all(
        self, labels: list[int], scores: list[float], where: str, notes: list[str], decimals: int
    ) -> list[dict[str, Any]]:
        """The metrics of one group of units; what cannot be computed is noted, not guessed."""
        n, events = len(labels), sum(labels)
        flagged = [s >= self.threshold for s in scores]
        tp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and y)
        tn = sum(1 for f, y in zip(flagged, labels, strict=True) if not f and not y)

        def metric(
            name: str, value: float, ci: tuple[float, float] | None, method: str, why: str = ""
        ) -> dict[str, Any]:
            interval: dict[str, Any] = (
                {"not_applicable": why}
                if ci is None
                else {
                    "lower": round(ci[0], decimals),
                    "upper": round(ci[1], decimals),
                    "level": self.level,
                    "method": method,
                }
            )
            out: dict[str, Any] = {
                "name": name,
                "value": round(value, decimals),
                "ci": interval,
                "n": n,
                "events": events,
                "definition": DEFINITIONS[name],
            }
            if name in ("sensitivity", "specificity"):
                out["threshold"] = self.threshold
            return out

        found: list[dict[str, Any]] = []
        if events:
            ci = wilson_interval(tp, events, self.z)
            found.append(metric("sensitivity", tp / events, ci, WILSON))
        if n - events:
            ci = wilson_interval(tn, n - events, self.z)
            found.append(metric("specificity", tn / (n - events), ci, WILSON))
        if not events or events == n:
            which = "events" if not events else "non-events"
            left_out = "sensitivity" if not events else "specificity"
            notes.append(
                f"{where}: no {which}, so {left_out}, AUROC and calibration are not computed"
            )
            return found
        positives = [s for s, y in zip(scores, labels, strict=True) if y]
        negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
        auc, auc_ci = delong_interval(positives, negatives, self.z)
        found.append(metric("auroc", auc, auc_ci, DELONG, "fewer than two events or non-events"))
        if self.probabilities:
            found += self._calibration(labels, scores, where, notes, metric)
        return found

    def _calibration(
        self, labels: list[int], scores: list[float], where: str, notes: list[str], metric: Any
    ) -> list[dict[str, Any]]:
        n = len(labels)
        squared = [(s - y) ** 2 for s, y in zip(scores, labels, strict=True)]
        brier = math.fsum(squared) / n
        spread = self.z * math.sqrt(_sample_variance(squared) / n) if n > 1 else 0.0
        found = [
            metric(
                "brier_score",
                brier,
                (max(0.0, brier - spread), min(1.0, brier + spread)) if n > 1 else None,
                MEAN_NORMAL,
                "one unit only",
            )
        ]
        logits = [_logit(s) for s in scores]
        for name, fit in (
            ("calibration_intercept", calibration_intercept(labels, logits)),
            ("calibration_slope", calibration_slope(labels, logits)),
        ):
            if fit is None:
                notes.append(
                    f"{where}: the {name.replace('_', ' ')} is not computed: its fit does not "
                    "converge (no spread in the predictions, or they separate the outcomes)"
                )
                continue
            value, variance = fit
            half = self.z * math.sqrt(variance)
            found.append(metric(name, value, (value - half, value + half), WALD_FIT))
        return found


# --- the inputs ---------------------------------------------------------------------------


def _values(values: Iterable[Any]) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    if callable(tolist):
        listed = tolist()
        if isinstance(listed, list):
            return listed
    return list(values)


def _labels(y_true: Iterable[Any]) -> list[int]:
    labels: list[int] = []
    for i, y in enumerate(_values(y_true)):
        if isinstance(y, (int, float)) and y in (0, 1):
            labels.append(int(y))
        else:
            raise UsageError(f"y_true[{i}] is {y!r}; labels must be 0 or 1 (or False and True)")
    if not labels:
        raise UsageError("y_true is empty; give the outcome of every unit evaluated")
    return labels


def _scores(y_score: Iterable[Any], n: int, probabilities: bool) -> list[float]:
    raw = _values(y_score)
    if len(raw) != n:
        raise UsageError(f"y_true has {n} values and y_score {len(raw)}; give one score per unit")
    scores: list[float] = []
    for i, s in enumerate(raw):
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise UsageError(f"y_score[{i}] is {s!r}; scores must be finite numbers")
        if probabilities and not 0 <= s <= 1:
            raise UsageError(
                f"y_score[{i}] is {s!r}, outside [0, 1]; pass probabilities=False for scores "
                "that are not probabilities (calibration is then left out)"
            )
        scores.append(float(s))
    return scores


def _groups(attribute: str, values: Iterable[Any], n: int) -> dict[str, list[int]]:
    """Unit indexes by group label (``ledger.measure.cohort.category``: a missing label, such
    as None, NaN or "NA", is the group "missing")."""
    if not isinstance(attribute, str) or not attribute.strip():
        raise UsageError(f"subgroup column name {attribute!r}: give a non-empty name")
    labels = _values(values)
    if len(labels) != n:
        raise UsageError(
            f"subgroup {attribute!r} has {len(labels)} values for {n} units; give one per unit"
        )
    groups: dict[str, list[int]] = {}
    for i, value in enumerate(labels):
        groups.setdefault(category(value), []).append(i)
    if set(groups) == {MISSING_CATEGORY}:
        raise UsageError(f"subgroup {attribute!r} has no values; every label is missing")
    # Sorted as the cohort block sorts its categories: by label, the missing ones last.
    return dict(sorted(groups.items(), key=lambda item: (item[0] == MISSING_CATEGORY, item[0])))
