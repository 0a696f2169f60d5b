"""``ledger diff BASE [HEAD]``: a pull-request review of what a change does to the ledger.

Records added, superseded, changed in place or deleted (the last two are violations: committed
versions are immutable); the lineage around what changed; metric deltas of each new evaluation
against the one it supersedes, its baseline, or the evaluation of the previous model version;
and the verification findings the change introduces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.views.compare import MetricDelta, compare
from ledger.config import Config
from ledger.checks.findings import Finding
from ledger.git.repository import GitTree, Repository
from ledger.records.identity import RecordId
from ledger.views.graph import LineageGraph, build_graph, record_node_id, select
from ledger.checks.tree import Entry, load_tree
from ledger.checks.verify import verify


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
    titles: dict[str, str] = field(default_factory=dict)
    lineage: LineageGraph | None = None

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
            "lineage": self.lineage.to_json() if self.lineage else None,
        }


def review(root: Path, config: Config, base: str, head: str = "HEAD") -> Review:
    """Compare the ledger at ``base`` with the ledger at ``head``."""
    with Repository(root) as repo:
        base_sha, head_sha = repo.resolve(base), repo.resolve(head)
        before = _by_path(load_tree(GitTree(repo, base_sha), config)[0])
        after = _by_path(load_tree(GitTree(repo, head_sha), config)[0])
    result = Review(base_sha, head_sha)
    for path, entry in sorted(after.items()):
        old = before.get(path)
        if old is None:
            result.added.append(str(entry.claimed or path))
        elif old.sha256 != entry.sha256:
            result.changed_in_place.append(path)
        if entry.record is not None and entry.claimed is not None:
            result.titles[str(entry.claimed)] = entry.record.title
    result.deleted = sorted(set(before) - set(after))
    graph = build_graph(root, config, head_sha)
    for ref in result.added:
        record = after[RecordId.parse(ref).relpath(config.records_dir)].record
        if record is not None and record.supersedes is not None:
            sup = record.supersedes
            result.superseded.append(Superseded(sup.ref, ref, sup.reason, sup.change_type))
    result.metrics = [m for ref in result.added if (m := _metric_change(graph, ref))]
    result.new_findings = _new_findings(root, config, base_sha, head_sha)
    result.lineage = _around(
        graph,
        [
            *result.added,
            *(str(after[p].claimed) for p in result.changed_in_place if after[p].claimed),
        ],
    )
    return result


def _by_path(entries: list[Entry]) -> dict[str, Entry]:
    return {e.relpath: e for e in entries}


def _metric_change(graph: LineageGraph, ref: str) -> MetricChange | None:
    if not ref.startswith("evaluation:"):
        return None
    content = graph.nodes[record_node_id(ref)].attrs["content"]
    against, why = None, ""
    if "supersedes" in content:
        against, why = content["supersedes"]["ref"], "the evaluation it supersedes"
    elif isinstance(content.get("baseline"), dict) and "ref" in content["baseline"]:
        against, why = content["baseline"]["ref"], "its baseline"
    else:
        against = _previous_model_evaluation(graph, content["model"]["ref"])
        why = "the evaluation of the previous model version"
    if against is None or record_node_id(against) not in graph.nodes:
        return None
    comparison = compare(graph, RecordId.parse(against), RecordId.parse(ref))
    return MetricChange(ref, against, why, tuple(comparison.metrics))


def _previous_model_evaluation(graph: LineageGraph, model_ref: str) -> str | None:
    model = graph.nodes.get(record_node_id(model_ref))
    previous = (
        (model.attrs.get("content", {}).get("supersedes") or {}).get("ref") if model else None
    )
    if previous is None:
        return None
    evaluations = sorted(
        e.source for e in graph.in_edges(record_node_id(previous)) if e.kind == "evaluates"
    )
    return evaluations[-1][len("record:") :] if evaluations else None


def _new_findings(root: Path, config: Config, base: str, head: str) -> list[Finding]:
    """Findings at ``head`` that ``base`` did not have (same rule, file and place)."""

    def key(f: Finding) -> tuple[str, str, str]:
        return f.code, f.path, f.pointer

    known = {key(f) for f in verify(root, config, base).findings}
    return [f for f in verify(root, config, head).findings if key(f) not in known]


def _around(graph: LineageGraph, refs: list[str]) -> LineageGraph | None:
    """The lineage one link around each changed record, merged into one graph."""
    merged: LineageGraph | None = None
    for ref in refs:
        part = select(graph, RecordId.parse(ref), depth=1, all_versions=True)
        if merged is None:
            merged = part
        else:
            merged.nodes.update(part.nodes)
            merged.edges = sorted(set(merged.edges) | set(part.edges))
    return merged.sorted() if merged else None
