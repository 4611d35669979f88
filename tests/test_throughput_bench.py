"""The helpers of benchmarks/crystals/crystals_throughput.py, on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "crystals" / "crystals_throughput.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_flops_are_2_in_out_batch(bench, bias: bool) -> None:
    layer = torch.nn.Linear(7, 5, bias=bias)
    x = torch.randn(3, 7)
    total, per_op = bench.count_matmul_flops(layer, x)
    assert total == 2 * 7 * 5 * 3
    assert sum(per_op.values()) == total


def test_element_count_sees_the_non_matmul_work(bench) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.SiLU(), torch.nn.LayerNorm(6))
    counts = bench.count_elements(net, torch.randn(2, 4))
    assert counts["matmul/linear"]["output_elements"] == 12
    assert counts["elementwise"]["output_elements"] >= 12  # the SiLU
    assert counts["layernorm"]["calls"] == 1


@pytest.mark.parametrize("op, category", [
    ("aten::addmm", "matmul/linear"), ("aten.mm.default", "matmul/linear"),
    ("aten::silu_", "elementwise"), ("aten.add_.Tensor", "elementwise"),
    ("aten::index_select", "scatter/index"), ("aten.scatter_reduce_.two", "scatter/index"),
    ("aten::native_layer_norm", "layernorm"), ("aten::sin", "sin/cos features"), ("aten::cos", "sin/cos features"),
    ("aten::cat", "memory/shape"), ("aten::_to_copy", "memory/shape"), ("aten::randn", "random"),
])
def test_operators_fall_into_their_category(bench, op: str, category: str) -> None:
    assert bench.categorize(op) == category


def test_merge_check_accepts_every_row_once(bench) -> None:
    check = bench.merge_check(["a", "b", "c", "d"], [["a", "b"], ["c", "d"]])
    assert check["ok"] and check["rows_per_rank"] == [2, 2]


def test_merge_check_finds_a_missing_row(bench) -> None:
    check = bench.merge_check(["a", "b", "c", "d"], [["a", "b"], ["d"]])
    assert not check["ok"] and check["missing"] == ["c"] and not check["duplicated"]


def test_merge_check_finds_a_duplicated_row(bench) -> None:
    check = bench.merge_check(["a", "b", "c"], [["a", "b"], ["b", "c"]])
    assert not check["ok"] and check["duplicated"] == ["b"] and not check["missing"]


def test_merge_check_finds_a_row_that_was_not_asked_for(bench) -> None:
    check = bench.merge_check(["a", "b"], [["a"], ["b", "z"]])
    assert not check["ok"] and check["unexpected"] == ["z"]


def test_rank_files_are_read_back(bench, tmp_path: Path) -> None:
    out = tmp_path / "gen.csv"
    files = bench.rank_files(out, 2)
    assert [f.name for f in files] == ["gen.rank0of2.csv", "gen.rank1of2.csv"]
    files[0].write_text('material_id,cif\n1,"multi\nline"\n2,x\n')
    files[1].write_text("material_id,cif\n3,y\n")
    per_rank = [bench.read_ids(f) for f in files]
    assert per_rank == [["1", "2"], ["3"]]
    assert bench.merge_check(["1", "2", "3"], per_rank)["ok"]


def test_peak_matmul_is_positive(bench) -> None:
    assert bench.matmul_gflops(64, threads=1, repeats=1) > 0
    peak = bench.matmul_peak([32, 64], threads=1, repeats=1)
    assert peak["peak_gflops"] == max(peak["gflops_by_size"].values()) > 0


def test_save_part_keeps_the_other_parts_and_every_run(bench, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    run = bench.Run(argv=["benchmarks/crystals/crystals_throughput.py", "flops"])
    bench.save_part("flops", {"x": 1}, run, {"steps": 100}, path)
    bench.save_part("stream", {"y": 2}, run, {"steps": 10}, path)
    latest = bench.save_part("flops", {"x": 3}, run, {"steps": 100}, path)
    assert {part: {k: v for k, v in r.items() if k != "provenance"} for part, r in latest.items()} == {
        "flops": {"x": 3}, "stream": {"y": 2}}
    stored = json.loads(path.read_text())["entries"]
    assert [e["key"] for e in stored] == [{"part": "flops", "steps": 100}, {"part": "stream", "steps": 10}]
    assert [r["x"] for r in stored[0]["runs"]] == [1, 3]  # the rerun beside the first, not over it
