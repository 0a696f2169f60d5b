"""What changed since a kept ancestor, and which records that change can reach.

The findings of a commit are those of a kept ancestor, except for the records a change since
can reach; only those are checked again (``LedgerState.findings``). Every rule's findings about
a record are a function of inputs listed below; a record is *affected* when any of its inputs
differs between the two commits:

- its file and its history (findings of the file alone, L601/L602): the record files changed
  by the two trees' difference or by any commit between them (a change and its revert leave
  the trees equal but add versions to history);
- the records its links name, by identity (L301-L303, L603, L406): the identities claimed by
  any version of a changed file;
- the files claiming its identity (L202), and whether a later version supersedes it (which
  decides the checks of current versions): identities claimed by, or superseded by, any
  version of a changed file;
- the other versions of its record (L306, L307: one chain of versions per name): the names
  claimed by any version of a changed file;
- the DVC files its snapshots name, and those of the records it links to (L401-L406);
- the other records documenting the same DVC output (L405 is reported at the latest of them).

Cycles (L305) are found again over the whole graph: a cycle's finding names its first record,
wherever the change that closed it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.checks.history import OutputKey, output_key
from ledger.checks.record_file import RecordFacts
from ledger.checks.tree import TreeRecords
from ledger.dvc.snapshots import dvc_paths
from ledger.git.commits import Change
from ledger.git.history import History, is_dvc_path, is_record_path
from ledger.git.repository import Listing
from ledger.records.identity import RecordId

FactsOf = Callable[[Iterable[str]], Mapping[str, RecordFacts]]


@dataclass(frozen=True)
class Since:
    """A kept ancestor's record files and findings, and how its tree differs from the
    commit's (``changes``); the commit's history continues the ancestor's from ``start``."""

    listing: Listing
    findings: list[Any]
    start: int
    changes: list[Change]

    def same_ledger(self, listing: Listing, records: TreeRecords, records_dir: str) -> bool:
        """Whether no record file, no DVC file and no file a snapshot names differs."""
        if listing != self.listing:
            return False
        named = dvc_paths(s.snapshot for f in records.valid() for s in f.facts.snapshots)
        return not any(
            is_record_path(c.path, records_dir) or is_dvc_path(c.path) or c.path in named
            for c in self.changes
        )

    def affected(
        self,
        listing: Listing,
        records: TreeRecords,
        history: History,
        facts_of: FactsOf,
        records_dir: str,
    ) -> set[str]:
        """The record paths (current or gone) whose findings may differ from the ancestor's."""
        changed = {c.path for c in self.changes}
        changed |= {c.path for commit in history.commits[self.start :] for c in commit.changes}
        touched = {p for p in changed if is_record_path(p, records_dir)}
        before = self.listing
        touched |= {p for p in listing.keys() | before.keys() if listing.get(p) != before.get(p)}
        data = changed - touched
        blobs = {v.blob for p in touched for v in history.versions(p) if v.blob}
        blobs |= {e[1] for p in touched for e in (listing.get(p), before.get(p)) if e}
        claimed: set[RecordId] = set()
        superseded: set[RecordId] = set()
        outputs: set[OutputKey] = set()
        for facts in facts_of(blobs).values():
            if facts.claimed is not None:
                claimed.add(facts.claimed)
            if facts.supersedes is not None:
                superseded.add(facts.supersedes.target)
            outputs.update(output_key(s.snapshot) for s in facts.snapshots)
        hit = set(touched)
        reads_changed_data: set[RecordId] = set()
        documenting: dict[OutputKey, list[str]] = defaultdict(list)
        names = {c[:2] for c in claimed}  # kind and name
        for file in records.files:
            facts = file.facts
            own = facts.claimed
            # Another version of a changed record's name (its identity among them).
            if (
                (own is not None and own[:2] in names)
                or own in superseded
                or (facts.links and any(link.target in claimed for link in facts.links))
            ):
                hit.add(file.relpath)
            if facts.snapshots:
                if data and not data.isdisjoint(dvc_paths(s.snapshot for s in facts.snapshots)):
                    hit.add(file.relpath)
                    if facts.claimed is not None:
                        reads_changed_data.add(facts.claimed)
                for site in facts.snapshots:
                    documenting[output_key(site.snapshot)].append(file.relpath)
        if reads_changed_data:
            hit.update(
                file.relpath
                for file in records.files
                if any(link.target in reads_changed_data for link in file.facts.links)
            )
        for key, paths in documenting.items():
            if key in outputs or not hit.isdisjoint(paths):
                hit.update(paths)
        return hit
