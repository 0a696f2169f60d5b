"""Each framework item met, partial, missing or not applicable, in one model's package.

A model version's **package** is what documents it: the model record, the datasets it was
developed on (its ``training.datasets`` links), its current evaluations and the datasets
those tested it on. An item lists the fields that hold it; each field is judged over the
records of its kind (and role) in the package:

- a value is *present* unless it is absent, null, an empty string, list or object; a value
  ``{"not_applicable": reason}`` on the way to it makes it *not applicable*, with that reason;
- a pointer segment ``*`` stands for every element of a list: all elements present is
  present, some is partial, an empty list is absent;
- a field is met when every record has it (or says why it does not apply, and one has it),
  partial when some do, missing when none does or the package has no such record.

An item is met when every field is met and its fields hold the whole item; partial when some
field is met or partial, or the fields hold only part of it (its ``gap``); missing otherwise,
and always when no record field holds it yet. An item outside a development-time ledger is
not applicable, with the framework file's reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ledger.coverage.frameworks import FieldRef, Framework, Item
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.checks.tree import RecordFile
    from ledger.state.ledger_state import LedgerState

Json = dict[str, Any]


class Status(Enum):
    MET = "met"
    PARTIAL = "partial"
    MISSING = "missing"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class FieldResult:
    field: FieldRef
    status: Status
    reason: str

    def to_json(self) -> Json:
        return {
            "kind": self.field.kind,
            "role": self.field.role,
            "pointer": self.field.pointer,
            "status": self.status.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ItemResult:
    item: Item
    status: Status
    fields: tuple[FieldResult, ...]

    @functools.cached_property
    def reason(self) -> str:
        """Why the item is not met (empty when it is); made when asked: a review compares
        thousands of packages and words only the items that moved."""
        item, status = self.item, self.status
        if item.outside is not None:
            return item.outside
        if not item.fields:
            return item.gap or "no record field holds it"
        if status is Status.NOT_APPLICABLE:
            return _joined(f.reason for f in self.fields)
        if status is Status.MET:
            return ""
        reasons = [
            f"{f.field}: {f.reason}"
            for f in self.fields
            if f.status not in (Status.MET, Status.NOT_APPLICABLE)
        ]
        if not item.full and item.gap:
            reasons.append(item.gap)
        return "; ".join(reasons)

    def to_json(self) -> Json:
        # What the item is (summary, section, whether required) is said once per report, in
        # its framework's header (``framework_json``), not once per model.
        return {
            "id": self.item.id,
            "status": self.status.value,
            "reason": self.reason,
            "fields": [f.to_json() for f in self.fields],
        }


@dataclass(frozen=True)
class FrameworkResult:
    framework: Framework
    items: tuple[ItemResult, ...]

    def count(self, status: Status) -> int:
        return sum(1 for i in self.items if i.status is status)

    @property
    def missing_required(self) -> list[ItemResult]:
        return [i for i in self.items if i.item.required and i.status is Status.MISSING]

    def to_json(self) -> Json:
        return {
            "id": self.framework.id,
            "counts": {s.value: self.count(s) for s in Status},
            "items": [i.to_json() for i in self.items],
        }


@dataclass(frozen=True)
class Package:
    """The records that document one model version, with their contents."""

    model: RecordId
    records: dict[str, tuple[RecordId, ...]]  # "model", "evaluation", "dataset:development", ...
    contents: dict[RecordId, Json]
    #: Records the package links to that are not in the ledger at the commit.
    absent: tuple[RecordId, ...] = ()
    #: What a record holds at a pointer, found once for every package that holds the record
    #: (``packages_of`` shares it): a dataset documents every model trained on it.
    judged: dict[tuple[RecordId, str], tuple[_Value, str]] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Each field's result in this package: frameworks ask for the same fields.
    results: dict[str, FieldResult] = field(default_factory=dict, compare=False, repr=False)

    def of(self, ref: FieldRef) -> tuple[RecordId, ...]:
        """The records of the package a field is asked of."""
        if ref.kind != "dataset":
            return self.records[ref.kind]
        if ref.role is not None:
            return self.records[f"dataset:{ref.role}"]
        both = (*self.records["dataset:development"], *self.records["dataset:test"])
        return tuple(dict.fromkeys(both))


@dataclass(frozen=True)
class Coverage:
    """The coverage of one model version's package by each framework asked for."""

    package: Package
    frameworks: tuple[FrameworkResult, ...]

    def to_json(self) -> Json:
        records = self.package.records
        return {
            "model": str(self.package.model),
            "package": {
                role: [str(r) for r in ids] for role, ids in records.items() if role != "model"
            },
            "not_in_ledger": [str(r) for r in self.package.absent],
            "frameworks": [f.to_json() for f in self.frameworks],
        }


def framework_json(framework: Framework) -> Json:
    """A framework as a coverage report names it: its source, and each item's summary,
    whether it is required, and the fields that hold it (or why none can)."""
    return {
        "id": framework.id,
        "title": framework.title,
        "version": framework.version,
        "citation": framework.citation,
        "url": framework.url,
        "items": [
            {
                "id": item.id,
                "section": item.section,
                "summary": item.summary,
                "required": item.required,
                "outside": item.outside,
                "covers": None if item.outside else ("full" if item.full else "partial"),
                "gap": item.gap,
            }
            for item in framework.items
        ],
    }


def packages_of(state: LedgerState, models: Sequence[RecordId]) -> list[Package]:
    """The packages of model versions ``models`` at ``state`` (which holds them), their
    records read in one batch: a dataset or an evaluation is in many packages."""
    by_path = state.records.by_path
    folder = state.config.records_dir
    groups = [members(state, model) for model in models]
    files: dict[RecordId, RecordFile] = {}
    for group in groups:
        for record in (r for ids in group.values() for r in ids):
            file = by_path.get(record.relpath(folder))
            if file is not None and file.facts.valid:
                files[record] = file
    read = state.contents(files.values())
    contents = {record: read[file.relpath] for record, file in files.items()}
    packages = []
    judged: dict[tuple[RecordId, str], tuple[_Value, str]] = {}
    for model, group in zip(models, groups, strict=True):
        held = {r for ids in group.values() for r in ids}
        absent = tuple(sorted((r for r in held if r not in contents), key=str))
        read_here = {r: contents[r] for r in held - set(absent)}
        packages.append(Package(model, group, read_here, absent, judged))
    return packages


def members(state: LedgerState, model: RecordId) -> dict[str, tuple[RecordId, ...]]:
    """The identities in model version ``model``'s package, by role (its records unread)."""
    from ledger.signoffs.stages import evaluations_of

    evaluations = evaluations_of(state, model)
    model_file = state.records.by_path[model.relpath(state.config.records_dir)]
    return {
        "model": (model,),
        "evaluation": tuple(f.facts.claimed for f in evaluations if f.facts.claimed),
        "dataset:development": _linked([model_file], "trained-on"),
        "dataset:test": _linked(evaluations, "evaluated-on"),
    }


def _linked(files: Iterable[RecordFile], relation: str) -> tuple[RecordId, ...]:
    """The targets of the files' links of ``relation``, each once, in order."""
    return tuple(
        dict.fromkeys(
            link.target for file in files for link in file.facts.links if link.relation == relation
        )
    )


def assess(package: Package, frameworks: Sequence[Framework]) -> Coverage:
    return Coverage(
        package,
        tuple(
            FrameworkResult(f, tuple(assess_item(package, item) for item in f.items))
            for f in frameworks
        ),
    )


def assess_item(package: Package, item: Item) -> ItemResult:
    if item.outside is not None:
        return ItemResult(item, Status.NOT_APPLICABLE, ())
    if not item.fields:
        return ItemResult(item, Status.MISSING, ())
    fields = tuple([_assess_field(package, f) for f in item.fields])
    # By identity: an item is judged for every model of a ledger, and hashing enum members
    # runs in Python.
    met = applicable = lacking = some = False
    for result in fields:
        state = result.status
        if state is Status.MET:
            met = applicable = True
        elif state is not Status.NOT_APPLICABLE:
            applicable = lacking = True
            some = some or state is Status.PARTIAL
    if not applicable:
        status = Status.NOT_APPLICABLE
    elif not lacking:
        status = Status.MET if item.full else Status.PARTIAL
    elif met or some:
        status = Status.PARTIAL
    else:
        status = Status.MISSING
    return ItemResult(item, status, fields)


# --- one field -------------------------------------------------------------------------------


class _Value(Enum):
    PRESENT = "present"
    PARTIAL = "partial"
    ABSENT = "absent"
    NOT_APPLICABLE = "not applicable"


def _assess_field(package: Package, ref: FieldRef) -> FieldResult:
    result = package.results.get(ref.key)
    if result is None:
        result = package.results[ref.key] = _field_result(package, ref)
    return result


def _field_result(package: Package, ref: FieldRef) -> FieldResult:
    records = package.of(ref)
    if not records:
        role = f" {ref.role}" if ref.role else ""
        return FieldResult(ref, Status.MISSING, f"the package has no{role} {ref.kind}")
    present = 0
    partial: list[str] = []
    absent: list[str] = []
    reasons: list[str] = []
    for record in records:
        content = package.contents.get(record)
        if content is None:
            absent.append(f"{record} (not in the ledger)")
            continue
        key = (record, ref.pointer)
        judged = package.judged.get(key)
        if judged is None:
            judged = package.judged[key] = _judge(content, ref.segments)
        value, why = judged
        if value is _Value.PRESENT:
            present += 1
        elif value is _Value.PARTIAL:
            partial.append(f"{record} (in part)")
        elif value is _Value.ABSENT:
            absent.append(str(record))
        else:
            reasons.append(f"{record}: {why}")
    if reasons and not (present or partial or absent):
        return FieldResult(ref, Status.NOT_APPLICABLE, _joined(reasons))
    if not (partial or absent):
        return FieldResult(ref, Status.MET, "")
    status = Status.PARTIAL if present or partial or reasons else Status.MISSING
    return FieldResult(ref, status, "not in " + ", ".join([*partial, *absent]))


def _judge(content: Json, segments: Sequence[str]) -> tuple[_Value, str]:
    """The state of the value at ``segments`` in ``content``, and the not-applicable reason."""
    leaves: list[tuple[_Value, str]] = []
    _leaves(content, segments, leaves)
    if len(leaves) == 1:  # a pointer without ``*``: the one value's state is the answer
        return leaves[0]
    if not leaves:
        return _Value.ABSENT, ""
    states = [state for state, _ in leaves]
    reasons = [why for state, why in leaves if state is _Value.NOT_APPLICABLE]
    if all(s is _Value.NOT_APPLICABLE for s in states):
        return _Value.NOT_APPLICABLE, _joined(reasons)
    if all(s is not _Value.ABSENT for s in states):
        return _Value.PRESENT, ""
    if any(s is not _Value.ABSENT for s in states):
        return _Value.PARTIAL, ""
    return _Value.ABSENT, ""


def _leaves(value: Any, segments: Sequence[str], found: list[tuple[_Value, str]]) -> None:
    """The state of each value the pointer reaches, added to ``found`` (nothing: an empty
    list on the way). Plain segments are walked in a loop and a ``*`` fans out, without a
    generator: most pointers name one value, and a review judges them for every record its
    change touches."""
    for at, segment in enumerate(segments):
        reason = _not_applicable(value)
        if reason is not None:
            found.append((_Value.NOT_APPLICABLE, reason))
            return
        if segment == "*" and isinstance(value, list):
            for element in value:
                _leaves(element, segments[at + 1 :], found)
            return
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            found.append((_Value.ABSENT, ""))
            return
    reason = _not_applicable(value)
    if reason is not None:
        found.append((_Value.NOT_APPLICABLE, reason))
    else:
        found.append((_Value.ABSENT if _empty(value) else _Value.PRESENT, ""))


def _not_applicable(value: Any) -> str | None:
    if type(value) is dict and "not_applicable" in value:  # JSON objects are plain dicts
        reason = value["not_applicable"]
        return reason if isinstance(reason, str) else None
    return None


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, dict)) and not value


def _joined(reasons: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(r for r in reasons if r))
