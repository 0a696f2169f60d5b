"""Record a DVC-tracked table as a dataset: python src/record_dataset.py cohort|test.

Run after `dvc add data/KEY.csv`. The record's identity comes from params.yaml, its
documentation from documentation.yaml, its cohort block from the table itself, and its
snapshot from data/KEY.csv.dvc.
"""

import sys
from pathlib import Path

import yaml

from ledger.tracking import cohort_block, track

key = sys.argv[1]
name, table = f"deterioration-{key}", f"data/{key}.csv"
record = yaml.safe_load(Path("params.yaml").read_text())[key]["record"]
documentation = yaml.safe_load(Path("documentation.yaml").read_text())[name][record["version"]]

with track("dataset", name, **record, fields=documentation, snapshot=f"{table}.dvc") as run:
    cohort = cohort_block(
        table,
        unit="admission",
        outcome="deteriorated",
        outcome_definition="Unplanned ICU transfer, rapid-response call or death",
        time_horizon="24 hours from ward admission",
        assessment="Synthetic label drawn by src/make_data.py",
        age="age",
        sex="sex",
        subgroups=["ward"],
    )
    run.log_cohort(cohort)
    run.set(
        splits={"not_applicable": "the held-out test set is a dataset record of its own"},
        quality_checks=[{"check": "Missing values per column", "result": cohort["missing_data"]}],
    )
