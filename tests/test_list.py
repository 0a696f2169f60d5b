"""ledger list and NAME@latest: what a user types to find records before naming one."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import run_ledger

CURRENT = [
    "dataset:sepsis-cohort@1.1",
    "dataset:sepsis-test@1.0",
    "evaluation:sepsis-risk-heldout@1.1",
    "model:sepsis-risk@1.1",
]


def _listed(repo: Path, *args: str) -> list[dict[str, object]]:
    done = run_ledger("list", *args, "--format", "json", cwd=repo)
    assert done.code == 0, done.err
    rows: list[dict[str, object]] = json.loads(done.out)["records"]
    return rows


def test_list_shows_current_versions_with_who_when_and_computed_outcomes(demo_repo: Path) -> None:
    rows = _listed(demo_repo)
    assert [r["id"] for r in rows] == CURRENT
    evaluation = next(r for r in rows if r["kind"] == "evaluation")
    record = json.loads((demo_repo / "records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
    assert evaluation["metrics"] == {m["name"]: m["value"] for m in record["metrics"]}
    assert evaluation["outcome"] == "pass"  # judged, the non-inferiority one against 1.0
    assert evaluation["author"] == "Priya Raman <priya.raman@example.org>"
    table = run_ledger("list", cwd=demo_repo).out
    assert table.splitlines()[0].split()[:2] == ["id", "title"]
    assert all(ref in table for ref in CURRENT)


def test_list_filters_by_kind_revision_and_versions(demo_repo: Path) -> None:
    assert [r["id"] for r in _listed(demo_repo, "model")] == ["model:sepsis-risk@1.1"]
    every = _listed(demo_repo, "--all-versions")
    assert len(every) == 7 and sum(1 for r in every if not r["current"]) == 3
    before = _listed(demo_repo, "--rev", "HEAD~3")  # before cohort v1.1 arrived
    assert "dataset:sepsis-cohort@1.0" in [r["id"] for r in before]
    assert run_ledger("list", "widget", cwd=demo_repo).code == 2


def test_csv_is_the_same_rows(demo_repo: Path) -> None:
    done = run_ledger("list", "--all-versions", "--format", "csv", cwd=demo_repo)
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert [r["id"] for r in rows] == [r["id"] for r in _listed(demo_repo, "--all-versions")]
    assert {r["current"] for r in rows} == {"true", "false"}


@pytest.mark.parametrize(
    ("ref", "rev", "expected"),
    [
        ("sepsis-cohort@latest", None, "dataset:sepsis-cohort@1.1"),
        ("dataset:sepsis-cohort@latest", "HEAD~3", "dataset:sepsis-cohort@1.0"),
        ("evaluation:sepsis-risk-heldout@latest", "HEAD", "evaluation:sepsis-risk-heldout@1.1"),
    ],
)
def test_name_at_latest_works_wherever_a_ref_does(
    demo_repo: Path, ref: str, rev: str | None, expected: str
) -> None:
    args = ("--rev", rev) if rev else ()
    shown = run_ledger("show", ref, *args, "--format", "json", cwd=demo_repo)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["id"] == expected
    logged = run_ledger("log", ref, *(args or ("--rev", "HEAD")), cwd=demo_repo)
    assert logged.code == 0 and expected.split(":")[1].split("@")[0] in logged.out


def test_latest_of_an_unknown_name_says_how_to_find_one(demo_repo: Path) -> None:
    done = run_ledger("show", "nope@latest", cwd=demo_repo)
    assert done.code == 2 and "`ledger list`" in done.err and done.err.count("\n") == 1
