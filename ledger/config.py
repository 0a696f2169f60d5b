"""Per-repository settings, read from ``ledger.toml`` at the repository root."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ledger.errors import UsageError
from ledger.fhir.ids import DEFAULT_BASE
from ledger.records.jsonload import Limits
from ledger.signoffs.policy import Policy, parse_policy

CONFIG_FILE = "ledger.toml"

DEFAULT_CONFIG = """\
# ledger settings (see the README).
[ledger]
# Where records live: <records_dir>/<kind>/<name>/<version>.json
records_dir = "records"
# Records document data; they never hold it. Larger files are refused.
max_record_bytes = 1048576
max_depth = 32
# Where `ledger sign` writes sign-offs: <signoffs_dir>/<kind>/<name>/<version>/<entry>.json
signoffs_dir = "signoffs"
# The base of the naming systems and code systems in FHIR output (`ledger provenance`,
# `ledger export`), an absolute URL ending in "/". The default,
# https://pypi.org/project/healthcare-ai-ledger/fhir/, lies under ledger's own name on the
# package index, which no one else can hold; set a base your organisation controls:
# fhir_base = "https://fhir.example-hospital.org/ledger/"

# Sign-offs verify requires of every current version of a kind, and `ledger promote` of a
# model version for a stage: meaning = [roles that must each give it]. For example:
# [signoffs.required.model]
# approved = ["clinical-lead", "quality"]
# [signoffs.required.production]
# approved = ["clinical-lead", "quality"]
"""


_KNOWN = ("records_dir", "signoffs_dir", "max_record_bytes", "max_depth", "fhir_base")


@dataclass(frozen=True)
class Config:
    records_dir: str = "records"
    limits: Limits = field(default_factory=Limits)
    signoffs_dir: str = "signoffs"
    signoffs: Policy = field(default_factory=Policy)
    fhir_base: str = DEFAULT_BASE


def load_config(root: Path) -> Config:
    """Settings of the repository at ``root``; defaults when it has no ledger.toml."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{CONFIG_FILE}: cannot be read ({exc}); correct the TOML syntax") from exc
    table = document.get("ledger", {})
    unknown = sorted(set(table) - set(_KNOWN))
    if unknown:
        raise UsageError(
            f"{CONFIG_FILE}: unknown setting(s) {', '.join(unknown)} in [ledger]; "
            f"known settings are {', '.join(_KNOWN)}"
        )
    records_dir = _folder(table, "records_dir", "records")
    signoffs_dir = _folder(table, "signoffs_dir", "signoffs")
    inside = {records_dir, signoffs_dir} & {"."}
    nested = f"{signoffs_dir}/".startswith(f"{records_dir}/") or f"{records_dir}/".startswith(
        f"{signoffs_dir}/"
    )
    if inside or nested:
        raise UsageError(
            f"{CONFIG_FILE}: records_dir and signoffs_dir must be two separate folders, "
            "neither inside the other"
        )
    limits = Limits()
    max_bytes = table.get("max_record_bytes", limits.max_bytes)
    max_depth = table.get("max_depth", limits.max_depth)
    for key, value in (("max_record_bytes", max_bytes), ("max_depth", max_depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"{CONFIG_FILE}: {key} must be a positive whole number")
    policy = parse_policy(document.get("signoffs", {}), CONFIG_FILE)
    fhir_base = fhir_base_of(table.get("fhir_base", DEFAULT_BASE), CONFIG_FILE)
    return Config(records_dir, Limits(max_bytes, max_depth), signoffs_dir, policy, fhir_base)


def fhir_base_of(value: object, where: str) -> str:
    """``value`` if it is a FHIR base: an absolute http(s) URL ending in ``/``, to which the
    naming systems' paths are appended (so no query, fragment, user or white space)."""
    if isinstance(value, str) and value.isascii() and value.isprintable() and " " not in value:
        parts = urlsplit(value)
        if (
            parts.scheme in ("https", "http")
            and parts.netloc
            and "@" not in parts.netloc
            and "?" not in value
            and "#" not in value
            and value.endswith("/")
        ):
            return value
    shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    raise UsageError(
        f"{where}: fhir_base must be an absolute https:// or http:// URL ending in '/', not "
        f'{shown}; set one your organisation controls, e.g. "https://fhir.example-hospital.org/ledger/"'
    )


def _folder(table: dict[str, object], key: str, default: str) -> str:
    value = table.get(key, default)
    posix = PurePosixPath(str(value))
    if not isinstance(value, str) or posix.is_absolute() or ".." in posix.parts or not value:
        raise UsageError(f"{CONFIG_FILE}: {key} must be a relative path inside the repository")
    return str(posix)
