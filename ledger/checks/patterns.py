"""Failure patterns across records: a pipeline that used other data than recorded, test data
leaking into training data, and data that is not where the records say."""

from __future__ import annotations

import posixpath
from pathlib import Path

from ledger.dvc.files import DvcFileError, DvcOutput, find_output, parse_dvc_lock
from ledger.checks.findings import Finding, Severity, finding
from ledger.git.repository import GitTree
from ledger.records.identity import RecordId
from ledger.records import DatasetRecord, EvaluationRecord, ModelRecord, Snapshot
from ledger.dvc.snapshots import dvc_outputs, snapshot_sites
from ledger.checks.tree import TreeCheck


def pipeline_findings(view: GitTree, tree: TreeCheck) -> list[Finding]:
    """The dvc.lock stage that produced a model must have used the recorded training data."""
    found: list[Finding] = []
    by_id = tree.by_id
    for entry in tree.entries:
        model = entry.record
        if not isinstance(model, ModelRecord) or entry.claimed in tree.superseded:
            continue
        art = model.artifact
        if posixpath.basename(art.dvc_file) != "dvc.lock" or art.stage is None:
            continue
        try:
            stages = parse_dvc_lock(view.read_text(art.dvc_file) or "", art.dvc_file)
        except DvcFileError:
            continue  # check_snapshot reports an unreadable lock file
        deps = {d.repo_path: d for d in stages.get(art.stage, ([], []))[0]}
        for i, link in enumerate(model.training.datasets):
            target = by_id.get(RecordId.parse(link.ref))
            if target is None or not isinstance(target.record, DatasetRecord):
                continue
            snap = target.record.snapshot
            out = _repo_output(view, snap)
            dep = deps.get(out.repo_path) if out else None
            pointer = f"/training/datasets/{i}"
            if dep is None:
                found.append(
                    finding(
                        "L406",
                        entry.relpath,
                        pointer,
                        f"stage {art.stage!r} does not depend on {snap.path} ({link.ref}); it "
                        f"depends on {', '.join(sorted(deps)) or 'nothing'}",
                    )
                )
            elif dep.md5 != snap.md5:
                found.append(
                    finding(
                        "L406",
                        entry.relpath,
                        pointer,
                        f"stage {art.stage!r} used {dep.repo_path} with md5 {dep.md5}, but "
                        f"{link.ref} documents md5 {snap.md5}",
                    )
                )
    return found


def _repo_output(view: GitTree, snap: Snapshot) -> DvcOutput | None:
    try:
        outputs = dvc_outputs(view, snap.dvc_file, snap.stage)
    except DvcFileError:
        return None
    return find_output(outputs or [], snap.path)


def leakage_findings(root: Path, tree: TreeCheck) -> list[Finding]:
    """Test data that is, or shares files with, the evaluated model's training data."""
    from ledger.dvc.data import shared_files

    found: list[Finding] = []
    by_id = tree.by_id
    for entry in tree.entries:
        evaluation = entry.record
        if not isinstance(evaluation, EvaluationRecord):
            continue
        model_entry = by_id.get(RecordId.parse(evaluation.model.ref))
        if model_entry is None or not isinstance(model_entry.record, ModelRecord):
            continue
        training = [
            (link.ref, by_id[RecordId.parse(link.ref)].record)
            for link in model_entry.record.training.datasets
            if RecordId.parse(link.ref) in by_id
        ]
        for i, test_link in enumerate(evaluation.datasets):
            test = by_id.get(RecordId.parse(test_link.ref))
            if test is None or not isinstance(test.record, DatasetRecord):
                continue
            for train_ref, train in training:
                if not isinstance(train, DatasetRecord):
                    continue
                a, b = test.record.snapshot, train.snapshot
                pointer = f"/datasets/{i}"
                if a.sha256 == b.sha256 or a.md5 == b.md5:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"test data {test_link.ref} is the same snapshot as {train_ref}, "
                            f"which {evaluation.model.ref} was trained on",
                        )
                    )
                    continue
                if not (a.md5.endswith(".dir") or b.md5.endswith(".dir")):
                    continue
                shared = shared_files(root, a.md5, b.md5)
                if shared is None:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"cannot check whether {test_link.ref} overlaps {train_ref}: a .dir "
                            "manifest is not in the DVC cache (run `dvc fetch`)",
                            severity=Severity.WARNING,
                        )
                    )
                elif shared:
                    found.append(
                        finding(
                            "L701",
                            entry.relpath,
                            pointer,
                            f"test data {test_link.ref} shares {len(shared)} file(s) with "
                            f"{train_ref}, which {evaluation.model.ref} was trained on",
                        )
                    )
    return found


def data_findings(root: Path, view: GitTree, tree: TreeCheck) -> list[Finding]:
    from ledger.dvc.data import SnapshotSite, check_data

    sites: list[SnapshotSite] = []
    for entry in tree.entries:
        if entry.record is None:
            continue
        for pointer, snap in snapshot_sites(entry.record):
            if snap.hash is None:
                continue  # a DVC 2 md5-dos2unix hash names no DVC 3 cache object
            out = _repo_output(view, snap)
            sites.append(
                SnapshotSite(
                    entry.relpath,
                    pointer,
                    out.repo_path if out else snap.path,
                    snap.md5,
                    snap.md5.endswith(".dir"),
                    in_workspace=entry.claimed not in tree.superseded,
                )
            )
    return check_data(root, sites)
