"""Hashes of the data itself: SHA-256 for the ledger, DVC 3's md5 to check DVC's files offline.

Files are read in 1 MiB chunks, so a large model never sits in memory whole.

A directory's SHA-256 is the SHA-256 of the text with one line ``"<sha256 hex>  <relpath>\\n"``
per file, relpaths in posix form, sorted as bytes. An auditor can reproduce it with coreutils::

    cd DIR && find . -type f | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum | sha256sum

or, robust to spaces and leading dashes in names and to DVC's skipped folders (below)::

    cd DIR && find . \\( -name .git -o -type d -name .hg \\) -prune -o -type f -printf '%P\\0' \\
      | LC_ALL=C sort -z | xargs -0r sha256sum -- | sha256sum

(``sha256sum`` escapes names containing a backslash or a newline, so for such names the
pipeline and this module disagree.)

Both hashes walk the same files as DVC: everything except DVC's default ignores, ``.git``
(file or folder) and ``.hg`` folders. A symlink, a ``.dvcignore``, a nested DVC repository
(a ``.dvc`` folder) or a special file inside the tree raise, because DVC would follow, refuse
or silently drop them and the hash would no longer say what it covers. Patterns from
``.dvcignore`` files above the directory are not applied: if they exclude something, the md5
here differs from DVC's (a mismatch, never a false match).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError

CHUNK = 1 << 20
_DIR_HASH = re.compile(r"^[0-9a-f]{32}\.dir$")


class ContentHashError(LedgerError):
    """The data cannot be hashed the way DVC would (missing, special file, unsupported tree)."""


class SymlinkInTreeError(ContentHashError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path}: is a symbolic link; ledger hashes only regular files, "
            "so replace the link with the file it points to"
        )


class CacheObjectMissingError(ContentHashError):
    """A ``.dir`` object is not in the local DVC cache."""


def sha256_of(path: Path) -> str:
    """SHA-256 hex of a file, or of a directory's sorted per-file listing (see module docs)."""
    if not _is_dir(path):
        return _digest(path, hashlib.sha256())
    listing = hashlib.sha256()
    for rel, file in sorted(_walk(path), key=lambda item: os.fsencode(item[0])):
        listing.update(b"%s  %s\n" % (_digest(file, hashlib.sha256()).encode(), os.fsencode(rel)))
    return listing.hexdigest()


def dvc_md5_of(path: Path) -> str:
    """DVC 3's md5 of a file (raw bytes) or a directory (``<md5 of .dir manifest>.dir``)."""
    if not _is_dir(path):
        return _digest(path, _md5())
    md5 = _md5()
    md5.update(_manifest_bytes(dvc_dir_manifest(path)))
    return md5.hexdigest() + ".dir"


def dvc_dir_manifest(path: Path) -> list[dict[str, str]]:
    """The entries of DVC's ``.dir`` object for a directory: ``{"md5", "relpath"}``, sorted."""
    if not _is_dir(path):
        raise ContentHashError(f"{path}: is not a directory; a .dir manifest describes a folder")
    entries = [{"md5": _digest(file, _md5()), "relpath": rel} for rel, file in _walk(path)]
    # DVC sorts by the relpath string (dvc-data Tree.as_list), which '-' < '/' makes matter.
    return sorted(entries, key=lambda entry: entry["relpath"])


def size_and_nfiles(path: Path) -> tuple[int, int | None]:
    """``size`` and ``nfiles`` as DVC writes them: nfiles only for a directory."""
    if not _is_dir(path):
        return path.stat().st_size, None
    sizes = [file.stat().st_size for _, file in _walk(path)]
    return sum(sizes), len(sizes)


def read_dir_manifest(cache_dir: Path, md5_dir: str) -> list[dict[str, str]]:
    """The entries of ``<cache_dir>/files/md5/<2>/<30>.dir``, checked against their hash."""
    if not _DIR_HASH.match(md5_dir):
        raise ContentHashError(f"{md5_dir!r} is not a DVC directory hash (32 hex digits + '.dir')")
    obj = cache_dir / "files" / "md5" / md5_dir[:2] / md5_dir[2:]
    try:
        data = obj.read_bytes()
    except FileNotFoundError:
        raise CacheObjectMissingError(
            f"{obj}: {md5_dir} is not in the DVC cache; fetch it with `dvc fetch` or `dvc pull`"
        ) from None
    md5 = _md5()
    md5.update(data)
    if md5.hexdigest() + ".dir" != md5_dir:
        raise ContentHashError(
            f"{obj}: content does not match its name, the cache is corrupt; "
            "delete the file and run `dvc fetch` again"
        )
    try:
        entries: Any = json.loads(data)
    except ValueError:
        entries = None
    if not isinstance(entries, list) or not all(_is_entry(e) for e in entries):
        raise ContentHashError(
            f"{obj}: not a list of {{md5, relpath}} entries; delete it and run `dvc fetch` again"
        )
    return [{"md5": e["md5"], "relpath": e["relpath"]} for e in entries]


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("md5"), str)
        and isinstance(entry.get("relpath"), str)
    )


def _manifest_bytes(entries: list[dict[str, str]]) -> bytes:
    # Exactly dvc-data's Tree.as_bytes: default separators, sorted keys, UTF-8.
    return json.dumps(entries, sort_keys=True).encode("utf-8")


def _md5() -> hashlib._Hash:
    # md5 identifies content here, it does not protect it; FIPS builds need the flag.
    return hashlib.md5(usedforsecurity=False)


def _digest(path: Path, hasher: hashlib._Hash) -> str:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            hasher.update(view[:count])
    return hasher.hexdigest()


def _is_dir(path: Path) -> bool:
    """Whether to hash ``path`` as a directory; refuses links, special files and absence."""
    if path.is_symlink():
        raise SymlinkInTreeError(path)
    if path.is_dir():
        return True
    if path.is_file():
        return False
    if not path.exists():
        raise ContentHashError(f"{path}: does not exist; run `dvc checkout` or `dvc pull` first")
    raise ContentHashError(f"{path}: is not a regular file or a directory; hash the data instead")


def _walk(root: Path) -> list[tuple[str, Path]]:
    """(posix relpath, path) of every file DVC would hash under ``root``, unsorted."""
    found: list[tuple[str, Path]] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path, rel = Path(entry.path), prefix + entry.name
                if entry.is_symlink():
                    raise SymlinkInTreeError(path)
                if entry.name == ".git" or (entry.name == ".hg" and entry.is_dir()):
                    continue
                if entry.name == ".dvcignore" or (entry.name == ".dvc" and entry.is_dir()):
                    raise ContentHashError(
                        f"{path}: DVC refuses or skips a tracked folder holding {entry.name}; "
                        "move it out of the data"
                    )
                if entry.is_dir():
                    pending.append((path, rel + "/"))
                elif entry.is_file():
                    found.append((rel, path))
                else:
                    raise ContentHashError(
                        f"{path}: is not a regular file (a socket, FIFO or device); remove it"
                    )
    return found
