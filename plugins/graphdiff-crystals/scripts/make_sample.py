"""Rebuild ``graphdiff_crystals/data/perov5_sample.csv`` from the CDVAE Perov-5 ``val.csv``.

Usage::

    python scripts/make_sample.py /path/to/perov_5/val.csv

Takes every 6th data row (rows 0, 6, 12, ...), the first 600 of them, with the same columns
and quoting as the source, so the sample is deterministic and spread over the whole file.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

STEP = 6
ROWS = 600
OUT = Path(__file__).resolve().parents[1] / "graphdiff_crystals" / "data" / "perov5_sample.csv"


def main(source: str) -> None:
    with open(source, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if r]
    sample = rows[::STEP][:ROWS]
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(sample)
    print(f"wrote {len(sample)} of {len(rows)} rows to {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../../shared/data/perov_5/val.csv")
