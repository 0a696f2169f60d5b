"""Failure patterns across records: a pipeline that used other data than recorded, test data
leaking into training data, and data that is not where the records say.

The patterns follow relations, not kinds: whatever is ``trained-on`` data must have been what
the stage producing its artifact depended on, and whatever ``evaluates`` a record trained on
some data must not be ``evaluated-on`` that data.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Container, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.checks.record_file import LinkFact
from ledger.checks.tree import RecordFile, TreeRecords
from ledger.dvc.files import DvcFileError, DvcOutput, find_output, parse_dvc_lock
from ledger.dvc.snapshots import SnapshotRef, dvc_outputs, dvc_paths
from ledger.findings import Finding, Severity, finding
from ledger.trees import FileSource

if TYPE_CHECKING:
    from ledger.dvc.data import SnapshotSite


def _targets(
    records: TreeRecords, file: RecordFile, relation: str
) -> Iterator[tuple[LinkFact, RecordFile]]:
    for link in file.facts.links:
        if link.relation == relation:
            target = records.by_id.get(link.target)
            if target is not None and target.facts.valid:
                yield link, target


def _data(file: RecordFile) -> SnapshotRef | None:
    """The snapshot of a record's data (the first one it declares)."""
    return file.facts.snapshots[0].snapshot if file.facts.snapshots else None


def pipeline_findings(
    dvc: FileSource, records: TreeRecords, only: Container[str] | None = None
) -> list[Finding]:
    """The dvc.lock stage that produced an artifact must have used the recorded training data
    (with ``only``, for those files)."""
    produced = []
    for file in records.current():
        if only is not None and file.relpath not in only:
            continue
        art = _data(file)
        trained = list(_targets(records, file, "trained-on"))
        if art is None or not trained or art.stage is None:
            continue
        if posixpath.basename(art.dvc_file) == "dvc.lock":
            produced.append((file, art, art.stage, trained))
    used = [art for _, art, _, _ in produced]
    used += [snap for *_, trained in produced for _, t in trained if (snap := _data(t))]
    dvc.preload(dvc_paths(used))
    found: list[Finding] = []
    for file, art, stage, trained in produced:
        try:
            stages = parse_dvc_lock(dvc.read_text(art.dvc_file) or "", art.dvc_file)
        except DvcFileError:
            continue  # check_snapshot reports an unreadable lock file
        deps = {d.repo_path: d for d in stages.get(stage, ([], []))[0]}
        for link, target in trained:
            snap = _data(target)
            if snap is None:
                continue
            out = _repo_output(dvc, snap)
            dep = deps.get(out.repo_path) if out else None
            if dep is None:
                found.append(
                    finding(
                        "L406",
                        file.relpath,
                        link.pointer,
                        f"stage {stage!r} does not depend on {snap.path} ({link.ref}); it "
                        f"depends on {', '.join(sorted(deps)) or 'nothing'}",
                    )
                )
            elif dep.md5 != snap.md5:
                found.append(
                    finding(
                        "L406",
                        file.relpath,
                        link.pointer,
                        f"stage {stage!r} used {dep.repo_path} with md5 {dep.md5}, but "
                        f"{link.ref} documents md5 {snap.md5}",
                    )
                )
    return found


def _repo_output(dvc: FileSource, snap: SnapshotRef) -> DvcOutput | None:
    try:
        outputs = dvc_outputs(dvc, snap.dvc_file, snap.stage)
    except DvcFileError:
        return None
    return find_output(outputs or [], snap.path)


def leakage_findings(root: Path, records: TreeRecords) -> list[Finding]:
    """Test data that is, or shares files with, the evaluated model's training data."""
    from ledger.dvc.data import shared_files

    shared_between = functools.cache(lambda a, b: shared_files(root, a, b))
    found: list[Finding] = []
    for file in records.valid():
        for model_link, model in _targets(records, file, "evaluates"):
            training = [(link.ref, _data(d)) for link, d in _targets(records, model, "trained-on")]
            for test_link, test in _targets(records, file, "evaluated-on"):
                a = _data(test)
                if a is None:
                    continue
                for train_ref, b in training:
                    if b is None:
                        continue
                    if a.sha256 == b.sha256 or a.md5 == b.md5:
                        found.append(
                            finding(
                                "L701",
                                file.relpath,
                                test_link.pointer,
                                f"test data {test_link.ref} is the same snapshot as "
                                f"{train_ref}, which {model_link.ref} was trained on",
                            )
                        )
                        continue
                    if not (a.md5.endswith(".dir") or b.md5.endswith(".dir")):
                        continue
                    shared = shared_between(a.md5, b.md5)
                    if shared is None:
                        found.append(
                            finding(
                                "L701",
                                file.relpath,
                                test_link.pointer,
                                f"cannot check whether {test_link.ref} overlaps {train_ref}: a "
                                ".dir manifest is not in the DVC cache (run `dvc fetch`)",
                                severity=Severity.WARNING,
                            )
                        )
                    elif shared:
                        found.append(
                            finding(
                                "L701",
                                file.relpath,
                                test_link.pointer,
                                f"test data {test_link.ref} shares {len(shared)} file(s) with "
                                f"{train_ref}, which {model_link.ref} was trained on",
                            )
                        )
    return found


def data_findings(root: Path, dvc: FileSource, records: TreeRecords) -> list[Finding]:
    """``verify --data``: the workspace, the DVC cache and the remote hold what records say."""
    from ledger.dvc.data import check_data

    return check_data(root, _sites(dvc, records, records.valid()))


def new_data_findings(
    root: Path,
    dvc: FileSource,
    records: TreeRecords,
    committed: Container[str],
    only: Container[str] | None = None,
) -> list[Finding]:
    """For records not committed yet (blob ids not in ``committed``): a snapshot's SHA-256
    against the data in the workspace, where the data there has the recorded md5. ``ledger
    new`` computes it; one written by hand could be made up beside a true md5 and size, and
    the gate is the last point where the data is sure to be at hand. With ``only``, of those
    files."""
    from ledger.dvc.data import workspace_sha256

    fresh = [
        f
        for f in records.valid()
        if f.blob not in committed and f.facts.snapshots and (only is None or f.relpath in only)
    ]
    return workspace_sha256(root, _sites(dvc, records, fresh)) if fresh else []


def _sites(
    dvc: FileSource, records: TreeRecords, files: Iterable[RecordFile]
) -> list[SnapshotSite]:
    from ledger.dvc.data import SnapshotSite

    chosen = list(files)
    superseded = records.superseded
    dvc.preload(dvc_paths(s.snapshot for f in chosen for s in f.facts.snapshots))
    sites: list[SnapshotSite] = []
    for file in chosen:
        for site in file.facts.snapshots:
            snap = site.snapshot
            if snap.hash is None:
                continue  # a DVC 2 md5-dos2unix hash names no DVC 3 cache object
            out = _repo_output(dvc, snap)
            sites.append(
                SnapshotSite(
                    file.relpath,
                    site.pointer,
                    out.repo_path if out else snap.path,
                    snap.md5,
                    snap.md5.endswith(".dir"),
                    in_workspace=file.facts.claimed not in superseded,
                    sha256=snap.sha256,
                )
            )
    return sites
