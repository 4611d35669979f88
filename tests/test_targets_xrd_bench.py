"""benchmarks/targets_xrd.py: the noisy patterns and where a run's composition-only figure lives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets_xrd.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "targets_xrd_bench")


def test_noisy_profile_shifts_drops_weak_peaks_and_adds_noise(bench):
    from graphdiff_crystals.xrd import Pattern

    p = Pattern(np.array([30.0, 50.0]), np.array([100.0, 3.0]))
    tt, y = bench.noisy_profile(p, np.random.default_rng(0))
    assert abs(tt[np.argmax(y)] - 30.3) < 0.03  # the zero-point shift of +0.3°
    near_weak = (tt > 49.9) & (tt < 50.7)
    assert y[near_weak].max() < 10  # the 3 % peak is gone: only noise (2 % of the strongest) there
    assert (y >= 0).all() and y[(tt > 60)].std() > 0


def test_each_dataset_names_its_composition_only_model(bench):
    assert "carbon24-dng.json" in bench.composition_only("carbon_24")
    assert "perov5-csp.json" in bench.composition_only("perov_5")
