"""States of a repository that checks read from: the working tree now, the index or a commit later.

Checks never open files themselves; they ask a ``TreeView``. That keeps one set of rules for the
working tree (``ledger validate``), the index (the pre-commit gate) and history (``ledger verify``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Protocol

from ledger.errors import NotAGitRepositoryError
from ledger.checks.findings import Finding
from ledger.records.jsonload import Limits, load_json_file


class FileSource(Protocol):
    """Where DVC files are read from: a tree, or the files of one commit."""

    label: str

    def read_text(self, relpath: str) -> str | None:
        """A small text file such as a .dvc file; None when it does not exist."""
        ...


class TreeView(FileSource, Protocol):
    """Read access to one state of the repository, by repository-relative posix path."""

    def record_files(self, records_dir: str) -> list[str]:
        """Every ``*.json`` file below ``records_dir``, sorted."""
        ...

    def load_record(self, relpath: str, limits: Limits) -> tuple[object | None, list[Finding]]:
        """The parsed JSON of a record file, and what is wrong with reading it."""
        ...


class WorkingTree:
    """The files on disk under a repository root."""

    label = "working tree"

    def __init__(self, root: Path) -> None:
        self.root = root

    def record_files(self, records_dir: str) -> list[str]:
        base = self.root / records_dir
        found: list[str] = []
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in files:
                if name.endswith(".json"):
                    found.append(Path(folder, name).relative_to(self.root).as_posix())
        return sorted(found)

    def load_record(self, relpath: str, limits: Limits) -> tuple[object | None, list[Finding]]:
        return load_json_file(self.root / relpath, relpath, limits)

    def read_text(self, relpath: str) -> str | None:
        path = self.root / relpath
        try:
            return path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def absolute(self, relpath: str) -> Path:
        return self.root / PurePosixPath(relpath)


def find_repository_root(start: Path) -> Path:
    """The top of the git work tree containing ``start``; NotAGitRepositoryError outside one."""
    from git import InvalidGitRepositoryError, NoSuchPathError, Repo

    try:
        repo = Repo(start, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise NotAGitRepositoryError(str(start)) from exc
    if repo.working_tree_dir is None:
        raise NotAGitRepositoryError(f"{start} (a bare repository has no work tree)")
    return Path(repo.working_tree_dir)
