"""The example's science, with no ledger in it: logistic regression in plain Python."""

import csv
import json
import math
import statistics
from pathlib import Path

FEATURES = ["age", "heart_rate", "resp_rate", "spo2"]
OUTCOME = "deteriorated"


def read_rows(path):
    with Path(path).open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _linear(weights, values):
    return weights[0] + sum(w * v for w, v in zip(weights[1:], values, strict=True))


def _scaled(model, row):
    return [
        (float(row[name]) - m) / s
        for name, m, s in zip(model["features"], model["means"], model["sds"], strict=True)
    ]


def fit(rows, learning_rate, epochs, l2, threshold):
    """Full-batch gradient descent from zero weights on standardised features."""
    columns = [[float(row[name]) for row in rows] for name in FEATURES]
    means = [statistics.fmean(column) for column in columns]
    sds = [statistics.pstdev(column) or 1.0 for column in columns]
    model = {"features": FEATURES, "means": means, "sds": sds, "threshold": threshold}
    x = [_scaled(model, row) for row in rows]
    y = [int(row[OUTCOME]) for row in rows]
    weights = [0.0] * (len(FEATURES) + 1)  # the intercept first
    for _ in range(epochs):
        gradient = [0.0] * len(weights)
        for xi, yi in zip(x, y, strict=True):
            error = _sigmoid(_linear(weights, xi)) - yi
            for j, v in enumerate([1.0, *xi]):
                gradient[j] += error * v
        penalty = [0.0, *(l2 * w for w in weights[1:])]  # the intercept is not penalised
        weights = [
            w - learning_rate * (g / len(x) + p)
            for w, g, p in zip(weights, gradient, penalty, strict=True)
        ]
    return {**model, "weights": weights}


def predict(model, row):
    """The predicted probability of deterioration for one row."""
    return _sigmoid(_linear(model["weights"], _scaled(model, row)))


def save(model, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
