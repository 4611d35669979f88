"""benchmarks/targets/targets_xrd.py: the noisy patterns, where a run's composition-only figure lives,
and the search-match similarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets" / "targets_xrd.py"


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


def test_search_similarity_is_the_ranking_similarity_and_finds_a_rescaled_cell(bench):
    from pymatgen.core import Lattice, Structure

    from graphdiff_crystals.xrd import XRDReference, profile, similarity, simulate

    cell = Structure(Lattice.hexagonal(2.46, 6.7), ["C"] * 4,
                     [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    other = Structure(Lattice.cubic(3.57), ["C"] * 8,
                      [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0], [0.25] * 3,
                       [0.25, 0.75, 0.75], [0.75, 0.25, 0.75], [0.75, 0.75, 0.25]])
    ref = XRDReference(simulate(cell)).profile
    # no rescaling: exactly graphdiff_crystals.xrd.similarity of the two profiles
    stack = np.stack([bench._scaled_profiles(s, np.array([0.0])) for s in (cell, other)])
    got = bench._best_similarity(stack, ref)
    want = [similarity(profile(simulate(s)), ref) for s in (cell, other)]
    assert got == pytest.approx(want, abs=1e-5)
    assert got[0] == pytest.approx(1.0, abs=1e-5) and got[1] < 0.9
    # a cell 2 % too large is found again once the rescalings cover it
    big = cell.copy()
    big.scale_lattice(cell.volume * 1.02 ** 3)
    strains = np.arange(-0.03, 0.03 + 1e-9, 0.01)
    rescaled = bench._best_similarity(bench._scaled_profiles(big, strains)[None], ref)[0]
    as_is = bench._best_similarity(bench._scaled_profiles(big, np.array([0.0]))[None], ref)[0]
    assert rescaled > 0.99 and rescaled > as_is + 0.03
