"""``ledger init``: prepare a repository for records."""

from __future__ import annotations

from pathlib import Path

from ledger.config import CONFIG_FILE, DEFAULT_CONFIG
from ledger.errors import NotAGitRepositoryError, UsageError
from ledger.git.repository import find_repository_root, init_repository_at
from ledger.records.schemas import write_schemas
from ledger.records.serialize import TEMPORARY_PATTERN, write_atomic


def init_repository(directory: Path) -> list[str]:
    """Write ledger.toml (if missing), records/ and schemas/; return what was done, line by line.

    ``directory`` must be inside a git work tree: ledger's history is git's history.
    """
    directory.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    try:
        root = find_repository_root(directory.resolve())
    except NotAGitRepositoryError:
        init_repository_at(directory)
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
    if ignore_temporary_files(root):
        done.append(f"added {TEMPORARY_PATTERN} to .gitignore (files of interrupted writes)")
    done.append(
        "next: `ledger draft dataset -o draft.yaml`, fill it in, then "
        "`ledger new dataset NAME --version 1.0 --from draft.yaml --snapshot X.dvc`"
    )
    return done


def ignore_temporary_files(root: Path) -> bool:
    """Have git ignore the temporary files of writes interrupted by a crash or ``kill -9``, so
    that ``git add -A`` never commits a half-written record; whether .gitignore changed."""
    gitignore = root / ".gitignore"
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{gitignore}: cannot be read ({exc}); add {TEMPORARY_PATTERN} to it"
        ) from None
    if TEMPORARY_PATTERN in text.splitlines():
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    line = f"# interrupted writes of ledger\n{TEMPORARY_PATTERN}\n"
    write_atomic(gitignore, f"{text}{separator}{line}".encode(), overwrite=True)
    return True


HOOK_MARKER = "# installed by `ledger init --hook`"


def install_hook(directory: Path) -> str:
    """Install a plain git pre-commit hook that runs ``ledger validate --staged``.

    For teams without the pre-commit framework (which uses .pre-commit-hooks.yaml instead). An
    existing hook that ledger did not write is left alone.
    """
    import sys

    root = find_repository_root(directory.resolve())
    hooks = Path(root, ".git", "hooks")
    hook = hooks / "pre-commit"
    if hook.exists() and HOOK_MARKER not in hook.read_text(encoding="utf-8", errors="replace"):
        raise UsageError(
            f"{hook} exists and was not written by ledger; add `ledger validate --staged` to it"
        )
    # The interpreter ledger is installed in, so the hook works outside an activated venv.
    script = f"#!/bin/sh\n{HOOK_MARKER}\nexec '{sys.executable}' -m ledger validate --staged\n"
    write_atomic(hook, script.encode(), overwrite=True)
    hook.chmod(0o755)
    return "installed .git/hooks/pre-commit (runs `ledger validate --staged`)"
