"""Models: how a model was built, from which data, and its artifact's DVC snapshot."""

from __future__ import annotations

from ledger.fhir.resources import model_resources
from ledger.kinds.spec import FhirMapping, KindSpec, LineageStyle, LinkDecl

MODEL = KindSpec(
    kind="model",
    model_path="ledger.records.model:ModelRecord",
    links=(
        LinkDecl(("supersedes",), "supersedes", None),
        LinkDecl(("training", "datasets", "*"), "trained-on", "dataset"),
    ),
    snapshots=("artifact",),
    measured=(
        # Each version's own run: a new version never takes over when its predecessor ran.
        "started",
        "ended",
        "hyperparameters",
        "framework",
        "dependencies",
        "training.code",
        "training.seeds",
        "training.environment",
    ),
    # Configuration is what was chosen; training data is data, documentation is neither.
    compared={
        "model configuration": (
            "model_type",
            "architecture",
            "framework",
            "dependencies",
            "hyperparameters",
            "outputs",
            "training.code",
            "training.seeds",
            "training.environment",
            "training.hardware",
            "training.procedure",
            "training.class_imbalance",
            "training.missing_data_handling",
        )
    },
    lineage=LineageStyle(
        rank=1,
        fill="#e8f5e9",
        line="#2e7d32",
        text="#123d16",
        mermaid_shape=('("', '")'),
        dot_shape="box",
        dot_style="rounded,filled",
    ),
    fhir=FhirMapping(
        resource="Device", build=model_resources, sources=("trained-on",), as_source="resource"
    ),
)
