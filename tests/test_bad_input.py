"""Every kind of bad input gives one clear line (file, pointer, problem, fix) and exit 1."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ledger.records.canonical import record_hash
from tests.conftest import LEDGER, run_ledger

SOURCE = "records/dataset/sepsis-cohort/1.1.json"
TARGET = "records/dataset/sepsis-cohort/1.2.json"


def _valid_new_version(repo: Path) -> dict[str, Any]:
    """A valid dataset v1.2: v1.1's content under the next version, superseding v1.1."""
    data = json.loads((repo / SOURCE).read_text())
    ref = {"ref": "dataset:sepsis-cohort@1.1", "sha256": record_hash(data)}
    data.update(version="1.2", supersedes={**data["supersedes"], **ref})
    return dict(data)


def _write(repo: Path, data: object, relpath: str = TARGET) -> None:
    path = repo / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _validate(repo: Path) -> tuple[int, list[str]]:
    result = run_ledger("validate", cwd=repo)
    return result.code, result.out.splitlines()


def test_the_template_record_is_valid(repo: Path) -> None:
    _write(repo, _valid_new_version(repo))
    code, lines = _validate(repo)
    assert code == 0, lines
    assert lines[-1] == "ok: 8 record(s) valid"


RAW_CASES: dict[str, tuple[bytes, str, str]] = {
    "invalid JSON": (b'{"kind": "dataset",\n  "name": }', "L003", "invalid JSON at line 2"),
    "empty file": (b"", "L002", "empty"),
    "whitespace only": (b"  \n\t\n", "L002", "empty"),
    "top-level array": (b"[1, 2]", "L006", "array"),
    "duplicate keys": (b'{"kind": "dataset", "kind": "model"}', "L004", "duplicate key"),
    "NaN": (b'{"kind": "dataset", "x": NaN}', "L005", "NaN"),
    "Infinity": (b'{"kind": "dataset", "x": -Infinity}', "L005", "Infinity"),
    "non-UTF-8": (b'{"kind": "dataset", "title": "caf\xe9"}', "L001", "UTF-8"),
    "too deep": (b"{" + b'"a": [' * 40 + b"1" + b"]" * 40 + b"}", "L008", "deep"),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_unreadable_record_files(repo: Path, case: str) -> None:
    content, code, words = RAW_CASES[case]
    (repo / TARGET).write_bytes(content)
    exit_code, lines = _validate(repo)
    assert exit_code == 1
    problems = [line for line in lines if line.startswith(TARGET)]
    assert problems, lines
    assert any(f" {code} " in line and words in line for line in problems), problems
    assert all("; fix: " in line for line in problems)


def test_a_record_over_the_size_limit(repo: Path) -> None:
    data = _valid_new_version(repo)
    data["description"] = "x" * 1_100_000
    _write(repo, data)
    code, lines = _validate(repo)
    assert code == 1
    assert any(
        line.startswith(TARGET) and " L007 " in line and "1048576" in line for line in lines
    ), lines


def _set(pointer: str, value: object) -> Callable[[dict[str, Any]], None]:
    *parents, last = pointer.strip("/").split("/")

    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key: Any = int(last) if isinstance(node, list) else last
        if value is _DELETE:
            del node[key]
        else:
            node[key] = value

    return change


_DELETE = object()

RECORD_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str, str, str]] = {
    "unknown field": (_set("/cohort/colour", "blue"), "L103", "/cohort/colour", "'colour'"),
    "wrong type": (_set("/cohort/size", "many"), "L104", "/cohort/size", "expected an integer"),
    "missing field": (_set("/cohort", _DELETE), "L102", "/cohort", "'cohort' is missing"),
    "empty documentation": (
        _set("/representativeness", ""),
        "L105",
        "/representativeness",
        "not_applicable",
    ),
    "unknown kind": (_set("/kind", "notebook"), "L101", "/kind", "'notebook'"),
    "absolute snapshot path": (
        _set("/snapshot/path", "/data/cohort.csv"),
        "L203",
        "/snapshot",
        "absolute",
    ),
    "dotdot snapshot path": (
        _set("/snapshot/dvc_file", "../x/cohort.csv.dvc"),
        "L203",
        "/snapshot",
        "'..'",
    ),
    "dangling link": (
        _set("/supersedes/ref", "dataset:sepsis-cohort@0.9"),
        "L301",
        "/supersedes/ref",
        "does not exist",
    ),
    "link hash mismatch": (
        _set("/supersedes/sha256", "0" * 64),
        "L302",
        "/supersedes/sha256",
        "hashes to",
    ),
    "snapshot disagrees with DVC": (_set("/snapshot/size", 1), "L403", "/snapshot", "size"),
    "output not in the DVC file": (
        _set("/snapshot/path", "elsewhere.csv"),
        "L402",
        "/snapshot/path",
        "has no output 'elsewhere.csv'",
    ),
    "missing DVC file": (
        _set("/snapshot/dvc_file", "data/gone.csv.dvc"),
        "L401",
        "/snapshot/dvc_file",
        "does not exist",
    ),
    "SSN": (
        _set("/description", "Patient 123-45-6789 excluded"),
        "L501",
        "/description",
        "Social Security",
    ),
    "MRN": (
        _set("/limitations/0", "Excluded MRN 00123456 after review"),
        "L501",
        "/limitations/0",
        "medical record",
    ),
    "e-mail": (_set("/title", "Cohort from jane.doe@hospital.org"), "L501", "/title", "e-mail"),
    "phone": (
        _set("/representativeness", "Call (555) 123-4567 for details"),
        "L501",
        "/representativeness",
        "phone",
    ),
    "date of birth": (
        _set("/known_biases/0", "One patient, DOB 1956-03-12, was kept"),
        "L501",
        "/known_biases/0",
        "birth",
    ),
}


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_bad_record_content(repo: Path, case: str) -> None:
    change, code, pointer, words = RECORD_CASES[case]
    data = _valid_new_version(repo)
    change(data)
    _write(repo, data)
    exit_code, lines = _validate(repo)
    assert exit_code == 1
    where = f"{TARGET}#{pointer}: error {code} "
    matching = [line for line in lines if line.startswith(where)]
    assert matching, lines
    assert any(words in line for line in matching), matching


def test_identity_path_mismatch(repo: Path) -> None:
    _write(repo, _valid_new_version(repo), "records/dataset/sepsis-cohort/1.3.json")
    code, lines = _validate(repo)
    assert code == 1
    assert any(
        line.startswith("records/dataset/sepsis-cohort/1.3.json: error L201 ")
        and "records/dataset/sepsis-cohort/1.2.json" in line
        for line in lines
    ), lines


def test_two_files_claiming_one_identity(repo: Path) -> None:
    data = json.loads((repo / SOURCE).read_text())
    _write(repo, data, "records/dataset/sepsis-cohort/copy.json")
    code, lines = _validate(repo)
    assert code == 1
    assert any(line.startswith(f"{SOURCE}: error L202 ") for line in lines), lines
    assert any(
        line.startswith("records/dataset/sepsis-cohort/copy.json: error L202 ") for line in lines
    ), lines


def test_a_symlinked_record_file(repo: Path) -> None:
    (repo / TARGET).symlink_to(repo / SOURCE)
    code, lines = _validate(repo)
    assert code == 1
    assert any(line.startswith(f"{TARGET}: error L009 ") for line in lines), lines


def test_an_edited_upstream_record_breaks_its_downstream_links(repo: Path) -> None:
    data = json.loads((repo / SOURCE).read_text())
    data["description"] += " Edited in place."
    _write(repo, data, SOURCE)
    code, lines = _validate(repo)
    assert code == 1
    assert any(
        line.startswith(
            "records/model/sepsis-risk/1.1.json#/training/datasets/0/sha256: error L302 "
        )
        for line in lines
    ), lines


def test_outside_a_git_repository_validate_exits_2(tmp_path: Path) -> None:
    result = run_ledger("validate", cwd=tmp_path)
    assert result.code == 2
    assert "not inside a git repository" in result.err


def test_an_unreadable_dvc_file(repo: Path) -> None:
    (repo / "data/cohort.csv.dvc").write_text("outs: [\n")
    code, lines = _validate(repo)
    assert code == 1
    assert any(
        line.startswith(f"{SOURCE}#/snapshot/dvc_file: error L404 ") and "not valid YAML" in line
        for line in lines
    ), lines


def _zero_link(dvc_file: Path) -> str:
    dvc_file.unlink()
    dvc_file.symlink_to("/dev/zero")
    return "is a symbolic link"


def _fifo(dvc_file: Path) -> str:
    dvc_file.unlink()
    os.mkfifo(dvc_file)
    return "not a regular file"


def _not_utf8(dvc_file: Path) -> str:
    dvc_file.write_bytes(dvc_file.read_bytes() + b"# caf\xe9\n")
    return "not UTF-8 text"


def _huge(dvc_file: Path) -> str:
    with dvc_file.open("ab") as handle:
        handle.write(b"#" * (17 << 20) + b"\n")
    return "so not a DVC file"


@pytest.mark.parametrize("hostile", [_zero_link, _fifo, _not_utf8, _huge])
def test_a_hostile_dvc_file_is_refused_not_read(repo: Path, hostile: Callable[[Path], str]) -> None:
    """A DVC file that is a link to /dev/zero, a FIFO, not UTF-8 or huge: a clean L404 in
    moments, never a hang, a read until memory runs out or a traceback."""
    says = hostile(repo / "data/cohort.csv.dvc")
    done = subprocess.run(
        [LEDGER, "validate"], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    hits = [line for line in done.stdout.splitlines() if " error L404 " in line]
    assert hits and all(line.startswith(f"{SOURCE}#/snapshot/dvc_file") for line in hits), hits
    assert says in hits[0]


def test_text_built_to_make_the_phi_patterns_backtrack_is_read_in_bounded_time(
    repo: Path,
) -> None:
    """A keyword, 200,000 digits and a character that forbids the word boundary made the MRN
    pattern try every split of the digits (quadratic: hours); such text is now one pass."""
    data = _valid_new_version(repo)
    data["description"] = "MRN " + "1" * 200_000 + "_"
    data["title"] = "x@" + "a." * 50_000 + "1"
    data["purpose"] = "+" + "1 " * 50_000
    _write(repo, data)
    done = subprocess.run(
        [LEDGER, "validate", "--format", "json"], cwd=repo, capture_output=True, timeout=120
    )
    assert done.returncode in (0, 1) and b"Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout[-2000:]


def _ledger_with_file_size_limit(
    repo: Path, args: Sequence[str], limit: int
) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS`` with the kernel's limit on the size of any file it writes (RLIMIT_FSIZE:
    a write beyond it fails with EFBIG, as one fails on a full disk)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [LEDGER, *args], cwd=repo, capture_output=True, text=True, timeout=300, preexec_fn=apply
    )


@pytest.mark.parametrize(
    "args",
    [
        ("lineage", "--format", "json", "-o", "written/lineage.json"),
        ("provenance", "-o", "written/provenance.json"),
        ("export", "-o", "written/audit.zip"),
    ],
    ids=["lineage", "provenance", "export"],
)
def test_a_write_the_disk_refuses_is_a_clean_error_that_leaves_nothing(
    repo: Path, args: tuple[str, ...]
) -> None:
    (repo / "written").mkdir()
    done = _ledger_with_file_size_limit(repo, args, 4096)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"ledger: {args[-1]}: cannot be written (File too large)")
    assert list((repo / "written").iterdir()) == []


def test_new_on_a_full_disk_writes_nothing(repo: Path) -> None:
    data = _valid_new_version(repo)
    draft = repo.parent / "draft.json"
    drop = ("kind", "schema_version", "name", "version", "snapshot", "supersedes")
    draft.write_text(json.dumps({k: v for k, v in data.items() if k not in drop}))
    args = ("new", "dataset", "sepsis-cohort", "--version", "1.2", "--from", str(draft))
    args += ("--snapshot", "data/cohort.csv.dvc", "--supersedes", "sepsis-cohort@1.1")
    args += ("--reason", "Recount", "--change-type", "correction")
    done = _ledger_with_file_size_limit(repo, args, 1024)
    assert done.returncode == 2, done.stderr
    assert "cannot be written (File too large)" in done.stderr
    assert sorted(p.name for p in (repo / TARGET).parent.iterdir()) == ["1.0.json", "1.1.json"]


@pytest.mark.parametrize("target", ["/dev/full", "/proc/lineage.json"])
def test_an_output_path_that_is_a_device_or_on_a_read_only_file_system(
    repo: Path, target: str
) -> None:
    before = os.lstat(target).st_mode if os.path.lexists(target) else None
    result = run_ledger("lineage", "--format", "json", "-o", target, cwd=repo)
    assert result.code == 2
    assert result.err.startswith(f"ledger: {target}")
    assert (os.lstat(target).st_mode if os.path.lexists(target) else None) == before


def test_demo_into_a_folder_that_cannot_be_made_is_a_clean_error(tmp_path: Path) -> None:
    result = run_ledger("demo", "/proc/ledger-demo", cwd=tmp_path)
    assert result.code == 2
    assert result.err.startswith("ledger: /proc/ledger-demo: cannot be written")


_KILLED_MID_WRITE = """
import os, signal, sys
from pathlib import Path
from ledger.records.serialize import atomic_writer
with atomic_writer(Path(sys.argv[1])) as stream:
    stream.write(b'{"kind": "dataset", "na')
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_write_killed_midway_is_never_committed_and_is_swept_by_the_next(
    tmp_path: Path,
) -> None:
    """``kill -9`` while a record is written leaves its temporary file: git ignores it (ledger
    init told it to), and the next write of that record removes it, while the temporary file
    of a writer that still runs is left alone."""
    import signal
    import sys

    from ledger.records.serialize import write_atomic

    repo = tmp_path / "proj"
    assert run_ledger("init", str(repo), cwd=tmp_path).code == 0
    target = repo / "records/dataset/killed/1.0.json"
    target.parent.mkdir(parents=True)
    killed = subprocess.run([sys.executable, "-c", _KILLED_MID_WRITE, str(target)], check=False)
    assert killed.returncode == -signal.SIGKILL
    (leftover,) = _leftovers(target.parent)
    assert leftover.startswith(".1.0.json.ledger-") and not target.exists()
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert leftover not in staged and "ledger.toml" in staged

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = target.parent / f".1.0.json.ledger-{running.pid}-abc123.tmp"
        alive.write_bytes(b"in flight")
        write_atomic(target, b"{}\n")
        assert _leftovers(target.parent) == [alive.name]
    finally:
        running.kill()
        running.wait()
    assert target.read_bytes() == b"{}\n"


def test_init_adds_the_temporary_pattern_to_gitignore_once(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/build/")  # no final newline
    assert run_ledger("init", str(repo), cwd=tmp_path).code == 0
    assert run_ledger("init", str(repo), cwd=tmp_path).code == 0
    lines = (repo / ".gitignore").read_text().splitlines()
    assert lines[0] == "/build/" and lines.count(".*.ledger-*.tmp") == 1


@pytest.mark.parametrize("name", ["con", "nul.v2", "lpt1", "aux.backup"])
def test_a_name_windows_reserves_is_refused_where_it_is_written(repo: Path, name: str) -> None:
    """A folder named ``con`` or ``nul.v2`` cannot exist on Windows: a clone there would lack
    the record. The schema, the typed model and the command line all refuse it."""
    data = _valid_new_version(repo)
    data.update(name=name, version="1.0")
    del data["supersedes"]
    _write(repo, data, f"records/dataset/{name}/1.0.json")
    result = run_ledger("validate", "--format", "json", cwd=repo)
    assert result.code == 1
    reserved = [
        f
        for f in json.loads(result.out)["findings"]
        if f["pointer"] == "/name" and "Windows reserves" in f["message"]
    ]
    assert [f["code"] for f in reserved] == ["L105"], result.out
    # The name has no place, and its own finding says why: no second one about the place.
    assert not [f for f in json.loads(result.out)["findings"] if f["code"] == "L201"]
    shown = run_ledger("show", f"dataset:{name}@1.0", cwd=repo)
    assert shown.code == 2 and "Windows reserves" in shown.err


def test_names_that_only_start_like_a_device_are_accepted() -> None:
    from ledger.records.identity import is_name

    assert all(is_name(n) for n in ("console", "nullable", "com10", "auxiliary", "lpt-1", "prn2x"))
    assert not any(is_name(n) for n in ("con", "prn.x", "com0", "lpt9.a.b"))
