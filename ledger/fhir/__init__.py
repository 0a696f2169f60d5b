"""FHIR Provenance (R5 5.0.0 or R4B 4.3.0) of the ledger's records, as a Bundle.

A pure function of the lineage graph: ``provenance_bundle(graph, "R5" | "R4B")`` maps each
record version to a resource (model -> Device per the AI Transparency IG, dataset -> Group for
the cohort plus a DocumentReference per DVC snapshot, evaluation -> Observation) and to one
Provenance built from the commit that added it; people become Practitioners, organisations
Organizations. ``bundle_json`` and ``bundle_ndjson`` serialize it. Every Bundle is guarded
(``check_bundle``) before it is returned; a failure raises ``FhirMappingError``, a bug.
``bundle_problems`` runs the same guard on a Bundle read back from a file and lists problems.

Modules: ``ids`` (uuid5 ids, naming systems, instants), ``versions`` (the R5/R4B switch),
``resources`` and ``evaluation`` (artifacts and people), ``provenance`` (one Provenance),
``bundle`` (assembly and output), ``checks`` (the guard). Each docstring records its mapping
decisions and the R5/R4B differences it handles.
"""

from __future__ import annotations

from ledger.fhir.bundle import ProvenanceBundle, bundle_json, bundle_ndjson, provenance_bundle
from ledger.fhir.checks import FhirMappingError, bundle_problems, check_bundle

__all__ = [
    "FhirMappingError",
    "ProvenanceBundle",
    "bundle_json",
    "bundle_ndjson",
    "bundle_problems",
    "check_bundle",
    "provenance_bundle",
]
