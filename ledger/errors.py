"""The one exception root of ledger, and the exit code each kind of failure maps to.

Every error says what went wrong and how to fix it. The CLI turns them into exit codes in one
place (``cli.main``): 1 for problems in the ledger, 2 for usage or environment errors. Anything
that is not a ``LedgerError`` is a bug and exits 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ledger.findings import Finding

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class LedgerError(Exception):
    """Root of every error ledger raises on purpose; the message says how to fix it."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LedgerError):
    """Bad arguments or an unsuitable environment (not a git repository, a missing tool)."""

    exit_code = EXIT_USAGE


class NotAGitRepositoryError(UsageError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path}: not inside a git repository; run ledger in a git work tree "
            "(or create one with `git init` and `ledger init`)"
        )


class ToolMissingError(UsageError):
    def __init__(self, tool: str, how: str) -> None:
        super().__init__(f"`{tool}` was not found; {how}")


class RecordNotFoundError(UsageError):
    """A REF on the command line names no record."""


class InvalidRecordsError(LedgerError):
    """Input that would become, or already is, a record breaks the ledger's rules.

    Carries the findings so reporters can print one line per problem.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        super().__init__("\n".join(f.line() for f in self.findings))


class ExportRefusedError(InvalidRecordsError):
    """An audit export of a ledger that fails verification: it would hand an auditor a bundle
    whose own check says "intact" for records that break the rules."""

    def __init__(self, findings: Sequence[Finding], commit: str) -> None:
        super().__init__(findings)
        self.summary = (
            f"export refused: ledger verify finds {len(self.findings)} error(s) at commit "
            f"{commit[:12]}; fix them, or export with --allow-findings to hand the bundle over "
            "with the failure stated in its README and manifest"
        )


class PromotionRefusedError(LedgerError):
    """A model version that does not meet what its stage demands: one line per condition."""

    def __init__(self, record: str, stage: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = [f"cannot promote {record} to {stage}: {why}" for why in self.problems]
        super().__init__("\n".join(lines))


class RecordExistsError(LedgerError):
    """A committed version is immutable; a change must become a new version."""
