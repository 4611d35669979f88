"""Readers and writers of the crystals domain."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Composition, Lattice, Structure

from graphdiff.errors import DataError
from graphdiff_crystals.io import CrystalReadWarning, read_records, sample_path
from graphdiff_crystals.parsing import cif_string, split_cif_blocks
from graphdiff_crystals.testing import chiral_structure, structures, triple_product

PROPS = {"heat_all", "heat_ref", "dir_gap", "ind_gap"}
PEROV5 = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "perov_5" / "val.csv"
HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def _sample_rows() -> list[dict[str, str]]:
    with open(sample_path(), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _nacl(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


# ---------------------------------------------------------------------- the bundled sample
def test_sample_csv_reads_completely(domain):
    rows = _sample_rows()
    assert len(rows) == 600 and sample_path().stat().st_size < 2_000_000
    skipped: list[dict[str, str]] = []
    with pytest.warns(CrystalReadWarning, match=r"ignoring non-numeric .*\['formula'\]"):
        records = list(domain.read(sample_path(), skipped=skipped))
    assert skipped == []
    assert len(records) == 600
    assert [r["id"] for r in records] == [row["material_id"] for row in rows]
    for record, row in zip(records, rows):
        assert set(record["props"]) == PROPS
        assert record["props"]["heat_all"] == float(row["heat_all"])
        assert len(record["obj"]) == 5
        assert record["obj"].composition.reduced_formula == Composition(row["formula"]).reduced_formula
    assert records[0]["source"] == f"perov5_sample.csv row 1 (material_id {rows[0]['material_id']})"
    data = domain.record_to_graph(records[10])
    assert data.num_nodes == 5 and data.dir_gap.item() == pytest.approx(float(rows[10]["dir_gap"]))


def test_sample_is_every_sixth_row_of_perov5():
    if not PEROV5.exists():
        pytest.skip("the CDVAE Perov-5 file is not available here")
    with open(PEROV5, newline="", encoding="utf-8") as fh:
        source = list(csv.DictReader(fh))
    assert _sample_rows() == source[::6][:600]


@pytest.mark.slow
def test_full_perov5_reads_fast(domain):
    if not PEROV5.exists():
        pytest.skip("the CDVAE Perov-5 file is not available here")
    skipped: list[dict[str, str]] = []
    start = time.perf_counter()
    with pytest.warns(CrystalReadWarning):
        records = list(domain.read(PEROV5, skipped=skipped))
    assert time.perf_counter() - start < 60
    assert len(records) == 3787 and skipped == []


# ---------------------------------------------------------------------- bad CSV rows and files
def _csv_with_bad_rows(tmp_path: Path) -> Path:
    good = cif_string(_nacl())
    overlapping = cif_string(Structure(Lattice.cubic(4), ["Na", "Cl"], [[0, 0, 0], [0.02, 0, 0]]))
    lost_atoms = good.replace("_chemical_formula_sum   'Na4 Cl4'", "_chemical_formula_sum   'Na4 Cl4 O2'")
    assert lost_atoms != good
    return _write_csv(tmp_path / "bad.csv", ["", "material_id", "cif", "formula", "e_form"], [
        ["0", "mp-1", good, "NaCl", "-2.1"],
        ["1", "mp-2", "data_broken\n_cell_length_a 4\nthis is not a cif", "X", "0.5"],
        ["2", "mp-3", good, "NaCl", ""],
        ["3", "mp-4", overlapping, "NaCl", "1.0"],
        ["4", "mp-5", lost_atoms, "NaCl", "1.0"],
        ["5", "mp-6", "", "NaCl", "1.0"],
        ["6", "mp-7", good, "NaCl"],
    ])


def test_bad_rows_are_skipped_and_reported(domain, tmp_path):
    path = _csv_with_bad_rows(tmp_path)
    skipped: list[dict[str, str]] = []
    with pytest.warns(CrystalReadWarning, match="formula"):
        records = list(domain.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["mp-1", "mp-3"]
    assert records[0]["props"] == {"e_form": -2.1}
    assert math.isnan(records[1]["props"]["e_form"])  # empty cell
    where = [s["where"] for s in skipped]
    assert where == ["bad.csv row 2 (material_id mp-2)", "bad.csv row 4 (material_id mp-4)",
                     "bad.csv row 5 (material_id mp-5)", "bad.csv row 6 (material_id mp-6)",
                     "bad.csv row 7 (material_id mp-7)"]
    reasons = [s["reason"] for s in skipped]
    assert reasons[0].startswith("CIF could not be parsed")
    assert "overlap" in reasons[1]
    assert "composition check failed" in reasons[2]
    assert "empty" in reasons[3]
    assert "4 fields but the header has 5" in reasons[4]


@pytest.mark.filterwarnings("ignore::graphdiff_crystals.io.CrystalReadWarning")
def test_strict_raises_on_the_first_bad_row(domain, tmp_path):
    path = _csv_with_bad_rows(tmp_path)
    reader = domain.read(path, strict=True)
    assert next(reader)["id"] == "mp-1"
    with pytest.raises(DataError, match=r"bad.csv row 2 \(material_id mp-2\): CIF could not be parsed"):
        next(reader)


def test_skips_warn_without_a_list(domain, tmp_path):
    path = _csv_with_bad_rows(tmp_path)
    with pytest.warns(CrystalReadWarning) as caught:
        records = list(domain.read(path))
    assert len(records) == 2
    assert any("skipped bad.csv row 4 (material_id mp-4)" in str(w.message) for w in caught)


def test_empty_csv(domain, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: the CSV file is empty"):
        domain.read(tmp_path / "empty.csv")
    _write_csv(tmp_path / "header.csv", ["material_id", "cif", "band_gap"], [])
    with pytest.raises(DataError, match=r"header.csv: .*no rows; columns found: \['material_id', 'cif', 'band_gap'\]"):
        domain.read(tmp_path / "header.csv")


def test_csv_without_cif_column(domain, tmp_path):
    _write_csv(tmp_path / "wrong.csv", ["id", "structure", "energy"], [["1", "x", "0.1"]])
    with pytest.raises(DataError, match=r"wrong.csv: no 'cif' column; columns found: \['id', 'structure', 'energy'\]"):
        domain.read(tmp_path / "wrong.csv")
    records = list(domain.read(tmp_path / "wrong.csv", cif_column="structure", skipped=[]))
    assert records == []


def test_csv_without_material_id_uses_row_numbers(domain, tmp_path):
    cif = cif_string(_nacl())
    path = _write_csv(tmp_path / "plain.csv", ["Unnamed: 0", "cif", "energy"], [["7", cif, "1.5"], ["9", cif, "2"]])
    records = list(domain.read(path))
    assert [r["id"] for r in records] == ["1", "2"]
    assert [r["props"] for r in records] == [{"energy": 1.5}, {"energy": 2.0}]


def test_p1_coordinates_near_thirds_are_not_rounded(domain, tmp_path):
    s = Structure(Lattice.hexagonal(3.0, 5.0), ["Mg", "Mg"], [[1 / 3 + 3e-5, 2 / 3 - 2e-5, 0.25], [0.0, 0.0, 0.75]])
    path = tmp_path / "mg.cif"
    path.write_text(cif_string(s))
    (record,) = domain.read(path)
    assert domain.equal(record["obj"], s, ordered=False)


# ---------------------------------------------------------------------- write + read round trips
@settings(max_examples=15, deadline=None, suppress_health_check=HEALTH)
@given(st.lists(structures(max_atoms=8), min_size=1, max_size=4))
def test_folder_roundtrip_cif_and_poscar(domain, tmp_path_factory, items):
    base = tmp_path_factory.mktemp("folders")
    ids = [f"s{i}" for i in range(len(items))]
    names = [f"{i}_{s.composition.reduced_formula}" for i, s in zip(ids, items)]
    for fmt, suffix, ordered in (("cif", ".cif", False), ("poscar", ".vasp", True),
                                 ("extxyz", ".extxyz", True), ("json", ".json", True)):
        domain.write(items, base / fmt, ids=ids, folder_format=fmt)
        assert sorted(p.name for p in (base / fmt).iterdir()) == sorted(f"{n}{suffix}" for n in names)
        skipped: list[dict[str, str]] = []
        back = list(domain.read(base / fmt, skipped=skipped))
        assert skipped == []
        # ids come back from CIF (its _graphdiff_material_id item), extxyz and JSON; a POSCAR
        # holds none, so its file name is the id
        assert [r["id"] for r in back] == ([f"{n}{suffix}" for n in names] if fmt == "poscar" else ids)
        for original, record in zip(items, back):
            assert domain.equal(original, record["obj"], ordered=ordered)


@settings(max_examples=10, deadline=None, suppress_health_check=HEALTH)
@given(st.lists(structures(max_atoms=6), min_size=2, max_size=4))
def test_single_file_formats_roundtrip(domain, tmp_path_factory, items):
    base = tmp_path_factory.mktemp("files")
    records = [{"id": f"mp-{i}", "obj": s, "props": {"band_gap": 0.5 * i, "energy": -1.0 - i}}
               for i, s in enumerate(items)]
    for name, ordered in (("all.cif", False), ("all.csv", False), ("all.json", True), ("all.extxyz", True)):
        domain.write(records, base / name)
        back = list(domain.read(base / name))
        assert [r["id"] for r in back] == [r["id"] for r in records], name
        for original, record in zip(records, back):
            assert domain.equal(original["obj"], record["obj"], ordered=ordered), name
            if name != "all.cif":
                assert record["props"] == original["props"], name


def test_multiblock_cif_block_names_are_ids(domain, tmp_path):
    domain.write([_nacl(5.6), _nacl(5.7)], tmp_path / "two.cif", ids=["first one", "second"])
    text = (tmp_path / "two.cif").read_text()
    assert [name for name, _ in split_cif_blocks(text)] == ["first_one", "second"]
    records = list(domain.read(tmp_path / "two.cif"))
    assert [r["id"] for r in records] == ["first one", "second"]  # as given, from _graphdiff_material_id
    assert records[1]["source"] == "two.cif block 2 (data_second)"
    assert "candidate_id" not in (records[1].get("text") or {})  # the block is named by its id


def test_writer_errors(domain, tmp_path):
    domain.write([_nacl(), _nacl()], tmp_path / "dup", ids=["a", "a"])  # a second name, never a clash
    assert sorted(p.name for p in (tmp_path / "dup").iterdir()) == ["a_NaCl.cif", "a_NaCl_dup2.cif"]
    with pytest.raises(DataError, match=r"holds 2 file\(s\) \(e.g. a_NaCl.cif\).*--overwrite"):
        domain.write([_nacl()], tmp_path / "dup", ids=["b"])  # a folder with files in it
    domain.write([_nacl(5.0)], tmp_path / "dup", ids=["a"], overwrite=True)
    (record,) = domain.read(tmp_path / "dup" / "a_NaCl.cif")
    assert record["obj"].lattice.a == pytest.approx(5.0)
    domain.write([_nacl()], tmp_path / "dup", ids=["c"], append=True)  # appending adds files
    with pytest.raises(DataError, match="a_NaCl.cif: already exists"):
        domain.write([_nacl()], tmp_path / "dup", ids=["a"], append=True)
    with pytest.raises(DataError, match="folder_format"):
        domain.write([_nacl()], tmp_path / "x", folder_format="xyz")
    with pytest.raises(DataError, match="one structure"):
        domain.write([_nacl(), _nacl()], tmp_path / "POSCAR")
    with pytest.raises(DataError, match="expected a pymatgen Structure"):
        domain.write(["not a structure"], tmp_path / "y.cif")
    domain.write([_nacl()], tmp_path / "POSCAR")
    (record,) = domain.read(tmp_path / "POSCAR")
    assert domain.equal(record["obj"], _nacl())


# ---------------------------------------------------------------------- other sources
def test_structure_json_forms(domain, tmp_path):
    a, b = _nacl(5.6), _nacl(5.8)
    (tmp_path / "one.json").write_text(json.dumps(a.as_dict()))
    (record,) = domain.read(tmp_path / "one.json")
    assert record["id"] == "0" and domain.equal(record["obj"], a)
    (tmp_path / "list.json").write_text(json.dumps([a.as_dict(), b.as_dict()]))
    assert [domain.equal(r["obj"], s) for r, s in zip(domain.read(tmp_path / "list.json"), [a, b])] == [True, True]
    docs = {"data": [{"material_id": "mp-22862", "structure": a.as_dict(), "band_gap": 5.0, "is_stable": True,
                      "formula_pretty": "NaCl"},
                     {"material_id": "mp-bad", "structure": {"lattice": "nonsense", "sites": []}},
                     {"material_id": "mp-3", "structure": b.as_dict(), "band_gap": 4.0}]}
    (tmp_path / "mp.json").write_text(json.dumps(docs))
    skipped: list[dict[str, str]] = []
    records = list(domain.read(tmp_path / "mp.json", skipped=skipped))
    assert [r["id"] for r in records] == ["mp-22862", "mp-3"]
    assert records[0]["props"] == {"band_gap": 5.0}  # booleans and strings are not properties
    assert [s["where"] for s in skipped] == ["mp.json item 1 (material_id mp-bad)"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: invalid JSON"):
        domain.read(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"species": ["H"]}))
    with pytest.raises(DataError, match="neither a Structure dict"):
        domain.read(tmp_path / "other.json")


def test_extxyz_skips_non_periodic_frames(domain, tmp_path):
    from ase import Atoms
    from ase.io import write

    crystal = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[4, 4, 4], pbc=True)
    crystal.info["material_id"] = "x1"
    crystal.info["formation_energy"] = -1.5
    molecule = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=[10, 10, 10], pbc=False)
    write(tmp_path / "mixed.extxyz", [crystal, molecule], format="extxyz")
    skipped: list[dict[str, str]] = []
    records = list(domain.read(tmp_path / "mixed.extxyz", skipped=skipped))
    assert [r["id"] for r in records] == ["x1"]
    assert records[0]["props"] == {"formation_energy": -1.5}
    assert skipped[0]["where"] == "mixed.extxyz frame 1" and "not periodic" in skipped[0]["reason"]


def test_poscar_without_symbols_is_refused(domain, tmp_path):
    (tmp_path / "POSCAR").write_text("old\n1.0\n4 0 0\n0 4 0\n0 0 4\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    skipped: list[dict[str, str]] = []
    assert list(domain.read(tmp_path / "POSCAR", skipped=skipped)) == []
    assert skipped[0]["where"] == "POSCAR" and "no element symbols" in skipped[0]["reason"]


def test_folder_reports_bad_files_and_ignored_entries(domain, tmp_path):
    domain.write([_nacl(5.6), _nacl(5.7)], tmp_path / "set", ids=["a", "b"])
    (tmp_path / "set" / "c.cif").write_text("data_c\n_cell_length_a 3\n")
    (tmp_path / "set" / "notes.txt").write_text("hello")
    (tmp_path / "set" / "broken.json").write_text("[")
    skipped: list[dict[str, str]] = []
    with pytest.warns(CrystalReadWarning, match=r"ignored 1 entries .*notes.txt"):
        records = list(domain.read(tmp_path / "set", skipped=skipped))
    assert [r["id"] for r in records] == ["a", "b"]
    assert [s["where"] for s in skipped] == ["set/broken.json", "set/c.cif"]
    assert "invalid JSON" in skipped[0]["reason"]
    with pytest.raises(DataError, match="set/broken.json"):
        list(domain.read(tmp_path / "set", strict=True))


def test_unknown_or_missing_source(domain, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        domain.read(tmp_path / "missing.csv")
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unknown format '.parquet'"):
        domain.read(tmp_path / "data.parquet")


def test_validate_false_keeps_structures_the_converter_rejects(tmp_path, domain):
    s = Structure(Lattice.cubic(4), ["Na", "Cl"], [[0, 0, 0], [0.02, 0, 0]])
    (tmp_path / "close.json").write_text(json.dumps(s.as_dict()))
    assert list(domain.read(tmp_path / "close.json", skipped=[])) == []
    (record,) = domain.read(tmp_path / "close.json", validate=False)
    assert np.allclose(record["obj"].frac_coords, s.frac_coords)
    assert read_records(tmp_path / "close.json", check=None) is not None


@pytest.mark.parametrize("name", ["chiral.cif", "chiral.csv", "POSCAR", "chiral.json", "chiral.extxyz", "chiral.db"])
def test_writers_do_not_mirror_left_handed_cells(domain, tmp_path, name):
    left = chiral_structure(left_handed=True)
    handedness = triple_product(left)
    domain.write([left], tmp_path / name)
    (record,) = domain.read(tmp_path / name)
    assert math.isclose(triple_product(record["obj"]), handedness, rel_tol=1e-6)
    assert domain.equal(record["obj"], left, ordered=False)


# ---------------------------------------------------------------------- ASE databases
def test_ase_database_round_trip_with_candidates(domain, tmp_path, triclinic, rocksalt):
    import ase.db
    from pymatgen.io.ase import AseAtomsAdaptor

    path = tmp_path / "gen.db"
    shifted = triclinic.copy()
    shifted.translate_sites([0], [0.1, 0, 0])
    records = [{"id": "18517", "obj": triclinic, "props": {"heat_ref": 0.5, "judged_perov5-heat_ref": 1.25}},
               {"id": "18517", "obj": shifted, "props": {"heat_ref": 0.7}}]
    domain.write(records, path, extra=[{"sample": 0, "share": 0.5, "energy": -12.5}, {"sample": 1, "share": 0.5}])
    domain.write([{"id": "nacl", "obj": rocksalt}], path, append=True)
    # what an ASE user sees: periodic rows with the cell, the values as columns, the energy as the row's
    db = ase.db.connect(str(path))
    rows = list(db.select(sort="id"))
    assert len(rows) == 3 and all(r.pbc.all() for r in rows) and db.metadata == {"graphdiff_domain": "crystals"}
    assert rows[0].data["material_id"] == "18517"  # an id that reads as a number is no ASE column
    assert [r.candidate_id for r in rows[:2]] == ["18517-0", "18517-1"] and rows[0].heat_ref == 0.5
    assert rows[0].energy == -12.5 and rows[2].material_id == "nacl"
    assert rows[0].data["judged_perov5-heat_ref"] == 1.25  # not an identifier: kept under its name in data
    assert domain.equal(AseAtomsAdaptor.get_structure(rows[0].toatoms()), triclinic)
    # and graphdiff reads back the same, candidates grouped under their input's id
    back = list(domain.read(path))
    assert [r["id"] for r in back] == ["18517", "18517", "nacl"]
    assert [(r.get("text") or {}).get("candidate_id") for r in back] == ["18517-0", "18517-1", None]
    assert back[0]["props"] == {"rank": 0.0, "share": 0.5, "heat_ref": 0.5, "judged_perov5-heat_ref": 1.25,
                                "energy": -12.5}
    assert back[2]["source"] == "gen.db row 3 (nacl)"
    for rec, want in zip(back, [triclinic, shifted, rocksalt]):
        assert domain.equal(rec["obj"], want)
    # a new write replaces the file
    domain.write([rocksalt], path)
    assert len(list(domain.read(path))) == 1


def test_ase_database_molecule_rows_are_not_crystals(domain, tmp_path, rocksalt):
    import ase.db
    from ase import Atoms

    path = tmp_path / "mixed.db"
    db = ase.db.connect(str(path))
    db.write(Atoms("H2O", positions=[[0, 0, 0], [0, 0, 0.96], [0.93, 0, -0.24]]), name="water")
    db.write(Atoms("Na", cell=[3, 3, 3], pbc=[True, True, False]), name="slab")
    from pymatgen.io.ase import AseAtomsAdaptor

    db.write(AseAtomsAdaptor.get_atoms(rocksalt), name="nacl")
    skipped: list = []
    records = list(domain.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["nacl"]
    assert [s["where"] for s in skipped] == ["mixed.db row 1 (water)", "mixed.db row 2 (slab)"]
    assert all("not a crystal" in s["reason"] and "molecules domain" in s["reason"] for s in skipped)
    assert "pbc=[True, True, False]" in skipped[1]["reason"]
    with pytest.raises(DataError, match=r"mixed.db row 1 \(water\): not a crystal"):
        list(domain.read(path, strict=True))


def test_non_ase_database_files_are_refused_untouched(domain, tmp_path):
    from graphdiff.testing import assert_refuses_non_ase_databases

    assert_refuses_non_ase_databases(domain.read, tmp_path)


def test_convert_tells_a_crystal_database_from_a_molecule_one(domain, tmp_path, rocksalt):
    pytest.importorskip("graphdiff_molecules")
    import ase.db
    from ase.build import molecule

    from graphdiff.conversion import convert

    crystals = tmp_path / "crystals.db"
    domain.write([{"id": "nacl", "obj": rocksalt}], crystals)
    report = convert(str(crystals), tmp_path / "out.extxyz")
    assert report["reader"] == "crystals" and report["written"] == 1
    (back,) = domain.read(tmp_path / "out.extxyz")
    assert domain.equal(back["obj"], rocksalt)  # the lattice kept
    molecules = tmp_path / "molecules.db"
    ase.db.connect(str(molecules)).write(molecule("CH4"), name="methane")
    assert not domain.holds_items(molecules) and domain.holds_items(crystals)
    assert convert(str(molecules), tmp_path / "m.extxyz")["reader"] == "molecules"
