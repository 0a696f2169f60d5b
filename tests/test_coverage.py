"""``ledger coverage``: framework items judged from the records of a model's package, and the
framework data files those judgements rest on."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import coverage
from ledger.coverage import frameworks
from ledger.coverage.assess import Package, Status, assess_item
from ledger.coverage.frameworks import FieldRef, FrameworkFileError, Item, field_exists
from ledger.errors import UsageError
from ledger.records.identity import RecordId
from tests.conftest import PROJECT, git, run_ledger, supersede_evaluation

MODEL = RecordId("model", "risk", "1.0")
TRAIN = RecordId("dataset", "cohort", "1.0")
TEST = RecordId("dataset", "heldout", "1.0")
EVAL = RecordId("evaluation", "risk-heldout", "1.0")


def _package(
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Package:
    contents = {
        r: c
        for r, c in ((MODEL, model), (TRAIN, train), (TEST, test), (EVAL, evaluation))
        if c is not None
    }
    records = {
        "model": (MODEL,),
        "evaluation": (EVAL,) if evaluation is not None else (),
        "dataset:development": (TRAIN,) if train is not None else (),
        "dataset:test": (TEST,) if test is not None else (),
    }
    return Package(MODEL, records, contents)


def _item(*fields: FieldRef, full: bool = True, gap: str | None = None) -> Item:
    return Item("1a", "An item", True, fields=fields, full=full, gap=gap)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("Adults at admission", Status.MET),
        (0, Status.MET),
        (False, Status.MET),
        ("   ", Status.MISSING),
        ("", Status.MISSING),
        (None, Status.MISSING),
        ([], Status.MISSING),
        ({}, Status.MISSING),
        ({"not_applicable": "no human users"}, Status.NOT_APPLICABLE),
    ],
)
def test_a_value_is_present_unless_empty_and_not_applicable_says_why(
    value: object, status: Status
) -> None:
    result = assess_item(
        _package(model={"use": {"population": value}}), _item(FieldRef("model", "/use/population"))
    )
    assert result.status is status
    if status is Status.NOT_APPLICABLE:
        assert result.reason == "model:risk@1.0: no human users"


def test_not_applicable_on_the_way_to_a_field_covers_it() -> None:
    package = _package(model={"dependencies": {"not_applicable": "standard library only"}})
    result = assess_item(package, _item(FieldRef("model", "/dependencies/*/name")))
    assert result.status is Status.NOT_APPLICABLE
    assert "standard library only" in result.reason


def test_a_field_absent_from_the_record_is_missing() -> None:
    result = assess_item(_package(model={}), _item(FieldRef("model", "/use/population")))
    assert result.status is Status.MISSING
    assert result.reason == "model /use/population: not in model:risk@1.0"


@pytest.mark.parametrize(
    ("metrics", "status"),
    [
        ([{"ci": [0.1, 0.2]}, {"ci": [0.3, 0.4]}], Status.MET),
        ([{"ci": [0.1, 0.2]}, {"name": "auroc"}], Status.PARTIAL),
        ([{"name": "auroc"}], Status.MISSING),
        ([], Status.MISSING),
    ],
)
def test_a_star_asks_every_element_of_a_list(metrics: list[Any], status: Status) -> None:
    package = _package(evaluation={"metrics": metrics})
    assert assess_item(package, _item(FieldRef("evaluation", "/metrics/*/ci"))).status is status


def test_a_role_chooses_the_datasets_and_a_package_without_them_misses_the_field() -> None:
    package = _package(model={}, train={"source": "EHR"}, test={})
    development = FieldRef("dataset", "/source", "development")
    test = FieldRef("dataset", "/source", "test")
    assert assess_item(package, _item(development)).status is Status.MET
    assert assess_item(package, _item(test)).status is Status.MISSING
    both = assess_item(package, _item(FieldRef("dataset", "/source")))
    assert both.status is Status.PARTIAL
    assert both.reason == "dataset /source: not in dataset:heldout@1.0"
    alone = assess_item(_package(model={}), _item(test))
    assert (alone.status, alone.reason) == (
        Status.MISSING,
        "dataset (test) /source: the package has no test dataset",
    )


def test_a_record_the_package_links_to_but_the_ledger_lacks_counts_as_lacking_the_field() -> None:
    package = Package(
        MODEL,
        {
            "model": (MODEL,),
            "evaluation": (),
            "dataset:development": (TRAIN,),
            "dataset:test": (),
        },
        {MODEL: {}},
        (TRAIN,),
    )
    result = assess_item(package, _item(FieldRef("dataset", "/source", "development")))
    assert result.status is Status.MISSING
    assert "dataset:cohort@1.0 (not in the ledger)" in result.reason


def test_an_item_is_met_only_when_every_field_is_and_they_hold_all_of_it() -> None:
    package = _package(model={"a": "x", "b": "y"})
    a, b, c = (FieldRef("model", f"/{n}") for n in "abc")
    assert assess_item(package, _item(a, b)).status is Status.MET
    assert assess_item(package, _item(a, c)).status is Status.PARTIAL
    partial = assess_item(package, _item(a, b, full=False, gap="no units"))
    assert (partial.status, partial.reason) == (Status.PARTIAL, "no units")
    assert assess_item(package, _item(c)).status is Status.MISSING


def test_items_without_a_home_are_missing_and_items_outside_the_ledger_not_applicable() -> None:
    package = _package(model={})
    homeless = Item("14", "Fairness", True, fields=(), full=False, gap="no field holds it yet")
    assert (assess_item(package, homeless).status, assess_item(package, homeless).reason) == (
        Status.MISSING,
        "no field holds it yet",
    )
    title = Item("1", "Title", True, outside="belongs to the paper")
    assert assess_item(package, title).status is Status.NOT_APPLICABLE


# --- the framework files ------------------------------------------------------------------------


def test_ledger_ships_the_frameworks_the_issue_names() -> None:
    assert set(coverage.names()) >= {
        "tripod-ai",
        "eu-ai-act",
        "gmlp",
        "pccp",
        "chai-model-card",
        "fhir-ai-transparency",
    }


@pytest.mark.parametrize("name", coverage.names())
def test_every_framework_file_reads_and_maps_only_to_fields_that_exist(name: str) -> None:
    framework = frameworks.load(name)
    assert framework.items
    missing = [
        f"{item.id}: {field}"
        for item in framework.items
        for field in item.fields
        if not field_exists(field)
    ]
    assert missing == []


def test_the_readme_names_every_item_a_development_ledger_cannot_hold() -> None:
    readme = (PROJECT / "README.md").read_text()
    table = readme.split("## Reporting frameworks", 1)[1].split("\n## ", 1)[0]
    rows = {
        (cells[1], cells[2])
        for line in table.splitlines()
        if line.startswith("| ") and len(cells := [c.strip() for c in line.split("|")]) > 3
    }
    outside = [
        (f.title, item.id) for f in frameworks.chosen("all") for item in f.items if item.outside
    ]
    assert outside
    for title, item in outside:
        assert any(title.startswith(named.split(" (")[0]) and item == i for named, i in rows), (
            title,
            item,
        )


def test_a_pointer_to_a_field_that_does_not_exist_is_caught() -> None:
    assert field_exists(FieldRef("model", "/intended_use/population"))
    assert field_exists(FieldRef("evaluation", "/metrics/*/ci"))
    assert not field_exists(FieldRef("model", "/intended_use/populaton"))
    assert not field_exists(FieldRef("model", "/intended_use/population/*"))
    assert not field_exists(FieldRef("dataset", "/metrics"))


@pytest.fixture
def framework_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    monkeypatch.setattr(frameworks, "FOLDER", folder)
    monkeypatch.setattr(coverage, "FOLDER", folder)
    frameworks.load.cache_clear()
    yield folder
    frameworks.load.cache_clear()


def _framework(**changes: Any) -> dict[str, Any]:
    item = {
        "id": "1",
        "summary": "Where the data came from",
        "required": True,
        "fields": [{"kind": "dataset", "pointer": "/source"}],
        "covers": "full",
    }
    return {
        "id": "test-framework",
        "title": "A test framework",
        "version": "1",
        "citation": "Nobody, 2026",
        "url": "https://example.org/framework",
        "items": [item],
        **changes,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot be read"),
        (json.dumps(_framework(items=[])), "at /items"),
        (json.dumps(_framework(id="other-name")), "its id is 'other-name'"),
        (
            json.dumps(
                _framework(items=[{**_framework()["items"][0], "covers": "partial"}])  # no gap
            ),
            "at /items/0",
        ),
        (
            json.dumps(_framework(items=_framework()["items"] * 2)),
            "item '1' is listed twice",
        ),
    ],
)
def test_a_malformed_framework_file_is_an_error_naming_file_and_place(
    framework_folder: Path, text: str, problem: str
) -> None:
    (framework_folder / "test-framework.json").write_text(text)
    with pytest.raises(FrameworkFileError) as caught:
        frameworks.load("test-framework")
    assert caught.value.message.startswith("ledger/coverage/frameworks/test-framework.json: ")
    assert problem in caught.value.message


def test_an_unknown_framework_name_lists_the_known_ones(framework_folder: Path) -> None:
    (framework_folder / "test-framework.json").write_text(json.dumps(_framework()))
    assert [f.id for f in frameworks.chosen("all")] == ["test-framework"]
    with pytest.raises(UsageError, match="use one of: test-framework, all"):
        frameworks.chosen("tripod")


# --- the command ---------------------------------------------------------------------------------


def test_coverage_of_every_current_model_as_json(repo: Path) -> None:
    result = run_ledger("coverage", "--format", "json", cwd=repo)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    models = [p["model"] for p in report["packages"]]
    assert models == sorted(models) and models
    package = report["packages"][0]
    assert [f["id"] for f in report["frameworks"]] == coverage.names()
    assert [f["id"] for f in package["frameworks"]] == coverage.names()
    for header, framework in zip(report["frameworks"], package["frameworks"], strict=True):
        # What each item is is said once, in the header; each model gives its status.
        assert [i["id"] for i in header["items"]] == [i["id"] for i in framework["items"]]
        assert all(i["summary"] and isinstance(i["required"], bool) for i in header["items"])
        assert sum(framework["counts"].values()) == len(framework["items"])
        for item in framework["items"]:
            assert item["status"] in {s.value for s in Status}
            assert (item["reason"] == "") == (item["status"] == "met")
    # The demo's model says why it lists no dependencies; the field reads not applicable.
    eu = next(f for f in package["frameworks"] if f["id"] == "eu-ai-act")
    software = next(i for i in eu["items"] if i["id"] == "Annex IV 1(c)")
    dependencies = next(f for f in software["fields"] if f["pointer"] == "/dependencies")
    assert dependencies["status"] == "not applicable"
    assert dependencies["reason"] == f"{package['model']}: Python standard library only"


def test_coverage_of_one_model_in_each_format(repo: Path) -> None:
    model = json.loads(run_ledger("coverage", "--format", "json", cwd=repo).out)["packages"][0]
    ref = model["model"]
    table = run_ledger("coverage", ref, "--framework", "tripod-ai", cwd=repo)
    assert table.code == 0, table.err
    assert table.out.startswith(f"{ref} at ")
    assert "TRIPOD+AI" in table.out and "EU AI Act" not in table.out
    markdown = run_ledger("coverage", ref, "--format", "markdown", cwd=repo)
    assert f"## `{ref}`" in markdown.out
    assert "| item | status | summary | why |" in markdown.out


def test_require_fails_on_a_required_item_that_is_missing(repo: Path) -> None:
    report = json.loads(run_ledger("coverage", "--format", "json", cwd=repo).out)
    headers = {f["id"]: f for f in report["frameworks"]}
    required = {(f, i["id"]) for f, h in headers.items() for i in h["items"] if i["required"]}
    missing = [
        (p["model"], headers[f["id"]]["title"], i["id"])
        for p in report["packages"]
        for f in p["frameworks"]
        for i in f["items"]
        if (f["id"], i["id"]) in required and i["status"] == "missing"
    ]
    assert missing
    result = run_ledger("coverage", "--require", cwd=repo)
    assert result.code == (1 if missing else 0)
    for model, title, item in missing:
        assert f"{model}: {title} item {item} is required and missing: " in result.err


def test_bad_arguments_exit_2_with_one_line(repo: Path) -> None:
    unknown = run_ledger("coverage", "--framework", "tripod", cwd=repo)
    assert unknown.code == 2
    assert "tripod-ai" in unknown.err and "Traceback" not in unknown.err
    dataset = run_ledger("coverage", "dataset:sepsis-cohort@1.0", cwd=repo)
    assert dataset.code == 2
    assert dataset.err.strip() == (
        "ledger: dataset:sepsis-cohort@1.0 is a dataset; coverage is of a model version and "
        "what it links to: name a model, or none for every current one"
    )


# --- coverage in a review ------------------------------------------------------------------------


def test_a_review_shows_the_coverage_a_change_loses(repo: Path, tmp_path: Path) -> None:
    def without_event_counts(draft: dict[str, Any]) -> None:
        for metric in draft["metrics"]:
            metric.pop("events", None)

    supersede_evaluation(repo, tmp_path, without_event_counts)
    review = json.loads(run_ledger("diff", "HEAD~1", "--format", "json", cwd=repo).out)
    (model,) = review["coverage"]
    assert model["model_before"] == model["model_after"] == "model:sepsis-risk@1.1"
    moved = {(c["framework"], c["item"]): c for c in model["moved"]}
    counts = moved["TRIPOD+AI", "21"]
    assert (counts["before"], counts["after"], counts["direction"]) == ("met", "partial", "lost")
    tripod = next(f for f in model["frameworks"] if f["framework"] == "TRIPOD+AI")
    assert tripod["after"]["met"] == tripod["before"]["met"] - 1
    evaluation = "evaluation:sepsis-risk-heldout@1.2"
    assert counts["reason"] == f"evaluation /metrics/*/events: not in {evaluation}"
    text = run_ledger("diff", "HEAD~1", cwd=repo).out
    assert "coverage of model:sepsis-risk@1.1 against model:sepsis-risk@1.1:" in text
    assert "  LOST    TRIPOD+AI 21: met -> partial (evaluation /metrics/*/events: not in " in text
    markdown = run_ledger("diff", "HEAD~1", "--format", "markdown", cwd=repo).out
    assert "### Reporting-framework coverage" in markdown
    assert "| :x: | TRIPOD+AI | 21 Number of participants" in markdown


def test_a_review_counts_the_coverage_of_a_new_model(repo: Path) -> None:
    first_model = git("log", "--format=%H", "--diff-filter=A", "--", "records/model", cwd=repo)
    before = first_model.split()[-1] + "~1"
    review = json.loads(run_ledger("diff", before, "--format", "json", cwd=repo).out)
    (model,) = review["coverage"]
    assert (model["model_before"], model["model_after"]) == (None, "model:sepsis-risk@1.1")
    assert model["moved"] == []  # every item is new: counts say it
    titles = {f.title: len(f.items) for f in frameworks.chosen("all")}
    assert {f["framework"]: sum(f["after"].values()) for f in model["frameworks"]} == titles
    assert all(f["before"] is None for f in model["frameworks"])
    text = run_ledger("diff", before, cwd=repo).out
    assert "coverage of model:sepsis-risk@1.1 (new): " in text


def test_a_review_of_a_change_no_package_holds_shows_no_coverage(repo: Path) -> None:
    (repo / "notes.txt").write_text("not a record\n")
    git("add", "notes.txt", cwd=repo)
    git("commit", "-qm", "Notes", cwd=repo)
    review = json.loads(run_ledger("diff", "HEAD~1", "--format", "json", cwd=repo).out)
    assert review["coverage"] == []
    assert (
        "Reporting-framework"
        not in run_ledger("diff", "HEAD~1", "--format", "markdown", cwd=repo).out
    )


def test_the_audit_export_carries_the_coverage_report(demo_repo: Path, exported: Path) -> None:
    with zipfile.ZipFile(exported) as archive:
        carried = archive.read("coverage/coverage.json").decode()
        manifest = json.loads(archive.read("manifest.json"))
    assert "coverage/coverage.json" in manifest["files"]
    assert carried == run_ledger("coverage", "--format", "json", cwd=demo_repo).out
