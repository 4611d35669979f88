"""EDM's molecule metrics: bond orders, stability, RDKit validity, uniqueness, novelty, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule as ase_molecule
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff.plugins import get_manager
from graphdiff_molecules import MoleculeDomain
from graphdiff_molecules.edm_metrics import (ALLOWED_BONDS, BONDS1, BONDS2, BONDS3, MARGIN1, MARGIN2,
                                             MARGIN3, bond_orders, check_stability, dng_metric,
                                             get_bond_order, molecule_smiles)
from graphdiff_molecules.qm9 import read_qm9

DOMAIN = MoleculeDomain()


@pytest.fixture(scope="module")
def qm9_test_500():
    return list(read_qm9("test", max_items=500))


# ---------------------------------------------------------------------------- EDM's tables
def test_tables_and_margins_are_edms():
    assert (MARGIN1, MARGIN2, MARGIN3) == (10, 5, 3)
    assert BONDS1["C"]["C"] == 154 and BONDS1["C"]["H"] == 109 and BONDS1["O"]["H"] == 96
    assert BONDS1["N"]["F"] == 136 and BONDS1["F"]["F"] == 142
    assert BONDS2["C"]["O"] == 120 and BONDS2["N"]["N"] == 125 and BONDS2["O"]["O"] == 121
    assert BONDS3 == {"C": {"C": 120, "N": 116, "O": 113}, "N": {"C": 116, "N": 110}, "O": {"C": 113}}
    assert {k: ALLOWED_BONDS[k] for k in "HCNOF"} == {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1}
    assert ALLOWED_BONDS["P"] == [3, 5]
    for table in (BONDS1, BONDS3):  # symmetric, as EDM's check_consistency_bond_dictionaries wants
        for a, row in table.items():
            for b, length in row.items():
                assert table[b][a] == length
    # EDM's bonds2 has C=S only under "C" (kept as EDM has it); every QM9 pair is symmetric
    assert BONDS2["C"]["S"] == 160 and "C" not in BONDS2["S"]
    assert get_bond_order("C", "S", 1.60) == 2 and get_bond_order("S", "C", 1.60) == 1


@pytest.mark.parametrize("a, b, d, order", [
    ("C", "C", 1.54, 1), ("C", "C", 1.63, 1), ("C", "C", 1.6401, 0), ("C", "C", 1.38, 2),
    ("C", "C", 1.39, 1), ("C", "C", 1.22, 3), ("C", "C", 1.23, 2), ("C", "N", 1.18, 3),
    ("C", "O", 1.15, 3), ("C", "O", 1.21, 2), ("N", "N", 1.12, 3), ("O", "O", 1.20, 2),
    ("C", "F", 1.40, 1), ("C", "F", 1.20, 1), ("H", "H", 0.74, 1), ("H", "H", 0.84, 0),
    ("C", "H", 1.09, 1), ("C", "H", 1.19, 0),
])
def test_get_bond_order(a, b, d, order):
    assert get_bond_order(a, b, d) == order
    assert get_bond_order(b, a, d) == order


def test_unknown_pairs():
    with pytest.raises(KeyError):  # as EDM without check_exists
        get_bond_order("C", "Xe", 1.0)
    assert get_bond_order("C", "Xe", 1.0, check_exists=True) == 0


def test_vectorised_orders_match_the_scalar_function(qm9_test_500):
    rng = np.random.default_rng(0)
    for rec in qm9_test_500[:60]:
        symbols = rec["obj"].get_chemical_symbols()
        pos = rec["obj"].positions + rng.normal(0, 0.06, size=rec["obj"].positions.shape)
        orders = bond_orders(symbols, pos)
        assert (orders == orders.T).all() and (np.diag(orders) == 0).all()
        for i in range(len(symbols)):
            for j in range(i + 1, len(symbols)):
                d = float(np.linalg.norm(pos[i] - pos[j]))
                assert orders[i, j] == get_bond_order(symbols[i], symbols[j], d)


# ---------------------------------------------------------------------------- stability
def test_qm9_ground_truth_is_stable_as_edm_reports(qm9_test_500):
    """EDM reports 99.0 % atom and 95.2 % molecule stability for QM9 itself."""
    result = dng_metric(qm9_test_500)
    assert result["num_generated"] == 500
    assert result["atom_stability"] >= 0.99
    assert result["mol_stability"] >= 0.95
    assert result["validity"] >= 0.95
    assert result["uniqueness"] == 1.0


def test_a_displaced_atom_makes_the_molecule_unstable(qm9_test_500):
    rec = next(r for r in qm9_test_500 if len(r["obj"]) >= 8
               and check_stability(r["obj"].get_chemical_symbols(), r["obj"].positions)["mol_stable"])
    atoms = rec["obj"].copy()
    symbols = atoms.get_chemical_symbols()
    h = symbols.index("H")
    before = check_stability(symbols, atoms.positions)
    assert before["mol_stable"] and before["stable_atoms"] == len(atoms)
    atoms.positions[h] += [0.0, 0.0, 0.8]  # pulled off its heavy atom
    after = check_stability(symbols, atoms.positions)
    assert not after["mol_stable"]
    assert after["stable_atoms"] <= len(atoms) - 2  # the H and the atom it left
    assert any(u.startswith(f"H{h}: 0 bonds, allowed 1") for u in after["unstable"])
    result = dng_metric([{"id": "moved", "obj": atoms}, {"id": "orig", "obj": rec["obj"]}])
    assert result["mol_stability"] == 0.5
    rows = {r["id"]: r for r in result["per_item"]}
    assert not rows["moved"]["mol_stable"] and rows["orig"]["mol_stable"]
    assert rows["moved"]["unstable"] == after["unstable"]


# ---------------------------------------------------------------------------- validity & co
def _rotated(atoms: Atoms, shift=(3.0, -2.0, 1.0)) -> Atoms:
    out = atoms.copy()
    out.rotate(37, "x", center="COP")
    out.rotate(71, "z", center="COP")
    out.translate(shift)
    return out


def _pentavalent_carbon() -> Atoms:
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=float)
    return Atoms("CH5", positions=np.vstack([[0, 0, 0], 1.09 * dirs]))


def test_validity_uniqueness_novelty_hand_built():
    water, methane, ammonia = ase_molecule("H2O"), ase_molecule("CH4"), ase_molecule("NH3")
    generated = [water, methane, _rotated(water), ammonia, _pentavalent_carbon()]
    train = [_rotated(methane, (10, 0, 0))]
    result = dng_metric(generated, train=train)
    assert result["num_generated"] == 5
    assert result["validity"] == pytest.approx(4 / 5)     # CH5 fails sanitisation
    assert result["uniqueness"] == pytest.approx(3 / 4)   # water twice
    assert result["valid_and_unique"] == pytest.approx(0.6)
    assert result["novelty"] == pytest.approx(2 / 3)      # methane is in the training set
    assert (result["num_valid"], result["num_unique"], result["num_novel"]) == (4, 3, 2)
    assert result["mol_stability"] == pytest.approx(4 / 5)
    rows = result["per_item"]
    assert [r["valid"] for r in rows] == [True, True, True, True, False]
    assert [r["unique"] for r in rows] == [True, True, False, True, False]
    assert [r["novel"] for r in rows] == [True, False, True, True, None]
    assert rows[0]["smiles"] == rows[2]["smiles"] == "[H]O[H]"
    assert rows[4]["smiles"] is None and rows[4]["unstable"] == ["C0: 5 bonds, allowed 4"]


def test_largest_fragment_and_edm_training_smiles():
    water, methane = ase_molecule("H2O"), ase_molecule("CH4")
    pair = water.copy() + _rotated(methane, (8, 0, 0))  # two molecules 8 Å apart: one "molecule"
    result = dng_metric([pair], train=[pair])
    (row,) = result["per_item"]
    assert row["valid"] and row["num_fragments"] == 2
    assert row["smiles"] == "[H]C([H])([H])[H]"  # largest fragment (5 atoms beat 3)
    # EDM's training SMILES are of the whole molecule, so the fragment counts as novel
    assert molecule_smiles(pair) in ("[H]C([H])([H])[H].[H]O[H]", "[H]O[H].[H]C([H])([H])[H]")
    assert result["novelty"] == 1.0


def test_nothing_valid_and_no_training_set():
    result = dng_metric([_pentavalent_carbon()] * 2)
    assert result["validity"] == 0.0 and result["uniqueness"] == 0.0
    assert result["novelty"] is None and result["num_novel"] is None
    assert any("novelty is None" in n for n in result["notes"])
    empty = dng_metric([])
    assert empty["validity"] is None and empty["atom_stability"] is None


def test_unknown_elements_and_references():
    odd = Atoms("CXe", positions=[[0, 0, 0], [0, 0, 1.5]])
    result = dng_metric([odd], references=[ase_molecule("H2O")])
    (row,) = result["per_item"]
    assert not row["mol_stable"] and "Xe1: 0 bonds, no valency known" in row["unstable"]
    assert any("Xe" in n for n in result["notes"])
    assert result["reference"] == {"num_molecules": 1, "atom_stability": 1.0, "mol_stability": 1.0,
                                   "validity": 1.0}


def test_registered_as_molecules_dng():
    assert get_manager().get("metrics", "molecules-dng") is dng_metric


def test_evaluate_command_end_to_end(tmp_path, qm9_test_500):
    gen = [r["obj"] for r in qm9_test_500[:6]] + [_pentavalent_carbon(), qm9_test_500[0]["obj"]]
    DOMAIN.write(gen, tmp_path / "G.xyz")
    DOMAIN.write([r["obj"] for r in qm9_test_500[6:16]], tmp_path / "R.xyz")
    DOMAIN.write([r["obj"] for r in qm9_test_500[:3]], tmp_path / "T.xyz")
    out = tmp_path / "M.json"
    result = CliRunner().invoke(cli, [
        "evaluate", "--domain", "molecules", "--task", "dng", "--generated", str(tmp_path / "G.xyz"),
        "--reference", str(tmp_path / "R.xyz"), "--train", str(tmp_path / "T.xyz"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    direct = dng_metric(gen, train=[r["obj"] for r in qm9_test_500[:3]])
    assert metrics["num_generated"] == 8 and len(metrics["per_item"]) == 8
    for key in ("atom_stability", "mol_stability", "validity", "uniqueness", "novelty"):
        assert metrics[key] == pytest.approx(direct[key]), key
    assert metrics["validity"] == pytest.approx(7 / 8)
    assert metrics["uniqueness"] == pytest.approx(6 / 7)   # the first molecule appears twice
    assert metrics["novelty"] == pytest.approx(3 / 6)      # three of the six are training molecules
    assert metrics["reference"]["num_molecules"] == 10
    assert metrics["per_item"][6]["valid"] is False
    assert '"validity"' in result.output
