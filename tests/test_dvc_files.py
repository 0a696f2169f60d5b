"""DVC file parsing and content hashes, checked against the real DVC CLI and coreutils."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.dvc.content_hash import (
    CacheObjectMissingError,
    ContentHashError,
    SymlinkInTreeError,
    dvc_dir_manifest,
    dvc_md5_of,
    read_dir_manifest,
    sha256_of,
    size_and_nfiles,
)
from ledger.dvc.files import (
    DvcFileError,
    DvcOutput,
    find_output,
    is_safe_relative,
    parse_dvc_file,
    parse_dvc_lock,
    stage_wdirs,
)

# The tree `dvc add` tracks; `.hg/` and `.git` are there to prove DVC skips what we skip,
# `sub-x.txt` sorts before `sub/` as a string, and crlf.txt shows DVC 3 hashes raw bytes.
DIR_FILES: dict[str, bytes] = {
    "a.txt": b"foo",
    "crlf.txt": b"x\r\ny\r\n",
    "name with space.txt": b"spaced\n",
    "sub-x.txt": b"dash\n",
    "sub/b.bin": b"bar\n",
    "sub/deeper/c.txt": b"c",
}
SKIPPED_FILES: dict[str, bytes] = {".hg/store": b"hg\n", "sub/.git": b"not a repository\n"}

COREUTILS_SIMPLE = "find . -type f | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum | sha256sum"
COREUTILS_ROBUST = (
    r"find . \( -name .git -o -type d -name .hg \) -prune -o -type f -printf '%P\0'"
    " | LC_ALL=C sort -z | xargs -0r sha256sum -- | sha256sum"
)


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def _dvc(cwd: Path, *args: str) -> None:
    beside = Path(sys.executable).with_name("dvc")
    command = [str(beside)] if beside.exists() else [sys.executable, "-m", "dvc"]
    try:
        subprocess.run([*command, *args], cwd=cwd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        pytest.fail(f"dvc {' '.join(args)} failed:\n{error.stdout}\n{error.stderr}")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One git+DVC repository for the module: `dvc add` of a file and a tree, two stages."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("dvc-repo")
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", "Test User")
            mp.setenv(f"GIT_{role}_EMAIL", "test@example.org")
        mp.setenv("DVC_NO_ANALYTICS", "1")
        # Keep DVC's site cache (default /var/tmp/dvc) and its configs inside the test's folders.
        for name in ("SITE_CACHE", "GLOBAL_CONFIG", "SYSTEM_CONFIG"):
            mp.setenv(f"DVC_{name}_DIR", str(home / name.lower()))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        _dvc(root, "init", "-q")
        (root / "data").mkdir()
        (root / "data" / "f.txt").write_bytes(b"foo")
        _write(root / "data" / "d", DIR_FILES | SKIPPED_FILES)
        (root / "out").mkdir()
        _dvc(root, "add", "-q", "data/f.txt", "data/d")
        _dvc(root, "stage", "add", "-q", "-n", "copy", "-d", "data/f.txt", "-o", "out/g.txt",
             "cp data/f.txt out/g.txt")  # fmt: skip
        _dvc(root, "stage", "add", "-q", "-n", "wd", "-w", "out", "-d", "g.txt", "-o", "h.txt",
             "cp g.txt h.txt")  # fmt: skip
        _dvc(root, "repro", "-q")
        yield root


def _expected(written: dict[str, Any], source: str, repo_path: str) -> DvcOutput:
    return DvcOutput(
        source=source,
        stage=None,
        path=written["path"],
        repo_path=repo_path,
        md5=written.get("md5"),
        hash=written.get("hash"),
        size=written.get("size"),
        nfiles=written.get("nfiles"),
    )


def test_dvc_add_file(dvc_repo: Path) -> None:
    source = "data/f.txt.dvc"
    (out,) = parse_dvc_file((dvc_repo / source).read_text(encoding="utf-8"), source)
    assert out == _expected(_yaml(dvc_repo / source)["outs"][0], source, "data/f.txt")
    assert (out.path, out.hash, out.size, out.nfiles) == ("f.txt", "md5", 3, None)
    assert not out.is_dir
    assert out.md5 == hashlib.md5(b"foo").hexdigest() == dvc_md5_of(dvc_repo / "data/f.txt")
    assert size_and_nfiles(dvc_repo / "data/f.txt") == (3, None)
    assert sha256_of(dvc_repo / "data/f.txt") == hashlib.sha256(b"foo").hexdigest()


def test_dvc_add_directory(dvc_repo: Path) -> None:
    source = "data/d.dvc"
    data = dvc_repo / "data" / "d"
    (out,) = parse_dvc_file((dvc_repo / source).read_text(encoding="utf-8"), source)
    assert out == _expected(_yaml(dvc_repo / source)["outs"][0], source, "data/d")
    assert out.is_dir and not out.is_legacy
    assert out.md5 == dvc_md5_of(data)
    assert (out.size, out.nfiles) == size_and_nfiles(data)
    assert (out.size, out.nfiles) == (sum(map(len, DIR_FILES.values())), len(DIR_FILES))

    manifest = dvc_dir_manifest(data)
    assert [e["relpath"] for e in manifest] == sorted(DIR_FILES)
    assert read_dir_manifest(dvc_repo / ".dvc" / "cache", out.md5) == manifest
    cached = dvc_repo / ".dvc/cache/files/md5" / out.md5[:2] / out.md5[2:]
    assert hashlib.md5(cached.read_bytes()).hexdigest() + ".dir" == out.md5


def test_dvc_lock_from_repro(dvc_repo: Path) -> None:
    text = (dvc_repo / "dvc.lock").read_text(encoding="utf-8")
    wdirs = stage_wdirs((dvc_repo / "dvc.yaml").read_text(encoding="utf-8"), "dvc.yaml")
    assert wdirs == {"wd": "out"}
    stages = parse_dvc_lock(text, "dvc.lock", wdirs)
    assert set(stages) == {"copy", "wd"}
    written = _yaml(dvc_repo / "dvc.lock")["stages"]
    foo_md5 = hashlib.md5(b"foo").hexdigest()
    for name, (deps, outs) in stages.items():
        raws = written[name]["deps"] + written[name]["outs"]
        for parsed, raw in zip(deps + outs, raws, strict=True):
            assert (parsed.stage, parsed.source, parsed.path) == (name, "dvc.lock", raw["path"])
            assert (parsed.md5, parsed.hash, parsed.size) == (foo_md5, "md5", 3)
            assert parsed.md5 == raw["md5"] and parsed.size == raw["size"]
            assert dvc_md5_of(dvc_repo / parsed.repo_path) == parsed.md5
    repo_paths = {name: [o.repo_path for o in deps + outs] for name, (deps, outs) in stages.items()}
    assert repo_paths == {"copy": ["data/f.txt", "out/g.txt"], "wd": ["out/g.txt", "out/h.txt"]}
    # DVC 3 keeps wdir out of dvc.lock, so without dvc.yaml the path stays wdir-relative.
    assert "wdir" not in written["wd"]
    assert parse_dvc_lock(text, "dvc.lock")["wd"][1][0].repo_path == "h.txt"


def test_find_output(dvc_repo: Path) -> None:
    outs = parse_dvc_file((dvc_repo / "data/d.dvc").read_text(encoding="utf-8"), "data/d.dvc")
    assert find_output(outs, "data/d") is outs[0]
    assert find_output(outs, "d") is outs[0]
    assert find_output(outs, "data/d/") is outs[0]
    assert find_output(outs, "data/f.txt") is None


def test_worked_example_without_dvc(tmp_path: Path) -> None:
    _write(tmp_path, {"a.txt": b"foo", "sub/b.bin": b"bar\n"})
    assert dvc_md5_of(tmp_path) == "7cae416850eb3acc3077322b4da28b0d.dir"
    assert size_and_nfiles(tmp_path) == (7, 2)
    assert dvc_dir_manifest(tmp_path) == [
        {"md5": "acbd18db4cc2f85cedef654fccc4a4d8", "relpath": "a.txt"},
        {"md5": "c157a79031e1c40f85931829bc5fc552", "relpath": "sub/b.bin"},
    ]
    cache = tmp_path / "cache"
    obj = cache / "files/md5/7c/ae416850eb3acc3077322b4da28b0d.dir"
    obj.parent.mkdir(parents=True)
    obj.write_text(json.dumps(dvc_dir_manifest(tmp_path), sort_keys=True), encoding="utf-8")
    assert read_dir_manifest(cache, "7cae416850eb3acc3077322b4da28b0d.dir") == [
        {"md5": "acbd18db4cc2f85cedef654fccc4a4d8", "relpath": "a.txt"},
        {"md5": "c157a79031e1c40f85931829bc5fc552", "relpath": "sub/b.bin"},
    ]


def _shell_sha256(folder: Path, pipeline: str) -> str:
    if shutil.which("sha256sum") is None or shutil.which("find") is None:
        pytest.skip("coreutils/findutils are not installed")
    done = subprocess.run(
        ["sh", "-c", pipeline], cwd=folder, check=True, capture_output=True, text=True
    )
    return done.stdout.split()[0]


def test_sha256_of_directory_matches_coreutils(tmp_path: Path, dvc_repo: Path) -> None:
    _write(tmp_path, {"a.txt": b"foo", "sub/b.bin": b"bar\n", "a-b": b"", "B": b"upper"})
    assert sha256_of(tmp_path) == _shell_sha256(tmp_path, COREUTILS_SIMPLE)
    assert sha256_of(tmp_path) == _shell_sha256(tmp_path, COREUTILS_ROBUST)
    # Spaces in names and DVC's skipped .git/.hg need the robust pipeline.
    assert sha256_of(dvc_repo / "data/d") == _shell_sha256(dvc_repo / "data/d", COREUTILS_ROBUST)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sha256_of(empty) == hashlib.sha256(b"").hexdigest()
    assert sha256_of(empty) == _shell_sha256(empty, COREUTILS_ROBUST)


def test_symlink_and_unsupported_trees_raise(tmp_path: Path) -> None:
    _write(tmp_path, {"d/a.txt": b"foo"})
    (tmp_path / "d" / "link").symlink_to("a.txt")
    with pytest.raises(SymlinkInTreeError, match="link"):
        sha256_of(tmp_path / "d")
    with pytest.raises(SymlinkInTreeError):
        dvc_md5_of(tmp_path / "d" / "link")
    for bad in ("e/.dvcignore", "f/.dvc/config"):
        _write(tmp_path, {bad: b""})
        with pytest.raises(ContentHashError, match=r"\.dvc"):
            dvc_md5_of(tmp_path / bad.split("/")[0])
    with pytest.raises(ContentHashError, match="does not exist"):
        sha256_of(tmp_path / "missing")


def test_read_dir_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(CacheObjectMissingError, match="dvc fetch"):
        read_dir_manifest(tmp_path, "7cae416850eb3acc3077322b4da28b0d.dir")
    with pytest.raises(ContentHashError, match="not a DVC directory hash"):
        read_dir_manifest(tmp_path, "../../etc/passwd")
    obj = tmp_path / "files/md5/7c/ae416850eb3acc3077322b4da28b0d.dir"
    obj.parent.mkdir(parents=True)
    obj.write_text("[]", encoding="utf-8")
    with pytest.raises(ContentHashError, match="corrupt"):
        read_dir_manifest(tmp_path, "7cae416850eb3acc3077322b4da28b0d.dir")


LOCK_OK = "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: o\n      md5: abc\n"


@pytest.mark.parametrize(
    ("kind", "text", "fragment"),
    [
        ("dvc", "outs: [\n", "not valid YAML at line"),
        ("dvc", "- path: a\n", "top level is list"),
        ("dvc", "", "top level is NoneType"),
        ("dvc", "md5: abc\n", "no `outs`"),
        ("dvc", "outs:\n- md5: abc\n", "outs[0] has no `path`"),
        ("dvc", "outs:\n- path: a\n  size: big\n", "outs[0].size is not a int"),
        ("dvc", "outs:\n- path: a\n- path: a\n  path: b\n", "duplicate key"),
        ("lock", LOCK_OK.replace("'2.0'", "'3.0'"), "unsupported dvc.lock schema '3.0'"),
        ("lock", LOCK_OK.replace("'2.0'", "2.0"), "unsupported dvc.lock schema 2.0"),
        ("lock", "s:\n  cmd: x\n", "has no `schema`"),
        ("lock", LOCK_OK.replace("    outs:\n", "    outs: x\n    o:\n"), "stages.s.outs is"),
    ],
)
def test_invalid_files_raise_dvc_file_error(kind: str, text: str, fragment: str) -> None:
    source = "models/clf.dvc" if kind == "dvc" else "models/dvc.lock"
    with pytest.raises(DvcFileError) as caught:
        parse_dvc_file(text, source) if kind == "dvc" else parse_dvc_lock(text, source)
    message = str(caught.value)
    assert message.startswith(source + ": ") and fragment in message
    assert "\n" not in message and "; " in message


def test_lock_legacy_and_paths() -> None:
    stages = parse_dvc_lock(LOCK_OK, "sub/dvc.lock")
    (out,) = stages["s"][1]
    assert (out.repo_path, out.hash, out.is_legacy, stages["s"][0]) == ("sub/o", None, True, [])
    legacy = parse_dvc_file("outs:\n- md5: abc\n  path: ./x/\n", "a/x.dvc")[0]
    assert (legacy.path, legacy.repo_path, legacy.is_legacy) == ("./x/", "a/x", True)
    wdir = parse_dvc_file("wdir: w\nouts:\n- path: y\n", "a/y.dvc")[0]
    assert wdir.repo_path == "a/w/y"
    matrix = parse_dvc_lock(LOCK_OK.replace("  s:", "  s@1:"), "dvc.lock", {"s": "m"})
    assert matrix["s@1"][1][0].repo_path == "m/o"
    with pytest.raises(DvcFileError, match="templated"):
        stage_wdirs("stages:\n  s:\n    wdir: ${item}\n", "dvc.yaml")


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("data/x.csv", True),
        ("./x", True),
        ("a..b/c", True),
        ("", False),
        ("/etc/passwd", False),
        ("../x", False),
        ("a/../../x", False),
        ("a\\..\\x", False),
        ("C:/x", False),
    ],
)
def test_is_safe_relative(path: str, safe: bool) -> None:
    assert is_safe_relative(path) is safe
