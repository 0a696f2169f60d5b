"""Commits as ledger sees them: who, when, why, signed by whom, and which files changed.

Authors, committers and messages come from the raw commit objects (read through
``cat-file --batch``, length-prefixed), never from text git formats with separators: a name or
a message may hold any byte, including the ones a format would use to split fields. Signature
verdicts and trailers come from git itself, in NUL-separated fields no value can contain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from ledger.errors import UsageError

ZERO = "0" * 40


class Signature(StrEnum):
    """git's verdict on a commit signature (``%G?``), as one word an auditor can act on."""

    GOOD = "good"
    UNTRUSTED = "untrusted"
    EXPIRED_SIGNATURE = "expired-signature"
    EXPIRED_KEY = "expired-key"
    REVOKED_KEY = "revoked-key"
    BAD = "bad"
    UNVERIFIABLE = "unverifiable"
    UNSIGNED = "unsigned"

    @classmethod
    def from_letter(cls, letter: str) -> Signature:
        # A letter a future git adds is not evidence of a good signature.
        return _BY_LETTER.get(letter, cls.UNVERIFIABLE)

    @property
    def letter(self) -> str:
        return _LETTERS[self]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @property
    def valid(self) -> bool:
        """The signature verifies, whatever git thinks of the key's trust or age."""
        return self in (
            Signature.GOOD,
            Signature.UNTRUSTED,
            Signature.EXPIRED_SIGNATURE,
            Signature.EXPIRED_KEY,
            Signature.REVOKED_KEY,
        )


_LETTERS = {
    Signature.GOOD: "G",
    # For SSH signatures git says U when the key is not in gpg.ssh.allowedSignersFile.
    Signature.UNTRUSTED: "U",
    Signature.EXPIRED_SIGNATURE: "X",
    Signature.EXPIRED_KEY: "Y",
    Signature.REVOKED_KEY: "R",
    Signature.BAD: "B",
    Signature.UNVERIFIABLE: "E",
    Signature.UNSIGNED: "N",
}
_BY_LETTER = {letter: state for state, letter in _LETTERS.items()}
_DESCRIPTIONS = {
    Signature.GOOD: "good",
    Signature.UNTRUSTED: "good, but the key is not trusted (unknown signer)",
    Signature.EXPIRED_SIGNATURE: "good, signature expired",
    Signature.EXPIRED_KEY: "good, key expired",
    Signature.REVOKED_KEY: "good, key revoked",
    Signature.BAD: "bad",
    Signature.UNVERIFIABLE: "cannot be checked (unknown key)",
    Signature.UNSIGNED: "unsigned",
}


# People, changes and commits are tuples: a kept history of 10,000 commits is made from its
# plain form on every run, and a tuple is made in C.
class Person(NamedTuple):
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Change(NamedTuple):
    """One file a commit added (A), modified (M), deleted (D) or changed in type (T)."""

    status: str
    path: str
    old_blob: str | None
    new_blob: str | None
    new_mode: str


class Commit(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    author: Person
    author_date: str
    committer: Person
    committer_date: str
    signature: Signature
    signer: str
    key: str
    message: str
    trailers: tuple[tuple[str, str], ...]
    changes: tuple[Change, ...] = ()

    @property
    def named(self) -> tuple[object, ...]:
        """What names this commit as read, for keys of values derived from it: the id names
        the object (parents, people, dates, message); the rest is what git concluded from it
        under this repository's settings (the signature verdict, the trailers)."""
        return (self.sha, self.signature.letter, self.signer, self.key, self.trailers)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def trailer(self, key: str) -> str | None:
        """The last value of a trailer such as ``Ledger-Reason``, if the message has one."""
        values = [v for k, v in self.trailers if k.lower() == key.lower()]
        return values[-1] if values else None

    @property
    def reason(self) -> str | None:
        return self.trailer("Ledger-Reason")

    def to_json(self) -> dict[str, Any]:
        """The one shape in which every view (log, lineage, verify, export) writes a commit."""
        return {
            "sha": self.sha,
            "parents": list(self.parents),
            "author": {"name": self.author.name, "email": self.author.email},
            "author_date": self.author_date,
            "committer": {"name": self.committer.name, "email": self.committer.email},
            "committer_date": self.committer_date,
            "subject": self.subject,
            "message": self.message,
            "reason": self.reason,
            "signature": {"state": str(self.signature), "signer": self.signer, "key": self.key},
        }


# --- parsing -------------------------------------------------------------------------------

# "Name <email> 1700000000 +0100": git splits at the first '<' and the '>' after it.
_IDENT = re.compile(rb"^(?P<name>[^<]*)<(?P<email>[^>]*)>\s*(?P<time>-?\d+)?\s*(?P<tz>[+-]\d{4})?")


@dataclass(frozen=True, slots=True)
class RawCommit:
    """The parts of a commit object git stores verbatim."""

    author: Person
    author_date: str
    committer: Person
    committer_date: str
    message: str


def parse_commit_object(data: bytes) -> RawCommit:
    """Read author, committer and message from a raw commit object (``git cat-file commit``)."""
    head, _, body = data.partition(b"\n\n")
    idents: dict[bytes, tuple[Person, str]] = {}
    encoding = "utf-8"
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            continue  # a continuation of a multi-line header (gpgsig, mergetag)
        key, _, value = line.partition(b" ")
        if key in (b"author", b"committer"):
            idents[key] = parse_ident(value)
        elif key == b"encoding":
            encoding = value.decode("ascii", "replace").strip() or "utf-8"
    author = idents.get(b"author", (Person("", ""), ""))
    committer = idents.get(b"committer", author)
    return RawCommit(author[0], author[1], committer[0], committer[1], _decode(body, encoding))


def parse_ident(value: bytes) -> tuple[Person, str]:
    """A person and time as git writes them: ``Name <email> 1700000000 +0100``."""
    match = _IDENT.match(value)
    if match is None:
        return Person(_decode(value.strip(), "utf-8"), ""), ""
    name = _decode(match["name"].strip(), "utf-8")
    email = _decode(match["email"].strip(), "utf-8")
    return Person(name, email), _iso_date(match["time"], match["tz"])


def _iso_date(seconds: bytes | None, tz: bytes | None) -> str:
    """The time as ``git log --format=%aI`` writes it: strict ISO 8601 with the author's zone."""
    if seconds is None:
        return ""
    sign = -1 if tz and tz.startswith(b"-") else 1
    minutes = int(tz[1:3]) * 60 + int(tz[3:5]) if tz else 0
    # The wall-clock time in the author's zone, computed by hand: git stores any four digits
    # (a commit made with `hash-object --literally` can say +9959), and Python's time zones
    # end at 24 hours.
    try:
        moment = datetime.fromtimestamp(int(seconds) + sign * minutes * 60, UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    zone = (
        f"{'-' if sign < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}" if minutes else "+00:00"
    )
    return moment.replace(tzinfo=None).isoformat() + zone


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:  # an encoding header naming no codec Python knows
        return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class WalkedCommit:
    """A commit as the history walk lists it: its id, parents and changed files."""

    sha: str
    parents: tuple[str, ...]
    changes: tuple[Change, ...]


def parse_raw_log(tokens: Iterable[bytes]) -> Iterator[WalkedCommit]:
    """Parse ``git log --raw -z --format='%H %P'``, given as its NUL-separated tokens.

    A token starting with ':' is a change's metadata and the next token its path, so a path
    (which may hold any byte but NUL) is never read as anything else. Combined diffs of merges
    (``::``) keep the merge result as the new side.
    """
    sha = ""
    parents: tuple[str, ...] = ()
    changes: list[Change] = []
    meta: bytes | None = None
    for raw in tokens:
        if meta is not None:
            changes.append(_change(meta, raw.decode("utf-8", errors="surrogateescape")))
            meta = None
            continue
        token = raw.lstrip(b"\n")
        if not token:
            continue
        if token.startswith(b":"):
            meta = token
            continue
        if sha:
            yield WalkedCommit(sha, parents, tuple(changes))
        ids = token.decode("ascii", "replace").split()
        if not ids:
            raise _unreadable("a commit line", token)
        sha, parents, changes = ids[0], tuple(ids[1:]), []
    if sha:
        yield WalkedCommit(sha, parents, tuple(changes))


def parse_raw_changes(tokens: Iterable[bytes]) -> list[Change]:
    """Parse ``git diff-tree --raw -z`` of two trees: each change's metadata, then its path."""
    fields = [token for token in tokens if token]
    if len(fields) % 2:
        raise _unreadable("a change without its path", fields[-1])
    return [
        _change(meta, raw.decode("utf-8", errors="surrogateescape"))
        for meta, raw in zip(fields[::2], fields[1::2], strict=True)
    ]


def _change(meta: bytes, path: str) -> Change:
    colons = len(meta) - len(meta.lstrip(b":"))
    fields = meta[colons:].decode("ascii", "replace").split()
    # One mode and one blob per side (a merge's combined diff has a side per parent), then
    # the status.
    if colons == 0 or len(fields) != 2 * colons + 3:
        raise _unreadable("a change", meta)
    modes, blobs, status = fields[: colons + 1], fields[colons + 1 : 2 * colons + 2], fields[-1]
    old, new = blobs[0], blobs[-1]
    return Change(
        status[0], path, None if old == ZERO else old, None if new == ZERO else new, modes[-1]
    )


def _unreadable(what: str, token: bytes) -> UsageError:
    """git's own output in a shape ledger does not know: another program answered as git."""
    return UsageError(
        f"git printed {what} that ledger cannot read ({token[:80]!r}); check that `git` on the "
        "PATH is git itself (git --version)"
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What git says of a commit beyond its object: signature and trailers."""

    signature: Signature
    signer: str
    key: str
    trailers: tuple[tuple[str, str], ...]


_BLANKS = " \t\r"
VERDICT_FORMAT = "%H%x00%G?%x00%GK%x00%GS%x00%(trailers:unfold)"


def parse_verdicts(out: bytes) -> dict[str, Verdict]:
    """Parse ``git log -z --format=VERDICT_FORMAT``: five NUL-separated fields a commit."""
    fields = out.split(b"\0")
    verdicts: dict[str, Verdict] = {}
    for at in range(0, len(fields) - 4, 5):
        sha, letter, key, signer, trailers = (
            f.decode("utf-8", "replace") for f in fields[at : at + 5]
        )
        # Lines end at "\n" only, and only blanks are trimmed: Python's splitlines() and
        # strip() also take 0x1C-0x1F for line breaks and blanks, which git keeps in a value.
        pairs = tuple(
            (k.strip(_BLANKS), v.strip(_BLANKS))
            for k, _, v in (line.partition(":") for line in trailers.split("\n") if ":" in line)
        )
        verdicts[sha.strip()] = Verdict(Signature.from_letter(letter), signer, key, pairs)
    return verdicts
