"""Rows as a plain-text table for the terminal, and as CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

WIDEST = 48  # characters of a column before its cells are cut short with an ellipsis


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell (at most ``WIDEST``); runs of white space in a cell
    become one space, so that every row is one line."""
    lines = [list(header), *([" ".join(cell.split()) for cell in row] for row in rows)]
    widths = [min(max(len(line[i]) for line in lines), WIDEST) for i in range(len(header))]
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


def _fit(cell: str, width: int) -> str:
    return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "…"
