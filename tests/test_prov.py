"""`ledger provenance --format prov-json|prov-jsonld|provn`: the lineage graph in W3C PROV,
written with the `prov` library and read back with it into the same graph."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from prov.model import ProvActivity, ProvAgent, ProvEntity

from ledger.api import Ledger
from ledger.views.graph import LineageGraph
from ledger.views.w3c_prov import SERIALIZERS, lineage_of, read_prov
from tests.conftest import LEDGER, git, run_ledger, supersede_evaluation

FORMATS = list(SERIALIZERS)


def _graph(repo: Path, ref: str | None = None) -> LineageGraph:
    """The graph ``ledger provenance`` maps: every version, or REF and its upstream."""
    with Ledger.open(repo) as book:
        return book.provenance(ref).graph


def _as_read(graph: LineageGraph) -> tuple[dict[str, str], set[tuple[str, str, str]]]:
    nodes = {node_id: node.kind for node_id, node in graph.nodes.items()}
    return nodes, {(e.source, e.target, e.kind) for e in graph.edges}


def _provenance(repo: Path, fmt: str, *args: str) -> str:
    done = run_ledger("provenance", "--format", fmt, *args, cwd=repo)
    assert done.code == 0, done.err
    return done.out


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_with_prov_into_the_lineage_graph(demo_repo: Path, fmt: str) -> None:
    document = read_prov(_provenance(demo_repo, fmt), fmt)
    graph = _graph(demo_repo)
    assert lineage_of(document) == _as_read(graph)
    kinds = {type(r) for r in document.get_records()}
    assert {ProvEntity, ProvActivity, ProvAgent} <= kinds
    # Superseded versions are there too: provenance covers every version, as FHIR's does.
    assert ("record:model:sepsis-risk@1.1", "record:model:sepsis-risk@1.0", "supersedes") in (
        lineage_of(document)[1]
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_output_is_the_same_bytes_whatever_the_hash_seed(demo_repo: Path, fmt: str) -> None:
    """``prov`` keeps attribute values in sets; one value per attribute keeps the order fixed."""
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [LEDGER, "provenance", "--format", fmt],
            cwd=demo_repo,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_records_are_entities_commits_activities_and_people_agents_with_their_facts(
    demo_repo: Path,
) -> None:
    document = read_prov(_provenance(demo_repo, "prov-json"), "prov-json")
    by_id = {str(r.identifier): r for r in document.get_records() if r.identifier is not None}
    model = by_id["record:model:sepsis-risk@1.1"]
    graph = _graph(demo_repo)
    facts = graph.nodes["record:model:sepsis-risk@1.1"].attrs
    assert _value(model, "ledger:sha256") == facts["sha256"]
    assert _value(model, "prov:type").localpart == "model"
    commit = next(
        e.target
        for e in graph.edges
        if e.source == "record:model:sepsis-risk@1.1" and e.kind == "recorded-in"
    )
    activity = by_id[commit]
    assert _value(activity, "ledger:sha") == commit.removeprefix("commit:")
    person = next(r for r in document.get_records() if isinstance(r, ProvAgent))
    # People are named by their e-mail as a mailto: URI.
    assert person.identifier.uri.startswith("mailto:")


def _value(record: object, attribute: str) -> object:
    (value,) = record.get_attribute(attribute)  # type: ignore[attr-defined]
    return value


def test_odd_names_messages_and_emails_survive_every_format(repo: Path, tmp_path: Path) -> None:
    """What git allows in a commit (quotes, backslashes, newlines, other scripts, spaces and
    PROV-N's own delimiters in an e-mail) is escaped on the way out and read back as it was."""
    message = "Re-run \"held-out\" \\ evaluation\n\nNotes: 測試 ) ] , %% ; 'quoted'"
    email = "o'brien (eval) %x@例え.jp"
    supersede_evaluation(repo, tmp_path, lambda draft: None)
    git("commit", "--amend", "-qm", message, f"--author=O'Brien, Jo <{email}>", cwd=repo)
    graph = _graph(repo)
    assert f"agent:{email}" in graph.nodes
    for fmt in FORMATS:
        document = read_prov(_provenance(repo, fmt), fmt)
        assert lineage_of(document) == _as_read(graph), fmt
        messages = {str(_value(r, "ledger:message")) for r in document.get_records(ProvActivity)}
        assert message in messages, fmt


def test_a_ref_gives_it_and_its_upstream_only(demo_repo: Path) -> None:
    ref = "model:sepsis-risk@1.0"
    document = read_prov(_provenance(demo_repo, "provn", ref), "provn")
    nodes, _ = lineage_of(document)
    records = {n for n, kind in nodes.items() if kind == "record"}
    assert records == {"record:model:sepsis-risk@1.0", "record:dataset:sepsis-cohort@1.0"}
    assert lineage_of(document) == _as_read(_graph(demo_repo, ref))


def test_fhir_version_with_a_prov_format_is_a_usage_error(demo_repo: Path) -> None:
    done = run_ledger("provenance", "--format", "provn", "--fhir-version", "R4B", cwd=demo_repo)
    assert done.code == 2
    assert "--fhir-version goes with --format json or ndjson" in done.err
