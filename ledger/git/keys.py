"""The key git signs commits with, as its settings name it (``gpg.format``,
``user.signingkey``, ``gpg.ssh.allowedSignersFile``), and SSH key fingerprints."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import ToolMissingError, UsageError
from ledger.git.repository import Repository

KEY_LITERAL = "key::"


@dataclass(frozen=True)
class SigningSetup:
    #: ``openpgp`` (git's default), ``ssh`` or ``x509``.
    format: str
    #: ``user.signingkey``: a key file, a ``key::`` literal, or an OpenPGP key id ("" if unset).
    key: str
    #: ``gpg.ssh.allowedSignersFile`` ("" if unset).
    allowed_signers: str


def signing_setup(repo: Repository) -> SigningSetup:
    settings = dict(
        line.partition(" ")[::2]
        for line in repo.config_lines(
            r"^(gpg\.format|user\.signingkey|gpg\.ssh\.allowedsignersfile)$"
        )
    )
    return SigningSetup(
        settings.get("gpg.format", "openpgp") or "openpgp",
        settings.get("user.signingkey", ""),
        settings.get("gpg.ssh.allowedsignersfile", ""),
    )


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ToolMissingError("ssh-keygen", "install OpenSSH (8.2 or later) to sign with SSH keys")
    return found


def key_file(key: str, folder: Path) -> Path:
    """A file holding ``key``: the key file itself, or git's ``key::`` literal written out."""
    if key.startswith(KEY_LITERAL):
        written = folder / "key.pub"
        written.write_text(key.removeprefix(KEY_LITERAL) + "\n")
        return written
    return Path(key).expanduser()


def ssh_fingerprint(key: str) -> str:
    """The SHA256 fingerprint of an SSH key (file or ``key::`` literal), as git reports
    the key of an SSH signature (``%GK``)."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [ssh_keygen(), "-l", "-E", "sha256", "-f", str(key_file(key, Path(folder)))],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    words = done.stdout.decode(errors="replace").split()
    if done.returncode != 0 or len(words) < 2 or not words[1].startswith("SHA256:"):
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(
            f"user.signingkey {key} is not an SSH key ssh-keygen can read"
            f"{f' ({why[-1]})' if why else ''}; set it to your public key file"
        )
    return words[1]
