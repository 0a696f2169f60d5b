"""Trees as checks read them: the working tree lists the same files whatever form its root is
given in, and a commit's record files follow from an ancestor's and the difference of their
trees."""

from __future__ import annotations

import os
import subprocess
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


def test_an_object_name_with_spaces_that_git_lacks_is_absent_not_a_crash(tmp_path: Path) -> None:
    """git answers "<name> missing", repeating a name that may hold spaces (a DVC output
    "scans (2024).csv"); one space made the answer look like "<oid> <type> <size>"."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "with space.txt").write_text("here\n")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "one"], cwd=tmp_path, check=True)
    with Repository(tmp_path) as session:
        found = session.cat.read_many(
            ["HEAD:with space.txt", "HEAD:scans (2024).csv", "HEAD:a b c missing", "HEAD:x"]
        )
    assert found == [("blob", b"here\n"), None, None, None]
