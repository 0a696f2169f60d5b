"""cohort_block: the numbers of a dataset's cohort block, measured from a table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import UsageError
from ledger.measure.cohort import cohort_block
from ledger.records.dataset import Cohort

# Eight encounters of six patients. Known by hand:
#   ages 17.6 34 35.5 52.2 64 70 80.4 (one NA) -> min 17, max 81, median 52.2
#   sex F 4, M 3, missing 1; site A 3, B 3, C 1, missing 1 (a blank of spaces)
#   sepsis positive in rows 2 and 4 -> 2 events, prevalence 0.25
#   missing: age 1, sex 1, site 1, lactate 3 (empty, NA, null)
CSV = (
    "encounter,patient,age,sex,site,lactate,sepsis\n"
    "e1,p1,34,F,A,1.2,0\n"
    "e2,p1,35.5,F,A,,1\n"
    "e3,p2,70,M,B,2.5,0\n"
    "e4,p3,NA,M,B,3.1,1\n"
    "e5,p4,80.4,F,  ,0.9,0\n"
    "e6,p5,52.2,,A,NA,0\n"
    "e7,p5,64,M,C,1.8,0\n"
    "e8,p6,17.6,F,B,null,0\n"
)

COLUMNS: dict[str, list[Any]] = {
    "encounter": ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"],
    "patient": ["p1", "p1", "p2", "p3", "p4", "p5", "p5", "p6"],
    "age": [34, 35.5, 70, None, 80.4, 52.2, 64, 17.6],
    "sex": ["F", "F", "M", "M", "F", None, "M", "F"],
    "site": ["A", "A", "B", "B", "  ", "A", "C", "B"],
    "lactate": [1.2, None, 2.5, 3.1, 0.9, "NA", 1.8, None],
    "sepsis": [0, 1, 0, 1, 0, 0, 0, 0],
}

ARGS: dict[str, Any] = {
    "unit": "encounter",
    "outcome": "sepsis",
    "outcome_definition": "Sepsis-3 within 48 h of triage",
    "time_horizon": "48 hours",
    "assessment": {"not_applicable": "derived from coded diagnoses"},
    "age": "age",
    "sex": "sex",
    "subgroups": ["site"],
    "subject": "patient",
}

# For tables that have only age, sex and the outcome.
BARE: dict[str, Any] = {**ARGS, "subgroups": (), "subject": None}

EXPECTED: dict[str, Any] = {
    "unit": "encounter",
    "size": 8,
    "subjects": 6,
    "age": {"min": 17, "max": 81, "median": 52.2, "unit": "years"},
    "sex": [
        {"category": "F", "n": 4},
        {"category": "M", "n": 3},
        {"category": "missing", "n": 1},
    ],
    "subgroups": [
        {
            "attribute": "site",
            "counts": [
                {"category": "A", "n": 3},
                {"category": "B", "n": 3},
                {"category": "C", "n": 1},
                {"category": "missing", "n": 1},
            ],
        }
    ],
    "outcome": {
        "definition": "Sepsis-3 within 48 h of triage",
        "events": 2,
        "prevalence": 0.25,
        "time_horizon": "48 hours",
        "assessment": {"not_applicable": "derived from coded diagnoses"},
    },
    "features": ["encounter", "age", "sex", "site", "lactate"],
    "missing_data": (
        "Missing values per column: age 1 of 8 (12.5 %), sex 1 of 8 (12.5 %), "
        "site 1 of 8 (12.5 %), lactate 3 of 8 (37.5 %); every other column is complete."
    ),
}


def _csv(tmp_path: Path, text: str = CSV, name: str = "cohort.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _usage_error(call: Callable[[], object]) -> str:
    with pytest.raises(UsageError) as caught:
        call()
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    return message


def test_csv_gives_the_block_computed_by_hand(tmp_path: Path) -> None:
    block = cohort_block(_csv(tmp_path), **ARGS)
    assert block == EXPECTED
    assert list(block) == list(EXPECTED)
    assert type(block["age"]["median"]) is float
    assert type(block["outcome"]["prevalence"]) is float
    Cohort.model_validate(block)


def test_same_input_gives_identical_output(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    first = json.dumps(cohort_block(path, **ARGS))
    assert json.dumps(cohort_block(str(path), **ARGS)) == first


def test_bom_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.replace("e3,", "\ne3,").encode() + b"\n\n")
    assert cohort_block(path, **ARGS) == EXPECTED


def test_dataframe_gives_the_same_block(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    nan = float("nan")
    frame = pd.DataFrame(
        {
            **COLUMNS,
            "age": [34, 35.5, 70, nan, 80.4, 52.2, 64, 17.6],
            "site": ["A", "A", "B", "B", pd.NA, "A", "C", "B"],
            "lactate": [1.2, nan, 2.5, 3.1, 0.9, nan, 1.8, nan],
        }
    )
    frame["sex"] = frame["sex"].astype("string")  # None becomes pd.NA
    assert frame["sex"].tolist()[5] is pd.NA
    block = cohort_block(frame, **ARGS)
    assert block == EXPECTED
    assert json.dumps(block) == json.dumps(cohort_block(_csv(tmp_path), **ARGS))


def test_dataframe_integer_codes_with_gaps_match_csv(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    # A gap turns a pandas integer column into floats; the categories must still read 1 and 2.
    frame = pd.DataFrame({"age": [40, 50, 60], "sex": [1, 2, None], "y": [True, False, True]})
    args = {**BARE, "outcome": "y"}
    path = _csv(tmp_path, "age,sex,y\n40,1,true\n50,2,FALSE\n60,,TRUE\n")
    block = cohort_block(frame, **args)
    assert block == cohort_block(path, **args)
    assert block["sex"] == [
        {"category": "1", "n": 1},
        {"category": "2", "n": 1},
        {"category": "missing", "n": 1},
    ]
    assert block["outcome"]["events"] == 2
    assert block["outcome"]["prevalence"] == 0.6667


def test_mapping_of_columns_and_list_of_rows() -> None:
    assert cohort_block(COLUMNS, **ARGS) == EXPECTED
    rows = [
        dict(zip(COLUMNS, values, strict=True)) for values in zip(*COLUMNS.values(), strict=True)
    ]
    del rows[1]["lactate"]  # a key a row lacks is a missing value
    assert cohort_block(rows, **ARGS) == EXPECTED


def test_numpy_columns_in_a_mapping() -> None:
    np = pytest.importorskip("numpy")
    ages = np.array([34, 35.5, 70, np.nan, 80.4, 52.2, 64, 17.6])
    columns = {**COLUMNS, "sepsis": np.array(COLUMNS["sepsis"]), "age": ages}
    assert cohort_block(columns, **ARGS) == EXPECTED
    # numpy scalars in a plain list count as the Python scalars tolist() would give.
    columns["sepsis"] = [np.bool_(value) for value in COLUMNS["sepsis"]]
    columns["site"] = [np.str_(value) for value in COLUMNS["site"]]
    assert cohort_block(columns, **ARGS) == EXPECTED


def test_age_bands_in_the_order_given(tmp_path: Path) -> None:
    bands = [("18-64", 18, 64), ("65+", 65, 200), ("0-17", 0, 17)]
    block = cohort_block(_csv(tmp_path), **ARGS, age_bands=bands)
    # 17.6 lies between 0-17 and 18-64 and NA has no age: both are "missing"; 0-17 is empty.
    assert block["subgroups"][-1] == {
        "attribute": "age band",
        "counts": [
            {"category": "18-64", "n": 4},
            {"category": "65+", "n": 2},
            {"category": "missing", "n": 2},
        ],
    }
    Cohort.model_validate(block)


def test_subjects_and_features_and_no_subgroups(tmp_path: Path) -> None:
    args = {**ARGS, "subject": None, "subgroups": (), "age_unit": "months"}
    block = cohort_block(_csv(tmp_path), **args, features=["age", "lactate"])
    assert "subjects" not in block
    assert block["features"] == ["age", "lactate"]
    assert block["subgroups"] == {"not_applicable": "no subgroup columns were named"}
    assert block["age"]["unit"] == "months"
    Cohort.model_validate(block)
    block = cohort_block(_csv(tmp_path), **args)
    assert block["features"] == ["encounter", "patient", "age", "sex", "site", "lactate"]


def test_complete_table_and_table_without_predictors(tmp_path: Path) -> None:
    path = _csv(tmp_path, "age,sex,y\n40,F,1\n50,M,0\n61,F,0\n")
    args = {**BARE, "outcome": "y"}
    block = cohort_block(path, **args, features=[])
    assert block["missing_data"] == "No column has missing values."
    assert block["features"] == {"not_applicable": "no predictor columns were named"}
    assert block["age"] == {"min": 40, "max": 61, "median": 50.0, "unit": "years"}
    assert block["outcome"]["prevalence"] == 0.3333
    Cohort.model_validate(block)
    only = cohort_block({"a": [1], "y": [1]}, **{**args, "age": "a", "sex": "a"})
    assert only["features"] == ["a"]


def test_missing_sentence_when_every_column_has_gaps() -> None:
    table = {"age": [30, None] + [40] * 1998, "sex": ["F"] * 1999 + [None], "y": [0] * 2000}
    block = cohort_block(table, **{**BARE, "outcome": "y"})
    assert block["missing_data"] == (
        "Missing values per column: age 1 of 2000 (0.1 %), sex 1 of 2000 (0.1 %); "
        "every other column is complete."
    )
    table["y"] = [0] * 20000
    table["age"] = [None] + [40] * 19999
    table["sex"] = [None] * 19999 + ["F"]
    block = cohort_block(table, **{**BARE, "outcome": "y"})
    assert block["missing_data"] == (
        "Missing values per column: age 1 of 20000 (<0.1 %), sex 19999 of 20000 (>99.9 %); "
        "every other column is complete."
    )


def test_pandas_is_not_imported_by_the_module() -> None:
    code = "import sys, ledger.measure.cohort; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# Errors: one line, exit code 2, naming the source and what to fix.


def test_unknown_column(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    message = _usage_error(lambda: cohort_block(path, **{**ARGS, "outcome": "shock"}))
    assert str(path) in message and "'shock'" in message
    assert "encounter, patient, age" in message
    message = _usage_error(lambda: cohort_block(COLUMNS, **{**ARGS, "subgroups": ["ward"]}))
    assert message.startswith("the table: no column 'ward'")


def test_empty_tables(tmp_path: Path) -> None:
    header_only = _csv(tmp_path, "age,sex,sepsis\n")
    assert "no rows" in _usage_error(lambda: cohort_block(header_only, **ARGS))
    empty = _csv(tmp_path, "", name="empty.csv")
    assert str(empty) in _usage_error(lambda: cohort_block(empty, **ARGS))
    assert "no rows" in _usage_error(lambda: cohort_block({}, **ARGS))
    assert "no rows" in _usage_error(lambda: cohort_block([], **ARGS))


def test_ragged_columns() -> None:
    columns = {**COLUMNS, "lactate": [1.0, 2.0]}
    message = _usage_error(lambda: cohort_block(columns, **ARGS))
    assert "different lengths" in message and "lactate 2" in message


def test_csv_row_with_wrong_number_of_cells(tmp_path: Path) -> None:
    path = _csv(tmp_path, CSV.replace("e3,p2,70,M,B,2.5,0", "e3,p2,70,M,B,2,5,0"))
    message = _usage_error(lambda: cohort_block(path, **ARGS))
    assert str(path) in message and "line 4 has 8 cells but the header has 7" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    assert f"{path}: no such file" in _usage_error(lambda: cohort_block(path, **ARGS))
    assert str(tmp_path) in _usage_error(lambda: cohort_block(tmp_path, **ARGS))


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("age,sex,sepsis\n40,F,0\n50,Fé,1\n".encode("latin-1"))
    message = _usage_error(lambda: cohort_block(path, **ARGS))
    assert str(path) in message and "not UTF-8" in message and "0xe9 at offset 26" in message


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    twice = _csv(tmp_path, "age,sex,age,sepsis\n1,F,2,0\n")
    assert "'age' appears twice" in _usage_error(lambda: cohort_block(twice, **ARGS))
    blank = _csv(tmp_path, "age,,sepsis\n1,F,0\n", name="blank.csv")
    assert "header cell 2 is empty" in _usage_error(lambda: cohort_block(blank, **ARGS))


def test_outcome_that_is_not_binary(tmp_path: Path) -> None:
    # The quoted note spans two lines, so the bad row starts on line 5, not line 4.
    text = 'age,sex,note,sepsis\n40,F,ok,1\n50,M,"two\nlines",0\n60,F,x,maybe\n'
    path = _csv(tmp_path, text)
    message = _usage_error(lambda: cohort_block(path, **BARE))
    assert str(path) in message and "'sepsis' line 5 has 'maybe'" in message
    columns = {"age": [1, 2], "sex": ["F", "M"], "sepsis": [1, 2]}
    message = _usage_error(lambda: cohort_block(columns, **BARE))
    assert message.startswith("the table: column 'sepsis' row 2 has 2, not a binary outcome")


def test_missing_outcome_values(tmp_path: Path) -> None:
    path = _csv(tmp_path, CSV.replace("M,C,1.8,0", "M,C,1.8,").replace("F,B,null,0", "F,B,1,NA"))
    message = _usage_error(lambda: cohort_block(path, **ARGS))
    assert "'sepsis'" in message
    assert "a cohort's prevalence needs every outcome; 2 rows have none" in message
    assert "the first at line 8" in message


def test_age_that_is_not_a_number(tmp_path: Path) -> None:
    path = _csv(tmp_path, CSV.replace("e3,p2,70", "e3,p2,seventy"))
    message = _usage_error(lambda: cohort_block(path, **ARGS))
    assert "column 'age' line 4 has 'seventy', not an age" in message
    columns = {**COLUMNS, "age": [True] * 8}
    assert "not an age" in _usage_error(lambda: cohort_block(columns, **ARGS))
    columns = {**COLUMNS, "age": [None] * 8}
    assert "has no ages" in _usage_error(lambda: cohort_block(columns, **ARGS))


def test_age_and_sex_are_required() -> None:
    message = _usage_error(lambda: cohort_block(COLUMNS, **{**ARGS, "age": None}))
    assert "age=" in message
    message = _usage_error(lambda: cohort_block(COLUMNS, **{**ARGS, "sex": None}))
    assert "sex=" in message


def test_bad_arguments() -> None:
    message = _usage_error(lambda: cohort_block(COLUMNS, **{**ARGS, "unit": "person"}))
    assert "'person'" in message and "patient, encounter, admission" in message
    message = _usage_error(lambda: cohort_block(COLUMNS, **ARGS, age_unit="weeks"))
    assert "'weeks'" in message
    message = _usage_error(lambda: cohort_block(COLUMNS, **{**ARGS, "time_horizon": ""}))
    assert "time_horizon" in message
    message = _usage_error(lambda: cohort_block(COLUMNS, **ARGS, features=["sepsis"]))
    assert "'sepsis'" in message and "feature" in message
    message = _usage_error(lambda: cohort_block(42, **ARGS))
    assert "cannot read a int" in message


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        ([("a", 0, 50), ("b", 50, 90)], "overlap"),
        ([("a", 10, 5)], "low <= high"),
        ([("missing", 0, 5)], "reserved"),
        ([("a", 0, 5), ("a", 6, 9)], "given twice"),
    ],
)
def test_bad_age_bands(bands: list[tuple[str, float, float]], expected: str) -> None:
    assert expected in _usage_error(lambda: cohort_block(COLUMNS, **ARGS, age_bands=bands))


def test_line_breaks_in_names_stay_on_one_line() -> None:
    columns = {"age\nx": [1], "sex": ["F"], "sepsis": [1]}
    message = _usage_error(lambda: cohort_block(columns, **{**ARGS, "age": "age\nx\ny"}))
    assert "no column" in message


def test_prevalence_is_rounded() -> None:
    columns = {"age": list(range(7)), "sex": ["F"] * 7, "y": [1, 0, 0, 0, 0, 0, 0]}
    block = cohort_block(columns, **{**BARE, "outcome": "y"})
    assert block["outcome"]["prevalence"] == 0.1429
    assert math.isclose(block["age"]["median"], 3.0)
