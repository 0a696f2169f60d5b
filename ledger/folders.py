"""Writing a folder of output (a report, a Bulk Data file set): all of it or nothing, and never
over files ledger did not write.

The files are written into a new folder beside the target, then put in its place with a rename.
A previous output of the same kind is recognised by its hidden manifest (the files it wrote)
and replaced only when it holds nothing else: a file added to it since, or a folder that is not
such an output at all, is refused, so ``-o`` can never delete a user's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from ledger.errors import UsageError


class Kind(NamedTuple):
    """What a folder holds: its name in messages, and its hidden manifest's file name."""

    noun: str
    manifest: str


REPORT = Kind("ledger report", ".ledger-report.json")
BULK = Kind("ledger Bulk Data file set", ".ledger-bulk.json")


class Staged:
    """The new folder, beside ``out`` until ``finish`` puts it in place."""

    def __init__(self, out: Path, kind: Kind) -> None:
        self.out, self.kind = out, kind
        self.previous = _previous(out, kind)
        self.written: list[str] = []
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            prefix = f".{out.name}.ledger-"
            self.folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out.parent))
        except OSError as exc:
            raise UsageError(f"{out}: cannot write the {kind.noun} here ({exc.strerror})") from None

    def write(self, relpath: str, content: bytes) -> None:
        """One file, written now (a large output is never held whole)."""
        target = self.folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.written.append(relpath)

    def write_lines(self, relpath: str, lines: Iterable[str]) -> tuple[int, int]:
        """One file streamed from its lines (each ending with a newline); how many lines and
        bytes it holds."""
        target = self.folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        count = size = 0
        with target.open("wb") as handle:
            for line in lines:
                data = line.encode()
                handle.write(data)
                count, size = count + 1, size + len(data)
        self.written.append(relpath)
        return count, size

    def finish(self, manifest: Mapping[str, object]) -> None:
        listing = {**manifest, "files": sorted(self.written)}
        text = json.dumps(listing, indent=2, sort_keys=True) + "\n"
        (self.folder / self.kind.manifest).write_text(text, encoding="utf-8")
        self.folder.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is not
        _swap(self.folder, self.out, self.previous)


@contextlib.contextmanager
def staged(out: Path, kind: Kind) -> Iterator[Staged]:
    """A new folder to write into; nothing of it is left if the block fails, and
    ``Staged.finish`` replaces ``out`` with it whole."""
    stage = Staged(out, kind)
    try:
        yield stage
    except OSError as exc:
        shutil.rmtree(stage.folder, ignore_errors=True)
        raise UsageError(f"{out}: cannot write the {kind.noun} ({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(stage.folder, ignore_errors=True)
        raise


def _previous(out: Path, kind: Kind) -> bool:
    """Whether ``out`` holds a previous output of ``kind`` (True), nothing (False), or refuse."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"{out} exists and is not a folder; give a new or empty folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    try:
        listed = json.loads((out / kind.manifest).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{out} exists and is not a {kind.noun}; give a new or empty folder (ledger "
            "never deletes files it did not write)"
        ) from None
    known = {kind.manifest, *map(str, listed)}
    for path in sorted(out.rglob("*")):
        relpath = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if relpath not in known:
            raise UsageError(
                f"{out} is a {kind.noun}, but {relpath} was not written by it; move that "
                "file out, or give another folder (ledger never deletes files it did not write)"
            )
    return True


def _swap(staging: Path, out: Path, previous: bool) -> None:
    if not previous:
        with contextlib.suppress(FileNotFoundError):
            out.rmdir()  # an empty folder
        staging.rename(out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.ledger-old-", dir=out.parent))
    retired.rmdir()
    out.rename(retired)
    staging.rename(out)
    shutil.rmtree(retired, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
