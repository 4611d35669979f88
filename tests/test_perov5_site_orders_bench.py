"""benchmarks/crystals/perov5_site_orders.py: the A/B/X roles read from a cell's geometry, the kinds of
held-out rows, the order predictors and the k = 1 ceilings built on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "perov5_site_orders.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "perov5_site_orders_bench")


def _perovskite(a_el: str, b_el: str, x_els=("O", "O", "O"), a: float = 3.9, shift=(0.0, 0.0, 0.0),
                order=(0, 1, 2, 3, 4)):
    from pymatgen.core import Lattice, Structure

    species = [a_el, b_el, *x_els]
    coords = [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    coords = [list((np.asarray(c) + shift) % 1.0) for c in coords]
    return Structure(Lattice.cubic(a), [species[i] for i in order], [coords[i] for i in order])


def test_roles_of_the_ideal_cell_and_of_its_other_order(bench):
    a, b, x, margin = bench.site_roles(_perovskite("Sr", "Ti"))
    assert (a, b, x) == ("Sr", "Ti", ("O", "O", "O"))
    assert margin > 0.5  # Å: 0.255 a in the ideal cell
    # the other order of the same composition: the cations trade places
    assert bench.site_roles(_perovskite("Ti", "Sr"))[:2] == ("Ti", "Sr")


def test_roles_do_not_depend_on_element_names(bench):
    # N on the B site of an oxynitride: geometry, not a list of anions, decides
    assert bench.site_roles(_perovskite("La", "N", ("O", "O", "F")))[:3] == ("La", "N", ("F", "O", "O"))


@settings(max_examples=60, deadline=None)
@given(shift=st.tuples(*[st.floats(0, 1, allow_nan=False)] * 3), order=st.permutations(range(5)),
       a=st.floats(3.0, 6.0), jitter=st.integers(0, 2**31 - 1))
def test_roles_survive_origin_shifts_site_order_and_small_distortions(bench, shift, order, a, jitter):
    s = _perovskite("Ba", "Zr", ("O", "N", "N"), a=a, shift=np.asarray(shift), order=tuple(order))
    rng = np.random.default_rng(jitter)
    for i in range(len(s)):
        s.translate_sites([i], rng.normal(0, 0.01, 3), frac_coords=True)
    A, B, X, margin = bench.site_roles(s)
    assert (A, B, X) == ("Ba", "Zr", ("N", "N", "O"))
    assert margin > 0


def test_a_cell_that_is_not_five_atoms_is_refused(bench):
    from pymatgen.core import Lattice, Structure

    with pytest.raises(ValueError, match="5 sites"):
        bench.site_roles(Structure(Lattice.cubic(3), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))


def test_kinds_of_held_out_rows(bench):
    same = lambda s, t: s == t  # noqa: E731 - a toy "same order": equal labels
    train = [("AB", "ab"), ("CD", "cd")]
    test = [("AB", "ba"), ("CD", "cd"), ("EF", "ef"), ("EF", "fe"), ("GH", "gh")]
    assert bench.row_kinds(train, test, same) == [
        "other order in training", "same order in training", "other order held out",
        "other order held out", "alone"]


def test_ceilings(bench):
    kinds = ["alone"] * 6 + ["other order in training"] * 2 + ["other order held out"] * 2
    c = bench.ceilings(kinds, 0.5)
    assert c["composition_only"] == 0.5
    # 6 alone at 1/2, 2 always right, 2 held-out siblings share one right answer
    assert c["with_training_orders"] == pytest.approx((3 + 2 + 1) / 10)


def test_order_rules(bench):
    train = [("Sr", "Ti", ("O",) * 3), ("Sr", "Zr", ("O",) * 3), ("Ba", "Ti", ("O",) * 3)]
    rows = [("Ba", "Zr", ("O",) * 3), ("Zr", "Ba", ("O",) * 3), ("Sr", "Sr", ("O",) * 3)]
    # Ba and Sr were on A in training, Zr and Ti on B; two identical cations cannot be told apart
    assert bench.share_rule(train, rows) == [True, False, None]
    assert bench.accuracy([True, False, None]) == 0.5
    # Ba is larger than Zr (atomic radii 2.15 / 1.55 Å)
    assert bench.radius_rule(rows[:2]) == [True, False]


def test_distortion_from_the_ideal_cell(bench):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    ideal = _perovskite("Sr", "Ti", a=3.9, shift=np.asarray([0.3, 0.1, 0.7]), order=(4, 2, 0, 1, 3))
    assert bench.distortion(ideal, matcher) == pytest.approx(0.0, abs=1e-6)
    polar = _perovskite("Sr", "Ti", a=3.9)
    polar.translate_sites([1], [0, 0, 0.04], frac_coords=True)   # Ti off-centre along c
    small = bench.distortion(polar, matcher)
    polar.translate_sites([1], [0, 0, 0.04], frac_coords=True)
    assert 0 < small < bench.distortion(polar, matcher)
