"""Generated crystal candidates in the files a materials scientist opens: two inputs, two ranked
candidates each (k = 2), written by :class:`graphdiff.graphio.GraphSink` as ``graphdiff sample``
does, and read back with pymatgen (``CifParser``, ``Poscar``, ``Structure.from_file``), ASE
(``ase.io.read``) and graphdiff itself."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import torch
from ase.io import read as ase_read
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifParser
from pymatgen.io.vasp import Poscar

from graphdiff.graphio import GraphSink

IDS = ["mp-1", "mp-1", "mp-2", "mp-2"]
EXTRA = [{"sample": 0, "share": 0.75, "distinct": 1}, {"sample": 1, "share": 0.25, "distinct": 1},
         {"sample": 0, "share": 0.5, "distinct": 1}, {"sample": 1, "share": 0.5, "distinct": 1}]
CANDIDATES = ["mp-1-0", "mp-1-1", "mp-2-0", "mp-2-1"]


@pytest.fixture
def candidates(domain, rocksalt, triclinic) -> list[Structure]:
    """Rank 0 and rank 1 (a 2 % larger cell) of two inputs, in the domain's canonical cell."""
    out = []
    for s in (rocksalt, triclinic):
        for scale in (1.0, 1.02):
            scaled = Structure(Lattice(s.lattice.matrix * scale), s.species, s.frac_coords)
            out.append(domain.canonicalize(scaled))
    return out


def _sink(domain, out, structures, **kw) -> GraphSink:
    sink = GraphSink(out, domain, describe=True, **kw)
    graphs = [domain.to_graph(s) for s in structures]
    sink.write(graphs[:2], ids=IDS[:2], extra=EXTRA[:2])  # one input's candidates per chunk
    sink.write(graphs[2:], ids=IDS[2:], extra=EXTRA[2:])
    sink.close()
    assert sink.skipped == [] and sink.written == 4
    return sink


def _same(domain, a: Structure, b: Structure, ordered: bool = True) -> bool:
    return domain.equal(domain.canonicalize(a), domain.canonicalize(b), tol=1e-5, ordered=ordered)


def _quiet_cif(path) -> CifParser:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser(path)


def test_multiblock_cif_holds_every_candidate_for_pymatgen_ase_and_graphdiff(domain, candidates, tmp_path):
    out = tmp_path / "k2.cif"
    _sink(domain, out, candidates)
    parser = _quiet_cif(out)
    assert list(parser.as_dict()) == CANDIDATES  # one data block per candidate, none lost
    parsed = parser.parse_structures(primitive=False)
    assert len(parsed) == 4 and all(_same(domain, p, s, ordered=False) for p, s in zip(parsed, candidates))
    assert parser.as_dict()["mp-1-1"]["_graphdiff_material_id"] == "mp-1"
    assert len(ase_read(out, index=":")) == 4
    records = list(domain.read(out, strict=True))
    assert [r["id"] for r in records] == IDS  # candidates group by input
    assert [r["text"]["candidate_id"] for r in records] == CANDIDATES
    assert [(r["props"]["rank"], r["props"]["share"]) for r in records] == [(0, 0.75), (1, 0.25), (0, 0.5), (1, 0.5)]


def test_csv_keeps_material_id_and_adds_candidate_columns(domain, candidates, tmp_path):
    out = tmp_path / "k2.csv"
    _sink(domain, out, candidates)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:5] == ["material_id", "cif", "candidate_id", "rank", "share"]
    assert [r["material_id"] for r in rows] == IDS and [r["candidate_id"] for r in rows] == CANDIDATES
    assert [r["rank"] for r in rows] == ["0", "1", "0", "1"] and "sample" not in rows[0]
    for row, s in zip(rows, candidates):
        (parsed,) = CifParser.from_str(row["cif"]).parse_structures(primitive=False)
        assert _same(domain, parsed, s, ordered=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading our own output warns about nothing
        records = list(domain.read(out, strict=True))
    assert [r["text"]["candidate_id"] for r in records] == CANDIDATES


def test_extxyz_and_json_hold_the_lattice_and_the_candidate_values(domain, candidates, tmp_path):
    _sink(domain, tmp_path / "k2.extxyz", candidates)
    frames = ase_read(tmp_path / "k2.extxyz", index=":")
    assert [f.info["material_id"] for f in frames] == IDS
    assert [f.info["candidate_id"] for f in frames] == CANDIDATES
    assert [int(f.info["rank"]) for f in frames] == [0, 1, 0, 1]
    assert [float(f.info["share"]) for f in frames] == [0.75, 0.25, 0.5, 0.5]
    for f, s in zip(frames, candidates):
        assert f.pbc.all() and np.allclose(f.cell[:], s.lattice.matrix, atol=1e-6)
    _sink(domain, tmp_path / "k2.json", candidates)
    docs = json.loads((tmp_path / "k2.json").read_text())
    assert [(d["material_id"], d["candidate_id"], d["rank"]) for d in docs] == list(zip(IDS, CANDIDATES, [0, 1, 0, 1]))
    assert all(_same(domain, Structure.from_dict(d["structure"]), s) for d, s in zip(docs, candidates))


def test_a_folder_of_cifs_named_id_formula_rank(domain, candidates, tmp_path):
    sink = _sink(domain, f"{tmp_path / 'gen'}/", candidates)
    names = [f"{i}_{s.composition.reduced_formula}_{r}.cif" for i, s, r in zip(IDS, candidates, (0, 1, 0, 1))]
    assert names[0] == "mp-1_NaCl_0.cif"
    assert [p.name for p in sink.files] == names
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == sorted(names)
    for path, s, cid in zip(sink.files, candidates, CANDIDATES):
        parser = _quiet_cif(path)
        assert list(parser.as_dict()) == [cid]
        assert _same(domain, Structure.from_file(path), s, ordered=False)
        assert len(ase_read(path, index=":")) == 1
    records = list(domain.read(tmp_path / "gen", strict=True))  # the folder reads back as a set
    assert [r["id"] for r in records] == IDS and [r["text"]["candidate_id"] for r in records] == CANDIDATES


def test_a_folder_of_poscars(domain, candidates, tmp_path):
    sink = _sink(domain, f"{tmp_path / 'gen'}/", candidates, format="poscar")
    assert [p.name for p in sink.files] == ["mp-1_NaCl_0.vasp", "mp-1_NaCl_1.vasp",
                                            f"mp-2_{candidates[2].composition.reduced_formula}_0.vasp",
                                            f"mp-2_{candidates[3].composition.reduced_formula}_1.vasp"]
    for path, s, cid in zip(sink.files, candidates, CANDIDATES):
        poscar = Poscar.from_file(path)
        assert poscar.comment == cid  # the candidate id is the comment line
        assert _same(domain, poscar.structure, s)
        atoms = ase_read(path)  # ASE recognises .vasp
        assert np.allclose(atoms.cell[:], poscar.structure.lattice.matrix, atol=1e-6)
        assert atoms.get_chemical_symbols() == [site.specie.symbol for site in poscar.structure]


@pytest.mark.parametrize("fmt", ["extxyz", "json"])
def test_folders_of_other_formats(domain, candidates, tmp_path, fmt):
    sink = _sink(domain, tmp_path / "gen", candidates, format=fmt)  # a new name without a suffix
    assert [p.suffix for p in sink.files] == [f".{fmt}"] * 4
    records = list(domain.read(tmp_path / "gen", strict=True))
    assert [r["id"] for r in records] == IDS and [r["props"]["rank"] for r in records] == [0, 1, 0, 1]
    assert all(_same(domain, r["obj"], s) for r, s in zip(records, candidates))


def test_a_crystal_graph_that_cannot_be_converted_is_skipped_and_reported(domain, candidates, tmp_path):
    graphs = [domain.to_graph(s) for s in candidates]
    graphs[1].lattice = torch.full_like(graphs[1].lattice, float("nan"))  # a diverged sample
    out = tmp_path / "k2.cif"
    sink = GraphSink(out, domain)
    sink.write(graphs, ids=IDS, extra=EXTRA)
    sink.close()
    assert [b for b in _quiet_cif(out).as_dict()] == ["mp-1-0", "mp-2-0", "mp-2-1"]
    assert sink.skipped == [{"index": 1, "id": "mp-1-1",
                             "reason": "crystal graph: field 'lattice' has non-finite values"}]
    assert json.loads((tmp_path / "k2.cif.skipped.json").read_text())["skipped"] == sink.skipped
    assert sink.skip_summary().startswith("skipped 1 of 4 generated items that could not be converted: "
                                          "crystal graph: field 'lattice' has non-finite values")
