"""The full fhir.resources round trip: the reference every faster check is measured against.

``round_trip(v, name, data)`` is what the guard always did for every resource and for the whole
Bundle: ``model_validate``, ``model_dump_json``, ``model_validate_json`` (the two dumps must
agree), then ``json.loads`` of the dump compared with what ledger built, so nothing was dropped
or rewritten. It raises ``Unreadable`` when fhir.resources cannot read the data at all, and
``ValueError`` when it can but would change it. ``ledger.fhir.shapes`` runs it once per distinct
shape and whenever its own checks are not sure; the tests compare both paths.
"""

from __future__ import annotations

import functools
import json
from typing import Any, cast

from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from ledger.fhir.versions import FhirVersion

Model = type[FHIRAbstractModel]


class Unreadable(ValueError):
    """fhir.resources cannot read it at all, so deeper checks would trip over its shape."""


# Cached: the guard asks for ``BundleEntry``'s class twice per entry, and fhir.resources finds
# a class by importing its module path each time (3 % of the FHIR mapping at 10,000 records).
# A class is a module's attribute, the same object every time; a failed lookup is not cached.
@functools.cache
def model_class(v: FhirVersion, name: str) -> Model:
    """The fhir.resources class of a resource type or element (``ValueError`` if none)."""
    return cast(Model, v.model(name))


def round_trip(v: FhirVersion, name: str, data: Any) -> str:
    """``data`` as fhir.resources (class ``name`` of version ``v``) writes it, or
    ``ValueError`` (``Unreadable``) saying why not."""
    try:
        cls = model_class(v, name)
        model = cls.model_validate(data)
    except ValidationError as exc:  # one line per problem, without pydantic's help links
        errors = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise Unreadable("; ".join(errors)) from exc
    except ValueError as exc:  # no such resource type in this version
        raise Unreadable(str(exc)) from exc
    text = model.model_dump_json()
    if cls.model_validate_json(text).model_dump() != model.model_dump():
        raise ValueError("does not survive model_dump_json -> model_validate_json")
    where = difference(data, json.loads(text))
    if where is not None:
        raise ValueError(f"fhir.resources dropped or rewrote {where or 'it'}")
    return text


def difference(ours: Any, theirs: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (a JSON-pointer-like path), or None.

    Leaves are compared with ``==``, so ``1e21`` and ``1000000000000000000000`` (or ``True``
    and ``1``) are "the same": the guard accepts them and prints fhir.resources' form."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                return f"{path}/{key}"
            found = difference(ours[key], theirs[key], f"{path}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = difference(a, b, f"{path}/{i}")
            if found is not None:
                return found
        return None
    return None if ours == theirs else path
