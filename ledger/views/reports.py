"""Reports of the checks: results are data; these turn them into text for people.

JSON for tools is each result's ``to_json``, printed by ``ledger.views.formats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.checks.tree import Report
from ledger.git.commits import Commit, Signature

if TYPE_CHECKING:
    from ledger.audit.verify_export import ExportCheck


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
    return "\n".join([*(f.line() for f in report.findings), _verdict(report)]) + "\n"


def _verdict(report: Report) -> str:
    records = len(report.checked)
    if report.ok:
        return f"ok: {records} record(s) valid"
    errors = sum(1 for f in report.findings if f.severity == "error")
    return f"{errors} problem(s) in {records} record(s) checked"


def export_check_text(report: ExportCheck) -> str:
    """``verify-export``: the findings, what the export says of itself, and the verdict."""
    lines = [f.line() for f in report.findings]
    if report.commit is not None:
        lines.append(f"export of commit {report.commit}")
    if report.manifest_sha256 is not None:
        lines.append(f"manifest sha256 {report.manifest_sha256}")
    recorded = report.verification
    if recorded is None:
        lines.append("recorded verification: none")
    elif recorded.get("ok"):
        lines.append(f"recorded verification: passed, {recorded.get('warnings')} warning(s)")
    else:
        lines.append(
            f"recorded verification: FAILED, {recorded.get('errors')} error(s) "
            "(exported with --allow-findings; see verification/report.txt)"
        )
    if report.signer is not None:
        lines.append(f"signed by {report.signer}")
    elif report.signed:
        lines.append("signed; give --allowed-signers FILE to check who signed it")
    else:
        lines.append("not signed")
    verdict = _verdict(report)
    if report.intact and not report.ok:
        verdict = f"the export is intact ({len(report.checked)} record(s)), but its ledger failed"
    return "\n".join([*lines, verdict]) + "\n"


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
