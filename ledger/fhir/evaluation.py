"""An evaluation record as a FHIR Observation (the same shape in R5 and R4B).

``focus`` is the model Device (what the result is about), ``subject`` the test cohort Group
when there is exactly one test dataset (``subject`` is 0..1), ``derivedFrom`` the test data
DocumentReferences, ``issued`` the time the commit recorded it. Each metric is a ``component``
whose ``code.text`` is the metric's name and ``valueQuantity.value`` its estimate; its
confidence interval is a second component with a ``valueRange``, named with level and method.
``referenceRange`` is not used: it states a normal or target range, not an interval estimate.
``interpretation`` is not used either: its value set describes clinical results, not whether
acceptance criteria passed, which goes in ``note`` as text, as does the reason when subgroup
metrics are stated not to apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.fhir.ids import resource_id
from ledger.fhir.mapped import MappedRecord
from ledger.fhir.resources import Json, meta_tags, record_identifiers, regulatory_tags
from ledger.fhir.versions import FhirVersion


def _components(metric: Mapping[str, Any], label: str) -> list[Json]:
    parts: list[Json] = [{"code": {"text": label}, "valueQuantity": {"value": metric["value"]}}]
    ci = metric.get("ci") or {}
    if "lower" in ci and "upper" in ci:  # else a not_applicable statement
        level = f"{ci.get('level', 0.95) * 100:g}%"
        parts.append(
            {
                "code": {"text": f"{label}: {level} confidence interval ({ci['method']})"},
                "valueRange": {"low": {"value": ci["lower"]}, "high": {"value": ci["upper"]}},
            }
        )
    return parts


def evaluation_observation(v: FhirVersion, record: MappedRecord) -> Json:
    """The Observation of an evaluation record (the same shape in R5 and R4B)."""
    content, sha256 = record.content, record.sha256
    models = record.resources("evaluates")
    tested = record.resources("evaluated-on")
    data = record.data("evaluated-on")
    subject = tested[0] if len(tested) == 1 else None
    components = [c for m in content["metrics"] for c in _components(m, m["name"])]
    notes = [content["description"]]
    subgroups = content.get("subgroup_metrics") or []
    if isinstance(subgroups, dict):  # a not_applicable statement: say why there are none
        notes.append(f"Subgroup metrics not reported: {subgroups['not_applicable']}")
        subgroups = []
    for sub in subgroups:
        for m in sub["metrics"]:
            components += _components(m, f"{m['name']} ({sub['attribute']} {sub['group']})")
    setup = content["setup"]
    if setup.get("outcome") in ("pass", "fail"):
        when = "pre-specified" if setup.get("prespecified") else "not pre-specified"
        notes.append(f"Acceptance criteria ({when}): {setup['outcome']}")
    observation: Json = {
        "resourceType": "Observation",
        "id": resource_id("Observation", sha256),
        **meta_tags(record.systems, regulatory_tags(content)),
        "identifier": record_identifiers(record.systems, record.label, sha256),
        "status": "final",
        "code": {"text": "model evaluation"},
        **({"subject": subject} if subject else {}),
        **({"focus": models[:1]} if models else {}),
        "issued": record.recorded,
        "note": [{"text": text} for text in notes],
        "method": {"text": setup["protocol"]},
        **({"derivedFrom": data} if data else {}),
        "component": components,
    }
    return observation
