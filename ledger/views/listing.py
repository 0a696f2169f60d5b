"""``ledger list``: the records at a commit, one row each, as a table, JSON or CSV.

By default only current versions (no later version supersedes them). A row has the identity,
title, who recorded the version and when (the commit that recorded its content), and for an
evaluation its overall metrics and the outcome its criteria give, computed from the metrics
(``checks.consistency.judge``; a non-inferiority criterion against the baseline).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.records.identity import RecordId
from ledger.views.table import csv_text, text_table

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState

READ_BATCH = 512  # evaluations whose contents are read at a time


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
    judged = dict(_judged(state, evaluations))
    rows = []
    for file in files:
        record = file.record_id
        assert record is not None  # valid() holds records that claim an identity
        commit = state.introduced(file)
        metrics, outcome = judged.get(file.relpath, ({}, ""))
        rows.append(
            Row(
                record,
                record not in superseded,
                file.facts.title,
                f"{commit.author.name} <{commit.author.email}>" if commit else "",
                commit.author_date if commit else "",
                metrics,
                outcome,
            )
        )
    rows.sort(key=lambda r: (r.record.kind, r.record.name, r.record.version_key))
    return RecordList(state.commit, rows)


def _judged(
    state: LedgerState, evaluations: list[RecordFile]
) -> Iterator[tuple[str, tuple[dict[str, float], str]]]:
    """Each evaluation's overall metrics and computed outcome, a batch of contents at a time."""
    for start in range(0, len(evaluations), READ_BATCH):
        batch = evaluations[start : start + READ_BATCH]
        for path, content in state.contents(batch).items():
            metrics = {
                str(m["name"]): float(m["value"])
                for m in content.get("metrics") or []
                if isinstance(m, dict) and isinstance(m.get("value"), int | float)
            }
            yield path, (metrics, outcome(state, content))


def outcome(state: LedgerState, content: dict[str, Any]) -> str:
    """What an evaluation's acceptance criteria give, computed from its metrics (and its
    baseline's): pass, fail, "no criteria", "cannot be judged", or "" for a record that is
    not a valid evaluation."""
    from ledger.checks.consistency import outcome_of
    from ledger.signoffs.stages import judge_evaluation

    judged = judge_evaluation(state, content)
    if judged is None:
        return ""
    if not judged:
        return "no criteria"
    return outcome_of(judged) or "cannot be judged"


def _metrics_text(metrics: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.3f}" for name, value in metrics.items())
