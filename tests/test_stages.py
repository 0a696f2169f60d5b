"""ledger promote and ledger status, and verify's check of promotions (L811), with real keys.

In the demo, Jonas authored the models and Priya the evaluations; evaluation
sepsis-risk-heldout@1.1 evaluates model sepsis-risk@1.1 on the held-out test set and meets its
criteria (AUROC lower bound >= 0.75, sensitivity >= 0.6).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEDGER, git, supersede_evaluation
from tests.signers import Signing, commit_by_hand, make_signing, run_as

MODEL_11 = "model:sepsis-risk@1.1"
EVALUATION_11 = "records/evaluation/sepsis-risk-heldout/1.1.json"
PRODUCTION = '\n[signoffs.required.production]\napproved = ["clinical-lead", "quality"]\n'


@pytest.fixture
def signing(repo: Path, tmp_path: Path) -> Signing:
    return make_signing(repo, tmp_path)


def _policy(repo: Path, text: str) -> None:
    with (repo / "ledger.toml").open("a") as toml:
        toml.write(text)


def _promote(signing: Signing, *args: str) -> Any:
    return run_as(signing.jonas, signing.repo, "promote", *args)


def _status(signing: Signing) -> dict[str, dict[str, Any]]:
    done = run_as(signing.priya, signing.repo, "status", "--format", "json")
    assert done.code == 0, done.err
    return {row["model"]: row for row in json.loads(done.out)["models"]}


def _verify(repo: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [LEDGER, "verify", "--format", "json"], cwd=repo, capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def _approve(signing: Signing) -> None:
    for who, role in ((signing.priya, "clinical-lead"), (signing.quinn, "quality")):
        done = run_as(who, signing.repo, "sign", MODEL_11, "--meaning", "approved", "--role", role)
        assert done.code == 0, done.err


def test_a_promotion_needs_the_stages_sign_offs_then_shows_in_status(signing: Signing) -> None:
    repo = signing.repo
    _policy(repo, PRODUCTION)
    assert _status(signing)[MODEL_11]["stage"] == "development"
    refused = _promote(signing, MODEL_11, "--stage", "production", "--reason", "Go live")
    assert refused.code == 1
    assert refused.err.splitlines() == [
        f"ledger: cannot promote {MODEL_11} to production: {MODEL_11} has no `approved` "
        f"sign-off by a {role}, which ledger.toml requires for production"
        if at == 0
        else f"cannot promote {MODEL_11} to production: {MODEL_11} has no `approved` "
        f"sign-off by a {role}, which ledger.toml requires for production"
        for at, role in enumerate(("clinical-lead", "quality"))
    ]
    assert git("status", "--porcelain", "--untracked-files=all", cwd=repo) == " M ledger.toml\n"
    _approve(signing)
    done = _promote(signing, MODEL_11, "--stage", "production", "--reason", "Go live on ward 4")
    assert done.code == 0, done.err
    assert "-promoted-production.json" in done.out
    row = _status(signing)[MODEL_11]
    assert row["stage"] == "production" and row["reason"] == "Go live on ward 4"
    assert row["promoted_by"]["name"] == "Jonas Lindqvist"  # an author may promote his model
    assert row["evaluation"] == "evaluation:sepsis-risk-heldout@1.1"
    assert "production (by Jonas Lindqvist" in run_as(signing.priya, repo, "status").out
    code, findings = _verify(repo)
    assert code == 0 and not [f for f in findings if f["code"] in ("L805", "L811")]
    shown = run_as(signing.priya, repo, "show", MODEL_11).out
    assert "promoted to production by Jonas Lindqvist" in shown


def test_a_version_whose_evaluation_misses_a_criterion_is_not_promoted(
    signing: Signing, tmp_path: Path
) -> None:
    def stricter(draft: dict[str, Any]) -> None:
        draft["setup"]["acceptance_criteria"][0]["threshold"] = 0.99
        draft["setup"]["outcome"] = "fail"

    supersede_evaluation(signing.repo, tmp_path, stricter, "Stricter bound")
    refused = _promote(signing, MODEL_11, "--stage", "staging", "--reason", "Shadow mode")
    assert refused.code == 1
    assert (
        "evaluation:sepsis-risk-heldout@1.2: does not meet the criterion auroc (ci-lower) >= 0.99"
        in refused.err
    )


def test_a_version_tested_on_its_training_data_is_not_promoted(signing: Signing) -> None:
    repo = signing.repo
    record = json.loads((repo / EVALUATION_11).read_text())
    model = json.loads((repo / "records/model/sepsis-risk/1.1.json").read_text())
    (training,) = model["training"]["datasets"]
    record["datasets"][0].update(ref=training["ref"], sha256=training["sha256"])
    (repo / EVALUATION_11).write_text(json.dumps(record, indent=2))  # a tampered evaluation
    git("commit", "-qam", "Evaluate on the training cohort", cwd=repo)
    refused = _promote(signing, MODEL_11, "--stage", "staging", "--reason", "Shadow mode")
    assert refused.code == 1 and "overlaps the model's training data (L701)" in refused.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("model:sepsis-risk@1.0", "--stage", "staging"), "superseded by model:sepsis-risk@1.1"),
        (("dataset:sepsis-test@1.0", "--stage", "staging"), "only model versions are promoted"),
        ((MODEL_11, "--stage", "canary"), "'canary' is not one of"),
        ((MODEL_11, "--stage", "staging", "--reason", "  "), "--reason must say why"),
    ],
)
def test_a_promotion_that_cannot_be_is_a_usage_error(
    signing: Signing, args: tuple[str, ...], says: str
) -> None:
    reason = () if "--reason" in args else ("--reason", "because")
    done = _promote(signing, *args, *reason)
    assert done.code == 2 and says in done.err, done.err


def test_a_rejected_version_is_not_promoted_but_an_old_one_may_retire(signing: Signing) -> None:
    repo = signing.repo
    rejected = run_as(
        signing.quinn, repo, "sign", MODEL_11, "--meaning", "rejected", "--role", "quality"
    )
    assert rejected.code == 0
    refused = _promote(signing, MODEL_11, "--stage", "staging", "--reason", "Shadow mode")
    assert refused.code == 1 and "was rejected by Quinn Ode (quality)" in refused.err
    retired = _promote(signing, "model:sepsis-risk@1.0", "--stage", "retired", "--reason", "Old")
    assert retired.code == 0, retired.err
    assert _status(signing)["model:sepsis-risk@1.0"]["stage"] == "retired"


def _promotion(signing: Signing, evaluation: str, **changes: object) -> dict[str, object]:
    repo = signing.repo
    shown = json.loads(run_as(signing.jonas, repo, "show", MODEL_11, "--format", "json").out)
    evidence = json.loads(run_as(signing.jonas, repo, "show", evaluation, "--format", "json").out)
    key = signing.jonas.fingerprint
    entry: dict[str, object] = {
        "promotion_version": 1,
        "signs": {"ref": MODEL_11, "sha256": shown["sha256"]},
        "stage": "production",
        "reason": "by hand",
        "signer": {"name": "Jonas Lindqvist", "email": "jonas.lindqvist@example.org", "key": key},
        "signed_at": "2026-06-01T10:00:00Z",
        "evaluation": {"ref": evaluation, "sha256": evidence["sha256"]},
    }
    entry.update(changes)
    return entry


PROMOTION = "signoffs/model/sepsis-risk/1.1/20260601T100000Z-promoted-production.json"


def test_a_hand_made_promotion_without_the_sign_offs_is_l811(signing: Signing) -> None:
    repo = signing.repo
    _policy(repo, PRODUCTION)
    entry = _promotion(signing, "evaluation:sepsis-risk-heldout@1.1")
    commit_by_hand(signing, signing.jonas, entry, PROMOTION)
    code, findings = _verify(repo)
    l811 = [f for f in findings if f["code"] == "L811"]
    assert code == 1 and {f["path"] for f in l811} == {PROMOTION} and len(l811) == 2
    # Approvals given after the promotion do not justify it.
    _approve(signing)
    code, findings = _verify(repo)
    assert code == 1 and len([f for f in findings if f["code"] == "L811"]) == 2


@pytest.mark.parametrize(
    ("evaluation", "says"),
    [
        ("evaluation:sepsis-risk-heldout@1.0", "does not evaluate model:sepsis-risk@1.1"),
        ("evaluation:sepsis-risk-heldout@9.9", "is not in the ledger with that content"),
    ],
)
def test_a_hand_made_promotion_on_other_evidence_is_l811(
    signing: Signing, evaluation: str, says: str
) -> None:
    entry = _promotion(signing, "evaluation:sepsis-risk-heldout@1.0")
    entry["evaluation"] = {**entry["evaluation"], "ref": evaluation}  # type: ignore[dict-item]
    commit_by_hand(signing, signing.jonas, entry, PROMOTION)
    code, findings = _verify(signing.repo)
    (l811,) = [f for f in findings if f["code"] == "L811"]
    assert code == 1 and says in l811["message"]
    row = _status(signing)[MODEL_11]
    assert row["stage"] == "production" and any(says in why for why in row["disputed"])


def test_a_promotion_made_on_a_branch_counts_after_the_merge(signing: Signing) -> None:
    repo = signing.repo
    git("checkout", "-qb", "release", cwd=repo)
    done = _promote(signing, MODEL_11, "--stage", "staging", "--reason", "Shadow mode")
    assert done.code == 0, done.err
    git("checkout", "-q", "-", cwd=repo)
    (repo / "notes.txt").write_text("main moves on\n")
    git("add", "notes.txt", cwd=repo)
    git("commit", "-qm", "Main moves on", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "Merge release", "release", cwd=repo)
    assert _status(signing)[MODEL_11]["stage"] == "staging"
    code, findings = _verify(repo)
    assert code == 0 and not [f for f in findings if f["code"] in ("L805", "L811")]


def test_the_report_shows_the_stage_and_the_sign_offs_in_the_history(
    signing: Signing, tmp_path: Path
) -> None:
    repo = signing.repo
    _approve(signing)
    done = _promote(signing, MODEL_11, "--stage", "staging", "--reason", "Silent trial, ward 4")
    assert done.code == 0, done.err
    out = tmp_path / "report"
    assert run_as(signing.priya, repo, "report", "-o", str(out)).code == 0
    index = (out / "index.html").read_text()
    assert "<td>1.1</td><td>staging</td>" in index
    page = (out / "models/sepsis-risk.html").read_text()
    assert "by Jonas Lindqvist at " in page and "Silent trial, ward 4" in page
    history = page[page.index("<h2>History</h2>") :]
    assert history.count("approved") >= 2 and "promoted" in history
