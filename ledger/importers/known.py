"""The records in the working tree, indexed as an import matches against them."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.checks.tree import FactsCache
from ledger.records.identity import RecordId
from ledger.records.jsonload import Limits
from ledger.trees import WorkingTree


@dataclass
class KnownRecords:
    """Valid records only: an invalid one is ``ledger validate``'s to report, not a match."""

    root: Path
    contents: dict[RecordId, dict[str, Any]] = field(default_factory=dict)
    #: Each dataset record with its DVC snapshot, as written.
    datasets: list[tuple[RecordId, dict[str, Any]]] = field(default_factory=list)
    _external: dict[tuple[str, str], list[RecordId]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, record: RecordId, content: dict[str, Any]) -> None:
        self.contents[record] = content
        if record.kind == "dataset" and isinstance(content.get("snapshot"), dict):
            self.datasets.append((record, content["snapshot"]))
        for ref in content.get("external_refs", []):
            if ref.get("system") == "mlflow":
                self._external[(ref["kind"], ref["id"])].append(record)

    def by_external(self, kind: str, value: str) -> list[RecordId]:
        """The records that name MLflow's ``kind`` identifier ``value`` (e.g. a run_id)."""
        return sorted(self._external.get((kind, value), []))

    def versions(self, kind: str, name: str) -> list[RecordId]:
        """The versions of one record, oldest first."""
        found = [r for r in self.contents if r.kind == kind and r.name == name]
        return sorted(found, key=lambda r: r.version_key)


def read_known(
    tree: WorkingTree, records_dir: str, limits: Limits, cache: FactsCache
) -> KnownRecords:
    known = KnownRecords(tree.root)
    paths = sorted(tree.record_files(records_dir))
    for data, _ in tree.read_records(paths, limits).values():
        if data is None:
            continue
        facts = cache.facts_of(data, limits)
        if facts.valid and facts.claimed is not None:
            known.add(facts.claimed, json.loads(data))
    return known
