"""The lineage graph: one typed graph of records, DVC snapshots, commits and agents.

Every view (text, Mermaid, DOT, JSON, HTML, FHIR, reviews, exports) is a pure function of this
graph, built once per command from the committed history at a revision.

Edges point from the dependent to what it depends on, so "upstream" follows edges forwards:
a model is ``trained-on`` a dataset, an evaluation ``evaluates`` a model and is ``evaluated-on``
a dataset, a version ``supersedes`` the one before, a record is a ``snapshot-of`` its DVC data,
``recorded-in`` the commit that added it, and that commit is ``authored-by`` and
``committed-by`` people.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ledger.config import Config
from ledger.errors import RecordNotFoundError
from ledger.git.repository import Commit, GitTree, Repository
from ledger.records.identity import RecordId
from ledger.checks.links import link_sites
from ledger.dvc.snapshots import snapshot_sites
from ledger.checks.tree import Entry, load_tree

NodeKind = Literal["record", "snapshot", "commit", "agent"]
EdgeKind = Literal[
    "trained-on",
    "evaluated-on",
    "evaluates",
    "compared-with",
    "supersedes",
    "snapshot-of",
    "recorded-in",
    "authored-by",
    "committed-by",
]
Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class Node:
    """A node; ``id`` is stable across runs: ``record:KIND:NAME@VERSION``, ``snapshot:<md5>``,
    ``commit:<sha>`` or ``agent:<email>``."""

    id: str
    kind: NodeKind
    label: str
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, **self.attrs}


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}


def record_node_id(record_id: RecordId | str) -> str:
    return f"record:{record_id}"


@dataclass
class LineageGraph:
    commit: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def link(self, source: str, target: str, kind: EdgeKind) -> None:
        edge = Edge(source, target, kind)
        if edge not in self.edges:
            self.edges.append(edge)

    def records(self) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.kind == "record"), key=lambda n: n.id)

    def out_edges(self, node_id: str) -> list[Edge]:
        return sorted(e for e in self.edges if e.source == node_id)

    def in_edges(self, node_id: str) -> list[Edge]:
        return sorted(e for e in self.edges if e.target == node_id)

    def sorted(self) -> LineageGraph:
        """The same graph with nodes and edges in a deterministic order."""
        return LineageGraph(self.commit, dict(sorted(self.nodes.items())), sorted(self.edges))

    def subgraph(
        self, start: str, direction: Direction = "both", depth: int | None = None
    ) -> LineageGraph:
        """``start`` and what lies up- and/or downstream of it, at most ``depth`` edges away."""
        forward: dict[str, list[Edge]] = defaultdict(list)
        backward: dict[str, list[Edge]] = defaultdict(list)
        for edge in self.edges:
            forward[edge.source].append(edge)
            backward[edge.target].append(edge)
        keep = {start}
        kept_edges: set[Edge] = set()
        for walk, pick in (("upstream", forward), ("downstream", backward)):
            if direction not in (walk, "both"):
                continue
            queue = deque([(start, 0)])
            seen = {start}
            while queue:
                node, distance = queue.popleft()
                if depth is not None and distance >= depth:
                    continue
                for edge in pick[node]:
                    other = edge.target if walk == "upstream" else edge.source
                    kept_edges.add(edge)
                    if other not in seen:
                        seen.add(other)
                        keep.add(other)
                        queue.append((other, distance + 1))
        return LineageGraph(
            self.commit,
            {k: v for k, v in sorted(self.nodes.items()) if k in keep},
            sorted(kept_edges),
        )

    def without(self, node_ids: Iterable[str]) -> LineageGraph:
        drop = set(node_ids)
        return LineageGraph(
            self.commit,
            {k: v for k, v in self.nodes.items() if k not in drop},
            [e for e in self.edges if e.source not in drop and e.target not in drop],
        )

    def superseded(self) -> set[str]:
        return {e.target for e in self.edges if e.kind == "supersedes"}

    def to_json(self) -> dict[str, Any]:
        """A node-link document: ``{"commit", "nodes": [...], "edges": [...]}`` (see README)."""
        ordered = self.sorted()
        return {
            "format": "ledger-lineage/1",
            "commit": self.commit,
            "nodes": [n.to_json() for n in ordered.nodes.values()],
            "edges": [e.to_json() for e in ordered.edges],
        }


def build_graph(root: Path, config: Config, rev: str = "HEAD") -> LineageGraph:
    """The lineage graph of the ledger as committed at ``rev``."""
    with Repository(root) as repo:
        sha = repo.resolve(rev)
        entries, _ = load_tree(GitTree(repo, sha), config)
        commits = repo.walk(sha, [config.records_dir])
    return graph_from(sha, entries, commits)


def graph_from(sha: str, entries: Iterable[Entry], commits: Iterable[Commit]) -> LineageGraph:
    """Assemble the graph from loaded records and the commits that touched them (oldest first)."""
    graph = LineageGraph(sha)
    introduced: dict[str, Commit] = {}
    for commit in commits:
        for change in commit.changes:
            if change.status != "D":
                introduced[change.path] = commit  # the commit that left this content
    for entry in entries:
        if entry.record is None or entry.claimed is None or entry.data is None:
            continue  # unreadable records are verify's business, not the graph's
        own = record_node_id(entry.claimed)
        graph.add(
            Node(
                own,
                "record",
                str(entry.claimed),
                {
                    "record_kind": entry.claimed.kind,
                    "name": entry.claimed.name,
                    "version": entry.claimed.version,
                    "title": entry.record.title,
                    "path": entry.relpath,
                    "sha256": entry.sha256,
                    "content": entry.data,
                },
            )
        )
        for site in link_sites(entry.record):
            graph.link(own, record_node_id(site.link.ref), site.relation)  # type: ignore[arg-type]
        for _, snap in snapshot_sites(entry.record):
            snap_id = f"snapshot:{snap.md5}"
            graph.add(
                Node(
                    snap_id,
                    "snapshot",
                    f"{snap.path} ({snap.md5[:8]})",
                    snap.model_dump(mode="json", exclude_none=True),
                )
            )
            graph.link(own, snap_id, "snapshot-of")
        recorded_in = introduced.get(entry.relpath)
        if recorded_in is not None:
            _add_commit(graph, own, recorded_in)
    # Links to records that are not in the tree stay visible as dangling nodes.
    for edge in list(graph.edges):
        if edge.target not in graph.nodes and edge.target.startswith("record:"):
            graph.add(Node(edge.target, "record", edge.target[7:], {"missing": True}))
    return graph.sorted()


def _add_commit(graph: LineageGraph, record: str, commit: Commit) -> None:
    commit_id = f"commit:{commit.sha}"
    graph.add(
        Node(
            commit_id,
            "commit",
            f"{commit.sha[:12]} {commit.subject}",
            {
                "sha": commit.sha,
                "author": {"name": commit.author.name, "email": commit.author.email},
                "author_date": commit.author_date,
                "committer": {"name": commit.committer.name, "email": commit.committer.email},
                "committer_date": commit.committer_date,
                "message": commit.message,
                "reason": commit.trailer("Ledger-Reason"),
                "signature": commit.signature_state,
                "signer": commit.signer,
            },
        )
    )
    graph.link(record, commit_id, "recorded-in")
    for person, kind in ((commit.author, "authored-by"), (commit.committer, "committed-by")):
        agent_id = f"agent:{person.email}"
        graph.add(
            Node(agent_id, "agent", person.name, {"name": person.name, "email": person.email})
        )
        graph.link(commit_id, agent_id, kind)  # type: ignore[arg-type]


def select(
    graph: LineageGraph,
    ref: RecordId | None = None,
    *,
    direction: Direction = "both",
    depth: int | None = None,
    all_versions: bool = False,
) -> LineageGraph:
    """The part of the graph a view shows: around ``ref`` if given, current versions unless
    ``all_versions``; snapshots, commits and agents only where a shown record reaches them."""
    if not all_versions:
        keep = {record_node_id(ref)} if ref is not None else set()
        graph = graph.without(graph.superseded() - keep)
    # Walk records only, so depth counts links between records; then attach the snapshots,
    # commits and agents the chosen records point to.
    reachable = {n for n in graph.nodes if n.startswith("record:")}
    if ref is not None:
        start = record_node_id(ref)
        if start not in graph.nodes:
            raise RecordNotFoundError(f"{ref}: no such record at commit {graph.commit[:12]}")
        records = graph.without(set(graph.nodes) - reachable)
        reachable = set(records.subgraph(start, direction, depth).nodes)
    frontier = list(reachable)
    while frontier:
        node = frontier.pop()
        for edge in graph.out_edges(node):
            if edge.target not in reachable and not edge.target.startswith("record:"):
                reachable.add(edge.target)
                frontier.append(edge.target)
    return graph.without(set(graph.nodes) - reachable).sorted()
