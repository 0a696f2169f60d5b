"""Evaluate the model on the held-out test set and record it: the `evaluate` stage.

An evaluation has no DVC snapshot of its own: it links to the model and the test set, each
pinned by hash. Inside the `dvc repro` that also trained the model, the model's record is
still pending, so this one waits too, and `ledger complete` writes it after the model's.
"""

from pathlib import Path

import yaml
from logreg import OUTCOME, load, predict, read_rows

from ledger.tracking import binary_metrics, track

params = yaml.safe_load(Path("params.yaml").read_text())
record = params["evaluation"]["record"]
model_ref = f"model:deterioration-risk@{params['model']['record']['version']}"
test_ref = f"dataset:deterioration-test@{params['test']['record']['version']}"
documentation = yaml.safe_load(Path("documentation.yaml").read_text())["deterioration-risk-heldout"]

with track(
    "evaluation",
    "deterioration-risk-heldout",
    **record,
    evaluates=model_ref,
    tested_on=[test_ref],
    fields=documentation[record["version"]],
) as run:
    model, rows = load("models/model.json"), read_rows("data/test.csv")
    labels = [int(row[OUTCOME]) for row in rows]
    scores = [predict(model, row) for row in rows]
    result = binary_metrics(
        labels, scores, model["threshold"], subgroups={"sex": [row["sex"] for row in rows]}
    )
    run.log_evaluation(result)
    auroc = next(m for m in result.metrics if m["name"] == "auroc")
    run.set(
        test_population={"size": result.n, "events": result.events},
        setup={
            "outcome": "pass" if auroc["ci"]["lower"] >= 0.7 else "fail",  # documentation.yaml
            "seeds": {"not_applicable": "scoring is deterministic"},
        },
    )
