"""Datasets: a cohort and the DVC snapshot of its data."""

from __future__ import annotations

from ledger.fhir.resources import cohort_group
from ledger.kinds.spec import FhirMapping, KindSpec, LineageStyle, LinkDecl

DATASET = KindSpec(
    kind="dataset",
    model_path="ledger.records.dataset:DatasetRecord",
    links=(LinkDecl(("supersedes",), "supersedes", None),),
    snapshots=("snapshot",),
    measured=("cohort", "splits", "quality_checks"),
    # What makes two versions of training data different, when two models are compared.
    compared={
        "data": (
            "snapshot.md5",
            "snapshot.nfiles",
            "snapshot.sha256",
            "snapshot.size",
            "cohort",
            "selection",
            "source",
            "preprocessing",
        )
    },
    lineage=LineageStyle(
        rank=0,
        fill="#e3f2fd",
        line="#1565c0",
        text="#0d2a4a",
        mermaid_shape=('[("', '")]'),
        dot_shape="cylinder",
        dot_style="filled",
    ),
    fhir=FhirMapping(
        resource="Group", build=cohort_group, sources=("snapshot-of",), as_source="data"
    ),
)
