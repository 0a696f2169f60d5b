"""`ledger demo`: a real git + DVC repository through the whole workflow, same records every run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT, git, run_ledger


def test_the_demo_repository_validates(demo_repo: Path) -> None:
    result = run_ledger("validate", cwd=demo_repo)
    assert result.code == 0, result.out
    assert result.out.splitlines()[-1] == "ok: 7 record(s) valid"


def test_records_equal_the_golden_files_byte_for_byte(demo_repo: Path) -> None:
    built = {
        p.relative_to(demo_repo).as_posix(): p.read_bytes()
        for p in (demo_repo / "records").rglob("*.json")
    }
    golden = {
        p.relative_to(PROJECT).as_posix(): p.read_bytes()
        for p in (PROJECT / "records").rglob("*.json")
    }
    assert sorted(built) == sorted(golden)
    for path, content in golden.items():
        assert built[path] == content, f"{path} drifted; refresh records/ from `ledger demo`"


def test_each_step_is_a_commit_by_a_named_author(demo_repo: Path) -> None:
    log = git("log", "--reverse", "--format=%an|%s", cwd=demo_repo).splitlines()
    assert log == [
        "Amara Okafor|Set up the sepsis-risk project with git, DVC and ledger",
        "Amara Okafor|Add de-identified sepsis cohort v1.0 and held-out test set",
        "Jonas Lindqvist|Train sepsis-risk model v1.0 on cohort v1.0",
        "Priya Raman|Evaluate sepsis-risk v1.0 on the held-out test set",
        "Amara Okafor|Extend sepsis cohort to v1.1",
        "Jonas Lindqvist|Retrain sepsis-risk as v1.1 on cohort v1.1",
        "Priya Raman|Evaluate sepsis-risk v1.1 on the held-out test set",
    ]
    assert git("status", "--porcelain", cwd=demo_repo) == ""


def test_data_is_tracked_by_dvc_and_pushed_to_the_local_remote(demo_repo: Path) -> None:
    tracked = git("ls-files", cwd=demo_repo).split()
    assert "data/cohort.csv.dvc" in tracked and "models/sepsis-risk.json.dvc" in tracked
    assert "data/cohort.csv" not in tracked
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--cloud"],
        cwd=demo_repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "in sync" in status.stdout, status.stdout
    assert any((demo_repo / ".dvc-remote").rglob("*")), "nothing was pushed"


def test_every_step_recorded_a_supersedes_chain(demo_repo: Path) -> None:
    shown = run_ledger(
        "show", "evaluation:sepsis-risk-heldout@1.1", "--format", "json", cwd=demo_repo
    )
    assert shown.code == 0
    assert '"ref": "evaluation:sepsis-risk-heldout@1.0"' in shown.out
    assert '"change_type": "re-evaluation"' in shown.out


def test_the_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_ledger("demo", str(tmp_path), cwd=tmp_path)
    assert result.code == 2
    assert "not empty" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_the_demo_ends_with_a_review_and_an_audit_export(demo_repo: Path) -> None:
    review = (demo_repo / "out/review.md").read_text()
    assert review.startswith("## Ledger review")
    assert "### Metrics: `evaluation:sepsis-risk-heldout@1.1`" in review
    checked = run_ledger("verify-export", "out/audit-export.zip", cwd=demo_repo)
    assert checked.code == 0, checked.out
