"""benchmarks/crystals/crystals_csp.py: which recorded run a bundled checkpoint's manifest quotes, and the
validation rows settings are chosen on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from graphdiff.data import split_graphs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_csp.py"


@pytest.fixture()
def bench(load_module, tmp_path, monkeypatch):
    mod = load_module(SCRIPT, "crystals_csp_bench")
    monkeypatch.setattr(mod, "BUNDLE", tmp_path)
    monkeypatch.setattr(mod, "RESULTS", tmp_path)
    return mod


def _run(k: int, rows: int, metrics: dict, command: str, **settings) -> dict:
    return {"k": k, "num_test": rows, "steps": 500, "command": command, "checkpoint_settings": True, **settings,
            "metrics": {f"k={j}": {"match_rate": m, "rmse": 0.1} for j, m in metrics.items()}}


def _entry(key: dict, *runs: dict) -> dict:
    return {"key": key, "runs": list(runs)}


def test_the_manifest_quotes_the_most_rows_then_the_run_asked_for_that_k(bench, tmp_path):
    recorded = [
        _entry({"k": 20, "rows": 50, "seed": 0}, _run(20, 50, {1: 0.22, 2: 0.34, 20: 0.82}, "a")),
        _entry({"k": 1, "rows": 406, "seed": 0}, _run(1, 406, {1: 0.232}, "b")),
        _entry({"k": 2, "rows": 406, "seed": 0}, _run(2, 406, {1: 0.207, 2: 0.367}, "c")),
        _entry({"k": 2, "rows": 757, "seed": 1}, _run(2, 757, {1: 0.9, 2: 0.99}, "d")),  # another seed: never quoted
        _entry({"k": 1, "rows": 406, "corrector_steps": 1, "seed": 0},  # another sampler: never quoted
               _run(1, 406, {1: 0.5}, "e", checkpoint_settings=False)),
    ]
    bench.write_manifest("toy", "carbon_24", {"task": "dng", "steps": 1}, recorded)
    fig = json.loads((tmp_path / "toy.json").read_text())["figures"]
    # k = 1: two runs of 406 rows; the one asked for k = 1 wins over the first of two candidates
    assert (fig["match_rate@1"], fig["rows@1"]) == (0.232, 406)
    assert (fig["match_rate@2"], fig["rows@2"]) == (0.367, 406)
    assert (fig["match_rate@20"], fig["rows@20"]) == (0.82, 50)
    quoted = json.loads((tmp_path / "toy.json").read_text())["evaluated_by"].split("; ")
    assert "d" not in quoted and "e" not in quoted


def test_the_manifest_quotes_the_latest_repeat_and_old_labels_by_their_rules(bench, tmp_path):
    recorded = [
        _entry({"recorded_as": "k=2"}, _run(2, 757, {1: 0.49, 2: 0.89}, "old", provenance={"commit": None}),
               _run(2, 757, {1: 0.54, 2: 0.97}, "new", provenance={"commit": None})),
        _entry({"recorded_as": "k=2,repeat=cli"}, _run(2, 757, {1: 0.6, 2: 0.99}, "cli")),
        _entry({"recorded_as": "toy"},  # taken out of the file, recovered from its history
               _run(2, 757, {1: 0.7, 2: 0.7}, "gone", provenance={"removed_in_commit": "abc"})),
    ]
    bench.write_manifest("toy", "perov_5", {"task": "csp"}, recorded)
    manifest = json.loads((tmp_path / "toy.json").read_text())
    assert (manifest["figures"]["match_rate@1"], manifest["figures"]["match_rate@2"]) == (0.54, 0.97)
    assert manifest["evaluated_by"] == "new"


def test_val_split_writes_the_rows_training_held_out(bench, tmp_path):
    rows = [{"material_id": f"m{i}", "cif": f"cif {i}"} for i in range(57)]
    with (tmp_path / "train.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["material_id", "cif"])
        w.writeheader()
        w.writerows(rows)
    out = bench.val_split(tmp_path)
    with out.open(newline="") as fh:
        val = [r["material_id"] for r in csv.DictReader(fh)]
    # the runner's own split of the same items (data.val_fraction, data.split_seed 0 as train sets them)
    _, held_out = split_graphs([r["material_id"] for r in rows], bench.VAL_FRACTION, 0)
    assert val == list(held_out) and len(val) == 3


def test_validation_entries_and_draws_choices_never_stand_for_the_checkpoint(bench, tmp_path):
    recorded = [
        _entry({"k": 2, "rows": 757, "seed": 0}, _run(2, 757, {1: 0.52, 2: 0.97}, "test")),
        _entry({"k": 2, "rows": 3030, "seed": 0, "rows_from": "val"},  # more rows, but validation rows
               _run(2, 3030, {1: 0.9, 2: 0.99}, "val")),
        _entry({"action": "select-draws", "k": 2, "seed": 100}, {"chosen_draws": 10, "command": "choice"}),
    ]
    assert [bench.test_eval(e) for e in recorded] == [True, False, False]
    bench.write_manifest("toy", "perov_5", {"task": "csp"}, recorded)
    manifest = json.loads((tmp_path / "toy.json").read_text())
    assert (manifest["figures"]["match_rate@1"], manifest["evaluated_by"]) == (0.52, "test")
    bench.plot_results("toy", recorded)  # the choice, which has no metrics, is left out of the plot


@pytest.mark.parametrize("rates, chosen", [
    ({4: 0.95, 10: 0.98, 20: 0.985}, 10),   # 20 is better by less than one row of 152
    ({4: 0.95, 10: 0.96, 20: 0.99}, 20),    # 20 is better by more than one row
    ({4: 0.99, 10: 0.99, 20: 0.99}, 4),     # equal: the fewest
])
def test_draws_are_the_fewest_within_one_validation_row_of_the_best(bench, rates, chosen):
    by_draws = {d: {"k=1": {"match_rate": 0.5}, "k=2": {"match_rate": r}} for d, r in rates.items()}
    assert bench.choose_draws(by_draws, 152) == chosen
    with pytest.raises(ValueError):
        bench.choose_draws({}, 152)
