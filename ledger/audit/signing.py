"""Signed exports: the manifest signed with an SSH key (``ssh-keygen -Y sign``), the trust
model of git's SSH commit signing, checked against an allowed-signers file.

The manifest lists the SHA-256 of every other file, so its signature covers the whole bundle.
It travels in the zip as ``manifest.json.sig`` (the one entry the manifest cannot list). The
namespace ``ledger-export`` keeps the signature from being replayed as a git commit or any
other SSH signature of the same key. Ed25519 signatures are deterministic, so a signed export
of the same commit with the same key is still the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ledger.errors import ToolMissingError, UsageError
from ledger.git.repository import Repository

NAMESPACE = "ledger-export"
SIGNATURE = "manifest.json.sig"
_KEY_LITERAL = "key::"


def signing_key(repo: Repository) -> str:
    """The key git signs commits with when it signs them with SSH (``user.signingkey``)."""
    settings = dict(
        line.partition(" ")[::2] for line in repo.config_lines(r"^(gpg\.format|user\.signingkey)$")
    )
    if settings.get("gpg.format") != "ssh" or not settings.get("user.signingkey"):
        raise UsageError(
            "export --sign signs with git's SSH signing key, and none is set; set one with "
            "`git config gpg.format ssh` and `git config user.signingkey ~/.ssh/id_ed25519.pub`"
        )
    return settings["user.signingkey"]


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ToolMissingError(
            "ssh-keygen", "install OpenSSH (8.2 or later) to sign or check exports"
        )
    return found


def sign_manifest(manifest: bytes, key: str) -> bytes:
    """The SSH signature of ``manifest`` by ``key`` (a key file, or git's ``key::`` literal of
    a public key whose private half an ssh-agent holds)."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if key.startswith(_KEY_LITERAL):
            keyfile = work / "key.pub"
            keyfile.write_text(key.removeprefix(_KEY_LITERAL) + "\n")
        else:
            keyfile = Path(key).expanduser()
        message = work / "manifest.json"
        message.write_bytes(manifest)
        done = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(keyfile), "-n", NAMESPACE, str(message)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(
                f"ssh-keygen could not sign with {key}: {why[-1] if why else 'no output'}"
            )
        return (work / "manifest.json.sig").read_bytes()


def check_signature(manifest: bytes, signature: bytes, allowed_signers: Path) -> str | None:
    """Who of ``allowed_signers`` signed ``manifest`` for an export; None when nobody there
    made this signature of these bytes."""
    keygen = _ssh_keygen()
    with tempfile.TemporaryDirectory() as folder:
        sig = Path(folder) / "manifest.json.sig"
        sig.write_bytes(signature)
        found = subprocess.run(
            [keygen, "-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        listed = found.stdout.decode(errors="replace").splitlines() if found.returncode == 0 else []
        # A line may be a pattern list ("a@x,b@y"); -I takes one name it matches.
        principals = [name for line in listed for name in line.split(",") if name]
        for principal in principals:
            checked = subprocess.run(
                [
                    keygen,
                    "-Y",
                    "verify",
                    "-f",
                    str(allowed_signers),
                    "-I",
                    principal,
                    "-n",
                    NAMESPACE,
                    "-s",
                    str(sig),
                ],
                input=manifest,
                capture_output=True,
            )
            if checked.returncode == 0:
                return principal
    return None
