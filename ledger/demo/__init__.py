"""Synthetic example science behind ``ledger demo``: cohort, model training and metrics."""
