"""MLflow runs mapped to ledger records: what a run knows fills the record, what it does not
is left for a person to write. Nothing is guessed: a dataset input that matches no dataset
record, or several, stays an empty link with a note saying what MLflow logged.

A run that logged a model becomes a model record; a run with metrics becomes an evaluation
record (of the model it logged, or of the logged model it used), unless it logged a model and
used no test data, whose metrics are the training run's own. HealthChain's context, logged as
``healthchain.*`` params and tags, fills the fields of the same meaning.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ledger.dvc.files import DvcFileError, find_output, is_safe_relative
from ledger.dvc.snapshots import COMPARED, data_version, dvc_outputs
from ledger.importers.known import KnownRecords
from ledger.importers.mlflow_runs import DatasetInput, LoggedModel, MlflowRun
from ledger.records.identity import Kind, RecordId, is_name, is_version
from ledger.trees import FileSource

HEALTHCHAIN = "healthchain."
#: MLflow's dataset contexts are free text; these are the ones whose meaning is plain.
TRAINING_ROLES = {
    "training": "training",
    "train": "training",
    "validation": "validation",
    "val": "validation",
    "tuning": "tuning",
    "calibration": "calibration",
}
TEST_ROLES = {
    "test": "test",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
    "holdout": "test",
    "external-validation": "external-validation",
    "temporal-validation": "temporal-validation",
    "monitoring": "monitoring",
}


@dataclass
class Planned:
    """One record an MLflow run maps to: its identity where MLflow names it, its fields, and
    notes for the person who finishes it."""

    kind: Kind
    name: str | None
    version: str | None
    fields: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def healthchain(run: MlflowRun, key: str) -> str | None:
    """A HealthChain context value, logged as a param (and some also as tags)."""
    value = run.params.get(HEALTHCHAIN + key) or run.tags.get(HEALTHCHAIN + key)
    return value.strip() if value and value.strip() else None


def plan_run(run: MlflowRun, known: KnownRecords, at_commit: FileSource | None) -> list[Planned]:
    """The records ``run`` maps to (none when it logged neither a model nor a metric)."""
    matcher = _Matcher(known, at_commit)
    training = [i for i in run.inputs if (i.context or "").lower() in TRAINING_ROLES]
    testing = [i for i in run.inputs if (i.context or "").lower() in TEST_ROLES]
    unclear = [i for i in run.inputs if i not in training and i not in testing]
    planned = [_model(run, model, training, matcher) for model in run.logged_models]
    metrics_are_training = bool(run.logged_models) and not testing
    if run.metrics and not metrics_are_training:
        planned.append(_evaluation(run, planned, testing, matcher))
    elif run.metrics:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(run.metrics.items()))
        for plan in planned:
            plan.notes.append(
                f"The run also logged metrics ({shown}) but no test data: they describe "
                "training, so no evaluation was drafted."
            )
    for plan in planned:
        plan.notes += _unplaced_context(run, plan.kind)
        plan.notes += [
            f"MLflow dataset input {_describe(i)} has context {i.context or '(none)'!r}, "
            "which does not say whether it is training or test data: link it by hand."
            for i in unclear
        ]
    return planned


def _unplaced_context(run: MlflowRun, kind: str) -> list[str]:
    """Notes on the HealthChain context that has no field in a ``kind`` record: most of it
    describes the data, whose record is a dataset's."""
    placed = _PLACED[kind]
    keys = sorted({k for k in (*run.params, *run.tags) if k.startswith(HEALTHCHAIN)})
    return [
        f"HealthChain's {key} ({healthchain(run, key.removeprefix(HEALTHCHAIN))!r}) has no "
        f"place in a {kind} record; a dataset record's fields may hold it."
        for key in keys
        if key.removeprefix(HEALTHCHAIN) not in placed
        and healthchain(run, key.removeprefix(HEALTHCHAIN)) is not None
    ]


_SHARED = {"organization", "purpose", "regulatory_tags", "model_id", "model_version", "version"}
_PLACED = {
    "model": _SHARED,
    "evaluation": _SHARED | {"patient_cohort", "patient_age_range", "patient_sample_size"},
}


def _common(run: MlflowRun) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    note = run.tags.get("mlflow.note.content")
    if note and note.strip():
        fields["description"] = note.strip()
    if organization := healthchain(run, "organization"):
        fields["organization"] = organization
    if purpose := healthchain(run, "purpose"):
        fields["purpose"] = purpose
    if tags := _split(healthchain(run, "regulatory_tags")):
        fields["regulatory_tags"] = tags
    fields["external_refs"] = [
        {"system": "mlflow", "kind": "experiment_id", "id": run.experiment_id},
        {"system": "mlflow", "kind": "run_id", "id": run.run_id},
    ]
    # A run still going has no end time: its record states when it started only.
    for key, moment in (("started", run.start), ("ended", run.end if run.start else None)):
        if moment:
            fields[key] = _to_the_second(moment)
    return fields


def _to_the_second(moment: str) -> str:
    """MLflow's millisecond time as records write times: to the second, cut down, so that an
    end never moves before its start."""
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_extension(run: MlflowRun) -> dict[str, Any]:
    """What MLflow's system tags say of the run: kept under ``extensions`` as it was logged."""
    facts = {
        "experiment": run.experiment_name,
        "run_name": run.run_name,
        "user": run.user,
        "start_time": run.start,
        "end_time": run.end,
        "source": run.tags.get("mlflow.source.name"),
        "git_commit": run.tags.get("mlflow.source.git.commit"),
        "git_branch": run.tags.get("mlflow.source.git.branch"),
        "git_repo_url": run.tags.get("mlflow.source.git.repoURL"),
    }
    return {key: value for key, value in facts.items() if value}


def _model(
    run: MlflowRun, model: LoggedModel, training: list[DatasetInput], matcher: _Matcher
) -> Planned:
    fields = _common(run)
    fields["external_refs"].append(
        {"system": "mlflow", "kind": "logged_model_id", "id": model.model_id}
    )
    fields["external_refs"] += [
        {"system": "mlflow", "kind": "registered_model_version", "id": f"{v.name}/{v.version}"}
        for v in run.registered
    ]
    fields["extensions"] = {"mlflow.org/run": run_extension(run)}
    notes: list[str] = []
    if model.model_type:
        fields["model_type"] = model.model_type
    hyperparameters = {k: v for k, v in run.params.items() if not k.startswith(HEALTHCHAIN)}
    if hyperparameters:
        fields["hyperparameters"] = dict(sorted(hyperparameters.items()))
        notes.append(
            "Hyperparameters are MLflow's params, kept as the text MLflow stored: "
            "MLflow does not keep their types."
        )
    links = [matcher.link(i, TRAINING_ROLES[(i.context or "").lower()], notes) for i in training]
    code = _code_path(run, matcher.known.root, notes)
    training_fields: dict[str, Any] = {}
    if links:
        training_fields["datasets"] = links
    if code is not None:
        training_fields["code"] = {"path": code}
    if training_fields:
        fields["training"] = training_fields
    notes.append(
        "MLflow keeps the model in its artifact store, which carries no hash: put the model "
        "file under DVC (`dvc add`, or a dvc.yaml stage) and name it with --snapshot."
    )
    name = healthchain(run, "model_id") or next((v.name for v in run.registered), model.name)
    version = healthchain(run, "model_version") or healthchain(run, "version")
    return _identified(Planned("model", None, None, fields, notes), name, version)


def _evaluation(
    run: MlflowRun, planned: list[Planned], testing: list[DatasetInput], matcher: _Matcher
) -> Planned:
    fields = _common(run)
    fields["extensions"] = {"mlflow.org/run": run_extension(run)}
    notes: list[str] = []
    model_ref = _evaluated_model(run, planned, matcher.known, notes)
    if model_ref is not None:
        fields["model"] = {"ref": model_ref}
    links = [matcher.link(i, TEST_ROLES[(i.context or "").lower()], notes) for i in testing]
    if links:
        fields["datasets"] = links
    metrics = []
    for name, value in sorted(run.metrics.items()):
        if math.isfinite(value):
            metrics.append({"name": name, "value": value})
        else:
            notes.append(f"MLflow holds {value} for metric {name!r}; it is not carried over.")
    if metrics:
        fields["metrics"] = metrics
        notes.append(
            "Each metric is MLflow's latest value; MLflow keeps no n, events, interval or "
            "definition, so those are left for you (ledger.measure computes them from labels "
            "and scores)."
        )
    population = _population(run, testing, notes)
    if population:
        fields["test_population"] = population
    return Planned("evaluation", None, None, fields, notes)


def _evaluated_model(
    run: MlflowRun, planned: list[Planned], known: KnownRecords, notes: list[str]
) -> str | None:
    if len(planned) == 1:
        model = planned[0]
        if model.name and model.version:
            return str(RecordId("model", model.name, model.version))
        notes.append("The model this run logged has no ledger name and version yet.")
        return None
    if len(planned) > 1:
        notes.append("The run logged several models: say which one was evaluated.")
        return None
    for used in run.used_models:
        found = known.by_external("logged_model_id", used.model_id)
        if len(found) == 1:
            return str(found[0])
        notes.append(
            f"The run used MLflow model {used.model_id} ({used.name}), which "
            + ("no model record names" if not found else "several model records name")
            + ": link the model evaluated by hand."
        )
    if not run.used_models:
        notes.append("MLflow does not say which model was evaluated: link it by hand.")
    return None


def _population(run: MlflowRun, testing: list[DatasetInput], notes: list[str]) -> dict[str, Any]:
    population: dict[str, Any] = {}
    cohort, ages = healthchain(run, "patient_cohort"), healthchain(run, "patient_age_range")
    if cohort:
        population["description"] = cohort + (f", aged {ages}" if ages else "")
    size = healthchain(run, "patient_sample_size")
    rows = [i.rows for i in testing if i.rows is not None]
    if size is not None and size.isdigit():
        population["size"] = int(size)
        if len(rows) == 1 and rows[0] != int(size):
            notes.append(
                f"HealthChain's patient_sample_size ({size}) and the rows of the test data "
                f"MLflow logged ({rows[0]}) differ; the sample size was kept."
            )
    elif len(testing) == 1 and len(rows) == 1:
        population["size"] = rows[0]
    return population


def _identified(plan: Planned, name: str | None, version: str | None) -> Planned:
    if name is not None and not is_name(name):
        plan.notes.append(f"MLflow names the model {name!r}, which is not a valid record name.")
        name = None
    if version is not None and not is_version(version):
        plan.notes.append(f"MLflow gives version {version!r}, which is not a valid version.")
        version = None
    plan.name, plan.version = name, version
    return plan


def _code_path(run: MlflowRun, root: Path, notes: list[str]) -> str | None:
    source = run.tags.get("mlflow.source.name")
    if not source or run.tags.get("mlflow.source.type", "LOCAL") != "LOCAL":
        return None
    path = Path(source)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            notes.append(f"The run's code {source} is outside this repository.")
            return None
    relative = posixpath.normpath(path.as_posix())
    if not is_safe_relative(relative) or not (root / relative).is_file():
        notes.append(f"The run's code {source} is not a file of this repository.")
        return None
    return relative


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _describe(entry: DatasetInput) -> str:
    return f"{entry.name!r} (digest {entry.digest}, source {entry.source})"


class _Matcher:
    """Links MLflow dataset inputs to dataset records, by DVC snapshot or by digest."""

    def __init__(self, known: KnownRecords, at_commit: FileSource | None) -> None:
        self.known, self.at_commit = known, at_commit
        self._outputs: dict[tuple[str, str | None], Any] = {}

    def link(self, entry: DatasetInput, role: str, notes: list[str]) -> dict[str, Any]:
        found = self.by_digest(entry.digest) | self.by_snapshot(entry)
        if len(found) == 1:
            return {"ref": str(next(iter(found))), "role": role}
        if found:
            named = ", ".join(sorted(str(r) for r in found))
            notes.append(f"MLflow dataset input {_describe(entry)} matches {named}: pick one.")
        else:
            notes.append(
                f"MLflow dataset input {_describe(entry)} matches no dataset record: record "
                "the data (`ledger draft dataset`), then name it here."
            )
        return {"role": role}

    def by_digest(self, digest: str) -> set[RecordId]:
        """MLflow's own digest (8 hex digits of a hash of sampled rows) matches nothing; one
        given as ``digest=`` the data's DVC md5 or ledger's SHA-256 does."""
        wanted = digest.strip().lower()
        return {
            record
            for record, snap in self.known.datasets
            if wanted in (snap.get("md5", "").removesuffix(".dir"), snap.get("sha256"))
        }

    def by_snapshot(self, entry: DatasetInput) -> set[RecordId]:
        """The dataset records whose DVC output, at the commit the run's code was at, is the
        file the run read: the same path, the same data."""
        path = _local_path(entry.source, self.known.root)
        view = self.at_commit
        if path is None or view is None:
            return set()
        found = set()
        for record, snap in self.known.datasets:
            output = self._output(view, snap, path)
            if output is not None and data_version(output) == tuple(snap.get(n) for n in COMPARED):
                found.add(record)
        return found

    def _output(self, view: FileSource, snap: Mapping[str, Any], path: str) -> Any:
        key = (str(snap.get("dvc_file")), snap.get("stage"))
        if key not in self._outputs:
            try:
                self._outputs[key] = dvc_outputs(view, *key) or []
            except DvcFileError:
                self._outputs[key] = []
        return find_output(self._outputs[key], path)


def _local_path(source: str, root: Path) -> str | None:
    """The repository-relative path of a local dataset source, if it is one."""
    try:
        described = json.loads(source)
    except ValueError:
        return None
    uri = described.get("uri") or described.get("path") if isinstance(described, dict) else None
    if not isinstance(uri, str):
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path) if parsed.scheme else uri)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            return None
    relative = posixpath.normpath(path.as_posix())
    return relative if is_safe_relative(relative) else None
