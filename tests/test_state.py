"""One state, read once and kept: git work that does not grow with the ledger, a kept state
that gives the same answers as a cold read, and one that is discarded when it cannot be trusted.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.checks import phi
from ledger.config import load_config
from ledger.records.canonical import record_hash
from ledger.records.identity import RecordId
from ledger.state.store import Store
from tests.conftest import LEDGER, PROJECT, git, run_ledger

EVAL_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"
TEST_10 = "records/dataset/sepsis-test/1.0.json"


def generated(tmp_path_factory: pytest.TempPathFactory, records: int) -> Path:
    out = tmp_path_factory.mktemp(f"ledger{records}") / "repo"
    script = PROJECT / "benchmarks/generate.py"
    size = str(records)
    subprocess.run(
        [sys.executable, str(script), str(out), "--records", size, "--commits", size],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory, 20)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory, 200)


def _commands(repo: Path) -> dict[str, list[str]]:
    """Arguments of each command, naming records that exist in a generated ledger."""
    evaluations = sorted((repo / "records/evaluation").iterdir())
    first, second = (f"evaluation:{p.name}@1.0" for p in evaluations[:2])
    middle = git("rev-list", "--max-count=1", "--skip=10", "HEAD", cwd=repo).strip()
    return {
        "validate": ["validate", "--format", "json"],
        "verify": ["verify", "--format", "json"],
        "lineage json": ["lineage", "--format", "json"],
        "lineage html": ["lineage", "--format", "html"],
        "provenance": ["provenance"],
        "provenance ndjson": ["provenance", "--format", "ndjson"],
        "diff": ["diff", middle, "HEAD", "--format", "json"],
        "compare": ["compare", first, second, "--format", "json"],
        "export": ["export", "-o", str(repo.parent / "export.zip")],
        "show": ["show", first, "--rev", "HEAD"],
        "log": ["log", first],
    }


def _count_git(repo: Path, args: list[str], wrapper: Path) -> int:
    """How many git processes one cold run of ``ledger ARGS`` starts."""
    shutil.rmtree(repo / ".git/ledger", ignore_errors=True)
    log = wrapper / "calls.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{wrapper}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ledger")), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def git_counter(tmp_path: Path) -> Path:
    """A folder with a ``git`` that logs each call, then runs the real git."""
    real = shutil.which("git")
    assert real is not None
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    script = wrapper / "git"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{wrapper}/calls.log"\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return wrapper


def test_no_command_starts_more_git_processes_for_a_larger_ledger(
    small: Path, large: Path, git_counter: Path
) -> None:
    counts: dict[str, Counter[int]] = {}
    for repo in (small, large):
        for name, args in _commands(repo).items():
            counts.setdefault(name, Counter())[len(list(repo.glob("records/*/*/*.json")))] = (
                _count_git(repo, args, git_counter)
            )
    for name, by_size in counts.items():
        assert len(set(by_size.values())) == 1, (name, by_size)
        assert max(by_size.values()) <= 16, (name, by_size)


def test_a_later_run_walks_only_the_new_commits_and_agrees_with_a_cold_run(repo: Path) -> None:
    with Ledger.open(repo) as book:
        book.verify()
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    data = json.loads((repo / EVAL_11).read_text())
    (repo / EVAL_11).write_text(json.dumps({**data, "title": "Amended"}, indent=2) + "\n")
    git("commit", "-qam", "Amend in place", cwd=repo)
    with Ledger.open(repo) as book:
        warm = book.verify()
        walks = [c for c in book.repository.commands if c[0] == "log" and "--raw" in c]
    assert len(walks) == 1 and f"^{base}" in walks[0]
    cold = Ledger.open(repo)
    cold.remember = False
    with cold:
        fresh = cold.verify()
    assert warm.to_json() == fresh.to_json()
    assert any(f.code == "L601" and f.path == EVAL_11 for f in warm.findings)


def _verified(repo: Path, *, remember: bool = True) -> dict[str, Any]:
    book = Ledger.open(repo)
    book.remember = remember
    with book:
        return book.verify().to_json()


def _verified_as_afresh(repo: Path) -> dict[str, Any]:
    """``verify`` from what is kept, checked to be what it is with nothing kept."""
    warm = _verified(repo)
    assert warm == _verified(repo, remember=False)
    return warm


def test_a_commit_that_changes_no_ledger_file_keeps_the_findings_of_its_parent(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.state.ledger_state import LedgerState

    git("rm", "-q", "data/test.csv.dvc", cwd=repo)  # a current dataset's DVC file: L401
    git("commit", "-qm", "Drop the test set's DVC file", cwd=repo)
    with Ledger.open(repo) as book:
        before = book.verify().to_json()
    (repo / "scripts/pipeline.py").write_text("# a change to code only\n")
    git("commit", "-qam", "Change code", cwd=repo)

    def refind(*args: object) -> None:
        raise AssertionError("the findings were computed again")

    with monkeypatch.context() as patch:
        patch.setattr(LedgerState, "_find", refind)
        warm = _verified(repo)
    assert warm == _verified(repo, remember=False)
    assert warm["findings"] == before["findings"]
    assert any(f["code"] == "L401" for f in warm["findings"])


def _rechecked(repo: Path) -> set[str] | None:
    """The records whose findings were checked again at HEAD (None: all of them)."""
    with Ledger.open(repo) as book:
        state = book.state("HEAD")
        assert state.findings is not None
        return state.rechecked


def test_one_new_version_rechecks_only_the_records_it_can_reach(
    tmp_path: Path, small: Path
) -> None:
    sys.path.insert(0, str(PROJECT / "benchmarks"))
    from generate import add_commit, next_commit

    repo = tmp_path / "repo"
    shutil.copytree(small, repo, symlinks=True)
    _verified(repo)
    extra = next_commit(repo)
    add_commit(repo, extra)
    rechecked = _rechecked(repo)
    new = next(p for p in extra.files if p.endswith(".json"))
    assert rechecked is not None and new in rechecked
    # The new version, the one it supersedes and what documents the same data; not all 20.
    assert len(rechecked) <= 5, rechecked
    _verified_as_afresh(repo)


def test_findings_checked_again_from_a_kept_ancestor_agree_with_a_cold_run(repo: Path) -> None:
    _verified(repo)  # kept at the demo's last commit; every step below starts from it
    data = json.loads((repo / TEST_10).read_text())
    (repo / TEST_10).write_text(json.dumps({**data, "title": "Amended"}, indent=2) + "\n")
    git("commit", "-qam", "Amend the test set in place", cwd=repo)
    (repo / TEST_10).write_text(json.dumps(data, indent=2) + "\n")
    git("commit", "-qam", "Put it back", cwd=repo)
    assert _rechecked(repo) is not None
    # Equal trees, yet history gained two versions of the test set: L601 twice.
    warm = _verified_as_afresh(repo)
    assert sum(f["code"] == "L601" and f["path"] == TEST_10 for f in warm["findings"]) == 2

    git("checkout", "-qb", "side", cwd=repo)
    # A copy of evaluation 1.1 at another place: two files claim one identity (L202).
    shutil.copy(repo / EVAL_11, repo / EVAL_11.replace("1.1.json", "1.2.json"))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "Side adds an evaluation", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    dvc_file = repo / "data/cohort.csv.dvc"
    dvc_file.write_text(re.sub(r"md5: [0-9a-f]{32}", "md5: " + "ab" * 16, dvc_file.read_text()))
    git("commit", "-qam", "Change the cohort's data by hand", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=repo)
    assert _rechecked(repo) is not None
    warm = _verified_as_afresh(repo)
    assert {"L405", "L202"} <= {f["code"] for f in warm["findings"]}

    git("rm", "-q", TEST_10, cwd=repo)  # links to it dangle; they pinned it before
    git("commit", "-qm", "Delete the test set", cwd=repo)
    warm = _verified_as_afresh(repo)
    assert {"L602", "L301"} <= {f["code"] for f in warm["findings"]}


def _pins(value: object) -> list[dict[str, Any]]:
    """Every link in a record: the objects naming a ``ref`` and its ``sha256``."""
    if isinstance(value, list):
        return [pin for item in value for pin in _pins(item)]
    if not isinstance(value, dict):
        return []
    own = [value] if {"ref", "sha256"} <= value.keys() else []
    return own + [pin for item in value.values() for pin in _pins(item)]


def _tamper(repo: Path, rng: random.Random) -> str:
    """One random change of the kinds that hide things: an edit, a deletion, a copy claiming
    another file's identity, a re-pinned link, a new version, a file put back as it was, a
    DVC file changed or removed."""
    records = sorted(str(p.relative_to(repo)) for p in repo.glob("records/*/*/*.json"))
    dvc_files = sorted(str(p.relative_to(repo)) for p in repo.glob("*/*.dvc"))
    path = rng.choice(records)
    data = json.loads((repo / path).read_text())
    actions = ["amend", "delete", "copy", "repin", "supersede", "restore", "dvc-edit", "dvc-rm"]
    action = rng.choice(actions)
    if action == "amend":
        data["title"] = f"Amended {rng.random()}"
    elif action == "delete":
        (repo / path).unlink()
        return f"{action} {path}"
    elif action == "copy":
        path = path.replace(".json", f"-copy{rng.randrange(99)}.json")
    elif action == "repin":
        pins = _pins(data)
        if not pins:
            return _tamper(repo, rng)
        rng.choice(pins)["sha256"] = f"{rng.getrandbits(256):064x}"
    elif action == "supersede":
        ref = f"{data['kind']}:{data['name']}@{data['version']}"
        pin = {"ref": ref, "sha256": record_hash(data), "reason": "test", "change_type": "fix"}
        data = {**data, "version": f"{data['version']}.{rng.randrange(1, 9)}", "supersedes": pin}
        path = path.rsplit("/", 1)[0] + f"/{data['version']}.json"
    elif action == "restore":
        listed = git("ls-tree", "--name-only", "HEAD~1", "--", path, cwd=repo)
        if not listed.strip():
            return _tamper(repo, rng)
        (repo / path).write_text(git("show", f"HEAD~1:{path}", cwd=repo))
        return f"{action} {path}"
    else:
        target = repo / rng.choice(dvc_files)
        if action == "dvc-rm":
            target.unlink()
        else:
            md5 = f"{rng.getrandbits(124):031x}a"  # a letter in it: YAML reads no number
            target.write_text(re.sub(r"md5: [0-9a-f]{32}", f"md5: {md5}", target.read_text()))
        return f"{action} {target.relative_to(repo)}"
    (repo / path).write_text(json.dumps(data, indent=2) + "\n")
    return f"{action} {path}"


@pytest.mark.parametrize("seed", range(8))
def test_random_tampering_found_from_a_kept_ancestor_is_what_a_cold_run_finds(
    tmp_path: Path, small: Path, seed: int
) -> None:
    rng = random.Random(seed)
    repo = tmp_path / "repo"
    shutil.copytree(small, repo, symlinks=True)
    _verified(repo)
    done = []
    for step in range(5):
        done += [_tamper(repo, rng) for _ in range(rng.randint(1, 3))]
        git("add", "-A", cwd=repo)
        git("commit", "-q", "--allow-empty", "-m", f"Step {step}", cwd=repo)
        if step < 4 and rng.random() < 0.4:
            continue  # the next run starts further back
        assert _rechecked(repo) is not None, done
        warm = _verified(repo)
        assert warm == _verified(repo, remember=False), done


def test_a_snapshot_file_of_another_name_is_read_at_each_commit_and_compared(
    repo: Path,
) -> None:
    # The history walk follows DVC files by their names; this one it does not follow.
    record = repo / "records/dataset/sepsis-test/1.0.json"
    data = json.loads(record.read_text())
    git("mv", "data/test.csv.dvc", "data/test-snapshot.yaml", cwd=repo)
    data["snapshot"]["dvc_file"] = "data/test-snapshot.yaml"
    record.write_text(json.dumps(data, indent=2) + "\n")
    git("commit", "-qam", "Name the snapshot file freely", cwd=repo)
    assert not any(f["code"] == "L401" for f in _verified(repo)["findings"])
    git("rm", "-q", "data/test-snapshot.yaml", cwd=repo)  # no commit the walk lists
    git("commit", "-qm", "Drop the snapshot file", cwd=repo)
    warm = _verified_as_afresh(repo)
    assert any(f["code"] == "L401" for f in warm["findings"])


def test_what_is_kept_of_a_missing_dvc_file_reads_as_a_fresh_check_at_a_later_commit(
    repo: Path,
) -> None:
    git("rm", "-q", "data/test.csv.dvc", cwd=repo)
    git("commit", "-qm", "Drop the test set's DVC file", cwd=repo)
    _verified(repo)  # keeps what the revision check found of the test set
    data = json.loads((repo / EVAL_11).read_text())
    (repo / EVAL_11).write_text(json.dumps({**data, "title": "Amended"}, indent=2) + "\n")
    git("commit", "-qam", "Amend in place", cwd=repo)
    warm = _verified_as_afresh(repo)
    assert any(f["code"] == "L401" for f in warm["findings"])


def _side_adds_a_version(repo: Path, message: str) -> str:
    """Branch ``side`` adds evaluation 1.2 (a copy of 1.1 at its own place); back on main."""
    git("checkout", "-qb", "side", cwd=repo)
    data = json.loads((repo / EVAL_11).read_text())
    added = EVAL_11.replace("1.1.json", "1.2.json")
    (repo / added).write_text(json.dumps({**data, "version": "1.2"}, indent=2) + "\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", message, cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    return added


def test_after_a_merge_the_record_files_listed_from_the_kept_state_are_the_commits(
    repo: Path,
) -> None:
    _verified(repo)  # kept before the branches part
    added = _side_adds_a_version(repo, "Side adds a version")
    git("rm", "-q", "records/dataset/sepsis-test/1.0.json", cwd=repo)
    git("commit", "-qm", "Main deletes a record", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=repo)
    with Ledger.open(repo) as book:
        warm = book.verify().to_json()
        # The record files come from the kept state (only the few sign-offs are listed).
        listed = [c for c in book.repository.commands if c[0] == "ls-tree"]
        assert [c[-1] for c in listed] == ["signoffs"]
    assert warm == _verified(repo, remember=False)
    assert added in warm["checked"]
    assert "records/dataset/sepsis-test/1.0.json" not in warm["checked"]


def test_unprintable_text_that_only_a_merge_commit_writes_is_l010(repo: Path) -> None:
    """The merge's own resolution, not either parent, puts an escape sequence in a title:
    the kept state and a cold read both find it at the merged file."""
    _verified(repo)  # kept before the branches part
    added = _side_adds_a_version(repo, "Side adds a version")
    git("commit", "-q", "--allow-empty", "-m", "Main moves on", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=repo)
    data = json.loads((repo / added).read_text())
    data["title"] += " \u001b[8mhidden"
    (repo / added).write_text(json.dumps(data, indent=2) + "\n")
    git("add", added, cwd=repo)
    git("commit", "-qm", "Merge side", cwd=repo)
    warm = _verified(repo)
    assert warm == _verified(repo, remember=False)
    found = [(f["code"], f["path"], f["pointer"]) for f in warm["findings"]]
    assert ("L010", added, "/title") in found


def test_a_merge_that_changes_a_dvc_file_itself_is_checked_again(repo: Path) -> None:
    with Ledger.open(repo) as book:
        book.verify()
    git("checkout", "-qb", "side", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "Side", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "Main", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=repo)
    # The merge itself deletes the file: no commit the history walk lists changes it.
    git("rm", "-q", "data/test.csv.dvc", cwd=repo)
    git("commit", "-qm", "Merge side", cwd=repo)
    warm = _verified_as_afresh(repo)
    assert any(
        f["code"] == "L401" and "data/test.csv.dvc" in f["message"] for f in warm["findings"]
    )


def test_a_merge_history_reads_dvc_files_of_each_commit_without_a_process_per_record(
    repo: Path,
) -> None:
    _side_adds_a_version(repo, "Side")
    git("commit", "-q", "--allow-empty", "-m", "Main", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=repo)
    warm = run_ledger("verify", "--format", "json", cwd=repo)
    cold = run_ledger("verify", "--no-cache", "--format", "json", cwd=repo)
    assert warm.out == cold.out
    assert {f["code"] for f in json.loads(cold.out)["findings"]} >= {"L801"}


def test_a_new_phi_pattern_is_applied_to_a_ledger_whose_state_is_kept(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(repo) as book:
        assert not [f for f in book.verify().findings if f.code == "L501"]
    pattern = phi.Pattern(
        "trial-id", phi._re(r"\bsepsis-risk\b"), "a made-up identifier for this test"
    )
    monkeypatch.setattr(phi, "PATTERNS", (*phi.PATTERNS, pattern))
    with Ledger.open(repo) as book:
        hits = [f for f in book.verify().findings if f.code == "L501"]
    assert hits and all("made-up identifier" in f.message for f in hits)


def _distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_fingerprint_names_every_library_that_decides_what_is_kept() -> None:
    """Each third-party package ledger imports either decides kept verdicts or entries, and
    is in the fingerprint, or is one of the few that never does (a kept FHIR entry is
    fhir.resources' output: after an upgrade it must be made again)."""
    from importlib import metadata

    import ledger.state.store as store

    std = set(sys.stdlib_module_names)
    imported = set()
    for path in (PROJECT / "ledger").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    packages = metadata.packages_distributions()
    third_party = {
        _distribution(dist) for module in imported - std - {"ledger"} for dist in packages[module]
    }
    # The command line, the git layer's repository set-up and ``verify --data``'s workspace
    # checks, which are computed afresh on every run; the MLflow import, which writes drafts
    # and keeps nothing (``mlflow`` is one module of three distributions); the report's
    # plots, drawn afresh on every report; W3C PROV, written afresh from the lineage graph.
    never_kept = {"click", "gitpython", "dvc", "dvc-objects", "prov"}
    never_kept |= {"mlflow", "mlflow-skinny", "mlflow-tracing", "vl-convert-python"}
    listed = {_distribution(name) for name in store._LIBRARIES}
    assert third_party - never_kept == listed


def test_a_library_upgrade_starts_a_new_kept_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    import ledger.state.store as store

    config = load_config(PROJECT)
    before = store.fingerprint(config)
    real = metadata.distribution

    class Upgraded:
        """fhir.resources as another version of it would be installed."""

        version = "0"

        def read_text(self, filename: str) -> str | None:
            return "Name: fhir.resources\nVersion: 0\n\n" if filename == "METADATA" else None

    monkeypatch.setattr(
        store.metadata,
        "distribution",
        lambda name: Upgraded() if name == "fhir.resources" else real(name),
    )
    assert store.fingerprint(config) != before


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
@pytest.mark.parametrize("target", ["facts", "rev"])
def test_a_corrupt_kept_state_is_discarded_with_a_note_never_trusted(
    repo: Path, damage: str, target: str
) -> None:
    before = run_ledger("verify", "--format", "json", cwd=repo)
    store = Store(repo / ".git", load_config(repo))
    path = store.folder / ("facts" if target == "facts" else f"rev-{store.kept_commits()[0]}")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"\x00not a kept state\xff" * 3)
    path.write_bytes(bytes(data))
    after = run_ledger("verify", "--format", "json", cwd=repo)
    assert after.code == before.code and after.out == before.out
    assert "was discarded and is rebuilt from git" in after.err
    assert run_ledger("verify", "--format", "json", cwd=repo).err == ""  # rebuilt, trusted again


def _amend_and_commit(repo: Path, title: str) -> None:
    data = json.loads((repo / EVAL_11).read_text())
    (repo / EVAL_11).write_text(json.dumps({**data, "title": title}, indent=2) + "\n")
    git("commit", "-qam", f"Retitle: {title}", cwd=repo)


def test_a_state_after_new_commits_is_kept_as_its_base_and_what_differs(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.state import store as kept_store

    monkeypatch.setattr(kept_store, "MAX_DELTAS", 2)
    _verified(repo)
    store = Store(repo / ".git", load_config(repo))
    whole = (store.folder / f"rev-{store.kept_commits()[0]}").read_bytes()
    sizes = []
    chained = b""
    for turn in range(3):
        _amend_and_commit(repo, f"Amended {turn}")
        assert _verified_as_afresh(repo)
        head = git("rev-parse", "HEAD", cwd=repo).strip()
        kept = store.load_state(head)
        assert kept is not None
        sizes.append((kept.deltas, len(kept.source or b"")))
        if kept.deltas == 2:
            chained = kept.source or b""
        # What the deltas add up to is the state itself: its files and its whole history.
        listing = git("ls-tree", "-r", "HEAD", "--", "records/", cwd=repo).splitlines()
        assert {line.split("\t")[1] for line in listing} == set(kept.records)
        assert kept.commits[-1].sha == head and kept.commits[-1].message.startswith("Retitle")
    # Each new commit appended a small chunk to the file it continued, until the third,
    # which started over with the whole state.
    assert [d for d, _ in sizes] == [1, 2, 0]
    assert len(whole) < sizes[0][1] < sizes[1][1] < sizes[0][1] + len(whole)
    # A delta does not write the history again: the first commit is named as often in the
    # file of a state continued twice as in the file it continued.
    root = git("rev-list", "--max-parents=0", "HEAD", cwd=repo).strip().encode()
    assert chained.count(root) == whole.count(root) > 0


def test_a_corrupt_delta_of_a_kept_state_discards_the_whole_state(repo: Path) -> None:
    _verified(repo)
    _amend_and_commit(repo, "Amended")
    before = run_ledger("verify", "--format", "json", cwd=repo)
    store = Store(repo / ".git", load_config(repo))
    path = store.folder / f"rev-{store.kept_commits()[0]}"
    kept = store.load_state(store.kept_commits()[0])
    assert kept is not None and kept.deltas == 1
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # inside the last chunk: the delta
    path.write_bytes(bytes(data))
    after = run_ledger("verify", "--format", "json", cwd=repo)
    assert after.code == before.code and after.out == before.out
    assert "was discarded and is rebuilt from git" in after.err


def test_files_new_since_a_kept_state_are_checked_beside_it_with_the_facts_of_a_serial_check(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.checks.record_file import check_record_bytes
    from ledger.checks.tree import FactsCache
    from ledger.git.repository import Repository
    from ledger.records.jsonload import Limits

    monkeypatch.setenv("LEDGER_WORKERS", "2")
    good = (repo / EVAL_11).read_bytes().replace(b'"title": "', b'"title": "Checked ahead: ', 1)
    bad = good.replace(b'"kind": "evaluation"', b'"kind": "evaluaton"', 1)
    limits = Limits(max_bytes=len(good) + 1)
    big = good + b" " * 2  # over the limit: left to the reading that reports it
    blobs = {}
    for name, data in {"good": good, "bad": bad, "big": big}.items():
        (repo / name).write_bytes(data)
        blobs[name] = git("hash-object", "-w", name, cwd=repo).strip()
    cache = FactsCache()
    with Repository(repo) as repository:
        ahead = cache.check_ahead(repository, [*blobs.values(), blobs["good"]], limits)
        assert ahead is not None and ahead.pid != os.getpid()
        cache.collect(ahead)
        assert cache.check_ahead(repository, [blobs["good"]], limits) is None  # known now
        monkeypatch.setenv("LEDGER_WORKERS", "1")  # no second process: checked in-process later
        assert FactsCache().check_ahead(repository, [blobs["good"]], limits) is None
    assert set(cache.added) == {blobs["good"], blobs["bad"]}
    assert cache.added[blobs["good"]] == check_record_bytes(good, limits)
    assert cache.added[blobs["bad"]] == check_record_bytes(bad, limits)
    assert not cache.added[blobs["bad"]].valid


def test_kept_facts_answer_for_the_working_tree_and_the_index_too(repo: Path) -> None:
    run_ledger("verify", cwd=repo)
    (repo / EVAL_11).write_text((repo / EVAL_11).read_text().replace('"1.1"', '"7.7"', 1))
    result = run_ledger("validate", "--format", "json", cwd=repo)
    assert result.code == 1
    assert any(f["code"] == "L201" for f in json.loads(result.out)["findings"])


def test_files_checked_in_worker_processes_have_the_facts_of_a_serial_check(
    large: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import workers
    from ledger.checks import tree
    from ledger.checks.record_file import blob_id, check_record_bytes
    from ledger.records.jsonload import Limits

    files = {}
    for path in sorted(large.glob("records/*/*/*.json"))[:150]:
        data = path.read_bytes()
        files[blob_id(data)] = data
    files[blob_id(b"{not json")] = b"{not json"
    monkeypatch.setattr(workers, "PARALLEL_FROM", 10)
    monkeypatch.setattr(tree, "CHUNK", 16)
    cache = tree.FactsCache()
    cache.prepare(len(files))
    assert cache._pool is not None
    try:
        cache.check(files, Limits())
    finally:
        cache.close()
    assert cache.known == {blob: check_record_bytes(data, Limits()) for blob, data in files.items()}


def test_kept_dvc_parses_are_read_only_when_a_dvc_file_is_parsed(repo: Path) -> None:
    # The shared demo repository may hold states other tests kept (HEAD~1's among them).
    shutil.rmtree(repo / ".git/ledger", ignore_errors=True)
    run_ledger("verify", cwd=repo)
    store = Store(repo / ".git", load_config(repo))
    kept = store.folder / "dvc"
    assert kept.stat().st_size > 0
    kept.write_bytes(b"\x00not kept parses\xff")  # damage shows only if the file is read
    warm = run_ledger("verify", "--format", "json", cwd=repo)
    assert warm.err == ""  # the findings at HEAD are kept: no DVC file is parsed
    older = run_ledger("verify", "--rev", "HEAD~1", "--format", "json", cwd=repo)
    assert "was discarded and is rebuilt from git" in older.err  # parsed, so read, and refused
    fresh = run_ledger("verify", "--rev", "HEAD~1", "--no-cache", "--format", "json", cwd=repo)
    assert older.out == fresh.out


def test_validate_checks_a_large_working_tree_in_worker_processes_with_the_same_report(
    large: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import workers
    from ledger.checks import tree

    broken = large / "records/dataset/broken.json"  # the module's other tests must not see it

    def validate() -> dict[str, Any]:
        with Ledger.open(large) as book:
            book.remember = False  # every file checked now, none read back as kept
            return book.validate().to_json()

    pools = []

    def fork_pool(items: int) -> Any:
        pools.append(workers.fork_pool(items))
        return pools[-1]

    broken.write_text('{"kind": "dataset"')
    try:
        in_process = validate()
        monkeypatch.setattr(workers, "PARALLEL_FROM", 10)
        monkeypatch.setattr(tree, "CHUNK", 16)
        monkeypatch.setattr(tree, "fork_pool", fork_pool)
        assert validate() == in_process
    finally:
        broken.unlink()
    assert [pool is not None for pool in pools] == [True]  # started once, at the first batch
    assert any(f["code"] == "L003" for f in in_process["findings"])


@pytest.mark.parametrize(("fhir_version", "keep"), [("R5", False), ("R4B", False), ("R5", True)])
def test_fhir_mapped_in_worker_processes_gives_the_bytes_of_a_mapping_in_process(
    large: Path, monkeypatch: pytest.MonkeyPatch, fhir_version: str, keep: bool
) -> None:
    """Also when the entries are kept: workers then send them in their kept form."""
    from ledger import workers
    from ledger.fhir import bundle

    def provenance(ndjson: bool = False, fresh: bool = True) -> str:
        if fresh:  # every entry mapped, none read back as kept
            shutil.rmtree(large / ".git/ledger", ignore_errors=True)
        with Ledger.open(large) as book:
            book.remember = keep
            written = book.provenance(fhir_version=fhir_version)
            return "".join(written.ndjson_chunks() if ndjson else written.json_chunks())

    monkeypatch.setattr(bundle, "BATCH", 16)  # many batches in flight, out of step
    monkeypatch.setattr(workers, "PARALLEL_FROM", 10**9)
    in_process = provenance(), provenance(ndjson=True)
    pools = []

    def fork_pool(items: int) -> Any:
        pools.append(workers.fork_pool(items))
        return pools[-1]

    monkeypatch.setattr(workers, "PARALLEL_FROM", 10)
    monkeypatch.setattr(bundle, "fork_pool", fork_pool)
    assert (provenance(), provenance(ndjson=True)) == in_process
    assert len(pools) == 2 and None not in pools
    if keep:  # what the workers kept reads back as the same entries
        assert provenance(ndjson=True, fresh=False) == in_process[1]
        assert pools[2:] == [None]  # nothing left to map, so no workers


def test_a_review_reads_the_records_it_compares_a_batch_at_a_time(
    large: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.git.repository import CatFile
    from ledger.views import compare, review

    conversations = []
    read_many = CatFile.read_many

    def counted(self: CatFile, names: Any) -> Any:
        names = list(names)
        if names:
            conversations.append(len(names))
        return read_many(self, names)

    with Ledger.open(large) as book:
        state = book.state("HEAD")
        added = [str(f.facts.claimed) for f in state.records.valid()]
        monkeypatch.setattr(CatFile, "read_many", counted)
        metrics = review._metric_changes(state, added)
        monkeypatch.setattr(CatFile, "read_many", read_many)
        one_by_one = [
            compare.compare(state, RecordId.parse(m.against), RecordId.parse(m.evaluation)).metrics
            for m in metrics
        ]
    assert len(metrics) >= 10
    # One conversation with git per link level, not one per record compared.
    assert len(conversations) <= compare.COMPARE_DEPTH + 1
    assert [list(m.deltas) for m in metrics] == one_by_one


_HEAVY = ("yaml", "pydantic", "jsonschema", "fhir_core", "dvc", "multiprocessing")
_IMPORTED = """
import sys
from ledger.cli import main
sys.argv = ["ledger", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("imported:", *sorted(m for m in HEAVY if m in sys.modules), file=sys.stderr)
"""


def _imported(repo: Path, *args: str) -> list[str]:
    """The heavy libraries one run of ``ledger ARGS`` imports."""
    script = f"HEAVY = {_HEAVY!r}\n{_IMPORTED}"
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=repo, capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = (line for line in done.stderr.splitlines() if line.startswith("imported:"))
    return line.split()[1:]


def test_a_verify_from_a_kept_state_imports_no_parser_validator_or_process_pool(
    repo: Path,
) -> None:
    """What a run finds kept it does not import the libraries to compute: they are most of
    ledger's start-up, which is most of a small ledger's run (and of the pre-commit gate)."""
    run_ledger("verify", cwd=repo)
    assert _imported(repo, "verify") == []
    assert {"pydantic", "yaml"} <= set(_imported(repo, "verify", "--no-cache"))


def test_the_base_of_a_diff_is_read_from_the_heads_history_and_agrees_with_git(
    repo: Path,
) -> None:
    shutil.rmtree(repo / ".git/ledger", ignore_errors=True)
    with Ledger.open(repo) as book:
        book.diff("HEAD~3")
        walks = [c for c in book.repository.commands if c[0] == "log" and "--raw" in c]
    assert len(walks) == 1  # the head's; the base's history is a part of it
    kept = run_ledger("verify", "--rev", "HEAD~3", "--format", "json", cwd=repo)
    fresh = run_ledger("verify", "--rev", "HEAD~3", "--no-cache", "--format", "json", cwd=repo)
    assert kept.out == fresh.out


def test_ledger_workers_sets_how_many_worker_processes_run(
    monkeypatch: pytest.MonkeyPatch, large: Path
) -> None:
    from ledger import workers

    monkeypatch.setenv("LEDGER_WORKERS", "1")
    assert workers.fork_pool(10**6) is None
    monkeypatch.setenv("LEDGER_WORKERS", "3")
    pool = workers.fork_pool(10**6)
    assert pool is not None
    with pool:
        assert pool.count == 3
        assert sorted(pool.map(abs, [-2, -1])) == [1, 2]
    monkeypatch.setenv("LEDGER_WORKERS", "many")  # the command inherits the environment
    result = run_ledger("provenance", cwd=large)
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "ledger: LEDGER_WORKERS='many' is not a whole number; fix: set it to the number of "
        "worker processes (0 or 1: none), or unset it"
    ]


def test_a_store_that_cannot_be_written_is_not_kept_and_the_command_still_answers(
    repo: Path,
) -> None:
    """A read-only clone or a full disk: writing the kept state fails (here the kernel's
    file size limit makes every write past 1 kB fail), and verify answers as it does with
    nothing kept, instead of failing on its cache."""
    import resource

    expected = run_ledger("verify", "--no-cache", "--format", "json", cwd=repo)
    shutil.rmtree(repo / ".git/ledger", ignore_errors=True)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    done = subprocess.run(
        [str(LEDGER), "verify", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,
    )
    assert (done.returncode, done.stdout) == (expected.code, expected.out), done.stderr
    assert not list((repo / ".git/ledger").glob("state-*/rev-*"))
