"""The software a training or evaluation process ran with, read from the process itself.

Python's implementation and version, the platform, and the version of every installed
distribution whose modules the process has imported (the standard library apart), so the
libraries that trained a model are the ones named, not a list someone kept by hand. The code
is named by the commit at HEAD and the files that differ from it.

A working tree with uncommitted changes is a warning, not a refusal: a script run under
``dvc repro`` always leaves changed outputs behind, and the record is committed together with
the code that made it. The record's environment states how many files differed, and the
warning names them, so a reviewer can see that HEAD alone did not hold the code that ran.
"""

from __future__ import annotations

import functools
import platform
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import PurePosixPath

from ledger.errors import UsageError
from ledger.git.repository import Repository


class UncommittedCodeWarning(UserWarning):
    """Records were made from a working tree that differs from its commit."""


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    packages: tuple[tuple[str, str], ...]
    commit: str | None
    uncommitted: tuple[str, ...]

    def description(self) -> str:
        """One sentence for a model record's ``training.environment.description``."""
        if self.commit is None:
            code = "code not yet committed"
        elif self.uncommitted:
            code = (
                f"code at commit {self.commit[:12]} with {len(self.uncommitted)} uncommitted "
                "file(s)"
            )
        else:
            code = f"code at commit {self.commit[:12]}"
        return f"{self.python} on {self.platform}; {code}"

    def dependencies(self) -> list[dict[str, str]]:
        """The record's ``dependencies``: every imported distribution and its version."""
        return [{"name": name, "version": version} for name, version in self.packages]

    def package(self, name: str) -> dict[str, str]:
        """A record's ``framework`` entry for an installed distribution."""
        try:
            return {"name": name, "version": metadata.version(name)}
        except metadata.PackageNotFoundError:
            raise UsageError(
                f"{name!r} is not an installed distribution; give the name pip knows it by "
                "(for example scikit-learn, not sklearn)"
            ) from None


def capture(repository: Repository, records_dir: str) -> Environment:
    """The environment of this process and the state of ``repository``'s working tree.

    Files under ``records_dir`` do not count as uncommitted code (records waiting for their
    commit are the ledger's own business), nor do the files DVC writes as it tracks an output
    (``.dvc`` files, ``dvc.lock``, ``.gitignore``): training changes them every time.
    """
    try:
        commit: str | None = repository.resolve("HEAD")
    except UsageError:  # a repository without commits has no HEAD yet
        commit = None
    folder = PurePosixPath(records_dir)
    changed = tuple(
        path
        for path in repository.uncommitted()
        if not PurePosixPath(path).is_relative_to(folder) and not _written_by_dvc(path)
    )
    if changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        warnings.warn(
            f"the working tree differs from its commit ({shown}); the record says so. "
            "Commit the code together with the record",
            UncommittedCodeWarning,
            stacklevel=3,
        )
    return Environment(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=f"{platform.system()} {platform.machine()}",
        packages=imported_distributions(),
        commit=commit,
        uncommitted=changed,
    )


def _written_by_dvc(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.endswith(".dvc") or name in ("dvc.lock", ".gitignore")


@functools.cache
def _owners() -> Mapping[str, list[str]]:
    """Top-level module -> distributions: a walk of every installed distribution's file list
    (a quarter of a second), made once per process however many records it writes."""
    return metadata.packages_distributions()


def imported_distributions() -> tuple[tuple[str, str], ...]:
    """(name, version) of each installed distribution with a module imported in this process,
    sorted by name."""
    owners = _owners()
    names: set[str] = set()
    for module in list(sys.modules):
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top.startswith("_"):
            continue
        names.update(owners.get(top, ()))
    # An editable install of ledger itself maps no module to its distribution; its command
    # names it, and the version of ledger that checked the record belongs in the record.
    names.update(
        ep.dist.name
        for ep in metadata.entry_points(group="console_scripts", name="ledger")
        if ep.dist
    )
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(sorted(found.items(), key=lambda item: item[0].lower()))
