"""Canonical JSON (RFC 8785) and the SHA-256 that links records to each other.

A link pins the hash of its target's canonical form, not of the file's bytes, so re-indenting
or re-ordering a record's keys never breaks a link, while any change of content does.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import rfc8785

from ledger.errors import LedgerError


class NotCanonicalizableError(LedgerError):
    """A value RFC 8785 cannot represent (an integer beyond 2**53, NaN, a non-string key)."""


def canonical_bytes(value: object) -> bytes:
    """The RFC 8785 (JSON Canonicalization Scheme) encoding of a JSON value."""
    try:
        return bytes(rfc8785.dumps(cast(Any, value)))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise NotCanonicalizableError(
            f"cannot canonicalize record content: {exc}; keep integers within ±2**53 "
            "and numbers finite"
        ) from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(value: object) -> str:
    """SHA-256 (hex) of a record's canonical JSON: the value every link to it pins."""
    return sha256_hex(canonical_bytes(value))
