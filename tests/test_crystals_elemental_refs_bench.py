"""The helpers of benchmarks/crystals/crystals_elemental_refs.py (no relaxation)."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_elemental_refs.py"


@pytest.fixture(scope="module")
def bench(load_module):
    pytest.importorskip("graphdiff_crystals")
    return load_module(SCRIPT)


def test_default_elements_are_chgnets_89(bench) -> None:
    els = bench.element_set(None)
    assert len(els) == 89 and els[0] == "H" and els[-1] == "Pu"
    assert not {"Po", "At", "Rn", "Fr", "Ra"} & set(els)
    assert bench.element_set("Si, Na,O") == ["O", "Na", "Si"]  # atomic-number order
    with pytest.raises(SystemExit, match="not element symbols"):
        bench.element_set("Na,Xx")


def test_candidates(bench) -> None:
    labels = {el: [label.split(" ")[0] for label, _ in bench.candidates(el)] for el in ("Na", "O", "C", "Si", "He")}
    assert labels["Na"] == ["standard:", "fcc", "hcp"]  # ASE's own bcc, not a second bcc guess
    assert labels["O"] == ["standard:"]  # a molecule in a box only
    assert labels["C"] == ["standard:", "fcc", "bcc", "hcp", "graphite"]  # ASE's diamond is the standard
    assert labels["Si"] == ["standard:", "fcc", "bcc", "hcp"]
    assert labels["He"] == ["fcc", "bcc", "hcp"]  # no standard structure: guesses from the van der Waals radius
    for label, s in bench.candidates("He"):
        assert "2.800 A" in label and s.volume / len(s) > 10  # never a collapsed cell
    fcc_si = dict(bench.candidates("Si"))
    nn = next(s for label, s in fcc_si.items() if label.startswith("fcc"))
    assert bench.nearest_neighbour(nn) == pytest.approx(bench.nearest_neighbour(bench.candidates("Si")[0][1]), abs=1e-6)


def test_the_lowest_converged_candidate_is_kept(bench) -> None:
    results = [
        {"label": "a", "num_atoms": 1, "energy_per_atom": -1.0, "converged": True, "timed_out": False,
         "relax_steps": 3, "error": None},
        {"label": "b", "num_atoms": 2, "energy_per_atom": -2.0, "converged": False, "timed_out": True,
         "relax_steps": 500, "error": None},
        {"label": "c", "num_atoms": 1, "energy_per_atom": -1.5, "converged": True, "timed_out": False,
         "relax_steps": 9, "error": None},
        {"label": "d", "num_atoms": 1, "energy_per_atom": None, "converged": False, "timed_out": False,
         "relax_steps": 0, "error": "CHGNet failed"},
    ]
    entry = bench.element_entry("X", results)
    assert entry["structure"] == "c" and entry["energy_per_atom"] == -1.5 and entry["converged"] is True
    assert [c["structure"] for c in entry["candidates"]] == ["a", "b", "c", "d"]
    # none converged: the lowest with an energy
    assert bench.pick_lowest([results[1], results[3]])["label"] == "b"
    empty = bench.element_entry("X", [results[3]])
    assert empty["energy_per_atom"] is None and empty["error"] == "no candidate gave an energy"


def test_dataset_elements_from_formulas_or_cifs(bench, tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    with_formula = tmp_path / "a.csv"
    with_formula.write_text("material_id,formula,cif\nx,SrTiO3,\ny,not a formula,\nz,LaAlO3,\n")
    assert bench.dataset_elements(with_formula) == {"Sr", "Ti", "O", "La", "Al"}
    cif = str(CifWriter(Structure(Lattice.cubic(3.0), ["C"], [[0, 0, 0]])))
    only_cif = tmp_path / "b.csv"
    bench_rows = [["material_id", "cif"], ["c1", cif], ["c2", "not a cif"]]
    import csv

    with only_cif.open("w", newline="") as fh:
        csv.writer(fh).writerows(bench_rows)
    assert bench.dataset_elements(only_cif) == {"C"}
