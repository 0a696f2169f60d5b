"""Write a synthetic admissions table: python src/make_data.py OUT.csv ROWS SEED.

Every row is drawn by a seeded random generator; no real person is in it, and no column
identifies anyone. Rows come in a fixed order, so more rows with the same seed extend the same
table: the first ROWS rows of a longer table are the shorter table.
"""

import csv
import math
import random
import sys
from pathlib import Path

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with Path(out).open("w", newline="", encoding="utf-8") as file:
    table = csv.writer(file, lineterminator="\n")
    table.writerow(["age", "sex", "ward", "heart_rate", "resp_rate", "spo2", "deteriorated"])
    for _ in range(rows):
        age = rng.randint(18, 89)  # ages of 90 and over would be identifying (Safe Harbor)
        sex = rng.choice("FM")
        ward = rng.choice(["medical", "surgical"])
        heart_rate = round(rng.gauss(84, 14))
        resp_rate = round(rng.gauss(18, 4))
        spo2 = min(100, round(rng.gauss(95, 2.5)))
        risk = -2.8 + 0.04 * (age - 60) + 0.05 * (heart_rate - 84) + 0.3 * (resp_rate - 18)
        risk -= 0.4 * (spo2 - 95)
        deteriorated = int(rng.random() < 1 / (1 + math.exp(-risk)))
        table.writerow([age, sex, ward, heart_rate, resp_rate, spo2, deteriorated])
