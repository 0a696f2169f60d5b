"""Reporters: results are data; these functions turn them into text or JSON for people and tools."""

from __future__ import annotations

import json

from ledger.validate import Report


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
