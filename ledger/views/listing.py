"""``ledger list``: the records at a commit, one row each, as a table, JSON or CSV.

By default only current versions (no later version supersedes them). A row has the identity,
title, who recorded the version and when (the commit that recorded its content), and for an
evaluation its overall metrics and the outcome its criteria give, computed from the metrics
(``checks.consistency.judge``; a non-inferiority criterion against the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.query.columns import kept_columns, kept_outcomes, overall_metrics
from ledger.records.identity import RecordId
from ledger.views.table import csv_text, text_table

if TYPE_CHECKING:
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class Row:
    record: RecordId
    current: bool
    title: str
    author: str
    date: str
    metrics: dict[str, float]
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.record),
            "kind": self.record.kind,
            "name": self.record.name,
            "version": self.record.version,
            "current": self.current,
            "title": self.title,
            "author": self.author,
            "date": self.date,
            "metrics": self.metrics,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class RecordList:
    commit: str
    rows: list[Row]

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "records": [row.to_json() for row in self.rows]}

    def table(self) -> str:
        return text_table(
            _HEADER,
            [
                (
                    str(r.record) + ("" if r.current else " (superseded)"),
                    r.title,
                    r.author,
                    r.date[:10],
                    _metrics_text(r.metrics),
                    r.outcome,
                )
                for r in self.rows
            ],
        )

    def csv(self) -> str:
        return csv_text(
            _CSV_HEADER,
            [
                [
                    str(r.record),
                    r.record.kind,
                    r.record.name,
                    r.record.version,
                    str(r.current).lower(),
                    r.title,
                    r.author,
                    r.date,
                    _metrics_text(r.metrics),
                    r.outcome,
                ]
                for r in self.rows
            ],
        )


_HEADER = ("id", "title", "author", "date", "metrics", "outcome")
_CSV_HEADER = (
    *("id", "kind", "name", "version", "current", "title", "author", "date"),
    *("metrics", "outcome"),
)


def list_records(
    state: LedgerState, kind: str | None = None, *, all_versions: bool = False
) -> RecordList:
    superseded = state.records.superseded
    files = [
        f
        for f in state.records.valid()
        if (kind is None or f.facts.kind == kind)
        and (all_versions or f.record_id not in superseded)
    ]
    evaluations = [f for f in files if f.facts.kind == "evaluation"]
    # Kept by blob id with ledger query's columns: a list reads only records it has not seen.
    metrics = kept_columns(state, {"overall metrics": overall_metrics}, evaluations)
    outcomes = kept_outcomes(state, evaluations)
    rows = []
    for file in files:
        record = file.record_id
        assert record is not None  # valid() holds records that claim an identity
        commit = state.introduced(file)
        rows.append(
            Row(
                record,
                record not in superseded,
                file.facts.title,
                f"{commit.author.name} <{commit.author.email}>" if commit else "",
                commit.author_date if commit else "",
                dict(metrics["overall metrics"].get(file.blob, ())),
                outcomes.get(file.blob, ""),
            )
        )
    rows.sort(key=lambda r: (r.record.kind, r.record.name, r.record.version_key))
    return RecordList(state.commit, rows)


def _metrics_text(metrics: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.3f}" for name, value in metrics.items())
