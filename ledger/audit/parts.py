"""Parts of an export that whichever process is free writes: the parent or a FHIR process.

The FHIR processes (``ledger.audit.export.start_fhir``) often finish before the parent has
written everything else; the parent then had the last seconds of an export to itself. A part
that does not depend on what the parent wrote before it (the technical files, the lineage)
is claimed by the first process to reach it: the parent in the zip's order, a FHIR process
once its Bundle is done, from the last part back. A claim is a folder made in a folder of
the export's own (``mkdir`` succeeds once). A child deflates the part's entries into a file
of its own (``ledger.audit.deflated``), which the parent copies into the zip in their place.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Protocol

from ledger.audit.deflated import Deflated, deflate
from ledger.views.formats import blocks


class Sink(Protocol):
    """Where a part's entries go: the zip itself, or a child's file of deflated entries."""

    def add(self, path: str, chunks: Iterable[str]) -> None: ...

    def add_bytes(self, path: str, pieces: Iterable[bytes]) -> None: ...


class Deflating:
    """Entries deflated one after another into ``output``, as the zip will hold them."""

    def __init__(self, output: IO[bytes]) -> None:
        self.output = output
        self.entries: list[tuple[str, Deflated]] = []

    def add(self, path: str, chunks: Iterable[str]) -> None:
        self.add_bytes(path, (block.encode() for block in blocks(chunks)))

    def add_bytes(self, path: str, pieces: Iterable[bytes]) -> None:
        self.entries.append((path, deflate(pieces, self.output)))


class Claims:
    """Which parts a process has taken: each is taken once, by whoever asks first. Made
    before the processes fork; the parent removes it at the end."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-export-"))

    def claim(self, part: str) -> bool:
        try:
            (self.folder / part).mkdir()
        except FileExistsError:
            return False
        return True

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
