"""SDF / MOL files, folders of molecule files, ASE databases and RDKit molecules in the molecules
domain: round trips, bonds perceived on writing, bad input reported where it is."""

from __future__ import annotations

import warnings

import ase.db
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.build import molecule as ase_molecule
from ase.calculators.singlepoint import SinglePointCalculator
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem, rdDetermineBonds

from graphdiff.errors import DataError
from graphdiff_molecules import MoleculeDomain
from graphdiff_molecules.sdf import iter_sdf_blocks, perceive_bonds
from graphdiff_molecules.testing import molecules

DOMAIN = MoleculeDomain()
HYPO = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _mols():
    return [ase_molecule("H2O"), ase_molecule("CH4"), ase_molecule("HCN"), ase_molecule("CH3CH2OH"),
            ase_molecule("C6H6")]


def _blocks(path):
    """The RDKit molecules of an SDF, parsed independently of the code under test."""
    return list(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False))


def _block_starts(path):
    """The first line (from 1) of each block of an SDF, counted here from the ``$$$$`` lines."""
    lines = path.read_text().splitlines()
    return [1] + [i + 2 for i, line in enumerate(lines) if line.strip() == "$$$$"][:-1]


def _same(a, b, atol):
    return (a.get_chemical_symbols() == b.get_chemical_symbols()
            and np.allclose(a.get_positions(), b.get_positions(), atol=atol, rtol=0))


# ---------------------------------------------------------------------------- round trips
@HYPO
@given(mols=st.lists(molecules(max_atoms=12), min_size=1, max_size=3))
def test_xyz_to_sdf_to_read_keeps_elements_and_positions(tmp_path_factory, mols):
    tmp = tmp_path_factory.mktemp("rt")
    DOMAIN.write(mols, tmp / "a.xyz")
    from_xyz = [r["obj"] for r in DOMAIN.read(tmp / "a.xyz", strict=True)]
    DOMAIN.write(from_xyz, tmp / "b.sdf")
    records = list(DOMAIN.read(tmp / "b.sdf", strict=True))
    assert [r["id"] for r in records] == [f"b.sdf block {k}" for k in range(len(mols))]
    for rec, mol in zip(records, mols):
        assert _same(rec["obj"], mol, atol=1e-4)  # SDF keeps 4 decimals
    blocks = _blocks(tmp / "b.sdf")
    assert len(blocks) == len(mols)  # one block per molecule, none dropped
    assert all(m.GetProp("bond_orders") in ("determined", "connectivity-only", "none") for m in blocks)


@HYPO
@given(props=st.lists(st.dictionaries(st.sampled_from(["gap", "energy", "mu", "U0"]),
                                      st.floats(allow_nan=False, allow_infinity=False), max_size=4),
                      min_size=1, max_size=3),
       names=st.lists(st.text(st.characters(categories=("L", "N"), max_codepoint=0x2FF),
                              min_size=1, max_size=12), min_size=3, max_size=3))
def test_sdf_keeps_ids_and_properties(tmp_path_factory, props, names):
    path = tmp_path_factory.mktemp("props") / "p.sdf"
    mols = _mols()[: len(props)]
    ids = names[: len(props)]
    DOMAIN.write(mols, path, props=props, ids=ids)
    records = list(DOMAIN.read(path, strict=True))
    assert [r["id"] for r in records] == ids
    for rec, p, mol in zip(records, props, mols):
        assert rec["props"] == p  # repr(float) is exact
        assert _same(rec["obj"], mol, atol=1e-4)


def test_write_sdf_extra_fields_and_append(tmp_path):
    path = tmp_path / "x.sdf"
    DOMAIN.write(_mols()[:2], path, ids=["w", "m"], extra=[{"smiles": "O", "n": 3}, {"smiles": "C"}])
    DOMAIN.write(_mols()[2:3], path, ids=["hcn"], append=True)
    blocks = _blocks(path)
    assert [m.GetProp("_Name") for m in blocks] == ["w", "m", "hcn"]
    assert blocks[0].GetProp("smiles") == "O" and blocks[0].GetProp("n") == "3"
    records = list(DOMAIN.read(path))
    assert [r["props"] for r in records] == [{"n": 3.0}, {}, {}]  # text fields are not props
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_sdf_writer_errors_name_the_molecule(tmp_path):
    with pytest.raises(DataError, match=r"x.sdf molecule 1: atom 0 has a non-finite position"):
        DOMAIN.write([ase_molecule("H2O"), Atoms("C", positions=[[np.nan, 0, 0]])], tmp_path / "x.sdf")
    with pytest.raises(DataError, match=r"x.sdf molecule 0: data field 'note'.*blank line"):
        DOMAIN.write([ase_molecule("H2O")], tmp_path / "x.sdf", extra=[{"note": "a\n\nb"}])
    with pytest.raises(DataError, match=r"cannot name an SDF data field"):
        DOMAIN.write([ase_molecule("H2O")], tmp_path / "x.sdf", props=[{"a>b": 1.0}])
    with pytest.raises(DataError, match=r"do not fit"):
        DOMAIN.write([Atoms("C", positions=[[2e5, 0, 0]])], tmp_path / "x.sdf")
    assert not (tmp_path / "x.sdf").exists()


# ---------------------------------------------------------------------------- bonds
def _bond_orders(mol):
    return sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                   b.GetBondTypeAsDouble()) for b in mol.GetBonds())


def test_bonds_are_perceived_with_orders(tmp_path):
    path = tmp_path / "b.sdf"
    DOMAIN.write([ase_molecule("HCN"), ase_molecule("C6H6"), ase_molecule("CH3CH2OH")], path)
    hcn, benzene, ethanol = _blocks(path)
    assert [m.GetProp("bond_orders") for m in (hcn, benzene, ethanol)] == ["determined"] * 3
    symbols = [a.GetSymbol() for a in hcn.GetAtoms()]
    c, n = symbols.index("C"), symbols.index("N")
    assert hcn.GetBondBetweenAtoms(c, n).GetBondTypeAsDouble() == 3.0
    ring = [b.GetBondTypeAsDouble() for b in benzene.GetBonds()
            if b.GetBeginAtom().GetSymbol() == b.GetEndAtom().GetSymbol() == "C"]
    assert sorted(ring) == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]  # Kekulé form written
    assert ethanol.GetNumBonds() == 8 and all(b.GetBondTypeAsDouble() == 1.0 for b in ethanol.GetBonds())
    sanitized = Chem.MolFromMolBlock(Chem.MolToMolBlock(ethanol), removeHs=False)
    assert Chem.MolToSmiles(Chem.RemoveHs(sanitized)) == "CCO"


def test_bond_orders_fall_back_to_connectivity(tmp_path):
    path = tmp_path / "radical.sdf"
    DOMAIN.write([ase_molecule("NO2")], path, ids=["no2"])
    (mol,) = _blocks(path)
    assert mol.GetProp("bond_orders") == "connectivity-only"
    assert "bond orders failed" in mol.GetProp("bond_orders_reason")
    assert mol.GetNumBonds() == 2 and all(b.GetBondTypeAsDouble() == 1.0 for b in mol.GetBonds())
    (rec,) = DOMAIN.read(path, strict=True)
    assert rec["id"] == "no2" and _same(rec["obj"], ase_molecule("NO2"), atol=1e-4)


def test_connectivity_failure_still_writes_the_atoms(tmp_path, monkeypatch):
    def broken(mol, *args, **kwargs):
        raise ValueError("no radii")

    monkeypatch.setattr(rdDetermineBonds, "DetermineConnectivity", broken)
    path = tmp_path / "nb.sdf"
    DOMAIN.write([ase_molecule("CH4"), ase_molecule("H2O")], path)
    blocks = _blocks(path)
    assert [m.GetProp("bond_orders") for m in blocks] == ["none", "none"]
    assert "connectivity failed: ValueError: no radii" in blocks[0].GetProp("bond_orders_reason")
    assert [m.GetNumBonds() for m in blocks] == [0, 0]
    back = [r["obj"] for r in DOMAIN.read(path, strict=True)]
    assert _same(back[0], ase_molecule("CH4"), 1e-4) and _same(back[1], ase_molecule("H2O"), 1e-4)


def test_perceive_bonds_statuses():
    h2o = ase_molecule("H2O")
    mol, status, reason = perceive_bonds(h2o.get_chemical_symbols(), h2o.positions)
    assert (status, reason, mol.GetNumBonds()) == ("determined", "", 2)
    far = perceive_bonds(["C", "C"], [[0, 0, 0], [0, 0, 5]])
    assert far[1] == "connectivity-only" and far[0].GetNumBonds() == 0


# ---------------------------------------------------------------------------- bad blocks
def _sdf_with_bad_block(tmp_path, name="bad.sdf", bad=2):
    good = tmp_path / "good.sdf"
    DOMAIN.write([ase_molecule("CH4")] * 5, good, ids=[f"m{k}" for k in range(5)])
    lines = good.read_text().splitlines(keepends=True)
    starts = [0] + [i + 1 for i, line in enumerate(lines) if line.strip() == "$$$$"][:-1]
    atom_line = starts[bad] + 5  # 0-based: name, program, comment, counts, then the first atom
    line = lines[atom_line]
    assert line[5] == "."  # x in columns 1-10, "%10.4f"
    lines[atom_line] = line[:7] + "x" + line[8:]  # "    0.0x00": not a number
    path = tmp_path / name
    path.write_text("".join(lines))
    return path, starts[bad] + 1, atom_line + 1


def test_corrupt_block_is_reported_with_its_number_and_the_others_kept(tmp_path):
    path, first_line, atom_line = _sdf_with_bad_block(tmp_path)
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["m0", "m1", "m3", "m4"]
    assert all(_same(r["obj"], ase_molecule("CH4"), 1e-4) for r in records)
    assert len(skipped) == 1
    assert skipped[0]["where"] == f"{path} block 2 (line {first_line})"
    assert "RDKit cannot parse the block" in skipped[0]["reason"]
    assert f"line {atom_line}" in skipped[0]["reason"]  # RDKit's block line, as a file line


def test_corrupt_block_strict_raises_naming_file_and_block(tmp_path):
    path, first_line, _ = _sdf_with_bad_block(tmp_path)
    with pytest.raises(DataError, match=rf"bad.sdf block 2 \(line {first_line}\): RDKit cannot parse"):
        list(DOMAIN.read(path, strict=True))


def test_corrupt_block_warns_without_a_skipped_list(tmp_path):
    path, _, _ = _sdf_with_bad_block(tmp_path)
    with pytest.warns(RuntimeWarning, match=r"skipped .*bad.sdf block 2"):
        assert len(list(DOMAIN.read(path))) == 4


def test_blocks_split_like_rdkit(tmp_path):
    path = tmp_path / "n.sdf"
    DOMAIN.write(_mols(), path)
    text = path.read_text()
    path.write_text(text.rstrip("\n").removesuffix("$$$$").rstrip("\n") + "\n\n\n")  # no final $$$$
    blocks = list(iter_sdf_blocks(path))
    assert [b for b, _, _ in blocks] == list(range(5))
    assert len(list(DOMAIN.read(path, strict=True))) == 5


def _mol_block(smiles, *, dims=3, name=""):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if dims == 3:
        AllChem.EmbedMolecule(mol, randomSeed=7)
    else:
        AllChem.Compute2DCoords(mol)
    mol.SetProp("_Name", name)
    return Chem.MolToMolBlock(mol) + "$$$$\n"


def test_molecules_without_3d_coordinates_are_reported(tmp_path):
    path = tmp_path / "flat.sdf"
    path.write_text(_mol_block("CCO", name="eth3d") + _mol_block("CCO", dims=2, name="eth2d"))
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["eth3d"]
    assert _block_starts(path)[1] == 24  # ethanol: 3 header, counts, 9 atom, 8 bond lines, M  END, $$$$
    assert skipped[0]["where"] == f"{path} block 1 (line 24) (eth2d)"
    assert "2D coordinates only" in skipped[0]["reason"]
    with pytest.raises(DataError, match=r"block 1 .*2D coordinates only"):
        list(DOMAIN.read(path, strict=True))
    no_conformer = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    with pytest.raises(DataError, match="no conformer"):
        DOMAIN.check(no_conformer)


def test_invalid_molecules_in_sdf_go_through_check(tmp_path):
    path = tmp_path / "mixed.sdf"
    chloro = Atoms("CCl", positions=[[0, 0, 0], [0, 0, 1.8]])
    close = Atoms("CO", positions=[[0, 0, 0], [0, 0, 0.01]])
    DOMAIN.write([chloro, ase_molecule("H2O"), close], path, ids=["cl", "ok", "close"])
    with open(path, "a") as fh:  # an empty molecule
        fh.write("empty\n     RDKit          3D\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["ok"]
    starts = _block_starts(path)
    assert [s["where"] for s in skipped] == [f"{path} block 0 (line 1) (cl)",
                                             f"{path} block 2 (line {starts[2]}) (close)",
                                             f"{path} block 3 (line {starts[3]}) (empty)"]
    assert "'Cl'" in skipped[0]["reason"] and "overlapping" in skipped[1]["reason"]
    assert "no atoms" in skipped[2]["reason"]
    assert len(list(DOMAIN.read(path, validate=False))) == 4


def test_mol_file(tmp_path):
    path = tmp_path / "ethanol.mol"
    path.write_text(_mol_block("CCO", name="").removesuffix("$$$$\n"))
    (rec,) = DOMAIN.read(path, strict=True)
    assert rec["id"] == "ethanol.mol block 0"
    assert rec["obj"].get_chemical_formula() == "C2H6O"  # explicit hydrogens kept
    ref = Chem.MolFromMolFile(str(path), removeHs=False, sanitize=False)
    assert np.allclose(rec["obj"].positions, ref.GetConformer().GetPositions())


def test_sdf_missing_and_binary(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(DOMAIN.read(tmp_path / "nope.sdf"))
    (tmp_path / "bin.sdf").write_bytes(b"\x00\x01\x02")
    with pytest.raises(DataError, match="not an SDF/MOL text file"):
        list(DOMAIN.read(tmp_path / "bin.sdf"))


# ---------------------------------------------------------------------------- RDKit objects
def test_rdkit_mol_is_accepted_like_atoms(tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    symbols, pos = DOMAIN.check(mol)
    assert symbols == [a.GetSymbol() for a in mol.GetAtoms()]
    assert np.array_equal(pos, mol.GetConformer().GetPositions())
    graph = DOMAIN.to_graph(mol)
    assert graph.num_nodes == mol.GetNumAtoms()
    atoms = DOMAIN.convert_from(mol, "rdkit")
    assert isinstance(atoms, Atoms) and DOMAIN.equal(atoms, mol)
    DOMAIN.write([mol], tmp_path / "m.extxyz")
    (rec,) = DOMAIN.read(tmp_path / "m.extxyz")
    assert DOMAIN.equal(rec["obj"], mol)
    conf = mol.GetConformer()
    conf.SetAtomPosition(2, (float("nan"), 0.0, 0.0))
    with pytest.raises(DataError, match="atom 2 .* non-finite"):
        DOMAIN.check(mol)
    flat = Chem.AddHs(Chem.MolFromSmiles("CS"))
    AllChem.Compute2DCoords(flat)
    with pytest.raises(DataError, match="2D coordinates only"):
        DOMAIN.convert_from(flat, "rdkit")
    AllChem.EmbedMolecule(flat, randomSeed=1)
    with pytest.raises(DataError, match=r"'S' \(atom 1\)"):
        DOMAIN.check(flat)


# ---------------------------------------------------------------------------- folders
def test_folder_with_mixed_files(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    DOMAIN.write([ase_molecule("H2O"), ase_molecule("CH4")], folder / "a.xyz")
    DOMAIN.write([ase_molecule("HCN"), ase_molecule("NH3")], folder / "b.sdf", ids=["", "ammonia"])
    DOMAIN.write([ase_molecule("CO2")], folder / "c.extxyz", ids=["co2"])
    (folder / "d.mol").write_text(_mol_block("CCO", name="").removesuffix("$$$$\n"))
    (folder / "notes.txt").write_text("hello")
    (folder / "sub").mkdir()
    (folder / ".hidden.xyz").write_text("junk")
    skipped: list = []
    with pytest.warns(RuntimeWarning, match=r"ignored 2 entries .*notes.txt.*sub/"):
        records = list(DOMAIN.read(folder, skipped=skipped))
    assert skipped == []
    assert [r["id"] for r in records] == ["set/a.xyz frame 0", "set/a.xyz frame 1", "set/b.sdf block 0",
                                          "ammonia", "co2", "set/d.mol block 0"]
    assert [r["obj"].get_chemical_formula() for r in records] == ["H2O", "CH4", "CHN", "H3N", "CO2", "C2H6O"]
    assert _same(records[3]["obj"], ase_molecule("NH3"), 1e-4)


def test_folder_reports_bad_items_with_their_file(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    bad, first_line, _ = _sdf_with_bad_block(tmp_path)
    bad.rename(folder / "b.sdf")
    DOMAIN.write([ase_molecule("H2O")], folder / "a.xyz")
    (folder / "c.sdf").write_bytes(b"\x00binary")
    skipped: list = []
    records = list(DOMAIN.read(folder, skipped=skipped))
    assert [r["id"] for r in records] == ["set/a.xyz frame 0", "m0", "m1", "m3", "m4"]
    assert [s["where"] for s in skipped] == [f"{folder / 'b.sdf'} block 2 (line {first_line})",
                                             str(folder / "c.sdf")]
    assert "binary" in skipped[1]["reason"]
    with pytest.raises(DataError, match=r"set/b.sdf block 2"):
        list(DOMAIN.read(folder, strict=True))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no molecule files"):
        list(DOMAIN.read(empty))


# ---------------------------------------------------------------------------- ASE databases
@HYPO
@given(mols=st.lists(molecules(max_atoms=10), min_size=1, max_size=4),
       gaps=st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=4),
       named=st.lists(st.booleans(), min_size=4, max_size=4))
def test_ase_db_round_trip(tmp_path_factory, mols, gaps, named):
    path = tmp_path_factory.mktemp("db") / "mols.db"
    with ase.db.connect(path) as db:
        for k, mol in enumerate(mols):
            kvp = {"gap": gaps[k], "label": "text"}
            if named[k]:
                kvp["name"] = f"mol{k}"
            db.write(mol, **kvp)
    records = list(DOMAIN.read(path, strict=True))
    assert [r["id"] for r in records] == [f"mol{k}" if named[k] else f"mols.db row {k + 1}"
                                          for k in range(len(mols))]
    for rec, mol, gap in zip(records, mols, gaps):
        assert DOMAIN.equal(rec["obj"], mol)
        assert rec["props"] == {"gap": gap}


def test_ase_db_bad_rows_and_calculator_results(tmp_path):
    path = tmp_path / "m.db"
    db = ase.db.connect(path)
    methane = ase_molecule("CH4")
    methane.calc = SinglePointCalculator(methane, energy=-24.5)
    db.write(methane, name="methane")
    db.write(Atoms("CCl", positions=[[0, 0, 0], [0, 0, 1.8]]), name="chloro")
    db.write(Atoms("CO", positions=[[0, 0, 0], [0, 0, 0.01]]))
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["methane"]
    assert records[0]["props"] == {"energy": -24.5}
    assert [s["where"] for s in skipped] == [f"{path} row 2 (chloro)", f"{path} row 3"]
    assert "'Cl'" in skipped[0]["reason"] and "overlapping" in skipped[1]["reason"]
    with pytest.raises(DataError, match=r"m.db row 2 \(chloro\): element"):
        list(DOMAIN.read(path, strict=True))


def test_ase_db_crystal_rows_are_left_to_the_crystals_domain(tmp_path):
    path = tmp_path / "mixed.db"
    db = ase.db.connect(path)
    db.write(ase_bulk("NaCl", "rocksalt", a=5.64), name="nacl")  # periodic, bonded across the cell
    boxed = ase_molecule("CH4")
    boxed.set_cell([10, 10, 10])
    boxed.center()
    boxed.pbc = True  # a molecule in a box: still a molecule
    db.write(boxed, name="methane")
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["methane"]
    assert skipped[0]["where"] == f"{path} row 1 (nacl)"
    assert "a crystal, not a molecule" in skipped[0]["reason"] and "crystals domain" in skipped[0]["reason"]


def test_non_ase_db_files_are_refused_untouched(tmp_path):
    from graphdiff.testing import assert_refuses_non_ase_databases

    assert_refuses_non_ase_databases(DOMAIN.read, tmp_path)
    with pytest.raises(DataError, match="no such file"):
        list(DOMAIN.read(tmp_path / "none.db"))
    assert not (tmp_path / "none.db").exists()


# ---------------------------------------------------------------------------- graphdiff convert
def _convert(*args):
    from graphdiff.cli import cli

    return CliRunner().invoke(cli, ["convert", *map(str, args)])


def test_convert_xyz_to_sdf_and_back(tmp_path):
    mols = [ase_molecule("CH3CH2OH"), ase_molecule("C6H6")]
    xyz, sdf, back = tmp_path / "a.xyz", tmp_path / "b.sdf", tmp_path / "c.xyz"
    DOMAIN.write(mols, xyz)
    result = _convert(xyz, sdf)
    assert result.exit_code == 0, result.output
    assert "converted 2 item(s)" in result.output and "(molecules)" in result.output
    blocks = _blocks(sdf)
    assert [m.GetProp("_Name") for m in blocks] == ["a.xyz frame 0", "a.xyz frame 1"]
    assert [m.GetProp("bond_orders") for m in blocks] == ["determined", "determined"]
    result = _convert(sdf, back)
    assert result.exit_code == 0, result.output
    again = [r["obj"] for r in DOMAIN.read(back, strict=True)]
    assert all(_same(a, m, 1e-4) for a, m in zip(again, mols)) and len(again) == 2


def test_convert_folder_and_db_to_sdf(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    DOMAIN.write([ase_molecule("H2O")], folder / "a.xyz")
    DOMAIN.write([ase_molecule("NH3")], folder / "b.sdf", ids=["ammonia"])
    result = _convert(folder, tmp_path / "all.sdf", "--from", "molecules")
    assert result.exit_code == 0, result.output
    assert [m.GetProp("_Name") for m in _blocks(tmp_path / "all.sdf")] == ["set/a.xyz frame 0", "ammonia"]
    db = ase.db.connect(tmp_path / "m.db")
    db.write(ase_molecule("CH4"), name="methane", gap=0.5)
    result = _convert(tmp_path / "m.db", tmp_path / "m.extxyz")
    assert result.exit_code == 0, result.output
    (rec,) = DOMAIN.read(tmp_path / "m.extxyz")
    assert rec["id"] == "methane" and rec["props"] == {"gap": 0.5}


def test_convert_reports_bad_sdf_blocks(tmp_path):
    path, first_line, _ = _sdf_with_bad_block(tmp_path)
    result = _convert(path, tmp_path / "out.xyz")
    assert result.exit_code == 0, result.output
    assert f"skipped {path} block 2 (line {first_line})" in result.output
    assert "converted 4 item(s)" in result.output
    result = _convert(path, tmp_path / "out2.xyz", "--strict")
    assert result.exit_code != 0 and "block 2" in result.output


def test_no_stray_warnings_on_clean_sdf(tmp_path):
    path = tmp_path / "clean.sdf"
    DOMAIN.write(_mols(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(DOMAIN.read(path))) == 5
