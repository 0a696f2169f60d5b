"""The fixed parts of the HTML lineage page: style sheet and script, inlined so the page works
offline. The page's Content-Security-Policy allows exactly these two by hash and nothing else,
so the browser itself enforces that a report makes no network request."""

from __future__ import annotations

import base64
import hashlib

from ledger.kinds import ordered


def _kind_rules() -> str:
    """Each kind's colour, from its lineage style: the same palette as Mermaid and DOT."""
    rules = []
    for spec in ordered():
        k, line = spec.kind, spec.lineage.line
        rules += [
            f".legend .sw-{k} {{ border-color: {line}; }}",
            f"#graph .kind-{k} rect {{ stroke: {line}; }} .kind-{k} .band {{ fill: {line}; }}",
            f".record.kind-{k} {{ border-left-color: {line}; }}",
        ]
    return "\n".join(rules) + "\n"


CSS = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --missing: #c62828; --pass: #1a7f37; --fail: #cf222e; --open: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f6f8fa; }
header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 19px; }
header p { margin: 2px 0 0; color: var(--muted); }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 2px solid; border-radius: 2px; vertical-align: -1px; }
.top { display: grid; grid-template-columns: minmax(0, 1fr); gap: 16px; padding: 16px 24px; }
.top.with-panel { grid-template-columns: minmax(0, 1fr) 440px; }
.graph-wrap { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 8px; overflow: auto; align-self: start; }
#graph { display: block; max-width: 100%; height: auto; }
#graph .col { font-size: 11px; fill: var(--muted); text-transform: uppercase;
  letter-spacing: .06em; }
#graph .node rect { fill: #fff; stroke-width: 1.5; }
#graph .node .band { stroke: none; }
#graph .missing rect { stroke: var(--missing); stroke-dasharray: 5 3; fill: #fff5f5; }
#graph .superseded rect { stroke-dasharray: 5 3; } #graph .superseded { opacity: .62; }
#graph .node text { fill: var(--ink); font-size: 11.5px; }
#graph .node .kind { font-size: 10px; fill: var(--muted); text-transform: uppercase; }
#graph .node .ident { font-size: 13px; font-weight: 600; }
#graph .node .who { font-size: 10.5px; fill: var(--muted); }
#graph .node .tag { font-size: 10px; font-weight: 600; fill: var(--missing); }
#graph .node .tag.pass, #graph .node .tag.fail, #graph .node .tag.open { font-size: 11px;
  font-weight: 700; text-transform: uppercase; letter-spacing: .04em; }
#graph .node .tag.pass { fill: var(--pass); } #graph .node .tag.fail { fill: var(--fail); }
#graph .node .tag.open { fill: var(--open); }
#graph .node:hover rect, #graph .node:focus rect { fill: #f0f6ff; }
#graph .node.selected rect { stroke-width: 3; fill: #fffbe6; }
#graph .edge path { fill: none; stroke: #6e7781; stroke-width: 1.3; }
#graph .edge.dashed path { stroke-dasharray: 4 3; }
#graph .edge.label rect { fill: #fff; fill-opacity: .94; stroke: var(--line);
  stroke-width: .8; }
#graph .edge.label text { font-size: 10px; fill: var(--muted); text-anchor: middle; }
#graph .edge.label.lit rect { stroke: #0969da; } #graph .edge.label.lit text { fill: #0969da; }
#graph .dim { opacity: .28; }
#graph .edge.lit path { stroke: #0969da; stroke-width: 2; }
#panel { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 4px 16px 12px; align-self: start; position: sticky; top: 8px;
  max-height: calc(100vh - 16px); overflow: auto; }
#panel .hint { color: var(--muted); font-size: 12px; }
#panel dl { grid-template-columns: 92px minmax(0, 1fr); }
#panel .record { border-width: 0 0 0 5px; border-radius: 0; padding-right: 0; }
.records { padding: 0 24px 24px; }
.records > h2 { font-size: 16px; }
.record { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--line);
  border-radius: 8px; padding: 4px 16px 10px; margin: 0 0 14px; }
.record.missing { border-left-color: var(--missing); }
.record:target { outline: 3px solid #0969da; }
.record h3 { margin: 10px 0 2px; font-size: 15px; word-break: break-all; }
.record .title { margin: 0 0 8px; color: var(--muted); }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px;
  border-radius: 10px; background: #eaeef2; color: var(--muted); vertical-align: 1px; }
.badge.warn { background: #ffebe9; color: var(--missing); }
dl { display: grid; grid-template-columns: 118px minmax(0, 1fr); gap: 3px 10px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: break-word; min-width: 0; }
dd pre { margin: 0; white-space: pre-wrap; }
dd ul { margin: 0; padding-left: 18px; }
.evaluation { margin: 0 0 8px; }
.evaluation .outcome { margin: 0 0 4px; }
.outcome-pass { background: #dafbe1; color: var(--pass); }
.outcome-fail { background: #ffebe9; color: var(--fail); }
.outcome-open { background: #fff8c5; color: var(--open); }
.evaluation table { border-collapse: collapse; margin: 4px 0 10px; font-size: 12.5px; }
.evaluation caption { text-align: left; font-weight: 600; color: var(--muted); padding: 2px 0; }
.evaluation th, .evaluation td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top;
  border-bottom: 1px solid #eaeef2; }
.evaluation th { font-weight: 600; color: var(--muted); }
.evaluation td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.evaluation td.ci, .evaluation tr td:last-child { white-space: nowrap; }
.evaluation small { color: var(--muted); }
.evaluation tr.group th { padding-top: 8px; color: var(--ink); }
.evaluation tr.met td:last-child { color: var(--pass); }
.evaluation tr.unmet td:last-child { color: var(--fail); font-weight: 600; }
.evaluation tr.open td:last-child { color: var(--open); }
details { margin-top: 8px; } summary { cursor: pointer; color: #0969da; }
details pre { background: #f6f8fa; padding: 8px; border-radius: 6px; overflow: auto;
  max-height: 420px; }
footer { padding: 0 24px 24px; color: var(--muted); font-size: 12px; }
""" + _kind_rules()

JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lineage-data").textContent);
  var panel = document.getElementById("panel");
  var nodes = Array.prototype.slice.call(document.querySelectorAll("#graph .node"));
  var edges = Array.prototype.slice.call(document.querySelectorAll("#graph .edge"));
  var sections = {};
  Array.prototype.forEach.call(document.querySelectorAll(".records .record"), function (s) {
    sections[s.getAttribute("data-id")] = s;
  });
  var up = {}, down = {};
  data.edges.forEach(function (e) {
    if (!sections[e.source] || !sections[e.target]) { return; }
    (up[e.source] = up[e.source] || []).push(e.target);
    (down[e.target] = down[e.target] || []).push(e.source);
  });
  function reach(start, next, into) {
    var todo = [start];
    while (todo.length) {
      var id = todo.pop();
      (next[id] || []).forEach(function (t) { if (!into[t]) { into[t] = true; todo.push(t); } });
    }
  }
  function select(id) {
    var lineage = {};
    lineage[id] = true;
    reach(id, up, lineage);
    reach(id, down, lineage);
    nodes.forEach(function (n) {
      var nid = n.getAttribute("data-id");
      n.classList.toggle("selected", nid === id);
      n.classList.toggle("dim", !lineage[nid]);
    });
    edges.forEach(function (e) {
      var on = lineage[e.getAttribute("data-source")] && lineage[e.getAttribute("data-target")];
      e.classList.toggle("dim", !on);
      e.classList.toggle("lit", !!on);
    });
    var copy = sections[id].cloneNode(true);
    copy.removeAttribute("id");
    panel.textContent = "";
    var hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = "Selected record; its lineage is highlighted. Click another node.";
    panel.appendChild(hint);
    panel.appendChild(copy);
  }
  nodes.forEach(function (n) {
    n.addEventListener("click", function (event) {
      event.preventDefault();
      select(n.getAttribute("data-id"));
    });
  });
  if (nodes.length) {
    panel.hidden = false;
    document.querySelector(".top").classList.add("with-panel");
    var wanted = decodeURIComponent(location.hash.slice(1));
    var first = nodes.filter(function (n) { return n.getAttribute("data-anchor") === wanted; })[0];
    first = first || document.querySelector("#graph .node[data-default]") || nodes[0];
    select(first.getAttribute("data-id"));
  }
  document.body.setAttribute("data-ready", "1");
})();
"""


def graph_css() -> str:
    """The rules that style the drawing (``#graph``), for pages that show it alone: the
    report's model pages. Every rule of ``CSS`` is one ``selector { … }``, none nested."""
    rules = (rule.strip() + " }" for rule in CSS.split("}") if "{" in rule)
    return "\n".join(
        rule for rule in rules if rule.startswith((":root", "#graph")) or ".band" in rule
    )


def csp_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; img-src data:; "
    f"style-src {csp_hash(CSS)}; script-src {csp_hash(JS)}; base-uri 'none'; form-action 'none'"
)
