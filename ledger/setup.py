"""``ledger init``: prepare a repository for records."""

from __future__ import annotations

from pathlib import Path

from ledger.config import CONFIG_FILE, DEFAULT_CONFIG
from ledger.errors import NotAGitRepositoryError
from ledger.schemas import write_schemas
from ledger.serialize import write_atomic
from ledger.trees import find_repository_root


def init_repository(directory: Path) -> list[str]:
    """Write ledger.toml (if missing), records/ and schemas/; return what was done, line by line.

    ``directory`` must be inside a git work tree: ledger's history is git's history.
    """
    directory.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    try:
        root = find_repository_root(directory.resolve())
    except NotAGitRepositoryError:
        from git import Repo

        Repo.init(directory)
        root = directory.resolve()
        done.append(f"initialised a git repository in {directory}")
    if root != directory.resolve():
        raise NotAGitRepositoryError(
            f"{directory} (it is inside the repository {root}; run `ledger init {root}`)"
        )
    config = root / CONFIG_FILE
    if not config.exists():
        write_atomic(config, DEFAULT_CONFIG.encode())
        done.append(f"wrote {CONFIG_FILE}")
    records = root / "records"
    if not records.exists():
        records.mkdir()
        write_atomic(records / ".gitkeep", b"")
        done.append("created records/")
    write_schemas(root / "schemas")
    done.append("wrote schemas/ (the published JSON Schemas of the record kinds)")
    done.append("next: `ledger new dataset NAME --version 1.0 --from draft.json --snapshot X.dvc`")
    return done
