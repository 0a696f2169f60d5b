"""FHIR Provenance (R5 5.0.0 or R4B 4.3.0) of the ledger's records, as a Bundle.

``bundle.ProvenanceBundle`` maps each record version through its kind's declaration
(``ledger.kinds``: dataset -> Group plus a DocumentReference per DVC snapshot, model -> Device
and its model card DocumentReference per the AI Transparency IG, evaluation -> Observation and
the Evidence of its statistics) and to one Provenance built from the
commit that added it; people become Practitioners, organisations Organizations. Every resource
passes the guard (``checks``) before it is written; a failure raises ``FhirMappingError``, a
bug. ``checks.bundle_problems`` runs the same guard on a Bundle read back from a file.

Modules: ``ids`` (uuid5 ids, naming systems, instants), ``versions`` (the R5/R4B switch),
``mapped`` (what a kind's mapping receives), ``resources`` and ``evaluation`` (artifacts and
people), ``provenance`` (one Provenance), ``bundle`` (assembly and output), ``checks`` (the
guard). Each docstring records its mapping decisions and the R5/R4B differences it handles.
This package imports nothing on its own, so the record kinds can name their mappings.
"""
