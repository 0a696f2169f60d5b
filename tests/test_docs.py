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
