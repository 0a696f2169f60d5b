"""``ledger import mlflow``: each MLflow run's records, as YAML drafts of what is still missing.

MLflow never holds a whole record: a model's file sits in MLflow's artifact store with no hash
(the ledger pins a DVC snapshot), and none of the documentation a reviewer needs (intended use,
known risks, how a metric was defined) is logged. So the import writes, per record, a draft in
``.ledger/drafts/mlflow/`` holding what MLflow knows, headed by exactly what is still missing,
the notes on what could not be matched, and the ``ledger new`` command that finishes it. What
MLflow logged is checked for PHI before anything is written: a run with a PHI-like value
yields no draft, only the L501 finding naming the MLflow field.

A run is imported once: a record that already names the run (``external_refs``) skips it, and a
draft that was edited since it was written is never overwritten.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.checks.phi import scan_phi
from ledger.checks.schema import schema_findings
from ledger.errors import UsageError
from ledger.findings import Finding
from ledger.git.trees import GitTree
from ledger.importers.known import KnownRecords, read_known
from ledger.importers.mlflow_map import HEALTHCHAIN, Planned, plan_run, run_extension
from ledger.importers.mlflow_runs import MlflowRun, read_runs, store_uri
from ledger.kinds import spec
from ledger.records.drafts import inherited, merge_fields
from ledger.records.identity import RecordId
from ledger.records.serialize import place_inside, write_atomic
from ledger.records.yaml_drafts import render_draft

if TYPE_CHECKING:
    from ledger.api import Ledger

#: Where import drafts go, under the repository root (beside ``track``'s drafts).
FOLDER = ".ledger/drafts/mlflow"
_WIDTH = 96
_COMMIT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True)
class Draft:
    """One draft the import wrote (or found unchanged)."""

    run_id: str
    run_name: str
    kind: str
    path: str
    missing: tuple[Finding, ...]
    command: str
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "kind": self.kind,
            "draft": self.path,
            "missing": [f.to_json() for f in self.missing],
            "command": self.command,
            "written": self.changed,
        }


@dataclass(frozen=True)
class Skipped:
    run_id: str
    run_name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_name": self.run_name, "reason": self.reason}


@dataclass
class ImportResult:
    store: str
    drafts: list[Draft] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: PHI-like values in what MLflow logged: the run's drafts were not written.
    problems: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "drafts": [d.to_json() for d in self.drafts],
            "skipped": [s.to_json() for s in self.skipped],
            "problems": [f.to_json() for f in self.problems],
        }

    def text(self) -> str:
        lines = []
        for d in self.drafts:
            state = "written" if d.changed else "unchanged"
            lines.append(
                f"run {d.run_id[:12]} ({d.run_name}): {d.kind} draft {d.path} {state}, "
                f"{len(d.missing)} field(s) to fill"
            )
            lines.append(f"  then: {d.command}")
        lines += [f"run {s.run_id[:12]} ({s.run_name}): skipped, {s.reason}" for s in self.skipped]
        lines += [f.line() for f in self.problems]
        if not lines:
            lines.append(f"{self.store}: no runs to import")
        return "\n".join(lines) + "\n"


def import_mlflow(
    book: Ledger, tracking_uri: str | None, experiment: str | None, run_ids: Sequence[str]
) -> ImportResult:
    uri = store_uri(tracking_uri, Path.cwd())
    runs = read_runs(uri, experiment, run_ids)
    known = read_known(book.tree, book.config.records_dir, book.config.limits, book.cache)
    result = ImportResult(uri)
    for run in runs:
        _import_run(book, run, known, result)
    return result


def _import_run(book: Ledger, run: MlflowRun, known: KnownRecords, result: ImportResult) -> None:
    if not run.finished:
        reason = f"the run is {run.status}; only a finished run is recorded"
        result.skipped.append(Skipped(run.run_id, run.run_name, reason))
        return
    phi = scan_phi(_carried(run), f"mlflow run {run.run_id}")
    if phi:
        result.problems += phi
        return
    planned = plan_run(run, known, _code_commit(book, run))
    if not planned:
        reason = "it logged neither a model nor a metric: nothing to record"
        result.skipped.append(Skipped(run.run_id, run.run_name, reason))
        return
    for index, plan in enumerate(planned):
        done = [r for r in known.by_external("run_id", run.run_id) if r.kind == plan.kind]
        if done:
            reason = f"{done[0]} records its {plan.kind} already"
            result.skipped.append(Skipped(run.run_id, run.run_name, reason))
            continue
        suffix = f"-{index + 1}" if sum(p.kind == plan.kind for p in planned) > 1 else ""
        relpath = f"{FOLDER}/{run.run_id}-{plan.kind}{suffix}.yaml"
        _write_draft(book, run, plan, known, relpath, result)


def _carried(run: MlflowRun) -> dict[str, Any]:
    """What the import copies from MLflow into a draft, shaped as MLflow names it, so that an
    L501 finding points at the MLflow field to clean."""
    tags = {
        k: v
        for k, v in run.tags.items()
        if k.startswith((HEALTHCHAIN, "mlflow.source.")) or k == "mlflow.note.content"
    }
    return {
        "params": run.params,
        "tags": tags,
        "run_name": run.run_name,
        "user": run.user,
        "metrics": sorted(run.metrics),
        "inputs": [{"name": i.name, "source": i.source, "context": i.context} for i in run.inputs],
        "models": [m.name for m in (*run.logged_models, *run.used_models)],
    }


def _code_commit(book: Ledger, run: MlflowRun) -> GitTree | None:
    """The repository as it was at the commit the run's code was at, if this repository has
    that commit: dataset inputs are matched against the DVC files of that commit."""
    commit = run.tags.get("mlflow.source.git.commit", "")
    # A full commit id only: a name such as HEAD or main would match against today's data.
    if not _COMMIT_ID.fullmatch(commit):
        return None
    try:
        return GitTree(book.repository, book.repository.resolve(commit))
    except UsageError:
        return None


def _write_draft(
    book: Ledger,
    run: MlflowRun,
    plan: Planned,
    known: KnownRecords,
    relpath: str,
    result: ImportResult,
) -> None:
    kind = plan.kind
    if plan.name and plan.version:
        exists = RecordId(kind, plan.name, plan.version)
        if exists in known.contents:
            plan.notes.append(f"{exists} exists already (from other work): choose a version.")
            plan.version = None
    earlier = known.versions(kind, plan.name) if plan.name else []
    base = inherited(kind, known.contents[earlier[-1]]) if earlier else {}
    missing = _missing(kind, merge_fields(base, plan.fields), relpath)
    command = _command(plan, relpath, earlier[-1] if earlier else None)
    header = _header(run, plan, result.store, command, missing, earlier[-1] if earlier else None)
    content = render_draft(kind, plan.fields, header=header).encode()
    target = place_inside(book.root, relpath)
    if target.is_file() and target.read_bytes() == content:
        changed = False
    elif target.exists() or target.is_symlink():
        reason = (
            f"its draft {relpath} was changed since the import wrote it; finish it with "
            "`ledger new --from`, or delete it to import the run again"
        )
        result.skipped.append(Skipped(run.run_id, run.run_name, reason))
        return
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, content)
        changed = True
    result.drafts.append(
        Draft(run.run_id, run.run_name, kind, relpath, tuple(missing), command, changed)
    )


def _missing(kind: str, fields: dict[str, Any], relpath: str) -> list[Finding]:
    """What the record still lacks once drafted: every schema finding, except the identity
    (from the command line) and the hashes of named links (``ledger new`` pins them)."""
    data = {"kind": kind, "schema_version": 1, "name": "draft", "version": "1.0", **fields}
    found = schema_findings(spec(kind).kind, data, relpath)
    return [f for f in found if not (f.code == "L102" and f.pointer.endswith("/sha256"))]


def _command(plan: Planned, relpath: str, earlier: RecordId | None) -> str:
    words = [
        "ledger new",
        plan.kind,
        plan.name or "NAME",
        "--version",
        plan.version or "VERSION",
        "--from",
        relpath,
    ]
    if spec(plan.kind).snapshots:
        words += ["--snapshot", "DVC_FILE"]
    if earlier is not None:
        words += ["--supersedes", str(earlier), '--reason "WHY"', "--change-type TYPE"]
    return " ".join(words)


def _header(
    run: MlflowRun,
    plan: Planned,
    store: str,
    command: str,
    missing: list[Finding],
    earlier: RecordId | None,
) -> list[str]:
    article = "An" if plan.kind[0] in "aeiou" else "A"
    lines = [
        f"{article} {plan.kind} record drafted from MLflow run {run.run_id} ({run.run_name!r},",
        f"experiment {run.experiment_name!r}) in {store}.",
        "Finish it with:",
        f"  {command}",
    ]
    if earlier is not None:
        lines.append(
            f"With --supersedes {earlier}, every documentation field left out here is taken "
            "from that version."
        )
    lines.append(f"Still missing ({len(missing)}):" if missing else "Nothing is missing.")
    lines += [f"  {f.pointer or '/'}: {f.message}" for f in missing]
    if plan.notes:
        lines.append("Notes:")
        for note in plan.notes:
            lines += textwrap.wrap(note, _WIDTH, initial_indent="  - ", subsequent_indent="    ")
    lines += ["Commit message for the record:", *(f"  {x}" for x in _message(run, plan))]
    return lines


def _message(run: MlflowRun, plan: Planned) -> list[str]:
    """A commit message that says where the record came from (MLflow's system tags)."""
    identity = f"{plan.name or 'NAME'}@{plan.version or 'VERSION'}"
    facts = run_extension(run)
    ran = [f"Run {run.run_name!r} ({run.run_id}) of MLflow experiment {run.experiment_name!r}"]
    if "user" in facts:
        ran.append(f"by {facts['user']}")
    if "source" in facts:
        ran.append(f"from {facts['source']}")
    if "git_commit" in facts:
        ran.append(f"at commit {facts['git_commit']}")
    if "start_time" in facts:
        ran.append(f"from {facts['start_time']} to {facts.get('end_time', '(not ended)')}")
    return [
        f"Record {plan.kind} {identity} from MLflow run {run.run_name}",
        "",
        " ".join(ran) + ".",
    ]
