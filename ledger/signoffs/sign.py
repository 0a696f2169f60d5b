"""``ledger sign``: a sign-off written as its own file and committed alone, signed.

Everything that would make ``verify`` discount the sign-off is refused before anything is
written: a version that is not committed, or superseded; the signer authoring it; a role the
policy does not know; a comment that looks like PHI; signing that git is not set up for. After
the commit, git's own verdict on its signature is read back, and a commit that git cannot
verify as the signer's is taken back, so no sign-off is left that does not count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.checks.phi import scan_phi
from ledger.errors import InvalidRecordsError, UsageError
from ledger.git.keys import signing_setup, ssh_fingerprint
from ledger.git.repository import Repository
from ledger.records.identity import RecordId
from ledger.records.serialize import dumps_record, place_inside, write_atomic
from ledger.signoffs.entry import SignOff, entry_folder, entry_name
from ledger.signoffs.policy import MEANINGS
from ledger.signoffs.rules import signature_problems, version_authors

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class Signed:
    path: str
    commit: str
    entry: SignOff


def sign(
    root: Path,
    state: LedgerState,
    file: RecordFile,
    *,
    meaning: str,
    role: str,
    comment: str | None,
) -> Signed:
    """Sign the committed version ``file`` at ``state`` (HEAD) and commit the sign-off."""
    repo, config = state.repo, state.config
    if meaning not in MEANINGS:
        raise UsageError(f"meaning {meaning!r} is not one of {', '.join(MEANINGS)}")
    config.signoffs.check_role(role)
    record = file.record_id
    assert record is not None and file.facts.sha256 is not None  # resolve() gives valid ones
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
    if comment is not None:
        comment = comment.strip() or None
    if comment is not None and (phi := scan_phi(comment, "--comment")):
        raise InvalidRecordsError(phi)
    seconds = int(time.time())
    signed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    entry = SignOff.model_validate(
        {
            "signoff_version": 1,
            "signs": {"ref": str(record), "sha256": file.facts.sha256},
            "meaning": meaning,
            "role": role,
            "signer": {"name": signer.name, "email": signer.email, "key": key},
            "signed_at": signed_at,
            **({"comment": comment} if comment else {}),
        }
    )
    _refuse_repeat(state, entry)
    path = _free_path(root, state, record, signed_at, meaning, role)
    write_atomic(place_inside(root, path), dumps_record(entry.model_dump(exclude_none=True)))
    try:
        made = repo.commit_signed(path, _message(entry), seconds)
    except BaseException:
        (root / path).unlink(missing_ok=True)
        raise
    why = _not_counted(repo, made, entry)
    if why:
        repo.undo_commit(made, path)
        (root / path).unlink(missing_ok=True)
        raise UsageError(f"the sign-off was not kept: git {why}")
    return Signed(path, made, entry)


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
    for one in state.signoffs.of(entry.record_id):
        same = one.entry
        if (same.meaning, same.role, same.signer.email.casefold()) == (
            entry.meaning,
            entry.role,
            entry.signer.email.casefold(),
        ) and same.signs.sha256 == entry.signs.sha256:
            raise UsageError(
                f"{entry.signer.email} signed {entry.signs.ref} as {entry.meaning} "
                f"({entry.role}) already, at {same.signed_at} ({one.path})"
            )


def _free_path(
    root: Path, state: LedgerState, record: RecordId, signed_at: str, meaning: str, role: str
) -> str:
    folder = entry_folder(state.config.signoffs_dir, record)
    committed = {one.path for one in state.signoffs.read}
    for serial in range(1, 100):
        path = f"{folder}/{entry_name(signed_at, meaning, role, serial)}"
        if path not in committed and not (root / path).exists():
            return path
    raise UsageError(f"{folder} has 99 sign-offs of this second; try again")


def _message(entry: SignOff) -> str:
    lines = [f"Sign off {entry.signs.ref}: {entry.meaning} ({entry.role})", ""]
    if entry.comment:
        lines += [entry.comment, ""]
    lines += [
        f"Ledger-Signoff: {entry.meaning}",
        f"Ledger-Signs: {entry.signs.ref} sha256:{entry.signs.sha256}",
    ]
    return "\n".join(lines) + "\n"


def _not_counted(repo: Repository, made: str, entry: SignOff) -> str | None:
    """Why git's verdict on the new commit would not count for the signer (None: it does)."""
    verdict = repo.verdicts([made]).get(made)
    if verdict is None:
        return "gives no verdict on the new commit"
    why = signature_problems(verdict.signature, verdict.signer, verdict.key, entry.signer)
    return f"says the commit {why[0]}" if why else None
