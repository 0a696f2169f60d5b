"""Who signed the commits that changed records (rules L801-L803)."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.findings import Finding, Severity, finding
from ledger.git.commits import Commit, Signature


def signature_findings(
    changed: Iterable[tuple[Commit, tuple[str, ...]]], require_signed: bool
) -> list[Finding]:
    """One finding per commit that changed records without a good, trusted signature.

    ``changed`` pairs each such commit with the record files it changed; the finding is filed
    at the first of them.
    """
    found: list[Finding] = []
    strict = Severity.ERROR if require_signed else Severity.WARNING
    for commit, paths in changed:
        where = paths[0]
        about = f"commit {commit.sha[:12]} ({commit.author}, {commit.subject!r})"
        state = commit.signature
        if state is Signature.GOOD:
            continue
        if state is Signature.UNSIGNED:
            found.append(
                finding(
                    "L801", where, "", f"{about} is not signed", severity=strict, commit=commit.sha
                )
            )
        elif state is Signature.BAD:
            found.append(
                finding("L802", where, "", f"{about} has a bad signature", commit=commit.sha)
            )
        else:
            found.append(
                finding(
                    "L803",
                    where,
                    "",
                    f"{about}: signature {state.description}",
                    severity=strict,
                    commit=commit.sha,
                )
            )
    return found
