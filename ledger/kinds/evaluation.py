"""Evaluations: a model's metrics on test data, under stated conditions."""

from __future__ import annotations

from ledger.fhir.evaluation import evaluation_resources
from ledger.kinds.spec import FhirMapping, KindSpec, LineageStyle, LinkDecl

EVALUATION = KindSpec(
    kind="evaluation",
    model_path="ledger.records.evaluation:EvaluationRecord",
    links=(
        LinkDecl(("supersedes",), "supersedes", None),
        LinkDecl(("model",), "evaluates", "model"),
        LinkDecl(("datasets", "*"), "evaluated-on", "dataset"),
        LinkDecl(("baseline",), "compared-with", "evaluation"),
    ),
    snapshots=(),
    measured=(
        # Each version's own run: a new version never takes over when its predecessor ran.
        "started",
        "ended",
        "metrics",
        "subgroup_metrics",
        "test_population.size",
        "test_population.events",
        "setup.outcome",
        "setup.seeds",
        # Which planned change a version verifies is its own statement, never taken over.
        "setup.modification",
        "impact_assessment",
    ),
    # Metric definitions and thresholds are compared metric by metric (ledger.views.compare).
    # The conditions of the measurement only: criteria, outcome and modification judge it.
    compared={
        "evaluation conditions": (
            "test_population",
            "setup.protocol",
            "setup.evaluation_type",
            "setup.seeds",
        )
    },
    lineage=LineageStyle(
        rank=2,
        fill="#fff3e0",
        line="#ef6c00",
        text="#4a2500",
        mermaid_shape=('{{"', '"}}'),
        dot_shape="hexagon",
        dot_style="filled",
    ),
    fhir=FhirMapping(
        resource="Observation",
        build=evaluation_resources,
        # A baseline (compared-with) is not an input of the evaluation, so it is no source.
        sources=("evaluates", "evaluated-on"),
        as_source="resource",
    ),
)
