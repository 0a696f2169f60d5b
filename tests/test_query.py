"""ledger query: the filter language, what each field means, errors that point at the problem,
and values kept between runs that never hide a new commit."""

from __future__ import annotations

import csv
import io
import json
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.api import Ledger
from ledger.query.grammar import (
    And,
    Compare,
    FilterSyntaxError,
    Like,
    Member,
    Not,
    Or,
    parse_fields,
    parse_filter,
    parse_order,
)
from tests.conftest import git, run_ledger, supersede_evaluation

EVAL_10 = "evaluation:sepsis-risk-heldout@1.0"
EVAL_11 = "evaluation:sepsis-risk-heldout@1.1"


def _rows(repo: Path, *args: str) -> list[dict[str, Any]]:
    done = run_ledger("query", *args, "--format", "json", cwd=repo)
    assert done.code == 0, done.err
    rows: list[dict[str, Any]] = json.loads(done.out)["rows"]
    return rows


def _ids(repo: Path, *args: str) -> list[str]:
    return [row["id"] for row in _rows(repo, *args, "--all-versions")]


def _error(repo: Path, *args: str) -> str:
    done = run_ledger("query", *args, cwd=repo)
    assert done.code == 2, done.out
    assert done.out == "" and done.err.count("\n") == 1, done.err
    return done.err


# --- the language ----------------------------------------------------------------------------


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    tree = parse_filter("kind = 'a' or not kind = 'b' and name = 'c'")
    assert isinstance(tree, Or)
    left, right = tree.operands
    assert isinstance(left, Compare) and isinstance(right, And)
    assert isinstance(right.operands[0], Not)
    grouped = parse_filter("(kind = 'a' or kind = 'b') and name = 'c'")
    assert isinstance(grouped, And) and isinstance(grouped.operands[0], Or)


def test_keywords_are_case_insensitive_and_values_typed() -> None:
    tree = parse_filter(
        "metrics.auroc >= 0.8 AND Kind IN ('model', \"dataset\") OR title NOT ILIKE '%x%'"
    )
    assert isinstance(tree, Or)
    conjunction, like = tree.operands
    assert isinstance(conjunction, And) and isinstance(like, Like)
    compare, member = conjunction.operands
    assert isinstance(compare, Compare) and compare.value == 0.8 and compare.operator == ">="
    assert isinstance(member, Member) and member.values == ("model", "dataset")
    assert like.negated and like.case_insensitive and like.pattern == "%x%"
    flag = parse_filter("current = TRUE")
    assert isinstance(flag, Compare) and flag.value is True


def test_fields_take_selectors_backticks_and_escaped_strings() -> None:
    tree = parse_filter(r"metrics[age band=65+].`f1 score` = 'it\'s'")
    assert isinstance(tree, Compare)
    head, name = tree.field.segments
    assert head.selector == ("age band", "65+") and name.name == "f1 score"
    assert tree.value == "it's"
    quoted = parse_filter("metrics['sex'='F'].auroc > 1")
    assert isinstance(quoted, Compare) and quoted.field.segments[0].selector == ("sex", "F")
    assert [k.descending for k in parse_order("metrics.auroc desc, date, name ASC")] == [
        True,
        False,
        False,
    ]
    assert [f.text for f in parse_fields("id, metrics[sex=F].auroc")] == [
        "id",
        "metrics[sex=F].auroc",
    ]


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("metrics.auroc > and", 17, "expected a value"),
        ("kind = 'model' or", 18, "expected a field"),
        ("(kind = 'model'", 16, "expected ')' to close the '(' at column 1"),
        ("kind = 'model')", 15, "expected and, or or the end"),
        ("title = 'open", 9, "the string is not closed"),
        ("kind ! 'model'", 6, "write != for 'not equal'"),
        ("kind not = 'model'", 10, "expected in, like or ilike after 'not'"),
        ("kind in 'model'", 9, "expected '(' and a list of values"),
        ("metrics[sex].auroc > 1", 8, "[attribute=group]"),
        ("", 1, "the filter is empty"),
        ("kind = 'a' # comment", 12, "unexpected character '#'"),
    ],
)
def test_a_bad_filter_names_the_column_of_its_first_problem(
    text: str, column: int, says: str
) -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        parse_filter(text)
    assert raised.value.column + 1 == column
    assert f"column {column}: " in raised.value.message and says in raised.value.message


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list("ab.=<>!()'\"`[], -%_1 notandorinlike")), max_size=40))
def test_any_text_parses_or_fails_with_a_column(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.column <= len(text)


# --- what fields mean ------------------------------------------------------------------------


def test_metric_thresholds_and_the_model_by_name_version_or_reference(demo_repo: Path) -> None:
    both = [EVAL_10, EVAL_11]
    assert _ids(demo_repo, "metrics.auroc > 0.8 and model = 'sepsis-risk'") == both
    assert _ids(demo_repo, "model = 'sepsis-risk@1.1' and kind = 'evaluation'") == [EVAL_11]
    assert _ids(demo_repo, "evaluates = 'model:sepsis-risk@1.0'") == [EVAL_10]
    # A model's "model" is itself: everything about one model in one filter.
    assert _ids(demo_repo, "model = 'sepsis-risk'") == [
        *both,
        "model:sepsis-risk@1.0",
        "model:sepsis-risk@1.1",
    ]
    rows = _rows(demo_repo, "metrics.sensitivity > 0")
    assert [r["id"] for r in rows] == [EVAL_11]  # current versions unless --all-versions
    assert list(rows[0]) == ["id", "metrics.sensitivity", "title"]


def test_subgroup_metrics_interval_bounds_and_hyperparameters(demo_repo: Path) -> None:
    record = json.loads((demo_repo / "records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
    female = next(
        g for g in record["subgroup_metrics"] if (g["attribute"], g["group"]) == ("sex", "F")
    )
    sensitivity = next(m for m in female["metrics"] if m["name"] == "sensitivity")
    rows = _rows(
        demo_repo,
        "metrics[sex=F].sensitivity > 0",
        "--columns",
        "id,metrics[sex=F].sensitivity,metrics[sex=F].sensitivity.lower",
    )
    assert rows == [
        {
            "id": EVAL_11,
            "metrics[sex=F].sensitivity": sensitivity["value"],
            "metrics[sex=F].sensitivity.lower": sensitivity["ci"]["lower"],
        }
    ]
    model = json.loads((demo_repo / "records/model/sepsis-risk/1.1.json").read_text())
    epochs = model["hyperparameters"]["epochs"]
    # An evaluation's params are its model's hyperparameters.
    found = _rows(demo_repo, f"params.epochs = {epochs}", "--columns", "id,params.epochs")
    assert found == [
        {"id": EVAL_11, "params.epochs": epochs},
        {"id": "model:sepsis-risk@1.1", "params.epochs": epochs},
    ]


def test_record_fields_links_and_versions(demo_repo: Path) -> None:
    assert _ids(demo_repo, "cohort.size >= 1500") == ["dataset:sepsis-cohort@1.1"]
    assert _ids(demo_repo, "trained_on = 'sepsis-cohort@1.0'") == ["model:sepsis-risk@1.0"]
    assert _ids(demo_repo, "supersedes like 'dataset:%'") == ["dataset:sepsis-cohort@1.1"]
    assert _ids(demo_repo, "version > '1.0' and kind in ('model', 'dataset')") == [
        "dataset:sepsis-cohort@1.1",
        "model:sepsis-risk@1.1",
    ]
    assert _ids(demo_repo, "title ilike '%HELD-OUT%' and current = false") == [EVAL_10]
    assert _ids(demo_repo, "outcome = 'pass'") == [EVAL_10, EVAL_11]


def test_a_missing_value_is_unknown_and_not_keeps_it_unknown(demo_repo: Path) -> None:
    evaluations = [EVAL_10, EVAL_11]
    assert _ids(demo_repo, "not metrics.auroc > 0.99") == evaluations  # datasets have no auroc
    assert _ids(demo_repo, "metrics.auroc > 0.99 or kind = 'evaluation'") == evaluations
    # != holds when no value equals: a model trained on the cohort is not "!= cohort".
    assert _ids(demo_repo, "trained_on != 'sepsis-cohort@1.0'") == ["model:sepsis-risk@1.1"]
    assert _ids(demo_repo, "kind not in ('dataset', 'model')") == evaluations


def test_order_limit_columns_and_formats(demo_repo: Path) -> None:
    rows = _rows(
        demo_repo, "kind != 'x'", "--all-versions", "--order-by", "metrics.auroc desc, version desc"
    )
    aurocs = [r["metrics.auroc"] for r in rows]
    present = [a for a in aurocs if a is not None]
    assert present == sorted(present, reverse=True) and aurocs[len(present) :] == [None] * 5
    assert rows[len(present)]["id"] == "dataset:sepsis-cohort@1.1"  # then by version, desc
    limited = _rows(
        demo_repo, "kind != 'x'", "--all-versions", "--order-by", "date", "--limit", "2"
    )
    assert [r["id"] for r in limited] == ["dataset:sepsis-cohort@1.0", "dataset:sepsis-test@1.0"]
    done = run_ledger(
        "query",
        "kind = 'model'",
        "--all-versions",
        "--format",
        "csv",
        "--columns",
        "id,current,trained_on",
        cwd=demo_repo,
    )
    assert list(csv.DictReader(io.StringIO(done.out))) == [
        {
            "id": "model:sepsis-risk@1.0",
            "current": "false",
            "trained_on": "dataset:sepsis-cohort@1.0",
        },
        {
            "id": "model:sepsis-risk@1.1",
            "current": "true",
            "trained_on": "dataset:sepsis-cohort@1.1",
        },
    ]
    table = run_ledger("query", "kind = 'model'", cwd=demo_repo).out.splitlines()
    assert table[0].split() == ["id", "kind", "title"] and table[1].startswith(
        "model:sepsis-risk@1.1"
    )
    before = _rows(demo_repo, "kind = 'dataset'", "--rev", "HEAD~3")
    assert [r["id"] for r in before] == ["dataset:sepsis-cohort@1.0", "dataset:sepsis-test@1.0"]


def test_the_python_api_returns_rows(demo_repo: Path) -> None:
    with Ledger.open(demo_repo) as ledger:
        result = ledger.query(
            "metrics.auroc > 0.5",
            order_by="version desc",
            columns=["id", "model"],
            all_versions=True,
        )
    assert result.rows == [
        {"id": EVAL_11, "model": "model:sepsis-risk@1.1"},
        {"id": EVAL_10, "model": "model:sepsis-risk@1.0"},
    ]


# --- errors ------------------------------------------------------------------------------


def test_unknown_fields_and_metrics_name_the_nearest_known_ones(demo_repo: Path) -> None:
    assert _error(demo_repo, "metrics.aurco > 0.8") == (
        "ledger: filter: unknown field 'metrics.aurco' at column 1 (no evaluation has the metric "
        "'aurco'); nearest: metrics.auroc\n"
    )
    assert "nearest: cohort.size" in _error(demo_repo, "cohort.sise > 3")
    assert "nearest: params.epochs" in _error(demo_repo, "params.epoch > 3")
    assert "subgroups: [age band=18-64], [age band=65+], [sex=F], [sex=M]" in _error(
        demo_repo, "metrics[sex=X].auroc > 0"
    )
    assert "order: unknown field 'auroc'" in _error(
        demo_repo, "kind = 'model'", "--order-by", "auroc"
    )
    assert "columns: unknown field 'titel'" in _error(
        demo_repo, "kind = 'model'", "--columns", "id,titel"
    )
    assert "name one of its fields: cohort.age" in _error(demo_repo, "cohort = 3")


def test_values_of_the_wrong_type_are_refused(demo_repo: Path) -> None:
    assert _error(demo_repo, "metrics.auroc > 'high'") == (
        "ledger: filter: metrics.auroc holds number values; 'high' at column 17 is a string\n"
    )
    assert "title holds string values; 3 at column 9 is a number" in _error(demo_repo, "title = 3")
    assert "is compared with = != in or like, not >" in _error(demo_repo, "model > 'a'")
    assert "no version" in _error(demo_repo, "version > 'one'")
    assert "'x' at column 24 is a string" in _error(demo_repo, "metrics.auroc in (0.5, 'x')")
    assert run_ledger("query", "kind = 'model'", "--limit", "-1", cwd=demo_repo).code == 2
    assert run_ledger("query", "kind = 'model'", "--rev", "nope", cwd=demo_repo).code == 2


# --- kept values -----------------------------------------------------------------------------


def test_kept_columns_follow_new_commits_and_survive_damage(repo: Path, tmp_path: Path) -> None:
    query = "metrics.auroc < 0.5"
    assert _ids(repo, query) == []  # keeps the auroc column
    path = supersede_evaluation(repo, tmp_path, _lower_auroc)
    assert _ids(repo, query) == ["evaluation:sepsis-risk-heldout@1.2"]
    kept = next((repo / ".git/ledger").glob("state-*/values.sqlite"))
    with sqlite3.connect(kept) as db:
        db.execute("UPDATE kept SET value = zeroblob(40) WHERE space = 'query'")
    done = run_ledger("query", query, "--format", "json", cwd=repo)
    assert done.code == 0 and "were corrupt" in done.err
    assert [r["id"] for r in json.loads(done.out)["rows"]] == ["evaluation:sepsis-risk-heldout@1.2"]
    git("rm", "-q", path, cwd=repo)
    git("commit", "-qm", "Withdraw v1.2", cwd=repo)
    assert _ids(repo, query) == []


def _lower_auroc(draft: dict[str, Any]) -> None:
    for metric in draft["metrics"]:
        if metric["name"] == "auroc":
            metric["value"] = 0.41
            metric["ci"] = {**metric["ci"], "lower": 0.35, "upper": 0.47}
    draft["setup"]["acceptance_criteria"] = [
        c for c in draft["setup"]["acceptance_criteria"] if c.get("metric") != "auroc"
    ]
    draft.pop("impact_assessment", None)


def test_the_examples_of_docs_query_run_and_its_errors_are_what_ledger_prints(
    demo_repo: Path,
) -> None:
    text = (Path(__file__).parents[1] / "docs/query.md").read_text()
    commands = [line for line in text.splitlines() if line.startswith("ledger query ")]
    assert len(commands) == 4
    for line in commands:
        done = run_ledger(*shlex.split(line)[1:], cwd=demo_repo)
        assert done.code == 0, (line, done.err)
    shown = text.splitlines()
    for written in ("metrics.auroc > and", "metrics.aurco > 0.8", "metrics.auroc > 'high'"):
        assert _error(demo_repo, written).rstrip("\n") in shown


def test_types_are_checked_before_any_value_is_read(
    demo_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.query.fields import FieldTypeError
    from ledger.state.ledger_state import LedgerState

    def refuse(self: LedgerState, files: object) -> dict[str, Any]:
        raise AssertionError("a value was read before the filter was checked")

    with Ledger.open(demo_repo) as ledger:
        ledger.remember = False  # nothing kept: every value would come from contents
        monkeypatch.setattr(LedgerState, "contents", refuse)
        with pytest.raises(FieldTypeError):
            # cohort.size is read from contents; title = 3 is wrong whatever they hold.
            ledger.query("cohort.size > 3 and title = 3")


def test_a_second_query_in_a_session_reads_no_record_again(
    demo_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.state.ledger_state import LedgerState

    with Ledger.open(demo_repo) as ledger:
        ledger.remember = False  # nothing kept between runs: only the session holds values
        first = ledger.query("metrics.auroc > 0.5 and outcome = 'pass'", all_versions=True)

        def refuse(self: LedgerState, files: object) -> dict[str, Any]:
            raise AssertionError("a record was read again")

        monkeypatch.setattr(LedgerState, "contents", refuse)
        again = ledger.query("metrics.auroc > 0.5 and outcome = 'pass'", all_versions=True)
    assert again.rows == first.rows and len(first.rows) == 2
