"""``ledger diff BASE [HEAD]``: a pull-request review of what a change does to the ledger.

Records added, superseded, changed in place or deleted (the last two are violations: committed
versions are immutable); the lineage around what changed; metric deltas of each new evaluation
against the one it supersedes, its baseline, or the evaluation of the previous model version;
the sign-offs it adds; the reporting-framework coverage it gains or loses; and the
verification findings the change introduces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.coverage.changes import ModelCoverage, coverage_changes
from ledger.findings import Finding
from ledger.records.identity import RecordId
from ledger.views.compare import COMPARE_DEPTH, Contents, MetricDelta, compare
from ledger.views.graph import LineageGraph, record_node_id, select_around
from ledger.views.signoffs import SignOffView, all_signoffs

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState

METRIC_BATCH = 500  # evaluations whose comparisons read their records at once


@dataclass(frozen=True)
class Superseded:
    old: str
    new: str
    reason: str
    change_type: str


@dataclass(frozen=True)
class MetricChange:
    evaluation: str
    against: str
    why: str
    deltas: tuple[MetricDelta, ...]


@dataclass
class Review:
    base: str
    head: str
    added: list[str] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    changed_in_place: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)
    new_findings: list[Finding] = field(default_factory=list)
    #: Sign-offs the head has and the base had not.
    signoffs: list[SignOffView] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    lineage: LineageGraph | None = None
    #: Framework items whose status moved, for each model whose package the change touches.
    coverage: list[ModelCoverage] = field(default_factory=list)

    @property
    def violations(self) -> bool:
        return bool(
            self.changed_in_place
            or self.deleted
            or any(f.severity == "error" for f in self.new_findings)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "added": self.added,
            "superseded": [s.__dict__ for s in self.superseded],
            "changed_in_place": self.changed_in_place,
            "deleted": self.deleted,
            "metrics": [
                {
                    "evaluation": m.evaluation,
                    "against": m.against,
                    "why": m.why,
                    "deltas": [d.to_json() for d in m.deltas],
                }
                for m in self.metrics
            ],
            "new_findings": [f.to_json() for f in self.new_findings],
            "signoffs": [one.to_json() for one in self.signoffs],
            "lineage": self.lineage.to_json() if self.lineage else None,
            "coverage": [c.to_json() for c in self.coverage],
        }


def review(root: Path, before: LedgerState, after: LedgerState) -> Review:
    """What changed in the ledger from state ``before`` (the base) to ``after`` (the head)."""
    result = Review(before.commit, after.commit)
    old = before.records.by_path
    added: list[RecordFile] = []
    for file in after.records.files:
        previous = old.get(file.relpath)
        if previous is None:
            added.append(file)
            result.added.append(str(file.facts.claimed or file.relpath))
        elif _changed(previous, file):
            result.changed_in_place.append(file.relpath)
        if file.facts.valid and file.facts.claimed is not None:
            result.titles[str(file.facts.claimed)] = file.facts.title
    result.deleted = sorted(set(old) - set(after.records.by_path))
    for file in added:
        link = file.facts.supersedes if file.facts.valid else None
        if link is not None:
            ref = str(file.facts.claimed)
            result.superseded.append(Superseded(link.ref, ref, link.reason, link.change_type))
    graph = after.graph
    result.metrics = _metric_changes(after, result.added)
    result.new_findings = _new_findings(root, before, after)
    known = {one.path for one in before.signoffs.read}
    result.signoffs = [one for one in all_signoffs(after) if one.path not in known]
    changed_ids = [f.facts.claimed for f in added if f.facts.claimed is not None]
    changed_ids += [
        claimed
        for p in result.changed_in_place
        if (claimed := after.records.by_path[p].facts.claimed) is not None
    ]
    result.lineage = select_around(graph, changed_ids, depth=1) if changed_ids else None
    result.coverage = coverage_changes(before, after, changed_ids)
    return result


def _changed(before: RecordFile, after: RecordFile) -> bool:
    """A committed version changed: its canonical content, or its bytes where it has none."""
    if before.facts.sha256 is not None and after.facts.sha256 is not None:
        return before.facts.sha256 != after.facts.sha256
    return before.blob != after.blob


def _metric_changes(state: LedgerState, added: list[str]) -> list[MetricChange]:
    """Each added evaluation's metrics against those of what it is compared with. Contents
    are read for a batch of evaluations at once (and dropped after it)."""
    pairs = [(ref, *found) for ref in added if (found := _against(state, ref)) is not None]
    changes = []
    for start in range(0, len(pairs), METRIC_BATCH):
        batch = pairs[start : start + METRIC_BATCH]
        ids = [(RecordId.parse(ref), RecordId.parse(against)) for ref, against, _ in batch]
        content = Contents(state)
        content.prefetch([x for pair in ids for x in pair], COMPARE_DEPTH)
        for (ref, against, why), (ref_id, against_id) in zip(batch, ids, strict=True):
            comparison = compare(state, against_id, ref_id, content)
            changes.append(MetricChange(ref, against, why, tuple(comparison.metrics)))
    return changes


def _against(state: LedgerState, ref: str) -> tuple[str, str] | None:
    """What an added evaluation is compared with, and why; None for other records, and for
    an evaluation with nothing to compare with."""
    if not ref.startswith("evaluation:"):
        return None
    file = state.records.by_id.get(RecordId.parse(ref))
    if file is None or not file.facts.valid:
        return None
    links = {link.relation: link.ref for link in file.facts.links}
    against: str | None
    if "supersedes" in links:
        against, why = links["supersedes"], "the evaluation it supersedes"
    elif "compared-with" in links:
        against, why = links["compared-with"], "its baseline"
    else:
        against = _previous_model_evaluation(state, links.get("evaluates"))
        why = "the evaluation of the previous model version"
    if against is None or record_node_id(against) not in state.graph.nodes:
        return None
    target = state.records.by_id.get(RecordId.parse(against))
    if target is None or not target.facts.valid:
        return None
    return against, why


def _previous_model_evaluation(state: LedgerState, model_ref: str | None) -> str | None:
    model = state.records.by_id.get(RecordId.parse(model_ref)) if model_ref else None
    link = model.facts.supersedes if model is not None else None
    if link is None:
        return None
    evaluations = sorted(
        e.source for e in state.graph.in_edges(record_node_id(link.ref)) if e.kind == "evaluates"
    )
    return evaluations[-1][len("record:") :] if evaluations else None


def _new_findings(root: Path, before: LedgerState, after: LedgerState) -> list[Finding]:
    """Findings at the head that the base did not have (same rule, file and place)."""

    def key(f: Finding) -> tuple[str, str, str]:
        return f.code, f.path, f.pointer

    known = {key(f) for f in before.verify_findings(root, require_signed=False, data=False)}
    head = after.verify_findings(root, require_signed=False, data=False)
    return [f for f in head if key(f) not in known]
