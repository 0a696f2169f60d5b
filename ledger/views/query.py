"""``ledger query``'s result: the chosen columns of the record versions a filter selects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger.views.table import csv_text, text_table


@dataclass(frozen=True)
class QueryResult:
    commit: str
    filter: str
    columns: list[str]
    #: One dict per record version, column -> value: None where the record has no value, a
    #: list where it has several (a model trained on two datasets).
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "filter": self.filter,
            "columns": self.columns,
            "rows": self.rows,
        }

    def table(self) -> str:
        return text_table(self.columns, self._cells())

    def csv(self) -> str:
        return csv_text(self.columns, self._cells())

    def _cells(self) -> list[list[str]]:
        return [[_cell(row[c]) for c in self.columns] for row in self.rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return json.dumps(value)
    return str(value)
