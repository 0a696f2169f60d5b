"""Git access, in bulk: the only module that runs git.

History is read with one ``git log`` walk and blobs through one persistent ``git cat-file
--batch``; a tree is listed once per revision with ``git ls-tree``. There is never a checkout,
never a process per commit, so cost grows with the number of record changes, not with the size
of the repository.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ledger.errors import UsageError
from ledger.checks.findings import Finding, finding
from ledger.records.jsonload import Limits, load_json_bytes

ZERO = "0" * 40
SYMLINK_MODE = "120000"
# One record separator per commit, unit separators between fields; the message and trailers
# come last but one, and --raw -z appends the changed files after the final separator.
_FIELDS = (
    "%H",
    "%P",
    "%an",
    "%ae",
    "%aI",
    "%cn",
    "%ce",
    "%cI",
    "%G?",
    "%GS",
    "%GK",
    "%B",
    "%(trailers:unfold)",
)
_FORMAT = "%x1e" + "%x1f".join(_FIELDS) + "%x1f"

# What git's %G? letters mean, in words an auditor can act on.
SIGNATURE_STATES = {
    "G": "good",
    # For SSH signatures git says U when the key is not in gpg.ssh.allowedSignersFile.
    "U": "good, but the key is not trusted (unknown signer)",
    "X": "good, signature expired",
    "Y": "good, key expired",
    "R": "good, key revoked",
    "B": "bad",
    "E": "cannot be checked (unknown key)",
    "N": "unsigned",
}


@dataclass(frozen=True)
class Person:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Change:
    """One file a commit added (A), modified (M), deleted (D) or changed in type (T)."""

    status: str
    path: str
    old_blob: str | None
    new_blob: str | None
    new_mode: str


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: Person
    author_date: str
    committer: Person
    committer_date: str
    signature: str
    signer: str
    key: str
    message: str
    trailers: tuple[tuple[str, str], ...]
    changes: tuple[Change, ...] = field(default=())

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def trailer(self, key: str) -> str | None:
        """The last value of a trailer such as ``Ledger-Reason``, if the message has one."""
        values = [v for k, v in self.trailers if k.lower() == key.lower()]
        return values[-1] if values else None

    @property
    def signature_state(self) -> str:
        return SIGNATURE_STATES.get(self.signature, f"unknown ({self.signature})")


class CatFile:
    """One persistent ``git cat-file --batch`` process, for blobs by id or by ``rev:path``."""

    def __init__(self, root: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def read(self, name: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of ``name``; None when git has no such object."""
        if "\n" in name:
            return None
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(name.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode().split()
        if len(header) != 3:
            return None  # "<name> missing" or "<name> ambiguous"
        sha, kind, size = header
        data = self._proc.stdout.read(int(size) + 1)[:-1]
        return sha, kind, data

    def read_many(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """Like ``read`` for many names at once: requests stream in from a thread while the
        answers are read, so git never waits for a round trip (and neither side can block the
        other on a full pipe)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        stdin, stdout = self._proc.stdin, self._proc.stdout
        wanted = [n for n in names if "\n" not in n]

        def send() -> None:
            stdin.write(b"".join(n.encode() + b"\n" for n in wanted))
            stdin.flush()

        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        answers: dict[str, tuple[str, str, bytes] | None] = {}
        for name in wanted:
            header = stdout.readline().decode().split()
            if len(header) != 3:
                answers[name] = None
                continue
            sha, kind, size = header
            answers[name] = (sha, kind, stdout.read(int(size) + 1)[:-1])
        writer.join()
        return [answers.get(n) for n in names]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()


class Repository:
    """A git work tree, read through bulk git commands."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cat: CatFile | None = None
        self._blobs: dict[str, bytes] = {}
        self._prefetched: dict[str, bytes] = {}

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()
            self._cat = None

    def git(self, *args: str) -> bytes:
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args], cwd=self.root, capture_output=True
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(f"git {args[0]} failed: {message[-1] if message else 'no output'}")
        return done.stdout

    @property
    def cat(self) -> CatFile:
        if self._cat is None:
            self._cat = CatFile(self.root)
        return self._cat

    def resolve(self, rev: str) -> str:
        """The full commit id of ``rev``; a usage error if it names no commit."""
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise UsageError(
                f"{rev!r} is not a commit in this repository; "
                "give a branch, tag or commit id (see `git log`)"
            )
        return done.stdout.strip()

    def require_full_history(self) -> None:
        shallow = self.git("rev-parse", "--is-shallow-repository").decode().strip()
        if shallow == "true":
            raise UsageError(
                "this is a shallow clone, so the ledger's history is incomplete; "
                "run `git fetch --unshallow` and try again"
            )

    def walk(self, rev: str, paths: Sequence[str]) -> list[Commit]:
        """Every commit reachable from ``rev`` that touched ``paths``, oldest first."""
        out = self.git(
            "log",
            "--reverse",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            "-z",
            f"--format={_FORMAT}",
            rev,
            "--",
            *paths,
        )
        return [_parse_commit(chunk) for chunk in out.split(b"\x1e")[1:]]

    def list_tree(self, rev: str, folder: str) -> dict[str, tuple[str, str]]:
        """path → (mode, blob id) of every file below ``folder`` at ``rev``."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", rev, "--", folder)
        return _parse_ls(out, index=False)

    def list_index(self, folder: str) -> dict[str, tuple[str, str]]:
        """path → (mode, blob id) of every staged file below ``folder``."""
        return _parse_ls(self.git("ls-files", "-s", "-z", "--", folder), index=True)

    def blob(self, name: str) -> bytes | None:
        """A blob by id or ``rev:path`` (``:path`` for the index); None when absent.

        Blobs named by id are immutable, so small ones (DVC files, records) are remembered:
        verify asks for the same DVC file at many commits.
        """
        if name in self._prefetched:
            return self._prefetched.pop(name)  # read once, so not kept
        if name in self._blobs:
            return self._blobs[name]
        found = self.cat.read(name)
        data = found[2] if found and found[1] == "blob" else None
        if data is not None and _is_object_id(name) and len(data) <= _REMEMBER_BYTES:
            self._blobs[name] = data
        return data

    def prefetch(self, ids: Iterable[str]) -> None:
        """Read many blobs by id in one stream, ahead of ``blob`` asking for them one by one."""
        wanted = sorted({i for i in ids if i not in self._blobs})
        for name, found in zip(wanted, self.cat.read_many(wanted), strict=True):
            if found is not None and found[1] == "blob":
                self._prefetched[name] = found[2]


_REMEMBER_BYTES = 1 << 20
_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def _is_object_id(name: str) -> bool:
    return _OBJECT_ID.fullmatch(name) is not None


def _parse_ls(out: bytes, *, index: bool) -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for line in out.decode("utf-8", errors="surrogateescape").split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        parts = meta.split()
        if index:
            mode, sha, stage = parts
            if stage != "0":
                continue  # an unresolved merge conflict is not a staged record
        else:
            mode, _, sha = parts
        entries[path] = (mode, sha)
    return entries


def _parse_commit(chunk: bytes) -> Commit:
    text = chunk.decode("utf-8", errors="replace")
    fields = text.split("\x1f")
    (sha, parents, an, ae, ad, cn, ce, cd, sig, signer, key, message, trailers) = fields[:13]
    raw = fields[13].strip("\0\n").split("\0") if len(fields) > 13 else []
    changes: list[Change] = []
    for meta, path in zip(raw[0::2], raw[1::2], strict=False):
        _, new_mode, old, new, status = meta.lstrip(":").split()
        changes.append(
            Change(
                status[0],
                path,
                None if old == ZERO else old,
                None if new == ZERO else new,
                new_mode,
            )
        )
    pairs = tuple(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in trailers.splitlines() if ":" in line)
    )
    return Commit(
        sha,
        tuple(parents.split()),
        Person(an, ae),
        ad,
        Person(cn, ce),
        cd,
        sig,
        signer,
        key,
        message.rstrip("\n"),
        pairs,
        tuple(changes),
    )


class GitTree:
    """A TreeView of one commit, or of the index (``rev=None``), read from git objects."""

    def __init__(self, repo: Repository, rev: str | None) -> None:
        self.repo = repo
        self.rev = rev
        self.label = "index" if rev is None else f"commit {rev[:12]}"
        self._listed: dict[str, dict[str, tuple[str, str]]] = {}

    def _files(self, folder: str) -> dict[str, tuple[str, str]]:
        if folder not in self._listed:
            self._listed[folder] = (
                self.repo.list_index(folder)
                if self.rev is None
                else self.repo.list_tree(self.rev, folder)
            )
        return self._listed[folder]

    def record_files(self, records_dir: str) -> list[str]:
        files = self._files(records_dir)
        paths = sorted(p for p in files if p.endswith(".json"))
        # Every listed record will be read: stream them all from git at once.
        self.repo.prefetch(files[p][1] for p in paths if files[p][0] != SYMLINK_MODE)
        return paths

    def _lookup(self, relpath: str) -> tuple[str, str] | None:
        for files in self._listed.values():
            if relpath in files:
                return files[relpath]
        return self._files(posixpath.dirname(relpath) or ".").get(relpath)

    def blob_id(self, relpath: str) -> str | None:
        found = self._lookup(relpath)
        return found[1] if found and found[0] != SYMLINK_MODE else None

    def raw(self, relpath: str) -> bytes | None:
        blob = self.blob_id(relpath)
        return self.repo.blob(blob) if blob else None

    def load_record(self, relpath: str, limits: Limits) -> tuple[object | None, list[Finding]]:
        mode_sha = self._lookup(relpath)
        if mode_sha is None:
            return None, [finding("L003", relpath, "", f"not in the {self.label}")]
        mode, sha = mode_sha
        if mode == SYMLINK_MODE:
            return None, [finding("L009", relpath, "", "file is a symbolic link")]
        data = self.repo.blob(sha)
        if data is None:
            return None, [finding("L003", relpath, "", f"blob {sha} is missing from git")]
        return load_json_bytes(data, relpath, limits)

    def read_text(self, relpath: str) -> str | None:
        data = self.repo.blob(f"{self.rev or ''}:{relpath}")
        return None if data is None else data.decode("utf-8", errors="replace")
