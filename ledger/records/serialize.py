"""How record files are written: stable key order, two-space indent, UTF-8, atomically."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ledger.errors import RecordExistsError, UsageError

#: Temporary files are ``.NAME.ledger-PID-RANDOM.tmp`` beside the file they become. A writer
#: killed mid-write (``kill -9``) leaves one: ``ledger init`` has git ignore them, so that
#: ``git add -A`` does not commit it, and the next write of NAME removes those whose writer is
#: gone.
TEMPORARY_PATTERN = ".*.ledger-*.tmp"
_TEMPORARY_INFIX = ".ledger-"

# Identity first, so a reader sees what a file is before what it says.
_LEADING_KEYS = ("kind", "schema_version", "name", "version", "title", "description")


def place_inside(root: Path, relpath: str) -> Path:
    """Where the repository file ``relpath`` is written, refused when a folder on the way there
    is a symbolic link: the file would land wherever the link points, outside what git sees."""
    folder = root
    for part in Path(relpath).parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            shown = folder.relative_to(root).as_posix()
            raise UsageError(
                f"{shown} is a symbolic link, so {relpath} would be written outside the "
                "repository; replace the link with a folder"
            )
    return root / relpath


def dumps_record(data: dict[str, object]) -> bytes:
    ordered = {k: data[k] for k in _LEADING_KEYS if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return (json.dumps(ordered, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def cannot_write(path: Path, exc: OSError) -> UsageError:
    """The error for a file that could not be written (a full disk, a read-only file system,
    a folder that cannot hold files): the environment's matter, not a bug."""
    return UsageError(
        f"{path}: cannot be written ({exc.strerror or exc}); nothing was changed there: free "
        "disk space, or write to a folder you can write to"
    )


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (so that renaming it over ``path`` is atomic),
    with the mode an ordinary file gets: mkstemp creates it private (0600), and a record is an
    ordinary file, as git checks it out. Only a regular file (or nothing) is replaced: renaming
    over ``/dev/stdout`` or ``/dev/full`` would put a file where a link or a device was."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        if not stat.S_ISREG(path.lstat().st_mode):
            raise UsageError(
                f"{path} exists and is not a regular file (a link, a device or a folder), and "
                "ledger only replaces files; give the path of a file to write"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep(path)
        prefix = f".{path.name}{_TEMPORARY_INFIX}{os.getpid()}-"
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def _sweep(path: Path) -> None:
    """Remove the temporary files of ``path`` left by writers that no longer run. A writer
    still running (another ``ledger new`` racing this one) keeps its file."""
    start = len(path.name) + 1 + len(_TEMPORARY_INFIX)
    pattern = f".{glob.escape(path.name)}{_TEMPORARY_INFIX}*.tmp"
    for leftover in path.parent.glob(pattern):
        pid = leftover.name[start:].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(OSError):  # best effort: never the reason a write fails
                leftover.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # it exists under another user (or cannot be asked): leave its file
    return True


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
            os.link(tmp, path)
    except FileExistsError:
        raise RecordExistsError(
            f"{path}: this version already exists and versions are immutable; "
            "write a new version that supersedes it"
        ) from None
    except OSError as exc:
        raise cannot_write(path, exc) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """A file to stream into that replaces ``path`` only when the block ends without error."""
    fd, tmp = _temporary_beside(path)
    handle = os.fdopen(fd, "wb")
    try:
        try:
            yield handle
        except OSError as exc:
            if exc.errno not in _NO_ROOM:
                raise  # raised by whatever produced the content
            raise cannot_write(path, exc) from None
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            Path(tmp).replace(path)
        except OSError as exc:
            raise cannot_write(path, exc) from None
    finally:
        # Closing flushes what is buffered, which fails again on a full disk: the error
        # raised above is the one to report.
        with contextlib.suppress(OSError):
            handle.close()
        Path(tmp).unlink(missing_ok=True)


#: What a write into a file that was opened fine can still fail with.
_NO_ROOM = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO))
