"""Canonical JSON (RFC 8785) and the SHA-256 that links records to each other.

A link pins the hash of its target's canonical form, not of the file's bytes, so re-indenting
or re-ordering a record's keys never breaks a link, while any change of content does.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, cast

import rfc8785

from ledger.compactjson import compact_json
from ledger.errors import LedgerError


class NotCanonicalizableError(LedgerError):
    """A value RFC 8785 cannot represent (an integer beyond 2**53, NaN, a non-string key)."""


# Python's compact, key-sorted JSON of a value, split at its strings (kept at odd positions
# by the capturing group). Only for text with no backslash, where a string is everything
# between two quotes. Between the strings stand numbers, punctuation and true, false, null:
# a letter besides those is an exponent, NaN or Infinity, and sixteen digits may exceed
# 2**53; RFC 8785 writes those differently. An integral float ("62.0") it writes as "62".
_QUOTED = re.compile(r'("[^"]*")')
_LITERALS = re.compile(r"true|false|null")
_RISKY = re.compile(r"[A-Za-z]|[0-9]{16}")
_INTEGRAL = re.compile(r"(-?[0-9]+)\.0+(?![0-9])")


def canonical_from_compact(text: str) -> bytes | None:
    """RFC 8785 bytes from ``compact_json`` of a value parsed from JSON, or None where this
    quick reading cannot tell (a backslash, a non-ASCII character, a number written apart)."""
    if "\\" in text or not text.isascii():
        return None
    parts = _QUOTED.split(text)
    between = "\0".join(parts[0::2])
    if _RISKY.search(_LITERALS.sub("", between)):
        return None
    if ".0" not in between:
        return text.encode()
    for i in range(0, len(parts), 2):
        if ".0" in parts[i]:
            parts[i] = _INTEGRAL.sub(lambda m: "0" if m[1] == "-0" else m[1], parts[i])
    return "".join(parts).encode()


def canonical_bytes(value: object) -> bytes:
    """The RFC 8785 (JSON Canonicalization Scheme) encoding of a JSON value."""
    plain = _plain(value)
    if plain == "integral floats":
        value, plain = _integral_floats_as_ints(value), "yes"
    if plain == "yes":
        # For such values Python's compact, key-sorted JSON is byte for byte what RFC 8785
        # prescribes (tests/test_canonical.py checks this against rfc8785), and it is C-fast.
        text = compact_json(value)
        try:
            return text.encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 below explains the refusal
    try:
        return bytes(rfc8785.dumps(cast(Any, value)))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise NotCanonicalizableError(
            f"cannot canonicalize record content: {exc}; keep integers within ±2**53 "
            "and numbers finite"
        ) from exc


_MAX_SAFE = 2**53 - 1


def _plain(value: object) -> str:
    """Whether Python's JSON already is RFC 8785 for ``value``: "yes", "no" or
    "integral floats" (yes once floats such as 62.0 are written as ECMAScript does, 62).

    Yes when every float prints the same in Python and ECMAScript (between 1e-4 and 1e16, where
    neither uses an exponent), every integer is within ±(2**53-1), and every key is ASCII (so
    Python's code point order is RFC 8785's UTF-16 order).
    """
    answer = "yes"
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, float):
            if item.is_integer():
                if abs(item) > _MAX_SAFE:
                    return "no"
                answer = "integral floats"
            elif not 1e-4 <= abs(item) < 1e16:
                return "no"
        elif isinstance(item, int):
            if abs(item) > _MAX_SAFE:
                return "no"
        elif isinstance(item, dict):
            for key in item:
                if not isinstance(key, str) or not key.isascii():
                    return "no"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            return "no"
    return answer


def _integral_floats_as_ints(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(value: object) -> str:
    """SHA-256 (hex) of a record's canonical JSON: the value every link to it pins."""
    return sha256_hex(canonical_bytes(value))
