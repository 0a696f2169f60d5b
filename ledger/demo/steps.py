"""The example pipeline's steps, run inside the demo repository as ``scripts/pipeline.py STEP``.

Each step reads and writes files only, so the demo repository holds the very commands that
produced its data, model and metrics, and anyone can run them again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from ledger.demo.cohort import from_csv, generate_cohort, summarize, to_csv
from ledger.demo.metrics import evaluate
from ledger.demo.training import Hyperparameters, TrainedModel, train


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def prepare(out: Path, n: int, seed: int, min_age: int) -> None:
    """Write a synthetic cohort as CSV, and its aggregate summary beside it."""
    rows = generate_cohort(n, seed, min_age=min_age)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_csv(rows))
    _write_json(out.with_suffix(".summary.json"), dataclasses.asdict(summarize(rows)))


def fit(data: Path, out: Path) -> None:
    """Train the logistic-regression model on a cohort CSV."""
    model = train(from_csv(data.read_bytes()), Hyperparameters())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.to_json())


def score(model_path: Path, data: Path, out: Path) -> None:
    """Evaluate a model on a test CSV at its own decision threshold."""
    model = TrainedModel.from_json(model_path.read_bytes())
    result = evaluate(model, from_csv(data.read_bytes()), model.hyperparameters.decision_threshold)
    _write_json(out, dataclasses.asdict(result))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline.py", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("prepare", help="generate a de-identified synthetic cohort")
    p.add_argument("out", type=Path)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--min-age", type=int, default=18)
    f = steps.add_parser("train", help="train the model")
    f.add_argument("data", type=Path)
    f.add_argument("out", type=Path)
    s = steps.add_parser("evaluate", help="compute metrics on a test set")
    s.add_argument("model", type=Path)
    s.add_argument("data", type=Path)
    s.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.out, args.n, args.seed, args.min_age)
    elif args.step == "train":
        fit(args.data, args.out)
    else:
        score(args.model, args.data, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
