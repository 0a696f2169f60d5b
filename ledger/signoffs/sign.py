"""``ledger sign`` and ``ledger promote``: an entry written as its own file and committed
alone, signed.

Everything that would make ``verify`` discount the entry is refused before anything is
written: a version that is not committed, or superseded; a signer authoring what they sign; a
role the policy does not know; a stage the version does not qualify for; text that looks like
PHI; signing that git is not set up for. After the commit, git's own verdict on its signature
is read back, and a commit that git cannot verify as the signer's is taken back, so no entry is
left that does not count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ledger.checks.phi import scan_phi
from ledger.errors import InvalidRecordsError, PromotionRefusedError, UsageError
from ledger.git.commits import Person
from ledger.git.keys import signing_setup, ssh_fingerprint
from ledger.git.repository import Repository
from ledger.records.identity import RecordId
from ledger.records.serialize import dumps_record, place_inside, write_atomic
from ledger.signoffs.collected import is_signoff
from ledger.signoffs.entry import Entry, Promotion, SignOff, entry_folder, entry_name
from ledger.signoffs.policy import MEANINGS, STAGES
from ledger.signoffs.rules import signature_problems, valid_signoffs, version_authors
from ledger.signoffs.stages import readiness

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class Committed:
    """An entry ``ledger sign`` or ``ledger promote`` committed: its file and commit."""

    path: str
    commit: str
    entry: Entry


def sign(
    root: Path,
    state: LedgerState,
    file: RecordFile,
    *,
    meaning: str,
    role: str,
    comment: str | None,
) -> Committed:
    """Sign the committed version ``file`` at ``state`` (HEAD) and commit the sign-off."""
    repo, config = state.repo, state.config
    if meaning not in MEANINGS:
        raise UsageError(f"meaning {meaning!r} is not one of {', '.join(MEANINGS)}")
    config.signoffs.check_role(role)
    record, sha256 = _committed_version(file)
    if record in state.records.superseded:
        raise UsageError(
            f"{record} is superseded by {_current(state, record)}; sign the current version"
        )
    signer = repo.identity()
    if {signer.email.casefold(), signer.name.casefold()} & version_authors(state, [record])[record]:
        raise UsageError(
            f"{signer} authored {record}; a sign-off must come from someone who did not"
        )
    key = _signing_key(repo)
    comment = _text(comment, "--comment")
    seconds = int(time.time())
    fields: dict[str, Any] = {
        "signoff_version": 1,
        **_signed(record, sha256, signer, key, seconds),
        "meaning": meaning,
        "role": role,
        **({"comment": comment} if comment else {}),
    }
    entry = _validated(SignOff, fields)
    assert isinstance(entry, SignOff)
    _refuse_repeat(state, entry)
    return _commit(root, state, fields, entry, seconds)


def promote(
    root: Path, state: LedgerState, file: RecordFile, *, stage: str, reason: str
) -> Committed:
    """Promote model version ``file`` at ``state`` (HEAD) to ``stage``, if it qualifies
    (``ledger.signoffs.stages``), and commit the promotion."""
    repo = state.repo
    if stage not in STAGES:
        raise UsageError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    record, sha256 = _committed_version(file)
    if record.kind != "model":
        raise UsageError(f"{record} is a {record.kind}; only model versions are promoted")
    if stage != "retired" and record in state.records.superseded:
        raise UsageError(
            f"{record} is superseded by {_current(state, record)}; promote the current version"
        )
    valid = valid_signoffs(state.checked_signoffs)
    evidence = readiness(root, state, record, stage, valid)
    if evidence.problems:
        raise PromotionRefusedError(str(record), stage, evidence.problems)
    signer = repo.identity()
    key = _signing_key(repo)
    why = _text(reason, "--reason")
    if why is None:
        raise UsageError("--reason must say why the version moves to this stage")
    seconds = int(time.time())
    fields: dict[str, Any] = {
        "promotion_version": 1,
        **_signed(record, sha256, signer, key, seconds),
        "stage": stage,
        "reason": why,
    }
    if evidence.evaluation is not None:
        evaluation = evidence.evaluation
        fields["evaluation"] = {
            "ref": str(evaluation.record_id),
            "sha256": evaluation.facts.sha256,
        }
    return _commit(root, state, fields, _validated(Promotion, fields), seconds)


def _validated(model: type[Entry], fields: dict[str, Any]) -> Entry:
    """The entry, or a usage error naming what of the signer's settings does not fit it (a
    git e-mail that is not an address, say)."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "/".join(str(part) for part in error["loc"])
        value = fields.get(str(error["loc"][0])) if error["loc"] else None
        if error["loc"][:1] == ("signer",):
            raise UsageError(
                f"your git identity cannot sign: {where} {error['msg']}; set user.name and "
                "user.email (git config) to your name and e-mail address"
            ) from None
        raise UsageError(f"{where}: {error['msg']} ({value!r})") from None


def _committed_version(file: RecordFile) -> tuple[RecordId, str]:
    record, sha256 = file.record_id, file.facts.sha256
    assert record is not None and sha256 is not None  # resolve() gives valid records
    return record, sha256


def _text(value: str | None, option: str) -> str | None:
    """Free text for an entry: stripped, None when empty, refused when it looks like PHI."""
    text = value.strip() if value is not None else ""
    if text and (phi := scan_phi(text, option)):
        raise InvalidRecordsError(phi)
    return text or None


def _signed(
    record: RecordId, sha256: str, signer: Person, key: str, seconds: int
) -> dict[str, Any]:
    """What every signed entry states: the version and its hash, who signs, when (UTC)."""
    return {
        "signs": {"ref": str(record), "sha256": sha256},
        "signer": {"name": signer.name, "email": signer.email, "key": key},
        "signed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)),
    }


def _commit(
    root: Path, state: LedgerState, fields: dict[str, Any], entry: Entry, seconds: int
) -> Committed:
    """Write the entry's file, commit it alone and signed, and keep it only if git
    attributes the signature to the signer."""
    repo = state.repo
    path = _free_path(root, state, entry)
    write_atomic(place_inside(root, path), dumps_record(fields))
    try:
        made = repo.commit_signed(path, _message(entry), seconds)
    except BaseException:
        (root / path).unlink(missing_ok=True)
        raise
    why = _not_counted(repo, made, entry)
    if why:
        repo.undo_commit(made, path)
        (root / path).unlink(missing_ok=True)
        raise UsageError(f"the {entry.words[0]} entry was not kept: git {why}")
    return Committed(path, made, entry)


def _current(state: LedgerState, record: RecordId) -> RecordId:
    """The version at the end of the chain of versions superseding ``record``."""
    seen = {record}
    while later := [f.record_id for f in state.records.successors.get(record, []) if f.record_id]:
        record = max(later, key=lambda r: r.version_key)
        if record in seen:
            break
        seen.add(record)
    return record


def _signing_key(repo: Repository) -> str:
    """The signing key as verify will see it, after checking git can sign and check."""
    setup = signing_setup(repo)
    if setup.format == "ssh":
        if not setup.key:
            raise UsageError(
                "signing is not set up: git signs with SSH (gpg.format ssh) but has no key; "
                "run `git config user.signingkey ~/.ssh/id_ed25519.pub`"
            )
        if not setup.allowed_signers:
            raise UsageError(
                "git cannot check SSH signatures without an allowed-signers file, so verify "
                "could not count this sign-off; run `git config gpg.ssh.allowedSignersFile "
                "PATH` with a line `EMAIL KEY` per signer"
            )
        return ssh_fingerprint(setup.key)
    if setup.format == "openpgp":
        if not setup.key:
            raise UsageError(
                "signing is not set up: set your signing key with `git config gpg.format ssh` "
                "and `git config user.signingkey ~/.ssh/id_ed25519.pub`, or for OpenPGP "
                "`git config user.signingkey FINGERPRINT`"
            )
        return setup.key.upper().removeprefix("0X")
    raise UsageError(f"gpg.format {setup.format} is not supported; sign with ssh or openpgp")


def _refuse_repeat(state: LedgerState, entry: SignOff) -> None:
    for one, _ in state.checked_by_record.get(entry.record_id, []):
        same = one.entry
        if (
            is_signoff(same)
            and (same.meaning, same.role, same.signer.email.casefold())
            == (
                entry.meaning,
                entry.role,
                entry.signer.email.casefold(),
            )
            and same.signs.sha256 == entry.signs.sha256
        ):
            raise UsageError(
                f"{entry.signer.email} signed {entry.signs.ref} as {entry.meaning} "
                f"({entry.role}) already, at {same.signed_at} ({one.path})"
            )


def _free_path(root: Path, state: LedgerState, entry: Entry) -> str:
    folder = entry_folder(state.config.signoffs_dir, entry.record_id)
    committed = {one.path for one in state.signoffs.read}
    for serial in range(1, 100):
        path = f"{folder}/{entry_name(entry.signed_at, *entry.words, serial)}"
        if path not in committed and not (root / path).exists():
            return path
    raise UsageError(f"{folder} has 99 entries of this second; try again")


def _message(entry: Entry) -> str:
    if is_signoff(entry):
        lines = [f"Sign off {entry.signs.ref}: {entry.meaning} ({entry.role})", ""]
        if entry.comment:
            lines += [entry.comment, ""]
        lines.append(f"Ledger-Signoff: {entry.meaning}")
    else:
        assert isinstance(entry, Promotion)
        lines = [f"Promote {entry.signs.ref} to {entry.stage}", "", entry.reason, ""]
        lines.append(f"Ledger-Stage: {entry.stage}")
    lines.append(f"Ledger-Signs: {entry.signs.ref} sha256:{entry.signs.sha256}")
    return "\n".join(lines) + "\n"


def _not_counted(repo: Repository, made: str, entry: Entry) -> str | None:
    """Why git's verdict on the new commit would not count for the signer (None: it does)."""
    verdict = repo.verdicts([made]).get(made)
    if verdict is None:
        return "gives no verdict on the new commit"
    why = signature_problems(verdict.signature, verdict.signer, verdict.key, entry.signer)
    return f"says the commit {why[0]}" if why else None
