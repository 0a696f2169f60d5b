"""The lineage graph as a tree for a terminal: final artifacts first, their upstream below.

A record reached a second time (a test set shared by two evaluations, say) is printed once and
referenced afterwards with "(see above)", so diamonds in the graph do not repeat whole subtrees.
"""

from __future__ import annotations

from ledger.views.graph import LineageGraph
from ledger.views.node_facts import KIND_ORDER, RECORD_EDGES, NodeFacts, record_edges, record_facts

_TEE, _ELBOW, _PIPE, _BLANK = "├── ", "└── ", "│   ", "    "


def render_text(graph: LineageGraph) -> str:
    facts = record_facts(graph)
    edges = record_edges(graph)
    upstream: dict[str, list[tuple[str, str]]] = {node_id: [] for node_id in facts}
    has_dependents: set[str] = set()
    for source, target, kind in edges:
        upstream[source].append((kind, target))
        has_dependents.add(target)
    for children in upstream.values():
        children.sort(key=lambda child: (RECORD_EDGES.index(child[0]), child[1]))

    counts = _count(graph)
    lines = [f"lineage at commit {graph.commit[:12]}: {counts}"]
    if not facts:
        return "\n".join(lines) + "\n"
    shown: set[str] = set()

    def walk(root: str) -> None:
        # Depth first with an explicit stack: a chain of thousands of versions must not hit
        # Python's recursion limit. Items: node, relation, prefix, last child, top level.
        stack = [(root, "", "", True, True)]
        while stack:
            node_id, relation, prefix, last, top = stack.pop()
            branch = "" if top else (_ELBOW if last else _TEE)
            first, *details = _describe(facts[node_id], relation, seen=node_id in shown)
            lines.append(prefix + branch + first)
            children = [] if node_id in shown else upstream[node_id]
            shown.add(node_id)
            inner = prefix + ("" if top else (_BLANK if last else _PIPE))
            guide = _PIPE if children else _BLANK
            lines.extend((inner + guide + detail).rstrip() for detail in details)
            for index in reversed(range(len(children))):
                kind, child = children[index]
                stack.append((child, kind, inner, index == len(children) - 1, False))

    # Roots are the records nothing else depends on: evaluations first, then models, datasets.
    # Records inside a cycle have no root; they start their own tree afterwards.
    order = sorted(facts, key=lambda n: (_kind_rank(facts[n].kind), n))
    roots = [n for n in order if n not in has_dependents]
    for node_id in roots + order:
        if node_id in shown:
            continue
        if len(lines) > 1:
            lines.append("")
        walk(node_id)
    return "\n".join(lines) + "\n"


def _describe(facts: NodeFacts, relation: str, *, seen: bool) -> list[str]:
    head = f"{relation}: " if relation else ""
    head += facts.identity
    if facts.missing:
        return [head + "  MISSING (linked, but not in the ledger at this commit)"]
    if seen:
        return [head + "  (see above)"]
    if facts.title:
        head += f"  {facts.title}"
    if facts.superseded_by:
        head += "  [superseded]"
    detail = f"sha256 {facts.short_sha256}"
    if facts.snapshots:
        detail += f"  data {facts.snapshot_line()}"
    if facts.commit:
        detail += f"  commit {facts.commit_line()}"
    return [head, detail]


def _kind_rank(kind: str) -> int:
    # Final artifacts first: evaluations, models, datasets, then anything unknown.
    return -KIND_ORDER.index(kind) if kind in KIND_ORDER else 1


def _count(graph: LineageGraph) -> str:
    kinds = ("record", "snapshot", "commit")
    numbers = {k: sum(1 for n in graph.nodes.values() if n.kind == k) for k in kinds}
    return ", ".join(f"{numbers[k]} {k}{'' if numbers[k] == 1 else 's'}" for k in kinds)
