"""What verify checks of acceptance criteria across records and history (L704-L706).

- **Pre-specified** (L704). An evaluation that says its criteria were pre-specified, or names
  the planned change it verifies (``setup.modification``), must state exactly the criteria a
  record committed before it states: the planned change of that id in the evaluated model or
  a version it supersedes, or else the evaluated model's ``evaluation_criteria``. A model that
  names a planned change it implements (``supersedes.pccp_modification_id``) needs a version
  it supersedes to plan it.
- **Impact assessment** (L705). An evaluation of a model version that supersedes another,
  compared with an evaluation of the previous version on the same test data, needs an
  ``impact_assessment`` when a metric, overall or in a subgroup, moved beyond its interval:
  either estimate outside the other's interval.
- **Non-inferiority** (L706). An evaluation with a non-inferiority criterion names a
  baseline, and its stated outcome is what its metrics give against the baseline's.

They are part of the findings kept per commit; from a kept ancestor they are found again over
all current evaluations (as cycles are), since each reads records several links away.

Only current evaluations are checked: a defect is fixed by a new version that supersedes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.findings import Finding, finding
from ledger.records.canonical import canonical_bytes
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.git.commits import Commit
    from ledger.records.evaluation import EvaluationRecord, Metric
    from ledger.state.ledger_state import LedgerState

Json = dict[str, Any]


CODES = ("L704", "L705", "L706")


Remember = Callable[[str, Callable[[], list[Finding]]], list[Finding]]


def criteria_findings(state: LedgerState, remember: Remember | None = None) -> list[Finding]:
    """L704-L706 at ``state``. ``remember`` (the state's memo of checks on immutable inputs)
    keeps each evaluation's and each model's findings by a key naming every record file they
    read and the commits that recorded them, so a later commit reads only what changed."""
    evaluations = [f for f in state.records.current() if f.facts.kind == "evaluation"]
    models = [f for f in state.records.current() if f.facts.kind == "model" and f.facts.supersedes]
    read = _Read(state)
    checks: list[tuple[str, Callable[[], list[Finding]], list[RecordFile]]] = []
    for file in evaluations:
        model = _linked(state, file, "evaluates")
        chain = list(_chain(state, model)) if model is not None else []
        previous = _previous_evaluations(state, file, chain)
        baseline = _linked(state, file, "compared-with")
        inputs = [file, *chain, *previous, *([baseline] if baseline else [])]
        checks.append(
            (
                _key("evaluation", state, inputs),
                functools.partial(_evaluation_findings, state, read, file, previous),
                inputs,
            )
        )
    for file in models:
        earlier = _linked(state, file, "supersedes")
        versions = list(_chain(state, earlier)) if earlier is not None else []
        inputs = [file, *versions]
        implemented = functools.partial(_implemented, read, file, versions)
        checks.append((_key("model", state, inputs), implemented, inputs))
    # Read at once what the checks not remembered will read.
    known = getattr(remember, "known", {})
    read.prefetch([f for key, _, inputs in checks if key not in known for f in inputs])
    found: list[Finding] = []
    for key, check, _ in checks:
        found += remember(key, check) if remember is not None else check()
    return found


def _key(what: str, state: LedgerState, inputs: list[RecordFile]) -> str:
    """Names every input of a check: each file read (its path, so that the kept findings of
    a file a later commit checks again are replaced, and its blob) and the commit that
    recorded it (whose order, in a linear history or by time, decides "committed before")."""
    parts = [f"criteria-{what}", inputs[0].relpath, str(state.history.linear)]
    for file in inputs:
        commit = state.introduced(file)
        parts += [file.relpath, file.blob, commit.sha if commit else "-"]
    return "\0".join(parts)


def _evaluation_findings(
    state: LedgerState, read: _Read, file: RecordFile, previous: list[RecordFile]
) -> list[Finding]:
    content = read(file)
    return [
        *_prespecified(state, read, file, content),
        *_impact(state, read, previous, file, content),
        *_against_baseline(state, read, file, content),
    ]


def _previous_evaluations(
    state: LedgerState, file: RecordFile, chain: list[RecordFile]
) -> list[RecordFile]:
    """The evaluations of the version the evaluated model supersedes, on test data this
    evaluation shares: what its metrics are compared with (L705)."""
    if len(chain) < 2 or chain[1].record_id is None:
        return []
    ours = {link.ref for link in file.facts.links if link.relation == "evaluated-on"}
    return [
        other
        for other in state.evaluations.get(chain[1].record_id, [])
        if ours & {link.ref for link in other.facts.links if link.relation == "evaluated-on"}
    ]


class _Read:
    """Record contents read once each (the same model is read for each of its evaluations)."""

    def __init__(self, state: LedgerState) -> None:
        self.state, self.held = state, dict[str, Json]()

    def prefetch(self, files: list[RecordFile]) -> None:
        wanted: Iterable[RecordFile] = (f for f in files if f.relpath not in self.held)
        self.held.update(self.state.contents(wanted))

    def __call__(self, file: RecordFile) -> Json:
        if file.relpath not in self.held:
            self.prefetch([file])
        return self.held.get(file.relpath, {})


# --- L704 ------------------------------------------------------------------------------------


def _prespecified(
    state: LedgerState, read: _Read, file: RecordFile, content: Json
) -> list[Finding]:
    setup = content.get("setup") or {}
    modification = setup.get("modification")
    if not setup.get("prespecified") and modification is None:
        return []
    model = _linked(state, file, "evaluates")
    if model is None:
        return []  # a dangling link is L301's to report
    # Every version of the evaluated model's chain that states criteria where the evaluation
    # says they were fixed: one of them committed earlier with the same criteria suffices.
    sources = [
        (version, stated)
        for version in _chain(state, model)
        if (stated := _fixed(read(version), modification)) is not None
    ]
    if modification is not None:
        what = f"the planned change {modification!r}"
        if not sources:
            why = f"names {what}, which {model.record_id} and the versions it supersedes do "
            why += "not plan with criteria as data"
            return [finding("L704", file.relpath, "/setup/modification", why)]
    else:
        what = "the evaluation_criteria"
        if not sources:
            why = (
                f"says its criteria were pre-specified, but {model.record_id} and the versions "
                "it supersedes state no evaluation_criteria, and the evaluation names no "
                "planned change (setup.modification); state where they were fixed, or set "
                "prespecified to false"
            )
            return [finding("L704", file.relpath, "/setup/prespecified", why)]
    ours = _canonical(setup.get("acceptance_criteria"))
    same = [version for version, stated in sources if _canonical(stated) == ours]
    if not same:
        newest = sources[0][0].record_id
        return [
            finding(
                "L704",
                file.relpath,
                "/setup/acceptance_criteria",
                f"differs from {what} of {newest}, which it says fixed them",
            )
        ]
    if not any(_committed_before(state, version, file) for version in same):
        return [
            finding(
                "L704",
                file.relpath,
                "/setup/acceptance_criteria",
                f"was committed no later than {what} of {same[-1].record_id}: criteria fixed "
                "in the same or a later commit were not pre-specified",
            )
        ]
    return []


def _fixed(model: Json, modification: str | None) -> list[Any] | None:
    """The criteria a model version fixes for its evaluations: those of the planned change
    ``modification``, or else its ``evaluation_criteria`` (None: it fixes none)."""
    if modification is None:
        stated = model.get("evaluation_criteria")
        return stated if isinstance(stated, list) and stated else None
    for change in model.get("planned_changes") or []:
        if isinstance(change, dict) and change.get("id") == modification:
            criteria = change.get("criteria")
            return criteria if isinstance(criteria, list) and criteria else None
    return None


def _implemented(read: _Read, file: RecordFile, versions: list[RecordFile]) -> list[Finding]:
    """A model naming the planned change it implements needs one of the ``versions`` it
    supersedes to plan it."""
    modification = (read(file).get("supersedes") or {}).get("pccp_modification_id")
    if modification is None:
        return []
    if any(
        isinstance(c, dict) and c.get("id") == modification
        for version in versions
        for c in read(version).get("planned_changes") or []
    ):
        return []
    return [
        finding(
            "L704",
            file.relpath,
            "/supersedes/pccp_modification_id",
            f"implements {modification!r}, which no version it supersedes plans",
        )
    ]


def _chain(state: LedgerState, model: RecordFile) -> Iterator[RecordFile]:
    """``model`` and the versions it supersedes, newest first."""
    seen: set[str] = set()
    current: RecordFile | None = model
    while current is not None and current.relpath not in seen:
        seen.add(current.relpath)
        yield current
        current = _linked(state, current, "supersedes")


def _committed_before(state: LedgerState, earlier: RecordFile, later: RecordFile) -> bool:
    """Whether ``earlier``'s content was committed in an earlier commit than ``later``'s: by
    their order in a linear history, else by committer time."""
    first, second = state.introduced(earlier), state.introduced(later)
    if first is None or second is None or first.sha == second.sha:
        return False
    if state.history.linear:
        order = state.history.order
        return order[first.sha] < order[second.sha]
    return _when(first) < _when(second)


def _when(commit: Commit) -> datetime:
    return datetime.fromisoformat(commit.committer_date)


def _canonical(value: object) -> bytes:
    return canonical_bytes(value) if value is not None else b""


# --- L705 ------------------------------------------------------------------------------------


def _impact(
    state: LedgerState, read: _Read, candidates: list[RecordFile], file: RecordFile, content: Json
) -> list[Finding]:
    model = _linked(state, file, "evaluates")
    previous = _linked(state, model, "supersedes")
    if not candidates or model is None or previous is None or content.get("impact_assessment"):
        return []
    baseline = (content.get("baseline") or {}).get("ref")
    chosen = next((c for c in candidates if str(c.record_id) == baseline), None)
    chosen = chosen or max(candidates, key=lambda c: _version(c.record_id))
    moved = list(_moved(_record(content), _record(read(chosen))))
    if not moved:
        return []
    shown = ", ".join(moved[:4]) + (f" and {len(moved) - 4} more" if len(moved) > 4 else "")
    return [
        finding(
            "L705",
            file.relpath,
            "/impact_assessment",
            f"{model.record_id} supersedes {previous.record_id}, and against "
            f"{chosen.record_id} {shown} moved beyond the interval: an impact_assessment "
            "(what changed, benefit and risk, subgroup effects) is required",
        )
    ]


def _moved(now: EvaluationRecord, before: EvaluationRecord) -> Iterator[str]:
    """The metrics, overall and by subgroup, where either estimate lies outside the other's
    interval."""
    from ledger.checks.consistency import metric_of
    from ledger.records.common import SubgroupRef

    places: list[tuple[str, SubgroupRef | None]] = [(m.name, None) for m in now.metrics]
    if isinstance(now.subgroup_metrics, list):
        for group in now.subgroup_metrics:
            ref = SubgroupRef(attribute=group.attribute, group=group.group)
            places += [(m.name, ref) for m in group.metrics]
    for name, subgroup in places:
        a, b = metric_of(before, name, subgroup), metric_of(now, name, subgroup)
        if a is None or b is None:
            continue
        if _outside(b.value, a) or _outside(a.value, b):
            where = f" ({subgroup.attribute} {subgroup.group})" if subgroup else ""
            yield f"{name}{where} {a.value:.3f} to {b.value:.3f}"


def _outside(value: float, metric: Metric) -> bool:
    ci = metric.ci
    lower, upper = getattr(ci, "lower", None), getattr(ci, "upper", None)
    return lower is not None and upper is not None and not lower <= value <= upper


# --- non-inferiority --------------------------------------------------------------------------


def _against_baseline(
    state: LedgerState, read: _Read, file: RecordFile, content: Json
) -> list[Finding]:
    # The typed model is read only for the few evaluations with such a criterion.
    criteria = (content.get("setup") or {}).get("acceptance_criteria")
    if not isinstance(criteria, list) or not any(
        isinstance(c, dict) and "margin" in c for c in criteria
    ):
        return []
    from ledger.checks.consistency import judge, outcome_of

    record = _record(content)
    baseline = _linked(state, file, "compared-with")
    if baseline is None:
        return [
            finding(
                "L706",
                file.relpath,
                "/baseline",
                "a non-inferiority criterion is judged against the baseline evaluation, "
                "and this evaluation names none",
            )
        ]
    expected = outcome_of(judge(record, _record(read(baseline))))
    stated = record.setup.outcome
    if expected is None or stated in ("not-assessed", expected):
        return []
    return [
        finding(
            "L706",
            file.relpath,
            "/setup/outcome",
            f"outcome says {stated!r}, but the metrics against the acceptance criteria and "
            f"{baseline.record_id} give {expected!r}",
        )
    ]


# --- pieces ----------------------------------------------------------------------------------


def _linked(state: LedgerState, file: RecordFile | None, relation: str) -> RecordFile | None:
    if file is None:
        return None
    for link in file.facts.links:
        if link.relation == relation:
            target = state.records.by_path.get(link.target.relpath(state.config.records_dir))
            if target is not None and target.facts.valid:
                return target
    return None


def _record(content: Json) -> EvaluationRecord:
    from ledger.records.evaluation import EvaluationRecord

    return EvaluationRecord.model_validate(content)


def _version(record: RecordId | None) -> tuple[tuple[int, ...], int, str]:
    return record.version_key if record is not None else ((), 0, "")
