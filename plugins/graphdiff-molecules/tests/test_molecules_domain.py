"""The molecules domain: conversion, round trips, bad inputs, targets and registration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from hypothesis import given, settings
from pymatgen.core import Molecule, Structure, Lattice
from torch_geometric.data import Data

import graphdiff
from graphdiff.errors import DataError, GraphValidationError
from graphdiff.plugins import PluginManager
from graphdiff.testing import assert_roundtrip
from graphdiff_molecules import MoleculeDomain, QM9_ELEMENTS
from graphdiff_molecules.targets import molecular_mass, molecule_targets, radius_of_gyration
from graphdiff_molecules.testing import molecules

DOMAIN = MoleculeDomain()


def _positions(obj):
    return obj.get_positions() if isinstance(obj, Atoms) else obj.cart_coords


@settings(max_examples=1000, deadline=None)
@given(molecules(kind="any"))
def test_roundtrip_qm9(mol):
    data = assert_roundtrip(DOMAIN, mol)
    # stored as given (not centred) and returned as stored
    np.testing.assert_allclose(data.positions.double().numpy(), _positions(mol), rtol=1e-6, atol=1e-6)
    back = DOMAIN.from_graph(data)
    assert isinstance(back, Atoms) and not back.pbc.any()


@settings(max_examples=200, deadline=None)
@given(molecules(max_atoms=12, elements=("C", "Cl", "Br", "Si", "H")))
def test_roundtrip_custom_vocabulary(mol):
    domain = MoleculeDomain(elements=("C", "Cl", "Br", "Si", "H"), name="halo")
    data = assert_roundtrip(domain, mol)
    assert domain.spec["atom_types"].labels == ("C", "Cl", "Br", "Si", "H")
    assert [domain.elements[k] for k in data.atom_types.tolist()] == mol.get_chemical_symbols()


def test_layout_and_class_ids():
    mol = Atoms("OHHCNF", positions=np.arange(18, dtype=float).reshape(6, 3) * 0.7)
    data = DOMAIN.to_graph(mol)
    assert data.atom_types.tolist() == [3, 0, 0, 1, 2, 4]
    assert data.positions.shape == (6, 3) and data.positions.dtype == torch.float32
    assert data.num_nodes == 6
    DOMAIN.spec.validate(data)


def test_float64_storage_is_exact():
    domain = MoleculeDomain(dtype=torch.float64)
    mol = Atoms("CO", positions=[[123.456789012345, -1e-9, 0.1], [124.5, 0.0, 0.3]])
    back = domain.from_graph(domain.to_graph(mol))
    assert np.array_equal(back.get_positions(), mol.get_positions())


def test_pymatgen_in_and_out():
    mol = Molecule(["C", "O"], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.13]])
    data = DOMAIN.to_graph(mol)
    pm = DOMAIN.to_pymatgen(data)
    assert isinstance(pm, Molecule)
    assert [s.specie.symbol for s in pm] == ["C", "O"]
    assert DOMAIN.equal(mol, pm) and DOMAIN.equal(pm, DOMAIN.from_graph(data))


def test_equal_is_strict_about_order_and_position():
    a = Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.2]])
    assert DOMAIN.equal(a, a.copy())
    assert not DOMAIN.equal(a, Atoms("OC", positions=[[0, 0, 0], [0, 0, 1.2]]))
    moved = a.copy()
    moved.positions[1, 2] += 1e-5
    assert not DOMAIN.equal(a, moved)
    nudged = a.copy()
    nudged.positions[1, 2] += 5e-7
    assert DOMAIN.equal(a, nudged)
    assert not DOMAIN.equal(a, Atoms("COH", positions=[[0, 0, 0], [0, 0, 1.2], [1, 0, 0]]))
    assert not DOMAIN.equal(a, "CO")


# ---------------------------------------------------------------------------- bad inputs
def test_unknown_element_names_element_and_vocabulary():
    mol = Atoms("CClH", positions=[[0, 0, 0], [1.8, 0, 0], [-1, 0, 0]])
    with pytest.raises(DataError) as err:
        DOMAIN.to_graph(mol)
    msg = str(err.value)
    assert "'Cl'" in msg and "atom 1" in msg and "H, C, N, O, F" in msg


def test_nan_and_inf_positions_name_the_atom():
    for bad in (np.nan, np.inf, -np.inf):
        pos = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
        pos[2, 1] = bad
        with pytest.raises(DataError, match=r"atom 2 \(H\) has a non-finite position"):
            DOMAIN.to_graph(Atoms("CHH", positions=pos))


def test_empty_molecules():
    with pytest.raises(DataError, match="no atoms"):
        DOMAIN.to_graph(Atoms())
    with pytest.raises(DataError, match="no atoms"):
        DOMAIN.to_graph(Molecule([], []))


def test_overlapping_atoms_name_the_pair():
    mol = Atoms("CHO", positions=[[0, 0, 0], [1.0, 0, 0], [1.05, 0, 0]])
    with pytest.raises(DataError, match=r"atoms 1 \(H\) and 2 \(O\) are 0.05 Å apart"):
        DOMAIN.to_graph(mol)
    assert MoleculeDomain(min_distance=0.01).to_graph(mol).num_nodes == 3
    strict = MoleculeDomain(min_distance=0.5)
    with pytest.raises(DataError, match="min_distance=0.5"):
        strict.to_graph(Atoms("CH", positions=[[0, 0, 0], [0.4, 0, 0]]))


def test_max_atoms():
    domain = MoleculeDomain(max_atoms=2)
    with pytest.raises(DataError, match="3 atoms, more than the 2"):
        domain.to_graph(Atoms("CHH", positions=[[0, 0, 0], [1, 0, 0], [2, 0, 0]]))


def test_wrong_types():
    with pytest.raises(DataError, match="expected an ase.Atoms, a pymatgen Molecule or an RDKit Mol, got str"):
        DOMAIN.to_graph("CO")
    structure = Structure(Lattice.cubic(5.0), ["C"], [[0, 0, 0]])
    with pytest.raises(DataError, match="structure_to_molecule"):
        DOMAIN.to_graph(structure)
    disordered = Molecule([{"C": 0.5, "N": 0.5}], [[0, 0, 0]])
    with pytest.raises(DataError, match="site 0 is disordered"):
        DOMAIN.to_graph(disordered)


def test_bad_vocabulary():
    with pytest.raises(ValueError, match="not chemical element symbols"):
        MoleculeDomain(elements=("H", "Xx"))
    with pytest.raises(ValueError, match="repeat"):
        MoleculeDomain(elements=("H", "C", "H"))
    with pytest.raises(ValueError, match="at least 2"):
        MoleculeDomain(elements=("C",))
    with pytest.raises(ValueError, match="min_distance"):
        MoleculeDomain(min_distance=-1.0)
    with pytest.raises(ValueError, match="floating dtype"):
        MoleculeDomain(dtype=torch.int64)


def test_from_graph_rejects_invalid_graphs():
    data = Data(num_nodes=2, atom_types=torch.tensor([0, 5]), positions=torch.zeros(2, 3))
    with pytest.raises(GraphValidationError, match="atom_types"):
        DOMAIN.from_graph(data)
    data = Data(num_nodes=1, atom_types=torch.tensor([0]), positions=torch.tensor([[0.0, float("nan"), 0]]))
    with pytest.raises(GraphValidationError, match="non-finite"):
        DOMAIN.from_graph(data)


# ---------------------------------------------------------------------------- targets
def test_targets_known_values():
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    assert molecular_mass(water) == pytest.approx(18.015, abs=1e-3)
    assert radius_of_gyration(Atoms("H2", positions=[[0, 0, 0], [0, 0, 1.0]])) == pytest.approx(0.5)
    assert radius_of_gyration(Atoms("C", positions=[[3, 2, 1]])) == pytest.approx(0.0, abs=1e-12)
    # heavy atom pulls the centre of mass: CO, 1.128 Å, r_g = d * sqrt(mC mO) / (mC + mO)
    mc, mo = 12.011, 15.999
    expected = 1.128 * np.sqrt(mc * mo) / (mc + mo)
    co = Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.128]])
    assert radius_of_gyration(co) == pytest.approx(expected, rel=1e-4)
    rotated = co.copy()
    rotated.rotate(37, "x")
    rotated.translate([5, -3, 2])
    assert radius_of_gyration(rotated) == pytest.approx(radius_of_gyration(co))
    with pytest.raises(DataError, match="no atoms"):
        molecular_mass(Atoms())


def test_target_graph_fns_match_and_differentiate():
    targets = {t.name: t for t in molecule_targets("molecules", QM9_ELEMENTS)}
    mols = [Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                     [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]),
            Atoms("NO", positions=[[0, 0, 0], [0, 1.15, 0.1]])]
    datas = [DOMAIN.to_graph(m) for m in mols]
    types = torch.cat([d.atom_types for d in datas])
    pos = torch.cat([d.positions for d in datas]).double().requires_grad_(True)
    batch = torch.tensor([0] * 5 + [1] * 2)
    for name in ("molecules-radius_of_gyration", "molecules-molecular_mass"):
        target = targets[name]
        assert target.differentiable
        values = target.graph_fn({"atom_types": types, "positions": pos}, batch)
        assert values.shape == (2,)
        for v, m in zip(values.tolist(), mols):
            assert v == pytest.approx(target(m), rel=1e-5)
        onehot = torch.nn.functional.one_hot(types, len(QM9_ELEMENTS)).double()
        again = target.graph_fn({"atom_types": onehot, "positions": pos}, batch)
        assert torch.allclose(values, again)
    rg = targets["molecules-radius_of_gyration"].graph_fn({"atom_types": types, "positions": pos}, batch)
    rg.sum().backward()
    assert pos.grad is not None and torch.isfinite(pos.grad).all() and pos.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- registration
def test_load_domain_through_entry_point():
    pm = PluginManager(autoload=True, allow=["molecules"], strict=True).load()
    domain = pm.registry("domains").get("molecules")
    assert isinstance(domain, MoleculeDomain) and domain.elements == QM9_ELEMENTS
    info = pm.plugins["molecules"]
    assert info.distribution == "graphdiff-molecules" and info.ok
    assert info.registered["domains"] == ["molecules"]
    assert sorted(info.registered["targets"]) == ["molecules-molecular_mass",
                                                  "molecules-radius_of_gyration", "qm9-gap"]
    target = pm.registry("targets").get("molecules-molecular_mass")
    assert target.domain == "molecules" and target.units == "u"
    assert isinstance(graphdiff.load_domain("molecules"), MoleculeDomain)
