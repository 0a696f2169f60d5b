"""Train the model and record it: the `train` stage of dvc.yaml.

Inside `dvc repro` the model record waits in .ledger/pending until DVC has written the
stage to dvc.lock; `ledger complete` then writes it with the model file's snapshot.
"""

import platform
from pathlib import Path

import yaml
from logreg import fit, read_rows, save

from ledger.tracking import track

params = yaml.safe_load(Path("params.yaml").read_text())
hyperparameters = params["model"]["hyperparameters"]
record = params["model"]["record"]
cohort = f"dataset:deterioration-cohort@{params['cohort']['record']['version']}"
documentation = yaml.safe_load(Path("documentation.yaml").read_text())["deterioration-risk"]

with track(
    "model",
    "deterioration-risk",
    **record,
    trained_on=[cohort],
    fields=documentation[record["version"]],
) as run:
    run.log_params(hyperparameters)
    run.set(
        framework={"name": "Python standard library", "version": platform.python_version()},
        training={"seeds": {"not_applicable": "gradient descent from zero weights"}},
    )
    save(fit(read_rows("data/cohort.csv"), **hyperparameters), "models/model.json")
