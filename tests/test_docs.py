"""The README's promises stay true: its test command is the one CI runs."""

from __future__ import annotations

import re

from tests.conftest import PROJECT


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
