"""benchmarks/gpu_runs.py: the compact QM9 pack sent to a GPU machine, and EDM's condition requests."""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_runs.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "gpu_runs_bench")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-31.9, 31.9, allow_nan=False)] * 3), min_size=1, max_size=40))
def test_positions_survive_the_pack_to_half_a_milli_angstrom(load_module, coords):
    bench = load_module(SCRIPT, "gpu_runs_bench")
    pos = torch.tensor(coords, dtype=torch.float64)
    planes = bench.encode_positions(pos)
    assert planes.dtype == torch.uint8 and planes.shape == (2, 3 * len(coords))
    back = bench.decode_positions(planes)
    assert back.shape == pos.shape
    assert float((back.double() - pos).abs().max()) <= 0.0005 + 1e-6


def test_a_coordinate_beyond_the_int16_range_is_refused(bench):
    with pytest.raises(SystemExit, match="beyond the int16"):
        bench.encode_positions(torch.tensor([[0.0, 40.0, 0.0]]))


def test_graphs_and_condition_requests_come_from_the_pack(bench, tmp_path, monkeypatch):
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.09, 0.0, 0.0], [0.0, 1.2, 0.3], [0.5, -0.5, 2.0], [3.0, 0, 0]])
    part = {"atom_types": torch.tensor([1, 0, 0, 2, 1], dtype=torch.int8),
            "positions_planes": bench.encode_positions(pos), "sizes": torch.tensor([2, 3], dtype=torch.uint8),
            "gap": torch.tensor([0.25, 0.31])}
    buf = io.BytesIO()
    torch.save({"train": part, "valid": part}, buf)
    (tmp_path / "qm9.pt.xz").write_bytes(lzma.compress(buf.getvalue()))
    monkeypatch.setattr(bench, "PACK", tmp_path)
    plain = bench._qm9_graphs("train")
    assert [g.num_nodes for g in plain] == [2, 3] and not hasattr(plain[0], "gap")
    assert torch.allclose(plain[1].positions, pos[2:], atol=5e-4)
    assert plain[1].atom_types.tolist() == [0, 2, 1]
    cond = bench._qm9_graphs("train", ["gap"])
    assert [float(g.gap) for g in cond] == pytest.approx([0.25, 0.31])
    reqs = bench.condition_requests(2, seed=0)
    assert sorted(reqs) == [(0, 2, pytest.approx(0.25)), (1, 3, pytest.approx(0.31))]
    assert bench.condition_requests(2, seed=0) == reqs  # seeded
