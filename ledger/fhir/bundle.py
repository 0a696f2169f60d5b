"""The FHIR Bundle (type ``collection``) of a lineage graph, and its JSON and NDJSON forms.

Entries come in a fixed order (Organization, Practitioner, DocumentReference, Group, Device,
Observation, Provenance; within a type, by the graph's sorted node ids) and serialize in
fhir.resources' element order, so the same graph gives the same bytes. ``Bundle.identifier`` is
the graph's commit; ``Bundle.id`` is derived from the version, the commit and the entries, so a
narrower export (``provenance REF``) of the same commit gets another id; ``Bundle.timestamp`` is
the latest committer time in the graph, never the clock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.fhir import versions
from ledger.fhir.checks import FhirMappingError, check_bundle
from ledger.fhir.evaluation import evaluation_observation
from ledger.fhir.ids import SID_GIT_COMMIT, fhir_instant, full_url, identifier, latest, resource_id
from ledger.fhir.provenance import record_provenance
from ledger.fhir.resources import (
    Json,
    approver,
    cohort_group,
    model_device,
    organization,
    person,
    record_ref,
    regulatory_tags,
    snapshot_document,
    snapshot_ref,
)
from ledger.fhir.versions import FhirVersion
from ledger.views.graph import Edge, LineageGraph, Node

_ORDER = (
    "Organization",
    "Practitioner",
    "DocumentReference",
    "Group",
    "Device",
    "Observation",
    "Provenance",
)


@dataclass(frozen=True)
class ProvenanceBundle:
    """A guarded FHIR Bundle as JSON-ready data, and the FHIR version it is written in."""

    fhir_version: str
    data: dict[str, Any]

    def resources(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.data.get("entry", [])]


class _Mapping:
    """Walks the graph once and collects the resources, keyed by fullUrl."""

    def __init__(self, graph: LineageGraph, v: FhirVersion) -> None:
        self.graph, self.v = graph, v
        self.out: dict[str, list[Edge]] = defaultdict(list)
        for edge in graph.edges:
            self.out[edge.source].append(edge)
        self.records = [n for n in graph.records() if not n.attrs.get("missing")]
        self.resources: dict[str, Json] = {}

    def add(self, resource: Json) -> None:
        self.resources.setdefault(full_url(resource["id"]), resource)

    def targets(self, node: Node, kind: str) -> list[Node]:
        found = (self.graph.nodes.get(e.target) for e in self.out[node.id] if e.kind == kind)
        return [n for n in found if n is not None and not n.attrs.get("missing")]

    def ref(self, node: Node) -> Json:
        return record_ref(node.attrs["record_kind"], node.attrs["sha256"], node.label)

    def data_refs(self, datasets: Iterable[Node]) -> list[Json]:
        """The snapshot DocumentReferences of dataset records (a link of the wrong kind is
        verify's finding, not a reason to reference a resource that is not there)."""
        return [
            snapshot_ref(s.attrs)
            for d in datasets
            if d.attrs["record_kind"] == "dataset"
            for s in self.targets(d, "snapshot-of")
        ]

    def commit(self, node: Node) -> Node:
        commits = self.targets(node, "recorded-in")
        if not commits:
            raise FhirMappingError([f"{node.label}: the graph names no commit that recorded it"])
        return commits[0]

    def build(self) -> None:
        documented_by: dict[str, list[Node]] = defaultdict(list)
        for node in self.records:
            self.add(organization(node.attrs["content"]["organization"]))
            if node.attrs["record_kind"] == "dataset":
                for snap in self.targets(node, "snapshot-of"):
                    documented_by[snap.id].append(node)
        for snap_id, datasets in sorted(documented_by.items()):
            tags = sorted({t for d in datasets for t in regulatory_tags(d.attrs["content"])})
            subject = self.ref(datasets[0]) if len(datasets) == 1 else None
            self.add(snapshot_document(self.v, self.graph.nodes[snap_id].attrs, tags, subject))
        for node in self.records:
            self.add_record(node)

    def add_record(self, node: Node) -> None:
        attrs, v = node.attrs, self.v
        content, sha, kind = attrs["content"], attrs["sha256"], attrs["record_kind"]
        commit = self.commit(node).attrs
        previous = [self.ref(n) for n in self.targets(node, "supersedes")]
        if kind == "dataset":
            self.add(cohort_group(v, node.label, sha, content))
            sources = self.data_refs([node])
        elif kind == "model":
            self.add(model_device(v, node.label, sha, content))
            sources = self.data_refs(self.targets(node, "trained-on"))
        else:
            models = [self.ref(n) for n in self.targets(node, "evaluates")]
            tested = self.targets(node, "evaluated-on")
            data = self.data_refs(tested)
            self.add(
                evaluation_observation(
                    node.label,
                    sha,
                    content,
                    issued=fhir_instant(commit["committer_date"]),
                    model=models[0] if models else None,
                    data=data,
                    subject=self.ref(tested[0]) if len(tested) == 1 else None,
                )
            )
            sources = models + data
        for who in (commit["author"], commit["committer"]):
            self.add(person(who["name"], who["email"]))
        for approval in content.get("approvals") or []:
            self.add(approver(approval["name"]))
        self.add(
            record_provenance(
                v,
                target=self.ref(node),
                sha256=sha,
                content=content,
                commit=commit,
                sources=sources,
                previous=previous[0] if previous else None,
            )
        )

    def bundle(self) -> Json:
        entries: list[Json] = sorted(
            ({"fullUrl": url, "resource": res} for url, res in self.resources.items()),
            key=lambda e: _ORDER.index(e["resource"]["resourceType"]),
        )
        commits = [
            n.attrs["committer_date"] for n in self.graph.nodes.values() if n.kind == "commit"
        ]
        timestamp = latest(commits)
        return {
            "resourceType": "Bundle",
            "id": resource_id("Bundle", self.v.name, self.graph.commit, *self.resources),
            "identifier": identifier(SID_GIT_COMMIT, self.graph.commit),
            "type": "collection",
            **({"timestamp": timestamp} if timestamp else {}),
            **({"entry": entries} if entries else {}),
        }


def provenance_bundle(graph: LineageGraph, fhir_version: str = "R5") -> ProvenanceBundle:
    """The FHIR Bundle (R5 or R4B) of every record version in ``graph``: a resource per
    artifact, person and organisation, and a Provenance per record version; guarded by
    ``check_bundle`` (raises ``FhirMappingError``, a bug, if the mapping breaks a rule)."""
    v = versions.fhir_version(fhir_version)
    mapping = _Mapping(graph, v)
    mapping.build()
    return ProvenanceBundle(v.name, check_bundle(mapping.bundle(), v))


def bundle_json(bundle: ProvenanceBundle) -> str:
    """The Bundle as indented JSON with a final newline; the same Bundle gives the same bytes."""
    return json.dumps(bundle.data, indent=2, ensure_ascii=False) + "\n"


def bundle_ndjson(bundle: ProvenanceBundle) -> str:
    """One compact resource per line (FHIR Bulk Data NDJSON), without the Bundle wrapper."""
    return "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in bundle.resources()
    )
