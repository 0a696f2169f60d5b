"""``ledger coverage``: framework items met, partial, missing or not applicable, per model
version, as a table for the terminal, Markdown for a review or JSON for tools."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.coverage.assess import Coverage, FrameworkResult, ItemResult, Status
from ledger.views.markdown import plain

#: The order counts are given in: what needs work first.
_ORDER = (Status.MISSING, Status.PARTIAL, Status.MET, Status.NOT_APPLICABLE)


@dataclass(frozen=True)
class CoverageReport:
    commit: str
    packages: tuple[Coverage, ...]

    @property
    def missing_required(self) -> list[tuple[Coverage, FrameworkResult, ItemResult]]:
        """Required items no record holds: what ``--require`` fails on."""
        return [
            (package, framework, item)
            for package in self.packages
            for framework in package.frameworks
            for item in framework.missing_required
        ]

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "packages": [p.to_json() for p in self.packages]}

    def table(self) -> str:
        return "".join(_table(self))

    def markdown(self) -> str:
        return "".join(_markdown(self))


def counts(framework: FrameworkResult) -> str:
    return ", ".join(f"{framework.count(s)} {s.value}" for s in _ORDER)


def _title(framework: FrameworkResult) -> str:
    return f"{framework.framework.title} ({framework.framework.version})"


def _why(item: ItemResult) -> str:
    return item.reason if item.status is not Status.MET else ""


def _table(report: CoverageReport) -> Iterator[str]:
    if not report.packages:
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
    if not report.packages:
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
