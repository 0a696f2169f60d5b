"""Writing the report's folder: all of it or nothing, and never over files ledger did not write.

The pages are written into a new folder beside the target, then put in its place with a rename.
A previous report is recognised by its manifest (``.ledger-report.json``, the files it wrote)
and replaced only when it holds nothing else: a file added to it since, or a folder that is not
a report at all, is refused, so ``-o`` can never delete a user's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ledger.errors import UsageError

MANIFEST = ".ledger-report.json"


class Staged:
    """The new report's folder, beside ``out`` until ``finish`` puts it in place."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.previous = _previous(out)
        self.written: list[str] = []
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            prefix = f".{out.name}.ledger-"
            self.folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out.parent))
        except OSError as exc:
            raise UsageError(f"{out}: cannot write the report here ({exc.strerror})") from None

    def write(self, relpath: str, content: bytes) -> None:
        """One file of the report, written now (a large report is never held whole)."""
        target = self.folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.written.append(relpath)

    def finish(self, manifest: Mapping[str, object]) -> None:
        listing = {**manifest, "files": sorted(self.written)}
        text = json.dumps(listing, indent=2, sort_keys=True) + "\n"
        (self.folder / MANIFEST).write_text(text, encoding="utf-8")
        self.folder.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a report is not
        _swap(self.folder, self.out, self.previous)


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Staged]:
    """A new report's folder to write into; nothing of it is left if the block fails, and
    ``Staged.finish`` replaces ``out`` with it whole."""
    stage = Staged(out)
    try:
        yield stage
    except OSError as exc:
        shutil.rmtree(stage.folder, ignore_errors=True)
        raise UsageError(f"{out}: cannot write the report ({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(stage.folder, ignore_errors=True)
        raise


def _previous(out: Path) -> bool:
    """Whether ``out`` holds a previous report (True), nothing (False), or refuse."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"{out} exists and is not a folder; give a new or empty folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    try:
        listed = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{out} exists and is not a ledger report; give a new or empty folder (ledger "
            "never deletes files it did not write)"
        ) from None
    known = {MANIFEST, *map(str, listed)}
    for path in sorted(out.rglob("*")):
        relpath = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if relpath not in known:
            raise UsageError(
                f"{out} is a ledger report, but {relpath} was not written by it; move that "
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
