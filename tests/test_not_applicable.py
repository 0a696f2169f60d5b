"""What validate accepts, every view renders: records whose every optional statement is
``{"not_applicable": ...}`` go through provenance, export, lineage, show, log, diff, compare,
list, query, status, technical files and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import git, run_ledger

from ledger.errors import EXIT_OK
from ledger.records.canonical import canonical_bytes, sha256_hex
from ledger.records.schemas import generate_schemas

NOT_APPLICABLE = {"not_applicable": "not collected in this study"}
LATEST = {
    "dataset": "sepsis-cohort",
    "model": "sepsis-risk",
    "evaluation": "sepsis-risk-heldout",
}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any], home: str) -> tuple[Any, str]:
    """A ``$ref`` followed (within its file or into another), with the file it lands in."""
    while "$ref" in schema:
        where, _, pointer = schema["$ref"].partition("#")
        home = where or home
        schema = schemas[home]
        for part in pointer.strip("/").split("/"):
            schema = schema[part] if part else schema
    return schema, home


def _accepts_not_applicable(options: list[Any], schemas: dict[str, Any], home: str) -> bool:
    return any(
        "not_applicable" in _resolve(o, schemas, home)[0].get("properties", {}) for o in options
    )


def _fill(value: dict[str, Any], schema: dict[str, Any], schemas: dict[str, Any], home: str) -> int:
    """Set every field of ``value`` (nested objects included) whose schema offers a
    not_applicable statement to one; how many were set."""
    schema, home = _resolve(schema, schemas, home)
    count = 0
    for key, sub in schema.get("properties", {}).items():
        options = sub.get("anyOf") or sub.get("oneOf") or [sub]
        if _accepts_not_applicable(options, schemas, home):
            value[key] = dict(NOT_APPLICABLE)
            count += 1
        elif isinstance(value.get(key), dict):
            objects = [o for o in options if _resolve(o, schemas, home)[0].get("properties")]
            if objects:
                count += _fill(value[key], objects[0], schemas, home)
    return count


def _new_version(repo: Path, kind: str, name: str, schemas: dict[str, Any]) -> None:
    old = repo / "records" / kind / name / "1.1.json"
    value = json.loads(old.read_text())
    assert _fill(value, schemas[f"{kind}.schema.json"], schemas, f"{kind}.schema.json") > 0
    if kind == "evaluation":
        # Criteria that do not apply were fixed nowhere: not pre-specified, no modification.
        value["setup"].pop("modification", None)
        value["setup"]["prespecified"] = False
    value["version"] = "1.2"
    value["supersedes"] = {
        "ref": f"{kind}:{name}@1.1",
        "reason": "Statements that do not apply, said so",
        "change_type": value["supersedes"]["change_type"],
        "sha256": sha256_hex(canonical_bytes(json.loads(old.read_text()))),
    }
    (old.parent / "1.2.json").write_text(json.dumps(value, indent=2) + "\n")


def test_records_that_say_not_applicable_wherever_allowed_render_in_every_view(
    repo: Path, tmp_path: Path
) -> None:
    schemas = generate_schemas()
    for kind, name in LATEST.items():
        _new_version(repo, kind, name, schemas)
    assert run_ledger("validate", cwd=repo).code == EXIT_OK
    git("add", "records", cwd=repo)
    git("commit", "-qm", "Versions that say what does not apply", cwd=repo)

    def ok(*args: str) -> str:
        result = run_ledger(*args, cwd=repo)
        assert result.code == EXIT_OK, (args, result.err)
        return result.out

    ok("verify")
    for version in ("R5", "R4B"):
        bundle = json.loads(ok("provenance", "--fhir-version", version, "--format", "json"))
        assert bundle["resourceType"] == "Bundle"
        ok("provenance", "--fhir-version", version, "--format", "ndjson")
    observation = next(
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Observation"
        and any(
            i["value"] == "evaluation:sepsis-risk-heldout@1.2"
            for i in entry["resource"]["identifier"]
        )
    )
    assert observation["component"]  # the overall metrics, without subgroup ones
    notes = [note["text"] for note in observation["note"]]
    assert f"Subgroup metrics not reported: {NOT_APPLICABLE['not_applicable']}" in notes
    for fmt in ("json", "html", "mermaid", "dot", "text"):
        ok("lineage", "--all-versions", "--format", fmt)
    for kind, name in LATEST.items():
        ok("show", f"{kind}:{name}@1.2")
        ok("log", f"{kind}:{name}@1.2")
    ok("diff", "HEAD~1", "HEAD")
    ok("compare", "evaluation:sepsis-risk-heldout@1.1", "evaluation:sepsis-risk-heldout@1.2")
    ok("compare", "model:sepsis-risk@1.1", "model:sepsis-risk@1.2")
    ok("compare", "--query", "kind = 'evaluation'", "--all-versions")
    ok("list", "--all-versions")
    ok("status")
    ok("technical-file", "model:sepsis-risk@1.2", "--format", "html")
    rows = json.loads(ok("query", "kind != 'x'", "--all-versions", "--format", "json"))["rows"]
    assert len(rows) == 10
    # Every content field a query can read, on records that say "not applicable" to them.
    for field in ("metrics.auroc", "metrics[sex=F].auroc", "params.epochs", "cohort.size"):
        ok("query", f"{field} > 0", "--all-versions", "--columns", f"id,{field},outcome")
    ok("report", "-o", str(tmp_path / "report"))
    page = (tmp_path / "report/models/sepsis-risk.html").read_text()
    assert "model:sepsis-risk@1.2" in page
    bundle_zip = tmp_path / "audit.zip"
    ok("export", "-o", str(bundle_zip))
    ok("verify-export", str(bundle_zip))
