"""The lineage graph as W3C PROV (PROV-DM), written with the ``prov`` library.

One PROV statement per node and per edge of the lineage graph, so the document is the same
graph in PROV's vocabulary and reads back into it (``lineage_of``):

=================  ==========================================================================
lineage            PROV
=================  ==========================================================================
record version     ``entity``, ``prov:type`` ``ledger:dataset|model|evaluation``
snapshot           ``entity``, ``prov:type`` ``ledger:snapshot`` (the DVC data it documents)
commit             ``activity``, ``prov:type`` ``ledger:commit``: the recording of the versions
                   it added, from its author time to its commit time
person             ``agent``, ``prov:type`` ``prov:Person``, identified by ``mailto:``
supersedes         ``wasRevisionOf`` (``wasDerivedFrom`` with ``prov:type prov:Revision``)
trained-on,        ``wasDerivedFrom`` with ``ledger:relation`` naming the link: the model's,
evaluates, ...     the evaluation's content derives from what it links to
snapshot-of        ``wasDerivedFrom``: the record's hashes and counts were computed from the data
recorded-in        ``wasGeneratedBy`` at the commit time
authored-by,       ``wasAssociatedWith`` with ``prov:role`` ``ledger:author`` or
committed-by       ``ledger:committer``
=================  ==========================================================================

Identifiers are the lineage graph's node ids read as qualified names: ``record:KIND:NAME@VERSION``,
``snapshot:<md5>``, ``commit:<sha>`` under the configured base (``fhir_base``), and
``agent:<email>`` bound to ``mailto:``. Characters outside a plain set are percent-encoded, so
any git e-mail or record name gives a valid PROV-N name and a valid URI. Every attribute has a
single value: ``prov`` keeps an attribute's values in a set, whose order would otherwise change
from run to run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, unquote

from prov.constants import PROV_ROLE, PROV_TYPE
from prov.identifier import Identifier, Namespace
from prov.model import (
    PROV,
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDerivation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    QualifiedName,
)

from ledger.errors import UsageError

if TYPE_CHECKING:
    from ledger.views.graph import Edge, LineageGraph, Node

Attributes = dict[str | Identifier, Any]

#: The ``--format`` names and the ``prov`` serializer each writes with.
SERIALIZERS: Final = {"prov-json": "json", "prov-jsonld": "jsonld", "provn": "provn"}

_SAFE: Final = "@.-_:"  # kept as written in local names; everything else is percent-encoded
_PREFIXES: Final = ("record", "snapshot", "commit")
_ROLES: Final = {"authored-by": "author", "committed-by": "committer"}
# Node attributes written as ``ledger:`` attributes, by node kind; nested values (a commit's
# author) are flattened, and lists (its parents) joined, to keep one value per attribute.
_RECORD_FIELDS: Final = ("name", "version", "title", "path", "sha256", "blob")
_SNAPSHOT_FIELDS: Final = ("path", "md5", "sha256", "size", "nfiles", "hash", "dvc_file")


def prov_document(graph: LineageGraph, base: str) -> ProvDocument:
    """The graph as a PROV document; record, snapshot and commit names live under ``base``."""
    document = ProvDocument()
    vocabulary = document.add_namespace("ledger", base + "prov/")
    for prefix in _PREFIXES:
        document.add_namespace(prefix, f"{base}{prefix}/")
    document.add_namespace("agent", "mailto:")
    for node_id in sorted(graph.nodes):
        _add_node(document, vocabulary, graph.nodes[node_id])
    for edge in graph.edges:
        _add_edge(document, vocabulary, graph, edge)
    return document


def prov_chunks(graph: LineageGraph, base: str, fmt: str) -> Iterator[str]:
    """The document in one of ``SERIALIZERS``' formats, with a final newline. JSON is
    indented with sorted keys (as ledger's other JSON); PROV-JSONLD embeds its context, so
    the file is read offline as it is."""
    options: dict[str, Any] = {}
    if fmt != "provn":
        options = {"indent": 2, "sort_keys": True, "ensure_ascii": False}
    if fmt == "prov-jsonld":
        options["context"] = "embed"
    stream = io.StringIO()
    prov_document(graph, base).serialize(stream, format=SERIALIZERS[fmt], **options)
    text = stream.getvalue()
    yield text if text.endswith("\n") else text + "\n"


def read_prov(text: str, fmt: str) -> ProvDocument:
    """A document in one of ``SERIALIZERS``' formats, read with ``prov``."""
    try:
        return ProvDocument.deserialize(content=text, format=SERIALIZERS[fmt])
    except Exception as exc:  # prov raises its own and json's errors; say which format failed
        raise UsageError(f"not a {fmt} document: {exc}") from None


def lineage_of(document: ProvDocument) -> tuple[dict[str, str], set[tuple[str, str, str]]]:
    """The lineage graph a document written by ``prov_document`` holds: node kinds by node id,
    and edges as (source, target, kind). The inverse of the mapping in the module docstring."""
    nodes: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()
    for record in document.get_records():
        if isinstance(record, ProvEntity):
            nodes[_node_id(record.identifier)] = (
                "snapshot" if _type(record) == "snapshot" else "record"
            )
        elif isinstance(record, ProvActivity):
            nodes[_node_id(record.identifier)] = "commit"
        elif isinstance(record, ProvAgent):
            nodes[_node_id(record.identifier)] = "agent"
        elif isinstance(record, ProvDerivation):
            source, target = (
                record.get_attribute(f"prov:{a}") for a in ("generatedEntity", "usedEntity")
            )
            relation = _single(record, "ledger:relation")
            if _single(record, PROV_TYPE) == PROV["Revision"]:
                relation = "supersedes"
            edges.add((_node_id(_one(source)), _node_id(_one(target)), str(relation)))
        elif isinstance(record, ProvGeneration):
            entity, activity = (record.get_attribute(f"prov:{a}") for a in ("entity", "activity"))
            edges.add((_node_id(_one(entity)), _node_id(_one(activity)), "recorded-in"))
        elif isinstance(record, ProvAssociation):
            activity, agent = (record.get_attribute(f"prov:{a}") for a in ("activity", "agent"))
            role = _single(record, PROV_ROLE)
            kind = next(k for k, r in _ROLES.items() if role == _vocabulary(document, r))
            edges.add((_node_id(_one(activity)), _node_id(_one(agent)), kind))
    return nodes, edges


# --- writing --------------------------------------------------------------------------------


def _add_node(document: ProvDocument, ledger: Namespace, node: Node) -> None:
    name = _qualified(node.id)
    attrs = node.attrs
    if node.kind == "record":
        kind = str(attrs.get("record_kind") or node.id.split(":")[1])
        fields = _fields(attrs, _RECORD_FIELDS)
        if attrs.get("missing"):
            fields["ledger:missing"] = True  # a link's target that is not in the tree
        document.entity(name, {PROV_TYPE: ledger[kind], "prov:label": node.label, **fields})
    elif node.kind == "snapshot":
        fields = _fields(attrs, _SNAPSHOT_FIELDS)
        document.entity(name, {PROV_TYPE: ledger["snapshot"], "prov:label": node.label, **fields})
    elif node.kind == "commit":
        # PROV asks that an activity start no later than it ends; git does not (a rebase can
        # leave an author time after the commit time), so the two bound the activity in order
        # and the attributes keep each as git wrote it.
        start, end = sorted((_time(attrs["author_date"]), _time(attrs["committer_date"])))
        fields = {PROV_TYPE: ledger["commit"], "prov:label": node.label, **_commit_fields(attrs)}
        document.activity(name, start, end, fields)
    else:
        fields = _fields(attrs, ("name", "email"))
        document.agent(name, {PROV_TYPE: PROV["Person"], "prov:label": node.label, **fields})


def _fields(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Attributes:
    return {f"ledger:{k}": attrs[k] for k in names if attrs.get(k) is not None}


def _commit_fields(attrs: Mapping[str, Any]) -> Attributes:
    signature = attrs["signature"]
    fields: Attributes = {
        "ledger:sha": attrs["sha"],
        "ledger:parents": " ".join(attrs["parents"]),
        "ledger:message": attrs["message"],
        "ledger:authorDate": attrs["author_date"],
        "ledger:committerDate": attrs["committer_date"],
        "ledger:signature": signature["state"],
    }
    optional = {"reason": attrs.get("reason"), **{k: signature.get(k) for k in ("signer", "key")}}
    fields.update({f"ledger:{k}": v for k, v in optional.items() if v})
    return fields


def _add_edge(document: ProvDocument, ledger: Namespace, graph: LineageGraph, edge: Edge) -> None:
    source, target = _qualified(edge.source), _qualified(edge.target)
    if edge.kind == "supersedes":
        document.wasRevisionOf(source, target)
    elif edge.kind == "recorded-in":
        committed = graph.nodes[edge.target].attrs["committer_date"]
        document.wasGeneratedBy(source, target, _time(committed))
    elif edge.kind in _ROLES:
        document.wasAssociatedWith(
            source, target, other_attributes={PROV_ROLE: ledger[_ROLES[edge.kind]]}
        )
    else:
        document.wasDerivedFrom(source, target, other_attributes={"ledger:relation": edge.kind})


def _qualified(node_id: str) -> str:
    prefix, _, local = node_id.partition(":")
    return f"{prefix}:{quote(local, safe=_SAFE)}"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- reading --------------------------------------------------------------------------------


def _node_id(name: QualifiedName | None) -> str:
    if name is None:
        raise UsageError("a PROV element without an identifier is not one ledger wrote")
    return f"{name.namespace.prefix}:{unquote(name.localpart)}"


def _one(values: Any) -> Any:
    """The one value of a formal attribute (``prov`` answers with a set)."""
    (value,) = values
    return value


def _single(record: Any, attribute: Any) -> Any:
    values = record.get_attribute(attribute)
    return next(iter(values)) if values else None


def _type(record: Any) -> str:
    value = _single(record, PROV_TYPE)
    return value.localpart if isinstance(value, QualifiedName) else str(value)


def _vocabulary(document: ProvDocument, local: str) -> QualifiedName | None:
    return document.valid_qualified_name(f"ledger:{local}")
