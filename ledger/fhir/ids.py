"""Identifiers, naming systems and times for the FHIR mapping: content-derived, never random.

Every resource ``id`` is a uuid5 of a fixed ledger namespace and ``"<resourceType>|<key>"``,
where the key is a content hash (a record's SHA-256, a snapshot's md5 and SHA-256, a commit
SHA) or a stable identity (an e-mail, an organisation's name). ``fullUrl`` and every reference
are ``urn:uuid:<id>``, so the same history gives the same bytes and a resource keeps its id
across exports, across ``--rev`` and across FHIR versions.

Naming systems and code systems (``Systems``) live under a base URI, ``fhir_base`` in
``ledger.toml``. The default, ``https://pypi.org/project/healthcare-ai-ledger/fhir/``, sits
under the package index's page of ledger's own published name, which no one else can hold, so
the URIs cannot collide with another's; an organisation that publishes its Bundles sets a base
it controls (``https://fhir.example-hospital.org/ledger/``). The namespace of the ids is not
derived from the base: it stays the uuid5 of ``https://ledger.invalid/fhir/``, the base before
there was a setting, so that ids are the same under every base and in every earlier export;
only the ``system`` URIs change with the base. People are identified by their git e-mail as a
``mailto:`` URI under ``urn:ietf:rfc:3986``, FHIR's own system for identifiers that are URIs,
rather than by a made-up system.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

DEFAULT_BASE: Final = "https://pypi.org/project/healthcare-ai-ledger/fhir/"
#: The base of every export before ``fhir_base`` existed; an export whose manifest names no
#: base used it.
FORMER_BASE: Final = "https://ledger.invalid/fhir/"
# Of the former base, never of the configured one: ids must not change with the base.
NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, FORMER_BASE)
URI: Final = "urn:ietf:rfc:3986"


class Systems(NamedTuple):
    """The naming systems (``sid/``) and code systems (``CodeSystem/``) under one base."""

    base: str
    record: str  # KIND:NAME@VERSION
    record_sha256: str  # SHA-256 of the record's RFC 8785 JSON
    content_sha256: str  # SHA-256 of data or artifact bytes
    dvc_md5: str  # DVC's md5 (``.dir`` suffix for directories)
    git_commit: str
    regulatory_tag: str
    git_commit_code: str
    git_signature: str  # git's %G? letters


@functools.cache
def systems(base: str = DEFAULT_BASE) -> Systems:
    """The systems under ``base`` (an absolute URL ending in ``/``, as ``ledger.config``
    checks it)."""
    return Systems(
        base,
        record=base + "sid/record",
        record_sha256=base + "sid/record-sha256",
        content_sha256=base + "sid/content-sha256",
        dvc_md5=base + "sid/dvc-md5",
        git_commit=base + "sid/git-commit",
        regulatory_tag=base + "CodeSystem/regulatory-tag",
        git_commit_code=base + "CodeSystem/git-commit",
        git_signature=base + "CodeSystem/git-signature",
    )


def resource_id(resource_type: str, *key: str) -> str:
    return _uuid5("|".join((resource_type, *key)))


@functools.lru_cache(maxsize=1 << 16)
def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` (RFC 9562, section 5.5), computed without building
    ``UUID`` objects: a third of the time, for the hundreds of thousands of ids and references
    a large Bundle names. ``tests/test_fhir.py`` holds it to ``uuid.uuid5``."""
    # References name the same resources again and again (a dataset's snapshot, an author).
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES: Final = NAMESPACE.bytes


def full_url(resource_id_: str) -> str:
    return f"urn:uuid:{resource_id_}"


def reference(resource_type: str, *key: str, display: str | None = None) -> dict[str, Any]:
    """A Reference to the resource with that type and key; ``type`` because a ``urn:uuid``
    alone does not say what it points at."""
    ref: dict[str, Any] = {
        "reference": full_url(resource_id(resource_type, *key)),
        "type": resource_type,
    }
    if display:
        ref["display"] = display
    return ref


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


# A record version's commit time is written two or three times (its resource, its
# Provenance's two times); the committer's and author's are mostly the same.
@functools.lru_cache(maxsize=1 << 12)
def fhir_instant(iso: str) -> str:
    """A git ISO 8601 time as a FHIR instant, in the form fhir.resources writes back (``Z``
    for UTC, ``+HH:MM`` otherwise), so the round-trip guard can compare exactly."""
    moment = datetime.fromisoformat(iso)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{iso!r} has no time zone; a FHIR instant needs one")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def latest(instants: list[str]) -> str | None:
    """The latest of some git times (compared as moments, not as strings), as an instant."""
    if not instants:
        return None
    return fhir_instant(max(instants, key=datetime.fromisoformat))


def commit_source(sha: str) -> dict[str, str]:
    """``Meta.source`` (the origin of a resource) for what a git commit recorded: the commit's
    SWHID (``swh:1:rev:<sha>``, ISO/IEC 18670), an intrinsic identifier any clone can check
    with ``git cat-file``. SWHID version 1 names SHA-1 objects only, so a commit of a SHA-256
    repository gets no ``source`` rather than a made-up scheme."""
    return {"source": f"swh:1:rev:{sha}"} if len(sha) == 40 else {}
