"""benchmarks/crystals/crystals_candidates.py: the other A/B site order of a Perov-5 cell."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_candidates.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "crystals_candidates_bench")


def test_swapped_exchanges_the_two_cations_and_keeps_the_anions(bench):
    coords = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    s = Structure(Lattice.tetragonal(3.9, 4.1), ["Sr", "Ti", "O", "O", "N"], coords)
    t = bench.swapped(s)
    assert [x.specie.symbol for x in t] == ["Ti", "Sr", "O", "O", "N"]
    assert t.lattice == s.lattice and [list(x.frac_coords) for x in t] == [list(x.frac_coords) for x in s]
    assert t.composition == s.composition
    assert bench.swapped(bench.swapped(s)) == s
    # not a two-cation cell: nothing to swap
    assert bench.swapped(Structure(Lattice.cubic(4), ["Sr", "Ti", "Zr", "O", "O"], coords)) is None
