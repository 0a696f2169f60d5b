"""How cheap recording from code is: lines of user code, and time per record.

    python benchmarks/recording.py [--records N] [--rounds R] [--show-lines] [--json]

(a) Lines. The example project of ``examples/tracking`` records the seed workflow (dataset 1.0,
model 1.0 and its evaluation; dataset 1.1, model 1.1 and its evaluation) with three scripts,
each written once and run once per version. Each script's lines are sorted, from its syntax
tree, into the science (what the script would hold without ledger) and the recording:

- science: the statements that use the example's own modules (``logreg``: reading the table,
  fitting, scoring), and every statement that assigns a name one of them reads, until nothing
  changes (so reading ``params.yaml`` counts as science where the hyperparameters come from it);
- recording: every other line of code: imports of ledger, the ``with track(...)`` header, every
  call on the run, ``cohort_block`` and ``binary_metrics``, and the lines that only build their
  arguments (record identities, links, reading the documentation file).

A script that does not use the API at all (``make_data.py``, ``logreg.py``) is all science. A
line is a physical line of code: blank lines, comment lines and the module docstring are not
counted. ``--show-lines`` prints every counted line with its class. Next to them stands a
listing of what MLflow code would log the same facts (``MLFLOW`` below, not run: MLflow need
not be installed), counted the same way, with its calls to ``mlflow``. That listing leaves out
what MLflow does not compute, which ledger's helpers do: the cohort summary and the metrics with
their intervals, calibration and subgroups, each one line here standing for code to write.

(b) Time. In a temporary git repository set up with the example's scripts and documentation
(datasets and a model recorded, committed), R rounds each write N records of each kind through
``track`` blocks that log what the example's scripts log (the measured values computed once,
before timing). Each record's bytes are then written again by the floors: ``json.dumps`` of the
same record and a write to a temporary file with ``fsync`` and ``os.replace`` (what an atomic
write of a JSON file costs), and ``git hash-object -w --stdin`` (storing the bytes in git,
one process each). Per-record figures are medians over the rounds of (round time / N).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT / "examples" / "tracking"
SCRIPTS = ("record_dataset.py", "train.py", "evaluate.py")
SCIENCE_ONLY = ("make_data.py", "logreg.py")  # the example's science, with no ledger in it

# What MLflow code logging the same facts would look like: the example's three scripts with
# ledger's calls replaced by MLflow's, the science and the arguments unchanged. Not run (MLflow
# and pandas would be needed); counted by the same rule. A line ending in ``# user code`` calls
# a function the user would have to write, because ledger computes it and MLflow does not.
MLFLOW = {
    "record_dataset.py": """\
import sys
from pathlib import Path

import mlflow
import pandas as pd
import yaml

key = sys.argv[1]
name, table = f"deterioration-{key}", f"data/{key}.csv"
record = yaml.safe_load(Path("params.yaml").read_text())[key]["record"]
documentation = yaml.safe_load(Path("documentation.yaml").read_text())[name][record["version"]]
dvc_output = yaml.safe_load(Path(f"{table}.dvc").read_text())["outs"][0]

mlflow.set_experiment("ward-deterioration")
with mlflow.start_run(run_name=f"{name}@{record['version']}"):
    frame = pd.read_csv(table)
    dataset = mlflow.data.from_pandas(frame, source=table, name=name, targets="deteriorated")
    mlflow.log_input(dataset, context=key)
    mlflow.set_tags({"kind": "dataset", **record, "dvc.md5": dvc_output["md5"]})
    mlflow.log_dict(documentation, "documentation.json")
    mlflow.log_dict(cohort_summary(frame), "cohort.json")  # user code
""",
    "train.py": """\
import importlib.metadata
import platform
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from logreg import fit, read_rows, save

params = yaml.safe_load(Path("params.yaml").read_text())
hyperparameters = params["model"]["hyperparameters"]
record = params["model"]["record"]
cohort = f"deterioration-cohort@{params['cohort']['record']['version']}"
documentation = yaml.safe_load(Path("documentation.yaml").read_text())["deterioration-risk"]

mlflow.set_experiment("ward-deterioration")
with mlflow.start_run(run_name=f"deterioration-risk@{record['version']}") as run:
    frame = pd.read_csv("data/cohort.csv")
    dataset = mlflow.data.from_pandas(frame, source="data/cohort.csv", name=cohort)
    mlflow.log_input(dataset, context="training")
    mlflow.log_params(hyperparameters)
    mlflow.set_tags({"kind": "model", **record, "trained_on": cohort, "seeds": "none"})
    mlflow.set_tag("framework", f"Python {platform.python_version()}")
    mlflow.log_dict(documentation[record["version"]], "documentation.json")
    packages = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    mlflow.log_dict(packages, "dependencies.json")
    save(fit(read_rows("data/cohort.csv"), **hyperparameters), "models/model.json")
    mlflow.log_artifact("models/model.json")
    mlflow.register_model(f"runs:/{run.info.run_id}/model.json", "deterioration-risk")
""",
    "evaluate.py": """\
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from logreg import OUTCOME, load, predict, read_rows

params = yaml.safe_load(Path("params.yaml").read_text())
record = params["evaluation"]["record"]
model_ref = f"deterioration-risk@{params['model']['record']['version']}"
test_ref = f"deterioration-test@{params['test']['record']['version']}"
documentation = yaml.safe_load(Path("documentation.yaml").read_text())["deterioration-risk-heldout"]

mlflow.set_experiment("ward-deterioration")
with mlflow.start_run(run_name=f"deterioration-risk-heldout@{record['version']}"):
    model, rows = load("models/model.json"), read_rows("data/test.csv")
    labels = [int(row[OUTCOME]) for row in rows]
    scores = [predict(model, row) for row in rows]
    frame = pd.read_csv("data/test.csv")
    dataset = mlflow.data.from_pandas(frame, source="data/test.csv", name=test_ref)
    mlflow.log_input(dataset, context="test")
    mlflow.set_tags({"kind": "evaluation", **record, "evaluates": model_ref})
    mlflow.log_dict(documentation[record["version"]], "documentation.json")
    mlflow.log_param("threshold", model["threshold"])
    sex = [row["sex"] for row in rows]
    metrics = binary_metrics_with_intervals(labels, scores, model["threshold"], sex)  # user code
    for group, values in metrics.items():
        for metric, (value, lower, upper) in values.items():
            mlflow.log_metric(f"{group}.{metric}", value)
            mlflow.log_metric(f"{group}.{metric}.ci_lower", lower)
            mlflow.log_metric(f"{group}.{metric}.ci_upper", upper)
    passed = metrics["overall"]["auroc"][1] >= 0.7
    mlflow.set_tag("outcome", "pass" if passed else "fail")
    mlflow.log_dict({"size": len(labels), "events": sum(labels)}, "test_population.json")
""",
}

# What MLflow has no place for, which ledger's records state or check (printed with the table).
MLFLOW_MISSING = (
    "links pinned by the SHA-256 of the record they name (MLflow links runs by id)",
    "refusal at entry of a version that exists, a link that does not resolve, a PHI-like value",
    "a completeness check of every required documentation field before anything is written",
    "DVC snapshot with the data's SHA-256 (here one md5 tag, read by hand from the .dvc file)",
)


# --- (a) lines of code -------------------------------------------------------------------


@dataclass(eq=False)  # units are told apart by identity
class Unit:
    """A statement, or the header of a compound statement (its body is units of its own)."""

    first: int
    last: int
    parts: list[ast.AST]  # the statement, or the expressions of its header
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    calls: int = 0  # calls on the recording API: ledger's, or mlflow's in the listing
    role: str = "recording"


@dataclass
class Counted:
    script: str
    code_lines: int
    recording_lines: int
    science_lines: int
    api_calls: int
    lines: list[tuple[int, str, str]] = field(default_factory=list)  # (number, role, text)


def _names(nodes: Sequence[ast.AST], context: type[ast.expr_context]) -> set[str]:
    """Names read (Load) or bound (Store), leaving out a comprehension's own variables."""
    inner = {
        n.id
        for node in nodes
        for c in ast.walk(node)
        if isinstance(c, ast.comprehension)
        for n in ast.walk(c.target)
        if isinstance(n, ast.Name)
    }
    return {
        n.id
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, context) and n.id not in inner
    }


def _module(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.ImportFrom):
        return (stmt.module or "").split(".")[0]
    if isinstance(stmt, ast.Import):
        return stmt.names[0].name.split(".")[0]
    return None


def _imported(stmt: ast.stmt) -> set[str]:
    if not isinstance(stmt, ast.Import | ast.ImportFrom):
        return set()
    return {(alias.asname or alias.name).split(".")[0] for alias in stmt.names}


def _units(body: Sequence[ast.stmt]) -> Iterator[tuple[ast.stmt, Unit]]:
    for stmt in body:
        inner: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            inner += getattr(stmt, name, [])
        inner += [s for handler in getattr(stmt, "handlers", []) for s in handler.body]
        if inner:
            header = [c for c in ast.iter_child_nodes(stmt) if not isinstance(c, ast.stmt)]
            unit = Unit(stmt.lineno, min(s.lineno for s in inner) - 1, header)
        else:
            unit = Unit(stmt.lineno, stmt.end_lineno or stmt.lineno, [stmt])
        unit.reads = _names(unit.parts, ast.Load)
        unit.writes = _names(unit.parts, ast.Store) | _imported(stmt)
        yield stmt, unit
        yield from _units(inner)


def _code_lines(source: str) -> dict[int, str]:
    """Lines holding code: not blank, not only a comment, not part of the module docstring."""
    lines = source.splitlines()
    skip: set[int] = set()
    tree = ast.parse(source)
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        skip |= set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    comments = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and lines[tok.start[0] - 1].lstrip().startswith("#")
    }
    return {
        number: text
        for number, text in enumerate(lines, start=1)
        if text.strip() and number not in skip and number not in comments
    }


def classify(name: str, source: str, api: str, local: set[str]) -> Counted:
    """Sort a script's lines into science and recording (see the module's docstring).

    ``api`` is the top-level module of the recording API (``ledger``, or ``mlflow`` in the
    listing); ``local`` names the example's own modules, whose use is the science."""
    units = list(_units(ast.parse(source).body))
    api_names: set[str] = set()
    seeds: set[str] = set()  # names of the science: what the example's own modules give
    for stmt, _ in units:
        if _module(stmt) == api:
            api_names |= _imported(stmt)
        elif _module(stmt) in local:
            seeds |= _imported(stmt)
    for stmt, unit in units:  # ``with track(...) as run``: calls on ``run`` are API calls
        if isinstance(stmt, ast.With) and unit.reads & api_names:
            api_names |= unit.writes
    science = [unit for _, unit in units if (unit.reads | unit.writes) & seeds or not api_names]
    while True:  # and whatever the science reads
        needed = set().union(*(unit.reads for unit in science))
        grown = [u for _, u in units if u not in science and u.writes & needed]
        if not grown:
            break
        science += grown
    for _, unit in units:
        unit.calls = sum(
            1 for part in unit.parts for node in ast.walk(part) if _calls(node, api_names)
        )
        if unit in science:
            unit.role = "science"
    role_of: dict[int, str] = {}
    for _, unit in units:
        for number in range(unit.first, unit.last + 1):
            role_of.setdefault(number, unit.role)
    lines = [
        (number, role_of.get(number, "recording"), text)
        for number, text in _code_lines(source).items()
    ]
    return Counted(
        script=name,
        code_lines=len(lines),
        recording_lines=sum(1 for _, role, _ in lines if role == "recording"),
        science_lines=sum(1 for _, role, _ in lines if role == "science"),
        api_calls=sum(unit.calls for _, unit in units),
        lines=lines,
    )


def _calls(node: ast.AST, api_names: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id in api_names


def count_lines() -> dict[str, Any]:
    """(a): the example's scripts against the MLflow listing, and the files of values."""
    local = {path.stem for path in (EXAMPLE / "src").glob("*.py")}
    ledger = [
        classify(name, (EXAMPLE / "src" / name).read_text(encoding="utf-8"), "ledger", local)
        for name in (*SCRIPTS, *SCIENCE_ONLY)
    ]
    mlflow = [classify(name, MLFLOW[name], "mlflow", local) for name in SCRIPTS]
    values = {
        name: len(_data_lines(EXAMPLE / name)) for name in ("documentation.yaml", "params.yaml")
    }
    second = _data_lines(EXAMPLE / "run.sh", between=("<<'PARAMS'", "PARAMS"))
    return {
        "ledger": [asdict(c) for c in ledger],
        "mlflow": [asdict(c) for c in mlflow],
        "values": {**values, "params.yaml of iteration 2 (in run.sh)": len(second)},
    }


def _data_lines(path: Path, between: tuple[str, str] | None = None) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if between is not None:
        start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(between[0]))
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == between[1])
        lines = lines[start + 1 : end]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


# --- (b) time per record -------------------------------------------------------------------


def _run(*argv: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, env=_env())
    if done.returncode != 0:
        raise SystemExit(f"recording.py: `{' '.join(argv)}` failed: {done.stderr.decode()}")
    return done.stdout


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Benchmark",
        "GIT_AUTHOR_EMAIL": "benchmark@example.org",
        "GIT_COMMITTER_NAME": "Benchmark",
        "GIT_COMMITTER_EMAIL": "benchmark@example.org",
        "GIT_AUTHOR_DATE": "2026-03-01T09:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-03-01T09:00:00+00:00",
        "DVC_NO_ANALYTICS": "1",
    }


def _dvc_add(root: Path, relpath: str) -> None:
    """What `dvc add RELPATH` leaves for git (DVC 3: the md5 of the bytes), without DVC: the
    .dvc file, and the data ignored by git."""
    data, path = (root / relpath).read_bytes(), Path(relpath)
    text = f"outs:\n- md5: {hashlib.md5(data).hexdigest()}\n  size: {len(data)}\n"
    (root / f"{relpath}.dvc").write_text(f"{text}  hash: md5\n  path: {path.name}\n")
    with (root / path.parent / ".gitignore").open("a", encoding="utf-8") as ignored:
        ignored.write(f"/{path.name}\n")


def _commit(root: Path, message: str) -> None:
    _run("git", "add", "-A", cwd=root)
    _run("git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message, cwd=root)


@dataclass
class Setup:
    root: Path
    documentation: dict[str, Any]
    cohort: dict[str, Any]
    evaluation: Any  # ledger.measure.binary.BinaryEvaluation
    hyperparameters: dict[str, Any]
    seconds: dict[str, float]


def set_up(root: Path) -> Setup:
    """A git repository with the example's data, dataset records and model record committed."""
    import yaml

    from ledger.tracking import binary_metrics, cohort_block

    root.mkdir(parents=True)
    _run("git", "init", "-q", "-b", "main", cwd=root)
    _run(sys.executable, "-m", "ledger", "init", cwd=root)
    shutil.copytree(EXAMPLE / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("params.yaml", "documentation.yaml"):
        shutil.copy(EXAMPLE / name, root / name)
    (root / "data").mkdir()
    _run(sys.executable, "src/make_data.py", "data/cohort.csv", "400", "1", cwd=root)
    _run(sys.executable, "src/make_data.py", "data/test.csv", "300", "2", cwd=root)
    for key in ("cohort", "test"):
        _dvc_add(root, f"data/{key}.csv")
        _run(sys.executable, "src/record_dataset.py", key, cwd=root)  # the example's script
    with (root / ".gitignore").open("a", encoding="utf-8") as ignored:
        ignored.write("__pycache__/\n")
    _commit(root, "Data and dataset records")
    logreg = _module_from(root / "src" / "logreg.py")  # the example's science

    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    hyperparameters = params["model"]["hyperparameters"]
    documentation = yaml.safe_load((root / "documentation.yaml").read_text(encoding="utf-8"))
    model = logreg.fit(logreg.read_rows(root / "data/cohort.csv"), **hyperparameters)
    logreg.save(model, root / "models/model.json")
    _dvc_add(root, "models/model.json")
    record_model(root, "deterioration-risk", documentation, hyperparameters)
    _commit(root, "Model 1.0")

    seconds: dict[str, float] = {}
    rows = logreg.read_rows(root / "data/test.csv")
    labels = [int(row[logreg.OUTCOME]) for row in rows]
    scores = [logreg.predict(model, row) for row in rows]
    started = time.perf_counter()
    evaluation = binary_metrics(
        labels, scores, model["threshold"], subgroups={"sex": [row["sex"] for row in rows]}
    )
    seconds["binary_metrics"] = time.perf_counter() - started
    started = time.perf_counter()
    cohort = cohort_block(
        root / "data/cohort.csv",
        unit="admission",
        outcome="deteriorated",
        outcome_definition="Unplanned ICU transfer, rapid-response call or death",
        time_horizon="24 hours from ward admission",
        assessment="Synthetic label drawn by src/make_data.py",
        age="age",
        sex="sex",
        subgroups=["ward"],
    )
    seconds["cohort_block"] = time.perf_counter() - started
    return Setup(root, documentation, cohort, evaluation, hyperparameters, seconds)


def _module_from(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_fields(documentation: dict[str, Any]) -> dict[str, Any]:
    fields = json.loads(json.dumps(documentation["deterioration-risk"]["1.0"]))
    # Run from this file, track cannot name the training script: give the example's.
    fields["training"]["code"] = {"path": "src/train.py"}
    return fields


def _model_measured() -> dict[str, Any]:
    return {
        "framework": {"name": "Python standard library", "version": platform.python_version()},
        "training": {"seeds": {"not_applicable": "gradient descent from zero weights"}},
    }


def record_model(
    root: Path, name: str, documentation: dict[str, Any], hyperparameters: dict[str, Any]
) -> None:
    """Model NAME 1.0 as the example's train.py records it."""
    from ledger.tracking import track

    with track(
        "model",
        name,
        "1.0",
        trained_on=["dataset:deterioration-cohort@1.0"],
        fields=_model_fields(documentation),
        snapshot="models/model.json.dvc",
        root=root,
    ) as run:
        run.log_params(hyperparameters)
        run.set(**_model_measured())


def write_records(setup: Setup, kind: str, names: Sequence[str]) -> list[Path]:
    """One ``track`` block per name, logging what the example's script for KIND logs."""
    from ledger.tracking import track

    docs, root = setup.documentation, setup.root
    written = []
    for name in names:
        if kind == "dataset":
            with track(
                "dataset",
                name,
                "1.0",
                fields=docs["deterioration-cohort"]["1.0"],
                snapshot="data/cohort.csv.dvc",
                root=root,
            ) as run:
                run.log_cohort(setup.cohort)
                run.set(
                    splits={"not_applicable": "the held-out test set is a dataset record"},
                    quality_checks=[
                        {
                            "check": "Missing values per column",
                            "result": setup.cohort["missing_data"],
                        }
                    ],
                )
        elif kind == "model":
            record_model(root, name, docs, setup.hyperparameters)
        else:
            result = setup.evaluation
            auroc = next(m for m in result.metrics if m["name"] == "auroc")
            with track(
                "evaluation",
                name,
                "1.0",
                evaluates="model:deterioration-risk@1.0",
                tested_on=["dataset:deterioration-test@1.0"],
                fields=docs["deterioration-risk-heldout"]["1.0"],
                root=root,
            ) as run:
                run.log_evaluation(result)
                run.set(
                    test_population={"size": result.n, "events": result.events},
                    setup={
                        "outcome": "pass" if auroc["ci"]["lower"] >= 0.7 else "fail",
                        "seeds": {"not_applicable": "scoring is deterministic"},
                    },
                )
        written.append(root / "records" / kind / name / "1.0.json")
    return written


def json_floor(records: Sequence[Any], folder: Path) -> None:
    """Each record as JSON, written atomically: temporary file, fsync, os.replace."""
    for i, record in enumerate(records):
        target = folder / f"{i}.json"
        temporary = folder / f".{i}.json.tmp"
        with temporary.open("wb") as handle:
            handle.write(json.dumps(record, indent=2, ensure_ascii=False).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)


def git_floor(contents: Sequence[bytes], root: Path) -> None:
    for content in contents:
        _run("git", "hash-object", "-w", "--stdin", cwd=root, stdin=content)


@dataclass
class Timed:
    what: str
    per_record_ms: list[float]  # one figure per round

    @property
    def median_ms(self) -> float:
        return statistics.median(self.per_record_ms)


def time_records(setup: Setup, records: int, rounds: int, scratch: Path) -> list[Timed]:
    rows: list[Timed] = []
    floors = {
        "json": Timed("json.dumps + fsync + os.replace", []),
        "git": Timed("git hash-object -w --stdin", []),
    }
    for kind in ("dataset", "model", "evaluation"):
        timed = Timed(f"track: {kind} record", [])
        for r in range(rounds):
            names = [f"bench-{kind}-{r}-{i}" for i in range(records)]
            started = time.perf_counter()
            paths = write_records(setup, kind, names)
            timed.per_record_ms.append((time.perf_counter() - started) * 1000 / records)
            contents = [path.read_bytes() for path in paths]
            parsed = [json.loads(content) for content in contents]
            folder = scratch / f"floor-{kind}-{r}"
            folder.mkdir()
            started = time.perf_counter()
            json_floor(parsed, folder)
            floors["json"].per_record_ms.append((time.perf_counter() - started) * 1000 / records)
            started = time.perf_counter()
            git_floor(contents, setup.root)
            floors["git"].per_record_ms.append((time.perf_counter() - started) * 1000 / records)
        rows.append(timed)
        if kind == "model":  # what a model record reads of the process: its distributions
            from ledger.tracking.environment import imported_distributions

            part = Timed("  of which imported_distributions()", [])
            for _ in range(rounds):
                started = time.perf_counter()
                imported_distributions()
                part.per_record_ms.append((time.perf_counter() - started) * 1000)
            rows.append(part)
    return [*rows, floors["json"], floors["git"]]


def time_import(rounds: int) -> list[Timed]:
    """Once per script: starting Python, and importing ledger.tracking on top of it."""
    rows = []
    for what, code in (
        ("python -c pass", "pass"),
        ("import ledger.tracking", "import ledger.tracking"),
    ):
        timed = Timed(what, [])
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=_env())
            timed.per_record_ms.append((time.perf_counter() - started) * 1000)
        rows.append(timed)
    return rows


# --- the report ----------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(lines[0]), "  ".join("-" * w for w in widths), *map(fmt, lines[1:])])


def report_lines(counts: dict[str, Any], show: bool) -> str:
    mlflow = {c["script"]: c for c in counts["mlflow"]}
    rows, totals = [], [0, 0, 0, 0, 0, 0]
    for c in counts["ledger"]:
        m = mlflow.get(c["script"])
        figures = [
            c["code_lines"],
            c["science_lines"],
            c["recording_lines"],
            c["api_calls"],
            m["recording_lines"] if m else 0,
            m["api_calls"] if m else 0,
        ]
        totals = [t + f for t, f in zip(totals, figures, strict=True)]
        rows.append([f"src/{c['script']}", *(str(f) for f in figures)])
    rows.append(["total", *(str(t) for t in totals)])
    header = ["script", "code", "science", "recording", "ledger calls", "MLflow lines"]
    placeholders = sum(
        1 for c in counts["mlflow"] for _, _, text in c["lines"] if text.endswith("# user code")
    )
    values = ", ".join(f"{name} {n}" for name, n in counts["values"].items())
    notes = [
        "code: lines of code (no blank, comment or docstring lines). science: the lines the "
        "script would hold without any recording (see the docstring for the rule). recording: "
        "the rest: ledger's API and the lines that build its arguments. MLflow: the listing "
        "MLFLOW in benchmarks/recording.py (the same scripts logging the same facts to MLflow, "
        "not run), sorted by the same rule; its recording lines include "
        f"{placeholders} calls of functions the user would still have to write (the cohort "
        "summary; metrics with intervals, calibration and subgroups), which ledger provides.",
        f"Values, not code, written once (lines): {values}; MLflow would log the same text.",
        "Not in the MLflow listing, which ledger records state or check: "
        + "; ".join(MLFLOW_MISSING)
        + ".",
    ]
    out = [
        textwrap.fill(
            "(a) Lines of user code recording the seed workflow of examples/tracking (dataset "
            "1.0, model 1.0 and its evaluation; dataset 1.1, model 1.1 and its evaluation), "
            "each script written once",
            100,
        ),
        "",
        _table([*header, "MLflow calls"], rows),
        "",
        *(textwrap.fill(note, 100) for note in notes),
    ]
    if show:
        for side in ("ledger", "mlflow"):
            for c in counts[side]:
                out += ["", f"{side}: {c['script']}"]
                out += [f"  {n:3d} {role[:3]}  {text}" for n, role, text in c["lines"]]
    return "\n".join(out)


def report_times(times: list[Timed], imports: list[Timed], setup_s: dict[str, float]) -> str:
    by = {t.what: t.median_ms for t in times}
    json_ms = by["json.dumps + fsync + os.replace"]
    git_ms = by["git hash-object -w --stdin"]
    rows = [
        [
            t.what,
            f"{t.median_ms:.2f}",
            f"{t.median_ms / json_ms:.1f}",
            f"{t.median_ms / git_ms:.1f}",
        ]
        for t in times
    ]
    start = {t.what: t.median_ms for t in imports}
    once = [
        ["python -c pass", f"{start['python -c pass']:.0f}"],
        [
            "import ledger.tracking (on top)",
            f"{start['import ledger.tracking'] - start['python -c pass']:.0f}",
        ],
        ["binary_metrics (300 test rows, 2 groups)", f"{setup_s['binary_metrics'] * 1000:.1f}"],
        ["cohort_block (400 rows)", f"{setup_s['cohort_block'] * 1000:.1f}"],
    ]
    return "\n".join(
        [
            "(b) Time to write one record (ms, median over rounds of round time / records)",
            "",
            _table(["what", "ms/record", "x json floor", "x git hash-object"], rows),
            "",
            _table(["once per script, or computed once above", "ms"], once),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=5, help="records per kind and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; figures are medians")
    parser.add_argument("--show-lines", action="store_true", help="print every counted line")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    args = parser.parse_args(argv)
    if args.records < 1 or args.rounds < 1:
        parser.error("--records and --rounds must be at least 1")
    counts = count_lines()
    with tempfile.TemporaryDirectory(prefix="ledger-recording-") as scratch:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing here should warn: fail loudly if it does
            setup = set_up(Path(scratch, "repo"))
            times = time_records(setup, args.records, args.rounds, Path(scratch))
        imports = time_import(args.rounds)
        evaluation = json.loads(
            (setup.root / "records/evaluation/bench-evaluation-0-0/1.0.json").read_text()
        )
    values = len(evaluation["metrics"]) + sum(
        len(group["metrics"]) for group in evaluation["subgroup_metrics"]
    )
    machine = {
        "python": platform.python_version(),
        "system": platform.platform(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        report = {
            "machine": machine,
            "records": args.records,
            "rounds": args.rounds,
            "lines": counts,
            "metrics_in_one_evaluation": values,
            "times": [{**asdict(t), "median_ms": t.median_ms} for t in times],
            "once": [{**asdict(t), "median_ms": t.median_ms} for t in imports],
            "computed_once_s": setup.seconds,
        }
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"Python {machine['python']} on {machine['system']}, {machine['cpus']} CPUs; "
        f"{args.rounds} rounds of {args.records} records per kind"
    )
    print()
    print(report_lines(counts, args.show_lines))
    print(
        textwrap.fill(
            f"One evaluation record here holds {values} metrics (overall and by sex); the "
            f"MLflow listing logs each with 3 log_metric calls: {3 * values} calls at run time.",
            100,
        )
    )
    print()
    print(report_times(times, imports, setup.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
