"""The shared compact encoders write exactly what ``json.dumps`` writes with the same options."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.compactjson import compact_encoder, compact_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()  # NaN and the infinities too: json writes them, and so must we
    | st.text()  # any code point, lone surrogates included
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def _dumps(value: Any, sort_keys: bool) -> str:
    return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=300)
@given(VALUES)
def test_the_encoders_write_what_json_dumps_writes(value: Any) -> None:
    assert compact_json(value) == _dumps(value, True)
    assert compact_encoder(sort_keys=False)(value) == _dumps(value, False)
    assert compact_encoder(sort_keys=True, make=None)(value) == _dumps(value, True)


def test_keys_that_are_not_strings_are_written_as_json_writes_them() -> None:
    value = {2: "b", 1.5: "a", True: "t", None: "n"}
    assert compact_encoder(sort_keys=False)(value) == _dumps(value, False)
    with pytest.raises(TypeError):  # json cannot sort keys of mixed types either
        compact_json(value)


def test_an_unknown_type_fails_as_in_json() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"when": object()})
