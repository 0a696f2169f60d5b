"""What ``verify`` checks of sign-offs and promotions (L804-L811).

A sign-off counts only when all of these hold:

- the file is a sign-off, where its content says it belongs (L804);
- the commit that added it has a good signature (git's verdict: for SSH, a key listed for the
  signer in ``gpg.ssh.allowedSignersFile``), the key and the principal git names are the
  signer's, the commit is authored by the signer at the time the sign-off states, and it
  changes no record or DVC file (L805);
- the signer did not author the version (L806);
- the version is in the ledger with exactly the content signed (L807);
- the file was never changed or deleted once committed (L808).

On top of those, every current version needs the sign-offs ``ledger.toml`` requires of its
kind (L809), a rejection of a current version is reported (L810), and a promotion's evidence
must hold (L811, ``ledger.signoffs.stages``). Promotions are checked as sign-offs, except that
a version's author may promote it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.config import Config
from ledger.findings import Finding, Severity, finding
from ledger.git.commits import Commit, Signature
from ledger.git.history import is_dvc_path, is_record_path
from ledger.git.repository import Listing
from ledger.records.identity import RecordId
from ledger.signoffs.collected import SignedOff, SignOffs, is_signoff
from ledger.signoffs.stages import promotion_findings

if TYPE_CHECKING:
    from ledger.signoffs.entry import Signer
    from ledger.state.ledger_state import LedgerState


Checked = list[tuple[SignedOff, list[Finding]]]


def check_signoffs(state: LedgerState, signoffs: SignOffs) -> Checked:
    """Each readable sign-off with its problems (none: it counts)."""
    authors = version_authors(state, (one.entry.record_id for one in signoffs.signed))
    return [(one, _problems(state, one, authors)) for one in signoffs.signed]


def valid_signoffs(checked: Checked) -> dict[RecordId, list[SignedOff]]:
    """The sign-offs that count, by the version they sign, oldest first."""
    valid: dict[RecordId, list[SignedOff]] = defaultdict(list)
    for one, problems in checked:
        if not problems:
            valid[one.entry.record_id].append(one)
    return valid


def signoff_findings(
    root: Path, state: LedgerState, signoffs: SignOffs, checked: Checked
) -> list[Finding]:
    found = list(signoffs.problems)
    found += [_rewritten(path) for path in signoffs.rewritten]
    for path, commit in signoffs.deleted:
        found.append(
            finding(
                "L808",
                path,
                "",
                f"this sign-off was deleted by commit {commit.sha[:12]} ({commit.author})",
                commit=commit.sha,
            )
        )
    found += [f for _, problems in checked for f in problems]
    valid = valid_signoffs(checked)
    found += _required(state, valid)
    found += promotion_findings(root, state, checked, valid)
    return found


def version_authors(state: LedgerState, records: Iterable[RecordId]) -> dict[RecordId, set[str]]:
    """Who authored each version: the git author of the commit that recorded its content,
    and the names its own ``approvals`` give as authorship (compared case-blind)."""
    folder = state.config.records_dir
    files = {r: f for r in set(records) if (f := state.records.by_path.get(r.relpath(folder)))}
    contents = state.contents(files.values())
    authors: dict[RecordId, set[str]] = {}
    for record, file in files.items():
        names: set[str] = set()
        commit = state.introduced(file)
        if commit is not None:
            names |= {commit.author.email.casefold(), commit.author.name.casefold()}
        for approval in contents.get(file.relpath, {}).get("approvals") or []:
            if approval.get("meaning") == "authorship":
                names.add(str(approval.get("name", "")).casefold())
        authors[record] = names
    return authors


def _problems(
    state: LedgerState, one: SignedOff, authors: dict[RecordId, set[str]]
) -> list[Finding]:
    entry, path = one.entry, one.path
    ref = entry.signs.ref
    found: list[Finding] = []
    if one.rewritten:
        found.append(_rewritten(path))
    commit = one.commit
    if commit is None:
        found.append(finding("L805", path, "", "no commit in the history adds this sign-off"))
    else:
        found += [
            finding("L805", path, "", f"commit {commit.sha[:12]} {why}", commit=commit.sha)
            for why in commit_problems(commit, one, state.config)
        ]
    file = state.records.by_path.get(entry.record_id.relpath(state.config.records_dir))
    if file is None or file.facts.sha256 is None:
        found.append(
            finding("L807", path, "/signs/ref", f"signs {ref}, which is not in the ledger here")
        )
    elif file.facts.sha256 != entry.signs.sha256:
        found.append(
            finding(
                "L807",
                path,
                "/signs/sha256",
                f"{ref} now has SHA-256 {file.facts.sha256[:12]}…, not the "
                f"{entry.signs.sha256[:12]}… that was signed",
            )
        )
    signer = entry.signer
    # Who wrote a version may promote it; only sign-offs must come from someone else.
    own = {signer.email.casefold(), signer.name.casefold()} & authors.get(entry.record_id, set())
    if own and is_signoff(entry):
        found.append(
            finding("L806", path, "/signer", f"{signer.name} <{signer.email}> authored {ref}")
        )
    return found


def commit_problems(commit: Commit, one: SignedOff, config: Config) -> list[str]:
    """Why ``commit`` does not prove that the signer added ``one`` (none when it does)."""
    entry = one.entry
    signer = entry.signer
    why = signature_problems(commit.signature, commit.signer, commit.key, signer)
    if commit.author.email.casefold() != signer.email.casefold():
        why.append(f"is authored by {commit.author}, not by the signer {signer.email}")
    if _utc(commit.author_date) != entry.signed_at:
        why.append(f"was made at {commit.author_date}, not at the signed time {entry.signed_at}")
    others = [
        c.path
        for c in commit.changes
        if is_record_path(c.path, config.records_dir) or is_dvc_path(c.path)
    ]
    if others:
        why.append(f"also changes {others[0]}; a sign-off's commit holds sign-offs only")
    return why


def changed_signoffs(
    parents: Mapping[str, Listing], now: Mapping[str, str | None], where: str
) -> list[Finding]:
    """L808 before the commit: a sign-off file committed in a parent of the next commit
    (HEAD, and MERGE_HEAD during a merge) that ``where`` deleted or changed by a byte (``now``:
    each such path's blob id there, None when it is gone)."""
    held: dict[str, set[str]] = defaultdict(set)
    for listing in parents.values():
        for path, (_, blob) in listing.items():
            held[path].add(blob)
    named = " or ".join(parents)
    found = []
    for path, blobs in sorted(held.items()):
        there = now.get(path)
        if there in blobs:
            continue
        what = "deleted" if there is None else "changed"
        found.append(
            finding(
                "L808",
                path,
                "",
                f"this sign-off was committed at {named} and {what} in the {where}",
                f"restore it (git restore --staged --worktree -- {path}); to withdraw a "
                "sign-off, sign again with --meaning rejected",
            )
        )
    return found


def _rewritten(path: str) -> Finding:
    return finding("L808", path, "", "this sign-off was changed after it was committed")


def signature_problems(signature: Signature, principal: str, key: str, signer: Signer) -> list[str]:
    """Why git's verdict on a signature does not prove it is ``signer``'s (none: it does)."""
    if signature is not Signature.GOOD:
        hint = (
            "; list the signer's key in git's gpg.ssh.allowedSignersFile (SSH) or trust it "
            "in GnuPG (OpenPGP)"
            if signature in (Signature.UNTRUSTED, Signature.UNVERIFIABLE, Signature.UNSIGNED)
            else ""
        )
        return [f"has a signature that is {signature.description}{hint}"]
    why = []
    if _email(principal).casefold() != signer.email.casefold():
        why.append(
            f"is signed with a key git lists for {principal!r}, not for {signer.email}; the "
            "allowed-signers line of the key must name the signer's git e-mail"
        )
    if not _same_key(key, signer.key):
        why.append(f"is signed with key {key}, not the sign-off's {signer.key}")
    return why


def _required(state: LedgerState, valid: dict[RecordId, list[SignedOff]]) -> list[Finding]:
    policy = state.config.signoffs
    found: list[Finding] = []
    for file in state.records.current():
        record = file.record_id
        assert record is not None  # current() holds valid records
        given = [one.entry for one in valid.get(record, []) if is_signoff(one.entry)]
        for entry in given:
            if entry.meaning == "rejected":
                comment = f": {entry.comment}" if entry.comment else ""
                found.append(
                    finding(
                        "L810",
                        file.relpath,
                        "",
                        f"{record} was rejected by {entry.signer.name} ({entry.role}) at "
                        f"{entry.signed_at}{comment}",
                        severity=Severity.WARNING,
                    )
                )
        have = {(entry.meaning, entry.role) for entry in given}
        for meaning, role in policy.missing(record.kind, have):
            found.append(
                finding(
                    "L809",
                    file.relpath,
                    "",
                    f"{record} has no valid `{meaning}` sign-off by a {role}, which "
                    f"ledger.toml requires of every current {record.kind}",
                )
            )
    return found


def _email(principal: str) -> str:
    """The e-mail address in a signer git names: an SSH principal is one; an OpenPGP user id
    is ``Name <email>``."""
    if "<" in principal and principal.endswith(">"):
        return principal.rsplit("<", 1)[1][:-1]
    return principal


def _same_key(reported: str, recorded: str) -> bool:
    """An SSH fingerprint must match exactly; an OpenPGP key id git reports is the end of the
    fingerprint the signer's settings may name."""
    if reported.startswith("SHA256:") or recorded.startswith("SHA256:"):
        return reported == recorded
    a, b = reported.upper().removeprefix("0X"), recorded.upper().removeprefix("0X")
    return bool(a) and bool(b) and (a.endswith(b) or b.endswith(a))


def _utc(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
