"""Entries compressed ahead (``ledger.audit.deflated``) give the bytes zipfile writes itself."""

from __future__ import annotations

import io
import random
import tempfile
import zipfile

import pytest

from ledger.audit.deflated import deflate, place


class _Unseekable(io.RawIOBase):
    """A stream that only appends, like a pipe: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _contents() -> dict[str, list[bytes]]:
    rng = random.Random(7)
    text = b"".join(b'{"id": %d, "name": "r%d"},\n' % (i, rng.randrange(99)) for i in range(30000))
    pieces = [text[i : i + 4099] for i in range(0, len(text), 4099)]
    return {"a.json": pieces, "empty": [], "b/\u00e9.txt": [b"caf\xc3\xa9" * 10], "c": [text]}


@pytest.mark.parametrize("seekable", [True, False])
def test_placed_entries_are_what_zipfile_writes(seekable: bool) -> None:
    def stream() -> io.BytesIO | _Unseekable:
        return io.BytesIO() if seekable else _Unseekable()

    contents = _contents()
    placed = stream()
    with zipfile.ZipFile(placed, "w") as archive, tempfile.TemporaryFile() as spool:
        deflated = [(name, deflate(pieces, spool)) for name, pieces in contents.items()]
        spool.seek(0)
        for index, (name, facts) in enumerate(deflated):
            if index == 1:  # an entry of the usual kind between placed ones
                with archive.open(_info("between"), "w") as plain:
                    plain.write(b"x" * 100)
            place(archive, _info(name), facts, spool)
    reference = stream()
    with zipfile.ZipFile(reference, "w") as archive:
        for index, (name, pieces) in enumerate(contents.items()):
            if index == 1:
                with archive.open(_info("between"), "w") as plain:
                    plain.write(b"x" * 100)
            with archive.open(_info(name), "w") as entry:
                for piece in pieces:
                    entry.write(piece)
    got = placed.getvalue() if isinstance(placed, io.BytesIO) else bytes(placed.data)
    want = reference.getvalue() if isinstance(reference, io.BytesIO) else bytes(reference.data)
    assert got == want
    with zipfile.ZipFile(io.BytesIO(got)) as archive:
        assert archive.testzip() is None
        assert archive.read("a.json") == b"".join(contents["a.json"])
