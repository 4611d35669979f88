"""CSV tables of the benchmark scripts: CDVAE-style files whose CIF cells span many lines."""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def csv_rows(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (the first ``limit`` when given) of a CDVAE CSV (multi-line CIF cells)."""
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows: list[list[str]] = []
        for row in reader:
            rows.append(row)
            if limit and len(rows) == limit:
                break
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write ``header`` and ``rows`` to ``path`` (its folder made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
