"""The input of a kind's FHIR mapping (``KindSpec.fhir.build``): one record version and the
references to what it depends on, already resolved by the Bundle assembly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.fhir.ids import Systems

Json = dict[str, Any]


@dataclass(frozen=True)
class Related:
    """A record this one links to: a reference to its resource, and to its data."""

    label: str
    resource: Json
    data: tuple[Json, ...]


@dataclass(frozen=True)
class MappedRecord:
    """A record version to map: identity, canonical hash, content, when its commit recorded
    it (a FHIR instant), the naming systems of ``fhir_base``, the records it links to, by
    relation (``snapshot-of``: its own DVC snapshots, as ``data`` of one entry), and who made
    the change and when (the commit's author: a reference to their Practitioner and an
    instant)."""

    label: str
    sha256: str
    content: Mapping[str, Any]
    recorded: str
    systems: Systems
    related: Mapping[str, tuple[Related, ...]] = field(default_factory=dict)
    author: Json | None = None
    authored: str = ""

    def resources(self, relation: str) -> list[Json]:
        return [r.resource for r in self.related.get(relation, ())]

    def data(self, relation: str) -> list[Json]:
        return [d for r in self.related.get(relation, ()) for d in r.data]
