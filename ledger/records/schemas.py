"""The published JSON Schemas (Draft 2020-12), generated from the record models.

``schemas/`` holds one file per kind plus ``common.schema.json`` with the shared definitions. A
test regenerates them and fails on drift, so the models and the published contract cannot part.
The ``$id`` values are names, not addresses: nothing is ever fetched, and the ``.invalid`` domain
(RFC 2606) guarantees no one could serve them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from ledger.records import common as common_module
from ledger.records.identity import KINDS, Kind

BASE_URI: Final = "https://ledger.invalid/schemas/1/"
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
COMMON: Final = "common.schema.json"

JsonObject = dict[str, Any]


class _Generator(GenerateJsonSchema):
    """Optional fields are omitted, never null; field titles repeat the key, so they go."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None or generated.get("default") in ([], {}):
            generated.pop("default")
        return generated


def schema_filename(kind: Kind) -> str:
    return f"{kind}.schema.json"


def _is_shared(name: str) -> bool:
    cls = getattr(common_module, name, None)
    return isinstance(cls, type) and issubclass(cls, BaseModel)


def _retarget(node: Any) -> Any:
    """Point references to shared definitions at common.schema.json."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and _is_shared(ref[8:]):
            node = {**node, "$ref": f"{COMMON}{ref}"}
        return {key: _retarget(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_retarget(item) for item in node]
    return node


@functools.cache
def generate_schemas() -> dict[str, JsonObject]:
    """Every published schema, by file name."""
    from ledger.kinds import spec  # the kinds declare their models (and import this package)

    shared: JsonObject = {}
    result: dict[str, JsonObject] = {}
    for kind in KINDS:
        schema = spec(kind).model.model_json_schema(schema_generator=_Generator)
        defs: JsonObject = schema.pop("$defs", {})
        own = {name: d for name, d in defs.items() if not _is_shared(name)}
        shared.update({name: d for name, d in defs.items() if _is_shared(name)})
        body = _retarget({**schema, **({"$defs": own} if own else {})})
        result[schema_filename(kind)] = {"$schema": DRAFT, "$id": BASE_URI + schema_filename(kind)}
        result[schema_filename(kind)].update(body)
    result[COMMON] = {
        "$schema": DRAFT,
        "$id": BASE_URI + COMMON,
        "title": "Definitions shared by the ledger record kinds",
        "$defs": dict(sorted(shared.items())),
    }
    return dict(sorted(result.items()))


def dumps_schema(schema: JsonObject) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> None:
    """Regenerate the published schemas: ``python -m ledger.records.schemas schemas/``."""
    from ledger.records.serialize import write_atomic

    for name, schema in generate_schemas().items():
        write_atomic(folder / name, dumps_schema(schema).encode(), overwrite=True)


if __name__ == "__main__":
    import sys

    write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas"))
