"""The output formats of every command, in one registry: the CLI derives its choices from it.

A view is a pure function of the ledger's state; each format renders one view to text chunks
(large outputs are never one string). Renderers are imported on first use, so ``--format
text`` never loads the HTML template or FHIR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ledger.compactjson import compact_json

if TYPE_CHECKING:
    from ledger.fhir.bundle import ProvenanceBundle
    from ledger.signoffs.stages import Verdict
    from ledger.state.ledger_state import LedgerState
    from ledger.views.coverage import CoverageReport
    from ledger.views.graph import LineageGraph

T = TypeVar("T")
Chunks = Iterable[str]


@dataclass(frozen=True)
class Format(Generic[T]):
    name: str
    help: str
    render: Callable[[T], Chunks]


class Formats(Generic[T]):
    """The formats of one view, by name, in the order the CLI lists them."""

    def __init__(self, *formats: Format[T]) -> None:
        self.by_name = {f.name: f for f in formats}

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def render(self, name: str, value: T) -> Chunks:
        return self.by_name[name].render(value)


def blocks(chunks: Chunks, size: int = 1 << 20) -> Iterator[str]:
    """``chunks`` joined into blocks of about ``size`` characters: a large view comes in tens
    of thousands of chunks, and each write to a stream or an archive has a cost of its own."""
    held: list[str] = []
    count = 0
    for chunk in chunks:
        held.append(chunk)
        count += len(chunk)
        if count >= size:
            yield "".join(held)
            held.clear()
            count = 0
    if held:
        yield "".join(held)


def to_json_text(value: object) -> str:
    """Deterministic JSON for machines, with sorted keys and a final newline. Objects have
    their members one to a line, indented; lists (of findings, commits, files: the parts
    that grow with the ledger) have each item compact on a line of its own, written by
    Python's C encoder (indenting runs in Python, ten times slower)."""
    return "".join(json_chunks(value))


def json_chunks(value: object) -> Iterator[str]:
    """``to_json_text(value)`` in pieces. A list may be given as an iterator: its items are
    then encoded one at a time, never all held (a report of 100,000 commits)."""
    yield from _chunks(value, "")
    yield "\n"


def _chunks(value: object, indent: str) -> Iterator[str]:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        separator = "{\n"
        for key in sorted(value):
            yield f"{separator}{inner}{compact_json(key)}: "
            yield from _chunks(value[key], inner)
            separator = ",\n"
        yield f"\n{indent}}}"
    elif isinstance(value, (list, Iterator)):
        # Items are encoded one by one, as they come, and their texts joined a batch at a
        # time: a chunk per item would pass through every generator up to the writer, for
        # each of 10,000 findings or commits; a batch of items held at once could be large
        # (a coverage report's package is a hundred kilobytes of objects).
        separator = f",\n{inner}"
        start = f"[\n{inner}"
        held: list[str] = []
        size = 0
        for text in map(compact_json, value):
            held.append(text)
            size += len(text)
            if len(held) >= _BATCH or size >= _BATCH_CHARS:
                yield start + separator.join(held)
                start, held, size = separator, [], 0
        if held:
            yield start + separator.join(held)
        elif start != separator:
            yield "[]"
            return
        yield f"\n{indent}]"
    else:
        yield compact_json(value)


_BATCH = 1000  # encoded list items held at a time
_BATCH_CHARS = 1 << 20  # and at most about this much of their text


def _json(value: Any) -> Iterator[str]:
    # Lazy like every renderer: the caller writes the output in a quiet phase (``cli._emit``).
    # A value whose lists grow with the ledger offers them as iterators (``json_value``).
    lazy = getattr(value, "json_value", None)
    yield from json_chunks(lazy() if lazy is not None else value.to_json())


# --- lineage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageView:
    """A selected part of a state's lineage graph, as the lineage formats render it."""

    graph: LineageGraph
    state: LedgerState | None = None


def _text(view: LineageView) -> Chunks:
    from ledger.views.text import render_text

    return (render_text(view.graph),)


def _mermaid(view: LineageView) -> Chunks:
    from ledger.views.mermaid import render_mermaid

    return (render_mermaid(view.graph),)


def _mermaid_md(view: LineageView) -> Chunks:
    from ledger.views.mermaid import render_mermaid

    return (render_mermaid(view.graph, md=True),)


def _dot(view: LineageView) -> Chunks:
    from ledger.views.dot import render_dot

    return (render_dot(view.graph),)


def _svg(view: LineageView) -> Chunks:
    from ledger.views.dot import render_svg

    return (render_svg(view.graph),)


def _graph_json(view: LineageView) -> Chunks:
    return view.graph.json_chunks()


def _html(view: LineageView) -> Chunks:
    from ledger.views.html import render_html

    state = view.state
    if state is None:
        return render_html(view.graph, lambda ids: {})
    paths = {n.id: n.attrs["path"] for n in view.graph.records() if "path" in n.attrs}

    def contents(ids: list[str]) -> dict[str, str]:
        # The files as committed: what an auditor would find in the repository.
        assert state is not None
        files = {i: state.records.by_path[paths[i]] for i in ids if i in paths}
        blobs = state.repo.blobs(f.blob for f in files.values())
        return {
            i: blobs[f.blob].decode("utf-8", "replace") for i, f in files.items() if f.blob in blobs
        }

    def judgments(ids: list[str]) -> dict[str, list[Verdict] | None]:
        # Each evaluation's criteria judged from its metrics (and its baseline's), as verify
        # and the sign-off stages judge them, kept by blob: the page shows the outcome.
        from ledger.query.columns import kept_verdicts

        assert state is not None
        files = {i: state.records.by_path[paths[i]] for i in ids if i in paths}
        found = kept_verdicts(state, list(files.values()))
        return {i: found.get(f.blob) for i, f in files.items()}

    return render_html(view.graph, contents, judgments)


LINEAGE: Formats[LineageView] = Formats(
    Format("text", "a tree for the terminal", _text),
    Format("mermaid", "a Mermaid flowchart (GitHub and GitLab render it)", _mermaid),
    Format("dot", "Graphviz DOT", _dot),
    Format("svg", "SVG drawn by Graphviz", _svg),
    Format("json", "the documented node-link JSON", _graph_json),
    Format("html", "one self-contained page that opens offline", _html),
)
MERMAID_MARKDOWN = Format("mermaid", "Mermaid in a fenced block for Markdown", _mermaid_md)


# --- FHIR ---------------------------------------------------------------------------------


def _bundle_json(bundle: ProvenanceBundle) -> Chunks:
    return bundle.json_chunks()


def _bundle_ndjson(bundle: ProvenanceBundle) -> Chunks:
    return bundle.ndjson_chunks()


def _prov(fmt: str) -> Callable[[ProvenanceBundle], Chunks]:
    def render(bundle: ProvenanceBundle) -> Chunks:
        from ledger.views.w3c_prov import prov_chunks

        return prov_chunks(bundle.graph, bundle.systems.base, fmt)

    return render


#: The FHIR formats, whose output depends on ``--fhir-version``; the others are W3C PROV.
FHIR_FORMATS = ("json", "ndjson")
#: FHIR Bundle types ``provenance --format json`` writes (``ledger.fhir.bundle``, which the
#: command line does not import to list them).
BUNDLE_TYPES = ("collection", "transaction")
PROVENANCE: Formats[ProvenanceBundle] = Formats(
    Format("json", "a FHIR Bundle", _bundle_json),
    Format("ndjson", "one resource per line, for bulk loading", _bundle_ndjson),
    Format("prov-json", "W3C PROV-JSON", _prov("prov-json")),
    Format("prov-jsonld", "W3C PROV-JSONLD, its context embedded", _prov("prov-jsonld")),
    Format("provn", "W3C PROV-N", _prov("provn")),
)


# --- reviews ------------------------------------------------------------------------------


def _review_text(review: Any) -> Chunks:
    from ledger.views.review_report import review_text

    return (review_text(review),)


def _review_markdown(review: Any) -> Chunks:
    from ledger.views.mermaid import render_mermaid
    from ledger.views.review_report import review_markdown

    return (review_markdown(review, lambda g: render_mermaid(g, md=True)),)


REVIEW: Formats[Any] = Formats(
    Format("text", "plain text for the terminal", _review_text),
    Format("markdown", "Markdown to post on a pull request", _review_markdown),
    Format("json", "JSON for tools", _json),
)


# --- record lists -------------------------------------------------------------------------


def _list_table(listing: Any) -> Chunks:
    return (listing.table(),)


def _list_csv(listing: Any) -> Chunks:
    return (listing.csv(),)


LIST: Formats[Any] = Formats(
    Format("table", "a table for the terminal", _list_table),
    Format("json", "JSON for tools", _json),
    Format("csv", "CSV for spreadsheets", _list_csv),
)


# --- coverage -------------------------------------------------------------------------------


def _coverage_table(report: CoverageReport) -> Chunks:
    return report.table()


def _coverage_markdown(report: CoverageReport) -> Chunks:
    return report.markdown()


COVERAGE: Formats[CoverageReport] = Formats(
    Format("table", "a table for the terminal", _coverage_table),
    Format("json", "JSON for tools", _json),
    Format("markdown", "Markdown to post for review", _coverage_markdown),
)


# --- technical files ----------------------------------------------------------------------


def _technical_markdown(document: Any) -> Chunks:
    return (document.markdown(),)


def _technical_html(document: Any) -> Chunks:
    return (document.html(),)


TECHNICAL_FILE: Formats[Any] = Formats(
    Format("markdown", "Markdown, to read or post for review", _technical_markdown),
    Format("html", "a self-contained page that opens offline", _technical_html),
)


# --- everything else: a report as text, or its JSON ---------------------------------------


REPORT_FORMATS = ("text", "json")


def reports(text: Callable[[Any], str]) -> Formats[Any]:
    """Text (rendered by ``text``) or JSON (the value's ``to_json``)."""

    def render_text(value: Any) -> Iterator[str]:
        yield text(value)

    return Formats(
        Format("text", "text for people", render_text),
        Format("json", "JSON for tools", _json),
    )
