"""Property-based round trip of the crystals converter on 1000 random structures (~30 s)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from pymatgen.analysis.structure_matcher import StructureMatcher

from graphdiff.testing import assert_roundtrip
from graphdiff_crystals.domain import CrystalDomain
from graphdiff_crystals.testing import structures

DOMAIN = CrystalDomain()
# Same cell and sites on both sides: no primitive reduction or supercells, which keeps fit() fast.
MATCHER = StructureMatcher(ltol=1e-3, stol=1e-3, angle_tol=1e-2, primitive_cell=False, scale=False,
                           attempt_supercell=False)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structures(max_atoms=20))
def test_roundtrip_random_structures(structure):
    data = assert_roundtrip(DOMAIN, structure)
    back = DOMAIN.from_graph(data)
    assert MATCHER.fit(structure, back)
    f = data.frac_coords.numpy()
    assert ((f >= 0) & (f < 1)).all() and not np.signbit(f).any()
    # rebuilt in the canonical, right-handed cell: a along x, b in the xy-plane
    m = back.lattice.matrix
    assert m[0, 1] == m[0, 2] == m[1, 2] == 0.0 and np.linalg.det(m) > 0
    # same geometry: every periodic interatomic distance is kept
    assert np.allclose(structure.distance_matrix, back.distance_matrix, atol=1e-6)
    # converting the rebuilt structure gives the same graph
    again = DOMAIN.to_graph(back)
    assert np.allclose(again.lattice.numpy(), data.lattice.numpy(), atol=1e-9)
    assert np.array_equal(again.atom_types.numpy(), data.atom_types.numpy())
    diff = again.frac_coords.numpy() - f
    assert np.allclose(diff - np.round(diff), 0.0, atol=1e-9)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structures(min_atoms=20, max_atoms=30, elements=["C", "N", "O", "Si", "Fe", "U"]))
def test_roundtrip_larger_cells_few_elements(structure):
    assert len(structure) >= 20
    assert {s.specie.symbol for s in structure} <= {"C", "N", "O", "Si", "Fe", "U"}
    assert_roundtrip(DOMAIN, structure)
