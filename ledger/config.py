"""Per-repository settings, read from ``ledger.toml`` at the repository root."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ledger.errors import UsageError
from ledger.records.jsonload import Limits

CONFIG_FILE = "ledger.toml"

DEFAULT_CONFIG = """\
# ledger settings (see the README).
[ledger]
# Where records live: <records_dir>/<kind>/<name>/<version>.json
records_dir = "records"
# Records document data; they never hold it. Larger files are refused.
max_record_bytes = 1048576
max_depth = 32
"""


@dataclass(frozen=True)
class Config:
    records_dir: str = "records"
    limits: Limits = field(default_factory=Limits)


def load_config(root: Path) -> Config:
    """Settings of the repository at ``root``; defaults when it has no ledger.toml."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("ledger", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{CONFIG_FILE}: cannot be read ({exc}); correct the TOML syntax") from exc
    unknown = sorted(set(table) - {"records_dir", "max_record_bytes", "max_depth"})
    if unknown:
        raise UsageError(
            f"{CONFIG_FILE}: unknown setting(s) {', '.join(unknown)} in [ledger]; "
            "known settings are records_dir, max_record_bytes, max_depth"
        )
    records_dir = table.get("records_dir", "records")
    posix = PurePosixPath(str(records_dir))
    if not isinstance(records_dir, str) or posix.is_absolute() or ".." in posix.parts:
        raise UsageError(
            f"{CONFIG_FILE}: records_dir must be a relative path inside the repository"
        )
    limits = Limits()
    max_bytes = table.get("max_record_bytes", limits.max_bytes)
    max_depth = table.get("max_depth", limits.max_depth)
    for key, value in (("max_record_bytes", max_bytes), ("max_depth", max_depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"{CONFIG_FILE}: {key} must be a positive whole number")
    return Config(str(posix), Limits(max_bytes=max_bytes, max_depth=max_depth))
