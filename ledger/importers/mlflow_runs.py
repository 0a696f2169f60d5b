"""MLflow runs read into plain facts, through ``MlflowClient`` only (never by parsing ``mlruns/``).

Only local stores are read: a file store (a folder such as HealthChain's ``mlruns``) or an SQLite
database. Either must already exist: MLflow's client would silently create an empty store where
a mistyped path points, and an import from nothing must be an error, not an empty success.
mlflow is an optional dependency, imported here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ledger.errors import UsageError

INSTALL = "install it with `pip install 'healthcare-ai-ledger[mlflow]'`"
_FINISHED = "FINISHED"


@dataclass(frozen=True)
class DatasetInput:
    """One ``log_input`` of a run: MLflow's dataset fields and the context it was used in."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str | None
    rows: int | None


@dataclass(frozen=True)
class LoggedModel:
    model_id: str
    name: str
    model_type: str | None


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str


@dataclass(frozen=True)
class MlflowRun:
    """What ledger reads of one run. Times are RFC 3339 UTC; params are MLflow's strings."""

    run_id: str
    run_name: str
    experiment_id: str
    experiment_name: str
    status: str
    user: str | None
    start: str | None
    end: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    inputs: list[DatasetInput]
    #: Models this run logged, and models logged elsewhere that it used (e.g. evaluated).
    logged_models: list[LoggedModel]
    used_models: list[LoggedModel]
    registered: list[RegisteredVersion] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status == _FINISHED


def store_uri(uri: str | None, cwd: Path) -> str:
    """The tracking URI to read: ``uri`` as given, else MLFLOW_TRACKING_URI, else the store
    MLflow itself would use by default (``mlflow.db``) or HealthChain's (``mlruns``), whichever
    exists. Refused when it names no existing local store."""
    given = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if given is None:
        for default in ("mlflow.db", "mlruns"):
            if (cwd / default).exists():
                given = f"sqlite:///{cwd / default}" if default.endswith(".db") else default
                break
        else:
            raise UsageError(
                "no MLflow store given and neither mlflow.db nor mlruns is here; "
                "name one with --tracking-uri (e.g. sqlite:///mlflow.db or ./mlruns)"
            )
    parsed = urlparse(given)
    if parsed.scheme == "sqlite":
        path = Path(unquote(given.removeprefix("sqlite:///"))).expanduser()
        database = path if path.is_absolute() else cwd / path
        if not database.is_file():
            raise UsageError(f"{given}: no such MLflow database; check --tracking-uri")
        return f"sqlite:///{database}"
    if parsed.scheme in ("", "file"):
        folder = Path(unquote(parsed.path if parsed.scheme else given)).expanduser()
        folder = folder if folder.is_absolute() else cwd / folder
        if not folder.is_dir():
            raise UsageError(f"{given}: no such MLflow store folder; check --tracking-uri")
        return folder.as_uri()
    raise UsageError(
        f"{given}: only local MLflow stores are read (a folder or sqlite:///FILE); "
        "ledger never reaches a server"
    )


@contextlib.contextmanager
def _quiet(uri: str) -> Iterator[Any]:
    """An MlflowClient on ``uri``, with MLflow's own warnings and log lines kept out of
    ledger's output. A file store is only opened when MLFLOW_ALLOW_FILE_STORE is set, and naming
    one with --tracking-uri is the user's consent to reading it."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UsageError(f"reading MLflow stores needs mlflow; {INSTALL}") from None
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield MlflowClient(tracking_uri=uri)
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def read_runs(uri: str, experiment: str | None, run_ids: Sequence[str]) -> list[MlflowRun]:
    """The runs named (``run_ids``), else every active run of ``experiment``, else of every
    experiment; oldest first."""
    with _quiet(uri) as client:
        from mlflow.exceptions import MlflowException

        try:
            experiments = {e.experiment_id: e for e in client.search_experiments()}
            if experiment is not None:
                chosen = [e for e in experiments.values() if e.name == experiment]
                if not chosen:
                    names = ", ".join(sorted(e.name for e in experiments.values())) or "none"
                    raise UsageError(
                        f"{uri}: no MLflow experiment {experiment!r} (there are: {names})"
                    )
            else:
                chosen = list(experiments.values())
            if run_ids:
                runs = [_get_run(client, uri, run_id) for run_id in dict.fromkeys(run_ids)]
                wanted = {e.experiment_id for e in chosen}
                for run in runs:
                    if run.info.experiment_id not in wanted:
                        raise UsageError(
                            f"{uri}: run {run.info.run_id} is not in experiment {experiment!r}"
                        )
            else:
                # A search leaves out the models a run used; reading each run gives them.
                found = _all_runs(client, [e.experiment_id for e in chosen])
                runs = [client.get_run(r.info.run_id) for r in found]
            return [_facts(client, run, experiments) for run in runs]
        except MlflowException as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UsageError(f"{uri}: MLflow cannot read the store: {first}") from None


def _get_run(client: Any, uri: str, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise UsageError(
            f"{uri}: no MLflow run {run_id!r}; list runs with `mlflow runs list`"
        ) from None


def _all_runs(client: Any, experiment_ids: list[str]) -> list[Any]:
    if not experiment_ids:
        return []
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            experiment_ids, order_by=["attributes.start_time ASC"], page_token=token
        )
        runs += page
        token = page.token
        if not token:
            return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def _facts(client: Any, run: Any, experiments: dict[str, Any]) -> MlflowRun:
    info, data = run.info, run.data
    experiment = experiments.get(info.experiment_id)
    logged = _logged_models(client, run)
    # A metric logged with ``model_id`` makes that model an input of the run, even one logged
    # by another run (e.g. the model an evaluation run measured).
    used_ids = [m.model_id for m in (run.inputs.model_inputs or []) if m.model_id]
    used = [_model(client.get_logged_model(model_id)) for model_id in dict.fromkeys(used_ids)]
    registered = [
        RegisteredVersion(v.name, str(v.version))
        for v in client.search_model_versions(f"run_id = '{info.run_id}'")
    ]
    return MlflowRun(
        run_id=info.run_id,
        run_name=info.run_name or "",
        experiment_id=info.experiment_id,
        experiment_name=experiment.name if experiment is not None else "",
        status="DELETED" if info.lifecycle_stage == "deleted" else info.status,
        user=info.user_id or data.tags.get("mlflow.user"),
        start=_time(info.start_time),
        end=_time(info.end_time),
        params=dict(data.params),
        metrics=dict(data.metrics),
        tags=dict(data.tags),
        inputs=[_dataset_input(i) for i in run.inputs.dataset_inputs or []],
        logged_models=logged,
        used_models=[m for m in used if m.model_id not in {x.model_id for x in logged}],
        registered=sorted(registered, key=lambda v: (v.name, int(v.version))),
    )


def _logged_models(client: Any, run: Any) -> list[LoggedModel]:
    found = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    outputs = [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])]
    models = {m.model_id: _model(m) for m in found}
    for model_id in outputs:
        if model_id not in models:
            models[model_id] = _model(client.get_logged_model(model_id))
    return sorted(models.values(), key=lambda m: m.model_id)


def _model(model: Any) -> LoggedModel:
    return LoggedModel(model.model_id, model.name, model.model_type or None)


def _dataset_input(entry: Any) -> DatasetInput:
    dataset = entry.dataset
    context = next((t.value for t in entry.tags if t.key == "mlflow.data.context"), None)
    rows = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        rows = int(json.loads(dataset.profile or "{}").get("num_rows"))
    return DatasetInput(
        name=dataset.name,
        digest=dataset.digest,
        source_type=dataset.source_type,
        source=dataset.source,
        context=context,
        rows=rows,
    )


def _time(millis: int | None) -> str | None:
    if not millis:
        return None
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
