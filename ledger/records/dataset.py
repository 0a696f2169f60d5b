"""The dataset record: where data came from, who is in it, what was done to it, and its limits.

Field choices follow TRIPOD+AI items 5-8 and 20, EU AI Act Art. 10 and Datasheets for Datasets
(see shared/reference/standards.md). Everything is aggregate: counts, ranges and criteria.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ledger.records.common import (
    CodeRef,
    Count,
    DateStr,
    Envelope,
    Fraction,
    NonEmptyStr,
    NotApplicable,
    Snapshot,
    Strict,
    Text,
    TextList,
)


class DataSource(Strict):
    name: NonEmptyStr
    type: NonEmptyStr = Field(description="e.g. EHR extract, registry, trial, imaging archive.")
    description: Text


class Period(Strict):
    start: DateStr
    end: DateStr


class Source(Strict):
    origin: NonEmptyStr = Field(description="Who collected the data and for what original purpose.")
    data_sources: list[DataSource] = Field(min_length=1)
    collection_period: Period
    setting: Text = Field(description="Care setting, e.g. emergency department, ICU.")
    sites: list[NonEmptyStr] | NotApplicable = Field(description="Centres or sites, by name.")
    study_design: Text = Field(description="e.g. retrospective cohort, prospective trial.")


class Selection(Strict):
    inclusion: list[NonEmptyStr] | NotApplicable = Field(description="Inclusion criteria.")
    exclusion: list[NonEmptyStr] | NotApplicable = Field(description="Exclusion criteria.")


class PreprocessingStep(Strict):
    operation: NonEmptyStr = Field(description="e.g. de-identify, filter, impute, derive-label.")
    description: NonEmptyStr
    code: CodeRef


class AgeRange(Strict):
    min: Count
    max: Count
    median: float | None = None
    unit: Literal["years", "months", "days"] = "years"


class CategoryCount(Strict):
    category: NonEmptyStr
    n: Count


class SubgroupDistribution(Strict):
    attribute: NonEmptyStr = Field(description="e.g. sex, site, ethnicity, age band.")
    counts: list[CategoryCount] = Field(min_length=1)


class Outcome(Strict):
    definition: NonEmptyStr
    events: Count
    prevalence: Fraction
    time_horizon: Text
    assessment: Text = Field(description="How the outcome was ascertained, and by whom.")


class Cohort(Strict):
    """The cohort in aggregate: never a row about a person."""

    unit: Literal["patient", "encounter", "admission", "image", "study", "sample"]
    size: Count = Field(description="Number of units in the snapshot.")
    subjects: Count | None = Field(default=None, description="Distinct patients, if not units.")
    age: AgeRange
    sex: list[CategoryCount] = Field(min_length=1)
    subgroups: list[SubgroupDistribution] | NotApplicable
    outcome: Outcome
    features: list[NonEmptyStr] | NotApplicable = Field(description="Predictor variables.")
    missing_data: Text


class Split(Strict):
    name: NonEmptyStr = Field(description="e.g. train, tune, test, external.")
    n: Count
    events: Count | None = None
    selection: NonEmptyStr = Field(description="How units were assigned to the split.")


class QualityCheck(Strict):
    check: NonEmptyStr
    result: NonEmptyStr


class Governance(Strict):
    contains_phi: Literal[False] = Field(
        description="Always false: a ledger snapshot holds de-identified data only."
    )
    deidentification: Text = Field(description="Method, e.g. HIPAA Safe Harbor.")
    ethics_approval: Text = Field(description="Approving body and reference.")
    consent: Text = Field(description="Consent obtained, or the waiver and who granted it.")
    data_use_agreement: Text
    access: Text = Field(description="Who may access the data, and how.")
    license: Text


class Uses(Strict):
    intended: list[NonEmptyStr] | NotApplicable
    prohibited: list[NonEmptyStr] | NotApplicable


class DatasetRecord(Envelope):
    """Documentation of one version of a dataset, pinned to its DVC snapshot."""

    kind: Literal["dataset"]
    snapshot: Snapshot
    source: Source
    selection: Selection
    preprocessing: list[PreprocessingStep] | NotApplicable
    cohort: Cohort
    splits: list[Split] | NotApplicable
    known_biases: TextList
    limitations: TextList
    representativeness: Text = Field(description="Whom the data represents, and whom it does not.")
    quality_checks: list[QualityCheck] | NotApplicable
    governance: Governance
    uses: Uses
