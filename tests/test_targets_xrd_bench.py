"""benchmarks/targets_xrd.py: the validation rows ranking is studied on, and the noisy patterns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from graphdiff.data import split_graphs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets_xrd.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "targets_xrd_bench")


def test_val_split_writes_the_rows_training_held_out(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RUNS", tmp_path)
    (tmp_path / "toy").mkdir()
    rows = [{"material_id": f"m{i}", "cif": f"cif {i}"} for i in range(57)]
    with (tmp_path / "toy" / "train.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["material_id", "cif"])
        w.writeheader()
        w.writerows(rows)
    out = bench.val_split("toy")
    with out.open(newline="") as fh:
        val = [r["material_id"] for r in csv.DictReader(fh)]
    # the runner's own split of the same items (data.val_fraction 0.05, data.split_seed 0)
    _, held_out = split_graphs([r["material_id"] for r in rows], 0.05, 0)
    assert val == list(held_out) and len(val) == 3


def test_noisy_profile_shifts_drops_weak_peaks_and_adds_noise(bench):
    from graphdiff_crystals.xrd import Pattern

    p = Pattern(np.array([30.0, 50.0]), np.array([100.0, 3.0]))
    tt, y = bench.noisy_profile(p, np.random.default_rng(0))
    assert abs(tt[np.argmax(y)] - 30.3) < 0.03  # the zero-point shift of +0.3°
    near_weak = (tt > 49.9) & (tt < 50.7)
    assert y[near_weak].max() < 10  # the 3 % peak is gone: only noise (2 % of the strongest) there
    assert (y >= 0).all() and y[(tt > 60)].std() > 0
