"""Validation against the published schemas, with one finding per problem at its JSON pointer.

jsonschema reports alternatives (``anyOf``) as a bundle of every branch's complaints; this module
picks the branch the value was evidently meant for, so a user reads one relevant line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ledger.findings import SORT_KEY, Finding, finding, pointer_of
from ledger.records.common import (
    DATE_PATTERN,
    DATETIME_PATTERN,
    EXTENSION_KEY_PATTERN,
    MD5_PATTERN,
    REF_PATTERN,
    SHA256_PATTERN,
)
from ledger.records.identity import RESERVED_NAME_HINT, RESERVED_NAME_PATTERN, Kind
from ledger.records.schemas import BASE_URI, generate_schemas, schema_filename

_PATTERN_NAMES = {
    SHA256_PATTERN: "a SHA-256 digest (64 lower-case hex characters)",
    MD5_PATTERN: "a DVC md5 (32 lower-case hex characters, with .dir for a directory)",
    REF_PATTERN: "a record reference KIND:NAME@VERSION, e.g. dataset:sepsis-cohort@1.0",
    DATE_PATTERN: "a date written YYYY, YYYY-MM or YYYY-MM-DD",
    DATETIME_PATTERN: "a time with its offset, to the second: 2026-03-01T09:30:00Z or "
    "2026-03-01T10:30:00+01:00",
    EXTENSION_KEY_PATTERN: "a namespaced key such as acme.org/site",
    r"\S": "text that is not blank",
}
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


@functools.cache
def validator(kind: Kind) -> Draft202012Validator:
    schemas = generate_schemas()
    registry: Registry[Any] = Registry().with_resources(
        (BASE_URI + name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in schemas.items()
    )
    return Draft202012Validator(schemas[schema_filename(kind)], registry=registry)


def schema_findings(kind: Kind, data: object, path: str) -> list[Finding]:
    """Every schema violation of ``data`` as a record of ``kind``, sorted by location."""
    errors = sorted(validator(kind).iter_errors(data), key=lambda e: list(map(str, e.path)))
    found = [f for error in errors for f in _convert(error, path)]
    return sorted(set(found), key=SORT_KEY)


def _describe(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected_types(schema: Any) -> str:
    types = schema if isinstance(schema, list) else [schema]
    names = {
        "object": "an object",
        "array": "an array",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean",
    }
    return " or ".join(names.get(str(t), str(t)) for t in types)


def _branch_fits(errors: list[ValidationError], depth: int) -> bool:
    """A branch fits unless it rejects the value's type at the value itself."""
    return not any(e.validator == "type" and len(e.absolute_path) == depth for e in errors)


def _unknown_keys(errors: list[ValidationError], depth: int) -> bool:
    """Whether a branch rejects the value for fields it does not know, at the value itself."""
    return any(
        e.validator in ("additionalProperties", "unevaluatedProperties")
        and len(e.absolute_path) == depth
        for e in errors
    )


def _convert(error: ValidationError, path: str) -> Iterator[Finding]:
    pointer = pointer_of(list(error.absolute_path))
    instance = error.instance
    match error.validator:
        case "anyOf" | "oneOf":
            by_branch: dict[int, list[ValidationError]] = {}
            for sub in error.context or []:
                by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
            depth = len(error.absolute_path)
            fitting = [errs for errs in by_branch.values() if _branch_fits(errs, depth)]
            if len(fitting) > 1:
                # Several kinds of object (a bound or a non-inferiority criterion): the one
                # whose fields the value uses is the one it was meant as.
                known = [errs for errs in fitting if not _unknown_keys(errs, depth)]
                fitting = known if len(known) == 1 else fitting
            if len(fitting) == 1:
                for sub in fitting[0]:
                    yield from _convert(sub, path)
                return
            if isinstance(instance, dict) and "not_applicable" in instance:
                yield finding(
                    "L105",
                    path,
                    pointer,
                    "a not-applicable statement has one key, not_applicable, "
                    "holding a non-blank reason",
                )
                return
            yield finding(
                "L104", path, pointer, f"expected {_alternatives(error)}, got {_describe(instance)}"
            )
        case "required":
            missing = str(error.message).split("'")[1]
            wanted = (error.schema.get("properties") or {}).get(missing, {})
            yield finding(
                "L102",
                path,
                pointer_of([*error.absolute_path, missing]),
                f"required field {missing!r} is missing{_shape(wanted)}",
            )
        case "additionalProperties" | "unevaluatedProperties":
            allowed = set((error.schema.get("properties") or {}).keys())
            for key in sorted(k for k in instance if k not in allowed):
                yield finding(
                    "L103", path, pointer_of([*error.absolute_path, key]), f"unknown field {key!r}"
                )
        case "type":
            yield finding(
                "L104",
                path,
                pointer,
                f"expected {_expected_types(error.validator_value)}, "
                f"got {_describe(instance)} {_show(instance)}",
            )
        case "const" | "enum":
            choices = (
                [error.validator_value]
                if error.validator == "const"
                else list(error.validator_value)
            )
            yield finding(
                "L105",
                path,
                pointer,
                f"{_show(instance)} is not allowed here; use "
                + " or ".join(_show(a) for a in choices),
            )
        case "pattern" if instance == "" and error.validator_value == r"\S":
            return  # minLength already says the value is empty
        case "pattern":
            expected = _PATTERN_NAMES.get(
                str(error.validator_value), f"text matching {error.validator_value}"
            )
            yield finding("L105", path, pointer, f"{_show(instance)} is not {expected}")
        case "not" if error.validator_value == {"pattern": RESERVED_NAME_PATTERN}:
            yield finding("L105", path, pointer, f"{_show(instance)} {RESERVED_NAME_HINT}")
        case "minLength":
            yield finding(
                "L105",
                path,
                pointer,
                'is empty; write a statement, or {"not_applicable": "<reason>"} '
                "where the field allows it",
            )
        case "minItems":
            yield finding(
                "L105",
                path,
                pointer,
                f"lists nothing; give at least {error.validator_value} item(s), "
                'or {"not_applicable": "<reason>"} where the field allows it',
            )
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            bound = {
                "minimum": ">=",
                "maximum": "<=",
                "exclusiveMinimum": ">",
                "exclusiveMaximum": "<",
            }[str(error.validator)]
            yield finding(
                "L105",
                path,
                pointer,
                f"{_show(instance)} is out of range; it must be {bound} {error.validator_value}",
            )
        case _:
            yield finding("L105", path, pointer, str(error.message))


@functools.cache
def _definitions() -> dict[str, Any]:
    """Every named object of the published schemas (pydantic names them uniquely)."""
    return {
        name: definition
        for schema in generate_schemas().values()
        for name, definition in schema.get("$defs", {}).items()
    }


def _required_keys(schema: Any) -> list[str]:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = _definitions().get(schema["$ref"].rsplit("/", 1)[-1], {})
    return list(schema.get("required", [])) if isinstance(schema, dict) else []


def _shape(schema: Any) -> str:
    """What a missing field must hold, when it is an object: the keys it needs, so that a
    draft is completed in one pass instead of one nesting level per attempt."""
    branches = schema.get("anyOf", [schema]) if isinstance(schema, dict) else []
    keys = [k for b in branches if (k := _required_keys(b)) and k != ["not_applicable"]]
    if len(keys) != 1:
        return ""
    optional = any(_required_keys(b) == ["not_applicable"] for b in branches)
    alternative = ' (or {"not_applicable": "<reason>"})' if optional else ""
    return f"; it is an object with {', '.join(keys[0])}{alternative}"


def _alternatives(error: ValidationError) -> str:
    kinds: list[str] = []
    for branch in error.validator_value:
        ref = str(branch.get("$ref", ""))
        if ref.endswith("/NotApplicable"):
            kinds.append('{"not_applicable": "<reason>"}')
        elif "type" in branch:
            kinds.append(_expected_types(branch["type"]))
        elif ref:
            kinds.append(f"an object ({ref.rsplit('/', 1)[-1]})")
    return " or ".join(dict.fromkeys(kinds)) or "another value"
