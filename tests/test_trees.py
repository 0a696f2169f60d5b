"""Trees as checks read them: the working tree lists the same files whatever form its root is
given in, and a commit's record files follow from an ancestor's and the difference of their
trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.git.repository import Repository, listing_after
from ledger.records.jsonload import Limits
from ledger.trees import WorkingTree
from tests.conftest import git


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


def test_record_files_patched_by_a_tree_difference_are_the_files_git_lists(repo: Path) -> None:
    before = git("rev-parse", "HEAD", cwd=repo).strip()
    records = repo / "records"
    (records / "dataset/sepsis-test/1.0.json").unlink()  # deleted
    (records / "model/sepsis-risk/1.0.json").write_text("{}\n")  # changed
    (records / "model/sepsis-risk/1.1.json").chmod(0o755)  # mode only
    cohort = records / "dataset/sepsis-cohort/1.0.json"
    cohort.unlink()
    cohort.symlink_to("1.1.json")  # a file becomes a symbolic link
    evaluation = records / "evaluation/sepsis-risk-heldout"
    for child in evaluation.iterdir():
        child.unlink()
    evaluation.rmdir()
    evaluation.write_text("a folder became a file\n")
    (records / "dataset/new/2.0.json").parent.mkdir()
    (records / "dataset/new/2.0.json").write_text("{}\n")  # added in a new folder
    (records / "dataset/odd\nname\t\udcff.json").write_text("{}\n")  # bytes git quotes
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "Change records every way", cwd=repo)
    after = git("rev-parse", "HEAD", cwd=repo).strip()
    with Repository(repo) as session:
        earlier = session.list_tree(before, "records")
        changes = session.tree_changes(before, after)  # the whole tree, as verify asks
        listing = listing_after(earlier, changes, "records")
        assert listing == session.list_tree(after, "records")
        assert listing_after(earlier, changes, "./records/") == listing
        assert "records/dataset/odd\nname\t\udcff.json" in listing
        assert listing_after(listing, session.tree_changes(after, after), "records") == listing
