"""The ledger's history: the commits that changed record or DVC files, and what each changed."""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger.dvc.files import dvc_text
from ledger.git.commits import Commit
from ledger.git.repository import Repository
from ledger.records.identity import is_json_name

DVC_NAMES = ("dvc.lock", "dvc.yaml")


def is_record_path(path: str, records_dir: str) -> bool:
    return path.startswith(records_dir.rstrip("/") + "/") and is_json_name(path)


def is_dvc_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".dvc") or name in DVC_NAMES


def relevant(records_dir: str, signoffs_dir: str) -> Callable[[str], bool]:
    """The predicate the history walk keeps changes by: record, sign-off and DVC files."""
    prefixes = (records_dir.rstrip("/") + "/", signoffs_dir.rstrip("/") + "/")

    def keep(path: str) -> bool:
        return (path.startswith(prefixes) and is_json_name(path)) or is_dvc_path(path)

    return keep


@dataclass(frozen=True, slots=True)
class Version:
    """One change of one file: at which commit (its index in ``History.commits``), how (A, M,
    D or T) and the blob it left (None when deleted)."""

    index: int
    status: str
    blob: str | None


class History:
    """Commits oldest first; for each changed path, its versions in that order."""

    def __init__(self, commits: Sequence[Commit]) -> None:
        self.commits = list(commits)
        self._record_commits: dict[str, list[tuple[Commit, tuple[str, ...]]]] = {}
        self.by_path: dict[str, list[Version]] = defaultdict(list)
        for index, commit in enumerate(self.commits):
            for change in commit.changes:
                self.by_path[change.path].append(Version(index, change.status, change.new_blob))

    @functools.cached_property
    def order(self) -> dict[str, int]:
        return {commit.sha: index for index, commit in enumerate(self.commits)}

    @functools.cached_property
    def linear(self) -> bool:
        """No merges: the walk order is the order of the commits on the one line of history."""
        return all(len(c.parents) <= 1 for c in self.commits)

    def versions(self, path: str) -> list[Version]:
        return self.by_path.get(path, [])

    def blob_at(self, path: str, index: int) -> str | None:
        """The path's blob as of commit ``index`` (a linear history's walk order)."""
        versions = self.versions(path)
        at = bisect.bisect_right(versions, index, key=lambda v: v.index)
        return versions[at - 1].blob if at else None

    def record_commits(self, records_dir: str) -> list[tuple[Commit, tuple[str, ...]]]:
        """Each commit that changed record files, with the record files it changed."""
        if records_dir not in self._record_commits:
            found = []
            prefix = records_dir.rstrip("/") + "/"  # is_record_path's, made once
            for commit in self.commits:
                changed = [c.path for c in commit.changes]
                paths = tuple(
                    sorted(p for p in changed if p.startswith(prefix) and is_json_name(p))
                )
                if paths:
                    found.append((commit, paths))
            self._record_commits[records_dir] = found
        return self._record_commits[records_dir]


class DvcTexts:
    """DVC files as they stood at commits of the history, read in batches and kept by name.

    In a linear history a file's content at a commit is its last change at or before it, so
    its blob id comes from the walk; with merges the walk order is not an ancestry order, and
    git is asked for ``<commit>:<path>`` instead. So it is for a file the walk does not follow
    (a snapshot may name a file that is not a DVC file by its name). Either way through the
    session's cat-file.
    """

    def __init__(self, repo: Repository, history: History) -> None:
        self.repo, self.history = repo, history
        self._texts: dict[str, bytes | None] = {}

    def name(self, sha: str, path: str) -> str | None:
        index = self.history.order.get(sha) if self.history.linear else None
        if index is None or not is_dvc_path(path):  # merges, or a commit or file not walked
            return f"{sha}:{path}"
        return self.history.blob_at(path, index)

    def preload(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Read the files of many (commit, path) pairs at once."""
        names = {n for sha, path in wanted if (n := self.name(sha, path)) and n not in self._texts}
        found = self.repo.blobs(names)
        for name in names:
            self._texts[name] = found.get(name)

    def text(self, sha: str, path: str) -> str | None:
        name = self.name(sha, path)
        if name is None:
            return None
        if name not in self._texts:
            self.preload([(sha, path)])
        data = self._texts[name]
        return None if data is None else dvc_text(data, path)

    def at(self, sha: str, label: str | None = None) -> FilesAt:
        return FilesAt(self, sha, label)


class FilesAt:
    """The DVC files of one commit, as a ``FileSource`` for the snapshot checks; findings
    name it by ``label`` (by default the commit's id)."""

    def __init__(self, texts: DvcTexts, sha: str, label: str | None = None) -> None:
        self.texts, self.sha = texts, sha
        self.label = label or f"commit {sha[:12]}"

    def preload(self, relpaths: Iterable[str]) -> None:
        self.texts.preload((self.sha, p) for p in relpaths)

    def read_text(self, relpath: str) -> str | None:
        return self.texts.text(self.sha, relpath)
