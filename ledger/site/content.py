"""What the report shows of each model, gathered from the state once: versions and who
recorded them, evaluations with metrics and criteria judged from the metrics, plot data, and
the history of records, sign-offs and promotions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.query.columns import kept_verdicts
from ledger.records.identity import RecordId
from ledger.signoffs.stages import evaluations_of, outcome_word
from ledger.views.signoffs import signoffs_of
from ledger.views.status import model_status

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.git.commits import Commit
    from ledger.signoffs.stages import Verdict
    from ledger.state.ledger_state import LedgerState
    from ledger.views.status import StageRow

Json = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One line of a model's history: who did what, when, and why."""

    when: str
    who: str
    what: str
    why: str
    commit: str


@dataclass(frozen=True)
class Criterion:
    requirement: str
    measured: float | None
    met: bool | None


@dataclass(frozen=True)
class Evaluated:
    """A current evaluation of a model version, judged from its metrics."""

    record: RecordId
    title: str
    test_data: list[str]
    outcome: str
    criteria: list[Criterion]
    #: (name, value, lower, upper) overall; subgroups in ``forest``.
    metrics: list[tuple[str, float, float | None, float | None]]
    forest: list[Json]


@dataclass
class ModelPage:
    name: str
    title: str
    current: RecordId
    stage: str
    promoted: str
    versions: list[RecordId]
    evaluated: list[Evaluated] = field(default_factory=list)
    trend: list[Json] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)


def model_pages(root: Path, state: LedgerState) -> list[ModelPage]:
    """A page's worth for every model name with a current version, by name."""
    stages = {row.model: row for row in model_status(root, state).rows}
    # Judged in one pass (kept by blob): a page shows its current evaluations' criteria.
    evaluated = [f for f in state.records.current() if f.facts.kind == "evaluation"]
    judged = kept_verdicts(state, evaluated)
    pages = []
    for (kind, name), versions in sorted(state.records.versions.items()):
        if kind != "model":
            continue
        files = [f for _, f in versions if f.facts.valid and f.record_id is not None]
        current = [f for f in files if f.record_id not in state.records.superseded]
        if not current:
            continue
        head = max(current, key=lambda f: _key(f))
        assert head.record_id is not None
        page = ModelPage(
            name,
            head.facts.title,
            head.record_id,
            *_stage(stages.get(head.record_id)),
            [f.record_id for f in sorted(files, key=_key) if f.record_id is not None],
        )
        _evaluations(state, page, files, judged)
        page.history = _history(state, files)
        pages.append(page)
    return pages


def _key(file: RecordFile) -> tuple[tuple[int, ...], int, str]:
    assert file.record_id is not None
    return file.record_id.version_key


def _stage(row: StageRow | None) -> tuple[str, str]:
    if row is None:
        return "development", ""
    stage = row.stage + (" (disputed)" if row.disputed else "")
    p = row.promotion
    return stage, f"by {p.signer.name} at {p.signed_at}: {p.reason}" if p else ""


def _evaluations(
    state: LedgerState,
    page: ModelPage,
    models: Sequence[RecordFile],
    judged: Mapping[str, list[Verdict] | None],
) -> None:
    """The trend over every version's evaluations; criteria and forest plots for the current
    version's current evaluations."""
    by_version = {
        f.record_id: _latest_evaluations(state, f.record_id) for f in models if f.record_id
    }
    contents = state.contents(f for found in by_version.values() for f in found)
    current = {f.record_id for f in evaluations_of(state, page.current)}
    for version, found in by_version.items():
        for file in found:
            content = contents.get(file.relpath)
            if content is None or file.record_id is None:
                continue
            metrics = _metrics(content.get("metrics"))
            page.trend += [
                {"version": version.version, "evaluation": file.record_id.name, "metric": m}
                | {"value": v, "lower": lo, "upper": hi, "record": str(file.record_id)}
                for m, v, lo, hi in metrics
            ]
            if file.record_id in current:
                page.evaluated.append(_evaluated(file, content, metrics, judged.get(file.blob)))


def _latest_evaluations(state: LedgerState, model: RecordId) -> list[RecordFile]:
    """The evaluations of one model version, without those a later evaluation of the same
    version supersedes (a corrected result). An evaluation superseded by one of a newer model
    version is still this version's result, and stays in the trend."""
    found = evaluations_of(state, model, current_only=False)
    replaced = {
        link.target for file in found for link in file.facts.links if link.relation == "supersedes"
    }
    return [file for file in found if file.record_id not in replaced]


def _evaluated(
    file: RecordFile,
    content: Json,
    metrics: list[tuple[str, float, float | None, float | None]],
    found: list[Verdict] | None,
) -> Evaluated:
    assert file.record_id is not None
    overall = {name: value for name, value, _, _ in metrics}
    forest = [
        {"metric": m, "group": "overall", "value": v, "lower": lo, "upper": hi, "overall": v}
        for m, v, lo, hi in metrics
    ]
    for group in content.get("subgroup_metrics") or []:
        if not isinstance(group, Mapping):
            continue
        label = f"{group.get('attribute')} = {group.get('group')}"
        forest += [
            {"metric": m, "group": label, "value": v, "lower": lo, "upper": hi, "overall": o}
            for m, v, lo, hi in _metrics(group.get("metrics"))
            for o in [overall.get(m)]
        ]
    return Evaluated(
        file.record_id,
        file.facts.title,
        [str(d.get("ref")) for d in content.get("datasets") or [] if isinstance(d, Mapping)],
        outcome_word(found),
        [Criterion(one.text, one.measured, one.met) for one in found or []],
        metrics,
        forest,
    )


def _metrics(listed: object) -> list[tuple[str, float, float | None, float | None]]:
    """(name, value, lower, upper) of each metric with a numeric value."""
    found = []
    for metric in listed if isinstance(listed, list) else []:
        if not isinstance(metric, Mapping) or not isinstance(metric.get("value"), int | float):
            continue
        ci = metric.get("ci")
        ci = ci if isinstance(ci, Mapping) else {}
        lower, upper = ci.get("lower"), ci.get("upper")
        bounds = (
            (lower, upper)
            if isinstance(lower, int | float) and isinstance(upper, int | float)
            else (None, None)
        )
        found.append((str(metric.get("name")), float(metric["value"]), *bounds))
    return found


def _history(state: LedgerState, models: Sequence[RecordFile]) -> list[Event]:
    """Each version of the model and of its evaluations as recorded, and each sign-off and
    promotion of them: oldest first."""
    events = []
    recorded = [*models]
    for file in models:
        if file.record_id is not None:
            recorded += evaluations_of(state, file.record_id, current_only=False)
    for file in recorded:
        commit = state.introduced(file)
        if commit is None or file.record_id is None:
            continue
        why = _supersedes_reason(file) or commit.reason or commit.subject
        events.append(_event(commit, f"recorded {file.record_id}", why))
    for file in recorded:
        if file.record_id is None:
            continue
        for one in signoffs_of(state, file.record_id):
            entry = one.entry
            why = getattr(entry, "reason", None) or getattr(entry, "comment", None) or ""
            status = "" if one.counts else " (does not count: " + "; ".join(one.problems) + ")"
            events.append(
                Event(
                    entry.signed_at,
                    f"{entry.signer.name} <{entry.signer.email}>",
                    f"{entry.summary()}{status}",
                    str(why),
                    one.commit.sha if one.commit else "",
                )
            )
    return sorted(events, key=lambda e: (e.when, e.what))


def _supersedes_reason(file: RecordFile) -> str:
    for link in file.facts.links:
        if link.relation == "supersedes" and link.reason:
            change = f" ({link.change_type})" if link.change_type else ""
            return f"{link.reason}{change}"
    return ""


def _event(commit: Commit, what: str, why: str) -> Event:
    who = f"{commit.author.name} <{commit.author.email}>"
    return Event(commit.author_date, who, what, why, commit.sha)
