"""Batched CHGNet relaxation (``graphdiff_crystals.stability.batch_relax``) and ``CrystalDomain.relax``
(tiny cells, few steps)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

pytest.importorskip("chgnet")

from graphdiff_crystals.domain import CrystalDomain  # noqa: E402
from graphdiff_crystals.stability import batch_relax  # noqa: E402
from graphdiff_crystals.stability.batch_relax import (displacements, load_chgnet, relax_batch,  # noqa: E402
                                                      separate_close_atoms)

KEYS = {"obj", "energy_per_atom", "displacement_rms", "displacement_max", "steps", "converged", "error"}


def si_rattled() -> Structure:
    """Diamond Si (2-atom primitive cell, a = 5.47 Å), the second atom moved 0.12 Å off its site."""
    return Structure(Lattice.from_parameters(3.87, 3.87, 3.87, 60, 60, 60), ["Si", "Si"],
                     [[0, 0, 0], [0.27, 0.23, 0.25]])


def nacl() -> Structure:
    return Structure(Lattice.from_parameters(4.0, 4.0, 4.0, 60, 60, 60), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def americium() -> Structure:
    """Am (Z = 95): an element CHGNet (Z = 1..94) does not cover."""
    return Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])


def isolated() -> Structure:
    """Two atoms 12 Å apart: no neighbour within CHGNet's 6 Å cutoff."""
    return Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def max_force(structure: Structure) -> float:
    pred = load_chgnet().predict_structure(structure, task="ef")
    return float(np.linalg.norm(pred["f"], axis=1).max())


def test_rattled_diamond_relaxes_back():
    s0 = si_rattled()
    e0 = float(load_chgnet().predict_structure(s0, task="e")["e"])
    (r,) = relax_batch([s0], fmax=0.05, steps=150)
    assert r["error"] is None and r["converged"] is True and 0 < r["steps"] < 150
    assert r["energy_per_atom"] < e0 - 1e-3  # downhill
    assert r["energy"] == pytest.approx(2 * r["energy_per_atom"])
    assert r["fmax"] < 0.05 and max_force(r["structure"]) < 0.06
    # the second atom goes back to the diamond site (0.25, 0.25, 0.25) of the (relaxed) cell
    frac = r["structure"].frac_coords
    d = displacements(frac[:1] + 0.25, frac[1:], r["structure"].lattice.matrix)[0]
    assert d < 0.03
    assert 0.02 < r["displacement_max"] < 0.3 and r["displacement_rms"] <= r["displacement_max"]


def test_same_trajectory_as_chgnet_structoptimizer():
    from graphdiff_crystals.stability import Relaxer, RelaxSettings

    ase = Relaxer(RelaxSettings(steps=12, time_limit=None, engine="ase")).relax(si_rattled())
    (mine,) = relax_batch([si_rattled()], fmax=0.1, steps=12)
    assert ase["error"] is None and mine["error"] is None
    assert mine["steps"] == ase["relax_steps"] and mine["converged"] == ase["converged"]
    assert mine["energy_per_atom"] == pytest.approx(ase["energy_per_atom"], abs=1e-4)
    assert np.allclose(mine["structure"].lattice.matrix, ase["structure"].lattice.matrix, atol=1e-3)


def test_failures_are_recorded_per_structure_in_input_order():
    out = relax_batch([si_rattled(), americium(), nacl(), isolated()], fmax=0.1, steps=5, batch_size=3)
    assert [r["error"] is None for r in out] == [True, False, True, False]
    assert "Am" in out[1]["error"] and "Z = 1..94" in out[1]["error"]
    assert "isolated atom" in out[3]["error"]
    for r in (out[1], out[3]):
        assert r["structure"] is None and r["energy_per_atom"] is None and r["converged"] is False
    assert out[0]["structure"].composition.reduced_formula == "Si"
    assert out[2]["structure"].composition.reduced_formula == "NaCl"
    assert all(math.isfinite(r["energy_per_atom"]) for r in (out[0], out[2]))


def test_a_failing_batch_is_redone_one_by_one(monkeypatch):
    real = batch_relax.chgnet_energy_forces_stress

    def flaky(model, graphs):  # CHGNet "fails" on the NaCl graph, and on every batch holding it
        if any(int(g.atomic_number.max()) == 17 for g in graphs):
            raise RuntimeError("boom")
        return real(model, graphs)

    monkeypatch.setattr(batch_relax, "chgnet_energy_forces_stress", flaky)
    out = relax_batch([si_rattled(), nacl(), si_rattled()], steps=3)
    assert out[1]["error"].startswith("CHGNet failed at step 0: RuntimeError: boom")
    assert out[0]["error"] is None and out[2]["error"] is None
    assert out[0]["energy_per_atom"] == pytest.approx(out[2]["energy_per_atom"], abs=1e-6)


def test_step_limit_time_limit_and_fixed_cell():
    (r,) = relax_batch([si_rattled()], fmax=1e-4, steps=3)
    assert r["steps"] == 3 and r["converged"] is False and r["timed_out"] is False
    (t,) = relax_batch([si_rattled()], steps=50, time_limit=0.0)
    assert t["steps"] == 0 and t["timed_out"] is True and t["error"] is None
    s0 = si_rattled()
    (f,) = relax_batch([s0], steps=5, relax_cell=False)
    assert np.allclose(f["structure"].lattice.matrix, s0.lattice.matrix)


def test_displacements_ignore_strain_and_take_the_minimum_image():
    cell = np.diag([4.0, 5.0, 6.0])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    assert np.allclose(displacements(frac, frac, 1.1 * cell), 0.0)  # a uniform strain moves no atom
    moved = frac + [[0.99, 0.0, 0.0], [0.0, 0.02, 0.0]]  # across the boundary: 0.01 of a, not 0.99
    assert np.allclose(displacements(frac, moved, cell), [0.04, 0.1])


@pytest.mark.parametrize("scale", [0.0, 0.02, 0.5, 3.0])
def test_numpy_expm_and_its_frechet_adjoint_match_scipy(scale):
    from scipy.linalg import expm, expm_frechet

    rng = np.random.default_rng(1)
    x, g = scale * rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    assert np.allclose(batch_relax.expm(x), expm(x), rtol=1e-12, atol=1e-12)
    direct = np.array([[np.sum(expm_frechet(x, np.eye(3)[[m]].T @ np.eye(3)[[n]], compute_expm=False) * g)
                        for n in range(3)] for m in range(3)])
    assert np.allclose(batch_relax.expm_frechet_adjoint(x, g), direct, rtol=1e-10, atol=1e-10)


def carbon_overlap() -> Structure:
    """Six carbons in a 3.6 Å cube, two of them 0.45 Å apart (a raw generated cell can hold such a
    pair; CHGNet alone may pull it onto itself)."""
    return Structure(Lattice.cubic(3.6), ["C"] * 6, [[0, 0, 0], [0.125, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                                      [0, 0.5, 0.5], [0.75, 0.75, 0.75]])


def shortest(structure: Structure) -> float:
    return float((structure.distance_matrix + 99 * np.eye(len(structure))).min())


def test_close_atoms_are_moved_apart_and_the_rest_kept():
    s0 = carbon_overlap()
    assert shortest(s0) == pytest.approx(0.45)
    moved, pairs = separate_close_atoms(s0, 0.7)
    assert pairs == 1
    assert shortest(moved) >= 0.7 * 2 * 0.73 - 1e-6  # C's covalent radius (Cordero): 0.73 Å
    assert np.allclose(moved.cart_coords[2:], s0.cart_coords[2:])  # only the close pair moved
    assert moved.lattice == s0.lattice
    same, none = separate_close_atoms(nacl(), 0.7)
    assert none == 0 and np.allclose(same.frac_coords, nacl().frac_coords)


def test_relaxation_starts_from_separated_atoms():
    (r,) = relax_batch([carbon_overlap()], fmax=0.1, steps=40, separate=0.7)
    assert r["error"] is None and r["separated"] == 1
    assert shortest(r["structure"]) > 1.0
    assert r["displacement_max"] > 0.25  # measured from the structure as given
    (plain,) = relax_batch([nacl()], steps=0)
    assert plain["separated"] == 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="fmax"):
        relax_batch([nacl()], fmax=0)
    with pytest.raises(ValueError, match="batch_size"):
        relax_batch([nacl()], batch_size=0)
    with pytest.raises(ValueError, match="separate"):
        relax_batch([nacl()], separate=0)


def test_stability_settings_name_the_engine():
    from graphdiff_crystals.stability import ENGINES, RelaxSettings

    assert RelaxSettings().engine == "batched" and set(ENGINES) == {"batched", "ase"}
    assert RelaxSettings().protocol()["engine"] == ENGINES["batched"]  # part of the cache key
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        RelaxSettings(engine="fast")
    with pytest.raises(ValueError, match="FIRE with FrechetCellFilter only.*engine='ase'"):
        RelaxSettings(optimizer="BFGS")
    assert RelaxSettings(optimizer="BFGS", engine="ase").optimizer == "BFGS"


@pytest.mark.parametrize("engine", ["ase", "batched"])
def test_stability_cli_runs_either_engine(engine, tmp_path):
    import csv
    import json

    from click.testing import CliRunner
    from pymatgen.entries.computed_entries import ComputedStructureEntry
    from pymatgen.io.cif import CifWriter

    from graphdiff.cli import cli

    (r,) = relax_batch([nacl()], steps=5)
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps([ComputedStructureEntry(r["structure"], r["energy"], entry_id="ref").as_dict()]))
    gen = tmp_path / "gen.csv"
    with gen.open("w", newline="") as fh:
        csv.writer(fh).writerows([["material_id", "cif"], ["g-nacl", str(CifWriter(nacl()))]])
    out = tmp_path / "out.json"
    res = CliRunner().invoke(cli, ["stability", "--generated", str(gen), "--entries", str(entries), "--out", str(out),
                                   "--steps", "3", "--relaxer", engine, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert rep["protocol"]["relaxation"]["engine"].startswith("chgnet StructOptimizer" if engine == "ase"
                                                              else "graphdiff batched")
    assert rep["rows"][0]["energy_per_atom"] == pytest.approx(r["energy_per_atom"], abs=1e-4)


def test_domain_relax_contract(capsys):
    domain = CrystalDomain()
    assert domain.relaxes is True
    out = domain.relax([nacl(), "not a structure", americium(), si_rattled()], steps=4, progress=False)
    assert len(out) == 4 and all(set(r) == KEYS for r in out)
    assert capsys.readouterr().err == ""  # silenced
    assert out[0]["error"] is None and out[0]["obj"].composition.reduced_formula == "NaCl"
    assert out[0]["converged"] is True and out[0]["steps"] == 0  # NaCl at 4.0 Å starts below fmax
    assert "item 1" in out[1]["error"] and "str" in out[1]["error"] and out[1]["obj"] is None
    assert "item 2" in out[2]["error"] and "Am" in out[2]["error"]
    assert out[3]["error"] is None and out[3]["steps"] == 4 and not out[3]["converged"]
    assert isinstance(out[3]["energy_per_atom"], float) and out[3]["displacement_max"] > 0
    domain.relax([si_rattled()], steps=2, progress=True)
    assert "step" in capsys.readouterr().err  # the bar on stderr


def test_importing_the_plugin_does_not_import_chgnet():
    import subprocess
    import sys

    code = ("import sys, graphdiff_crystals.domain, graphdiff_crystals.stability.batch_relax; "
            "print('chgnet' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
