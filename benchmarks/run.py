"""Time every ledger command against the raw git work beneath it, on generated ledgers.

    python benchmarks/run.py [--sizes 1000,10000,100000] [--commands verify,lineage-json]
        [--modes cold,warm,commit] [--repeat 3] [--keep DIR] [--timeout S] [--json]

For each size N, a ledger of N records over N commits is generated (benchmarks/generate.py) or
reused from --keep DIR. Measured in the same run, as references:

- the raw git floor: one ``git log --raw`` walk of records/ and the DVC files (WALK), plus
  ``git ls-tree`` and one ``git cat-file --batch`` of every record blob at HEAD;
- the fastest walk git can do of the same history: FASTEST_WALK, WALK without a pathspec;
- Python start-up (``python -c pass``) and ``ledger --version``.

Then each ledger command (COMMANDS), as a subprocess with its output read in full, in modes:

- cold: ``.git/ledger`` (ledger's kept state) deleted right before the run;
- warm: the same command again right after a cold run;
- commit: from a kept state at HEAD (``ledger verify`` ran once), one new commit adding one
  valid record, then verify, lineage or provenance; done in a scratch copy of the repository.

Each figure is the best of --repeat wall-clock runs; peak memory is the largest over them. The
table gives each time as a ratio to the floor and to the fastest walk, and flags the targets
(TARGETS below) at 10,000 and 100,000 records. Progress goes to stderr.
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import (
    GENERATOR_VERSION,
    MARKER,
    ExtraCommit,
    add_commit,
    generate,
    git_env,
    git_output,
    next_commit,
    templates_digest,
)

# The fields ledger's history walk asks git for: commit, parents, author, committer,
# signature state, message and trailers, separated by control characters.
WALK_FIELDS: Final = (
    *("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI"),
    *("%G?", "%GS", "%GK", "%B", "%(trailers:unfold)"),
)
WALK_FORMAT: Final = "%x1e" + "%x1f".join(WALK_FIELDS) + "%x1f"
FASTEST_WALK: Final = (
    *("git", "log", "--raw", "--no-renames", "--no-abbrev", "-z"),
    f"--format={WALK_FORMAT}",
    "HEAD",
)
WALK: Final = (*FASTEST_WALK, "--", "records/", "*.dvc", "*dvc.lock")
LS_TREE: Final = ("git", "ls-tree", "-r", "HEAD", "--", "records/")
CAT_FILE: Final = ("git", "cat-file", "--batch")

STATE: Final = Path(".git", "ledger")  # ledger's kept state, inside the repository
ACCEPT: Final = (0, 1)  # ledger's exit codes for "done" and "the ledger has problems"

COLD: Final = "cold"
WARM: Final = "warm"
COMMIT: Final = "commit"  # after one new commit on a kept state
MODES: Final = (COLD, WARM, COMMIT)
MODE_TITLES: Final = {COLD: "cold", WARM: "warm", COMMIT: "+1 commit", "ref": "reference"}

# Targets (issue 8). At BASE records: every command cold at most COLD_LIMIT x the floor; after
# one new commit, verify, lineage and provenance within COMMIT_SLACK seconds of Python start-up;
# peak below PEAK_LIMIT_MB. At LARGE records: every command completes, peak below the limit,
# and time SCALE_LOW to SCALE_HIGH x the BASE figure of the same command and mode.
BASE: Final = 10_000
LARGE: Final = 100_000
COLD_LIMIT: Final = 2.0
COMMIT_SLACK: Final = 0.5
PEAK_LIMIT_MB: Final = {BASE: 500, LARGE: 2048}
SCALE_LOW: Final = 7.0
SCALE_HIGH: Final = 13.0
TARGETS: Final = {
    "floor": f"cold <= {COLD_LIMIT:g}x the raw git floor (at {BASE:,})",
    "commit": f"+1 commit <= Python start-up + {COMMIT_SLACK:g} s (at {BASE:,})",
    "peak": ", ".join(f"peak < {mb:,} MB (at {n:,})" for n, mb in PEAK_LIMIT_MB.items()),
    "scale": f"{SCALE_LOW:g}x to {SCALE_HIGH:g}x the {BASE:,} figure (at {LARGE:,})",
}


@dataclass(frozen=True)
class Subjects:
    """What the commands of one repository are run on, picked from its generated records."""

    middle: str  # commit N/2
    evaluations: tuple[str, str] | None  # an evaluation and the one it supersedes
    record: str  # a record ref for show and log
    export_zip: Path  # outside the repository
    model: str | None = None  # the latest version of the first model, for technical-file


@dataclass(frozen=True)
class Command:
    args: Callable[[Subjects], tuple[str, ...] | None]  # None: nothing to run it on
    after_commit: bool = False  # also measured after one new commit


#: A filter on a metric and a kind: what a team asks of its evaluations.
QUERY: Final = "metrics.sensitivity > 0.8 and kind = 'evaluation'"

COMMANDS: Final[dict[str, Command]] = {
    "validate": Command(lambda s: ("validate", "--format", "json")),
    "verify": Command(lambda s: ("verify", "--format", "json"), after_commit=True),
    "lineage-json": Command(lambda s: ("lineage", "--format", "json"), after_commit=True),
    "lineage-html": Command(lambda s: ("lineage", "--format", "html")),
    "provenance-json": Command(lambda s: ("provenance", "--format", "json"), after_commit=True),
    "provenance-ndjson": Command(lambda s: ("provenance", "--format", "ndjson")),
    "provenance-provn": Command(lambda s: ("provenance", "--format", "provn")),
    "diff": Command(lambda s: ("diff", s.middle, "HEAD", "--format", "json")),
    "compare": Command(lambda s: ("compare", *s.evaluations) if s.evaluations else None),
    "export": Command(lambda s: ("export", "-o", str(s.export_zip))),
    "show": Command(lambda s: ("show", s.record)),
    "show-rev": Command(lambda s: ("show", s.record, "--rev", "HEAD")),
    "log": Command(lambda s: ("log", s.record)),
    "list": Command(lambda s: ("list", "--format", "json")),
    "query": Command(
        lambda s: ("query", QUERY, "--all-versions", "--format", "json"), after_commit=True
    ),
    "status": Command(lambda s: ("status", "--format", "json")),
    "coverage": Command(lambda s: ("coverage", "--format", "json")),
    "technical-file": Command(
        lambda s: ("technical-file", s.model, "--format", "html") if s.model else None
    ),
    # Beside the export: outside the repository, replaced by the next run (its manifest).
    "report": Command(lambda s: ("report", "-o", str(s.export_zip.with_name("report")))),
}

# Runs one command in a fresh process and reports its wall time and peak memory. RUSAGE_CHILDREN
# covers only children this helper waited for, so nothing else the benchmark ran is counted.
# The command runs in its own process group, which is killed when it exceeds the timeout.
_MEASURE: Final = """\
import json, os, resource, signal, subprocess, sys, tempfile, threading, time
spec = json.loads(sys.argv[1])
stdin = open(spec["stdin"], "rb") if spec["stdin"] else subprocess.DEVNULL
timed_out = threading.Event()
with tempfile.TemporaryFile() as errors:
    started = time.perf_counter()
    child = subprocess.Popen(
        spec["argv"], stdin=stdin, stdout=subprocess.PIPE, stderr=errors,
        start_new_session=True,
    )
    def stop():
        timed_out.set()
        os.killpg(child.pid, signal.SIGKILL)
    timer = threading.Timer(spec["timeout"], stop) if spec["timeout"] else None
    if timer:
        timer.start()
    size = 0
    while chunk := child.stdout.read(1 << 20):
        size += len(chunk)
    code = child.wait()
    seconds = time.perf_counter() - started
    if timer:
        timer.cancel()
    errors.seek(0)
    stderr = errors.read()
print(json.dumps({
    "seconds": seconds,
    "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "code": code,
    "stdout_bytes": size,
    "stderr": stderr[-4000:].decode(errors="replace"),
    "timed_out": timed_out.is_set(),
    "traceback": b"Traceback (most recent call last)" in stderr,
}))
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_kb: int
    code: int
    stdout_bytes: int
    stderr: str  # the end of it
    timed_out: bool
    traceback: bool  # Python crashed: exit code 1, but not "the ledger has problems"

    def failed(self, accept: Sequence[int]) -> bool:
        return self.timed_out or self.code not in accept or self.traceback

    def then(self, other: Run) -> Run:
        """This run and ``other`` after it, as one figure."""
        return Run(
            self.seconds + other.seconds,
            max(self.peak_kb, other.peak_kb),
            max(self.code, other.code),
            self.stdout_bytes + other.stdout_bytes,
            self.stderr + other.stderr,
            self.timed_out or other.timed_out,
            self.traceback or other.traceback,
        )


@dataclass
class Row:
    records: int
    command: str
    mode: str  # cold, warm, commit or ref (a reference measurement)
    argv: list[str]
    status: str = "ok"  # ok, timeout or error
    seconds: float | None = None  # best of the runs; None unless ok
    runs: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    exit: int | None = None  # the largest exit code over the runs
    error: str = ""
    x_floor: float | None = None
    x_fastest: float | None = None
    targets: dict[str, str] = field(default_factory=dict)  # TARGETS key -> ok or MISS


@dataclass
class Size:
    """One generated repository and its reference figures."""

    records: int
    repo: Path
    generated_s: float | None  # None when it came from the cache
    floor_s: float = 0.0
    fastest_s: float = 0.0
    startup_s: float = 0.0
    subjects: dict[str, Any] = field(default_factory=dict)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure(
    argv: Sequence[str], cwd: Path, timeout: float | None, stdin: Path | None = None
) -> Run:
    spec = {"argv": list(argv), "stdin": str(stdin) if stdin else None, "timeout": timeout}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(spec)],
        cwd=cwd,
        env=git_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=None if timeout is None else timeout + 120,
    )
    return Run(**json.loads(done.stdout))


def finish(row: Row, runs: Sequence[Run], accept: Sequence[int]) -> Row:
    """Fill ``row`` from its runs; a timeout or an unexpected exit code ends it as such."""
    row.runs = [round(run.seconds, 3) for run in runs]
    row.peak_mb = round(max((run.peak_kb for run in runs), default=0) / 1024, 1)
    row.exit = max((run.code for run in runs), default=None)
    failed = next((run for run in runs if run.failed(accept)), None)
    if failed is None:
        row.seconds = round(min(run.seconds for run in runs), 3)
        # A long run (100,000 records takes hours) leaves its figures as it goes.
        note(f"  {row.command} {row.mode}: {row.seconds} s, peak {row.peak_mb:,.0f} MB")
    elif failed.timed_out:
        row.status = "timeout"
        note(f"  timeout: `{shlex.join(row.argv)}` ran over {failed.seconds:.0f} s; stopped")
    else:
        row.status, row.error = "error", failed.stderr.strip()
        note(
            f"error: `{shlex.join(row.argv)}` exited {failed.code} at N={row.records:,}:\n"
            + (row.error or "(nothing on stderr)")
        )
    return row


def wipe_state(repo: Path) -> None:
    shutil.rmtree(repo / STATE, ignore_errors=True)


def prepare(cache: Path, records: int, seed: int) -> Size:
    """A generated repository of ``records`` records over as many commits, cached by size."""
    repo = cache / f"ledger-n{records}-m{records}-s{seed}"
    marker = repo / ".git" / MARKER
    if marker.is_file():
        built = json.loads(marker.read_text(encoding="utf-8"))
        current = {"generator_version": GENERATOR_VERSION, "templates": templates_digest()}
        if all(built.get(key) == value for key, value in current.items()):
            note(f"reusing {repo}")
            return Size(records, repo, None)
        shutil.rmtree(repo)  # built by another generator or templates: ours to replace
    elif repo.exists():
        raise SystemExit(f"run.py: {repo} exists but was not made by generate.py; remove it")
    note(f"generating {records:,} records over {records:,} commits in {repo} …")
    summary = generate(repo, records, records, seed)
    note(f"  generated in {summary['seconds']:.1f} s")
    return Size(records, repo, float(summary["seconds"]))


def pick_subjects(repo: Path, export_zip: Path) -> Subjects:
    count = int(git_output(repo, "rev-list", "--count", "HEAD"))
    middle = git_output(repo, "rev-parse", f"HEAD~{count - max(count // 2, 1)}").strip()
    versions: dict[tuple[str, str], list[str]] = {}
    for path in git_output(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", "records/").split():
        parts = path.split("/")
        if len(parts) == 4 and parts[3].endswith(".json"):
            versions.setdefault((parts[1], parts[2]), []).append(parts[3].removesuffix(".json"))
    if not versions:
        raise SystemExit(f"run.py: {repo} has no records")
    refs = {
        key: [f"{key[0]}:{key[1]}@{v}" for v in sorted(found, key=version_key)]
        for key, found in sorted(versions.items())
    }
    evaluations = [found for (kind, _), found in refs.items() if kind == "evaluation"]
    superseded = next((found[-2:] for found in evaluations if len(found) > 1), None)
    if superseded is not None:
        pair: tuple[str, str] | None = (superseded[0], superseded[1])
    elif len(evaluations) > 1:
        pair = (evaluations[0][-1], evaluations[1][-1])
    else:
        pair = None
    record = pair[1] if pair else next(iter(refs.values()))[-1]
    model = next((found[-1] for (kind, _), found in refs.items() if kind == "model"), None)
    return Subjects(middle, pair, record, export_zip, model)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def python_of(ledger: Path) -> str:
    """The Python that runs ``ledger``: its script's interpreter, else this one."""
    try:
        with ledger.open("rb") as script:
            first = script.readline().decode(errors="replace")
    except OSError:
        first = ""
    interpreter = first.removeprefix("#!").split()[0] if first.startswith("#!") else ""
    return interpreter if Path(interpreter).name.startswith("python") else sys.executable


def references(size: Size, ledger: Path, repeat: int, timeout: float | None) -> list[Row]:
    """The raw git floor, its parts, the fastest walk and start-up times."""
    repo, n = size.repo, size.records
    note(f"N={n:,}: raw git floor, fastest walk, start-up …")

    def best(name: str, argv: Sequence[str], stdin: Path | None = None) -> Row:
        row = Row(n, name, "ref", list(argv))
        return finish(row, [measure(argv, repo, timeout, stdin) for _ in range(repeat)], (0,))

    walk = best("git walk", WALK)
    listed = git_output(repo, *LS_TREE[1:])
    ids = [
        meta.split()[2]
        for meta, _, path in (line.partition("\t") for line in listed.splitlines())
        if meta.split()[1] == "blob" and path.endswith(".json")
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".ids") as batch:
        batch.write("".join(f"{i}\n" for i in ids))
        batch.flush()
        ids_file = Path(batch.name)
        runs = [
            measure(LS_TREE, repo, timeout).then(measure(CAT_FILE, repo, timeout, ids_file))
            for _ in range(repeat)
        ]
    blobs = finish(Row(n, "git blobs", "ref", [*LS_TREE, "|", *CAT_FILE]), runs, (0,))
    floor = Row(n, "git floor", "ref", ["walk + blobs"])
    if walk.seconds is not None and blobs.seconds is not None:
        floor.seconds = round(walk.seconds + blobs.seconds, 3)
    else:
        floor.status = walk.status if walk.seconds is None else blobs.status
    floor.peak_mb = max(walk.peak_mb, blobs.peak_mb)
    fastest = best("git fastest walk", FASTEST_WALK)
    startup = best("python start-up", (python_of(ledger), "-c", "pass"))
    version = best("ledger --version", (str(ledger), "--version"))
    size.floor_s = floor.seconds or 0.0
    size.fastest_s = fastest.seconds or 0.0
    size.startup_s = startup.seconds or 0.0
    return [floor, walk, blobs, fastest, startup, version]


def bench_command(
    size: Size,
    name: str,
    argv: Sequence[str],
    modes: Sequence[str],
    repeat: int,
    timeout: float | None,
    output: Path,
) -> list[Row]:
    """Cold and warm rows: each repetition starts cold, then runs again on the kept state.
    ``output`` (a file the command may write) is removed before every run."""
    cold_runs: list[Run] = []
    warm_runs: list[Run] = []
    for _ in range(repeat):
        wipe_state(size.repo)
        output.unlink(missing_ok=True)
        cold_runs.append(measure(argv, size.repo, timeout))
        if cold_runs[-1].failed(ACCEPT):
            break
        if WARM in modes:
            output.unlink(missing_ok=True)
            warm_runs.append(measure(argv, size.repo, timeout))
            if warm_runs[-1].failed(ACCEPT):
                break
    rows = []
    if COLD in modes or not warm_runs:  # a cold run that failed is reported either way
        rows.append(finish(Row(size.records, name, COLD, list(argv)), cold_runs, ACCEPT))
    if warm_runs:
        rows.append(finish(Row(size.records, name, WARM, list(argv)), warm_runs, ACCEPT))
    return rows


@contextmanager
def scratch_copy(repo: Path) -> Iterator[Path]:
    """A copy of ``repo`` to commit in, next to it, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"{repo.name}-commit-", dir=repo.parent) as scratch:
        copy = Path(scratch, repo.name)
        note(f"  copying {repo} to {copy} …")
        shutil.copytree(repo, copy, symlinks=True)
        yield copy


def bench_after_commit(
    size: Size,
    ledger: Path,
    commands: Sequence[tuple[str, tuple[str, ...]]],
    repeat: int,
    timeout: float | None,
) -> list[Row]:
    """From what the commands kept at HEAD, one new commit, then each command; in a scratch
    copy, which is reset to HEAD and the kept state before every run, so the cached repository
    is never touched."""
    with scratch_copy(size.repo) as copy:
        wipe_state(copy)
        extra: ExtraCommit = next_commit(copy)
        # Each command runs once before the commit, as a user's earlier run would have: what
        # it keeps (the state, and the values its view derives) is what it starts from after.
        for name, args in commands:
            prime = [str(ledger), *args]
            note(f"N={size.records:,}: ledger {shlex.join(args)} before the new commit …")
            primed = measure(prime, copy, timeout)
            if primed.failed(ACCEPT):  # no kept state to start from: each fails the same
                note(f"N={size.records:,}: keeping a state before the new commit failed")
                return [
                    finish(Row(size.records, name, COMMIT, prime), [primed], ACCEPT)
                    for name, _ in commands
                ]
        kept = copy.parent / "kept-state"
        if (copy / STATE).is_dir():
            shutil.copytree(copy / STATE, kept, symlinks=True)
        rows = []
        for name, args in commands:
            argv = [str(ledger), *args]
            note(f"N={size.records:,}: ledger {shlex.join(args)} after one new commit …")
            runs: list[Run] = []
            for _ in range(repeat):
                git_output(copy, "reset", "-q", "--hard", extra.parent)
                wipe_state(copy)
                if kept.is_dir():
                    shutil.copytree(kept, copy / STATE, symlinks=True)
                add_commit(copy, extra)
                runs.append(measure(argv, copy, timeout))
                if runs[-1].failed(ACCEPT):
                    break
            rows.append(finish(Row(size.records, name, COMMIT, argv), runs, ACCEPT))
        return rows


def bench(
    size: Size,
    ledger: Path,
    names: Sequence[str],
    modes: Sequence[str],
    repeat: int,
    timeout: float | None,
    scratch: Path,
) -> list[Row]:
    refs = references(size, ledger, repeat, timeout)
    rows: list[Row] = []
    subjects = pick_subjects(size.repo, scratch / "export.zip")
    size.subjects = {
        "middle": subjects.middle,
        "evaluations": list(subjects.evaluations or ()),
        "record": subjects.record,
    }
    after_commit: list[tuple[str, tuple[str, ...]]] = []
    try:
        for name in names:
            args = COMMANDS[name].args(subjects)
            if args is None:
                note(f"N={size.records:,}: nothing to run `{name}` on at this size; skipped")
                continue
            if COLD in modes or WARM in modes:
                note(f"N={size.records:,}: ledger {shlex.join(args)} …")
                argv = [str(ledger), *args]
                rows += bench_command(size, name, argv, modes, repeat, timeout, subjects.export_zip)
            subjects.export_zip.unlink(missing_ok=True)
            if COMMIT in modes and COMMANDS[name].after_commit:
                after_commit.append((name, args))
    finally:
        wipe_state(size.repo)  # leave the cached repository as generated
    if after_commit:
        rows += bench_after_commit(size, ledger, after_commit, repeat, timeout)
    order = list(COMMANDS)
    rows.sort(key=lambda row: (order.index(row.command), MODES.index(row.mode)))
    return refs + rows


def judge(rows: Sequence[Row], sizes: Sequence[Size]) -> None:
    """Ratios to the references, and each target that applies: ok or MISS."""
    by_size = {size.records: size for size in sizes}
    base = {(r.command, r.mode): r.seconds for r in rows if r.records == BASE}
    for row in rows:
        size = by_size[row.records]
        if row.seconds is not None:
            row.x_floor = round(row.seconds / size.floor_s, 2) if size.floor_s else None
            row.x_fastest = round(row.seconds / size.fastest_s, 2) if size.fastest_s else None
        if row.mode != "ref" and row.records in (BASE, LARGE):
            row.targets = targets(row, size, base.get((row.command, row.mode)))


def targets(row: Row, size: Size, base_s: float | None) -> dict[str, str]:
    """The targets that apply to ``row``; a run that did not complete misses all of them."""
    seconds = row.seconds
    checks: dict[str, bool] = {"peak": row.peak_mb < PEAK_LIMIT_MB[row.records]}
    if row.records == BASE and row.mode == COLD:
        checks["floor"] = seconds is not None and seconds <= COLD_LIMIT * size.floor_s
    elif row.records == BASE and row.mode == COMMIT:
        checks["commit"] = seconds is not None and seconds <= size.startup_s + COMMIT_SLACK
    if row.records == LARGE and (base_s or seconds is None):
        scale = seconds / base_s if seconds is not None and base_s else 0.0
        checks["scale"] = SCALE_LOW <= scale <= SCALE_HIGH
    return {key: "ok" if seconds is not None and ok else "MISS" for key, ok in checks.items()}


COLUMNS: Final = ("N", "command", "mode", "seconds", "x floor", "x fastest", "peak MB", "exit")


def cells(row: Row) -> list[str]:
    seconds = f"{row.seconds:.2f}" if row.seconds is not None else row.status
    ratios = [f"{r:.2f}" if r is not None else "-" for r in (row.x_floor, row.x_fastest)]
    return [
        f"{row.records:,}",
        row.command,
        MODE_TITLES[row.mode],
        seconds,
        *ratios,
        f"{row.peak_mb:.0f}",
        "-" if row.exit is None else str(row.exit),
        *(row.targets.get(key, "-") for key in TARGETS),
    ]


def table(rows: Sequence[Row]) -> str:
    # Command and mode read better left-aligned.
    return aligned([[*COLUMNS, *TARGETS], *(cells(row) for row in rows)], left={1, 2})


def aligned(lines: Sequence[Sequence[str]], left: set[int]) -> str:
    """A header line, a rule, then the lines; columns ``left`` aligned left, numbers right."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    out = [fmt(lines[0]), "  ".join("-" * w for w in widths)]
    return "\n".join([*out, *(fmt(line) for line in lines[1:])])


def find_ledger(given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    beside = Path(sys.executable).with_name("ledger")
    if beside.is_file():
        return beside
    found = shutil.which("ledger")
    if found is None:
        raise SystemExit("run.py: no `ledger` command found; install ledger or pass --ledger")
    return Path(found)


def compile_bytecode(ledger: Path) -> str:
    """Compile the bytecode of the ledger package that ``ledger`` runs, as ``pip install``
    does, and say where. An editable install run with PYTHONDONTWRITEBYTECODE set (as some
    sandboxes and containers do) would otherwise compile every module it imports on every
    run: about 0.3 s of each command, which users of an installed ledger never pay."""
    python = python_of(ledger)
    where = [python, "-c", "import ledger, os; print(os.path.dirname(ledger.__file__))"]
    found = subprocess.run(where, capture_output=True, text=True, env=git_env())
    package = found.stdout.strip()
    if found.returncode != 0 or not package:
        return f"the ledger package of {python} not found; timing as it is"
    compiled = subprocess.run(
        [python, "-m", "compileall", "-q", package], capture_output=True, text=True
    )
    if compiled.returncode != 0:
        return f"compiling {package} failed; timing as it is"
    return f"compiled for {package}"


def listed(choices: Sequence[str], what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [value for value in values if value not in choices]
        if unknown or not values:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(none given)'}; "
                f"choose from {','.join(choices)}"
            )
        return [choice for choice in choices if choice in values]

    return parse


def sizes(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes like 1000,10000") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive whole numbers")
    return values


def version_of(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=git_env())
    return done.stdout.strip() or done.stderr.strip()[-200:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=sizes, default=[1000, 10000], help="records (= commits); default 1000,10000"
    )
    parser.add_argument(
        "--commands",
        type=listed(tuple(COMMANDS), "command"),
        default=list(COMMANDS),
        help=f"default all: {','.join(COMMANDS)}",
    )
    parser.add_argument(
        "--modes",
        type=listed(MODES, "mode"),
        default=list(MODES),
        help=f"default all: {','.join(MODES)} (commit: after one new commit)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best of)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="cache generated repos here")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a run after this")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ledger", type=Path, help="the ledger executable")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be positive")
    ledger = find_ledger(args.ledger)
    note(f"timing {ledger} ({version_of([str(ledger), '--version'])})")
    bytecode = compile_bytecode(ledger)
    note(f"bytecode: {bytecode}")
    rows: list[Row] = []
    done: list[Size] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as scratch:
        cache = args.keep.resolve() if args.keep else Path(scratch, "repos")
        cache.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            size = prepare(cache, n, args.seed)
            done.append(size)
            rows += bench(
                size, ledger, args.commands, args.modes, args.repeat, args.timeout, Path(scratch)
            )
    judge(rows, done)
    failed = [row for row in rows if row.status == "error"]
    if args.json:
        report = {
            "ledger": str(ledger),
            "bytecode": bytecode,
            "commands": {name: COMMANDS[name].after_commit for name in args.commands},
            "modes": args.modes,
            "repeat": args.repeat,
            "timeout": args.timeout,
            "raw_git": {
                "walk": list(WALK),
                "blobs": [list(LS_TREE), list(CAT_FILE)],
                "fastest_walk": list(FASTEST_WALK),
            },
            "targets": TARGETS,
            "machine": machine(ledger),
            "sizes": [{**asdict(size), "repo": str(size.repo)} for size in done],
            "rows": [asdict(row) for row in rows],
        }
        print(json.dumps(report, indent=2))
        return 1 if failed else 0
    info = machine(ledger)
    print(
        f"{ledger} ({info['ledger']}); wall clock, best of {args.repeat}; "
        f"{info['cpus']} CPUs, git {info['git']}, Python {info['python']}"
    )
    print(f"floor: `{shlex.join(WALK)}` + `{shlex.join(LS_TREE)}` | `{shlex.join(CAT_FILE)}`")
    print(f"fastest walk: `{shlex.join(FASTEST_WALK)}`")
    print(f"bytecode: {bytecode}")
    print()
    print(table(rows))
    print()
    for key, text in TARGETS.items():
        print(f"{key}: {text}")
    for size in done:
        if size.generated_s is not None:
            print(f"generated N={size.records:,} in {size.generated_s:.1f} s")
    for row in failed:
        print(f"error: `{shlex.join(row.argv)}` exited {row.exit} at N={row.records:,}")
    return 1 if failed else 0


def machine(ledger: Path) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "git": version_of(["git", "--version"]).removeprefix("git version "),
        "python": platform.python_version(),
        "system": platform.platform(),
        "ledger": version_of([str(ledger), "--version"]),
    }


if __name__ == "__main__":
    sys.exit(main())
