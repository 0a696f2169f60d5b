"""What ledger keeps between runs, under the repository's git folder (``.git/ledger/``).

Two things are kept, in a folder named by a fingerprint of everything that decides a verdict
(the ledger version and its source code, the rule table, the PHI patterns, the libraries that
parse and validate, the limits and the records folder): when any of it changes, a new folder
starts empty, so nothing is trusted that the current rules did not check.

- ``facts``: ``RecordFacts`` by git blob id, appended as files are checked (and ``dvc``, parsed
  DVC files by the hash of their text). A blob never changes, so its facts hold for as long as
  the fingerprint does.
- ``rev-<commit>``: the state at a commit — its record files, the history walked to reach it
  and, once computed, its findings — for the last few commits used. A later run starts from
  the newest one that is an ancestor of its revision and walks only the commits since. The
  state it keeps then is that ancestor's file, copied as read, and one more chunk with what
  differs (``_delta``): saving costs what changed, not the size of the history, up to
  ``MAX_DELTAS`` chunks, after which the whole state is written again.
- ``values.sqlite``: values derived from a record version and what it links to, by a digest
  of those inputs (``ledger.state.values``): the FHIR entries of each version, so that after
  a commit only the versions it touched are mapped again.

The files hold Python's ``marshal`` format (plain lists, strings and numbers; several times
faster to read than JSON, and the fingerprint includes the Python version that wrote them) in
chunks that each carry their length and SHA-256. A kept file that is truncated, corrupt or
unreadable is deleted with a note (``Store.notes``) and rebuilt from git, never trusted: the
checksum is verified before anything is read from a chunk. The store is a cache: ``--no-cache``
ignores it, and deleting ``.git/ledger`` is safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import marshal
import os
import re
import shutil
import struct
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from itertools import starmap
from pathlib import Path
from typing import Any

import ledger
from ledger.checks import phi
from ledger.checks.record_file import LinkFact, RecordFacts, SnapshotFact
from ledger.config import Config
from ledger.dvc.snapshots import SnapshotRef
from ledger.errors import UsageError
from ledger.findings import RULES, SEVERITIES, Finding
from ledger.git.commits import Change, Commit, Person, Signature
from ledger.records.identity import RecordId
from ledger.records.serialize import write_atomic
from ledger.state.values import KeptValues

FORMAT = 3
KEEP_STATES = 4
MAX_DELTAS = 16
KEEP_FOLDERS = 2
# The libraries whose code decides what is kept: record checks (pydantic, jsonschema and its
# ``referencing``, rfc8785, PyYAML for dvc.lock, dvc-data for DVC's hashes) and the FHIR
# entries of ``values.sqlite`` (fhir.resources and fhir-core validate and write each one).
_LIBRARIES = (
    "pydantic",
    "pydantic-core",
    "jsonschema",
    "referencing",
    "rfc8785",
    "PyYAML",
    "dvc-data",
    "fhir.resources",
    "fhir-core",
)
_VERSION_HEADER = re.compile(r"^Version:[ \t]*(\S*)", re.MULTILINE)
_STATE_FILE = re.compile(r"^rev-([0-9a-f]{40}|[0-9a-f]{64})$")


def fingerprint(config: Config) -> str:
    """A digest of everything that decides whether a record file is clean."""
    digest = hashlib.sha256()
    package = Path(ledger.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    rules = [
        FORMAT,
        ledger.__version__,
        list(sys.version_info[:2]),
        [_version(name) for name in _LIBRARIES],
        sorted((r.code, r.name, r.summary, r.fix) for r in RULES.values()),
        # Read through the module, so patterns added at run time count too.
        [(p.name, p.regex.pattern, p.regex.flags, p.description, p.hint) for p in phi.PATTERNS],
        [(k.name, k.key.pattern, k.value.pattern, k.description) for k in phi.KEYED],
        # The sign-off folder decides which changes the kept history holds.
        [config.records_dir, config.signoffs_dir, config.limits.max_bytes, config.limits.max_depth],
    ]
    digest.update(json.dumps(rules, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


def _version(name: str) -> str:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return f"{name} -"
    # The Version header read off the metadata's text: ``metadata.version`` parses the whole
    # file with the email package, which took longer than the rest of the fingerprint.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    header = _VERSION_HEADER.search(text.partition("\n\n")[0])
    return f"{name} {header.group(1) if header else dist.version}"


class Store:
    """The kept facts and states of one repository, for one fingerprint of the rules."""

    def __init__(self, git_dir: Path, config: Config) -> None:
        self.base = git_dir / "ledger"
        self.folder = self.base / f"state-{fingerprint(config)}"
        self.notes: list[str] = []
        self._facts_file = self.folder / "facts"
        self._parsed_file = self.folder / "dvc"

    @functools.cached_property
    def values(self) -> KeptValues:
        """Derived values by key, opened on first use."""
        with contextlib.suppress(OSError):
            self._prepare()
        return KeptValues(self.folder / "values.sqlite", self.notes)

    def close(self) -> None:
        if "values" in self.__dict__:
            self.values.close()

    # --- facts and parsed DVC files ---------------------------------------------------------

    def load_facts(self) -> dict[str, RecordFacts]:
        rows = self._load_lines(self._facts_file)
        try:
            return {blob: facts_from_json(rest) for blob, *rest in rows}
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self._discard(self._facts_file, f"holds facts ledger cannot read ({exc})")
            return {}

    def add_facts(self, added: Mapping[str, RecordFacts]) -> None:
        """Append newly checked facts; a store that cannot be written is simply not kept."""
        rows = [[blob, *facts_to_json(facts)] for blob, facts in sorted(added.items())]
        self._append_lines(self._facts_file, rows)

    def load_parsed(self) -> dict[str, Any]:
        """Parsed DVC files by the SHA-1 of their text (``ledger.dvc.files.PARSED``)."""
        rows = self._load_lines(self._parsed_file)
        return dict(rows)

    def add_parsed(self, added: Mapping[str, Any]) -> None:
        self._append_lines(self._parsed_file, [[k, v] for k, v in sorted(added.items())])

    def _load_lines(self, path: Path) -> list[Any]:
        """The rows of a kept append-only file: chunks, each checked against its SHA-256."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._discard(path, f"cannot be read ({exc})")
            return []
        rows: list[Any] = []
        at = 0
        while at < len(data):
            try:
                payload, at = _chunk(data, at)
                chunk = marshal.loads(payload)
                if not isinstance(chunk, list):
                    raise ValueError("not a list of rows")
            except (ValueError, EOFError, TypeError) as exc:
                self._discard(path, f"is corrupt at byte {at} ({exc})")
                return []
            rows += chunk
        return rows

    def _append_lines(self, path: Path, rows: list[Any]) -> None:
        if not rows:
            return
        with contextlib.suppress(OSError):
            self._prepare()
            # One write of one chunk: a crash leaves at most a torn last chunk, which its
            # length and checksum catch on the next load.
            with path.open("ab") as handle:
                handle.write(_pack(marshal.dumps(rows)))

    # --- states ----------------------------------------------------------------------------

    def kept_commits(self) -> list[str]:
        """Commits with a kept state, most recently used first."""
        try:
            entries = [(p.stat().st_mtime_ns, p) for p in self.folder.iterdir()]
        except OSError:
            return []
        names = [(mtime, _STATE_FILE.match(p.name)) for mtime, p in entries]
        return [m.group(1) for _, m in sorted(names, key=lambda n: n[0], reverse=True) if m]

    def load_state(self, commit: str) -> KeptState | None:
        path = self.folder / f"rev-{commit}"
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            kept = _read_state(raw)
            if kept.commit != commit:
                raise ValueError(f"it holds commit {kept.commit}")
        except (ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
            self._discard(path, f"is corrupt ({exc})")
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return kept

    def save_state(self, kept: KeptState) -> None:
        base = kept.base
        if base is not None and base.source is not None and base.deltas < MAX_DELTAS:
            data = base.source + _pack(marshal.dumps(_delta(base, kept)))
        else:
            data = _pack(marshal.dumps(_whole(kept)))
        # A store that cannot be written (a read-only clone, a full disk) is simply not kept:
        # write_atomic reports those as UsageError, which the command must not fail on here.
        with contextlib.suppress(OSError, UsageError):
            self._prepare()
            write_atomic(self.folder / f"rev-{kept.commit}", data, overwrite=True)
            for old in self.kept_commits()[KEEP_STATES:]:
                (self.folder / f"rev-{old}").unlink(missing_ok=True)

    # --- housekeeping ----------------------------------------------------------------------

    def _prepare(self) -> None:
        if self.folder.is_dir():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Folders of other fingerprints belong to other ledger versions or rules; keep the
        # newest few (a colleague's ledger in the same clone), drop the rest and old formats.
        others = [p for p in self.base.iterdir() if p != self.folder]
        for old in others:
            if old.is_file():
                old.unlink(missing_ok=True)  # the first release's checked-*.json
        folders = sorted(
            (p for p in others if p.is_dir()), key=lambda p: p.stat().st_mtime_ns, reverse=True
        )
        for old in folders[KEEP_FOLDERS - 1 :]:
            shutil.rmtree(old, ignore_errors=True)

    def _discard(self, path: Path, why: str) -> None:
        self.notes.append(f"the kept state {path} {why}; it was discarded and is rebuilt from git")
        with contextlib.suppress(OSError):
            path.unlink()


class KeptState:
    """A state as kept: the commit, the trust its signatures were verified under, its record
    files (path -> mode and blob id) and the history walked to reach it."""

    __slots__ = (
        "base",
        "commit",
        "commits",
        "deltas",
        "findings",
        "plain",
        "records",
        "source",
        "trust",
        "verdicts",
    )

    def __init__(
        self,
        commit: str,
        trust: str,
        records: dict[str, tuple[str, str]],
        commits: list[Commit],
    ) -> None:
        self.commit, self.trust, self.records, self.commits = commit, trust, records, commits
        #: The state's findings once computed (``LedgerState.findings``), as rows.
        self.findings: list[Any] | None = None
        #: Findings of checks whose inputs are immutable, by a key naming the inputs.
        self.verdicts: dict[str, Any] = {}
        #: The kept form of the first ``len(plain)`` commits, as read: a later state that
        #: extends the history writes only its new commits' forms.
        self.plain: list[Any] = []
        #: The kept file this state was read from, and how many delta chunks it holds.
        self.source: bytes | None = None
        self.deltas = 0
        #: The kept state this one continues (its history starts with the base's commits):
        #: it is saved as the base's file plus what differs.
        self.base: KeptState | None = None


def _whole(kept: KeptState) -> dict[str, Any]:
    return {
        "commit": kept.commit,
        "trust": kept.trust,
        "records": [(p, m, b) for p, (m, b) in sorted(kept.records.items())],
        "commits": [*kept.plain, *(commit_to_json(c) for c in kept.commits[len(kept.plain) :])],
        "findings": kept.findings,
        "verdicts": kept.verdicts,
    }


def _delta(base: KeptState, kept: KeptState) -> dict[str, Any]:
    """What ``kept`` adds to ``base``, whose history it continues."""
    old, new = base.records, kept.records
    old_verdicts, new_verdicts = base.verdicts, kept.verdicts
    return {
        "commit": kept.commit,
        "trust": kept.trust,
        "records": sorted((p, *e) for p, e in new.items() if old.get(p) != e),
        "removed": sorted(old.keys() - new.keys()),
        "commits": [commit_to_json(c) for c in kept.commits[len(base.commits) :]],
        "findings": kept.findings,
        "verdicts": {}
        if new_verdicts is old_verdicts
        else {k: v for k, v in new_verdicts.items() if old_verdicts.get(k) != v},
        "forgotten": sorted(old_verdicts.keys() - new_verdicts.keys()),
    }


def _read_state(raw: bytes) -> KeptState:
    """A kept state from its file: a whole state, then the deltas that continue it."""
    payload, at = _chunk(raw, 0)
    data = marshal.loads(payload)
    records = {path: (mode, blob) for path, mode, blob in data["records"]}
    plain, findings, verdicts = data["commits"], data["findings"], data["verdicts"]
    commit, trust, deltas = data["commit"], data["trust"], 0
    while at < len(raw):
        payload, at = _chunk(raw, at)
        delta = marshal.loads(payload)
        for path in delta["removed"]:
            del records[path]
        records.update((path, (mode, blob)) for path, mode, blob in delta["records"])
        plain = [*plain, *delta["commits"]]
        for key in delta["forgotten"]:
            del verdicts[key]
        verdicts.update(delta["verdicts"])
        commit, trust, findings = delta["commit"], delta["trust"], delta["findings"]
        deltas += 1
    kept = KeptState(commit, trust, records, [commit_from_json(c) for c in plain])
    kept.findings, kept.verdicts, kept.plain = findings, verdicts, plain
    kept.source, kept.deltas = raw, deltas
    return kept


def _pack(payload: bytes) -> bytes:
    """A chunk: its length, the first 16 bytes of its SHA-256, then the payload."""
    return struct.pack(">Q", len(payload)) + hashlib.sha256(payload).digest()[:16] + payload


def _chunk(data: bytes, at: int) -> tuple[bytes, int]:
    """The payload of the chunk at ``at``, and where the next one starts."""
    if at + 24 > len(data):
        raise ValueError("truncated")
    (size,) = struct.unpack_from(">Q", data, at)
    payload = data[at + 24 : at + 24 + size]
    if len(payload) != size:
        raise ValueError("truncated")
    if hashlib.sha256(payload).digest()[:16] != data[at + 8 : at + 24]:
        raise ValueError("checksum mismatch")
    return payload, at + 24 + size


# --- serialisation ------------------------------------------------------------------------


def facts_to_json(facts: RecordFacts) -> list[Any]:
    return [
        facts.kind,
        (facts.claimed.kind, facts.claimed.name, facts.claimed.version) if facts.claimed else None,
        facts.sha256,
        facts.valid,
        facts.title,
        [
            [
                link.relation,
                link.pointer,
                link.ref,
                link.sha256,
                link.expects,
                link.reason,
                link.change_type,
                tuple(link.target),
            ]
            for link in facts.links
        ],
        [[s.pointer, *s.snapshot] for s in facts.snapshots],
        [[f.code, f.pointer, f.message, str(f.severity), f.fix] for f in facts.problems],
    ]


def facts_from_json(data: list[Any]) -> RecordFacts:
    kind, claimed, sha256, valid, title, links, snapshots, problems = data
    return RecordFacts(
        kind,
        RecordId(*claimed) if claimed else None,
        sha256,
        bool(valid),
        str(title),
        # Many records have no links, snapshots or problems: no generator is made for them.
        # Targets are kept parsed: parsing every link's reference again was a third of this.
        tuple(
            LinkFact(relation, pointer, ref, sha, expects, reason, change, RecordId(*target))
            for relation, pointer, ref, sha, expects, reason, change, target in links
        )
        if links
        else (),
        tuple(SnapshotFact(p, SnapshotRef(*fields)) for p, *fields in snapshots)
        if snapshots
        else (),
        tuple(Finding(c, "", p, m, SEVERITIES[s], f) for c, p, m, s, f in problems)
        if problems
        else (),
    )


def commit_to_json(c: Commit) -> list[Any]:
    return [
        c.sha,
        list(c.parents),
        c.author.name,
        c.author.email,
        c.author_date,
        c.committer.name,
        c.committer.email,
        c.committer_date,
        c.signature.letter,
        c.signer,
        c.key,
        c.message,
        [list(t) for t in c.trailers],
        [[ch.status, ch.path, ch.old_blob, ch.new_blob, ch.new_mode] for ch in c.changes],
    ]


def commit_from_json(data: list[Any]) -> Commit:
    sha, parents, an, ae, ad, cn, ce, cd, letter, signer, key, message, trailers, changes = data
    return Commit(
        sha,
        tuple(parents),
        Person(an, ae),
        ad,
        Person(cn, ce),
        cd,
        Signature.from_letter(letter),
        signer,
        key,
        message,
        tuple(map(tuple, trailers)),
        tuple(starmap(Change, changes)),
    )


def with_verdicts(commits: Iterable[Commit], verdicts: Mapping[str, Any]) -> list[Commit]:
    """The commits with signature verdicts replaced (after the keys one trusts changed)."""
    out = []
    for c in commits:
        v = verdicts.get(c.sha)
        out.append(
            c if v is None else c._replace(signature=v.signature, signer=v.signer, key=v.key)
        )
    return out
