"""`ledger lineage --format html`: what the page shows of evaluations, and the drawing's geometry.

The geometry tests read the SVG back as XML: every edge is sampled along its Bézier curves and
lines and must not pass through a box it does not end at; label boxes must not overlap each
other or any box; titles wrap instead of being cut. They run on the demo and on a generated
graph where one dataset has many versions and several models train on them.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.views.graph import EdgeKind, LineageGraph, Node
from ledger.views.html import render_html
from ledger.views.html_layout import LABEL_CHAR
from tests.conftest import git
from tests.test_lineage import EVAL, lineage, screenshot

SVG = "{http://www.w3.org/2000/svg}"
EVAL_PATH = "records/evaluation/sepsis-risk-heldout/1.1.json"
Box = tuple[float, float, float, float]  # x, y, width, height


@dataclass(frozen=True)
class Drawing:
    boxes: dict[str, Box]
    titles: dict[str, list[str]]  # the title lines of each box
    tags: dict[str, tuple[str, str]]  # the tag of each box: its text and class
    edges: list[tuple[str, str, str]]  # source, target, path
    labels: list[tuple[str, Box]]  # text, box


def drawing(page: str) -> Drawing:
    """The page's SVG, read back as XML."""
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])
    boxes, titles, tags = {}, {}, {}
    edges, labels = [], []
    for element in svg:
        cls = element.get("class", "")
        if element.tag == f"{SVG}a" and cls.startswith("node"):
            node = element.get("data-id", "")
            rect = element.find(f"{SVG}rect")
            assert rect is not None
            boxes[node] = _box(rect)
            texts = element.findall(f"{SVG}text")
            titles[node] = [t.text or "" for t in texts if t.get("class") == "title"]
            tag = [t for t in texts if (t.get("class") or "").startswith("tag")]
            tags[node] = (tag[0].text or "", tag[0].get("class", "")) if tag else ("", "")
        elif element.tag == f"{SVG}g" and cls == "edge label":
            rect, text = element.find(f"{SVG}rect"), element.find(f"{SVG}text")
            assert rect is not None and text is not None
            labels.append((text.text or "", _box(rect)))
        elif element.tag == f"{SVG}g" and cls.startswith("edge"):
            path = element.find(f"{SVG}path")
            assert path is not None
            edges.append(
                (element.get("data-source", ""), element.get("data-target", ""), path.get("d", ""))
            )
    return Drawing(boxes, titles, tags, edges, labels)


def _box(rect: ET.Element) -> Box:
    return tuple(float(rect.get(k, "0")) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def sampled(path: str, steps: int = 48) -> list[tuple[float, float]]:
    """Points along an SVG path of M, C and L commands."""
    tokens = re.findall(r"[MCL]|-?\d+(?:\.\d+)?", path)
    points: list[tuple[float, float]] = []
    at = (0.0, 0.0)
    i = 0
    while i < len(tokens):
        command = tokens[i]
        count = {"M": 1, "L": 1, "C": 3}[command]
        numbers = [float(t) for t in tokens[i + 1 : i + 1 + 2 * count]]
        pts = [(numbers[2 * k], numbers[2 * k + 1]) for k in range(count)]
        i += 1 + 2 * count
        if command == "M":
            at = pts[0]
            points.append(at)
            continue
        a, b, c, d = (at, at, pts[0], pts[0]) if command == "L" else (at, *pts)
        for s in range(1, steps + 1):
            t, u = s / steps, 1 - s / steps
            points.append(
                tuple(  # type: ignore[arg-type]
                    u**3 * a[k] + 3 * u * u * t * b[k] + 3 * u * t * t * c[k] + t**3 * d[k]
                    for k in (0, 1)
                )
            )
        at = d
    return points


def inside(point: tuple[float, float], box: Box, margin: float = 1.0) -> bool:
    x, y, w, h = box
    return x + margin < point[0] < x + w - margin and y + margin < point[1] < y + h - margin


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def assert_geometry(page: str) -> Drawing:
    """No edge passes through a box it does not end at; no label overlaps a label or a box,
    and each label's text fits its box (at 6.2 px a character, the label font's width)."""
    d = drawing(page)
    for source, target, path in d.edges:
        points = sampled(path)
        for node, box in d.boxes.items():
            if node not in (source, target):
                through = [p for p in points if inside(p, box)]
                assert not through, f"{source} -> {target} runs under {node} at {through[0]}"
    for index, (text, box) in enumerate(d.labels):
        assert len(text) * LABEL_CHAR + 2 <= box[2], text
        for other_text, other in d.labels[index + 1 :]:
            assert not overlap(box, other), (text, box, other_text, other)
        for node, rect in d.boxes.items():
            assert not overlap(box, rect), (text, box, node)
    return d


def section(page: str, identity: str) -> str:
    start = page.index(f'<section class="record kind-{identity.split(":")[0]}')
    start = page.index(f'id="{identity}"', start)
    return page[start : page.index("</section>", start)]


def table_rows(markup: str, cls: str) -> list[list[str]]:
    """The cells of a table's body rows, as text."""
    table = re.search(rf'<table class="{cls}">(.*?)</table>', markup, re.S)
    assert table, f"no table {cls}"
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return rows


def interval(ci: dict[str, float]) -> str:
    return f"{ci['lower']!r}\u2013{ci['upper']!r} {ci['level'] * 100:g}%"


def test_evaluation_section_shows_metrics_criteria_and_the_computed_outcome(
    demo_repo: Path,
) -> None:
    from ledger.api import Ledger
    from ledger.signoffs.stages import outcome_word, verdicts

    page = lineage(demo_repo, "--format", "html", "--all-versions")
    record = json.loads((demo_repo / EVAL_PATH).read_text())
    details = section(page, f"{EVAL}@1.1")
    assert table_rows(details, "metrics") == [
        [m["name"], repr(m["value"]), interval(m["ci"]), str(m["n"]), str(m["events"])]
        for m in record["metrics"]
    ]
    subgroups = table_rows(details, "metrics subgroups")
    assert len(subgroups) == sum(len(g["metrics"]) for g in record["subgroup_metrics"])
    for group in record["subgroup_metrics"]:
        assert f'<th colspan="5">{group["attribute"]} = {group["group"]}</th>' in details
    with Ledger.open(demo_repo) as book:
        word = outcome_word(verdicts(book.state(), record))
    assert word == "pass"
    assert 'Outcome computed from the metrics: <span class="badge outcome-pass">pass</span>' in (
        details
    )
    criteria = table_rows(details, "criteria")
    assert len(criteria) == len(record["setup"]["acceptance_criteria"])
    assert [row[2] for row in criteria] == ["✓ met"] * 3
    assert criteria[0][:2] == ["auroc (ci-lower) >= 0.75", "0.8134"]
    # Still there, collapsed: the record as committed.
    assert "<details><summary>Record JSON</summary>" in details
    # The outcome reads at a glance on the box; superseded boxes say they are superseded.
    d = drawing(page)
    assert d.tags[f"record:{EVAL}@1.1"] == ("pass", "tag pass")
    assert d.tags[f"record:{EVAL}@1.0"] == ("superseded", "tag")


def test_outcome_shown_is_computed_from_metrics_not_the_stated_one(repo: Path) -> None:
    record = json.loads((repo / EVAL_PATH).read_text())
    record["setup"]["acceptance_criteria"][1]["threshold"] = 0.9  # sensitivity 0.7701 fails
    assert record["setup"]["outcome"] == "pass"  # what the record still claims
    (repo / EVAL_PATH).write_text(json.dumps(record, indent=2) + "\n")
    git("commit", "-q", "-am", "Raise the sensitivity bar", cwd=repo)
    page = lineage(repo, "--format", "html")
    details = section(page, f"{EVAL}@1.1")
    assert '<span class="badge outcome-fail">fail</span> 2 of 3 acceptance criteria met' in details
    assert table_rows(details, "criteria")[1] == [
        "sensitivity (estimate) >= 0.9",
        "0.7701",
        "✗ not met",
    ]
    assert drawing(page).tags[f"record:{EVAL}@1.1"] == ("fail", "tag fail")


def test_html_without_a_state_shows_metrics_but_no_outcome(demo_repo: Path) -> None:
    from ledger.api import Ledger
    from ledger.views.graph import select

    with Ledger.open(demo_repo) as book:
        graph = select(book.state().graph)
    text = (demo_repo / EVAL_PATH).read_text()
    node = f"record:{EVAL}@1.1"
    page = "".join(render_html(graph, lambda ids: {i: text for i in ids if i == node}))
    details = section(page, f"{EVAL}@1.1")
    assert 'class="metrics"' in details and "Outcome" not in details
    assert drawing(page).tags[node] == ("", "")  # no outcome on its box either


@pytest.mark.parametrize("args", [(), ("--all-versions",)])
def test_demo_edges_avoid_boxes_and_labels_never_overlap(
    demo_repo: Path, args: tuple[str, ...]
) -> None:
    d = assert_geometry(lineage(demo_repo, "--format", "html", *args))
    assert len(d.labels) == len(d.edges)  # every edge labelled in place
    # The evaluated-on edge crosses the model column on a lane: a straight run between boxes.
    crossing = [p for s, t, p in d.edges if "evaluation" in s and "sepsis-test" in t]
    assert crossing and all(" L" in p for p in crossing)


def test_demo_titles_wrap_instead_of_being_cut(demo_repo: Path) -> None:
    page = lineage(demo_repo, "--format", "html", "--all-versions")
    d = drawing(page)
    for node, lines in d.titles.items():
        assert lines and not lines[-1].endswith("…"), node
        label = node.removeprefix("record:")
        assert f"<title>{label}: {' '.join(lines)}" in page  # the whole title, wrapped
    assert max(len(lines) for lines in d.titles.values()) >= 2


def test_long_titles_are_cut_after_three_lines_and_kept_whole_in_tooltip_and_section() -> None:
    graph = LineageGraph("0" * 40)
    title = "A very long title " * 12
    _record(graph, "dataset", "long", "1.0", title)
    page = "".join(render_html(graph.sorted(), lambda ids: {}))
    lines = drawing(page).titles["record:dataset:long@1.0"]
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert f"<title>dataset:long@1.0: {title}</title>" in page
    assert f'<p class="title">{title}</p>' in page


def _record(graph: LineageGraph, kind: str, name: str, version: str, title: str) -> str:
    node = f"record:{kind}:{name}@{version}"
    attrs = {
        "record_kind": kind,
        "title": title,
        "path": f"records/{kind}/{name}/{version}.json",
        "sha256": "ab" * 32,
    }
    graph.add(Node(node, "record", f"{kind}:{name}@{version}", attrs))
    return node


def generated_graph(versions: int = 14, models: int = 5) -> LineageGraph:
    """One dataset with many versions, a test set, several models each trained on several of
    those versions, and each model version evaluated on a dataset version and the test set."""
    graph = LineageGraph("0" * 40)
    links: list[tuple[str, str, EdgeKind]] = []
    cohort = [
        _record(graph, "dataset", "cohort", f"1.{v}", f"Development cohort, admissions up to {v}")
        for v in range(versions)
    ]
    links += [(cohort[v], cohort[v - 1], "supersedes") for v in range(1, versions)]
    test = _record(graph, "dataset", "test", "1.0", "Sequestered test set")
    for m in range(models):
        model_versions = []
        for k in range(3):
            title = f"Risk model {m}, retrained on the growing development cohort"
            model = _record(graph, "model", f"risk-{m}", f"1.{k}", title)
            links.append((model, cohort[(m * 3 + k * 4) % versions], "trained-on"))
            evaluation = _record(graph, "evaluation", f"risk-{m}-eval", f"1.{k}", "Held-out")
            links += [(evaluation, model, "evaluates"), (evaluation, test, "evaluated-on")]
            links.append((evaluation, cohort[(m + k) % versions], "evaluated-on"))
            if model_versions:
                previous_model, previous_evaluation = model_versions[-1]
                links += [
                    (model, previous_model, "supersedes"),
                    (evaluation, previous_evaluation, "supersedes"),
                    (evaluation, previous_evaluation, "compared-with"),
                ]
            model_versions.append((model, evaluation))
    for source, target, kind in links:
        graph.link(source, target, kind)
    return graph.sorted()


def test_generated_graph_edges_avoid_boxes_and_labels_never_overlap() -> None:
    graph = generated_graph()
    page = "".join(render_html(graph, lambda ids: {}))
    d = assert_geometry(page)
    assert len(d.edges) == len(graph.edges) > 100
    assert sum(" L" in p for _, _, p in d.edges) >= 15  # edges crossing the model column
    # Every edge keeps its label: in place, or (none here) as its tooltip.
    assert len(d.labels) == len(d.edges), f"{len(d.edges) - len(d.labels)} labels left out"
    assert "".join(render_html(graph, lambda ids: {})) == page  # the same bytes again


def test_generated_graph_opens_in_chromium_with_the_panel(tmp_path: Path) -> None:
    page = tmp_path / "generated.html"
    page.write_text("".join(render_html(generated_graph(), lambda ids: {})), encoding="utf-8")
    dom, _ = screenshot(page, tmp_path, "1500,1000")
    assert re.search(r'<body[^>]* data-ready="1"', dom)


def test_side_panel_shows_the_selected_evaluations_metrics_and_outcome(
    demo_repo: Path, tmp_path: Path
) -> None:
    page = tmp_path / "lineage.html"
    lineage(demo_repo, "--format", "html", "--all-versions", "-o", str(page))
    dom, _ = screenshot(page, tmp_path, "1500,1000")
    panel = re.search(r'<aside id="panel">(.*?)</aside>', dom, re.S)
    assert panel, "the panel is not shown"
    assert f"{EVAL}@1.1" in panel.group(1)
    assert '<table class="metrics">' in panel.group(1)
    assert '<span class="badge outcome-pass">pass</span>' in panel.group(1)
