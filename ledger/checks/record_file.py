"""One record file, checked on its own: syntax, privacy, schema, consistency, hash, identity.

The result is ``RecordFacts``: what every check and view that spans records needs to know of
the file (identity, canonical hash, links, snapshots, title) plus the problems found in it,
without its content. Facts depend on the file's bytes alone, so they are kept by git blob id
(``ledger.state.store``) and a file is checked once for as long as the rules stay the same.
Only whether the file sits at its identity's place depends on where it is: ``findings_at``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.checks.phi import clean, scan_phi
from ledger.compactjson import compact_json
from ledger.dvc.snapshots import SnapshotRef
from ledger.findings import Finding, finding, pointer_of
from ledger.kinds import Relation, spec
from ledger.records.canonical import (
    NotCanonicalizableError,
    canonical_bytes,
    canonical_from_compact,
    sha256_hex,
)
from ledger.records.identity import KINDS, Kind, RecordId, id_from_relpath, is_name, is_version
from ledger.records.jsonload import Limits, load_json_bytes

if TYPE_CHECKING:
    from ledger.records import Record


class LinkFact(NamedTuple):
    """One link of a record: where, to what, pinned to which hash, and what it means, with
    ``target``, ``ref`` parsed once: every pass over the links (hashes, cycles, lineage) asks
    for it. Facts are tuples so that the tens of thousands a kept state holds are made in C."""

    relation: Relation
    pointer: str
    ref: str
    sha256: str
    expects: Kind
    reason: str
    change_type: str
    target: RecordId


class SnapshotFact(NamedTuple):
    pointer: str
    snapshot: SnapshotRef


class RecordFacts(NamedTuple):
    """What ledger keeps of one record file's content (see the module docstring).

    ``kind`` is the record kind the content names (None if it names none ledger knows, or the
    file is not a JSON object), ``claimed`` the identity it claims (if well formed), ``sha256``
    its canonical hash (if it has one), ``valid`` whether it is a valid record of its kind
    (links and snapshots are only read from valid records), ``problems`` what is wrong with
    the file, as findings with an empty path.
    """

    kind: Kind | None
    claimed: RecordId | None
    sha256: str | None
    valid: bool
    title: str
    links: tuple[LinkFact, ...]
    snapshots: tuple[SnapshotFact, ...]
    problems: tuple[Finding, ...]

    @property
    def supersedes(self) -> LinkFact | None:
        return next((link for link in self.links if link.relation == "supersedes"), None)

    def findings_at(self, relpath: str, records_dir: str) -> list[Finding]:
        """The file's problems, placed at ``relpath``, and whether it is at its place."""
        found = [f._replace(path=relpath) for f in self.problems]
        claimed = self.claimed
        if claimed is not None and claimed.relpath(records_dir) != relpath:
            message = f"the record is {claimed}, whose place is {claimed.relpath(records_dir)}"
            found.append(finding("L201", relpath, "", message))
        elif (
            claimed is None
            and self.kind
            and id_from_relpath(relpath, records_dir) is None
            # A name that is not one has no place: its own finding says why.
            and not any(f.code == "L105" and f.pointer == "/name" for f in self.problems)
        ):
            found.append(
                finding(
                    "L201",
                    relpath,
                    "",
                    f"{relpath} is not a record's place; records live at "
                    f"{records_dir}/<kind>/<name>/<version>.json",
                )
            )
        return found


def unreadable(problems: list[Finding]) -> RecordFacts:
    """Facts of a file that could not be read at all (a symlink, a special file, too large)."""
    return RecordFacts(None, None, None, False, "", (), (), tuple(_pathless(problems)))


def blob_id(data: bytes) -> str:
    """The git blob id of ``data``: working-tree files share kept facts with committed ones."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def check_record_bytes(data: bytes, limits: Limits) -> RecordFacts:
    """Check one record file's bytes against every rule that needs nothing else."""
    value, found = load_json_bytes(data, "", limits)
    # A file that does not read cleanly gets no further checks: they would only echo it.
    if found or not isinstance(value, dict):
        return RecordFacts(None, None, None, False, "", (), (), tuple(found))
    # One compact encoding serves the PHI pre-check and the canonical hash (see _quick).
    compact = compact_json(value)
    quick = _quick(compact)
    # Validation imports the typed models (and pydantic) here, on the first file that has no
    # kept facts, never in a run that needs none.
    import pydantic

    from ledger.checks.consistency import check_consistency, context_findings

    found += scan_phi(value, "", suspect=quick is None or not clean(*quick))
    found += context_findings(value, "")
    kind = value.get("kind")
    record: Record | None = None
    known: Kind | None = kind if kind in KINDS else None
    if known is None:
        shown = "missing" if kind is None else repr(kind)
        found.append(finding("L101", "", "/kind", f"kind is {shown}"))
    else:
        # The typed model is fast; the schema explains problems better. Both say the same,
        # because the schema is generated from the model, so the schema only runs on failure.
        try:
            record = spec(known).model.model_validate(value)  # type: ignore[assignment]
        except pydantic.ValidationError as exc:
            from ledger.checks.schema import schema_findings

            found += schema_findings(known, value, "") or [
                finding("L105", "", pointer_of(list(error["loc"])), error["msg"])
                for error in exc.errors()
            ]
    sha256: str | None = None
    canonical = canonical_from_compact(compact)
    try:
        sha256 = sha256_hex(canonical if canonical is not None else canonical_bytes(value))
    except NotCanonicalizableError as exc:
        found.append(finding("L105", "", "", exc.message))
    if record is not None:
        found += check_consistency(record, "")
    claimed = claimed_id(value)
    valid = record is not None
    links = _links(value) if valid else ()
    snapshots = _snapshots(record) if record is not None else ()
    title = value.get("title") if isinstance(value.get("title"), str) else ""
    return RecordFacts(known, claimed, sha256, valid, str(title), links, snapshots, tuple(found))


_STRINGS = re.compile(r'"([^"]*)"(:?)')  # each string, and a colon after it if it is a key


def _quick(compact: str) -> tuple[list[str], list[str]] | None:
    """The strings and the keys of a value, read off its compact JSON where every string
    stands there verbatim (no backslash: no escaped quote, backslash or control character).
    One pass from string to string: a separate search for keys could start at a closing
    quote and pair it with the next opening one."""
    if "\\" in compact:
        return None
    found = _STRINGS.findall(compact)
    return [text for text, _ in found], [text for text, colon in found if colon]


def check_many(files: list[bytes], limits: Limits) -> list[RecordFacts]:
    """``check_record_bytes`` of each file: one task for a worker process."""
    return [check_record_bytes(data, limits) for data in files]


def claimed_id(data: Mapping[str, object]) -> RecordId | None:
    """The identity a record's content claims, if its kind, name and version are well formed."""
    kind, name, version = data.get("kind"), data.get("name"), data.get("version")
    if (
        kind in KINDS
        and isinstance(name, str)
        and isinstance(version, str)
        and is_name(name)
        and is_version(version)
    ):
        return RecordId(kind, name, version)
    return None


def _links(value: Mapping[str, Any]) -> tuple[LinkFact, ...]:
    kind = spec(str(value["kind"]))
    return tuple(
        LinkFact(
            decl.relation,
            pointer,
            str(link["ref"]),
            str(link["sha256"]),
            kind.expected(decl),
            str(link.get("reason", "")),
            str(link.get("change_type", "")),
            RecordId.parse(str(link["ref"])),
        )
        for decl, pointer, link in kind.link_sites(value)
    )


def _snapshots(record: Record) -> tuple[SnapshotFact, ...]:
    names = spec(record.kind).snapshots
    return tuple(SnapshotFact(f"/{name}", SnapshotRef.of(getattr(record, name))) for name in names)


def _pathless(found: list[Finding]) -> list[Finding]:
    return [f._replace(path="") for f in found]
