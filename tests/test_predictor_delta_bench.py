"""benchmarks/targets/predictor_delta.py: the CHGNet-based baseline that the predictor's residual is on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets" / "predictor_delta.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "predictor_delta_bench")


def _perovskite(a: str, b: str, x: str) -> Structure:
    return Structure(Lattice.cubic(4.0), [a, b, x, x, x],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_the_baseline_recovers_element_weights_and_the_energy_coefficient(bench):
    rng = np.random.default_rng(0)
    cations, anions = ["Na", "K", "Sr", "Ti", "Nb", "Ta"], ["O", "F", "N"]
    structures = [_perovskite(*rng.choice(cations, 2, replace=False), rng.choice(anions)) for _ in range(60)]
    elements = sorted({str(e) for s in structures for e in s.composition.elements})
    true_w = dict(zip(elements, rng.normal(size=len(elements))))
    energies = rng.normal(-6, 1, size=len(structures))
    y = np.array([sum(true_w[str(e)] * f for e, f in s.composition.fractional_composition.items()) + 0.7 * en
                  for s, en in zip(structures, energies)])
    x = bench.design(structures, energies, elements)
    assert x.shape == (60, len(elements) + 1)
    assert np.allclose(x[:, :-1].sum(1), 1.0) and np.allclose(x[:, -1], energies)
    coef = bench.fit_baseline(structures, energies, y, elements)
    assert coef[-1] == pytest.approx(0.7)
    assert np.allclose(x @ coef, y)  # element weights are defined up to the fixed A/B/X shares
    assert np.array_equal(bench.design(structures, None, elements), x[:, :-1])  # the composition-only control
