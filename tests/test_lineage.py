"""`ledger lineage`: one graph in six formats, checked by the tools that read them.

Mermaid is rendered by Mermaid itself in headless Chromium (as GitHub renders it, client side),
DOT by Graphviz, the HTML page by Chromium with its console watched. Those tools come from
outside Python: a developer without them gets a skip with the reason, CI (which sets
LEDGER_REQUIRE_TOOLS) gets a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NoReturn

import pytest

from ledger.views.formats import LINEAGE, LineageView
from ledger.views.graph import LineageGraph, Node
from ledger.views.html import render_html
from tests.conftest import LEDGER, run_ledger

FORMATS = ("text", "mermaid", "dot", "svg", "json", "html")
MERMAID = "11.17.2"  # pinned, so a new Mermaid release cannot change what this test means
APT = {"dot": "graphviz", "chromium": "chromium", "npm": "npm"}
COHORT, TEST = "dataset:sepsis-cohort", "dataset:sepsis-test"
MODEL, EVAL = "model:sepsis-risk", "evaluation:sepsis-risk-heldout"
CURRENT = {f"{COHORT}@1.1", f"{TEST}@1.0", f"{MODEL}@1.1", f"{EVAL}@1.1"}
ALL = CURRENT | {f"{COHORT}@1.0", f"{MODEL}@1.0", f"{EVAL}@1.0"}
SHAPES = {"dataset": "cylinder", "model": "round", "evaluation": "hexagon"}
SVG = "{http://www.w3.org/2000/svg}"
# A Mermaid node line: an id, a shape, one quoted label with no quote or markup but line breaks.
NODE_LINE = re.compile(r'\s+n\d+(\[\(|\(|\{\{|\[/|\[)"(?:[^"<>`]|<br/>)*"(\)\]|\)|\}\}|/\]|\])')


def require_tool(name: str) -> str:
    """The path of an outside tool; without it, skip on a developer's machine but fail in CI."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"`{name}` is not installed (Debian: apt-get install {APT.get(name, name)})")
    return found


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("LEDGER_REQUIRE_TOOLS"):
        pytest.fail(f"{reason}; LEDGER_REQUIRE_TOOLS is set, so this must not be skipped")
    pytest.skip(reason)


def lineage(repo: Path, *args: str) -> str:
    result = run_ledger("lineage", *args, cwd=repo)
    assert result.code == 0, result.err
    return result.out


def records_in(repo: Path, *args: str) -> set[str]:
    doc = json.loads(lineage(repo, "--format", "json", *args))
    return {n["label"] for n in doc["nodes"] if n["kind"] == "record"}


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    browser = require_tool("chromium")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run(
        [browser, *flags, *extra, url], capture_output=True, text=True, timeout=120, check=False
    )


def screenshot(page: Path, tmp_path: Path, size: str) -> tuple[str, bytes]:
    """Open ``page`` in headless Chromium at window ``size`` (``W,H``): the DOM after its
    scripts ran, and a PNG screenshot. Fails on any console message."""
    shot = tmp_path / "shot.png"
    done = chromium(
        page.as_uri(),
        tmp_path / "profile",
        f"--window-size={size}",
        f"--screenshot={shot}",
        "--dump-dom",
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert not console_lines(done.stderr), (page.name, console_lines(done.stderr))
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return done.stdout, png


def console_lines(stderr: str) -> list[str]:
    # Chromium logs every console message, uncaught exception and CSP violation as CONSOLE.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def render(graph: LineageGraph, fmt: str) -> str:
    return "".join(LINEAGE.render(fmt, LineageView(graph)))


HOSTILE_CONTENT = {"note": "</script><!--<script>"}


def hostile_graph() -> LineageGraph:
    """Titles and paths full of what breaks Mermaid, DOT and HTML, and a dangling link."""
    title = 'Cohort "A" [v2] {x} <script>alert(1)</script> #1; a:b@c & `d` \\l |e|'
    graph = LineageGraph("0" * 40)
    for kind, name, text in (("dataset", "odd", title), ("model", "m", "Model (m) end")):
        graph.add(
            Node(
                f"record:{kind}:{name}@1.0",
                "record",
                f"{kind}:{name}@1.0",
                {
                    "record_kind": kind,
                    "title": text,
                    "path": f"records/{kind}/{name}/1.0.json",
                    "sha256": "ab" * 32,
                },
            )
        )
    graph.add(
        Node(
            "snapshot:" + "c" * 32,
            "snapshot",
            "odd",
            {"path": 'we"ird [dir]/a#b.csv', "md5": "c" * 32, "dvc_file": "data/x.dvc"},
        )
    )
    graph.add(Node("record:dataset:gone@2.0", "record", "dataset:gone@2.0", {"missing": True}))
    graph.link("record:model:m@1.0", "record:dataset:odd@1.0", "trained-on")
    graph.link("record:model:m@1.0", "record:dataset:gone@2.0", "trained-on")
    graph.link("record:dataset:odd@1.0", "snapshot:" + "c" * 32, "snapshot-of")
    return graph.sorted()


def test_json_has_every_record_and_every_edge_kind(demo_repo: Path) -> None:
    doc = json.loads(lineage(demo_repo, "--format", "json", "--all-versions"))
    assert doc["format"] == "ledger-lineage/2" and len(doc["commit"]) == 40
    records = [n for n in doc["nodes"] if n["kind"] == "record"]
    assert {n["label"] for n in records} == ALL
    assert all(
        len(n["sha256"]) == 64
        and len(n["blob"]) == 40
        and n["path"] == f"records/{n['record_kind']}/{n['name']}/{n['version']}.json"
        for n in records
    )
    assert {e["kind"] for e in doc["edges"]} == {
        "trained-on",
        "evaluated-on",
        "evaluates",
        "compared-with",
        "supersedes",
        "snapshot-of",
        "recorded-in",
        "authored-by",
        "committed-by",
    }
    # Without --all-versions the superseded versions, and the links to them, are left out.
    current = json.loads(lineage(demo_repo, "--format", "json"))
    assert {n["label"] for n in current["nodes"] if n["kind"] == "record"} == CURRENT
    assert {e["kind"] for e in current["edges"]}.isdisjoint({"supersedes", "compared-with"})


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_byte_identical_across_runs(demo_repo: Path, fmt: str) -> None:
    if fmt == "svg":
        require_tool("dot")
    first = lineage(demo_repo, "--format", fmt, "--all-versions")
    assert first.endswith("\n") and "\x1b" not in first
    assert lineage(demo_repo, "--format", fmt, "--all-versions") == first


def test_text_is_a_tree_from_evaluations_down_to_data(demo_repo: Path) -> None:
    text = lineage(demo_repo, "--all-versions")
    lines = text.splitlines()
    assert lines[1].startswith(f"{EVAL}@1.1  Held-out evaluation")
    assert "├── evaluates: model:sepsis-risk@1.1  Sepsis risk at emergency triage" in text
    assert re.search(
        r"data data/cohort\.csv d8bd9d85  commit [0-9a-f]{7} Amara Okafor 2026-01-10", text
    )
    assert f"{MODEL}@1.0  Sepsis risk at emergency triage  [superseded]" in text
    # The shared test set is described once, then referenced: diamonds stay small.
    assert sum(f"{TEST}@1.0  Sepsis held-out" in line for line in lines) == 1
    assert f"└── evaluated-on: {TEST}@1.0  (see above)" in text


def test_views_escape_hostile_text_and_mark_missing_links() -> None:
    graph = hostile_graph()
    assert "trained-on: dataset:gone@2.0  MISSING" in render(graph, "text")
    mermaid = render(graph, "mermaid")
    for line in mermaid.splitlines():
        if re.match(r"\s+n\d+[\[({]", line):  # a node: one quoted label, no quote inside it
            assert re.fullmatch(NODE_LINE, line), line
    assert "MISSING" in mermaid and "class n1 missing" in mermaid
    contents = {
        n: json.dumps({"title": node.attrs["title"], **HOSTILE_CONTENT})
        for n, node in graph.nodes.items()
        if node.attrs.get("title")
    }
    page = "".join(render_html(graph, lambda ids: {i: contents[i] for i in ids if i in contents}))
    assert "</script><!--<script>" not in page.split('id="lineage-data">')[0]
    start = page.index('id="lineage-data">') + len('id="lineage-data">')
    end = page.index("</script>", start)
    # The first </script> after the data block must be its own end tag, whatever the records say.
    assert json.loads(page[start:end]) == graph.to_json()
    markup = page[:start] + page[end:]
    assert "<script>alert(1)" not in markup and "&lt;script&gt;alert(1)" in markup


def test_mermaid_renders_in_mermaid(
    demo_repo: Path, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    bundle = mermaid_bundle(pytestconfig, tmp_path)
    diagrams = {
        "all": lineage(demo_repo, "--format", "mermaid", "--all-versions"),
        "current": lineage(demo_repo, "--format", "mermaid"),
        "hostile": render(hostile_graph(), "mermaid"),
        # A control: an unquoted label with ':' and '@' must be refused, or nothing is tested.
        "broken": "flowchart RL\n    n1[dataset:x@1.0] --> n2\n",
    }
    page = tmp_path / "mermaid.html"
    data = json.dumps(diagrams).replace("</", "<\\/")
    page.write_text(MERMAID_PAGE.format(bundle=bundle.as_uri(), data=data), encoding="utf-8")
    done = chromium(
        page.as_uri(), tmp_path / "profile", "--virtual-time-budget=20000", "--dump-dom"
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    results = json.loads(html.unescape(found.group(1)))
    assert results["broken"]["error"] and "Parse error" in results["broken"]["error"]
    doc = json.loads(lineage(demo_repo, "--format", "json", "--all-versions"))
    for name in ("all", "current", "hostile"):
        result = results[name]
        assert "error" not in result, (name, result)
        assert result["type"] == "flowchart-v2"
        assert result["rendered"] == len(result["vertices"]) and result["paths"] == len(
            result["edges"]
        )
    vertices = {v["id"]: v for v in results["all"]["vertices"]}
    drawn = [n for n in doc["nodes"] if n["kind"] in ("record", "snapshot")]
    assert len(vertices) == len(drawn) == 12
    for index, node in enumerate(drawn, start=1):
        vertex = vertices[f"n{index}"]
        kind = node.get("record_kind", "snapshot")
        assert vertex["type"] == SHAPES.get(kind, "lean_right") and kind in vertex["classes"]
    record_edges = [e for e in doc["edges"] if e["target"].startswith(("record:", "snapshot:"))]
    assert sorted(e["text"] for e in results["all"]["edges"]) == sorted(
        e["kind"] for e in record_edges
    )
    fenced = lineage(demo_repo, "--format", "mermaid", "--all-versions", "--md")
    assert fenced == f"```mermaid\n{diagrams['all']}```\n"


def test_dot_renders_with_graphviz(demo_repo: Path) -> None:
    dot = require_tool("dot")
    text = lineage(demo_repo, "--format", "dot", "--all-versions")
    assert text.startswith("digraph lineage {\n    rankdir=RL;")
    done = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('class="node"') == 12  # 7 records and 5 snapshots
    assert done.stdout.count('class="edge"') == text.count(" -> ")
    # Escaping survives Graphviz: the hostile title comes back as the same text.
    svg = ET.fromstring(render(hostile_graph(), "svg").encode())
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert 'Cohort "A" [v2] {x} <script>alert(1)</script> #1; a:b@c & `d` \\l |e|' in texts


def test_svg_is_xml_with_a_node_per_record_and_snapshot(demo_repo: Path) -> None:
    require_tool("dot")
    text = lineage(demo_repo, "--format", "svg")
    root = ET.fromstring(text.encode())
    assert root.tag == f"{SVG}svg" and "Generated by graphviz" not in text
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == 4 + 3  # current records and their snapshots


def test_svg_without_graphviz_is_an_environment_error(demo_repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {**os.environ, "PATH": str(bin_dir)}
    done = subprocess.run(
        [LEDGER, "lineage", "--format", "svg"], cwd=demo_repo, env=env, capture_output=True
    )
    assert done.returncode == 2 and b"apt-get install graphviz" in done.stderr


def test_selection_around_a_record(demo_repo: Path) -> None:
    ref = f"{MODEL}@1.1"
    assert records_in(demo_repo, ref, "--upstream") == {ref, f"{COHORT}@1.1"}
    assert records_in(demo_repo, ref, "--downstream") == {ref, f"{EVAL}@1.1"}
    assert records_in(demo_repo, ref) == {ref, f"{COHORT}@1.1", f"{EVAL}@1.1"}
    assert records_in(demo_repo, ref, "--upstream", "--all-versions") == {
        ref,
        f"{COHORT}@1.1",
        f"{MODEL}@1.0",
        f"{COHORT}@1.0",
    }
    assert records_in(demo_repo, ref, "--upstream", "--all-versions", "--depth", "1") == {
        ref,
        f"{COHORT}@1.1",
        f"{MODEL}@1.0",
    }
    assert records_in(demo_repo, f"{EVAL}@1.1", "--upstream", "--depth", "1") == {
        f"{EVAL}@1.1",
        ref,
        f"{TEST}@1.0",
    }


def test_downstream_view_keeps_the_commits_of_its_records(demo_repo: Path) -> None:
    doc = json.loads(lineage(demo_repo, "--format", "json", f"{MODEL}@1.1", "--downstream"))
    recorded = {e["source"] for e in doc["edges"] if e["kind"] == "recorded-in"}
    assert recorded == {n["id"] for n in doc["nodes"] if n["kind"] == "record"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope@1.0",), "nope@1.0"),
        (("--format", "dot", "--md"), "--md goes with --format mermaid"),
        (("--depth", "1"), "need a REF"),
        (("--format", "png"), "Invalid value"),
    ],
)
def test_usage_errors_exit_2(demo_repo: Path, args: tuple[str, ...], message: str) -> None:
    result = run_ledger("lineage", *args, cwd=demo_repo)
    assert result.code == 2 and message in result.err and result.out == ""


def test_html_opens_offline_in_chromium(demo_repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "lineage.html"
    lineage(demo_repo, "--format", "html", "--all-versions", "-o", str(page))
    text = page.read_text(encoding="utf-8")
    assert text.count('<section class="record') == 7 and text.count('<a class="node') == 7
    assert not re.findall(r'(?:src|href)="(?!#|data:)', text), "only in-page references"
    assert "default-src 'none'" in text  # the browser itself refuses any network request
    for record in ALL:
        assert f'id="{record}"' in text  # details readable without JavaScript, by anchor
    dom, png = screenshot(page, tmp_path, "1400,900")
    assert re.search(r'<body[^>]* data-ready="1"', dom), "the page script did not finish"
    assert 'class="node kind-evaluation selected"' in dom
    assert len(png) > 20_000
    assert int.from_bytes(png[16:20], "big") == 1400 and int.from_bytes(png[20:24], "big") == 900


def mermaid_bundle(config: pytest.Config, tmp_path: Path) -> Path:
    """Mermaid's browser bundle from npm, kept in pytest's cache between runs."""
    npm = require_tool("npm")
    kept = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    cache = Path(kept.mkdir(f"mermaid-{MERMAID}")) if kept else tmp_path
    bundle = cache / "mermaid.min.js"
    if bundle.is_file():
        return bundle
    done = subprocess.run(
        [npm, "pack", "--silent", f"mermaid@{MERMAID}", "--pack-destination", str(cache)],
        cwd=cache,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tarball = cache / f"mermaid-{MERMAID}.tgz"
    if done.returncode != 0 or not tarball.is_file():
        unavailable(f"npm could not fetch mermaid@{MERMAID}: {done.stderr.strip()[-300:]}")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/dist/mermaid.min.js")
        assert member is not None
        partial = bundle.with_suffix(".part")
        partial.write_bytes(member.read())
    partial.replace(bundle)
    tarball.unlink()
    return bundle


# Parse each diagram, read back what Mermaid understood, then render it to SVG as GitHub does.
MERMAID_PAGE = """<!DOCTYPE html><meta charset="utf-8"><script src="{bundle}"></script>
<script type="application/json" id="input">{data}</script>
<pre id="result"></pre><div id="out"></div>
<script>
(async () => {{
  const input = JSON.parse(document.getElementById("input").textContent);
  const results = {{}};
  mermaid.initialize({{ startOnLoad: false }});
  for (const [name, text] of Object.entries(input)) {{
    const result = results[name] = {{}};
    try {{
      await mermaid.parse(text);
      const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
      result.type = diagram.type;
      result.vertices = [...diagram.db.getVertices().values()].map(
        v => ({{ id: v.id, type: v.type, classes: v.classes }}));
      result.edges = diagram.db.getEdges().map(
        e => ({{ start: e.start, end: e.end, text: e.text }}));
      const out = document.getElementById("out");
      out.innerHTML = (await mermaid.render("d" + name, text)).svg;
      result.rendered = out.querySelectorAll("g.node").length;
      result.paths = out.querySelectorAll(".edgePaths path").length;
    }} catch (error) {{ result.error = String(error && error.message || error); }}
  }}
  document.getElementById("result").textContent = JSON.stringify(results);
}})();
</script>"""


def test_json_is_written_in_chunks_as_one_document_an_item_a_line(demo_repo: Path) -> None:
    from ledger.api import Ledger
    from ledger.views.graph import select

    with Ledger.open(demo_repo) as book:
        graph = select(book.state().graph, all_versions=True)
    text = "".join(graph.json_chunks())
    assert json.loads(text) == graph.to_json()
    assert len(text.splitlines()) == len(graph.nodes) + len(graph.edges) + 8
    empty = LineageGraph("0" * 40)
    assert json.loads("".join(empty.json_chunks())) == empty.to_json()


def test_report_json_is_the_same_whether_its_lists_are_held_or_streamed() -> None:
    from ledger.views.formats import json_chunks, to_json_text

    value = {"b": [{"y": 1, "x": [2]}, "é"], "a": {}, "c": [], "d": {"e": (1, 2)}}
    text = to_json_text(value)
    assert text.splitlines() == [
        "{",
        '  "a": {},',
        '  "b": [',
        '    {"x":[2],"y":1},',
        '    "é"',
        "  ],",
        '  "c": [],',
        '  "d": {',
        '    "e": [1,2]',
        "  }",
        "}",
    ]
    streamed = {**value, "b": iter(value["b"]), "c": iter([])}
    assert "".join(json_chunks(streamed)) == text


def test_lineage_json_text_is_each_node_and_edge_compact_on_its_own_line() -> None:
    from ledger.compactjson import compact_json
    from ledger.views.graph import LineageGraph, Node

    graph = LineageGraph("0" * 40)
    agent = 'agent:"quoted"\\back\u2028é@example.org'
    graph.add(Node(agent, "agent", 'A "name"', {"email": agent[6:], "name": 'A "name"'}))
    for n in range(1500):  # more than one batch of lines
        graph.add(Node(f"record:dataset:d{n}@1.0", "record", f"d{n}", {"title": "t\n"}))
        graph.link(f"record:dataset:d{n}@1.0", agent, "authored-by")
    value = graph.to_json()
    lines = [
        "{",
        f'  "commit": "{value["commit"]}",',
        '  "edges": [',
        ",\n".join(f"    {compact_json(e)}" for e in value["edges"]),
        "  ],",
        f'  "format": "{value["format"]}",',
        '  "nodes": [',
        ",\n".join(f"    {compact_json(n)}" for n in value["nodes"]),
        "  ]",
        "}",
    ]
    assert "".join(graph.json_chunks()) == "\n".join(lines) + "\n"
    empty = LineageGraph("1" * 40)
    assert json.loads("".join(empty.json_chunks())) == empty.to_json()
    assert '"edges": [],' in "".join(empty.json_chunks())
