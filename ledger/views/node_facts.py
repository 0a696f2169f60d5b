"""What every lineage view shows of a record node: its facts with snapshots and commit resolved."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.kinds import ordered
from ledger.views.graph import LineageGraph, Node

KIND_ORDER = tuple(spec.kind for spec in ordered())
# Relations between records, in the order views list a record's upstream.
RECORD_EDGES = ("evaluates", "evaluated-on", "trained-on", "compared-with", "supersedes")


@dataclass(frozen=True)
class NodeFacts:
    """What a view shows of one record node, with its snapshots and commit resolved."""

    node: Node
    kind: str
    identity: str
    title: str
    path: str
    sha256: str
    missing: bool
    superseded_by: tuple[str, ...]
    snapshots: tuple[Mapping[str, Any], ...]
    commit: Mapping[str, Any] | None

    @property
    def short_sha256(self) -> str:
        return self.sha256[:12]

    @property
    def short_commit(self) -> str:
        return str(self.commit["sha"])[:7] if self.commit else ""

    @property
    def author(self) -> str:
        return str(self.commit["author"]["name"]) if self.commit else ""

    @property
    def date(self) -> str:
        return str(self.commit["author_date"])[:10] if self.commit else ""

    def snapshot_line(self) -> str:
        return ", ".join(f"{data_path(s)} {str(s['md5'])[:8]}" for s in self.snapshots)

    def commit_line(self) -> str:
        return f"{self.short_commit} {self.author} {self.date}" if self.commit else ""

    def label_lines(self) -> list[str]:
        """The lines a drawn box shows: identity, title, who and when, and its status."""
        lines = [self.identity]
        if self.title:
            lines.append(self.title)
        if self.commit:
            lines.append(f"{self.author} · {self.short_commit} · {self.date}")
        if self.missing:
            lines.append("MISSING")
        elif self.superseded_by:
            lines.append("superseded")
        return lines


def snapshot_lines(node: Node) -> list[str]:
    """The lines a drawn snapshot box shows: its path and the start of its md5."""
    return [data_path(node.attrs), f"md5 {node.attrs['md5'][:8]}"]


def data_path(snapshot: Mapping[str, Any]) -> str:
    """The snapshot's path from the repository root (DVC paths are relative to the DVC file)."""
    return posixpath.join(posixpath.dirname(str(snapshot.get("dvc_file", ""))), snapshot["path"])


def record_kind(node: Node) -> str:
    """The record kind, also for dangling nodes that carry only their id."""
    return str(node.attrs.get("record_kind") or node.id.split(":")[1])


def record_facts(graph: LineageGraph) -> dict[str, NodeFacts]:
    """Facts of every record node, keyed by node id, in node id order."""
    superseded_by: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge.kind == "supersedes" and edge.source in graph.nodes:
            superseded_by.setdefault(edge.target, []).append(graph.nodes[edge.source].label)
    facts: dict[str, NodeFacts] = {}
    for node in graph.records():
        snapshots: list[Mapping[str, Any]] = []
        commit: Mapping[str, Any] | None = None
        for edge in graph.out_edges(node.id):
            target = graph.nodes.get(edge.target)
            if target is None:
                continue
            if edge.kind == "snapshot-of":
                snapshots.append(target.attrs)
            elif edge.kind == "recorded-in":
                commit = target.attrs
        attrs = node.attrs
        facts[node.id] = NodeFacts(
            node=node,
            kind=record_kind(node),
            identity=node.label,
            title=str(attrs.get("title", "")),
            path=str(attrs.get("path", "")),
            sha256=str(attrs.get("sha256", "")),
            missing=bool(attrs.get("missing")),
            superseded_by=tuple(sorted(superseded_by.get(node.id, []))),
            snapshots=tuple(snapshots),
            commit=commit,
        )
    return facts


def record_edges(graph: LineageGraph) -> list[tuple[str, str, str]]:
    """Edges between records as (source, target, kind), sorted."""
    return sorted(
        (e.source, e.target, e.kind)
        for e in graph.edges
        if e.kind in RECORD_EDGES and e.source in graph.nodes and e.target in graph.nodes
    )
