"""Anything `ledger validate` accepts must export: records generated from the published JSON
Schemas (hypothesis-jsonschema), committed beside the demo's records, give FHIR Bundles that
the guard and the official HL7 JSON Schemas accept, in R5 and R4B."""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema.exceptions import best_match

from ledger.api import Ledger
from ledger.records.identity import KINDS
from tests.conftest import PROJECT, git

Json = dict[str, Any]
# The demo's versions that a generated record takes its links and snapshots from: they name
# records and DVC files that exist, with their hashes, so only the documentation is generated.
TEMPLATES = {
    "dataset": "records/dataset/sepsis-cohort/1.1.json",
    "model": "records/model/sepsis-risk/1.1.json",
    "evaluation": "records/evaluation/sepsis-risk-heldout/1.1.json",
}
# Fields that link or pin data, by kind: taken from the template, never generated.
PINNED = {
    "dataset": ("snapshot",),
    "model": ("artifact",),
    "evaluation": ("model", "datasets", "baseline"),
}
DROPPED = ("supersedes",)  # a first version supersedes nothing


@functools.cache
def _schema(kind: str) -> Json:
    """The published schema of ``kind`` with ``common.schema.json``'s definitions inlined:
    hypothesis-jsonschema resolves references within one document only."""
    folder = PROJECT / "schemas"
    common = json.loads((folder / "common.schema.json").read_text())
    schema = json.loads((folder / f"{kind}.schema.json").read_text())

    def local(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$ref"}:
                return {"$ref": "#/$defs/" + node["$ref"].rsplit("/", 1)[-1]}
            return {k: local(v) for k, v in node.items()}
        return [local(v) for v in node] if isinstance(node, list) else node

    definitions = {**common.get("$defs", {}), **schema.get("$defs", {})}
    inlined: Json = local({k: v for k, v in schema.items() if k != "$defs"})
    inlined["$defs"] = {k: local(v) for k, v in definitions.items()}
    return _bounded(inlined)


def _bounded(node: Any) -> Any:
    """The schema with small sizes where it sets none: unbounded lists and free text make
    records of megabytes, which take seconds each to generate and say nothing more."""
    if isinstance(node, list):
        return [_bounded(v) for v in node]
    if not isinstance(node, dict):
        return node
    bounded = {k: _bounded(v) for k, v in node.items()}
    kind = bounded.get("type")
    if kind == "array":
        bounded.setdefault("maxItems", 2)
    elif kind == "object" and "properties" not in bounded:
        bounded.setdefault("maxProperties", 2)
    elif kind == "string" and not {"pattern", "format", "enum", "const"} & bounded.keys():
        bounded.setdefault("maxLength", 24)
    return bounded


@pytest.fixture(scope="module")
def ledger_repo(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One copy of the demo for every example: each adds a record of its own name."""
    repo = tmp_path_factory.mktemp("property") / "repo"
    shutil.copytree(demo_repo, repo, symlinks=True)
    yield repo


_names = iter(range(1_000_000))


def _record(kind: str, generated: Json, repo: Path) -> tuple[str, Json]:
    template = json.loads((repo / TEMPLATES[kind]).read_text())
    record = copy.deepcopy(generated)
    for key in DROPPED:
        record.pop(key, None)
    for key in PINNED[kind]:
        record[key] = template[key]
    if kind == "model":
        training = record.get("training")
        record["training"] = {**(training if isinstance(training, dict) else {})}
        record["training"]["datasets"] = template["training"]["datasets"]
    name = f"generated-{kind}-{next(_names)}"
    record.update(kind=kind, name=name, version="1.0")
    return f"records/{kind}/{name}/1.0.json", record


def _accepted(repo: Path, path: str, record: Json) -> bool:
    """Whether ``ledger validate`` accepts the record where it would be committed."""
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with Ledger.open(repo) as book:
        ok = book.validate([file]).ok
    if not ok:
        shutil.rmtree(file.parent)
    return ok


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_validate_accepts_gives_bundles_the_guard_and_hl7_schemas_accept(
    ledger_repo: Path, official_schema: Any, kind: str
) -> None:
    validators = {version: official_schema(version) for version in ("R5", "R4B")}

    @settings(
        max_examples=4,
        deadline=None,
        derandomize=True,  # the same examples on every run: CI stays reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        generated = data.draw(from_schema(_schema(kind)))
        path, record = _record(kind, generated, ledger_repo)
        assume(_accepted(ledger_repo, path, record))
        git("add", path, cwd=ledger_repo)
        git("commit", "-qm", f"Add {record['name']}", cwd=ledger_repo)
        ref = f"{kind}:{record['name']}@1.0"
        for version, validator in validators.items():
            with Ledger.open(ledger_repo) as book:
                text = "".join(book.provenance(ref, fhir_version=version).json_chunks())
            bundle = json.loads(text)
            error = best_match(validator.iter_errors(bundle))
            assert error is None, f"{version} {list(error.absolute_path)}: {error.message}"

    check()
