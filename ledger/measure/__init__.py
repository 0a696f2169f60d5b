"""Numbers a record states, computed from the data instead of typed by hand.

``binary`` turns labels and scores into an evaluation's ``metrics`` and ``subgroup_metrics``;
``cohort`` turns a table (a CSV file, a pandas DataFrame, or columns as lists) into a dataset's
``cohort`` block. Both take plain Python sequences; numpy arrays and pandas columns are read
through their ``tolist()``, so the numbers are the same bytes with or without those libraries.
"""
