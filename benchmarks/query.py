"""Time ledger's record query against MLflow's search_runs over the same records.

    python benchmarks/query.py [--records N] [--repeat 3] [--keep DIR] [--sides mlflow,ledger]
        [--seed S] [--ledger PATH] [--json]

A generated ledger of N records over N commits (benchmarks/generate.py, reused from --keep DIR
as run.py does) is logged to an MLflow FileStore (a ``file:`` URI), one MLflow run per record
version, so both sides search the same N items:

- an evaluation: params = its evaluated model's hyperparameters plus ``model`` and
  ``model_version``; metrics = its overall metrics; tags ``kind``, ``record`` (the record id,
  also the run name), ``name`` and ``version``;
- a model: params = its hyperparameters; the same tags;
- a dataset: the same tags only.

Runs are logged with ``MlflowClient``: ``create_run`` (the run name only), one ``log_batch``
(every param, metric and tag), ``set_terminated``; the logging time is measured.
With --keep the store is kept beside the ledger and reused while the ledger's HEAD, MLflow's
version and LOGGER_VERSION are unchanged; the logging time is the one measured when it was
logged.

Then, in the same run, for each query of ``queries()`` (equivalent filters on both sides):

- MLflow ``search_runs`` in a fresh process (query_worker.py): the process up to the end of its
  first call (start-up, ``import mlflow``, first call: the process's wall time less what it
  did after that call), the first call alone, and a second call in the same process (warm);
- ``ledger query ... --all-versions`` as a command, on a kept state (run once first to keep
  it), in a copy of the ledger;
- ``Ledger.query(..., all_versions=True)`` in a fresh process: opening the ledger and the first
  query (reading the kept state), then a second query on the open Ledger.

Every side's matches are checked against the records themselves; a difference is printed as
MISMATCH and the exit code is 1, as it is when a side fails or ``Ledger.query`` is missing.
Timings are the best of --repeat. The table gives MLflow ÷ ledger and the targets of the issue:
the command within 0.5 s, the in-process query 100x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import git_env, git_output
from run import (
    Run,
    aligned,
    compile_bytecode,
    find_ledger,
    listed,
    measure,
    note,
    prepare,
    python_of,
    version_of,
)

WORKER: Final = Path(__file__).resolve().with_name("query_worker.py")
NO_QUERY: Final = 3  # query_worker.py's exit code when Ledger.query is missing
# Bump when the runs logged for the same ledger would differ, so kept stores are logged again.
LOGGER_VERSION: Final = 2
LOGGED: Final = "logged.json"  # beside the store's runs: what was logged, from what, how fast
EXPERIMENT: Final = "ledger-query-benchmark"
START_MS: Final = 1_735_722_000_000  # 2025-01-01T09:00:00Z, generate.py's first commit

# FileStores are refused by MLflow 3 unless asked for; telemetry would be a network call.
MLFLOW_ENV: Final = {
    "MLFLOW_ALLOW_FILE_STORE": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}

MLFLOW: Final = "mlflow"
LEDGER: Final = "ledger"
SIDES: Final = (MLFLOW, LEDGER)

# Targets (issue): the command within CLI_LIMIT_S of wall time, start-up included; the second
# in-process query at least SPEED_UP times faster than MLflow's warm search_runs.
CLI_LIMIT_S: Final = 0.5
SPEED_UP: Final = 100.0
TARGET_SIZE: Final = 10_000  # the targets are stated for this many runs


@dataclass(frozen=True)
class RunSpec:
    """One record version as one MLflow run."""

    record: str  # kind:name@version
    kind: str
    name: str
    version: str
    params: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class Query:
    """One query on both sides, and the same question asked of the records directly."""

    name: str
    mlflow_filter: str
    ledger_filter: str
    expect: Callable[[RunSpec], bool]
    order_by: str | None = None  # the same text on both sides
    limit: int | None = None
    value_column: str | None = None  # "metrics.NAME" that order_by sorts on

    @property
    def columns(self) -> list[str]:
        # The record's identity, so that the ledger's matches can be checked one by one.
        return ["kind", "name", "version", *([self.value_column] if self.value_column else [])]

    def answer(self, specs: Sequence[RunSpec]) -> tuple[list[str], list[float]]:
        """The matching records (sorted ids) and, for an ordered query, the values it keeps."""
        found = [spec for spec in specs if self.expect(spec)]
        if self.value_column is None:
            return sorted(spec.record for spec in found), []
        metric = self.value_column.removeprefix("metrics.")
        values = sorted((spec.metrics[metric] for spec in found), reverse=True)
        return [], values[: self.limit] if self.limit is not None else values


def queries(specs: Sequence[RunSpec]) -> list[Query]:
    """The queries timed. The model is the one with the most evaluations over the threshold
    (first by name on a tie), so the same ledger always gives the same queries."""
    above = Counter(
        spec.params["model"]
        for spec in specs
        if spec.kind == "evaluation" and spec.metrics.get("sensitivity", 0.0) > 0.8
    )
    model = min(above, key=lambda name: (-above[name], name)) if above else "none"
    return [
        Query(
            "metric + model",
            f"metrics.sensitivity > 0.8 and params.model = '{model}'",
            f"metrics.sensitivity > 0.8 and model = '{model}'",
            lambda s: s.metrics.get("sensitivity", 0.0) > 0.8 and s.params.get("model") == model,
        ),
        Query(
            "metric",
            "metrics.sensitivity > 0.8",
            "metrics.sensitivity > 0.8",
            lambda s: s.metrics.get("sensitivity", 0.0) > 0.8,
        ),
        # MLflow keeps params as strings, so it can only compare them as strings.
        Query(
            "param + kind",
            "params.learning_rate = '0.1' and tags.kind = 'evaluation'",
            "params.learning_rate = 0.1 and kind = 'evaluation'",
            lambda s: s.kind == "evaluation" and s.params.get("learning_rate") == "0.1",
        ),
        Query(
            "top 10 by auroc",
            "tags.kind = 'evaluation'",
            "kind = 'evaluation'",
            lambda s: s.kind == "evaluation",
            order_by="metrics.auroc DESC",
            limit=10,
            value_column="metrics.auroc",
        ),
    ]


def read_records(repo: Path) -> list[dict[str, Any]]:
    """Every record at HEAD, in path order: ``git ls-tree`` and one ``git cat-file --batch``."""
    listing = git_output(repo, "ls-tree", "-r", "HEAD", "--", "records/")
    entries = sorted(
        (path, meta.split()[2])
        for meta, _, path in (line.partition("\t") for line in listing.splitlines())
        if meta.split()[1] == "blob" and path.endswith(".json")
    )
    batch = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repo,
        env=git_env(),
        input="".join(f"{blob}\n" for _, blob in entries).encode(),
        capture_output=True,
        check=True,
    ).stdout
    records, at = [], 0
    for _ in entries:
        header_end = batch.index(b"\n", at)
        size = int(batch[at:header_end].split()[2])
        records.append(json.loads(batch[header_end + 1 : header_end + 1 + size]))
        at = header_end + 1 + size + 1
    return records


def run_specs(records: Sequence[dict[str, Any]]) -> list[RunSpec]:
    """One run per record version. Params are strings, as ``mlflow.log_params`` writes them."""
    hyper = {
        f"model:{r['name']}@{r['version']}": r.get("hyperparameters") or {}
        for r in records
        if r["kind"] == "model"
    }
    specs = []
    for r in records:
        kind, name, version = str(r["kind"]), str(r["name"]), str(r["version"])
        params: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        if kind == "model":
            params = dict(r.get("hyperparameters") or {})
        elif kind == "evaluation":
            ref = str(r["model"]["ref"])
            model_name, _, model_version = ref.removeprefix("model:").partition("@")
            params = {**hyper[ref], "model": model_name, "model_version": model_version}
            metrics = {str(m["name"]): float(m["value"]) for m in r.get("metrics", [])}
        specs.append(
            RunSpec(
                f"{kind}:{name}@{version}",
                kind,
                name,
                version,
                {key: str(value) for key, value in params.items()},
                metrics,
            )
        )
    return specs


@dataclass
class Logged:
    """An MLflow store holding one run per record version."""

    uri: str
    experiment_id: str
    runs: int
    kinds: dict[str, int]
    seconds: float  # logging alone: create_run, log_batch, set_terminated for every run
    mlflow: str
    ledger_head: str
    logger_version: int = LOGGER_VERSION
    reused: bool = False


def log_runs(folder: Path, specs: Sequence[RunSpec], head: str) -> Logged:
    """Log ``specs`` to a FileStore in ``folder`` (new or reused as kept by an earlier run)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    marker = folder / LOGGED
    if marker.is_file():
        kept = json.loads(marker.read_text(encoding="utf-8"))
        wanted = {"logger_version": LOGGER_VERSION, "mlflow": mlflow.__version__}
        if kept.get("ledger_head") == head and all(kept.get(k) == v for k, v in wanted.items()):
            note(f"reusing the MLflow store in {folder} ({kept['runs']:,} runs)")
            return Logged(**{**kept, "reused": True})
    shutil.rmtree(folder, ignore_errors=True)  # another ledger, MLflow or logger: log again
    store = folder / "mlruns"
    store.mkdir(parents=True)
    uri = store.as_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT)
    note(f"logging {len(specs):,} MLflow runs to {uri} …")
    started = time.perf_counter()
    for index, spec in enumerate(specs):
        at = START_MS + index * 1000  # one second apart, in record order: deterministic
        # Every tag given to create_run is one more set_tag, and each finds the run by listing
        # the experiment's folder; log_batch finds it once for all of them.
        run = client.create_run(experiment_id, start_time=at, run_name=spec.record)
        run_id = run.info.run_id
        tags = {"kind": spec.kind, "record": spec.record, "name": spec.name}
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, at, 0) for key, value in spec.metrics.items()],
            params=[Param(key, value) for key, value in spec.params.items()],
            tags=[RunTag(key, value) for key, value in {**tags, "version": spec.version}.items()],
        )
        client.set_terminated(run_id, end_time=at + 500)
    seconds = time.perf_counter() - started
    logged = Logged(
        uri,
        experiment_id,
        len(specs),
        dict(Counter(spec.kind for spec in specs)),
        round(seconds, 3),
        mlflow.__version__,
        head,
    )
    marker.write_text(json.dumps(asdict(logged), indent=2) + "\n", encoding="utf-8")
    note(f"  logged in {seconds:.1f} s")
    return logged


@dataclass
class Row:
    query: str
    side: str
    measurement: str  # a key of MEASUREMENTS
    status: str = "ok"  # ok, error or missing (no Ledger.query)
    seconds: float | None = None  # best of the runs
    runs: list[float] = field(default_factory=list)
    peak_mb: float | None = None
    count: int | None = None  # rows or runs found
    ratio: float | None = None  # the MLflow figure it is compared with ÷ this one
    target: str = ""  # ok or MISS, where a target applies
    error: str = ""


# What each row times, and which MLflow row a ledger row is compared with.
MEASUREMENTS: Final = {
    "cold process": "fresh process: start-up, import, first call",
    "first call": "first call in a fresh process",
    "second call": "second call in the same process (warm)",
    "command": "`ledger query` command, kept state",
    "first query": "Ledger.open + first query (reads the state)",
    "second query": "second query on the open Ledger",
}
COMPARED: Final = {
    "command": "cold process",
    "first query": "first call",
    "second query": "second call",
}


def worker(
    python: str, spec: dict[str, Any], cwd: Path, out: Path
) -> tuple[Run, dict[str, Any] | None]:
    """One query_worker.py process, timed from outside; what it wrote, unless it failed."""
    out.unlink(missing_ok=True)
    run = measure([python, str(WORKER), json.dumps(spec), str(out)], cwd, None)
    if run.code != 0 or run.traceback or not out.is_file():
        return run, None
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return run, result


def failed_rows(query: str, side: str, names: Sequence[str], run: Run) -> list[Row]:
    status = "missing" if run.code == NO_QUERY else "error"
    return [Row(query, side, name, status=status, error=run.stderr.strip()) for name in names]


def best(values: Sequence[float]) -> float:
    return round(min(values), 4)


def time_mlflow(
    logged: Logged, query: Query, repeat: int, scratch: Path
) -> tuple[list[Row], dict[str, Any]]:
    spec = {
        "side": MLFLOW,
        "uri": logged.uri,
        "experiment_id": logged.experiment_id,
        "filter": query.mlflow_filter,
        "order_by": query.order_by,
        "limit": query.limit,
        "value_column": query.value_column,
    }
    names = ("cold process", "first call", "second call")
    results: list[dict[str, Any]] = []
    runs: list[Run] = []
    for _ in range(repeat):
        run, result = worker(sys.executable, spec, scratch, scratch / "mlflow.json")
        if result is None:
            note(f"error: MLflow search_runs for {query.name!r} failed:\n{run.stderr.strip()}")
            return failed_rows(query.name, MLFLOW, names, run), {}
        runs.append(run)
        results.append(result)
    cold = [run.seconds - r["after_first_s"] for run, r in zip(runs, results, strict=True)]
    peak = round(max(run.peak_kb for run in runs) / 1024, 1)
    count = results[0]["count"]
    rows = [
        Row(query.name, MLFLOW, "cold process", seconds=best(cold), runs=cold, peak_mb=peak),
        Row(query.name, MLFLOW, "first call", runs=[r["first_s"] for r in results]),
        Row(query.name, MLFLOW, "second call", runs=[r["second_s"] for r in results]),
    ]
    for row in rows:
        row.seconds, row.count = best(row.runs), count
        row.runs = [round(value, 4) for value in row.runs]
    note(
        f"  MLflow {query.name}: cold {rows[0].seconds:.2f} s, first call {rows[1].seconds:.2f} s,"
        f" second {rows[2].seconds:.2f} s, {count:,} runs"
    )
    return rows, {**results[0], "import_s": best([r["import_s"] for r in results])}


def cli_argv(ledger: Path, query: Query) -> list[str]:
    argv = [str(ledger), "query", query.ledger_filter, "--all-versions", "--format", "json"]
    argv += ["--columns", ",".join(query.columns)]
    if query.order_by:
        argv += ["--order-by", query.order_by]
    if query.limit is not None:
        argv += ["--limit", str(query.limit)]
    return argv


def time_ledger(
    ledger: Path, repo: Path, query: Query, repeat: int, scratch: Path
) -> tuple[list[Row], dict[str, Any], dict[str, Any]]:
    """The command on a kept state, then Ledger.query in process; and what each found."""
    argv = cli_argv(ledger, query)
    # The first run keeps the state the timed runs start from; its output is what is checked.
    primed = subprocess.run(argv, cwd=repo, env=git_env(), capture_output=True, text=True)
    cli_rows: list[Row]
    cli_found: dict[str, Any] = {}
    if primed.returncode != 0:
        text = primed.stderr.strip()
        missing = "No such command" in text
        if missing:
            text = f"`ledger query` is not a command of {ledger}: {text}"
        note(f"error: `{shlex.join(argv)}` exited {primed.returncode}:\n{text}")
        status = "missing" if missing else "error"
        cli_rows = [Row(query.name, LEDGER, "command", status=status, error=text)]
    else:
        try:
            output = json.loads(primed.stdout)
            found_rows: list[dict[str, Any]] = output["rows"]
        except (ValueError, KeyError, TypeError) as exc:
            text = f"`{shlex.join(argv)}` printed no JSON with rows: {exc}"
            note(f"error: {text}")
            return [Row(query.name, LEDGER, "command", status="error", error=text)], {}, {}
        cli_found = {
            "count": len(found_rows),
            "ids": ledger_ids(found_rows),
            "values": [row.get(query.value_column) for row in found_rows]
            if query.value_column
            else [],
            "columns": output.get("columns"),
        }
        runs = [measure(argv, repo, None) for _ in range(repeat)]
        bad = next((run for run in runs if run.failed((0,))), None)
        if bad is not None:
            note(f"error: `{shlex.join(argv)}` exited {bad.code}:\n{bad.stderr.strip()}")
            cli_rows = [Row(query.name, LEDGER, "command", status="error", error=bad.stderr)]
        else:
            seconds = [round(run.seconds, 4) for run in runs]
            peak = round(max(run.peak_kb for run in runs) / 1024, 1)
            row = Row(query.name, LEDGER, "command", seconds=best(seconds), runs=seconds)
            row.peak_mb, row.count = peak, cli_found["count"]
            cli_rows = [row]
    spec = {
        "side": LEDGER,
        "repo": str(repo),
        "filter": query.ledger_filter,
        "order_by": query.order_by,
        "limit": query.limit,
        "columns": query.columns,
        "value_column": query.value_column,
    }
    names = ("first query", "second query")
    results: list[dict[str, Any]] = []
    peak_kb = 0
    for _ in range(repeat):
        run, result = worker(python_of(ledger), spec, repo, scratch / "ledger.json")
        if result is None:
            if run.code != NO_QUERY:
                note(f"error: Ledger.query for {query.name!r} failed:\n{run.stderr.strip()}")
            return cli_rows + failed_rows(query.name, LEDGER, names, run), cli_found, {}
        results.append(result)
        peak_kb = max(peak_kb, run.peak_kb)
    rows = [
        Row(query.name, LEDGER, "first query", runs=[r["first_s"] for r in results]),
        Row(query.name, LEDGER, "second query", runs=[r["second_s"] for r in results]),
    ]
    for row in rows:
        row.seconds, row.count = best(row.runs), results[0]["count"]
        row.runs = [round(value, 4) for value in row.runs]
    rows[0].peak_mb = round(peak_kb / 1024, 1)  # the whole process's peak
    shown = cli_rows[0].seconds
    note(
        f"  ledger {query.name}: command {'-' if shown is None else f'{shown:.3f} s'}, first "
        f"{rows[0].seconds:.3f} s, second {rows[1].seconds:.4f} s, {rows[0].count:,} rows"
    )
    found = {**results[0], "import_s": best([r["import_s"] for r in results])}
    return cli_rows + rows, cli_found, found


def ledger_ids(rows: Sequence[dict[str, Any]]) -> list[str] | None:
    """The records ledger's rows name, when they carry kind, name and version."""
    if not all(key in row for row in rows for key in ("kind", "name", "version")):
        return None
    return sorted(f"{row['kind']}:{row['name']}@{row['version']}" for row in rows)


def check(
    query: Query, truth: tuple[list[str], list[float]], side: str, found: dict[str, Any]
) -> list[str]:
    """How ``found`` differs from the records' own answer; empty when it does not."""
    if not found:
        return []  # that side failed or is missing; its rows say so
    ids, values = truth
    expected = len(values) if query.value_column else len(ids)
    problems = []
    if found["count"] != expected:
        problems.append(f"{side} found {found['count']:,}, the records {expected:,}")
    elif query.value_column:
        got = [round(float(v), 6) if v is not None else None for v in found["values"]]
        if got != [round(v, 6) for v in values]:
            problems.append(f"{side} kept {query.value_column} {got}, the records {values}")
    elif found.get("ids") is not None and found["ids"] != ids:
        extra = sorted(set(found["ids"]) - set(ids))[:5]
        lacking = sorted(set(ids) - set(found["ids"]))[:5]
        problems.append(f"{side} matched other records: extra {extra}, missing {lacking}")
    if "second_count" in found and found["second_count"] != found["count"]:
        problems.append(f"{side}: second call found {found['second_count']:,}")
    return [f"{query.name}: {problem}" for problem in problems]


def judge(rows: Sequence[Row], size: int) -> None:
    """Each ledger row's ratio to the MLflow figure it answers, and its target."""
    mlflow = {(r.query, r.measurement): r.seconds for r in rows if r.side == MLFLOW}
    for row in rows:
        if row.side != LEDGER or row.seconds is None:
            continue
        theirs = mlflow.get((row.query, COMPARED[row.measurement]))
        if theirs is not None and row.seconds > 0:
            row.ratio = round(theirs / row.seconds, 1)
        if size >= TARGET_SIZE and row.measurement == "command":
            row.target = "ok" if row.seconds <= CLI_LIMIT_S else "MISS"
        if size >= TARGET_SIZE and row.measurement == "second query":
            row.target = "ok" if row.ratio is not None and row.ratio >= SPEED_UP else "MISS"


COLUMNS: Final = ("query", "side", "what is timed", "seconds", "runs/rows", "peak MB")


def cells(row: Row) -> list[str]:
    return [
        row.query,
        row.side,
        MEASUREMENTS[row.measurement],
        f"{row.seconds:.4f}" if row.seconds is not None else row.status,
        "-" if row.count is None else f"{row.count:,}",
        "-" if row.peak_mb is None else f"{row.peak_mb:.0f}",
        "-" if row.ratio is None else f"{row.ratio:,.1f}",
        row.target or "-",
    ]


def table(rows: Sequence[Row]) -> str:
    lines = [[*COLUMNS, "MLflow ÷ ledger", "target"], *(cells(row) for row in rows)]
    return aligned(lines, left={0, 1, 2, 7})


def compile_mlflow() -> str:
    """MLflow's bytecode, compiled as ``pip install`` does (it usually is already), so that no
    MLflow process pays for compiling what it imports; see run.py's compile_bytecode."""
    import mlflow

    package = str(Path(mlflow.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", package], capture_output=True, text=True
    )
    return f"compiled for {package}" if done.returncode == 0 else f"compiling {package} failed"


def ledger_has_query(ledger: Path) -> bool:
    probe = (
        "from ledger.api import Ledger\n"
        "raise SystemExit(not callable(getattr(Ledger, 'query', None)))"
    )
    python = python_of(ledger)
    return subprocess.run([python, "-c", probe], capture_output=True, env=git_env()).returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=TARGET_SIZE, help="default 10000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best of)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the ledger and store here")
    parser.add_argument(
        "--sides", type=listed(SIDES, "side"), default=list(SIDES), help="default mlflow,ledger"
    )
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ledger", type=Path, help="the ledger executable")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.records < 1:
        parser.error("--repeat and --records must be at least 1")
    os.environ.update(MLFLOW_ENV)  # for this process and every one it starts
    ledger = find_ledger(args.ledger)
    on_ledger = LEDGER in args.sides
    has_query = ledger_has_query(ledger) if on_ledger else False
    if on_ledger and not has_query:
        note(
            f"error: the ledger of {ledger} has no Ledger.query (ledger.api): the ledger side "
            "cannot be timed until the query API lands; timing MLflow only, exit code 1"
        )
    bytecode = {"ledger": compile_bytecode(ledger) if on_ledger else "-"}
    bytecode["mlflow"] = compile_mlflow() if MLFLOW in args.sides else "-"
    rows: list[Row] = []
    problems: list[str] = []
    found: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ledger-query-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        cache = args.keep.resolve() if args.keep else scratch / "repos"
        cache.mkdir(parents=True, exist_ok=True)
        size = prepare(cache, args.records, args.seed)
        head = git_output(size.repo, "rev-parse", "HEAD").strip()
        specs = run_specs(read_records(size.repo))
        timed = queries(specs)
        truths = {query.name: query.answer(specs) for query in timed}
        logged = None
        if MLFLOW in args.sides:
            folder = cache / f"mlflow-n{args.records}-s{args.seed}"
            logged = log_runs(folder, specs, head)
            for query in timed:
                note(f"MLflow search_runs: {query.mlflow_filter} …")
                got, result = time_mlflow(logged, query, args.repeat, scratch)
                rows += got
                found[f"{query.name}/mlflow"] = result
                problems += check(query, truths[query.name], "MLflow", result)
        if on_ledger and has_query:
            # The ledger's kept state is written into a copy: the cached ledger stays as built.
            copy = scratch / size.repo.name
            note(f"copying {size.repo} to {copy} …")
            shutil.copytree(size.repo, copy, symlinks=True)
            shutil.rmtree(copy / ".git" / "ledger", ignore_errors=True)
            for query in timed:
                note(f"ledger query: {query.ledger_filter} …")
                got, cli, api = time_ledger(ledger, copy, query, args.repeat, scratch)
                rows += got
                found[f"{query.name}/command"], found[f"{query.name}/api"] = cli, api
                problems += check(query, truths[query.name], "ledger query", cli)
                problems += check(query, truths[query.name], "Ledger.query", api)
        elif on_ledger:
            rows += [
                Row(q.name, LEDGER, name, status="missing", error="no Ledger.query")
                for q in timed
                for name in ("command", "first query", "second query")
            ]
    order = [query.name for query in timed]
    rows.sort(key=lambda r: (order.index(r.query), SIDES.index(r.side)))
    judge(rows, args.records)
    failed = [row for row in rows if row.status != "ok"]
    for problem in problems:
        note(f"MISMATCH {problem}")
    code = 1 if failed or problems else 0
    info = {
        "records": args.records,
        "ledger_repo": str(size.repo),
        "ledger_head": head,
        "ledger": str(ledger),
        "ledger_version": version_of([str(ledger), "--version"]),
        "bytecode": bytecode,
        "repeat": args.repeat,
        "sides": args.sides,
        "logged": asdict(logged) if logged else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "targets": {
            "command": f"<= {CLI_LIMIT_S:g} s wall, start-up included (at {TARGET_SIZE:,})",
            "second query": f">= {SPEED_UP:g}x faster than MLflow's second call "
            f"(at {TARGET_SIZE:,})",
        },
    }
    if args.json:
        report = {
            **info,
            "queries": [
                {
                    "name": q.name,
                    "mlflow_filter": q.mlflow_filter,
                    "ledger_filter": q.ledger_filter,
                    "order_by": q.order_by,
                    "limit": q.limit,
                    "columns": q.columns,
                    "expected": len(truths[q.name][1] if q.value_column else truths[q.name][0]),
                }
                for q in timed
            ],
            "rows": [asdict(row) for row in rows],
            "found": {
                key: {k: v for k, v in value.items() if k != "ids"} for key, value in found.items()
            },
            "mismatches": problems,
        }
        print(json.dumps(report, indent=2))
        return code
    print_text(info, timed, truths, rows, logged)
    for problem in problems:
        print(f"MISMATCH {problem}")
    if on_ledger and not has_query:
        print(f"missing: the ledger side; {ledger} has no Ledger.query (ledger.api)")
    for row in failed:
        if row.status != "missing":
            print(f"{row.status}: {row.side} {row.measurement} for {row.query!r}")
    return code


def print_text(
    info: dict[str, Any],
    timed: Sequence[Query],
    truths: dict[str, tuple[list[str], list[float]]],
    rows: Sequence[Row],
    logged: Logged | None,
) -> None:
    machine = info["machine"]
    print(
        f"{info['records']:,} records at {info['ledger_head'][:12]} ({info['ledger_repo']}); "
        f"{info['ledger']} ({info['ledger_version']}); wall clock, best of {info['repeat']}; "
        f"{machine['cpus']} CPUs, Python {machine['python']}"
    )
    if logged is not None:
        kinds = ", ".join(f"{n:,} {kind}s" for kind, n in sorted(logged.kinds.items()))
        when = " (by an earlier run; the store is reused)" if logged.reused else ""
        print(
            f"MLflow {logged.mlflow} FileStore {logged.uri}: {logged.runs:,} runs, one per record "
            f"version ({kinds}); logging took {logged.seconds:.1f} s{when}, "
            f"{logged.runs / max(logged.seconds, 1e-9):,.0f} runs/s with MlflowClient create_run "
            "+ log_batch + set_terminated"
        )
    print("ledger side: every record version (--all-versions / all_versions=True)")
    print(f"bytecode: {info['bytecode']}")
    for query in timed:
        ids, values = truths[query.name]
        order = f", order by {query.order_by}, limit {query.limit}" if query.order_by else ""
        print(f"{query.name}: {len(values) if query.value_column else len(ids):,} expected{order}")
        print(f"  MLflow: {query.mlflow_filter}")
        print(f"  ledger: {query.ledger_filter}")
    print()
    print(table(rows))
    print()
    for key, text in info["targets"].items():
        print(f"target, {MEASUREMENTS[key]}: {text}")


if __name__ == "__main__":
    sys.exit(main())
