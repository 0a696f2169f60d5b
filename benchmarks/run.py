"""Time ledger against the raw git work beneath it, on generated ledgers.

    python benchmarks/run.py [--sizes 1000,10000] [--keep DIR] [--json]

For each size N, a ledger of N records over N commits is generated (benchmarks/generate.py) or
reused from --keep DIR. Then, each best of --repeat runs (wall clock, output read in full):

- raw git walk: ``git log --raw --no-renames --no-abbrev -z --format=… HEAD -- records/ '*.dvc'
  dvc.lock``, the one history walk ledger's design allows per command;
- raw git blobs: ``git ls-tree -r HEAD -- records/`` and ``git cat-file --batch`` fed every
  record blob id at HEAD;
- ledger: LEDGER_COMMAND below, as a subprocess, with its peak resident memory.

The ratio is ledger's time over the raw total (walk + blobs): what ledger costs on top of the
git work it cannot avoid. The target is ratio <= 3 and peak < 500 MB at 10,000 records over
10,000 commits.
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import GENERATOR_VERSION, MARKER, generate, git_env, templates_digest

# The ledger command to time. Switch to the fallback (or pass --command) to time another one.
LEDGER_COMMAND: Final = ("verify", "--format", "json")
# Timed instead while `ledger verify` does not exist; it checks the working tree, not history.
FALLBACK_COMMAND: Final = ("validate", "--format", "json")

# The fields ledger's history walk asks git for (ledger/history.py): commit, parents, author,
# committer, signature state, message and trailers, separated by control characters.
WALK_FIELDS: Final = (
    *("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI"),
    *("%G?", "%GS", "%GK", "%B", "%(trailers:unfold)"),
)
WALK_FORMAT: Final = "%x1e" + "%x1f".join(WALK_FIELDS) + "%x1f"
WALK: Final = (
    "git",
    "log",
    "--raw",
    "--no-renames",
    "--no-abbrev",
    "-z",
    f"--format={WALK_FORMAT}",
    "HEAD",
    "--",
    "records/",
    "*.dvc",
    "*dvc.lock",
)
LS_TREE: Final = ("git", "ls-tree", "-r", "HEAD", "--", "records/")
CAT_FILE: Final = ("git", "cat-file", "--batch")

# Runs one command in a fresh process and reports its wall time and peak memory. RUSAGE_CHILDREN
# covers only children this helper waited for, so nothing else the benchmark ran is counted.
_MEASURE: Final = """\
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "code": done.returncode,
    "stdout_bytes": len(done.stdout),
    "stderr": done.stderr.decode(errors="replace")[-2000:],
}))
"""


@dataclass(frozen=True)
class Row:
    records: int
    commits: int
    walk_s: float
    cat_file_s: float
    raw_s: float
    ledger_s: float
    ratio: float
    warm_s: float  # the same command again: files found clean before are only parsed
    warm_ratio: float
    peak_mb: float
    ledger_exit: int
    generate_s: float | None  # None when the repository came from the cache


COLUMNS: Final = (
    ("N", "records", "{:,}"),
    ("commits", "commits", "{:,}"),
    ("raw git walk s", "walk_s", "{:.2f}"),
    ("cat-file s", "cat_file_s", "{:.2f}"),
    ("raw total s", "raw_s", "{:.2f}"),
    ("ledger cold s", "ledger_s", "{:.2f}"),
    ("ratio cold", "ratio", "{:.2f}"),
    ("ledger warm s", "warm_s", "{:.2f}"),
    ("ratio warm", "warm_ratio", "{:.2f}"),
    ("peak MB", "peak_mb", "{:.0f}"),
)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def best_of(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def timed(argv: Sequence[str], cwd: Path, stdin: bytes | None = None) -> tuple[float, bytes]:
    """Wall time of one git command with all of its output read, and that output."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=git_env(), input=stdin, capture_output=True, check=True
    )
    return time.perf_counter() - started, done.stdout


def time_walk(repo: Path) -> float:
    return timed(WALK, repo)[0]


def time_blobs(repo: Path) -> float:
    """List the record blobs at HEAD, feed every id to one cat-file, read everything back."""
    listed, out = timed(LS_TREE, repo)
    ids = [
        meta.split()[2]
        for meta, _, path in (line.partition("\t") for line in out.decode().splitlines())
        if meta.split()[1] == "blob" and path.endswith(".json")
    ]
    read, _ = timed(CAT_FILE, repo, stdin="".join(f"{i}\n" for i in ids).encode())
    return listed + read


def measure_ledger(ledger: Path, command: Sequence[str], repo: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(ledger), *command],
        cwd=repo,
        env=git_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result["code"] not in (0, 1):
        raise RuntimeError(
            f"`ledger {shlex.join(command)}` exited {result['code']} in {repo}: "
            + result["stderr"].strip()
        )
    return result


def prepare(cache: Path, records: int, seed: int) -> tuple[Path, float | None]:
    """A generated repository of ``records`` records over as many commits, cached by size."""
    repo = cache / f"ledger-n{records}-m{records}-s{seed}"
    marker = repo / ".git" / MARKER
    if marker.is_file():
        built = json.loads(marker.read_text(encoding="utf-8"))
        current = {"generator_version": GENERATOR_VERSION, "templates": templates_digest()}
        if all(built.get(key) == value for key, value in current.items()):
            note(f"reusing {repo}")
            return repo, None
        shutil.rmtree(repo)  # built by another generator or templates: ours to replace
    elif repo.exists():
        raise SystemExit(f"run.py: {repo} exists but was not made by generate.py; remove it")
    note(f"generating {records:,} records over {records:,} commits in {repo} …")
    summary = generate(repo, records, records, seed)
    note(f"  generated in {summary['seconds']:.1f} s")
    return repo, float(summary["seconds"])


def bench(
    repo: Path,
    records: int,
    generated: float | None,
    ledger: Path,
    command: Sequence[str],
    repeat: int,
) -> Row:
    note(f"N={records:,}: raw git walk …")
    walk = best_of(repeat, lambda: time_walk(repo))
    note(f"N={records:,}: ls-tree + cat-file …")
    blobs = best_of(repeat, lambda: time_blobs(repo))
    note(f"N={records:,}: ledger {shlex.join(command)} …")
    # Cold: every record file checked in full (--no-cache). Warm: as a team runs it, after a
    # first run remembered the files it found clean.
    cold = (*command, "--no-cache") if command[0] == "verify" else tuple(command)
    runs = [measure_ledger(ledger, cold, repo) for _ in range(repeat)]
    measure_ledger(ledger, command, repo)
    warm_runs = [measure_ledger(ledger, command, repo) for _ in range(repeat)]
    fastest = min(run["seconds"] for run in runs)
    warm = min(run["seconds"] for run in warm_runs)
    raw = walk + blobs
    return Row(
        records=records,
        commits=records,
        walk_s=round(walk, 3),
        cat_file_s=round(blobs, 3),
        raw_s=round(raw, 3),
        ledger_s=round(fastest, 3),
        ratio=round(fastest / raw, 2) if raw else float("inf"),
        warm_s=round(warm, 3),
        warm_ratio=round(warm / raw, 2) if raw else float("inf"),
        peak_mb=round(max(run["maxrss_kb"] for run in [*runs, *warm_runs]) / 1024, 1),
        ledger_exit=max(run["code"] for run in [*runs, *warm_runs]),
        generate_s=generated,
    )


def table(rows: Sequence[Row]) -> str:
    cells = [[title for title, _, _ in COLUMNS]]
    cells += [[fmt.format(getattr(row, key)) for _, key, fmt in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def find_ledger(given: Path | None) -> Path:
    if given is not None:
        return given
    beside = Path(sys.executable).with_name("ledger")
    if beside.is_file():
        return beside
    found = shutil.which("ledger")
    if found is None:
        raise SystemExit("run.py: no `ledger` command found; install ledger or pass --ledger")
    return Path(found)


def choose_command(ledger: Path, given: str | None) -> tuple[tuple[str, ...], str]:
    """The ledger command to time, and a note saying what it is."""
    if given is not None:
        return tuple(shlex.split(given)), "as given with --command"
    probe = subprocess.run(
        [str(ledger), LEDGER_COMMAND[0], "--help"], capture_output=True, env=git_env()
    )
    if probe.returncode == 0:
        return LEDGER_COMMAND, "the committed ledger's integrity (history, links, snapshots)"
    return FALLBACK_COMMAND, (
        f"`ledger {LEDGER_COMMAND[0]}` is not available yet, so this times "
        f"`ledger {shlex.join(FALLBACK_COMMAND)}` instead: the working tree at HEAD, no history"
    )


def sizes(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes like 1000,10000") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive whole numbers")
    return values


def git_version() -> str:
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().removeprefix("git version ")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=sizes, default=[1000, 10000], help="default 1000,10000")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="cache generated repos here")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best of)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ledger", type=Path, help="the ledger executable")
    parser.add_argument("--command", help='ledger arguments to time, e.g. "validate --format json"')
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    ledger = find_ledger(args.ledger)
    command, what = choose_command(ledger, args.command)
    note(f"timing `ledger {shlex.join(command)}`: {what}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as scratch:
        cache = args.keep.resolve() if args.keep else Path(scratch)
        cache.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            repo, generated = prepare(cache, n, args.seed)
            rows.append(bench(repo, n, generated, ledger, command, args.repeat))
    if args.json:
        report = {
            "ledger_command": ["ledger", *command],
            "note": what,
            "raw_git": {
                "walk": list(WALK),
                "blobs": [list(LS_TREE), list(CAT_FILE)],
            },
            "repeat": args.repeat,
            "machine": {
                "cpus": os.cpu_count(),
                "git": git_version(),
                "python": platform.python_version(),
                "system": platform.platform(),
            },
            "rows": [asdict(row) for row in rows],
        }
        print(json.dumps(report, indent=2))
        return 0
    print(f"ledger {shlex.join(command)}: {what}")
    print(f"wall clock, best of {args.repeat}; {os.cpu_count()} CPUs, git {git_version()}")
    print()
    print(table(rows))
    for row in rows:
        if row.ledger_exit:
            print(f"note: at N={row.records:,} ledger exited {row.ledger_exit} (it found problems)")
        if row.generate_s is not None:
            print(f"generated N={row.records:,} in {row.generate_s:.1f} s")
    print("target: ledger verify <= 3x raw git and < 500 MB at 10,000 records over 10,000 commits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
