"""States of a repository that checks read from: the working tree, the index or a commit.

Checks never open files themselves; they ask a ``TreeView``. That keeps one set of rules for
the working tree (``ledger validate``), the index (the pre-commit gate) and history
(``ledger verify``). ``ledger.git.trees.GitTree`` reads the index and commits.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from ledger.dvc.files import MAX_TEXT_BYTES, DvcFileError, dvc_text
from ledger.findings import Finding
from ledger.records.identity import is_json_name
from ledger.records.jsonload import Limits, read_record_file

_FIX = "put the DVC file there as DVC writes it (`dvc add` or `dvc repro`)"
# What a read of one record file gives: its bytes, or why it could not be read.
Read = tuple[bytes | None, list[Finding]]


class FileSource(Protocol):
    """Where DVC files are read from: a tree, or the files of one commit."""

    label: str

    def read_text(self, relpath: str) -> str | None:
        """A small text file such as a .dvc file; None when it does not exist."""
        ...

    def preload(self, relpaths: Iterable[str]) -> None:
        """Read many files at once, ahead of ``read_text`` asking for them one by one (a
        round trip each to git); a source that reads files cheaply may do nothing."""
        ...


class TreeView(FileSource, Protocol):
    """Read access to one state of the repository, by repository-relative posix path."""

    def record_files(self, records_dir: str) -> Mapping[str, str | None]:
        """Every ``*.json`` file below ``records_dir``, with its git blob id where the view
        knows it without reading the file."""
        ...

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        """The bytes of record files, read in one go."""
        ...


class WorkingTree:
    """The files on disk under a repository root."""

    label = "working tree"

    def __init__(self, root: Path) -> None:
        self.root = root
        # Files are named by string: building a Path per file costs more than reading it.
        self._prefix = os.fspath(root).rstrip(os.sep) + os.sep  # "/", "./" or "/repo/"

    def record_files(self, records_dir: str) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        root = self._prefix
        inside = posixpath.normpath(records_dir)
        for folder, _, files in os.walk(root if inside == "." else root + inside):
            relative = folder[len(root) :].replace(os.sep, "/")
            prefix = f"{relative}/" if relative else ""
            for name in files:
                if is_json_name(name):
                    found[prefix + name] = None
        return dict(sorted(found.items()))

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        return {p: read_record_file(self._prefix + p, p, limits) for p in relpaths}

    def preload(self, relpaths: Iterable[str]) -> None:
        pass  # a file on disk is read when it is asked for

    def read_text(self, relpath: str) -> str | None:
        """A DVC file on disk, read as git would commit it: a symbolic link, a FIFO or a
        device is refused, never followed or read, and the read is bounded."""
        path = self._prefix + relpath
        # O_NOFOLLOW refuses a link and O_NONBLOCK opens a FIFO without waiting for a writer;
        # fstat then says what was opened, so nothing is swapped in between.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a link
                raise DvcFileError(
                    relpath, "is a symbolic link", "replace the link with the DVC file itself"
                ) from None
            raise DvcFileError(relpath, f"cannot be read ({exc.strerror})", _FIX) from None
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                return None
            if not stat.S_ISREG(mode):
                raise DvcFileError(relpath, "is not a regular file (a FIFO or device)", _FIX)
            return dvc_text(handle.read(MAX_TEXT_BYTES + 1), relpath)


class Overlay(WorkingTree):
    """The working tree with some files replaced, to check a record before it is written."""

    def __init__(self, root: Path, files: Mapping[str, bytes]) -> None:
        super().__init__(root)
        self.files = dict(files)

    def record_files(self, records_dir: str) -> dict[str, str | None]:
        listed = super().record_files(records_dir)
        listed.update(dict.fromkeys(self.files))
        return dict(sorted(listed.items()))

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        paths = list(relpaths)
        read = super().read_records([p for p in paths if p not in self.files], limits)
        read.update((p, (self.files[p], [])) for p in paths if p in self.files)
        return read
