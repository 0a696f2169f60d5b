"""Derived values kept by key between runs, in one SQLite file of the store's folder.

Where ``ledger.state.store`` keeps whole files that a run reads at once, this keeps many small
values that a run fetches a batch at a time (the FHIR entries of each record version: 48 MB
at 10,000 records, far too many to load whole at 100,000). A key is a digest of every input
the value is a function of; the folder's fingerprint covers the code that computes it. So a
value is either exactly what the run would compute, or absent.

Each value is stored as its ``marshal`` bytes compressed (raw deflate), after the first 16 bytes
of the SHA-256 of its space, its key and those bytes, and checked before it is read: a corrupt
value, or one found under another key than its own (a damaged index, a swapped row), is
deleted with a note and computed again, a file SQLite cannot read is deleted and started
afresh, and a file that cannot be written (a read-only clone) is simply not kept. Values are
grouped in spaces (one per kind of value and its parameters); a space holding more than twice
what the last complete pass over it used drops everything that pass did not use.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import sqlite3
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BATCH = 500  # keys per query: well below SQLite's limit on bound parameters
# A table with rowids and an index on (space, key), not a WITHOUT ROWID table: values are kept
# FHIR entries of 1-3 kB, and a WITHOUT ROWID table holds each row whole in its B-tree, which
# SQLite advises against for rows above a twentieth of a page. Measured on the 28,000 values of
# a 10,000-record ledger: writing them took 2.2 s instead of 0.5 s, reading them 0.75 s instead
# of 0.3 s, counting a space read every value, and the file was 96 MB instead of 52 MB.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kept ("
    "space TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, UNIQUE (space, key))"
)
# Pages of 16 kB hold five to ten values each; 4 kB pages hold one or two and leave much of
# each page empty (the values above took 65 MB instead of 52 MB).
_PAGE_SIZE = 16384


class KeptValues:
    """Values by (space, key); opened on first use, closed by ``close``."""

    def __init__(self, path: Path, notes: list[str]) -> None:
        self.path, self.notes = path, notes
        self._db: sqlite3.Connection | None = None
        self._broken = False
        self._pending: dict[tuple[str, bytes], bytes] = {}

    def count(self, space: str) -> int:
        """How many values ``space`` holds (0 when nothing can be kept)."""
        rows = self._query("SELECT COUNT(*) FROM kept WHERE space = ?", (space,))
        return int(rows[0][0]) if rows else 0

    def get(self, space: str, keys: Iterable[bytes]) -> dict[bytes, Any]:
        """The kept values of those ``keys`` that have one, each checked against its digest."""
        found: dict[bytes, Any] = {}
        wanted = []
        for key in dict.fromkeys(keys):
            # A value put in this run is not written yet (``flush``), and is the newest.
            pending = self._pending.get((space, key))
            if pending is not None:
                found[key] = marshal.loads(zlib.decompress(pending, _RAW))
            else:
                wanted.append(key)
        corrupt: list[bytes] = []
        for start in range(0, len(wanted), BATCH):
            part = wanted[start : start + BATCH]
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"SELECT key, value FROM kept WHERE space = ? AND key IN ({marks})",
                (space, *part),
            )
            for key, stored in rows:
                value = _unpack(space, key, stored)
                if value is _CORRUPT:
                    corrupt.append(key)
                else:
                    found[key] = value
        if corrupt:
            self.notes.append(
                f"{len(corrupt)} kept value(s) in {self.path} were corrupt; "
                "they were discarded and computed again"
            )
            stale = [(space, key) for key in corrupt]
            self._write("DELETE FROM kept WHERE space = ? AND key = ?", stale)
        return found

    def put(self, space: str, values: Mapping[bytes, Any]) -> None:
        """Keep ``values``; written in one transaction by ``flush`` (or ``close``)."""
        self.put_packed(space, {key: pack(value) for key, value in values.items()})

    def put_packed(self, space: str, packed: Mapping[bytes, bytes]) -> None:
        """``put`` of values already in their kept form (``pack``, maybe in another process)."""
        for key, value in packed.items():
            self._pending[space, key] = value

    def flush(self) -> None:
        rows = [
            (space, key, _digest(space, key, packed) + packed)
            for (space, key), packed in self._pending.items()
        ]
        self._pending.clear()
        if rows:
            self._write("INSERT OR REPLACE INTO kept (space, key, value) VALUES (?, ?, ?)", rows)

    def prune(self, space: str, used: set[bytes]) -> None:
        """After a complete pass over ``space`` that used ``used``: drop the rest if it has
        grown to more than twice that (values of commits and settings long gone)."""
        self.flush()
        if self.count(space) <= 2 * len(used):
            return
        held = self._query("SELECT key FROM kept WHERE space = ?", (space,))
        stale = [(space, key) for (key,) in held if key not in used]
        self._write("DELETE FROM kept WHERE space = ? AND key = ?", stale)

    def after_fork(self) -> KeptValues:
        """The same file for a forked child, on a connection of its own (SQLite connections
        must not cross a fork) and with no values pending: the parent keeps and writes its
        own. SQLite's locks keep the two processes' writes apart."""
        return KeptValues(self.path, [])

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    # --- SQLite -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) or not self.path.exists():
                self._broken = True  # cannot be written here: nothing is kept
                return None
            self.notes.append(f"the kept values {self.path} are unreadable ({exc}); started afresh")
            self._forget()
            try:
                self._db = self._open()
            except sqlite3.Error:
                self._broken = True
        except OSError:
            self._broken = True
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # takes effect in a new file only
            # No waiting for the disk at each commit: this is a cache. A file that an
            # operating system crash leaves damaged fails to open or to read and is started
            # afresh, and every value is checked against its digest before it is used.
            db.execute("PRAGMA synchronous = OFF")
            db.execute(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM kept LIMIT 1").fetchall()
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _forget(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").unlink()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        db = self._connect()
        if db is None:
            return []
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            self._give_up(exc)
            return []

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self._connect()
        if db is None or not rows:
            return
        try:
            with db:  # one transaction: all of it is kept, or none
                db.execute("BEGIN")
                db.executemany(sql, rows)
        except sqlite3.DatabaseError as exc:
            self._give_up(exc)

    def _give_up(self, exc: sqlite3.DatabaseError) -> None:
        """Stop using the file for this run; a corrupt one is removed (a busy or read-only
        one is left to whoever holds it)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db, self._broken = None, True
        if not isinstance(exc, sqlite3.OperationalError):
            self.notes.append(f"the kept values {self.path} are corrupt ({exc}); discarded")
            self._forget()


_CORRUPT = object()


def pack(value: Any) -> bytes:
    """A value in the form in which it is kept (before the digest that binds it to its key)."""
    return pack_marshalled(marshal.dumps(value))


def pack_marshalled(data: bytes) -> bytes:
    """``pack`` of the value whose ``marshal`` bytes are ``data``."""
    # zlib's fastest level shrinks the kept FHIR entries about threefold (137 MB to 40 MB at
    # 10,000 records); they decompress at about 300 MB/s.
    return zlib.compress(data, 1, _RAW)


# Raw deflate: no zlib header and no Adler-32 checksum, which costs a tenth of decompressing;
# the digest before each value checks every byte already.
_RAW = -15


def _digest(space: str, key: bytes, packed: bytes) -> bytes:
    name = space.encode()
    digest = hashlib.sha256(b"%d:%s%d:%s" % (len(name), name, len(key), key))
    digest.update(packed)
    return digest.digest()[:16]


def _unpack(space: str, key: bytes, stored: bytes) -> Any:
    payload = stored[16:]
    if len(stored) < 16 or _digest(space, key, payload) != stored[:16]:
        return _CORRUPT
    try:
        return marshal.loads(zlib.decompress(payload, _RAW))
    except (ValueError, EOFError, TypeError, zlib.error):
        return _CORRUPT
