"""The ``ledger`` command: thin click wrappers over the library.

Each command parses its options, calls one library function and hands the result to a reporter.
Exit codes are decided in one place, ``main``: 0 ok, 1 ledger problems, 2 usage or environment,
3 internal error (the traceback goes to a log file the message names).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger import __version__
from ledger.errors import (
    EXIT_INTERNAL,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    InvalidRecordsError,
    LedgerError,
    UsageError,
)
from ledger.records.jsonload import load_json_file
from ledger.views.reports import to_json_text, validation_text, verify_text

if TYPE_CHECKING:  # imported lazily at run time, so `ledger --help` starts fast
    from ledger.api import Ledger
    from ledger.views.graph import LineageGraph

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


def _open_ledger() -> Ledger:
    from ledger.api import Ledger

    return Ledger.open(Path.cwd())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledger")
def cli() -> None:
    """A git-native audit ledger for healthcare AI: datasets, models and evaluations as
    schema-validated, hash-linked JSON records committed alongside the code."""


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--hook", is_flag=True, help="Install a git pre-commit hook running the gate.")
def init(directory: Path, hook: bool) -> None:
    """Set up ledger in DIRECTORY: ledger.toml, records/ and the published schemas/."""
    from ledger.initialize import init_repository, install_hook

    for line in init_repository(directory):
        click.echo(line)
    if hook:
        click.echo(install_hook(directory))


@cli.command()
@click.argument("kind", type=click.Choice(["dataset", "model", "evaluation"]))
@click.argument("name")
@click.option("--version", "version", required=True, help="Version of the new record, e.g. 1.0.")
@click.option(
    "--from",
    "draft",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON file with the record's documentation fields.",
)
@click.option("--snapshot", "dvc_file", help="The .dvc file or dvc.lock the data comes from.")
@click.option("--stage", help="dvc.lock stage that produced the output.")
@click.option("--output", help="Which output of the DVC file, if it has several.")
@click.option(
    "--trained-on",
    "trained_on",
    multiple=True,
    metavar="REF[:ROLE]",
    help="Model: a dataset it was trained on (role training unless given).",
)
@click.option("--evaluates", "evaluates", metavar="REF", help="Evaluation: the model evaluated.")
@click.option(
    "--tested-on",
    "tested_on",
    multiple=True,
    metavar="REF[:ROLE]",
    help="Evaluation: a test dataset (role test unless given).",
)
@click.option("--supersedes", metavar="REF", help="The earlier version this one replaces.")
@click.option("--reason", help="Why this version supersedes the earlier one.")
@click.option("--change-type", default=None, help="Kind of change, e.g. data-update, retrain.")
@click.option("--dry-run", is_flag=True, help="Print the record instead of writing it.")
def new(
    kind: str,
    name: str,
    version: str,
    draft: Path,
    dvc_file: str | None,
    stage: str | None,
    output: str | None,
    trained_on: tuple[str, ...],
    evaluates: str | None,
    tested_on: tuple[str, ...],
    supersedes: str | None,
    reason: str | None,
    change_type: str | None,
    dry_run: bool,
) -> None:
    """Write a new record KIND NAME@VERSION from a draft, filling DVC snapshots and link hashes."""
    from ledger.records.drafts import apply_options
    from ledger.records.serialize import dumps_record

    book = _open_ledger()
    data, problems = load_json_file(draft, str(draft), book.config.limits)
    if problems:
        raise InvalidRecordsError(problems)
    if not isinstance(data, dict):
        raise UsageError(f"{draft}: the draft must be a JSON object of record fields")
    fields = apply_options(
        data,
        kind,
        trained_on=trained_on,
        evaluates=evaluates,
        tested_on=tested_on,
        supersedes=supersedes,
        reason=reason,
        change_type=change_type,
    )
    options = {"snapshot": dvc_file, "stage": stage, "output": output}
    if dry_run:
        record = book.build_record(kind, name, version, fields, **options)
        click.echo(dumps_record(record).decode(), nl=False)
        return
    path = book.new_record(kind, name, version, fields, **options)
    click.echo(f"wrote {book.relpath(path)}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--staged", is_flag=True, help="Check the index (what is about to be committed).")
@FORMAT
def validate(paths: tuple[Path, ...], staged: bool, fmt: str) -> None:
    """Check records in the working tree: schema, identity and place, links, DVC snapshots, PHI."""
    if staged and paths:
        raise UsageError("--staged checks the whole index; give no paths with it")
    book = _open_ledger()
    report = book.validate_staged() if staged else book.validate(list(paths) or None)
    click.echo(
        to_json_text(report.to_json()) if fmt == "json" else validation_text(report), nl=False
    )
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


REV = click.option("--rev", default=None, help="Read from this commit instead of the working tree.")


@cli.command()
@click.argument("ref")
@REV
@FORMAT
def show(ref: str, rev: str | None, fmt: str) -> None:
    """Print one record: REF is KIND:NAME@VERSION, NAME@VERSION or a record's path."""
    shown = _open_ledger().show(ref, rev)
    if fmt == "json":
        click.echo(to_json_text(shown.to_json()), nl=False)
        return
    click.echo(f"{shown.record_id}\npath:   {shown.path}\nsha256: {shown.sha256}\n")
    click.echo(json.dumps(shown.content, indent=2, ensure_ascii=False))


@cli.command()
@click.argument("ref")
@click.option("--rev", default="HEAD", show_default=True, help="Walk history from this commit.")
@FORMAT
def log(ref: str, rev: str, fmt: str) -> None:
    """The history of one record: who recorded it, when, why, and signature status."""
    relpath, entries = _open_ledger().log(ref, rev)
    if fmt == "json":
        click.echo(
            to_json_text({"path": relpath, "history": [e.to_json() for e in entries]}), nl=False
        )
        return
    click.echo(f"{relpath}\n" + "\n".join(e.text() for e in entries))


@cli.command()
@click.option("--rev", default="HEAD", show_default=True, help="The commit to verify.")
@click.option("--data", is_flag=True, help="Also check workspace, DVC cache and remote.")
@click.option("--require-signed", is_flag=True, help="Unsigned commits are errors.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Check every record file in full, even those found clean before.",
)
@FORMAT
def verify(rev: str, data: bool, require_signed: bool, no_cache: bool, fmt: str) -> None:
    """Integrity of the committed ledger: links, DVC snapshots, history, signatures."""
    book = _open_ledger()
    with _progress("reading records") as progress:
        report = book.verify(
            rev, data=data, require_signed=require_signed, progress=progress, remember=not no_cache
        )
    click.echo(to_json_text(report.to_json()) if fmt == "json" else verify_text(report), nl=False)
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing when stderr is piped or redirected."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(1)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def _graph(ref: str | None, rev: str, **selection: Any) -> LineageGraph:
    """The lineage graph at ``rev``, narrowed to ``ref`` as the options ask."""
    from ledger.views.graph import build_graph, select

    book = _open_ledger()
    record = book.record_id(ref, rev) if ref else None
    return select(build_graph(book.root, book.config, rev), record, **selection)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from ledger.records.serialize import write_atomic

    write_atomic(output, text.encode(), overwrite=True)
    click.echo(f"wrote {output}", err=True)


OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)


@cli.command()
@click.argument("ref", required=False)
@click.option("--rev", default="HEAD", show_default=True, help="The commit to read.")
@click.option(
    "--format",
    "fmt",
    default="text",
    show_default=True,
    type=click.Choice(["text", "mermaid", "dot", "svg", "json", "html"]),
)
@click.option("--upstream", "direction", flag_value="upstream", help="Only what REF depends on.")
@click.option(
    "--downstream", "direction", flag_value="downstream", help="Only what depends on REF."
)
@click.option("--depth", type=click.IntRange(min=1), help="At most N links away from REF.")
@click.option("--all-versions", is_flag=True, help="Show superseded versions too.")
@click.option("--md", is_flag=True, help="Mermaid inside a fenced block, for Markdown.")
@OUTPUT
def lineage(
    ref: str | None,
    rev: str,
    fmt: str,
    direction: str | None,
    depth: int | None,
    all_versions: bool,
    md: bool,
    output: Path | None,
) -> None:
    """The lineage graph of the ledger at a revision, or around one record."""
    from ledger.views.formats import render

    if md and fmt != "mermaid":
        raise UsageError("--md goes with --format mermaid")
    if (direction or depth) and not ref:
        raise UsageError("--upstream, --downstream and --depth need a REF")
    graph = _graph(ref, rev, direction=direction or "both", depth=depth, all_versions=all_versions)
    _emit(render(graph, fmt, md=md), output)


@cli.command()
@click.argument("ref", required=False)
@click.option("--rev", default="HEAD", show_default=True, help="The commit to read.")
@click.option("--fhir-version", type=click.Choice(["R5", "R4B"]), default="R5", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "ndjson"]),
    default="json",
    show_default=True,
    help="A Bundle, or one resource per line for bulk loading.",
)
@OUTPUT
def provenance(ref: str | None, rev: str, fhir_version: str, fmt: str, output: Path | None) -> None:
    """FHIR Provenance (R5 or R4B) of every record version, or of REF and its upstream."""
    from ledger.fhir import bundle_json, bundle_ndjson, provenance_bundle

    graph = _graph(ref, rev, direction="upstream", all_versions=True)
    bundle = provenance_bundle(graph, fhir_version)
    _emit(bundle_ndjson(bundle) if fmt == "ndjson" else bundle_json(bundle), output)


@cli.command()
@click.argument("base")
@click.argument("head", default="HEAD")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@OUTPUT
def diff(base: str, head: str, fmt: str, output: Path | None) -> None:
    """Review what changed between BASE and HEAD: records, lineage, metrics, new findings."""
    from ledger.views.formats import render
    from ledger.views.review import review
    from ledger.views.review_report import review_markdown, review_text

    book = _open_ledger()
    result = review(book.root, book.config, base, head)
    if fmt == "json":
        text = to_json_text(result.to_json())
    elif fmt == "markdown":
        text = review_markdown(result, lambda g: render(g, "mermaid", md=True))
    else:
        text = review_text(result)
    _emit(text, output)


@cli.command()
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--rev", default="HEAD", show_default=True, help="The commit to read.")
@FORMAT
def compare(ref_a: str, ref_b: str, rev: str, fmt: str) -> None:
    """Why two evaluations (or two models) differ: data, configuration or evaluation conditions."""
    from ledger.views.compare import compare as compare_records
    from ledger.views.graph import build_graph
    from ledger.views.review_report import comparison_text

    book = _open_ledger()
    a, b = book.record_id(ref_a, rev), book.record_id(ref_b, rev)
    result = compare_records(build_graph(book.root, book.config, rev), a, b)
    click.echo(
        to_json_text(result.to_json()) if fmt == "json" else comparison_text(result), nl=False
    )


@cli.command()
@click.option("--rev", default="HEAD", show_default=True, help="The commit to export.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The zip file to write.",
)
@FORMAT
def export(rev: str, output: Path, fmt: str) -> None:
    """Write an offline audit bundle of the ledger at REV."""
    from ledger.audit.export import export as export_bundle

    book = _open_ledger()
    facts = export_bundle(book.root, book.config, output, rev)
    if fmt == "json":
        click.echo(to_json_text(facts), nl=False)
    else:
        click.echo(
            f"wrote {facts['output']}: {facts['files']} files from commit "
            f"{facts['commit']}\nsha256 {facts['sha256']}\n"
            f"manifest sha256 {facts['manifest_sha256']} (give it to the auditor "
            "separately)"
        )


@cli.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@FORMAT
def verify_export(file: Path, fmt: str) -> None:
    """Check an audit bundle offline, without the repository."""
    from ledger.audit.verify_export import verify_export as check

    report = check(file)
    click.echo(
        to_json_text(report.to_json()) if fmt == "json" else validation_text(report), nl=False
    )
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path) -> None:
    """Build an example repository (git + DVC) through a healthcare team's whole workflow."""
    from ledger.demo.workflow import run_demo

    run_demo(directory, echo=click.echo)


def main() -> None:
    """Entry point: run the CLI and map every outcome to the documented exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except InvalidRecordsError as exc:
        for problem in exc.findings:
            click.echo(problem.line(), err=True)
        sys.exit(exc.exit_code)
    except LedgerError as exc:
        click.echo(f"ledger: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except Exception:  # A bug: one line for the user, the traceback for the report.
        with tempfile.NamedTemporaryFile(
            "w", prefix="ledger-crash-", suffix=".log", delete=False
        ) as log:
            traceback.print_exc(file=log)
        click.echo(f"ledger: internal error (a bug); details in {log.name}", err=True)
        sys.exit(EXIT_INTERNAL)
