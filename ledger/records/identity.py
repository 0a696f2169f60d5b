"""Record identity, ``KIND:NAME@VERSION``, and the path it decides.

Identity decides place: ``records/<kind>/<name>/<version>.json``. A file anywhere else, or a file
whose content names another identity, is an error, so a reader never has to search for a record.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final, Literal, NamedTuple, get_args

from ledger.errors import UsageError

Kind = Literal["dataset", "model", "evaluation"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)

NAME_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
# Numeric dot-separated versions (1.0, 1.0.2) with an optional pre-release tag (2.0-rc.1), so
# that versions order the way people read them.
VERSION_PATTERN: Final = r"^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)){1,2}(?:-[0-9a-z][0-9a-z.]*)?$"
# Device names Windows reserves, with any extension: a folder called "con" or "nul.v2" cannot
# exist there, so a record under such a name could not be checked out on a colleague's machine.
RESERVED_NAME_PATTERN: Final = r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$"
RESERVED_NAME_HINT: Final = (
    "is a device name Windows reserves (con, prn, aux, nul, com0-com9, lpt0-lpt9, with or "
    "without an extension), so its folder cannot exist there; choose another name"
)
#: The version a REF may name instead of a number: the one no other version supersedes.
LATEST: Final = "latest"
_NAME = re.compile(NAME_PATTERN)
_RESERVED = re.compile(RESERVED_NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_REF = re.compile(r"^(?:(?P<kind>[a-z]+):)?(?P<name>[^@:\s]+)@(?P<version>[^@\s]+)$")


def is_json_name(path: str) -> bool:
    """Whether a file is read as a record: any ``.json`` suffix, whatever its case, so that a
    record saved as ``1.2.JSON`` is read (and found out of place) rather than never seen."""
    return path[-5:].lower() == ".json"


def is_name(value: str) -> bool:
    return bool(_NAME.match(value)) and not is_reserved_name(value)


def is_reserved_name(value: str) -> bool:
    return bool(_RESERVED.match(value))


def is_version(value: str) -> bool:
    return bool(_VERSION.match(value))


class RecordId(NamedTuple):
    """An identity; a tuple, so that the many dicts and sets keyed by it hash in C."""

    kind: Kind
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"

    def relpath(self, records_dir: str = "records") -> str:
        """Repository-relative posix path of the record file."""
        return f"{_folder(records_dir)}{self.kind}/{self.name}/{self.version}.json"

    @property
    def version_key(self) -> tuple[tuple[int, ...], int, str]:
        """Sort key: numeric parts, then releases after their pre-releases (2.0-rc.1 < 2.0)."""
        release, _, pre = self.version.partition("-")
        return (tuple(int(p) for p in release.split(".")), 0 if pre else 1, pre)

    @classmethod
    def parse(cls, ref: str) -> RecordId:
        """Parse ``KIND:NAME@VERSION``; raises UsageError with the expected form."""
        return _parse_full(ref)


@dataclass(frozen=True)
class PartialRef:
    """``NAME@VERSION`` with an optional kind, as users may type it; the version may be
    ``latest``: the version of the name that no other version supersedes."""

    kind: Kind | None
    name: str
    version: str

    def matches(self, record_id: RecordId) -> bool:
        return (
            (self.kind is None or self.kind == record_id.kind)
            and self.name == record_id.name
            and self.version == record_id.version
        )


def parse_partial(ref: str) -> PartialRef:
    match = _REF.match(ref.strip())
    if not match:
        raise UsageError(
            f"{ref!r} is not a record reference; write KIND:NAME@VERSION "
            "(for example dataset:sepsis-cohort@1.0), NAME@VERSION, or a record's path"
        )
    kind, name, version = match.group("kind"), match.group("name"), match.group("version")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"{ref!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if is_reserved_name(name):
        raise UsageError(f"{ref!r}: {name!r} {RESERVED_NAME_HINT}")
    if not is_name(name):
        raise UsageError(
            f"{ref!r}: {name!r} is not a record name; use lower-case letters, digits, '.', '_' "
            "and '-', starting and ending with a letter or digit"
        )
    if not is_version(version) and version != LATEST:
        raise UsageError(
            f"{ref!r}: {version!r} is not a version; use numbers like 1.0 or 1.2.3, or latest"
        )
    return PartialRef(kind, name, version)


def id_from_relpath(relpath: str, records_dir: str = "records") -> RecordId | None:
    """The identity a path stands for, or None when the path is not a record's place."""
    parts = PurePosixPath(relpath).parts
    base = PurePosixPath(records_dir).parts
    if parts[: len(base)] != base or len(parts) != len(base) + 3:
        return None
    kind, name, filename = parts[len(base) :]
    if not filename.endswith(".json"):
        return None
    version = filename[: -len(".json")]
    if kind not in KINDS or not is_name(name) or not is_version(version):
        return None
    return RecordId(kind, name, version)


@functools.lru_cache(maxsize=1 << 18)
def _parse_full(ref: str) -> RecordId:
    # A ledger names the same records over and over in its links: parse each once.
    partial = parse_partial(ref)
    if partial.version == LATEST:
        raise UsageError(f"{ref!r}: a link names a version, never latest")
    if partial.kind is None:
        raise UsageError(f"{ref!r}: name the kind, as in dataset:{partial.name}@{partial.version}")
    return RecordId(partial.kind, partial.name, partial.version)


@functools.lru_cache(maxsize=64)
def _folder(records_dir: str) -> str:
    # Normalised once ("./records/" and "records" name the same place); "" for the root.
    folder = str(PurePosixPath(records_dir))
    return "" if folder == "." else folder + "/"
