"""`ledger verify --data` checks against real DVC repositories: workspace, cache, remote."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.dvc.data import SnapshotSite, check_data, shared_files
from ledger.dvc.files import parse_dvc_file
from ledger.findings import Finding, Severity

DVC = str(Path(sys.executable).with_name("dvc"))
# train and test share one file (same bytes, other names); other shares nothing with either.
FILES: dict[str, bytes] = {
    "labels.csv": b"id,label\n1,0\n2,1\n",
    "train/a.csv": b"a\n",
    "train/b.csv": b"b\n",
    "train/sub/shared.csv": b"shared row\n",
    "test/shared-copy.csv": b"shared row\n",
    "test/t.csv": b"t\n",
    "other/o.csv": b"o\n",
}
OUTPUTS = ("labels.csv", "train", "test", "other")


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _dvc(*args: str, cwd: Path) -> None:
    subprocess.run([DVC, *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DVC repository (no git needed) tracking one file and three folders, pushed."""
    root = tmp_path_factory.mktemp("data-check") / "repo"
    root.mkdir()
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    _dvc("init", "--no-scm", "-q", cwd=root)
    _dvc("add", "-q", *OUTPUTS, cwd=root)
    _dvc("remote", "add", "-d", "local", ".dvc-remote", cwd=root)
    _dvc("push", "-q", cwd=root)
    return root


@pytest.fixture
def data_repo(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(template, copy, symlinks=True)
    return copy


def _sites(root: Path) -> dict[str, SnapshotSite]:
    """One site per `.dvc` file, keyed by output path, as a caller would build from records."""
    sites: dict[str, SnapshotSite] = {}
    for dvc_file in sorted(root.rglob("*.dvc")):
        source = dvc_file.relative_to(root).as_posix()
        if not dvc_file.is_file() or source.startswith("."):
            continue
        (out,) = parse_dvc_file(dvc_file.read_text(encoding="utf-8"), source)
        assert out.md5 is not None
        record = f"records/{out.repo_path.replace('/', '-')}.json"
        sites[out.repo_path] = SnapshotSite(record, "/snapshot", out.repo_path, out.md5, out.is_dir)
    return sites


def _object(base: Path, md5: str) -> Path:
    return base / "files" / "md5" / md5[:2] / md5[2:]


def _only(findings: list[Finding], code: str) -> Finding:
    assert [f.code for f in findings] == [code], [f.line() for f in findings]
    return findings[0]


def test_all_present_in_the_demo_repository_gives_no_findings(demo_repo: Path) -> None:
    sites = list(_sites(demo_repo).values())
    assert len(sites) == 3
    assert check_data(demo_repo, sites) == []


def test_all_present_files_and_folders_give_no_findings(template: Path) -> None:
    sites = _sites(template)
    assert sorted(sites) == sorted(OUTPUTS)
    before = sorted(template.rglob("*"))
    assert check_data(template, list(sites.values())) == []
    assert sorted(template.rglob("*")) == before, "the check must write nothing"


def test_an_edited_file_is_a_workspace_mismatch(repo: Path) -> None:
    site = _sites(repo)["data/test.csv"]
    with (repo / "data/test.csv").open("ab") as stream:
        stream.write(b"99,1\n")
    found = _only(check_data(repo, [site]), "L407")
    assert (found.path, found.pointer) == (site.record_path, "/snapshot")
    actual = _md5((repo / "data/test.csv").read_bytes())
    assert f"data/test.csv has md5 {actual}, the record says {site.md5}" in found.message


def test_a_deleted_file_is_a_workspace_mismatch(data_repo: Path) -> None:
    site = _sites(data_repo)["labels.csv"]
    (data_repo / "labels.csv").unlink()
    found = _only(check_data(data_repo, [site]), "L407")
    assert "labels.csv is not in the workspace" in found.message
    assert "dvc checkout labels.csv" in found.hint


def test_a_deleted_cache_object_is_cache_missing(data_repo: Path) -> None:
    site = _sites(data_repo)["labels.csv"]
    _object(data_repo / ".dvc/cache", site.md5).unlink()
    found = _only(check_data(data_repo, [site]), "L408")
    assert found.severity is Severity.ERROR
    assert f"the DVC cache (.dvc/cache) has no {site.md5} (labels.csv)" in found.message


def test_a_deleted_remote_object_is_remote_missing(data_repo: Path) -> None:
    site = _sites(data_repo)["labels.csv"]
    _object(data_repo / ".dvc-remote", site.md5).unlink()
    found = _only(check_data(data_repo, [site]), "L409")
    assert f"the DVC remote (.dvc-remote) has no {site.md5}" in found.message


def _corrupt(path: Path) -> str:
    """Overwrite a stored object in place, keeping its name and size; its new md5."""
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.chmod(0o644)  # DVC stores objects read-only
    path.write_bytes(bytes(data))
    return _md5(bytes(data))


@pytest.mark.parametrize(
    ("store", "code", "label"),
    [(".dvc/cache", "L408", "the DVC cache"), (".dvc-remote", "L409", "the DVC remote")],
    ids=["cache", "remote"],
)
def test_a_stored_object_whose_bytes_changed_is_named(
    data_repo: Path, store: str, code: str, label: str
) -> None:
    site = _sites(data_repo)["labels.csv"]
    actual = _corrupt(_object(data_repo / store, site.md5))
    found = _only(check_data(data_repo, [site]), code)
    assert f"{label} ({store}) holds {site.md5} (labels.csv) corrupt" in found.message
    assert f"its bytes hash to {actual}" in found.message
    assert "delete the corrupt object" in found.hint


def test_a_corrupt_file_object_of_a_folder_is_named(data_repo: Path) -> None:
    site = _sites(data_repo)["train"]
    _corrupt(_object(data_repo / ".dvc-remote", _md5(FILES["train/a.csv"])))
    found = _only(check_data(data_repo, [site]), "L409")
    assert f"holds corrupt copies of 1 of the 3 files of {site.md5} (train): a.csv" in found.message


def test_an_object_shared_by_two_snapshots_is_hashed_once_and_named_for_both(
    data_repo: Path,
) -> None:
    sites = _sites(data_repo)
    _corrupt(_object(data_repo / ".dvc/cache", _md5(FILES["train/sub/shared.csv"])))
    found = check_data(data_repo, [sites["train"], sites["test"]])
    assert [(f.code, f.path) for f in found] == [
        ("L408", sites["train"].record_path),
        ("L408", sites["test"].record_path),
    ]


def test_a_cloud_remote_is_one_warning_and_never_contacted(
    data_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the data check tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    # config.local wins over config, as in DVC; the url's credentials must not be repeated.
    (data_repo / ".dvc/config.local").write_text(
        "[core]\n    remote = cloud\n"
        "['remote \"cloud\"']\n    url = https://user:s3cret@dvc.example.org/store\n"
    )
    found = _only(check_data(data_repo, list(_sites(data_repo).values())), "L409")
    assert found.severity is Severity.WARNING
    assert "'cloud' (https://) cannot be checked offline" in found.message
    assert "s3cret" not in found.line()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[core]\n    remote = gone\n['remote \"gone\"']\n    url = /nonexistent/store\n", "does"),
        ("[core]\n", "no default remote is set"),
    ],
)
def test_an_unusable_local_remote_is_reported_once(
    data_repo: Path, config: str, expected: str
) -> None:
    (data_repo / ".dvc/config").write_text(config)
    found = _only(check_data(data_repo, list(_sites(data_repo).values())), "L409")
    assert expected in found.message


def test_a_changed_file_in_a_folder_is_named(data_repo: Path) -> None:
    site = _sites(data_repo)["train"]
    (data_repo / "train/b.csv").write_bytes(b"changed\n")
    (data_repo / "train/new.csv").write_bytes(b"new\n")
    found = _only(check_data(data_repo, [site]), "L407")
    assert f"the record says {site.md5}: changed b.csv; added new.csv" in found.message


def test_a_folder_is_hashed_with_dvcs_ignore_rules(data_repo: Path) -> None:
    site = _sites(data_repo)["train"]
    (data_repo / ".dvcignore").write_text("*.tmp\n")
    (data_repo / "train/scratch.tmp").write_bytes(b"ignored by DVC\n")
    assert check_data(data_repo, [site]) == []


def test_a_missing_file_object_of_a_folder_is_named(data_repo: Path) -> None:
    site = _sites(data_repo)["train"]
    _object(data_repo / ".dvc/cache", _md5(FILES["train/a.csv"])).unlink()
    found = _only(check_data(data_repo, [site]), "L408")
    assert f"lacks 1 of the 3 files of {site.md5} (train): a.csv " in found.message


def test_a_missing_dir_object_is_named(data_repo: Path) -> None:
    site = _sites(data_repo)["train"]
    _object(data_repo / ".dvc-remote", site.md5).unlink()
    found = _only(check_data(data_repo, [site]), "L409")
    assert f"has no .dir object {site.md5} (train)" in found.message


def test_shared_files_between_folders(template: Path) -> None:
    sites = _sites(template)
    train, test, other = (sites[name].md5 for name in ("train", "test", "other"))
    shared = _md5(FILES["train/sub/shared.csv"])
    assert shared_files(template, train, test) == {shared}
    assert shared_files(template, test, train) == {shared}
    assert shared_files(template, train, other) == set()
    assert shared_files(template, train, train) == {train}
    assert shared_files(template, shared, test) == {shared}
    assert shared_files(template, sites["labels.csv"].md5, test) == set()


def test_shared_files_is_none_without_the_manifest(data_repo: Path) -> None:
    sites = _sites(data_repo)
    _object(data_repo / ".dvc/cache", sites["test"].md5).unlink()
    assert shared_files(data_repo, sites["train"].md5, sites["test"].md5) is None
    assert shared_files(data_repo, sites["labels.csv"].md5, sites["test"].md5) is None


def test_a_site_with_a_malformed_md5_is_refused() -> None:
    with pytest.raises(ValueError, match="is no directory md5"):
        SnapshotSite("r.json", "/snapshot", "data", "../../etc/passwd.dir", True)


def test_a_file_many_records_describe_is_hashed_once_for_their_sha256(
    data_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions of one dataset often describe the same file: the gate hashes it once."""
    import dataclasses

    from ledger.dvc import data

    calls: list[Path] = []
    real = data.sha256_of

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(data, "sha256_of", counting)
    site = _sites(data_repo)["labels.csv"]
    made_up = [
        dataclasses.replace(site, record_path=f"records/v{n}.json", sha256="0" * 64)
        for n in range(3)
    ]
    found = data.workspace_sha256(data_repo, made_up)
    assert [(f.code, f.path, f.pointer) for f in found] == [
        ("L407", f"records/v{n}.json", "/snapshot/sha256") for n in range(3)
    ]
    assert len(calls) == 1
