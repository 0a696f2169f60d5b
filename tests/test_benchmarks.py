"""The benchmark scripts: generated ledgers are valid and reproducible; run.py reports a table.

Timings are never asserted here; they belong in benchmarks/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT, git, run_ledger

GENERATE = PROJECT / "benchmarks" / "generate.py"
RUN = PROJECT / "benchmarks" / "run.py"


def generate(out: Path, records: int, commits: int, seed: int = 0) -> None:
    subprocess.run(
        [
            sys.executable,
            str(GENERATE),
            str(out),
            "--records",
            str(records),
            "--commits",
            str(commits),
            "--seed",
            str(seed),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "ledger"
    generate(out, 30, 40)
    return out


def test_generated_ledger_validates(small: Path) -> None:
    done = run_ledger("validate", cwd=small)
    assert done.code == 0, done.out + done.err
    assert "30 record(s) valid" in done.out


def test_generated_repository_shape(small: Path) -> None:
    assert git("rev-list", "--count", "HEAD", cwd=small).strip() == "40"
    assert git("status", "--porcelain", cwd=small) == ""
    for name in ("ledger.toml", ".dvc/config", ".dvc/.gitignore", ".dvcignore"):
        assert (small / name).is_file(), name
    records = sorted(small.glob("records/*/*/*.json"))
    assert len(records) == 30
    counts = {k: len(list(small.glob(f"records/{k}/*/*.json"))) for k in ("dataset", "model")}
    assert counts == {"dataset": 12, "model": 9}  # 40 % and 30 % of 30
    # The first 30 commits add one record each; the last 10 touch only src/notes.txt.
    touched = git("log", "--format=", "--name-only", "-10", cwd=small).split()
    assert set(touched) == {"src/notes.txt"}
    authors = set(git("log", "--format=%an", cwd=small).splitlines())
    assert len(authors) > 1
    dates = git("log", "--reverse", "--format=%at", cwd=small).split()
    assert dates == sorted(dates, key=int) and len(set(dates)) == 40


def test_snapshots_match_dvc_files_and_models_do_not_test_on_training_data(small: Path) -> None:
    superseding = 0
    for path in small.glob("records/*/*/*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        superseding += "supersedes" in data
        if data["kind"] == "model":
            trained = {d["ref"] for d in data["training"]["datasets"]}
            assert 1 <= len(trained) <= 2
        if data["kind"] == "evaluation":
            model_ref = data["model"]["ref"]
            kind, rest = model_ref.split(":")
            name, version = rest.split("@")
            model = json.loads((small / "records" / kind / name / f"{version}.json").read_text())
            trained = {d["ref"] for d in model["training"]["datasets"]}
            assert not trained & {d["ref"] for d in data["datasets"]}
    assert superseding > 0


def test_same_seed_same_commits(tmp_path: Path, small: Path) -> None:
    again = tmp_path / "again"
    generate(again, 30, 40)
    head = git("rev-parse", "HEAD", cwd=small)
    assert git("rev-parse", "HEAD", cwd=again) == head
    other = tmp_path / "other"
    generate(other, 30, 40, seed=1)
    assert git("rev-parse", "HEAD", cwd=other) != head


def test_fewer_commits_than_records_spreads_them(tmp_path: Path) -> None:
    out = tmp_path / "dense"
    generate(out, 30, 7)
    assert git("rev-list", "--count", "HEAD", cwd=out).strip() == "7"
    assert len(list(out.glob("records/*/*/*.json"))) == 30
    done = run_ledger("validate", cwd=out)
    assert done.code == 0, done.out + done.err


def test_generate_refuses_a_non_empty_folder(small: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATE), str(small), "--records", "1", "--commits", "1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "not empty" in done.stderr


def test_run_reports_a_row_per_size(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--sizes",
            "12",
            "--repeat",
            "1",
            "--keep",
            str(tmp_path),
            "--command",
            "validate --format json",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)
    assert report["ledger_command"] == ["ledger", "validate", "--format", "json"]
    (row,) = report["rows"]
    assert row["records"] == row["commits"] == 12
    assert row["ledger_exit"] == 0
    assert row["raw_s"] == pytest.approx(row["walk_s"] + row["cat_file_s"], abs=0.002)
    assert row["peak_mb"] > 0
    assert (tmp_path / "ledger-n12-m12-s0" / ".git").is_dir()
