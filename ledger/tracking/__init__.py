"""Recording from training and evaluation code, as short as logging to MLflow.

    from ledger.tracking import binary_metrics, track

    with track("evaluation", "sepsis-eval", "1.0", evaluates="model:sepsis-risk@1.0",
               tested_on=["dataset:sepsis-test@1.0"], fields=documentation) as run:
        run.log_evaluation(binary_metrics(y_true, y_score, 0.3, subgroups={"sex": sex}))

``track`` (``run.py``) opens a record and writes it when the block ends; ``environment.py``
reads the software the process runs with. The numbers come from ``ledger.measure``.
"""

from ledger.measure.binary import BinaryEvaluation, binary_metrics
from ledger.measure.cohort import cohort_block
from ledger.tracking.environment import UncommittedCodeWarning
from ledger.tracking.run import PendingRecordWarning, Run, track

__all__ = [
    "BinaryEvaluation",
    "PendingRecordWarning",
    "Run",
    "UncommittedCodeWarning",
    "binary_metrics",
    "cohort_block",
    "track",
]
