"""Which sign-offs a team requires, from the ``[signoffs]`` table of ``ledger.toml``.

    [signoffs]
    roles = ["clinical-lead", "quality"]     # optional: the only roles a sign-off may name
    [signoffs.required.model]                # every current model version needs ...
    approved = ["clinical-lead", "quality"]  # ... `approved` from each of these roles
    [signoffs.required.production]           # a model promoted to production needs ...
    approved = ["clinical-lead", "quality"]

A key of ``required`` is a record kind or a stage. Roles are lower-case words joined by
hyphens, so that "clinical lead" and "Clinical-Lead" can never fail to meet a requirement
that says "clinical-lead".
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, get_args

from ledger.errors import UsageError
from ledger.records.identity import KINDS

Meaning = Literal["reviewed", "approved", "released", "rejected"]
MEANINGS: tuple[str, ...] = get_args(Meaning)
Stage = Literal["staging", "production", "retired"]
STAGES: tuple[str, ...] = get_args(Stage)
ROLE_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
_ROLE = re.compile(ROLE_PATTERN)
ROLE_HINT = "lower-case words joined by hyphens, e.g. clinical-lead"

#: What a kind or stage requires: meaning -> the roles that must each give it.
Requirement = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Policy:
    #: Requirements by record kind or stage.
    required: dict[str, Requirement] = field(default_factory=dict)
    #: The roles sign-offs may name; empty when any well-formed role will do.
    roles: tuple[str, ...] = ()

    def check_role(self, role: str) -> None:
        if not _ROLE.match(role):
            raise UsageError(f"role {role!r} is not {ROLE_HINT}")
        if self.roles and role not in self.roles:
            raise UsageError(
                f"role {role!r} is not one of the roles ledger.toml lists "
                f"([signoffs] roles: {', '.join(self.roles)})"
            )

    def missing(self, scope: str, given: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (meaning, role) pairs ``scope`` requires that ``given`` lacks."""
        wanted = self.required.get(scope, {})
        return [
            (meaning, role)
            for meaning, roles in sorted(wanted.items())
            for role in roles
            if (meaning, role) not in given
        ]


def parse_policy(table: object, source: str) -> Policy:
    """The policy of a ``[signoffs]`` table; a usage error naming the key for anything else."""
    if not isinstance(table, dict):
        raise UsageError(f"{source}: [signoffs] must be a table")
    unknown = sorted(set(table) - {"required", "roles"})
    if unknown:
        raise UsageError(
            f"{source}: unknown setting(s) {', '.join(unknown)} in [signoffs]; "
            "known settings are required, roles"
        )
    roles = _roles(table.get("roles", []), f"{source}: signoffs.roles")
    required = table.get("required", {})
    if not isinstance(required, dict):
        raise UsageError(f"{source}: signoffs.required must be a table of kinds and stages")
    parsed: dict[str, Requirement] = {}
    for scope, wanted in sorted(required.items()):
        where = f"{source}: signoffs.required.{scope}"
        if scope not in KINDS and scope not in STAGES:
            raise UsageError(
                f"{where}: {scope!r} is neither a record kind ({', '.join(KINDS)}) nor a "
                f"stage ({', '.join(STAGES)})"
            )
        if not isinstance(wanted, dict):
            raise UsageError(f"{where} must be a table of meaning = [roles]")
        requirement: Requirement = {}
        for meaning, named in sorted(wanted.items()):
            if meaning not in MEANINGS or meaning == "rejected":
                raise UsageError(
                    f"{where}.{meaning}: a requirement's meaning is one of reviewed, "
                    "approved, released"
                )
            requirement[meaning] = _roles(named, f"{where}.{meaning}")
            if roles and (stray := sorted(set(requirement[meaning]) - set(roles))):
                raise UsageError(
                    f"{where}.{meaning}: {', '.join(stray)} not among [signoffs] roles"
                )
        parsed[scope] = requirement
    return Policy(parsed, roles)


def _roles(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of roles ({ROLE_HINT})")
    for role in value:
        if not _ROLE.match(role):
            raise UsageError(f"{where}: role {role!r} is not {ROLE_HINT}")
    return tuple(dict.fromkeys(value))
