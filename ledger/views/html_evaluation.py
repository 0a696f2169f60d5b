"""An evaluation's details on the lineage page: its metrics, its acceptance criteria judged from
them, and the outcome they give. The outcome is computed (``checks.consistency``), never read
from the record: a record may state "pass" for metrics that fail its criteria."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from ledger.signoffs.stages import outcome_word

if TYPE_CHECKING:
    from ledger.signoffs.stages import Verdict

METRIC_HEAD = "<tr><th>Metric</th><th>Value</th><th>Interval</th><th>n</th><th>Events</th></tr>"


def evaluation_details(text: str, judged: list[Verdict] | None, with_judgment: bool) -> str:
    """The outcome, the criteria and the metrics tables of an evaluation whose file reads
    ``text``; ``judged`` (when ``with_judgment``) its criteria judged from its metrics."""
    try:
        content = json.loads(text)
    except ValueError:
        content = None
    parts = []
    if with_judgment:
        parts.append(_outcome(judged))
        if judged:
            parts.append(_criteria(judged))
    if isinstance(content, dict):
        metrics = content.get("metrics")
        if isinstance(metrics, list) and metrics:
            rows = "".join(_metric_row(m) for m in metrics)
            parts.append(_table("metrics", "Metrics", METRIC_HEAD + rows))
        groups = content.get("subgroup_metrics")
        if isinstance(groups, list) and groups:
            rows = "".join(_group_rows(g) for g in groups)
            parts.append(_table("metrics subgroups", "Subgroup metrics", METRIC_HEAD + rows))
    return f'<div class="evaluation">{"".join(parts)}</div>' if parts else ""


def _outcome(judged: list[Verdict] | None) -> str:
    word = outcome_word(judged)
    if judged is None:
        said = "cannot be computed: not a valid evaluation record, or its baseline is not"
    elif not judged:
        said = '<span class="badge outcome-open">no criteria</span> the record states none'
    else:
        met = sum(one.met is True for one in judged)
        mark = word if word in ("pass", "fail") else "open"
        said = (
            f'<span class="badge outcome-{mark}">{escape(word)}</span> '
            f"{met} of {len(judged)} acceptance criteria met"
        )
    return f'<p class="outcome">Outcome computed from the metrics: {said}</p>'


def _criteria(judged: list[Verdict]) -> str:
    rows = ["<tr><th>Acceptance criterion</th><th>Measured</th><th>Met</th></tr>"]
    for one in judged:
        measured = "not stated" if one.measured is None else _number(one.measured)
        if one.against is not None:
            measured += f" (baseline {_number(one.against)})"
        state, word = (
            ("open", "cannot be judged")
            if one.met is None
            else ("met", "✓ met")
            if one.met
            else ("unmet", "✗ not met")
        )
        rows.append(
            f'<tr class="{state}"><td>{escape(one.requirement())}</td>'
            f'<td class="num">{measured}</td><td>{word}</td></tr>'
        )
    return _table("criteria", "Acceptance criteria", "".join(rows))


def _table(kind: str, caption: str, rows: str) -> str:
    return f'<table class="{kind}"><caption>{caption}</caption>{rows}</table>'


def _group_rows(group: Any) -> str:
    if not isinstance(group, Mapping):
        return ""
    name = f"{_text(group.get('attribute'))} = {_text(group.get('group'))}"
    metrics = group.get("metrics")
    rows = "".join(_metric_row(m) for m in metrics) if isinstance(metrics, list) else ""
    return f'<tr class="group"><th colspan="5">{name}</th></tr>{rows}'


def _metric_row(metric: Any) -> str:
    # Written for speed: a ledger of 10,000 records has tens of thousands of these rows.
    if not isinstance(metric, Mapping):
        return ""
    get = metric.get
    ci = get("ci")
    interval = ""
    if isinstance(ci, Mapping) and "lower" in ci:
        interval = f"{_value(ci.get('lower'))}&ndash;{_value(ci.get('upper'))}"
        level = ci.get("level", 0.95)
        if type(level) in (int, float):
            interval += f" <small>{level * 100:g}%</small>"
        if ci.get("method"):
            interval = f'<span title="{_text(ci["method"])}">{interval}</span>'
    elif isinstance(ci, Mapping) and "not_applicable" in ci:
        interval = f"n/a: {_text(ci['not_applicable'])}"
    return (
        f'<tr><td>{_text(get("name"))}</td><td class="num">{_value(get("value"))}</td>'
        f'<td class="ci">{interval}</td><td class="num">{_value(get("n"))}</td>'
        f'<td class="num">{_value(get("events"))}</td></tr>'
    )


def _value(value: Any) -> str:
    """A number as the record writes it (Python's shortest repr is JSON's); other values as
    text; nothing for an absent one."""
    if type(value) in (int, float):  # not bool, nor a subclass with a repr of its own
        return repr(value)
    return "" if value is None else escape(str(value))


def _number(value: float) -> str:
    return escape(repr(value))


def _text(value: Any) -> str:
    if type(value) is str:
        return _escaped(value)
    return "" if value is None else escape(str(value))


@functools.lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    # Metric names, interval methods and subgroups repeat across a ledger's evaluations.
    return escape(text)
