"""The model record: what the model is, how it was trained, on what, and for whom.

Field choices follow TRIPOD+AI items 3, 9-15 and 22, EU AI Act Annex IV 2, GMLP and FDA PCCP
(planned modifications), and cover MLflow's run params and HealthChain's run context.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ledger.records.common import (
    AcceptanceCriterion,
    CodeRef,
    DateTimeStr,
    Envelope,
    Link,
    NonEmptyStr,
    NotApplicable,
    Snapshot,
    Strict,
    Text,
    TextList,
    run_ended,
    run_started,
)

HyperparameterValue = str | int | float | bool


class TrainingData(Link):
    role: Literal["training", "validation", "tuning", "calibration"]


class Package(Strict):
    name: NonEmptyStr
    version: NonEmptyStr


class FileDigest(Strict):
    path: NonEmptyStr
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Environment(Strict):
    description: NonEmptyStr = Field(description="Runtime, e.g. CPython 3.11 on Debian 12.")
    lockfile: FileDigest | None = Field(default=None, description="Dependency lock file.")
    container_digest: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] | None = (
        None
    )


class Training(Strict):
    datasets: list[TrainingData] = Field(min_length=1, description="Data the model learned from.")
    code: CodeRef
    seeds: list[int] | NotApplicable
    environment: Environment
    hardware: Text
    procedure: NonEmptyStr = Field(description="Optimisation, stopping rule, internal validation.")
    class_imbalance: Text
    missing_data_handling: Text


class IntendedUse(Strict):
    purpose: NonEmptyStr
    population: NonEmptyStr = Field(description="Patients the model is meant for.")
    users: NonEmptyStr = Field(description="Who acts on its output.")
    care_setting: NonEmptyStr
    decision_role: Literal["informs", "augments", "replaces"]
    out_of_scope: list[NonEmptyStr] | NotApplicable


class Threshold(Strict):
    name: NonEmptyStr
    value: float
    rationale: NonEmptyStr


class Outputs(Strict):
    type: NonEmptyStr = Field(description="e.g. probability of sepsis within 48 h.")
    description: NonEmptyStr
    thresholds: list[Threshold] | NotApplicable


class PlannedChange(Strict):
    """A modification of a predetermined change control plan (FDA PCCP)."""

    id: NonEmptyStr = Field(description="Modification id, traced to the change control plan.")
    description: NonEmptyStr
    acceptance_criteria: Text = Field(description="The criteria in words.")
    criteria: Annotated[list[AcceptanceCriterion], Field(min_length=1)] | None = Field(
        default=None,
        description="The criteria as data: an evaluation verifying this modification must "
        "state exactly these, and is judged by them.",
    )
    protocol: NonEmptyStr | None = Field(
        default=None, description="How the modification is made and verified."
    )
    scope: NonEmptyStr | None = Field(
        default=None, description="What may change (data, weights, threshold) and what may not."
    )
    mode: Literal["automatic", "manual"] | None = Field(
        default=None, description="Whether the change is made without a human decision."
    )


class ModelRecord(Envelope):
    """Documentation of one version of a model, pinned to its artifact's DVC snapshot."""

    kind: Literal["model"]
    model_type: NonEmptyStr = Field(description="e.g. logistic regression, gradient boosting.")
    architecture: Text
    framework: Package
    dependencies: list[Package] | NotApplicable
    hyperparameters: dict[str, HyperparameterValue] | NotApplicable
    training: Training
    artifact: Snapshot
    intended_use: IntendedUse
    outputs: Outputs
    regulatory_status: NonEmptyStr = Field(description="e.g. research use only, FDA 510(k) K...")
    known_risks: TextList
    planned_changes: list[PlannedChange] | NotApplicable
    evaluation_criteria: Annotated[list[AcceptanceCriterion], Field(min_length=1)] | None = Field(
        default=None,
        description="Acceptance criteria fixed before this version is evaluated: an evaluation "
        "of it that says its criteria were pre-specified must state exactly these.",
    )
    started: DateTimeStr | None = run_started("training")
    ended: DateTimeStr | None = run_ended("training")
