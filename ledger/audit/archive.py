"""Reading an audit export as untrusted input: every entry hashed as it streams, none trusted.

An auditor's unzip tool, not this reader, decides what they end up looking at, so entries whose
meaning depends on the tool are reported rather than resolved: a name that occurs twice (tools
disagree on which copy wins), names that one file system would merge (``A.json`` and ``a.json``,
or two Unicode spellings of one name), names that extract outside the folder, and entries that
are not regular files (a symbolic link extracts as a link to wherever it points). An entry that
cannot be read (encrypted, compressed with a method this Python lacks, corrupt) is reported too.

Memory stays bounded whatever the zip holds: entries are hashed a block at a time, and only the
files the checks parse are kept, each up to a limit (records up to the record size limit, the
others spooled to a temporary file past a few megabytes).
"""

from __future__ import annotations

import hashlib
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ledger.errors import UsageError
from ledger.findings import Finding, finding

BLOCK = 1 << 20
#: Kept in memory up to this size, then in a temporary file.
SPOOL_BYTES = 8 << 20
#: A manifest larger than this is refused unread (a 100,000-record export's is about 30 MB).
MANIFEST_LIMIT = 256 << 20

#: What to keep of an entry, by name: nothing (None), or at most this many bytes.
Keep = Callable[[str], int | None]


@dataclass
class Entry:
    """One readable, unambiguous entry: its SHA-256, its size, and its bytes if kept."""

    name: str
    sha256: str
    size: int
    spool: IO[bytes] | None = None
    #: Whether more bytes followed than ``keep`` allowed (the kept ones are the first).
    cut: bool = False

    def data(self) -> bytes:
        if self.spool is None:
            return b""
        self.spool.seek(0)
        return self.spool.read()


@dataclass
class Archive:
    """The entries of a zip an auditor can rely on, and what was wrong with the others."""

    entries: dict[str, Entry] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    #: Names of the entries reported as unreadable or ambiguous, as the zip spells them.
    skipped: set[str] = field(default_factory=set)

    def close(self) -> None:
        for entry in self.entries.values():
            if entry.spool is not None:
                entry.spool.close()


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot be read as a zip file ({exc})") from None


def read_archive(archive: zipfile.ZipFile, keep: Keep) -> Archive:
    """Hash every file entry; keep what ``keep`` asks for of the unambiguous ones."""
    result = Archive()
    files = [info for info in archive.infolist() if not _is_folder(info)]
    ambiguous = _ambiguous(files)
    for name, why in sorted(ambiguous.items()):
        result.findings.append(finding("L907", printable(name), "", why))
    result.skipped.update(ambiguous)
    for info in files:
        if info.filename in ambiguous:
            continue
        try:
            result.entries[info.filename] = _read(archive, info, keep(info.filename))
        except _Unreadable as exc:
            result.findings.append(finding("L906", printable(info.filename), "", str(exc)))
            result.skipped.add(info.filename)
    return result


class _Unreadable(Exception):
    pass


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int | None) -> Entry:
    if info.flag_bits & 0x1:
        raise _Unreadable("is encrypted; an export's entries never are")
    digest = hashlib.sha256()
    size = 0
    spool: IO[bytes] | None = None
    if limit is not None:
        # The entry owns the spool past this function; ``Archive.close`` closes it.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    cut = False
    try:
        with archive.open(info) as stream:
            for block in iter(lambda: stream.read(BLOCK), b""):
                digest.update(block)
                if spool is not None and limit is not None:
                    room = limit - size
                    if room > 0:
                        spool.write(block[:room])
                    cut = cut or len(block) > room
                size += len(block)
    # NotImplementedError: compression methods 1 (shrink), 98 (PPMd), 99 (AES); the others:
    # corrupt data, a bad CRC, a truncated entry, headers that disagree.
    except (
        NotImplementedError,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        RuntimeError,
        OSError,
        ValueError,
    ) as exc:
        _drop(spool)
        raise _Unreadable(f"cannot be read: {exc}") from None
    return Entry(info.filename, digest.hexdigest(), size, spool, cut)


def _drop(spool: IO[bytes] | None) -> None:
    if spool is not None:
        spool.close()


def _is_folder(info: zipfile.ZipInfo) -> bool:
    return info.filename.endswith("/")


def _ambiguous(files: list[zipfile.ZipInfo]) -> dict[str, str]:
    """Entry names an unzip tool may extract as something other than what was checked."""
    why: dict[str, str] = {}
    counts = Counter(info.filename for info in files)
    for name, count in counts.items():
        if count > 1:
            why[name] = f"occurs {count} times; unzip tools differ in which copy they extract"
    spellings: dict[str, set[str]] = defaultdict(set)
    for name in counts:
        spellings[unicodedata.normalize("NFC", name).casefold()].add(name)
    for names in spellings.values():
        if len(names) > 1:
            others = ", ".join(sorted(printable(n) for n in names))
            for name in names:
                why.setdefault(
                    name,
                    f"is one file on file systems that ignore case or Unicode form: {others}",
                )
    for info in files:
        if (problem := _unsafe(info)) is not None:
            why.setdefault(info.filename, problem)
    return why


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "is not a relative path inside the export; unzip would write it elsewhere"
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' part; unzip would write it elsewhere"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "has a control character in its name"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "is not a regular file (a symbolic link or a special file); an export holds files"
    return None


def printable(name: str) -> str:
    """A name as a finding prints it: control characters escaped, so one entry is one line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)
