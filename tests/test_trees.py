"""The working tree as checks read it: the same files whatever form its root is given in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.records.jsonload import Limits
from ledger.trees import WorkingTree


def test_record_files_do_not_depend_on_how_the_root_is_written(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "records" / "dataset" / "notes.txt").write_text("not a record\n")
    expected = sorted(
        path.relative_to(repo).as_posix() for path in (repo / "records").rglob("*.json")
    )
    assert expected
    monkeypatch.chdir(repo)
    roots = [repo, Path(f"{repo}{os.sep}"), Path(), Path("..") / repo.name]
    everywhere = sorted(path.relative_to(repo).as_posix() for path in repo.rglob("*.json"))
    for root in roots:
        for records_dir in ("records", "records/", "./records"):
            listed = WorkingTree(root).record_files(records_dir)
            assert list(listed) == expected, (root, records_dir)
            read = WorkingTree(root).read_records(expected[:1], Limits())
            assert read[expected[0]][0] == (repo / expected[0]).read_bytes()
        assert list(WorkingTree(root).record_files(".")) == everywhere, root
