"""The benchmark scripts: generated ledgers are valid and reproducible; run.py reports a table.

Timings are never asserted here; they belong in benchmarks/README.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import LEDGER, PROJECT, git, run_ledger

BENCHMARKS = PROJECT / "benchmarks"
GENERATE = BENCHMARKS / "generate.py"
RUN = BENCHMARKS / "run.py"


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


def load(name: str) -> ModuleType:
    """A benchmark script as a module (run.py finds generate.py beside it)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_module() -> ModuleType:
    return load("generate")


@pytest.fixture(scope="module")
def run_module() -> ModuleType:
    return load("run")


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True)


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (``.git`` included) by relative path, with its SHA-256."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_ledger_parts_come_from_whichever_layout_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gen_module: Any
) -> None:
    parts = gen_module.import_ledger()
    assert len(parts.record_hash({"a": 1})) == 64
    assert "records_dir" in parts.default_config
    assert parts.generate_schemas()
    # A module that is missing falls through to the next name ...
    assert gen_module._import_first("ledger.no_such_module", "json") is json
    # ... but a module that exists and fails to import is an error, not a fallback.
    package = tmp_path / "bench_layout"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "broken.py").write_text("import bench_no_such_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="bench_no_such_dependency"):
        gen_module._import_first("bench_layout.broken", "json")


def test_next_commit_adds_one_valid_record(tmp_path: Path, small: Path, gen_module: Any) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small, copy, symlinks=True)
    extra = gen_module.next_commit(copy)
    assert gen_module.next_commit(copy) == extra  # the same repository, the same commit
    head = gen_module.add_commit(copy, extra)
    assert git("rev-parse", "HEAD", cwd=copy).strip() == head
    assert git("rev-list", "--count", "HEAD", cwd=copy).strip() == "41"
    assert git("status", "--porcelain", cwd=copy) == ""
    changes = sorted(git("diff", "--name-status", "HEAD~1", "HEAD", cwd=copy).splitlines())
    (added, modified) = (line.split("\t") for line in changes)
    assert added[0] == "A" and added[1].startswith("records/dataset/")
    assert modified[0] == "M" and modified[1].startswith("data/") and modified[1].endswith(".dvc")
    record = json.loads((copy / added[1]).read_text(encoding="utf-8"))
    superseded = record["supersedes"]["ref"]
    assert superseded.startswith(f"dataset:{record['name']}@")
    done = run_ledger("validate", cwd=copy)
    assert done.code == 0, done.out + done.err
    assert "31 record(s) valid" in done.out
    done = run_ledger("verify", "--format", "json", cwd=copy)
    assert done.code == 0, done.out + done.err


@pytest.fixture(scope="module")
def keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keep")


@pytest.fixture(scope="module")
def report(keep: Path) -> dict[str, Any]:
    """run.py end to end at N=30: two commands in all three modes, as JSON."""
    done = run_script(
        *("--sizes", "30", "--repeat", "1", "--commands", "verify,show"),
        *("--modes", "cold,warm,commit", "--keep", str(keep), "--timeout", "600", "--json"),
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_run_reports_every_command_mode_and_reference(report: dict[str, Any]) -> None:
    rows = {(row["command"], row["mode"]): row for row in report["rows"]}
    references = {"git floor", "git walk", "git blobs", "git fastest walk", "python start-up"}
    assert {command for command, mode in rows if mode == "ref"} == references | {"ledger --version"}
    assert {key for key in rows if key[1] != "ref"} == {
        ("verify", "cold"),
        ("verify", "warm"),
        ("verify", "commit"),
        ("show", "cold"),
        ("show", "warm"),  # show is not measured after a new commit
    }
    for row in report["rows"]:
        assert row["records"] == 30
        assert row["status"] == "ok", row
        assert row["seconds"] is not None and row["peak_mb"] > 0
        assert row["targets"] == {}  # targets apply at 10,000 and 100,000 records only
        if row["mode"] != "ref":
            assert row["exit"] in (0, 1)
            assert row["x_floor"] is not None and row["x_fastest"] is not None
    floor = rows["git floor", "ref"]
    parts = rows["git walk", "ref"]["seconds"] + rows["git blobs", "ref"]["seconds"]
    assert floor["seconds"] == pytest.approx(parts, abs=0.002)
    # ledger was timed as installed, with the bytecode of its modules compiled
    package = Path(report["bytecode"].removeprefix("compiled for "))
    assert report["bytecode"].startswith("compiled for ") and (package / "cli.py").is_file()
    assert list((package / "__pycache__").glob("cli.*.pyc"))
    assert floor["x_floor"] == 1.0
    assert rows["verify", "commit"]["argv"][1:] == ["verify", "--format", "json"]
    (size,) = report["sizes"]
    assert size["records"] == 30
    assert len(size["subjects"]["evaluations"]) == 2
    assert rows["show", "cold"]["argv"][1:] == ["show", size["subjects"]["record"]]


def test_run_leaves_the_cache_as_generated(report: dict[str, Any], keep: Path) -> None:
    repo = keep / "ledger-n30-m30-s0"
    assert [path.name for path in keep.iterdir()] == [repo.name]  # no scratch copy left
    assert not (repo / ".git" / "ledger").exists()
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
    assert git("rev-list", "--count", "HEAD", cwd=repo).strip() == "30"


def test_run_prints_one_table(report: dict[str, Any], keep: Path) -> None:
    done = run_script(
        *("--sizes", "30", "--repeat", "1", "--commands", "show", "--modes", "cold"),
        *("--keep", str(keep)),
    )
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith(" N"))
    for title in ("command", "mode", "seconds", "x floor", "x fastest", "peak MB", "floor"):
        assert title in header
    lines = [line.split() for line in done.stdout.splitlines()]
    assert ["30", "show", "cold"] in [line[:3] for line in lines]
    assert ["30", "git", "floor", "reference"] in [line[:4] for line in lines]
    assert "reusing" in done.stderr  # the cached repository from the JSON run


def test_commit_step_leaves_the_cached_repository_unchanged(
    tmp_path: Path, run_module: Any
) -> None:
    repo = tmp_path / "ledger-n30-m30-s0"
    generate(repo, 30, 30)
    done = run_ledger("verify", "--format", "json", cwd=repo)  # a kept state to leave alone
    assert done.code in (0, 1), done.err
    assert any((repo / ".git" / "ledger").rglob("*"))
    before = digests(repo)
    size = run_module.Size(30, repo, None)
    commands = [
        ("verify", ("verify", "--format", "json")),
        ("provenance-json", ("provenance", "--format", "json")),
    ]
    rows = run_module.bench_after_commit(size, Path(LEDGER), commands, 2, 600.0)
    assert [(row.command, row.mode, row.status) for row in rows] == [
        ("verify", "commit", "ok"),
        ("provenance-json", "commit", "ok"),
    ]
    assert all(len(row.runs) == 2 for row in rows)
    assert digests(repo) == before  # same HEAD, files, index and .git/ledger
    assert list(tmp_path.iterdir()) == [repo]  # the scratch copy is gone


def fake_ledger(folder: Path, body: str) -> Path:
    """A stand-in ``ledger`` that answers --version and runs ``body`` for anything else."""
    script = folder / "ledger"
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo "fake 0"; exit 0; fi\n{body}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("echo 'boom: something broke' >&2; exit 2", 2),
        # Exit code 1 is "the ledger has problems", unless Python crashed.
        ("printf 'Traceback (most recent call last):\\nboom: no module\\n' >&2; exit 1", 1),
    ],
)
def test_run_names_a_command_that_fails(tmp_path: Path, keep: Path, body: str, code: int) -> None:
    ledger = fake_ledger(tmp_path, body)
    done = run_script(
        *("--sizes", "30", "--repeat", "2", "--commands", "show", "--modes", "cold"),
        *("--keep", str(keep), "--ledger", str(ledger), "--json"),
    )
    assert done.returncode == 1
    (row,) = (row for row in json.loads(done.stdout)["rows"] if row["mode"] != "ref")
    assert (row["status"], row["exit"], row["seconds"]) == ("error", code, None)
    assert len(row["runs"]) == 1  # a failure is not repeated
    assert "boom" in row["error"]
    assert "show" in done.stderr and f"exited {code}" in done.stderr and "boom" in done.stderr


def test_run_stops_a_run_over_the_timeout(tmp_path: Path, keep: Path) -> None:
    ledger = fake_ledger(tmp_path, "sleep 60")
    done = run_script(
        *("--sizes", "30", "--repeat", "3", "--commands", "show", "--modes", "cold,warm"),
        *("--keep", str(keep), "--ledger", str(ledger), "--timeout", "1", "--json"),
    )
    assert done.returncode == 0, done.stderr
    (row,) = (row for row in json.loads(done.stdout)["rows"] if row["mode"] != "ref")
    assert (row["mode"], row["status"], row["seconds"]) == ("cold", "timeout", None)
    assert len(row["runs"]) == 1  # a timeout is not repeated


def test_targets_at_ten_thousand_and_a_hundred_thousand(run_module: Any) -> None:
    m = run_module
    base = m.Size(10_000, Path("a"), None, floor_s=10.0, fastest_s=4.0, startup_s=0.05)
    large = m.Size(100_000, Path("b"), None, floor_s=100.0, fastest_s=40.0, startup_s=0.05)

    def row(n: int, command: str, mode: str, seconds: float | None, peak: float) -> Any:
        status = "ok" if seconds is not None else "timeout"
        return m.Row(n, command, mode, [], status=status, seconds=seconds, peak_mb=peak)

    rows = [
        row(10_000, "verify", "cold", 19.0, 400.0),
        row(10_000, "export", "cold", 21.0, 600.0),
        row(10_000, "verify", "warm", 30.0, 100.0),
        row(10_000, "verify", "commit", 0.5, 100.0),
        row(10_000, "lineage-json", "commit", 0.6, 100.0),
        row(100_000, "verify", "cold", 150.0, 1500.0),
        row(100_000, "export", "cold", 300.0, 3000.0),
        row(100_000, "verify", "warm", None, 100.0),
        row(100_000, "show", "cold", 1.0, 100.0),  # no 10,000 figure to compare with
    ]
    m.judge(rows, [base, large])
    assert [r.targets for r in rows] == [
        {"peak": "ok", "floor": "ok"},
        {"peak": "MISS", "floor": "MISS"},
        {"peak": "ok"},
        {"peak": "ok", "commit": "ok"},
        {"peak": "ok", "commit": "MISS"},
        {"peak": "ok", "scale": "ok"},
        {"peak": "MISS", "scale": "MISS"},
        {"peak": "MISS", "scale": "MISS"},  # a timeout misses everything
        {"peak": "ok"},
    ]
    assert rows[0].x_floor == 1.9 and rows[0].x_fastest == 4.75


def run_recording(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(BENCHMARKS / "recording.py"), "--records", "1", "--rounds", "1"]
    return subprocess.run([*argv, *args], capture_output=True, text=True)


def test_recording_prints_both_tables() -> None:
    done = run_recording()
    assert done.returncode == 0, done.stderr
    assert "(a) Lines of user code" in done.stdout and "MLflow calls" in done.stdout
    assert "(b) Time to write one record" in done.stdout and "x git hash-object" in done.stdout


def test_recording_counts_the_example_and_times_each_kind() -> None:
    """recording.py end to end, one record per kind: what it reports, never the times."""
    done = run_recording("--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    counted = {c["script"]: c for c in report["lines"]["ledger"]}
    scripts = ["record_dataset.py", "train.py", "evaluate.py"]
    assert list(counted) == [*scripts, "make_data.py", "logreg.py"]
    assert [c["script"] for c in report["lines"]["mlflow"]] == scripts
    for c in report["lines"]["ledger"] + report["lines"]["mlflow"]:
        assert c["code_lines"] == c["science_lines"] + c["recording_lines"] > 0
    # The science modules hold no recording; in a script the science is told apart from it.
    assert counted["logreg.py"]["recording_lines"] == 0
    assert counted["make_data.py"]["recording_lines"] == 0
    roles = {text.strip(): role for _, role, text in counted["train.py"]["lines"]}
    assert roles["run.log_params(hyperparameters)"] == "recording"
    assert any(role == "science" and "fit(" in text for text, role in roles.items())
    assert [counted[name]["api_calls"] for name in scripts] == [4, 3, 4]
    assert [t["what"].strip() for t in report["times"]] == [
        "track: dataset record",
        "track: model record",
        "of which imported_distributions()",
        "track: evaluation record",
        "json.dumps + fsync + os.replace",
        "git hash-object -w --stdin",
    ]
    assert all(t["per_record_ms"] for t in report["times"])


QUERY = BENCHMARKS / "query.py"
needs_mlflow = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="the bench extra (mlflow) is not installed"
)


@pytest.fixture(scope="module")
def query_keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("query-keep")


def run_query(keep: Path, *args: str) -> dict[str, Any]:
    """query.py at N=30, one run per figure, as JSON; it must exit 0."""
    argv = [sys.executable, str(QUERY), "--records", "30", "--repeat", "1", "--keep", str(keep)]
    done = subprocess.run([*argv, *args, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@needs_mlflow
def test_query_logs_every_record_to_mlflow_and_finds_what_the_records_hold(
    query_keep: Path,
) -> None:
    report = run_query(query_keep, "--sides", "mlflow")
    logged = report["logged"]
    assert logged["runs"] == 30 and sum(logged["kinds"].values()) == 30
    assert logged["uri"].startswith("file://") and not logged["reused"]
    assert report["mismatches"] == []
    expected = {query["name"]: query["expected"] for query in report["queries"]}
    assert len(expected) == 4 and all(expected.values())
    rows = {(row["query"], row["measurement"]): row for row in report["rows"]}
    assert {row["side"] for row in report["rows"]} == {"mlflow"}
    for name, count in expected.items():
        for measurement in ("cold process", "first call", "second call"):
            row = rows[name, measurement]
            assert row["status"] == "ok" and row["count"] == count
            assert row["seconds"] is not None and row["ratio"] is None
    # The cold process holds its first call; a second run reuses the kept store.
    for name in expected:
        assert rows[name, "cold process"]["seconds"] > rows[name, "first call"]["seconds"]
    assert run_query(query_keep, "--sides", "mlflow")["logged"]["reused"]


@needs_mlflow
def test_query_times_ledger_query_against_mlflow(query_keep: Path) -> None:
    """Both sides end to end: passes once ``Ledger.query`` and ``ledger query`` exist."""
    report = run_query(query_keep)
    assert report["mismatches"] == []
    rows = {(row["query"], row["side"], row["measurement"]): row for row in report["rows"]}
    for query in report["queries"]:
        name = query["name"]
        for side, measurement in [
            ("mlflow", "cold process"),
            ("ledger", "command"),
            ("ledger", "first query"),
            ("ledger", "second query"),
        ]:
            row = rows[name, side, measurement]
            assert row["status"] == "ok", row
            assert row["count"] == query["expected"]
            assert row["target"] == ""  # targets apply at 10,000 runs only
            if side == "ledger":
                assert row["ratio"] is not None and row["ratio"] > 0
        assert report["found"][f"{name}/command"]["columns"] == query["columns"]
    # The ledger's state was kept in a copy: the cached ledger is left as generated.
    repo = Path(report["ledger_repo"])
    assert not (repo / ".git" / "ledger").exists()
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
