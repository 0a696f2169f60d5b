"""Building blocks shared by the three record kinds.

Documentation fields are ``Text`` or ``TextList``: a real statement, or an explicit
``{"not_applicable": "<reason>"}``. Nothing passes silently empty: an auditor must be able to tell
"we did not check" from "it does not apply".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ledger.records.identity import (
    NAME_PATTERN,
    RESERVED_NAME_HINT,
    RESERVED_NAME_PATTERN,
    VERSION_PATTERN,
    is_reserved_name,
)

SHA256_PATTERN = r"^[0-9a-f]{64}$"
MD5_PATTERN = r"^[0-9a-f]{32}(\.dir)?$"
REF_PATTERN = (
    r"^(dataset|model|evaluation):"
    + NAME_PATTERN.strip("^$")
    + "@"
    + VERSION_PATTERN.strip("^$")
    + "$"
)
# Dates of collection periods and the like: a year, a month or a day, never a time of day.
DATE_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"
# A moment on the wall clock, to the second, with its offset from UTC (RFC 3339; "Z" for UTC):
# without the offset it names no moment, and runs on two continents could not be ordered.
DATETIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
# Extension keys are namespaced so two organisations' fields never collide.
EXTENSION_KEY_PATTERN = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]([/:][A-Za-z0-9_.-]+)*$"

NonEmptyStr = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


def _not_reserved(name: str) -> str:
    if is_reserved_name(name):
        raise ValueError(f"{name!r} {RESERVED_NAME_HINT}")
    return name


def _real_moment(text: str) -> str:
    # The pattern cannot know month lengths: 2026-02-30 matches it.
    datetime.fromisoformat(text)
    return text


RecordName = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN),
    AfterValidator(_not_reserved),
    Field(json_schema_extra={"not": {"pattern": RESERVED_NAME_PATTERN}}),
]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
RefStr = Annotated[str, StringConstraints(pattern=REF_PATTERN)]
DateStr = Annotated[str, StringConstraints(pattern=DATE_PATTERN)]
DateTimeStr = Annotated[
    str,
    StringConstraints(pattern=DATETIME_PATTERN),
    AfterValidator(_real_moment),
    Field(json_schema_extra={"format": "date-time"}),
]


def run_started(run: str) -> Any:
    """The field ``started`` of a record of a ``run`` (training, evaluation)."""
    return Field(
        default=None,
        description=f"When the {run} run started, by the wall clock (RFC 3339 with its offset, "
        "to the second); not when the record was committed, which git states.",
    )


def run_ended(run: str) -> Any:
    """The field ``ended`` of a record of a ``run``: only with ``started``, and not before."""
    return Field(
        default=None,
        description=f"When the {run} run ended, by the wall clock; only with started, and not "
        "before it. Absent with started: the run's end was not known when it was recorded.",
    )


Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must never become silently undocumented."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class NotApplicable(Strict):
    """An explicit statement that a documentation field does not apply, and why."""

    not_applicable: NonEmptyStr = Field(description="Why the field does not apply.")


Text = NonEmptyStr | NotApplicable
TextList = Annotated[list[NonEmptyStr], Field(min_length=1)] | NotApplicable


class Link(Strict):
    """A hash link: the target's identity and the SHA-256 of its RFC 8785 canonical JSON."""

    ref: RefStr = Field(description="Target identity, KIND:NAME@VERSION.")
    sha256: Sha256 = Field(description="SHA-256 (hex) of the target record's canonical JSON.")


ChangeType = Literal[
    "correction",
    "data-update",
    "criteria-change",
    "retrain",
    "recalibration",
    "threshold-change",
    "re-evaluation",
    "documentation",
]


class Supersedes(Link):
    """The earlier version this record replaces, and why (a reason is required for every change)."""

    reason: NonEmptyStr = Field(description="Why the new version was made.")
    change_type: ChangeType
    pccp_modification_id: NonEmptyStr | None = Field(
        default=None, description="The planned modification (PCCP) this change implements."
    )


class CodeRef(Strict):
    """Code that ran: a path in this repository (at the record's commit) or in another one."""

    path: NonEmptyStr = Field(description="Path of the script or module, relative to its repo.")
    entrypoint: NonEmptyStr | None = Field(default=None, description="Function or command run.")
    repository: NonEmptyStr | None = Field(
        default=None, description="Another repository's URL; absent means this repository."
    )
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")] | None = (
        Field(default=None, description="Commit of another repository; required with repository.")
    )


class Snapshot(Strict):
    """A DVC output entry as it stands in the same commit, plus ledger's SHA-256 of the content."""

    dvc_file: NonEmptyStr = Field(description="The .dvc file or dvc.lock, repository-relative.")
    stage: NonEmptyStr | None = Field(default=None, description="dvc.lock stage, if any.")
    path: NonEmptyStr = Field(description="The output path exactly as written in the DVC file.")
    md5: Annotated[str, StringConstraints(pattern=MD5_PATTERN)] = Field(
        description="DVC's md5; ends in .dir for a directory."
    )
    hash: Literal["md5"] | None = Field(
        default=None, description="DVC's hash name; absent for legacy DVC 2 (md5-dos2unix) hashes."
    )
    size: Count = Field(description="Bytes, as DVC recorded them.")
    nfiles: Count | None = Field(default=None, description="Files in a directory output.")
    sha256: Sha256 = Field(
        description="SHA-256 of the content computed by ledger (see docs/hashing.md)."
    )


class Approval(Strict):
    """A person's sign-off named in the record (the commit signature proves who committed it)."""

    name: NonEmptyStr
    role: NonEmptyStr = Field(description="Role, e.g. clinical lead, quality assurance.")
    meaning: Literal["authorship", "review", "approval", "responsibility"]


class ExternalRef(Strict):
    """An identifier in another system, e.g. an MLflow run or a registry entry."""

    system: NonEmptyStr = Field(description="e.g. mlflow, model-registry, trial-registry.")
    kind: NonEmptyStr = Field(description="e.g. run_id, experiment_id, logged_model_id.")
    id: NonEmptyStr


class Envelope(Strict):
    """Fields every record has. Who recorded it and when come from git, never from here."""

    schema_version: Literal[1] = Field(description="Version of the record format.")
    name: RecordName
    version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
    title: NonEmptyStr
    description: NonEmptyStr
    organization: NonEmptyStr = Field(description="The organisation responsible for the artifact.")
    purpose: Text = Field(description="Why the artifact exists.")
    regulatory_tags: TextList = Field(
        description="Regulatory context, e.g. HIPAA, IRB-approved, EU-AI-Act-high-risk."
    )
    policies: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9+.-]*:\S+$")]] = Field(
        default_factory=list, description="URIs of policies the artifact is governed by."
    )
    supersedes: Supersedes | None = None
    approvals: list[Approval] = Field(default_factory=list)
    external_refs: list[ExternalRef] = Field(default_factory=list)
    extensions: dict[Annotated[str, StringConstraints(pattern=EXTENSION_KEY_PATTERN)], Any] = Field(
        default_factory=dict,
        description="Organisation-specific fields, under namespaced keys (e.g. acme.org/site).",
        json_schema_extra={"additionalProperties": False},
    )


class SubgroupRef(Strict):
    attribute: NonEmptyStr = Field(description="As in subgroup_metrics, e.g. age band.")
    group: NonEmptyStr


Bound = Literal["estimate", "ci-lower", "ci-upper"]


class Criterion(Strict):
    """A bound on a metric: overall, or in one subgroup of subgroup_metrics."""

    metric: NonEmptyStr
    subgroup: SubgroupRef | None = None
    operator: Literal[">=", ">", "<=", "<"]
    threshold: float
    bound: Bound = "estimate"


class NonInferiority(Strict):
    """The metric may be worse than in the baseline evaluation by at most ``margin``: the
    named bound of this evaluation's value against the baseline's estimate."""

    metric: NonEmptyStr
    subgroup: SubgroupRef | None = None
    direction: Literal["higher-is-better", "lower-is-better"]
    margin: Annotated[float, Field(ge=0.0)]
    bound: Bound = "estimate"


AcceptanceCriterion = Criterion | NonInferiority
