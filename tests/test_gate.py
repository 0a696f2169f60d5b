"""The pre-commit gate: what is staged is checked, and a broken record cannot be committed."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import yaml

from ledger.records.canonical import record_hash
from tests.conftest import LEDGER, PROJECT, git, run_ledger

COHORT = "records/dataset/sepsis-cohort/1.1.json"
NEW = "records/dataset/sepsis-cohort/1.2.json"


def _stage_broken_then_fix_worktree(repo: Path) -> None:
    data = json.loads((repo / COHORT).read_text())
    supersedes = {**data["supersedes"], "ref": "dataset:sepsis-cohort@1.1"}
    data.update(version="1.2", supersedes={**supersedes, "sha256": record_hash(data)})
    broken = {k: v for k, v in data.items() if k != "cohort"}
    (repo / NEW).write_text(json.dumps(broken, indent=2))
    git("add", NEW, cwd=repo)
    # The working tree is fine now; the index still holds the broken record.
    (repo / NEW).write_text(json.dumps(data, indent=2))


def test_validate_staged_reads_the_index_not_the_working_tree(repo: Path) -> None:
    _stage_broken_then_fix_worktree(repo)
    assert run_ledger("validate", cwd=repo).code == 0
    staged = run_ledger("validate", "--staged", cwd=repo)
    assert staged.code == 1
    assert f"{NEW}#/cohort: error L102 " in staged.out


def test_validate_staged_passes_a_valid_index(repo: Path) -> None:
    result = run_ledger("validate", "--staged", cwd=repo)
    assert result.code == 0, result.out


def test_the_installed_hook_refuses_a_broken_record(repo: Path) -> None:
    result = run_ledger("init", "--hook", cwd=repo)
    assert result.code == 0, result.err
    assert (repo / ".git/hooks/pre-commit").stat().st_mode & 0o111
    _stage_broken_then_fix_worktree(repo)
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "broken"], cwd=repo, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "L102" in refused.stdout + refused.stderr
    git("add", NEW, cwd=repo)
    git("commit", "-q", "-m", "fixed", cwd=repo)
    assert git("status", "--porcelain", cwd=repo) == ""


def test_init_leaves_a_foreign_hook_alone(repo: Path) -> None:
    hook = repo / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    result = run_ledger("init", "--hook", cwd=repo)
    assert result.code == 2
    assert "was not written by ledger" in result.err
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_pre_commit_framework_hook_runs_the_gate(repo: Path) -> None:
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "ledger-validate" and hook["pass_filenames"] is False
    _stage_broken_then_fix_worktree(repo)
    argv = shlex.split(hook["entry"])
    done = subprocess.run([LEDGER, *argv[1:]], cwd=repo, capture_output=True, text=True)
    assert argv[0] == "ledger" and done.returncode == 1
