"""One FHIR resource per artifact and per person, built from lineage-graph nodes.

- Model version -> **Device**, the HL7 AI Transparency IG's AI-Device pattern: ``type`` coded
  ``AIdeviceTypeCS#Artificial-Intelligence`` (R4B ``type`` 0..1, R5 ``type`` 0..*), names
  (R4B ``deviceName[].name`` typed ``model-name``/``user-friendly-name``; R5 ``name[].value``,
  whose value set has no ``model-name``), ``version[].value``, ``owner`` the organisation, and
  identifiers: record identity, record SHA-256, artifact SHA-256 and DVC md5. No ``meta.profile``
  and no AIKind extension: the IG is R4-based and ``model_type`` is free text, so claiming either
  would be unchecked.
- Dataset snapshot -> **DocumentReference**, ``status`` current; DVC md5 and SHA-256 as
  ``identifier`` (``Attachment.hash`` is SHA-1 only, so never there); the attachment has the DVC
  output path as ``title`` and no ``url`` (a DVC remote is not a URL ledger knows). R5 drops
  ``Attachment.size``: R5 JSON writes integer64 as a string, fhir.resources 8 writes a number,
  and no form passes both, so the size is in ``description``.
- Dataset record -> **Group** for its cohort, R4B ``actual`` false, R5 ``membership``
  definitional. ``type`` is what the members are: persons, or in R5 specimens for a cohort of
  samples (R4B has no specimen type; samples come from persons). Neither version has a type for
  admissions, encounters, images or studies, whose members are then the persons they belong
  to, and a first ``characteristic`` "unit of analysis" names the unit and its count.
  ``quantity`` counts members: the size when the unit is the member (patient; R5 sample),
  else ``subjects`` when stated, else nothing. Inclusion and exclusion criteria are
  ``characteristic`` (``code.text`` the criterion, ``valueBoolean`` true, ``exclude``
  false/true), which fills every required element honestly in both versions. The Group is
  what the dataset record documents, so its Provenance targets the Group and names the
  snapshot as ``source``; the DocumentReference's ``subject`` points back at the Group.
- Evaluation record -> **Observation**, status final, ``code.text`` "model evaluation",
  ``focus`` the model Device, ``subject`` the test Group, ``derivedFrom`` the test data; one
  ``component`` per metric (``valueQuantity`` without a unit: records give none) and one per
  confidence interval (``valueRange``), because ``referenceRange`` means a normal range, not
  an interval estimate. Subgroup metrics are components labelled with their subgroup.
- People -> **Practitioner** (staff, not patients) identified by ``mailto:`` e-mail; approvers
  named in records have no e-mail, so a name only. Organisations -> **Organization** by name.
- Regulatory tags ("HIPAA", "IRB-approved") are not URIs and not HL7 security labels: they are
  ``meta.tag`` codings in a ledger code system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.fhir.ids import (
    CS_REGULATORY_TAG,
    SID_CONTENT_SHA256,
    SID_DVC_MD5,
    SID_RECORD,
    SID_RECORD_SHA256,
    URI,
    full_url,
    identifier,
    reference,
    resource_id,
)
from ledger.fhir.mapped import MappedRecord
from ledger.fhir.versions import FhirVersion

AI_DEVICE_TYPE = {
    "system": "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS",
    "code": "Artificial-Intelligence",
}
Json = dict[str, Any]


def record_ref(resource_type: str, sha256: str, label: str) -> Json:
    """A reference to the resource a record version maps to (ids derive from its hash)."""
    return reference(resource_type, sha256, display=label)


def resource_ref(resource: Mapping[str, Any]) -> Json:
    """A reference to a resource built alongside a record's own (its Evidence, its model card)."""
    return {"reference": full_url(resource["id"]), "type": resource["resourceType"]}


def snapshot_ref(snap: Mapping[str, Any]) -> Json:
    label = f"{snap['path']} (md5 {snap['md5'][:8]})"
    return reference("DocumentReference", snap["md5"], snap["sha256"], display=label)


def organization_ref(name: str) -> Json:
    return reference("Organization", name, display=name)


def person_ref(name: str, email: str) -> Json:
    return reference("Practitioner", f"mailto:{email}", display=name)


def approver_ref(name: str) -> Json:
    return reference("Practitioner", f"approver:{name}", display=name)


def organization(name: str) -> Json:
    return {"resourceType": "Organization", "id": resource_id("Organization", name), "name": name}


def person(name: str, email: str) -> Json:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", f"mailto:{email}"),
        "identifier": [identifier(URI, f"mailto:{email}")],
        "name": [{"text": name}],
    }


def approver(name: str) -> Json:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", f"approver:{name}"),
        "name": [{"text": name}],
    }


def meta_tags(tags: Iterable[str]) -> Json:
    """``{"meta": {"tag": [...]}}`` for regulatory tags, or nothing when there are none."""
    # A code may not hold runs of whitespace; the tag itself stays as the display.
    codings = [
        {"system": CS_REGULATORY_TAG, "code": " ".join(t.split()), "display": t} for t in tags
    ]
    return {"meta": {"tag": codings}} if codings else {}


def statement(value: Any) -> str:
    """A documentation field (``Text``) as text: the statement, or why it does not apply."""
    if isinstance(value, Mapping):
        return f"Not applicable: {value['not_applicable']}"
    return str(value)


def regulatory_tags(content: Mapping[str, Any]) -> list[str]:
    tags = content.get("regulatory_tags")
    return list(tags) if isinstance(tags, list) else []  # else a not_applicable statement


def _record_identifiers(record_id: str, sha256: str) -> list[Json]:
    return [identifier(SID_RECORD, record_id), identifier(SID_RECORD_SHA256, sha256)]


def model_device(v: FhirVersion, record: MappedRecord) -> Json:
    content, sha256 = record.content, record.sha256
    artifact = content["artifact"]
    title, name = content["title"], content["name"]
    names: Json
    if v.r5:
        names = {
            "name": [
                {"value": title, "type": "user-friendly-name", "display": True},
                {"value": name, "type": "user-friendly-name"},
            ]
        }
    else:
        names = {
            "deviceName": [
                {"name": title, "type": "user-friendly-name"},
                {"name": name, "type": "model-name"},
            ]
        }
    ai_type = {"coding": [AI_DEVICE_TYPE], "text": "Artificial Intelligence"}
    return {
        "resourceType": "Device",
        "id": resource_id("Device", sha256),
        **meta_tags(regulatory_tags(content)),
        "identifier": [
            *_record_identifiers(record.label, sha256),
            identifier(SID_CONTENT_SHA256, artifact["sha256"]),
            identifier(SID_DVC_MD5, artifact["md5"]),
        ],
        **names,
        "type": [ai_type] if v.r5 else ai_type,
        "version": [{"value": content["version"]}],
        "owner": organization_ref(content["organization"]),
        "note": [{"text": content["description"]}],
    }


def snapshot_document(
    v: FhirVersion, snap: Mapping[str, Any], tags: Iterable[str], subject: Json | None
) -> Json:
    where = snap["dvc_file"] + (f" stage {snap['stage']}" if snap.get("stage") else "")
    size = f"{snap['size']} bytes" + (f" in {snap['nfiles']} files" if "nfiles" in snap else "")
    legacy = "" if snap.get("hash") == "md5" else "; legacy DVC 2 md5 (dos2unix)"
    attachment: Json = {"title": snap["path"]}
    if not v.r5:
        attachment["size"] = snap["size"]
    return {
        "resourceType": "DocumentReference",
        "id": resource_id("DocumentReference", snap["md5"], snap["sha256"]),
        **meta_tags(tags),
        "identifier": [
            identifier(SID_DVC_MD5, snap["md5"]),
            identifier(SID_CONTENT_SHA256, snap["sha256"]),
        ],
        "status": "current",
        "type": {"text": "dataset snapshot (DVC output)"},
        **({"subject": subject} if subject else {}),
        "description": f"DVC output {snap['path']} of {where}: {size}{legacy}",
        "content": [{"attachment": attachment}],
    }


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def cohort_group(v: FhirVersion, record: MappedRecord) -> Json:
    content, sha256 = record.content, record.sha256
    cohort, selection = content["cohort"], content["selection"]
    unit = cohort["unit"]
    # A Group's members are of its type, and ``quantity`` counts members: only patients (and,
    # in R5, samples as specimens) are members of the unit counted. Admissions, encounters,
    # images and studies belong to patients, who are counted only when ``subjects`` says so.
    kind = "specimen" if v.r5 and unit == "sample" else "person"
    counts_units = unit == "patient" or kind == "specimen"
    members = cohort["size"] if counts_units else cohort.get("subjects")
    criteria = [
        {"code": {"text": text}, "valueBoolean": True, "exclude": exclude}
        for key, exclude in (("inclusion", False), ("exclusion", True))
        if isinstance(selection[key], list)
        for text in selection[key]
    ]
    if not counts_units:
        size = f"{cohort['size']} {_plural(unit)}"
        unit_text = {"text": f"{unit} (the cohort counts {size}, not persons)"}
        criteria.insert(
            0,
            {
                "code": {"text": "unit of analysis"},
                "valueCodeableConcept": unit_text,
                "exclude": False,
            },
        )
    group: Json = {
        "resourceType": "Group",
        "id": resource_id("Group", sha256),
        **meta_tags(regulatory_tags(content)),
        "identifier": _record_identifiers(record.label, sha256),
        "type": kind,
        **({"membership": "definitional"} if v.r5 else {"actual": False}),
        "name": f"{content['title']} ({cohort['size']} {_plural(unit)})",
    }
    if v.r5:
        group["description"] = content["description"]
    if members is not None:
        group["quantity"] = members
    if criteria:
        group["characteristic"] = criteria
    return group
