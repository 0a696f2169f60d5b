"""A model's or evaluation's run period (``started``, ``ended``): checked (L105, L107), in a
copy of the demo repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.records.canonical import record_hash
from tests.conftest import run_ledger

MODEL_11 = "records/model/sepsis-risk/1.1.json"
EVAL_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"


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
