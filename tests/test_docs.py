"""The README's promises stay true: its test command is the one CI runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT, run_ledger


def _sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", (PROJECT / "README.md").read_text(), re.S)


def test_readme_starts_with_the_demo_and_the_test_command() -> None:
    demo, tests = _sh_blocks()[:2]
    assert demo.endswith("ledger demo /tmp/ledger-demo")
    assert tests.endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _sh_blocks()[1].rsplit("&& ", 1)[1]
    ci = (PROJECT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_ci_examples_verify_and_post_the_review() -> None:
    import yaml

    github = yaml.safe_load((PROJECT / "examples/github-actions-ledger.yml").read_text())
    steps = " ".join(str(s.get("run", "")) for s in github["jobs"]["review"]["steps"])
    gitlab = yaml.safe_load((PROJECT / "examples/gitlab-ci-ledger.yml").read_text())
    job = gitlab["ledger-review"]
    gitlab_text = " ".join(job["script"] + job["after_script"])
    for text in (steps, gitlab_text):
        assert "ledger verify --rev" in text
        assert "--format markdown -o ledger-review.md" in text
    assert "gh pr comment" in steps and "merge_requests" in gitlab_text
    assert github["jobs"]["review"]["steps"][0]["with"]["fetch-depth"] == 0
    assert job["variables"]["GIT_DEPTH"] == "0"


def test_the_readme_tracking_example_runs_in_the_demo_and_validates(repo: Path) -> None:
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Recording from code", 1)[1]
    example = re.findall(r"```python\n(.*?)\n```", section, re.S)[0]
    assert len(example.splitlines()) <= 20
    done = subprocess.run([sys.executable, "-c", example], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    record = json.loads((repo / "records/evaluation/sepsis-risk-recheck/1.0.json").read_text())
    names = [m["name"] for m in record["metrics"]]
    assert names == [
        "sensitivity",
        "specificity",
        "auroc",
        "brier_score",
        "calibration_intercept",
        "calibration_slope",
    ]
    # The same data as the demo's own evaluation of model 1.1: the same discrimination.
    earlier = json.loads((repo / "records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
    assert [m["value"] for m in record["metrics"][:3]] == [m["value"] for m in earlier["metrics"]]
    assert run_ledger("validate", cwd=repo).code == 0
