"""Stages of a model version (``ledger promote``, ``ledger status``) and what each demands.

A promotion to ``staging`` or ``production`` needs, of that exact model version:

- an evaluation of it on sequestered test data: no leakage finding (L701) between the test
  data and the data the version was trained on;
- acceptance criteria in that evaluation, every one of them met by its metrics (computed here
  from the metrics, never read from the evaluation's stated outcome);
- the sign-offs ``ledger.toml`` requires for the stage (``[signoffs.required.<stage>]``), and no
  rejection.

``retired`` needs only what the policy requires for it. A promotion is a signed entry like a
sign-off, in the same folder, and verify checks the same of it (L804, L805, L807, L808), and
that its evidence still holds (L811).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.findings import Finding, finding
from ledger.records.identity import RecordId
from ledger.signoffs.collected import SignedOff, is_promotion, is_signoff

if TYPE_CHECKING:
    from ledger.checks.consistency import Judged, Met
    from ledger.checks.tree import RecordFile
    from ledger.signoffs.entry import Promotion, SignOff
    from ledger.state.ledger_state import LedgerState


@dataclass(frozen=True)
class Evidence:
    """Whether a model version may enter a stage: the evaluation that shows it, and every
    condition that does not hold (empty: it may)."""

    evaluation: RecordFile | None
    problems: list[str]


def readiness(
    root: Path,
    state: LedgerState,
    record: RecordId,
    stage: str,
    valid: dict[RecordId, list[SignedOff]],
    *,
    before: str | None = None,
) -> Evidence:
    """What ``stage`` demands of model version ``record`` at ``state``; sign-offs count only
    when signed no later than ``before`` (a promotion's time) if given."""
    problems: list[str] = []
    evaluation = None
    if stage != "retired":
        evaluation, why = _evaluation(root, state, record)
        problems += why
    signed = _signed(valid, record, before)
    if stage != "retired":
        problems += [
            f"{record} was rejected by {s.signer.name} ({s.role}) at {s.signed_at}"
            for s in signed
            if s.meaning == "rejected"
        ]
    problems += _missing_signoffs(state, record, stage, signed)
    return Evidence(evaluation, problems)


def _evaluation(
    root: Path, state: LedgerState, record: RecordId
) -> tuple[RecordFile | None, list[str]]:
    """The latest current evaluation of ``record`` that justifies a promotion, or why none
    does (one line per condition each evaluation misses)."""
    candidates = evaluations_of(state, record)
    if not candidates:
        return None, [f"no current evaluation at this revision evaluates {record}"]
    leaks = leaking(root, state)
    contents = state.contents(candidates)
    problems: list[str] = []
    for file in reversed(candidates):
        content = contents.get(file.relpath, {})
        why = criteria_problems(state, content)
        if file.relpath in leaks:
            why.append("its test data overlaps the model's training data (L701)")
        if not why:
            return file, []
        problems += [f"{file.record_id}: {reason}" for reason in why]
    return None, problems


def _version_key(file: RecordFile) -> tuple[tuple[int, ...], int, str]:
    assert file.record_id is not None
    return file.record_id.version_key


def judge_evaluation(state: LedgerState, content: dict[str, Any]) -> list[Judged] | None:
    """Each acceptance criterion of an evaluation judged from its metrics and, for
    non-inferiority, its baseline's (the stated outcome is not read); None when the
    evaluation or its baseline is not a valid record."""
    from ledger.checks.consistency import judge
    from ledger.records.evaluation import EvaluationRecord

    baseline = content.get("baseline")
    before = None
    try:
        record = EvaluationRecord.model_validate(content)
        if isinstance(baseline, dict) and "ref" in baseline:
            folder = state.config.records_dir
            file = state.records.by_path.get(RecordId.parse(str(baseline["ref"])).relpath(folder))
            if file is not None and file.facts.valid:
                before = EvaluationRecord.model_validate(state.content(file))
    except ValueError:
        return None
    return judge(record, before)


class Verdict(NamedTuple):
    """One acceptance criterion as judged (``checks.consistency.Judged``), in plain values:
    what views show and what is kept between runs."""

    text: str
    measured: float | None
    met: bool | None
    #: For non-inferiority, the baseline's estimate it was judged against.
    against: float | None

    def requirement(self) -> str:
        return self.text


def verdicts(state: LedgerState, content: dict[str, Any]) -> list[Verdict] | None:
    """``judge_evaluation`` as plain verdicts: None when the evaluation or its baseline is
    not a valid record."""
    judged = judge_evaluation(state, content)
    if judged is None:
        return None
    return [Verdict(j.requirement(), j.measured, j.met, j.against) for j in judged]


def outcome_word(judged: Sequence[Met] | None) -> str:
    """The outcome of judged criteria (``verdicts``): pass, fail, "no criteria", "cannot be
    judged", or "" for a record that is not a valid evaluation (None): what ``ledger list``,
    ``query``, ``report`` and the lineage page show."""
    from ledger.checks.consistency import outcome_of

    if judged is None:
        return ""
    if not judged:
        return "no criteria"
    return outcome_of(judged) or "cannot be judged"


def criteria_problems(state: LedgerState, content: dict[str, Any]) -> list[str]:
    """Which acceptance criteria of an evaluation its metrics do not meet."""
    judged = judge_evaluation(state, content)
    if judged is None:
        return ["is not a valid evaluation, or its baseline is not"]
    if not judged:
        return ["states no acceptance criteria"]
    return [
        f"cannot judge the criterion {one.requirement()}"
        if one.met is None
        else f"does not meet the criterion {one.requirement()}"
        for one in judged
        if not one.met
    ]


def evaluations_of(
    state: LedgerState, record: RecordId, *, current_only: bool = True
) -> list[RecordFile]:
    """The evaluations of model version ``record`` at ``state`` (by default the current
    ones), oldest version first."""
    found = state.evaluations.get(record, [])
    if current_only:
        superseded = state.records.superseded
        found = [file for file in found if file.record_id not in superseded]
    return sorted(found, key=_version_key)


def leaking(root: Path, state: LedgerState) -> set[str]:
    """The evaluations whose test data is, or shares files with, the evaluated model's
    training data (L701), by path."""
    from ledger.checks.patterns import leakage_findings

    return {f.path for f in leakage_findings(root, state.records) if f.code == "L701"}


def promotion_findings(
    root: Path,
    state: LedgerState,
    checked: list[tuple[SignedOff, list[Finding]]],
    valid: dict[RecordId, list[SignedOff]],
) -> list[Finding]:
    """L811: a counting promotion whose evidence no longer holds, or never did: the evaluation
    it names is gone or changed, does not evaluate the version, misses a criterion or leaks,
    or the stage's sign-offs were not there when it was made."""
    promotions = [
        (one.path, one.entry)
        for one, problems in checked
        if not problems and is_promotion(one.entry)
    ]
    if not promotions:
        return []
    leaks = leaking(root, state)
    found: list[Finding] = []
    for path, entry in promotions:
        found += [
            finding("L811", path, "", f"promotion of {entry.signs.ref} to {entry.stage}: {why}")
            for why in still_justified(state, entry, valid, leaks)
        ]
    return found


def still_justified(
    state: LedgerState,
    entry: Promotion,
    valid: dict[RecordId, list[SignedOff]],
    leaks: set[str],
) -> list[str]:
    """Why a promotion's evidence does not hold at ``state`` (empty: it holds); ``leaks`` are
    the evaluations ``leaking`` finds."""
    record = entry.record_id
    # The stage's sign-offs as they stood when it was promoted: later ones justify nothing.
    problems = _missing_signoffs(
        state, record, entry.stage, _signed(valid, record, entry.signed_at)
    )
    if entry.stage == "retired":
        return problems
    named = entry.evaluation
    if named is None:
        return [*problems, "it names no evaluation"]
    folder = state.config.records_dir
    file = state.records.by_path.get(RecordId.parse(named.ref).relpath(folder))
    if file is None or file.facts.sha256 != named.sha256:
        return [*problems, f"its evaluation {named.ref} is not in the ledger with that content"]
    if not any(link.relation == "evaluates" and link.target == record for link in file.facts.links):
        problems.append(f"its evaluation {named.ref} does not evaluate {record}")
    problems += [f"{named.ref} {why}" for why in criteria_problems(state, state.content(file))]
    if file.relpath in leaks:
        problems.append(f"{named.ref}'s test data overlaps the model's training data (L701)")
    return problems


def _signed(
    valid: dict[RecordId, list[SignedOff]], record: RecordId, before: str | None
) -> list[SignOff]:
    """The counting sign-offs of ``record``, made no later than ``before`` if given."""
    return [
        one.entry
        for one in valid.get(record, [])
        if is_signoff(one.entry) and (before is None or one.entry.signed_at <= before)
    ]


def _missing_signoffs(
    state: LedgerState, record: RecordId, stage: str, signed: list[SignOff]
) -> list[str]:
    have = {(s.meaning, s.role) for s in signed}
    return [
        f"{record} has no `{meaning}` sign-off by a {role}, which ledger.toml requires for {stage}"
        for meaning, role in state.config.signoffs.missing(stage, have)
    ]
