"""Whether each link between records still holds: kind, direction, target and pinned hash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ledger.findings import Finding, finding
from ledger.records.identity import RecordId

if TYPE_CHECKING:
    from ledger.checks.record_file import LinkFact


def check_links(
    links: Sequence[LinkFact],
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
    for link in links:
        target = link.target
        if target.kind != link.expects:
            found.append(
                finding(
                    "L303",
                    path,
                    link.pointer + "/ref",
                    f"{link.relation} link points at {target}, a {target.kind}; "
                    f"it must point at a {link.expects}",
                )
            )
            continue
        if link.relation == "supersedes" and (
            target.name != own_id.name or target.version_key >= own_id.version_key
        ):
            found.append(
                finding("L304", path, link.pointer + "/ref", f"{own_id} cannot supersede {target}")
            )
            continue
        actual = hashes.get(target)
        if actual is None:
            found.append(
                finding(
                    "L301",
                    path,
                    link.pointer + "/ref",
                    f"{link.relation} link names {target}, which does not exist",
                )
            )
        elif actual != link.sha256:
            pinned = link.sha256
            if previous is not None and pinned in previous.get(target, set()):
                found.append(
                    finding(
                        "L603",
                        path,
                        link.pointer + "/sha256",
                        f"link to {target} pins {pinned[:12]}…, an earlier content of that "
                        f"record, which was amended in place to {actual[:12]}…",
                    )
                )
            else:
                found.append(
                    finding(
                        "L302",
                        path,
                        link.pointer + "/sha256",
                        f"link to {target} pins sha256 {pinned[:12]}…, but that record "
                        f"hashes to {actual[:12]}…",
                    )
                )
    return found


def find_cycles(records: Iterable[tuple[str, RecordId, Sequence[LinkFact]]]) -> list[Finding]:
    """Cycles among links: each is reported once, at the first record in it (by identity).

    ``records`` gives each record's file path, identity and links.
    """
    graph: dict[RecordId, list[RecordId]] = {}
    paths: dict[RecordId, str] = {}
    for path, own, links in records:
        paths[own] = path
        graph[own] = [link.target for link in links]
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
