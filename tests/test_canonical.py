"""Canonical JSON (RFC 8785) and record hashes: the ground every link stands on."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.records.canonical import NotCanonicalizableError, canonical_bytes, record_hash

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_bytes_parse_back_to_the_same_value(value: object) -> None:
    # ECMAScript number form writes 4.4e16 as 44000000000000000: read numbers back as floats.
    assert json.loads(canonical_bytes(value), parse_int=float) == value


@given(st.dictionaries(st.text(), json_values, max_size=6), st.randoms())
def test_hash_ignores_key_order_and_layout(value: dict[str, object], rnd: random.Random) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    reformatted = json.loads(json.dumps(dict(items), indent=rnd.choice([None, 2, 4])))
    assert record_hash(reformatted) == record_hash(value)


@given(st.dictionaries(st.text(min_size=1), st.integers(0, 100), min_size=1))
def test_hash_changes_with_any_value(value: dict[str, int]) -> None:
    key = sorted(value)[0]
    assert record_hash({**value, key: value[key] + 1}) != record_hash(value)


def test_rfc8785_number_and_order_rules() -> None:
    # From RFC 8785 section 3.2.2/3.2.3: numbers in ECMAScript form, keys sorted by UTF-16.
    value = {"b": [1.0, 1e21, 0.000001, -0.0], "a": "\u20ac", "\u00e9": 1}
    assert canonical_bytes(value) == '{"a":"€","b":[1,1e+21,0.000001,0],"é":1}'.encode()


def test_hash_is_sha256_of_the_canonical_bytes() -> None:
    assert record_hash({"a": 1}) == (
        "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    )


@pytest.mark.parametrize("value", [{"a": 2**60}, {"a": float("nan")}])
def test_values_outside_i_json_are_refused(value: object) -> None:
    with pytest.raises(NotCanonicalizableError, match="canonicalize"):
        canonical_bytes(value)


@given(json_values)
def test_the_fast_path_agrees_with_rfc8785(value: object) -> None:
    import rfc8785

    assert canonical_bytes(value) == rfc8785.dumps(value)


@given(st.floats(min_value=1e-4, max_value=1e16, exclude_max=True))
def test_python_and_ecmascript_print_ordinary_floats_alike(number: float) -> None:
    import rfc8785

    assert canonical_bytes({"x": number}) == rfc8785.dumps({"x": number})


@pytest.mark.parametrize(
    "value",
    [
        {"a": 62.0, "b": [-0.0, 0.0, 1.0, 100.0, 1.05, 10.5], "c": "62.0 in a string"},
        {"t": True, "f": False, "n": None, "e": 1e-05, "big": 1e16, "int": 9007199254740991},
        {"é": 1.0, "x": "naïve"},
    ],
)
def test_integral_floats_exponents_and_unicode_keys_agree_with_rfc8785(value: object) -> None:
    import rfc8785

    assert canonical_bytes(value) == rfc8785.dumps(value)
