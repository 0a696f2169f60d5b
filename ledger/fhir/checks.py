"""The guard every Bundle passes before ledger prints it.

fhir.resources checks structure and types, but accepts ``target=[]`` and ``agent=[]`` (and then
drops them on output), any code (``entity.role="derivation"`` in R5, ``Bundle.type="colection"``),
wrong reference targets (a Device as R5 ``onBehalfOf``) and references that resolve to nothing;
the official JSON Schemas miss most of the same. So the guard:

- requires every resource to pass fhir.resources of the chosen version with nothing dropped or
  rewritten (``ResourceGuard``, ``ledger.fhir.shapes``: the full round trip once per shape, each
  primitive value checked with its field's own fhir_core type), and the same of the whole Bundle
  (which catches resources of the other version);
- requires non-empty ``target`` and ``agent``, a referenced ``agent.who`` of a type the version
  allows (likewise ``onBehalfOf``, and different from ``who``), ``entity.role`` in the version's
  value set and never ``derivation``, ``recorded`` an instant with a time zone;
- resolves every ``reference`` to a ``fullUrl`` in the Bundle, of the ``type`` it claims;
- checks ``Bundle.type``, ``urn:uuid`` fullUrls and that each resource ``id`` is its fullUrl's.

**The whole Bundle without a whole-Bundle round trip.** fhir.resources validates, writes and
re-reads each field of an element independently of its other fields (the model validators look
only at which fields are present), and each item of a list independently of the others. So a
Bundle with a non-empty ``entry`` passes when (a) the Bundle without ``entry`` passes, (b) each
entry without ``resource`` passes as a ``BundleEntry``, and (c) each resource passes as
``Bundle.entry.resource`` (``ResourceGuard`` trusts a shape only after that too). All three are
small objects with few shapes, so they cost no more than their walks. The output is theirs, put
together where fhir.resources writes each key. Whenever that cannot be shown, the Bundle gets
the full round trip as before, whose message stands.

**Incremental use.** ``BundleGuard`` takes the Bundle's header and then one entry at a time:
``add`` returns what can be decided from the entry alone and keeps the references (as strings)
that need every entry; ``finish`` resolves them. The messages are ``bundle_problems``'s, in
another order (references last), except that fhir.resources' verdict on the Bundle's own fields
comes per part (``Bundle: ...`` for the header, ``entry i: ...`` for an entry's fullUrl) where
``bundle_problems`` has one ``Bundle: ...`` for the whole.

A violation is a bug in ledger's mapping, not bad input: ``FhirMappingError`` is deliberately
not a ``LedgerError``, so the CLI reports an internal error (exit 3) with a traceback log.
"""

from __future__ import annotations

import functools
import json
import marshal
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

from ledger.bulk import quiet_gc
from ledger.fhir.roundtrip import round_trip
from ledger.fhir.shapes import FhirMappingError, Path, ResourceGuard, Review, path_text
from ledger.fhir.versions import FhirVersion, fhir_version

__all__ = [
    "INSTANT",
    "URN_UUID",
    "BundleGuard",
    "FhirMappingError",
    "ResourceGuard",
    "bundle_problems",
    "check_bundle",
]

Json = dict[str, Any]

# FHIR's instant regex (datatypes.html#instant): seconds and a zone are required.
INSTANT: Final = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-"
    r"(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
URN_UUID: Final = re.compile(
    r"urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)

# One guard per version for the whole process, so shapes seen once stay trusted.
_SHARED: dict[str, ResourceGuard] = {}


def check_bundle(bundle: Json, version: FhirVersion | str) -> Json:
    """Raise ``FhirMappingError`` unless ``bundle`` passes the guard; return it as
    fhir.resources writes it (same content, FHIR's element order)."""
    problems, written = _guard(bundle, version)
    if written is None:
        raise FhirMappingError(problems)
    return written


def bundle_problems(bundle: Any, version: FhirVersion | str) -> list[str]:
    """What the guard finds wrong with a Bundle read back from JSON (e.g. from an export);
    an empty list when it passes."""
    return _guard(bundle, version)[0]


def _shared_guard(v: FhirVersion) -> ResourceGuard:
    if v.name not in _SHARED:
        _SHARED[v.name] = ResourceGuard(v)
    return _SHARED[v.name]


def _guard(
    bundle: Any, version: FhirVersion | str, guard: ResourceGuard | None = None
) -> tuple[list[str], Json | None]:
    """The problems, and the Bundle as fhir.resources writes it when there are none.
    ``guard`` defaults to the shared one; ``ResourceGuard(v, trust_shapes=False)`` gives the
    reference behaviour (a full round trip of every resource and of the Bundle)."""
    v = fhir_version(version) if isinstance(version, str) else version
    if not isinstance(bundle, dict):
        return ["not a JSON object"], None
    guard = guard or _shared_guard(v)
    reviews: list[Review] = []
    with quiet_gc():
        problems = list(_problems(bundle, v, guard, reviews))
        if problems:
            return problems, None
        written = _assemble(bundle, guard, reviews) if guard.trusts_shapes else None
    if written is not None:
        return [], written
    guard.full_round_trips += 1
    try:
        return [], json.loads(round_trip(v, "Bundle", bundle))
    except ValueError as exc:
        return [f"Bundle: {exc}"], None


def _problems(
    bundle: Json, v: FhirVersion, guard: ResourceGuard, reviews: list[Review]
) -> Iterator[str]:
    yield from _header_problems(bundle, v)
    if bundle.get("resourceType") != "Bundle":
        return
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        yield "Bundle.entry is not a list of entries"
        return
    types: dict[str, str] = {}
    for i, entry in enumerate(entries):
        yield from _entry_problems(i, entry.get("fullUrl"), entry.get("resource"), types)
    for entry in entries:
        resource, url = entry.get("resource"), entry.get("fullUrl")
        if not isinstance(resource, dict):
            continue
        review = guard.review(resource)
        reviews.append(review)
        name = f"{resource.get('resourceType')} {url}"
        for found in _findings(resource, review, v):
            problem = found if isinstance(found, str) else found.problem(types)
            if problem is not None:
                yield f"{name}: {problem}"


def _header_problems(bundle: Json, v: FhirVersion) -> Iterator[str]:
    if bundle.get("resourceType") != "Bundle":
        yield "not a Bundle"
        return
    kind = bundle.get("type")
    if not isinstance(kind, str) or kind not in v.bundle_types:
        yield f"Bundle.type {kind!r} is not a {v.name} bundle type"


def _entry_problems(i: int, url: Any, resource: Any, types: dict[str, str]) -> Iterator[str]:
    """The rules on one entry's fullUrl and id; records its resource type under its fullUrl."""
    match = URN_UUID.fullmatch(url) if isinstance(url, str) else None
    if match is None or not isinstance(resource, dict):
        yield f"entry {i}: needs a urn:uuid fullUrl and a resource"
        return
    if resource.get("id") != match.group(1):
        yield f"entry {i}: resource id {resource.get('id')!r} is not its fullUrl's uuid"
    if url in types:
        yield f"entry {i}: fullUrl {url} appears twice"
    types[url] = str(resource.get("resourceType"))


def _assemble(bundle: Json, guard: ResourceGuard, reviews: list[Review]) -> Json | None:
    """The Bundle as fhir.resources writes it, from its resources' reviews and checks of the
    rest piece by piece (see the module doc); None when that does not show it passes."""
    if any(r.nested_problem is not None or r.resource is None for r in reviews):
        return None
    header = guard.review(_without_entries(bundle)).resource
    if header is None or "entry" not in bundle:
        return header
    entries: list[Json] = bundle["entry"]
    if not entries:
        return None  # fhir.resources drops an empty list: the full round trip says so
    written = [_entry(guard, e, r) for e, r in zip(entries, reviews, strict=True)]
    if any(entry is None for entry in written):
        return None
    return guard.merge("Bundle", header, {"entry": written})


def _entry(guard: ResourceGuard, entry: Json, review: Review) -> Json | None:
    """One entry as fhir.resources writes it (its resource already reviewed), or None."""
    rest = guard.review_element("BundleEntry", _without_resource(entry)).resource
    if rest is None:
        return None
    return guard.merge("BundleEntry", rest, {"resource": review.resource})


def _without_resource(entry: Json) -> Json:
    return {key: value for key, value in entry.items() if key != "resource"}


# -- rules that need the resource types of every entry -----------------------------------------


class _Reference(NamedTuple):
    """A ``reference`` somewhere in a resource: it must resolve, to the type it claims."""

    path: Path | str  # a walk's path, rendered only for a message
    reference: str
    claims: bool
    claimed: Any

    def problem(self, types: dict[str, str]) -> str | None:
        if self.reference in types and (not self.claims or self.claimed == types[self.reference]):
            return None
        where = self.path if isinstance(self.path, str) else path_text(self.path)
        if self.reference not in types:
            return f"{where}/reference {self.reference} resolves to no entry of the Bundle"
        return (
            f"{where} claims type {self.claimed} but {self.reference} is a {types[self.reference]}"
        )


class _Resolves(NamedTuple):
    """A Provenance rule on what some references resolve to: any entry (``allowed`` None)
    or one of the types allowed."""

    message: str
    references: tuple[Any, ...]
    allowed: frozenset[str] | None = None

    def problem(self, types: dict[str, str]) -> str | None:
        kinds = [types.get(r) if r is not None else None for r in self.references]
        if self.allowed is None:
            broken = any(kind is None for kind in kinds)
        else:
            broken = any(kind not in self.allowed for kind in kinds)
        return self.message if broken else None


def _findings(
    resource: Json, review: Review, v: FhirVersion
) -> Iterator[str | _Reference | _Resolves]:
    """Everything wrong with one resource, in order; rules that need the other entries come as
    objects whose ``problem(types)`` decides."""
    if review.problems:
        yield review.problems[0]
        if not review.readable:
            return
    if review.references is not None:
        for path, node in review.references:
            yield _Reference(path, node["reference"], "type" in node, node.get("type"))
    else:
        yield from _references(resource)
    if resource.get("resourceType") == "Provenance":
        yield from _provenance(resource, v)


def _references(node: Any, path: str = "") -> Iterator[_Reference]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _references(item, f"{path}/{i}")
    elif isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield _Reference(path, ref, "type" in node, node.get("type"))
        for key, value in node.items():
            yield from _references(value, f"{path}/{key}")


def _target(ref: Any) -> Any:
    """What a Reference points at, as a key of the Bundle's fullUrls (None: nothing)."""
    return ref["reference"] if isinstance(ref, dict) and "reference" in ref else None


def _provenance(resource: Json, v: FhirVersion) -> Iterator[str | _Resolves]:
    targets = resource.get("target") or []
    if not targets:
        yield "target is empty"
    yield _Resolves(
        "a target does not reference a resource of the Bundle", tuple(map(_target, targets))
    )
    agents = resource.get("agent") or []
    if not agents:
        yield "agent is empty"
    for i, agent in enumerate(agents):
        yield from _agent(i, agent, v)
    for i, entity in enumerate(resource.get("entity") or []):
        role = entity.get("role")
        if role not in v.entity_roles or role == "derivation":
            yield f"entity {i}: role {role!r} is not allowed (ledger never emits derivation)"
        yield _Resolves(
            f"entity {i}: what does not reference a resource of the Bundle",
            (_target(entity.get("what")),),
        )
    recorded = resource.get("recorded")
    if not isinstance(recorded, str) or INSTANT.fullmatch(recorded) is None:
        yield f"recorded {recorded!r} is not an instant with a time zone"


def _agent(i: int, agent: Json, v: FhirVersion) -> Iterator[str | _Resolves]:
    who, behalf = agent.get("who"), agent.get("onBehalfOf")
    allowed_who, allowed_behalf = _allowed(v)
    yield _Resolves(f"agent {i}: {allowed_who}", (_target(who),), v.agent_who)
    if behalf is None:
        return
    yield _Resolves(f"agent {i}: {allowed_behalf}", (_target(behalf),), v.agent_on_behalf_of)
    if isinstance(who, dict) and who.get("reference") == behalf.get("reference"):
        yield f"agent {i}: who and onBehalfOf are the same"


@functools.cache
def _allowed(v: FhirVersion) -> tuple[str, str]:
    """The messages of the agent rules of ``v`` (sorted once, not per agent)."""
    return (
        f"who must reference one of {', '.join(sorted(v.agent_who))}",
        f"{v.name} onBehalfOf must be one of {sorted(v.agent_on_behalf_of)}",
    )


# -- incremental ---------------------------------------------------------------------------------


class EntryReview(NamedTuple):
    """What ``BundleGuard.review_entry`` decides of one entry on its own."""

    problems: list[str]  # the resource's
    entry_problems: list[str]  # the entry's own fields': named by index once it is accepted
    pending: bytes  # the reference checks that need every entry, packed (``_pack_checks``)
    written: Json | None

    def plain(self) -> tuple[Any, ...]:
        """The review without ``written``, as plain data that ``marshal`` keeps."""
        return (self.problems, self.entry_problems, self.pending)

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> EntryReview:
        problems, entry_problems, pending = plain
        return cls(list(problems), list(entry_problems), pending, None)


def _pack_checks(checks: list[_Reference | _Resolves]) -> bytes:
    """Reference checks as one ``marshal`` string: a Bundle holds every entry's until its last
    entry is in, and as objects they would outweigh the rest of a 100,000-record mapping."""
    if not checks:
        return b""
    return marshal.dumps(
        [
            ("reference", c.path if isinstance(c.path, str) else path_text(c.path), *c[1:])
            if isinstance(c, _Reference)
            else ("resolves", *c)
            for c in checks
        ]
    )


class BundleGuard:
    """The guard for a Bundle written one entry at a time (a streaming writer): ``header``
    with the Bundle's own fields, ``add`` (or ``entry``) per entry in order, then ``finish``.
    Together they find what ``bundle_problems`` finds (messages: see the module doc). The
    writer omits ``entry`` when there is none (an empty list is never written), and
    may hold ``ledger.bulk.quiet_gc()`` while it adds entries (as ``check_bundle`` does)."""

    def __init__(self, version: FhirVersion | str, guard: ResourceGuard | None = None) -> None:
        self.version = fhir_version(version) if isinstance(version, str) else version
        self.guard = guard or _shared_guard(self.version)
        self._count = 0
        self._types: dict[str, str] = {}
        self._pending: list[tuple[Any, str, bytes]] = []  # (resourceType, fullUrl, checks)

    @property
    def resource_types(self) -> Mapping[str, str]:
        """The resource type of each entry accepted so far, by fullUrl."""
        return self._types

    def review_request(self, request: Json) -> list[str]:
        """Problems with an entry's ``request`` (a transaction's), as fhir.resources sees it."""
        return list(self.guard.review_element("BundleEntryRequest", request).problems)

    def header(self, bundle: Json) -> list[str]:
        """Problems with the Bundle's own fields (``entry`` is ignored: entries come one by
        one); see ``written_header`` for them as fhir.resources writes them."""
        return self.written_header(bundle)[0]

    def written_header(self, bundle: Json) -> tuple[list[str], Json | None]:
        problems = list(_header_problems(bundle, self.version))
        if problems:
            return problems, None
        review = self.guard.review(_without_entries(bundle))
        return [f"Bundle: {p}" for p in review.problems], review.resource

    def add(self, full_url: str, resource: Json) -> list[str]:
        """Problems with one entry that need no other entry; [] when there are none."""
        return self.entry(full_url, resource)[0]

    def entry(self, full_url: str, resource: Json) -> tuple[list[str], Json | None]:
        """``add``'s problems, and the entry as fhir.resources writes it when there are none."""
        return self.accept(full_url, resource, self.review_entry(full_url, resource))

    def review_entry(self, full_url: str, resource: Any) -> EntryReview:
        """The part of ``entry`` that needs no other entry and changes nothing here, so that
        worker processes can review entries for one writer that ``accept``s them in order."""
        if not isinstance(resource, dict):
            return EntryReview([], [], b"", None)
        name = f"{resource.get('resourceType')} {full_url}"
        review = self.guard.review(resource)
        problems: list[str] = []
        pending: list[_Reference | _Resolves] = []
        for found in _findings(resource, review, self.version):
            if isinstance(found, str):
                problems.append(f"{name}: {found}")
            else:
                pending.append(found)
        if review.nested_problem is not None:
            problems.append(f"{name}: as a Bundle entry: {review.nested_problem}")
        rest = self.guard.review_element("BundleEntry", {"fullUrl": full_url})
        written = None
        if not problems and rest.resource is not None and review.resource is not None:
            written = self.guard.merge("BundleEntry", rest.resource, {"resource": review.resource})
        return EntryReview(problems, list(rest.problems), _pack_checks(pending), written)

    def accept(
        self, full_url: str, resource: Any, review: EntryReview
    ) -> tuple[list[str], Json | None]:
        """Take the next entry, reviewed by ``review_entry`` (here or in a worker):
        ``resource`` needs only its ``resourceType`` and ``id``."""
        i, self._count = self._count, self._count + 1
        types = self._types
        if (
            type(resource) is dict
            and full_url not in types
            and (match := URN_UUID.fullmatch(full_url) if type(full_url) is str else None)
            and resource.get("id") == match.group(1)
        ):  # what ``_entry_problems`` finds nothing in, at a tenth of its cost
            types[full_url] = str(resource.get("resourceType"))
            problems = []
        else:
            problems = list(_entry_problems(i, full_url, resource, types))
        if not isinstance(resource, dict):
            return problems, None
        if review.pending:
            self._pending.append((resource.get("resourceType"), full_url, review.pending))
        if review.problems or review.entry_problems:
            problems += review.problems
            problems += [f"entry {i}: {p}" for p in review.entry_problems]
        return problems, None if problems else review.written

    def finish(self) -> list[str]:
        """The problems only all entries together show: references that resolve to no entry,
        or to an entry of another type than claimed or allowed."""
        types = self._types
        problems: list[str] = []
        # Hundreds of thousands of checks, nearly all of which pass: each is decided on its
        # packed row, and made an object (for its message) only when it fails.
        for resource_type, url, packed in self._pending:
            for row in marshal.loads(packed):
                if row[0] == "reference":
                    found = types.get(row[2])
                    if found is not None and (not row[3] or row[4] == found):
                        continue
                    problem = _Reference(*row[1:]).problem(types)
                else:
                    problem = _Resolves(*row[1:]).problem(types)
                if problem is not None:
                    problems.append(f"{resource_type} {url}: {problem}")
        return problems


def _without_entries(bundle: Json) -> Json:
    return {key: value for key, value in bundle.items() if key != "entry"}
