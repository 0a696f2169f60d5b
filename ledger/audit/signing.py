"""Signed exports: the manifest signed with an SSH key (``ssh-keygen -Y sign``), the trust
model of git's SSH commit signing, checked against an allowed-signers file.

The manifest lists the SHA-256 of every other file, so its signature covers the whole bundle.
It travels in the zip as ``manifest.json.sig`` (the one entry the manifest cannot list). The
namespace ``ledger-export`` keeps the signature from being replayed as a git commit or any
other SSH signature of the same key. Ed25519 signatures are deterministic, so a signed export
of the same commit with the same key is still the same bytes.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ledger.errors import UsageError
from ledger.git.keys import key_file, signing_setup, ssh_keygen
from ledger.git.repository import Repository

NAMESPACE = "ledger-export"
SIGNATURE = "manifest.json.sig"


def signing_key(repo: Repository) -> str:
    """The key git signs commits with when it signs them with SSH (``user.signingkey``)."""
    setup = signing_setup(repo)
    if setup.format != "ssh" or not setup.key:
        raise UsageError(
            "export --sign signs with git's SSH signing key, and none is set; set one with "
            "`git config gpg.format ssh` and `git config user.signingkey ~/.ssh/id_ed25519.pub`"
        )
    return setup.key


def sign_manifest(manifest: bytes, key: str) -> bytes:
    """The SSH signature of ``manifest`` by ``key`` (a key file, or git's ``key::`` literal of
    a public key whose private half an ssh-agent holds)."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        keyfile = key_file(key, work)
        message = work / "manifest.json"
        message.write_bytes(manifest)
        done = subprocess.run(
            [ssh_keygen(), "-Y", "sign", "-q", "-f", str(keyfile), "-n", NAMESPACE, str(message)],
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
    keygen = ssh_keygen()
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
