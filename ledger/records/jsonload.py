"""Strict reading of a record file: anything JSON or RFC 8785 would not agree on is a finding.

Python's ``json`` accepts NaN, duplicate keys, huge integers and lone surrogates, and recurses
once per nesting level; each of those becomes a finding here instead of a silent surprise or a
traceback. The parsed value is returned whenever the text parses, so later checks (PHI, schema)
still run on a file with, say, a duplicate key; it is None only when the file is unreadable.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.findings import Finding, finding, pointer_of

# RFC 8785 numbers are IEEE doubles; integers beyond this lose digits and hash differently.
MAX_SAFE_INT = 2**53 - 1
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Strings (unrolled so a long string costs one pass; an unterminated one runs to the end) or
# brackets: the depth scan must not count brackets inside strings.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters no text of a record needs, which hide or fake what a reader sees (a terminal's
# control sequences, a space that is not one) and which FHIR's string type refuses: control
# characters but tab, line feed and carriage return, and every space but U+0020 that any
# regular expression engine counts as white space.
UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xa0\u1680\u2000-\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
# The same, as the raw text of a record can hold them: written as they are (all but C0
# controls, which JSON forbids in strings) or escaped. A literal backslash before "u00.." is
# a false alarm here, which only costs the walk that finds the pointers.
_UNPRINTABLE_TEXT = re.compile(
    "[\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    r"|\\[bf]|\\u(?:00[01][0-9a-fA-F]|007[fF]|00[89][0-9a-fA-F]|00[aA]0"
    r"|1680|200[0-9aA]|202[89fF]|205[fF]|3000|[fF][eE][fF][fF])"
)
_LONE = "holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not text (I-JSON)"
_INEXACT = "so RFC 8785 hashing cannot represent it exactly (I-JSON); store it as a string"
_REGULAR = "record files are regular JSON files; move or delete this one"


@dataclass(frozen=True)
class Limits:
    """How large and how deeply nested a record file may be."""

    max_bytes: int = 1_048_576
    max_depth: int = 32


@dataclass(frozen=True)
class _Flagged:
    """Stands in for a parsed number until the walk knows its pointer and reports it."""

    code: str
    message: str
    value: object


class _DupDict(dict[str, object]):
    """An object that had repeated keys (the last value wins, as in ``json``)."""

    duplicates: dict[str, int]


# How many values the parse hooks have flagged so far; load_json_bytes compares before and after.
_flags = [0]
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _flagged_since(mark: int) -> bool:
    return _flags[0] != mark


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    _flags[0] += 1
    counts = Counter(key for key, _ in pairs)
    marked = _DupDict(obj)
    marked.duplicates = {k: n for k, n in counts.items() if n > 1}
    return marked


def _constant(name: str) -> _Flagged:
    _flags[0] += 1
    return _Flagged("L005", f"{name} is not a JSON number", float(name))


def _float(text: str) -> float | _Flagged:
    value = float(text)
    if math.isinf(value):
        _flags[0] += 1
        return _Flagged("L005", f"number {_short(text)} overflows a float to infinity", value)
    return value


def _int(text: str) -> int | _Flagged:
    if len(text) < 16:  # fewer than 16 characters is always within ±(2**53 - 1)
        return int(text)
    try:
        value: int | None = int(text)
    except ValueError:  # beyond Python's int-from-string digit limit
        value = None
    if value is not None and abs(value) <= MAX_SAFE_INT:
        return value
    message = f"integer {_short(text)} is outside ±(2**53-1), {_INEXACT}"
    _flags[0] += 1
    return _Flagged("L105", message, value)


def _short(text: str, keep: int = 24) -> str:
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# What a number needs to be NaN, infinite, overflow a float or exceed 2**53, written against
# the text with every digit as 9 and E as e (see load_json_bytes).
_NUMBER_SHAPE = str.maketrans("0123456789E", "9999999999e")
_NUMBER_RISKS = ("NaN", "Infinity", "9" * 16, "e999", "e+999", "e-999")
_BRACKETS = re.compile(r"[^\[\]{}]+")
_PLAIN_STRING = re.compile(r'"[^"]*"')  # a string, in text without a backslash
_INNERMOST = re.compile(r"\{\}|\[\]")


def _may_be_too_deep(text: str, max_depth: int) -> bool:
    """A quick over-estimate of the nesting: strings removed, only brackets kept, then one
    level of innermost pairs removed per pass, all in compiled code.

    Exact for well-formed JSON; ``_too_deep`` then finds the offending offset the slow way.
    """
    strings = _STRING if "\\" in text else _PLAIN_STRING
    brackets = _BRACKETS.sub("", strings.sub("", text))
    for _ in range(max_depth):
        if not brackets:
            return False
        shallower = _INNERMOST.sub("", brackets)
        if shallower == brackets:
            return True  # mismatched brackets: let the exact scan and the parser say why
        brackets = shallower
    return bool(brackets)


def _too_deep(text: str, max_depth: int) -> int | None:
    """Offset of the first bracket that nests deeper than ``max_depth``, without recursion."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()[0]
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in "]}":
            depth = max(depth - 1, 0)
    return None


def _type_name(value: object) -> str:
    names = {bool: "a boolean", list: "an array", str: "a string", type(None): "null"}
    return names.get(type(value), "a number")


def _walk(root: object, path: str) -> tuple[object, list[Finding], bool]:
    """Report flagged numbers, duplicate keys, lone surrogates and unprintable text with their
    pointers.

    The flag says whether a lone surrogate was found: such a string cannot be encoded, printed
    or hashed, so the caller withholds the value rather than pass it on to later checks.
    """
    found: list[Finding] = []
    lone = False
    box: dict[str, Any] = {"": root}  # the root's parent, so every value has a slot to replace
    stack: list[tuple[Any, Any, tuple[str | int, ...]]] = [(box, "", ())]
    while stack:
        parent, slot, parts = stack.pop()
        value = parent[slot]
        if isinstance(value, _Flagged):
            found.append(finding(value.code, path, _where(parts), value.message))
            parent[slot] = value.value
        elif isinstance(value, str) and _SURROGATE.search(value):
            found.append(finding("L105", path, _where(parts), f"string {_LONE}"))
            lone = True
        elif isinstance(value, str) and (odd := UNPRINTABLE.search(value)):
            message = f"string holds {_character(odd.group())} at character {odd.start()}"
            found.append(finding("L010", path, _where(parts), message))
        elif isinstance(value, dict):
            for key, n in getattr(value, "duplicates", {}).items():
                message = f"duplicate key {_short(key)!r} ({n} times)"
                found.append(finding("L004", path, _where(parts), message))
            if isinstance(value, _DupDict):  # hand back plain dicts, without the mark
                value = parent[slot] = dict(value)
            for key in reversed(list(value)):
                if _SURROGATE.search(key):
                    message = f"key {key!r} {_LONE}"
                    found.append(finding("L105", path, _where(parts), message))
                    lone = True
                elif odd := UNPRINTABLE.search(key):
                    message = f"key {key!r} holds {_character(odd.group())}"
                    found.append(finding("L010", path, _where(parts), message))
                stack.append((value, key, (*parts, key)))
        elif isinstance(value, list):
            stack.extend((value, i, (*parts, i)) for i in reversed(range(len(value))))
    return box[""], found, lone


def _character(char: str) -> str:
    what = "a control character" if unicodedata.category(char) == "Cc" else "a space"
    return f"U+{ord(char):04X} ({what} other than tab, line feed, carriage return or U+0020)"


def _where(parts: tuple[str | int, ...]) -> str:
    # Escaped, because a key with a lone surrogate would make the pointer itself unprintable.
    return pointer_of(parts).encode("utf-8", "backslashreplace").decode("utf-8")


def _fail(code: str, path: str, message: str, fix: str = "") -> tuple[None, list[Finding]]:
    return None, [finding(code, path, "", message, fix)]


def _limit(limits: Limits) -> str:
    return f"the limit of {limits.max_bytes} bytes"


def load_json_bytes(
    data: bytes, path: str, limits: Limits = Limits()
) -> tuple[object | None, list[Finding]]:
    """Parse a record file's bytes; the value is None only when the file cannot be parsed."""
    if len(data) > limits.max_bytes:
        return _fail("L007", path, f"file is {len(data)} bytes, over {_limit(limits)}")
    # A BOM is valid UTF-8 but RFC 8259 section 8.1 forbids it in JSON text, so it is a JSON
    # error (L003), not an encoding error; a UTF-16 BOM means the encoding is wrong (L001).
    if data.startswith(_BOM):
        bom = "file starts with a UTF-8 byte order mark (BOM), which JSON forbids"
        return _fail("L003", path, bom, fix="save the file as UTF-8 without a BOM")
    if data.startswith(_UTF16_BOMS):
        return _fail("L001", path, "file is UTF-16 (byte order mark at byte offset 0)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at, line = exc.start, data.count(b"\n", 0, exc.start) + 1
        col = at - data.rfind(b"\n", 0, at)
        where = f"byte 0x{data[at]:02x} at byte offset {at} (line {line}, byte {col})"
        return _fail("L001", path, f"not valid UTF-8: {where}: {exc.reason}")
    if not text.strip(" \t\r\n"):
        return _fail("L002", path, "file is empty" + (" (only whitespace)" if text else ""))
    deep = _too_deep(text, limits.max_depth) if _may_be_too_deep(text, limits.max_depth) else None
    if deep is not None:
        line, col = text.count("\n", 0, deep) + 1, deep - text.rfind("\n", 0, deep)
        where = f"at line {line}, column {col}"
        return _fail("L008", path, f"JSON nests deeper than {limits.max_depth} levels {where}")
    mark = _flags[0]
    # Python's parser calls back for every number only where one could be out of range;
    # most records have none, and a false alarm only costs the callbacks.
    shape = text.translate(_NUMBER_SHAPE)
    risky = any(risk in shape for risk in _NUMBER_RISKS)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant if risky else None,
            parse_float=_float if risky else None,
            parse_int=_int if risky else None,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return _fail("L003", path, f"invalid JSON at {where}: {exc.msg}")
    except RecursionError:  # only reachable when max_depth is set above the parser's stack
        return _fail("L008", path, "nesting is too deep for the JSON parser")
    found: list[Finding] = []
    lone = False
    # The pointer-building walk is only needed when the hooks flagged something or the text
    # escapes a surrogate or holds unprintable text; a clean record (the common case) skips it.
    if _flagged_since(mark) or _ESCAPED_SURROGATE.search(text) or _UNPRINTABLE_TEXT.search(text):
        value, found, lone = _walk(value, path)
    if not isinstance(value, dict):
        message = f"the top-level value is {_type_name(value)}, not an object"
        found.append(finding("L006", path, "", message))
    return (None if lone else value), found


def too_large(rel: str, size: int, limits: Limits) -> list[Finding]:
    """The finding for a record file of ``size`` bytes, over the limit, left unread."""
    return [finding("L007", rel, "", f"file is {size} bytes, over {_limit(limits)}")]


def read_record_file(
    file: Path | str, rel: str, limits: Limits = Limits()
) -> tuple[bytes | None, list[Finding]]:
    """A record file's bytes; links, special files and oversized files are never read."""
    try:
        info = os.lstat(file)
    except OSError as exc:
        return _fail("L003", rel, f"cannot read the file: {exc.strerror or exc}")
    if stat.S_ISLNK(info.st_mode):
        return _fail("L009", rel, "file is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return _fail("L003", rel, f"cannot read the file: it is {what}", fix=_REGULAR)
    if info.st_size > limits.max_bytes:
        return None, too_large(rel, info.st_size, limits)
    # O_NOFOLLOW and the bounded read close the gap between lstat and open: a file swapped for
    # a link (or a FIFO), or one that grew meanwhile, is refused instead of followed or read.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        data = _read_at_most(os.open(file, flags), limits.max_bytes + 1)
    except OSError as exc:
        return _fail("L003", rel, f"cannot read the file: {exc.strerror or exc}")
    if len(data) > limits.max_bytes:
        return _fail("L007", rel, f"file grew past {_limit(limits)} while being read")
    return data, []


def _read_at_most(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes of an open file, which is closed after."""
    parts: list[bytes] = []
    try:
        while size > 0 and (part := os.read(fd, size)):
            parts.append(part)
            size -= len(part)
    finally:
        os.close(fd)
    return b"".join(parts)


def load_json_file(
    file: Path, rel: str, limits: Limits = Limits()
) -> tuple[object | None, list[Finding]]:
    """Read and parse a record file (see ``read_record_file`` and ``load_json_bytes``)."""
    data, found = read_record_file(file, rel, limits)
    if data is None:
        return None, found
    return load_json_bytes(data, rel, limits)
