"""Molecule readers and writers: XYZ / extxyz frames with skip reports, POSCAR / CIF boxes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule as ase_molecule
from pymatgen.core import Lattice, Molecule, Structure

from graphdiff.errors import DataError
from graphdiff_molecules import MoleculeDomain, molecule_to_structure, read_xyz, structure_to_molecule

DOMAIN = MoleculeDomain()


def _mols():
    return [ase_molecule("H2O"), ase_molecule("CH4"), ase_molecule("HCN"), ase_molecule("CH3CH2OH")]


def _same_up_to_translation(a, b, atol=1e-5, any_order=False):
    sa, sb = a.get_chemical_symbols(), b.get_chemical_symbols()
    pa, pb = a.get_positions(), b.get_positions()
    pa, pb = pa - pa.mean(0), pb - pb.mean(0)
    if any_order:  # CIF groups sites by element
        ka = sorted(range(len(sa)), key=lambda i: (sa[i], *np.round(pa[i], 3)))
        kb = sorted(range(len(sb)), key=lambda i: (sb[i], *np.round(pb[i], 3)))
        sa, pa = [sa[i] for i in ka], pa[ka]
        sb, pb = [sb[i] for i in kb], pb[kb]
    return sa == sb and np.allclose(pa, pb, atol=atol)


# ---------------------------------------------------------------------------- XYZ round trips
def test_extxyz_roundtrip_with_properties(tmp_path):
    mols = _mols()
    props = [{"gap": 0.25 + k, "energy": -10.5 * k, "index": k} for k in range(len(mols))]
    path = tmp_path / "set.extxyz"
    DOMAIN.write(mols, path, props=props)
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert skipped == []
    assert [r["id"] for r in records] == [f"set.extxyz frame {k}" for k in range(4)]
    for rec, mol, p in zip(records, mols, props):
        assert DOMAIN.equal(rec["obj"], mol)
        assert rec["props"]["gap"] == pytest.approx(p["gap"])
        assert rec["props"]["energy"] == pytest.approx(p["energy"])
        assert rec["props"]["index"] == p["index"]


def test_plain_xyz_roundtrip(tmp_path):
    mols = _mols()
    path = tmp_path / "set.xyz"
    DOMAIN.write(mols, path)
    text = path.read_text()
    assert "Properties=" not in text  # plain XYZ, not extended
    back = [r["obj"] for r in DOMAIN.read(path)]
    assert len(back) == 4 and all(DOMAIN.equal(a, b) for a, b in zip(mols, back))
    assert all(DOMAIN.equal(a, b) for a, b in zip(mols, read_xyz(path)))


def test_xyz_with_values_to_store_gets_info_lines(tmp_path):
    """A generated .xyz keeps ids and per-molecule values in extended-XYZ comment lines."""
    mols = _mols()
    path = tmp_path / "gen.xyz"
    DOMAIN.write(mols, path, ids=[f"m{i}" for i in range(4)], extra=[{"mol_stable": i % 2 == 0} for i in range(4)],
                 props=[{"gap": 0.1 * i} for i in range(4)])
    records = list(DOMAIN.read(path))
    assert [r["id"] for r in records] == ["m0", "m1", "m2", "m3"]
    assert [r["props"]["gap"] for r in records] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all(DOMAIN.equal(a, r["obj"]) for a, r in zip(mols, records))


def test_plain_xyz_with_free_text_comments(tmp_path):
    path = tmp_path / "free.xyz"
    path.write_text('2\nCO molecule, "quoted\nC 0 0 0\nO 0 0 1.13\n3\n\nH 0 0 0\nH 0 0 0.74\nH 5 5 5\n')
    records = list(DOMAIN.read(path, strict=True))
    assert [r["obj"].get_chemical_formula() for r in records] == ["CO", "H3"]


def test_pymatgen_molecules_are_written(tmp_path):
    mol = Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]])
    path = tmp_path / "pm.extxyz"
    DOMAIN.write([mol], path)
    (rec,) = DOMAIN.read(path)
    assert DOMAIN.equal(rec["obj"], mol)


# ---------------------------------------------------------------------------- bad frames
def _write_frames(tmp_path, name="bad.xyz"):
    """Five frames; frame 2 is truncated (3 of 5 atom lines), so frame 3 starts early."""
    good = ase_molecule("CH4")
    path = tmp_path / "good.extxyz"
    DOMAIN.write([good] * 5, path)
    lines = path.read_text().splitlines()
    # each frame: 1 count + 1 comment + 5 atoms = 7 lines; drop two atom lines of frame 2
    lines = lines[:14] + lines[14:19] + lines[21:]
    bad = tmp_path / name
    bad.write_text("\n".join(lines) + "\n")
    return bad, good


def test_truncated_frame_is_reported_and_others_kept(tmp_path):
    bad, good = _write_frames(tmp_path)
    skipped: list = []
    records = list(DOMAIN.read(bad, skipped=skipped))
    assert [r["id"] for r in records] == ["bad.xyz frame 0", "bad.xyz frame 1", "bad.xyz frame 3",
                                          "bad.xyz frame 4"]
    assert all(DOMAIN.equal(r["obj"], good) for r in records)
    assert len(skipped) == 1
    assert skipped[0]["where"] == f"{bad} frame 2 (line 15)"
    assert "truncated frame: the header says 5 atoms, 3 atom line(s)" in skipped[0]["reason"]
    assert "next frame's atom count (line 20)" in skipped[0]["reason"]


def test_truncated_frame_strict_raises_naming_frame(tmp_path):
    bad, _ = _write_frames(tmp_path)
    with pytest.raises(DataError, match=r"bad.xyz frame 2 \(line 15\): truncated frame"):
        list(DOMAIN.read(bad, strict=True))


def test_truncated_frame_warns_without_skipped_list(tmp_path):
    bad, _ = _write_frames(tmp_path)
    with pytest.warns(RuntimeWarning, match="skipped .*frame 2"):
        assert len(list(DOMAIN.read(bad))) == 4


def test_file_cut_in_the_last_frame(tmp_path):
    path = tmp_path / "cut.xyz"
    path.write_text("2\n\nC 0 0 0\nO 0 0 1.13\n3\ncomment\nH 0 0 0\n")
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert len(records) == 1
    assert skipped[0]["where"].endswith("cut.xyz frame 1 (line 5)")
    assert "the end of the file" in skipped[0]["reason"]
    path.write_text("2\n\nC 0 0 0\nO 0 0 1.13\n3\n")
    skipped = []
    assert len(list(DOMAIN.read(path, skipped=skipped))) == 1
    assert "before the comment line" in skipped[0]["reason"]


def test_malformed_atom_line_and_header(tmp_path):
    path = tmp_path / "mal.xyz"
    path.write_text("2\n\nC 0 0 zero\nO 0 0 1.13\n"
                    "two\n\nC 0 0 0\nO 0 0 1.13\n"
                    "2\n\nC 0 0 0\nO 0 0 1.13\n")
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["mal.xyz frame 2"]
    assert [s["where"] for s in skipped] == [f"{path} frame 0 (line 1)", f"{path} frame 1 (line 5)"]
    assert "malformed frame" in skipped[0]["reason"]
    assert "expected the atom count" in skipped[1]["reason"] and "'two'" in skipped[1]["reason"]


def test_invalid_molecules_are_reported_by_frame(tmp_path):
    path = tmp_path / "mixed.xyz"
    path.write_text("2\n\nC 0 0 0\nCl 0 0 1.8\n2\n\nC 0 0 0\nO 0 0 1.13\n2\n\nC 0 0 0\nO 0 0 0.01\n")
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["mixed.xyz frame 1"]
    assert "'Cl'" in skipped[0]["reason"] and skipped[0]["where"].endswith("frame 0 (line 1)")
    assert "overlapping" in skipped[1]["reason"] and skipped[1]["where"].endswith("frame 2 (line 9)")
    assert len(list(DOMAIN.read(path, validate=False))) == 3


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(DOMAIN.read(tmp_path / "nope.xyz"))


# ---------------------------------------------------------------------------- writer errors
def test_writer_errors(tmp_path):
    mols = _mols()
    with pytest.raises(DataError, match="unsupported molecule file"):
        DOMAIN.write(mols, tmp_path / "x.pdbx")
    with pytest.raises(DataError, match="2 property dicts for 4 molecules"):
        DOMAIN.write(mols, tmp_path / "x.extxyz", props=[{}, {}])
    with pytest.raises(DataError, match="holds one molecule, got 4"):
        DOMAIN.write(mols, tmp_path / "POSCAR")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------- boxes
@pytest.mark.parametrize("name", ["POSCAR", "mol.vasp", "mol.poscar", "mol.cif"])
def test_poscar_and_cif_roundtrip(tmp_path, name):
    mol = ase_molecule("CH3CH2OH")
    path = tmp_path / name
    DOMAIN.write([mol], path, vacuum=6.0)
    fmt = "cif" if name.endswith(".cif") else "poscar"
    structure = Structure.from_str(path.read_text(), fmt=fmt)
    assert structure.lattice.abc == pytest.approx([np.ptp(mol.positions, axis=0).max() + 12.0] * 3, abs=1e-4)
    back = structure_to_molecule(structure)
    assert _same_up_to_translation(back, mol, atol=1e-4, any_order=fmt == "cif")
    if fmt == "poscar":  # POSCAR keeps the atom order
        assert back.get_chemical_symbols() == mol.get_chemical_symbols()


def test_molecule_to_structure_centres_in_a_cubic_box():
    mol = ase_molecule("C6H6")
    structure = molecule_to_structure(mol, vacuum=10.0)
    extent = np.ptp(mol.positions, axis=0)
    assert structure.lattice.abc == pytest.approx([extent.max() + 20.0] * 3)
    assert structure.lattice.angles == pytest.approx([90, 90, 90])
    cart = structure.cart_coords
    centre = (cart.min(0) + cart.max(0)) / 2
    assert centre == pytest.approx(np.array(structure.lattice.abc) / 2)
    assert [s.specie.symbol for s in structure] == mol.get_chemical_symbols()
    back = structure_to_molecule(structure)
    assert _same_up_to_translation(back, mol, atol=1e-9)
    assert np.linalg.norm(back.positions[0] - back.positions[1]) == pytest.approx(
        np.linalg.norm(mol.positions[0] - mol.positions[1]))


def test_molecule_to_structure_in_a_given_cell():
    mol = Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]])
    cubic = molecule_to_structure(mol, cell=8.0)
    assert cubic.lattice.abc == pytest.approx((8, 8, 8))
    ortho = molecule_to_structure(mol, cell=[6.0, 7.0, 9.0])
    assert ortho.lattice.abc == pytest.approx((6, 7, 9))
    tri = molecule_to_structure(mol, cell=Lattice.from_parameters(8, 8, 8, 80, 90, 100))
    assert tri.lattice.angles == pytest.approx((80, 90, 100))
    with pytest.raises(DataError, match="cell must be"):
        molecule_to_structure(mol, cell=[[1, 2], [3, 4]])


def test_too_little_padding_is_an_error(tmp_path):
    mol = ase_molecule("CH4")
    with pytest.raises(DataError, match="closer than min_image=3.0 Å with vacuum=1.0 Å"):
        molecule_to_structure(mol, vacuum=1.0)
    assert molecule_to_structure(mol, vacuum=1.0, min_image=1.5).num_sites == 5
    with pytest.raises(DataError, match="lies outside the box"):
        molecule_to_structure(mol, cell=1.0)
    with pytest.raises(DataError, match="from a periodic image"):
        molecule_to_structure(mol, cell=3.5)
    with pytest.raises(DataError, match=r"POSCAR: molecule_to_structure: .*closer than"):
        DOMAIN.write([mol], tmp_path / "POSCAR", vacuum=0.5)
    assert not (tmp_path / "POSCAR").exists()
    with pytest.raises(DataError, match="no atoms"):
        molecule_to_structure(Atoms())


def test_structure_to_molecule_unwraps_molecules_cut_by_the_boundary():
    mol = ase_molecule("CH3CH2OH")
    lattice = Lattice.cubic(12.0)
    # put the molecule across the corner of the box, then wrap every atom into the cell
    shifted = mol.positions - mol.positions.mean(0)
    wrapped = Structure(lattice, mol.get_chemical_symbols(), shifted, coords_are_cartesian=True,
                        to_unit_cell=True)
    assert np.ptp(wrapped.cart_coords, axis=0).max() > 6  # really cut
    whole = structure_to_molecule(wrapped)
    assert _same_up_to_translation(whole, mol, atol=1e-6)
    cut = structure_to_molecule(wrapped, unwrap=False)
    assert not _same_up_to_translation(cut, mol, atol=1e-3)
    with pytest.raises(DataError, match="expected a pymatgen Structure"):
        structure_to_molecule(mol.positions)


def test_no_stray_warnings_on_clean_files(tmp_path):
    path = tmp_path / "clean.extxyz"
    DOMAIN.write(_mols(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert len(list(DOMAIN.read(path))) == 4
