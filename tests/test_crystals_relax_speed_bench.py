"""benchmarks/crystals/crystals_relax_speed.py on two tiny structures, few steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_relax_speed.py"


@pytest.fixture(scope="module")
def bench(load_module):
    pytest.importorskip("graphdiff_crystals")
    return load_module(SCRIPT)


def test_rattled_moves_every_atom_by_the_given_distance(bench) -> None:
    from graphdiff_crystals.domain import CrystalDomain
    from graphdiff_crystals.io import sample_path

    (rid, s), = bench.rattled("perov_5", 1, 0.2, seed=3)
    original = next(r["obj"] for r in CrystalDomain().read(sample_path("perov_5")) if str(r["id"]) == rid)
    assert np.allclose(np.linalg.norm(s.cart_coords - original.cart_coords, axis=1), 0.2)
    assert bench.rattled("perov_5", 1, 0.2, seed=3)[0][0] == rid  # the seed picks the rows


def test_summaries_and_energy_differences(bench) -> None:
    rows = [{"ms_per_step": 10.0, "steps": 4, "converged": True, "error": None, "energy_per_atom": -1.0},
            {"ms_per_step": 30.0, "steps": 9, "converged": False, "error": None, "energy_per_atom": -2.0},
            {"ms_per_step": None, "steps": 0, "converged": False, "error": "boom", "energy_per_atom": None}]
    s = bench.summarise(rows, 1.234)
    assert s["median_ms_per_step"] == 20.0 and s["total_steps"] == 13 and s["converged_fraction"] == 0.5
    assert s["num_failed"] == 1 and s["wall_s"] == 1.23
    other = [dict(rows[0], energy_per_atom=-1.001), dict(rows[1], steps=8), rows[2]]
    d = bench.energy_differences(rows, other)
    assert d["num_compared"] == 2 and d["max_abs_meV_per_atom"] == pytest.approx(1.0)
    assert d["max_abs_meV_per_atom_both_converged"] == pytest.approx(1.0) and d["num_same_steps"] == 1
    assert bench.per_step_ms(1.0, 9) == 100.0


def test_runs_end_to_end_and_records_provenance(bench, tmp_path) -> None:
    pytest.importorskip("chgnet")
    stored = bench.main(["--n", "1", "--n-ase", "1", "--steps", "2", "--results", str(tmp_path), "--name", "t"])
    doc = json.loads((tmp_path / "t.json").read_text())
    (entry,) = doc["entries"]
    assert entry["key"]["steps"] == 2 and entry["key"]["n"] == 1
    run = entry["runs"][0]
    assert "--n-ase 1 --steps 2" in run["provenance"]["command"]
    assert {"structoptimizer", "ase", "batched_same", "batched_all"} <= set(run["phases"])
    for phase in run["phases"].values():
        assert phase["summary"]["num_structures"] == 2 and phase["summary"]["num_failed"] == 0
        assert all(r["steps"] <= 2 for r in phase["rows"])
    diff = run["comparison"]["energy_batched_minus_ase"]
    assert diff["num_compared"] == 2 and diff["max_abs_meV_per_atom"] < 1.0 and diff["num_same_steps"] == 2
    raw = run["comparison"]["energy_batched_minus_structoptimizer"]
    assert raw["num_compared"] == 2 and raw["max_abs_meV_per_atom"] < 1.0 and raw["num_same_steps"] == 2
    assert stored["provenance"]["versions"]["chgnet"]
