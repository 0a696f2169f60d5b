"""A dataset record's ``cohort`` block, computed from the table itself.

``cohort_block`` reads a CSV file, a pandas DataFrame, a mapping of column name to values, or a
list of row mappings, and returns the aggregates the ``Cohort`` model asks for. Only aggregates
leave this module: counts, an age range, a prevalence, column names and category labels. No
other cell value is ever returned.

Choices, so that the numbers are the same however the table arrives:

* Missing values. A cell is missing when it is ``None``, a float NaN, pandas' ``NA`` or ``NaT``,
  or a string that is empty after stripping whitespace or is one of ``NA``, ``N/A``, ``NaN``,
  ``nan``, ``null``, ``NULL``, ``None`` (the tokens pandas and R write for missing values). The
  tokens apply to every input, not only CSV, so a table written to CSV and read back measures
  the same.
* CSV. Read with the ``csv`` module as UTF-8 (a byte-order mark is tolerated); every cell is a
  string. Blank lines are skipped. Errors name the physical line, counting the header as line 1;
  other inputs name the 1-based data row.
* Categories (sex, subgroups) are compared as stripped strings, so ``1`` and ``"1"`` agree; a
  float that is a whole number counts as the integer (a pandas integer column with a gap in it
  holds ``1.0``, its CSV holds ``1``). Categories are sorted as strings and missing values are
  counted under the category ``missing``, listed last, so every row is accounted for.
* Ages: the range is widened to whole units (floor of the youngest, ceiling of the oldest), as
  the schema counts in whole units and a range must contain every age; the median is reported
  as computed. Age bands are inclusive at both ends, in the order given; an age in no band is
  counted as ``missing``, since the band it belongs to was not stated.
* Prevalence is events / rows rounded to 4 decimals; the missing-data percentages have one
  decimal (``<0.1 %`` and ``>99.9 %`` rather than a rounded 0.0 or 100.0 that would misstate a
  count).
* The outcome must be complete: a prevalence over the rows that happen to have one would
  describe a different cohort.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from ledger.errors import UsageError
from ledger.records.dataset import AgeRange, Cohort

__all__ = ["MISSING_CATEGORY", "MISSING_TOKENS", "category", "cohort_block"]

MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
MISSING_CATEGORY = "missing"

# Read from the models so the allowed values cannot drift from the schema.
_UNITS: tuple[str, ...] = get_args(Cohort.model_fields["unit"].annotation)
_AGE_UNITS: tuple[str, ...] = get_args(AgeRange.model_fields["unit"].annotation)

_TRUE = frozenset({"1", "1.0", "true"})
_FALSE = frozenset({"0", "0.0", "false"})
# Enough names to recognise the right one; a wide table would make the message unreadable.
_LISTED_COLUMNS = 20
_SHOWN_VALUE = 40


@dataclass(frozen=True)
class _Table:
    source: str
    columns: dict[str, list[object]]  # every list has one entry per row; None is missing
    size: int
    lines: list[int] | None  # physical line of each row, for CSV

    def where(self, row: int) -> str:
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"row {row + 1}"

    def column(self, name: str, role: str) -> list[object]:
        if name not in self.columns:
            names = list(self.columns)
            listed = ", ".join(names[:_LISTED_COLUMNS])
            if len(names) > _LISTED_COLUMNS:
                listed += f", ... ({len(names) - _LISTED_COLUMNS} more)"
            raise _fail(
                f"{self.source}: no column {name!r} (named as the {role}); the columns are {listed}"
            )
        return self.columns[name]


def cohort_block(
    data: object,
    *,
    unit: str,
    outcome: str,
    outcome_definition: str,
    time_horizon: str | Mapping[str, str],
    assessment: str | Mapping[str, str],
    age: str | None = None,
    sex: str | None = None,
    subgroups: Sequence[str] = (),
    age_bands: Sequence[tuple[str, float, float]] = (),
    subject: str | None = None,
    features: Sequence[str] | None = None,
    age_unit: str = "years",
) -> dict[str, Any]:
    """The ``cohort`` block of a dataset record, measured from ``data``.

    ``data`` is a CSV path, a pandas DataFrame, a mapping of column name to values, or a
    sequence of row mappings. Raises ``UsageError`` with a one-line message naming the source
    and column when the table or the arguments cannot give a valid block.
    """
    source = _source_name(data)
    if unit not in _UNITS:
        raise _fail(f"{source}: unit {unit!r} is not a cohort unit; use one of {', '.join(_UNITS)}")
    if age_unit not in _AGE_UNITS:
        raise _fail(
            f"{source}: age_unit {age_unit!r} is not an age unit; use one of "
            f"{', '.join(_AGE_UNITS)}"
        )
    if age is None:
        raise _fail(f"{source}: the cohort needs an age range; name the age column with age=...")
    if sex is None:
        raise _fail(
            f"{source}: the cohort needs the sex distribution; name the column with sex=..."
        )
    definition = _text(source, "outcome_definition", outcome_definition, allow_reason=False)
    horizon = _text(source, "time_horizon", time_horizon, allow_reason=True)
    ascertained = _text(source, "assessment", assessment, allow_reason=True)
    if isinstance(subgroups, str) or (features is not None and isinstance(features, str)):
        raise _fail(f"{source}: subgroups and features take a list of column names, not a string")
    if len(set(subgroups)) != len(subgroups):
        raise _fail(f"{source}: subgroups names a column twice; name each subgroup column once")
    bands = _check_bands(source, age_bands)

    table = _read(data, source)
    outcome_values = table.column(outcome, "outcome")
    age_values = table.column(age, "age")
    sex_values = table.column(sex, "sex")
    subgroup_values = {name: table.column(name, "subgroup") for name in subgroups}
    feature_names = _features(table, features, outcome, subject)

    block: dict[str, Any] = {"unit": unit, "size": table.size}
    if subject is not None:
        block["subjects"] = _subjects(table, subject)
    age_list = _age_list(table, age, age_values)
    ages = [value for value in age_list if value is not None]
    if not ages:
        raise _fail(
            f"{source}: column {age!r} has no ages; every row is missing one, so there is no "
            "age range to report"
        )
    block["age"] = {
        "min": math.floor(min(ages)),
        "max": math.ceil(max(ages)),
        "median": float(statistics.median(ages)),
        "unit": age_unit,
    }
    block["sex"] = _counts(sex_values)
    distributions = [
        {"attribute": name, "counts": _counts(values)} for name, values in subgroup_values.items()
    ]
    if bands:
        distributions.append({"attribute": "age band", "counts": _band_counts(age_list, bands)})
    block["subgroups"] = distributions or {"not_applicable": "no subgroup columns were named"}
    events = _events(table, outcome, outcome_values)
    block["outcome"] = {
        "definition": definition,
        "events": events,
        "prevalence": round(events / table.size, 4),
        "time_horizon": horizon,
        "assessment": ascertained,
    }
    if feature_names:
        block["features"] = feature_names
    elif features is None:
        block["features"] = {"not_applicable": "the table has no predictor columns"}
    else:
        block["features"] = {"not_applicable": "no predictor columns were named"}
    block["missing_data"] = _missing_sentence(table)
    return block


def _fail(message: str) -> UsageError:
    # A column name or path may hold a line break; the CLI prints one line per error.
    return UsageError(" ".join(message.splitlines()))


def _source_name(data: object) -> str:
    if isinstance(data, str | os.PathLike):
        return os.fsdecode(data)
    if _is_dataframe(data):
        return "the DataFrame"
    return "the table"


def _is_dataframe(data: object) -> bool:
    return (
        type(data).__module__.startswith("pandas")
        and hasattr(data, "columns")
        and hasattr(data, "to_dict")
    )


def _text(source: str, name: str, value: object, *, allow_reason: bool) -> str | dict[str, str]:
    if isinstance(value, str) and value.strip():
        return value
    if allow_reason and isinstance(value, Mapping) and set(value) == {"not_applicable"}:
        reason = value["not_applicable"]
        if isinstance(reason, str) and reason.strip():
            return {"not_applicable": reason}
    wanted = "a non-empty string"
    if allow_reason:
        wanted += ' or {"not_applicable": "<reason>"}'
    raise _fail(f"{source}: {name} must be {wanted}; got {_shown(value)}")


def _check_bands(
    source: str, bands: Sequence[tuple[str, float, float]]
) -> list[tuple[str, float, float]]:
    checked: list[tuple[str, float, float]] = []
    for band in bands:
        if not (isinstance(band, tuple | list) and len(band) == 3):
            raise _fail(f"{source}: age band {_shown(band)} is not (label, low, high)")
        label, low, high = band
        if not (isinstance(label, str) and label.strip()):
            raise _fail(f"{source}: age band {_shown(band)} needs a non-empty label")
        if label.strip() == MISSING_CATEGORY:
            raise _fail(
                f"{source}: age band label {MISSING_CATEGORY!r} is reserved for ages in no band; "
                "choose another label"
            )
        start, end = _real(low), _real(high)
        if start is None or end is None or start > end:
            raise _fail(
                f"{source}: age band {label!r} needs numbers low <= high; got {_shown(band)}"
            )
        for other, other_low, other_high in checked:
            if other == label:
                raise _fail(f"{source}: age band {label!r} is given twice; label each band once")
            if start <= other_high and other_low <= end:
                raise _fail(
                    f"{source}: age bands {other!r} and {label!r} overlap, so an age would be "
                    "counted twice; make the bands disjoint"
                )
        checked.append((label, start, end))
    return checked


def _read(data: object, source: str) -> _Table:
    if isinstance(data, str | os.PathLike):
        return _read_csv(Path(source), source)
    if _is_dataframe(data):
        frame: Any = data
        columns: dict[str, list[object]] = {}
        for key in list(frame.columns):
            name = str(key)
            if name in columns:
                raise _fail(f"{source}: column {name!r} appears twice; give each column one name")
            columns[name] = list(frame[key].tolist())
        return _table(source, columns, None)
    if isinstance(data, Mapping):
        return _table(source, _mapping_columns(data, source), None)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes | bytearray):
        return _table(source, _row_columns(data, source), None)
    raise _fail(
        f"{source}: cannot read a {type(data).__name__}; give a CSV path, a pandas DataFrame, "
        "a mapping of column name to values, or a list of row mappings"
    )


def _read_csv(path: Path, source: str) -> _Table:
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header: list[str] | None = None
            while True:
                start = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if not row:
                    continue
                if header is None:
                    header = row
                elif len(row) != len(header):
                    raise _fail(
                        f"{source}: line {start} has {len(row)} cells but the header has "
                        f"{len(header)}; quote cells that contain commas and give every row "
                        "one cell per column"
                    )
                else:
                    rows.append(row)
                    lines.append(start)
    except FileNotFoundError:
        raise _fail(f"{source}: no such file; give the path of the cohort table (CSV)") from None
    except UnicodeDecodeError:
        raise _fail(
            f"{source}: not UTF-8 text ({_bad_byte(path)}); save the table as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise _fail(f"{source}: not a readable CSV file ({exc}); save it as plain CSV") from None
    except OSError as exc:
        raise _fail(
            f"{source}: cannot read the file ({exc.strerror or exc}); check the path and its "
            "permissions"
        ) from None
    if header is None:
        raise _fail(f"{source}: the file is empty; the cohort table needs a header and rows")
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise _fail(f"{source}: header cell {position} is empty; name every column")
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise _fail(f"{source}: column {twice!r} appears twice; give each column one name")
    columns: dict[str, list[object]] = {
        name: [row[index] for row in rows] for index, name in enumerate(header)
    }
    return _table(source, columns, lines)


def _bad_byte(path: Path) -> str:
    # The text reader decodes in chunks, so its error offset is not the file's; decode again.
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
    except OSError:
        pass
    return "an invalid byte"


def _mapping_columns(data: Mapping[Any, Any], source: str) -> dict[str, list[object]]:
    columns: dict[str, list[object]] = {}
    for key, values in data.items():
        name = str(key)
        if name in columns:
            raise _fail(f"{source}: column {name!r} appears twice; give each column one name")
        if hasattr(values, "tolist"):
            values = values.tolist()
        if not isinstance(values, Sequence) or isinstance(values, str | bytes | bytearray):
            raise _fail(
                f"{source}: column {name!r} is a {type(values).__name__}, not a list of values; "
                "give each column as a list"
            )
        columns[name] = list(values)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        described = ", ".join(f"{name} {len(values)}" for name, values in columns.items())
        raise _fail(
            f"{source}: the columns have different lengths ({described}); give every column "
            "one value per row"
        )
    return columns


def _row_columns(rows: Sequence[Any], source: str) -> dict[str, list[object]]:
    names: dict[str, None] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise _fail(
                f"{source}: row {number} is a {type(row).__name__}, not a mapping of column to "
                "value; give rows as dicts"
            )
        names.update(dict.fromkeys(str(key) for key in row))
    # A key a row lacks is a missing value, as pandas.DataFrame(rows) reads it.
    by_name = [{str(key): value for key, value in row.items()} for row in rows]
    return {name: [row.get(name) for row in by_name] for name in names}


def _table(source: str, raw: dict[str, list[object]], lines: list[int] | None) -> _Table:
    size = len(next(iter(raw.values()))) if raw else 0
    if size == 0:
        raise _fail(f"{source}: the table has no rows; a cohort needs at least one row")
    columns = {name: [_cell(value) for value in values] for name, values in raw.items()}
    return _Table(source, columns, size, lines)


def _cell(value: object) -> object:
    if _is_missing(value):
        return None
    # A numpy scalar in a plain list reads as the Python scalar its column's tolist() gives.
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        item: object = value.item()
        return item
    return value


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in MISSING_TOKENS
    if type(value).__name__ in {"NAType", "NaTType"}:
        return True
    try:
        # NaN is the one value unequal to itself, whichever library's float it is.
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _label(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def category(value: object) -> str:
    """The category a cell counts under, here and in ``ledger.measure.binary``'s subgroups:
    its text, or ``missing``."""
    return _label(_cell(value)) or MISSING_CATEGORY


def _counts(values: Sequence[object]) -> list[dict[str, Any]]:
    tally = Counter(_label(value) or MISSING_CATEGORY for value in values)
    missing = tally.pop(MISSING_CATEGORY, 0)
    counts = [{"category": category, "n": tally[category]} for category in sorted(tally)]
    if missing:
        counts.append({"category": MISSING_CATEGORY, "n": missing})
    return counts


def _real(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _age_list(table: _Table, name: str, values: Sequence[object]) -> list[float | None]:
    ages: list[float | None] = []
    for row, value in enumerate(values):
        if value is None:
            ages.append(None)
            continue
        number = _real(value)
        if number is None or number < 0:
            raise _fail(
                f"{table.source}: column {name!r} {table.where(row)} has {_shown(value)}, not an "
                "age; ages must be non-negative numbers (leave a cell empty when unknown)"
            )
        ages.append(number)
    return ages


def _band_counts(
    ages: Sequence[float | None], bands: Sequence[tuple[str, float, float]]
) -> list[dict[str, Any]]:
    tally: Counter[str] = Counter()
    for age in ages:
        band = None if age is None else next((b for b in bands if b[1] <= age <= b[2]), None)
        tally[MISSING_CATEGORY if band is None else band[0]] += 1
    counts = [{"category": label, "n": tally[label]} for label, _, _ in bands if tally[label]]
    if tally[MISSING_CATEGORY]:
        counts.append({"category": MISSING_CATEGORY, "n": tally[MISSING_CATEGORY]})
    return counts


def _events(table: _Table, name: str, values: Sequence[object]) -> int:
    absent = [row for row, value in enumerate(values) if value is None]
    if absent:
        raise _fail(
            f"{table.source}: column {name!r}: a cohort's prevalence needs every outcome; "
            f"{len(absent)} rows have none (the first at {table.where(absent[0])}); fill them in "
            "or leave those rows out of the table"
        )
    events = 0
    for row, value in enumerate(values):
        positive = _binary(value)
        if positive is None:
            raise _fail(
                f"{table.source}: column {name!r} {table.where(row)} has {_shown(value)}, not a "
                "binary outcome; code the outcome as 0/1 or true/false"
            )
        events += positive
    return events


def _binary(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return None


def _subjects(table: _Table, name: str) -> int:
    ids = {_label(value) for value in table.column(name, "subject")} - {None}
    if not ids:
        raise _fail(
            f"{table.source}: column {name!r} has no subject ids; name the column that "
            "identifies patients, or leave subject out"
        )
    return len(ids)


def _features(
    table: _Table, features: Sequence[str] | None, outcome: str, subject: str | None
) -> list[str]:
    if features is None:
        return [name for name in table.columns if name not in (outcome, subject)]
    for name in features:
        table.column(name, "feature")
    if outcome in features:
        raise _fail(
            f"{table.source}: the outcome column {outcome!r} is listed as a feature; a model "
            "must not be given its own label, so leave it out of features"
        )
    if len(set(features)) != len(features):
        raise _fail(f"{table.source}: features names a column twice; name each column once")
    return list(features)


def _missing_sentence(table: _Table) -> str:
    parts = []
    for name, values in table.columns.items():
        absent = sum(value is None for value in values)
        if absent:
            parts.append(f"{name} {absent} of {table.size} ({_percent(absent, table.size)} %)")
    if not parts:
        return "No column has missing values."
    sentence = "Missing values per column: " + ", ".join(parts)
    if len(parts) < len(table.columns):
        return sentence + "; every other column is complete."
    return sentence + "."


def _percent(part: int, whole: int) -> str:
    text = f"{100 * part / whole:.1f}"
    if text == "0.0":
        return "<0.1"
    if text == "100.0" and part < whole:
        return ">99.9"
    return text


def _shown(value: object) -> str:
    # repr keeps the message on one line; the cut keeps a stray blob from flooding it.
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."
