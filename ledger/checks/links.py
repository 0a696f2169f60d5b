"""Where records link to each other, and whether each link still holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ledger.checks.findings import Finding, finding
from ledger.records.identity import Kind, RecordId
from ledger.records import DatasetRecord, EvaluationRecord, Link, ModelRecord, Record, Supersedes


@dataclass(frozen=True)
class LinkSite:
    """One link in a record: where it is, what it points at, and what kind it must point at."""

    pointer: str
    link: Link
    expects: Kind
    relation: str


def link_sites(record: Record) -> Iterator[LinkSite]:
    """Every link a record holds, with the relation it expresses (the lineage graph's edges)."""
    if record.supersedes is not None:
        yield LinkSite("/supersedes", record.supersedes, record.kind, "supersedes")
    if isinstance(record, ModelRecord):
        for i, trained_on in enumerate(record.training.datasets):
            yield LinkSite(f"/training/datasets/{i}", trained_on, "dataset", "trained-on")
    elif isinstance(record, EvaluationRecord):
        yield LinkSite("/model", record.model, "model", "evaluates")
        for i, data in enumerate(record.datasets):
            yield LinkSite(f"/datasets/{i}", data, "dataset", "evaluated-on")
        if isinstance(record.baseline, Link):
            yield LinkSite("/baseline", record.baseline, "evaluation", "compared-with")
    else:
        assert isinstance(record, DatasetRecord)


def check_links(
    record: Record,
    own_id: RecordId,
    path: str,
    hashes: Mapping[RecordId, str],
    previous: Mapping[RecordId, set[str]] | None = None,
) -> list[Finding]:
    """Dangling links, hash mismatches, wrong kinds and malformed supersedes chains.

    ``hashes`` maps every record identity in the same tree state to its canonical SHA-256;
    ``previous`` the earlier contents a record had in history, if it was amended.
    """
    found: list[Finding] = []
    for site in link_sites(record):
        target = RecordId.parse(site.link.ref)
        if target.kind != site.expects:
            found.append(
                finding(
                    "L303",
                    path,
                    site.pointer + "/ref",
                    f"{site.relation} link points at {target}, a {target.kind}; "
                    f"it must point at a {site.expects}",
                )
            )
            continue
        if isinstance(site.link, Supersedes) and (
            target.name != own_id.name or target.version_key >= own_id.version_key
        ):
            found.append(
                finding("L304", path, site.pointer + "/ref", f"{own_id} cannot supersede {target}")
            )
            continue
        actual = hashes.get(target)
        if actual is None:
            found.append(
                finding(
                    "L301",
                    path,
                    site.pointer + "/ref",
                    f"{site.relation} link names {target}, which does not exist",
                )
            )
        elif actual != site.link.sha256:
            pinned = site.link.sha256
            if previous is not None and pinned in previous.get(target, set()):
                found.append(
                    finding(
                        "L603",
                        path,
                        site.pointer + "/sha256",
                        f"link to {target} pins {pinned[:12]}…, an earlier content of that "
                        f"record, which was amended in place to {actual[:12]}…",
                    )
                )
            else:
                found.append(
                    finding(
                        "L302",
                        path,
                        site.pointer + "/sha256",
                        f"link to {target} pins sha256 {pinned[:12]}…, but that record "
                        f"hashes to {actual[:12]}…",
                    )
                )
    return found


def find_cycles(records: Iterable[tuple[str, Record]]) -> list[Finding]:
    """Cycles among links: each is reported once, at the first record in it (by identity).

    ``records`` pairs each record with its file's path.
    """
    graph: dict[RecordId, list[RecordId]] = {}
    paths: dict[RecordId, str] = {}
    for path, record in records:
        own = RecordId(record.kind, record.name, record.version)
        paths[own] = path
        graph[own] = [RecordId.parse(s.link.ref) for s in link_sites(record)]
    found: list[Finding] = []
    reported: set[frozenset[RecordId]] = set()
    done: set[RecordId] = set()
    # Depth-first with an explicit stack: a chain of thousands of versions must not hit
    # Python's recursion limit. ``chain`` is the current path; ``on_path`` the same, as a set.
    for root in sorted(graph, key=str):
        if root in done:
            continue
        chain: list[RecordId] = [root]
        on_path = {root}
        pending = [iter(graph.get(root, []))]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                pending.pop()
                finished = chain.pop()
                on_path.discard(finished)
                done.add(finished)
            elif target in on_path:
                cycle = chain[chain.index(target) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    first = min(cycle, key=str)
                    loop = " -> ".join(str(n) for n in [*cycle, target])
                    found.append(finding("L305", paths[first], "", f"link cycle: {loop}"))
            elif target in graph and target not in done:
                chain.append(target)
                on_path.add(target)
                pending.append(iter(graph[target]))
    return found
