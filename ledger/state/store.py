"""What ledger already verified, remembered between runs (DESIGN.md principle 5).

A git blob is immutable, so a record file found clean once (readable, no possible PHI, valid
against the schema, canonical hash computed) stays clean for the same rules. The store maps blob
ids to canonical hashes and lives in the repository's git folder, never in the work tree. Its
name carries a fingerprint of the rules (ledger version, schemas, limits): when any changes, a
new store starts empty, so nothing is trusted that the current rules did not check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from ledger import __version__
from ledger.config import Config
from ledger.git.repository import Repository
from ledger.records.schemas import generate_schemas
from ledger.records.serialize import write_atomic


def _fingerprint(config: Config) -> str:
    rules = json.dumps(
        [__version__, generate_schemas(), config.limits.max_bytes, config.limits.max_depth],
        sort_keys=True,
    )
    return hashlib.sha256(rules.encode()).hexdigest()[:16]


class CheckedStore:
    """Blob id -> canonical SHA-256 of record files found clean, kept in the git folder."""

    def __init__(self, repo: Repository, config: Config) -> None:
        folder = Path(repo.git("rev-parse", "--git-common-dir").decode().strip())
        if not folder.is_absolute():
            folder = repo.root / folder
        self.path = folder / "ledger" / f"checked-{_fingerprint(config)}.json"
        self.clean: dict[str, str] = self._load()
        self._size = len(self.clean)

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}  # no store yet, or an unreadable one: start afresh
        clean = data.get("clean") if isinstance(data, dict) else None
        if not isinstance(clean, dict):
            return {}
        return {k: v for k, v in clean.items() if isinstance(k, str) and isinstance(v, str)}

    def save(self) -> None:
        if len(self.clean) == self._size:
            return
        content = json.dumps({"clean": dict(sorted(self.clean.items()))}, separators=(",", ":"))
        # A read-only clone verifies just as well, only without remembering.
        with contextlib.suppress(OSError):
            write_atomic(self.path, content.encode(), overwrite=True)
