"""benchmarks/crystals/crystals_fingerprint_noise.py: the jitter and the equivalent-noise reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_fingerprint_noise.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "crystals_fingerprint_noise_bench")


def test_jitter_moves_atoms_by_the_requested_spread_and_keeps_the_lattice(bench):
    s = Structure(Lattice.cubic(20.0), ["C"] * 400, np.random.default_rng(1).uniform(0.2, 0.8, (400, 3)))
    t = bench.jitter(s, 0.05, np.random.default_rng(0))
    assert t.lattice == s.lattice and [x.specie for x in t] == [x.specie for x in s]
    d = t.cart_coords - s.cart_coords
    assert d.std() == pytest.approx(0.05, rel=0.05)
    assert abs(d.mean()) < 0.01
    assert np.allclose(bench.jitter(s, 0.0, np.random.default_rng(0)).cart_coords, s.cart_coords)


def test_equivalent_sigma_interpolates_in_log_sigma_and_refuses_outside(bench):
    sigmas, medians = [0.01, 0.1, 1.0], [0.1, 0.3, 0.9]
    assert bench.equivalent_sigma(sigmas, medians, 0.1) == pytest.approx(0.01)
    assert bench.equivalent_sigma(sigmas, medians, 0.2) == pytest.approx(10 ** -1.5)
    assert bench.equivalent_sigma(sigmas, medians, 0.9) == pytest.approx(1.0)
    assert bench.equivalent_sigma(sigmas, medians, 0.05) is None
    assert bench.equivalent_sigma(sigmas, medians, 1.5) is None
