"""ledger report: a static site that opens offline, plots drawn by Vega-Lite, every page
checked in headless Chromium, and a folder that never overwrites what ledger did not write."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ledger.records.identity import RecordId
from ledger.site.content import Criterion, Evaluated, Event, ModelPage
from ledger.site.pages import model_page, plot_specs
from ledger.site.plots import render
from tests.conftest import run_ledger
from tests.test_lineage import screenshot

#: Screenshots kept after the run, for a person to look at (git ignores the folder).
ARTIFACTS = Path(__file__).parent / ".artifacts"
PAGES = [
    "index.html",
    "lineage/sepsis-risk.html",
    "models/sepsis-risk.html",
    "technical-file/sepsis-risk.html",
]


@pytest.fixture(scope="module")
def site(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "site"
    done = run_ledger("report", "-o", str(out), cwd=demo_repo)
    assert done.code == 0, done.err
    assert done.out == f"wrote 4 files to {out}; open {out / 'index.html'}\n"
    return out


def test_the_report_lists_its_pages_in_a_manifest(site: Path) -> None:
    manifest = json.loads((site / ".ledger-report.json").read_text())
    assert manifest["files"] == PAGES
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert found == sorted([*PAGES, ".ledger-report.json"])


def test_the_index_names_each_model_its_version_stage_and_outcomes(site: Path) -> None:
    index = (site / "index.html").read_text()
    assert '<a href="models/sepsis-risk.html">sepsis-risk</a>' in index
    assert "<td>1.1</td><td>development</td>" in index
    assert 'evaluation:sepsis-risk-heldout@1.1: <span class="pass">pass</span>' in index


def test_a_model_page_has_trends_forest_plot_criteria_lineage_and_history(site: Path) -> None:
    page = (site / "models/sepsis-risk.html").read_text()
    assert page.count("<svg ") == 2 + 1  # two plots and the lineage
    trend, forest = re.findall(r'<figure class="plot">(.*?)</figure>', page, re.S)
    # Both versions' evaluations in the trend; every subgroup in the forest plot.
    assert "model version" in trend and ">1.0<" in trend and ">1.1<" in trend
    for group in ("overall", "sex = F", "sex = M", "age band = 18-64", "age band = 65+"):
        assert f">{group}<" in forest
    assert "<td>auroc (ci-lower) &gt;= 0.75</td><td class='num'>0.8134</td>" in page
    assert 'Outcome, computed from the metrics: <span class="pass">pass</span>' in page
    assert "recorded model:sepsis-risk@1.1</td><td>Retrained on cohort v1.1 (retrain)" in page
    assert (
        'href="../lineage/sepsis-risk.html"' in page or "href='../lineage/sepsis-risk.html'" in page
    )


def test_every_page_opens_offline_in_chromium_and_the_plots_render(
    site: Path, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for relpath in PAGES:
        text = (site / relpath).read_text()
        assert not re.findall(r'(?:src|href)="(?!#|data:|\.\./|models/|lineage/)', text), relpath
        assert "default-src 'none'" in text
        dom, png = screenshot(site / relpath, tmp_path, "1300,2000")
        if relpath.startswith("models/"):
            # Rendered: the browser's DOM holds Vega's marks, a point per estimate.
            assert dom.count('class="mark-symbol role-mark') >= 4
            assert dom.count('class="mark-rule role-mark') >= 4
        assert len(png) > 20_000
        if relpath in ("index.html", "models/sepsis-risk.html"):
            (ARTIFACTS / f"report-{Path(relpath).stem}.png").write_bytes(png)


def test_the_same_commit_gives_the_same_bytes(demo_repo: Path, site: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run_ledger("report", "-o", str(again), cwd=demo_repo).code == 0
    for relpath in [*PAGES, ".ledger-report.json"]:
        assert (again / relpath).read_bytes() == (site / relpath).read_bytes(), relpath


def test_a_previous_report_is_replaced_and_other_folders_are_refused(
    demo_repo: Path, site: Path, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    shutil.copytree(site, out)
    (out / "models/old-model.html").write_text("left by an older report")
    manifest = json.loads((out / ".ledger-report.json").read_text())
    manifest["files"].append("models/old-model.html")
    (out / ".ledger-report.json").write_text(json.dumps(manifest))
    assert run_ledger("report", "-o", str(out), cwd=demo_repo).code == 0
    assert not (out / "models/old-model.html").exists()  # what the old report wrote goes

    (out / "notes.txt").write_text("mine")
    refused = run_ledger("report", "-o", str(out), cwd=demo_repo)
    assert refused.code == 2 and "notes.txt was not written by it" in refused.err
    assert (out / "notes.txt").read_text() == "mine"

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    refused = run_ledger("report", "-o", str(theirs), cwd=demo_repo)
    assert refused.code == 2 and "is not a ledger report" in refused.err
    assert sorted(p.name for p in theirs.iterdir()) == ["thesis.tex"]

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert run_ledger("report", "-o", str(a_file), cwd=demo_repo).code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_ledger("report", "-o", str(empty), cwd=demo_repo).code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # nothing left over


def test_text_from_records_is_escaped_everywhere_on_a_page() -> None:
    hostile = "</td><script>alert(1)</script>"
    record = RecordId("model", "m", "1.0")
    evaluation = RecordId("evaluation", "e", "1.0")
    page = ModelPage(
        "m",
        hostile,
        record,
        hostile,
        hostile,
        [record],
        [
            Evaluated(
                evaluation,
                hostile,
                [hostile],
                hostile,
                [Criterion(hostile, 0.5, None)],
                [(hostile, 0.5, 0.4, 0.6)],
                [
                    {"metric": hostile, "group": "overall", "value": 0.5}
                    | {"lower": 0.4, "upper": 0.6, "overall": 0.5}
                ],
            )
        ],
        [
            {"version": "1.0", "evaluation": hostile, "metric": hostile, "value": 0.5}
            | {"lower": 0.4, "upper": 0.6, "record": hostile}
        ],
        [Event("2025-01-01", hostile, hostile, hostile, "0" * 40)],
    )
    drawn = [render(spec) for spec in plot_specs(page)]
    assert len(drawn) == 2
    html = model_page("0" * 40, page, drawn, "", "../technical-file/m.html")
    assert "<script>" not in html and "alert(1)</script>" not in html


def test_replacing_a_report_never_follows_a_link_out_of_it(
    demo_repo: Path, site: Path, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    shutil.copytree(site, out)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    # A page the old report listed is now a link to someone's folder.
    (out / "lineage/sepsis-risk.html").unlink()
    (out / "lineage/sepsis-risk.html").symlink_to(precious, target_is_directory=True)
    assert run_ledger("report", "-o", str(out), cwd=demo_repo).code == 0
    assert (precious / "keep.txt").read_text() == "mine"
    assert not (out / "lineage/sepsis-risk.html").is_symlink()
