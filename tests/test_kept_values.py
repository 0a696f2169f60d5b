"""Values kept between runs by a digest of their inputs (``ledger.state.values``), and the
FHIR entries kept that way: the same bytes as a cold mapping, only new versions mapped after a
commit, and a kept file that cannot be trusted is discarded with a note, never used."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.state.values import KeptValues
from tests.conftest import git
from tests.test_benchmarks import load
from tests.test_state import generated

SPACE = "test"


@pytest.fixture(scope="module")
def ledger20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory, 20)


@pytest.fixture
def repo(ledger20: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(ledger20, copy, symlinks=True)
    shutil.rmtree(copy / ".git/ledger", ignore_errors=True)
    return copy


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[KeptValues]:
    values = KeptValues(tmp_path / "kept/values.sqlite", [])
    yield values
    values.close()


def _stored(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT space, key, value FROM kept ORDER BY key").fetchall()


def test_values_come_back_as_kept_and_only_in_their_space(kept: KeptValues) -> None:
    kept.put(SPACE, {b"a": ("one", [1, 2.5, None], {"x": b"\x00"}), b"b": "two"})
    kept.close()
    assert kept.get(SPACE, [b"a", b"b", b"c"]) == {
        b"a": ("one", [1, 2.5, None], {"x": b"\x00"}),
        b"b": "two",
    }
    assert kept.get("other", [b"a"]) == {}
    assert kept.count(SPACE) == 2 and kept.count("other") == 0


def test_a_corrupt_value_is_discarded_with_a_note(kept: KeptValues) -> None:
    kept.put(SPACE, {b"a": "the value", b"b": "another"})
    kept.close()
    _, key, value = _stored(kept.path)[0]
    forged = value[:-1] + bytes([value[-1] ^ 1])
    with sqlite3.connect(kept.path) as db:
        db.execute("UPDATE kept SET value = ? WHERE key = ?", (forged, key))
    assert kept.get(SPACE, [b"a", b"b"]) == {b"b": "another"}
    assert kept.notes and "1 kept value(s)" in kept.notes[0] and "corrupt" in kept.notes[0]
    assert kept.count(SPACE) == 1  # deleted, to be computed again


def test_a_value_under_another_key_than_its_own_is_discarded(kept: KeptValues) -> None:
    """Each value's checksum covers its space and key: swapped rows (a damaged index, or a
    hand-made exchange of two records' FHIR entries) are not read as each other's."""
    kept.put(SPACE, {b"a": "the value of a", b"b": "the value of b", b"c": "c"})
    kept.put("other", {b"a": "a, elsewhere"})
    kept.close()
    rows = {(space, key): value for space, key, value in _stored(kept.path)}
    with sqlite3.connect(kept.path) as db:
        swap = "UPDATE kept SET value = ? WHERE space = ? AND key = ?"
        db.execute(swap, (rows[SPACE, b"b"], SPACE, b"a"))
        db.execute(swap, (rows[SPACE, b"a"], SPACE, b"b"))
        db.execute(swap, (rows["other", b"a"], SPACE, b"c"))
    assert kept.get(SPACE, [b"a", b"b", b"c"]) == {}
    assert "3 kept value(s)" in kept.notes[0]
    assert kept.get("other", [b"a"]) == {b"a": "a, elsewhere"}


def test_a_file_that_is_no_database_is_started_afresh(kept: KeptValues) -> None:
    kept.path.parent.mkdir(parents=True)
    kept.path.write_bytes(b"this is not an SQLite database, but it is long enough" * 40)
    assert kept.get(SPACE, [b"a"]) == {}
    assert kept.notes and "unreadable" in kept.notes[0]
    kept.put(SPACE, {b"a": 1})
    kept.flush()
    assert kept.get(SPACE, [b"a"]) == {b"a": 1}


@pytest.mark.parametrize("blocker", ["file", "folder"])
def test_a_place_that_cannot_hold_the_file_keeps_nothing_and_fails_nothing(
    tmp_path: Path, blocker: str
) -> None:
    # A file where the folder should be, or a folder where the file should be: neither can
    # be opened or created, whoever runs (root writes into read-only folders).
    if blocker == "file":
        (tmp_path / "kept").write_text("not a folder")
        path = tmp_path / "kept/values.sqlite"
    else:
        path = tmp_path / "values.sqlite"
        path.mkdir()
    values = KeptValues(path, [])
    values.put(SPACE, {b"a": 1})
    values.close()
    assert values.get(SPACE, [b"a"]) == {} and values.count(SPACE) == 0
    assert values.notes == []
    assert (tmp_path / "kept").is_file() if blocker == "file" else path.is_dir()


def test_a_complete_pass_drops_what_it_no_longer_uses_once_it_is_most(kept: KeptValues) -> None:
    kept.put(SPACE, {bytes([i]): i for i in range(10)})
    kept.prune(SPACE, {bytes([i]) for i in range(5)})  # used half: nothing dropped yet
    assert kept.count(SPACE) == 10
    kept.prune(SPACE, {b"\x00", b"\x01"})
    assert kept.count(SPACE) == 2
    assert kept.get(SPACE, [bytes([i]) for i in range(10)]) == {b"\x00": 0, b"\x01": 1}


# --- FHIR entries -------------------------------------------------------------------------


def _provenance(repo: Path, *, remember: bool, version: str = "R5", ndjson: bool = False) -> str:
    with Ledger.open(repo) as book:
        book.remember = remember
        bundle = book.provenance(fhir_version=version)
        return "".join(bundle.ndjson_chunks() if ndjson else bundle.json_chunks())


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The node ids of every record version the FHIR mapping maps (not reads back as kept)."""
    from ledger.fhir import bundle

    seen: list[str] = []
    original = bundle._map_records

    def spy(version: str, as_bundle: bool, base: str, records: list[Any]) -> Any:
        seen.extend(bundle._RecordInput.from_plain(r).node_id for r in records)
        return original(version, as_bundle, base, records)

    monkeypatch.setattr(bundle, "_map_records", spy)
    return seen


@pytest.mark.parametrize(("version", "ndjson"), [("R5", False), ("R4B", True)])
def test_kept_entries_give_the_bytes_of_a_cold_mapping(
    repo: Path, mapped: list[str], version: str, ndjson: bool
) -> None:
    cold = _provenance(repo, remember=False, version=version, ndjson=ndjson)
    assert len(mapped) == 20
    mapped.clear()
    assert _provenance(repo, remember=True, version=version, ndjson=ndjson) == cold
    assert len(mapped) == 20  # nothing kept yet: mapped, then kept
    mapped.clear()
    assert _provenance(repo, remember=True, version=version, ndjson=ndjson) == cold
    assert mapped == []


@pytest.mark.parametrize("ndjson", [False, True])
def test_entries_written_to_their_spools_a_few_at_a_time_give_the_same_bytes(
    repo: Path, monkeypatch: pytest.MonkeyPatch, ndjson: bool
) -> None:
    from ledger.fhir import bundle

    whole = _provenance(repo, remember=False, ndjson=ndjson)
    monkeypatch.setattr(bundle, "LINES_HELD", 2)
    assert _provenance(repo, remember=False, ndjson=ndjson) == whole


def test_after_a_commit_only_the_new_version_is_mapped(repo: Path, mapped: list[str]) -> None:
    generate = load("generate")
    _provenance(repo, remember=True)
    extra = generate.next_commit(repo)
    generate.add_commit(repo, extra)
    mapped.clear()
    warm = _provenance(repo, remember=True)
    (added,) = (path for path in extra.files if path.endswith(".json"))
    name, version = Path(added).parent.name, Path(added).stem
    assert mapped == [f"record:dataset:{name}@{version}"]
    assert warm == _provenance(repo, remember=False)


def test_records_linking_to_a_changed_record_are_mapped_again(
    repo: Path, mapped: list[str]
) -> None:
    """A kept entry's key stands in for the records it links to by what their references are
    made of: when one of those changes, so does the key."""
    _provenance(repo, remember=True)
    with Ledger.open(repo) as book:
        state = book.state("HEAD")
        model = next(f for f in state.records.valid() if f.facts.kind == "model")
        target = next(link.target for link in model.facts.links if link.relation == "trained-on")
        dataset = state.records.by_id[target].relpath
    data = json.loads((repo / dataset).read_text())
    data["title"] += " (edited after it was committed)"
    (repo / dataset).write_text(json.dumps(data, indent=2) + "\n")
    git("commit", "-qam", "edit a committed dataset", cwd=repo)
    mapped.clear()
    warm = _provenance(repo, remember=True)
    assert f"record:{model.facts.claimed}" in mapped
    assert f"record:{target}" in mapped
    assert warm == _provenance(repo, remember=False)


def test_a_corrupt_kept_entry_is_mapped_again_with_a_note(repo: Path, mapped: list[str]) -> None:
    cold = _provenance(repo, remember=True)
    (path,) = (repo / ".git/ledger").glob("state-*/values.sqlite")
    rows = _stored(path)
    _, key, value = next(row for row in rows if row[0].startswith("fhir-record-"))
    forged = value[:20] + bytes([value[20] ^ 1]) + value[21:]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE kept SET value = ? WHERE key = ?", (forged, key))
    mapped.clear()
    with Ledger.open(repo) as book:
        assert "".join(book.provenance().json_chunks()) == cold
    assert len(mapped) == 1
    assert any("corrupt" in note for note in book.notes)


def test_a_value_put_in_this_run_is_found_before_it_is_written(kept: KeptValues) -> None:
    kept.put("space", {b"k": {"a": 1}})
    assert kept.get("space", [b"k"]) == {b"k": {"a": 1}}  # pending, not yet in the file
    kept.put("space", {b"k": {"a": 2}})
    assert kept.get("space", [b"k", b"other"]) == {b"k": {"a": 2}}
    kept.flush()
    assert kept.get("space", [b"k"]) == {b"k": {"a": 2}}
