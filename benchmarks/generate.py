"""Generate a synthetic ledger: a git repository of N valid records over M commits.

    python benchmarks/generate.py OUT_DIR --records N --commits M [--seed S]

Records are the golden records of ``records/`` (what ``ledger demo`` writes) used as templates,
with a new name, version, title, DVC snapshot and links. About 40 % are datasets (a quarter of
them held-out test sets), 30 % models and 30 % evaluations; some records are new versions that
supersede the latest earlier version of the same name. Every dataset and model artifact has its
own ``.dvc`` file whose output entry equals the record's snapshot, and every link pins ledger's
``record_hash`` of its target, so the result passes ``ledger validate``.

History is written with one ``git fast-import`` stream, then ``git reset --hard`` makes the
working tree match HEAD. The same arguments always give the same repository, down to the commit
ids: authors rotate over a fixed team and dates step forward from a fixed start. With M >= N
each of the first N commits adds one record and the others change ``src/notes.txt``; with M < N
the records are spread evenly over the commits. Python keeps only what later links need of each
record, so its memory stays small; the time goes to git writing the trees (see the README).

``next_commit`` and ``add_commit`` add one more commit to a generated ledger: the next version of
the dataset recorded last (run.py's "+1 commit" mode).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, cast

Json = dict[str, Any]


def _import_first(*names: str) -> ModuleType:
    """The first of these modules that exists. Only a missing module falls through to the
    next name; an error inside a module that exists is raised as it is."""
    for name in names[:-1]:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
    return importlib.import_module(names[-1])


@dataclass(frozen=True)
class LedgerParts:
    """The only parts of ledger the benchmarks use; everything else goes through the CLI."""

    record_hash: Callable[[object], str]
    default_config: str
    dumps_schema: Callable[[Json], str]
    generate_schemas: Callable[[], dict[str, Json]]


def import_ledger() -> LedgerParts:
    """Import them from the installed ledger, whichever package layout it has: the modules
    moved from ``ledger.canonical`` and ``ledger.schemas`` to ``ledger.records``."""
    canonical = _import_first("ledger.records.canonical", "ledger.canonical")
    schemas = _import_first("ledger.records.schemas", "ledger.schemas")
    config = _import_first("ledger.config")
    return LedgerParts(
        record_hash=cast(Callable[[object], str], canonical.record_hash),
        default_config=cast(str, config.DEFAULT_CONFIG),
        dumps_schema=cast(Callable[[Json], str], schemas.dumps_schema),
        generate_schemas=cast(Callable[[], dict[str, Json]], schemas.generate_schemas),
    )


LEDGER: Final = import_ledger()
record_hash: Final = LEDGER.record_hash

GOLDEN: Final = Path(__file__).resolve().parents[1] / "records"
# Bump when the generated content changes, so cached repositories (run.py --keep) are rebuilt.
GENERATOR_VERSION: Final = 1
MARKER: Final = "ledger-benchmark.json"  # inside .git, so the working tree stays clean

START: Final = 1_735_722_000  # 2025-01-01T09:00:00Z
STEP: Final = 3_600  # one commit an hour

DATASET_SHARE: Final = 0.4
MODEL_SHARE: Final = 0.3
TEST_SET_SHARE: Final = 0.25  # of datasets: held-out test sets, never trained on
SUPERSEDE_SHARE: Final = 0.15  # of records: a new version of an earlier name


@dataclass(frozen=True)
class Person:
    name: str
    email: str


TEAM: Final = (
    Person("Amara Okafor", "amara.okafor@example.org"),
    Person("Jonas Lindqvist", "jonas.lindqvist@example.org"),
    Person("Priya Raman", "priya.raman@example.org"),
    Person("Mateo Alvarez", "mateo.alvarez@example.org"),
    Person("Yuki Tanaka", "yuki.tanaka@example.org"),
)

TOPICS: Final = (
    ("sepsis", "Sepsis"),
    ("aki", "Acute kidney injury"),
    ("readmission", "30-day readmission"),
    ("deterioration", "Clinical deterioration"),
    ("delirium", "Delirium"),
    ("stroke", "Stroke"),
    ("hypoglycemia", "Hypoglycaemia"),
    ("pneumonia", "Pneumonia"),
)

CHANGE: Final = {
    "dataset": ("data-update", "Newly collected admissions added to the cohort"),
    "model": ("retrain", "Retrained with the same procedure on the latest cohort versions"),
    "evaluation": ("re-evaluation", "Re-run on the sequestered test set after a model update"),
}

SCAFFOLD: Final = {
    ".gitignore": "/.dvc-remote/\n__pycache__/\n",
    ".dvc/config": "[core]\n    analytics = false\n",
    ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
    ".dvcignore": (
        "# Add patterns of files dvc should ignore, which could improve\n"
        "# the performance. Learn more at\n"
        "# https://dvc.org/doc/user-guide/dvcignore\n"
    ),
    "ledger.toml": LEDGER.default_config,
    "records/.gitkeep": "",
    "data/.gitignore": "/*.csv\n",
    "models/.gitignore": "/*.json\n",
    "README.md": "# Synthetic ledger\n\nGenerated by ledger's benchmarks/generate.py.\n",
}


@dataclass
class Record:
    """One generated record version and what later records need to know about it."""

    kind: str
    name: str
    version: str
    topic: int
    sha256: str
    commit: int
    role: str = ""  # datasets: "cohort" or "test"
    training: tuple[str, ...] = ()  # models: refs of their training datasets
    reason: str = ""  # superseding versions: the reason given; "" for a first version

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"

    @property
    def relpath(self) -> str:
        return f"records/{self.kind}/{self.name}/{self.version}.json"


@dataclass
class Commit:
    files: dict[str, bytes] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


def load_templates(folder: Path = GOLDEN) -> dict[str, Json]:
    """The golden records, by role: first versions and superseding versions of each kind."""

    def read(relpath: str) -> Json:
        data: Json = json.loads((folder / relpath).read_text(encoding="utf-8"))
        return data

    return {
        "cohort": read("dataset/sepsis-cohort/1.0.json"),
        "cohort+": read("dataset/sepsis-cohort/1.1.json"),
        "test": read("dataset/sepsis-test/1.0.json"),
        "model": read("model/sepsis-risk/1.0.json"),
        "model+": read("model/sepsis-risk/1.1.json"),
        "evaluation": read("evaluation/sepsis-risk-heldout/1.0.json"),
        "evaluation+": read("evaluation/sepsis-risk-heldout/1.1.json"),
    }


def templates_digest() -> str:
    """Identifies the templates' content, so caches notice when the golden records change."""
    text = json.dumps(load_templates(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_bytes(data: Json) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def dvc_file_text(md5: str, size: int, path: str) -> str:
    """A ``.dvc`` file as DVC 3 writes it for one file."""
    return f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {path}\n"


def next_version(version: str) -> str:
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"


def link(target: Record, **extra: str) -> Json:
    return {"ref": target.ref, **extra, "sha256": target.sha256}


def plan_kinds(n: int, rng: random.Random) -> list[str]:
    """The kind of each record in order: shares as configured, shuffled."""
    datasets = round(n * DATASET_SHARE)
    models = round(n * MODEL_SHARE)
    kinds = ["dataset"] * datasets + ["model"] * models + ["evaluation"] * (n - datasets - models)
    rng.shuffle(kinds)
    return kinds


def spread(records: int, commits: int) -> list[range]:
    """Which record indices each commit adds."""
    if commits >= records:
        return [range(i, i + 1) if i < records else range(0) for i in range(commits)]
    return [range(i * records // commits, (i + 1) * records // commits) for i in range(commits)]


class Generator:
    """Builds the records and files of each commit, keeping what links need."""

    def __init__(self, records: int, commits: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        # Templates as text: json.loads of a string is a faster deep copy than copy.deepcopy.
        self.templates = {k: json.dumps(v) for k, v in load_templates().items()}
        self.kinds = plan_kinds(records, self.rng)
        self.plan = spread(records, commits)
        self.all: list[Record] = []
        self.latest: dict[tuple[str, str], Record] = {}
        self.names: dict[str, list[tuple[str, str]]] = {kind: [] for kind in CHANGE}
        self.cohorts: list[Record] = []
        self.tests: list[Record] = []
        self.models: list[Record] = []

    def commits(self) -> Iterator[Commit]:
        for number, indices in enumerate(self.plan):
            commit = Commit()
            if number == 0:
                commit.files.update((p, t.encode()) for p, t in SCAFFOLD.items())
                commit.files.update(
                    (f"schemas/{name}", LEDGER.dumps_schema(schema).encode())
                    for name, schema in LEDGER.generate_schemas().items()
                )
            for index in indices:
                self._add(index, number, commit)
            if not indices:
                commit.files["src/notes.txt"] = (
                    f"Working notes, revision {number}.\n"
                    f"Next review: item {self.rng.randrange(1, 1000)}.\n"
                ).encode()
            yield commit

    def _kind(self, index: int) -> str:
        """The planned kind, unless what it must link to does not exist yet."""
        kind = self.kinds[index]
        if kind == "evaluation" and not (self.models and self.tests):
            kind = "model" if self.tests and self.cohorts else "dataset"
        if kind == "model" and not self.cohorts:
            kind = "dataset"
        return kind

    def _previous(self, kind: str, commit: int) -> Record | None:
        """A name of this kind to write a new version of, if the dice say so."""
        if self.rng.random() >= SUPERSEDE_SHARE:
            return None
        # Only names whose latest version is in an earlier commit: a DVC file holds one state
        # per commit, and each version's snapshot must match the DVC file of its own commit.
        names = self.names[kind]
        for _ in range(3):
            candidate = self.latest[self.rng.choice(names)] if names else None
            if candidate is not None and candidate.commit < commit:
                return candidate
        return None

    def _add(self, index: int, number: int, commit: Commit) -> None:
        kind = self._kind(index)
        previous = self._previous(kind, number) if index >= 3 else None
        if previous is not None:
            name, topic, version = previous.name, previous.topic, next_version(previous.version)
        else:
            topic = self.rng.randrange(len(TOPICS))
            name, version = "", "1.0"
        role = ""
        training: tuple[str, ...] = ()
        if kind == "dataset":
            role = previous.role if previous else self._dataset_role()
            name = name or f"{TOPICS[topic][0]}-{role}-{index:05d}"
            data = self._dataset(name, version, topic, role, previous, commit)
        elif kind == "model":
            name = name or f"{TOPICS[topic][0]}-risk-{index:05d}"
            data, training = self._model(name, version, topic, previous, commit)
        else:
            name = name or f"{TOPICS[topic][0]}-heldout-{index:05d}"
            data = self._evaluation(name, version, topic, previous)
        record = self._keep(kind, name, version, topic, data, number, role, training)
        if previous is None:
            self.names[kind].append((kind, name))
        commit.records.append(record)
        commit.files[record.relpath] = record_bytes(data)

    def _keep(
        self,
        kind: str,
        name: str,
        version: str,
        topic: int,
        data: Json,
        number: int,
        role: str = "",
        training: tuple[str, ...] = (),
    ) -> Record:
        """Remember what later records need of this one; its content is not kept."""
        reason = str(data["supersedes"]["reason"]) if "supersedes" in data else ""
        record = Record(
            kind, name, version, topic, record_hash(data), number, role, training, reason
        )
        if kind == "dataset":
            (self.tests if role == "test" else self.cohorts).append(record)
        elif kind == "model":
            self.models.append(record)
        self.all.append(record)
        self.latest[(kind, name)] = record
        return record

    def new_version(self, previous: Record, number: int) -> Commit:
        """Commit ``number``: a new version of the dataset ``previous``, superseding it, with
        its DVC file updated as ``dvc add`` would."""
        commit = Commit()
        name, topic, role = previous.name, previous.topic, previous.role
        version = next_version(previous.version)
        data = self._dataset(name, version, topic, role, previous, commit)
        record = self._keep("dataset", name, version, topic, data, number, role)
        commit.records.append(record)
        commit.files[record.relpath] = record_bytes(data)
        return commit

    def _dataset_role(self) -> str:
        if not self.cohorts:
            return "cohort"
        if not self.tests:
            return "test"
        return "test" if self.rng.random() < TEST_SET_SHARE else "cohort"

    def _snapshot(self, dvc_file: str, path: str, commit: Commit, low: int, high: int) -> Json:
        md5 = f"{self.rng.getrandbits(128):032x}"
        size = self.rng.randrange(low, high)
        commit.files[dvc_file] = dvc_file_text(md5, size, path).encode()
        digest = hashlib.sha256(f"{self.seed}:{dvc_file}:{md5}:{size}".encode()).hexdigest()
        return {
            "dvc_file": dvc_file,
            "path": path,
            "md5": md5,
            "hash": "md5",
            "size": size,
            "sha256": digest,
        }

    def _common(self, template: str, name: str, version: str, title: str) -> Json:
        data: Json = json.loads(self.templates[template])
        data.pop("supersedes", None)
        data.update(name=name, version=version, title=title)
        return data

    def _supersedes(self, data: Json, kind: str, previous: Record | None) -> None:
        if previous is not None:
            change_type, reason = CHANGE[kind]
            data["supersedes"] = link(previous, reason=reason, change_type=change_type)

    def _dataset(
        self, name: str, version: str, topic: int, role: str, previous: Record | None, c: Commit
    ) -> Json:
        if role == "test":
            template, title = "test", f"{TOPICS[topic][1]} held-out test set ({name})"
        else:
            template = "cohort+" if previous else "cohort"
            title = f"{TOPICS[topic][1]} development cohort ({name})"
        data = self._common(template, name, version, title)
        self._supersedes(data, "dataset", previous)
        data["snapshot"] = self._snapshot(f"data/{name}.csv.dvc", f"{name}.csv", c, 20_000, 90_000)
        return data

    def _model(
        self, name: str, version: str, topic: int, previous: Record | None, c: Commit
    ) -> tuple[Json, tuple[str, ...]]:
        data = self._common(
            "model+" if previous else "model", name, version, f"{TOPICS[topic][1]} risk ({name})"
        )
        count = min(len(self.cohorts), self.rng.choice((1, 1, 2)))
        chosen = self.rng.sample(self.cohorts, count)
        data["training"]["datasets"] = [link(d, role="training") for d in chosen]
        self._supersedes(data, "model", previous)
        data["artifact"] = self._snapshot(f"models/{name}.json.dvc", f"{name}.json", c, 900, 5_000)
        return data, tuple(d.ref for d in chosen)

    def _evaluation(self, name: str, version: str, topic: int, previous: Record | None) -> Json:
        data = self._common(
            "evaluation+" if previous else "evaluation",
            name,
            version,
            f"Held-out evaluation of a {TOPICS[topic][1].lower()} risk model ({name})",
        )
        model = self.rng.choice(self.models)
        # Test sets are never trained on, so this is disjoint from the model's training data.
        test = self.rng.choice(self.tests)
        while test.ref in model.training:
            test = self.rng.choice(self.tests)
        data["model"] = link(model)
        data["datasets"] = [link(test, role="test")]
        if previous is not None:
            data["baseline"] = link(previous)
        else:
            data["baseline"] = {"not_applicable": "the first evaluation of this model family"}
        self._supersedes(data, "evaluation", previous)
        return data


def message(commit: Commit, number: int) -> str:
    records = commit.records
    if not records:
        return f"Update working notes ({number})\n"
    if len(records) == 1:
        record = records[0]
        verb = "Supersede with" if record.reason else "Add"
        text = f"{verb} {record.ref}\n"
    else:
        text = f"Add {len(records)} records\n\n" + "".join(f"- {r.ref}\n" for r in records)
    reasons = [r.reason for r in records if r.reason]
    if reasons:
        text += "\n" + "".join(f"Ledger-Reason: {reason}\n" for reason in reasons)
    return text


def fast_import_stream(generator: Generator) -> Iterator[bytes]:
    """The ``git fast-import`` commands of the whole history, one commit at a time."""
    for number, commit in enumerate(generator.commits()):
        who = TEAM[number % len(TEAM)]
        when = f"{START + number * STEP} +0000"
        text = message(commit, number).encode()
        parts = [
            b"commit refs/heads/main\n",
            f"mark :{number + 1}\n".encode(),
            f"author {who.name} <{who.email}> {when}\n".encode(),
            f"committer {who.name} <{who.email}> {when}\n".encode(),
            f"data {len(text)}\n".encode(),
            text,
            b"\n",
        ]
        if number:
            parts.append(f"from :{number}\n".encode())
        for path, content in sorted(commit.files.items()):
            parts += [f"M 100644 inline {path}\n".encode(), f"data {len(content)}\n".encode()]
            parts += [content, b"\n"]
        parts.append(b"\n")
        yield b"".join(parts)
    yield b"done\n"


def git_env() -> dict[str, str]:
    """An environment where the user's git configuration cannot change what is built."""
    return {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }


def generate(out: Path, records: int, commits: int, seed: int = 0) -> dict[str, Any]:
    """Build the repository in ``out`` (new or empty); return a summary of what was built."""
    if records < 0 or commits < 1:
        raise ValueError("need at least one commit and a non-negative number of records")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} is not empty; give a new or empty folder")
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    env = git_env()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=out, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    generator = Generator(records, commits, seed)
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=out,
        env=env,
        stdin=subprocess.PIPE,
    )
    assert importer.stdin is not None
    try:
        for chunk in fast_import_stream(generator):
            importer.stdin.write(chunk)
    finally:
        importer.stdin.close()
        code = importer.wait()
    if code != 0:
        raise RuntimeError(f"git fast-import failed with exit code {code}")
    git("reset", "-q", "--hard", "main")
    counts = {kind: sum(r.kind == kind for r in generator.all) for kind in CHANGE}
    summary: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "templates": templates_digest(),
        "records": records,
        "commits": commits,
        "seed": seed,
        "kinds": counts,
        "superseding": sum(bool(r.reason) for r in generator.all),
        "seconds": round(time.perf_counter() - started, 3),
    }
    (out / ".git" / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


@dataclass(frozen=True)
class ExtraCommit:
    """One more commit for a generated ledger (``next_commit``), applied by ``add_commit``."""

    parent: str  # the commit it goes on top of
    files: dict[str, bytes]
    message: str
    author: Person
    timestamp: int


def git_output(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=git_env(), check=True, capture_output=True, encoding="utf-8"
    )
    return done.stdout


def next_commit(repo: Path, seed: int = 0) -> ExtraCommit:
    """The commit that would come next in the generated ledger at ``repo``: one new valid
    record, the next version of the dataset recorded last, superseding it (pinning its hash)
    and updating its ``.dvc`` file. Author and date continue the history's rotation, so the
    same repository always gives the same commit."""
    parent = git_output(repo, "rev-parse", "HEAD").strip()
    number = int(git_output(repo, "rev-list", "--count", parent))
    added = git_output(
        repo,
        "log",
        "-1",
        "--diff-filter=A",
        "--format=",
        "--name-only",
        parent,
        "--",
        "records/dataset/",
    )
    paths = [path for path in added.splitlines() if path.endswith(".json")]
    if not paths:
        raise ValueError(f"{repo}: no dataset record to write a new version of")
    data = json.loads(git_output(repo, "show", f"{parent}:{paths[0]}"))
    name, version = str(data["name"]), str(data["version"])
    topic_key, role, _ = name.rsplit("-", 2)  # generated names: <topic>-<role>-<index>
    topic = [key for key, _ in TOPICS].index(topic_key)
    previous = Record("dataset", name, version, topic, record_hash(data), number - 1, role)
    commit = Generator(0, 1, seed + number).new_version(previous, number)
    who = TEAM[number % len(TEAM)]
    return ExtraCommit(parent, commit.files, message(commit, number), who, START + number * STEP)


def add_commit(repo: Path, extra: ExtraCommit) -> str:
    """Write ``extra``'s files into ``repo`` and commit them on top of ``extra.parent``, which
    must be HEAD; return the new commit id."""
    head = git_output(repo, "rev-parse", "HEAD").strip()
    if head != extra.parent:
        raise ValueError(f"{repo}: HEAD is {head}, not {extra.parent}")
    for relpath, content in extra.files.items():
        path = repo / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    who, when = extra.author, f"{extra.timestamp} +0000"
    env = git_env()
    for role in ("AUTHOR", "COMMITTER"):
        env.update(
            {f"GIT_{role}_NAME": who.name, f"GIT_{role}_EMAIL": who.email, f"GIT_{role}_DATE": when}
        )
    add = ["git", "add", "--", *extra.files]
    subprocess.run(add, cwd=repo, env=env, check=True, capture_output=True)
    commit = ["git", "commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", "-"]
    subprocess.run(
        commit, cwd=repo, env=env, input=extra.message.encode(), check=True, capture_output=True
    )
    return git_output(repo, "rev-parse", "HEAD").strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("out", type=Path, metavar="OUT_DIR", help="new or empty folder")
    parser.add_argument("--records", type=int, required=True, metavar="N")
    parser.add_argument("--commits", type=int, required=True, metavar="M")
    parser.add_argument("--seed", type=int, default=0, metavar="S")
    args = parser.parse_args(argv)
    try:
        summary = generate(args.out, args.records, args.commits, args.seed)
    except ValueError as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{n} {k}s" for k, n in summary["kinds"].items())
    print(
        f"{args.out}: {summary['records']} records ({kinds}; {summary['superseding']} "
        f"supersede an earlier version) over {summary['commits']} commits "
        f"in {summary['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
