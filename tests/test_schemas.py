"""The published schemas: generated from the models, never drifting, plain-jsonschema ready."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ledger.records.schemas import dumps_schema, generate_schemas
from tests.conftest import PROJECT

SCHEMAS = PROJECT / "schemas"
RECORDS = PROJECT / "records"


def test_committed_schemas_match_the_models() -> None:
    generated = generate_schemas()
    committed = sorted(p.name for p in SCHEMAS.glob("*.json"))
    regenerate = "regenerate with: python -m ledger.records.schemas schemas/"
    assert committed == sorted(generated), regenerate
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text() == dumps_schema(schema), (
            f"schemas/{name} drifted; regenerate with: python -m ledger.records.schemas schemas/"
        )


def _plain_validator(kind: str) -> Draft202012Validator:
    """A validator built from the committed files alone, as an outside tool would."""
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    schema = schemas[f"{kind}.schema.json"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("path", sorted(RECORDS.rglob("*.json")), ids=lambda p: p.stem)
def test_golden_records_validate_with_plain_jsonschema(path: Path) -> None:
    record = json.loads(path.read_text())
    errors = list(_plain_validator(record["kind"]).iter_errors(record))
    assert not errors, [e.message for e in errors]


def _has(kind: str, pointer: str) -> bool:
    """Whether a property path exists in a kind's schema (following $refs and anyOf)."""
    schemas = generate_schemas()

    def resolve(node: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
        ref = node.get("$ref")
        if not ref:
            return node, current
        file, _, fragment = ref.partition("#")
        file = file or current
        target: Any = schemas[file]
        for part in fragment.strip("/").split("/"):
            target = target[part]
        return resolve(target, file)

    node, current = schemas[f"{kind}.schema.json"], f"{kind}.schema.json"
    for part in pointer.strip("/").split("/"):
        node, current = resolve(node, current)
        options = [node, *node.get("anyOf", [])]
        for option in options:
            option, file = resolve(option, current)
            if part == "*" and "items" in option:
                node, current = option["items"], file
                break
            if part in option.get("properties", {}):
                node, current = option["properties"][part], file
                break
        else:
            return False
    return True


# Every field HealthChain's HealthcareRunContext / PatientContext and MLflow's runs and dataset
# inputs capture, and where a ledger record holds it.
SUPERSET = {
    "HealthChain model_id": ("model", "/name"),
    "HealthChain version": ("model", "/version"),
    "HealthChain organization": ("model", "/organization"),
    "HealthChain purpose": ("model", "/purpose"),
    "HealthChain data_sources": ("dataset", "/source/data_sources"),
    "HealthChain regulatory_tags": ("model", "/regulatory_tags"),
    "HealthChain patient_cohort": ("dataset", "/cohort"),
    "HealthChain age_range": ("dataset", "/cohort/age/min"),
    "HealthChain sample_size": ("dataset", "/cohort/size"),
    "HealthChain inclusion_criteria": ("dataset", "/selection/inclusion"),
    "HealthChain exclusion_criteria": ("dataset", "/selection/exclusion"),
    "HealthChain custom_metadata": ("dataset", "/extensions"),
    "MLflow params": ("model", "/hyperparameters"),
    "MLflow metrics": ("evaluation", "/metrics/*/value"),
    "MLflow dataset input name": ("model", "/training/datasets/*/ref"),
    "MLflow dataset input digest": ("model", "/training/datasets/*/sha256"),
    "MLflow dataset source": ("dataset", "/snapshot/path"),
    "MLflow run and model ids": ("model", "/external_refs/*/id"),
}


@pytest.mark.parametrize("field", sorted(SUPERSET))
def test_records_cover_healthchain_and_mlflow(field: str) -> None:
    kind, pointer = SUPERSET[field]
    assert _has(kind, pointer), f"{field}: no {kind}{pointer}"
