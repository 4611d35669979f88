"""The Python API (graphdiff.load / Model / evaluate / load_predictor): domain objects in and out,
the same outputs as the CLI for the same seed, and clear errors on bad input."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import graphdiff
from graphdiff.cli import cli
from graphdiff.errors import ConfigError, DataError, GraphdiffError

pytest.importorskip("graphdiff_crystals")
from pymatgen.core import Composition, Lattice, Structure  # noqa: E402

from graphdiff_crystals import sample_path  # noqa: E402


@pytest.fixture(scope="module")
def csp():
    return graphdiff.load("perov5-csp", device="cpu")


@pytest.fixture(scope="module")
def rows():
    """Five Perov-5 records of the bundled sample (CIF and formula columns)."""
    model = graphdiff.load("perov5-csp", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.read_inputs(sample_path("perov_5"))[:5]


def _same(a: Structure, b: Structure) -> bool:
    return (np.allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
            and np.allclose(a.frac_coords, b.frac_coords, atol=1e-6)
            and [s.specie.symbol for s in a] == [s.specie.symbol for s in b])


def _same_read(a: Structure, b: Structure) -> bool:
    """The same structure, one of them read back from a CIF (8 decimals; the reader may orient the
    cell and order the sites its own way)."""
    def sites(s):
        return sorted((x.specie.symbol, *np.round(np.mod(x.frac_coords, 1.0), 4) % 1.0) for x in s)

    return (np.allclose(a.lattice.parameters, b.lattice.parameters, atol=1e-4)
            and sites(a) == sites(b))


def test_a_model_says_what_it_is(csp):
    assert csp.domain.name == "crystals" and csp.tasks == ["csp"]
    assert csp.given == ["atom_types"] and set(csp.generates) == {"frac_coords", "lattice"}
    assert csp.trained_on["num_train"] > 0 and "match_rate@1" in csp.figures
    text = repr(csp)
    assert "perov5-csp" in text and "crystals" in text and "given atom_types" in text
    assert csp.describe()["max_trained_nodes"] == 5


def test_complete_takes_formulas_compositions_and_structures(csp, rows):
    out = csp.complete(["SrTiO3", Composition("BaTiO3"), rows[0]["obj"]], k=2, seed=0, steps=20, progress=False)
    assert len(out) == 3 and all(len(c) == 2 for c in out)
    assert [c.ids[0] for c in out] == ["SrTiO3", "1", "2"]
    for cands, formula in zip(out, ["SrTiO3", "BaTiO3", rows[0]["obj"].composition.reduced_formula]):
        assert all(isinstance(s, Structure) for s in cands)
        assert {s.composition.reduced_formula for s in cands} == {formula}
        assert [i["rank"] for i in cands.info] == [0, 1]
        assert all(0 < i["share"] <= 1 for i in cands.info if i["distinct"])
        assert len(cands.graphs) == 2 and not cands.skipped


def test_the_formula_as_written_is_the_cell(csp):
    (ten,), = [csp.complete(["Sr2Ti2O6"], seed=0, steps=5, allow_larger=True, progress=False)]
    assert len(ten[0]) == 10
    (z2,), = [csp.complete(["SrTiO3"], seed=0, steps=5, allow_larger=True, formula_units=2, progress=False)]
    assert z2[0].composition == Composition("Sr2Ti2O6")


def test_formulas_give_the_same_candidates_as_their_reference_structures(csp, rows):
    """CDVAE's formula column and its CIF give the model the same atoms in the same order, so
    the same seed gives the same structures."""
    formulas = [r["text"]["formula"] for r in rows]
    from_cif = csp.complete(rows, k=2, seed=3, steps=10, progress=False)
    from_formula = csp.complete(formulas, k=2, seed=3, steps=10, progress=False)
    for a, b in zip(from_cif, from_formula):
        assert len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def test_api_and_cli_give_the_same_structures(csp, tmp_path):
    out = tmp_path / "cli.csv"
    res = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--formula", "SrTiO3", "--formula", "LaAlO3",
                                   "-k", "2", "--steps", "10", "--seed", "5", "--out", str(out), "-q"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        cli_rows = list(csv.DictReader(fh))
    api = [s for c in csp.complete(["SrTiO3", "LaAlO3"], k=2, seed=5, steps=10, progress=False) for s in c]
    assert [r["material_id"] for r in cli_rows] == ["SrTiO3", "SrTiO3", "LaAlO3", "LaAlO3"]
    assert all(_same_read(Structure.from_str(r["cif"], fmt="cif"), s) for r, s in zip(cli_rows, api))


def test_de_novo_sampling_returns_objects_and_is_reproducible(tmp_path):
    model = graphdiff.load("carbon24-dng", device="cpu")
    a = model.sample(3, seed=1, steps=5, progress=False)
    b = model.sample(3, seed=1, steps=5, progress=False)
    assert len(a) == 3 and all(isinstance(s, Structure) for s in a) and a.ids == ["0", "1", "2"]
    assert all(_same(x, y) for x, y in zip(a, b))
    out = tmp_path / "cli.csv"
    res = CliRunner().invoke(cli, ["sample", "-c", "carbon24-dng", "-n", "3", "--seed", "1", "--steps", "5",
                                   "--out", str(out), "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        cli_structures = [Structure.from_str(r["cif"], fmt="cif") for r in csv.DictReader(fh)]
    assert len(cli_structures) == 3 and all(_same_read(x, y) for x, y in zip(cli_structures, a))


def test_targets_are_scored_on_each_item():
    model = graphdiff.load("carbon24-dng", device="cpu")
    out = model.sample(2, seed=0, steps=5, targets="crystals-density<=2.5", gradient_scale=0.0, progress=False)
    for s, info in zip(out, out.info):
        assert info["requested_crystals-density"] == "<=2.5"
        assert info["crystals-density"] == pytest.approx(s.density, rel=1e-5)


def test_items_that_do_not_convert_are_skipped_with_the_reason(csp, monkeypatch):
    real = csp.domain.from_graph
    calls = []

    def flaky(g):
        calls.append(1)
        if len(calls) == 2:
            raise DataError("degenerate cell")
        return real(g)

    monkeypatch.setattr(csp.domain, "from_graph", flaky)
    (cands,) = csp.complete(["SrTiO3"], k=3, distinct=False, seed=0, steps=3, progress=False)
    assert len(cands) == 2 and len(cands.skipped) == 1
    assert cands.skipped[0]["reason"] == "DataError: degenerate cell" and cands.skipped[0]["id"] == "SrTiO3"


def _stand_in_relax(self, objs, *, fmax=0.1, steps=500, batch_size=16, progress=True):
    """A relaxation for the wiring tests: grows each cell by 1 % and fails on LaAlO3."""
    out = []
    for s in objs:
        if s.composition.reduced_formula == "LaAlO3":
            out.append({"obj": None, "energy_per_atom": None, "displacement_rms": None, "displacement_max": None,
                        "steps": 3, "converged": False, "error": "stand-in failure"})
            continue
        grown = s.copy()
        grown.scale_lattice(s.volume * 1.0303)
        out.append({"obj": grown, "energy_per_atom": -5.0 - fmax, "displacement_rms": 0.01,
                    "displacement_max": 0.02, "steps": min(steps, 7), "converged": True, "error": None})
    return out


def test_relax_replaces_items_keeps_the_unrelaxed_and_records_failures(csp, monkeypatch, tmp_path):
    from graphdiff_crystals import CrystalDomain

    monkeypatch.setattr(CrystalDomain, "relaxes", True, raising=False)
    monkeypatch.setattr(CrystalDomain, "relax", _stand_in_relax)
    plain = csp.complete(["SrTiO3", "LaAlO3"], k=1, seed=2, steps=4, progress=False)
    relaxed = csp.complete(["SrTiO3", "LaAlO3"], k=1, seed=2, steps=4, progress=False,
                           relax={"fmax": 0.05, "keep_unrelaxed": True})
    (sr, la), (sr0, la0) = relaxed, plain
    assert sr[0].volume == pytest.approx(sr0[0].volume * 1.0303) and _same(sr.unrelaxed[0], sr0[0])
    assert sr.info[0]["relaxed"] and sr.info[0]["energy_per_atom"] == -5.05 and sr.info[0]["relax_steps"] == 7
    assert csp.domain.from_graph(sr.graphs[0]).volume == pytest.approx(sr[0].volume)  # graphs follow
    assert not la.info[0]["relaxed"] and la.info[0]["relax_error"] == "stand-in failure" and _same(la[0], la0[0])
    out = tmp_path / "relaxed.csv"
    res = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--formula", "SrTiO3", "--formula", "LaAlO3",
                                   "--steps", "4", "--seed", "2", "--relax", "--keep-unrelaxed", "--out", str(out),
                                   "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "relaxed 1 of 2 items, 1 converged" in res.output and "first reason: stand-in failure" in res.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with (tmp_path / "relaxed.unrelaxed.csv").open(newline="") as fh:
        before = list(csv.DictReader(fh))
    assert [r["material_id"] for r in rows] == [r["material_id"] for r in before] == ["SrTiO3", "LaAlO3"]
    assert float(rows[0]["energy_per_atom"]) == pytest.approx(-5.1) and rows[1]["relax_error"] == "stand-in failure"
    assert _same_read(Structure.from_str(rows[0]["cif"], fmt="cif"), sr[0])
    assert _same_read(Structure.from_str(before[0]["cif"], fmt="cif"), sr0[0])


@pytest.mark.parametrize("kwargs, message", [
    ({"relax": "yes"}, "relax must be True, False or a dict"),
    ({"relax": {"fmax": 0}}, "relax fmax must be positive"),
    ({"relax": {"tol": 1}}, "unknown relax option"),
])
def test_bad_relax_requests_are_refused_before_sampling(csp, monkeypatch, kwargs, message):
    from graphdiff_crystals import CrystalDomain

    monkeypatch.setattr(CrystalDomain, "relaxes", True, raising=False)
    with pytest.raises(ConfigError, match=message):
        csp.complete(["SrTiO3"], progress=False, **kwargs)


def test_a_domain_that_cannot_relax_says_so(monkeypatch):
    from graphdiff_crystals import CrystalDomain

    monkeypatch.setattr(CrystalDomain, "relaxes", False, raising=False)
    with pytest.raises(ConfigError, match="domain 'crystals' cannot relax"):
        graphdiff.load("perov5-csp", device="cpu").complete(["SrTiO3"], relax=True, progress=False)
    res = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--formula", "SrTiO3", "--keep-unrelaxed",
                                   "--out", "x.csv"])
    assert res.exit_code == 2 and "it needs --relax" in res.output


@pytest.mark.parametrize("inputs, kwargs, message", [
    (["UPuO3"], {}, "U, Pu"),
    ([], {}, "no inputs"),
    (["SrTiO3"], {"k": 0}, "k must be a whole number >= 1"),
    (["SrTiO"], {"k": 1, "steps": 0}, "steps must be a whole number >= 1"),
    (["Xx2O"], {}, "'Xx' is not a chemical element"),
    (["SrTiO3.5"], {}, "not O3.5"),
    (["SrTiO3"], {"allow_larger": True, "formula_units": 10_000}, "more than the 100"),
    (["SrTiO3"], {"task": "dng"}, "de novo"),
])
def test_bad_inputs_get_clear_errors(csp, inputs, kwargs, message):
    with pytest.raises(GraphdiffError, match=message.replace(".", r"\.").replace("(", r"\(")):
        csp.complete(inputs, progress=False, **kwargs)


def test_unseen_elements_are_refused_or_flagged(csp):
    with pytest.raises(DataError, match=r"input 1 \(UPuO3\): U, Pu.*allow_unseen"):
        csp.complete(["SrTiO3", "UPuO3"], progress=False)
    with pytest.warns(RuntimeWarning, match="absent from the model's training data"):
        out = csp.complete(["SrTiO3", "UPuO3"], steps=2, allow_unseen=True, progress=False)
    assert "unseen" not in out[0].info[0] and out[1].info[0]["unseen"] == "U, Pu"


def test_disordered_structures_and_wrong_graphs_are_refused(csp):
    disordered = Structure(Lattice.cubic(4.0), [{"Sr": 0.5, "Ba": 0.5}, "Ti", "O", "O", "O"],
                           [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    with pytest.raises(DataError, match="input 0: .*partial occupancies"):
        csp.complete([disordered], progress=False)
    from torch_geometric.data import Data

    with pytest.raises(GraphdiffError, match="atom_types"):
        csp.complete([Data(num_nodes=3)], progress=False)
    with pytest.raises(ConfigError, match="use Model.complete"):
        csp.sample(2)


def test_evaluate_infers_the_domain_and_scores_candidates(csp, rows):
    cands = csp.complete(rows, k=2, seed=0, steps=20, progress=False)
    result = graphdiff.evaluate(cands, rows, task="csp", k=[1, 2])
    m = result["metrics"]
    assert result["num_references"] == 5 and result["references_without_candidates"] == 0
    assert 0 <= m["k=1"]["match_rate"] <= m["k=2"]["match_rate"] <= 1.0
    with pytest.raises(ConfigError, match="at least 1"):
        graphdiff.evaluate(cands, rows, task="csp", k=0)


def test_load_predictor_predicts_objects(rows):
    heat = graphdiff.load_predictor("perov5-heat")
    assert heat.domain == "crystals" and "heat_ref" in heat.properties
    mean, std = heat.predict([r["obj"] for r in rows[:3]])
    assert mean.shape == std.shape == (3, len(heat.properties)) and np.isfinite(mean).all()
    diamond = Structure(Lattice.cubic(3.567), ["C", "C"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    flags = heat.out_of_domain([rows[0]["obj"], diamond])
    assert flags[0] == "" and flags[1]  # pure carbon is outside the perovskites it was trained on


def test_import_graphdiff_stays_light():
    import subprocess
    import sys

    code = "import sys, graphdiff; assert 'torch' not in sys.modules; graphdiff.Samples; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
