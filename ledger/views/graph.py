"""The lineage graph: one typed graph of records, DVC snapshots, commits and agents.

Built once per state (``LedgerState.graph``) from the records' facts and the history; every
lineage view is a function of it. Edges point from the dependent to what it depends on, so
"upstream" follows edges forwards: a model is ``trained-on`` a dataset, an evaluation
``evaluates`` a model and is ``evaluated-on`` a dataset, a version ``supersedes`` the one
before, a record is a ``snapshot-of`` its DVC data, ``recorded-in`` the commit that added it,
and that commit is ``authored-by`` and ``committed-by`` people.

Nodes and edges live in dicts and adjacency lists, so building, selecting and walking the graph
cost time linear in its size: a ledger of 100,000 records draws as fast per record as one of 10.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ledger.errors import RecordNotFoundError
from ledger.git.commits import Commit, Person
from ledger.kinds import Relation
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

NodeKind = Literal["record", "snapshot", "commit", "agent"]
EdgeKind = Relation | Literal["snapshot-of", "recorded-in", "authored-by", "committed-by"]
Direction = Literal["upstream", "downstream", "both"]
FORMAT = "ledger-lineage/2"


@dataclass(frozen=True, slots=True)
class Node:
    """A node; ``id`` is stable across runs: ``record:KIND:NAME@VERSION``, ``snapshot:<md5>``,
    ``commit:<sha>`` or ``agent:<email>``. ``attrs`` are JSON-ready facts (never a record's
    content, which views read from the state when they print it)."""

    id: str
    kind: NodeKind
    label: str
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, **self.attrs}


class Edge(NamedTuple):
    """An edge; a tuple, so that making, hashing and sorting 100,000 of them runs in C."""

    source: str
    target: str
    kind: EdgeKind

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}


def record_node_id(record_id: RecordId | str) -> str:
    return f"record:{record_id}"


class LineageGraph:
    """Nodes by id, and edges as a set with adjacency in both directions (made when first
    walked: a selection printed whole never needs it)."""

    def __init__(self, commit: str) -> None:
        self.commit = commit
        self.nodes: dict[str, Node] = {}
        self._edges: set[Edge] = set()
        self._sorted: list[Edge] | None = None
        self._adjacency: tuple[dict[str, list[Edge]], dict[str, list[Edge]]] | None = None

    def add(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def link(self, source: str, target: str, kind: EdgeKind) -> None:
        edge = Edge(source, target, kind)
        if edge not in self._edges:
            self._edges.add(edge)
            self._sorted = None
            if self._adjacency is not None:
                self._adjacency[0][source].append(edge)
                self._adjacency[1][target].append(edge)

    @property
    def edges(self) -> list[Edge]:
        """Every edge, sorted (kept until an edge is added)."""
        if self._sorted is None:
            self._sorted = sorted(self._edges)
        return self._sorted

    @property
    def _out(self) -> dict[str, list[Edge]]:
        return self._adjacent()[0]

    @property
    def _in(self) -> dict[str, list[Edge]]:
        return self._adjacent()[1]

    def _adjacent(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        if self._adjacency is None:
            out: dict[str, list[Edge]] = defaultdict(list)
            into: dict[str, list[Edge]] = defaultdict(list)
            for edge in self._edges:
                out[edge.source].append(edge)
                into[edge.target].append(edge)
            self._adjacency = out, into
        return self._adjacency

    def out_edges(self, node_id: str) -> list[Edge]:
        return sorted(self._out.get(node_id, ()))

    def in_edges(self, node_id: str) -> list[Edge]:
        return sorted(self._in.get(node_id, ()))

    def records(self) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.kind == "record"), key=lambda n: n.id)

    def superseded(self) -> set[str]:
        return {e.target for e in self._edges if e.kind == "supersedes"}

    def sorted(self) -> LineageGraph:
        """The same graph with nodes and edges in sorted order (what views expect)."""
        return self.restricted(self.nodes)

    def restricted(self, keep: Iterable[str]) -> LineageGraph:
        """The graph of the nodes in ``keep`` and the edges between them, in sorted order."""
        kept = set(keep)
        graph = LineageGraph(self.commit)
        if kept.issuperset(self.nodes):  # all of it (every version's provenance): no walk
            graph.nodes = {node_id: self.nodes[node_id] for node_id in sorted(self.nodes)}
            graph._edges, graph._sorted = set(self._edges), self._sorted
            return graph
        for node_id in sorted(kept):
            if node_id in self.nodes:
                graph.nodes[node_id] = self.nodes[node_id]
        nodes = graph.nodes
        edges = [e for e in self.edges if e.source in nodes and e.target in nodes]
        graph._edges, graph._sorted = set(edges), edges  # a sorted list's sublist is sorted
        return graph

    def reachable(
        self, start: str, direction: Direction, depth: int | None, within: set[str]
    ) -> set[str]:
        """Nodes of ``within`` at most ``depth`` edges up- and/or downstream of ``start``."""
        keep = {start}
        for walk in ("upstream", "downstream"):
            if direction not in (walk, "both"):
                continue
            adjacency = self._out if walk == "upstream" else self._in
            queue = deque([(start, 0)])
            seen = {start}
            while queue:
                node, distance = queue.popleft()
                if depth is not None and distance >= depth:
                    continue
                for edge in adjacency.get(node, ()):
                    other = edge.target if walk == "upstream" else edge.source
                    if other in within and other not in seen:
                        seen.add(other)
                        keep.add(other)
                        queue.append((other, distance + 1))
        return keep

    def to_json(self) -> dict[str, Any]:
        """A node-link document (see the README): nodes and edges sorted, so byte-stable."""
        return {
            "format": FORMAT,
            "commit": self.commit,
            "nodes": [self.nodes[k].to_json() for k in sorted(self.nodes)],
            "edges": [e.to_json() for e in self.edges],
        }

    def json_chunks(self) -> Iterator[str]:
        """``to_json`` as text, each node and edge compact on a line of its own: a large
        graph is never one string, and it diffs by node."""
        import json
        from json.encoder import encode_basestring

        from ledger.compactjson import compact_json as dump

        quoted: dict[str, str] = {}  # an id is named by every edge that touches it

        def quote(text: str) -> str:
            found = quoted.get(text)
            if found is None:
                found = quoted[text] = encode_basestring(text)
            return found

        # An edge is three strings: written as ``dump`` writes its ``to_json`` (keys sorted,
        # no spaces), without making a dict per edge.
        edges = (
            f'{{"kind":{quote(e.kind)},"source":{quote(e.source)},"target":{quote(e.target)}}}'
            for e in self.edges
        )
        nodes = (dump(self.nodes[k].to_json()) for k in sorted(self.nodes))
        yield "{\n"
        yield f'  "commit": {json.dumps(self.commit)},\n'
        yield from _json_lines("edges", edges)
        yield ",\n"
        yield f'  "format": {json.dumps(FORMAT)},\n'
        yield from _json_lines("nodes", nodes)
        yield "\n}\n"


def _json_lines(name: str, texts: Iterator[str], batch: int = 1000) -> Iterator[str]:
    """A member of ``json_chunks`` holding a list, its items' texts one to a line, joined a
    batch at a time (a chunk per item would pass through every generator to the writer)."""
    yield f'  "{name}": ['
    held: list[str] = []
    start = "\n    "
    for text in texts:
        held.append(text)
        if len(held) >= batch:
            yield start + ",\n    ".join(held)
            start, held = ",\n    ", []
    if held:
        yield start + ",\n    ".join(held)
    yield "]" if start == "\n    " and not held else "\n  ]"


def build_graph(state: LedgerState) -> LineageGraph:
    """The lineage graph of a state: every valid record, its links, data and commit."""
    graph = LineageGraph(state.commit)
    for file in state.records.valid():
        facts, claimed = file.facts, file.facts.claimed
        assert claimed is not None
        own = record_node_id(claimed)
        graph.add(
            Node(
                own,
                "record",
                str(claimed),
                {
                    "record_kind": claimed.kind,
                    "name": claimed.name,
                    "version": claimed.version,
                    "title": facts.title,
                    "path": file.relpath,
                    "sha256": facts.sha256,
                    "blob": file.blob,
                },
            )
        )
        for link in facts.links:
            graph.link(own, record_node_id(link.ref), link.relation)
        for site in facts.snapshots:
            snap = site.snapshot
            snap_id = f"snapshot:{snap.md5}"
            label = f"{snap.path} ({snap.md5[:8]})"
            graph.add(Node(snap_id, "snapshot", label, snap.to_json()))
            graph.link(own, snap_id, "snapshot-of")
        commit = state.introduced(file)
        if commit is not None:
            _add_commit(graph, own, commit)
    # Links to records that are not in the tree stay visible as dangling nodes (in edge order;
    # only those edges are sorted here: views that need every edge sorted sort them once).
    nodes = graph.nodes
    dangling = (e for e in graph._edges if e.target not in nodes and e.target.startswith("record:"))
    for edge in sorted(dangling):
        graph.add(Node(edge.target, "record", edge.target[7:], {"missing": True}))
    return graph


def _add_commit(graph: LineageGraph, record: str, commit: Commit) -> None:
    commit_id = f"commit:{commit.sha}"
    if commit_id not in graph.nodes:
        graph.add(
            Node(commit_id, "commit", f"{commit.sha[:12]} {commit.subject}", commit.to_json())
        )
        for person, kind in ((commit.author, "authored-by"), (commit.committer, "committed-by")):
            agent_id = f"agent:{person.email}"
            if agent_id not in graph.nodes:  # a few people make every commit
                graph.add(_agent(person))
            graph.link(commit_id, agent_id, kind)  # type: ignore[arg-type]
    graph.link(record, commit_id, "recorded-in")


def _agent(person: Person) -> Node:
    return Node(
        f"agent:{person.email}", "agent", person.name, {"name": person.name, "email": person.email}
    )


def select_around(
    graph: LineageGraph,
    refs: Iterable[RecordId],
    depth: int | None,
    *,
    current_only: bool = False,
) -> LineageGraph:
    """Every version (with ``current_only``, every current one) at most ``depth`` links up- or
    downstream of any of ``refs`` (None: any number), with the snapshots, commits and agents
    they reach: one walk per ref, however many records changed."""
    records = {n for n, node in graph.nodes.items() if node.kind == "record"}
    if current_only:
        records -= graph.superseded()
    keep: set[str] = set()
    for ref in refs:
        start = record_node_id(ref)
        if start in records:
            keep |= graph.reachable(start, "both", depth, records)
    return graph.restricted(_with_context(graph, keep))


def _with_context(graph: LineageGraph, records: set[str]) -> set[str]:
    """``records`` and the snapshots, commits and agents they point to."""
    reachable = set(records)
    frontier = list(records)
    out = graph._out
    while frontier:
        node = frontier.pop()
        for edge in out.get(node, ()):
            if edge.target not in reachable and not edge.target.startswith("record:"):
                reachable.add(edge.target)
                frontier.append(edge.target)
    return reachable


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
    records = {n for n, node in graph.nodes.items() if node.kind == "record"}
    if not all_versions:
        keep = {record_node_id(ref)} if ref is not None else set()
        records -= graph.superseded() - keep
    if ref is not None:
        start = record_node_id(ref)
        if start not in records:
            raise RecordNotFoundError(f"{ref}: no such record at commit {graph.commit[:12]}")
        # Depth counts links between records; snapshots, commits and agents come after.
        records = graph.reachable(start, direction, depth, records)
    return graph.restricted(_with_context(graph, records))
