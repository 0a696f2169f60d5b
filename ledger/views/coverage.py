"""``ledger coverage``: framework items met, partial, missing or not applicable, per model
version, as a table for the terminal, Markdown for a review or JSON for tools."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.coverage.assess import (
    Coverage,
    FrameworkResult,
    ItemResult,
    Status,
    assess,
    framework_json,
    packages_of,
)
from ledger.coverage.frameworks import Framework
from ledger.records.identity import RecordId
from ledger.views.markdown import plain

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState

BATCH = 200  # packages assessed, and held, at a time
#: The coverage of a batch of model versions.
Assess = Callable[[list[RecordId]], list[Coverage]]

#: The order counts are given in: what needs work first.
_ORDER = (Status.MISSING, Status.PARTIAL, Status.MET, Status.NOT_APPLICABLE)


class Missing(NamedTuple):
    """A required item no record of a model's package holds (only words: the packages
    themselves are let go as the report is written)."""

    model: str
    framework: str
    item: str
    reason: str


def coverage_report(
    state: LedgerState, frameworks: Sequence[Framework], models: Sequence[RecordId] | None = None
) -> CoverageReport:
    """The coverage of ``models`` (by default every current model version) at ``state``."""
    if models is None:
        models = sorted(state.records.current_ids("model"), key=str)
    return CoverageReport(
        state.commit,
        frameworks,
        models,
        lambda batch: [assess(p, frameworks) for p in packages_of(state, batch)],
    )


class CoverageReport:
    """The coverage of model versions at a commit, assessed a batch of packages at a time
    as the report is written: every current model of a large ledger is thousands of
    packages, each with its records' contents and an answer per item."""

    def __init__(
        self,
        commit: str,
        frameworks: Sequence[Framework],
        models: Sequence[RecordId],
        assessed: Assess,
    ) -> None:
        self.commit, self.frameworks, self.models = commit, list(frameworks), list(models)
        self._assessed = assessed
        #: Required items no record holds, found as the report was written: what
        #: ``--require`` fails on.
        self.missing_required: list[Missing] = []

    @property
    def packages(self) -> Iterator[Coverage]:
        """Each model's coverage, in order (each reading of it assesses them again)."""
        self.missing_required = []
        for start in range(0, len(self.models), BATCH):
            for package in self._assessed(self.models[start : start + BATCH]):
                self.missing_required += (
                    Missing(str(package.package.model), f.framework.title, i.item.id, i.reason)
                    for f in package.frameworks
                    for i in f.missing_required
                )
                yield package

    def json_value(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "frameworks": [framework_json(f) for f in self.frameworks],
            "packages": (p.to_json() for p in self.packages),
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.json_value(), "packages": [p.to_json() for p in self.packages]}

    def table(self) -> Iterator[str]:
        return _table(self)

    def markdown(self) -> Iterator[str]:
        return _markdown(self)


def counts(framework: FrameworkResult) -> str:
    return ", ".join(f"{framework.count(s)} {s.value}" for s in _ORDER)


def _title(framework: FrameworkResult) -> str:
    return f"{framework.framework.title} ({framework.framework.version})"


def _why(item: ItemResult) -> str:
    return item.reason if item.status is not Status.MET else ""


def _table(report: CoverageReport) -> Iterator[str]:
    if not report.models:
        yield f"No model version at commit {report.commit[:12]}: coverage is of model versions.\n"
        return
    for number, package in enumerate(report.packages):
        if number:
            yield "\n"
        yield f"{package.package.model} at {report.commit[:12]}\n"
        for framework in package.frameworks:
            yield f"\n{_title(framework)}: {counts(framework)}\n"
            rows = [(i.item.id, i.status.value, i.item.summary, _why(i)) for i in framework.items]
            width_id = max(len(r[0]) for r in rows)
            width_status = max(len(r[1]) for r in rows)
            for item_id, status, summary, why in rows:
                line = f"  {item_id:<{width_id}}  {status:<{width_status}}  {summary}"
                yield line + (f"\n  {'':<{width_id}}  {'':<{width_status}}  - {why}" if why else "")
                yield "\n"


def _markdown(report: CoverageReport) -> Iterator[str]:
    yield f"# Coverage at `{report.commit[:12]}`\n"
    if not report.models:
        yield "\nNo model version: coverage is of model versions.\n"
    for package in report.packages:
        yield f"\n## `{package.package.model}`\n"
        for framework in package.frameworks:
            source = plain(framework.framework.citation)
            yield f"\n### {_title(framework)}\n\n{counts(framework)}. Source: {source}\n\n"
            yield "| item | status | summary | why |\n| --- | --- | --- | --- |\n"
            for item in framework.items:
                cells = (item.item.id, item.status.value, item.item.summary, _why(item))
                yield "| " + " | ".join(plain(c) for c in cells) + " |\n"
