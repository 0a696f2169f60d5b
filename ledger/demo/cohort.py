"""A synthetic, de-identified sepsis cohort: no identifiers, only features and an outcome.

Rows carry no ids, names or dates, so no row can be linked to a person. Every value comes from a
seeded ``random.Random`` stream, one patient at a time, so a larger cohort with the same seed
extends a smaller one and the same arguments always give the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass

COLUMNS = (
    "age",
    "sex",
    "site",
    "heart_rate",
    "resp_rate",
    "temp_c",
    "wbc",
    "lactate",
    "sbp",
    "sepsis",
)
MEASUREMENTS = ("heart_rate", "resp_rate", "temp_c", "wbc", "lactate", "sbp")
SEXES = ("F", "M")
DEFAULT_SITES = ("north", "south", "east")
MIN_AGE, MAX_AGE = 18, 90

# The true data-generating outcome model, published so tests and the demo can state it:
# logit P(sepsis) = INTERCEPT + sum(coef * (value - centre)) + N(0, LOGIT_NOISE_SD).
OUTCOME_INTERCEPT = -2.3
OUTCOME_TERMS: tuple[tuple[str, float, float], ...] = (
    ("age", 0.015, 60.0),
    ("heart_rate", 0.025, 85.0),
    ("resp_rate", 0.12, 18.0),
    ("temp_c", 0.5, 37.0),
    ("wbc", 0.08, 9.0),
    ("lactate", 0.6, 1.5),
    ("sbp", -0.02, 120.0),
)
OUTCOME_MALE_EFFECT = 0.1
LOGIT_NOISE_SD = 0.5


@dataclass(frozen=True, slots=True)
class Row:
    """One synthetic patient; a measurement is ``None`` when missing."""

    age: int
    sex: str
    site: str
    heart_rate: float | None
    resp_rate: float | None
    temp_c: float | None
    wbc: float | None
    lactate: float | None
    sbp: float | None
    sepsis: int

    def __post_init__(self) -> None:
        # Values are held at the CSV's one-decimal precision, so writing and re-reading a row
        # can never silently change it.
        if not 0 <= self.age <= 120:
            raise ValueError(f"age {self.age} outside 0..120")
        if self.sex not in SEXES:
            raise ValueError(f"sex must be one of {SEXES}, not {self.sex!r}")
        if not self.site or "," in self.site or self.site != self.site.strip():
            raise ValueError(f"invalid site {self.site!r}")
        if self.sepsis not in (0, 1):
            raise ValueError(f"sepsis must be 0 or 1, not {self.sepsis!r}")
        for name in MEASUREMENTS:
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or round(value, 1) != value):
                raise ValueError(f"{name} must be finite with at most one decimal, not {value!r}")


@dataclass(frozen=True, slots=True)
class CohortSummary:
    """Aggregate description of a cohort, as a dataset record reports it."""

    size: int
    events: int
    prevalence: float
    age_min: int
    age_max: int
    age_median: float
    sex_counts: tuple[tuple[str, int], ...]
    site_counts: tuple[tuple[str, int], ...]
    missing_counts: tuple[tuple[str, int], ...]


def _clip(value: float, low: float, high: float) -> float:
    return round(min(max(value, low), high), 1)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _patient(rng: random.Random, sites: tuple[str, ...]) -> Row:
    # Every call consumes the stream the same way whatever min_age is, so an inclusion
    # criterion selects a subsequence of the default cohort instead of different patients.
    age = min(int(rng.triangular(MIN_AGE, MAX_AGE + 1, 68)), MAX_AGE)
    sex = SEXES[int(rng.random() * 2)]
    site = sites[min(int(rng.random() * len(sites)), len(sites) - 1)]
    # A shared latent acuity makes vital signs and labs move together, as they do clinically.
    acuity = rng.normalvariate(0.0, 1.0) + 0.01 * (age - 60)
    values = {
        "heart_rate": _clip(82 + 12 * acuity + rng.normalvariate(0, 10), 35, 190),
        "resp_rate": _clip(17 + 3 * acuity + rng.normalvariate(0, 3), 6, 50),
        "temp_c": _clip(37.0 + 0.5 * acuity + rng.normalvariate(0, 0.5), 34.0, 42.0),
        "wbc": _clip(8.5 + 2.5 * acuity + rng.normalvariate(0, 2.5), 0.5, 45.0),
        "lactate": _clip(
            math.exp(math.log(1.3) + 0.3 * acuity + rng.normalvariate(0, 0.3)), 0.3, 15
        ),
        "sbp": _clip(124 - 10 * acuity + rng.normalvariate(0, 15), 55, 230),
    }
    features: dict[str, float] = {"age": float(age), **values}
    logit = OUTCOME_INTERCEPT + (OUTCOME_MALE_EFFECT if sex == "M" else 0.0)
    logit += math.fsum(coef * (features[name] - centre) for name, coef, centre in OUTCOME_TERMS)
    logit += rng.normalvariate(0.0, LOGIT_NOISE_SD)
    sepsis = 1 if rng.random() < _sigmoid(logit) else 0
    return Row(age=age, sex=sex, site=site, sepsis=sepsis, **values)


def generate_cohort(
    n: int,
    seed: int,
    *,
    min_age: int = MIN_AGE,
    sites: tuple[str, ...] = DEFAULT_SITES,
) -> list[Row]:
    """``n`` synthetic patients aged ``min_age``..90, drawn one at a time from ``seed``'s stream.

    Patients younger than ``min_age`` are drawn and skipped, so the result equals the first
    ``n`` eligible rows of the default cohort with the same seed.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    if not MIN_AGE <= min_age <= MAX_AGE:
        raise ValueError(f"min_age must be within {MIN_AGE}..{MAX_AGE}")
    if not sites or len(set(sites)) != len(sites):
        raise ValueError("sites must be a non-empty tuple of distinct names")
    rng = random.Random(seed)
    rows: list[Row] = []
    while len(rows) < n:
        row = _patient(rng, sites)
        if row.age >= min_age:
            rows.append(row)
    return rows


def _format(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def to_csv(rows: list[Row]) -> bytes:
    """UTF-8 CSV with a header, LF line endings, fixed columns and one-decimal floats."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [str(row.age), row.sex, row.site]
            + [_format(getattr(row, name)) for name in MEASUREMENTS]
            + [str(row.sepsis)]
        )
    return buffer.getvalue().encode("utf-8")


def _parse_float(text: str) -> float | None:
    return None if text == "" else float(text)


def from_csv(data: bytes) -> list[Row]:
    """Parse bytes written by :func:`to_csv`; an empty measurement cell reads as missing."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise ValueError(f"CSV header must be {','.join(COLUMNS)}")
    rows: list[Row] = []
    for line_no, cells in enumerate(reader, start=2):
        if len(cells) != len(COLUMNS):
            raise ValueError(f"line {line_no}: expected {len(COLUMNS)} cells, got {len(cells)}")
        record = dict(zip(COLUMNS, cells, strict=True))
        try:
            rows.append(
                Row(
                    age=int(record["age"]),
                    sex=record["sex"],
                    site=record["site"],
                    sepsis=int(record["sepsis"]),
                    **{name: _parse_float(record[name]) for name in MEASUREMENTS},
                )
            )
        except ValueError as exc:
            raise ValueError(f"line {line_no}: {exc}") from exc
    return rows


def _counts(values: list[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(values).items()))


def summarize(rows: list[Row]) -> CohortSummary:
    """Size, events, prevalence, age range and median, sex/site counts and missing values."""
    if not rows:
        raise ValueError("cannot summarize an empty cohort")
    ages = [row.age for row in rows]
    events = sum(row.sepsis for row in rows)
    return CohortSummary(
        size=len(rows),
        events=events,
        prevalence=round(events / len(rows), 4),
        age_min=min(ages),
        age_max=max(ages),
        age_median=float(statistics.median(ages)),
        sex_counts=_counts([row.sex for row in rows]),
        site_counts=_counts([row.site for row in rows]),
        missing_counts=tuple(
            (name, sum(getattr(row, name) is None for row in rows)) for name in MEASUREMENTS
        ),
    )
