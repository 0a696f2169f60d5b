"""The ``ledger`` command: thin click wrappers over ``ledger.api.Ledger``.

Each command parses its options, makes one call on the session's ``Ledger`` and hands the
result to a format from ``ledger.views.formats`` (its choices come from there too). Exit codes
are decided in one place, ``main``: 0 ok, 1 ledger problems, 2 usage or environment, 3
internal error (the traceback goes to a log file the message names).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ledger import __version__
from ledger.coverage import ALL as ALL_FRAMEWORKS
from ledger.coverage import names as framework_names
from ledger.errors import (
    EXIT_INTERNAL,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    ExportRefusedError,
    InvalidRecordsError,
    LedgerError,
)
from ledger.views.formats import (
    BUNDLE_TYPES,
    COVERAGE,
    FHIR_FORMATS,
    LINEAGE,
    LIST,
    PROVENANCE,
    REPORT_FORMATS,
    REVIEW,
    TECHNICAL_FILE,
)

if TYPE_CHECKING:  # imported lazily at run time, so `ledger --help` starts fast
    from ledger.api import Ledger
    from ledger.views.graph import Direction


class Session:
    """The command's one ``Ledger``, opened on first use and closed when the command ends."""

    def __init__(self) -> None:
        self._book: Ledger | None = None
        self.remember = True

    @property
    def book(self) -> Ledger:
        if self._book is None:
            from ledger.api import Ledger

            self._book = Ledger.open(Path.cwd())
            self._book.remember = self.remember
        return self._book

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
            for note in self._book.notes:
                click.echo(f"ledger: note: {note}", err=True)


@contextlib.contextmanager
def _session() -> Iterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        session.close()


pass_session = click.make_pass_decorator(Session)


def _format(
    names: Iterable[str], default: str, help: str = "Output format."
) -> Callable[[Any], Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(names)),
        default=default,
        show_default=True,
        help=help,
    )


REPORT = _format(REPORT_FORMATS, "text")
OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)


def _emit(chunks: Iterable[str], output: Path | None = None) -> None:
    """Print ``chunks``, or write them to ``output`` atomically."""
    from ledger.bulk import quiet_gc
    from ledger.views.formats import blocks

    # Rendering makes an object per record, edge and finding and frees each by reference
    # counting: the collector's walks over the state they belong to would be pure cost.
    with quiet_gc():
        if output is None:
            for block in blocks(chunks):
                # click strips ANSI escapes from what goes to a pipe or file, a regular
                # expression over every block (100 MB for a Bundle of 10,000 records); only a
                # block with an escape character has any to strip.
                click.echo(block, nl=False, color=None if "\x1b" in block else True)
            return
        from ledger.records.serialize import atomic_writer

        with atomic_writer(output) as stream:
            for block in blocks(chunks):
                stream.write(block.encode())
    click.echo(f"wrote {output}", err=True)


def _report(text: Callable[[Any], str], value: Any, fmt: str) -> None:
    from ledger.views.formats import reports

    _emit(reports(text).render(fmt, value))


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledger")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A git-native audit ledger for healthcare AI: datasets, models and evaluations as
    schema-validated, hash-linked JSON records committed alongside the code."""
    ctx.obj = ctx.with_resource(_session())


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--hook", is_flag=True, help="Install a git pre-commit hook running the gate.")
def init(directory: Path, hook: bool) -> None:
    """Set up ledger in DIRECTORY: ledger.toml, records/ and the published schemas/."""
    from ledger.api import Ledger

    for line in Ledger.init(directory, hook=hook):
        click.echo(line)


@cli.command()
@click.argument("kind", type=click.Choice(["dataset", "model", "evaluation"]))
@click.option("--like", metavar="REF", help="Prefill from this version (e.g. NAME@latest's).")
@OUTPUT
@pass_session
def draft(session: Session, kind: str, like: str | None, output: Path | None) -> None:
    """A YAML draft of a KIND record for ledger new --from: every field, commented."""
    _emit([session.book.draft(kind, like)], output)


@cli.command()
@click.argument("kind", type=click.Choice(["dataset", "model", "evaluation"]))
@click.argument("name")
@click.option("--version", "version", required=True, help="Version of the new record, e.g. 1.0.")
@click.option(
    "--from",
    "draft",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON or YAML draft of the record's documentation fields (ledger draft writes one).",
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
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the record as new would, and print it instead of writing it.",
)
@pass_session
def new(
    session: Session,
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
    from ledger.records.drafts import apply_options, load_draft

    book = session.book
    fields = apply_options(
        load_draft(draft, book.config.limits),
        kind,
        trained_on=trained_on,
        evaluates=evaluates,
        tested_on=tested_on,
        supersedes=supersedes,
        reason=reason,
        change_type=change_type,
    )
    source = str(draft)
    if dry_run:
        _, content = book.check_new_record(
            kind,
            name,
            version,
            fields,
            snapshot=dvc_file,
            stage=stage,
            output=output,
            source=source,
        )
        click.echo(content.decode(), nl=False)
        return
    path = book.new_record(
        kind, name, version, fields, snapshot=dvc_file, stage=stage, output=output, source=source
    )
    click.echo(f"wrote {book.relpath(path)}")


@cli.command()
@pass_session
def complete(session: Session) -> None:
    """Write the records DVC stages left pending, their snapshots taken from dvc.lock."""
    written, problems = session.book.complete()
    for path in written:
        click.echo(f"wrote {session.book.relpath(path)}")
    if problems:
        raise InvalidRecordsError(problems)
    if not written:
        click.echo("nothing pending")


@cli.group("import")
def import_() -> None:
    """Draft records from another tool's logs."""


@import_.command("mlflow")
@click.option(
    "--tracking-uri",
    metavar="URI",
    help="A local MLflow store: sqlite:///FILE or a folder such as ./mlruns "
    "(default: MLFLOW_TRACKING_URI, else ./mlflow.db or ./mlruns).",
)
@click.option("--experiment", metavar="NAME", help="Only the runs of this experiment.")
@click.option("--run", "run_ids", metavar="ID", multiple=True, help="Only this run (repeatable).")
@REPORT
@pass_session
def import_mlflow(
    session: Session,
    tracking_uri: str | None,
    experiment: str | None,
    run_ids: tuple[str, ...],
    fmt: str,
) -> None:
    """Draft a record for each model and evaluation MLflow runs logged: what MLflow knows is
    filled in, what it lacks is listed, and `ledger new --from DRAFT` finishes each one."""
    result = session.book.import_mlflow(tracking_uri, experiment, run_ids)
    _report(lambda r: r.text(), result, fmt)
    if result.problems:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--staged", is_flag=True, help="Check the index (what is about to be committed).")
@REPORT
@pass_session
def validate(session: Session, paths: tuple[Path, ...], staged: bool, fmt: str) -> None:
    """Check records in the working tree: schema, identity and place, links, DVC snapshots, PHI."""
    from ledger.views.reports import validation_text

    if staged and paths:
        raise click.UsageError("--staged checks the whole index; give no paths with it")
    book = session.book
    with _progress("checking records") as progress:
        result = book.validate_staged() if staged else book.validate(list(paths) or None, progress)
    _report(validation_text, result, fmt)
    if not result.ok:
        sys.exit(EXIT_PROBLEMS)


REV = click.option("--rev", default=None, help="Read from this commit instead of the working tree.")
REV_HEAD = click.option("--rev", default="HEAD", show_default=True, help="The commit to read.")
ALL_VERSIONS = click.option("--all-versions", is_flag=True, help="Superseded versions too.")


@cli.command("list")
@click.argument("kind", required=False, type=click.Choice(["dataset", "model", "evaluation"]))
@REV_HEAD
@ALL_VERSIONS
@_format(LIST.names, "table")
@OUTPUT
@pass_session
def list_(
    session: Session,
    kind: str | None,
    rev: str,
    all_versions: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """The records at REV: current versions with title, who recorded them and when, and each
    evaluation's metrics and the outcome its criteria give."""
    _emit(LIST.render(fmt, session.book.list_records(kind, rev, all_versions=all_versions)), output)


@cli.command()
@click.argument("ref", required=False)
@click.option(
    "--framework",
    type=click.Choice([*framework_names(), ALL_FRAMEWORKS]),
    default=ALL_FRAMEWORKS,
    show_default=True,
    help="The reporting framework, or all of them.",
)
@click.option("--require", is_flag=True, help="Exit 1 when a required item is missing.")
@REV_HEAD
@_format(COVERAGE.names, "table")
@OUTPUT
@pass_session
def coverage(
    session: Session,
    ref: str | None,
    framework: str,
    require: bool,
    rev: str,
    fmt: str,
    output: Path | None,
) -> None:
    """Which items of reporting frameworks the records of model version REF and what it links
    to hold (met, partial, missing, not applicable, with the reason); without REF, of every
    current model version. How items map to fields is in docs/coverage.md."""
    report = session.book.coverage(ref, framework, rev)
    _emit(COVERAGE.render(fmt, report), output)
    if require and report.missing_required:
        for missing in report.missing_required:
            click.echo(
                f"{missing.model}: {missing.framework} item {missing.item} is required and "
                f"missing: {missing.reason}",
                err=True,
            )
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("filter_text", metavar="FILTER")
@click.option(
    "--order-by", metavar="EXPR", help="Fields to sort by, each asc or desc: metrics.auroc desc."
)
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows.")
@click.option(
    "--columns",
    metavar="FIELDS",
    help="Fields to show, separated by commas (default: id, the fields named, title).",
)
@REV_HEAD
@ALL_VERSIONS
@_format(LIST.names, "table")
@OUTPUT
@pass_session
def query(
    session: Session,
    filter_text: str,
    order_by: str | None,
    limit: int | None,
    columns: str | None,
    rev: str,
    all_versions: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """Record versions that FILTER selects, as in MLflow's search_runs:
    "metrics.sensitivity > 0.8 and model = 'sepsis-risk'". The language is in docs/query.md."""
    result = session.book.query(
        filter_text,
        order_by=order_by,
        limit=limit,
        columns=columns,
        rev=rev,
        all_versions=all_versions,
    )
    _emit(LIST.render(fmt, result), output)


@cli.command()
@click.argument("ref")
@REV
@REPORT
@pass_session
def show(session: Session, ref: str, rev: str | None, fmt: str) -> None:
    """Print one record: REF is KIND:NAME@VERSION, NAME@VERSION or a record's path."""
    _report(lambda shown: shown.text(), session.book.show(ref, rev), fmt)


@cli.command()
@click.argument("ref")
@click.option(
    "--meaning",
    required=True,
    type=click.Choice(["reviewed", "approved", "released", "rejected"]),
    help="What the signature means.",
)
@click.option("--role", required=True, help="The role you sign in, e.g. clinical-lead.")
@click.option("--comment", help="Why, or under what conditions (no patient data).")
@pass_session
def sign(session: Session, ref: str, meaning: str, role: str, comment: str | None) -> None:
    """Sign off a committed version: a signed commit of its own, never an edit of the record."""
    signed = session.book.sign(ref, meaning=meaning, role=role, comment=comment)
    entry = signed.entry
    click.echo(
        f"signed {entry.signs.ref} as {meaning} ({role}) by "
        f"{entry.signer.name} <{entry.signer.email}>: {signed.path}, commit {signed.commit[:12]}"
    )


@cli.command()
@click.argument("ref")
@click.option(
    "--stage",
    required=True,
    type=click.Choice(["staging", "production", "retired"]),
    help="The stage the model version moves to.",
)
@click.option("--reason", required=True, help="Why it moves there (no patient data).")
@pass_session
def promote(session: Session, ref: str, stage: str, reason: str) -> None:
    """Move a model version to a stage: refused unless its evaluation, criteria and
    sign-offs qualify it; a signed commit of its own."""
    done = session.book.promote(ref, stage=stage, reason=reason)
    entry = done.entry
    click.echo(
        f"promoted {entry.signs.ref} to {stage} by {entry.signer.name} <{entry.signer.email}>: "
        f"{done.path}, commit {done.commit[:12]}"
    )


@cli.command()
@REV_HEAD
@REPORT
@pass_session
def status(session: Session, rev: str, fmt: str) -> None:
    """Each model version's stage, and who promoted it, when and why."""
    _report(lambda shown: shown.text(), session.book.status(rev), fmt)


@cli.command()
@click.argument("ref")
@click.option("--rev", default="HEAD", show_default=True, help="Walk history from this commit.")
@REPORT
@pass_session
def log(session: Session, ref: str, rev: str, fmt: str) -> None:
    """The history of one record: who recorded it, when, why, and signature status."""
    _report(lambda found: found.text(), session.book.log(ref, rev), fmt)


@cli.command()
@click.option("--rev", default="HEAD", show_default=True, help="The commit to verify.")
@click.option("--data", is_flag=True, help="Also check workspace, DVC cache and remote.")
@click.option("--require-signed", is_flag=True, help="Unsigned commits are errors.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Check everything from git alone, ignoring (and not keeping) the state in .git/ledger.",
)
@REPORT
@pass_session
def verify(
    session: Session, rev: str, data: bool, require_signed: bool, no_cache: bool, fmt: str
) -> None:
    """Integrity of the committed ledger: links, DVC snapshots, history, signatures."""
    from ledger.views.reports import verify_text

    session.remember = not no_cache
    with _progress("reading records") as progress:
        result = session.book.verify(
            rev, data=data, require_signed=require_signed, progress=progress
        )
    _report(verify_text, result, fmt)
    if not result.ok:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("ref", required=False)
@REV_HEAD
@_format(LINEAGE.names, "text")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what REF depends on.")
@click.option(
    "--downstream", "direction", flag_value="downstream", help="Only what depends on REF."
)
@click.option("--depth", type=click.IntRange(min=1), help="At most N links away from REF.")
@click.option("--all-versions", is_flag=True, help="Show superseded versions too.")
@click.option("--md", is_flag=True, help="Mermaid inside a fenced block, for Markdown.")
@OUTPUT
@pass_session
def lineage(
    session: Session,
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
    from ledger.views.formats import MERMAID_MARKDOWN

    if md and fmt != "mermaid":
        raise click.UsageError("--md goes with --format mermaid")
    if (direction or depth) and not ref:
        raise click.UsageError("--upstream, --downstream and --depth need a REF")
    view = session.book.lineage(
        ref,
        rev,
        direction=cast("Direction", direction or "both"),
        depth=depth,
        all_versions=all_versions,
    )
    _emit(MERMAID_MARKDOWN.render(view) if md else LINEAGE.render(fmt, view), output)


@cli.command()
@click.argument("ref", required=False)
@REV_HEAD
@click.option(
    "--fhir-version",
    type=click.Choice(["R5", "R4B"]),
    help="The FHIR version of the json and ndjson formats.  [default: R5]",
)
@_format(
    PROVENANCE.names,
    "json",
    "A FHIR Bundle, FHIR resources one per line (with -o, a Bulk Data file set), or W3C PROV.",
)
@click.option(
    "--bundle-type",
    type=click.Choice(BUNDLE_TYPES),
    help="collection, or transaction: each entry a PUT of its id, to load into a FHIR "
    "server as often as you like.  [default: collection]",
)
@click.option(
    "--files-url",
    metavar="URL",
    help="With --format ndjson -o DIR: where DIR will be served; the manifest's file URLs "
    "start with it (default: file names relative to the manifest).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write to FILE instead of standard output; with --format ndjson, a folder: one "
    "NDJSON file per resource type and the Bulk Data manifest.",
)
@pass_session
def provenance(
    session: Session,
    ref: str | None,
    rev: str,
    fhir_version: str | None,
    fmt: str,
    bundle_type: str | None,
    files_url: str | None,
    output: Path | None,
) -> None:
    """Provenance of every record version, or of REF and its upstream: FHIR Provenance (R5 or
    R4B), or the lineage graph in W3C PROV."""
    if fhir_version is not None and fmt not in FHIR_FORMATS:
        raise click.UsageError(f"--fhir-version goes with --format json or ndjson, not {fmt}")
    if bundle_type is not None and fmt != "json":
        raise click.UsageError(f"--bundle-type goes with --format json, not {fmt}")
    if files_url is not None and (fmt != "ndjson" or output is None):
        raise click.UsageError("--files-url goes with --format ndjson -o DIR")
    found = session.book.provenance(ref, rev, fhir_version or "R5", bundle_type or "collection")
    if fmt == "ndjson" and output is not None:
        from ledger.fhir.bulk_files import write_file_set

        written = write_file_set(found, output, files_url)
        click.echo(
            f"wrote {len(written)} files to {output}; the manifest is {output / 'manifest.json'}"
        )
        return
    if output is not None and output.is_dir():
        raise click.UsageError(f"{output} is a folder; -o names a file for --format {fmt}")
    _emit(PROVENANCE.render(fmt, found), output)


@cli.command()
@click.argument("base")
@click.argument("head", default="HEAD")
@_format(REVIEW.names, "text")
@OUTPUT
@pass_session
def diff(session: Session, base: str, head: str, fmt: str, output: Path | None) -> None:
    """Review what changed between BASE and HEAD: records, lineage, metrics, new findings."""
    _emit(REVIEW.render(fmt, session.book.diff(base, head)), output)


@cli.command()
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write: new, empty, or a previous report.",
)
@REV_HEAD
@pass_session
def report(session: Session, output: Path, rev: str) -> None:
    """A static site of the models that opens offline: each model's stage, metric trends with
    intervals, subgroup forest plots, acceptance criteria, lineage and history."""
    written = session.book.report(output, rev)
    files = f"{len(written)} file" + ("" if len(written) == 1 else "s")
    click.echo(f"wrote {files} to {output}; open {output / 'index.html'}")


@cli.command("technical-file")
@click.argument("ref")
@REV_HEAD
@_format(TECHNICAL_FILE.names, "markdown")
@OUTPUT
@pass_session
def technical_file(session: Session, ref: str, rev: str, fmt: str, output: Path | None) -> None:
    """A model version's technical file: intended use, data, training, evaluation, changes,
    sign-offs, risks, planned changes and history, in EU AI Act Annex IV order."""
    _emit(TECHNICAL_FILE.render(fmt, session.book.technical_file(ref, rev)), output)


@cli.command()
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option(
    "--query",
    "query_text",
    metavar="FILTER",
    help="Compare the versions a ledger query filter selects.",
)
@REV_HEAD
@click.option("--all-versions", is_flag=True, help="With --query: superseded versions too.")
@REPORT
@pass_session
def compare(
    session: Session,
    refs: tuple[str, ...],
    query_text: str | None,
    rev: str,
    all_versions: bool,
    fmt: str,
) -> None:
    """Two or more evaluations (or models) side by side: metrics with their intervals, what
    differs in data, model configuration and evaluation conditions, and whether the
    differences lie within the intervals."""
    from ledger.views.comparison_table import ComparisonTable

    table = session.book.compare(*refs, query=query_text, rev=rev, all_versions=all_versions)
    _report(ComparisonTable.text, table, fmt)


@cli.command()
@click.option("--rev", default="HEAD", show_default=True, help="The commit to export.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The zip file to write.",
)
@click.option(
    "--allow-findings",
    is_flag=True,
    help="Export even when verify finds errors; the README and manifest then say so first.",
)
@click.option("--sign", is_flag=True, help="Sign the manifest with git's SSH signing key.")
@REPORT
@pass_session
def export(
    session: Session, rev: str, output: Path, allow_findings: bool, sign: bool, fmt: str
) -> None:
    """Write an offline audit bundle of the ledger at REV (refused when verify finds errors)."""
    from ledger.views.formats import to_json_text

    facts = session.book.export(output, rev, allow_findings=allow_findings, sign=sign)
    if fmt == "json":
        _emit([to_json_text(facts)])
        return
    click.echo(
        f"wrote {facts['output']}: {facts['files']} files from commit "
        f"{facts['commit']}\nsha256 {facts['sha256']}\n"
        f"manifest sha256 {facts['manifest_sha256']} (give it to the auditor separately)\n"
        f"verification {facts['verification']}, signed {facts['signed']}"
    )


@cli.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--expect-manifest",
    metavar="SHA256",
    help="The manifest SHA-256 the producer handed over (`ledger export` prints it).",
)
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check the manifest's SSH signature against this file (git's allowed-signers format).",
)
@REPORT
def verify_export(
    file: Path, expect_manifest: str | None, allowed_signers: Path | None, fmt: str
) -> None:
    """Check an audit bundle offline, without the repository."""
    from ledger.api import Ledger
    from ledger.views.reports import export_check_text

    result = Ledger.verify_export(file, expect_manifest, allowed_signers)
    _report(export_check_text, result, fmt)
    if not result.ok:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path) -> None:
    """Build an example repository (git + DVC) through a healthcare team's whole workflow."""
    from ledger.api import Ledger

    Ledger.demo(directory, echo=click.echo)


def main() -> None:
    """Entry point: run the CLI and map every outcome to the documented exit code."""
    from ledger.bulk import freeze_after_bulk

    freeze_after_bulk()  # this process runs one command and exits
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
        if isinstance(exc, ExportRefusedError):
            click.echo(f"ledger: {exc.summary}", err=True)
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
