"""An evaluation record as a FHIR Observation (the evaluation) and an Evidence (its statistics),
the same shapes in R5 and R4B.

The **Observation** is the act of evaluating: ``focus`` the model Device (what the result is
about), ``subject`` the test cohort Group when there is exactly one test dataset (``subject`` is
0..1), ``derivedFrom`` the test data DocumentReferences, ``effective[x]`` the run's period
(``started``, ``ended``) or else when the record's author made it (the git author time, as the
Provenance's ``occurred[x]``), ``performer`` that author and the record's organisation,
``issued`` the time the commit recorded it, ``method`` the protocol. Each overall metric is a
``component``: ``code.text`` its name and ``valueQuantity`` its estimate, in UCUM's unity
``1``: the schema's metrics are unitless numbers (proportions, areas, scores) and records
state no unit. The acceptance criteria, their outcome and the reason when subgroup metrics do
not apply are ``note`` text: ``interpretation``'s value set describes clinical results, not
whether acceptance criteria passed.

The **Evidence** holds every statistic whole, which an Observation cannot: one ``statistic``
per metric, overall and per subgroup (``category`` the subgroup), with ``quantity`` the
estimate, ``sampleSize.knownDataCount`` n, ``numberOfEvents`` events, ``attributeEstimate`` the
confidence interval (type attribute-estimate-type C53324 "Confidence interval", ``level``,
``range``, the method as ``description``), the metric's definition as ``description`` and its
decision threshold as a ``note``. Its ``variableDefinition`` is the test population
(``observed`` the test Group when there is one) and the model's predictions. Observation
components once held a second component per interval, tied to its estimate only by its text;
``referenceRange`` would state a normal range, not an interval estimate. R5 Evidence names the
Observation in ``relatedArtifact`` (``derived-from``, ``resourceReference``); R4B's
RelatedArtifact has no reference to a non-canonical resource, and there the one Provenance
that targets both ties them. Metric names and subgroups are text: no structured field says
which standard code (statistic-type, LOINC, SNOMED CT) a metric is, so none is claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.fhir.ids import reference, resource_id
from ledger.fhir.mapped import MappedRecord
from ledger.fhir.provenance import run_period
from ledger.fhir.resources import (
    Json,
    meta_tags,
    narrative,
    organization_ref,
    record_identifiers,
    regulatory_tags,
    statement,
)
from ledger.fhir.versions import FhirVersion

UCUM = "http://unitsofmeasure.org"
VARIABLE_ROLE = "http://terminology.hl7.org/CodeSystem/variable-role"
ATTRIBUTE_ESTIMATE = "http://terminology.hl7.org/CodeSystem/attribute-estimate-type"
CONFIDENCE_INTERVAL = {
    "system": ATTRIBUTE_ESTIMATE,
    "code": "C53324",
    "display": "Confidence interval",
}


def _unitless(value: float) -> Json:
    return {"value": value, "unit": "1", "system": UCUM, "code": "1"}


def _statistic(metric: Mapping[str, Any], subgroup: Mapping[str, Any] | None) -> Json:
    statistic: Json = {"description": f"{metric['name']}: {metric['definition']}"}
    if metric.get("threshold") is not None:
        statistic["note"] = [{"text": f"decision threshold {metric['threshold']:g}"}]
    statistic["statisticType"] = {"text": metric["name"]}
    if subgroup is not None:
        statistic["category"] = {"text": f"{subgroup['attribute']} {subgroup['group']}"}
    statistic["quantity"] = _unitless(metric["value"])
    if metric.get("events") is not None:
        statistic["numberOfEvents"] = metric["events"]
    statistic["sampleSize"] = {"knownDataCount": metric["n"]}
    ci = metric.get("ci") or {}
    if "lower" in ci and "upper" in ci:  # else a not_applicable statement
        statistic["attributeEstimate"] = [
            {
                "description": ci["method"],
                "type": {"coding": [CONFIDENCE_INTERVAL]},
                "level": ci.get("level", 0.95),
                "range": {"low": _unitless(ci["lower"]), "high": _unitless(ci["upper"])},
            }
        ]
    elif isinstance(ci, Mapping) and "not_applicable" in ci:
        statistic.setdefault("note", []).append({"text": statement(ci)})
    return statistic


def _line(statistic: Json) -> str:
    """A statistic in words, for the narrative."""
    where = f" ({statistic['category']['text']})" if "category" in statistic else ""
    text = f"{statistic['statisticType']['text']}{where}: {statistic['quantity']['value']:g}"
    for estimate in statistic.get("attributeEstimate", []):
        low, high = estimate["range"]["low"]["value"], estimate["range"]["high"]["value"]
        text += f", {estimate['level'] * 100:g}% CI {low:g} to {high:g}"
    return text + f", n {statistic['sampleSize']['knownDataCount']}"


def _criterion(criterion: Mapping[str, Any]) -> str:
    where = ""
    if criterion.get("subgroup"):
        where = f" in {criterion['subgroup']['attribute']} {criterion['subgroup']['group']}"
    bound = criterion.get("bound", "estimate")
    if "operator" in criterion:
        return (
            f"{criterion['metric']}{where} ({bound}) {criterion['operator']} "
            f"{criterion['threshold']:g}"
        )
    return (
        f"{criterion['metric']}{where} ({bound}) no more than {criterion['margin']:g} "
        f"{'below' if criterion['direction'] == 'higher-is-better' else 'above'} the baseline's"
    )


def _effective(content: Mapping[str, Any], authored: str) -> Json:
    """When the evaluation ran, as the Provenance's ``occurred[x]`` says it: the run's period
    when the record states one, else when its author recorded it."""
    period = run_period(content)
    if period is not None:
        return {"effectivePeriod": period}
    return {"effectiveDateTime": authored} if authored else {}


def _role(code: str, display: str) -> Json:
    return {"coding": [{"system": VARIABLE_ROLE, "code": code, "display": display}]}


def evaluation_resources(v: FhirVersion, record: MappedRecord) -> list[Json]:
    """The Observation of an evaluation record, then the Evidence of its statistics."""
    observation = evaluation_observation(v, record)
    return [observation, evaluation_evidence(v, record)]


def evaluation_observation(v: FhirVersion, record: MappedRecord) -> Json:
    """The Observation of an evaluation record (the same shape in R5 and R4B)."""
    content, sha256 = record.content, record.sha256
    models = record.resources("evaluates")
    tested = record.resources("evaluated-on")
    data = record.data("evaluated-on")
    subject = tested[0] if len(tested) == 1 else None
    components = [
        {"code": {"text": m["name"]}, "valueQuantity": _unitless(m["value"])}
        for m in content["metrics"]
    ]
    notes = [content["description"], f"Purpose: {statement(content['purpose'])}"]
    subgroups = content.get("subgroup_metrics")
    if isinstance(subgroups, dict):  # a not_applicable statement: say why there are none
        notes.append(f"Subgroup metrics not reported: {subgroups['not_applicable']}")
    setup = content["setup"]
    when = "pre-specified" if setup.get("prespecified") else "not pre-specified"
    criteria = setup.get("acceptance_criteria")
    if isinstance(criteria, list):
        notes += [f"Acceptance criterion ({when}): {_criterion(c)}" for c in criteria]
    if setup.get("outcome") in ("pass", "fail"):
        notes.append(f"Acceptance criteria ({when}): {setup['outcome']}")
    notes.append(
        "Intervals, sample sizes, events and subgroup results: the Evidence of this record"
    )
    performers = [r for r in (record.author, organization_ref(content["organization"])) if r]
    observation: Json = {
        "resourceType": "Observation",
        "id": resource_id("Observation", sha256),
        **meta_tags(record.systems, regulatory_tags(content)),
        "text": narrative(
            f"Evaluation {record.label}: {content['title']}",
            *(f"{m['name']}: {m['value']:g}" for m in content["metrics"]),
            *notes[1:],
        ),
        "identifier": record_identifiers(record.systems, record.label, sha256),
        "status": "final",
        "code": {"text": "model evaluation"},
        **({"subject": subject} if subject else {}),
        **({"focus": models[:1]} if models else {}),
        **_effective(content, record.authored),
        "issued": record.recorded,
        "performer": performers,
        "note": [{"text": text} for text in notes],
        "method": {"text": setup["protocol"]},
        **({"derivedFrom": data} if data else {}),
        "component": components,
    }
    return observation


def evaluation_evidence(v: FhirVersion, record: MappedRecord) -> Json:
    """The Evidence of an evaluation record's statistics, overall and per subgroup."""
    content = record.content
    tested = record.resources("evaluated-on")
    models = record.related.get("evaluates", ())
    population = content["test_population"]
    size = f"{population['size']} units" + (
        f", {population['events']} events" if population.get("events") is not None else ""
    )
    test: Json = {
        "description": f"{population['description']} ({size})",
        "variableRole": _role("population", "population"),
    }
    if len(tested) == 1:
        test["observed"] = tested[0]
    model = models[0].label if models else "the model"
    predictions: Json = {
        "description": f"predictions of {model}",
        "variableRole": _role("measuredVariable", "measured variable"),
    }
    statistics = [_statistic(m, None) for m in content["metrics"]]
    subgroups = content.get("subgroup_metrics")
    for sub in subgroups if isinstance(subgroups, list) else []:
        statistics += [_statistic(m, sub) for m in sub["metrics"]]
    evidence: Json = {
        "resourceType": "Evidence",
        "id": resource_id("Evidence", record.sha256),
        **meta_tags(record.systems, regulatory_tags(content)),
        "text": narrative(
            f"Statistics of {record.label}: {len(statistics)} estimates with their samples",
            *(_line(s) for s in statistics),
        ),
        "title": f"Statistics of {record.label}",
        "status": "active",
        "date": record.recorded,
        "description": content["description"],
    }
    if v.r5:
        evidence["purpose"] = statement(content["purpose"])
        observed = reference("Observation", record.sha256, display=record.label)
        evidence["relatedArtifact"] = [{"type": "derived-from", "resourceReference": observed}]
    evidence["variableDefinition"] = [test, predictions]
    evidence["statistic"] = statistics
    return evidence
