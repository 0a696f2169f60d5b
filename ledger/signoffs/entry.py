"""One sign-off: what a file written by ``ledger sign`` says, and where it lives.

    signoffs/model/sepsis-risk/1.1/20261202T114000Z-approved-clinical-lead.json

    {"signoff_version": 1,
     "signs": {"ref": "model:sepsis-risk@1.1", "sha256": "<the version's canonical SHA-256>"},
     "meaning": "approved", "role": "clinical-lead",
     "signer": {"name": "Priya Raman", "email": "priya.raman@example.org",
                "key": "SHA256:<the signing key's fingerprint>"},
     "signed_at": "2026-12-02T11:40:00Z", "comment": "..."}

A sign-off is its own file, never an edit of the record it signs: the record stays immutable,
and the sign-off is added later by someone else, in a commit of its own signed with their key.
The file's place repeats what it signs, its time, meaning and role, so ``git log`` of a folder
shows a version's sign-offs, and a file moved elsewhere is found out (L804).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, ValidationError

from ledger.findings import Finding, finding, pointer_of
from ledger.records.common import Link, NonEmptyStr, Strict
from ledger.records.identity import RecordId
from ledger.records.jsonload import Limits, load_json_bytes
from ledger.signoffs.collected import ReadSignOff
from ledger.signoffs.policy import ROLE_PATTERN, Meaning, Stage

TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_STAMP = "%Y%m%dT%H%M%SZ"
_SERIAL = re.compile(r"-[1-9][0-9]*\.json")


class Signer(Strict):
    name: NonEmptyStr
    email: Annotated[str, StringConstraints(pattern=r"^[^\s<>@]+@[^\s<>@]+$")]
    key: NonEmptyStr = Field(
        description="The signing key: an SSH key's SHA256 fingerprint or an OpenPGP key id."
    )


Time = Annotated[str, StringConstraints(pattern=TIME_PATTERN)]


class Signed(Strict):
    """What every signed entry states: which version, by whom, when."""

    #: Whether the entry is a promotion (``is_promotion`` narrows on it without importing
    #: this module, and with it pydantic, where no entry exists).
    promotes: ClassVar[bool] = False

    signs: Link = Field(description="The version signed and its canonical SHA-256.")
    signer: Signer
    signed_at: Time = Field(
        description="UTC time of signing; the signed commit carries the same time."
    )

    @property
    def record_id(self) -> RecordId:
        return RecordId.parse(self.signs.ref)

    @property
    def words(self) -> tuple[str, str]:
        """The two words of the file name after the time."""
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError


class SignOff(Signed):
    """A person's signed statement about one record version."""

    signoff_version: Literal[1]
    meaning: Meaning
    role: Annotated[str, StringConstraints(pattern=ROLE_PATTERN)]
    comment: NonEmptyStr | None = None

    @property
    def words(self) -> tuple[str, str]:
        return self.meaning, self.role

    def summary(self) -> str:
        who = f"{self.signer.name} <{self.signer.email}>"
        comment = f' "{self.comment}"' if self.comment else ""
        return f"{self.meaning} by {who} as {self.role} at {self.signed_at}{comment}"


class Promotion(Signed):
    """A model version moved to a stage (``ledger promote``), with the evaluation that
    justified it; ``signs`` is the model version and ``signer`` who promoted it."""

    promotes: ClassVar[bool] = True
    promotion_version: Literal[1]
    stage: Stage
    reason: NonEmptyStr = Field(description="Why the version moves to this stage.")
    evaluation: Link | None = Field(
        default=None,
        description="The evaluation on sequestered test data whose criteria the version met.",
    )

    @property
    def words(self) -> tuple[str, str]:
        return "promoted", self.stage

    def summary(self) -> str:
        who = f"{self.signer.name} <{self.signer.email}>"
        evidence = f", on {self.evaluation.ref}" if self.evaluation else ""
        return f"promoted to {self.stage} by {who} at {self.signed_at}: {self.reason}{evidence}"


Entry = SignOff | Promotion


def entry_folder(signoffs_dir: str, record: RecordId) -> str:
    return f"{signoffs_dir}/{record.kind}/{record.name}/{record.version}"


def entry_name(signed_at: str, meaning: str, role: str, serial: int = 1) -> str:
    stamp = datetime.strptime(signed_at, "%Y-%m-%dT%H:%M:%SZ").strftime(_STAMP)
    return f"{stamp}-{meaning}-{role}{f'-{serial}' if serial > 1 else ''}.json"


def read_signoff(data: bytes, path: str, signoffs_dir: str, limits: Limits) -> ReadSignOff:
    """The sign-off in a file's bytes, checked against its place (L804 for each problem)."""
    value, problems = load_json_bytes(data, path, limits)
    if value is None or problems:
        return ReadSignOff(path, None, tuple(_as_l804(f) for f in problems))
    model: type[Entry] = (
        Promotion if isinstance(value, dict) and "promotion_version" in value else SignOff
    )
    try:
        entry: Entry = model.model_validate(value)
    except ValidationError as exc:
        found = [
            finding("L804", path, pointer_of(list(error["loc"])), error["msg"])
            for error in exc.errors()
        ]
        return ReadSignOff(path, None, tuple(found))
    expected = entry_folder(signoffs_dir, entry.record_id)
    folder, _, name = path.rpartition("/")
    first = entry_name(entry.signed_at, *entry.words)
    stem = first.removesuffix(".json")
    placed = name == first or (name.startswith(stem) and _SERIAL.fullmatch(name[len(stem) :]))
    if folder != expected or not placed:
        where = f"{expected}/{first}"
        message = f"a sign-off of {entry.signs.ref} ({entry.words[0]}) belongs at {where}"
        return ReadSignOff(path, None, (finding("L804", path, "", message),))
    return ReadSignOff(path, entry, ())


def _as_l804(problem: Finding) -> Finding:
    return finding("L804", problem.path, problem.pointer, f"{problem.code}: {problem.message}")
