"""The lineage graph as one self-contained HTML page for auditors: opens offline, from a file.

The graph is an inline SVG laid out here (no drawing library): a record's column is the length
of the longest chain of ``trained-on``/``evaluates``/``evaluated-on`` links below it, so datasets
sit left, models in the middle and evaluations right. Every record's details are plain HTML
below the graph, so the page reads without JavaScript; the small script only adds selection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from html import escape
from typing import Any

from ledger.views.graph import LineageGraph
from ledger.views.html_assets import CSP, CSS, JS
from ledger.views.node_facts import (
    KIND_ORDER,
    RECORD_EDGES,
    NodeFacts,
    data_path,
    record_edges,
    record_facts,
)

LAYER_EDGES = ("trained-on", "evaluates", "evaluated-on")
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD, TOP = 220, 80, 120, 26, 20, 36
BULGE = 30  # how far an edge between two records of one column swings out to the right
Edges = list[tuple[str, str, str]]
Point = tuple[int, int]


def columns(facts: dict[str, NodeFacts], edges: Edges) -> list[list[str]]:
    """Record ids by column, left to right; rows ordered to sit near their upstream.

    A record's column is the length of the longest chain of layer links below it, found in
    one pass over the records in dependency order (Kahn); records in a cycle (a broken ledger)
    are placed after what they depend on outside it.
    """
    upstream: dict[str, list[str]] = {n: [] for n in facts}
    dependents: dict[str, list[str]] = {n: [] for n in facts}
    for source, target, kind in edges:
        if kind in LAYER_EDGES and source != target:
            upstream[source].append(target)
            dependents[target].append(source)
    waiting = {n: len(up) for n, up in upstream.items()}
    depth: dict[str, int] = {}
    ready = deque(sorted(n for n, count in waiting.items() if count == 0))
    while len(depth) < len(facts):
        if not ready:  # only cycles are left: cut one open at its smallest id
            ready.append(min(n for n in facts if n not in depth))
        node = ready.popleft()
        if node in depth:
            continue
        depth[node] = 1 + max((depth[t] for t in upstream[node] if t in depth), default=-1)
        for child in dependents[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    result: list[list[str]] = []
    row: dict[str, float] = {}
    by_depth: dict[int, list[str]] = {}
    for node in facts:
        by_depth.setdefault(depth[node], []).append(node)
    for index in range(max(depth.values(), default=-1) + 1):
        members = by_depth.get(index, [])
        members.sort(key=lambda n: (_mean([row[t] for t in upstream[n] if t in row]), n))
        row.update((n, float(i)) for i, n in enumerate(members))
        result.append(members)
    return result


Contents = Callable[[list[str]], Mapping[str, str]]
BATCH = 500  # records whose contents are read, and held, at a time


def render_html(graph: LineageGraph, contents: Contents) -> Iterator[str]:
    """The page, in chunks; ``contents`` gives the text of records' files by node id, a batch
    of ids at a time, for their details (a large ledger's records are never held at once)."""
    facts = record_facts(graph)
    edges = record_edges(graph)
    order = sorted(facts, key=lambda n: (-_rank(facts[n].kind), bool(facts[n].superseded_by), n))
    by_node: dict[str, Edges] = {}
    for edge in edges:
        by_node.setdefault(edge[0], []).append(edge)
        if edge[1] != edge[0]:
            by_node.setdefault(edge[1], []).append(edge)
    with_data = sum(len(f.snapshots) > 0 for f in facts.values())
    counts = f"{len(facts)} record(s), {with_data} with data"
    yield "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>Lineage at {graph.commit[:12]}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<header><h1>Lineage of the ledger at commit <code>{graph.commit[:12]}</code></h1>",
            f"<p>{counts}. Click a node for its details; every record is also listed below.</p>",
            '<p class="legend">' + _legend() + "</p></header>",
            '<div class="top"><div class="graph-wrap">',
        ]
    )
    # The drawing grows with the ledger (a quarter of the page): streamed, never one string.
    yield from _svg(facts, edges)
    yield '</div>\n<aside id="panel" hidden></aside></div>\n<main class="records"><h2>Records</h2>'
    for start in range(0, len(order), BATCH):
        batch = order[start : start + BATCH]
        read = contents(batch)
        for node in batch:
            yield "\n" + _section(facts[node], by_node.get(node, []), facts, read.get(node))
    yield "\n" + "\n".join(
        [
            "" if order else "<p>No records at this commit.</p>",
            "</main>",
            f"<footer>Generated by ledger from commit <code>{graph.commit}</code>. Self-contained:"
            " no network access is needed or allowed.</footer>",
            '<script type="application/json" id="lineage-data">',
        ]
    )
    # The graph's own JSON, written a chunk at a time; "</" and "<!--" escaped so that no
    # record's text can end the script element or open a comment inside it.
    for chunk in graph.json_chunks():
        yield chunk.replace("</", "<\\/").replace("<!--", "<\\u0021--")
    yield f"</script>\n<script>{JS}</script>\n</body></html>\n"


def _svg(facts: dict[str, NodeFacts], edges: Edges) -> Iterator[str]:
    """The inline SVG, an element at a time, each on a line of its own."""
    cols = columns(facts, edges)
    tallest = max((len(c) for c in cols), default=0)
    width = 2 * PAD + len(cols) * NODE_W + max(len(cols) - 1, 0) * COL_GAP + 2 * BULGE + 70
    height = TOP + tallest * (NODE_H + ROW_GAP) + PAD
    pos: dict[str, tuple[int, int]] = {}
    heads: list[str] = []
    for index, members in enumerate(cols):
        x = PAD + index * (NODE_W + COL_GAP)
        offset = (tallest - len(members)) * (NODE_H + ROW_GAP) // 2
        for row, node in enumerate(members):
            pos[node] = (x, TOP + offset + row * (NODE_H + ROW_GAP))
        kinds = sorted({facts[n].kind for n in members}, key=_rank)
        heads.append(
            f'<text class="col" x="{x + NODE_W // 2}" y="20" text-anchor="middle">'
            f"{escape(' & '.join(k + 's' for k in kinds))}</text>"
        )
    yield "\n".join(
        [
            f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#6e7781"/>'
            "</marker></defs>",
            *heads,
        ]
    )
    ports = _ports(edges, pos)
    parallel: dict[tuple[str, str], int] = {}
    for index, (source, target, kind) in enumerate(edges):
        slot = parallel[(source, target)] = parallel.get((source, target), -1) + 1
        yield "\n" + _edge(source, target, kind, ports[index, 0], ports[index, 1], slot)
    # The page opens on the newest final artifact: the first current record of the last column.
    default = next((n for n in cols[-1] if not facts[n].superseded_by), cols[-1][0]) if cols else ""
    for members in cols:
        for n in members:
            yield "\n" + _node(facts[n], pos[n], n == default)
    yield "\n</svg>"


def _ports(edges: Edges, pos: dict[str, tuple[int, int]]) -> dict[tuple[int, int], Point]:
    """Where each edge leaves its source (end 0) and enters its target (end 1).

    Edges spread along a node's side, ordered by where their other end sits, so lines that share
    a node do not cross at it and each label gets a place of its own.
    """
    sides: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for index, (source, target, _) in enumerate(edges):
        (sx, sy), (tx, ty) = pos[source], pos[target]
        # Dependencies sit to the left: leave on the left, arrive on the right. Edges within
        # a column use the right side at both ends.
        sides.setdefault((source, 0 if sx > tx else NODE_W), []).append((ty, index, 0))
        sides.setdefault((target, 0 if sx < tx else NODE_W), []).append((sy, index, 1))
    ports: dict[tuple[int, int], Point] = {}
    for (node, side), items in sorted(sides.items()):
        x, y = pos[node]
        for rank, (_, index, end) in enumerate(sorted(items)):
            ports[index, end] = (x + side, y + NODE_H * (rank + 1) // (len(items) + 1))
    return ports


def _edge(source: str, target: str, kind: str, start: Point, end: Point, slot: int) -> str:
    (sx, sy), (tx, ty) = start, end
    if sx == tx:  # within a column: swing out to the right, further for each parallel edge
        out = sx + BULGE * (slot + 1) + abs(sy - ty) // 8
        path = f"M{sx},{sy} C{out},{sy} {out},{ty} {tx},{ty}"
        label = f'x="{sx + (out - sx) * 3 // 4 + 3}" y="{(sy + ty) // 2 + 3}" class="side"'
    else:
        way = -1 if sx > tx else 1
        bend = max(abs(sx - tx) // 2, 40)
        path = f"M{sx},{sy} C{sx + way * bend},{sy} {tx - way * bend},{ty} {tx},{ty}"
        # The label sits by the source, in the gap next to it, where no node can hide it.
        label = f'x="{sx + way * 6}" y="{sy - 4}" class="{"back" if way < 0 else "side"}"'
    dashed = " dashed" if kind in ("supersedes", "compared-with") else ""
    return (
        f'<g class="edge{dashed}" data-source="{escape(source)}" data-target="{escape(target)}">'
        f'<path d="{path}" marker-end="url(#arrow)"/><text {label}>{kind}</text></g>'
    )


def _node(fact: NodeFacts, at: tuple[int, int], default: bool) -> str:
    x, y = at
    kind, _, rest = fact.identity.partition(":")
    state = " missing" if fact.missing else (" superseded" if fact.superseded_by else "")
    tag = "MISSING" if fact.missing else ("superseded" if fact.superseded_by else "")
    lines = [
        (f'class="kind" x="{x + 14}" y="{y + 17}"', kind),
        (f'class="tag" x="{x + NODE_W - 10}" y="{y + 17}" text-anchor="end"', tag),
        (f'class="ident" x="{x + 14}" y="{y + 36}"', _clip(rest, 27)),
        (f'x="{x + 14}" y="{y + 53}"', _clip(fact.title, 34)),
        (f'class="who" x="{x + 14}" y="{y + 70}"', _clip(fact.commit_line(), 38)),
    ]
    anchor = escape(fact.identity)
    return (
        f'<a class="node kind-{escape(fact.kind)}{state}" href="#{anchor}" '
        f'data-id="{escape(fact.node.id)}" data-anchor="{anchor}"'
        + (" data-default" if default else "")
        + f"><title>{escape(fact.identity)}: {escape(fact.title)}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7"/>'
        f'<rect class="band" x="{x}" y="{y + 6}" width="5" height="{NODE_H - 12}"/>'
        + "".join(f"<text {attrs}>{escape(text)}</text>" for attrs, text in lines if text)
        + "</a>"
    )


def _section(
    fact: NodeFacts,
    edges: Edges,
    facts: dict[str, NodeFacts],
    content: str | None,
) -> str:
    """A record's details; ``edges`` are those that touch it, ``content`` its file's text."""
    state = " missing" if fact.missing else ""
    badges = f'<span class="badge">{escape(fact.kind)}</span>'
    if fact.missing:
        badges += ' <span class="badge warn">MISSING: linked, but not in the ledger</span>'
    for newer in fact.superseded_by:
        badges += f' <span class="badge">superseded by {_link(newer)}</span>'
    rows: list[tuple[str, str]] = []
    if not fact.missing:
        rows += [("Path", _code(fact.path)), ("SHA-256", _code(fact.sha256))]
    for snap in fact.snapshots:
        rows.append(("Data snapshot", _snapshot(snap)))
    if fact.commit:
        rows += _commit_rows(fact.commit)
    for title, mine, other in (("Depends on", 0, 1), ("Used by", 1, 0)):
        related = sorted(
            (RECORD_EDGES.index(kind), ends[other])
            for *ends, kind in edges
            if ends[mine] == fact.node.id
        )
        links = [
            f"<li>{RECORD_EDGES[kind]} {_link(facts[node].identity)}</li>" for kind, node in related
        ]
        if links:
            rows.append((title, "<ul>" + "".join(links) + "</ul>"))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    raw = ""
    if content is not None:
        raw = f"<details><summary>Record JSON</summary><pre>{escape(content)}</pre></details>"
    anchor = escape(fact.identity)
    return (
        f'<section class="record kind-{escape(fact.kind)}{state}" id="{anchor}" '
        f'data-id="{escape(fact.node.id)}"><h3>{anchor} {badges}</h3>'
        f'<p class="title">{escape(fact.title)}</p><dl>{body}</dl>{raw}</section>'
    )


def _commit_rows(commit: Mapping[str, Any]) -> list[tuple[str, str]]:
    def person(who: Mapping[str, Any], when: Any) -> str:
        name, email = escape(str(who["name"])), escape(str(who["email"]))
        return f"{name} &lt;{email}&gt;<br>{escape(str(when))}"

    verdict = commit.get("signature") or {}
    signature = escape(str(verdict.get("state") or "unknown"))
    if verdict.get("signer"):
        signature += f" by {escape(str(verdict['signer']))}"
    return [
        ("Commit", _code(str(commit["sha"]))),
        ("Author", person(commit["author"], commit.get("author_date"))),
        ("Committer", person(commit["committer"], commit.get("committer_date"))),
        ("Message", f"<pre>{escape(str(commit.get('message', '')).strip())}</pre>"),
        ("Reason", escape(str(commit.get("reason") or "(no Ledger-Reason trailer)"))),
        ("Signature", signature),
    ]


def _snapshot(snap: Mapping[str, Any]) -> str:
    text = f"{_code(data_path(snap))} md5 {_code(str(snap['md5']))}"
    if "size" in snap:
        text += f", {int(snap['size']):,} bytes"
    if "nfiles" in snap:
        text += f", {int(snap['nfiles']):,} files"
    if "sha256" in snap:
        text += f"<br>sha256 {_code(str(snap['sha256']))}"
    if "dvc_file" in snap:
        text += f"<br>from {_code(str(snap['dvc_file']))}"
    return text


def _link(identity: str) -> str:
    return f'<a href="#{escape(identity)}">{escape(identity)}</a>'


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _legend() -> str:
    swatches = [f'<span><i class="sw-{k}"></i>{k}</span>' for k in KIND_ORDER]
    return "".join(swatches) + "<span>dashed: superseded version or version link</span>"


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else -1.0


def _rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def lineage_svg(graph: LineageGraph) -> str:
    """The graph's drawing alone, for a page of its own (the report's model pages)."""
    facts = record_facts(graph)
    return "".join(_svg(facts, record_edges(graph))) if facts else ""
