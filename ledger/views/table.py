"""Rows as a plain-text table for the terminal, and as CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

WIDEST = 48  # characters of a column before its cells are cut short with an ellipsis


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], first: int = WIDEST) -> str:
    """Columns padded to their widest cell (at most ``WIDEST``, the first column at most
    ``first``); runs of white space in a cell become one space, so every row is one line.
    A cell may start with spaces to indent it under a heading row."""
    lines = [list(header), *([_one_line(cell) for cell in row] for row in rows)]
    widths = [
        min(max(len(line[i]) for line in lines), first if i == 0 else WIDEST)
        for i in range(len(header))
    ]
    return "".join(
        "  ".join(_fit(cell, width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in lines
    )


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _one_line(cell: str) -> str:
    indent = cell[: len(cell) - len(cell.lstrip(" "))]
    return indent + " ".join(cell.split())


def _fit(cell: str, width: int) -> str:
    return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "…"
