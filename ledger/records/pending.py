"""Records made inside a DVC pipeline stage, kept pending until dvc.lock knows their data.

While ``dvc repro`` runs a stage, ``dvc.lock`` still describes the stage's previous run (or
nothing): a record of what the stage makes cannot take its DVC snapshot yet. ``track`` then
checks everything else and keeps the record here, in ``.ledger/pending/KIND-NAME-VERSION.json``;
``ledger complete`` (``Ledger.complete``), run after ``dvc repro``, takes each snapshot from
``dvc.lock`` and writes the records. A record that links to a pending one (an evaluate stage's
model, trained by an earlier stage of the same run) waits too, and is written after it. A
pending record left behind is L410 in ``validate``, the
pre-commit gate and ``verify``, so a run whose record was never written cannot be committed
unnoticed.

DVC tells a stage's command which stage it is (``DVC_STAGE``: ``train``, or
``sub/dvc.yaml:train`` for a stage of another folder's dvc.yaml).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ledger.errors import UsageError
from ledger.findings import Finding, finding
from ledger.records.jsonload import Limits, load_json_file
from ledger.records.serialize import dumps_record, place_inside, write_atomic

PENDING = ".ledger/pending"


def running_stage() -> tuple[str, str] | None:
    """(dvc.lock path, stage name) of the DVC stage this process runs in, if any."""
    addressing = os.environ.get("DVC_STAGE")
    if not addressing:
        return None
    dvc_yaml, colon, name = addressing.rpartition(":")
    if not colon:
        return "dvc.lock", addressing
    return (PurePosixPath(dvc_yaml).parent / "dvc.lock").as_posix(), name


@dataclass(frozen=True)
class Pending:
    """A record waiting for its snapshot, or for a record it links to that is pending too (an
    evaluation stage's model, made by the train stage of the same ``dvc repro``): what
    ``new_record`` will be called with."""

    kind: str
    name: str
    version: str
    fields: dict[str, Any]
    dvc_file: str | None
    stage: str | None
    output: str | None

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"

    def save(self, root: Path) -> Path:
        path = place_inside(root, f"{PENDING}/{self.kind}-{self.name}-{self.version}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        content: dict[str, object] = {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "snapshot": {"dvc_file": self.dvc_file, "stage": self.stage, "output": self.output},
            "fields": self.fields,
        }
        write_atomic(path, dumps_record(content), overwrite=True)
        return path


def pending_files(root: Path) -> list[Path]:
    folder = root / PENDING
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".json")


def read_pending(path: Path, shown: str, limits: Limits) -> Pending:
    """A pending record as saved; a ``UsageError`` naming the file if it is not one."""
    data, problems = load_json_file(path, shown, limits)
    if problems:
        raise UsageError(problems[0].line())
    content: Any = data
    try:
        snapshot, fields = content["snapshot"], content["fields"]
        if not isinstance(snapshot, dict) or not isinstance(fields, dict):
            raise TypeError("not objects")
        dvc_file, stage, output = (snapshot[key] for key in ("dvc_file", "stage", "output"))
        pending = Pending(
            str(content["kind"]),
            str(content["name"]),
            str(content["version"]),
            fields,
            None if dvc_file is None else str(dvc_file),
            None if stage is None else str(stage),
            None if output is None else str(output),
        )
    except (KeyError, TypeError):
        raise UsageError(
            f"{shown}: not a pending record ledger wrote; delete it and run the stage again"
        ) from None
    return pending


def pending_refs(root: Path, limits: Limits) -> set[str]:
    """KIND:NAME@VERSION of each readable pending record."""
    found = set()
    for path in pending_files(root):
        with contextlib.suppress(UsageError):  # a damaged one is L410's to report
            found.add(read_pending(path, path.name, limits).ref)
    return found


def pending_findings(root: Path) -> list[Finding]:
    """L410 for each record left pending in the working tree."""
    found = []
    for path in pending_files(root):
        shown = path.relative_to(root).as_posix()
        found.append(
            finding(
                "L410",
                shown,
                "",
                f"a record made during `dvc repro` ({path.stem}) was never completed: dvc.lock "
                "now knows its data, but the record was not written",
            )
        )
    return found
