"""The lineage graph as a Mermaid flowchart that GitHub and GitLab render in Markdown.

Like ``dvc dag --mermaid``: nodes get short ids (``n1``..``nN``) in sorted order and edges are
sorted, so the text diffs well in a pull request. Only records and DVC snapshots are drawn;
commits and agents would double the node count, so a record's label names its commit instead.
The layout runs right to left so that, with edges pointing from dependent to dependency (as in
the graph), datasets end up on the left and evaluations on the right.
"""

from __future__ import annotations

import re

from ledger.kinds import ordered
from ledger.views.graph import LineageGraph
from ledger.views.node_facts import record_facts, snapshot_lines

# Old, widely supported shape syntax only: GitHub and GitLab pin Mermaid versions of their own.
_SHAPES: dict[str, tuple[str, str]] = {
    **{s.kind: s.lineage.mermaid_shape for s in ordered()},
    "snapshot": ('[/"', '"/]'),
}
_DEFAULT_SHAPE = ('["', '"]')
# Explicit text colours keep labels readable under GitHub's dark theme too.
_CLASSES: dict[str, str] = {
    **{
        s.kind: f"fill:{s.lineage.fill},stroke:{s.lineage.line},color:{s.lineage.text}"
        for s in ordered()
    },
    "snapshot": "fill:#f5f5f5,stroke:#9e9e9e,color:#424242,font-size:11px",
    "superseded": "stroke-dasharray:4 3,opacity:0.7",
    "missing": "fill:#ffebee,stroke:#c62828,color:#7f0000,stroke-dasharray:4 3",
}
_DOTTED = {"supersedes", "compared-with", "snapshot-of"}
# Characters Mermaid reads as syntax or entities even inside quotes, as its own entity codes.
_ESCAPES = {'"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}
_SPECIAL = re.compile(r'["#<>&`]')


def escape(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label; whitespace runs become one space."""
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], " ".join(text.split()))


def render_mermaid(graph: LineageGraph, *, md: bool = False) -> str:
    facts = record_facts(graph)
    drawn = [n for n in graph.nodes.values() if n.kind in ("record", "snapshot")]
    ids = {node.id: f"n{index}" for index, node in enumerate(drawn, start=1)}
    lines = ["flowchart RL"]
    members: dict[str, list[str]] = {name: [] for name in _CLASSES}
    for node in drawn:
        if node.kind == "snapshot":
            kind, parts = "snapshot", snapshot_lines(node)
        else:
            fact = facts[node.id]
            kind, parts = fact.kind, fact.label_lines()
            if fact.missing:
                members["missing"].append(ids[node.id])
            if fact.superseded_by:
                members["superseded"].append(ids[node.id])
        if kind in members and not node.attrs.get("missing"):
            members[kind].append(ids[node.id])
        start, end = _SHAPES.get(kind, _DEFAULT_SHAPE)
        label = "<br/>".join(escape(part) for part in parts)
        lines.append(f"    {ids[node.id]}{start}{label}{end}")
    for edge in graph.edges:
        if edge.source in ids and edge.target in ids:
            arrow = "-.->" if edge.kind in _DOTTED else "-->"
            lines.append(f"    {ids[edge.source]} {arrow}|{edge.kind}| {ids[edge.target]}")
    for name, style in _CLASSES.items():
        if members[name]:
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(members[name])} {name}")
    body = "\n".join(lines) + "\n"
    return f"```mermaid\n{body}```\n" if md else body
