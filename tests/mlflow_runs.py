"""Logs the MLflow runs that tests/test_import_mlflow.py imports, with the real mlflow, as a
training script would. Run as ``python mlflow_runs.py TRACKING_URI COMMIT [small]``: COMMIT is
the demo repository's HEAD, which the runs name as the commit their code was at."""

from __future__ import annotations

import json
import sys
import warnings

warnings.simplefilter("ignore")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

COHORT_MD5 = "d8bd9d85f317575e1362feba320ef89d"  # data/cohort.csv at the demo's HEAD
TEST_MD5 = "d551999a82961ddb11f81ce712ce3382"  # data/test.csv
HEALTHCHAIN = {
    "healthchain.model_id": "sepsis-risk",
    "healthchain.model_version": "1.2",
    "healthchain.organization": "Example University Hospital",
    "healthchain.purpose": "Early warning of sepsis in the emergency department",
    "healthchain.regulatory_tags": "HIPAA,IRB-approved",
    "healthchain.patient_cohort": "Adult ED admissions",
    "healthchain.patient_age_range": "18-90",
    "healthchain.patient_sample_size": "400",
    "healthchain.data_sources": "ed-ehr-extract",
}


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"age": [40.0 + i for i in range(rows)], "sepsis": [i % 2 for i in range(rows)]}
    )


def source_tags(commit: str) -> dict[str, str]:
    return {"mlflow.source.name": "scripts/pipeline.py", "mlflow.source.git.commit": commit}


def main(uri: str, commit: str, small: bool) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("sepsis")
    ids: dict[str, str] = {}
    with mlflow.start_run(run_name="train-1.2") as run:
        mlflow.set_tags(source_tags(commit))
        mlflow.log_params({"l2": 0.01, "epochs": 300, **HEALTHCHAIN})
        # Matched by DVC snapshot: the path, and the demo's DVC file at the run's commit.
        cohort = mlflow.data.from_pandas(frame(3), source="data/cohort.csv", name="cohort")
        mlflow.log_input(cohort, context="training")
        # Matched by digest: the data's DVC md5, given as MLflow's digest.
        test = mlflow.data.from_pandas(
            frame(4), source="data/test.csv", name="test", digest=TEST_MD5
        )
        mlflow.log_input(test, context="test")
        model = mlflow.create_external_model(name="sepsis-risk", model_type="logistic regression")
        mlflow.log_metric("auroc", 0.83, model_id=model.model_id)
        mlflow.log_metric("sensitivity", 0.71)
        ids["train"] = run.info.run_id
        ids["model"] = model.model_id
    if small:
        print(json.dumps(ids))
        return
    with mlflow.start_run(run_name="recheck") as run:
        # Evaluates the model logged above, on test data logged with MLflow's own digest.
        mlflow.set_tags(source_tags(commit))
        test = mlflow.data.from_pandas(frame(4), source="data/test.csv", name="test")
        mlflow.log_input(test, context="test")
        mlflow.log_metric("auroc", 0.81, model_id=model.model_id)
        ids["recheck"] = run.info.run_id
    with mlflow.start_run(run_name="elsewhere") as run:
        other = mlflow.data.from_pandas(
            frame(2), source="data/other.csv", name="other\nintended_use: injected"
        )
        mlflow.log_input(other, context="training")
        mlflow.log_input(mlflow.data.from_pandas(frame(2), name="mystery"), context="scratch")
        mlflow.create_external_model(name="Side Model")
        mlflow.log_metric("loss", 0.4)
        ids["elsewhere"] = run.info.run_id
    with mlflow.start_run(run_name="leaky") as run:
        mlflow.log_params({"note": "patient SSN 123-45-6789"})
        mlflow.create_external_model(name="leaky")
        ids["leaky"] = run.info.run_id
    with mlflow.start_run(run_name="empty") as run:
        mlflow.log_params({"only": "params"})
        ids["empty"] = run.info.run_id
    run = mlflow.start_run(run_name="crashed")
    mlflow.log_metric("auroc", 0.5)
    mlflow.end_run(status="FAILED")
    ids["crashed"] = run.info.run_id
    print(json.dumps(ids))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], len(sys.argv) > 3)
