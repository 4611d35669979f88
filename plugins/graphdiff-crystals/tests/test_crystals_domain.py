"""The crystals converter: graph layout, exactness, chirality, errors, equality, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pymatgen.core import DummySpecies, Lattice, Molecule, Structure
from torch_geometric.data import Batch

from graphdiff.errors import DataError
from graphdiff.graph import FieldKind, Level
from graphdiff.testing import assert_roundtrip
from graphdiff_crystals.domain import CrystalDomain, property_attribute
from graphdiff_crystals.testing import chiral_structure, triple_product


def test_spec(domain):
    spec = domain.spec
    assert spec.names == ["atom_types", "frac_coords", "lattice"]
    types = spec["atom_types"]
    assert (types.kind, types.level, types.num_classes) == (FieldKind.CATEGORICAL, Level.NODE, 100)
    assert types.labels[0] == "H" and types.labels[25] == "Fe" and types.labels[99] == "Fm"
    assert (spec["frac_coords"].kind, spec["frac_coords"].dim) == (FieldKind.TORUS, 3)
    assert (spec["lattice"].kind, spec["lattice"].level, spec["lattice"].dim) == (FieldKind.CONTINUOUS, Level.GRAPH, 6)
    assert spec.max_nodes == 100
    assert (domain.name, domain.version) == ("crystals", "1")


def test_to_graph_of_rocksalt(domain, rocksalt):
    data = assert_roundtrip(domain, rocksalt)
    assert data.num_nodes == 8
    assert data.atom_types.dtype == torch.long
    assert sorted(data.atom_types.tolist()) == [10] * 4 + [16] * 4  # Na (Z=11), Cl (Z=17)
    assert data.frac_coords.dtype == torch.float64 and data.frac_coords.shape == (8, 3)
    assert data.lattice.dtype == torch.float64 and data.lattice.shape == (1, 6)
    expected = [math.log(5.64)] * 3 + [0.0] * 3
    assert np.allclose(data.lattice.numpy()[0], expected, atol=1e-12)


def test_roundtrip_triclinic_with_boundary_coordinates(domain, triclinic):
    data = assert_roundtrip(domain, triclinic)
    f = data.frac_coords.numpy()
    assert ((f >= 0) & (f < 1)).all() and not np.signbit(f).any()
    assert f[1, 0] == 0.9999999999  # kept, not rounded up to 1.0
    assert np.allclose(f[3], [0.7, 0.7, 0.2])
    back = domain.from_graph(data)
    m = back.lattice.matrix
    assert m[0, 1] == m[0, 2] == m[1, 2] == 0.0  # canonical cell
    assert np.allclose(back.distance_matrix, triclinic.distance_matrix, atol=1e-9)


def test_left_handed_basis_is_not_mirrored(domain):
    left, right = chiral_structure(left_handed=True), chiral_structure(left_handed=False)
    assert np.linalg.det(left.lattice.matrix) < 0
    handedness = triple_product(right)
    assert abs(handedness) > 0.5 and math.isclose(triple_product(left), handedness, rel_tol=1e-9)
    back = domain.from_graph(assert_roundtrip(domain, left))
    assert np.linalg.det(back.lattice.matrix) > 0
    assert math.isclose(triple_product(back), handedness, rel_tol=1e-9)
    # the naive conversion (same fractional coordinates in the Cholesky cell) would mirror it
    naive = Structure(back.lattice, left.species, left.frac_coords)
    assert math.isclose(triple_product(naive), -handedness, rel_tol=1e-9)
    # both bases describe the same crystal, so they give the same graph
    assert domain.equal(left, right)
    g_left, g_right = domain.to_graph(left), domain.to_graph(right)
    assert torch.allclose(g_left.lattice, g_right.lattice, atol=1e-9)
    assert torch.allclose(g_left.frac_coords, g_right.frac_coords, atol=1e-9)


def test_mirror_image_is_a_different_crystal(domain):
    s = chiral_structure(left_handed=False)
    mirror = Structure(s.lattice.matrix @ np.diag([1.0, 1.0, -1.0]), s.species, s.frac_coords)
    assert math.isclose(triple_product(mirror), -triple_product(s), rel_tol=1e-9)
    assert not domain.equal(s, mirror)
    theta = 0.7
    rot = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    rotated = Structure(s.lattice.matrix @ rot.T, s.species, s.frac_coords)
    assert domain.equal(s, rotated)


def test_equal(domain, triclinic):
    shifted = Structure(triclinic.lattice, triclinic.species, triclinic.frac_coords + [1, -2, 3])
    assert domain.equal(triclinic, shifted)
    moved = triclinic.frac_coords.copy()
    moved[2, 1] += 1e-5
    assert not domain.equal(triclinic, Structure(triclinic.lattice, triclinic.species, moved))
    assert domain.equal(triclinic, Structure(triclinic.lattice, triclinic.species, moved), tol=1e-4)
    stretched = Lattice(triclinic.lattice.matrix * (1 + 1e-5))
    assert not domain.equal(triclinic, Structure(stretched, triclinic.species, triclinic.frac_coords))
    other = triclinic.copy()
    other.replace(0, "Ge")
    assert not domain.equal(triclinic, other)
    perm = [3, 1, 0, 2]
    permuted = Structure(triclinic.lattice, [triclinic.species[i] for i in perm], triclinic.frac_coords[perm])
    assert not domain.equal(triclinic, permuted)
    assert domain.equal(triclinic, permuted, ordered=False)
    assert not domain.equal(triclinic, triclinic.copy().remove_sites([0]))
    assert not domain.equal(triclinic, "not a structure")


def test_oxidation_states_are_dropped(domain):
    s = Structure(Lattice.cubic(4.2), ["Mg2+", "O2-"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    data = domain.to_graph(s)
    assert data.atom_types.tolist() == [11, 7]
    assert domain.equal(s, domain.from_graph(data))


def _cubic(species, coords, a=4.0):
    return Structure(Lattice.cubic(a), species, coords)


@pytest.mark.parametrize("make, message", [
    (lambda: _cubic([{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]]), "disordered or partially occupied"),
    (lambda: _cubic([{"Fe": 0.5}], [[0, 0, 0]]), "disordered or partially occupied"),
    (lambda: _cubic(["Md"], [[0, 0, 0]]), r"Z = 101"),
    (lambda: _cubic([DummySpecies("X")], [[0, 0, 0]]), "dummy species"),
    (lambda: Structure(Lattice([[4, 0, 0], [0, 4, 0], [4, 4, 0]]), ["Na"], [[0, 0, 0]]), "degenerate lattice"),
    (lambda: Structure(Lattice([[0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.05]]), ["Na"], [[0, 0, 0]]), "degenerate lattice"),
    (lambda: Structure(Lattice(np.full((3, 3), np.nan)), ["Na"], [[0, 0, 0]]), "non-finite"),
    (lambda: _cubic(["Na", "Cl"], [[0, 0, 0], [np.nan, 0.5, 0.5]]), "site 1 has non-finite"),
    (lambda: _cubic(["Na", "Cl"], [[0.1, 0.1, 0.1], [0.15, 0.1, 0.1]]), r"sites 0 \(Na\) and 1 \(Cl\) overlap: 0.200"),
    (lambda: _cubic(["Na", "Cl"], [[0.01, 0.5, 0.5], [0.99, 0.5, 0.5]]), "0.080 Å apart under periodic"),
    (lambda: _cubic(["Na"], [[0, 0, 0]], a=0.3), "only 0.3 Å thick"),
    (lambda: Structure(Lattice([[1000, 0, 0], [0, 1000, 0], [500, 500, 0.001]]), ["Na"], [[0, 0, 0]]),
     "degenerate lattice: the cell is only 0.001 Å thick"),
    (lambda: _cubic(["Na"], [[0, 0, 0]], a=2000.0), "2e\\+03 Å long"),
    (lambda: Structure(Lattice.cubic(4), [], []), "no atoms"),
    (lambda: Molecule(["H", "H"], [[0, 0, 0], [0.74, 0, 0]]), "expected a pymatgen Structure"),
])
def test_bad_structures_raise_data_error(domain, make, message):
    bad = make()
    with pytest.raises(DataError, match=message):
        domain.to_graph(bad)
    assert domain.structure_problem(bad) is not None


def test_overlap_threshold_and_size_limit_are_options(rocksalt):
    close = _cubic(["Na", "Cl"], [[0.1, 0.1, 0.1], [0.15, 0.1, 0.1]])  # 0.2 Å apart
    assert CrystalDomain(min_distance=0.1).structure_problem(close) is None
    with pytest.raises(DataError, match="closer than 0.3 Å"):
        CrystalDomain(min_distance=0.3).to_graph(close)
    with pytest.raises(DataError, match="8 atoms, more than the 4"):
        CrystalDomain(max_nodes=4).to_graph(rocksalt)
    assert CrystalDomain(max_nodes=4).spec.max_nodes == 4


def test_from_graph_accepts_generated_values(domain, triclinic):
    data = domain.to_graph(triclinic)
    data.frac_coords = (data.frac_coords + torch.tensor([1.0, -2.0, 0.0])).float()  # outside [0, 1), float32
    data.lattice = data.lattice.float().reshape(6)
    back = domain.from_graph(data)
    assert ((back.frac_coords >= 0) & (back.frac_coords < 1)).all()
    assert domain.equal(triclinic, back, tol=1e-5)
    scores = torch.nn.functional.one_hot(data.atom_types, 100).float()
    data.atom_types = scores
    assert [s.specie.symbol for s in domain.from_graph(data)] == [s.specie.symbol for s in triclinic]
    # a batch of one graph is one graph
    assert domain.equal(triclinic, domain.from_graph(Batch.from_data_list([domain.to_graph(triclinic)])))


@pytest.mark.parametrize("edit, message", [
    (lambda d: delattr(d, "lattice"), "'lattice' is missing"),
    (lambda d: setattr(d, "atom_types", torch.tensor([0, 1, 100, 3])), r"must lie in \[0, 100\)"),
    (lambda d: setattr(d, "atom_types", torch.tensor([0, 1, -1, 3])), r"must lie in \[0, 100\)"),
    (lambda d: setattr(d, "frac_coords", torch.full((4, 3), float("nan"))), "non-finite"),
    (lambda d: setattr(d, "frac_coords", torch.zeros(4, 2)), "frac_coords must be float"),
    (lambda d: setattr(d, "lattice", torch.zeros(1, 5)), "lattice must be float"),
    (lambda d: setattr(d, "lattice", torch.tensor([[1e3, 0, 0, 0, 0, 0]])), "overflow"),
])
def test_from_graph_errors(domain, triclinic, edit, message):
    data = domain.to_graph(triclinic)
    edit(data)
    with pytest.raises(DataError, match=message):
        domain.from_graph(data)


def test_from_graph_refuses_a_batch(domain, triclinic, rocksalt):
    batch = Batch.from_data_list([domain.to_graph(triclinic), domain.to_graph(rocksalt)])
    with pytest.raises(DataError, match="batch of 2"):
        domain.from_graph(batch)


def test_canonicalize(domain, triclinic):
    canon = domain.canonicalize(triclinic)
    assert np.allclose(np.triu(canon.lattice.matrix, 1), 0.0)
    assert domain.equal(canon, triclinic)


def test_record_to_graph_stores_properties(domain, rocksalt):
    record = {"id": "nacl", "obj": rocksalt, "props": {"heat_all": 2.5, "band gap (eV)": 8.5, "dir_gap": float("nan")}}
    data = domain.record_to_graph(record)
    assert data.heat_all.dtype == torch.float32 and data.heat_all.shape == (1,)
    assert data.heat_all.item() == 2.5
    assert data.band_gap_eV.item() == 8.5
    assert torch.isnan(data.dir_gap).all()
    domain.spec.validate(data)
    with pytest.raises(DataError, match="reserved graph attribute 'lattice'"):
        domain.record_to_graph({"id": "x", "obj": rocksalt, "props": {"lattice": 1.0}})
    bad = _cubic(["Na", "Cl"], [[0.1, 0.1, 0.1], [0.12, 0.1, 0.1]])
    with pytest.raises(DataError, match="record broken-7: .*overlap"):
        domain.record_to_graph({"id": "broken-7", "obj": bad, "props": {}})


def test_property_attribute_names():
    assert property_attribute("heat_ref") == "heat_ref"
    assert property_attribute("E_form (eV/atom)") == "E_form_eV_atom"
    assert property_attribute("2theta") == "p_2theta"
    with pytest.raises(DataError):
        property_attribute("()")
    with pytest.raises(DataError):
        property_attribute("num_nodes")


def test_distance_is_the_matched_rms_and_picks_the_least_distorted_draw():
    """``CrystalDomain.distance``: 0 for the same crystal in another setting, growing with a
    distortion, ``None`` for different crystals; the medoid of noisy draws is the cleanest.
    (A low-symmetry crystal: for a symmetric one the matcher's search over equivalent settings
    also lines up the noise of two draws, so noisy draws look closer to each other.)"""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    from graphdiff.candidates import medoid

    dom = CrystalDomain()
    rng = np.random.default_rng(0)
    ideal = Structure(Lattice.from_parameters(4.1, 4.6, 5.3, 81, 97, 104), ["Sr", "Ti", "O", "O", "N"],
                      rng.random((5, 3)))
    shifted = ideal.copy()
    shifted.translate_sites(list(range(5)), [0.25, 0.1, 0.0])
    assert dom.distance(ideal, shifted) == pytest.approx(0.0, abs=1e-6)

    def noisy(scale):
        s = ideal.copy()
        for i in range(5):
            s.translate_sites([i], rng.normal(0, scale, 3), frac_coords=True)
        return s

    draws = [noisy(0.02) for _ in range(3)] + [noisy(0.002)] + [noisy(0.02) for _ in range(4)]
    d = dom.distance(ideal, draws[0])
    assert d is not None and 0 < d < dom.distance(ideal, noisy(0.05))
    assert medoid(range(8), draws, dom.distance) == 3
    other = Structure(Lattice.cubic(4.0), ["Sr", "Ti"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert dom.distance(ideal, other) is None and dom.distance(ideal, "not a structure") is None
