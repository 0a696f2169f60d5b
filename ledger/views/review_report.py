"""Reporters for reviews: Markdown for pull requests, plain text for terminals.

The Markdown renders on GitHub and GitLab as posted; nothing is uploaded anywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from ledger.coverage.changes import ModelCoverage
from ledger.findings import Finding
from ledger.views.compare import MetricDelta
from ledger.views.graph import LineageGraph
from ledger.views.markdown import plain
from ledger.views.review import Review

MermaidRenderer = Callable[[LineageGraph], str]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def _delta(d: MetricDelta) -> str:
    return "-" if d.delta is None else f"{d.delta:+.4f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"{_num(ci[0])} to {_num(ci[1])}"


def _metric_rows(deltas: Iterable[MetricDelta]) -> list[str]:
    rows = [
        "| metric | before | after | change | 95% CI before | 95% CI after |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    rows += [
        f"| {d.name} | {_num(d.a)} | {_num(d.b)} | {_delta(d)} | {_ci(d.ci_a)} | {_ci(d.ci_b)} |"
        for d in deltas
    ]
    return rows


def review_markdown(review: Review, mermaid: MermaidRenderer) -> str:
    lines = [f"## Ledger review `{review.base[:12]}..{review.head[:12]}`", ""]
    verdict = (
        "**Violations:** committed records were changed, deleted or broken."
        if review.violations
        else "No violations: committed versions are untouched."
    )
    lines += [
        f"{len(review.added)} record(s) added, {len(review.superseded)} superseded, "
        f"{len(review.changed_in_place)} changed in place, {len(review.deleted)} deleted. "
        + verdict,
        "",
    ]
    if review.added or review.changed_in_place or review.deleted:
        lines += ["### Records", "", "| change | record | title / reason |", "| --- | --- | --- |"]
        reasons = {
            s.new: f"supersedes `{s.old}` ({s.change_type}): {s.reason}" for s in review.superseded
        }
        for ref in review.added:
            lines.append(
                f"| added | `{ref}` | {review.titles.get(ref, '')}"
                + (f"<br>{reasons[ref]}" if ref in reasons else "")
                + " |"
            )
        lines += [
            f"| :x: changed in place | `{p}` | a committed version was edited |"
            for p in review.changed_in_place
        ]
        lines += [
            f"| :x: deleted | `{p}` | a committed version was removed |" for p in review.deleted
        ]
        lines.append("")
    for change in review.metrics:
        lines += [
            f"### Metrics: `{change.evaluation}` vs `{change.against}`",
            "",
            f"Compared with {change.why}.",
            "",
            *_metric_rows(change.deltas),
            "",
        ]
    if review.signoffs:
        lines += [
            "### Sign-offs",
            "",
            "| record | meaning | signer | role or stage | signed at | counts |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for one in review.signoffs:
            entry = one.entry
            counts = "yes" if one.counts else ":x: " + "; ".join(one.problems)
            meaning, role = entry.words
            lines.append(
                f"| `{entry.signs.ref}` | {meaning} | {_cell(entry.signer.name)} | "
                f"{role} | {entry.signed_at} | {_cell(counts)} |"
            )
        lines.append("")
    if review.lineage is not None:
        lines += ["### Lineage around the change", "", mermaid(review.lineage).rstrip("\n"), ""]
    if review.coverage:
        lines += ["### Reporting-framework coverage", ""]
        for model in review.coverage:
            lines += _coverage_markdown(model)
    lines += ["### Verification", ""]
    errors = [f for f in review.new_findings if f.severity == "error"]
    warnings = [f for f in review.new_findings if f.severity != "error"]
    lines += [_finding_item(f, ":x:") for f in errors] or ["No new errors."]
    if warnings:
        lines += ["", f"{len(warnings)} new warning(s):", ""]
        lines += [_finding_item(f, ":warning:") for f in warnings]
    return "\n".join(lines) + "\n"


def review_text(review: Review) -> str:
    lines = [f"review {review.base[:12]}..{review.head[:12]}"]
    reasons = {s.new: f" (supersedes {s.old}: {s.reason})" for s in review.superseded}
    lines += [f"  added      {ref}{reasons.get(ref, '')}" for ref in review.added]
    lines += [f"  CHANGED IN PLACE {p}" for p in review.changed_in_place]
    lines += [f"  DELETED    {p}" for p in review.deleted]
    for change in review.metrics:
        lines.append(f"metrics {change.evaluation} vs {change.against} ({change.why}):")
        lines += [
            f"  {d.name:<12} {_num(d.a):>8} -> {_num(d.b):<8} {_delta(d)}" for d in change.deltas
        ]
    lines += [f"  signed     {one.entry.signs.ref}: {one.line()}" for one in review.signoffs]
    for model in review.coverage:
        if model.before is None:
            lines.append(f"coverage of {model.after} (new): {_counts(model)}")
            continue
        lines.append(f"coverage of {model.after} against {model.before}:")
        lines += [
            f"  {c.direction.replace('lost', 'LOST'):<7} {c.framework} {c.item}: "
            f"{_status(c.before)} -> {c.after.value}" + (f" ({c.reason})" if c.reason else "")
            for c in model.moved
        ] or ["  no item moved"]
    lines += [f.line() for f in review.new_findings]
    lines.append("violations" if review.violations else "no violations")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipe ends the cell, no line break the row."""
    return " ".join(text.replace("|", "\\|").split())


def _finding_item(f: Finding, mark: str) -> str:
    where = f.path + (f"#{f.pointer}" if f.pointer else "")
    return f"- {mark} `{f.code}` `{where}`: {f.message}"


_MARKS = {"gained": ":white_check_mark:", "lost": ":x:", "changed": ":left_right_arrow:"}


def _status(status: object) -> str:
    return "-" if status is None else str(getattr(status, "value", status))


def _counts(model: ModelCoverage) -> str:
    """A model's coverage at the head, framework by framework."""
    return "; ".join(
        f"{title} " + ", ".join(f"{n} {status}" for status, n in after.items() if n)
        for title, _, after in model.counts
    )


def _coverage_markdown(model: ModelCoverage) -> list[str]:
    if model.before is None:
        return [f"`{model.after}` is new: {plain(_counts(model))}.", ""]
    moved = Counter(c.direction for c in model.moved)
    lines = [
        f"`{model.after}` against `{model.before}`: {moved['gained']} item(s) gained, "
        f"{moved['lost']} lost, {moved['changed']} changed between met and not applicable.",
        "",
    ]
    if not model.moved:
        return lines
    lines += [
        "| | framework | item | before | after | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {_MARKS[c.direction]} | {plain(c.framework)} | "
        f"{plain(c.item)} {plain(c.summary)} | {_status(c.before)} | {c.after.value} | "
        f"{plain(c.reason)} |"
        for c in model.moved
    ]
    return [*lines, ""]
