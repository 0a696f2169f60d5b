"""People with SSH keys and git identities, for tests of sign-offs and promotions: a
builder, as DVC's test helpers build repositories, so that signer, author and key can be mixed
as an attacker would."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.conftest import LEDGER, Result, git


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    key: Path  # the public key; the private one is beside it

    @property
    def fingerprint(self) -> str:
        """The key's SHA256 fingerprint, as git reports an SSH signature's key (%GK)."""
        listed = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.key)],
            capture_output=True,
            text=True,
            check=True,
        )
        return listed.stdout.split()[1]

    @property
    def env(self) -> dict[str, str]:
        """This person at the keyboard: their git identity and signing key (git reads
        settings from GIT_CONFIG_* variables as from ``git -c``)."""
        return {
            **os.environ,
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "user.signingkey",
            "GIT_CONFIG_VALUE_0": str(self.key),
        }


@dataclass(frozen=True)
class Signing:
    repo: Path
    priya: Person  # clinical lead, in allowed signers
    quinn: Person  # quality, in allowed signers
    jonas: Person  # authored the models, in allowed signers
    eve: Person  # not in allowed signers

    def sign(self, who: Person, *args: str) -> Result:
        return run_as(who, self.repo, "sign", *args)


def run_as(who: Person, repo: Path, *args: str) -> Result:
    done = subprocess.run([LEDGER, *args], cwd=repo, capture_output=True, text=True, env=who.env)
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def git_as(who: Person, repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=who.env
    ).stdout


def _person(folder: Path, name: str, email: str) -> Person:
    key = folder / email.split("@")[0]
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(key)], check=True
    )
    return Person(name, email, key.parent / f"{key.name}.pub")


def make_signing(repo: Path, tmp_path: Path) -> Signing:
    keys = tmp_path / "keys"
    keys.mkdir()
    priya = _person(keys, "Priya Raman", "priya.raman@example.org")
    quinn = _person(keys, "Quinn Ode", "quinn.ode@example.org")
    jonas = _person(keys, "Jonas Lindqvist", "jonas.lindqvist@example.org")
    eve = _person(keys, "Eve Null", "eve@example.org")
    allowed = keys / "allowed_signers"
    allowed.write_text(
        "".join(f"{p.email} {p.key.read_text().strip()}\n" for p in (priya, quinn, jonas))
    )
    git("config", "gpg.format", "ssh", cwd=repo)
    git("config", "gpg.ssh.allowedSignersFile", str(allowed), cwd=repo)
    return Signing(repo, priya, quinn, jonas, eve)


def commit_by_hand(
    signing: Signing,
    who: Person,
    entry: dict[str, object],
    path: str,
    *,
    signed: bool = True,
) -> None:
    """A sign-off written and committed by hand, as an attacker (or a careless script) would."""
    repo = signing.repo
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(entry, indent=2) + "\n")
    git_as(who, repo, "add", path)
    stamp = f"@{epoch(str(entry.get('signed_at', '2026-01-01T00:00:00Z')))} +0000"
    env = {**who.env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(
        ["git", "commit", "-q", *(["-S"] if signed else []), "-m", "sign-off by hand"],
        cwd=repo,
        check=True,
        env=env,
    )


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
