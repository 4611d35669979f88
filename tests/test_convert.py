"""``graphdiff convert IN OUT``: domain choice from suffixes, cross-domain conversion, round trips,
clear errors. Uses the crystals and molecules plugins of this repository."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff.conversion import matches, parse_cell

pytest.importorskip("graphdiff_molecules")
pytest.importorskip("graphdiff_crystals")

from ase.build import molecule as ase_molecule  # noqa: E402
from pymatgen.core import Composition, Lattice, Structure  # noqa: E402

from graphdiff import load_domain  # noqa: E402


def run(*args: str):
    return CliRunner().invoke(cli, ["convert", *map(str, args)])


@pytest.fixture
def ethanol_xyz(tmp_path: Path) -> Path:
    path = tmp_path / "ethanol.xyz"
    load_domain("molecules").write([ase_molecule("CH3CH2OH")], path)
    return path


def _relative(atoms) -> np.ndarray:
    pos = atoms.get_positions()
    return pos - pos[0]


# ---------------------------------------------------------------------------- round trips
def test_xyz_to_poscar_to_xyz_keeps_elements_and_relative_positions(tmp_path, ethanol_xyz):
    poscar, back = tmp_path / "POSCAR", tmp_path / "back.xyz"
    result = run(ethanol_xyz, poscar)
    assert result.exit_code == 0, result.output
    assert "(molecules)" in result.output
    assert "direct" in poscar.read_text().lower()
    result = run(poscar, back)
    assert result.exit_code == 0, result.output
    assert "(crystals -> molecules)" in result.output  # crystals reads POSCAR, molecules writes XYZ
    molecules = load_domain("molecules")
    (orig,) = [r["obj"] for r in molecules.read(ethanol_xyz)]
    (again,) = [r["obj"] for r in molecules.read(back)]
    assert again.get_chemical_symbols() == orig.get_chemical_symbols()
    np.testing.assert_allclose(_relative(again), _relative(orig), atol=1e-6)


def test_molecule_box_options_pass_through(tmp_path, ethanol_xyz):
    result = run(ethanol_xyz, tmp_path / "a.vasp", "--vacuum", "6")
    assert result.exit_code == 0, result.output
    extent = np.ptp(ase_molecule("CH3CH2OH").get_positions(), axis=0).max()
    s = Structure.from_file(tmp_path / "a.vasp")
    assert s.lattice.abc == pytest.approx((extent + 12,) * 3, abs=1e-6)
    result = run(ethanol_xyz, tmp_path / "b.cif", "--cell", "12, 13, 14")
    assert result.exit_code == 0, result.output
    s = Structure.from_file(tmp_path / "b.cif")
    assert s.lattice.abc == pytest.approx((12, 13, 14), abs=1e-6)
    back = tmp_path / "b.xyz"
    assert run(tmp_path / "b.cif", back).exit_code == 0
    (again,) = [r["obj"] for r in load_domain("molecules").read(back)]
    assert sorted(again.get_chemical_symbols()) == sorted(ase_molecule("CH3CH2OH").get_chemical_symbols())
    result = run(ethanol_xyz, tmp_path / "c.vasp", "--cell", "3")  # too small: the writer says so
    assert result.exit_code == 2 and "larger cell" in result.output


def test_to_names_the_format(tmp_path, ethanol_xyz):
    out = tmp_path / "mol1"
    result = run(ethanol_xyz, out, "--to", "poscar")
    assert result.exit_code == 0, result.output
    structure = Structure.from_str(out.read_text(), fmt="poscar")
    assert structure.num_sites == 9 and structure.composition == Composition("C2H6O")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ethanol.xyz", "mol1"]  # no temp file left


def test_cif_to_poscar_to_cif_for_crystals(tmp_path):
    crystals = load_domain("crystals")
    lattice = Lattice.from_parameters(4.1, 5.3, 6.2, 78.0, 95.0, 104.0)
    original = Structure(lattice, ["Si", "O", "O", "Li"],
                         [[0.0, 0.0, 0.0], [0.1, 0.25, 0.3], [0.5, 0.9, 0.75], [0.7, 0.7, 0.2]])
    cif, vasp, cif2 = tmp_path / "x.cif", tmp_path / "x.vasp", tmp_path / "x2.cif"
    crystals.write([original], cif)
    for a, b in ((cif, vasp), (vasp, cif2)):
        result = run(a, b)
        assert result.exit_code == 0, result.output
        assert "(crystals)" in result.output
    (back,) = [r["obj"] for r in crystals.read(cif2)]
    assert back.composition == original.composition
    assert np.allclose(back.lattice.abc, original.lattice.abc, atol=1e-6)
    assert np.allclose(back.lattice.angles, original.lattice.angles, atol=1e-6)
    for site in original:  # the CIF writer may order sites differently: match by position
        dist = [site.distance(other) for other in back if other.specie == site.specie]
        assert min(dist) < 1e-6


# ---------------------------------------------------------------------------- errors
def test_unknown_input_extension_lists_readable_formats(tmp_path):
    path = tmp_path / "mol.pdbq"
    path.write_text("x")
    result = run(path, tmp_path / "out.xyz")
    assert result.exit_code == 2
    assert "no domain reads .pdbq" in result.output
    assert "molecules (.xyz, .extxyz" in result.output and "crystals (.csv, .cif" in result.output


def test_unknown_output_extension_lists_writable_formats(tmp_path, ethanol_xyz):
    result = run(ethanol_xyz, tmp_path / "out.pdbq")
    assert result.exit_code == 2
    assert "no domain writes .pdbq" in result.output and "molecules (.xyz, .extxyz" in result.output


def test_missing_input(tmp_path):
    result = run(tmp_path / "nope.xyz", tmp_path / "out.xyz")
    assert result.exit_code == 2 and "no such file" in result.output


def test_ambiguous_reader_asks_for_from(tmp_path, ethanol_xyz):
    ext = tmp_path / "e.extxyz"
    assert run(ethanol_xyz, ext).exit_code == 0
    result = run(ext, tmp_path / "f.extxyz")
    assert result.exit_code == 2
    assert "ambiguous" in result.output and "--from crystals or --from molecules" in result.output
    result = run(ext, tmp_path / "f.extxyz", "--from", "molecules")
    assert result.exit_code == 0, result.output
    # a reader that writes OUT itself is preferred to one that would need a conversion
    result = run(ext, tmp_path / "g.xyz")
    assert result.exit_code == 0 and "(molecules)" in result.output


def test_conversion_no_domain_offers(tmp_path, ethanol_xyz):
    result = run(ethanol_xyz, tmp_path / "out.csv")
    assert result.exit_code == 2
    assert "no domain offers this conversion" in result.output
    assert "read by molecules" in result.output and "written by crystals" in result.output


def test_box_options_need_a_writer_that_takes_them(tmp_path):
    crystals = load_domain("crystals")
    cif = tmp_path / "nacl.cif"
    crystals.write([Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                              [[0, 0, 0], [0.5, 0.5, 0.5]])], cif)
    result = run(cif, tmp_path / "nacl.vasp", "--vacuum", "5")
    assert result.exit_code == 2 and "--vacuum sets the box of a molecule" in result.output
    result = run(cif, tmp_path / "nacl.vasp", "--from", "nosuch")
    assert result.exit_code == 2 and "no such domain" in result.output


def test_several_molecules_to_one_poscar_is_refused(tmp_path):
    path = tmp_path / "two.xyz"
    load_domain("molecules").write([ase_molecule("H2O"), ase_molecule("CH4")], path)
    result = run(path, tmp_path / "POSCAR")
    assert result.exit_code == 2 and "holds one molecule, got 2" in result.output


def test_qm9_source_to_extxyz(tmp_path):
    out = tmp_path / "qm9_test.extxyz"
    result = run("qm9://test", out, "--max", "20")
    assert result.exit_code == 0, result.output
    records = list(load_domain("molecules").read(out))
    assert len(records) == 20 and records[0]["id"].startswith("dsgdb9nsd_")
    assert "gap" in records[0]["props"]


# ---------------------------------------------------------------------------- helpers
def test_suffix_matching_and_cell_parsing(tmp_path):
    assert matches((".xyz",), "a/B.XYZ", reading=True)
    assert not matches((".xyz",), "a/B.extxyz2", reading=True)
    assert matches(("POSCAR*",), "run/POSCAR_relaxed", reading=True)
    assert matches(("qm9://*",), "qm9://train", reading=True)
    assert matches(("<folder>",), str(tmp_path), reading=True)
    assert not matches(("<folder>",), str(tmp_path / "new"), reading=True)
    assert matches(("<folder>",), str(tmp_path / "new"), reading=False)
    assert parse_cell("10") == 10.0 and parse_cell("1,2,3") == [1.0, 2.0, 3.0]
    assert parse_cell("1 0 0 0 2 0 0 0 3") == [[1, 0, 0], [0, 2, 0], [0, 0, 3]]
    assert parse_cell(None) is None


# ---------------------------------------------------------------------------- candidates and folders
def _k2_csv(tmp_path: Path) -> tuple[Path, list]:
    """Two inputs with two ranked candidates each, as `graphdiff sample -k 2 --out k2.csv` writes."""
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    sto = Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                    [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    objs = [nacl, nacl.copy(), sto, sto.copy()]
    objs[1].scale_lattice(nacl.volume * 1.05)
    objs[3].scale_lattice(sto.volume * 1.05)
    path = tmp_path / "k2.csv"
    load_domain("crystals").write(objs, path, ids=["mp-1", "mp-1", "mp-2", "mp-2"],
                                  extra=[{"sample": r, "share": 0.5} for r in (0, 1, 0, 1)])
    return path, objs


def test_candidates_convert_to_a_folder_of_cifs_or_poscars(tmp_path):
    from pymatgen.io.vasp import Poscar

    src, objs = _k2_csv(tmp_path)
    result = run(src, f"{tmp_path / 'cifs'}/")
    assert result.exit_code == 0, result.output
    names = ["mp-1_NaCl_0.cif", "mp-1_NaCl_1.cif", "mp-2_SrTiO3_0.cif", "mp-2_SrTiO3_1.cif"]
    assert sorted(p.name for p in (tmp_path / "cifs").iterdir()) == names
    assert "(mp-1_NaCl_0.cif .. mp-2_SrTiO3_1.cif)" in result.output
    result = run(src, tmp_path / "poscars", "--format", "poscar")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "poscars").iterdir())
    assert [p.name for p in files] == [n.replace(".cif", ".vasp") for n in names]
    for path, obj, cid in zip(files, objs, ["mp-1-0", "mp-1-1", "mp-2-0", "mp-2-1"]):
        poscar = Poscar.from_file(path)
        assert poscar.comment == cid and np.isclose(poscar.structure.volume, obj.volume)
    # a folder with files in it is written into only with --overwrite
    result = run(src, tmp_path / "poscars", "--format", "poscar")
    assert result.exit_code == 2 and "holds 4 file(s)" in result.output and "--overwrite" in result.output
    assert run(src, tmp_path / "poscars", "--format", "poscar", "--overwrite").exit_code == 0
    result = run(src, tmp_path / "x", "--format", "pdb")
    assert result.exit_code == 2 and "no domain writes pdb files into a folder" in result.output
    result = run(src, tmp_path / "y", "--format", "cif", "--to", "cif")
    assert result.exit_code == 2 and "give one of them" in result.output


def test_candidates_convert_to_one_cif_with_a_block_each(tmp_path):
    from pymatgen.io.cif import CifParser

    src, _ = _k2_csv(tmp_path)
    assert run(src, tmp_path / "k2.cif").exit_code == 0
    parser = CifParser(tmp_path / "k2.cif")
    assert list(parser.as_dict()) == ["mp-1-0", "mp-1-1", "mp-2-0", "mp-2-1"]
    assert len(parser.parse_structures(primitive=False)) == 4
    records = list(load_domain("crystals").read(tmp_path / "k2.cif"))
    assert [r["id"] for r in records] == ["mp-1", "mp-1", "mp-2", "mp-2"]


def test_several_items_to_one_poscar_name_the_output_and_the_folder_way(tmp_path):
    src, _ = _k2_csv(tmp_path)
    result = run(src, tmp_path / "many", "--to", "poscar")
    assert result.exit_code == 2
    assert f"{tmp_path / 'many'}: a POSCAR holds one structure, got 4" in result.output
    assert ".convert" not in result.output  # not the temporary file
    assert "many/ --format poscar" in result.output


def test_a_periodic_crystal_never_loses_its_lattice_to_xyz(tmp_path):
    from ase.io import read as ase_read

    diamond = Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.567), ["C"], [[0, 0, 0]])
    poscar = tmp_path / "POSCAR"
    load_domain("crystals").write([diamond], poscar)
    result = run(poscar, tmp_path / "carbon.xyz")
    assert result.exit_code == 2 and not (tmp_path / "carbon.xyz").exists()
    assert "a periodic structure, not a molecule in a box" in result.output
    assert "write extended XYZ (.extxyz)" in result.output
    result = run(poscar, tmp_path / "carbon.extxyz")
    assert result.exit_code == 0, result.output
    atoms = ase_read(tmp_path / "carbon.extxyz")
    assert atoms.pbc.all() and np.allclose(atoms.cell.lengths(), [3.567] * 3)
    # a molecule in a box still becomes XYZ (see the round trips above)


def test_molecules_convert_to_a_folder_of_xyz_files(tmp_path, ethanol_xyz):
    two = tmp_path / "two.xyz"
    load_domain("molecules").write([ase_molecule("H2O"), ase_molecule("CH4")], two, ids=["w", "m"])
    result = run(two, f"{tmp_path / 'mols'}/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "mols").iterdir()) == ["m.xyz", "w.xyz"]
    (water,) = [r["obj"] for r in load_domain("molecules").read(tmp_path / "mols" / "w.xyz")]
    assert sorted(water.get_chemical_symbols()) == ["H", "H", "O"]
