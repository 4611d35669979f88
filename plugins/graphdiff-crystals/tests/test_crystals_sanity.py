"""Physical sanity of generated crystals (short contacts, space groups, CHGNet energies) in
``graphdiff evaluate``, and the warning on ``--target`` requests beyond the training data."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

import graphdiff
from graphdiff.runner import TargetRangeWarning
from graphdiff_crystals import sample_path
from graphdiff_crystals.sanity import (CONTACT_TOLERANCE, COVALENT_FACTOR, SYMPREC, contact_threshold, pair_minima,
                                       reference_pair_minima, short_contacts, space_group, space_group_summary)

pytestmark = pytest.mark.filterwarnings("ignore::graphdiff_crystals.io.CrystalReadWarning")

A_DIAMOND = 3.567


def diamond() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(A_DIAMOND), ["C"], [[0, 0, 0]])


def graphite() -> Structure:
    return Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(2.46, 6.7), ["C", "C"],
                                     [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25]])


def close_carbons() -> Structure:
    """Two carbons 0.9 Å apart in a 4 Å cubic cell: a short C–C contact."""
    return Structure(Lattice.cubic(4.0), ["C", "C"], [[0, 0, 0], [0.9 / 4.0, 0, 0]])


# ---------------------------------------------------------------------------- short contacts
def test_defaults_are_the_documented_ones():
    assert (CONTACT_TOLERANCE, COVALENT_FACTOR, SYMPREC) == (0.1, 0.7, 0.1)


def test_pair_minima_by_hand(rocksalt):
    assert pair_minima(diamond()) == pytest.approx({"C-C": A_DIAMOND * math.sqrt(3) / 4})
    assert pair_minima(close_carbons()) == pytest.approx({"C-C": 0.9})
    assert pair_minima(rocksalt) == pytest.approx({"Cl-Na": 2.82, "Na-Na": 5.64 / math.sqrt(2),
                                                   "Cl-Cl": 5.64 / math.sqrt(2)})
    # one atom: its own periodic image is the closest contact
    one = Structure(Lattice.orthorhombic(2.0, 3.0, 4.0), ["C"], [[0, 0, 0]])
    assert pair_minima(one) == pytest.approx({"C-C": 2.0})


def test_reference_minima_over_a_list(rocksalt):
    squeezed = rocksalt.copy()
    squeezed.scale_lattice(rocksalt.volume * 0.9 ** 3)  # every distance × 0.9
    minima, failures = reference_pair_minima([diamond(), rocksalt, squeezed, graphite()], ["d", "r", "s", "g"])
    assert failures == []
    assert minima["C-C"]["minimum"] == pytest.approx(1.42028, abs=1e-4)  # graphite's in-plane bond, 2.46/√3
    assert minima["C-C"]["id"] == "g" and minima["C-C"]["structures"] == 2
    assert minima["Cl-Na"]["minimum"] == pytest.approx(0.9 * 2.82) and minima["Cl-Na"]["id"] == "s"
    assert minima["Na-Na"]["minimum"] == pytest.approx(0.9 * 5.64 / math.sqrt(2))
    assert set(minima) == {"C-C", "Cl-Na", "Na-Na", "Cl-Cl"}
    bad = Structure(Lattice(np.full((3, 3), np.nan)), ["C"], [[0, 0, 0]], validate_proximity=False)
    _, failures = reference_pair_minima([bad], ["nan-cell"])
    assert failures and failures[0]["id"] == "nan-cell"


def test_short_contact_is_flagged_and_diamond_is_not():
    minima, _ = reference_pair_minima([diamond(), graphite()])
    summary, rows = short_contacts([diamond(), close_carbons(), graphite()], minima)
    assert [r["short_contact"] for r in rows] == [False, True, False]
    assert rows[1]["closest_contact"] == {"pair": "C-C", "distance": 0.9,
                                          "threshold": pytest.approx(1.42028 - 0.1, abs=1e-4), "rule": "reference"}
    assert summary["short_contact_free"] == pytest.approx(2 / 3)
    assert summary["num_with_short_contact"] == 1 and summary["num_unassessed"] == 0
    assert summary["tolerance_angstrom"] == 0.1 and summary["flagged_pairs"] == {"C-C": 1}
    assert summary["reference_minima"] == {"C-C": pytest.approx(1.4203, abs=1e-4)}


def test_pairs_absent_from_the_references_fall_back_to_covalent_radii():
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    minima, _ = reference_pair_minima([diamond()])
    thr, rule = contact_threshold("C-Si", minima)
    assert rule == "covalent"
    assert thr == pytest.approx(0.7 * (CovalentRadius.radius["C"] + CovalentRadius.radius["Si"]))
    sic = Structure(Lattice.cubic(4.0), ["Si", "C"], [[0, 0, 0], [1.0 / 4.0, 0, 0]])  # 1.0 Å: below 0.7 × 1.84
    summary, rows = short_contacts([sic], minima)
    assert rows[0]["short_contact"] and summary["covalent_thresholds"]["C-Si"] == pytest.approx(thr, abs=1e-4)
    nan = Structure(Lattice(np.full((3, 3), np.nan)), ["C"], [[0, 0, 0]], validate_proximity=False)
    summary, rows = short_contacts([nan], minima)  # unassessable: counted, not free
    assert rows[0]["short_contact"] is None and rows[0]["contact_error"]
    assert summary["short_contact_free"] == 0.0 and summary["num_unassessed"] == 1


# ---------------------------------------------------------------------------- space groups
def test_space_groups(rocksalt):
    assert space_group(rocksalt, symprec=SYMPREC) == (225, "Fm-3m")
    assert space_group(diamond())[0] == 227
    p1 = Structure(Lattice.from_parameters(4.1, 5.3, 6.2, 78, 95, 104), ["C", "C"], [[0, 0, 0], [0.31, 0.17, 0.43]])
    summary, rows = space_group_summary([rocksalt, p1, p1, diamond()], [rocksalt, rocksalt])
    assert summary["symprec"] == 0.1
    assert rows[0] == {"space_group": 225, "space_group_symbol": "Fm-3m"} and rows[1]["space_group"] in (1, 2)
    assert summary["reference"]["top"] == [{"number": 225, "symbol": "Fm-3m", "fraction": 1.0}]
    assert summary["reference"]["fraction_p1"] == 0.0
    assert summary["total_variation"] == pytest.approx(0.75)  # a quarter of the generated are rocksalt
    same, _ = space_group_summary([rocksalt], [rocksalt])
    assert same["total_variation"] == 0.0


# ---------------------------------------------------------------------------- in graphdiff evaluate
def test_evaluate_dng_and_csp_report_the_sanity_keys(rocksalt):
    ref = [{"id": "d", "obj": diamond()}, {"id": "g", "obj": graphite()}]
    gen = [diamond(), close_carbons()]
    m = graphdiff.evaluate(gen, ref, task="dng")
    assert {"validity", "coverage", "wasserstein", "uniqueness"} <= set(m)  # CDVAE keys kept
    assert m["short_contacts"]["short_contact_free"] == 0.5
    assert m["short_contacts"]["reference_minima"] == {"C-C": pytest.approx(1.4203, abs=1e-4)}
    assert m["space_groups"]["generated"]["num"] == 2 and m["space_groups"]["symprec"] == 0.1
    assert "chgnet_energy" not in m  # off by default
    assert [it["short_contact"] for it in m["per_item"]] == [False, True]
    assert m["per_item"][0]["space_group"] == 227
    json.dumps(m)

    csp = graphdiff.evaluate([{"id": "d", "obj": close_carbons()}, {"id": "g", "obj": graphite()}], ref, task="csp")
    assert csp["metrics"]["k=1"]["match_rate"] == 0.5  # the CDVAE figures are unchanged
    assert csp["short_contacts"]["short_contact_free"] == 0.5 and csp["short_contacts"]["num_structures"] == 2
    assert csp["space_groups"]["reference"]["num"] == 2

    tight = graphdiff.evaluate(gen, ref, task="sanity", contact_tolerance=0.6, symprec=0.01)
    assert tight["short_contacts"]["short_contact_free"] == 1.0  # 0.9 Å is not below 1.42 - 0.6
    assert tight["space_groups"]["symprec"] == 0.01 and "coverage" not in tight


def test_evaluate_sanity_cli(tmp_path):
    from graphdiff.cli import cli

    sample = sample_path("carbon_24")
    out = tmp_path / "s.json"
    result = CliRunner().invoke(cli, ["evaluate", "--task", "sanity", "--generated", str(sample), "--reference",
                                      str(sample), "--out", str(out), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["short_contacts"]["short_contact_free"] == 1.0  # the references against themselves
    assert m["space_groups"]["total_variation"] == 0.0
    assert '"short_contact_free"' in result.output and '"per_item"' not in result.output


def test_chgnet_energy_of_two_tiny_structures():
    m = graphdiff.evaluate([diamond()], [graphite()], task="energy")
    e = m["chgnet_energy"]
    g, r = e["generated"]["mean"], e["reference"]["mean"]
    assert -10.5 < g < -8.0 and -10.5 < r < -8.0  # carbon: about -9 eV/atom
    assert e["wasserstein"] == pytest.approx(abs(g - r)) and e["units"] == "eV/atom"
    assert m["per_item"][0]["chgnet_energy"] == pytest.approx(g)
    dng = graphdiff.evaluate([diamond()], [graphite()], task="sanity", energy=True, energy_max_references=1)
    assert dng["chgnet_energy"]["generated"]["mean"] == pytest.approx(g, abs=1e-4)


# ---------------------------------------------------------------------------- target requests beyond the data
@pytest.fixture(scope="module")
def carbon_model():
    return graphdiff.load("carbon24-dng")


def test_target_range_over_the_bundled_sample(domain):
    from graphdiff.plugins import get_manager

    density = get_manager().get("targets", "crystals-density")
    low, high, where = domain.target_range(density, {"dataset": "carbon_24"})
    values = [r["obj"].density for r in domain.read(sample_path("carbon_24"))]
    assert (low, high) == pytest.approx((min(values), max(values)))
    assert "carbon24_sample.csv" in where and "200 structures" in where
    assert domain.target_range(density, {}) is None  # no training data recorded: no range
    assert domain.target_range(get_manager().get("targets", "crystals-chgnet_energy"), {"dataset": "carbon_24"}) is None


def test_request_beyond_the_training_range_warns_before_sampling(carbon_model, monkeypatch):
    import graphdiff.runner

    def no_sampling(*args, **kwargs):
        raise RuntimeError("sampling started")

    monkeypatch.setattr(graphdiff.runner, "sample_graphs", no_sampling)
    with pytest.warns(TargetRangeWarning, match=r"crystals-density>=3\.8 lies outside 2\.218 to 3\.673 g/cm\^3, the "
                      r"range of crystals-density over the 1626 structures of the model's training file"):
        with pytest.raises(RuntimeError, match="sampling started"):
            carbon_model.sample(1, steps=2, targets="crystals-density>=3.8", progress=False)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetRangeWarning)
        carbon_model.sample(1, steps=2, targets="crystals-density>=3.0", progress=False)  # within the data
        carbon_model.sample(1, steps=2, targets="crystals-density<=5", progress=False)  # met by all: no warning
        # the training file reaches 2.22
        carbon_model.sample(1, steps=2, targets="crystals-density<=2.5", progress=False)


def test_recorded_ranges_come_first_and_training_records_them(domain):
    from graphdiff.plugins import get_manager

    density = get_manager().get("targets", "crystals-density")
    meta = {"dataset": "carbon_24", "target_ranges": {"crystals-density": [1.0, 2.0, 7]}}
    assert domain.target_range(density, meta) == (1.0, 2.0, "over the 7 structures of the model's training file")
    records = list(domain.read(sample_path("perov_5")))[:30]
    ranges = domain.training_ranges([domain.to_graph(r["obj"]) for r in records])
    values = [r["obj"].density for r in records]
    assert ranges["crystals-density"] == pytest.approx([min(values), max(values), 30])
    assert ranges["crystals-num_elements"][2] == 30
