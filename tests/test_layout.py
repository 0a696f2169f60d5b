"""The shape of the code stays what docs/architecture.md says: no import circles, one module
that imports click, one package that runs git, every record kind declared in full, output
formats from one registry."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_args

import pytest

from ledger.kinds import SPECS, KindSpec, spec
from ledger.records.identity import KINDS
from ledger.views.formats import LINEAGE, PROVENANCE, REVIEW
from tests.conftest import PROJECT, run_ledger

PACKAGE = PROJECT / "ledger"


def _module(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of ledger that ``path`` imports when it is imported (not inside functions, not
    only for type checking)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & modules
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & modules
    return found


def test_no_module_imports_itself_through_a_circle() -> None:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _top_level_imports(path, set(files)) for name, path in files.items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(name: str, chain: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                circles.append([*chain[chain.index(other) :], other])
            elif other not in state:
                visit(other, [*chain, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_only_the_cli_imports_click() -> None:
    importers = sorted(_module(p) for p in PACKAGE.rglob("*.py") if "import click" in p.read_text())
    assert importers == ["ledger.cli"]


def test_only_the_git_package_runs_git() -> None:
    # The demo acts as a team does, committing with git itself; ledger's own reading does not.
    runners = sorted(
        _module(p)
        for p in PACKAGE.rglob("*.py")
        if ('["git"' in p.read_text() or '("git",' in p.read_text())
        and not _module(p).startswith(("ledger.git", "ledger.demo"))
    )
    assert runners == []


def test_every_kind_is_declared_in_full() -> None:
    assert set(SPECS) == set(KINDS)
    for kind in KINDS:
        declared = spec(kind)
        assert declared.kind == kind
        assert declared.model.model_fields["kind"].annotation is not None
        assert declared.links and declared.lineage and declared.fhir.resource
        assert all(decl.relation for decl in declared.links)


def test_a_kind_cannot_leave_out_a_declaration() -> None:
    fields = {f.name for f in dataclasses.fields(KindSpec)}
    assert fields == {
        "kind",
        "model_path",
        "links",
        "snapshots",
        "measured",
        "compared",
        "lineage",
        "fhir",
    }
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(KindSpec))
    with pytest.raises(TypeError):
        KindSpec(kind="dataset", model_path=spec("dataset").model_path)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", KINDS)
def test_every_measured_field_is_a_field_of_the_kind(kind: str) -> None:
    for path in spec(kind).measured:
        model = spec(kind).model
        *parents, last = path.split(".")
        for name in parents:
            annotation = model.model_fields[name].annotation
            model = next(a for a in (annotation, *get_args(annotation)) if isinstance(a, type))
        assert last in model.model_fields, path


def test_an_unknown_kind_is_never_mapped_as_another() -> None:
    with pytest.raises(KeyError):
        spec("report")


@pytest.mark.parametrize(
    ("command", "registry"),
    [(["lineage"], LINEAGE), (["provenance"], PROVENANCE), (["diff", "HEAD"], REVIEW)],
)
def test_format_choices_come_from_the_registry(
    demo_repo: Path, command: list[str], registry: object
) -> None:
    result = run_ledger(*command, "--format", "nope", cwd=demo_repo)
    assert result.code == 2
    names = registry.names  # type: ignore[attr-defined]
    assert all(repr(name) in result.err for name in names)


def test_the_architecture_document_names_every_package() -> None:
    text = (PROJECT / "docs/architecture.md").read_text()
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert [p for p in packages if f"`{p}/`" not in text] == []


def test_the_facade_offers_every_command() -> None:
    from ledger.api import Ledger
    from ledger.cli import cli

    # The command's name, or the method that does its work where the name would clash.
    methods = {
        "new": "new_record",
        "verify-export": "verify_export",
        "import": "import_mlflow",
        "technical-file": "technical_file",
        "list": "list_records",
    }
    missing = [
        name
        for name in cli.commands
        if not callable(getattr(Ledger, methods.get(name, name), None))
    ]
    assert missing == []
