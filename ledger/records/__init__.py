"""Typed models of the three record kinds; the JSON Schemas in schemas/ are generated from them."""

from __future__ import annotations

from typing import Final

from ledger.records.common import Envelope, Link, NotApplicable, Snapshot, Supersedes
from ledger.records.dataset import DatasetRecord
from ledger.records.evaluation import EvaluationRecord
from ledger.records.identity import Kind, RecordId
from ledger.records.model import ModelRecord

Record = DatasetRecord | ModelRecord | EvaluationRecord

MODELS: Final[dict[Kind, type[DatasetRecord] | type[ModelRecord] | type[EvaluationRecord]]] = {
    "dataset": DatasetRecord,
    "model": ModelRecord,
    "evaluation": EvaluationRecord,
}


def record_id(record: Record) -> RecordId:
    return RecordId(record.kind, record.name, record.version)


__all__ = [
    "MODELS",
    "DatasetRecord",
    "Envelope",
    "EvaluationRecord",
    "Link",
    "ModelRecord",
    "NotApplicable",
    "Record",
    "Snapshot",
    "Supersedes",
    "record_id",
]
