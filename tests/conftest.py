"""Shared fixtures: isolated git identity and HOME, the demo repository built once per session."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator

from ledger.fhir.versions import fhir_version

LEDGER = str(Path(sys.executable).with_name("ledger"))
PROJECT = Path(__file__).resolve().parents[1]
MLFLOW_LOGGER = Path(__file__).with_name("mlflow_runs.py")
#: The official HL7 FHIR JSON Schemas, which .ci/run fetches.
FHIR_SCHEMAS = PROJECT / ".fhir-schemas"


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.org",
        GIT_COMMITTER_NAME="Test Committer",
        GIT_COMMITTER_EMAIL="committer@example.org",
        DVC_NO_ANALYTICS="1",
        # DVC keeps caches outside the repository by default; keep them in the test's folder.
        DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
        DVC_GLOBAL_CONFIG_DIR=str(home / "dvc-global"),
        DVC_SYSTEM_CONFIG_DIR=str(home / "dvc-system"),
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_ledger(*args: str, cwd: Path) -> Result:
    """Run the installed ``ledger`` command as a user would."""
    done = subprocess.run([LEDGER, *args], cwd=cwd, capture_output=True, text=True)
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo repository, built once; tests that change it use ``repo`` (a copy)."""
    root = tmp_path_factory.mktemp("demo") / "repo"
    result = run_ledger("demo", str(root), cwd=root.parent)
    assert result.code == 0, result.err
    return root


@pytest.fixture
def repo(demo_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the demo repository (git, DVC cache and remote included)."""
    copy = tmp_path / "repo"
    shutil.copytree(demo_repo, copy, symlinks=True)
    return copy


COHORT_11 = "records/dataset/sepsis-cohort/1.1.json"
#: ``ledger new`` options making the next cohort version supersede v1.1.
SUPERSEDE_COHORT_11 = (
    "--supersedes",
    "sepsis-cohort@1.1",
    "--reason",
    "Recount after review",
    "--change-type",
    "correction",
)


def cohort_draft(repo: Path, folder: Path, drop: tuple[str, ...] = ()) -> Path:
    """A draft for dataset v1.2: v1.1's documentation without identity, snapshot and links."""
    data = json.loads((repo / COHORT_11).read_text())
    for key in ("kind", "schema_version", "name", "version", "snapshot", "supersedes", *drop):
        data.pop(key, None)
    path = folder / "draft.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def exported(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's audit export, written once per test module."""
    out = tmp_path_factory.mktemp("export") / "audit.zip"
    result = run_ledger("export", "-o", str(out), cwd=demo_repo)
    assert result.code == 0, result.err
    return out


def log_runs(uri: str, commit: str, *extra: str) -> dict[str, str]:
    """Log tests/mlflow_runs.py's runs into the MLflow store at ``uri`` (real mlflow, in its
    own process as a training script would); their ids by role."""
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    done = subprocess.run(
        [sys.executable, str(MLFLOW_LOGGER), uri, commit, *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite") else uri,
    )
    assert done.returncode == 0, done.stderr
    ids: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return ids


@functools.cache
def _schema_validator(version: str) -> Draft6Validator | None:
    path = FHIR_SCHEMAS / f"{version.lower()}.schema.json"
    if not path.is_file():
        return None
    return Draft6Validator(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def official_schema() -> Any:
    def get(version: str) -> Draft6Validator:
        validator = _schema_validator(version)
        if validator is None:
            reason = (
                f"{FHIR_SCHEMAS}/{version.lower()}.schema.json is missing: fetch the HL7 FHIR JSON "
                f"Schemas ({fhir_version(version).package}) with the npm pack step in .ci/run"
            )
            if os.environ.get("LEDGER_REQUIRE_TOOLS"):
                pytest.fail(reason)
            pytest.skip(reason)
        return validator

    return get


def supersede_evaluation(
    repo: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], object], reason: str = "Re-run"
) -> str:
    """Evaluation v1.2 of model v1.1, from v1.1's documentation as ``edit`` leaves it,
    recorded and committed; its path."""
    draft = json.loads((repo / "records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
    for key in ("kind", "schema_version", "name", "version", "supersedes", "model", "datasets"):
        draft.pop(key, None)
    edit(draft)
    (tmp_path / "draft.json").write_text(json.dumps(draft))
    done = run_ledger(
        "new",
        "evaluation",
        "sepsis-risk-heldout",
        "--version",
        "1.2",
        "--from",
        str(tmp_path / "draft.json"),
        "--evaluates",
        "model:sepsis-risk@1.1",
        "--tested-on",
        "dataset:sepsis-test@1.0",
        "--supersedes",
        "sepsis-risk-heldout@1.1",
        "--reason",
        reason,
        "--change-type",
        "re-evaluation",
        cwd=repo,
    )
    assert done.code == 0, done.err
    git("add", "records", cwd=repo)
    git("commit", "-qm", "Evaluation v1.2", cwd=repo)
    return "records/evaluation/sepsis-risk-heldout/1.2.json"
