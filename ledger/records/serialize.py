"""How record files are written: stable key order, two-space indent, UTF-8, atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ledger.errors import RecordExistsError

# Identity first, so a reader sees what a file is before what it says.
_LEADING_KEYS = ("kind", "schema_version", "name", "version", "title", "description")


def dumps_record(data: dict[str, object]) -> bytes:
    ordered = {k: data[k] for k in _LEADING_KEYS if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return (json.dumps(ordered, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (so that renaming it over ``path`` is atomic),
    with the mode an ordinary file gets: mkstemp creates it private (0600), and a record is an
    ordinary file, as git checks it out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def write_atomic(path: Path, content: bytes, *, overwrite: bool = False) -> None:
    """Write via a temporary file in the same folder and a rename: never a half-written file.

    Without ``overwrite``, an existing file is never replaced (records are immutable).
    """
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            Path(tmp).replace(path)
        else:
            # link() fails if the target exists, so two writers cannot both create one version.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise RecordExistsError(
                    f"{path}: this version already exists and versions are immutable; "
                    "write a new version that supersedes it"
                ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """A file to stream into that replaces ``path`` only when the block ends without error."""
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
