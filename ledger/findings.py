"""Findings are data: a rule code, a severity, a location and a message with a fix.

Checks return findings; reporters print them as text or JSON. The rule table is the single
place where codes, names and fix hints live, so the same problem always reads the same way.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: Severities by value: a lookup, where calling ``Severity`` goes through the enum machinery
#: (kept findings are rows of strings, turned back into findings by the ten thousand).
SEVERITIES: dict[str, Severity] = {str(s): s for s in Severity}


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    fix: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.code: rule for rule in rules}


RULES: dict[str, Rule] = _rules(
    # Reading the file.
    Rule("L001", "not-utf8", "the file is not valid UTF-8", "save the file as UTF-8"),
    Rule("L002", "empty-file", "the file is empty", "write a JSON object or delete the file"),
    Rule("L003", "invalid-json", "the file is not valid JSON", "correct the JSON syntax"),
    Rule("L004", "duplicate-key", "an object has the same key twice", "keep one of the keys"),
    Rule(
        "L005",
        "non-finite-number",
        "NaN and Infinity are not JSON numbers",
        'write a finite number, or {"not_applicable": "<reason>"} where a value is missing',
    ),
    Rule("L006", "not-an-object", "a record must be a JSON object", "wrap the record in { }"),
    Rule(
        "L007",
        "too-large",
        "the file is larger than the record size limit",
        "keep data out of records (use DVC) or raise max_record_bytes in ledger.toml",
    ),
    Rule(
        "L008",
        "too-deep",
        "the JSON nests deeper than the limit",
        "flatten the structure; records hold documentation, not data",
    ),
    Rule(
        "L009",
        "symlink",
        "record files must be regular files, not symbolic links",
        "replace the link with the file itself",
    ),
    Rule(
        "L010",
        "unprintable-text",
        "a text holds a control character or a space other than the plain one",
        "remove it; keep line breaks and tabs, and write other spaces as plain spaces",
    ),
    # The schema.
    Rule(
        "L101",
        "unknown-kind",
        "the record's kind is not dataset, model or evaluation",
        'set "kind" to dataset, model or evaluation',
    ),
    Rule(
        "L102",
        "missing-field",
        "a required field is missing",
        'add the field, or {"not_applicable": "<reason>"} where the schema allows it',
    ),
    Rule(
        "L103",
        "unknown-field",
        "a field the schema does not define",
        'remove it, correct its spelling, or move it under "extensions"',
    ),
    Rule("L104", "wrong-type", "a value has the wrong type", "use the type the schema names"),
    Rule(
        "L105",
        "invalid-value",
        "a value breaks a rule of the schema",
        "use a value the schema allows",
    ),
    Rule(
        "L106",
        "inconsistent",
        "values in the record contradict each other",
        "make the values agree",
    ),
    Rule(
        "L107",
        "run-period",
        "a run's period ends before it starts, or has an end but no start",
        "give started and ended as the run's wall-clock times, with ended not before started "
        "(started alone when the end is not known)",
    ),
    # Identity and place.
    Rule(
        "L201",
        "path-mismatch",
        "the file's path does not follow from the record's identity",
        "move the file to the path its identity names, or correct kind, name or version",
    ),
    Rule(
        "L202",
        "duplicate-identity",
        "two files claim the same record identity",
        "give one of them a new version, or delete the copy",
    ),
    Rule(
        "L203",
        "unsafe-path",
        "a path is absolute or leaves the repository",
        "use a path relative to the repository root, without '..'",
    ),
    # Links.
    Rule(
        "L301",
        "dangling-link",
        "a link names a record that does not exist",
        "correct the reference, or add the record it names",
    ),
    Rule(
        "L302",
        "link-hash-mismatch",
        "a link's sha256 is not the hash of the record it names",
        "re-pin the link (ledger new computes it), or restore the target's content",
    ),
    Rule(
        "L303",
        "link-wrong-kind",
        "a link points at a record of the wrong kind",
        "link to a record of the kind the field expects",
    ),
    Rule(
        "L304",
        "bad-supersedes",
        "supersedes must name an earlier version of the same record",
        "supersede an earlier version with the same kind and name",
    ),
    Rule(
        "L305",
        "link-cycle",
        "links form a cycle, so no record in it can be pinned first",
        "remove one of the links in the cycle",
    ),
    Rule(
        "L306",
        "version-fork",
        "two versions supersede the same version, so the record has two current versions",
        "let one of the two supersede the other instead, before it is committed",
    ),
    Rule(
        "L307",
        "version-without-supersedes",
        "a later version of a record names no version it supersedes",
        "say which version it replaces in supersedes (ledger new --supersedes writes it)",
    ),
    # DVC snapshots.
    Rule(
        "L401",
        "dvc-file-missing",
        "the DVC file the snapshot came from does not exist",
        "run `dvc add` (or `dvc repro`) and commit the DVC file, or correct the path",
    ),
    Rule(
        "L402",
        "dvc-output-missing",
        "the DVC file has no output with the snapshot's path",
        "correct snapshot.path, or track that path with DVC",
    ),
    Rule(
        "L403",
        "snapshot-mismatch",
        "the snapshot disagrees with the DVC file",
        "record the data change as a new version (ledger new fills the snapshot)",
    ),
    Rule(
        "L404",
        "dvc-file-invalid",
        "the DVC file cannot be read",
        "repair the file (dvc add or dvc repro writes it)",
    ),
    Rule(
        "L405",
        "unrecorded-data-version",
        "data documented by a record changed later with no new record version",
        "document the new data with `ledger new` (a version that supersedes the old one)",
    ),
    Rule(
        "L406",
        "pipeline-mismatch",
        "the dvc.lock stage that produced the model used other data than the record says",
        "re-run the stage on the recorded data, or record the data it really used",
    ),
    Rule(
        "L407",
        "workspace-data-mismatch",
        "the data in the workspace has another hash",
        "run `dvc checkout`, or record the new data as a new version",
    ),
    Rule(
        "L408",
        "cache-missing",
        "the DVC cache lacks content with the recorded hash",
        "run `dvc fetch` (or `dvc pull`)",
    ),
    Rule(
        "L409",
        "remote-missing",
        "the DVC remote lacks content with the recorded hash",
        "run `dvc push` from a clone that has the data",
    ),
    Rule(
        "L410",
        "pending-record",
        "a record made during `dvc repro` was never completed",
        "run `ledger complete`: it takes the snapshot from dvc.lock and writes the record",
    ),
    # History.
    Rule(
        "L601",
        "changed-in-place",
        "a committed record version was changed later",
        "restore the committed content and write the change as a new version",
    ),
    Rule(
        "L602",
        "deleted",
        "a committed record version was deleted later",
        "restore the file; retire a version with a new record instead of deleting it",
    ),
    Rule(
        "L603",
        "stale-link",
        "a link pins an earlier content of a record that was amended",
        "restore the target's committed content; never amend a committed version",
    ),
    # Failure patterns.
    Rule(
        "L701",
        "train-test-leakage",
        "the evaluation's test data overlaps the training data",
        "evaluate on data disjoint from the model's training data",
    ),
    Rule(
        "L702",
        "metrics-without-context",
        "metrics are reported without a test population or test dataset version",
        "link the test datasets and describe the test population",
    ),
    Rule(
        "L703",
        "model-without-training-data",
        "a model names no training data",
        "link the datasets the model was trained on (training.datasets)",
    ),
    Rule(
        "L704",
        "criteria-not-prespecified",
        "an evaluation's criteria are not those a record committed before it fixed",
        "name the planned change it verifies (setup.modification) or state the criteria in "
        "the model's evaluation_criteria before evaluating; else set prespecified to false",
    ),
    Rule(
        "L705",
        "impact-assessment-missing",
        "a new model version's metrics moved beyond the previous version's intervals, with no "
        "impact assessment",
        "supersede the evaluation with one that has an impact_assessment: what changed, "
        "benefit and risk, subgroup effects",
    ),
    Rule(
        "L706",
        "outcome-against-baseline",
        "a non-inferiority criterion has no baseline, or the stated outcome is not what the "
        "metrics give against the baseline's",
        "name the baseline evaluation, and state the outcome the metrics give",
    ),
    # Signatures.
    Rule(
        "L801",
        "unsigned-commit",
        "a commit that changed records is not signed",
        "sign commits (git commit -S); --require-signed makes this an error",
    ),
    Rule(
        "L802",
        "bad-signature",
        "a commit's signature does not verify",
        "find out who rewrote the commit; re-sign it only after review",
    ),
    Rule(
        "L803",
        "unverifiable-signature",
        "a commit's signature cannot be checked",
        "add the signer's key to the keyring or allowed-signers file",
    ),
    # Sign-offs (ledger sign): append-only, signed entries about one record version.
    Rule(
        "L804",
        "signoff-unreadable",
        "a sign-off file is not a valid sign-off, or is not where its content says",
        "sign-off files are written by `ledger sign`; delete a hand-made one in a new commit",
    ),
    Rule(
        "L805",
        "signoff-not-signed-by-signer",
        "the commit that added a sign-off is not validly signed by the person it names",
        "sign again with `ledger sign` using your own key, listed in gpg.ssh.allowedSignersFile",
    ),
    Rule(
        "L806",
        "signoff-by-author",
        "a sign-off is by the author of the version it signs",
        "ask someone who did not author the version to sign it",
    ),
    Rule(
        "L807",
        "signoff-content-changed",
        "a sign-off's record version is gone or no longer has the content that was signed",
        "sign the version as it is committed now, after reviewing it again",
    ),
    Rule(
        "L808",
        "signoff-rewritten",
        "a committed sign-off was changed or deleted; sign-offs are append-only",
        "restore the sign-off from history; to withdraw one, sign again with --meaning rejected",
    ),
    Rule(
        "L809",
        "signoff-missing",
        "a current version lacks a sign-off that ledger.toml requires",
        "have the named roles sign it with `ledger sign REF --meaning M --role R`",
    ),
    Rule(
        "L810",
        "signoff-rejected",
        "a current version was rejected in a sign-off",
        "supersede the version with one that answers the rejection",
    ),
    Rule(
        "L811",
        "promotion-unjustified",
        "a promotion's evidence does not hold: its evaluation, criteria or required sign-offs",
        "promote again with `ledger promote` once the version meets what the stage demands",
    ),
    # Audit exports.
    Rule(
        "L901",
        "export-file-added",
        "the export holds a file its manifest does not list",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L902",
        "export-file-removed",
        "a file the manifest lists is missing from the export",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L903",
        "export-file-modified",
        "a file's SHA-256 differs from the manifest's",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L904",
        "export-manifest-invalid",
        "the manifest is missing or unreadable",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L905",
        "export-fhir-invalid",
        "a FHIR Bundle in the export is not valid FHIR",
        "regenerate the export with `ledger export`",
    ),
    Rule(
        "L906",
        "export-entry-unreadable",
        "an entry of the export cannot be read (encrypted, an unknown compression, corrupt)",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L907",
        "export-entry-ambiguous",
        "an entry's name or type lets unzip tools extract something other than what was checked",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L908",
        "export-manifest-unexpected",
        "the manifest's SHA-256 is not the one its producer handed over",
        "ask the producer which export they sent; trust neither until the SHA-256 agrees",
    ),
    Rule(
        "L909",
        "export-copy-differs",
        "a history, lineage or FHIR file disagrees with the records or the manifest",
        "use the export as it was produced; ask its producer for a fresh copy",
    ),
    Rule(
        "L910",
        "export-signature-invalid",
        "the manifest's signature is missing, does not match it, or is by a key not allowed",
        "ask the producer for an export signed with a key in your allowed-signers file",
    ),
    # Privacy.
    Rule(
        "L501",
        "possible-phi",
        "a value looks like a patient identifier",
        "records hold aggregate facts only: remove the identifier",
    ),
)


class Finding(NamedTuple):
    """One problem at one place: a repository-relative ``path`` and an RFC 6901 ``pointer``.

    A tuple, so that the tens of thousands a large ledger holds are made, hashed and compared
    in C; ``_replace`` gives a copy with other values.
    """

    code: str
    path: str
    pointer: str
    message: str
    severity: Severity = Severity.ERROR
    fix: str = ""
    commit: str = ""

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def hint(self) -> str:
        return self.fix or self.rule.fix

    def line(self) -> str:
        where = f"{self.path}#{self.pointer}" if self.pointer else self.path
        return f"{where}: {self.severity} {self.code} {self.message}; fix: {self.hint}"

    def to_json(self) -> dict[str, str]:
        rule = RULES[self.code]  # once: a report holds thousands of findings
        return {
            "code": self.code,
            "rule": rule.name,
            "severity": str(self.severity),
            "path": self.path,
            "pointer": self.pointer,
            "message": self.message,
            "fix": self.fix or rule.fix,
            "commit": self.commit,
        }


#: The order findings are reported in: by place, then rule, then message. A key in C, where a
#: method would be called once per finding for every sort.
SORT_KEY = operator.attrgetter("path", "pointer", "code", "message")


def finding(
    code: str,
    path: str,
    pointer: str,
    message: str,
    fix: str = "",
    *,
    severity: Severity = Severity.ERROR,
    commit: str = "",
) -> Finding:
    """Shorthand used by checks."""
    if code not in RULES:
        raise KeyError(f"unknown rule code {code}")
    return Finding(code, path, pointer, message, severity, fix, commit)


def pointer_of(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """RFC 6901 pointer for a path of keys and indexes ("" for the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
