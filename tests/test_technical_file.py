"""The technical file of a model version: `ledger technical-file` and the copies in the export.

Read as a reviewer would: sections in Annex IV order, every number as the records state it,
criteria judged from the metrics, sign-offs as verify counts them, and a page that opens
offline in a real browser with nothing from its text run as markup.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_ledger
from tests.signers import Person, Signing, commit_by_hand, make_signing, run_as
from tests.test_lineage import chromium, console_lines

MODEL_11 = "model:sepsis-risk@1.1"
SECTIONS = (
    "1. General description and intended purpose",
    "2. Data: what the model was trained on",
    "3. Development: training, configuration, software",
    "4. Evaluation: performance, subgroups, acceptance criteria",
    "5. Changes against the previous version",
    "6. Human oversight: sign-offs and stage",
    "7. Risks and limitations",
    "8. Planned changes (PCCP)",
    "9. Change history: who recorded each version, when and why",
)


@pytest.fixture
def signing(repo: Path, tmp_path: Path) -> Signing:
    return make_signing(repo, tmp_path)


def _file(repo: Path, fmt: str, ref: str = MODEL_11) -> str:
    done = run_ledger("technical-file", ref, "--format", fmt, cwd=repo)
    assert done.code == 0, done.err
    return done.out


def test_the_markdown_follows_annex_iv_and_states_the_records_numbers(repo: Path) -> None:
    text = _file(repo, "markdown")
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    evaluation = json.loads((repo / "records/evaluation/sepsis-risk-heldout/1.1.json").read_text())
    for metric in evaluation["metrics"]:
        value = f"{metric['value']:.4f}".rstrip("0").rstrip(".")
        lower = f"{metric['ci']['lower']:.4f}".rstrip("0").rstrip(".")
        assert re.search(
            rf"\| {metric['name']} \| {re.escape(value)} \| {re.escape(lower)} to ", text
        )
    subgroup_rows = sum(len(g["metrics"]) for g in evaluation["subgroup_metrics"])
    assert text.count("| sex | ") + text.count("| age band | ") == subgroup_rows
    assert "| auroc (ci-lower) \\>= 0.75 | 0.8134 | - | met |" in text and "NOT MET" not in text
    assert (
        "| auroc (estimate) within 0.05 of the baseline (higher-is-better) | 0.85 | 0.8549 |"
        in text
    )
    assert "- **Outcome computed from the metrics**: pass" in text
    assert "**Metrics: evaluation:sepsis-risk-heldout@1.0 against" in text  # the change
    history = text.split("## 9.")[1]
    assert history.count("| model:sepsis-risk@1.0 | added |") == 1
    assert history.count("| model:sepsis-risk@1.1 | added |") == 1
    assert "No sign-off of this version is committed." in text


def test_a_version_without_a_predecessor_or_evaluation_says_so(repo: Path) -> None:
    text = _file(repo, "markdown", "model:sepsis-risk@1.0")
    assert "This is the first version." in text
    assert _file(repo, "markdown", "model:sepsis-risk@1.0") == text  # the same bytes
    refused = run_ledger("technical-file", "dataset:sepsis-test@1.0", cwd=repo)
    assert refused.code == 2 and "only model versions have a technical file" in refused.err


def test_sign_offs_show_and_odd_text_never_becomes_markup(signing: Signing, tmp_path: Path) -> None:
    repo = signing.repo
    approve = ("--meaning", "approved", "--role", "clinical-lead", "--comment", "ok | *fine*")
    assert signing.sign(signing.priya, MODEL_11, *approve).code == 0
    odd = Person("<script>alert(1)</script> | Q", signing.quinn.email, signing.quinn.key)
    shown = json.loads(run_as(odd, repo, "show", MODEL_11, "--format", "json").out)
    entry = {
        "signoff_version": 1,
        "signs": {"ref": MODEL_11, "sha256": shown["sha256"]},
        "meaning": "reviewed",
        "role": "quality",
        "signer": {"name": odd.name, "email": odd.email, "key": odd.fingerprint},
        "signed_at": "2026-06-01T10:00:00Z",
        "comment": "</td></tr><tr><td>injected",
    }
    path = "signoffs/model/sepsis-risk/1.1/20260601T100000Z-reviewed-quality.json"
    commit_by_hand(signing, odd, entry, path)
    markdown = _file(repo, "markdown")
    assert "| approved | clinical-lead | Priya Raman <priya.raman@example.org> |" not in markdown
    assert "| approved | clinical-lead | Priya Raman \\<priya.raman@example.org\\> |" in markdown
    assert "ok \\| \\*fine\\*" in markdown and "\\<script\\>" in markdown
    page = _file(repo, "html")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;injected" in page
    out = tmp_path / "file.html"
    out.write_text(page, encoding="utf-8")
    done = chromium(out.as_uri(), tmp_path / "profile", "--dump-dom")
    assert not console_lines(done.stderr), console_lines(done.stderr)
    assert "<script" not in done.stdout.lower()
    assert done.stdout.count("<table>") == page.count("<table>")
    assert done.stdout.count("<section") == page.count("<section")


def test_the_html_is_self_contained(repo: Path) -> None:
    page = _file(repo, "html")
    assert "default-src 'none'" in page
    assert not re.findall(r'(?:src|href)="(?!#)', page), "only in-page references"
    for title in SECTIONS:
        assert f">{title}</h2>" in page


def test_the_export_holds_each_current_models_technical_file(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.zip"
    assert run_ledger("export", "-o", str(out), cwd=repo).code == 0
    with zipfile.ZipFile(out) as archive:
        names = [n for n in archive.namelist() if n.startswith("technical-file/")]
        assert names == ["technical-file/sepsis-risk/1.1.html", "technical-file/sepsis-risk/1.1.md"]
        assert archive.read("technical-file/sepsis-risk/1.1.md").decode() == _file(repo, "markdown")
        assert archive.read("technical-file/sepsis-risk/1.1.html").decode() == _file(repo, "html")
        manifest = json.loads(archive.read("manifest.json"))
    assert set(names) <= set(manifest["files"])
    assert run_ledger("verify-export", str(out), cwd=tmp_path).code == 0


def test_the_export_reads_what_its_technical_files_read_at_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from ledger.api import Ledger
    from ledger.audit import export
    from ledger.git.repository import CatFile, Repository

    written: dict[str, str] = {}

    class Bundle:
        def add(self, path: str, chunks: list[str]) -> None:
            written[path] = "".join(chunks)

    reads: list[int] = []
    read_many = CatFile.read_many

    def counted(self: CatFile, names: list[str]) -> object:
        reads.append(len(names))
        return read_many(self, names)

    def files(book: Ledger) -> dict[str, str]:
        written.clear()
        state = book.state("HEAD")
        state.content(next(iter(state.records.current())))  # git's process is running
        reads.clear()
        export._write_technical_files(state, Bundle())  # type: ignore[arg-type]
        return dict(written)

    monkeypatch.setattr(CatFile, "read_many", counted)
    with Ledger.open(repo) as book:
        held = files(book)
        assert len(reads) == 1 and reads[0] > 1  # every record, in one stream
        with monkeypatch.context() as m:
            m.setattr(Repository, "holding", lambda self, ids: contextlib.nullcontext())
            assert files(book) == held
            assert len(reads) > 1
        # A name that is not an object id (it may name another blob later) is never held.
        state = book.state("HEAD")
        any_file = next(iter(state.records.current()))
        with state.repo.holding([any_file.blob, f"HEAD:{any_file.relpath}"]):
            reads.clear()
            assert state.repo.blobs([any_file.blob]) != {}
            assert reads == []
            assert state.repo.blobs([f"HEAD:{any_file.relpath}"]) != {}
            assert reads == [1]
