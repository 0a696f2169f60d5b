"""Typed models of the three record kinds; the JSON Schemas in schemas/ are generated from them.

The models are imported on first use (PEP 562), so that importing a module of this package
that needs no model (``identity``, ``canonical``, ``jsonload``) never builds them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.records.common import Envelope, Link, NotApplicable, Snapshot, Supersedes
    from ledger.records.dataset import DatasetRecord
    from ledger.records.evaluation import EvaluationRecord
    from ledger.records.model import ModelRecord

    #: Any record (for annotations only).
    Record = DatasetRecord | ModelRecord | EvaluationRecord

_LAZY = {
    "Envelope": "common",
    "Link": "common",
    "NotApplicable": "common",
    "Snapshot": "common",
    "Supersedes": "common",
    "DatasetRecord": "dataset",
    "EvaluationRecord": "evaluation",
    "ModelRecord": "model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"ledger.records.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def record_id(record: Record) -> RecordId:
    return RecordId(record.kind, record.name, record.version)


__all__ = [
    "DatasetRecord",
    "Envelope",
    "EvaluationRecord",
    "Link",
    "ModelRecord",
    "NotApplicable",
    "Snapshot",
    "Supersedes",
    "record_id",
]
