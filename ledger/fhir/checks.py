"""The guard every Bundle passes before ledger prints it.

fhir.resources checks structure and types, but accepts ``target=[]`` and ``agent=[]`` (and then
drops them on output), any code (``entity.role="derivation"`` in R5, ``Bundle.type="colection"``),
wrong reference targets (a Device as R5 ``onBehalfOf``) and references that resolve to nothing;
the official JSON Schemas miss most of the same. So the guard:

- round-trips every resource through the fhir.resources class of the chosen version:
  ``model_validate``, ``model_dump_json``, ``model_validate_json``, and requires the dump to
  equal what ledger built (nothing dropped, nothing rewritten), then does the same for the
  whole Bundle (which catches resources of the other version);
- requires non-empty ``target`` and ``agent``, a referenced ``agent.who`` of a type the version
  allows (likewise ``onBehalfOf``, and different from ``who``), ``entity.role`` in the version's
  value set and never ``derivation``, ``recorded`` an instant with a time zone;
- resolves every ``reference`` to a ``fullUrl`` in the Bundle, of the ``type`` it claims;
- checks ``Bundle.type``, ``urn:uuid`` fullUrls and that each resource ``id`` is its fullUrl's.

A violation is a bug in ledger's mapping, not bad input: ``FhirMappingError`` is deliberately
not a ``LedgerError``, so the CLI reports an internal error (exit 3) with a traceback log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final

from pydantic import ValidationError

from ledger.fhir.versions import FhirVersion, fhir_version

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


class FhirMappingError(Exception):
    """ledger built FHIR that breaks a rule: a bug in the mapping, never the user's input."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        super().__init__(f"the FHIR Bundle failed ledger's guard: {shown}")
        self.problems = problems


def check_bundle(bundle: Json, version: FhirVersion | str) -> Json:
    """Raise ``FhirMappingError`` unless ``bundle`` passes the guard; return it as
    fhir.resources writes it (same content, FHIR's element order)."""
    problems, text = _guard(bundle, version)
    if text is None:
        raise FhirMappingError(problems)
    dumped: Json = json.loads(text)
    return dumped


def bundle_problems(bundle: Any, version: FhirVersion | str) -> list[str]:
    """What the guard finds wrong with a Bundle read back from JSON (e.g. from an export);
    an empty list when it passes."""
    return _guard(bundle, version)[0]


def _guard(bundle: Any, version: FhirVersion | str) -> tuple[list[str], str | None]:
    """The problems, and the Bundle as fhir.resources writes it when there are none."""
    v = fhir_version(version) if isinstance(version, str) else version
    if not isinstance(bundle, dict):
        return ["not a JSON object"], None
    problems = list(_problems(bundle, v))
    if problems:
        return problems, None
    try:
        return [], _round_trip(v, "Bundle", bundle)
    except ValueError as exc:
        return [f"Bundle: {exc}"], None


class _Unreadable(ValueError):
    """fhir.resources cannot read it at all, so deeper checks would trip over its shape."""


def _round_trip(v: FhirVersion, resource_type: str, data: Json) -> str:
    try:
        cls = v.model(resource_type)
        model = cls.model_validate(data)
    except ValidationError as exc:  # one line per problem, without pydantic's help links
        errors = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _Unreadable("; ".join(errors)) from exc
    except ValueError as exc:  # no such resource type in this version
        raise _Unreadable(str(exc)) from exc
    text = model.model_dump_json()
    if cls.model_validate_json(text).model_dump() != model.model_dump():
        raise ValueError("does not survive model_dump_json -> model_validate_json")
    where = _difference(data, json.loads(text))
    if where is not None:
        raise ValueError(f"fhir.resources dropped or rewrote {where or 'it'}")
    return text


def _difference(ours: Any, theirs: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (a JSON-pointer-like path), or None."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                return f"{path}/{key}"
            found = _difference(ours[key], theirs[key], f"{path}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = _difference(a, b, f"{path}/{i}")
            if found is not None:
                return found
        return None
    return None if ours == theirs else path


def _problems(bundle: Json, v: FhirVersion) -> Iterator[str]:
    if bundle.get("resourceType") != "Bundle":
        yield "not a Bundle"
        return
    kind = bundle.get("type")
    if not isinstance(kind, str) or kind not in v.bundle_types:
        yield f"Bundle.type {kind!r} is not a {v.name} bundle type"
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        yield "Bundle.entry is not a list of entries"
        return
    types: dict[str, str] = {}
    for i, entry in enumerate(entries):
        url, resource = entry.get("fullUrl"), entry.get("resource")
        match = URN_UUID.fullmatch(url) if isinstance(url, str) else None
        if match is None or not isinstance(resource, dict):
            yield f"entry {i}: needs a urn:uuid fullUrl and a resource"
            continue
        if resource.get("id") != match.group(1):
            yield f"entry {i}: resource id {resource.get('id')!r} is not its fullUrl's uuid"
        if url in types:
            yield f"entry {i}: fullUrl {url} appears twice"
        types[url] = str(resource.get("resourceType"))
    for entry in entries:
        resource, url = entry.get("resource"), entry.get("fullUrl")
        if not isinstance(resource, dict):
            continue
        name = f"{resource.get('resourceType')} {url}"
        try:
            _round_trip(v, str(resource.get("resourceType")), resource)
        except _Unreadable as exc:
            yield f"{name}: {exc}"
            continue
        except ValueError as exc:
            yield f"{name}: {exc}"
        yield from (f"{name}: {p}" for p in _references(resource, types))
        if resource.get("resourceType") == "Provenance":
            yield from (f"{name}: {p}" for p in _provenance(resource, v, types))


def _references(node: Any, types: dict[str, str], path: str = "") -> Iterator[str]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _references(item, types, f"{path}/{i}")
    elif isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            if ref not in types:
                yield f"{path}/reference {ref} resolves to no entry of the Bundle"
            elif "type" in node and node["type"] != types[ref]:
                yield f"{path} claims type {node['type']} but {ref} is a {types[ref]}"
        for key, value in node.items():
            yield from _references(value, types, f"{path}/{key}")


def _kind(ref: Any, types: dict[str, str]) -> str | None:
    """The resource type a Reference resolves to; None if it has no resolvable reference."""
    return types.get(ref["reference"]) if isinstance(ref, dict) and "reference" in ref else None


def _provenance(resource: Json, v: FhirVersion, types: dict[str, str]) -> Iterator[str]:
    targets = resource.get("target") or []
    if not targets:
        yield "target is empty"
    if any(_kind(t, types) is None for t in targets):
        yield "a target does not reference a resource of the Bundle"
    agents = resource.get("agent") or []
    if not agents:
        yield "agent is empty"
    for i, agent in enumerate(agents):
        who, behalf = agent.get("who"), agent.get("onBehalfOf")
        if _kind(who, types) not in v.agent_who:
            yield f"agent {i}: who must reference one of {', '.join(sorted(v.agent_who))}"
        if behalf is not None and _kind(behalf, types) not in v.agent_on_behalf_of:
            yield f"agent {i}: {v.name} onBehalfOf must be one of {sorted(v.agent_on_behalf_of)}"
        if (
            behalf is not None
            and isinstance(who, dict)
            and who.get("reference") == behalf.get("reference")
        ):
            yield f"agent {i}: who and onBehalfOf are the same"
    for i, entity in enumerate(resource.get("entity") or []):
        role = entity.get("role")
        if role not in v.entity_roles or role == "derivation":
            yield f"entity {i}: role {role!r} is not allowed (ledger never emits derivation)"
        if _kind(entity.get("what"), types) is None:
            yield f"entity {i}: what does not reference a resource of the Bundle"
    recorded = resource.get("recorded")
    if not isinstance(recorded, str) or INSTANT.fullmatch(recorded) is None:
        yield f"recorded {recorded!r} is not an instant with a time zone"
