"""No command needs the network: each runs in a network namespace with no interface up, and an
audit hook in every Python process it starts (ledger, DVC) records any Internet socket use.

A namespace alone would let a command that tried the network and failed quietly pass; the hook
alone would miss git and other programs. Together they show that nothing was tried.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.cli import cli
from tests.conftest import LEDGER, SUPERSEDE_COHORT_11, cohort_draft, git, log_runs

_SITECUSTOMIZE = """
import os, socket, sys

def _record(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        if getattr(args[0], "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return  # a local (AF_UNIX) socket: a pipe between processes, not the network
        if event == "socket.bind" and args[1][0] in ("127.0.0.1", "::1"):
            return  # a loopback bind reaches no other machine (urllib3 probes IPv6 so on import)
    elif event not in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        return
    with open(os.environ["LEDGER_NETWORK_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {args[1:]!r} by {' '.join(sys.argv)}\\n")

sys.addaudithook(_record)
"""

EVAL_10 = "evaluation:sepsis-risk-heldout@1.0"
EVAL_11 = "evaluation:sepsis-risk-heldout@1.1"
MODEL_11 = "model:sepsis-risk@1.1"


def _namespace() -> list[str]:
    """``unshare -n``: a network namespace with only a loopback interface, and that one down."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
    return [unshare, "-n"] if probe.returncode == 0 else []


def mlflow_store(repo: Path, work: Path) -> str:
    """An SQLite MLflow store with one training run, logged before the network is watched."""
    uri = f"sqlite:///{work / 'mlflow.db'}"
    log_runs(uri, git("rev-parse", "HEAD", cwd=repo).strip(), "small")
    return uri


def _signing_key(repo: Path, work: Path) -> None:
    """An SSH signing key for the tests' git identity, made and trusted before the network is
    watched (ssh-keygen makes it offline anyway)."""
    key = work / "signer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = Path(f"{key}.pub")
    allowed = work / "allowed_signers"
    allowed.write_text(f"{os.environ['GIT_AUTHOR_EMAIL']} {public.read_text().strip()}\n")
    git("config", "gpg.format", "ssh", cwd=repo)
    git("config", "user.signingkey", str(public), cwd=repo)
    git("config", "gpg.ssh.allowedSignersFile", str(allowed), cwd=repo)


def _commands(repo: Path, work: Path) -> dict[str, list[list[str]]]:
    """Every command, with the arguments that make it do its work (all formats that read
    or write something different)."""
    (base,) = git("rev-list", "--max-parents=0", "HEAD", cwd=repo).split()
    export = str(work / "audit.zip")
    _signing_key(repo, work)
    return {
        "init": [["init", str(work / "fresh")]],
        "new": [
            [
                "new",
                "dataset",
                "sepsis-cohort",
                "--version",
                "1.2",
                "--from",
                str(cohort_draft(repo, work)),
                "--snapshot",
                "data/cohort.csv.dvc",
                *SUPERSEDE_COHORT_11,
            ]
        ],
        "draft": [["draft", "dataset", "--like", "sepsis-cohort@1.1", "-o", str(work / "d.yaml")]],
        "complete": [["complete"]],
        "validate": [["validate"], ["validate", "--staged"]],
        "show": [["show", EVAL_11], ["show", EVAL_11, "--rev", "HEAD"]],
        "list": [["list", "--format", f] for f in ("table", "json", "csv")],
        "query": [
            ["query", "outcome = 'pass' and params.epochs > 0", "--format", f]
            for f in ("table", "json", "csv")
        ],
        "log": [["log", EVAL_11]],
        "verify": [["verify", "--data"], ["verify", "--require-signed", "--no-cache"]],
        "lineage": [["lineage", "--format", f] for f in ("text", "mermaid", "dot", "json", "html")],
        "provenance": [
            ["provenance", "--fhir-version", v, "--format", f]
            for v in ("R5", "R4B")
            for f in ("json", "ndjson")
        ],
        "diff": [["diff", base, "HEAD", "--format", "markdown"]],
        "compare": [["compare", EVAL_10, EVAL_11]],
        "sign": [["sign", MODEL_11, "--meaning", "approved", "--role", "clinical-lead"]],
        "promote": [["promote", MODEL_11, "--stage", "staging", "--reason", "Shadow mode"]],
        "status": [["status"], ["status", "--format", "json"]],
        "coverage": [["coverage", "--format", f] for f in ("table", "json", "markdown")],
        "technical-file": [
            ["technical-file", MODEL_11, "--format", f] for f in ("markdown", "html")
        ],
        "report": [["report", "-o", str(work / "report")]],
        "export": [["export", "-o", export]],
        "verify-export": [["verify-export", export]],
        "demo": [["demo", str(work / "demo")]],
        "import": [["import", "mlflow", "--tracking-uri", mlflow_store(repo, work)]],
    }


def test_every_command_runs_without_the_network(repo: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    log = tmp_path / "network.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])),
        "LEDGER_NETWORK_LOG": str(log),
    }
    commands = _commands(repo, work)
    assert sorted(commands) == sorted(cli.commands), "a command without an offline case"
    isolate = _namespace()
    ran = []
    for name, runs in commands.items():
        for args in runs:
            done = subprocess.run(
                [*isolate, LEDGER, *args], cwd=repo, env=env, capture_output=True, text=True
            )
            assert "Traceback" not in done.stderr, done.stderr
            # verify --require-signed reports the demo's unsigned commits (exit 1).
            expected = 1 if "--require-signed" in args else 0
            assert done.returncode == expected, (args, done.stdout[-1500:], done.stderr)
            ran.append(name)
    assert not log.exists(), log.read_text()
    assert set(ran) == set(cli.commands)
    if not isolate:
        pytest.skip("no network namespace here (unshare -n); the audit hook alone ran")


def test_the_audit_hook_sees_an_internet_socket(tmp_path: Path) -> None:
    """The hook the test above relies on records a connection attempt (to a closed port on a
    documentation address, refused or unreachable at once inside the namespace)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    log = tmp_path / "network.log"
    env = {**os.environ, "PYTHONPATH": str(hooks), "LEDGER_NETWORK_LOG": str(log)}
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "s.settimeout(0.2)\n"
        "try:\n"
        "    s.connect(('192.0.2.1', 9))\n"
        "except OSError:\n"
        "    pass\n"
    )
    subprocess.run([*_namespace(), sys.executable, "-c", code], env=env, check=True)
    assert "socket.connect" in log.read_text()
