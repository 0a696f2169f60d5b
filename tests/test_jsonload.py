"""Strict reading of record files: every kind of bad input is one finding, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.findings import Finding
from ledger.records.jsonload import (
    MAX_SAFE_INT,
    UNPRINTABLE,
    Limits,
    load_json_bytes,
    load_json_file,
)

PATH = "records/dataset/x/1.0.json"
DEFAULT = Limits()


def _load(data: bytes, limits: Limits = DEFAULT) -> tuple[object | None, list[Finding]]:
    return load_json_bytes(data, PATH, limits)


def _one(data: bytes, limits: Limits = DEFAULT) -> Finding:
    _, found = _load(data, limits)
    assert len(found) == 1, found
    assert found[0].path == PATH
    return found[0]


# (input, code, pointer, part of the message)
CASES: dict[str, tuple[bytes, str, str, str]] = {
    "non-UTF-8": (b'{"a": "caf\xe9"}', "L001", "", "byte 0xe9 at byte offset 10 (line 1"),
    "non-UTF-8 later line": (b'{\n"a": "\xff"}', "L001", "", "offset 8 (line 2, byte 7)"),
    "UTF-16": ('{"a": 1}'.encode("utf-16"), "L001", "", "UTF-16"),
    "UTF-8 BOM": (b'\xef\xbb\xbf{"a": 1}', "L003", "", "byte order mark (BOM)"),
    "empty": (b"", "L002", "", "file is empty"),
    "whitespace only": (b" \n\t\r\n", "L002", "", "empty (only whitespace)"),
    "invalid JSON": (
        b'{\n  "a": 1\n    "b": 2\n}',
        "L003",
        "",
        "invalid JSON at line 3, column 5: Expecting ',' delimiter",
    ),
    "trailing data": (b"{} {}", "L003", "", "line 1, column 4: Extra data"),
    "unterminated string": (b'{"a": "[[[[', "L003", "", "Unterminated string"),
    "control character": (b'{"a": "x\ty"}', "L003", "", "Invalid control character"),
    "duplicate key": (b'{"kind": 1, "kind": 2}', "L004", "", "duplicate key 'kind' (2 times)"),
    "nested duplicate": (b'{"a": [{"b": 1, "b": 2}]}', "L004", "/a/0", "duplicate key 'b'"),
    "NaN": (b'{"a": NaN}', "L005", "/a", "NaN is not a JSON number"),
    "Infinity": (b'{"a": {"b": Infinity}}', "L005", "/a/b", "Infinity is not"),
    "-Infinity": (b'{"a": [1, -Infinity]}', "L005", "/a/1", "-Infinity is not"),
    "float overflow": (b'{"a": 1e400}', "L005", "/a", "number 1e400 overflows a float"),
    "negative overflow": (b'{"a": -1.5e999}', "L005", "/a", "-1.5e999 overflows"),
    "top-level array": (b"[1, 2]", "L006", "", "top-level value is an array, not an object"),
    "top-level string": (b'"x"', "L006", "", "a string, not an object"),
    "top-level null": (b"null", "L006", "", "null, not an object"),
    "top-level boolean": (b"true", "L006", "", "a boolean"),
    "top-level number": (b"1.5", "L006", "", "a number"),
    "too large": (b'{"a": "' + b"x" * 2000 + b'"}', "L007", "", "2009 bytes, over the limit"),
    "too deep": (b"[" * 33 + b"]" * 33, "L008", "", "deeper than 32 levels at line 1, column 33"),
    "too deep objects": (b'{"a": ' * 40 + b"1" + b"}" * 40, "L008", "", "deeper than 32"),
    "integer over 2**53": (
        b'{"n": 9007199254740992}',
        "L105",
        "/n",
        "integer 9007199254740992 is outside ±(2**53-1)",
    ),
    "integer under -2**53": (b'{"n": [-9007199254740992]}', "L105", "/n/0", "outside ±(2**53-1)"),
    "lone surrogate": (b'{"s": "\\ud800"}', "L105", "/s", "lone UTF-16 surrogate"),
    "lone surrogate key": (b'{"\\udc00": 1}', "L105", "", "key '\\udc00' holds a lone"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_input_is_one_finding(case: str) -> None:
    data, code, pointer, words = CASES[case]
    limits = Limits(max_bytes=2000) if case == "too large" else Limits()
    problem = _one(data, limits)
    assert (problem.code, problem.pointer) == (code, pointer)
    assert words in problem.message
    assert "; fix: " in problem.line()


def test_size_message_names_both_sizes() -> None:
    problem = _one(b" " * 11, Limits(max_bytes=10))
    assert problem.message == "file is 11 bytes, over the limit of 10 bytes"


def test_size_is_checked_before_decoding() -> None:
    assert _one(b"\xff" * 11, Limits(max_bytes=10)).code == "L007"


def test_every_duplicate_key_is_reported() -> None:
    value, found = _load(b'{"a": 1, "a": 2, "b": {"c": 1, "c": 2, "c": 3, "d": 4, "d": 5}}')
    assert [(f.code, f.pointer, f.message) for f in found] == [
        ("L004", "", "duplicate key 'a' (2 times)"),
        ("L004", "/b", "duplicate key 'c' (3 times)"),
        ("L004", "/b", "duplicate key 'd' (2 times)"),
    ]
    # The value is still returned (last key wins) so later checks such as PHI still run.
    assert value == {"a": 2, "b": {"c": 3, "d": 5}}
    assert type(value) is dict


def test_every_non_finite_number_is_reported_with_its_pointer() -> None:
    _, found = _load(b'{"x": NaN, "y": [Infinity, {"z": -Infinity}], "w": 1e309}')
    assert [(f.code, f.pointer) for f in found] == [
        ("L005", "/x"),
        ("L005", "/y/0"),
        ("L005", "/y/1/z"),
        ("L005", "/w"),
    ]


def test_pointers_escape_slash_and_tilde() -> None:
    assert _one(b'{"a/b": {"c~d": NaN}}').pointer == "/a~1b/c~0d"


def test_integers_at_the_safe_limit_are_fine() -> None:
    value, found = _load(f'{{"a": {MAX_SAFE_INT}, "b": {-MAX_SAFE_INT}}}'.encode())
    assert found == []
    assert value == {"a": MAX_SAFE_INT, "b": -MAX_SAFE_INT}


def test_an_integer_too_long_for_python_is_a_finding() -> None:
    problem = _one(b'{"n": ' + b"9" * 5000 + b"}")
    assert (problem.code, problem.pointer) == ("L105", "/n")
    assert "(5000 characters)" in problem.message


def test_a_nan_at_the_top_is_two_findings() -> None:
    _, found = _load(b"NaN")
    assert [(f.code, f.pointer) for f in found] == [("L005", ""), ("L006", "")]


def test_a_lone_surrogate_withholds_the_value() -> None:
    value, found = _load(b'{"\\udc00": {"x": 1, "x": 2}}')
    assert value is None
    assert [f.code for f in found] == ["L105", "L004"]
    # The pointer through the bad key is escaped, so the line can be printed.
    assert found[1].pointer == "/\\udc00"
    found[1].line().encode("utf-8")


def test_surrogate_pairs_are_text() -> None:
    assert _load(b'{"a": "\\ud83d\\ude00"}') == ({"a": "\U0001f600"}, [])


@pytest.mark.parametrize(
    ("data", "pointer", "shown"),
    [
        (b'{"title": "a\\u001b[2Jb"}', "/title", "U+001B"),  # a terminal's escape sequence
        (b'{"a": ["ok", "x\\fy"]}', "/a/1", "U+000C"),
        ('{"a": {"b": "10\u00a0%"}}'.encode(), "/a/b", "U+00A0"),  # written as it is
        (b'{"a": "\\u2028"}', "/a", "U+2028"),
        ('{"a": "\u0085"}'.encode(), "/a", "U+0085"),
        (b'{"a\\u0007": 1}', "", "U+0007"),  # a key
    ],
)
def test_control_characters_and_odd_spaces_in_text_are_l010(
    data: bytes, pointer: str, shown: str
) -> None:
    value, found = _load(data)
    assert value is not None  # later checks still read the record
    assert [(f.code, f.pointer) for f in found] == [("L010", pointer)]
    assert shown in found[0].message


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "tab\\t, line\\nfeed\\r and a \\\\u000b written as text"}',
        '{"a": "caf\u00e9 \u2013 \u201cquoted\u201d \u20ac"}'.encode(),
        b'{"a": "caf\\u00e9 \\u2013 \\u201c"}',
    ],
)
def test_ordinary_text_is_not_l010(data: bytes) -> None:
    assert _load(data)[1] == []


@pytest.mark.parametrize("bracket", [b"[", b'{"a":'])
def test_deep_nesting_never_recurses(bracket: bytes) -> None:
    problem = _one(bracket * 100_000)
    assert problem.code == "L008"
    assert "deeper than 32 levels at line 1" in problem.message


def test_depth_limit_is_exact() -> None:
    assert _load(b'{"a":' + b"[" * 31 + b"]" * 31 + b"}")[1] == []  # 32 levels
    assert _one(b'{"a":' + b"[" * 32 + b"]" * 32 + b"}").code == "L008"  # 33 levels
    assert _one(b'{"a": {"b": {}}}', Limits(max_depth=2)).code == "L008"


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 100 + '\\"{' * 50, "b": ["]]]"]})
    assert _load(text.encode())[1] == []


def test_depth_above_the_parser_stack_is_a_finding() -> None:
    deep = b"[" * (sys.getrecursionlimit() + 100)
    problem = _one(deep + b"]" * len(deep), Limits(max_depth=10**6))
    assert problem.code == "L008"


def test_a_large_valid_record_is_fast_enough() -> None:
    doc = {f"k{i}": [i / 7, "s[{", {"x": [1, 2, [3]]}] for i in range(10_000)}
    value, found = _load(json.dumps(doc).encode())
    assert found == []
    assert value == doc


_NUMBERS = st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | st.floats(
    allow_nan=False, allow_infinity=False
)
# Text a record may hold: no control characters but tab and line breaks, no odd spaces (L010).
_TEXT = st.text(
    st.characters(codec="utf-8").filter(lambda c: not UNPRINTABLE.match(c)), max_size=20
)
_SCALARS = st.none() | st.booleans() | _NUMBERS | _TEXT
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    doc=st.dictionaries(_TEXT, _VALUES, max_size=6),
    indent=st.sampled_from([None, 2]),
    ascii_only=st.booleans(),
)
def test_json_dumps_output_round_trips(
    doc: dict[str, object], indent: int | None, ascii_only: bool
) -> None:
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    value, found = _load(data)
    assert found == []
    assert value == doc


# load_json_file: the file system side.


def test_reads_a_record_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"a": [1, 2.5, "x"]}')
    assert load_json_file(tmp_path / "r.json", "r.json") == ({"a": [1, 2.5, "x"]}, [])


def test_findings_name_the_relative_path(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_bytes(b'{"a": NaN}')
    _, found = load_json_file(tmp_path / "r.json", "records/r.json")
    assert [(f.code, f.path, f.pointer) for f in found] == [("L005", "records/r.json", "/a")]


def test_refuses_a_symlink_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "target.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    for name in ("link.json", "dangling.json"):
        value, found = load_json_file(tmp_path / name, name)
        assert value is None
        assert [(f.code, f.message) for f in found] == [("L009", "file is a symbolic link")]


def test_checks_the_size_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: 5 GiB on stat, nothing on disk

    def never(*args: object) -> int:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(os, "open", never)
    value, found = load_json_file(big, "big.json")
    assert value is None
    assert [(f.code, f.message) for f in found] == [
        ("L007", f"file is {5 * 1024**3} bytes, over the limit of 1048576 bytes")
    ]


def test_a_directory_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    value, found = load_json_file(tmp_path / "d.json", "d.json")
    assert value is None
    assert [(f.code, f.message) for f in found] == [
        ("L003", "cannot read the file: it is a directory")
    ]


def test_a_missing_file_is_a_finding(tmp_path: Path) -> None:
    _, found = load_json_file(tmp_path / "gone.json", "gone.json")
    assert [(f.code, f.message) for f in found] == [
        ("L003", "cannot read the file: No such file or directory")
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.json")
    _, found = load_json_file(tmp_path / "f.json", "f.json")
    assert [(f.code, f.message) for f in found] == [
        ("L003", "cannot read the file: it is not a regular file")
    ]


def test_an_unreadable_file_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r.json").write_text("{}")

    def denied(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    _, found = load_json_file(tmp_path / "r.json", "r.json")
    assert [(f.code, f.message) for f in found] == [
        ("L003", "cannot read the file: Permission denied")
    ]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_a_file_without_read_permission_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        assert load_json_file(path, "r.json")[1][0].code == "L003"
    finally:
        path.chmod(0o644)
