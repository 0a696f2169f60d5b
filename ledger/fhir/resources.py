"""One FHIR resource per artifact and per person, built from lineage-graph nodes.

- Model version -> **Device**, the HL7 AI Transparency IG's AIDevice: ``type`` exactly the
  coding ``AIdeviceTypeCS#Artificial-Intelligence`` (the profile fixes it, so no text; R4B
  ``type`` 0..1, R5 0..*), the AIKind extension ``Machine-Learning-Models`` (every model record
  names the data it learned from; ``model_type`` is free text, so nothing finer), the
  ModelCardDescription extension referencing its model card; names (R4B ``deviceName[].name``
  typed ``model-name``/``user-friendly-name``; R5 ``name[].value``, whose value set has no
  ``model-name``), ``version[].value``, ``owner`` the organisation, identifiers (record identity,
  record SHA-256, artifact SHA-256, DVC md5), intended use and regulatory status as
  ``property`` (no element or core extension exists for either) and description, purpose and
  model type as ``note``.
- Model version -> model card **DocumentReference**, the IG's AI-ModelCard: ``type`` exactly
  ``AIinputsCS#AIModelCard``, ``category`` the Markdown format, ``subject`` the Device and the
  card (written from the record alone) as ``text/markdown`` ``data``.
- Profiles: the IG is built on FHIR 4.0.1 and its profiles are StructureDefinitions of that
  version; R4B's Device and DocumentReference have R4's elements, so R4B resources claim
  AI-Device and AI-ModelCard in ``meta.profile``; R5 ones claim nothing (an R4 profile does not
  apply to an R5 resource) but carry the same coding and extensions.
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

import base64
import html
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ledger.fhir.ids import URI, Systems, full_url, identifier, reference, resource_id
from ledger.fhir.mapped import MappedRecord
from ledger.fhir.versions import FhirVersion

# HL7 AI Transparency on FHIR (canonical http://hl7.org/fhir/uv/aitransparency, FHIR 4.0.1).
AI_IG = "http://hl7.org/fhir/uv/aitransparency/"
AI_DEVICE_TYPES = AI_IG + "CodeSystem/AIdeviceTypeCS"
AI_INPUTS = AI_IG + "CodeSystem/AIinputsCS"
AI_DEVICE_PROFILE = AI_IG + "StructureDefinition/AI-Device"
AI_MODEL_CARD_PROFILE = AI_IG + "StructureDefinition/AI-ModelCard"
AI_KIND = AI_IG + "StructureDefinition/aitransparency.AIKind"
MODEL_CARD_DESCRIPTION = AI_IG + "StructureDefinition/aitransparency.modelCardDescription"
AI_DEVICE_TYPE = {"system": AI_DEVICE_TYPES, "code": "Artificial-Intelligence"}
# Every model record names the data it learned from (``training.datasets``, at least one), so
# every one is a machine learning model; model_type is free text, so no finer kind is claimed.
MACHINE_LEARNING = {
    "system": AI_DEVICE_TYPES,
    "code": "Machine-Learning-Models",
    "display": "Machine Learning Models",
}
MARKDOWN_FORMAT = {
    "system": AI_INPUTS,
    "code": "AIModelCardMarkdownFormat",
    "display": "Markdown Format",
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


def narrative(*lines: str) -> Json:
    """Generated narrative (dom-6): each line a paragraph of escaped XHTML. Characters XML 1.0
    forbids (control characters, lone surrogates, U+FFFE, U+FFFF) are left out: a record may
    hold them, and a div with one is no XHTML."""
    body = "".join(
        f"<p>{html.escape(_XML_FORBIDDEN.sub('', line), quote=False)}</p>" for line in lines
    )
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def organization(name: str) -> Json:
    return {
        "resourceType": "Organization",
        "id": resource_id("Organization", name),
        "text": narrative(f"Organisation {name}"),
        "name": name,
    }


def person(name: str, email: str) -> Json:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", f"mailto:{email}"),
        "text": narrative(f"{name} <{email}>"),
        "identifier": [identifier(URI, f"mailto:{email}")],
        "name": [{"text": name}],
    }


def approver(name: str) -> Json:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", f"approver:{name}"),
        "text": narrative(f"{name} (named as approver in a record)"),
        "name": [{"text": name}],
    }


def meta_tags(systems: Systems, tags: Iterable[str]) -> Json:
    """``{"meta": {"tag": [...]}}`` for regulatory tags, or nothing when there are none."""
    # A code may not hold runs of whitespace; the tag itself stays as the display.
    system = systems.regulatory_tag
    codings = [{"system": system, "code": " ".join(t.split()), "display": t} for t in tags]
    return {"meta": {"tag": codings}} if codings else {}


def statement(value: Any) -> str:
    """A documentation field (``Text``) as text: the statement, or why it does not apply."""
    if isinstance(value, Mapping):
        return f"Not applicable: {value['not_applicable']}"
    return str(value)


def regulatory_tags(content: Mapping[str, Any]) -> list[str]:
    tags = content.get("regulatory_tags")
    return list(tags) if isinstance(tags, list) else []  # else a not_applicable statement


def record_identifiers(systems: Systems, record_id: str, sha256: str) -> list[Json]:
    return [identifier(systems.record, record_id), identifier(systems.record_sha256, sha256)]


def _meta(systems: Systems, tags: Iterable[str], profile: str | None) -> Json:
    """``meta`` with a profile the resource conforms to and the regulatory tags, if any."""
    meta = meta_tags(systems, tags).get("meta", {})
    if profile:
        meta = {"profile": [profile], **meta}
    return {"meta": meta} if meta else {}


def _properties(v: FhirVersion, content: Mapping[str, Any]) -> list[Json]:
    """Intended use and regulatory status as Device properties: neither version has an element
    or a core extension for either, and ``property`` holds a device's fixed characteristics.
    R4B's property has no string value, so the text is a CodeableConcept's."""
    use = content["intended_use"]
    out_of_scope = use["out_of_scope"]
    facts = [
        ("intended use: purpose", use["purpose"]),
        ("intended use: population", use["population"]),
        ("intended use: users", use["users"]),
        ("intended use: care setting", use["care_setting"]),
        ("intended use: decision role", use["decision_role"]),
        (
            "intended use: out of scope",
            "; ".join(out_of_scope) if isinstance(out_of_scope, list) else statement(out_of_scope),
        ),
        ("regulatory status", content["regulatory_status"]),
    ]
    if v.r5:
        return [{"type": {"text": kind}, "valueString": value} for kind, value in facts]
    return [{"type": {"text": kind}, "valueCode": [{"text": value}]} for kind, value in facts]


def model_resources(v: FhirVersion, record: MappedRecord) -> list[Json]:
    """The Device of a model record, then its model card."""
    card = model_card(v, record)
    return [model_device(v, record, resource_ref(card)), card]


def model_device(v: FhirVersion, record: MappedRecord, card: Json | None = None) -> Json:
    content, sha256, systems = record.content, record.sha256, record.systems
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
    # The profile fixes type to exactly this coding: no text, no display.
    ai_type = {"coding": [AI_DEVICE_TYPE]}
    extensions = [{"url": AI_KIND, "valueCodeableConcept": {"coding": [MACHINE_LEARNING]}}]
    if card is not None:
        extensions.append({"url": MODEL_CARD_DESCRIPTION, "valueReference": card})
    return {
        "resourceType": "Device",
        "id": resource_id("Device", sha256),
        **_meta(systems, regulatory_tags(content), None if v.r5 else AI_DEVICE_PROFILE),
        "text": narrative(
            f"AI model {record.label}: {title}",
            content["description"],
            f"Purpose: {statement(content['purpose'])}",
            f"Intended use: {content['intended_use']['purpose']}",
            f"Regulatory status: {content['regulatory_status']}",
        ),
        "extension": extensions,
        "identifier": [
            *record_identifiers(systems, record.label, sha256),
            identifier(systems.content_sha256, artifact["sha256"]),
            identifier(systems.dvc_md5, artifact["md5"]),
        ],
        **names,
        "type": [ai_type] if v.r5 else ai_type,
        "version": [{"value": content["version"]}],
        "property": _properties(v, content),
        "owner": organization_ref(content["organization"]),
        "note": [
            {"text": content["description"]},
            {"text": f"Purpose: {statement(content['purpose'])}"},
            {"text": f"Model type: {content['model_type']}"},
        ],
    }


def model_card(v: FhirVersion, record: MappedRecord) -> Json:
    """The model card of a model record: the AI Transparency IG's AI-ModelCard, the Markdown
    card written from the record alone (evaluations are their own resources), as data."""
    # Imported by name on first use: the views reach the ledger state, which imports the
    # kinds, which import this module (as ``KindSpec.model_path`` does for record models).
    views = importlib.import_module("ledger.views.technical_file")
    render: Callable[[Json, str], str] = views.model_card_markdown
    text = render(dict(record.content), record.label)
    device = record_ref("Device", record.sha256, record.label)
    return {
        "resourceType": "DocumentReference",
        "id": resource_id("DocumentReference", "model-card", record.sha256),
        **_meta(
            record.systems, regulatory_tags(record.content), None if v.r5 else AI_MODEL_CARD_PROFILE
        ),
        "text": narrative(f"Model card of {record.label} (Markdown, attached)"),
        "status": "current",
        "type": {"coding": [{"system": AI_INPUTS, "code": "AIModelCard"}]},
        "category": [{"coding": [MARKDOWN_FORMAT]}],
        "subject": device,
        "content": [
            {
                "attachment": {
                    "contentType": "text/markdown",
                    "data": base64.b64encode(text.encode()).decode("ascii"),
                    "title": f"Model card of {record.label}",
                }
            }
        ],
    }


def snapshot_document(
    v: FhirVersion,
    systems: Systems,
    snap: Mapping[str, Any],
    tags: Iterable[str],
    subject: Json | None,
) -> Json:
    where = snap["dvc_file"] + (f" stage {snap['stage']}" if snap.get("stage") else "")
    size = f"{snap['size']} bytes" + (f" in {snap['nfiles']} files" if "nfiles" in snap else "")
    legacy = "" if snap.get("hash") == "md5" else "; legacy DVC 2 md5 (dos2unix)"
    description = f"DVC output {snap['path']} of {where}: {size}{legacy}"
    attachment: Json = {"title": snap["path"]}
    if not v.r5:
        attachment["size"] = snap["size"]
    return {
        "resourceType": "DocumentReference",
        "id": resource_id("DocumentReference", snap["md5"], snap["sha256"]),
        **meta_tags(systems, tags),
        "text": narrative(f"Dataset snapshot {snap['path']}", description),
        "identifier": [
            identifier(systems.dvc_md5, snap["md5"]),
            identifier(systems.content_sha256, snap["sha256"]),
        ],
        "status": "current",
        "type": {"text": "dataset snapshot (DVC output)"},
        **({"subject": subject} if subject else {}),
        "description": description,
        "content": [{"attachment": attachment}],
    }


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def cohort_group(v: FhirVersion, record: MappedRecord) -> Json:
    content, sha256, systems = record.content, record.sha256, record.systems
    cohort, selection = content["cohort"], content["selection"]
    unit = cohort["unit"]
    # A Group's members are of its type, and ``quantity`` counts members: only patients (and,
    # in R5, samples as specimens) are members of the unit counted. Admissions, encounters,
    # images and studies belong to patients, who are counted only when ``subjects`` says so.
    kind = "specimen" if v.r5 and unit == "sample" else "person"
    counts_units = unit == "patient" or kind == "specimen"
    members = cohort["size"] if counts_units else cohort.get("subjects")
    criteria: list[Json] = [
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
        **meta_tags(systems, regulatory_tags(content)),
        "text": narrative(
            f"Cohort of {record.label}: {content['title']}",
            f"Purpose: {statement(content['purpose'])}",
            f"{cohort['size']} {_plural(unit)}"
            + (f", {members} members" if members is not None else ""),
            *(
                f"{'Excluded' if c['exclude'] else 'Included'}: {c['code']['text']}"
                for c in criteria
                if "valueBoolean" in c
            ),
        ),
        "identifier": record_identifiers(systems, record.label, sha256),
        "type": kind,
        **({"membership": "definitional"} if v.r5 else {"actual": False}),
        "name": f"{content['title']} ({cohort['size']} {_plural(unit)})",
    }
    if v.r5:
        group["description"] = (
            f"{content['description']}\n\nPurpose: {statement(content['purpose'])}"
        )
    if members is not None:
        group["quantity"] = members
    if criteria:
        group["characteristic"] = criteria
    return group
