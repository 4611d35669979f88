"""Relaxation in ``Model.complete``: the candidates of all the inputs completed together go to the
domain's ``relax`` in one call, each result stays with its candidate, and ranking (``rank_by``)
uses the relaxed objects. A recording stand-in relaxation keeps it cheap (no CHGNet)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdiff

pytest.importorskip("graphdiff_crystals")

FORMULAS = ["SrTiO3", "LaAlO3", "BaTiO3"]


@pytest.fixture(scope="module")
def csp():
    return graphdiff.load("perov5-csp", device="cpu")


@pytest.fixture
def calls(monkeypatch):
    """The stand-in relaxation's calls: ``(objects, batch_size)`` each. It grows a cell of volume
    ``v`` to ``80 A^3 * atoms - v`` (reversing the density order of a composition's candidates,
    never shrinking one into overlapping atoms) and tags each result with its input:
    energy_per_atom = -v, displacement_rms = its density, steps = atom count."""
    from graphdiff_crystals import CrystalDomain

    seen: list[tuple[list, int]] = []

    def relax(self, objs, *, fmax=0.1, steps=500, batch_size=16, progress=True):
        seen.append((list(objs), batch_size))
        out = []
        for s in objs:
            moved = s.copy()
            moved.scale_lattice(80.0 * len(s) - s.volume)
            out.append({"obj": moved, "energy_per_atom": -s.volume, "displacement_rms": s.density,
                        "displacement_max": 0.0, "steps": len(s), "converged": True, "error": None})
        return out

    monkeypatch.setattr(CrystalDomain, "relaxes", True, raising=False)
    monkeypatch.setattr(CrystalDomain, "relax", relax)
    return seen


def _attached(cands, formula):
    """Each candidate holds its own relaxation result (the stand-in tags it with the unrelaxed
    object it came from)."""
    for obj, before, info in zip(cands, cands.unrelaxed, cands.info):
        assert obj.composition.reduced_formula == before.composition.reduced_formula == formula
        assert info["relax_converged"] and info["relax_steps"] == len(before)
        assert info["energy_per_atom"] == pytest.approx(-before.volume)
        assert info["relax_displacement_rms"] == pytest.approx(before.density)
        assert np.allclose(obj.frac_coords, before.frac_coords)
        if info["relaxed"]:
            assert obj.volume == pytest.approx(80.0 * len(before) - before.volume)
        else:  # a draw of this tiny-step model whose atoms overlap: kept as generated, with the reason
            assert "does not convert" in info["relax_error"] and obj.volume == before.volume


def test_relax_is_one_call_per_sampling_batch_with_every_inputs_candidates(csp, calls):
    out = csp.complete(FORMULAS, k=2, distinct=False, seed=1, steps=3, progress=False,
                       relax={"batch_size": 3, "keep_unrelaxed": True})
    assert len(calls) == 1 and calls[0][1] == 3  # one call, the relax batch_size passed on
    assert len(calls[0][0]) == sum(len(c) for c in out) == 6
    relaxed_in = [s.composition.reduced_formula for s in calls[0][0]]
    assert relaxed_in == [f for f in FORMULAS for _ in range(2)]  # input order, then candidate order
    for cands, formula in zip(out, FORMULAS):
        assert cands.ids == [formula] * 2 and [i["rank"] for i in cands.info] == [0, 1]
        _attached(cands, formula)
    # a sampling batch of 4 graphs completes two inputs, the next one the third: two calls
    calls.clear()
    out = csp.complete(FORMULAS, k=2, distinct=False, seed=1, steps=3, batch_size=4, progress=False,
                       relax={"keep_unrelaxed": True})
    assert [len(objs) for objs, _ in calls] == [4, 2]
    for cands, formula in zip(out, FORMULAS):
        _attached(cands, formula)


def test_distinct_candidates_are_relaxed_per_round_and_ranked_by_relaxed_values(csp, calls):
    # batch_size 4 with 2 draws per input: rounds of 2 inputs, so two relax calls for three inputs
    out = csp.complete(FORMULAS, k=2, draws=2, max_draws=2, seed=3, steps=3, batch_size=4, progress=False,
                       relax={"keep_unrelaxed": True})
    assert [len(objs) for objs, _ in calls] == [sum(len(c) for c in out[:2]), len(out[2])]
    for cands, formula in zip(out, FORMULAS):
        _attached(cands, formula)
    # rank_by: the relaxed candidates are ranked by their relaxed density (the stand-in reverses the
    # order the unrelaxed ones had), highest first, and the column holds the relaxed value
    calls.clear()
    domain = csp.domain
    out = csp.complete(FORMULAS, k=2, draws=4, seed=3, steps=3, progress=False, rank_by="crystals-density:max",
                       relax={"keep_unrelaxed": True})
    assert len(calls) == 1 and len(calls[0][0]) == sum(len(c) for c in out)
    reordered = 0
    for cands, formula in zip(out, FORMULAS):
        _attached(cands, formula)
        assert [i["rank"] for i in cands.info] == list(range(len(cands)))
        keys = []
        for obj, info in zip(cands, cands.info):
            ok = bool(domain.valid(obj))
            if ok:
                assert info["crystals-density"] == pytest.approx(obj.density, abs=1e-6)
            else:
                assert math.isnan(info["crystals-density"])
            keys.append((not info["distinct"], not ok, -obj.density if ok else math.inf))
        assert keys == sorted(keys)
        befores = [s.density for s in cands.unrelaxed]
        reordered += len(cands) == 2 and all(i["distinct"] for i in cands.info) and befores[0] < befores[1]
    assert reordered  # relaxation changed the ranking of at least one input
