"""A guard against protected health information (PHI) in records.

Records hold aggregate facts about data and models, never a patient's identifiers. Every string
of a record, keys included, is matched against a small table of patterns. The patterns want
context (separators, a keyword, a key name) rather than bare digits, because records are full of
digests, versions, dates of collection periods, counts and ranges that must not be flagged.
A finding names what the value looks like and masks it: the value itself may be PHI, and
findings end up in terminals, CI logs and JSON reports.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from ledger.findings import Finding, finding, pointer_of


class Pattern(NamedTuple):
    """A kind of identifier; the group named ``v`` (else the whole match) is the suspect value.

    ``hint``, when given, names substrings of which a text must hold one for the pattern to
    match there, written against the text's *shape* (digits as 9, white space as a blank,
    lower case): a cheap test that spares running the pattern over most strings. A pattern
    without a hint runs on every string, so a new pattern is never skipped by accident; a
    hint must follow from its pattern (``tests/test_phi.py`` checks each on its examples).
    """

    name: str
    regex: re.Pattern[str]
    description: str
    hint: tuple[str, ...] | None = None


class Keyed(NamedTuple):
    """A key name that makes any matching value below it suspect, whatever its context."""

    name: str
    key: re.Pattern[str]
    value: re.Pattern[str]
    description: str


def _re(pattern: str) -> re.Pattern[str]:
    # ASCII: \d and \w mean what a reviewer expects; IGNORECASE for the keywords.
    return re.compile(pattern, re.ASCII | re.IGNORECASE)


_MONTH = (
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
# A full day-month-year date: ISO, US or European numeric, or written out. A bare year or
# month-year is not an exact date, so "born 1956" and "2019-01" never match.
_DATE = (
    r"(?<!\d)(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})(?!\d)"
)
# Words of role mailboxes: RFC 2142's, and the teams records name as contacts.
_ROLE = (
    r"(?:info|sales|support|abuse|noc|security|postmaster|hostmaster|webmaster|admin|help"
    r"|helpdesk|contact|office|team|group|lab|labs|research|data|science|ml|ai|dev|ops|it"
    r"|noreply|no-reply|privacy|dpo|compliance|quality|regulatory|governance|irb|ethics)"
)
_BIRTH_DATE = "an exact date of birth"
_IDENTIFIER = "a medical record number or patient identifier"

PATTERNS: tuple[Pattern, ...] = (
    # Three digit groups with one consistent separator and nothing glued on either side, so
    # ranges, versions and ICD codes cannot match. Area 000/666, group 00 and serial 0000 are
    # never issued: "000-00-0000" is a redaction placeholder, not a number.
    Pattern(
        "ssn",
        _re(r"(?<![\w.-])(?!000|666)\d{3}(?P<s>[- ])(?!00)\d{2}(?P=s)(?!0000)\d{4}(?![\w-])"),
        "a US Social Security number",
        ("999-99-9999", "999 99 9999"),
    ),
    # Only after a keyword: a bare run of digits is as likely a count. Five or more digits,
    # optionally after a short site prefix ("A1234567", "P-000123"). The digits and what
    # follows them are one atomic group: giving characters back can never put a word
    # boundary inside a run of letters and digits, and trying every split made "MRN "
    # followed by 200,000 digits and "_" take quadratic time.
    Pattern(
        "mrn",
        _re(
            r"\b(?:mrn|medical[\s_]+record[\s_]+(?:number|no\b\.?|\#)"
            r"|patient[\s_-]*(?:id|identifier|number|no\b\.?))(?![a-z])"
            r"[\s:#=.-]{0,3}(?P<v>[a-z]{0,3}-?(?>\d{5,}[a-z0-9]*))\b"
        ),
        _IDENTIFIER,
        ("mrn", "medical", "patient"),
    ),
    # The local part may not follow '/' or a word character, so "ssh://git@host" (a login in
    # a URL) is not an address; a domain followed by ':' is scp syntax ("git@github.com:org").
    # A role address ("ai-lab@", "data.team@", RFC 2142's "info@", "security@") reaches a
    # team, not a person, and records name one as a contact: its local part is role words
    # only. Each word must end at a separator or '@', so the words are read one way only.
    Pattern(
        "email",
        _re(
            rf"(?<![\w.%+/-])(?!{_ROLE}(?:[._+-]{_ROLE})*@)"
            r"[\w.%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?![\w:-])"
        ),
        "an e-mail address",
        ("@",),
    ),
    # US numbers need parentheses, dashes or a +1 prefix: "256 512 1024" are layer sizes and
    # "555.123.4567" is too close to a version. Dashed groups that are all powers of two
    # ("256-512-1024") are layer sizes too: no phone number is made of them in practice.
    # International numbers need a '+', separated groups and 9-15 digits in all (E.164),
    # which no version, range or metric has.
    Pattern(
        "phone",
        _re(
            r"(?<![\w+-])(?P<v>(?:\+?1[\s-]?)?\(\d{3}\)\s?\d{3}[\s-]\d{4}"
            r"|(?:\+?1[\s-])?(?!(?:256|512)-(?:128|256|512)-(?:1024|2048|4096|8192)(?![\w-]))"
            r"[2-9]\d{2}-\d{3}-\d{4}"
            r"|\+1[\s-]?\d{3}[\s-]\d{3}[\s-]\d{4}"
            r"|\+(?=(?:[\s()-]*\d){9,15}(?![\s()-]*\d))[1-9]\d{0,2}(?:[\s-]\(?\d{1,8}\)?){1,5}"
            r")(?![\w-])"
        ),
        "a phone number",
        ("999-9999", "999 9999", "+9"),
    ),
    # A date is only a birth date next to a birth keyword: "2019-01-01" alone is a collection
    # period, and "born after 1990-01-01" an inclusion criterion (no date right after "born").
    Pattern(
        "dob",
        _re(
            r"(?:\bd\.?o\.?b\b\.?|\bdate[\s_]+of[\s_]+birth|\bbirth[\s_-]*date|\bbirthday"
            rf"|\bborn(?:\s+on)?)[\s:=#(,-]{{0,4}}(?P<v>{_DATE})"
        ),
        _BIRTH_DATE,
        ("dob", "d.ob", "do.b", "d.o.b", "birth", "born"),
    ),
)

# Keys are compared with case, '_', '-', '.' and spaces removed ("Date_of_Birth" -> dateofbirth).
KEYED: tuple[Keyed, ...] = (
    Keyed(
        "date-of-birth",
        _re(r"(?:patient)?(?:dob|dateofbirth|birthdate|birthday)"),
        _re(_DATE),
        _BIRTH_DATE,
    ),
    Keyed(
        "patient-identifier",
        # "patient" is required before id/number: a bare "id" key names runs, not patients.
        _re(
            r"(?:patient)?(?:mrn|medicalrecordnumber|ssn|socialsecuritynumber)"
            r"|patient(?:id|identifier|number)"
        ),
        _re(r"\d{5,}"),
        _IDENTIFIER,
    ),
)
_KEY_NOISE = re.compile(r"[\s_.-]+")


def _mask(text: str) -> str:
    # The last two characters help find the value; the rest keeps only its shape.
    return re.sub(r"[A-Za-z0-9]", "*", text[:-2]) + text[-2:] if len(text) > 2 else "**"


# Digits become 9, white space a blank and ASCII letters lower case (the patterns fold case in
# ASCII only): the form hints are written against. One character for one, so a position in
# the shape is the same position in the text.
_SHAPE = str.maketrans(
    "0123456789\t\n\r\f\vABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "9999999999     abcdefghijklmnopqrstuvwxyz",
)


def _scan(text: str) -> dict[str, str]:
    """Description -> masked suspect, for the first match of each pattern in ``text``.

    ``text`` may be many strings joined with NUL, which no pattern matches. A pattern with a
    hint runs only on the strings where its hint occurs (a match lies in one string and holds
    the hint), so a long text costs a few substring searches, not every pattern over all of it.
    """
    hits: dict[str, str] = {}
    shape = text.translate(_SHAPE)
    for pattern in PATTERNS:
        for part in _parts(text, shape, pattern.hint):
            match = pattern.regex.search(part)
            if match:
                suspect = match.group("v") if "v" in pattern.regex.groupindex else match.group()
                hits.setdefault(pattern.description, f"({_mask(suspect)})")
                break
    return hits


def _parts(text: str, shape: str, hint: tuple[str, ...] | None) -> list[str]:
    """The NUL-separated parts of ``text`` whose shape holds one of ``hint`` (all of it for
    a pattern without a hint), in order."""
    if hint is None:
        return [text]
    starts: set[int] = set()
    for needle in hint:
        at = shape.find(needle)
        while at >= 0:
            starts.add(text.rfind("\0", 0, at) + 1)
            at = shape.find(needle, at + 1)
    parts = []
    for start in sorted(starts):
        end = text.find("\0", start)
        parts.append(text[start:] if end < 0 else text[start:end])
    return parts


def _text(item: object) -> str | None:
    # Numbers matter only under identifier keys; a JSON integer never has thousands of digits,
    # and str() of such an int would raise.
    if isinstance(item, int) and not isinstance(item, bool) and abs(item) < 10**30:
        return str(item)
    return item if isinstance(item, str) else None


@functools.lru_cache(maxsize=4096)
def _keyed(key: str) -> Keyed | None:
    plain = _KEY_NOISE.sub("", key).lower()
    return next((k for k in KEYED if k.key.fullmatch(plain)), None)


def _suspect(value: object) -> bool:
    """Whether anything in ``value`` could be PHI: one pass without building pointers.

    The strings are joined with NUL, which no pattern can match, so a match never spans two
    strings and each pattern runs once per record instead of once per string.
    """
    texts: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                if _keyed(str(key)) is not None:
                    return True
                texts.append(str(key))
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return bool(_scan("\0".join(texts)))


def clean(strings: list[str], keys: list[str]) -> bool:
    """Whether a value whose strings (keys included) and keys are these holds nothing that
    could be PHI: the cheap test ``scan_phi`` makes first, for a caller that has them."""
    return not any(_keyed(key) for key in keys) and not _scan("\0".join(strings))


def scan_phi(value: object, path: str, *, suspect: bool = True) -> list[Finding]:
    """L501 findings for every string (and key) of ``value`` that looks like PHI, masked.

    ``suspect=False`` says the caller found the value ``clean`` already.
    """
    if not suspect or not _suspect(value):
        return []  # the common case, found without the pointer bookkeeping below
    found: list[Finding] = []
    stack: list[tuple[object, tuple[str | int, ...], Keyed | None]] = [(value, (), None)]
    while stack:
        item, parts, context = stack.pop()
        hits = _scan(item) if isinstance(item, str) else {}
        text = _text(item)
        if context is not None and text is not None:
            match = context.value.search(text)
            if match:  # a pattern's own finding already says the same, so it wins
                shown = f"({_mask(match.group())}), under a {context.name} key"
                hits.setdefault(context.description, shown)
        found += [
            finding("L501", path, pointer_of(parts), f"value looks like {d} {s}")
            for d, s in hits.items()
        ]
        if isinstance(item, dict):
            # Reported at the object: the key's own pointer would spell out the suspect.
            for key in item:
                for d, s in _scan(str(key)).items():
                    found.append(
                        finding("L501", path, pointer_of(parts), f"a key looks like {d} {s}")
                    )
            for key, child in reversed(item.items()):
                stack.append((child, (*parts, str(key)), _keyed(str(key)) or context))
        elif isinstance(item, list):
            pairs = reversed(list(enumerate(item)))
            stack.extend((child, (*parts, i), context) for i, child in pairs)
    return found
