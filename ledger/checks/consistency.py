"""Checks that values inside one record agree with each other (rules L106 and L107)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ledger.findings import Finding, finding
from ledger.records.common import AcceptanceCriterion, NonInferiority, SubgroupRef
from ledger.records.dataset import DatasetRecord
from ledger.records.evaluation import ConfidenceInterval, EvaluationRecord, Metric
from ledger.records.model import ModelRecord

if TYPE_CHECKING:
    from ledger.records import Record

# Prevalence is usually written rounded to four places.
_PREVALENCE_TOLERANCE = 0.0005


def check_consistency(record: Record, path: str) -> list[Finding]:
    if isinstance(record, DatasetRecord):
        return _dataset(record, path)
    if isinstance(record, EvaluationRecord):
        return _evaluation(record, path) + _run_period(record, path)
    if isinstance(record, ModelRecord):
        return _run_period(record, path)
    return []


def _run_period(record: ModelRecord | EvaluationRecord, path: str) -> list[Finding]:
    started, ended = record.started, record.ended
    if ended is None:
        return []  # no period, or a run whose end was not known when it was recorded
    if started is None:
        return [finding("L107", path, "/ended", "the run has an end but no start (started)")]
    # As moments, not as text: 10:00+01:00 is before 09:30Z.
    if datetime.fromisoformat(ended) < datetime.fromisoformat(started):
        return [
            finding(
                "L107", path, "/ended", f"the run ended ({ended}) before it started ({started})"
            )
        ]
    return []


def _dataset(record: DatasetRecord, path: str) -> list[Finding]:
    found: list[Finding] = []
    cohort = record.cohort
    if cohort.age.min > cohort.age.max:
        found.append(finding("L106", path, "/cohort/age", "age min is above age max"))
    units = cohort.subjects if cohort.subjects is not None else cohort.size
    sex_total = sum(c.n for c in cohort.sex)
    if sex_total != units:
        found.append(
            finding(
                "L106",
                path,
                "/cohort/sex",
                f"sex counts add up to {sex_total}, not the cohort's {units}",
            )
        )
    for i, group in enumerate(cohort.subgroups if isinstance(cohort.subgroups, list) else []):
        total = sum(c.n for c in group.counts)
        if total > units:
            found.append(
                finding(
                    "L106",
                    path,
                    f"/cohort/subgroups/{i}",
                    f"{group.attribute} counts add up to {total}, more than {units}",
                )
            )
    outcome = cohort.outcome
    if outcome.events > cohort.size:
        found.append(
            finding(
                "L106",
                path,
                "/cohort/outcome/events",
                f"{outcome.events} events in a cohort of {cohort.size}",
            )
        )
    elif cohort.size and abs(outcome.events / cohort.size - outcome.prevalence) > (
        _PREVALENCE_TOLERANCE
    ):
        found.append(
            finding(
                "L106",
                path,
                "/cohort/outcome/prevalence",
                f"prevalence {outcome.prevalence} is not events/size "
                f"({outcome.events}/{cohort.size})",
            )
        )
    period = record.source.collection_period
    if period.start > period.end:
        found.append(
            finding(
                "L106", path, "/source/collection_period", "collection period starts after it ends"
            )
        )
    return found


def _metric_findings(metric: Metric, path: str, pointer: str) -> list[Finding]:
    found: list[Finding] = []
    ci = metric.ci
    if isinstance(ci, ConfidenceInterval) and not ci.lower <= metric.value <= ci.upper:
        found.append(
            finding(
                "L106",
                path,
                pointer + "/ci",
                f"{metric.name} {metric.value} lies outside its confidence interval",
            )
        )
    if metric.events is not None and metric.events > metric.n:
        found.append(
            finding(
                "L106", path, pointer + "/events", f"{metric.events} events among {metric.n} units"
            )
        )
    return found


@dataclass(frozen=True)
class Judged:
    """One acceptance criterion against the evaluation's own metrics."""

    criterion: AcceptanceCriterion
    #: The value of the bound the criterion names (None: the metric or its interval is absent).
    measured: float | None
    #: None when it cannot be judged: nothing measured, or (non-inferiority) no baseline value.
    met: bool | None
    #: For non-inferiority, the baseline's estimate it was judged against.
    against: float | None = None

    def requirement(self) -> str:
        c = self.criterion
        where = f"[{c.subgroup.attribute}={c.subgroup.group}]" if c.subgroup else ""
        if isinstance(c, NonInferiority):
            return (
                f"{c.metric}{where} ({c.bound}) within {c.margin} of the baseline ({c.direction})"
            )
        return f"{c.metric}{where} ({c.bound}) {c.operator} {c.threshold}"


def judge(record: EvaluationRecord, baseline: EvaluationRecord | None = None) -> list[Judged]:
    """Each acceptance criterion judged from the metrics (none when the record states none),
    a non-inferiority criterion against ``baseline``'s estimate: the outcome is computed
    here, whatever the record says it is."""
    criteria = record.setup.acceptance_criteria
    if not isinstance(criteria, list):
        return []
    judged = []
    for criterion in criteria:
        measured = metric_of(record, criterion.metric, criterion.subgroup)
        value = _bound(criterion.bound, measured) if measured is not None else None
        if isinstance(criterion, NonInferiority):
            before = metric_of(baseline, criterion.metric, criterion.subgroup) if baseline else None
            against = before.value if before is not None else None
            met = None
            if value is not None and against is not None:
                if criterion.direction == "higher-is-better":
                    met = value >= against - criterion.margin
                else:
                    met = value <= against + criterion.margin
            judged.append(Judged(criterion, value, met, against))
            continue
        met = None if value is None else _OPERATORS[criterion.operator](value, criterion.threshold)
        judged.append(Judged(criterion, value, met))
    return judged


def metric_of(record: EvaluationRecord, name: str, subgroup: SubgroupRef | None) -> Metric | None:
    """A metric overall, or in one subgroup of ``subgroup_metrics``."""
    if subgroup is None:
        metrics = record.metrics
    elif isinstance(record.subgroup_metrics, list):
        groups = [
            g
            for g in record.subgroup_metrics
            if (g.attribute, g.group) == (subgroup.attribute, subgroup.group)
        ]
        metrics = [m for g in groups for m in g.metrics]
    else:
        metrics = []
    return next((m for m in metrics if m.name == name), None)


class Met(Protocol):
    """A judged criterion as far as the outcome goes: met, not met, or not judgeable."""

    @property
    def met(self) -> bool | None: ...


def outcome_of(judged: Sequence[Met]) -> str | None:
    """``pass`` or ``fail`` as the metrics give it; None when a criterion cannot be judged."""
    if not judged or any(one.met is None for one in judged):
        return None
    return "pass" if all(one.met for one in judged) else "fail"


_OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _bound(bound: str, metric: Metric) -> float | None:
    if bound == "estimate":
        return metric.value
    if not isinstance(metric.ci, ConfidenceInterval):
        return None
    return metric.ci.lower if bound == "ci-lower" else metric.ci.upper


def _evaluation(record: EvaluationRecord, path: str) -> list[Finding]:
    found: list[Finding] = []
    for i, metric in enumerate(record.metrics):
        found += _metric_findings(metric, path, f"/metrics/{i}")
    judged = judge(record)
    for i, one in enumerate(judged):
        if one.measured is None:
            c = one.criterion
            where = f" in subgroup {c.subgroup.attribute}={c.subgroup.group}" if c.subgroup else ""
            found.append(
                finding(
                    "L106",
                    path,
                    f"/setup/acceptance_criteria/{i}",
                    f"criterion on {c.metric!r} ({c.bound}){where} has no matching metric "
                    "value in this record",
                )
            )
    # A non-inferiority criterion is judged against the baseline: verify does that.
    expected = outcome_of(judged)
    if expected is not None and record.setup.outcome not in ("not-assessed", expected):
        found.append(
            finding(
                "L106",
                path,
                "/setup/outcome",
                f"outcome says {record.setup.outcome!r}, but the metrics "
                f"against the acceptance criteria give {expected!r}",
            )
        )
    return found


def context_findings(data: dict[str, object], path: str) -> list[Finding]:
    """Failure patterns that make a result unjustifiable, read from the raw record so they are
    reported even when the record also breaks the schema."""
    kind = data.get("kind")
    found: list[Finding] = []
    if kind == "evaluation" and data.get("metrics"):
        if not data.get("datasets"):
            found.append(
                finding(
                    "L702",
                    path,
                    "/datasets",
                    "metrics are reported without the test datasets they came from",
                )
            )
        if not isinstance(data.get("test_population"), dict):
            found.append(
                finding(
                    "L702",
                    path,
                    "/test_population",
                    "metrics are reported without a test population",
                )
            )
    if kind == "model":
        training = data.get("training")
        datasets = training.get("datasets") if isinstance(training, dict) else None
        if not datasets:
            found.append(
                finding("L703", path, "/training/datasets", "the model names no training data")
            )
    return found
