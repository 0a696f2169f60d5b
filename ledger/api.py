"""The Python API: what the CLI does, for training scripts and notebooks to call directly.

from ledger.api import Ledger
book = Ledger.open(".")
snap = book.snapshot("data/cohort.csv.dvc")
book.new_record("dataset", "sepsis-cohort", "1.0", fields, snapshot="data/cohort.csv.dvc")
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.config import Config, load_config
from ledger.errors import InvalidRecordsError, RecordExistsError, RecordNotFoundError, UsageError
from ledger.findings import Finding, finding
from ledger.identity import KINDS, Kind, RecordId, parse_partial
from ledger.jsonload import Limits, load_json_bytes
from ledger.serialize import dumps_record, write_atomic
from ledger.snapshots import snapshot_from_dvc
from ledger.trees import WorkingTree, find_repository_root
from ledger.validate import Entry, Report, check_tree, load_entry, load_tree

# Where each kind holds links, as (path of keys, "*" for every list item); ``ledger new`` fills
# in the sha256 of each link that names only its ref.
_LINK_PATHS: dict[Kind, tuple[tuple[str, ...], ...]] = {
    "dataset": (("supersedes",),),
    "model": (("supersedes",), ("training", "datasets", "*")),
    "evaluation": (("supersedes",), ("model",), ("datasets", "*"), ("baseline",)),
}
_SNAPSHOT_FIELD: dict[Kind, str | None] = {
    "dataset": "snapshot",
    "model": "artifact",
    "evaluation": None,
}


@dataclass(frozen=True)
class ShownRecord:
    record_id: RecordId
    path: str
    sha256: str
    content: dict[str, object]

    def to_json(self) -> dict[str, object]:
        return {
            "id": str(self.record_id),
            "path": self.path,
            "sha256": self.sha256,
            "record": self.content,
        }


class _Overlay(WorkingTree):
    """The working tree with some files replaced, to check a record before it is written."""

    def __init__(self, root: Path, files: Mapping[str, bytes]) -> None:
        super().__init__(root)
        self.files = dict(files)

    def record_files(self, records_dir: str) -> list[str]:
        return sorted({*super().record_files(records_dir), *self.files})

    def load_record(self, relpath: str, limits: Limits) -> tuple[object | None, list[Finding]]:
        if relpath in self.files:
            return load_json_bytes(self.files[relpath], relpath, limits)
        return super().load_record(relpath, limits)


class Ledger:
    """A repository's ledger, read from its working tree."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = root
        self.config = config or load_config(root)
        self.tree = WorkingTree(root)

    @classmethod
    def open(cls, start: Path | str = ".") -> Ledger:
        """The ledger of the git work tree containing ``start``."""
        return cls(find_repository_root(Path(start).resolve()))

    def relpath(self, path: Path | str) -> str:
        """A user-given path (absolute or relative to the current folder) relative to the root."""
        absolute = Path(path).absolute()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            raise UsageError(f"{path}: outside the repository at {self.root}") from None

    def validate(self, paths: Sequence[Path | str] | None = None) -> Report:
        """Check the working tree; with ``paths``, report on those files only."""
        only = None
        if paths:
            only = [self.relpath(p) for p in paths]
            missing = [p for p in only if not (self.root / p).exists()]
            if missing:
                raise UsageError(f"{missing[0]}: no such file")
        return check_tree(self.tree, self.config, only)

    def entries(self) -> list[Entry]:
        return load_tree(self.tree, self.config)[0]

    def resolve(self, ref: str) -> Entry:
        """The record a REF names: KIND:NAME@VERSION, NAME@VERSION or a record file's path."""
        candidate = Path(ref)
        if ref.endswith(".json") and candidate.exists():
            entry, problems = load_entry(self.tree, self.relpath(candidate), self.config)
            if entry.claimed is None:
                raise InvalidRecordsError(
                    problems or [finding("L101", entry.relpath, "", "not a readable record")]
                )
            return entry
        wanted = parse_partial(ref)
        matches = [e for e in self.entries() if e.claimed and wanted.matches(e.claimed)]
        if not matches:
            raise RecordNotFoundError(
                f"{ref}: no such record in {self.config.records_dir}/; "
                "list records with `ledger validate` or check the spelling"
            )
        kinds = sorted({str(e.claimed) for e in matches})
        if len(kinds) > 1:
            raise UsageError(f"{ref} is ambiguous ({', '.join(kinds)}); name the kind")
        return matches[0]

    def show(self, ref: str) -> ShownRecord:
        entry = self.resolve(ref)
        if entry.claimed is None or entry.sha256 is None or entry.data is None:
            raise RecordNotFoundError(f"{ref}: not a readable record")
        return ShownRecord(entry.claimed, entry.relpath, entry.sha256, entry.data)

    def link(self, ref: str) -> dict[str, str]:
        """A hash link to the record ``ref`` names, as it stands in the working tree."""
        shown = self.show(ref)
        return {"ref": str(shown.record_id), "sha256": shown.sha256}

    def snapshot(
        self, dvc_file: str, stage: str | None = None, output: str | None = None
    ) -> dict[str, object]:
        snap = snapshot_from_dvc(self.tree, self.root, dvc_file, stage, output)
        return snap.model_dump(mode="json", exclude_none=True)

    def build_record(
        self,
        kind: str,
        name: str,
        version: str,
        fields: Mapping[str, Any],
        *,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
    ) -> dict[str, object]:
        """The record ``new_record`` would write: identity, fields, snapshot and link hashes."""
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        record_id = RecordId.parse(f"{kind}:{name}@{version}")
        data: dict[str, object] = {
            "kind": kind,
            "schema_version": 1,
            "name": name,
            "version": version,
        }
        clashes = sorted(set(fields) & set(data))
        if clashes:
            raise UsageError(
                f"the draft sets {', '.join(clashes)}; identity comes from the "
                "command line, remove it from the draft"
            )
        data.update(copy.deepcopy(dict(fields)))
        if snapshot is not None:
            field = _SNAPSHOT_FIELD[record_id.kind]
            if field is None:
                raise UsageError("an evaluation has no DVC snapshot; link its datasets instead")
            data[field] = self.snapshot(snapshot, stage, output)
        problems = self._fill_link_hashes(data, record_id)
        if problems:
            raise InvalidRecordsError(problems)
        return data

    def new_record(
        self,
        kind: str,
        name: str,
        version: str,
        fields: Mapping[str, Any],
        *,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
    ) -> Path:
        """Check and write a new record version; nothing is written if anything is wrong."""
        data = self.build_record(
            kind, name, version, fields, snapshot=snapshot, stage=stage, output=output
        )
        record_id = RecordId.parse(f"{kind}:{name}@{version}")
        relpath = record_id.relpath(self.config.records_dir)
        target = self.root / relpath
        if target.exists() or target.is_symlink():
            raise RecordExistsError(
                f"{relpath}: {record_id} already exists and versions are immutable; "
                "write a new version that supersedes it"
            )
        content = dumps_record(data)
        report = check_tree(_Overlay(self.root, {relpath: content}), self.config, [relpath])
        if not report.ok:
            raise InvalidRecordsError(report.findings)
        write_atomic(target, content)
        return target

    def _fill_link_hashes(self, data: dict[str, object], record_id: RecordId) -> list[Finding]:
        """Pin every link that names only its target; a target that is not there is a finding."""
        problems: list[Finding] = []
        relpath = record_id.relpath(self.config.records_dir)
        for path in _LINK_PATHS[record_id.kind]:
            for pointer, link in _walk(data, path, ""):
                if isinstance(link, dict) and "ref" in link and "sha256" not in link:
                    try:
                        link.update(self.link(str(link["ref"])))
                    except (RecordNotFoundError, UsageError) as exc:
                        problems.append(finding("L301", relpath, pointer + "/ref", exc.message))
        return problems


def _walk(node: object, path: tuple[str, ...], pointer: str) -> list[tuple[str, object]]:
    """The values at ``path`` ("*" matching every list item), with their JSON pointers."""
    if not path:
        return [(pointer, node)]
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(node, list):
        return [m for i, item in enumerate(node) for m in _walk(item, rest, f"{pointer}/{i}")]
    if isinstance(node, dict) and head in node:
        return _walk(node[head], rest, f"{pointer}/{head}")
    return []
