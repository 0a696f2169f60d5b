"""Where records link to each other, and whether each link still holds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ledger.findings import Finding, finding
from ledger.identity import Kind, RecordId
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
    record: Record, own_id: RecordId, path: str, hashes: Mapping[RecordId, str]
) -> list[Finding]:
    """Dangling links, hash mismatches, wrong kinds and malformed supersedes chains.

    ``hashes`` maps every record identity in the same tree state to its canonical SHA-256.
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
            found.append(
                finding(
                    "L302",
                    path,
                    site.pointer + "/sha256",
                    f"link to {target} pins sha256 {site.link.sha256[:12]}…, but "
                    f"that record hashes to {actual[:12]}…",
                )
            )
    return found
