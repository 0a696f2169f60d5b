"""Geometry of the HTML lineage drawing: boxes, edge routes and label places.

Computed here without a drawing library, in integers (the same input gives the same bytes),
and in time linear in the number of records and edges:

* A record's column is the length of the longest chain of ``trained-on``/``evaluates``/
  ``evaluated-on`` links below it, so datasets sit left, models in the middle and evaluations
  right. A box is as tall as its title needs (up to three lines).
* An edge between neighbouring columns is one curve inside the gap between them. An edge that
  spans more columns crosses each column in between on a horizontal lane through free space:
  a gap between two boxes, or the band above or below the column. Every curve stays within its
  gap's x range (a cubic Bézier stays within the hull of its control points), so no edge runs
  under a box it does not end at.
* Each edge label takes the first of a few places along its edge that is free of boxes and of
  labels placed before it, looked up in a grid of buckets (a bounded number of boxes and labels
  can share a bucket, so each look-up is constant time). An edge whose every place is taken
  keeps its label in its tooltip only.
"""

from __future__ import annotations

import textwrap
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

LAYER_EDGES = ("trained-on", "evaluates", "evaluated-on")
NODE_W, COL_GAP, ROW_GAP, PAD = 220, 150, 30, 20
HEAD = 30  # column headings sit above this line; lanes and labels below it
BAND = 34  # free band above and below every column, for edges routed around it
BASE_H, LINE = 80, 15  # a box with a one-line title; each further title line
TITLE_LINES, TITLE_CHARS = 3, 30
BULGE = 30  # how far an edge between two records of one column swings out to the right
LANE_STEP = 6  # vertical distance between edges that share a lane gap
LABEL_CHAR, LABEL_H, LABEL_PAD = 6.2, 14, 4  # px per character at 10px, label box height
CELL_W, CELL_H = 100, 50  # buckets of the label grid

Edges = list[tuple[str, str, str]]
Point = tuple[int, int]


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True)
class Curve:
    """A cubic Bézier from ``a`` to ``d``; a straight segment when ``b == a`` and ``c == d``."""

    a: Point
    b: Point
    c: Point
    d: Point
    #: The x range that a label along this piece must stay in: the gap it runs through.
    lo: int
    hi: int

    def at(self, t: float) -> Point:
        u = 1 - t
        x = u**3 * self.a[0] + 3 * u * u * t * self.b[0] + 3 * u * t * t * self.c[0]
        y = u**3 * self.a[1] + 3 * u * u * t * self.b[1] + 3 * u * t * t * self.c[1]
        return round(x + t**3 * self.d[0]), round(y + t**3 * self.d[1])

    @property
    def straight(self) -> bool:
        return self.b == self.a and self.c == self.d


@dataclass(frozen=True)
class Route:
    pieces: tuple[Curve, ...]
    label: Rect | None

    def path(self) -> str:
        first = self.pieces[0].a
        parts = [f"M{first[0]},{first[1]}"]
        for p in self.pieces:
            if p.straight:
                parts.append(f"L{p.d[0]},{p.d[1]}")
            else:
                parts.append(f"C{p.b[0]},{p.b[1]} {p.c[0]},{p.c[1]} {p.d[0]},{p.d[1]}")
        return " ".join(parts)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    columns: list[list[str]]
    boxes: dict[str, Rect]
    titles: dict[str, list[str]]
    routes: list[Route]  # one per edge, in the order of the edges given


def title_lines(title: str) -> list[str]:
    """A title wrapped over up to three lines; only a longer one ends in an ellipsis."""
    if len(title) <= TITLE_CHARS and title.isprintable() and title == title.strip():
        return [title] if title else []  # most titles: quicker than textwrap
    return textwrap.wrap(
        title, TITLE_CHARS, max_lines=TITLE_LINES, placeholder=" …", break_on_hyphens=False
    )


def layout(kinds: Mapping[str, str], titles: Mapping[str, str], edges: Edges) -> Layout:
    """Where every box, edge and label goes; ``kinds`` and ``titles`` by node id."""
    cols = columns(list(kinds), edges)
    wrapped = {n: title_lines(titles[n]) for n in kinds}
    heights = {n: BASE_H + LINE * max(len(wrapped[n]) - 1, 0) for n in kinds}
    sizes = [sum(heights[n] for n in c) + ROW_GAP * max(len(c) - 1, 0) for c in cols]
    tallest = max(sizes, default=0)
    top = HEAD + BAND
    height = top + tallest + BAND + PAD
    width = 2 * PAD + len(cols) * NODE_W + len(cols) * COL_GAP
    boxes: dict[str, Rect] = {}
    column_of: dict[str, int] = {}
    for index, members in enumerate(cols):
        x = PAD + index * (NODE_W + COL_GAP)
        y = top + (tallest - sizes[index]) // 2
        for node in members:
            boxes[node] = Rect(x, y, NODE_W, heights[node])
            column_of[node] = index
            y += heights[node] + ROW_GAP
    router = _Router(cols, boxes, column_of, height)
    routes = router.routes(edges)
    return Layout(width, height, cols, boxes, wrapped, routes)


def columns(nodes: list[str], edges: Edges) -> list[list[str]]:
    """Node ids by column, left to right; rows ordered to sit near their upstream.

    A node's column is the length of the longest chain of layer links below it, found in
    one pass over the nodes in dependency order (Kahn); nodes in a cycle (a broken ledger)
    are placed after what they depend on outside it.
    """
    upstream: dict[str, list[str]] = {n: [] for n in nodes}
    dependents: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target, kind in edges:
        if kind in LAYER_EDGES and source != target:
            upstream[source].append(target)
            dependents[target].append(source)
    waiting = {n: len(up) for n, up in upstream.items()}
    depth: dict[str, int] = {}
    ready = deque(sorted(n for n, count in waiting.items() if count == 0))
    unplaced = iter(sorted(nodes))
    while len(depth) < len(nodes):
        if not ready:  # only cycles are left: cut one open at its smallest id
            ready.append(next(n for n in unplaced if n not in depth))
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
    for node in nodes:
        by_depth.setdefault(depth[node], []).append(node)
    for index in range(max(depth.values(), default=-1) + 1):
        members = by_depth.get(index, [])
        members.sort(key=lambda n: (_mean([row[t] for t in upstream[n] if t in row]), n))
        row.update((n, float(i)) for i, n in enumerate(members))
        result.append(members)
    return result


class _Router:
    def __init__(
        self,
        cols: list[list[str]],
        boxes: dict[str, Rect],
        column_of: dict[str, int],
        height: int,
    ) -> None:
        self.cols, self.boxes, self.column_of = cols, boxes, column_of
        self.tops = [[boxes[n].y for n in c] for c in cols]
        self.bottoms = [[boxes[n].y + boxes[n].h for n in c] for c in cols]
        self.floor = height - PAD // 2

    def column_x(self, index: int) -> int:
        return PAD + index * (NODE_W + COL_GAP)

    def gap(self, column: int, y: int) -> int:
        """The free gap of a column nearest to ``y``: 0 above its first box, k after its k-th."""
        tops, bottoms = self.tops[column], self.bottoms[column]
        k = bisect_right(tops, y)  # boxes 0..k-1 start at or above y
        if k == 0 or y >= bottoms[k - 1]:
            return k
        return k - 1 if y - tops[k - 1] < bottoms[k - 1] - y else k

    def gap_span(self, column: int, k: int) -> tuple[int, int]:
        tops, bottoms = self.tops[column], self.bottoms[column]
        upper = bottoms[k - 1] if k > 0 else HEAD
        lower = tops[k] if k < len(tops) else self.floor
        return upper, lower

    def routes(self, edges: Edges) -> list[Route]:
        ports = self.ports(edges)
        # Lanes: each edge that spans columns gets, for each column it crosses, a gap; the
        # edges sharing a gap are then spread over it in the order they want to cross.
        wanted: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        crossings: list[list[tuple[int, int]]] = []
        for index, (source, target, _) in enumerate(edges):
            cs, ct = self.column_of[source], self.column_of[target]
            (_, ys), (_, yt) = ports[index, 0], ports[index, 1]
            way = 1 if ct > cs else -1
            crossed: list[tuple[int, int]] = []
            for column in range(cs + way, ct, way):
                y = ys + (yt - ys) * (column - cs) // (ct - cs)
                k = self.gap(column, y)
                wanted.setdefault((column, k), []).append((y, index, len(crossed)))
                crossed.append((column, 0))
            crossings.append(crossed)
        for (column, k), items in wanted.items():
            for (_, index, step), y in zip(items, self.spread(column, k, items), strict=True):
                crossings[index][step] = (column, y)
        placer = _Labels(self.boxes.values(), [self.column_x(i) for i in range(len(self.cols))])
        parallel: dict[tuple[str, str], int] = {}
        routes = []
        for index, (source, target, kind) in enumerate(edges):
            slot = parallel[source, target] = parallel.get((source, target), -1) + 1
            start, end = ports[index, 0], ports[index, 1]
            if self.column_of[source] == self.column_of[target]:
                pieces = [self.loop(start, end, slot)]
            else:
                pieces = self.through(start, end, crossings[index])
            label_w = round(len(kind) * LABEL_CHAR) + 2 * LABEL_PAD
            routes.append(Route(tuple(pieces), placer.place(pieces, label_w)))
        return routes

    def spread(self, column: int, k: int, items: list[tuple[int, int, int]]) -> list[int]:
        """The lane of each item (wanted y, edge, step) in gap ``k`` of ``column``."""
        upper, lower = self.gap_span(column, k)
        margin = min(ROW_GAP // 2, (lower - upper) // 2)
        lo, hi = upper + margin, lower - margin
        count = len(items)
        step = min(LANE_STEP, (lower - upper) // (count + 1)) if count > 1 else 0
        span = step * (count - 1)
        if span >= hi - lo:
            lo, hi = (upper + lower - span) // 2, (upper + lower + span) // 2
        order = sorted(range(count), key=lambda i: (items[i][0], items[i][1]))
        middle = sorted(items[i][0] for i in order)[count // 2]
        first = min(max(middle - span // 2, lo), max(hi - span, lo))
        lanes = [0] * count
        for rank, i in enumerate(order):
            lanes[i] = first + rank * step
        return lanes

    def loop(self, start: Point, end: Point, slot: int) -> Curve:
        """Between two boxes of one column: a swing out into the gap on its right."""
        (sx, sy), (_, ty) = start, end
        # The curve reaches three quarters of the way to its control points: keep it in the gap.
        reach = min(BULGE * (slot + 1) + abs(sy - ty) // 8, (COL_GAP - 12) * 4 // 3)
        return Curve(start, (sx + reach, sy), (sx + reach, ty), end, sx, sx + COL_GAP)

    def through(self, start: Point, end: Point, crossed: list[tuple[int, int]]) -> list[Curve]:
        """From a box to one in another column, crossing the columns between on lanes."""
        pieces = []
        at = start
        way = 1 if end[0] > start[0] else -1
        for column, lane in crossed:
            left = self.column_x(column)
            near, far = (left, left + NODE_W) if way > 0 else (left + NODE_W, left)
            pieces.append(_bend(at, (near, lane)))
            pieces.append(_line((near, lane), (far, lane)))
            at = (far, lane)
        pieces.append(_bend(at, end))
        return pieces

    def ports(self, edges: Edges) -> dict[tuple[int, int], Point]:
        """Where each edge leaves its source (end 0) and enters its target (end 1).

        Edges spread along a box's side, ordered by where their other end sits, so lines that
        share a box do not cross at it and each label gets a place of its own.
        """
        sides: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        for index, (source, target, _) in enumerate(edges):
            s, t = self.boxes[source], self.boxes[target]
            # Dependencies sit to the left: leave on the left, arrive on the right. Edges
            # within a column use the right side at both ends.
            sides.setdefault((source, 0 if s.x > t.x else NODE_W), []).append((t.y, index, 0))
            sides.setdefault((target, 0 if s.x < t.x else NODE_W), []).append((s.y, index, 1))
        ports: dict[tuple[int, int], Point] = {}
        for (node, side), items in sorted(sides.items()):
            box = self.boxes[node]
            for rank, (_, index, end) in enumerate(sorted(items)):
                ports[index, end] = (box.x + side, box.y + box.h * (rank + 1) // (len(items) + 1))
        return ports


def _line(a: Point, b: Point) -> Curve:
    return Curve(a, a, b, b, min(a[0], b[0]), max(a[0], b[0]))


def _bend(a: Point, b: Point) -> Curve:
    """A curve across the gap between two columns, from ``a`` on one side to ``b`` on the other."""
    middle = (a[0] + b[0]) // 2
    return Curve(a, (middle, a[1]), (middle, b[1]), b, min(a[0], b[0]), max(a[0], b[0]))


class _Labels:
    """Label places, free of boxes, headings and each other, found through a bucket grid."""

    #: Where along a piece a label may sit, best first; and how far off the line.
    ALONG = (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9, 0.05, 0.95)
    OFF = (0, -9, 9)

    def __init__(self, boxes: Iterable[Rect], heads: list[int]) -> None:
        self.grid: dict[tuple[int, int], list[Rect]] = {}
        for box in boxes:
            self.add(Rect(box.x - 2, box.y - 2, box.w + 4, box.h + 4))
        for x in heads:
            self.add(Rect(x, 0, NODE_W, HEAD))

    def cells(self, r: Rect) -> Iterator[tuple[int, int]]:
        for cx in range(r.x // CELL_W, (r.x + r.w) // CELL_W + 1):
            for cy in range(r.y // CELL_H, (r.y + r.h) // CELL_H + 1):
                yield cx, cy

    def add(self, r: Rect) -> None:
        for cell in self.cells(r):
            self.grid.setdefault(cell, []).append(r)

    def free(self, r: Rect) -> bool:
        return r.y >= HEAD and not any(
            r.overlaps(other) for cell in self.cells(r) for other in self.grid.get(cell, ())
        )

    def place(self, pieces: list[Curve], w: int) -> Rect | None:
        for piece in pieces:
            lo, hi = piece.lo + w // 2 + 3, piece.hi - w // 2 - 3
            if lo > hi:
                continue
            for t in self.ALONG:
                x, y = piece.at(t)
                x = min(max(x, lo), hi)
                for off in self.OFF:
                    r = Rect(x - w // 2, y + off - LABEL_H // 2, w, LABEL_H)
                    if self.free(r):
                        self.add(r)
                        return r
        return None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else -1.0
