"""The record kinds, each declared in one place: ``dataset``, ``model`` and ``evaluation``.

A kind's module says everything the rest of ledger needs to know about it: its typed model
(and so its schema), where it links to other records and what each link means in the lineage,
where it holds DVC snapshots, which fields ``compare`` weighs, how views draw it and how it maps
to FHIR. Checks, views and the FHIR mapping look kinds up here instead of branching on names,
so adding a kind means its own module, its schema and its tests — and a kind that leaves out a
declaration cannot be constructed (``KindSpec`` has no defaults), which a test pins.
"""

from __future__ import annotations

from typing import Final

from ledger.kinds.dataset import DATASET
from ledger.kinds.evaluation import EVALUATION
from ledger.kinds.model import MODEL
from ledger.kinds.spec import (
    RELATIONS,
    FhirMapping,
    KindSpec,
    LineageStyle,
    LinkDecl,
    Relation,
)
from ledger.records.identity import KINDS, Kind

SPECS: Final[dict[Kind, KindSpec]] = {spec.kind: spec for spec in (DATASET, MODEL, EVALUATION)}


def spec(kind: str) -> KindSpec:
    """The declaration of ``kind``; KeyError for a kind ledger does not know (a bug upstream:
    kinds are validated when records are read)."""
    return SPECS[kind]  # type: ignore[index]


def ordered() -> list[KindSpec]:
    """Kinds in lineage order: what others depend on first (datasets, models, evaluations)."""
    return sorted(SPECS.values(), key=lambda s: s.lineage.rank)


assert set(SPECS) == set(KINDS), "every kind in identity.KINDS needs a module in ledger.kinds"

__all__ = [
    "RELATIONS",
    "SPECS",
    "FhirMapping",
    "KindSpec",
    "LineageStyle",
    "LinkDecl",
    "Relation",
    "ordered",
    "spec",
]
