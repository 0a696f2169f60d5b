"""`ledger verify`: each tampering, committed on top of the demo repository, is caught by code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.config import load_config
from ledger.records.canonical import record_hash
from ledger.state.store import Store
from tests.conftest import LEDGER, git, run_ledger

COHORT_11 = "records/dataset/sepsis-cohort/1.1.json"
TEST_10 = "records/dataset/sepsis-test/1.0.json"
MODEL_11 = "records/model/sepsis-risk/1.1.json"
EVAL_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"


def load(repo: Path, relpath: str) -> dict[str, Any]:
    return dict(json.loads((repo / relpath).read_text()))


def save(repo: Path, relpath: str, data: object) -> None:
    path = repo / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def link(repo: Path, relpath: str) -> dict[str, str]:
    data = load(repo, relpath)
    return {"ref": f"{data['kind']}:{data['name']}@{data['version']}", "sha256": record_hash(data)}


def commit(repo: Path, message: str = "Tamper") -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def verify(repo: Path, *args: str) -> tuple[int, list[dict[str, str]]]:
    """The exit code and errors of ``verify``. The demo keeps its state at its last commit,
    so a verify after a tampering commit starts from that state's findings and checks only
    what the tampering can reach: it must say what a run with nothing kept says."""
    result = run_ledger("verify", "--format", "json", *args, cwd=repo)
    assert result.code in (0, 1), result.err
    afresh = run_ledger("verify", "--format", "json", "--no-cache", *args, cwd=repo)
    assert (afresh.code, afresh.out) == (result.code, result.out)
    report = json.loads(result.out)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    return result.code, errors


def assert_caught(repo: Path, code: str, path: str, *args: str) -> list[dict[str, str]]:
    exit_code, errors = verify(repo, *args)
    assert exit_code == 1
    hits = [f for f in errors if f["code"] == code and f["path"] == path]
    assert hits, errors
    return hits


def new_version(repo: Path, relpath: str, version: str) -> tuple[str, dict[str, Any]]:
    """A copy of a record as the next version, superseding it, and its path."""
    data = load(repo, relpath)
    data["version"] = version
    data["supersedes"] = {**link(repo, relpath), "reason": "test", "change_type": "correction"}
    return relpath.rsplit("/", 1)[0] + f"/{version}.json", data


def test_the_demo_repository_verifies_at_head_and_before(demo_repo: Path) -> None:
    for rev in ("HEAD", "HEAD~1", "HEAD~3"):
        code, errors = verify(demo_repo, "--rev", rev)
        assert code == 0 and errors == [], (rev, errors)
    text = run_ledger("verify", cwd=demo_repo).out
    assert text.splitlines()[-1] == "ok: verified, 6 warning(s)"


def test_rev_gives_the_earlier_state(demo_repo: Path) -> None:
    report = json.loads(
        run_ledger("verify", "--rev", "HEAD~3", "--format", "json", cwd=demo_repo).out
    )
    assert len(report["checked"]) == 4
    assert report["commit"] == git("rev-parse", "HEAD~3", cwd=demo_repo).strip()


def test_dangling_link(repo: Path) -> None:
    path, data = new_version(repo, EVAL_11, "1.2")
    data["model"] = {"ref": "model:sepsis-risk@9.9", "sha256": "0" * 64}
    save(repo, path, data)
    commit(repo)
    assert_caught(repo, "L301", path)


def test_link_hash_mismatch(repo: Path) -> None:
    path, data = new_version(repo, EVAL_11, "1.2")
    data["model"]["sha256"] = "f" * 64
    save(repo, path, data)
    commit(repo)
    assert_caught(repo, "L302", path)


def test_model_trained_on_an_evaluation(repo: Path) -> None:
    path, data = new_version(repo, MODEL_11, "1.2")
    data["training"]["datasets"] = [{**link(repo, EVAL_11), "role": "training"}]
    save(repo, path, data)
    commit(repo)
    assert_caught(repo, "L303", path)


def test_link_cycle(repo: Path) -> None:
    first, a = new_version(repo, EVAL_11, "1.2")
    save(repo, first, a)
    second, b = new_version(repo, first, "1.3")
    save(repo, second, b)
    a["baseline"] = link(repo, second)
    save(repo, first, a)
    commit(repo)
    hits = assert_caught(repo, "L305", first)
    assert "evaluation:sepsis-risk-heldout@1.3" in hits[0]["message"]


def test_snapshot_disagrees_with_the_dvc_file_of_its_commit(repo: Path) -> None:
    path, data = new_version(repo, COHORT_11, "1.2")
    data["snapshot"]["md5"] = "0" * 32
    save(repo, path, data)
    commit(repo)
    assert_caught(repo, "L403", path)


def test_dvc_file_missing(repo: Path) -> None:
    git("rm", "-q", "data/test.csv.dvc", cwd=repo)
    commit(repo, "Drop the test set's DVC file")
    assert_caught(repo, "L401", TEST_10)


def dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True)


def test_unrecorded_data_version(repo: Path) -> None:
    with (repo / "data/cohort.csv").open("a") as handle:
        handle.write("50,F,north,80.0,16.0,37.0,8.0,1.2,120.0,0\n")
    dvc(repo, "add", "-q", "data/cohort.csv")
    commit(repo, "Add one more admission")
    hits = assert_caught(repo, "L405", COHORT_11)
    assert hits[0]["commit"] == git("rev-parse", "HEAD", cwd=repo).strip()


def _model_from_stage(repo: Path, dependency: str) -> tuple[str, dict[str, Any]]:
    """Model 1.2, trained on cohort 1.1, whose artifact a dvc.lock stage made from
    ``dependency``."""
    command = f"cp {dependency} models/m2.json"
    dvc(repo, "stage", "add", "-n", "train", "-d", dependency, "-o", "models/m2.json", command)
    dvc(repo, "repro", "train")
    path, data = new_version(repo, MODEL_11, "1.2")
    with Ledger.open(repo) as book:
        data["artifact"] = book.snapshot("dvc.lock", "train")
    return path, data


def test_pipeline_used_other_data_than_recorded(repo: Path) -> None:
    path, data = _model_from_stage(repo, "data/test.csv")
    save(repo, path, data)
    commit(repo, "Model from a pipeline")
    hits = assert_caught(repo, "L406", path)
    assert "does not depend on" in hits[0]["message"]


def test_a_pipeline_is_checked_again_when_its_training_data_loses_its_dvc_file(
    repo: Path,
) -> None:
    path, data = _model_from_stage(repo, "data/cohort.csv")
    save(repo, path, data)
    commit(repo, "Model from a pipeline")
    assert not [f for f in verify(repo)[1] if f["code"] == "L406"]  # kept, with no L406
    git("rm", "-q", "data/cohort.csv.dvc", cwd=repo)
    commit(repo, "Drop the cohort's DVC file")
    assert_caught(repo, "L406", path)


def test_a_version_superseded_later_is_no_longer_checked_as_current(repo: Path) -> None:
    git("rm", "-q", "data/test.csv.dvc", cwd=repo)
    commit(repo, "Drop the test set's DVC file")
    assert_caught(repo, "L401", TEST_10)  # kept: the current test set names a missing file
    path, data = new_version(repo, TEST_10, "1.1")
    data["snapshot"] = load(repo, COHORT_11)["snapshot"]  # data of its own, not 1.0's
    save(repo, path, data)
    commit(repo, "A new version of the test set")
    found = {f["code"] for f in verify(repo)[1] if f["path"] == TEST_10}
    assert "L401" not in found


def test_unrecorded_data_is_reported_at_whichever_record_documents_it_last(repo: Path) -> None:
    with (repo / "data/cohort.csv").open("a") as handle:
        handle.write("50,F,north,80.0,16.0,37.0,8.0,1.2,120.0,0\n")
    dvc(repo, "add", "-q", "data/cohort.csv")
    commit(repo, "Add one more admission")
    assert_caught(repo, "L405", COHORT_11)  # kept
    # Another record documenting the same output, later in path order: it reports it now.
    copy = "records/dataset/zz-cohort/1.0.json"
    data = {**load(repo, COHORT_11), "name": "zz-cohort", "version": "1.0"}
    data.pop("supersedes", None)
    save(repo, copy, data)
    commit(repo, "Document the cohort twice")
    assert_caught(repo, "L405", copy)
    git("rm", "-q", copy, cwd=repo)
    commit(repo, "Drop the copy")
    assert_caught(repo, "L405", COHORT_11)


def test_record_changed_in_place_and_stale_links(repo: Path) -> None:
    data = load(repo, TEST_10)
    data["description"] += " Amended."
    save(repo, TEST_10, data)
    commit(repo, "Amend the test set's description")
    code, errors = verify(repo)
    assert code == 1
    codes = {(f["code"], f["path"]) for f in errors}
    assert ("L601", TEST_10) in codes
    assert ("L603", EVAL_11) in codes


def test_a_pin_of_earlier_content_is_judged_again_when_that_content_leaves_history(
    repo: Path,
) -> None:
    # The test set's file now claims another version; a copy elsewhere claims 1.0, amended.
    data = load(repo, TEST_10)
    save(repo, TEST_10, {**data, "version": "1.5"})
    other = "records/dataset/sepsis-test/copy.json"
    save(repo, other, {**data, "title": "Amended"})
    commit(repo, "Move the test set's identity to a copy")
    # Evaluation 1.1 pins what 1.0 was, an earlier content of the file that claimed it.
    assert ("L603", EVAL_11) in {(f["code"], f["path"]) for f in verify(repo)[1]}
    git("rm", "-q", TEST_10, cwd=repo)
    commit(repo, "Drop the file")
    assert_caught(repo, "L302", EVAL_11)


def test_record_deleted(repo: Path) -> None:
    git("rm", "-q", EVAL_11, cwd=repo)
    commit(repo, "Remove an evaluation")
    assert_caught(repo, "L602", EVAL_11)


def test_test_data_leaking_into_training(repo: Path) -> None:
    path, data = new_version(repo, EVAL_11, "1.2")
    data["datasets"] = [{**link(repo, COHORT_11), "role": "test"}]
    save(repo, path, data)
    commit(repo)
    hits = assert_caught(repo, "L701", path)
    assert "dataset:sepsis-cohort@1.1" in hits[0]["message"]


def test_metrics_without_test_population_or_dataset(repo: Path) -> None:
    path, data = new_version(repo, EVAL_11, "1.2")
    del data["datasets"], data["test_population"]
    save(repo, path, data)
    commit(repo)
    hits = assert_caught(repo, "L702", path)
    assert {h["pointer"] for h in hits} == {"/datasets", "/test_population"}


def test_model_without_training_data(repo: Path) -> None:
    path, data = new_version(repo, MODEL_11, "1.2")
    data["training"]["datasets"] = []
    save(repo, path, data)
    commit(repo)
    assert_caught(repo, "L703", path)


def test_unsigned_commits_are_errors_with_require_signed(demo_repo: Path) -> None:
    code, errors = verify(demo_repo, "--require-signed")
    assert code == 1
    assert {f["code"] for f in errors} == {"L801"} and len(errors) == 6


def _ssh_signing(repo: Path, tmp_path: Path, *, trusted: bool) -> None:
    key = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qa", "-f", str(key)], check=True
    )
    allowed = tmp_path / "allowed_signers"
    public = key.with_suffix(".pub").read_text().strip()
    allowed.write_text(f"committer@example.org {public}\n" if trusted else "")
    for name, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key)),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        git("config", name, value, cwd=repo)


def _signed_new_version(repo: Path) -> str:
    path, data = new_version(repo, EVAL_11, "1.2")
    save(repo, path, data)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-S", "-m", "Signed evaluation", cwd=repo)
    return path


def test_signed_commits_are_reported_good(repo: Path, tmp_path: Path) -> None:
    _ssh_signing(repo, tmp_path, trusted=True)
    path = _signed_new_version(repo)
    report = json.loads(run_ledger("verify", "--format", "json", cwd=repo).out)
    last = report["commits"][-1]
    assert last["records"] == [path] and last["signature"]["state"] == "good"
    assert not [f for f in report["findings"] if f["path"] == path]


def test_signature_of_an_unknown_key(repo: Path, tmp_path: Path) -> None:
    _ssh_signing(repo, tmp_path, trusted=False)
    path = _signed_new_version(repo)
    code, _ = verify(repo)
    assert code == 0
    report = json.loads(run_ledger("verify", "--format", "json", cwd=repo).out)
    assert [f["code"] for f in report["findings"] if f["path"] == path] == ["L803"]
    assert_caught(repo, "L803", path, "--require-signed")


def test_bad_signature(repo: Path, tmp_path: Path) -> None:
    _ssh_signing(repo, tmp_path, trusted=True)
    path = _signed_new_version(repo)
    # Rewrite the signed commit's message without re-signing it, as a forger would.
    raw = git("cat-file", "commit", "HEAD", cwd=repo).replace("Signed evaluation", "Forged")
    forged = subprocess.run(
        ["git", "hash-object", "-w", "-t", "commit", "--stdin"],
        cwd=repo,
        input=raw,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    git("reset", "-q", "--soft", forged.strip(), cwd=repo)
    assert_caught(repo, "L802", path)


def test_a_shallow_clone_is_refused(demo_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{demo_repo}", str(clone), cwd=tmp_path)
    result = run_ledger("verify", cwd=clone)
    assert result.code == 2
    assert "git fetch --unshallow" in result.err


def test_a_bad_revision_is_a_usage_error(demo_repo: Path) -> None:
    result = run_ledger("verify", "--rev", "no-such-branch", cwd=demo_repo)
    assert result.code == 2
    assert "'no-such-branch' is not a commit" in result.err


def test_data_checks_the_workspace(repo: Path) -> None:
    assert verify(repo, "--data")[0] == 0
    (repo / "data/test.csv").write_text("age\n")
    assert_caught(repo, "L407", TEST_10, "--data")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_names_who_when_why_and_signature(demo_repo: Path, fmt: str) -> None:
    result = run_ledger("log", "dataset:sepsis-cohort@1.1", "--format", fmt, cwd=demo_repo)
    assert result.code == 0, result.err
    if fmt == "json":
        entry = json.loads(result.out)["history"][0]
        commit = entry["commit"]
        assert commit["author"]["name"] == "Amara Okafor"
        assert commit["reason"] == "Six more months of admissions (2,000 instead of 1,200)"
        assert commit["signature"]["state"] == "unsigned" and entry["action"] == "added"
        shown = json.loads(
            run_ledger("show", "sepsis-cohort@1.1", "--format", "json", cwd=demo_repo).out
        )
        assert entry["sha256"] == shown["sha256"]
    else:
        assert "added by Amara Okafor <amara.okafor@example.org> at 2026-01-" in result.out
        assert "reason: Six more months of admissions" in result.out


def test_log_of_a_deleted_record_still_shows_its_history(repo: Path) -> None:
    git("rm", "-q", EVAL_11, cwd=repo)
    commit(repo, "Remove an evaluation")
    history = json.loads(
        run_ledger("log", "evaluation:sepsis-risk-heldout@1.1", "--format", "json", cwd=repo).out
    )["history"]
    assert [h["action"] for h in history] == ["added", "deleted"]


def test_data_of_superseded_versions_must_stay_in_cache_and_remote(repo: Path) -> None:
    old = load(repo, "records/dataset/sepsis-cohort/1.0.json")["snapshot"]["md5"]
    for store in (repo / ".dvc/cache/files/md5", repo / ".dvc-remote/files/md5"):
        (store / old[:2] / old[2:]).unlink()
    exit_code, errors = verify(repo, "--data")
    assert exit_code == 1
    found = {(f["code"], f["path"]) for f in errors}
    assert found == {
        ("L408", "records/dataset/sepsis-cohort/1.0.json"),
        ("L409", "records/dataset/sepsis-cohort/1.0.json"),
    }


def test_the_state_is_kept_and_gives_the_same_report(repo: Path) -> None:
    shutil.rmtree(repo / ".git/ledger", ignore_errors=True)
    first = run_ledger("verify", "--format", "json", cwd=repo)
    store = Store(repo / ".git", load_config(repo))
    assert len(store.load_facts()) == 7
    assert store.kept_commits() == [git("rev-parse", "HEAD", cwd=repo).strip()]
    again = run_ledger("verify", "--format", "json", cwd=repo)
    fresh = run_ledger("verify", "--no-cache", "--format", "json", cwd=repo)
    assert first.out == again.out == fresh.out
    assert git("status", "--porcelain", cwd=repo) == ""


def test_progress_shows_on_a_terminal_and_stays_quiet_when_piped(demo_repo: Path) -> None:
    import os
    import pty

    assert run_ledger("verify", cwd=demo_repo).err == ""  # piped: no progress bar
    main, tty = pty.openpty()
    done = subprocess.run([LEDGER, "verify"], cwd=demo_repo, stderr=tty, stdout=subprocess.PIPE)
    os.close(tty)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert done.returncode == 0
    assert b"reading records" in shown


def test_cycle_search_handles_a_chain_of_thousands_of_versions() -> None:
    from ledger.checks.links import find_cycles
    from ledger.checks.record_file import check_record_bytes
    from ledger.records.jsonload import Limits

    template = json.loads((Path(__file__).parents[1] / TEST_10).read_text())
    records = []
    for n in range(1, 3001):
        data = {**template, "version": f"1.{n}"}
        if n > 1:
            data["supersedes"] = {
                "ref": f"dataset:sepsis-test@1.{n - 1}",
                "sha256": "0" * 64,
                "reason": "r",
                "change_type": "correction",
            }
        facts = check_record_bytes(json.dumps(data).encode(), Limits())
        assert facts.valid and facts.claimed is not None
        records.append((f"records/dataset/sepsis-test/1.{n}.json", facts.claimed, facts.links))
    assert find_cycles(records) == []


def _edit_title(repo: Path) -> str:
    data = load(repo, EVAL_11)
    save(repo, EVAL_11, {**data, "title": data["title"] + " (revised)"})
    return EVAL_11


def _delete(repo: Path) -> str:
    git("rm", "-q", EVAL_11, cwd=repo)
    return EVAL_11


def _add_version(repo: Path) -> str:
    path, data = new_version(repo, EVAL_11, "1.2")
    save(repo, path, data)
    return path


def _edit_dvc_md5(repo: Path) -> str:
    dvc_file = repo / "data/test.csv.dvc"
    text = dvc_file.read_text()
    md5 = load(repo, TEST_10)["snapshot"]["md5"]
    dvc_file.write_text(text.replace(md5, "abcdef" * 5 + "ab"))
    return TEST_10


@pytest.mark.parametrize(
    ("change", "code", "args"),
    [
        (_edit_title, "L601", ()),
        (_delete, "L602", ()),
        (_add_version, "L801", ("--require-signed",)),
        (_edit_dvc_md5, "L405", ()),
    ],
    ids=["record-edited", "record-deleted", "unsigned-version-added", "dvc-md5-edited"],
)
def test_a_change_made_in_a_merge_commit_itself_is_caught(
    repo: Path, change: Any, code: str, args: tuple[str, ...]
) -> None:
    """An "evil merge": both branches change nothing, and the merge commit alone changes the
    ledger. The history walk must list a merge's own changes (its combined diff), or these
    pass unseen."""
    git("checkout", "-qb", "side", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "Side", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "Main", cwd=repo)
    git("merge", "-q", "--no-ff", "--no-commit", "side", cwd=repo)
    path = change(repo)
    commit(repo, "Merge side")
    merge = git("rev-parse", "HEAD", cwd=repo).strip()
    hits = assert_caught(repo, code, path, *args)
    assert {hit["commit"] for hit in hits} == {merge}


@pytest.mark.parametrize("disguise", ["replace", "graft"])
def test_a_replace_ref_or_a_graft_cannot_hide_a_tampering_commit(repo: Path, disguise: str) -> None:
    """``git replace HEAD HEAD~1`` makes git show the parent in place of the tampering commit;
    a graft that gives it no parents makes its edit look like a first version. Neither
    travels with a clone, and verify reads the objects as committed."""
    _edit_title(repo)
    commit(repo, "Retitle an evaluation")
    if disguise == "replace":
        git("replace", "HEAD", "HEAD~1", cwd=repo)
    else:
        head = git("rev-parse", "HEAD", cwd=repo)
        (repo / ".git/info").mkdir(exist_ok=True)
        (repo / ".git/info/grafts").write_text(head)
    assert_caught(repo, "L601", EVAL_11)


def _reformat(repo: Path) -> None:
    data = load(repo, EVAL_11)
    text = json.dumps(dict(reversed(list(data.items()))), indent=4, ensure_ascii=True)
    (repo / EVAL_11).write_text(text.replace('"title"', '"\\u0074itle"') + "\n")


def _make_executable(repo: Path) -> None:
    (repo / EVAL_11).chmod(0o755)


@pytest.mark.parametrize("keep", [_reformat, _make_executable], ids=["reformatted", "chmod"])
def test_a_change_that_keeps_the_canonical_record_is_not_tampering(repo: Path, keep: Any) -> None:
    """Keys reordered, re-indented, a key written with a \\u escape, or the file made
    executable: every hash that pins the record still holds, so nothing is reported."""
    before = record_hash(load(repo, EVAL_11))
    keep(repo)
    assert record_hash(load(repo, EVAL_11)) == before
    commit(repo, "Reformat an evaluation")
    assert git("diff", "--stat", "HEAD~1", cwd=repo)  # the commit changed the file
    code, errors = verify(repo)
    assert (code, errors) == (0, [])
    # A real edit after it is still caught, against the reformatted version.
    _edit_title(repo)
    commit(repo, "Retitle")
    assert_caught(repo, "L601", EVAL_11)


def test_two_versions_superseding_one_are_a_fork(repo: Path) -> None:
    """Both stay current, so lineage, FHIR and every comparison would show two latest
    versions of one evaluation."""
    first, data = new_version(repo, EVAL_11, "1.2")
    save(repo, first, data)
    second = first.replace("1.2.json", "1.3.json")
    save(repo, second, {**data, "version": "1.3"})
    commit(repo, "Two successors of 1.1")
    for path in (first, second):
        [hit] = assert_caught(repo, "L306", path)
        assert "1.2 and" in hit["message"] and hit["pointer"] == "/supersedes/ref"
    validated = run_ledger("validate", "--format", "json", cwd=repo)
    assert {f["code"] for f in json.loads(validated.out)["findings"]} >= {"L306"}


def test_a_later_version_that_supersedes_nothing_is_caught(repo: Path) -> None:
    path, data = new_version(repo, EVAL_11, "2.0")
    del data["supersedes"]
    save(repo, path, data)
    commit(repo, "A version 2.0 out of the chain")
    assert_caught(repo, "L307", path)
    # Adding a version below the first one puts the first out of the chain too.
    lowest, data = new_version(repo, "records/evaluation/sepsis-risk-heldout/1.0.json", "0.9")
    del data["supersedes"]
    save(repo, lowest, data)
    commit(repo, "A version 0.9")
    assert_caught(repo, "L307", "records/evaluation/sepsis-risk-heldout/1.0.json")


def test_a_reformatted_version_keeps_the_commit_that_recorded_it(repo: Path) -> None:
    """Cohort 1.0's DVC file moved on with 1.1's data: the snapshot of a reformatted 1.0 is
    still checked against the DVC files of the commit that recorded it, and lineage still
    names that commit."""
    cohort_10 = "records/dataset/sepsis-cohort/1.0.json"
    recorded = git("log", "-1", "--format=%H", "--", cohort_10, cwd=repo).strip()
    data = load(repo, cohort_10)
    (repo / cohort_10).write_text(json.dumps(dict(reversed(list(data.items()))), indent=4))
    commit(repo, "Reformat cohort 1.0")
    assert verify(repo) == (0, [])
    lineage = json.loads(run_ledger("lineage", "--all-versions", "--format", "json", cwd=repo).out)
    edges = {(e["source"], e["kind"]): e["target"] for e in lineage["edges"]}
    assert edges["record:dataset:sepsis-cohort@1.0", "recorded-in"] == f"commit:{recorded}"


def test_a_committed_dvc_file_that_is_not_utf8_is_unreadable_as_in_the_working_tree(
    repo: Path,
) -> None:
    """DVC reads its files as UTF-8; git's copy is judged as the working tree's is (L404),
    not decoded with replacement characters into something that parses."""
    dvc_file = repo / "data/cohort.csv.dvc"
    dvc_file.write_bytes(dvc_file.read_bytes() + b"# caf\xe9\n")
    commit(repo, "A Latin-1 comment")
    [hit] = assert_caught(repo, "L404", COHORT_11)
    assert "not UTF-8 text" in hit["message"]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda text: text.replace("size: ", "size: 1"), "size 1"),
        (lambda text: text.replace("  hash: md5\n", ""), "no hash name"),
    ],
    ids=["size-only", "hash-name-dropped"],
)
def test_a_dvc_file_edit_that_keeps_the_md5_is_still_a_new_data_version(
    repo: Path, edit: Any, says: str
) -> None:
    dvc_file = repo / "data/test.csv.dvc"
    before = dvc_file.read_text()
    dvc_file.write_text(edit(before))
    assert dvc_file.read_text() != before
    commit(repo, "Edit the test set's DVC file, md5 kept")
    [hit] = assert_caught(repo, "L405", TEST_10)
    assert says in hit["message"]


def test_a_record_saved_with_an_upper_case_suffix_is_read_and_found_out_of_place(
    repo: Path,
) -> None:
    path, data = new_version(repo, EVAL_11, "1.2")
    shouting = path.replace(".json", ".JSON")
    save(repo, shouting, data)
    validated = run_ledger("validate", cwd=repo)
    assert validated.code == 1 and validated.out.startswith(f"{shouting}: error L201 ")
    commit(repo, "A version saved as .JSON")
    [hit] = assert_caught(repo, "L201", shouting)
    assert path in hit["message"]


def test_a_made_up_sha256_beside_a_true_md5_is_caught_when_the_data_is_there(
    repo: Path,
) -> None:
    path, data = new_version(repo, COHORT_11, "1.2")
    data["snapshot"]["sha256"] = "ab" * 32  # md5, size and file are the true ones
    save(repo, path, data)
    commit(repo, "A snapshot with a made-up SHA-256")
    assert verify(repo)[0] == 0  # git alone cannot tell: it holds no data
    [hit] = assert_caught(repo, "L407", path, "--data")
    assert hit["pointer"] == "/snapshot/sha256" and "ab" * 32 in hit["message"]


def _on_branches(repo: Path, side: Any, main: Any, branch: str = "side") -> None:
    """``side`` on a branch and ``main`` on main, each committed (empty if it changes
    nothing), then merged without a conflict: what each branch did stays in its commit."""
    for name, change, start in ((branch, side, ("checkout", "-qb", branch)), ("main", main, ())):
        git(*(start or ("checkout", "-q", "main")), cwd=repo)
        change(repo)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "--allow-empty", "-m", name, cwd=repo)
    git("merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch, cwd=repo)


def _version(number: str) -> Any:
    def write(repo: Path) -> None:
        path, data = new_version(repo, EVAL_11, number)
        save(repo, path, data)

    return write


def _nothing(repo: Path) -> None:
    pass


def test_the_version_chain_rules_hold_across_a_merge(repo: Path) -> None:
    """Two branches each add a successor of evaluation 1.1: merged, the record has two
    current versions (L306 at both); a version added on a branch without a supersedes
    link is L307 once merged."""
    _on_branches(repo, _version("1.2"), _version("1.3"))
    for number in ("1.2", "1.3"):
        assert_caught(repo, "L306", EVAL_11.replace("1.1.json", f"{number}.json"))
    lone = "records/dataset/sepsis-test/2.0.json"

    def unlinked(repo: Path) -> None:
        save(repo, lone, {**load(repo, TEST_10), "version": "2.0"})

    _on_branches(repo, unlinked, _nothing, branch="other")
    assert_caught(repo, "L307", lone)


def test_a_branch_that_reformats_a_record_merges_without_l601(repo: Path) -> None:
    _on_branches(repo, _reformat, _nothing)
    assert not [f for f in verify(repo)[1] if f["code"] in ("L601", "L403")]
    # A real edit on a branch is still caught once merged.
    _on_branches(repo, _edit_title, _nothing, branch="other")
    assert_caught(repo, "L601", EVAL_11)


def test_data_checks_hold_across_a_merge(repo: Path) -> None:
    """A size-only DVC edit on one branch (L405), a record saved as .JSON on the other
    (L201), and a made-up SHA-256 (L407 with --data), all reached through a merge."""
    shouting = EVAL_11.replace("1.1.json", "1.2.JSON")
    cohort_12, data = new_version(repo, COHORT_11, "1.2")

    def side(repo: Path) -> None:
        dvc_file = repo / "data/test.csv.dvc"
        dvc_file.write_text(dvc_file.read_text().replace("size: ", "size: 1"))
        save(repo, cohort_12, {**data, "snapshot": {**data["snapshot"], "sha256": "ab" * 32}})

    def main(repo: Path) -> None:
        save(repo, shouting, new_version(repo, EVAL_11, "1.2")[1])

    _on_branches(repo, side, main)
    assert_caught(repo, "L405", TEST_10)
    assert_caught(repo, "L201", shouting)
    assert_caught(repo, "L407", cohort_12, "--data")


def test_a_commit_with_a_time_zone_python_cannot_hold_is_read_as_git_shows_it(
    repo: Path,
) -> None:
    """git stores any four digits as a zone (``hash-object --literally`` writes +9959, which
    ``git log`` shows as +99:59); Python's time zones end at 24 hours, and reading such a
    commit crashed verify and log."""
    path, data = new_version(repo, EVAL_11, "1.2")
    save(repo, path, data)
    git("add", path, cwd=repo)
    git("commit", "-q", "-m", "Evaluate again", cwd=repo)
    body = git("cat-file", "commit", "HEAD", cwd=repo)
    odd = "\n".join(
        line.rsplit(" ", 1)[0] + " +9959" if line.startswith(("author ", "committer ")) else line
        for line in body.split("\n")
    )
    forged = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
        cwd=repo,
        input=odd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git("update-ref", "HEAD", forged, cwd=repo)
    shown = git("log", "-1", "--format=%aI", cwd=repo).strip()
    assert shown.endswith("+99:59")
    assert run_ledger("verify", cwd=repo).code == 0
    history = json.loads(run_ledger("log", path, "--format", "json", cwd=repo).out)["history"]
    assert history[-1]["commit"]["author_date"] == shown


def test_separator_bytes_in_names_and_messages_shift_no_field(repo: Path) -> None:
    """git accepts 0x1E and 0x1F (record and unit separators) in names and messages; a
    parser that split on them shifted fields, so a tampering commit passed unreported and
    0x1E crashed verify. Fields come NUL-separated or from the commit object itself."""
    odd = "Eve\x1fMal\x1elory"  # inside the name: git trims the ends
    env = {**os.environ, "GIT_AUTHOR_NAME": odd, "GIT_COMMITTER_NAME": odd}

    def commit_oddly(message: str) -> None:
        git("add", "-A", cwd=repo)
        subprocess.run(
            ["git", "commit", "-q", "-F", "-"],
            cwd=repo,
            env=env,
            input=message,
            check=True,
            text=True,
        )

    path, data = new_version(repo, EVAL_11, "1.2")
    save(repo, path, data)
    commit_oddly("Add\x1e a version\x1f\n\nLedger-Reason: because\x1e\x1f\n")
    edited = load(repo, EVAL_11)
    save(repo, EVAL_11, {**edited, "title": edited["title"] + " (quietly)"})
    commit_oddly("Tidy\x1e\x1f")
    hits = assert_caught(repo, "L601", EVAL_11)
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    assert [h["commit"] for h in hits] == [head]
    history = json.loads(run_ledger("log", path, "--format", "json", cwd=repo).out)["history"]
    (added,) = history
    assert added["commit"]["author"]["name"] == odd
    assert added["commit"]["reason"] == "because\x1e\x1f"
    report = json.loads(run_ledger("verify", "--format", "json", cwd=repo).out)
    unsigned = {f["commit"] for f in report["findings"] if f["code"] == "L801"}
    assert {head, git("rev-parse", "HEAD~1", cwd=repo).strip()} <= unsigned
