"""Whether the data records describe is really there: in the workspace, the DVC cache, the remote.

Hashes come from dvc-data itself (``file_md5`` for a file, ``build`` with DVC's ``.dvcignore``
rules for a directory), so "differs" here means what it means to ``dvc status``. Hashes are DVC 3
md5s (``hash: md5``): a legacy DVC 2 snapshot would read as changed and missing, so callers skip
those. Remotes are checked only on the local file system; nothing here touches the network.
The cache and remote come from ``.dvc/config`` and ``.dvc/config.local``; DVC's global and
system configs are not read.
"""

from __future__ import annotations

import configparser
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ledger.dvc.content_hash import (
    CacheObjectMissingError,
    ContentHashError,
    dvc_md5_of,
    read_dir_manifest,
    sha256_of,
)
from ledger.dvc.files import is_safe_relative
from ledger.findings import Finding, Severity, finding

if TYPE_CHECKING:
    from dvc_data.hashfile._ignore import Ignore

_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_REMOTE_SECTION = re.compile(r"""^'?remote\s+"(.+)"'?$""")
# An empty file in both datasets shares no data; counting it would report leakage falsely.
_EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
_SHOWN = 3


@dataclass(frozen=True)
class SnapshotSite:
    """A record's snapshot: where it is written (record file, JSON pointer) and what it says."""

    record_path: str
    pointer: str
    repo_path: str
    md5: str
    is_dir: bool
    # Superseded versions are no longer in the workspace, but their content must stay
    # retrievable from the cache and the remote.
    in_workspace: bool = True
    #: The snapshot's SHA-256 (md5 alone is not collision resistant); "" checks none.
    sha256: str = ""

    def __post_init__(self) -> None:
        # The md5 becomes a path in the cache, so a malformed one must never get that far.
        if not _MD5.match(self.md5) or self.is_dir != self.md5.endswith(".dir"):
            kind = "directory" if self.is_dir else "file"
            raise ValueError(f"{self.record_path}#{self.pointer}: {self.md5!r} is no {kind} md5")


def check_data(root: Path, sites: Sequence[SnapshotSite]) -> list[Finding]:
    """L407/L408/L409: the workspace, the cache and a local default remote hold each snapshot,
    with bytes that hash to the recorded md5 (an object is named by the hash its bytes had when
    it was stored, and a name proves nothing about what is stored under it now)."""
    root = root.resolve()
    config, problem = _config(root)
    cache, remote = _cache_dir(root, config), _remote(root, config)
    findings = [problem] if problem else []
    if sites and isinstance(remote, Finding):
        findings.append(remote)
    seen = _Objects()
    for site in sites:
        if site.in_workspace:
            findings += _workspace(root, site, cache)
        findings += _store(site, cache, "L408", f"the DVC cache ({_show(root, cache)})", seen)
        if isinstance(remote, Path):
            label = f"the DVC remote ({_show(root, remote)})"
            findings += _store(site, remote, "L409", label, seen)
    return findings


def workspace_sha256(root: Path, sites: Sequence[SnapshotSite]) -> list[Finding]:
    """L407 for each snapshot whose data is in the workspace with the recorded md5 but has
    another SHA-256. Data that is absent or changed since says nothing about the SHA-256, so
    it is passed over here (``verify --data`` reports it)."""
    root = root.resolve()
    found: list[Finding] = []
    md5s: dict[Path, str] = {}  # each file hashed once, however many records describe it
    sha256s: dict[Path, str] = {}
    for site in sites:
        if not site.sha256 or not site.in_workspace or not is_safe_relative(site.repo_path):
            continue
        path = root / site.repo_path
        if path.is_symlink() or not path.exists() or path.is_dir() != site.is_dir:
            continue
        if path not in md5s:
            try:
                md5s[path] = _dvc_md5(root, path)[0]
            except (OSError, ContentHashError):
                md5s[path] = ""
        if md5s[path] == site.md5:
            found += _sha256_agrees(site, path, sha256s)
    return found


def shared_files(root: Path, md5_a: str, md5_b: str) -> set[str] | None:
    """File md5s two snapshots have in common; None when a needed manifest is not in the cache."""
    if md5_a == md5_b:
        return {md5_a} - {_EMPTY_MD5}
    cache = _cache_dir(root.resolve(), _config(root.resolve())[0])
    files: list[set[str]] = []
    for md5 in (md5_a, md5_b):
        if not md5.endswith(".dir"):
            files.append({md5})
            continue
        try:
            files.append({entry["md5"] for entry in read_dir_manifest(cache, md5)})
        except ContentHashError:
            return None
    return (files[0] & files[1]) - {_EMPTY_MD5}


def _workspace(root: Path, site: SnapshotSite, cache: Path) -> list[Finding]:
    def mismatch(message: str, fix: str = "") -> list[Finding]:
        return [finding("L407", site.record_path, site.pointer, message, fix)]

    if not is_safe_relative(site.repo_path):
        return mismatch(f"{site.repo_path} is outside the repository; ledger does not read it")
    path = root / site.repo_path
    if not path.exists():
        fix = f"run `dvc checkout {site.repo_path}` (or `dvc pull {site.repo_path}`)"
        return mismatch(f"{site.repo_path} is not in the workspace (recorded {site.md5})", fix)
    if path.is_dir() != site.is_dir:
        kinds = ("a directory", "a file") if path.is_dir() else ("a file", "a directory")
        return mismatch(f"{site.repo_path} is {kinds[0]}, the record describes {kinds[1]}")
    try:
        actual, entries = _dvc_md5(root, path)
    except (OSError, ContentHashError) as error:
        return mismatch(f"{site.repo_path} cannot be hashed: {error}")
    if actual == site.md5:
        return _sha256_agrees(site, path)
    changes = _changes(cache, site.md5, entries) if site.is_dir else ""
    return mismatch(f"{site.repo_path} has md5 {actual}, the record says {site.md5}{changes}")


def _sha256_agrees(
    site: SnapshotSite, path: Path, known: dict[Path, str] | None = None
) -> list[Finding]:
    """The data whose md5 matches must also have the SHA-256 the record states: a made-up
    SHA-256 beside a true md5 and size would otherwise stand, and the SHA-256 is there because
    an md5 can be forged. ``known`` holds the SHA-256 of files hashed already."""
    if not site.sha256:
        return []
    try:
        actual = known[path] if known is not None and path in known else sha256_of(path)
    except (OSError, ContentHashError) as error:
        return [finding("L407", site.record_path, site.pointer, f"{site.repo_path}: {error}")]
    if known is not None:
        known[path] = actual
    if actual == site.sha256:
        return []
    message = (
        f"{site.repo_path} has SHA-256 {actual}, the record says {site.sha256}, though the md5 "
        "agrees: the record's SHA-256 is not this data's"
    )
    fix = "write a new version whose snapshot ledger new computes from the data"
    return [finding("L407", site.record_path, site.pointer + "/sha256", message, fix)]


def _changes(cache: Path, recorded_md5: str, entries: list[dict[str, str]]) -> str:
    try:
        old = {e["relpath"]: e["md5"] for e in read_dir_manifest(cache, recorded_md5)}
    except ContentHashError:
        return " (the recorded .dir manifest is not in the DVC cache to name the changed files)"
    new = {e["relpath"]: e["md5"] for e in entries}
    groups = {
        "changed": sorted(p for p in old.keys() & new.keys() if old[p] != new[p]),
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
    }
    return ": " + "; ".join(f"{name} {_few(paths)}" for name, paths in groups.items() if paths)


def _store(site: SnapshotSite, base: Path, code: str, label: str, seen: _Objects) -> list[Finding]:
    def wrong(message: str, fix: str = "") -> list[Finding]:
        return [finding(code, site.record_path, site.pointer, f"{label} {message}", fix)]

    repair = _REPAIR[code]
    if not site.is_dir:
        state = seen.state(base, site.md5)
        if state == _MISSING:
            return wrong(f"has no {site.md5} ({site.repo_path})")
        if state:
            return wrong(f"holds {site.md5} ({site.repo_path}) corrupt: {state}", repair)
        return []
    try:
        entries = read_dir_manifest(base, site.md5)
    except CacheObjectMissingError:
        return wrong(f"has no .dir object {site.md5} ({site.repo_path})")
    except ContentHashError as error:
        return wrong(f"holds an unreadable .dir object: {error}", repair)
    absent, corrupt = [], []
    for e in entries:
        state = seen.state(base, e["md5"])
        if state == _MISSING:
            absent.append(f"{e['relpath']} {e['md5']}")
        elif state:
            corrupt.append(f"{e['relpath']} ({state})")
    found = []
    if absent:
        of = f"{len(absent)} of the {len(entries)} files of {site.md5} ({site.repo_path})"
        found += wrong(f"lacks {of}: {_few(absent)}")
    if corrupt:
        of = f"{len(corrupt)} of the {len(entries)} files of {site.md5} ({site.repo_path})"
        found += wrong(f"holds corrupt copies of {of}: {_few(corrupt)}", repair)
    return found


_MISSING = "missing"
_REPAIR = {
    "L408": "delete the corrupt object from the cache and run `dvc fetch`",
    "L409": "delete the corrupt object from the remote and `dvc push` from an intact cache",
}


class _Objects:
    """What each store holds under an md5, each object hashed once per check: snapshots
    (versions of one dataset, say) share most of their files."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, str], str] = {}

    def state(self, base: Path, md5: str) -> str:
        """The empty string when the object is there and its bytes have that md5, else what
        is wrong with it."""
        key = (base, md5)
        if key not in self._known:
            self._known[key] = _object_state(base, md5)
        return self._known[key]


def _object_state(base: Path, md5: str) -> str:
    # A manifest entry is only as trustworthy as the cache it came from: never follow a bad md5.
    if not _MD5.match(md5) or md5.endswith(".dir"):
        return _MISSING
    path = base / "files" / "md5" / md5[:2] / md5[2:]
    if not path.is_file():
        return _MISSING
    # The name says what the bytes were; only hashing them says what they are now.
    try:
        actual = dvc_md5_of(path)
    except (OSError, ContentHashError) as error:
        return f"it cannot be read: {error}"
    return "" if actual == md5 else f"its bytes hash to {actual}"


def _dvc_md5(root: Path, path: Path) -> tuple[str, list[dict[str, str]]]:
    """DVC's md5 of a file or directory and, for a directory, its manifest, from dvc-data."""
    from dvc_data.hashfile.hash import file_md5

    if not path.is_dir():
        return file_md5(str(path)), []
    from dvc_data.hashfile.build import IgnoreInCollectedDirError, build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_data.hashfile.tree import Tree
    from dvc_objects.fs.local import localfs

    # Importing dvc sets up DVC's logging, which wraps sys.stdout and sys.stderr (colorama):
    # a training script that records a folder must keep the streams it had.
    streams = sys.stdout, sys.stderr
    try:
        from dvc.ignore import DvcIgnoreFilter  # type: ignore[import-untyped]
    finally:
        sys.stdout, sys.stderr = streams
    # DVC's own .dvcignore rules, with its default ignores (.git, .hg, .dvc), as `dvc add` uses.
    ignore = cast("Ignore", DvcIgnoreFilter(localfs, str(root)))
    # With dry_run, build stages objects in memory and writes nothing to this database.
    odb = HashFileDB(localfs, str(root / ".dvc" / "cache"))
    try:
        _, _, tree = build(odb, str(path), localfs, "md5", dry_run=True, ignore=ignore)
    except IgnoreInCollectedDirError as error:
        raise ContentHashError(f"{path}: {error}") from error
    assert isinstance(tree, Tree) and tree.hash_info.value
    return tree.hash_info.value, cast(list[dict[str, str]], tree.as_list())


def _config(root: Path) -> tuple[dict[str, dict[str, str]], Finding | None]:
    sections: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        # DVC writes configobj files; configparser reads them, bar the quoted section names.
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(root / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as error:
            message = f"cannot be read, so the cache and remote are not known: {error}"
            fix = "repair it with `dvc config`"
            return {}, finding("L409", f".dvc/{name}", "", message, fix, severity=Severity.WARNING)
        for section in parser.sections():
            match = _REMOTE_SECTION.match(section)
            key = f"remote:{match[1]}" if match else section.strip("'\"")
            sections.setdefault(key, {}).update(parser[section])
    return sections, None


def _cache_dir(root: Path, config: dict[str, dict[str, str]]) -> Path:
    # DVC resolves a relative cache dir or remote url against the .dvc folder holding the config.
    return root / ".dvc" / config.get("cache", {}).get("dir", "cache")


def _remote(root: Path, config: dict[str, dict[str, str]]) -> Path | Finding:
    name = config.get("core", {}).get("remote", "")
    url = config.get(f"remote:{name}", {}).get("url", "") if name else ""
    if not url:
        problem = f"the default remote {name!r} has no url" if name else "no default remote is set"
        message = f"{problem}, so no copy of the data outside this clone can be confirmed"
        fix = "run `dvc remote add -d <name> <url>`, then `dvc push`"
        return finding("L409", ".dvc/config", "", message, fix, severity=Severity.WARNING)
    if "://" in url and not url.startswith("file://"):
        # The url may carry credentials, so only its scheme is repeated.
        scheme = url.split("://", 1)[0]
        message = f"the default remote {name!r} ({scheme}://) cannot be checked offline"
        fix = "run `dvc status --cloud` where the network may be used"
        return finding("L409", ".dvc/config", "", message, fix, severity=Severity.WARNING)
    path = root / ".dvc" / url.removeprefix("file://")
    if not path.is_dir():
        message = f"the default remote {name!r} is a folder that does not exist: {path}"
        return finding("L409", ".dvc/config", "", message, "correct its url, or run `dvc push`")
    return path


def _show(root: Path, path: Path) -> str:
    resolved = path.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


def _few(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more
