"""`ledger provenance`: FHIR R5 and R4B Bundles that fhir.resources and the official HL7 JSON
Schemas accept, that name every record version's git author, and a guard that refuses bad ones."""

from __future__ import annotations

import base64
import copy
import functools
import json
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from jsonschema.exceptions import best_match

from ledger.api import Ledger
from ledger.errors import LedgerError
from ledger.fhir.bundle import ProvenanceBundle
from ledger.fhir.checks import FhirMappingError, bundle_problems, check_bundle
from ledger.fhir.ids import NAMESPACE, URI, fhir_instant, resource_id, systems
from ledger.fhir.mapped import MappedRecord
from ledger.fhir.provenance import record_provenance
from ledger.fhir.resources import cohort_group, organization, record_ref
from ledger.fhir.versions import fhir_version
from ledger.git.commits import Person, Signature
from ledger.state.ledger_state import LedgerState
from tests.conftest import git, run_ledger

VERSIONS = ["R5", "R4B"]
Json = dict[str, Any]


@pytest.fixture(scope="session")
def cli_output(demo_repo: Path) -> Any:
    """``ledger provenance`` output in the demo repository, each argument list run once."""

    @functools.cache
    def run(*args: str) -> str:
        result = run_ledger("provenance", *args, cwd=demo_repo)
        assert result.code == 0, result.err
        return result.out

    return run


def _bundle(cli_output: Any, version: str, *args: str) -> Json:
    data: Json = json.loads(cli_output("--fhir-version", version, *args))
    return data


def _by_url(bundle: Json) -> dict[str, Json]:
    return {e["fullUrl"]: e["resource"] for e in bundle.get("entry", [])}


def _of_type(bundle: Json, resource_type: str) -> list[Json]:
    return [r for r in _by_url(bundle).values() if r["resourceType"] == resource_type]


def _record_url(bundle: Json, record: str) -> str:
    (url,) = [
        url
        for url, r in _by_url(bundle).items()
        if {"system": systems().record, "value": record} in r.get("identifier", [])
    ]
    return url


def _provenance_of(bundle: Json, record: str) -> Json:
    url = _record_url(bundle, record)
    (found,) = [
        p for p in _of_type(bundle, "Provenance") if url in [t["reference"] for t in p["target"]]
    ]
    return found


def _records(repo: Path, rev: str) -> dict[str, str]:
    """Record identity -> path of every record committed at ``rev``."""
    found = {}
    for path in git("ls-tree", "-r", "--name-only", rev, "--", "records", cwd=repo).split():
        if path.endswith(".json"):
            data = json.loads(git("show", f"{rev}:{path}", cwd=repo))
            found[f"{data['kind']}:{data['name']}@{data['version']}"] = path
    return found


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a",
        "x" * 300,
        "md5|" + "0" * 32,
        "mailto:\u00e9l\u00e8ve@example.org",
        "\U0001f600|\x00",
    ],
)
def test_resource_ids_are_rfc_uuid5(key: str) -> None:
    """The ids are computed without ``uuid.UUID`` objects, for speed: the same as uuid5."""
    for resource_type in ("Provenance", "DocumentReference"):
        expected = uuid.uuid5(NAMESPACE, f"{resource_type}|{key}")
        assert resource_id(resource_type, key) == str(expected)
        assert uuid.UUID(resource_id(resource_type, key)).version == 5


@pytest.mark.parametrize("version", VERSIONS)
def test_every_record_version_has_a_provenance_of_its_resource_naming_its_git_author(
    demo_repo: Path, cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    resources = _by_url(bundle)
    records = _records(demo_repo, "HEAD")
    assert len(records) == 7
    assert len(_of_type(bundle, "Provenance")) == len(records)
    for record, path in records.items():
        name, email, committed = (
            git("log", "-1", "--format=%an%x00%ae%x00%cI", "--", path, cwd=demo_repo)
            .strip()
            .split("\0")
        )
        provenance = _provenance_of(bundle, record)
        assert provenance["recorded"] == fhir_instant(committed)
        authors = [
            resources[a["who"]["reference"]]
            for a in provenance["agent"]
            if a["type"]["coding"][0]["code"] == "author"
        ]
        git_author = {
            "identifier": [{"system": URI, "value": f"mailto:{email}"}],
            "name": [{"text": name}],
        }
        assert any(git_author.items() <= person.items() for person in authors), record


@pytest.mark.parametrize("version", VERSIONS)
def test_bundle_passes_fhir_resources_of_its_version_and_only_that_one(
    cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    fhir_version(version).model("Bundle").model_validate(bundle)
    other = "R4B" if version == "R5" else "R5"
    with pytest.raises(ValueError):
        fhir_version(other).model("Bundle").model_validate(bundle)


@pytest.mark.parametrize("version", VERSIONS)
def test_bundle_passes_the_official_hl7_json_schema_of_its_version(
    cli_output: Any, official_schema: Any, version: str
) -> None:
    error = best_match(official_schema(version).iter_errors(_bundle(cli_output, version)))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_two_runs_give_identical_bytes(demo_repo: Path, cli_output: Any, fmt: str) -> None:
    for version in VERSIONS:
        again = run_ledger("provenance", "--fhir-version", version, "--format", fmt, cwd=demo_repo)
        assert again.out == cli_output("--fhir-version", version, "--format", fmt)
    assert cli_output("--fhir-version", "R5", "--format", "json").endswith("}\n")


def test_rev_gives_the_earlier_state(demo_repo: Path, cli_output: Any) -> None:
    now, before = _bundle(cli_output, "R5"), _bundle(cli_output, "R5", "--rev", "HEAD~2")
    earlier = _records(demo_repo, "HEAD~2")
    assert len(_of_type(before, "Provenance")) == len(earlier) < len(_of_type(now, "Provenance"))
    for record in earlier:
        _provenance_of(before, record)
    commit = git("rev-parse", "HEAD~2", cwd=demo_repo).strip()
    assert before["meta"]["source"] == f"swh:1:rev:{commit}"
    assert before["timestamp"] < now["timestamp"]


def test_ndjson_is_one_resource_per_line_without_the_bundle(cli_output: Any) -> None:
    """The Bundle's resources, with references relative: without a Bundle, no fullUrl
    resolves a urn:uuid: reference."""
    text = cli_output("--fhir-version", "R4B", "--format", "ndjson")
    lines = text.splitlines()
    assert text.endswith("\n") and all(lines)
    resources = [json.loads(line) for line in lines]
    assert all(r["resourceType"] not in (None, "Bundle") for r in resources)
    assert "urn:uuid:" not in text
    in_bundle = _by_url(_bundle(cli_output, "R4B"))
    types = {url: r["resourceType"] for url, r in in_bundle.items()}
    assert resources == [relative(r, types) for r in in_bundle.values()]


def relative(value: Any, types: dict[str, str]) -> Any:
    """``value`` with each ``urn:uuid:`` reference to an entry written ``Type/id``."""
    if isinstance(value, list):
        return [relative(v, types) for v in value]
    if not isinstance(value, dict):
        return value
    found = {k: relative(v, types) for k, v in value.items()}
    reference = found.get("reference")
    if isinstance(reference, str) and reference in types:
        found["reference"] = f"{types[reference]}/{reference.removeprefix('urn:uuid:')}"
    return found


def test_provenance_of_a_ref_holds_it_and_its_upstream_only(cli_output: Any) -> None:
    bundle = _bundle(cli_output, "R5", "evaluation:sepsis-risk-heldout@1.0")
    shown = {
        i["value"]
        for r in _by_url(bundle).values()
        for i in r.get("identifier", [])
        if i["system"] == systems().record
    }
    upstream = {
        "evaluation:sepsis-risk-heldout@1.0",
        "model:sepsis-risk@1.0",
        "dataset:sepsis-cohort@1.0",
        "dataset:sepsis-test@1.0",
    }
    assert shown == upstream
    for record in upstream:
        _provenance_of(bundle, record)
    assert bundle_problems(bundle, "R5") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_model_is_an_ai_device_and_snapshot_md5s_are_identifiers(
    cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    device = _by_url(bundle)[_record_url(bundle, "model:sepsis-risk@1.1")]
    types = device["type"] if version == "R5" else [device["type"]]
    assert types[0]["coding"][0]["code"] == "Artificial-Intelligence"
    names = [n["value"] for n in device["name"]] if version == "R5" else []
    names += [n["name"] for n in device.get("deviceName", [])]
    assert "sepsis-risk" in names
    assert device["version"] == [{"value": "1.1"}]
    snapshots = [d for d in _of_type(bundle, "DocumentReference") if "category" not in d]
    assert len(snapshots) == len(_of_type(bundle, "DocumentReference")) - 2  # 2 model cards
    for document in snapshots:
        assert [i["system"] for i in document["identifier"]].count(systems().dvc_md5) == 1
        assert "hash" not in document["content"][0]["attachment"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_version_is_an_update_with_a_revision_entity_and_its_reason(
    cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    provenance = _provenance_of(bundle, "model:sepsis-risk@1.1")
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"
    assert _provenance_of(bundle, "model:sepsis-risk@1.0")["activity"]["coding"][0]["code"] == (
        "CREATE"
    )
    roles = {(e["role"], e["what"]["reference"]) for e in provenance["entity"]}
    assert ("revision", _record_url(bundle, "model:sepsis-risk@1.0")) in roles
    assert "Retrained on cohort v1.1" in provenance["activity"]["text"]
    assert '"derivation"' not in cli_output("--fhir-version", version)
    observation = _by_url(bundle)[_record_url(bundle, "evaluation:sepsis-risk-heldout@1.1")]
    assert observation["focus"][0]["reference"] == _record_url(bundle, "model:sepsis-risk@1.1")
    assert observation["derivedFrom"][0]["type"] == "DocumentReference"
    assert observation["component"][0]["code"] == {"text": "sensitivity"}


@pytest.fixture(scope="session")
def state(demo_repo: Path) -> Any:
    with Ledger.open(demo_repo) as book:
        yield book.state()


def provenance_data(state: LedgerState, version: str) -> Json:
    data: Json = json.loads("".join(ProvenanceBundle(state, state.graph, version).json_chunks()))
    return data


def _first(bundle: Json, resource_type: str) -> Json:
    return _of_type(bundle, resource_type)[0]


def _break_empty_target(b: Json) -> None:
    _first(b, "Provenance")["target"] = []


def _break_role(b: Json) -> None:
    _first(b, "Provenance")["entity"][0]["role"] = "derivation"


def _break_reference(b: Json) -> None:
    dangling = "urn:uuid:00000000-0000-5000-8000-000000000000"
    _first(b, "Provenance")["entity"][0]["what"]["reference"] = dangling


def _break_who(b: Json) -> None:
    _first(b, "Provenance")["agent"][0]["who"] = {"display": "Amara Okafor"}


def _break_bundle_type(b: Json) -> None:
    b["type"] = "colection"


def _break_recorded(b: Json) -> None:
    _first(b, "Provenance")["recorded"] = "2026-01-07T09:00:00"


def _break_on_behalf_of(b: Json) -> None:
    provenance = _first(b, "Provenance")
    provenance["agent"][0]["onBehalfOf"] = {"reference": _record_url(b, "model:sepsis-risk@1.0")}


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_break_empty_target, "target is empty"),
        (_break_role, "role 'derivation' is not allowed"),
        (_break_reference, "resolves to no entry"),
        (_break_who, "who must reference"),
        (_break_bundle_type, "Bundle.type 'colection'"),
        (_break_recorded, "recorded"),
        (_break_on_behalf_of, "R5 onBehalfOf must be one of"),
    ],
)
def test_the_guard_refuses_a_broken_r5_bundle(
    state: LedgerState, breaks: Any, message: str
) -> None:
    bundle = provenance_data(state, "R5")
    assert check_bundle(copy.deepcopy(bundle), "R5") == bundle
    breaks(bundle)
    with pytest.raises(FhirMappingError, match=message):
        check_bundle(bundle, "R5")


def test_the_guard_refuses_an_r4b_resource_in_an_r5_bundle(state: LedgerState) -> None:
    r5, r4b = provenance_data(state, "R5"), provenance_data(state, "R4B")
    mixed = copy.deepcopy(r5)
    devices = [i for i, e in enumerate(mixed["entry"]) if e["resource"]["resourceType"] == "Device"]
    mixed["entry"][devices[0]] = next(
        e for e in r4b["entry"] if e["fullUrl"] == mixed["entry"][devices[0]]["fullUrl"]
    )
    assert any("Device" in p for p in bundle_problems(mixed, "R5"))


def test_a_guard_failure_is_an_internal_error_not_a_ledger_problem() -> None:
    assert not issubclass(FhirMappingError, LedgerError)


@pytest.mark.parametrize("version", VERSIONS)
def test_committer_approvers_signature_and_time_zones_are_mapped(
    state: LedgerState, version: str
) -> None:
    file = state.records.by_path["records/model/sepsis-risk/1.1.json"]
    introduced = state.introduced(file)
    assert introduced is not None
    commit = introduced._replace(
        committer=Person("Merge Bot", "bot@example.org"),
        author_date="2026-01-12T10:00:00+05:45",
        committer_date="2026-01-12T01:00:00-08:00",
        signature=Signature.GOOD,
        signer="Jonas Lindqvist",
    )
    approvals = [
        {"name": "Dr. Lee", "role": "clinical lead", "meaning": "approval"},
        {"name": "Sam Quality", "role": "quality assurance", "meaning": "review"},
    ]
    content = {**state.content(file), "approvals": approvals}
    provenance = record_provenance(
        fhir_version(version),
        systems(),
        target=record_ref("Device", str(file.facts.sha256), "model:sepsis-risk@1.1"),
        sha256=str(file.facts.sha256),
        content=content,
        commit=commit,
        sources=[],
        previous=None,
    )
    kinds = [a["type"]["coding"][0]["code"] for a in provenance["agent"]]
    assert kinds == ["author", "enterer", "attester", "verifier"]
    assert (provenance["occurredDateTime"], provenance["recorded"]) == (
        "2026-01-12T10:00:00+05:45",
        "2026-01-12T01:00:00-08:00",
    )
    assert {
        "code": "G",
        "display": "git commit signature: good; signer Jonas Lindqvist",
    }.items() <= (provenance["meta"]["tag"][0].items())
    assert "signature" not in provenance


@pytest.mark.parametrize("version", VERSIONS)
def test_a_change_reason_describes_the_activity_and_no_purpose_of_use_is_guessed(
    cli_output: Any, version: str
) -> None:
    """Purpose of use (R4B ``reason``, R5 ``authorization``) is stated by no structured record
    field, so neither is filled; the change reason, the change type and the PCCP modification
    describe the activity in both versions."""
    bundle = _bundle(cli_output, version)
    for provenance in _of_type(bundle, "Provenance"):
        assert "reason" not in provenance and "authorization" not in provenance
    text = _provenance_of(bundle, "model:sepsis-risk@1.1")["activity"]["text"]
    assert text.startswith("retrain of model:sepsis-risk@1.0: Retrained on cohort v1.1")
    assert "PCCP modification PCCP-1" in text
    first = _provenance_of(bundle, "model:sepsis-risk@1.0")["activity"]["text"]
    assert first.startswith("first version")
    assert "HRESCH" not in cli_output("--fhir-version", version)


@pytest.mark.parametrize("version", VERSIONS)
def test_meta_source_names_the_commit_and_no_tag_codes_it(
    demo_repo: Path, cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    for record, path in _records(demo_repo, "HEAD").items():
        sha = git("log", "-1", "--format=%H", "--", path, cwd=demo_repo).strip()
        meta = _provenance_of(bundle, record)["meta"]
        assert meta["source"] == f"swh:1:rev:{sha}"
        assert all(sha not in json.dumps(tag) for tag in meta["tag"])


def test_bundle_identifiers_differ_per_version_and_selection(cli_output: Any) -> None:
    """``Bundle.identifier`` names one Bundle: the R5, R4B and a narrower Bundle of the same
    commit each have their own, and the same again on a second run."""
    ref = "evaluation:sepsis-risk-heldout@1.0"
    bundles = [_bundle(cli_output, v, *args) for v in VERSIONS for args in ((), (ref,))]
    identifiers = [json.dumps(b["identifier"]) for b in bundles]
    assert len(set(identifiers)) == 4
    for bundle in bundles:
        assert bundle["identifier"] == {"system": URI, "value": f"urn:uuid:{bundle['id']}"}
        assert bundle["meta"]["source"] == bundles[0]["meta"]["source"]


def _valid(official_schema: Any, version: str, resource: Json) -> None:
    """``resource`` passes fhir.resources of its version, the official HL7 JSON Schema and the
    guard (as the one entry of a Bundle)."""
    fhir_version(version).model(resource["resourceType"]).model_validate(resource)
    error = best_match(official_schema(version).iter_errors(resource))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"
    url = f"urn:uuid:{resource['id']}"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    bundle["entry"].append({"fullUrl": url, "resource": resource})
    problems = [p for p in bundle_problems(bundle, version) if "resolves to no entry" not in p]
    assert problems == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("unit", "subjects"),
    [("patient", None), ("admission", None), ("admission", 420), ("sample", None), ("image", 9)],
)
def test_a_cohort_group_counts_its_members_and_names_the_unit_it_counts(
    state: LedgerState, official_schema: Any, version: str, unit: str, subjects: int | None
) -> None:
    file = state.records.by_path["records/dataset/sepsis-test/1.0.json"]
    content = copy.deepcopy(state.content(file))
    content["cohort"]["unit"] = unit
    if subjects is not None:
        content["cohort"]["subjects"] = subjects
    size = content["cohort"]["size"]
    record = MappedRecord(
        "dataset:sepsis-test@1.0", "0" * 64, content, "2026-01-07T09:00:00Z", systems()
    )
    group = cohort_group(fhir_version(version), record)
    _valid(official_schema, version, group)
    specimens = version == "R5" and unit == "sample"
    assert group["type"] == ("specimen" if specimens else "person")
    members = size if unit == "patient" or specimens else subjects
    assert group.get("quantity") == members
    first = group["characteristic"][0]
    if unit == "patient" or specimens:
        assert first["code"]["text"] != "unit of analysis"
    else:
        assert first["code"] == {"text": "unit of analysis"}
        assert first["valueCodeableConcept"]["text"].startswith(f"{unit} (the cohort counts {size}")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_evaluation_is_an_observation_of_when_and_who_with_its_statistics_whole_in_evidence(
    demo_repo: Path, cli_output: Any, version: str
) -> None:
    """Nothing of a metric is dropped: estimate (UCUM unity), interval (type, level, range), n,
    events, definition, threshold and subgroup are in one Evidence statistic each; the
    Observation says when, who, on what and the acceptance criteria."""
    bundle = _bundle(cli_output, version)
    resources = _by_url(bundle)
    records = _records(demo_repo, "HEAD")
    record = "evaluation:sepsis-risk-heldout@1.1"
    content = json.loads(git("show", f"HEAD:{records[record]}", cwd=demo_repo))
    _, email, authored = (
        git("log", "-1", "--format=%an%x00%ae%x00%aI", "--", records[record], cwd=demo_repo)
        .strip()
        .split("\0")
    )
    url = _record_url(bundle, record)
    observation = resources[url]
    assert observation["effectiveDateTime"] == fhir_instant(authored)
    performers = [resources[p["reference"]] for p in observation["performer"]]
    assert {"system": URI, "value": f"mailto:{email}"} in performers[0]["identifier"]
    assert performers[1] == {**performers[1], "name": content["organization"]}
    unity = {"unit": "1", "system": "http://unitsofmeasure.org", "code": "1"}
    assert [(c["code"]["text"], c["valueQuantity"]) for c in observation["component"]] == [
        (m["name"], {"value": m["value"], **unity}) for m in content["metrics"]
    ]
    notes = [n["text"] for n in observation["note"]]
    assert "Acceptance criterion (pre-specified): auroc (ci-lower) >= 0.75" in notes
    provenance = _provenance_of(bundle, record)
    (evidence_url,) = [t["reference"] for t in provenance["target"] if t["type"] == "Evidence"]
    evidence = resources[evidence_url]
    if version == "R5":
        assert evidence["relatedArtifact"][0]["resourceReference"]["reference"] == url
    assert evidence["variableDefinition"][0]["observed"] == observation["subject"]
    expected = [(None, m) for m in content["metrics"]] + [
        (f"{s['attribute']} {s['group']}", m)
        for s in content["subgroup_metrics"]
        for m in s["metrics"]
    ]
    assert len(evidence["statistic"]) == len(expected)
    for statistic, (category, metric) in zip(evidence["statistic"], expected, strict=True):
        assert statistic.get("category", {}).get("text") == category
        assert statistic["statisticType"] == {"text": metric["name"]}
        assert statistic["description"] == f"{metric['name']}: {metric['definition']}"
        assert statistic["quantity"] == {"value": metric["value"], **unity}
        assert statistic["sampleSize"] == {"knownDataCount": metric["n"]}
        assert statistic["numberOfEvents"] == metric["events"]
        (estimate,) = statistic["attributeEstimate"]
        assert estimate["type"]["coding"][0]["code"] == "C53324"
        assert estimate["level"] == metric["ci"]["level"]
        assert estimate["description"] == metric["ci"]["method"]
        assert (estimate["range"]["low"]["value"], estimate["range"]["high"]["value"]) == (
            metric["ci"]["lower"],
            metric["ci"]["upper"],
        )
        if metric.get("threshold") is not None:
            assert {"text": f"decision threshold {metric['threshold']:g}"} in statistic["note"]


AI_IG = "http://hl7.org/fhir/uv/aitransparency/"
AI_DEVICE_TYPES = AI_IG + "CodeSystem/AIdeviceTypeCS"
AI_INPUTS = AI_IG + "CodeSystem/AIinputsCS"


def _ai_device_problems(device: Json, resources: dict[str, Json], r5: bool) -> list[str]:
    """The AI Transparency IG's AIDevice constraints: ``type`` 1..1 fixed exactly to
    AIdeviceTypeCS#Artificial-Intelligence; extension aiKind 0..* with valueCodeableConcept
    1..1; modelCardDescription 0..* with valueReference 1..1 to an AIModelCard."""
    problems = []
    exact = {"coding": [{"system": AI_DEVICE_TYPES, "code": "Artificial-Intelligence"}]}
    if device.get("type") != ([exact] if r5 else exact):
        problems.append(f"type {device.get('type')} is not exactly {exact}")
    for extension in device.get("extension", []):
        values = {k for k in extension if k.startswith("value")}
        if extension["url"] == AI_IG + "StructureDefinition/aitransparency.AIKind":
            if values != {"valueCodeableConcept"}:
                problems.append(f"AIKind has {values}")
            codings = extension["valueCodeableConcept"]["coding"]
            # Preferred binding AIdeviceTypeVS: the code system without Artificial-Intelligence.
            if [(c["system"], c["code"] == "Artificial-Intelligence") for c in codings] != [
                (AI_DEVICE_TYPES, False)
            ]:
                problems.append(f"AIKind {codings} is not from AIdeviceTypeVS")
        elif extension["url"] == AI_IG + "StructureDefinition/aitransparency.modelCardDescription":
            if values != {"valueReference"}:
                problems.append(f"modelCardDescription has {values}")
            card = resources[extension["valueReference"]["reference"]]
            problems += _ai_model_card_problems(card)
    return problems


def _ai_model_card_problems(card: Json) -> list[str]:
    """The IG's AIModelCard constraints: ``type`` 1..1 fixed exactly to AIinputsCS#AIModelCard;
    ``category`` 1..*, its Markdown slice the pattern AIinputsCS#AIModelCardMarkdownFormat
    "Markdown Format"; content with contentType text/markdown (exactly) at most once."""
    problems = []
    if card["resourceType"] != "DocumentReference":
        return [f"a model card is a DocumentReference, not a {card['resourceType']}"]
    if card.get("type") != {"coding": [{"system": AI_INPUTS, "code": "AIModelCard"}]}:
        problems.append(f"type {card.get('type')}")
    markdown = {
        "system": AI_INPUTS,
        "code": "AIModelCardMarkdownFormat",
        "display": "Markdown Format",
    }
    categories = card.get("category", [])
    if not categories or not any(markdown in c.get("coding", []) for c in categories):
        problems.append(f"category {categories} has no Markdown format")
    attachments = [c["attachment"] for c in card["content"]]
    markdowns = [a for a in attachments if a.get("contentType") == "text/markdown"]
    if len(markdowns) != 1 or not base64.b64decode(markdowns[0]["data"]).startswith(
        b"# Model card"
    ):
        problems.append("no Markdown model card attached")
    return problems


@pytest.mark.parametrize("version", VERSIONS)
def test_profiles_are_claimed_only_where_they_hold_and_the_ai_device_meets_them(
    cli_output: Any, version: str
) -> None:
    """The IG is FHIR 4.0.1: its profiles are claimed in R4B (whose Device and DocumentReference
    are R4's), never in R5, where the Device still meets the AIDevice constraints it can."""
    bundle = _bundle(cli_output, version)
    resources = _by_url(bundle)
    claimed = {
        (r["resourceType"], p)
        for r in resources.values()
        for p in r.get("meta", {}).get("profile", [])
    }
    expected = {
        ("Device", AI_IG + "StructureDefinition/AI-Device"),
        ("DocumentReference", AI_IG + "StructureDefinition/AI-ModelCard"),
    }
    assert claimed == (set() if version == "R5" else expected)
    devices = _of_type(bundle, "Device")
    assert len(devices) == 2
    for device in devices:
        assert _ai_device_problems(device, resources, version == "R5") == []
        urls = [e["url"].rsplit(".", 1)[-1] for e in device["extension"]]
        assert urls == ["AIKind", "modelCardDescription"]
        kinds = [p["type"]["text"] for p in device["property"]]
        assert "intended use: purpose" in kinds and "regulatory status" in kinds
    for resource in resources.values():
        profiles = resource.get("meta", {}).get("profile", [])
        if AI_IG + "StructureDefinition/AI-ModelCard" in profiles:
            assert _ai_model_card_problems(resource) == []
        if AI_IG + "StructureDefinition/AI-Device" in profiles:
            assert _ai_device_problems(resource, resources, r5=False) == []


def test_the_profile_checks_catch_what_the_profiles_forbid(cli_output: Any) -> None:
    bundle = _bundle(cli_output, "R4B")
    resources = _by_url(bundle)
    device = copy.deepcopy(_of_type(bundle, "Device")[0])
    device["type"]["text"] = "Artificial Intelligence"
    assert _ai_device_problems(device, resources, r5=False)
    card_url = device["extension"][1]["valueReference"]["reference"]
    card = copy.deepcopy(resources[card_url])
    card["category"] = []
    assert _ai_model_card_problems(card)


def _xhtml_problems(div: str) -> list[str]:
    """What keeps ``div`` from being a FHIR narrative: well-formed XML, one XHTML div root,
    only the elements ledger writes, and some text (txt-1, txt-2)."""
    try:
        root = ElementTree.fromstring(div)
    except ElementTree.ParseError as exc:
        return [f"not XML: {exc}"]
    xhtml = "{http://www.w3.org/1999/xhtml}"
    problems = [] if root.tag == f"{xhtml}div" else [f"root {root.tag}"]
    problems += [
        f"element {e.tag}" for e in root.iter() if e.tag not in (f"{xhtml}div", f"{xhtml}p")
    ]
    problems += [f"attribute {a}" for e in root.iter() for a in e.attrib]
    if not "".join(root.itertext()).strip():
        problems.append("no text")
    return problems


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_has_a_generated_xhtml_narrative(cli_output: Any, version: str) -> None:
    resources = _by_url(_bundle(cli_output, version)).values()
    assert {r["resourceType"] for r in resources} >= {
        "Organization", "Practitioner", "DocumentReference", "Group", "Device", "Observation",
        "Evidence", "Provenance",
    }  # fmt: skip
    for resource in resources:
        assert resource["text"]["status"] == "generated"
        assert _xhtml_problems(resource["text"]["div"]) == [], resource["resourceType"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_narrative_escapes_markup_and_leaves_out_what_xml_forbids(
    official_schema: Any, version: str
) -> None:
    name = 'Dr <script>alert("x")</script> & Sons\x00\x1b\ufffe Ltd'
    resource = organization(name)
    assert _xhtml_problems(resource["text"]["div"]) == []
    assert "<script>" not in resource["text"]["div"]
    texts = "".join(ElementTree.fromstring(resource["text"]["div"]).itertext())
    assert texts == 'Organisation Dr <script>alert("x")</script> & Sons Ltd'
    _valid(official_schema, version, {**resource, "name": "Dr Sons Ltd"})


@pytest.mark.parametrize("version", VERSIONS)
def test_a_records_purpose_is_on_its_own_resource_not_on_its_provenance(
    demo_repo: Path, cli_output: Any, version: str
) -> None:
    bundle = _bundle(cli_output, version)
    resources = _by_url(bundle)
    for record, path in _records(demo_repo, "HEAD").items():
        purpose = json.loads(git("show", f"HEAD:{path}", cwd=demo_repo))["purpose"]
        resource = resources[_record_url(bundle, record)]
        assert f"Purpose: {purpose}" in resource["text"]["div"], record
        if resource["resourceType"] != "Group" or version == "R5":
            structured = json.dumps([resource.get("note"), resource.get("description")])
            assert json.dumps(f"Purpose: {purpose}")[1:-1] in structured, record
        assert purpose not in json.dumps(_provenance_of(bundle, record))
