"""A model's or evaluation's run period (``started``, ``ended``): checked (L105, L107), found by
``ledger query``, printed by ``ledger show``, never taken over by a new version, and the
Provenance's ``occurredPeriod`` in FHIR R5 and R4B, in a copy of the demo repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import best_match

from ledger.fhir.checks import bundle_problems
from ledger.fhir.versions import fhir_version
from ledger.records.canonical import record_hash
from tests.conftest import git, run_ledger

MODEL_11 = "records/model/sepsis-risk/1.1.json"
MODEL_12 = "records/model/sepsis-risk/1.2.json"
EVAL_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"
EVAL_12 = "records/evaluation/sepsis-risk-heldout/1.2.json"


def _next_version(repo: Path, relpath: str, **fields: Any) -> str:
    """Version 1.2 of the record at ``relpath``, superseding it, with ``fields`` set; its path."""
    data = json.loads((repo / relpath).read_text())
    ref = f"{data['kind']}:{data['name']}@{data['version']}"
    data["supersedes"] = {
        "ref": ref,
        "sha256": record_hash(data),
        "reason": "Run again",
        "change_type": "retrain" if data["kind"] == "model" else "re-evaluation",
    }
    data["version"] = "1.2"
    data.update(fields)
    new = relpath.rsplit("/", 1)[0] + "/1.2.json"
    (repo / new).write_text(json.dumps(data, indent=2) + "\n")
    return new


def _findings(repo: Path, path: str) -> list[tuple[str, str]]:
    result = run_ledger("validate", "--format", "json", path, cwd=repo)
    assert result.code in (0, 1), result.err
    return [(f["code"], f["pointer"]) for f in json.loads(result.out)["findings"]]


@pytest.mark.parametrize("relpath", [MODEL_11, EVAL_11])
def test_a_period_is_compared_as_moments_and_an_end_before_the_start_is_l107(
    repo: Path, relpath: str
) -> None:
    # 10:00+01:00 is 09:00Z: as text it comes after 09:30Z, as a moment before.
    new = _next_version(
        repo, relpath, started="2026-03-01T10:00:00+01:00", ended="2026-03-01T09:30:00Z"
    )
    assert not [f for f in _findings(repo, new) if f[0] in ("L105", "L107")]
    _next_version(repo, relpath, started="2026-03-01T09:30:00Z", ended="2026-03-01T10:00:00+01:00")
    assert ("L107", "/ended") in _findings(repo, new)
    result = run_ledger("validate", new, cwd=repo)
    assert result.code == 1
    assert "L107 the run ended (2026-03-01T10:00:00+01:00) before it started" in result.out


@pytest.mark.parametrize("relpath", [MODEL_11, EVAL_11])
def test_a_start_alone_is_a_run_not_ended_when_recorded_an_end_alone_is_l107(
    repo: Path, relpath: str
) -> None:
    new = _next_version(repo, relpath, started="2026-03-01T09:30:00Z")
    assert not [f for f in _findings(repo, new) if f[0] in ("L105", "L107")]
    _next_version(repo, relpath, ended="2026-03-01T09:30:00Z")
    assert ("L107", "/ended") in _findings(repo, new)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T09:30:00",  # no offset: no moment
        "2026-03-01 09:30:00Z",
        "2026-03-01T09:30:00.250Z",  # records keep seconds
        "2026-02-30T09:30:00Z",  # matches the pattern, is no day
        "2026-03-01",
    ],
)
def test_a_time_without_offset_or_that_is_no_moment_is_l105(repo: Path, value: str) -> None:
    new = _next_version(repo, MODEL_11, started=value)
    assert ("L105", "/started") in _findings(repo, new)


def _commit_periods(repo: Path) -> None:
    """Model 1.2 trained 09:30-11:45 UTC on 1 March 2026; its evaluation started later, and
    its end was not known when it was recorded."""
    _next_version(repo, MODEL_11, started="2026-03-01T09:30:00Z", ended="2026-03-01T11:45:10Z")
    model = json.loads((repo / MODEL_12).read_text())
    _next_version(
        repo,
        EVAL_11,
        started="2026-03-02T08:00:00+01:00",
        model={"ref": "model:sepsis-risk@1.2", "sha256": record_hash(model)},
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Retrain and evaluate", cwd=repo)


def _bundle(repo: Path, version: str) -> tuple[str, dict[str, Any]]:
    result = run_ledger("provenance", "--fhir-version", version, cwd=repo)
    assert result.code == 0, result.err
    return result.out, json.loads(result.out)


def _provenance(bundle: dict[str, Any], ref: str) -> dict[str, Any]:
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    (found,) = [
        r
        for r in resources.values()
        if r["resourceType"] == "Provenance"
        and r["target"][0]["display"] == ref  # the record's own resource
    ]
    return found


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_the_run_period_is_the_provenance_occurred_period_in_valid_fhir(
    repo: Path, official_schema: Any, version: str
) -> None:
    _commit_periods(repo)
    text, bundle = _bundle(repo, version)
    assert bundle_problems(bundle, version) == []
    fhir_version(version).model("Bundle").model_validate(bundle)
    error = best_match(official_schema(version).iter_errors(bundle))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"

    committed = git("log", "-1", "--format=%cI", cwd=repo).strip()
    model = _provenance(bundle, "model:sepsis-risk@1.2")
    assert model["occurredPeriod"] == {
        "start": "2026-03-01T09:30:00Z",
        "end": "2026-03-01T11:45:10Z",
    }
    assert "occurredDateTime" not in model
    assert model["recorded"] == committed.replace("+00:00", "Z")  # still the commit's
    evaluation = _provenance(bundle, "evaluation:sepsis-risk-heldout@1.2")
    assert evaluation["occurredPeriod"] == {"start": "2026-03-02T08:00:00+01:00"}
    # The evaluation's Observation ran when its Provenance says it did.
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    observation = resources[evaluation["target"][0]["reference"]]
    assert observation["effectivePeriod"] == evaluation["occurredPeriod"]
    assert "effectiveDateTime" not in observation
    # A record without a period keeps its author time.
    assert "occurredDateTime" in _provenance(bundle, "model:sepsis-risk@1.1")
    assert _bundle(repo, version)[0] == text


def test_query_compares_periods_as_text_and_show_prints_them(repo: Path) -> None:
    _commit_periods(repo)

    def ids(query: str) -> list[str]:
        result = run_ledger("query", query, "--all-versions", "--format", "json", cwd=repo)
        assert result.code == 0, result.err
        return [row["id"] for row in json.loads(result.out)["rows"]]

    assert ids("started >= '2026-03'") == [
        "evaluation:sepsis-risk-heldout@1.2",
        "model:sepsis-risk@1.2",
    ]
    assert ids("ended < '2026-03-01T12' and kind = 'model'") == ["model:sepsis-risk@1.2"]
    assert ids("started like '2026-03-02%'") == ["evaluation:sepsis-risk-heldout@1.2"]
    shown = run_ledger("show", "model:sepsis-risk@1.2", cwd=repo)
    assert '"started": "2026-03-01T09:30:00Z"' in shown.out
    assert '"ended": "2026-03-01T11:45:10Z"' in shown.out


def test_a_new_version_never_takes_over_its_predecessors_period(repo: Path) -> None:
    _commit_periods(repo)
    earlier = json.loads((repo / MODEL_12).read_text())
    draft = {key: earlier[key] for key in ("framework", "dependencies", "hyperparameters")}
    draft["training"] = {k: earlier["training"][k] for k in ("code", "seeds", "environment")}
    path = repo.parent / "draft.json"
    path.write_text(json.dumps(draft))
    result = run_ledger(
        "new", "model", "sepsis-risk", "--version", "1.3", "--from", str(path),
        "--snapshot", "models/sepsis-risk.json.dvc", "--trained-on", "dataset:sepsis-cohort@1.1",
        "--supersedes", "model:sepsis-risk@1.2", "--reason", "Documentation",
        "--change-type", "documentation", "--dry-run",
        cwd=repo,
    )  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out[result.out.index("{") :])
    assert record["intended_use"] == earlier["intended_use"]  # documentation is taken over
    assert "started" not in record and "ended" not in record
