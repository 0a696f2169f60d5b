"""Records from other tools' logs: ``mlflow_runs`` reads an MLflow store, ``mlflow_map`` maps
its runs to record fields, ``known`` indexes the records they link to, and ``mlflow_import``
writes what is still missing as YAML drafts."""
