"""De novo generation metrics (CDVAE protocol): fingerprints, coverage, Wasserstein, uniqueness,
novelty, and ``graphdiff evaluate --task dng`` end to end."""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

from graphdiff_crystals import sample_path
from graphdiff_crystals.dng_metrics import (COV_CUTOFFS, coverage, dng_metric, fingerprints,
                                            resolve_cutoffs, scale_composition_fingerprints,
                                            uniqueness_novelty)
from graphdiff_crystals.metrics import composition_valid

pytestmark = pytest.mark.filterwarnings("ignore::graphdiff_crystals.io.CrystalReadWarning")


@pytest.fixture(scope="module")
def perov(domain) -> list[dict]:
    """The first 24 compositionally valid Perov-5 rows of the bundled sample (records)."""
    recs = [r for r in domain.read(sample_path()) if composition_valid(r["obj"])]
    return [{"id": r["id"], "obj": r["obj"]} for r in recs[:24]]


def carbon_structures() -> list[Structure]:
    """A handful of single-element carbon cells (diamond, graphite, lonsdaleite, bcc, fcc)."""
    return [
        Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.57), ["C"], [[0, 0, 0]]),
        Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(2.46, 6.7), ["C", "C"],
                                  [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25]]),
        Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(2.52, 4.12), ["C"], [[1 / 3, 2 / 3, 0.0625]]),
        Structure.from_spacegroup("Im-3m", Lattice.cubic(2.0), ["C"], [[0, 0, 0]]),
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(2.6), ["C"], [[0, 0, 0]]),
    ]


@pytest.fixture(scope="module")
def self_result(perov) -> dict:
    return dng_metric(perov, perov, train=perov, dataset="perov_5")


# ---------------------------------------------------------------------------- the set against itself
def test_set_against_itself_is_perfect(self_result, perov):
    r = self_result
    assert r["task"] == "dng" and r["num_generated"] == len(perov) == r["num_valid"]
    assert r["validity"] == {"structure": 1.0, "composition": 1.0, "overall": 1.0}
    cov = r["coverage"]
    assert cov["cov_recall"] == 1.0 and cov["cov_precision"] == 1.0
    assert cov["amsd_recall"] == pytest.approx(0.0, abs=1e-9) and cov["amcd_precision"] == pytest.approx(0.0, abs=1e-9)
    assert (cov["struc_cutoff"], cov["comp_cutoff"]) == (0.2, 4.0)
    assert "perovskite" in cov["cutoffs_from"]
    assert r["wasserstein"]["density"] == pytest.approx(0.0, abs=1e-12)
    assert r["wasserstein"]["num_elements"] == pytest.approx(0.0, abs=1e-12)
    assert r["wasserstein"]["num_samples"] == len(perov)
    assert r["uniqueness"] == 1.0 and r["novelty"] == 0.0
    assert r["diversity"]["structure"] > 0 and r["diversity"]["composition"] > 0
    assert any("n_samples=1000" in n for n in r["notes"])  # fewer than CDVAE's 1000 valid: said so
    item = r["per_item"][0]
    assert item["id"] == perov[0]["id"] and item["valid"] and item["invalid_reason"] is None
    assert item["unique"] and item["novel"] is False and item["matches_train"] == perov[0]["id"]
    json.dumps(r)  # plain JSON types only


def test_fingerprints_shapes_and_scaling(perov):
    sfp, cfp, reason = fingerprints(perov[0]["obj"])
    assert reason is None and sfp.shape == (61,) and cfp.shape == (132,)
    scaled = scale_composition_fingerprints([cfp, np.full(132, np.nan)])
    assert scaled.shape == (2, 132) and np.isfinite(scaled).all() and (scaled[1] == 0).all()
    assert np.abs(scaled[0]).max() < 20  # the CDVAE statistics match matminer's feature order


# ---------------------------------------------------------------------------- invalid structures
def test_garbage_structures_are_invalid_and_reported(perov):
    good = [r["obj"] for r in perov[:3]]
    overlap = good[0].copy()
    overlap.replace(1, overlap.species[1], overlap[0].frac_coords + 0.01)  # two atoms ~0.05 Å apart
    flat = Structure(Lattice([[4, 0, 0], [0, 4, 0], [0, 0, 0.001]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0]])
    gen = [{"id": f"g{i}", "obj": s} for i, s in enumerate(good)]
    gen += [{"id": "overlap", "obj": overlap}, {"id": "flat", "obj": flat}]
    r = dng_metric(gen, perov[:3], struc_cutoff=0.2, comp_cutoff=4.0)
    items = {it["id"]: it for it in r["per_item"]}
    assert len(r["per_item"]) == 5 and r["num_generated"] == 5 and r["num_valid"] == 3
    assert not items["overlap"]["structure_valid"] and not items["overlap"]["valid"]
    assert "0.5 Å" in items["overlap"]["invalid_reason"]
    # a fingerprint failure is reported, not dropped: invalid, out of the coverage sums
    assert not items["flat"]["structure_valid"] and not items["flat"]["fingerprint_ok"]
    assert "fingerprint failed" in items["flat"]["invalid_reason"]
    assert r["validity"]["structure"] == pytest.approx(3 / 5) and r["validity"]["overall"] == pytest.approx(3 / 5)
    cov = r["coverage"]
    assert cov["num_generated"] == 5 and cov["num_generated_fingerprinted"] == 4
    assert cov["cov_recall"] == 1.0
    # CDVAE: invalid-but-fingerprinted structures still count; the denominator is all generated
    assert cov["cov_precision"] in (pytest.approx(3 / 5), pytest.approx(4 / 5))
    assert items["overlap"]["unique"] is None and items["g0"]["unique"] is True
    assert r["novelty"] is None and any("--train" in n for n in r["notes"])


def test_coverage_counts_invalid_generated_structures_as_cdvae(domain):
    """CDVAE's compute_cov gets every generated crystal (self.crys), not only the valid ones."""
    bad = next(r for r in domain.read(sample_path()) if not composition_valid(r["obj"]))
    r = dng_metric([bad], [bad], dataset="perov_5")
    assert r["num_valid"] == 0 and r["validity"]["composition"] == 0.0 and r["validity"]["overall"] == 0.0
    assert r["per_item"][0]["fingerprint_ok"] and "SMACT" in r["per_item"][0]["invalid_reason"]
    assert r["coverage"]["cov_recall"] == 1.0 and r["coverage"]["cov_precision"] == 1.0
    assert r["wasserstein"]["density"] is None and r["uniqueness"] is None


# ---------------------------------------------------------------------------- coverage
def test_carbon_against_perovskites_has_no_coverage(perov):
    gen = [{"id": f"c{i}", "obj": s} for i, s in enumerate(carbon_structures())]
    r = dng_metric(gen, perov[:6])
    cov = r["coverage"]
    assert cov["cov_recall"] == 0.0 and cov["cov_precision"] == 0.0
    assert (cov["struc_cutoff"], cov["comp_cutoff"]) == (0.4, 10.0) and "inferred" in cov["cutoffs_from"]
    assert r["wasserstein"]["num_elements"] > 1.5  # 1 element against 3-4
    assert r["uniqueness"] == 1.0


def test_coverage_by_hand():
    cfp = np.asarray([21.194441759304013] * 132)  # scaled: the first feature 0, the rest anything
    other = cfp.copy()
    other[0] += 16.35781741152948 * 5  # 5 standard deviations away in the first feature
    gen_s = [np.array([0.0, 0.0]), np.array([1.0, 0.0]), None]
    gen_c = [cfp, cfp, cfp]
    ref_s = [np.array([0.0, 0.1]), np.array([0.0, 0.5])]
    ref_c = [cfp, other]
    r = coverage(gen_s, gen_c, ref_s, ref_c, struc_cutoff=0.2, comp_cutoff=4.0)
    # ref 0: nearest structure 0.1, composition 0 -> covered; ref 1: 0.5 > 0.2 -> not
    assert r["cov_recall"] == 0.5
    # gen 0 covered (0.1, 0); gen 1: nearest structure sqrt(1.01) -> not; gen 2: no fingerprint
    assert r["cov_precision"] == pytest.approx(1 / 3)
    assert r["num_generated"] == 3 and r["num_generated_fingerprinted"] == 2
    assert r["amsd_recall"] == pytest.approx((0.1 + 0.5) / 2)
    assert r["amcd_recall"] == pytest.approx((0 + 5) / 2)
    assert r["amsd_precision"] == pytest.approx((0.1 + np.sqrt(1.01)) / 2)
    # recall takes the two minima separately, as CDVAE does
    r2 = coverage([np.zeros(2), np.ones(2) * 9], [other, cfp], [np.zeros(2)], [cfp], 0.2, 4.0)
    assert r2["cov_recall"] == 1.0 and r2["cov_precision"] == 0.0
    empty = coverage([None], [None], ref_s, ref_c, 0.2, 4.0)
    assert empty["cov_recall"] == 0.0 and empty["amsd_recall"] is None


def test_resolve_cutoffs():
    carbon = carbon_structures()[:2]
    mixed = [Structure(Lattice.cubic(4), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])]
    for name, key in (("perov_5", "perovskite"), ("Perov-5", "perovskite"), ("perovskite", "perovskite"),
                      ("carbon_24", "carbon"), ("carbon-24", "carbon"), ("carbon", "carbon"),
                      ("mp_20", "mp20"), ("mp-20", "mp20"), ("mp20", "mp20")):
        s, c, why = resolve_cutoffs(mixed, dataset=name)
        assert (s, c) == (COV_CUTOFFS[key]["struc"], COV_CUTOFFS[key]["comp"]) and key in why
    assert resolve_cutoffs(carbon)[:2] == (0.2, 4.0)
    assert resolve_cutoffs(mixed)[:2] == (0.4, 10.0)
    s, c, why = resolve_cutoffs(mixed, struc_cutoff=0.3, comp_cutoff=5)
    assert (s, c) == (0.3, 5.0) and why.startswith("explicit")
    s, c, why = resolve_cutoffs(carbon, struc_cutoff=0.3)
    assert (s, c) == (0.3, 4.0) and "carbon" in why
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve_cutoffs(mixed, dataset="qm9")


# ---------------------------------------------------------------------------- uniqueness / novelty
def test_uniqueness_and_novelty(perov):
    a, b = perov[0]["obj"], perov[1]["obj"]
    a_super = a.copy()
    a_super.make_supercell([2, 1, 1])  # the same crystal, another cell
    res = uniqueness_novelty([a, a_super, b], train=[a], ids=["a", "a2", "b"], train_ids=["ta"])
    assert [r["unique"] for r in res] == [True, False, True] and res[1]["duplicate_of"] == "a"
    assert [r["novel"] for r in res] == [False, None, True] and res[0]["matches_train"] == "ta"
    assert uniqueness_novelty([a, b])[0]["novel"] is None


# ---------------------------------------------------------------------------- plugin and CLI
def test_registered_with_the_cli_signature():
    from graphdiff.plugins import get_manager

    metric = get_manager().get("metrics", "crystals-dng")
    assert metric is dng_metric
    params = inspect.signature(metric).parameters
    assert {"train", "k", "dataset"} <= set(params)
    assert list(params)[:2] == ["generated", "references"]


def test_plugin_import_does_not_load_matminer():
    code = ("import sys, graphdiff_crystals.plugin, graphdiff_crystals.dng_metrics; "
            "print('matminer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_evaluate_dng_cli(tmp_path):
    from graphdiff.cli import cli

    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:9]

    def write(name: str, part: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([header, *part])
        return path

    gen, ref, train = write("gen.csv", body[:6]), write("ref.csv", body[:6]), write("train.csv", body[3:8])
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["evaluate", "--task", "dng", "--generated", str(gen), "--reference",
                                      str(ref), "--train", str(train), "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert {"task", "num_generated", "validity", "coverage", "wasserstein", "uniqueness", "novelty",
            "per_item"} <= set(m)
    assert m["task"] == "dng" and m["num_generated"] == 6 and len(m["per_item"]) == 6
    assert set(m["validity"]) == {"structure", "composition", "overall"}
    assert {"cov_recall", "cov_precision", "struc_cutoff", "comp_cutoff", "cutoffs_from"} <= set(m["coverage"])
    assert {"density", "num_elements"} <= set(m["wasserstein"])
    assert m["coverage"]["cov_recall"] == 1.0 and m["wasserstein"]["num_elements"] is not None
    assert {"id", "structure_valid", "composition_valid", "unique", "novel"} <= set(m["per_item"][0])
    valid = [it for it in m["per_item"] if it["valid"]]
    in_train = {r[header.index("material_id")] for r in body[3:8]}
    expected = sum(it["id"] not in in_train for it in valid) / len(valid)
    assert m["uniqueness"] == 1.0 and m["novelty"] == pytest.approx(expected)
    assert '"cov_recall"' in result.output  # the summary printed without per_item


def test_metrics_show_progress_over_the_structures_only_when_asked(perov, capsys):
    from graphdiff_crystals.metrics import csp_metric

    few = perov[:4]
    quiet = dng_metric(few, few, train=few, dataset="perov_5")
    assert capsys.readouterr().err == ""
    shown = dng_metric(few, few, train=few, dataset="perov_5", progress=True)
    err = capsys.readouterr().err
    for phase in ("generated", "references", "uniqueness", "novelty"):
        assert f"crystals-dng: {phase}" in err
    assert "4/4" in err
    assert shown["uniqueness"] == quiet["uniqueness"] and shown["coverage"] == quiet["coverage"]
    result = csp_metric(few, few, k=[1], progress=True)
    err = capsys.readouterr().err
    assert "crystals-csp: matching (k=1)" in err and "4/4" in err
    assert result["metrics"]["k=1"]["match_rate"] == 1.0
