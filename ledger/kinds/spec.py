"""What a record kind declares (see ``ledger.kinds``): plain data and the functions that map it."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from ledger.records.identity import Kind

if TYPE_CHECKING:
    from pydantic import BaseModel

# How one record depends on another: the lineage graph's edges between records.
Relation = Literal["trained-on", "evaluated-on", "evaluates", "compared-with", "supersedes"]
RELATIONS: tuple[Relation, ...] = get_args(Relation)
# The groups ``compare`` sorts differences into.
Group = Literal["data", "model configuration", "evaluation conditions"]


@dataclass(frozen=True)
class LinkDecl:
    """Where a kind holds links of one relation: keys from the record's root, ``*`` for every
    item of a list. ``expects`` is the kind the target must be (None: the record's own kind)."""

    path: tuple[str, ...]
    relation: Relation
    expects: Kind | None

    def sites(self, content: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(JSON pointer, link object) of every link this declaration finds in ``content``.

        Values that are not link objects (a ``not_applicable`` statement) are passed over.
        """
        stack: list[tuple[str, object, int]] = [("", content, 0)]
        while stack:
            pointer, node, depth = stack.pop()
            if depth == len(self.path):
                if isinstance(node, Mapping) and "ref" in node:
                    yield pointer, node
                continue
            key = self.path[depth]
            if key == "*" and isinstance(node, list):
                items = list(enumerate(node))
                stack.extend((f"{pointer}/{i}", item, depth + 1) for i, item in reversed(items))
            elif isinstance(node, Mapping) and key in node:
                stack.append((f"{pointer}/{key}", node[key], depth + 1))


@dataclass(frozen=True)
class LineageStyle:
    """How views draw records of a kind: a column (``rank``, what others depend on first), a
    palette shared by every view, and shapes in Mermaid's and Graphviz's vocabularies."""

    rank: int
    fill: str
    line: str
    text: str
    mermaid_shape: tuple[str, str]
    dot_shape: str
    dot_style: str


@dataclass(frozen=True)
class FhirMapping:
    """How a record version of the kind becomes FHIR.

    ``build(version, record)`` returns the resource, or a list of resources whose first is the
    record's own and the rest made of it alone (``ledger.fhir.mapped`` explains the input);
    ``sources`` are the relations whose targets are inputs of its Provenance (``snapshot-of``:
    the record's own DVC snapshots); ``as_source`` is how a record of this kind appears as such
    an input of another record: by its data (its snapshots' DocumentReferences) or its resource.
    """

    resource: str
    build: Callable[..., dict[str, Any] | list[dict[str, Any]]]
    sources: tuple[Relation | Literal["snapshot-of"], ...]
    as_source: Literal["data", "resource"]


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    # The typed model as ``module:Class``, imported on first use: building pydantic models is
    # a tenth of a second that a run whose record files all have kept facts never needs.
    model_path: str
    links: tuple[LinkDecl, ...]
    snapshots: tuple[str, ...]
    # What a version states of its own data or run (dotted paths): a version that supersedes
    # another states them afresh, never takes them over (``ledger.records.drafts.inherited``).
    measured: tuple[str, ...]
    compared: Mapping[Group, tuple[str, ...]]
    lineage: LineageStyle
    fhir: FhirMapping

    @property
    def model(self) -> type[BaseModel]:
        return cast("type[BaseModel]", _import(self.model_path))

    def link_sites(
        self, content: Mapping[str, Any]
    ) -> Iterator[tuple[LinkDecl, str, Mapping[str, Any]]]:
        """(declaration, JSON pointer, link object) of every link in a record of this kind."""
        for decl in self.links:
            for pointer, link in decl.sites(content):
                yield decl, pointer, link

    def expected(self, decl: LinkDecl) -> Kind:
        return decl.expects or self.kind


@functools.cache
def _import(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
