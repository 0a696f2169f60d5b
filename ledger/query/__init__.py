"""``ledger query``: record versions selected by a filter in the language of MLflow's
``search_runs``, over record fields, links, metrics and hyperparameters (``grammar``, the
language; ``fields``, what a name means; ``columns``, values kept by blob; ``run``, a query)."""
