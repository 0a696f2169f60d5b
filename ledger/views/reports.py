"""Reporters: results are data; these functions turn them into text or JSON for people and tools."""

from __future__ import annotations

import json

from ledger.checks.tree import Report
from ledger.checks.verify import VerifyReport


def to_json_text(value: object) -> str:
    """Deterministic JSON for machines: sorted keys, two-space indent, trailing newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def validation_text(report: Report) -> str:
    lines = [f.line() for f in report.findings]
    records = len(report.checked)
    if report.ok:
        lines.append(f"ok: {records} record(s) valid")
    else:
        errors = sum(1 for f in report.findings if f.severity == "error")
        lines.append(f"{errors} problem(s) in {records} record(s) checked")
    return "\n".join(lines) + "\n"


def verify_text(report: VerifyReport) -> str:
    lines = [f.line() for f in report.findings]
    signed = sum(1 for c in report.commits if c.signature != "unsigned")
    lines.append(
        f"commit {report.commit[:12]}: {len(report.checked)} record(s), "
        f"{len(report.commits)} commit(s) changed records, {signed} of them signed"
    )
    errors = sum(1 for f in report.findings if f.severity == "error")
    warnings = len(report.findings) - errors
    lines.append("ok: verified" if report.ok else f"{errors} problem(s)")
    if warnings:
        lines[-1] += f", {warnings} warning(s)"
    return "\n".join(lines) + "\n"
