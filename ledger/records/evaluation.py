"""The evaluation record: how a model performed, on which data, under which conditions.

Field choices follow TRIPOD+AI items 12e, 16, 20-24 and 26, EU AI Act Annex IV 2(g) and the
pre-specified acceptance criteria of a PCCP's modification protocol.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ledger.records.common import (
    AcceptanceCriterion,
    Count,
    DateTimeStr,
    Envelope,
    Fraction,
    Link,
    NonEmptyStr,
    NotApplicable,
    Strict,
    Text,
    TextList,
    run_ended,
    run_started,
)


class TestData(Link):
    role: Literal["test", "external-validation", "temporal-validation", "monitoring"]


class ConfidenceInterval(Strict):
    lower: float
    upper: float
    level: Fraction = 0.95
    method: NonEmptyStr = Field(description="e.g. Wilson score, DeLong, bootstrap (2000).")


class Metric(Strict):
    name: NonEmptyStr = Field(description="e.g. sensitivity, specificity, auroc.")
    value: float
    ci: ConfidenceInterval | NotApplicable
    n: Count = Field(description="Units the metric was computed on.")
    events: Count | None = Field(default=None, description="Positive cases among them.")
    definition: NonEmptyStr = Field(description="How the metric is computed.")
    threshold: float | None = Field(default=None, description="Decision threshold, if any.")


class SubgroupMetrics(Strict):
    attribute: NonEmptyStr = Field(description="e.g. sex, age band, site.")
    group: NonEmptyStr
    metrics: list[Metric] = Field(min_length=1)


class Population(Strict):
    description: NonEmptyStr
    size: Count
    events: Count | None = None
    differences_from_development: Text


class ImpactAssessment(Strict):
    """Why a new model version whose metrics moved beyond the previous intervals is still
    acceptable (FDA PCCP impact assessment)."""

    what_changed: NonEmptyStr = Field(description="What changed in data, model or setting.")
    benefit_risk: NonEmptyStr = Field(description="The benefits and risks of the change.")
    subgroup_effects: Text = Field(description="How each affected subgroup moved, and why.")


class Setup(Strict):
    protocol: NonEmptyStr
    prespecified: bool = Field(
        description="Whether the criteria were fixed before the analysis: verify then checks "
        "that a record committed earlier states them (the model's evaluation_criteria, or "
        "the planned change named in modification)."
    )
    acceptance_criteria: list[AcceptanceCriterion] | NotApplicable
    outcome: Literal["pass", "fail", "not-assessed"]
    modification: NonEmptyStr | None = Field(
        default=None,
        description="The planned change (PCCP modification id) this evaluation verifies.",
    )
    seeds: list[int] | NotApplicable
    evaluation_type: Literal[
        "internal", "temporal", "external", "subgroup", "prospective", "pccp-verification"
    ]


class EvaluationRecord(Envelope):
    """The result of evaluating one model version on pinned test data."""

    kind: Literal["evaluation"]
    model: Link
    datasets: list[TestData] = Field(min_length=1)
    metrics: list[Metric] = Field(min_length=1)
    subgroup_metrics: list[SubgroupMetrics] | NotApplicable
    test_population: Population
    setup: Setup
    baseline: Link | NotApplicable = Field(description="An evaluation this one is compared with.")
    limitations: TextList
    impact_assessment: ImpactAssessment | None = Field(
        default=None,
        description="Required when the evaluated model supersedes another and a metric moved "
        "beyond the interval of the previous version's evaluation.",
    )
    started: DateTimeStr | None = run_started("evaluation")
    ended: DateTimeStr | None = run_ended("evaluation")
