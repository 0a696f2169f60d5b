"""One FHIR Provenance per record version, from the record and the commit that added it.

Where each element comes from (R5 / R4B differences marked):

- ``target``: a real reference (``urn:uuid``, with ``type`` and ``display``) to the record's
  resource — never display-only, the defect HealthChain's exporter shipped.
- ``recorded``: the committer time (an instant with its zone; 1..1 in R4B, 0..1 in R5 but
  always filled). ``occurred[x]``, when the activity took place: for a model or evaluation
  whose record states its run's period, ``occurredPeriod`` (``start`` from ``started``, ``end``
  from ``ended``; no ``end`` when the record states none, which FHIR reads as not ended when it
  was recorded); otherwise ``occurredDateTime``, the author time, when the change was made.
  Both versions have both forms.
- ``agent``: the git author (``author``, ``onBehalfOf`` the record's Organization, which both
  versions allow — R5 forbids a Device there, R4B allows one); the committer when their e-mail
  differs (``enterer``: they entered the record into the repository; ``custodian`` would claim
  long-term responsibility for it, which committing does not); each approval named in the
  record (meaning ``authorship`` -> author, ``review`` -> verifier, ``approval`` and
  ``responsibility`` -> attester, the record's role as ``role`` text). Every ``who`` references
  a Practitioner in the Bundle.
- ``entity``: upstream resources as ``source`` (a dataset's snapshot; a model's training data;
  an evaluation's model and test data) and the superseded version as ``revision``. Never
  ``derivation``: R5 removed it and the official ConceptMap maps it to nothing. A baseline
  (``compared-with``) is not an input to the record, so it is no entity.
- ``activity``: v3-DataOperation CREATE for a first version, UPDATE for a superseding one: in
  R4B's extensible value set, and valid under R5's example binding, so one meaning in both.
- Reasons: neither version has an element for why a record changed, and ``reason`` (R4B,
  extensible binding) and ``authorization`` (R5) hold a purpose of use (v3-PurposeOfUse), which
  no structured record field states: both are left out rather than filled with free text or a
  code guessed from words in regulatory tags. The change is described where both versions
  describe the activity: ``activity.text`` names the change type, the version superseded, the
  change reason (``supersedes.reason``), a PCCP modification and the commit's
  ``Ledger-Reason`` trailer when it says something else. The record's ``purpose`` describes
  its artifact and goes on that resource.
- ``policy``: the record's ``policies`` (URIs by schema). Regulatory tags are not URIs and
  stay ``meta.tag`` codings on the artifact resources.
- Sign-offs (``ledger sign``) that verify counts: each an agent (``reviewed`` and
  ``rejected`` -> verifier, ``approved`` and ``released`` -> attester, "ROLE (MEANING)" as
  ``role`` text, the signer's Practitioner as ``who``), and each but a rejection a
  ``Provenance.signature``: ASTM E1762 Verification Signature, ``when`` the signing time and
  ``who`` the signer. Its ``data`` stays empty: the cryptographic signature is git's, on the
  commit that added the sign-off, and ``data`` must sign the FHIR resources themselves.
- ``meta.source``, the origin of the resource, names the commit that recorded the version
  (``ids.commit_source``); git's verdict on its signature (``%G?`` letter, words and signer) is a
  ``meta.tag`` coding, so an auditor can re-check the commit with ``git verify-commit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.fhir.ids import Systems, commit_source, fhir_instant, resource_id
from ledger.fhir.resources import Json, approver_ref, narrative, organization_ref, person_ref
from ledger.fhir.versions import FhirVersion
from ledger.git.commits import Commit

if TYPE_CHECKING:
    from ledger.signoffs.entry import SignOff

PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"

_AGENT_TYPES = {
    "author": "Author",
    "enterer": "Enterer",
    "verifier": "Verifier",
    "attester": "Attester",
}
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
_SIGNOFF_TYPES = {
    "reviewed": "verifier",
    "rejected": "verifier",
    "approved": "attester",
    "released": "attester",
}


class SignOffFact(NamedTuple):
    """What FHIR states of one sign-off that counts (plain, to travel to worker processes)."""

    meaning: str
    role: str
    name: str
    email: str
    signed_at: str

    @classmethod
    def of(cls, entry: SignOff) -> SignOffFact:
        signer = entry.signer
        return cls(entry.meaning, entry.role, signer.name, signer.email, entry.signed_at)


_APPROVAL_TYPES = {
    "authorship": "author",
    "review": "verifier",
    "approval": "attester",
    "responsibility": "attester",
}


def _agent_type(code: str) -> Json:
    return {"coding": [{"system": PARTICIPANT, "code": code, "display": _AGENT_TYPES[code]}]}


def _agents(
    content: Mapping[str, Any], commit: Commit, signoffs: Sequence[SignOffFact]
) -> list[Json]:
    author, committer = commit.author, commit.committer
    agents: list[Json] = [
        {
            "type": _agent_type("author"),
            "who": person_ref(author.name, author.email),
            "onBehalfOf": organization_ref(content["organization"]),
        }
    ]
    if committer.email != author.email:
        agents.append(
            {
                "type": _agent_type("enterer"),
                "who": person_ref(committer.name, committer.email),
            }
        )
    for approval in content.get("approvals") or []:
        agents.append(
            {
                "type": _agent_type(_APPROVAL_TYPES[approval["meaning"]]),
                "role": [{"text": f"{approval['role']} ({approval['meaning']})"}],
                "who": approver_ref(approval["name"]),
            }
        )
    for one in signoffs:
        agents.append(
            {
                "type": _agent_type(_SIGNOFF_TYPES[one.meaning]),
                "role": [{"text": f"{one.role} ({one.meaning})"}],
                "who": person_ref(one.name, one.email),
            }
        )
    return agents


def _signatures(signoffs: Sequence[SignOffFact]) -> list[Json]:
    coding = {"system": SIGNATURE_TYPE, "code": "1.2.840.10065.1.12.1.5"}
    return [
        {
            "type": [{**coding, "display": "Verification Signature"}],
            "when": one.signed_at,
            "who": person_ref(one.name, one.email),
        }
        for one in signoffs
        if one.meaning != "rejected"
    ]


def _activity_text(content: Mapping[str, Any], commit: Commit) -> str:
    """What was done and why, in words: no element of either version holds a change reason."""
    supersedes = content.get("supersedes")
    parts: list[str] = []
    if supersedes is None:
        parts.append("first version")
    else:
        change = f"{supersedes['change_type']} of {supersedes['ref']}: {supersedes['reason']}"
        if supersedes.get("pccp_modification_id"):
            change += f" (PCCP modification {supersedes['pccp_modification_id']})"
        parts.append(change)
    reason = commit.reason
    if reason and (supersedes is None or reason != supersedes["reason"]):
        parts.append(f"commit reason: {reason}")
    return "; ".join(parts)


def _signature_tag(systems: Systems, commit: Commit) -> Json:
    words = commit.signature.description
    signer = commit.signer
    return {
        "system": systems.git_signature,
        "code": commit.signature.letter,
        "display": f"git commit signature: {words}" + (f"; signer {signer}" if signer else ""),
    }


def run_period(content: Mapping[str, Any]) -> Json | None:
    """The run's wall-clock period as a FHIR Period, when the record states one."""
    started, ended = content.get("started"), content.get("ended")
    # A period that ends before it starts breaks FHIR's per-1 and is L107: no period at all
    # then, rather than half of one that may be the wrong half.
    if not isinstance(started, str) or (
        isinstance(ended, str) and datetime.fromisoformat(ended) < datetime.fromisoformat(started)
    ):
        return None
    period = {"start": fhir_instant(started)}
    if isinstance(ended, str):
        period["end"] = fhir_instant(ended)
    return period


def _occurred(content: Mapping[str, Any], commit: Commit) -> Json:
    """When the activity took place: the run's wall-clock period when the record states it,
    else when the commit's author made the change."""
    period = run_period(content)
    if period is None:
        return {"occurredDateTime": fhir_instant(commit.author_date)}
    return {"occurredPeriod": period}


def record_provenance(
    v: FhirVersion,
    systems: Systems,
    *,
    target: Json,
    sha256: str,
    content: Mapping[str, Any],
    commit: Commit,
    sources: list[Json],
    previous: Json | None,
    signoffs: Sequence[SignOffFact] = (),
    also: Sequence[Json] = (),
) -> Json:
    """The Provenance of one record version: ``target`` is its resource, ``also`` the other
    resources made of it (an evaluation's Evidence, a model's card), ``sources`` its inputs
    and ``previous`` the version it supersedes (present in the Bundle)."""
    update = content.get("supersedes") is not None
    activity = {
        "coding": [
            {
                "system": DATA_OPERATION,
                "code": "UPDATE" if update else "CREATE",
                "display": "revise" if update else "create",
            }
        ],
        "text": _activity_text(content, commit),
    }
    entities = [{"role": "source", "what": ref} for ref in sources]
    if previous is not None:
        entities.append({"role": "revision", "what": previous})
    policies = list(dict.fromkeys(content.get("policies") or []))
    provenance: Json = {
        "resourceType": "Provenance",
        "id": resource_id("Provenance", commit.sha, sha256),
        "meta": {**commit_source(commit.sha), "tag": [_signature_tag(systems, commit)]},
        "text": narrative(
            f"{target.get('display', 'Record')}: {activity['text']}",
            f"Recorded {fhir_instant(commit.committer_date)} in commit {commit.sha}"
            f" by {commit.author.name}",
        ),
        "target": [target, *also],
        **_occurred(content, commit),
        "recorded": fhir_instant(commit.committer_date),
        **({"policy": policies} if policies else {}),
        "activity": activity,
        "agent": _agents(content, commit, signoffs),
    }
    if entities:
        provenance["entity"] = entities
    if signatures := _signatures(signoffs):
        provenance["signature"] = signatures
    return provenance
