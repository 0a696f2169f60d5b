"""One session with a git repository: the only code in ledger that runs git.

History is read with one ``git log --raw`` walk (and one ``git log --no-walk --stdin`` for the
signature verdicts and trailers of the commits that matter); objects through one persistent
``git cat-file --batch``. There is never a checkout and never a process per commit or per
record, so the number of git processes a command starts does not grow with the ledger.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType

from ledger.errors import NotAGitRepositoryError, UsageError
from ledger.git.commits import (
    VERDICT_FORMAT,
    Change,
    Commit,
    Person,
    Signature,
    Verdict,
    WalkedCommit,
    parse_commit_object,
    parse_ident,
    parse_raw_changes,
    parse_raw_log,
    parse_verdicts,
)

SYMLINK_MODE = "120000"
REGULAR_MODES = ("100644", "100755")  # a plain file, and an executable one
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256
_PIPE = 16_384  # bytes of requests safely written before reading: well under a pipe's buffer
GITLINK_MODE = "160000"
Listing = dict[str, tuple[str, str]]  # path -> (mode, object id)


def _env() -> dict[str, str]:
    """The environment of every git process: objects as they are stored. ``git replace`` refs
    and a ``.git/info/grafts`` file make git show another commit, tree or blob in place of the
    real one (a tampering commit can be replaced by its parent, or cut from its history), and
    neither travels with a clone: verify reads what was actually committed."""
    return {**os.environ, "GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull}


def listing_after(listing: Listing, changes: Iterable[Change], folder: str) -> Listing:
    """The listing of ``folder`` in a tree, from ``listing`` (another tree's) and the changes
    between the two (``Repository.tree_changes``): comparing two trees is one git call, where
    listing the new one reads every file's entry."""
    below = PurePosixPath(folder).parts  # "./records" and "records" are one folder
    listed = dict(listing)
    for change in changes:
        if PurePosixPath(change.path).parts[: len(below)] != below:
            continue
        if change.new_blob is None:
            listed.pop(change.path, None)
        else:
            listed[change.path] = (change.new_mode, change.new_blob)
    return listed


class CatFile:
    """One persistent ``git cat-file --batch`` process, for objects by id or ``rev:path``."""

    def __init__(self, root: Path) -> None:
        # One conversation at a time: requests and answers of two threads must not interleave.
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=root,
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def read_many(self, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
        """(type, content) of each name, None where git has no such object.

        Requests stream in from a thread while answers are read, so git never waits for a
        round trip and neither side can block the other on a full pipe.
        """
        with self._lock:
            return self._read_many(names)

    def _read_many(self, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        stdin, stdout = self._proc.stdin, self._proc.stdout
        # A name with a newline would be read by git as two requests.
        wanted = [n for n in names if "\n" not in n]
        if not wanted:
            return [None] * len(names)

        request = b"".join(n.encode("utf-8", "surrogateescape") + b"\n" for n in wanted)

        def send() -> None:
            stdin.write(request)
            stdin.flush()

        # A request that fits in the pipe is written at once; a larger one from a thread, so
        # neither side can block the other on a full pipe.
        writer = threading.Thread(target=send, daemon=True) if len(request) > _PIPE else None
        if writer is None:
            send()
        else:
            writer.start()
        answers: dict[str, tuple[str, bytes] | None] = {}
        for name in wanted:
            line = stdout.readline()
            # "<name> missing" and "<name> ambiguous" repeat the name, which may hold spaces
            # (a DVC output "scans (2024)/x.csv"); an object found is "<oid> <type> <size>".
            if line.rstrip(b"\n").rpartition(b" ")[2] in (b"missing", b"ambiguous"):
                answers[name] = None
                continue
            header = line.split()
            if len(header) != 3 or not header[2].isdigit():
                raise UsageError(
                    f"git cat-file answered {line[:80]!r} for {name!r}, which ledger cannot "
                    "read; check that `git` on the PATH is git itself (git --version)"
                )
            answers[name] = (header[1].decode(), stdout.read(int(header[2]) + 1)[:-1])
        if writer is not None:
            writer.join()
        return [answers.get(n) for n in names]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()


class Repository:
    """A git work tree, read through a fixed number of bulk git commands."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cat: CatFile | None = None
        self._held: dict[str, bytes] = {}  # blobs by object id, while ``holding``
        self._git_dir: Path | None = None
        self._resolved: dict[str, str] = {}
        #: Every git command line this session started, for tests and benchmarks to count.
        self.commands: list[tuple[str, ...]] = []

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

    def after_fork(self) -> None:
        """In a forked child: leave the inherited ``git cat-file`` to the parent, whose
        conversation with it goes on (answers would go to whichever process read first);
        this process starts its own when it first reads an object."""
        self._cat = None

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        self.commands.append(args)
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=self.root,
            env=_env(),
            input=stdin,
            capture_output=True,
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(f"git {args[0]} failed: {message[-1] if message else 'no output'}")
        return done.stdout

    @property
    def cat(self) -> CatFile:
        if self._cat is None:
            self.commands.append(("cat-file", "--batch"))
            self._cat = CatFile(self.root)
        return self._cat

    @property
    def git_dir(self) -> Path:
        """The repository's common git folder (shared by all its worktrees)."""
        if self._git_dir is None:
            folder = Path(self.git("rev-parse", "--git-common-dir").decode().strip())
            self._git_dir = folder if folder.is_absolute() else self.root / folder
        return self._git_dir

    def resolve(self, rev: str) -> str:
        """The full commit id of ``rev``; a usage error if it names no commit."""
        if rev not in self._resolved:
            self._resolved[rev] = self._resolve(rev)
        return self._resolved[rev]

    def _resolve(self, rev: str) -> str:
        self.commands.append(("rev-parse", rev))
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            cwd=self.root,
            env=_env(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise UsageError(
                f"{rev!r} is not a commit in this repository; "
                "give a branch, tag or commit id (see `git log`)"
            )
        return done.stdout.strip()

    def committed_at(self, rev: str) -> str:
        """The committer time of ``rev``, in ISO 8601 with its offset."""
        return self.git("show", "-s", "--format=%cI", rev).decode().strip()

    def require_full_history(self) -> None:
        # A shallow clone records its cut-off commits in this file; no process needed.
        if (self.git_dir / "shallow").exists():
            raise UsageError(
                "this is a shallow clone, so the ledger's history is incomplete; "
                "run `git fetch --unshallow` and try again"
            )

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        self.commands.append(("merge-base", "--is-ancestor", ancestor, rev))
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, rev],
            cwd=self.root,
            env=_env(),
            capture_output=True,
        )
        return done.returncode == 0

    def tree_changes(self, old: str, new: str) -> list[Change]:
        """Every file whose content, mode or presence differs between the trees of two
        commits: their contents compared, whatever history lies between them."""
        out = self.git("diff-tree", "-r", "-z", "--no-renames", "--raw", old, new, "--")
        return parse_raw_changes(out.split(b"\0"))

    def uncommitted(self) -> list[str]:
        """Paths whose working-tree content differs from HEAD, untracked ones included and
        ignored ones not (``git status``), sorted."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
        fields = iter(out.decode(errors="surrogateescape").split("\0"))
        paths: list[str] = []
        for entry in fields:
            if len(entry) < 4:
                continue
            paths.append(entry[3:])
            if entry[0] in "RC":
                next(fields, None)  # a rename's or copy's source follows as its own field
        return sorted(paths)

    def reachable(self, rev: str) -> set[str]:
        """Every commit reachable from ``rev``."""
        return set(self.git("rev-list", rev, "--").decode().split())

    # --- history ---------------------------------------------------------------------------

    def walk(
        self, rev: str, relevant: Callable[[str], bool], since: str | None = None
    ) -> list[WalkedCommit]:
        """Commits reachable from ``rev`` (and not from ``since``) that changed a path for
        which ``relevant`` is true, oldest first, with only those changes (``commits`` reads
        the rest of them).

        The walk has no pathspec: git then diffs each commit once, where a pathspec makes it
        diff twice (once to simplify history, once to print), and wildcards such as ``*.dvc``
        defeat its pruning of unchanged folders. The changes are filtered here instead.

        A merge lists its own changes (``--cc``: the files whose merged content differs from
        every parent's), so a record edited, deleted or added by the merge commit itself is
        in the history; what a branch changed stays with the branch's commits.
        """
        args = ["log", "--reverse", "--raw", "--cc", "--no-renames", "--no-abbrev", "-z"]
        args += ["--format=%H %P", rev, *([f"^{since}"] if since else []), "--"]
        walked: list[WalkedCommit] = []
        for commit in parse_raw_log(self._stream(*args)):
            changes = tuple(c for c in commit.changes if relevant(c.path))
            if changes:
                walked.append(WalkedCommit(commit.sha, commit.parents, changes))
        return walked

    def _stream(self, *args: str) -> Iterator[bytes]:
        """The NUL-separated tokens git writes, read as they come: a long history's output is
        never held whole."""
        self.commands.append(args)
        command = ["git", "-c", "core.quotepath=off", *args]
        with subprocess.Popen(
            command, cwd=self.root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            rest = b""
            for block in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
                tokens = (rest + block).split(b"\0")
                rest = tokens.pop()
                yield from tokens
            if rest:
                yield rest
            error = proc.stderr.read().decode(errors="replace").strip().splitlines()
        if proc.returncode != 0:
            raise UsageError(f"git {args[0]} failed: {error[-1] if error else 'no output'}")

    def commits(self, walked: Sequence[WalkedCommit]) -> list[Commit]:
        """Full commits for walked ones: objects through cat-file, verdicts in one git log."""
        if not walked:
            return []
        objects = self.cat.read_many([c.sha for c in walked])
        verdicts = self.verdicts([c.sha for c in walked])
        commits: list[Commit] = []
        for item, found in zip(walked, objects, strict=True):
            if found is None or found[0] != "commit":
                raise UsageError(f"git has no commit object {item.sha}; the repository is damaged")
            raw = parse_commit_object(found[1])
            verdict = verdicts.get(item.sha) or Verdict(Signature.UNVERIFIABLE, "", "", ())
            commits.append(
                Commit(
                    item.sha,
                    item.parents,
                    raw.author,
                    raw.author_date,
                    raw.committer,
                    raw.committer_date,
                    verdict.signature,
                    verdict.signer,
                    verdict.key,
                    raw.message.rstrip("\n"),
                    verdict.trailers,
                    item.changes,
                )
            )
        return commits

    def verdicts(self, shas: Iterable[str]) -> dict[str, Verdict]:
        """Signature verdicts and trailers of the given commits, from one git process."""
        stdin = "".join(f"{sha}\n" for sha in shas).encode()
        if not stdin:
            return {}
        out = self.git(
            "log", "--no-walk=unsorted", "--stdin", "-z", f"--format={VERDICT_FORMAT}", stdin=stdin
        )
        return parse_verdicts(out)

    def config_lines(self, pattern: str) -> list[str]:
        """``key value`` lines of the git settings whose names match ``pattern``."""
        self.commands.append(("config", "--get-regexp", pattern))
        done = subprocess.run(
            ["git", "config", "--get-regexp", pattern],
            cwd=self.root,
            env=_env(),
            capture_output=True,
        )
        # Exit code 1 means no setting matched; anything else leaves the answer unknown.
        return sorted(done.stdout.decode("utf-8", "replace").splitlines())

    def identity(self) -> Person:
        """Who git would name as the author of a commit made now (settings and environment)."""
        line = self.git("var", "GIT_AUTHOR_IDENT").decode("utf-8", "replace").strip()
        person, _ = parse_ident(line.encode())
        return person

    def commit_signed(self, path: str, message: str, seconds: int) -> str:
        """Commit ``path`` alone (whatever else is staged stays staged), signed with the
        user's key (``git commit -S``, hooks included), authored and committed at ``seconds``
        since the epoch (UTC); the new commit's id. On failure nothing stays staged."""
        stamp = f"@{seconds} +0000"
        env = {**_env(), "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        self.git("add", "--", path)
        self.commands.append(("commit", "-S", "--only", path))
        done = subprocess.run(
            ["git", "commit", "-q", "-S", "--only", "-F", "-", "--", path],
            cwd=self.root,
            env=env,
            input=message.encode(),
            capture_output=True,
        )
        if done.returncode != 0:
            self.git("rm", "-q", "--cached", "--ignore-unmatch", "--", path)
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(
                f"git could not make the signed commit: {lines[-1] if lines else 'no output'}; "
                "check `git commit -S` works here (signing key, pre-commit hook)"
            )
        self._resolved.pop("HEAD", None)
        return self.resolve("HEAD")

    def undo_commit(self, made: str, path: str) -> None:
        """Take back the commit ``made`` that ``commit_signed`` just made of ``path``, if HEAD
        is still it: HEAD returns to its parent and the file leaves the index."""
        self.git("update-ref", "-m", "ledger: sign-off withdrawn", "HEAD", f"{made}^", made)
        self.git("rm", "-q", "--cached", "--ignore-unmatch", "--", path)
        self._resolved.pop("HEAD", None)

    # --- trees and objects -----------------------------------------------------------------

    def list_tree(self, rev: str, folder: str) -> Listing:
        """path -> (mode, object id) of every file below ``folder`` at ``rev``."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", rev, "--", folder)
        return _parse_ls(out, index=False)

    def list_index(self, folder: str) -> Listing:
        """path -> (mode, object id) of every staged file below ``folder``."""
        return _parse_ls(self.git("ls-files", "-s", "-z", "--", folder), index=True)

    def blobs(self, names: Iterable[str]) -> dict[str, bytes]:
        """Blobs by id or ``rev:path`` (``:path`` for the index), in one stream; absent ones
        are left out."""
        wanted = sorted(set(names))
        held = {n: self._held[n] for n in wanted if n in self._held} if self._held else {}
        if held:
            wanted = [n for n in wanted if n not in held]
        found = self.cat.read_many(wanted) if wanted else []
        read = {n: f[1] for n, f in zip(wanted, found, strict=True) if f and f[0] == "blob"}
        return {**held, **read} if held else read

    @contextlib.contextmanager
    def holding(self, blob_ids: Iterable[str]) -> Iterator[None]:
        """Read these blobs in one stream now, and answer ``blobs`` from them until the block
        ends: for a view that reads many records one or two at a time, each a round trip to
        git otherwise. Only object ids are held: a blob's id names its content, so the held
        bytes are what git would answer (a ``rev:path`` name can change and is always read)."""
        ids = [n for n in set(blob_ids) if _OBJECT_ID.fullmatch(n)]
        self._held = self.blobs(ids)
        try:
            yield
        finally:
            self._held = {}

    def blob(self, name: str) -> bytes | None:
        return self.blobs([name]).get(name)


def _parse_ls(out: bytes, *, index: bool) -> Listing:
    entries: Listing = {}
    for line in out.split(b"\0"):
        if not line:
            continue
        meta, _, raw_path = line.partition(b"\t")
        path = raw_path.decode("utf-8", errors="surrogateescape")
        parts = meta.decode("ascii", "replace").split()
        if index:
            mode, sha, stage = parts
            if stage != "0":
                continue  # an unresolved merge conflict is not a staged record
        else:
            mode, _, sha = parts
        entries[path] = (mode, sha)
    return entries


def find_repository_root(start: Path) -> Path:
    """The top of the git work tree containing ``start``; NotAGitRepositoryError outside one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            env=_env(),
            capture_output=True,
            text=True,
        )
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotAGitRepositoryError(str(start)) from exc
    if done.returncode != 0:
        bare = "work tree" in done.stderr
        raise NotAGitRepositoryError(
            f"{start} (a bare repository has no work tree)" if bare else str(start)
        )
    return Path(done.stdout.rstrip("\n"))


def init_repository_at(directory: Path) -> None:
    """``git init`` in ``directory``, through GitPython."""
    from git import Repo

    Repo.init(directory)
