"""Turning ledger new options into record fields (links given by REF), and the fields a
superseding version takes from the version it replaces."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledger.errors import InvalidRecordsError, UsageError
from ledger.kinds import spec
from ledger.records.jsonload import Limits, load_json_file


def load_draft(path: Path, limits: Limits) -> dict[str, Any]:
    """The record fields a draft file gives, JSON or (``.yaml``, ``.yml``) YAML; its problems
    as findings when it is no draft."""
    if path.suffix.lower() in (".yaml", ".yml"):
        from ledger.records.yaml_drafts import read_yaml_draft

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        data, problems = read_yaml_draft(raw, str(path), limits)
    else:
        data, problems = load_json_file(path, str(path), limits)
    if problems:
        raise InvalidRecordsError(problems)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the draft must be an object of record fields")
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


def merge_fields(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``: objects merged key by key, any other value replaced. Keys keep
    ``extra``'s order, then come those only ``base`` has, so a complete draft is written as
    it was given."""
    out: dict[str, Any] = {}
    for key, value in extra.items():
        known = base.get(key)
        if isinstance(value, Mapping) and isinstance(known, Mapping):
            out[key] = merge_fields(known, value)
        else:
            out[key] = copy.deepcopy(value)
    for key, value in base.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
    return out


def inherited(kind: str, earlier: Mapping[str, Any]) -> dict[str, Any]:
    """The documentation fields a new version of ``kind`` takes from the version it
    supersedes, for those its draft leaves out: everything but the identity, the sign-offs and
    outside references, the links and DVC snapshots (a new version names its own), and what the
    kind declares as measured (a new version's numbers are its own). The record written is
    complete on its own: nothing is inherited when it is read."""
    declared = spec(kind)
    dropped = {
        ("kind",),
        ("schema_version",),
        ("name",),
        ("version",),
        ("approvals",),
        ("external_refs",),
        *((field,) for field in declared.snapshots),
        *(
            decl.path[: decl.path.index("*")] if "*" in decl.path else decl.path
            for decl in declared.links
        ),
        *(tuple(path.split(".")) for path in declared.measured),
    }
    return _without(earlier, dropped, ())


def _without(
    content: Mapping[str, Any], dropped: set[tuple[str, ...]], at: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in content.items():
        path = (*at, key)
        if path in dropped:
            continue
        out[key] = (
            _without(value, dropped, path) if isinstance(value, Mapping) else copy.deepcopy(value)
        )
    return out
