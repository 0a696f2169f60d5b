"""Turning ledger new options into record fields (links given by REF)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ledger.errors import InvalidRecordsError, UsageError
from ledger.records.jsonload import Limits, load_json_file


def load_draft(path: Path, limits: Limits) -> dict[str, Any]:
    """The record fields a draft file gives; its problems as findings when it is no draft."""
    data, problems = load_json_file(path, str(path), limits)
    if problems:
        raise InvalidRecordsError(problems)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the draft must be a JSON object of record fields")
    return data


def _ref_and_role(value: str, default_role: str) -> dict[str, Any]:
    ref, sep, role = value.rpartition(":") if value.count(":") > 1 else (value, "", "")
    if not sep:
        ref, role = value, default_role
    return {"ref": ref, "role": role}


def apply_options(
    draft: dict[str, Any],
    kind: str,
    *,
    trained_on: tuple[str, ...] = (),
    evaluates: str | None = None,
    tested_on: tuple[str, ...] = (),
    supersedes: str | None = None,
    reason: str | None = None,
    change_type: str | None = None,
) -> dict[str, Any]:
    """The draft with the links named on the command line added (hashes are filled later)."""
    fields = copy.deepcopy(draft)
    if trained_on:
        if kind != "model":
            raise UsageError("--trained-on is for model records")
        training = fields.setdefault("training", {})
        if not isinstance(training, dict):
            raise UsageError("the draft's training must be an object")
        training.setdefault("datasets", []).extend(_ref_and_role(v, "training") for v in trained_on)
    if evaluates is not None or tested_on:
        if kind != "evaluation":
            raise UsageError("--evaluates and --tested-on are for evaluation records")
        if evaluates is not None:
            fields["model"] = {"ref": evaluates}
        fields.setdefault("datasets", []).extend(_ref_and_role(v, "test") for v in tested_on)
    if supersedes is not None:
        if not reason or not change_type:
            raise UsageError("--supersedes needs --reason and --change-type: say why it changed")
        fields["supersedes"] = {"ref": supersedes, "reason": reason, "change_type": change_type}
    elif reason or change_type:
        raise UsageError("--reason and --change-type go with --supersedes")
    return fields
