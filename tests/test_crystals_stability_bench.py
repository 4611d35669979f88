"""The pure helpers of benchmarks/crystals/crystals_stability.py (no sampling, no CHGNet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_stability.py"
HEADER = ["", "material_id", "cif", "energy_per_atom"]


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT)


def _rows(energies: list[str]) -> list[list[str]]:
    return [[str(i), f"m{i}", "data_x\n", e] for i, e in enumerate(energies)]


def test_hull_subset_is_the_lowest_energies(bench) -> None:
    rows = _rows(["-1.0", "-3.0", "nan", "", "-2.0", "-3.0", "0.5"])
    picked, info = bench.select_hull_rows(HEADER, rows, 3, "energy_per_atom")
    assert picked == [1, 5, 4]  # lowest first, ties keep file order; blanks and NaN skipped
    assert info["row_indices"] == picked and info["energy_column"] == "energy_per_atom"
    assert info["rows_with_a_value"] == 5 and info["num_train_rows"] == 7
    assert info["energy_range_of_subset"] == [-3.0, -2.0]
    assert "lowest 'energy_per_atom'" in info["how"]
    assert bench.row_ids(HEADER, rows, picked) == ["m1", "m5", "m4"]
    assert bench.row_ids(["cif"], [["x"], ["y"]], [1]) == ["1"]


def test_hull_subset_is_capped_at_the_number_of_rows(bench) -> None:
    picked, _ = bench.select_hull_rows(HEADER, _rows(["-1", "-2"]), 40, "energy_per_atom")
    assert picked == [1, 0]


def test_hull_subset_without_the_column_is_a_seeded_random_draw(bench) -> None:
    rows = _rows([str(-i) for i in range(20)])
    picked, info = bench.select_hull_rows(HEADER, rows, 5, "heat_ref", seed=3)
    again, _ = bench.select_hull_rows(HEADER, rows, 5, "heat_ref", seed=3)
    assert picked == again and len(picked) == 5 and picked == sorted(picked)  # file order
    assert info["energy_column"] is None and info["seed"] == 3
    assert "'heat_ref' is not in the training file" in info["how"]


def test_the_chgnet_ranking_is_merged_with_the_dft_one(bench) -> None:
    static = [-9.0, None, -9.2, float("nan"), -9.1, -9.2]
    assert bench.lowest_indices(static, 3) == [2, 5, 4]
    assert bench.lowest_indices(static, 0) == []
    assert bench.merge_selections([4, 0], [2, 5, 4]) == [0, 2, 4, 5]


def test_entries_file_reads_back_with_graphdiff_stability(bench, tmp_path: Path) -> None:
    from graphdiff_crystals.stability import ReferenceHull, load_entries

    records = [
        ("train:a", {"C": 8.0}, {"energy": -72.0, "energy_per_atom": -9.0, "error": None, "timed_out": False}),
        ("train:b", {"C": 6.0}, {"energy": -54.6, "energy_per_atom": -9.1, "error": None, "timed_out": True}),
        ("train:c", {"C": 4.0}, {"energy": None, "energy_per_atom": None, "error": "CHGNet failed: x"}),
        ("standard:C", {"C": 2.0}, {"energy": -18.1, "energy_per_atom": -9.05, "error": None, "timed_out": False}),
    ]
    entries, failed = bench.hull_entries(records)
    assert [e["entry_id"] for e in entries] == ["train:a", "train:b", "standard:C"]  # timed out is kept
    assert failed == [{"id": "train:c", "reason": "CHGNet failed: x"}]
    assert entries[0] == {"entry_id": "train:a", "composition": {"C": 8.0}, "energy": -72.0}
    minima = bench.elemental_minima(entries)
    assert minima["C"]["entry_id"] == "train:b"
    assert minima["C"]["energy_per_atom"] == pytest.approx(-9.1)

    path = tmp_path / "hull-entries.json"
    path.write_text(json.dumps(entries))
    loaded, bad = load_entries(path)
    assert bad == [] and [e.entry_id for e in loaded] == ["train:a", "train:b", "standard:C"]
    hull = ReferenceHull(loaded, "entries", "test")
    assert hull.elemental_reference("C").entry_id == "train:b"
    from pymatgen.core import Composition

    e_hull, reason = hull.e_above_hull(Composition("C4"), -4 * 9.0)
    assert reason is None and e_hull == pytest.approx(0.1)


def _report(n: int, flags: dict[str, int], rows: list[dict]) -> dict:
    summary = {"num_generated": n, "num_errors": 1, "num_unreadable": 0, "num_timed_out": 1,
               "num_without_e_hull": 1, "e_hull_median": 0.2, "e_hull_mean": 0.3}
    for k in ("stable", "metastable", "unique", "novel", "sun", "msun"):
        summary[f"num_{k}"] = flags[k]
        summary[f"{k}_rate"] = flags[k] / n
    return {"summary": summary, "rows": rows, "timing": {"total_s": 50.0}}


def _row(steps, seconds, converged=True, error=None, e0=1.0) -> dict:
    return {"relax_steps": steps, "relax_time_s": seconds, "converged": converged, "error": error,
            "e_hull_initial": e0}


def test_set_summary_counts_and_throughput(bench) -> None:
    rows = [_row(10, 20.0), _row(30, 40.0, e0=3.0), _row(500, 60.0, converged=False),
            _row(0, None, converged=None, error="not evaluated: x", e0=None)]
    flags = {"stable": 1, "metastable": 2, "unique": 3, "novel": 3, "sun": 1, "msun": 2}
    s = bench.set_summary(_report(4, flags, rows), wall_s=240.0, cpu_s=120.0)
    assert s["num"] == 4 and s["stable_rate"] == 0.25 and s["msun_rate"] == 0.5
    assert s["relax_steps_median"] == 30  # failed rows left out
    assert s["e_hull_initial_median"] == 1.0
    assert s["num_converged"] == 2 and s["num_timed_out"] == 1 and s["num_failed"] == 1
    assert s["num_relaxations"] == 3 and s["relax_seconds_total"] == 120.0
    assert s["relaxation_structures_per_min"] == pytest.approx(1.5)  # 3 relaxations in 2 minutes
    assert s["end_to_end_structures_per_min"] == pytest.approx(1.0)  # 4 structures in 4 minutes
    assert s["cpu_share"] == 0.5
    assert s["relaxation_structures_per_min_per_full_core_estimate"] == pytest.approx(3.0)
    none = bench.set_summary(_report(4, flags, rows))
    assert none["end_to_end_structures_per_min"] is None and none["cpu_share"] is None


def test_rate_ratios_are_generated_over_heldout(bench) -> None:
    gen = {"stable_rate": 0.1, "metastable_rate": 0.3, "unique_rate": 1.0, "novel_rate": 0.9,
           "sun_rate": 0.0, "msun_rate": 0.2}
    held = {"stable_rate": 0.2, "metastable_rate": 0.6, "unique_rate": 1.0, "novel_rate": 0.0,
            "sun_rate": None, "msun_rate": 0.4}
    r = bench.rate_ratios(gen, held)
    assert r["stable_rate"] == pytest.approx(0.5) and r["metastable_rate"] == pytest.approx(0.5)
    assert r["unique_rate"] == 1.0 and r["msun_rate"] == pytest.approx(0.5)
    assert r["novel_rate"] is None and r["sun_rate"] is None  # a zero or missing ceiling gives no ratio


def test_checkpoint_defaults_to_the_bundled_de_novo_one(bench) -> None:
    assert bench.resolve_checkpoint("carbon_24", None) == "carbon24-dng"
    assert bench.resolve_checkpoint("carbon_24", "my.ckpt") == "my.ckpt"
    assert bench.resolve_checkpoint("carbon_24", None, bench.bundled_task) == "carbon24-dng"


def test_perov5_defaults_and_refusals(bench) -> None:
    assert bench.resolve_checkpoint("perov_5", None) == "perov5-dng"
    assert bench.HULL_ROWS["perov_5"] == "chemsys" and bench.HULL_ROWS["carbon_24"] == "ranked"
    with pytest.raises(SystemExit, match="perov5-csp is a csp checkpoint; the S.U.N. rate needs a de novo"):
        bench.resolve_checkpoint("perov_5", "perov5-csp", bench.bundled_task)
    with pytest.raises(SystemExit, match="no de novo checkpoint is bundled for mp_20"):
        bench.resolve_checkpoint("mp_20", None)


def test_chemsys_rows_are_the_subsystems_of_the_scored_structures(bench) -> None:
    header = ["material_id", "cif", "formula"]
    rows = [["a", "", "SrTiO3"], ["b", "", "BaTiO3"], ["c", "", "TiSrO3"], ["d", "", "SrO"], ["e", "", "Ti"],
            ["f", "", "not a formula"], ["g", "", "LaAlO3"]]
    picked, info = bench.select_chemsys_rows(header, rows, [frozenset({"Sr", "Ti", "O"}), frozenset({"La", "Al", "O"}),
                                                            frozenset({"Sr", "Ti", "O"})])
    assert picked == [0, 2, 3, 4, 6]  # BaTiO3 lies outside both systems
    assert info["num_chemical_systems"] == 2 and info["unreadable_rows"] == 1
    assert bench.select_chemsys_rows(header, rows, [])[0] == []


def test_element_sets_of_cifs_skips_unreadable_rows(bench, tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    cif = str(CifWriter(Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                                  [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])))
    path = tmp_path / "gen.csv"
    bench.write_csv(path, ["material_id", "cif"], [["x", cif], ["y", "not a cif"]])
    assert bench.element_sets_of_cifs(path) == [frozenset({"Sr", "Ti", "O"})]
    # without a formula column the rows' elements come from their CIFs
    picked, info = bench.select_chemsys_rows(["material_id", "cif"], [["x", cif], ["y", "not a cif"]],
                                             [frozenset({"Sr", "Ti", "O", "N"})])
    assert picked == [0] and info["unreadable_rows"] == 1


def test_set_summary_takes_the_rates_over_all_submitted(bench) -> None:
    flags = {"stable": 1, "metastable": 2, "unique": 3, "novel": 3, "sun": 1, "msun": 2}
    report = _report(4, flags, [_row(10, 20.0)])
    s = report["summary"]
    s["num_scored"] = 2  # the command's rates are over the 2 scored structures
    s["rates_of_all_submitted"] = {f"{k}_rate": v / 4 for k, v in flags.items()}
    for k, v in flags.items():
        s[f"{k}_rate"] = v / 2
    out = bench.set_summary(report)
    assert out["stable_rate"] == 0.25 and out["stable_rate_of_scored"] == 0.5 and out["num_scored"] == 2
