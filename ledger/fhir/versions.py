"""The one switch between FHIR R5 (5.0.0) and R4B (4.3.0): model classes and the value sets
the guard enforces because fhir.resources does not (see docs in ``ledger.fhir``).

The codes come from the core packages ``hl7.fhir.r5.core@5.0.0`` and ``hl7.fhir.r4b.core@4.3.0``
(CodeSystem-provenance-entity-role, CodeSystem-bundle-type) and the Provenance element tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from ledger.errors import UsageError


class FhirModel(Protocol):
    """The part of a fhir.resources model class the guard uses."""

    @classmethod
    def model_validate(cls, obj: object) -> FhirModel: ...

    @classmethod
    def model_validate_json(cls, json_data: str) -> FhirModel: ...

    def model_dump_json(self) -> str: ...

    def model_dump(self) -> dict[str, object]: ...


_PEOPLE = frozenset({"Practitioner", "PractitionerRole", "Patient", "Organization"})


@dataclass(frozen=True)
class FhirVersion:
    name: str
    package: str
    entity_roles: frozenset[str]
    bundle_types: frozenset[str]
    agent_who: frozenset[str]
    agent_on_behalf_of: frozenset[str]

    @property
    def r5(self) -> bool:
        return self.name == "R5"

    def model(self, resource_type: str) -> type[FhirModel]:
        # Imported here: fhir.resources costs a third of a second, which commands that print
        # no FHIR should not pay.
        import fhir.resources
        import fhir.resources.R4B

        root = fhir.resources if self.r5 else fhir.resources.R4B
        cls: type[FhirModel] = root.get_fhir_model_class(resource_type)
        return cls


_BUNDLE_TYPES = {
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
}

R5: Final = FhirVersion(
    name="R5",
    package="hl7.fhir.r5.core@5.0.0",
    # R5 dropped ``derivation``; the official R4B->R5 ConceptMap gives it no target.
    entity_roles=frozenset({"revision", "quotation", "source", "instantiates", "removal"}),
    bundle_types=frozenset({*_BUNDLE_TYPES, "subscription-notification"}),
    agent_who=_PEOPLE | {"RelatedPerson", "Device", "CareTeam"},
    # R5 allows neither RelatedPerson nor Device as onBehalfOf, but adds CareTeam.
    agent_on_behalf_of=_PEOPLE | {"CareTeam"},
)
R4B: Final = FhirVersion(
    name="R4B",
    package="hl7.fhir.r4b.core@4.3.0",
    entity_roles=frozenset({"derivation", "revision", "quotation", "source", "removal"}),
    bundle_types=frozenset(_BUNDLE_TYPES),
    agent_who=_PEOPLE | {"RelatedPerson", "Device"},
    agent_on_behalf_of=_PEOPLE | {"RelatedPerson", "Device"},
)
VERSIONS: Final = {v.name: v for v in (R5, R4B)}


def fhir_version(name: str) -> FhirVersion:
    try:
        return VERSIONS[name]
    except KeyError:
        raise UsageError(f"unknown FHIR version {name!r}; choose R5 or R4B") from None
