"""DVC snapshots in records: checked against DVC files, and filled from DVC files."""

from __future__ import annotations

import operator
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.dvc.content_hash import dvc_md5_of, sha256_of
from ledger.dvc.files import (
    DvcFileError,
    DvcOutput,
    find_output,
    is_safe_relative,
    parse_dvc_file,
    parse_dvc_lock,
    stage_wdirs,
)
from ledger.errors import UsageError
from ledger.findings import Finding, finding
from ledger.trees import FileSource, TreeView

if TYPE_CHECKING:
    from ledger.records import Snapshot

#: What a snapshot and a DVC output must agree on: together they name one version of the data.
COMPARED = ("md5", "hash", "size", "nfiles")


class SnapshotRef(NamedTuple):
    """A record's DVC snapshot as the checks read it: the typed model's fields, kept plainly
    (``ledger.state.store`` reads thousands of them per run, a tuple made in C)."""

    dvc_file: str
    stage: str | None
    path: str
    md5: str
    hash: str | None
    size: int
    nfiles: int | None
    sha256: str

    @classmethod
    def of(cls, snap: Snapshot) -> SnapshotRef:
        return cls(
            snap.dvc_file,
            snap.stage,
            snap.path,
            snap.md5,
            snap.hash,
            snap.size,
            snap.nfiles,
            snap.sha256,
        )

    def to_json(self) -> dict[str, Any]:
        """The snapshot as records write it (absent fields left out)."""
        return {k: v for k, v in zip(self._fields, self, strict=True) if v is not None}


#: The fields that name one version of the data (``COMPARED``), of a snapshot or a DVC output
#: alike: a getter in C, as history checks ask it of every snapshot.
data_version: Callable[[SnapshotRef | DvcOutput], tuple[object, ...]] = operator.attrgetter(
    *COMPARED
)


def dvc_outputs(view: FileSource, dvc_file: str, stage: str | None) -> list[DvcOutput] | None:
    """Outputs of a .dvc file, or of one dvc.lock stage; None when the file does not exist.

    Raises DvcFileError when the file cannot be read, or the stage is not in it.
    """
    text = view.read_text(dvc_file)
    if text is None:
        return None
    if posixpath.basename(dvc_file) == "dvc.lock":
        # dvc.lock leaves out a stage's wdir; dvc.yaml beside it has it, where it can be read.
        yaml_path = posixpath.join(posixpath.dirname(dvc_file), "dvc.yaml")
        declared = view.read_text(yaml_path)
        wdirs = stage_wdirs(declared, yaml_path) if declared else None
        stages = parse_dvc_lock(text, dvc_file, wdirs)
        if stage is None or stage not in stages:
            names = ", ".join(sorted(stages)) or "none"
            raise DvcFileError(
                dvc_file,
                f"no stage {stage!r}",
                f"name one of its stages ({names}) in snapshot.stage",
            )
        return stages[stage][1]
    return parse_dvc_file(text, dvc_file)


def dvc_paths(snapshots: Iterable[SnapshotRef]) -> set[str]:
    """Every DVC file (and dvc.yaml beside a dvc.lock) the snapshots name."""
    paths: set[str] = set()
    for snap in snapshots:
        paths.add(snap.dvc_file)
        if posixpath.basename(snap.dvc_file) == "dvc.lock":
            paths.add(posixpath.join(posixpath.dirname(snap.dvc_file), "dvc.yaml"))
    return paths


def check_snapshot(view: FileSource, path: str, pointer: str, snap: SnapshotRef) -> list[Finding]:
    """Does the snapshot say what the DVC file in the same tree state says?"""
    unsafe = [p for p in (snap.dvc_file, snap.path) if not is_safe_relative(p)]
    if unsafe:
        return [finding("L203", path, pointer, f"{unsafe[0]!r} is absolute or contains '..'")]
    try:
        outputs = dvc_outputs(view, snap.dvc_file, snap.stage)
    except DvcFileError as exc:
        return [finding("L404", path, pointer + "/dvc_file", exc.message)]
    if outputs is None:
        return [
            finding(
                "L401",
                path,
                pointer + "/dvc_file",
                f"{snap.dvc_file} does not exist in the {view.label}",
            )
        ]
    out = find_output(outputs, snap.path)
    if out is None:
        return [
            finding("L402", path, pointer + "/path", f"{snap.dvc_file} has no output {snap.path!r}")
        ]
    differences = [
        f"{name} {getattr(snap, name)!r} vs {getattr(out, name)!r}"
        for name in COMPARED
        if getattr(snap, name) != getattr(out, name)
    ]
    if differences:
        return [
            finding(
                "L403",
                path,
                pointer,
                f"snapshot disagrees with {snap.dvc_file}: "
                + "; ".join(differences)
                + " (record vs DVC)",
            )
        ]
    return []


def snapshot_from_dvc(
    view: TreeView, root: Path, dvc_file: str, stage: str | None = None, output: str | None = None
) -> Snapshot:
    """Build a snapshot from a DVC file in the working tree, hashing the data with SHA-256."""
    if not is_safe_relative(dvc_file):
        raise UsageError(f"{dvc_file!r}: give the DVC file's path relative to the repository root")
    outputs = dvc_outputs(view, dvc_file, stage)
    if outputs is None:
        raise UsageError(f"{dvc_file}: no such DVC file; run `dvc add` first")
    if output is None:
        if len(outputs) != 1:
            paths = ", ".join(o.path for o in outputs)
            raise UsageError(f"{dvc_file} has {len(outputs)} outputs ({paths}); name one")
        chosen = outputs[0]
    else:
        found = find_output(outputs, output)
        if found is None:
            raise UsageError(f"{dvc_file} has no output {output!r}")
        chosen = found
    if chosen.md5 is None or chosen.size is None:
        raise UsageError(f"{dvc_file}: output {chosen.path!r} has no md5 or size; run `dvc commit`")
    data = root / chosen.repo_path
    if not data.exists():
        raise UsageError(
            f"{chosen.repo_path}: the data is not in the working tree; run `dvc checkout` "
            "(or `dvc pull`) so ledger can hash it"
        )
    if dvc_md5_of(data) != chosen.md5:
        raise UsageError(
            f"{chosen.repo_path} changed since DVC recorded it in {dvc_file}; run `dvc add` "
            "(or `dvc commit`) first, so the record documents the data as it is"
        )
    from ledger.records import Snapshot

    return Snapshot(
        dvc_file=dvc_file,
        stage=stage,
        path=chosen.path,
        md5=chosen.md5,
        hash="md5" if chosen.hash == "md5" else None,
        size=chosen.size,
        nfiles=chosen.nfiles,
        sha256=sha256_of(data),
    )
