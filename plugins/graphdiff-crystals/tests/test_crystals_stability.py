"""``graphdiff stability``: CHGNet relaxation, energy above the hull, S.U.N. (tiny structures, few steps)."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry
from pymatgen.io.cif import CifWriter

pytest.importorskip("chgnet")

from graphdiff.cli import cli  # noqa: E402
from graphdiff_crystals.stability import (  # noqa: E402
    E_HULL_TOL, ReferenceHull, RelaxCache, Relaxer, RelaxSettings, correct_entries, hull_from_train, load_entries,
    stability_report, standard_element_structure,
)

STEPS = 15


def si_perturbed() -> Structure:
    """Diamond Si, 2-atom primitive cell, the second atom moved off its site."""
    return Structure(Lattice.from_parameters(3.87, 3.87, 3.87, 60, 60, 60), ["Si", "Si"],
                     [[0, 0, 0], [0.27, 0.23, 0.25]])


def nacl() -> Structure:
    """Rocksalt NaCl, 2-atom primitive cell."""
    return Structure(Lattice.from_parameters(4.0, 4.0, 4.0, 60, 60, 60), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def na_bcc() -> Structure:
    return Structure(Lattice.from_parameters(3.7, 3.7, 3.7, 109.47, 109.47, 109.47), ["Na"], [[0, 0, 0]])


def cl2_box() -> Structure:
    """A Cl2 molecule per 5 Å cube: a stand-in elemental reference for Cl."""
    return Structure(Lattice.cubic(5.0), ["Cl", "Cl"], [[0, 0, 0], [0.4, 0, 0]])


def na_he() -> Structure:
    """Rocksalt NaHe: He is an element without a standard structure."""
    return Structure(Lattice.from_parameters(4.0, 4.0, 4.0, 60, 60, 60), ["Na", "He"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def he_box() -> Structure:
    return Structure(Lattice.cubic(4.0), ["He"], [[0, 0, 0]])


@pytest.fixture(scope="module")
def settings() -> RelaxSettings:
    return RelaxSettings(steps=STEPS, time_limit=None)


@pytest.fixture(scope="module")
def relaxer(settings) -> Relaxer:
    return Relaxer(settings)


@pytest.fixture(scope="module")
def relaxed(relaxer) -> dict[str, dict]:
    return {name: relaxer.relax(make()) for name, make in
            (("si", si_perturbed), ("nacl", nacl), ("na", na_bcc), ("cl", cl2_box))}


@pytest.fixture(scope="module")
def entries_json(relaxed, tmp_path_factory) -> Path:
    """Reference entries made from the relaxed results, as the MP API's ``as_dict`` form."""
    docs = [ComputedStructureEntry(r["structure"], r["energy"], entry_id=f"ref-{name}").as_dict()
            for name, r in relaxed.items()]
    path = tmp_path_factory.mktemp("entries") / "entries.json"
    path.write_text(json.dumps(docs))
    return path


def write_csv(path: Path, rows: list[tuple[str, Structure | None]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "cif"])
        for rid, s in rows:
            w.writerow([rid, str(CifWriter(s)) if s is not None else "not a cif"])
    return path


# ---------------------------------------------------------------------------- relaxation
def test_relax_tiny_structures(relaxed, relaxer):
    for name, r in relaxed.items():
        assert r["error"] is None, (name, r["error"])
        assert math.isfinite(r["energy_per_atom"]) and r["relax_steps"] <= STEPS
        assert r["timed_out"] is False
        assert r["relax_time_s"] >= 0
    (e0, err), = relaxer.static_energies([si_perturbed()])
    assert err is None
    assert relaxed["si"]["energy_per_atom"] < e0  # the perturbed Si relaxes downhill
    # batched static energies equal one-by-one ones
    batch = relaxer.static_energies([si_perturbed(), nacl(), na_bcc()], batch_size=3)
    one = [relaxer.static_energies([s])[0] for s in (si_perturbed(), nacl(), na_bcc())]
    assert np.allclose([b[0] for b in batch], [o[0] for o in one], atol=1e-5)


def test_time_limit_zero_marks_timed_out():
    r = Relaxer(RelaxSettings(steps=STEPS, time_limit=0.0)).relax(si_perturbed())
    assert r["timed_out"] is True and r["converged"] is False and r["relax_steps"] == 0
    assert r["error"] is None and math.isfinite(r["energy_per_atom"])  # the last (here: first) step's energy


def test_bad_structures_get_error_rows(relaxer, settings, relaxed):
    isolated = Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nan = si_perturbed()
    nan.lattice = Lattice(np.full((3, 3), np.nan))
    hull = ReferenceHull([ComputedEntry(r["structure"].composition, r["energy"], entry_id=n)
                          for n, r in relaxed.items()], "entries", "test")
    rep = stability_report([("iso", isolated), ("nan", nan), ("ok", nacl())], hull, settings, relaxer=relaxer,
                           unreadable=[{"where": "gen.csv row 9", "reason": "the cif cell is empty"}])
    rows = {r["id"]: r for r in rep["rows"]}
    assert "isolated atom" in rows["iso"]["error"] and rows["iso"]["e_hull"] is None
    assert rows["nan"]["error"].startswith("not evaluated") and rows["nan"]["e_hull"] is None
    assert rows["ok"]["error"] is None and rows["ok"]["stable"] is True
    s = rep["summary"]
    assert s["num_generated"] == 4 and s["num_errors"] == 2 and s["num_unreadable"] == 1
    assert s["num_scored"] == 1 and s["stable_rate"] == pytest.approx(1.0)  # over the scored one only
    assert s["rates_of_all_submitted"]["stable_rate"] == pytest.approx(1 / 4)  # MatterGen's denominator
    assert rows["iso"]["sun"] is None  # not scored: unknown, not False
    assert any("scored 1 of 4" in n for n in rep["notes"])
    assert rep["unreadable"][0]["where"] == "gen.csv row 9"


# ---------------------------------------------------------------------------- entries and the hull
def test_reference_entry_is_on_the_hull_and_strained_is_above(entries_json, relaxer):
    entries, bad = load_entries(entries_json)
    assert not bad and len(entries) == 4
    used, excluded, info = correct_entries(entries, "auto")
    assert info["num_used_as_given"] == 4 and not excluded  # no VASP parameters: CHGNet energies as they are
    hull = ReferenceHull(used, "entries", "test")
    for e in used:
        value, reason = hull.e_above_hull(e.composition, e.energy)
        assert reason is None and abs(value) < E_HULL_TOL
    strained = nacl()
    strained.scale_lattice(strained.volume * 1.25)
    (e0, err), = relaxer.static_energies([strained])
    value, reason = hull.e_above_hull(strained.composition, e0 * len(strained))
    assert reason is None and value > 0.01


def test_uncovered_elements_give_null_with_reason(entries_json):
    hull = ReferenceHull(load_entries(entries_json)[0], "entries", "test")
    value, reason = hull.e_above_hull(Structure(Lattice.cubic(4), ["K", "Cl"], [[0, 0, 0], [.5, .5, .5]]).composition,
                                      -7.0)
    assert value is None and "K not in the reference entries" in reason
    only_compound = ReferenceHull([ComputedEntry("NaCl", -7.0), ComputedEntry("Na", -1.3)], "entries", "test")
    value, reason = only_compound.e_above_hull(nacl().composition, -7.5)
    assert value is None and "no pure-element reference for Cl" in reason


def test_mp2020_applied_to_dft_entries_only():
    spec = [{"titel": "PAW_PBE Na_pv 19Sep2006", "hash": None}, {"titel": "PAW_PBE Cl 06Sep2000", "hash": None}]
    gga = ComputedEntry("NaCl", -7.0, entry_id="gga",
                        parameters={"run_type": "GGA", "potcar_spec": spec, "hubbards": {}, "is_hubbard": False})
    r2scan = ComputedEntry("NaCl", -7.0, entry_id="r2scan",
                           parameters={"run_type": "R2SCAN", "potcar_spec": spec, "hubbards": {}, "is_hubbard": False})
    chgnet = ComputedEntry("NaCl", -7.3, entry_id="chgnet")
    used, excluded, info = correct_entries([gga, r2scan, chgnet], "auto")
    by_id = {e.entry_id: e for e in used}
    assert by_id["gga"].correction < 0 and "MP2020" in by_id["gga"].energy_adjustments[0].name
    assert by_id["chgnet"].energy == -7.3
    assert [x["id"] for x in excluded] == ["r2scan"] and "R2SCAN" in excluded[0]["reason"]
    # re-applying to an already corrected entry gives the same energy (clean=True)
    again, _, _ = correct_entries([by_id["gga"]], "mp2020")
    assert again[0].energy == pytest.approx(by_id["gga"].energy)
    assert correct_entries([gga], "none")[0][0].energy == -7.0


def test_train_hull_elemental_references_and_cache(settings, relaxer, tmp_path):
    cache = RelaxCache(tmp_path / "cache.json", settings)
    hull, info = hull_from_train([("t-nahe", na_he())], settings, cache=cache, relaxer=relaxer, shipped=False)
    # Na: ASE's standard bcc structure; He: none, so NaHe is not covered without the shipped references
    refs = {r["id"]: r for r in info["extra_elemental_references"]}
    assert "standard:Na" in refs and info["train_elements_without_reference"] == ["He"]
    value, reason = hull.e_above_hull(na_he().composition, -8.0)
    assert value is None and "He" in reason
    # the shipped CHGNet reference covers He (Na keeps its relaxed standard structure)
    hull_s, info_s = hull_from_train([("t-nahe", na_he())], settings, cache=cache, relaxer=relaxer)
    assert [r["element"] for r in info_s["shipped_elemental_references"]] == ["He"]
    assert hull_s.elemental_reference("He").entry_id == "chgnet-ref:He"
    assert hull_s.elemental_reference("Na").entry_id == "standard:Na"
    assert not info_s["train_elements_without_reference"] and "shipped CHGNet references" in hull_s.description
    # a pure-He structure given by the user completes it; the earlier relaxations come from the cache
    cache2 = RelaxCache(tmp_path / "cache.json", settings)
    hull2, info2 = hull_from_train([("t-nahe", na_he())], settings, cache=cache2, relaxer=relaxer,
                                   element_refs=[("he", he_box())])
    assert cache2.hits == 2 and not info2["train_elements_without_reference"]
    train_entry = next(e for e in hull2.entries if e.entry_id == "train:t-nahe")
    value, reason = hull2.e_above_hull(train_entry.composition, train_entry.energy)
    assert reason is None and value <= E_HULL_TOL


def test_train_hull_builds_references_for_molecular_elements(settings, relaxer):
    # Cl has no ASE reference state: the built-in Cl2 molecule in a box covers NaCl
    hull, info = hull_from_train([("t-nacl", nacl())], settings, relaxer=relaxer)
    refs = {r["id"]: r for r in info["extra_elemental_references"]}
    assert "Cl2 molecule" in refs["standard:Cl"]["source"] and not info["train_elements_without_reference"]
    value, reason = hull.e_above_hull(nacl().composition, -8.0)
    assert reason is None and value is not None


@pytest.mark.parametrize("symbol, number, natoms", [
    ("B", 166, 36), ("P", 64, 8), ("Mn", 217, 58), ("Ga", 64, 8), ("Se", 152, 3), ("Te", 152, 3)])
def test_published_element_crystals(symbol, number, natoms):
    structure, source = standard_element_structure(symbol)
    assert "published crystal" in source and len(structure) == natoms
    assert structure.get_space_group_info(symprec=0.01)[1] == number
    nearest = (structure.distance_matrix + 99 * np.eye(natoms)).min()
    assert 1.6 < nearest < 2.9  # bonded neighbours, no overlapping sites


@pytest.mark.parametrize("symbol, natoms, bond", [("O", 2, 1.21), ("N", 2, 1.10), ("S", 8, 2.05), ("I", 2, 2.67)])
def test_molecular_elements_in_a_box(symbol, natoms, bond):
    structure, source = standard_element_structure(symbol)
    assert "box" in source and len(structure) == natoms and structure.lattice.abc == (12.0, 12.0, 12.0)
    d = structure.distance_matrix + 99 * np.eye(natoms)
    assert d.min() == pytest.approx(bond, abs=1e-6)
    if symbol == "S":  # the crown: every atom bonded to two neighbours at 108°
        assert ((np.abs(d - bond) < 1e-6).sum(axis=1) == 2).all()
        assert structure.get_angle(0, 1, 2) == pytest.approx(108.0, abs=1e-6)


def test_no_standard_structure_for_helium():
    assert standard_element_structure("He") is None


# ---------------------------------------------------------------------------- CLI
def test_cli_end_to_end(entries_json, tmp_path):
    dup = si_perturbed()
    dup.translate_sites([0, 1], [0.1, 0.1, 0.1])  # the same crystal, shifted: a duplicate after relaxation
    gen = write_csv(tmp_path / "gen.csv", [("g-si", si_perturbed()), ("g-nacl", nacl()), ("g-bad", None),
                                          ("g-si2", dup)])
    train = write_csv(tmp_path / "train.csv", [("t-nacl", nacl())])
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--entries", str(entries_json),
                                      "--train", str(train), "--out", str(out), "--steps", str(STEPS), "-q",
                                      "--save-relaxed", str(tmp_path / "relaxed.cif")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "scored 3 of 4 structures (1 unreadable" in result.output
    assert "SUN: 1/3 (33.3%)" in result.output and "stable (E_hull <= 0): 3/3" in result.output
    rep = json.loads(out.read_text())
    assert set(rep) >= {"protocol", "hull", "summary", "timing", "rows", "unreadable", "notes"}
    assert "MaterialsProject2020Compatibility" in rep["protocol"]["energy"]
    assert rep["hull"]["source"] == "entries" and "entries.json" in rep["hull"]["description"]
    rows = {r["id"]: r for r in rep["rows"]}
    assert set(rows) == {"g-si", "g-nacl", "g-si2"}
    for key in ("relaxed_cif", "energy_per_atom", "e_hull", "stable", "unique", "novel", "timed_out",
                "relax_steps", "error"):
        assert key in rows["g-si"]
    assert Structure.from_str(rows["g-si"]["relaxed_cif"], fmt="cif").composition.reduced_formula == "Si"
    assert rows["g-si"]["stable"] and rows["g-si"]["unique"] and rows["g-si"]["novel"] and rows["g-si"]["sun"]
    assert rows["g-si"]["e_hull_initial"] > rows["g-si"]["e_hull"]  # unrelaxed is above the relaxed
    assert rows["g-nacl"]["stable"] and rows["g-nacl"]["novel"] is False and rows["g-nacl"]["matches_train"] == "t-nacl"
    assert rows["g-si2"]["unique"] is False and rows["g-si2"]["duplicate_of"] == "g-si" and not rows["g-si2"]["sun"]
    s = rep["summary"]
    assert s["num_generated"] == 4 and s["num_unreadable"] == 1 and s["num_sun"] == 1 and s["num_scored"] == 3
    assert s["sun_rate"] == pytest.approx(1 / 3) and s["stable_rate"] == pytest.approx(1.0)
    assert s["rates_of_all_submitted"]["sun_rate"] == pytest.approx(0.25)
    assert "row 3" in rep["unreadable"][0]["where"]
    assert (tmp_path / "relaxed.cif").exists()


def test_cli_needs_a_hull_and_time_limit_zero(entries_json, tmp_path):
    gen = write_csv(tmp_path / "gen.csv", [("g-si", si_perturbed()), ("g-nacl", nacl())])
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--out", str(out)])
    assert result.exit_code != 0 and "--entries" in result.output
    result = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--entries", str(entries_json),
                                      "--out", str(out), "--time-limit", "0", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rep = json.loads(out.read_text())
    assert rep["summary"]["num_timed_out"] == 1  # NaCl starts converged, Si runs out of time at once
    si = next(r for r in rep["rows"] if r["id"] == "g-si")
    assert si["timed_out"] is True and si["e_hull"] is not None and si["novel"] is None and si["sun"] is None
    assert any("ran out of time" in n for n in rep["notes"])


def test_workers_give_the_same_results(settings, relaxed):
    from graphdiff_crystals.stability import relax_structures

    out = relax_structures([si_perturbed(), nacl()], settings, workers=2)
    assert [r["error"] for r in out] == [None, None]
    assert out[0]["energy_per_atom"] == pytest.approx(relaxed["si"]["energy_per_atom"], abs=1e-5)
    assert out[1]["energy_per_atom"] == pytest.approx(relaxed["nacl"]["energy_per_atom"], abs=1e-5)
    assert out[0]["structure"].composition.reduced_formula == "Si"


def test_load_entries_layouts(tmp_path):
    e1 = ComputedEntry("NaCl", -7.0, entry_id="mp-22862-GGA")
    e2 = ComputedEntry("NaCl", -7.2, entry_id="mp-22862-r2SCAN")
    docs = [{"material_id": "mp-22862", "entries": {"GGA": e1.as_dict(), "R2SCAN": e2.as_dict()}},
            {"composition": {"Na": 1}, "energy": -1.3, "entry_id": "plain-na"},
            {"entry": ComputedEntry("Cl", -1.8, entry_id="wrapped-cl").as_dict()},
            {"something": "else"}]
    path = tmp_path / "mp.json"
    path.write_text(json.dumps({"data": docs}))
    entries, bad = load_entries(path)
    assert sorted(e.entry_id for e in entries) == ["mp-22862-GGA", "mp-22862-r2SCAN", "plain-na", "wrapped-cl"]
    assert len(bad) == 1 and "item 4" in bad[0]["where"]


# ---------------------------------------------------------------------------- honest rates
def kcl() -> Structure:
    """Rocksalt KCl, 2-atom primitive cell."""
    return Structure(Lattice.from_parameters(4.45, 4.45, 4.45, 60, 60, 60), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_rates_are_over_the_scored_structures_only(entries_json, tmp_path):
    gen = write_csv(tmp_path / "gen.csv", [("g-nacl", nacl()), ("g-kcl", kcl()), ("g-si", si_perturbed())])
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--entries", str(entries_json),
                                      "--out", str(out), "--steps", str(STEPS), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # K has no elemental reference in the entries: KCl is not scored, and no rate counts it
    assert "scored 2 of 3 structures (0 unreadable, 0 failed, 1 with elements the hull has no reference for)" \
        in result.output
    assert "stable (E_hull <= 0): 2/2 (100.0%)" in result.output
    assert "SUN: n/a (needs --train)" in result.output
    stability_rates = [line for line in result.output.splitlines() if "stable" in line or "SUN" in line]
    assert stability_rates and not any("/3 " in line for line in stability_rates)
    assert "unique: 3/3 (100.0%)" in result.output  # KCl relaxed: it is compared for uniqueness
    rep = json.loads(out.read_text())
    s = rep["summary"]
    assert s["num_scored"] == 2 and s["num_outside_hull"] == 1 and s["stable_rate"] == 1.0
    assert s["denominators"]["stable_rate"] == "num_scored" and s["num_compared"] == 3
    k = next(r for r in rep["rows"] if r["id"] == "g-kcl")
    assert k["e_hull"] is None and k["stable"] is None and "K not in the reference entries" in k["e_hull_reason"]


def test_nothing_scored_prints_no_rate():
    from graphdiff_crystals.stability import summarise, summary_lines

    rows = [{"e_hull": None, "error": "CHGNet failed: x", "timed_out": False, "stable": None, "metastable": None,
             "unique": None, "novel": None, "sun": None, "msun": None}]
    summary, notes = summarise(rows, 2, with_train=True)
    assert summary["num_scored"] == 0 and summary["stable_rate"] is None and summary["sun_rate"] is None
    lines = summary_lines(summary)
    assert lines[0].startswith("scored 0 of 3 structures (2 unreadable, 1 failed")
    assert "stable (E_hull <= 0): n/a (none scored)" in lines[1] and "%" not in "".join(lines[1:])
    assert any("scored 0 of 3" in n for n in notes)


# ---------------------------------------------------------------------------- shipped elemental references
def _elements_of(path: Path) -> set[str]:
    from graphdiff_crystals.domain import CrystalDomain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {el.symbol for r in CrystalDomain().read(path) for el in r["obj"].composition.elements}


def test_shipped_references_cover_the_datasets_with_provenance():
    from graphdiff_crystals.io import sample_path
    from graphdiff_crystals.stability import RelaxSettings, shipped_references

    doc = shipped_references()
    assert doc["format"] == "graphdiff-elemental-references"
    protocol = RelaxSettings().protocol()
    for key in ("model", "optimizer", "cell_filter", "fmax_eV_per_A", "max_steps"):
        assert doc["protocol"][key] == protocol[key]  # the default protocol of graphdiff stability
    prov = doc["provenance"]
    # the command as it ran (the script has since moved to benchmarks/crystals/)
    assert prov["command"].split()[1].endswith("crystals_elemental_refs.py") and prov["versions"]["chgnet"]
    els = doc["elements"]
    needed = _elements_of(sample_path("perov_5")) | _elements_of(sample_path("carbon_24"))
    assert needed <= {el for el, e in els.items() if e["energy_per_atom"] is not None}
    for el, e in els.items():
        if e["energy_per_atom"] is None:
            continue
        assert math.isfinite(e["energy_per_atom"]) and -15 < e["energy_per_atom"] < 0, el
        got = [c["energy_per_atom"] for c in e["candidates"] if c["energy_per_atom"] is not None
               and (c["converged"] or not e["converged"])]
        assert e["energy_per_atom"] == min(got), el  # the lowest candidate is kept


def test_shipped_reference_is_no_higher_than_relaxing_the_standard_structure():
    from graphdiff_crystals.stability import shipped_reference_entries

    relaxer = Relaxer(RelaxSettings())  # the protocol the references were made with
    entries, missing = shipped_reference_entries(["Na", "Si", "Zz"])
    assert missing == {"Zz": "no shipped CHGNet reference for it"}
    for entry in entries:
        el = entry.composition.elements[0].symbol
        res = relaxer.relax(standard_element_structure(el)[0])
        # the standard structure is one of the candidates, relaxed the same way: the kept one is no higher
        assert entry.energy_per_atom <= res["energy_per_atom"] + 1e-4
        assert res["energy_per_atom"] - entry.energy_per_atom < 0.05


def test_shipped_references_keep_todays_rates_and_score_elements_absent_from_train(settings, relaxer):
    train = [("t-nacl", nacl())]
    generated = [("g-nacl", nacl()), ("g-kcl", kcl())]
    today, info_t = hull_from_train(train, settings, relaxer=relaxer, elements={"Na", "Cl", "K"}, shipped=False)
    now, info_n = hull_from_train(train, settings, relaxer=relaxer, elements={"Na", "Cl", "K"})
    # Na and Cl: relaxed standard structures in both (the training set holds them); K: shipped only
    assert [r["element"] for r in info_n["shipped_elemental_references"]] == ["K"]
    assert info_t["train_elements_without_reference"] == [] and today.elemental_reference("K") is None
    rep_t = stability_report(generated, today, settings, relaxer=relaxer)
    rep_n = stability_report(generated, now, settings, relaxer=relaxer)
    rows_t = {r["id"]: r for r in rep_t["rows"]}
    rows_n = {r["id"]: r for r in rep_n["rows"]}
    assert rows_n["g-nacl"]["e_hull"] == pytest.approx(rows_t["g-nacl"]["e_hull"], abs=1e-9)
    assert rows_n["g-nacl"]["stable"] == rows_t["g-nacl"]["stable"]
    assert rows_t["g-kcl"]["e_hull"] is None and rows_n["g-kcl"]["e_hull"] is not None
    assert rep_t["summary"]["num_scored"] == 1 and rep_n["summary"]["num_scored"] == 2
    assert rep_t["summary"]["stable_rate"] == float(rows_t["g-nacl"]["stable"])


# ---------------------------------------------------------------------------- Materials Project entries
MP_ENTRIES = Path(__file__).resolve().parent / "data" / "mp_entries_na_cl_o.json"


def test_mp_api_entries_file_is_corrected_with_mp2020():
    entries, bad = load_entries(MP_ENTRIES)
    assert not bad and len(entries) == 6
    assert all(isinstance(e, ComputedStructureEntry) for e in entries)
    used, excluded, info = correct_entries(entries, "auto")
    assert info["num_corrected_with_mp2020"] == 5 and [x["id"] for x in excluded] == ["nacl-R2SCAN"]
    by_id = {e.entry_id: e for e in used}
    assert by_id["na2o-GGA"].correction == pytest.approx(-0.687 * 1)  # the MP2020 oxide correction, per O
    assert by_id["nacl-GGA"].correction < 0 and by_id["na-GGA"].correction == 0
    hull = ReferenceHull(used, "entries", "test")
    for e in used:
        value, reason = hull.e_above_hull(e.composition, e.energy)
        assert reason is None and value <= E_HULL_TOL


def test_cli_with_mp_api_entries(tmp_path):
    gen = write_csv(tmp_path / "gen.csv", [("g-nacl", nacl()), ("g-na2o", Structure(
        Lattice.from_parameters(3.93, 3.93, 3.93, 60, 60, 60), ["O", "Na", "Na"],
        [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]))])
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--entries", str(MP_ENTRIES),
                                      "--out", str(out), "--steps", "60", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "scored 2 of 2 structures" in result.output
    rep = json.loads(out.read_text())
    assert rep["hull"]["correction"]["num_corrected_with_mp2020"] == 5
    assert [x["id"] for x in rep["hull"]["excluded_entries"]] == ["nacl-R2SCAN"]
    for row in rep["rows"]:  # the entries' own structures, relaxed again: on the hull
        assert abs(row["e_hull"]) < 0.02, row
