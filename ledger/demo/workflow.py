"""``ledger demo DIR``: a healthcare team's workflow, step by step, in a real git + DVC repository.

Every step runs the pipeline script for real, tracks data with DVC, writes records through the
same API training scripts use, and commits as a named team member. Commit dates are fixed, so
the same ledger version always builds the same history, and the records are byte-identical.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.api import Ledger
from ledger.demo.content import dataset_fields, evaluation_fields, model_fields
from ledger.errors import ToolMissingError, UsageError
from ledger.initialize import init_repository
from ledger.records.serialize import cannot_write

REMOTE_DIR = ".dvc-remote"
OUT_DIR = "out"  # the review and the audit export: products of the ledger, not committed
PIPELINE = """\
\"\"\"The sepsis-risk example pipeline: `python scripts/pipeline.py --help`.\"\"\"

import sys

from ledger.demo.steps import main

sys.exit(main())
"""


@dataclass(frozen=True)
class Person:
    name: str
    email: str


DATA_ENGINEER = Person("Amara Okafor", "amara.okafor@example.org")
ML_ENGINEER = Person("Jonas Lindqvist", "jonas.lindqvist@example.org")
CLINICIAN = Person("Priya Raman", "priya.raman@example.org")


class _Repo:
    """Runs git, DVC and the pipeline in the demo repository with a pinned, isolated setup."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.step = 0
        self.env = {
            **os.environ,
            "DVC_NO_ANALYTICS": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
        }

    def run(self, *args: str) -> None:
        done = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise UsageError(
                f"`{' '.join(args)}` failed in {self.root}: {done.stderr.strip() or done.stdout}"
            )

    def dvc(self, *args: str) -> None:
        self.run(sys.executable, "-m", "dvc", *args)

    def pipeline(self, *args: str) -> None:
        self.run(sys.executable, "scripts/pipeline.py", *args)

    def commit(self, who: Person, message: str) -> None:
        self.step += 1
        # Fixed, increasing dates: the demo's history is the same on every run.
        date = f"2026-01-{5 + self.step:02d}T09:00:00+00:00"
        self.env.update(
            GIT_AUTHOR_NAME=who.name,
            GIT_AUTHOR_EMAIL=who.email,
            GIT_COMMITTER_NAME=who.name,
            GIT_COMMITTER_EMAIL=who.email,
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_DATE=date,
        )
        self.run("git", "add", "-A")
        self.run("git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_tools() -> None:
    if shutil.which("git") is None:
        raise ToolMissingError("git", "install git and try again")
    if importlib.util.find_spec("dvc") is None:
        raise ToolMissingError("dvc", "install ledger with its dependencies (pip install .)")


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> None:
    """Build the example repository in ``directory``, which must be empty or absent."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} is not empty; give a new or empty folder")
    _check_tools()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(directory, exc) from None
    repo = _Repo(directory.resolve())
    repo.run("git", "init", "-q", "-b", "main")
    init_repository(repo.root)
    repo.dvc("init", "-q")
    repo.dvc("remote", "add", "-d", "local", REMOTE_DIR)  # relative to the repository
    (repo.root / "scripts").mkdir()
    (repo.root / "scripts" / "pipeline.py").write_text(PIPELINE, encoding="utf-8")
    with (repo.root / ".gitignore").open("a", encoding="utf-8") as ignored:
        ignored.write(f"/{REMOTE_DIR}/\n/{OUT_DIR}/\n__pycache__/\n")
    repo.commit(DATA_ENGINEER, "Set up the sepsis-risk project with git, DVC and ledger")
    book = Ledger(repo.root)
    echo(f"building the demo repository in {directory}")

    def add_dataset(
        csv: str, n: int, seed: int, version: str, test_set: bool, **supersede: str
    ) -> None:
        repo.pipeline("prepare", csv, "--n", str(n), "--seed", str(seed))
        repo.dvc("add", "-q", csv)
        summary = _json(repo.root / Path(csv).with_suffix(".summary.json"))
        fields = dataset_fields(
            summary,
            test_set=test_set,
            min_age=18,
            period=("2024-01", "2024-12") if version == "1.0" else ("2024-01", "2025-06"),
        )
        if supersede:
            fields["supersedes"] = supersede
        name = "sepsis-test" if test_set else "sepsis-cohort"
        book.new_record("dataset", name, version, fields, snapshot=f"{csv}.dvc")

    # 1. The data engineer adds the development cohort and a sequestered test set.
    add_dataset("data/cohort.csv", 1200, 1, "1.0", test_set=False)
    add_dataset("data/test.csv", 600, 99, "1.0", test_set=True)
    repo.dvc("push", "-q")
    repo.commit(
        DATA_ENGINEER,
        "Add de-identified sepsis cohort v1.0 and held-out test set\n\n"
        "1,200 development admissions and 600 sequestered test admissions, tracked "
        "with DVC.",
    )

    def add_model(version: str, cohort: str, **supersede: str) -> None:
        repo.pipeline("train", "data/cohort.csv", "models/sepsis-risk.json")
        repo.dvc("add", "-q", "models/sepsis-risk.json")
        fields = model_fields(_json(repo.root / "models" / "sepsis-risk.json"))
        fields["training"]["datasets"] = [
            {"ref": f"dataset:sepsis-cohort@{cohort}", "role": "training"}
        ]
        if supersede:
            fields["supersedes"] = supersede
        book.new_record(
            "model", "sepsis-risk", version, fields, snapshot="models/sepsis-risk.json.dvc"
        )
        repo.dvc("push", "-q")

    def add_evaluation(version: str, previous: str | None = None, **supersede: str) -> None:
        out = f"reports/evaluation-{version}.json"
        repo.pipeline("evaluate", "models/sepsis-risk.json", "data/test.csv", out)
        fields = evaluation_fields(
            _json(repo.root / out),
            _json(repo.root / "data" / "test.summary.json"),
            _json(repo.root / f"reports/evaluation-{previous}.json") if previous else None,
        )
        fields["model"] = {"ref": f"model:sepsis-risk@{version}"}
        fields["datasets"] = [{"ref": "dataset:sepsis-test@1.0", "role": "test"}]
        fields["baseline"] = {"not_applicable": "the first evaluation of this model family"}
        if supersede:
            fields["supersedes"] = supersede
            fields["baseline"] = {"ref": supersede["ref"]}
        book.new_record("evaluation", "sepsis-risk-heldout", version, fields)

    # 2. The ML engineer trains model v1.0; 3. the clinician evaluates it.
    add_model("1.0", "1.0")
    repo.commit(ML_ENGINEER, "Train sepsis-risk model v1.0 on cohort v1.0")
    add_evaluation("1.0")
    repo.commit(CLINICIAN, "Evaluate sepsis-risk v1.0 on the held-out test set")

    # 4. More admissions arrive: cohort v1.1; 5. retrain; 6. re-evaluate on the same test set.
    reason = "Six more months of admissions (2,000 instead of 1,200)"
    add_dataset(
        "data/cohort.csv",
        2000,
        1,
        "1.1",
        test_set=False,
        ref="dataset:sepsis-cohort@1.0",
        reason=reason,
        change_type="data-update",
    )
    repo.dvc("push", "-q")
    repo.commit(DATA_ENGINEER, f"Extend sepsis cohort to v1.1\n\nLedger-Reason: {reason}")
    reason = "Retrained on cohort v1.1"
    add_model(
        "1.1",
        "1.1",
        ref="model:sepsis-risk@1.0",
        reason=reason,
        change_type="retrain",
        pccp_modification_id="PCCP-1",
    )
    repo.commit(
        ML_ENGINEER, f"Retrain sepsis-risk as v1.1 on cohort v1.1\n\nLedger-Reason: {reason}"
    )
    reason = "Evaluation of model v1.1 on the same sequestered test set"
    add_evaluation(
        "1.1",
        "1.0",
        ref="evaluation:sepsis-risk-heldout@1.0",
        reason=reason,
        change_type="re-evaluation",
    )
    repo.commit(
        CLINICIAN, f"Evaluate sepsis-risk v1.1 on the held-out test set\n\nLedger-Reason: {reason}"
    )

    book.close()
    with Ledger(repo.root) as book:
        for file in book.state().records.files:
            echo(f"  recorded {file.facts.claimed}  ({file.relpath})")
        review_path, export_path = _write_review_and_export(book)
    echo(f"review of the last change (retrain + re-evaluation): {review_path}")
    echo(f"offline audit export: {export_path}")
    echo("next, inside the repository:")
    for command in (
        "ledger verify",
        "ledger lineage",
        "ledger compare sepsis-risk-heldout@1.0 sepsis-risk-heldout@1.1",
        "ledger provenance --fhir-version R4B",
        f"ledger verify-export {OUT_DIR}/audit-export.zip",
        "git log --stat",
    ):
        echo(f"  cd {directory} && {command}")


def _write_review_and_export(book: Ledger) -> tuple[Path, Path]:
    """What a team hands its reviewers and auditors: the last change's review, and an export."""
    from ledger.records.serialize import write_atomic
    from ledger.views.formats import REVIEW

    out = book.root / OUT_DIR
    review_path = out / "review.md"
    markdown = "".join(REVIEW.render("markdown", book.diff("HEAD~2", "HEAD")))
    write_atomic(review_path, markdown.encode(), overwrite=True)
    export_path = out / "audit-export.zip"
    book.export(export_path)
    return review_path, export_path
