"""Reading DVC's own files (``.dvc``, ``dvc.lock``, ``dvc.yaml`` wdirs) from their text.

The caller supplies the text, read from the working tree or from a git blob, so one parser serves
both the present and the history. Outputs are kept verbatim; nothing here judges whether a path
is safe (see ``is_safe_relative``) or whether a hash is current.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ledger.errors import LedgerError

LOCK_SCHEMA = "2.0"


class DvcFileError(LedgerError):
    """A DVC file cannot be read; the message names the file, the problem and the fix."""

    def __init__(self, source: str, problem: str, fix: str) -> None:
        super().__init__(f"{source}: {problem}; {fix}")


#: The largest DVC file ledger reads: DVC writes a few hundred bytes per output, so a file this
#: size is not one (and a symlink to /dev/zero would otherwise be read until memory runs out).
MAX_TEXT_BYTES = 1 << 24


def dvc_text(data: bytes, source: str) -> str:
    """A DVC file's text; DVC reads and writes them as UTF-8, and so must anyone else."""
    if len(data) > MAX_TEXT_BYTES:
        raise DvcFileError(
            source, f"is over {MAX_TEXT_BYTES} bytes, so not a DVC file", "restore the DVC file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DvcFileError(
            source,
            f"is not UTF-8 text (byte {exc.start})",
            "regenerate it with DVC (`dvc add` or `dvc repro`), which writes UTF-8",
        ) from None


@dataclass(frozen=True)
class DvcOutput:
    """One ``outs`` (or ``deps``) entry of a ``.dvc`` file or a ``dvc.lock`` stage."""

    source: str
    stage: str | None
    path: str
    repo_path: str
    md5: str | None
    hash: str | None
    size: int | None
    nfiles: int | None

    @property
    def is_dir(self) -> bool:
        return self.md5 is not None and self.md5.endswith(".dir")

    @property
    def is_legacy(self) -> bool:
        """DVC 2 ``md5-dos2unix`` hash (no ``hash: md5``): not comparable with a DVC 3 md5."""
        return self.hash is None


def is_safe_relative(path: str) -> bool:
    """True for a non-empty relative path that stays inside its folder (no ``..``, no root)."""
    if not path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return False
    return ".." not in path.replace("\\", "/").split("/")


@functools.lru_cache(maxsize=1 << 16)
def parse_dvc_file(text: str, source: str) -> list[DvcOutput]:
    """The outputs of a ``.dvc`` file; ``source`` is its repo-relative posix path.

    Cached: a history checks the same file at many commits (callers only read the result).
    """
    root = _load(text, source)
    outs = root.get("outs")
    if not isinstance(outs, list) or not outs:
        raise DvcFileError(
            source, "has no `outs` list", "track the data again with `dvc add <path>`"
        )
    base = _join(posixpath.dirname(source), _wdir(root, source, "wdir"))
    return [_output(entry, source, None, base, f"outs[{i}]") for i, entry in enumerate(outs)]


def parse_dvc_lock(
    text: str, source: str, wdirs: Mapping[str, str] | None = None
) -> dict[str, tuple[list[DvcOutput], list[DvcOutput]]]:
    """Stage name to (deps, outs) of a ``dvc.lock``.

    DVC 3 does not copy a stage's ``wdir`` into ``dvc.lock``, although the lock's paths are
    relative to it; pass ``wdirs`` (from ``stage_wdirs`` on the sibling ``dvc.yaml``) to get
    correct ``repo_path`` values for such stages. A ``wdir`` in the lock itself wins.
    """
    root = _load(text, source)
    schema = root.get("schema")
    if schema != LOCK_SCHEMA:
        raise DvcFileError(
            source,
            f"unsupported dvc.lock schema {schema!r} (expected '{LOCK_SCHEMA}')"
            if schema is not None
            else "has no `schema` (a DVC 1 lock file)",
            "regenerate it with DVC 3 (`dvc repro` or `dvc commit`)",
        )
    stages = root.get("stages", {})
    if not isinstance(stages, dict):
        raise DvcFileError(source, "`stages` is not a mapping", "regenerate it with `dvc repro`")
    folder = posixpath.dirname(source)
    known = wdirs or {}
    result: dict[str, tuple[list[DvcOutput], list[DvcOutput]]] = {}
    for name, stage in stages.items():
        where = f"stages.{name}"
        if not isinstance(stage, dict):
            raise DvcFileError(
                source, f"{where} is not a mapping", "regenerate it with `dvc repro`"
            )
        # foreach/matrix stages are locked as `name@key` but declared once as `name`.
        wdir = _wdir(stage, source, where + ".wdir") or known.get(
            name, known.get(str(name).partition("@")[0], "")
        )
        base = _join(folder, wdir)
        entries = {
            key: [
                _output(entry, source, str(name), base, f"{where}.{key}[{i}]")
                for i, entry in enumerate(_list(stage, key, source, where))
            ]
            for key in ("deps", "outs")
        }
        result[str(name)] = (entries["deps"], entries["outs"])
    return result


def stage_wdirs(text: str, source: str) -> dict[str, str]:
    """Stage name to ``wdir`` for the stages of a ``dvc.yaml`` that set one."""
    stages = _load(text, source).get("stages", {})
    if not isinstance(stages, dict):
        raise DvcFileError(source, "`stages` is not a mapping", "correct dvc.yaml")
    found: dict[str, str] = {}
    for name, stage in stages.items():
        wdir = _wdir(stage, source, f"stages.{name}.wdir") if isinstance(stage, dict) else ""
        if "${" in wdir:
            # Resolving templates needs params files and DVC's interpolation rules.
            raise DvcFileError(
                source,
                f"stages.{name}.wdir {wdir!r} is templated, which ledger cannot resolve",
                "use a literal wdir for stages whose outputs ledger records",
            )
        if wdir:
            found[str(name)] = wdir
    return found


def find_output(outputs: Iterable[DvcOutput], path: str) -> DvcOutput | None:
    """The output whose repo path, or else whose written path, is ``path``."""
    candidates = list(outputs)
    wanted = posixpath.normpath(path) if path else path
    for out in candidates:
        if out.repo_path == wanted:
            return out
    return next((out for out in candidates if out.path in (path, wanted)), None)


@functools.cache
def _loader() -> Any:
    """PyYAML's loader for DVC files, made on the first parse: a run whose parses are all kept
    (``ParsedFiles``) never imports PyYAML, about 25 ms of a command's start-up."""
    import yaml

    # libyaml's parser where PyYAML was built with it (the wheels are): a DVC file parses in
    # tens of microseconds, which matters when verify reads thousands of them from history.
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        """Refuses duplicate keys, as DVC's own YAML reader does (PyYAML keeps the last)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: set[object] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {key_node.value!r}",
                            key_node.start_mark,
                        )
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    return Loader


class ParsedFiles:
    """Parsed DVC files by the SHA-1 of their text.

    A ledger's history holds thousands of DVC files that never change, so their parse is
    kept between runs (``ledger.state.store`` loads ``known`` and saves ``added``). Only
    parses that JSON holds exactly are kept (YAML dates, say, are parsed afresh each time).
    """

    def __init__(self) -> None:
        self.known: dict[str, Any] = {}
        self.added: dict[str, Any] = {}
        self._loader: Callable[[], Mapping[str, Any]] | None = None

    def load_later(self, loader: Callable[[], Mapping[str, Any]] | None) -> None:
        """Read the kept parses with ``loader`` when a DVC file is first parsed: a run whose
        findings are kept parses none, and so never holds them."""
        self._loader = loader

    def get(self, key: str) -> Any:
        """The parse kept under ``key``, or ``MISSING``."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            self.known.update(loader())
        return self.known.get(key, MISSING)


MISSING: Final = object()
PARSED = ParsedFiles()


def _parse(text: str) -> Any:
    # The same DVC file content recurs across commits and records; parsing it once is enough.
    # Callers only read the result.
    key = hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
    found = PARSED.get(key)
    if found is not MISSING:
        return found
    import yaml

    root = yaml.load(text, Loader=_loader())
    try:
        exact = json.loads(json.dumps(root)) == root
    except (TypeError, ValueError):
        exact = False
    if exact:
        PARSED.known[key] = PARSED.added[key] = root
    return root


def _load(text: str, source: str) -> dict[str, Any]:
    import yaml  # see ``_loader``

    try:
        root = _parse(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        mark = error.problem_mark if isinstance(error, yaml.MarkedYAMLError) else None
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise DvcFileError(
            source, f"is not valid YAML{at} ({problem})", "repair it or regenerate it with DVC"
        ) from error
    if not isinstance(root, dict):
        raise DvcFileError(
            source,
            f"top level is {type(root).__name__}, not a mapping",
            "regenerate it with DVC (`dvc add` or `dvc repro`)",
        )
    return root


def _wdir(mapping: dict[str, Any], source: str, where: str) -> str:
    wdir = mapping.get("wdir", "")
    if not isinstance(wdir, str):
        raise DvcFileError(source, f"{where} is not a string", "write wdir as a relative path")
    return wdir


def _list(stage: dict[str, Any], key: str, source: str, where: str) -> list[Any]:
    value = stage.get(key, [])
    if not isinstance(value, list):
        raise DvcFileError(source, f"{where}.{key} is not a list", "regenerate it with `dvc repro`")
    return value


def _join(*parts: str) -> str:
    # normpath keeps a leading '..' so unsafe paths stay visibly unsafe for the caller.
    joined = posixpath.join("", *parts)
    return posixpath.normpath(joined) if joined else ""


def _output(entry: object, source: str, stage: str | None, base: str, where: str) -> DvcOutput:
    fix = "regenerate it with DVC (`dvc add` or `dvc repro`)"
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise DvcFileError(source, f"{where} has no `path`", fix)

    def field(key: str, kind: type) -> Any:
        value = entry.get(key)
        # bool is an int subclass; `size: true` is still wrong.
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise DvcFileError(source, f"{where}.{key} is not a {kind.__name__}", fix)
        return value

    path: str = entry["path"]
    return DvcOutput(
        source=source,
        stage=stage,
        path=path,
        repo_path=_join(base, path),
        md5=field("md5", str),
        hash=field("hash", str),
        size=field("size", int),
        nfiles=field("nfiles", int),
    )
