"""Reports of the checks: results are data; these turn them into text for people.

JSON for tools is each result's ``to_json``, printed by ``ledger.views.formats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.checks.tree import Report
from ledger.git.commits import Commit, Signature


@dataclass
class VerifyReport(Report):
    """A report of the committed ledger at a commit, with the commits that changed records."""

    commit: str = ""
    commits: list[tuple[Commit, tuple[str, ...]]] = field(default_factory=list)

    def json_value(self) -> dict[str, Any]:
        return {
            **super().json_value(),
            "commit": self.commit,
            "commits": ({**c.to_json(), "records": list(paths)} for c, paths in self.commits),
        }


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
    signed = sum(1 for c, _ in report.commits if c.signature is not Signature.UNSIGNED)
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
