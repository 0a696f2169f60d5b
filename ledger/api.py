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
from ledger.checks.findings import Finding, finding
from ledger.git.repository import GitTree, Repository
from ledger.records.identity import KINDS, Kind, RecordId, parse_partial
from ledger.records.jsonload import Limits, load_json_bytes
from ledger.views.log import LogEntry, record_log
from ledger.records.serialize import dumps_record, write_atomic
from ledger.dvc.snapshots import snapshot_from_dvc
from ledger.trees import TreeView, WorkingTree, find_repository_root
from ledger.checks.tree import Entry, Progress, Report, check_tree, load_entry, load_tree
from ledger.checks.verify import VerifyReport, verify

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
        self._repository: Repository | None = None

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

    def view(self, rev: str | None = None) -> TreeView:
        """The working tree, or the tree of commit ``rev`` read from git objects."""
        if rev is None:
            return self.tree
        return GitTree(self.repository, self.repository.resolve(rev))

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            self._repository = Repository(self.root)
        return self._repository

    def close(self) -> None:
        if self._repository is not None:
            self._repository.close()
            self._repository = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, ref: str, rev: str | None = None) -> Entry:
        """The record a REF names: KIND:NAME@VERSION, NAME@VERSION or a record file's path.

        Identity decides place, so only the paths the identity stands for are read.
        """
        view = self.view(rev)
        if ref.endswith(".json"):
            relpath = self.relpath(ref) if rev is None else ref.lstrip("./")
            candidates = [relpath]
        else:
            wanted = parse_partial(ref)
            kinds = [wanted.kind] if wanted.kind else list(KINDS)
            candidates = [
                RecordId(kind, wanted.name, wanted.version).relpath(self.config.records_dir)
                for kind in kinds
            ]
        present = set(view.record_files(self.config.records_dir))
        found = [c for c in candidates if c in present]
        if not found:
            where = "the working tree" if rev is None else f"revision {rev}"
            raise RecordNotFoundError(
                f"{ref}: no such record in {where}; check the spelling, or list records with "
                "`ledger validate`"
            )
        if len(found) > 1:
            raise UsageError(f"{ref} is ambiguous ({', '.join(found)}); name the kind")
        entry, problems = load_entry(view, found[0], self.config)
        if entry.claimed is None or entry.data is None or entry.sha256 is None:
            raise InvalidRecordsError(
                problems or [finding("L101", entry.relpath, "", "not a readable record")]
            )
        return entry

    def record_id(self, ref: str, rev: str | None = None) -> RecordId:
        """The identity of the record a REF names (which must exist at ``rev``)."""
        claimed = self.resolve(ref, rev).claimed
        assert claimed is not None  # resolve raises for a file that is not a readable record
        return claimed

    def show(self, ref: str, rev: str | None = None) -> ShownRecord:
        entry = self.resolve(ref, rev)
        assert entry.claimed is not None and entry.sha256 is not None and entry.data is not None
        return ShownRecord(entry.claimed, entry.relpath, entry.sha256, entry.data)

    def log(self, ref: str, rev: str = "HEAD") -> tuple[str, list[LogEntry]]:
        """The record's path and every commit that touched it, oldest first."""
        try:
            relpath = self.resolve(ref, rev).relpath
        except RecordNotFoundError:
            # A deleted record has history but no file at ``rev``: its identity names its path.
            relpath = RecordId.parse(ref).relpath(self.config.records_dir)
        entries = record_log(self.repository, self.config, relpath, rev)
        if not entries:
            raise RecordNotFoundError(f"{ref}: no commit reachable from {rev} touched {relpath}")
        return relpath, entries

    def verify(
        self,
        rev: str = "HEAD",
        *,
        data: bool = False,
        require_signed: bool = False,
        progress: Progress | None = None,
        remember: bool = True,
    ) -> VerifyReport:
        """Integrity of the committed ledger at ``rev`` (see ledger.checks.verify)."""
        return verify(
            self.root,
            self.config,
            rev,
            data=data,
            require_signed=require_signed,
            progress=progress,
            remember=remember,
        )

    def validate_staged(self) -> Report:
        """Check what is about to be committed: the records and DVC files in the index."""
        return check_tree(GitTree(self.repository, None), self.config)

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
