"""Zip entries compressed ahead, in another process, and placed in the zip unchanged.

An export's entries are compressed as ``zipfile`` compresses them (raw deflate at zlib's
default level, the same stream however the input is cut into pieces), so an entry deflated
by a forked process and copied in gives the bytes ``zipfile`` would have written: its local
header is the one ``zipfile`` writes once the entry is closed, and its central directory
record comes from the same ``ZipInfo``. The compressing, the CRC and the SHA-256 are then
done where the entry is produced, beside the rest of the export, and the parent only copies.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from collections.abc import Iterable
from typing import IO, NamedTuple

_BLOCK = 1 << 20
_DATA_DESCRIPTOR = 0x08  # flag bit: sizes and CRC follow the data (a stream that cannot seek)
_DD_SIGNATURE = 0x08074B50


class Deflated(NamedTuple):
    """What the zip records of an entry compressed ahead, and the SHA-256 the manifest lists."""

    size: int
    compressed: int
    crc: int
    sha256: str


def deflate(pieces: Iterable[bytes], output: IO[bytes]) -> Deflated:
    """Compress ``pieces`` onto the end of ``output`` as ``zipfile`` compresses a
    ``ZIP_DEFLATED`` entry; what the zip and the manifest need to know of it."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    digest = hashlib.sha256()
    size = compressed = crc = 0
    for piece in pieces:
        size += len(piece)
        crc = zlib.crc32(piece, crc)
        digest.update(piece)
        block = compressor.compress(piece)
        compressed += len(block)
        output.write(block)
    block = compressor.flush()
    compressed += len(block)
    output.write(block)
    return Deflated(size, compressed, crc, digest.hexdigest())


def place(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: Deflated, source: IO[bytes]
) -> None:
    """Write the entry that ``deflate`` compressed (the next ``entry.compressed`` bytes of
    ``source``) into ``archive`` as ``ZipFile.open(info, "w")`` writes one: the same local
    header, data and central directory record. ``info`` names a ``ZIP_DEFLATED`` entry.

    ``zipfile`` has no public way to add compressed data, so this does what its writer does
    (``ZipFile._open_to_write`` and ``_ZipWriteFile.close``, unchanged since Python 3.6);
    the tests compare an export made this way with one ``zipfile`` compressed itself."""
    if entry.size > zipfile.ZIP64_LIMIT or entry.compressed > zipfile.ZIP64_LIMIT:
        raise RuntimeError(f"{info.filename}: too large for a zip entry without ZIP64")
    seekable = archive._seekable  # type: ignore[attr-defined]
    info.flag_bits = 0 if seekable else _DATA_DESCRIPTOR
    info.compress_size, info.CRC, info.file_size = entry.compressed, entry.crc, entry.size
    if not info.external_attr:
        info.external_attr = 0o600 << 16
    stream = archive.fp
    assert stream is not None
    if seekable:
        stream.seek(archive.start_dir)
    info.header_offset = stream.tell()
    archive._writecheck(info)  # type: ignore[attr-defined]
    archive._didModify = True  # type: ignore[attr-defined]
    stream.write(info.FileHeader(False))
    left = entry.compressed
    while left:
        block = source.read(min(left, _BLOCK))
        if not block:
            raise EOFError(f"{info.filename}: its compressed data ends early")
        stream.write(block)
        left -= len(block)
    if not seekable:
        stream.write(struct.pack("<LLLL", _DD_SIGNATURE, entry.crc, entry.compressed, entry.size))
    archive.start_dir = stream.tell()
    archive.filelist.append(info)
    archive.NameToInfo[info.filename] = info
