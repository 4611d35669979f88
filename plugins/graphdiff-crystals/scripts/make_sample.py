"""Rebuild the bundled samples in ``graphdiff_crystals/data`` from the CDVAE ``val.csv`` files.

Usage::

    python scripts/make_sample.py [/path/to/shared/data]

``perov5_sample.csv``: every 6th data row of Perov-5 ``val.csv`` (rows 0, 6, 12, ...), the
first 600. ``carbon24_sample.csv``: every 10th data row of Carbon-24 ``val.csv``, the first 200.
Same columns and quoting as the source, so each sample is deterministic and spread over the
whole file.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "graphdiff_crystals" / "data"
SAMPLES = {"perov_5": ("perov5_sample.csv", 6, 600), "carbon_24": ("carbon24_sample.csv", 10, 200)}


def make(source: Path, out: Path, step: int, rows_wanted: int) -> None:
    csv.field_size_limit(sys.maxsize)
    with open(source, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if r]
    sample = rows[::step][:rows_wanted]
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(sample)
    print(f"wrote {len(sample)} of {len(rows)} rows to {out} ({out.stat().st_size / 1e6:.2f} MB)")


def main(root: str) -> None:
    for dataset, (name, step, rows) in SAMPLES.items():
        make(Path(root) / dataset / "val.csv", DATA / name, step, rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../../shared/data")
