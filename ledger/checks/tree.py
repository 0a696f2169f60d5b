"""``ledger validate``: every rule that one state of the repository can be checked against.

Loading is separate from checking: ``load_tree`` reads and schema-checks every record once, and
the tree-level checks (identity, links, snapshots) run over what it loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pydantic

from ledger.records.canonical import NotCanonicalizableError, record_hash
from ledger.config import Config
from ledger.checks.consistency import check_consistency, context_findings
from ledger.checks.findings import Finding, Severity, finding, pointer_of
from ledger.git.repository import GitTree
from ledger.records.identity import KINDS, RecordId, id_from_relpath, is_name, is_version
from ledger.checks.links import check_links, find_cycles
from ledger.checks.phi import scan_phi
from ledger.records import MODELS, Record
from ledger.checks.schema import schema_findings
from ledger.dvc.snapshots import check_snapshot, snapshot_sites
from ledger.trees import TreeView

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Entry:
    """One record file as read: its parsed content, typed record and canonical hash."""

    relpath: str
    data: dict[str, object] | None
    record: Record | None
    sha256: str | None
    claimed: RecordId | None


@dataclass
class Report:
    """What a check found, and what it looked at."""

    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "findings": [f.to_json() for f in self.findings],
        }


def claimed_id(data: dict[str, object]) -> RecordId | None:
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


def load_entry(
    view: TreeView, relpath: str, config: Config, known: dict[str, str] | None = None
) -> tuple[Entry, list[Finding]]:
    """Read one record file and check it on its own: syntax, privacy, schema, identity.

    ``known`` maps git blob ids of files already found clean to their canonical hash: such a
    file is only parsed and typed, and a file found clean now is added to it.
    """
    blob = None
    if known is not None and isinstance(view, GitTree):
        blob = view.blob_id(relpath)
        if blob is not None and blob in known:
            entry = _known_entry(view, relpath, config, known[blob])
            if entry is not None:
                return entry, []
    entry, found = _check_entry(view, relpath, config)
    if blob is not None and known is not None and not found and entry.sha256:
        known[blob] = entry.sha256
    return entry, found


def _known_entry(view: GitTree, relpath: str, config: Config, sha256: str) -> Entry | None:
    data = json.loads(view.raw(relpath) or b"null")
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        return None
    try:
        record = MODELS[kind].model_validate(data)
    except pydantic.ValidationError:
        return None  # checked by another ledger version: check it again in full
    claimed = claimed_id(data)
    if claimed is None or claimed.relpath(config.records_dir) != relpath:
        return None  # the same content at another path: the full check reports the place
    return Entry(relpath, data, record, sha256, claimed)


def _check_entry(view: TreeView, relpath: str, config: Config) -> tuple[Entry, list[Finding]]:
    data, found = view.load_record(relpath, config.limits)
    # A file that does not read cleanly gets no further checks: they would only echo the problem.
    if found or not isinstance(data, dict):
        return Entry(relpath, None, None, None, None), found
    found += scan_phi(data, relpath)
    found += context_findings(data, relpath)
    kind = data.get("kind")
    record: Record | None = None
    if kind not in KINDS:
        shown = "missing" if kind is None else repr(kind)
        found.append(finding("L101", relpath, "/kind", f"kind is {shown}"))
    else:
        # The typed model is fast; the schema explains problems better. Both say the same,
        # because the schema is generated from the model, so the schema only runs on failure.
        try:
            record = MODELS[kind].model_validate(data)
        except pydantic.ValidationError as exc:
            schema_errors = schema_findings(kind, data, relpath)
            found += schema_errors or [
                finding("L105", relpath, pointer_of(list(error["loc"])), error["msg"])
                for error in exc.errors()
            ]
    sha256: str | None = None
    try:
        sha256 = record_hash(data)
    except NotCanonicalizableError as exc:
        found.append(finding("L105", relpath, "", exc.message))
    claimed = claimed_id(data)
    if claimed is not None and claimed.relpath(config.records_dir) != relpath:
        found.append(
            finding(
                "L201",
                relpath,
                "",
                f"the record is {claimed}, whose place is {claimed.relpath(config.records_dir)}",
            )
        )
    elif claimed is None and kind in KINDS and id_from_relpath(relpath, config.records_dir) is None:
        found.append(
            finding(
                "L201",
                relpath,
                "",
                f"{relpath} is not a record's place; records live at "
                f"{config.records_dir}/<kind>/<name>/<version>.json",
            )
        )
    return Entry(relpath, data, record, sha256, claimed), found


def load_tree(
    view: TreeView,
    config: Config,
    extra: Iterable[str] = (),
    progress: Progress | None = None,
    known: dict[str, str] | None = None,
    keep_content: bool = True,
) -> tuple[list[Entry], list[Finding]]:
    """Load every record file of the tree, plus ``extra`` files named by the user.

    Without ``keep_content`` entries keep the typed record but not the parsed JSON, which
    halves the memory a large ledger needs when nothing will print the records.
    """
    entries: list[Entry] = []
    found: list[Finding] = []
    paths = sorted({*view.record_files(config.records_dir), *extra})
    for done, relpath in enumerate(paths, 1):
        entry, problems = load_entry(view, relpath, config, known)
        if not keep_content:
            entry = dataclasses.replace(entry, data=None)
        entries.append(entry)
        found += problems
        if progress is not None:
            progress(done, len(paths))
    return entries, found


def _duplicates(entries: Iterable[Entry]) -> list[Finding]:
    by_id: dict[RecordId, list[str]] = defaultdict(list)
    for entry in entries:
        if entry.claimed is not None:
            by_id[entry.claimed].append(entry.relpath)
    return [
        finding(
            "L202",
            path,
            "",
            f"{record_id} is also claimed by " + ", ".join(p for p in paths if p != path),
        )
        for record_id, paths in by_id.items()
        if len(paths) > 1
        for path in paths
    ]


@dataclass
class TreeCheck:
    """A tree state, loaded and checked: its entries by identity, and the findings so far."""

    entries: list[Entry]
    findings: list[Finding]

    @functools.cached_property
    def by_id(self) -> dict[RecordId, Entry]:
        return {e.claimed: e for e in self.entries if e.claimed is not None}

    @functools.cached_property
    def superseded(self) -> set[RecordId]:
        """Versions that a later record in the same tree supersedes."""
        return {
            RecordId.parse(e.record.supersedes.ref)
            for e in self.entries
            if e.record is not None and e.record.supersedes is not None
        }


def inspect_tree(
    view: TreeView,
    config: Config,
    extra: Iterable[str] = (),
    *,
    snapshots: bool = True,
    previous_hashes: Mapping[RecordId, set[str]] | None = None,
    progress: Progress | None = None,
    known: dict[str, str] | None = None,
    keep_content: bool = True,
) -> TreeCheck:
    """Load every record of ``view`` and check it against every rule one tree state allows.

    With ``snapshots`` the latest versions' snapshots are compared with the tree's DVC files
    (history checks compare every version with the DVC files of its own commit instead).
    ``previous_hashes`` (earlier contents of each record) turn hash mismatches that pin an
    amended record's old content into stale-link findings.
    """
    entries, found = load_tree(view, config, extra, progress, known, keep_content)
    found += _duplicates(entries)
    tree = TreeCheck(entries, found)
    hashes = {e.claimed: e.sha256 for e in entries if e.claimed and e.sha256}
    superseded = tree.superseded
    for entry in entries:
        record = entry.record
        if record is None or entry.claimed is None:
            continue
        found += check_links(record, entry.claimed, entry.relpath, hashes, previous_hashes)
        found += check_consistency(record, entry.relpath)
        if snapshots and entry.claimed not in superseded:
            for pointer, snap in snapshot_sites(record):
                found += check_snapshot(view, entry.relpath, pointer, snap)
    found += find_cycles((e.relpath, e.record) for e in entries if e.record is not None)
    return tree


def check_tree(view: TreeView, config: Config, only: Sequence[str] | None = None) -> Report:
    """Check every record in ``view`` (or only the files in ``only``) against all rules.

    Links resolve against every record in the tree, whichever files are being reported on.
    """
    tree = inspect_tree(view, config, only or ())
    checked = [e.relpath for e in tree.entries]
    found = tree.findings
    if only is not None:
        wanted = set(only)
        checked = [p for p in checked if p in wanted]
        found = [f for f in found if f.path in wanted]
    return Report(checked=checked, findings=sorted(set(found), key=Finding.sort_key))
