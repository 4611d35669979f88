"""The pure helpers of benchmarks/crystals/crystals_peer.py (no peer venv, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_peer.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT)


@pytest.mark.parametrize("k, expected", [(1, [1]), (2, [1, 2]), (20, [1, 2, 20]), (5, [1, 2, 5])])
def test_ks_are_1_2_and_k(bench, k: int, expected: list[int]) -> None:
    assert bench.ks_for(k) == expected


def test_ratio_handles_missing_and_zero(bench) -> None:
    assert bench.ratio(3.0, 1.5) == 2.0
    assert bench.ratio(None, 1.0) is None
    assert bench.ratio(1.0, 0) is None
    assert bench.times(None) == "n/a" and bench.times(2.0) == "x2.00"


def _side(steps_per_s, structures_per_s, rates, rss=(100.0, 50.0)):
    return {"train": {"steps_per_s": steps_per_s, "peak_rss_mb": rss[0]},
            "sample": {"structures_per_s": structures_per_s, "peak_rss_mb": rss[1]},
            "metrics": {f"k={k}": {"match_rate": r, "rmse": 0.1} for k, r in rates.items()}}


def test_compare_computes_ratios_and_targets(bench) -> None:
    peer = _side(2.0, 1.0, {1: 0.5, 2: 0.7, 20: 0.9})
    gd = _side(4.0, 2.5, {1: 0.6, 2: 0.7, 20: 0.95}, rss=(50.0, 100.0))
    c = bench.compare(peer, gd, [1, 2, 20])
    assert c["training_steps_per_s_ratio"] == 2.0
    assert c["sampling_structures_per_s_ratio"] == 2.5
    assert c["peak_rss_ratio_train"] == 0.5 and c["peak_rss_ratio_sample"] == 2.0
    assert c["match_rate"]["k=1"]["difference"] == pytest.approx(0.1)
    assert c["match_rate"]["k=2"]["not_worse"] is True  # a tie is not worse
    assert c["targets"] == {"sampling >= 2.0x": True, "training >= 1.5x": True, "match rate not worse": True}


def test_compare_flags_a_miss(bench) -> None:
    peer = _side(2.0, 1.0, {1: 0.6})
    gd = _side(2.5, 1.5, {1: 0.5})
    t = bench.compare(peer, gd, [1])["targets"]
    assert t == {"sampling >= 2.0x": False, "training >= 1.5x": False, "match rate not worse": False}


def test_compare_with_a_missing_metric_leaves_the_verdict_open(bench) -> None:
    peer = _side(2.0, 1.0, {1: 0.6})
    gd = _side(4.0, 3.0, {})
    c = bench.compare(peer, gd, [1])
    assert c["match_rate"]["k=1"]["not_worse"] is None
    assert c["targets"]["match rate not worse"] is None


def test_graphdiff_config_is_a_valid_run_config(bench) -> None:
    from graphdiff.config import RunConfig

    cfg = bench.graphdiff_config(train_csv="train.csv", out_dir="out", hidden=256, layers=4, num_freqs=32,
                                 batch=128, minutes=30, steps=1000, seed=0)
    rc = RunConfig.model_validate(cfg)
    assert rc.model.hidden == 256 and rc.model.layers == 4
    assert rc.data.batch_size == 128 and rc.training.max_minutes == 30
    assert rc.diffusion.given == ["atom_types"] and rc.sampling.steps == 1000


def test_command_line_names_only_what_differs(bench) -> None:
    parser = bench.build_parser()
    defaults = vars(parser.parse_args([]))
    args = parser.parse_args(["--minutes", "2", "--name", "crystals_peer_smoke"])
    assert bench.command_line(args, defaults) == \
        "python benchmarks/crystals/crystals_peer.py --minutes 2.0 --name crystals_peer_smoke"
    assert bench.command_line(parser.parse_args([]), defaults) == "python benchmarks/crystals/crystals_peer.py"


def test_split_val_is_seeded_and_disjoint(bench) -> None:
    rows = [[str(i)] for i in range(100)]
    train, val = bench.split_val(rows, 0.05, seed=0)
    assert len(val) == 5 and len(train) == 95
    assert not {r[0] for r in train} & {r[0] for r in val}
    assert bench.split_val(rows, 0.05, seed=0) == (train, val)
    assert len(bench.split_val(rows[:3], 0.05, seed=0)[1]) == 1  # at least one validation row


def test_csv_round_trip_keeps_multiline_cells(bench, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    rows = [["1", "data_x\n_cell_length_a 4.0\n"], ["2", "data_y\n"], ["3", "data_z\n"]]
    bench.write_csv(path, ["material_id", "cif"], rows)
    assert bench.csv_rows(path) == (["material_id", "cif"], rows)
    assert bench.csv_rows(path, limit=2)[1] == rows[:2]


def test_read_metrics_keeps_match_rate_and_rmse(bench) -> None:
    data = {"metrics": {"k=1": {"match_rate": 0.5, "rmse": 0.1, "extra": 1}, "k=2": {"match_rate": 0.6, "rmse": None}}}
    assert bench.read_metrics(data) == {"k=1": {"match_rate": 0.5, "rmse": 0.1},
                                        "k=2": {"match_rate": 0.6, "rmse": None}}


def test_sampling_loop_rate_reads_graphdiff_sample_closing_line(bench) -> None:
    log = "warning...\nwrote 500 graphs to runs/x/g.csv in 27.8 s (17.96 graphs/s)\n"
    assert bench.sampling_loop_rate(log) == (27.8, 17.96)
    assert bench.sampling_loop_rate("nothing here") is None


def test_compare_gives_the_sampling_loop_ratio_when_both_have_it(bench) -> None:
    peer = _side(2.0, 1.0, {1: 0.5})
    gd = _side(4.0, 2.5, {1: 0.6})
    assert bench.compare(peer, gd, [1])["sampling_loop_structures_per_s_ratio"] is None
    peer["sample"]["structures_per_s_sampling_loop"] = 5.0
    gd["sample"]["structures_per_s_sampling_loop"] = 15.0
    assert bench.compare(peer, gd, [1])["sampling_loop_structures_per_s_ratio"] == 3.0


def test_a_training_is_reused_only_with_the_same_settings(bench, tmp_path, monkeypatch) -> None:
    import json

    monkeypatch.setattr(bench, "ROOT", tmp_path)
    run_dir = tmp_path / "runs" / "peer-x"
    run_dir.mkdir(parents=True)
    args = bench.build_parser().parse_args(["--minutes", "5", "--reuse-training"])
    said: list[str] = []
    assert bench.reused_training(args, run_dir, "graphdiff", said.append) is None  # nothing recorded
    record = {"steps": 10, "steps_per_s": 2.0}
    (run_dir / "train-graphdiff.json").write_text(json.dumps({"settings": bench.training_settings(args),
                                                              "train": record}))
    got = bench.reused_training(args, run_dir, "graphdiff", said.append)
    assert got == {**record, "reused_from": "runs/peer-x/train-graphdiff.json"}
    other = bench.build_parser().parse_args(["--minutes", "6"])  # another budget: train again
    assert bench.reused_training(other, run_dir, "graphdiff", said.append) is None
    assert "training again" in said[-1]
    # rows, k and sampling options do not invalidate a training
    more_rows = bench.build_parser().parse_args(["--minutes", "5", "--rows", "7", "--k", "3"])
    assert bench.reused_training(more_rows, run_dir, "graphdiff", said.append) is not None


def test_chunks_cover_the_rows_in_fixed_places(bench) -> None:
    assert bench.chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert bench.chunk_bounds(6, 3)[:2] == bench.chunk_bounds(7, 3)[:2]  # more rows keep the earlier chunks
    assert bench.chunk_bounds(0, 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        bench.chunk_bounds(5, 0)
    seeds = {bench.chunk_seed(s, i) for s in range(3) for i in range(50)}
    assert len(seeds) == 150  # no two chunks of seeds 0..2 share a sampling seed


_FAKE_SAMPLER = """
import csv, sys
rows_csv, out, seed, calls = sys.argv[1:5]
with open(calls, "a") as fh:
    fh.write(rows_csv + "\\n")
with open(rows_csv, newline="") as fh:
    ids = [r["material_id"] for r in csv.DictReader(fh)]
with open(out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["material_id", "cif", "sample"])
    for i in ids:
        for s in range(2):
            w.writerow([i, "data_%s\\n_seed %s\\n" % (i, seed), s])
"""


def _chunked(bench, tmp_path, monkeypatch, *, n_rows=5, k=2, fresh=False, seed=0, workers=1):
    import sys

    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    script = tmp_path / "fake_sampler.py"
    script.write_text(_FAKE_SAMPLER)
    ckpt = tmp_path / "model.ckpt"
    if not ckpt.exists():
        ckpt.write_bytes(b"weights")
    calls = tmp_path / "calls.txt"
    args = bench.build_parser().parse_args(["--k", str(k), "--chunk-rows", "2", "--seed", str(seed),
                                        "--workers", str(workers)])
    rows = [[f"m{i}", f"data_m{i}\n"] for i in range(n_rows)]

    def command(rows_csv, out, s):
        return [sys.executable, str(script), str(rows_csv), str(out), str(s), str(calls)]

    res = bench.sample_in_chunks("fake", args, tmp_path, ["material_id", "cif"], rows, ckpt, command,
                                 lambda out, phase: 1.0, fresh_model=fresh, log=lambda m: None)
    n_calls = len(calls.read_text().splitlines()) if calls.exists() else 0
    return res, n_calls


def test_sampling_in_chunks_joins_them_and_resumes_where_it_stopped(bench, tmp_path, monkeypatch) -> None:
    res, calls = _chunked(bench, tmp_path, monkeypatch)
    assert calls == 3 and res["chunks"] == 3 and res["chunks_reused"] == 0
    header, rows = bench.csv_rows(tmp_path / "fake-samples.csv")
    assert header == ["material_id", "cif", "sample"]
    assert [r[0] for r in rows] == [f"m{i}" for i in range(5) for _ in range(2)]
    assert res["structures"] == 10 and res["sampling_loop_seconds"] == 3.0
    assert [c["seed"] for c in res["chunk_records"]] == [bench.chunk_seed(0, i) for i in range(3)]
    # a run stopped before its last chunk's record: only that chunk is sampled again
    (tmp_path / "fake-chunks" / "chunk-0002.json").unlink()
    res, calls = _chunked(bench, tmp_path, monkeypatch)
    assert calls == 4 and res["chunks_reused"] == 2
    assert len(bench.csv_rows(tmp_path / "fake-samples.csv")[1]) == 10
    # more rows: the earlier chunks stay, the new rows are sampled
    res, calls = _chunked(bench, tmp_path, monkeypatch, n_rows=7)
    assert calls == 6 and res["chunks"] == 4 and res["chunks_reused"] == 2  # the short last chunk again


def test_chunks_of_other_settings_stop_the_run_unless_the_model_is_new(bench, tmp_path, monkeypatch) -> None:
    _chunked(bench, tmp_path, monkeypatch)
    with pytest.raises(SystemExit, match="other settings.*seed"):
        _chunked(bench, tmp_path, monkeypatch, seed=1)
    (tmp_path / "model.ckpt").write_bytes(b"retrained weights")
    with pytest.raises(SystemExit, match="checkpoint_sha256"):
        _chunked(bench, tmp_path, monkeypatch)
    res, calls = _chunked(bench, tmp_path, monkeypatch, fresh=True)  # the model was just trained again
    assert res["chunks_reused"] == 0 and calls == 6


def test_a_chunk_sampled_for_other_rows_is_refused(bench, tmp_path, monkeypatch) -> None:
    import json

    _chunked(bench, tmp_path, monkeypatch)
    rec = tmp_path / "fake-chunks" / "chunk-0001.json"
    rec.write_text(json.dumps({**json.loads(rec.read_text()), "material_ids": ["x", "y"]}))
    with pytest.raises(SystemExit, match="other rows"):
        _chunked(bench, tmp_path, monkeypatch)


def test_chunks_sampled_at_once_are_the_chunks_sampled_one_by_one(bench, tmp_path, monkeypatch) -> None:
    one, _ = _chunked(bench, tmp_path / "one", monkeypatch, n_rows=7)
    one_rows = bench.csv_rows(tmp_path / "one" / "fake-samples.csv")
    two, calls = _chunked(bench, tmp_path / "two", monkeypatch, n_rows=7, workers=2)
    assert calls == 4 and two["workers"] == 2
    assert bench.csv_rows(tmp_path / "two" / "fake-samples.csv") == one_rows
    assert [c["seed"] for c in two["chunk_records"]] == [c["seed"] for c in one["chunk_records"]]
