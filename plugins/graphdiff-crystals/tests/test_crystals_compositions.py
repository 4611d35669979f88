"""Compositions as CSP inputs: formulas parse to the cell as written, files of formulas are read
row by row, and what does not parse is reported with its line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Composition, Element

from graphdiff.errors import DataError
from graphdiff_crystals.compositions import (composition_graph, is_composition_file, parse_formula,
                                             read_compositions)
from graphdiff_crystals.domain import CrystalDomain

ELEMENTS = [Element.from_Z(z).symbol for z in range(1, 84)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ELEMENTS), st.integers(1, 6)), min_size=1, max_size=4,
                unique_by=lambda t: t[0]))
def test_a_formula_is_the_cell_as_written(parts):
    formula = "".join(f"{el}{n}" for el, n in parts)
    comp = parse_formula(formula)
    assert dict(comp.get_el_amt_dict()) == {el: float(n) for el, n in parts}
    graph = composition_graph(comp)
    z = (graph.atom_types + 1).tolist()
    assert graph.num_nodes == sum(n for _, n in parts) == len(z)
    assert sorted(z) == sorted(Element(el).Z for el, n in parts for _ in range(n))
    # pymatgen's order of species: each element's atoms together, by electronegativity
    order = [Element.from_Z(v) for v in dict.fromkeys(z)]
    assert order == sorted(order)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["SrTiO3", "LaAlO3", "CaTiO3", "Fe2O3", "NaCl"]), st.integers(1, 4))
def test_formula_units_scale_the_reduced_formula(formula, z):
    comp = parse_formula(formula, formula_units=z)
    assert comp == Composition(formula).reduced_composition * z


def test_a_formula_and_its_structure_give_the_same_atoms(rocksalt):
    domain = CrystalDomain()
    from_structure = domain.input_graph(rocksalt)
    from_formula = domain.input_graph(rocksalt.composition.formula.replace(" ", ""))
    assert from_structure.atom_types.tolist() == from_formula.atom_types.tolist()


@pytest.mark.parametrize("formula, message", [
    ("", "empty formula"),
    ("Xx2O", "'Xx' is not a chemical element"),
    ("SrTiO3.5", r"not O3\.5.*Sr2Ti2O7"),
    ("Sr(TiO3", "does not parse"),
])
def test_formulas_that_cannot_be_cells_are_refused(formula, message):
    with pytest.raises(DataError, match=message):
        parse_formula(formula)


def test_too_many_atoms_and_bad_formula_units_are_refused():
    with pytest.raises(DataError, match="20000 atoms in the cell, more than the 100"):
        composition_graph(parse_formula("SrTiO3", formula_units=4000), max_nodes=100)
    with pytest.raises(DataError, match="formula_units must be a positive whole number"):
        parse_formula("SrTiO3", formula_units=0)


def test_a_text_file_of_formulas(tmp_path):
    path = tmp_path / "formulas.txt"
    path.write_text("# CSP inputs\nsto SrTiO3\nLaAlO3   # a comment\n\nSrTiO3\nXx2O\na b c\n")
    assert is_composition_file(path)
    skipped: list[dict[str, str]] = []
    records = list(read_compositions(path, skipped=skipped))
    assert [r["id"] for r in records] == ["sto", "LaAlO3", "SrTiO3"]
    assert [r["obj"].reduced_formula for r in records] == ["SrTiO3", "LaAlO3", "SrTiO3"]
    assert [s["where"] for s in skipped] == ["formulas.txt line 6", "formulas.txt line 7"]
    assert "'Xx' is not a chemical element" in skipped[0]["reason"]
    with pytest.raises(DataError, match="formulas.txt line 6"):
        list(read_compositions(path, strict=True))


def test_a_csv_with_a_formula_column(tmp_path):
    path = tmp_path / "comps.csv"
    path.write_text("material_id,formula,gap,note\nm1,SrTiO3,1.5,cubic\nm2,BaTiO3,,\nm3,SrTiO3.5,2,\n")
    assert is_composition_file(path)
    skipped: list[dict[str, str]] = []
    records = list(CrystalDomain().read_inputs(path, skipped=skipped))
    assert [r["id"] for r in records] == ["m1", "m2"]
    assert records[0]["props"]["gap"] == 1.5 and records[0]["text"] == {"note": "cubic"}
    assert skipped[0]["where"] == "comps.csv row 3 (material_id m3)"
    z2 = list(CrystalDomain().read_inputs(path, skipped=[], formula_units=2))
    assert z2[0]["obj"] == Composition("Sr2Ti2O6")


def test_a_cdvae_csv_is_read_as_structures(tmp_path, sample_head):
    path = sample_head(tmp_path, 3)
    assert not is_composition_file(path)  # it has a cif column
    records = list(CrystalDomain().read_inputs(path, skipped=[]))
    assert [r["id"] for r in records] == [r["id"] for r in CrystalDomain().read(path)]
    assert records and all(r["obj"].is_ordered for r in records)
    with pytest.raises(DataError, match="formula_units applies to a file of formulas"):
        CrystalDomain().read_inputs(path, formula_units=2)


@pytest.mark.parametrize("item_id, rank, stem", [
    ("NaCl", 0, "NaCl_0"),            # asked for by formula: the formula is not repeated
    ("NaCl", None, "NaCl"),
    ("Na2Cl2", 1, "Na2Cl2_NaCl_1"),   # another cell of it: both say something
    ("mp-1", 0, "mp-1_NaCl_0"),
])
def test_a_file_name_does_not_repeat_a_formula_that_is_the_id(rocksalt, item_id, rank, stem):
    assert CrystalDomain().file_stem(rocksalt, item_id, rank) == stem
