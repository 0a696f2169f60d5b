"""Fuzzing every reader of untrusted bytes: record files, ``.dvc`` files, ``dvc.lock``, git's
commit objects and walk output, and export zips.

Inputs are random bytes and, more usefully, random edits of real files (the demo's records,
DVC files, an export), which keep most of the structure and so reach deeper into each reader.
Each reader must return, or raise a ``LedgerError`` (which the command line maps to its
documented exit code); anything else is a crash. Each input gets a bounded time (a hang
fails the test instead of stopping it); runs are derandomised, so a failure reproduces.
"""

from __future__ import annotations

import contextlib
import io
import signal
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError

T = TypeVar("T")
BOUND_SECONDS = 20
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DEMO_FILES = (
    "records/dataset/sepsis-cohort/1.1.json",
    "records/model/sepsis-risk/1.1.json",
    "records/evaluation/sepsis-risk-heldout/1.1.json",
    "data/cohort.csv.dvc",
    "models/sepsis-risk.json.dvc",
)
# The demo runs no pipeline, so its lock is written here as DVC 3 writes one.
DVC_LOCK = b"""\
schema: '2.0'
stages:
  train:
    cmd: python scripts/train.py
    deps:
    - path: data/cohort.csv
      hash: md5
      md5: 6b6085869b4604790dc2e0114ef909d6
      size: 50406
    outs:
    - path: models/model.pkl
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 1234
  evaluate@heldout:
    cmd: python scripts/evaluate.py heldout
    deps:
    - path: data/test
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
      size: 100
      nfiles: 3
"""


class Hung(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: int = BOUND_SECONDS) -> Iterator[None]:
    """Fail an input that runs longer than ``seconds``: a hang becomes a failure."""

    def stop(*_: object) -> None:
        raise Hung(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def survives(read: Callable[[], T]) -> T | None:
    """``read()``'s value, or None when it refused the input with a LedgerError."""
    with bounded():
        try:
            return read()
        except LedgerError:
            return None


@st.composite
def edited(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few random edits: bytes replaced, inserted or deleted, a span
    duplicated or cut. Most of the structure survives, so the reader gets past its first
    check."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "cut"]))
        byte = draw(st.sampled_from([0, 0x1E, 0x1F, 0x22, 0x5C, 0x7B, 0x7D, 0xFF, 0xC3, 0x0A]))
        byte = draw(st.one_of(st.just(byte), st.integers(0, 255)))
        if op == "replace" and at < len(data):
            data[at] = byte
        elif op == "insert":
            data.insert(at, byte)
        elif op == "delete" and at < len(data):
            del data[at]
        elif op in ("duplicate", "cut"):
            end = min(len(data), at + draw(st.integers(1, 64)))
            span = data[at:end]
            data[at:end] = span * 2 if op == "duplicate" else b""
    return bytes(data)


@pytest.fixture(scope="module")
def demo_files(demo_repo: Path) -> dict[str, bytes]:
    return {name: (demo_repo / name).read_bytes() for name in DEMO_FILES} | {"dvc.lock": DVC_LOCK}


def _inputs(demo_files: dict[str, bytes], suffix: str) -> st.SearchStrategy[bytes]:
    originals = [data for name, data in demo_files.items() if name.endswith(suffix)]
    return st.one_of(
        st.binary(max_size=512),
        st.sampled_from(originals).flatmap(edited),
    )


# --- record files -----------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_any_record_file_bytes_give_facts(
    demo_files: dict[str, bytes], data: st.DataObject
) -> None:
    from ledger.checks.record_file import RecordFacts, check_record_bytes
    from ledger.records.jsonload import Limits

    raw = data.draw(_inputs(demo_files, ".json"))
    facts = survives(lambda: check_record_bytes(raw, Limits()))
    assert isinstance(facts, RecordFacts)
    # A file that does not check out says why, with a rule code from the table.
    assert facts.valid or facts.problems


# --- DVC files ----------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_any_dvc_file_text_parses_or_is_refused(
    demo_files: dict[str, bytes], data: st.DataObject
) -> None:
    from ledger.dvc.files import dvc_text, parse_dvc_file

    raw = data.draw(_inputs(demo_files, ".dvc"))
    text = survives(lambda: dvc_text(raw, "data/cohort.csv.dvc"))
    if text is not None:
        survives(lambda: parse_dvc_file(text, "data/cohort.csv.dvc"))


@FUZZ
@given(data=st.data())
def test_any_dvc_lock_text_parses_or_is_refused(
    demo_files: dict[str, bytes], data: st.DataObject
) -> None:
    from ledger.dvc.files import dvc_text, parse_dvc_lock

    raw = data.draw(_inputs(demo_files, "dvc.lock"))
    text = survives(lambda: dvc_text(raw, "dvc.lock"))
    if text is not None:
        survives(lambda: parse_dvc_lock(text, "dvc.lock", {"train": "scripts"}))


# --- git's output -------------------------------------------------------------------------

_IDENTITY_PARTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"Jane Doe", b"", b"<>", b"\x1e\x1f", b"\xff\xfe", b"a <b"]),
)
_TIME = st.one_of(
    st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"0", b"-1", b"99999999999999999999"]),
)
_ZONE = st.one_of(
    st.from_regex(rb"\A[+-]\d{4}\Z"),
    st.sampled_from([b"+0000", b"-1200", b"+9959", b"-9999", b"+2400", b"", b"+12"]),
)


@st.composite
def commit_objects(draw: st.DrawFn) -> bytes:
    """A commit object as ``git hash-object --literally`` stores it: any header values."""
    lines = [b"tree " + draw(st.binary(max_size=40))]
    for key in draw(st.lists(st.sampled_from([b"author", b"committer", b"encoding", b"gpgsig"]))):
        if key == b"encoding":
            value = draw(st.sampled_from([b"utf-8", b"latin-1", b"no-such-codec", b"\xff"]))
        elif key == b"gpgsig":
            value = b"-----BEGIN SSH SIGNATURE-----\n " + draw(st.binary(max_size=30))
        else:
            name, email = draw(_IDENTITY_PARTS), draw(_IDENTITY_PARTS)
            value = b"%s <%s> %s %s" % (name, email, draw(_TIME), draw(_ZONE))
        lines.append(key + b" " + value)
    return b"\n".join(lines) + b"\n\n" + draw(st.binary(max_size=80))


@FUZZ
@given(data=st.one_of(commit_objects(), st.binary(max_size=300)))
def test_any_commit_object_gives_its_author_and_message(data: bytes) -> None:
    from ledger.git.commits import RawCommit, parse_commit_object

    assert isinstance(survives(lambda: parse_commit_object(data)), RawCommit)


_SHA = st.from_regex(rb"\A[0-9a-f]{40}\Z")
_TOKENS = st.lists(
    st.one_of(
        _SHA,
        st.builds(lambda a, b: a + b" " + b, _SHA, _SHA),
        st.sampled_from(
            [b":100644 100644 " + b"0" * 40 + b" " + b"1" * 40 + b" M", b"::x", b":", b" \t"]
        ),
        st.binary(max_size=30),
    ),
    max_size=20,
)


@FUZZ
@given(tokens=_TOKENS)
def test_any_walk_output_parses_or_is_refused(tokens: list[bytes]) -> None:
    from ledger.git.commits import parse_raw_changes, parse_raw_log, parse_verdicts

    survives(lambda: list(parse_raw_log(tokens)))
    survives(lambda: parse_raw_changes(tokens))
    survives(lambda: parse_verdicts(b"\0".join(tokens)))


# --- export zips ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_export(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The demo's export without its largest entries (the FHIR Bundles and the HTML page,
    which the manifest then lists as missing): every other reader still runs on it."""
    from ledger.api import Ledger

    full = tmp_path_factory.mktemp("fuzz") / "audit.zip"
    with Ledger.open(demo_repo) as book:
        book.export(full)
    out = io.BytesIO()
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(out, "w") as small:
        for info in source.infolist():
            if not info.filename.startswith(("fhir/", "lineage/lineage.html")):
                small.writestr(info, source.read(info))
    return out.getvalue()


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_any_export_zip_is_verified_or_refused(
    small_export: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    from ledger.api import Ledger
    from ledger.checks.tree import Report

    raw = data.draw(st.one_of(edited(small_export), st.binary(max_size=300)))
    path = tmp_path / "fuzzed.zip"
    path.write_bytes(raw)
    report: Any = survives(lambda: Ledger.verify_export(path))
    assert report is None or isinstance(report, Report)
