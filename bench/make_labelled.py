"""Write docs/examples/labelled.csv: a labelled (confidence, correct) stream for `review simulate`.

The calibration is known, so the simulation's figures can be checked against it:

- confidences lean high, 1 - c = 0.5 * u**4 for u uniform (so c is in [0.5, 1], half of
  the rows at 0.97 or above), rounded to 3 decimals;
- accuracy rises with confidence but the model is slightly overconfident: its error rate
  is 1.2x what the confidence claims, 1.2 * (1 - c). Items at/above 0.8 are then wrong
  about 5% of the time, at/above 0.9 about 2.4%, at/above 0.97 about 0.7%;
- the last 20% of rows are degraded on purpose (a bad model release): the error rate is
  4x higher, 4.8 * (1 - c), while the confidences look the same. Fixed thresholds keep
  auto-approving through it; the adaptive policy sees it in its audits and moves up.

    python bench/make_labelled.py                      # rewrites docs/examples/labelled.csv
    python bench/make_labelled.py --rows 20000 --seed 7 --out -   # to stdout

Same --rows and --seed, same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "examples" / "labelled.csv"
OVERCONFIDENCE = 1.2
DEGRADED_FROM = 0.8
DEGRADED_FACTOR = 4.0


def labelled_rows(n: int, seed: int) -> list[tuple[float, bool]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        c = round(1 - 0.5 * rng.random() ** 4, 3)
        error = OVERCONFIDENCE * (1 - c)
        if i >= DEGRADED_FROM * n:
            error *= DEGRADED_FACTOR
        rows.append((c, rng.random() >= min(1.0, error)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", default=str(OUT), help="a path, or - for stdout")
    args = parser.parse_args()
    lines = ["confidence,correct"] + [f"{c:.3f},{'true' if ok else 'false'}"
                                      for c, ok in labelled_rows(args.rows, args.seed)]
    text = "\n".join(lines) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
