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


EVALUATION = "records/evaluation/sepsis-risk-heldout/1.1.json"


def _hooked(repo: Path) -> Path:
    assert run_ledger("init", "--hook", cwd=repo).code == 0
    return repo


def _commit(repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    """A real `git commit`, which runs the installed hook."""
    return subprocess.run(
        ["git", "commit", "-q", "-m", message], cwd=repo, capture_output=True, text=True
    )


def test_the_gate_refuses_an_edit_of_a_committed_metric(repo: Path) -> None:
    _hooked(repo)
    path = repo / EVALUATION
    data = json.loads(path.read_text())
    data["metrics"][0]["value"] = round(data["metrics"][0]["ci"]["upper"] - 0.001, 3)
    path.write_text(json.dumps(data, indent=2))
    git("add", EVALUATION, cwd=repo)
    refused = _commit(repo, "Nudge a metric")
    assert refused.returncode != 0
    assert f"{EVALUATION}: error L601 committed at HEAD and changed in the index" in (
        refused.stdout + refused.stderr
    )


def test_the_gate_refuses_a_deleted_version(repo: Path) -> None:
    _hooked(repo)
    git("rm", "-q", EVALUATION, cwd=repo)
    refused = _commit(repo, "Drop an evaluation")
    assert refused.returncode != 0
    assert f"{EVALUATION}: error L602 committed at HEAD and deleted in the index" in (
        refused.stdout + refused.stderr
    )


def test_the_gate_lets_a_reformatted_version_through(repo: Path) -> None:
    """Keys reordered and indentation changed: the canonical content, so every hash that pins
    the record, is the same."""
    _hooked(repo)
    path = repo / EVALUATION
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(list(data.items()))), indent=4))
    git("add", EVALUATION, cwd=repo)
    done = _commit(repo, "Reformat")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_gate_refuses_an_evaluation_on_the_training_data(repo: Path) -> None:
    _hooked(repo)
    data = json.loads((repo / EVALUATION).read_text())
    del data["supersedes"]
    data.update(name="sepsis-risk-leaky", version="1.0")
    cohort = run_ledger("show", "dataset:sepsis-cohort@1.1", "--format", "json", cwd=repo)
    pinned = json.loads(cohort.out)["sha256"]
    data["datasets"] = [{"ref": "dataset:sepsis-cohort@1.1", "role": "test", "sha256": pinned}]
    leaky = "records/evaluation/sepsis-risk-leaky/1.0.json"
    (repo / leaky).parent.mkdir()
    (repo / leaky).write_text(json.dumps(data, indent=2))
    git("add", leaky, cwd=repo)
    refused = _commit(repo, "Evaluate on the training cohort")
    assert refused.returncode != 0
    assert f"{leaky}#/datasets/0: error L701 test data dataset:sepsis-cohort@1.1 is the same" in (
        refused.stdout + refused.stderr
    )


def test_the_gate_reads_a_merge_as_verify_does(repo: Path) -> None:
    """While a merge is under way, a record may be as either parent committed it; changed
    from both, it is refused."""
    _hooked(repo)
    git("checkout", "-q", "-b", "side", cwd=repo)
    data = json.loads((repo / EVALUATION).read_text())
    data.update(name="sepsis-risk-side", version="1.0")
    del data["supersedes"]
    side = "records/evaluation/sepsis-risk-side/1.0.json"
    (repo / side).parent.mkdir()
    (repo / side).write_text(json.dumps(data, indent=2))
    git("add", side, cwd=repo)
    git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "Side evaluation", cwd=repo)
    git("checkout", "-q", "-", cwd=repo)
    (repo / "notes.txt").write_text("main moves on\n")
    git("add", "notes.txt", cwd=repo)
    git("commit", "-q", "-m", "Main moves on", cwd=repo)

    git("merge", "-q", "--no-commit", "--no-ff", "side", cwd=repo)
    assert run_ledger("validate", "--staged", cwd=repo).code == 0  # as the side committed it
    data["title"] = "Changed while merging"
    (repo / side).write_text(json.dumps(data, indent=2))
    git("add", side, cwd=repo)
    refused = _commit(repo, "Merge side")
    assert refused.returncode != 0
    assert f"{side}: error L601 committed at HEAD or MERGE_HEAD and changed in the index" in (
        refused.stdout + refused.stderr
    )
