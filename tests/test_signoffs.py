"""ledger sign and what verify checks of sign-offs (L804-L810), with real SSH keys, real
signed commits and git's own allowed-signers checks.

In the demo, Jonas authored the models, Priya the evaluations and Amara the datasets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import best_match

from ledger.fhir.versions import fhir_version
from tests.conftest import LEDGER, Result, git
from tests.signers import Person, Signing, commit_by_hand, git_as, make_signing, run_as
from tests.test_hostile_export import _content, _entries, _replaced, _write

MODEL_11 = "model:sepsis-risk@1.1"
MODEL_PATH = "records/model/sepsis-risk/1.1.json"
APPROVED = ("--meaning", "approved", "--role", "clinical-lead")


@pytest.fixture
def signing(repo: Path, tmp_path: Path) -> Signing:
    return make_signing(repo, tmp_path)


def _head(repo: Path) -> str:
    return git("rev-parse", "HEAD", cwd=repo).strip()


def _verify(repo: Path) -> tuple[int, list[dict[str, str]]]:
    done = subprocess.run(
        [LEDGER, "verify", "--format", "json"], cwd=repo, capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def _codes(findings: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {
        (f["code"], f["path"])
        for f in findings
        if f["code"].startswith("L8") and f["code"] != "L801"
    }


def _entry(signing: Signing, path: str) -> dict[str, object]:
    return json.loads((signing.repo / path).read_text())


def _signed_path(result: Result) -> str:
    return result.out.split(": ", 1)[1].split(",", 1)[0]


# --- ledger sign ---------------------------------------------------------------------------


def test_a_sign_off_is_a_signed_commit_of_its_own_shown_everywhere(signing: Signing) -> None:
    repo = signing.repo
    git("add", "-A", cwd=repo)  # something else staged stays staged, out of the sign-off
    (repo / "notes.txt").write_text("staged, not signed\n")
    git("add", "notes.txt", cwd=repo)
    before = _head(repo)
    done = signing.sign(
        signing.priya, MODEL_11, *APPROVED, "--comment", "Subgroup drop | accepted for the pilot"
    )
    assert done.code == 0, done.err
    path = _signed_path(done)
    assert path.startswith("signoffs/model/sepsis-risk/1.1/") and path.endswith(
        "-approved-clinical-lead.json"
    )
    assert git("rev-parse", "HEAD^", cwd=repo).strip() == before
    assert git("show", "--name-only", "--format=", "HEAD", cwd=repo).split() == [path]
    assert git("diff", "--cached", "--name-only", cwd=repo).split() == ["notes.txt"]
    verdict = git("log", "-1", "--format=%G?|%GS|%aI", cwd=repo).strip().split("|")
    assert verdict[:2] == ["G", signing.priya.email]
    entry = _entry(signing, path)
    shown = json.loads(
        subprocess.run(
            [LEDGER, "show", MODEL_11, "--format", "json"], cwd=repo, capture_output=True, text=True
        ).stdout
    )
    assert entry["signs"] == {"ref": MODEL_11, "sha256": shown["sha256"]}
    assert entry["signer"]["key"] == signing.priya.fingerprint
    assert verdict[2].replace("+00:00", "Z") == entry["signed_at"]
    (one,) = shown["signoffs"]
    assert one["counts"] and one["meaning"] == "approved" and one["role"] == "clinical-lead"
    assert one["signer"]["name"] == "Priya Raman" and one["commit"] == _head(repo)
    text = run_as(signing.priya, repo, "show", MODEL_11).out
    assert "approved by Priya Raman <priya.raman@example.org> as clinical-lead" in text
    log = run_as(signing.priya, repo, "log", MODEL_11).out
    assert f"{_head(repo)[:12]} signed off: approved by Priya Raman" in log
    review = run_as(signing.priya, repo, "diff", before, "--format", "markdown").out
    assert "### Sign-offs" in review
    assert "| `model:sepsis-risk@1.1` | approved | Priya Raman | clinical-lead |" in review
    code, findings = _verify(repo)
    assert code == 0 and _codes(findings) == set()


@pytest.mark.parametrize(
    ("who", "args", "says"),
    [
        ("priya", ("model:sepsis-risk@1.0",), "is superseded by model:sepsis-risk@1.1"),
        ("jonas", (MODEL_11,), "authored model:sepsis-risk@1.1"),
        ("priya", ("model:sepsis-risk@9.9",), "no such record"),
        ("priya", (MODEL_11, "--role", "Clinical Lead"), "lower-case words joined by hyphens"),
        ("eve", (MODEL_11,), "key is not trusted"),
    ],
)
def test_a_sign_off_that_would_not_count_is_refused_and_leaves_nothing(
    signing: Signing, who: str, args: tuple[str, ...], says: str
) -> None:
    repo = signing.repo
    before = _head(repo)
    role = () if "--role" in args else ("--role", "clinical-lead")
    done = signing.sign(getattr(signing, who), *args, "--meaning", "approved", *role)
    assert done.code == 2 and says in done.err and done.err.count("\n") == 1, done.err
    assert _head(repo) == before
    assert git("status", "--porcelain", "--untracked-files=all", cwd=repo) == ""


def test_signing_needs_a_key_git_can_check_and_says_how(signing: Signing) -> None:
    repo = signing.repo
    keyless = Person("Quinn Ode", "quinn.ode@example.org", Path())
    env = {k: v for k, v in keyless.env.items() if not k.startswith("GIT_CONFIG_")}
    done = subprocess.run(
        [LEDGER, "sign", MODEL_11, "--meaning", "reviewed", "--role", "quality"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and "git config user.signingkey" in done.stderr
    git("config", "--unset", "gpg.ssh.allowedSignersFile", cwd=repo)
    done_again = signing.sign(signing.quinn, MODEL_11, "--meaning", "reviewed", "--role", "quality")
    assert done_again.code == 2 and "gpg.ssh.allowedSignersFile" in done_again.err


def test_a_comment_that_looks_like_phi_is_refused(signing: Signing) -> None:
    done = signing.sign(
        signing.priya, MODEL_11, *APPROVED, "--comment", "checked with patient MRN 12345678"
    )
    assert done.code == 1 and "L501" in done.err
    assert git("status", "--porcelain", "--untracked-files=all", cwd=signing.repo) == ""


def test_the_same_sign_off_twice_is_refused_and_roles_follow_the_policy(
    signing: Signing,
) -> None:
    repo = signing.repo
    first = ("--meaning", "approved", "--role", "clinical-lead")
    assert signing.sign(signing.priya, MODEL_11, *first).code == 0
    again = signing.sign(signing.priya, MODEL_11, *first)
    assert again.code == 2 and "already" in again.err
    with (repo / "ledger.toml").open("a") as toml:
        toml.write('\n[signoffs]\nroles = ["clinical-lead", "quality"]\n')
    other = signing.sign(signing.quinn, MODEL_11, "--meaning", "reviewed", "--role", "auditor")
    assert other.code == 2 and "not one of the roles ledger.toml lists" in other.err


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('[signoffs.required.model]\napproved = "clinical-lead"\n', "must be a list of roles"),
        ('[signoffs.required.prod]\napproved = ["qa"]\n', "neither a record kind"),
        ('[signoffs.required.model]\nrejected = ["qa"]\n', "one of reviewed, approved"),
        ('[signoffs]\nrole = ["qa"]\n', "unknown setting(s) role"),
        ('signoffs_dir = "records/signoffs"\n', "neither inside the other"),
    ],
)
def test_a_bad_policy_is_a_usage_error_naming_the_key(
    signing: Signing, table: str, says: str
) -> None:
    toml = signing.repo / "ledger.toml"
    text = toml.read_text()
    if table.startswith("signoffs_dir"):
        text = text.replace('signoffs_dir = "signoffs"\n', table)
    else:
        text += "\n" + table
    toml.write_text(text)
    done = run_as(signing.priya, signing.repo, "verify")
    assert done.code == 2 and says in done.err, done.err


# --- what verify finds ---------------------------------------------------------------------


def _approval(signing: Signing, who: Person, **changes: object) -> tuple[dict[str, object], str]:
    sha = json.loads(run_as(who, signing.repo, "show", MODEL_11, "--format", "json").out)["sha256"]
    fingerprint = who.fingerprint
    entry: dict[str, object] = {
        "signoff_version": 1,
        "signs": {"ref": MODEL_11, "sha256": sha},
        "meaning": "approved",
        "role": "clinical-lead",
        "signer": {"name": who.name, "email": who.email, "key": fingerprint},
        "signed_at": "2026-06-01T10:00:00Z",
    }
    entry.update(changes)
    path = "signoffs/model/sepsis-risk/1.1/20260601T100000Z-approved-clinical-lead.json"
    return entry, path


def test_a_proper_hand_made_sign_off_counts(signing: Signing) -> None:
    """The rules check what a sign-off is, not which program wrote it."""
    entry, path = _approval(signing, signing.priya)
    commit_by_hand(signing, signing.priya, entry, path)
    code, findings = _verify(signing.repo)
    assert code == 0 and _codes(findings) == set()


def test_an_unreadable_or_misplaced_sign_off_is_l804(signing: Signing) -> None:
    entry, path = _approval(signing, signing.priya)
    commit_by_hand(signing, signing.priya, entry, path.replace("1.1/", "1.0/"))
    broken = "signoffs/model/sepsis-risk/1.1/20260601T100001Z-approved-clinical-lead.json"
    commit_by_hand(signing, signing.priya, {**entry, "meaning": "blessed"}, broken)
    code, findings = _verify(signing.repo)
    assert code == 1
    assert {c for c in _codes(findings) if c[0] == "L804"} == {
        ("L804", path.replace("1.1/", "1.0/")),
        ("L804", broken),
    }


@pytest.mark.parametrize("how", ["unsigned", "eve's key", "jonas's key", "time", "author"])
def test_a_sign_off_its_commit_does_not_prove_is_l805(signing: Signing, how: str) -> None:
    priya = signing.priya
    entry, path = _approval(signing, priya)
    if how == "unsigned":
        commit_by_hand(signing, priya, entry, path, signed=False)
    elif how == "eve's key":  # Eve signs in Priya's name with a key nobody listed
        commit_by_hand(signing, Person(priya.name, priya.email, signing.eve.key), entry, path)
    elif how == "jonas's key":  # a listed key, but Jonas's, not Priya's
        commit_by_hand(signing, Person(priya.name, priya.email, signing.jonas.key), entry, path)
    elif how == "time":
        repo = signing.repo
        (repo / path).parent.mkdir(parents=True)
        (repo / path).write_text(json.dumps(entry))
        git_as(priya, repo, "add", path)
        git_as(priya, repo, "commit", "-qS", "-m", "backdated sign-off")
    else:  # Quinn commits Priya's sign-off, signed by Priya's key (a shared machine)
        quinn_at_priyas_key = Person(signing.quinn.name, signing.quinn.email, priya.key)
        commit_by_hand(signing, quinn_at_priyas_key, entry, path)
    code, findings = _verify(signing.repo)
    assert code == 1 and ("L805", path) in _codes(findings), findings
    assert ("L809", MODEL_PATH) not in _codes(findings)


def test_a_sign_off_by_the_versions_author_is_l806(signing: Signing) -> None:
    entry, path = _approval(signing, signing.jonas)
    commit_by_hand(signing, signing.jonas, entry, path)
    code, findings = _verify(signing.repo)
    assert code == 1 and _codes(findings) == {("L806", path)}


def test_a_sign_off_of_other_content_is_l807(signing: Signing) -> None:
    entry, path = _approval(signing, signing.priya)
    entry["signs"] = {"ref": MODEL_11, "sha256": "0" * 64}
    commit_by_hand(signing, signing.priya, entry, path)
    code, findings = _verify(signing.repo)
    assert code == 1 and _codes(findings) == {("L807", path)}


def test_a_changed_or_deleted_sign_off_is_l808(signing: Signing) -> None:
    repo = signing.repo
    done = signing.sign(signing.priya, MODEL_11, "--meaning", "rejected", "--role", "clinical-lead")
    path = _signed_path(done)
    entry = _entry(signing, path)
    entry["meaning"] = "approved"  # turn the rejection into an approval, in place
    (repo / path).write_text(json.dumps(entry))
    git_as(signing.priya, repo, "commit", "-qaS", "-m", "Fix sign-off")
    code, findings = _verify(repo)
    assert code == 1 and ("L808", path) in _codes(findings)
    git_as(signing.priya, repo, "rm", "-q", path)
    git_as(signing.priya, repo, "commit", "-qS", "-m", "Drop sign-off")
    code, findings = _verify(repo)
    assert code == 1 and _codes(findings) == {("L808", path)}


def test_required_sign_offs_are_l809_and_a_rejection_is_l810(signing: Signing) -> None:
    repo = signing.repo
    with (repo / "ledger.toml").open("a") as toml:
        toml.write('\n[signoffs.required.model]\napproved = ["clinical-lead", "quality"]\n')
    code, findings = _verify(repo)
    missing = [f for f in findings if f["code"] == "L809"]
    assert code == 1 and {f["path"] for f in missing} == {MODEL_PATH}  # the current model only
    assert len(missing) == 2
    assert (
        signing.sign(
            signing.priya, MODEL_11, "--meaning", "approved", "--role", "clinical-lead"
        ).code
        == 0
    )
    code, findings = _verify(repo)
    (left,) = [f for f in findings if f["code"] == "L809"]
    assert "`approved` sign-off by a quality" in left["message"]
    done = signing.sign(
        signing.quinn,
        MODEL_11,
        "--meaning",
        "rejected",
        "--role",
        "quality",
        "--comment",
        "Sensitivity in ages 18-64 fell below the pilot's bound",
    )
    assert done.code == 0, done.err
    code, findings = _verify(repo)
    (rejected,) = [f for f in findings if f["code"] == "L810"]
    assert (
        rejected["severity"] == "warning"
        and "rejected by Quinn Ode (quality)" in rejected["message"]
    )
    assert (
        signing.sign(signing.quinn, MODEL_11, "--meaning", "approved", "--role", "quality").code
        == 0
    )
    code, findings = _verify(repo)
    assert code == 0 and {f["code"] for f in findings} & {"L809"} == set()


def test_a_sign_off_made_on_a_branch_counts_after_the_merge(signing: Signing) -> None:
    repo = signing.repo
    git("checkout", "-qb", "review", cwd=repo)
    assert (
        signing.sign(
            signing.priya, MODEL_11, "--meaning", "reviewed", "--role", "clinical-lead"
        ).code
        == 0
    )
    git("checkout", "-q", "-", cwd=repo)
    (repo / "notes.txt").write_text("main moves on\n")
    git("add", "notes.txt", cwd=repo)
    git("commit", "-qm", "Main moves on", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "Merge review", "review", cwd=repo)
    code, findings = _verify(repo)
    assert code == 0 and _codes(findings) == set()
    shown = json.loads(run_as(signing.priya, repo, "show", MODEL_11, "--format", "json").out)
    assert [s["counts"] for s in shown["signoffs"]] == [True]


def test_a_kept_state_and_a_cold_run_agree_on_sign_offs(signing: Signing) -> None:
    repo = signing.repo
    _verify(repo)  # keeps the state before the sign-off
    entry, path = _approval(signing, signing.jonas)
    commit_by_hand(signing, signing.jonas, entry, path)
    warm = _verify(repo)
    cold = subprocess.run(
        [LEDGER, "verify", "--no-cache", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert warm == (cold.returncode, json.loads(cold.stdout)["findings"])
    assert ("L806", path) in _codes(warm[1])


def test_a_sign_off_that_is_a_symbolic_link_is_l804(signing: Signing) -> None:
    repo = signing.repo
    folder = repo / "signoffs/model/sepsis-risk/1.1"
    folder.mkdir(parents=True)
    (folder / "20260601T100000Z-approved-clinical-lead.json").symlink_to(
        f"../../../../{MODEL_PATH}"
    )
    git_as(signing.priya, repo, "add", "signoffs")
    git_as(signing.priya, repo, "commit", "-qS", "-m", "link")
    code, findings = _verify(repo)
    assert code == 1 and (
        "L804",
        f"{folder.relative_to(repo)}/20260601T100000Z-approved-clinical-lead.json",
    ) in _codes(findings)


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_sign_offs_that_count_are_fhir_agents_and_signatures(
    signing: Signing, official_schema: Any, version: str
) -> None:
    repo = signing.repo
    approve = ("--meaning", "approved", "--role", "clinical-lead")
    assert signing.sign(signing.priya, MODEL_11, *approve).code == 0
    reject = ("--meaning", "rejected", "--role", "quality", "--comment", "needs subgroup work")
    assert signing.sign(signing.quinn, MODEL_11, *reject).code == 0
    entry, path = _approval(signing, signing.jonas, role="data-steward")  # by the author
    commit_by_hand(signing, signing.jonas, entry, path.replace("clinical-lead", "data-steward"))
    done = run_as(signing.priya, repo, "provenance", "--format", "json", "--fhir-version", version)
    assert done.code == 0, done.err
    bundle = json.loads(done.out)
    fhir_version(version).model("Bundle").model_validate(bundle)
    error = best_match(official_schema(version).iter_errors(bundle))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"
    provenances = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Provenance"
        and any(a.get("role") for a in e["resource"]["agent"] if "clinical-lead" in json.dumps(a))
    ]
    (provenance,) = provenances
    roles = {
        (a["type"]["coding"][0]["code"], a["role"][0]["text"])
        for a in provenance["agent"]
        if "role" in a
    }
    assert roles == {("attester", "clinical-lead (approved)"), ("verifier", "quality (rejected)")}
    (signature,) = provenance["signature"]  # the rejection attests nothing; Jonas's does not count
    assert signature["type"][0]["code"] == "1.2.840.10065.1.12.1.5"
    assert signature["who"]["display"] == "Priya Raman" and signature["when"].endswith("Z")


def test_an_export_carries_the_sign_offs_and_its_check_catches_a_forged_one(
    signing: Signing, tmp_path: Path
) -> None:
    repo = signing.repo
    done = signing.sign(signing.priya, MODEL_11, "--meaning", "approved", "--role", "clinical-lead")
    inside = "signoffs/" + _signed_path(done).removeprefix("signoffs/")
    out = tmp_path / "export.zip"
    assert run_as(signing.priya, repo, "export", "-o", str(out)).code == 0
    entries = _entries(out)
    assert _content(entries, inside) == (repo / _signed_path(done)).read_bytes()
    (listed,) = json.loads(_content(entries, "verification/signoffs.json"))["signoffs"]
    assert listed["path"] == inside and listed["counts"] and listed["signature"] == "good"
    checked = run_as(signing.priya, tmp_path, "verify-export", str(out))
    assert checked.code == 0, checked.out
    forged = json.loads(_content(entries, inside))
    forged["signs"]["ref"] = "model:sepsis-risk@1.0"  # moved onto another version
    moved = _write(
        tmp_path / "moved.zip", _replaced(entries, {inside: json.dumps(forged).encode()})
    )
    code, findings = _verify_export(moved)
    assert code == 1 and ("L804", inside) in {(f["code"], f["path"]) for f in findings}
    forged = json.loads(_content(entries, inside))
    forged["signs"]["sha256"] = "1" * 64
    other = _write(
        tmp_path / "other.zip", _replaced(entries, {inside: json.dumps(forged).encode()})
    )
    code, findings = _verify_export(other)
    assert code == 1 and ("L807", inside) in {(f["code"], f["path"]) for f in findings}
    manifest = json.loads(_content(entries, "manifest.json"))
    del manifest["files"][inside]
    text = json.dumps(manifest).encode()
    dropped = _write(
        tmp_path / "dropped.zip",
        [
            (i, text if i.filename == "manifest.json" else d)
            for i, d in entries
            if i.filename != inside
        ],
    )
    code, findings = _verify_export(dropped)
    assert code == 1 and ("L909", "verification/signoffs.json") in {
        (f["code"], f["path"]) for f in findings
    }


def _verify_export(path: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [LEDGER, "verify-export", str(path), "--format", "json"], capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def test_the_gate_signs_through_the_hook_and_refuses_rewriting_a_sign_off(
    signing: Signing,
) -> None:
    repo = signing.repo
    assert run_as(signing.priya, repo, "init", "--hook").code == 0
    done = signing.sign(signing.priya, MODEL_11, "--meaning", "rejected", "--role", "clinical-lead")
    assert done.code == 0, done.err  # the hook ran on the sign-off's commit, and let it in
    path = _signed_path(done)
    entry = _entry(signing, path)
    entry["comment"] = "on second thought, fine"
    (repo / path).write_text(json.dumps(entry, indent=2))
    assert "L808" in run_as(signing.priya, repo, "validate").out

    def commit(message: str) -> tuple[int, str]:
        """A real `git commit` by Priya, which runs the installed hook."""
        done = subprocess.run(
            ["git", "commit", "-q", "-m", message],
            cwd=repo,
            capture_output=True,
            text=True,
            env=signing.priya.env,
        )
        return done.returncode, done.stdout + done.stderr

    git_as(signing.priya, repo, "add", path)
    code, said = commit("Soften")
    assert code != 0
    assert (
        f"{path}: error L808 this sign-off was committed at HEAD and changed in the index" in said
    )
    git_as(signing.priya, repo, "rm", "-qf", path)
    code, said = commit("Drop")
    assert code != 0 and "deleted in the index" in said


def test_an_openpgp_sign_off_counts_and_names_the_key(
    signing: Signing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's other signing format: GnuPG, whose keyring (not an allowed-signers file) says
    whose key it is; git reports the long key id, the sign-off names the fingerprint."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Quinn Ode <quinn.ode@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        ["gpg", "--with-colons", "--list-keys", "quinn.ode@example.org"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr"))
    repo = signing.repo
    git("config", "gpg.format", "openpgp", cwd=repo)
    quinn = Person("Quinn Ode", "quinn.ode@example.org", Path(fingerprint))
    done = run_as(quinn, repo, "sign", MODEL_11, "--meaning", "reviewed", "--role", "quality")
    assert done.code == 0, done.err
    entry = _entry(signing, _signed_path(done))
    assert entry["signer"]["key"] == fingerprint
    assert git("log", "-1", "--format=%G?", cwd=repo).strip() == "G"
    code, findings = _verify(repo)
    assert code == 0 and _codes(findings) == set()
    before = _head(repo)
    other = Person("Quinn Ode", "quinn.ode@example.org", Path("0" * 40))  # no such key
    unknown = run_as(other, repo, "sign", MODEL_11, "--meaning", "approved", "--role", "quality")
    assert unknown.code == 2 and "could not make the signed commit" in unknown.err
    assert _head(repo) == before
    assert git("status", "--porcelain", "--untracked-files=all", cwd=repo) == ""


def test_a_git_identity_that_is_no_address_cannot_sign(signing: Signing) -> None:
    nameless = Person("Quinn Ode", "quinn at example", signing.quinn.key)
    done = signing.sign(nameless, MODEL_11, "--meaning", "reviewed", "--role", "quality")
    assert done.code == 2 and "your git identity cannot sign: signer/email" in done.err
    assert git("status", "--porcelain", "--untracked-files=all", cwd=signing.repo) == ""


def test_signing_through_a_symlinked_folder_is_refused(signing: Signing, tmp_path: Path) -> None:
    """A sign-off written through a linked folder would land outside what git sees."""
    repo = signing.repo
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "signoffs").symlink_to(outside)
    git("add", "signoffs", cwd=repo)
    git("commit", "-qm", "Link the sign-off folder away", cwd=repo)
    before = _head(repo)
    done = signing.sign(signing.priya, MODEL_11, *APPROVED)
    assert done.code == 2 and "is a symbolic link" in done.err, done.err
    assert _head(repo) == before and not any(outside.iterdir())


def test_the_gate_refuses_a_merge_that_drops_the_other_branchs_sign_off(
    signing: Signing,
) -> None:
    repo = signing.repo
    assert run_as(signing.priya, repo, "init", "--hook").code == 0
    git("checkout", "-qb", "review", cwd=repo)
    path = _signed_path(signing.sign(signing.priya, MODEL_11, *APPROVED))
    git("checkout", "-q", "-", cwd=repo)
    (repo / "notes.txt").write_text("main moves on\n")
    git("add", "notes.txt", cwd=repo)
    git("commit", "-qm", "Main moves on", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "review", cwd=repo)
    git("rm", "-q", "--cached", path, cwd=repo)  # the merge result leaves the sign-off out
    staged = run_as(signing.priya, repo, "validate", "--staged", "--format", "json")
    found = {(f["code"], f["path"]) for f in json.loads(staged.out)["findings"]}
    assert staged.code == 1 and ("L808", path) in found
    assert "committed at HEAD or MERGE_HEAD and deleted in the index" in staged.out
