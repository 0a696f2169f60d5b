"""A mutation suite: random single-value edits of committed records, links, snapshots and DVC
files, committed on top of the demo in a linear history, on a merged side branch, and inside
a merge commit's own changes (an "evil merge"). Every one must be caught; every change that
keeps each record's canonical content (re-indenting, reordering keys, escaping characters,
another spelling of a number, a file mode) must not be flagged.

Each verify starts from the state kept at the demo's head, so it also checks the incremental
path: its findings must be those of a run with nothing kept. The sample is seeded and
bounded for CI (``LEDGER_MUTATIONS`` per history, default 12; ``LEDGER_MUTATION_SEED``); the
counts are printed (``pytest -s``) for a longer run to report.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.api import Ledger
from ledger.records.serialize import dumps_record
from tests.conftest import git

RECORDS = [
    "records/dataset/sepsis-cohort/1.0.json",
    "records/dataset/sepsis-cohort/1.1.json",
    "records/dataset/sepsis-test/1.0.json",
    "records/model/sepsis-risk/1.0.json",
    "records/model/sepsis-risk/1.1.json",
    "records/evaluation/sepsis-risk-heldout/1.0.json",
    "records/evaluation/sepsis-risk-heldout/1.1.json",
]
DVC_FILES = ["data/cohort.csv.dvc", "data/test.csv.dvc", "models/sepsis-risk.json.dvc"]
HISTORIES = ("linear", "side-branch", "evil-merge")
PER_HISTORY = int(os.environ.get("LEDGER_MUTATIONS", "12"))
SEED = int(os.environ.get("LEDGER_MUTATION_SEED", "0"))
_HEX = set("0123456789abcdef")
Edit = Callable[[Path], str]  # changes the work tree; returns what it did


@dataclass
class Outcome:
    history: str
    edit: str
    codes: list[str]


@pytest.fixture(scope="module")
def ledger_repo(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One copy of the demo, reset to its head between mutations, its state kept at the head."""
    copy = tmp_path_factory.mktemp("mutations") / "repo"
    shutil.copytree(demo_repo, copy, symlinks=True)
    git("branch", "demo-head", "HEAD", cwd=copy)
    with Ledger.open(copy) as book:
        assert book.verify().ok
    yield copy


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*at, index))
    else:
        yield at, value


def _changed(value: Any, rnd: random.Random) -> Any:
    """Another value of the same shape: what a tamperer would write."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rnd.choice([1, -1, 10])
    if isinstance(value, float):
        return round(value + rnd.choice([0.001, -0.01, 0.05]), 6)
    if isinstance(value, str) and value and set(value.removesuffix(".dir")) <= _HEX:
        at = rnd.randrange(len(value.removesuffix(".dir")))
        flipped = "0" if value[at] != "0" else "1"
        return value[:at] + flipped + value[at + 1 :]  # a digest still well formed
    if isinstance(value, str):
        return value + rnd.choice([" (revised)", "x", "."])
    return "x"  # null


def _set(value: Any, at: tuple[Any, ...], new: Any) -> None:
    for key in at[:-1]:
        value = value[key]
    value[at[-1]] = new


def record_edit(rnd: random.Random) -> Edit:
    relpath = rnd.choice(RECORDS)

    def edit(repo: Path) -> str:
        data = json.loads((repo / relpath).read_text())
        at, old = rnd.choice(list(_leaves(data)))
        _set(data, at, _changed(old, rnd))
        (repo / relpath).write_bytes(dumps_record(data))
        return f"{relpath}#/{'/'.join(map(str, at))}"

    return edit


def dvc_edit(rnd: random.Random) -> Edit:
    relpath = rnd.choice(DVC_FILES)
    field = rnd.choice(["md5", "size", "path", "drop-hash"])

    def edit(repo: Path) -> str:
        data = yaml.safe_load((repo / relpath).read_text())
        out = data["outs"][0]
        if field == "drop-hash":
            del out["hash"]
        else:
            out[field] = _changed(out[field], rnd)
        (repo / relpath).write_text(yaml.safe_dump(data, sort_keys=False))
        return f"{relpath} outs[0].{field}"

    return edit


def delete_edit(rnd: random.Random) -> Edit:
    relpath = rnd.choice(RECORDS)

    def edit(repo: Path) -> str:
        git("rm", "-q", relpath, cwd=repo)
        return f"{relpath} deleted"

    return edit


def _reformat(rnd: random.Random) -> Edit:
    relpath = rnd.choice(RECORDS)
    how = rnd.choice(["indent", "reorder", "escape", "exponent", "mode"])

    def edit(repo: Path) -> str:
        path = repo / relpath
        data = json.loads(path.read_text())
        if how == "indent":
            path.write_text(json.dumps(data, indent=rnd.choice([None, 1, 4, "\t"])))
        elif how == "reorder":
            path.write_text(json.dumps(dict(reversed(list(data.items()))), indent=2))
        elif how == "escape":
            text = json.dumps(data, indent=2, ensure_ascii=True)
            path.write_text(text.replace('"title": "S', '"title": "\\u0053', 1))
        elif how == "exponent":
            text = dumps_record(data).decode()
            floats = [v for _, v in _leaves(data) if isinstance(v, float) and v]
            value = rnd.choice(floats) if floats else None
            if value is not None:
                # The whole number only: ": 0.85" must not rewrite the start of ": 0.851".
                number = re.escape(f": {value!r}")
                text = re.sub(rf"{number}(?=[,\n\]}}])", f": {value:E}", text, count=1)
            path.write_text(text)
        else:
            path.chmod(0o755)
        return f"{relpath} {how}"

    return edit


def _apply(repo: Path, history: str, edit: Edit) -> str:
    """Commit ``edit`` on top of the demo's head the way ``history`` says; what it did."""
    git("reset", "-q", "--hard", "demo-head", cwd=repo)
    git("clean", "-qfdx", "records", "data", "models", cwd=repo)
    if history == "linear":
        return _committed(repo, edit, "Routine update")
    git("checkout", "-q", "-B", "side", cwd=repo)
    if history == "side-branch":
        done = _committed(repo, edit, "Side work")
    else:
        git("commit", "-q", "--allow-empty", "-m", "Side work", cwd=repo)
    git("checkout", "-q", "main-line", cwd=repo)
    git("reset", "-q", "--hard", "demo-head", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "Main work", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=repo)
    if history == "evil-merge":
        done = edit(repo)
        git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Merge side", cwd=repo)
    return done


def _committed(repo: Path, edit: Edit, message: str) -> str:
    done = edit(repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return done


def _verify(repo: Path) -> list[str]:
    """The error codes verify reports, from the kept state, checked against a run that keeps
    nothing."""
    with Ledger.open(repo) as book:
        kept = book.verify()
    fresh = Ledger.open(repo)
    fresh.remember = False
    with fresh:
        again = fresh.verify()
    assert kept.to_json() == again.to_json(), "the incremental findings differ from a full run"
    return sorted({f.code for f in kept.findings if f.severity == "error"})


def _run(repo: Path, makers: list[Callable[[random.Random], Edit]], seed: int) -> list[Outcome]:
    git("checkout", "-q", "-B", "main-line", "demo-head", cwd=repo)
    rnd = random.Random(seed)
    outcomes = []
    try:
        for history in HISTORIES:
            for _ in range(PER_HISTORY):
                edit = rnd.choice(makers)(rnd)
                done = _apply(repo, history, edit)
                outcomes.append(Outcome(history, done, _verify(repo)))
    finally:
        git("checkout", "-q", "-f", "--detach", "demo-head", cwd=repo)
    return outcomes


def _report(title: str, outcomes: list[Outcome]) -> None:
    counts = Counter(code for o in outcomes for code in o.codes)
    print(f"\n{title}: {len(outcomes)} runs; codes {dict(sorted(counts.items()))}")


def test_every_single_value_mutation_is_caught(ledger_repo: Path) -> None:
    outcomes = _run(ledger_repo, [record_edit, record_edit, dvc_edit, delete_edit], SEED)
    _report("mutations", outcomes)
    missed = [o for o in outcomes if not o.codes]
    assert not missed, "\n".join(f"{o.history}: {o.edit}" for o in missed)


def test_no_content_preserving_change_is_flagged(ledger_repo: Path) -> None:
    outcomes = _run(ledger_repo, [_reformat], SEED + 1)
    _report("reformattings", outcomes)
    flagged = [o for o in outcomes if o.codes]
    assert not flagged, "\n".join(f"{o.history}: {o.edit} -> {o.codes}" for o in flagged)
