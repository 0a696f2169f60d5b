"""The report's plots: Vega-Lite specifications rendered to inline SVG by vl-convert.

Vega-Lite is a grammar of graphics made for this: a plot is data and an encoding, and its
renderer draws the axes, scales and legends. vl-convert renders it without a browser or a
network (Vega and Vega-Lite are inside it), so the report stays offline, and the same
specification gives the same SVG. The Vega-Lite version is pinned for that reason.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.workers import Workers, worker_count

VEGA_LITE = "5.20"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.20.json"  # a name; nothing is fetched
_FONT = "system-ui, sans-serif"
_CONFIG = {
    "font": _FONT,
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 220},
    "axisX": {"labelAngle": 0},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 320, "orient": "bottom"},
    "header": {"labelFontSize": 12, "labelFontWeight": "bold"},
    "view": {"stroke": "#ddd"},
}


def render(spec: Mapping[str, Any]) -> str:
    """The SVG of a Vega-Lite specification, without the XML prologue, for inline use."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(dict(spec), vl_version=VEGA_LITE)
    return svg.removeprefix('<?xml version="1.0" encoding="UTF-8"?>').strip()


#: Plots to draw before worker processes pay for their start-up (each starts its own Vega,
#: half a second; a plot takes about a tenth).
PARALLEL_FROM = 32


def render_all(specs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The SVG of each specification, in order: in worker processes when there are many.
    vl-convert draws one plot at a time per process, whatever the threads, so processes are
    what use a machine's processors. They fork before this process starts Vega (whose runtime
    runs threads of its own, which a fork would not copy)."""
    count = worker_count()
    started = "vl_convert" in sys.modules  # its threads would be missing from a fork
    if len(specs) < PARALLEL_FROM or count < 2 or started or threading.active_count() > 1:
        return [render(spec) for spec in specs]
    with Workers(count) as workers:
        return list(workers.map(render, specs))


def trend(rows: Sequence[Mapping[str, Any]], versions: Sequence[str], title: str) -> dict[str, Any]:
    """Each metric across a model's versions: the estimate with its interval, one colour and
    line per evaluation (by name: the same test protocol version after version), one panel per
    metric. ``rows`` hold version, evaluation, metric, value, lower, upper; ``versions`` is
    the order of the versions."""
    x = {"field": "version", "type": "ordinal", "sort": list(versions), "title": "model version"}
    color = {"field": "evaluation", "type": "nominal", "title": "evaluation"}
    spec = {
        "width": 170,
        "height": 170,
        "encoding": {"x": x, "color": color, "xOffset": {"field": "evaluation"}},
        "layer": [
            {
                "mark": {"type": "line", "strokeWidth": 1, "opacity": 0.5},
                "encoding": {"y": {"field": "value", "type": "quantitative"}},
            },
            {
                "mark": {"type": "rule", "strokeWidth": 2},
                "encoding": {
                    "y": {
                        "field": "lower",
                        "type": "quantitative",
                        "scale": {"zero": False},
                        "title": "estimate and interval",
                    },
                    "y2": {"field": "upper"},
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 60},
                "encoding": {"y": {"field": "value", "type": "quantitative"}},
            },
        ],
    }
    return _panels(rows, title, spec, independent="y")


def forest(rows: Sequence[Mapping[str, Any]], title: str) -> dict[str, Any]:
    """A forest plot: each metric overall and in each subgroup, the estimate with its
    interval, the overall estimate as a dashed line. ``rows`` hold metric, group (``overall``
    first), value, lower, upper and overall (the metric's overall estimate)."""
    groups = list(dict.fromkeys(str(row["group"]) for row in rows))
    y = {"field": "group", "type": "nominal", "sort": groups, "title": None}
    spec = {
        "width": 170,
        "height": {"step": 22},
        "layer": [
            {
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#888"},
                "encoding": {"x": {"field": "overall", "type": "quantitative"}},
            },
            {
                "mark": {"type": "rule", "strokeWidth": 2, "color": "#1f5fa8"},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "lower",
                        "type": "quantitative",
                        "scale": {"zero": False},
                        "title": "estimate and interval",
                    },
                    "x2": {"field": "upper"},
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 60, "color": "#1f5fa8"},
                "encoding": {"y": y, "x": {"field": "value", "type": "quantitative"}},
            },
        ],
    }
    return _panels(rows, title, spec, independent="x")


def _panels(
    rows: Sequence[Mapping[str, Any]], title: str, spec: dict[str, Any], independent: str
) -> dict[str, Any]:
    """``spec`` drawn once per metric, side by side, each panel with a scale of its own
    along the ``independent`` axis (metrics differ in range)."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "config": _CONFIG,
        # The browser's font may set labels wider than vl-convert measured them.
        "padding": {"left": 40, "right": 16, "top": 5, "bottom": 5},
        "data": {"values": [dict(row) for row in rows]},
        "facet": {"column": {"field": "metric", "type": "nominal", "title": None}},
        "spec": spec,
        "resolve": {"scale": {independent: "independent"}},
    }
