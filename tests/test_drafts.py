"""ledger draft: YAML drafts commented from the schema, read back strictly by ledger new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import COHORT_11, SUPERSEDE_COHORT_11, run_ledger

EVAL_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"
_OWN = ("kind", "schema_version", "name", "version", "supersedes")


def _new_cohort(repo: Path, draft: Path, *options: str) -> tuple[int, str, str]:
    done = run_ledger(
        *("new", "dataset", "sepsis-cohort", "--version", "1.2", "--from", str(draft)),
        *("--snapshot", "data/cohort.csv.dvc", *SUPERSEDE_COHORT_11, *options),
        cwd=repo,
    )
    return done.code, done.out, done.err


def _without_own(record: dict[str, object], *more: str) -> dict[str, object]:
    return {k: v for k, v in record.items() if k not in (*_OWN, *more)}


def test_a_draft_like_a_version_gives_back_every_value(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "cohort.yaml"
    made = run_ledger("draft", "dataset", "--like", "sepsis-cohort@1.1", "-o", str(draft), cwd=repo)
    assert made.code == 0, made.err
    text = draft.read_text()
    assert "# The cohort in aggregate: never a row about a person. required:" in text
    assert "\nsnapshot:" not in text and "\nsupersedes:" not in text
    code, _, err = _new_cohort(repo, draft)
    assert code == 0, err
    earlier = json.loads((repo / COHORT_11).read_text())
    written = json.loads((repo / "records/dataset/sepsis-cohort/1.2.json").read_text())
    assert _without_own(written, "snapshot") == _without_own(earlier, "snapshot")


def test_an_evaluation_draft_keeps_its_pinned_links(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "evaluation.yml"
    made = run_ledger(
        "draft",
        "evaluation",
        "--like",
        "evaluation:sepsis-risk-heldout@1.1",
        "-o",
        str(draft),
        cwd=repo,
    )
    assert made.code == 0, made.err
    done = run_ledger(
        *("new", "evaluation", "sepsis-risk-heldout", "--version", "1.2", "--from", str(draft)),
        *("--supersedes", "sepsis-risk-heldout@1.1", "--reason", "Same data, reviewed"),
        *("--change-type", "re-evaluation", "--dry-run"),
        cwd=repo,
    )
    assert done.code == 0, done.err
    earlier = json.loads((repo / EVAL_11).read_text())
    assert _without_own(json.loads(done.out)) == _without_own(earlier)


def test_an_empty_draft_lists_every_missing_field_at_once(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "empty.yaml"
    made = run_ledger("draft", "dataset", "-o", str(draft), cwd=repo)
    assert made.code == 0, made.err
    code, _, err = _new_cohort(repo, draft)
    assert code == 1
    lines = err.splitlines()
    assert all(line.startswith(f"{draft}#/") for line in lines), lines
    # Without the supersedes link, nothing is taken over: every required field is listed.
    done = run_ledger(
        *("new", "dataset", "x", "--version", "1.0", "--from", str(draft), "--dry-run"),
        cwd=repo,
    )
    missing = {line.split("#")[1].split(":")[0] for line in done.err.splitlines()}
    assert {"/title", "/source", "/cohort", "/governance", "/snapshot"} <= missing
    assert "required field 'cohort' is missing; it is an object with unit, size" in done.err
    assert done.code == 1


@pytest.mark.parametrize(
    ("yaml", "code", "says"),
    [
        ('title: "a"\ntitle: "b"\n', "L004", "line 2: the key 'title' is given twice"),
        ("title: .nan\n", "L005", ".nan or .inf"),
        ('title: "a\n', "L003", "(YAML syntax)"),
        ('1: "a"\n', "L003", "line 1: the key 1 is not text"),
        ("- just\n- a list\n", "L006", "the top-level value is an array, not an object"),
    ],
)
def test_yaml_that_would_change_a_record_silently_is_refused(
    repo: Path, tmp_path: Path, yaml: str, code: str, says: str
) -> None:
    draft = tmp_path / "bad.yaml"
    draft.write_text(yaml)
    exit_code, _, err = _new_cohort(repo, draft)
    assert exit_code == 1, err
    assert err.count("\n") == 1 and says in err
    assert err.startswith(f"{draft}: error {code} ")
    assert not (repo / "records/dataset/sepsis-cohort/1.2.json").exists()


def test_dates_stay_text_and_empty_values_are_not_given(repo: Path, tmp_path: Path) -> None:
    draft = tmp_path / "cohort.yaml"
    run_ledger("draft", "dataset", "--like", "sepsis-cohort@1.1", "-o", str(draft), cwd=repo)
    text = draft.read_text()
    period = json.loads((repo / COHORT_11).read_text())["source"]["collection_period"]
    text = text.replace(f'start: "{period["start"]}"', "start: 2019-01-01")  # unquoted
    # Emptied: a cohort is measured, so the earlier version's does not fill the gap.
    text = text.replace('  missing_data: "', '  missing_data:\n# "')
    draft.write_text(text)
    code, _, err = _new_cohort(repo, draft, "--dry-run")
    assert code == 1
    assert err.startswith(f"{draft}#/cohort/missing_data: error L102"), err
    text = draft.read_text().replace("  missing_data:\n", '  missing_data: "None"\n')
    draft.write_text(text)
    code, out, err = _new_cohort(repo, draft, "--dry-run")
    assert code == 0, err
    assert json.loads(out)["source"]["collection_period"]["start"] == "2019-01-01"


def test_a_draft_like_a_record_of_another_kind_is_refused(repo: Path) -> None:
    done = run_ledger("draft", "model", "--like", "sepsis-cohort@1.1", cwd=repo)
    assert done.code == 2 and "is a dataset, not a model" in done.err
    done = run_ledger("draft", "model", "--like", "nope@1.0", cwd=repo)
    assert done.code == 2 and done.err.count("\n") == 1
