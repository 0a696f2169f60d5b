"""The FHIR Bundle (a ``collection`` or a ``transaction``) of a lineage graph, written as it
is built.

Each record version maps, through its kind's declaration (``KindSpec.fhir``), to a resource
and a Provenance built from the commit that added it; people become Practitioners,
organisations Organizations, DVC snapshots DocumentReferences. Records are read from git a
batch at a time and every resource is guarded (``ledger.fhir.checks``) and serialised as soon
as it exists, into a spool per resource type, so a ledger of 100,000 records never holds its
Bundle in memory. References are resolved against every entry once all are written. What each
version maps to is kept (``ledger.state.values``) by a digest of everything it is made from,
so after a commit only the versions whose inputs changed are mapped again.

Entries come in a fixed order (Organization, Practitioner, DocumentReference, Group, Device,
Observation, Evidence, Provenance; within a type, by the graph's sorted node ids) in fhir.resources'
element order, so the same graph gives the same bytes. ``Bundle.id`` derives from the version,
the commit and the entries' fullUrls, so the R5 and R4B Bundles and a narrower export
(``provenance REF``) of the same commit each get their own; ``Bundle.identifier`` is that
uuid as a URI (an identifier names one Bundle, not its commit), ``meta.source`` the commit
(``ids.commit_source``); ``Bundle.timestamp`` is the latest committer time in the graph, never
the clock.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import marshal
import re
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeVar

from ledger.bulk import quiet_gc
from ledger.compactjson import compact_encoder
from ledger.errors import UsageError
from ledger.fhir import versions
from ledger.fhir.checks import BundleGuard, EntryReview, FhirMappingError
from ledger.fhir.ids import (
    URI,
    Systems,
    commit_source,
    fhir_instant,
    full_url,
    identifier,
    latest,
    resource_id,
    systems,
)
from ledger.fhir.mapped import MappedRecord, Related
from ledger.fhir.provenance import SignOffFact, record_provenance
from ledger.fhir.resources import (
    Json,
    approver,
    organization,
    person,
    person_ref,
    record_ref,
    regulatory_tags,
    resource_ref,
    snapshot_document,
    snapshot_ref,
)
from ledger.kinds import spec
from ledger.state.store import commit_from_json, commit_to_json
from ledger.state.values import pack_marshalled
from ledger.views import formats
from ledger.views.graph import record_node_id
from ledger.workers import Workers, fork_pool

if TYPE_CHECKING:
    from ledger.git.commits import Commit
    from ledger.state.ledger_state import LedgerState
    from ledger.views.graph import LineageGraph, Node

ORDER = (
    "Organization",
    "Practitioner",
    "DocumentReference",
    "Group",
    "Device",
    "Observation",
    "Evidence",
    "Provenance",
)
_RANK = {resource_type: rank for rank, resource_type in enumerate(ORDER)}  # its spool
BUNDLE_TYPES = formats.BUNDLE_TYPES
_FULL_URL = re.compile(r'\{"fullUrl":"(urn:uuid:[0-9a-f-]{36})"')
_EXAMPLE_ID = "00000000-0000-5000-8000-000000000000"
# A reference in an entry's compact JSON line. It cannot match inside a string value: there a
# quote is written \", and the pattern begins and ends with bare quotes.
_URN_REFERENCE = re.compile(r'"reference":"urn:uuid:([0-9a-f-]{36})"')
BATCH = 500  # records read from git at a time: enough to stream, few enough to hold
RELATED_HELD = 1 << 14  # linked-to records held at once: most links go to a few upstream ones
SPOOL_BYTES = 8 << 20  # a spool stays in memory up to this size, then moves to a file
LINES_HELD = 1024  # entries gathered per resource type between writes to its spool
R = TypeVar("R")
# An entry on its line, in FHIR's element order (never sorted); one encoder for every entry.
_LINE = compact_encoder(sort_keys=False)


class ProvenanceBundle:
    """The Bundle of a graph's record versions, in one FHIR version; rendered on demand."""

    def __init__(
        self,
        state: LedgerState,
        graph: LineageGraph,
        fhir_version: str = "R5",
        bundle_type: str = "collection",
    ) -> None:
        if bundle_type not in BUNDLE_TYPES:
            raise UsageError(f"bundle type {bundle_type!r}: use one of {', '.join(BUNDLE_TYPES)}")
        self.state, self.graph = state, graph
        self.v = versions.fhir_version(fhir_version)
        self.fhir_version = self.v.name
        self.bundle_type = bundle_type
        self.systems = systems(state.config.fhir_base)

    def json_chunks(self) -> Iterator[str]:
        """The Bundle as JSON with a final newline: its own elements indented, each entry
        compact on a line of its own (so a Bundle of many thousand entries diffs by entry)."""
        spools, urls, guard = self._build(bundle=True)
        try:
            yield from self._bundle_chunks(spools, urls, guard)
        finally:  # also when the reader stops early
            for spool in spools:
                spool.close()

    def _bundle_chunks(
        self, spools: list[IO[str]], urls: list[str], guard: BundleGuard
    ) -> Iterator[str]:
        # A transaction of the same entries is another Bundle; a collection keeps its id.
        kind = () if self.bundle_type == "collection" else (self.bundle_type,)
        bundle_id = resource_id("Bundle", self.v.name, self.graph.commit, *kind, *sorted(urls))
        header: Json = {
            "resourceType": "Bundle",
            "id": bundle_id,
            **({"meta": source} if (source := commit_source(self.graph.commit)) else {}),
            # The id's uuid names this version, commit, type and selection, as the identifier
            # must.
            "identifier": identifier(URI, full_url(bundle_id)),
            "type": self.bundle_type,
        }
        stamp = self.timestamp
        if stamp:
            header["timestamp"] = stamp
        problems, written = guard.written_header(header)
        if written is None:
            raise FhirMappingError(problems)
        with_request = self._with_request(guard) if self.bundle_type == "transaction" else None
        text = json.dumps(written, indent=2, ensure_ascii=False)
        if not urls:
            yield text + "\n"
            return
        yield text[:-2] + ',\n  "entry": ['
        separator = "\n    "
        for spool in spools:
            for block in _whole_lines(spool):
                # A block of whole lines at a time, not a line: 40,000 entries pass through here.
                if with_request is not None:
                    entries = map(with_request, block[:-1].split("\n"))
                    yield separator + ",\n    ".join(entries)
                else:
                    yield separator + block[:-1].replace("\n", ",\n    ")
                separator = ",\n    "
        yield "\n  ]\n}\n"

    @property
    def timestamp(self) -> str | None:
        """The latest committer time in the graph: when the newest version shown was
        recorded, never the clock."""
        commits = [n for n in self.graph.nodes.values() if n.kind == "commit"]
        return latest([str(n.attrs["committer_date"]) for n in commits])

    def _with_request(self, guard: BundleGuard) -> Callable[[str], str]:
        """Adds to an entry's line the ``request`` that makes loading the Bundle idempotent:
        ``PUT Type/id`` with the resource's own content-derived id, so a server that loads it
        twice holds the same resources, not copies. Every request has one shape (a method
        and a ``Type/uuid`` URL), which the guard reviews once."""
        types = guard.resource_types
        problems = guard.review_request({"method": "PUT", "url": f"Provenance/{_EXAMPLE_ID}"})
        if problems:
            raise FhirMappingError([f"Bundle.entry.request: {p}" for p in problems])

        def with_request(entry: str) -> str:
            match = _FULL_URL.match(entry)
            if match is None:  # every entry line starts with its fullUrl (``_Reviewer.entry``)
                raise FhirMappingError([f"an entry without a fullUrl: {entry[:80]}"])
            url = match.group(1)
            request = f'{{"method":"PUT","url":"{types[url]}/{url.removeprefix("urn:uuid:")}"}}'
            return f'{entry[:-1]},"request":{request}}}'

        return with_request

    def ndjson_chunks(self) -> Iterator[str]:
        """One compact resource per line (NDJSON), in the Bundle's order, with references
        relative (``Type/id``): without a Bundle, no fullUrl resolves a ``urn:uuid:``."""
        spools, _, guard = self._build(bundle=False)
        types = guard.resource_types
        try:
            for spool in spools:
                for block in _whole_lines(spool):
                    yield relative_references(block, types)
        finally:  # also when the reader stops early
            for spool in spools:
                spool.close()

    def typed_ndjson(self) -> Iterator[tuple[str, Iterator[str]]]:
        """The NDJSON lines of each resource type that has any, in the Bundle's order (a Bulk
        Data file set has a file per type)."""
        spools, _, guard = self._build(bundle=False)
        types = guard.resource_types
        try:
            for resource_type, spool in zip(ORDER, spools, strict=True):
                if spool.tell():
                    spool.seek(0)
                    yield resource_type, (relative_references(line, types) for line in spool)
        finally:  # also when the reader stops early
            for spool in spools:
                spool.close()

    def resources(self) -> Iterator[Json]:
        for _, lines in self.typed_ndjson():
            yield from map(json.loads, lines)

    def _build(self, *, bundle: bool) -> tuple[list[IO[str]], list[str], BundleGuard]:
        mapping = _Mapping(self.state, self.graph, self.v, self.systems, bundle)
        try:
            with quiet_gc():
                mapping.build()
            problems = mapping.guard.finish()
            if problems:
                raise FhirMappingError(problems)
        except BaseException:
            mapping.close()
            raise
        return mapping.spools, mapping.urls, mapping.guard


class _Entry(NamedTuple):
    """One resource, reviewed (maybe in a worker) and written compact on one line: the entry
    for a Bundle, the resource for NDJSON (Python's C encoder; indenting runs in Python, ten
    times slower)."""

    url: str
    head: Json  # resourceType and id: what accepting it into the Bundle needs
    review: EntryReview
    line: str | None

    def plain(self) -> tuple[Any, ...]:
        head = self.head
        return (self.url, head["resourceType"], head["id"], self.review.plain(), self.line)

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> _Entry:
        url, resource_type, resource_id, review, line = plain
        head = {"resourceType": resource_type, "id": resource_id}
        return cls(url, head, EntryReview.from_plain(review), line)


class _Mapped(NamedTuple):
    """What one record version (or one snapshot) maps to: its entries in order, and for a
    dataset the snapshots it documents with its regulatory tags."""

    entries: list[_Entry]
    documents: list[tuple[str, str, list[str]]]  # (snapshot node id, dataset node id, tags)

    def plain(self) -> tuple[Any, ...]:
        return ([e.plain() for e in self.entries], self.documents)

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> _Mapped:
        entries, documents = plain
        return cls([_Entry.from_plain(e) for e in entries], documents)


class _RecordInput(NamedTuple):
    """Everything the mapping of one record version needs, so that a worker process needs
    nothing of the state or the graph (touching them would copy the parent's pages)."""

    node_id: str
    kind: str
    label: str
    sha256: str
    blob: str  # the committed file's git blob id: with the rest, names everything mapped
    commit: Commit
    related: dict[str, tuple[Related, ...]]
    snapshots: tuple[str, ...]  # snapshot node ids
    data: bytes = b""  # the committed file, read only when the version is mapped: a valid
    # record, which plain json.loads reads as checked
    signoffs: tuple[SignOffFact, ...] = ()  # the version's sign-offs that count

    def plain(self) -> tuple[Any, ...]:
        """As plain data for ``marshal``: how inputs travel to the workers (pickling the
        objects cost the parent, which every input passes through, twice as long)."""
        related = {
            relation: [(r.label, r.resource, r.data) for r in targets]
            for relation, targets in self.related.items()
        }
        signoffs = [list(one) for one in self.signoffs]
        return (
            *self[:5],
            commit_to_json(self.commit),
            related,
            self.snapshots,
            self.data,
            signoffs,
        )

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> _RecordInput:
        node_id, kind, label, sha256, blob, commit, related, snapshots, data, signoffs = plain
        return cls(
            node_id,
            kind,
            label,
            sha256,
            blob,
            commit_from_json(commit),
            {relation: tuple(Related(*r) for r in rows) for relation, rows in related.items()},
            snapshots,
            data,
            tuple(SignOffFact(*one) for one in signoffs),
        )


class _Pending(NamedTuple):
    """A record to map, before its input is made: only those that are not kept get one."""

    node: Node
    targets: dict[str, list[Node]]
    commit: Commit
    blob: str
    snapshots: tuple[str, ...]


class _Reviewer:
    """Resources into reviewed entries, for one FHIR version and output form; one per process,
    so that the shapes its guard learns serve every batch the process maps."""

    def __init__(self, v: versions.FhirVersion, bundle: bool) -> None:
        self.v, self.bundle = v, bundle
        self.guard = BundleGuard(v)
        self.reviewed: dict[str, _Entry] = {}

    def entry(self, resource: Json) -> _Entry:
        url = full_url(resource["id"])
        review = self.guard.review_entry(url, resource)
        line = None
        if review.written is not None:
            item = review.written if self.bundle else review.written["resource"]
            line = _LINE(item)
        head = {"resourceType": resource["resourceType"], "id": resource["id"]}
        return _Entry(url, head, review._replace(written=None), line)

    def entries(self, resources: Iterator[Json]) -> list[_Entry]:
        """Each resource's entry, once per id; a resource that many records share (their
        organisation, an author) is reviewed once per batch."""
        entries: dict[str, _Entry] = {}
        for resource in resources:
            rid = resource["id"]
            if rid not in entries:
                if rid not in self.reviewed:
                    self.reviewed[rid] = self.entry(resource)
                entries[rid] = self.reviewed[rid]
        return list(entries.values())


_REVIEWERS: dict[tuple[str, bool], _Reviewer] = {}


def _reviewer(version: str, bundle: bool) -> _Reviewer:
    if (version, bundle) not in _REVIEWERS:
        _REVIEWERS[version, bundle] = _Reviewer(versions.fhir_version(version), bundle)
    reviewer = _REVIEWERS[version, bundle]
    reviewer.reviewed.clear()  # a batch's memory, not the process's
    return reviewer


def _map_records(version: str, bundle: bool, base: str, rows: list[Any]) -> list[_Mapped]:
    """What each record of a batch (``_RecordInput.plain`` rows) maps to, here or in a
    worker, with the naming systems under ``base``."""
    if not rows:
        return []
    reviewer = _reviewer(version, bundle)
    out = []
    for record in map(_RecordInput.from_plain, rows):
        content = json.loads(record.data)
        documents = []
        if spec(record.kind).fhir.as_source == "data":
            tags = regulatory_tags(content)
            documents = [(snap, record.node_id, tags) for snap in record.snapshots]
        resources = _resources(reviewer.v, systems(base), record, content)
        out.append(_Mapped(reviewer.entries(resources), documents))
    return out


def _whole_lines(spool: IO[str], size: int = 1 << 20) -> Iterator[str]:
    """A spool's lines, from its start, in blocks of about ``size`` characters that end with
    a line's end. No line holds a line break but its last character: JSON escapes every
    control character within a string, and writes no space between values."""
    spool.seek(0)
    rest = ""
    while block := spool.read(size):
        block = rest + block
        end = block.rfind("\n") + 1
        rest = block[end:]
        if end:
            yield block[:end]
    if rest:
        raise FhirMappingError([f"a spooled entry without its line end: {rest[:80]}"])


def relative_references(line: str, types: Mapping[str, str]) -> str:
    """``line`` (a resource's compact JSON, or several such lines) with each ``urn:uuid:``
    reference to an entry (``types``: resource type by fullUrl) written ``Type/id``, the form a
    server or a Bulk Data file set resolves. The guard resolved every reference already."""

    def relative(match: re.Match[str]) -> str:
        uuid = match.group(1)
        return f'"reference":"{types["urn:uuid:" + uuid]}/{uuid}"'

    return _URN_REFERENCE.sub(relative, line)


def _map_documents(
    version: str, bundle: bool, base: str, documents: list[tuple[Json, list[str], Json | None]]
) -> list[_Mapped]:
    """The DocumentReference of each snapshot, from its attributes, the regulatory tags of
    the datasets documenting it and its subject (the dataset, when only one documents it)."""
    if not documents:
        return []
    reviewer, named = _reviewer(version, bundle), systems(base)
    return [
        _Mapped([reviewer.entry(snapshot_document(reviewer.v, named, *document))], [])
        for document in documents
    ]


def _resources(
    v: versions.FhirVersion, named: Systems, record: _RecordInput, content: Json
) -> Iterator[Json]:
    """The resources of one record version: its organisation, its own resource, the people
    involved and the Provenance of its commit."""
    yield organization(content["organization"])
    kind, commit, related = spec(record.kind), record.commit, record.related
    mapped = MappedRecord(
        record.label,
        record.sha256,
        content,
        fhir_instant(commit.committer_date),
        named,
        related,
        person_ref(commit.author.name, commit.author.email),
        fhir_instant(commit.author_date),
    )
    built = kind.fhir.build(v, mapped)
    own, *more = built if isinstance(built, list) else [built]
    yield own
    yield from more
    sources: list[Json] = []
    for relation in kind.fhir.sources:
        for target in related.get(relation, ()):
            as_data = relation == "snapshot-of" or _as_source(target) == "data"
            sources += list(target.data) if as_data else [target.resource]
    for who in (commit.author, commit.committer):
        yield person(who.name, who.email)
    for approval in content.get("approvals") or []:
        yield approver(approval["name"])
    for one in record.signoffs:
        yield person(one.name, one.email)
    previous = [r.resource for r in related.get("supersedes", ())]
    yield record_provenance(
        v,
        named,
        target=related["snapshot-of"][0].resource,  # the record's own: see ``MappedRecord``
        also=[resource_ref(r) for r in more],
        sha256=record.sha256,
        content=content,
        commit=commit,
        sources=sources,
        previous=previous[0] if previous else None,
        signoffs=record.signoffs,
    )


def _as_source(target: Related) -> str:
    return spec(target.label.split(":", 1)[0]).fhir.as_source


class _Mapping:
    """One pass over the graph's records, writing each resource to its type's spool.

    Records are mapped a batch at a time, in worker processes when they are many; the batches
    come back in order and this process accepts each entry into the Bundle, so the output is
    the same bytes either way."""

    def __init__(
        self,
        state: LedgerState,
        graph: LineageGraph,
        v: versions.FhirVersion,
        named: Systems,
        bundle: bool,
    ) -> None:
        self.state, self.graph, self.v, self.bundle = state, graph, v, bundle
        self.base = named.base
        self.guard = BundleGuard(v)  # accepts entries in order; references at the end
        self.spools: list[IO[str]] = [
            tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8")  # noqa: SIM115
            for _ in ORDER
        ]
        # Each spool's lines not yet written: one write per thousand entries, not one each.
        self.lines: list[list[str]] = [[] for _ in ORDER]
        self.urls: list[str] = []
        self.seen: set[str] = set()
        self.records = [n for n in graph.records() if not n.attrs.get("missing")]
        self.stand_ins: dict[str, str] = {}  # node id -> ``stand_in``
        self.made: dict[str, Related] = {}  # node id -> ``as_related``

    def close(self) -> None:
        for spool in self.spools:
            spool.close()

    def build(self) -> None:
        kept = self.state.values
        spaces = [f"fhir-{what}-{self.v.name}-{int(self.bundle)}" for what in ("record", "doc")]
        # Mapped versions are kept: the pool is for the ones a kept ledger has not seen.
        unseen = len(self.records) - (kept.count(spaces[0]) if kept is not None else 0)
        pool = fork_pool(unseen)
        with pool or contextlib.nullcontext():
            documented_by: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
            starts = range(0, len(self.records), BATCH)
            records = (self.record_batch(spaces[0], s) for s in starts)
            for mapped in self.kept_or_mapped(pool, spaces[0], _map_records, records):
                for entry in mapped.entries:
                    self.accept(entry)
                for snap_id, dataset_id, tags in mapped.documents:
                    documented_by[snap_id].append((dataset_id, tags))
            documents = [self.document(*item) for item in sorted(documented_by.items())]
            parts = (documents[i : i + BATCH] for i in range(0, len(documents), BATCH))
            snapshots = (([_key(spaces[1], self.base, d) for d in part], part) for part in parts)
            for mapped in self.kept_or_mapped(pool, spaces[1], _map_documents, snapshots):
                for entry in mapped.entries:
                    self.accept(entry)
        for rank in range(len(ORDER)):
            self.write(rank)

    def kept_or_mapped(
        self,
        pool: Workers | None,
        space: str,
        work: Callable[[str, bool, str, list[Any]], list[_Mapped]],
        batches: Iterator[tuple[list[bytes], list[Any]]],
    ) -> Iterator[_Mapped]:
        """What each input of each batch maps to, in order: kept by its key, or mapped by
        ``work`` (in the workers when there are) and then kept."""
        kept = self.state.values
        held: deque[tuple[list[bytes], dict[bytes, Any]]] = deque()
        used: set[bytes] = set()

        def tasks() -> Iterator[tuple[Any, ...]]:
            for keys, inputs in batches:
                found = kept.get(space, keys) if kept is not None else {}
                held.append((keys, found))
                missing = [item for key, item in zip(keys, inputs, strict=True) if key not in found]
                packed = marshal.dumps(self.complete(missing))
                yield work, kept is not None, self.v.name, self.bundle, self.base, packed

        for fresh in _run(pool, _mapped_to_keep, tasks()):
            keys, found = held.popleft()
            computed = iter(fresh)
            new: dict[bytes, bytes] = {}
            for key in keys:
                used.add(key)
                if key in found:
                    yield _Mapped.from_plain(found[key])
                    continue
                result = next(computed)
                if isinstance(result, _Mapped):
                    yield result
                else:
                    plain, new[key] = result
                    yield _Mapped.from_plain(marshal.loads(plain))
            if kept is not None and new:
                kept.put_packed(space, new)
                # Written a batch at a time, while the workers map the next batches: held to
                # the end, 40 MB at 10,000 records were written while every worker waited.
                kept.flush()
        if kept is not None and self.whole:
            kept.prune(space, used)

    @functools.cached_property
    def signoffs(self) -> dict[str, tuple[SignOffFact, ...]]:
        """The sign-offs that count, by record node id: only those are attested in FHIR."""
        from ledger.signoffs.collected import is_signoff
        from ledger.signoffs.rules import valid_signoffs

        found = {
            record_node_id(str(record)): tuple(
                SignOffFact.of(one.entry) for one in signed if is_signoff(one.entry)
            )
            for record, signed in valid_signoffs(self.state.checked_signoffs).items()
        }
        return {node: facts for node, facts in found.items() if facts}

    @functools.cached_property
    def whole(self) -> bool:
        """Whether the graph holds every record version of the state (not one's upstream)."""
        everything = self.state.graph.records()
        return len(self.records) >= sum(1 for n in everything if not n.attrs.get("missing"))

    def record_batch(self, space: str, start: int) -> tuple[list[bytes], list[Any]]:
        """The batch of records from ``start``: each one's key, and what ``complete`` makes
        its input from (only for the records not kept: a kept one needs its key alone)."""
        keys, inputs = [], []
        for node in self.records[start : start + BATCH]:
            targets = self.targets_by_kind(node)
            commit = self.commit(node, targets)
            snapshots = tuple(s.id for s in targets.get("snapshot-of", ()))
            blob = self.state.records.by_path[node.attrs["path"]].blob
            kind = node.attrs["record_kind"]
            inputs.append(_Pending(node, targets, commit, blob, snapshots))
            # The key names everything the input holds, with cheaper stand-ins for its two
            # largest parts: the commit by ``Commit.named``; the records it is related to by
            # what ``as_related`` makes them of (see ``named``).
            named = self.named(node, targets)
            signed = self.signoffs.get(node.id, ())
            keys.append(
                _key(
                    space,
                    self.base,  # in every system URI: a new base never reads the old entries
                    node.id,
                    kind,
                    node.label,
                    node.attrs["sha256"],
                    blob,
                    commit.named,
                    named,
                    snapshots,
                    signed,
                )
            )
        return keys, inputs

    def complete(self, inputs: list[Any]) -> list[Any]:
        """The inputs of records to map as plain rows, with their files read at once (other
        inputs, such as snapshots, as they are)."""
        pending = [item for item in inputs if isinstance(item, _Pending)]
        if not pending:
            return inputs
        blobs = self.state.repo.blobs(p.blob for p in pending)
        return [
            _RecordInput(
                p.node.id,
                p.node.attrs["record_kind"],
                p.node.label,
                p.node.attrs["sha256"],
                p.blob,
                p.commit,
                self.related(p.node, p.targets),
                p.snapshots,
                blobs[p.blob],
                self.signoffs.get(p.node.id, ()),
            ).plain()
            for p in pending
        ]

    def document(
        self, snap_id: str, datasets: list[tuple[str, list[str]]]
    ) -> tuple[Json, list[str], Json | None]:
        tags = sorted({t for _, ts in datasets for t in ts})
        subject = self.ref(self.graph.nodes[datasets[0][0]]) if len(datasets) == 1 else None
        return dict(self.graph.nodes[snap_id].attrs), tags, subject

    def accept(self, entry: _Entry) -> None:
        """Put an entry into the Bundle, in order, unless an equal resource is in already."""
        if entry.url in self.seen:
            return
        self.seen.add(entry.url)
        problems, _ = self.guard.accept(entry.url, entry.head, entry.review)
        if problems or entry.line is None:
            raise FhirMappingError(problems)
        rank = _RANK[entry.head["resourceType"]]
        self.lines[rank].append(entry.line)
        if len(self.lines[rank]) >= LINES_HELD:
            self.write(rank)
        self.urls.append(entry.url)

    def write(self, rank: int) -> None:
        """The held lines of one resource type, onto its spool."""
        lines = self.lines[rank]
        if lines:
            self.spools[rank].write("\n".join(lines) + "\n")
            lines.clear()

    def targets_by_kind(self, node: Node) -> dict[str, list[Node]]:
        """The nodes ``node`` links to, by edge kind, in the graph's edge order."""
        found: dict[str, list[Node]] = {}
        for edge in self.graph.out_edges(node.id):
            target = self.graph.nodes.get(edge.target)
            group = found.setdefault(edge.kind, [])
            if target is not None and not target.attrs.get("missing"):
                group.append(target)
        return found

    def ref(self, node: Node) -> Json:
        resource = spec(node.attrs["record_kind"]).fhir.resource
        return record_ref(resource, node.attrs["sha256"], node.label)

    def related(self, node: Node, targets: dict[str, list[Node]]) -> dict[str, tuple[Related, ...]]:
        """The records ``node`` links to, by relation (``snapshot-of``: the record itself,
        with its data)."""
        related: dict[str, tuple[Related, ...]] = {"snapshot-of": (self.as_related(node),)}
        for kind, nodes in targets.items():
            if kind not in related:
                related[kind] = tuple(self.as_related(t) for t in nodes if t.kind == "record")
        return related

    def as_related(self, node: Node) -> Related:
        """A record as others link to it: made of its label and attributes and those of its
        snapshots, nothing else (``stand_in`` takes its place in keys). Made once,
        however many link to it."""

        def make() -> Related:
            data = tuple(snapshot_ref(s.attrs) for s in self.snapshots_of(node))
            return Related(node.label, self.ref(node), data)

        return _held(self.made, node.id, make)

    def named(self, node: Node, targets: dict[str, list[Node]]) -> str:
        """A stand-in in keys for ``related(node, targets)``: the label and attributes of
        every node ``as_related`` reads, by relation. Made once per record, however many link
        to it; much cheaper than the references it stands for."""
        parts = ["snapshot-of", self.stand_in(node)]
        for kind, nodes in targets.items():
            if kind != "snapshot-of":
                parts += [kind, *(self.stand_in(t) for t in nodes if t.kind == "record")]
        return "\0".join(parts)

    def stand_in(self, node: Node) -> str:
        """A digest of what ``as_related(node)`` is made of: a superset of what it reads.
        Short, so that the keys naming it are quick to make."""

        def make() -> str:
            text = repr((node.label, node.attrs, [s.attrs for s in self.snapshots_of(node)]))
            return hashlib.sha256(text.encode()).hexdigest()

        return _held(self.stand_ins, node.id, make)

    def snapshots_of(self, node: Node) -> list[Node]:
        return self.targets_by_kind(node).get("snapshot-of", [])

    def commit(self, node: Node, targets: dict[str, list[Node]]) -> Commit:
        commits = targets.get("recorded-in")
        if not commits:
            raise FhirMappingError([f"{node.label}: the graph names no commit that recorded it"])
        return self.state.history.commits[self.state.history.order[commits[0].attrs["sha"]]]


def _held(held: dict[str, R], key: str, make: Callable[[], R]) -> R:
    """``held[key]``, made the first time it is asked for. ``held`` is emptied when it
    reaches ``RELATED_HELD``: most links go to a few upstream records, and it stays small."""
    found = held.get(key)
    if found is None:
        if len(held) >= RELATED_HELD:
            held.clear()
        found = held[key] = make()
    return found


def _mapped_to_keep(
    work: Callable[[str, bool, str, list[Any]], list[_Mapped]],
    keep: bool,
    version: str,
    bundle: bool,
    base: str,
    inputs: bytes,
) -> list[_Mapped | tuple[bytes, bytes]]:
    """``work``'s results for the ``marshal``led ``inputs``; when they are kept, as ``marshal``
    bytes and in the form in which they are kept, both made where they are mapped (in a worker
    when there are). The parent process, which every entry passes through, then only reads the
    bytes back: unpickling the results took it longer, and decompressing the kept form too."""
    mapped = work(version, bundle, base, marshal.loads(inputs))
    if not keep:
        return list(mapped)
    plain = [marshal.dumps(m.plain()) for m in mapped]
    return [(p, pack_marshalled(p)) for p in plain]


def _key(*inputs: object) -> bytes:
    """A digest of everything a mapping is a function of (with the code, which the store's
    fingerprint covers). ``repr`` of plain values and dataclasses is deterministic."""
    return hashlib.sha256(repr(inputs).encode()).digest()


def _run(
    pool: Workers | None, work: Callable[..., list[R]], tasks: Iterator[tuple[Any, ...]]
) -> Iterator[list[R]]:
    """``work`` over the tasks, in order: in the worker processes if there are."""
    if pool is None:
        return (work(*task) for task in tasks)
    return pool.ordered(work, tasks)
