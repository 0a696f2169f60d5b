"""Recording from training and evaluation code: ``track`` opens a record, the code logs what it
knows into it, and the record is written when the block ends.

Everything that can be refused is refused when it is given, not after hours of training: the
version must be new, the linked records must resolve (their hashes are pinned at entry), and
every value logged is checked against the record's schema and the PHI patterns at once (a
field that is still missing is the only thing allowed until the end). When the block ends
without an exception the record gets the full check of ``ledger new`` and is written
atomically. When it raises, or the full check fails, nothing is written: what was collected is
saved as a draft that ``ledger new --from`` accepts, and the error says where.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ParamSpec, TypeVar

from ledger.api import Ledger
from ledger.checks.phi import scan_phi
from ledger.checks.schema import schema_findings
from ledger.errors import InvalidRecordsError, LedgerError, RecordExistsError, UsageError
from ledger.findings import SORT_KEY
from ledger.kinds import spec
from ledger.measure.binary import BinaryEvaluation
from ledger.records.drafts import apply_options, merge_fields
from ledger.records.identity import KINDS, RecordId
from ledger.records.pending import Pending, pending_refs, running_stage
from ledger.records.serialize import dumps_record, place_inside, write_atomic
from ledger.tracking.environment import Environment, capture

P = ParamSpec("P")
R = TypeVar("R")

#: Where a block's draft is saved when nothing could be recorded, under the repository root.
DRAFTS = ".ledger/drafts"
_MISSING = "L102"  # a required field not given yet: allowed until the block ends
#: The kinds whose record states the run's period (``started``, ``ended``).
_RUNS = frozenset({"model", "evaluation"})


def _now() -> str:
    """The wall clock in UTC, to the second, as the records write it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PendingRecordWarning(UserWarning):
    """A record made inside a DVC stage waits for ``ledger complete``."""


class Run:
    """The record being collected in a ``track`` block. Each call checks what it adds."""

    def __init__(
        self, record_id: RecordId, fields: dict[str, Any], environment: Environment | None
    ) -> None:
        self.id = record_id
        self.fields = fields
        #: What a model's record states of the software that trained it (None for the others).
        self.environment = environment
        #: Metrics left out by the evaluation helpers, and why; written to ``limitations``.
        self.notes: list[str] = []

    @property
    def ref(self) -> str:
        return str(self.id)

    def set(self, **fields: Any) -> None:
        """Set top-level record fields (``title=...``, ``intended_use={...}``)."""
        self.update(fields)

    def update(self, fields: Mapping[str, Any]) -> None:
        """Merge fields into the record: objects key by key, any other value replaced."""
        merged = merge_fields(self.fields, fields)
        check_partial(self.id, merged)
        self.fields = merged

    def log_params(self, params: Mapping[str, Any]) -> None:
        """A model's hyperparameters (merged with those logged before)."""
        self._require("model", "log_params")
        known = self.fields.get("hyperparameters")
        self.update({"hyperparameters": {**(known if isinstance(known, dict) else {}), **params}})

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_evaluation(self, evaluation: BinaryEvaluation) -> None:
        """An evaluation's metrics and subgroup metrics, from ``ledger.measure.binary``."""
        self._require("evaluation", "log_evaluation")
        self.update(evaluation.fields())
        self.notes += evaluation.notes

    def log_metric(
        self,
        name: str,
        value: float,
        *,
        n: int,
        definition: str,
        events: int | None = None,
        ci: Mapping[str, Any] | None = None,
        threshold: float | None = None,
    ) -> None:
        """One metric computed elsewhere; without ``ci`` its interval is stated as not given."""
        self._require("evaluation", "log_metric")
        metric: dict[str, Any] = {
            "name": name,
            "value": value,
            "ci": dict(ci) if ci is not None else {"not_applicable": "no interval was computed"},
            "n": n,
            "definition": definition,
        }
        if events is not None:
            metric["events"] = events
        if threshold is not None:
            metric["threshold"] = threshold
        known = self.fields.get("metrics")
        self.update({"metrics": [*(known if isinstance(known, list) else []), metric]})

    def log_cohort(self, cohort: Mapping[str, Any]) -> None:
        """A dataset's cohort block, from ``ledger.measure.cohort``."""
        self._require("dataset", "log_cohort")
        self.update({"cohort": dict(cohort)})

    def _require(self, kind: str, method: str) -> None:
        if self.id.kind != kind:
            raise UsageError(f"{method} is for {kind} records; {self.ref} is a {self.id.kind}")


def check_partial(record_id: RecordId, fields: Mapping[str, Any]) -> None:
    """Refuse what is wrong with the fields so far: anything but a field not given yet."""
    where = str(record_id)
    record = {**_identity(record_id), **fields}
    found = [f for f in schema_findings(record_id.kind, record, where) if f.code != _MISSING]
    found += scan_phi(dict(fields), where)
    if found:
        raise InvalidRecordsError(sorted(set(found), key=SORT_KEY))


class track:  # lower case: it reads as a function, ``with track(...)`` or ``@track(...)``
    """Open the record KIND NAME@VERSION for a block of code, or for each call of a function.

    ``fields`` are its documentation fields; ``trained_on``, ``evaluates``, ``tested_on`` and
    ``supersedes`` (with ``reason`` and ``change_type``) its links, by REF; ``snapshot``
    (with ``stage`` and ``output``) the DVC file its data or artifact is pinned to, read when
    the record is written. A model records its software environment on its own
    (``training.environment``, ``dependencies``, and ``framework`` given by distribution name)
    and the script that ran (``training.code``), unless the fields give them; a model or an
    evaluation its run's period, ``started`` when the block is entered and ``ended`` when it
    ends without an exception (the clock, in UTC, to the second), unless the fields set them.
    Inside a DVC stage, the snapshot defaults to the stage's entry in dvc.lock, and the record
    waits in ``.ledger/pending`` for ``ledger complete`` (``ledger.records.pending``).
    """

    def __init__(
        self,
        kind: str,
        name: str,
        version: str,
        *,
        fields: Mapping[str, Any] | None = None,
        trained_on: tuple[str, ...] | list[str] = (),
        evaluates: str | None = None,
        tested_on: tuple[str, ...] | list[str] = (),
        supersedes: str | None = None,
        reason: str | None = None,
        change_type: str | None = None,
        snapshot: str | None = None,
        stage: str | None = None,
        output: str | None = None,
        framework: str | None = None,
        root: Path | str = ".",
        draft: Path | str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        self.id = RecordId.parse(f"{kind}:{name}@{version}")
        if framework is not None and kind != "model":
            raise UsageError(f"framework is for model records; {self.id} is a {kind}")
        self._fields = dict(fields or {})
        self._links = functools.partial(
            apply_options,
            kind=kind,
            trained_on=tuple(trained_on),
            evaluates=evaluates,
            tested_on=tuple(tested_on),
            supersedes=supersedes,
            reason=reason,
            change_type=change_type,
        )
        # Inside a DVC stage, what the stage makes is pinned to dvc.lock once the stage is
        # over: the record waits for it (``ledger.records.pending``).
        self._stage = running_stage()
        if snapshot is None and stage is None and self._stage and spec(kind).snapshots:
            snapshot, stage = self._stage
        self._made_here = self._stage is not None and (snapshot, stage) == self._stage
        #: Records this one links to that wait in ``.ledger/pending`` (made by earlier stages
        #: of the same ``dvc repro``): their hashes come when ``ledger complete`` writes them.
        self._waiting_on: set[str] = set()
        self._snapshot = {"snapshot": snapshot, "stage": stage, "output": output}
        self._framework = framework
        self._root = root
        self._draft = draft
        self._open: list[tuple[Ledger, Run]] = []

    # --- context manager and decorator ------------------------------------------------------

    def __enter__(self) -> Run:
        book = Ledger.open(self._root)
        try:
            run = self._start(book)
        except BaseException:
            book.close()
            raise
        self._open.append((book, run))
        return run

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        book, run = self._open.pop()
        try:
            if exc is not None:
                saved = self._save_draft(book, run)
                exc.add_note(f"ledger: nothing was recorded for {run.ref}; {saved}")
                return
            self._finish(book, run)
        finally:
            book.close()

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """As a decorator: each call of ``func`` is one block; ``func`` gets the ``Run`` as
        its ``run`` argument when it has one."""
        wants_run = "run" in inspect.signature(func).parameters

        @functools.wraps(func)
        def tracked(*args: P.args, **kwargs: P.kwargs) -> R:
            with self as run:
                if wants_run:
                    kwargs["run"] = run
                return func(*args, **kwargs)

        return tracked

    # --- the parts --------------------------------------------------------------------------

    def _start(self, book: Ledger) -> Run:
        relpath = self.id.relpath(book.config.records_dir)
        target = book.root / relpath
        if target.exists() or target.is_symlink() or relpath in book.committed_records():
            raise RecordExistsError(
                f"{relpath}: {self.id} already exists and versions are immutable; "
                "track a new version (and let it supersede this one)"
            )
        fields = self._links(self._fields)
        environment = None
        if self.id.kind == "model":  # the one kind whose record states its environment
            environment = capture(book.repository, book.config.records_dir)
            fields = merge_fields(_model_environment(book, environment, self._framework), fields)
        if self.id.kind in _RUNS and "started" not in fields:
            # In the fields from the start, so that a draft saved after a failure says when
            # the run began (with no end: it never ended as a run that could be recorded).
            fields = {**fields, "started": _now()}
        if self._stage is not None:
            named = {str(link.get("ref")) for _, _, link in spec(self.id.kind).link_sites(fields)}
            self._waiting_on = named & pending_refs(book.root, book.config.limits)
        problems = book.pin_links(fields, self.id, self._waiting_on)
        if problems:
            raise InvalidRecordsError(problems)
        check_partial(self.id, fields)
        return Run(self.id, fields, environment)

    @property
    def _pending(self) -> bool:
        return self._made_here or bool(self._waiting_on)

    def _finish(self, book: Ledger, run: Run) -> None:
        if self.id.kind in _RUNS and "ended" not in run.fields:
            run.fields = {**run.fields, "ended": _now()}
        fields = run.fields
        if run.notes:
            fields = {**fields, "limitations": _with_notes(fields.get("limitations"), run.notes)}
        shown = _shown(book, self._draft_path(book))
        if self._pending:
            self._keep_pending(book, run, fields, shown)
            return
        try:
            book.new_record(
                self.id.kind,
                self.id.name,
                self.id.version,
                fields,
                **self._snapshot,
                source=shown,  # the findings name the draft to fix
            )
        except LedgerError as error:
            error.add_note(f"ledger: {self._save_draft(book, run)}")
            raise
        self._draft_path(book).unlink(missing_ok=True)  # an earlier attempt's, now recorded

    def _keep_pending(self, book: Ledger, run: Run, fields: dict[str, Any], shown: str) -> None:
        """Check all but the snapshot and the links to pending records, and keep the record
        until ``ledger complete``."""
        record_id = self.id
        try:
            book.check_new_record(
                record_id.kind,
                record_id.name,
                record_id.version,
                fields,
                source=shown,
                pending=True,
                waiting_on=self._waiting_on,
            )
        except LedgerError as error:
            error.add_note(f"ledger: {self._save_draft(book, run)}")
            raise
        dvc_file, stage = self._snapshot["snapshot"], self._snapshot["stage"]
        waiting = Pending(
            record_id.kind,
            record_id.name,
            record_id.version,
            fields,
            dvc_file if self._made_here else None,
            stage if self._made_here else None,
            self._snapshot["output"] if self._made_here else None,
        )
        path = waiting.save(book.root)
        self._draft_path(book).unlink(missing_ok=True)
        reasons = [f"DVC writes stage {stage!r} to {dvc_file}"] if self._made_here else []
        reasons += [f"{ref} is written" for ref in sorted(self._waiting_on)]
        warnings.warn(
            f"{record_id} waits in {book.relpath(path)} until {' and '.join(reasons)}; "
            "run `ledger complete` after `dvc repro`",
            PendingRecordWarning,
            stacklevel=4,
        )

    def _draft_path(self, book: Ledger) -> Path:
        if self._draft is not None:
            return Path(self._draft).absolute()
        kind, name, version = self.id.kind, self.id.name, self.id.version
        return place_inside(book.root, f"{DRAFTS}/{kind}-{name}-{version}.json")

    def _save_draft(self, book: Ledger, run: Run) -> str:
        """Save what the block collected; say where and how to finish it."""
        path = self._draft_path(book)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, dumps_record(copy.deepcopy(run.fields)), overwrite=True)
        except (OSError, LedgerError) as exc:
            return f"the draft could not be saved at {path} ({exc})"
        shown = _shown(book, path)
        snapshot = "".join(
            f" --{option} {value}" for option, value in self._snapshot.items() if value
        )
        return (
            f"what was collected is saved in {shown}; complete it and run "
            f"`ledger new {self.id.kind} {self.id.name} --version {self.id.version} "
            f"--from {shown}{snapshot}`"
        )


def _shown(book: Ledger, path: Path) -> str:
    """A draft's path as the user reads it: from the repository root when it lies inside."""
    try:
        return book.relpath(path)
    except UsageError:
        return str(path)


def _identity(record_id: RecordId) -> dict[str, Any]:
    return {
        "kind": record_id.kind,
        "schema_version": 1,
        "name": record_id.name,
        "version": record_id.version,
    }


def _with_notes(limitations: Any, notes: list[str]) -> Any:
    if limitations is None:
        return list(notes)
    if isinstance(limitations, list):
        return [*limitations, *(n for n in notes if n not in limitations)]
    return limitations  # a statement that none apply stays the author's word


def _model_environment(
    book: Ledger, environment: Environment, framework: str | None
) -> dict[str, Any]:
    """What a model record can say of its environment without being told."""
    found: dict[str, Any] = {
        "dependencies": environment.dependencies() or {"not_applicable": "no libraries imported"},
        "training": {"environment": {"description": environment.description()}},
    }
    script = _script(book.root)
    if script is not None:
        found["training"]["code"] = {"path": script}
    if framework is not None:
        found["framework"] = environment.package(framework)
    return found


def _script(root: Path) -> str | None:
    """The running script, relative to the repository, if it lies inside it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return None
    try:
        return PurePosixPath(Path(path).resolve().relative_to(root.resolve())).as_posix()
    except ValueError:
        return None
