"""A ``TreeView`` of one commit, or of the index, read from git objects."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.dvc.files import dvc_text
from ledger.findings import finding
from ledger.git.repository import REGULAR_MODES, SYMLINK_MODE, Listing, Repository
from ledger.records.identity import is_json_name
from ledger.records.jsonload import Limits
from ledger.trees import Read


class GitTree:
    """The files of commit ``rev``, or of the index when ``rev`` is None."""

    def __init__(
        self, repo: Repository, rev: str | None, listings: dict[str, Listing] | None = None
    ) -> None:
        self.repo = repo
        self.rev = rev
        self.label = "index" if rev is None else f"commit {rev[:12]}"
        # Folders already listed (a kept state knows its records folder): not asked again.
        self._listed: dict[str, Listing] = dict(listings or {})
        self._texts: dict[str, bytes | None] = {}

    def listing(self, folder: str) -> Listing:
        """path -> (mode, object id) of every file below ``folder``."""
        if folder not in self._listed:
            self._listed[folder] = (
                self.repo.list_index(folder)
                if self.rev is None
                else self.repo.list_tree(self.rev, folder)
            )
        return self._listed[folder]

    def record_files(self, records_dir: str) -> dict[str, str | None]:
        # Only a regular file's blob id stands for its content: a symlink's blob is its
        # target's name, so it is read (and refused) instead of looked up.
        files = self.listing(records_dir)
        return {
            p: sha if mode in REGULAR_MODES else None
            for p, (mode, sha) in sorted(files.items())
            if is_json_name(p)
        }

    def _entry(self, relpath: str) -> tuple[str, str] | None:
        for files in self._listed.values():
            if relpath in files:
                return files[relpath]
        return None

    def read_records(self, relpaths: Iterable[str], limits: Limits) -> dict[str, Read]:
        paths = list(relpaths)
        entries = {p: self._entry(p) for p in paths}
        blobs = self.repo.blobs(
            e[1] for e in entries.values() if e is not None and e[0] in REGULAR_MODES
        )
        read: dict[str, Read] = {}
        for path, entry in entries.items():
            if entry is None:
                read[path] = (None, [finding("L003", path, "", f"not in the {self.label}")])
            elif entry[0] == SYMLINK_MODE:
                read[path] = (None, [finding("L009", path, "", "file is a symbolic link")])
            elif entry[0] not in REGULAR_MODES:
                message = f"cannot read the file: it is not a regular file (mode {entry[0]})"
                fix = "record files are regular JSON files; move or delete this one"
                read[path] = (None, [finding("L003", path, "", message, fix)])
            elif entry[1] not in blobs:
                read[path] = (None, [finding("L003", path, "", f"blob {entry[1]} is missing")])
            else:
                data = blobs[entry[1]]
                if len(data) > limits.max_bytes:
                    over = f"file is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
                    read[path] = (None, [finding("L007", path, "", over)])
                else:
                    read[path] = (data, [])
        return read

    def preload(self, relpaths: Iterable[str]) -> None:
        """Read many (DVC) files at once, ahead of ``read_text`` asking one by one."""
        names = {p: f"{self.rev or ''}:{p}" for p in relpaths if p not in self._texts}
        found = self.repo.blobs(names.values())
        for path, name in names.items():
            self._texts[path] = found.get(name)

    def read_text(self, relpath: str) -> str | None:
        if relpath not in self._texts:
            self.preload([relpath])
        data = self._texts[relpath]
        return None if data is None else dvc_text(data, relpath)
