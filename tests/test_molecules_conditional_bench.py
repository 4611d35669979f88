"""benchmarks/molecules/molecules_conditional.py: EDM's conditional protocol on a set drawn for requested gaps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "molecules" / "molecules_conditional.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "molecules_conditional_bench")


class SizeJudge:
    """A stand-in classifier: the gap (eV) is the number of atoms."""

    properties = ["gap"]

    def predict(self, graphs):
        mean = torch.tensor([[float(g.num_nodes)] for g in graphs], dtype=torch.float64)
        return mean, torch.zeros_like(mean)


def test_mae_skips_unjudged_molecules(bench):
    assert bench._mae([(1.0, 2.0), (math.nan, 3.0), (4.0, 4.0)]) == pytest.approx(0.5)
    assert bench._mae([(math.nan, 1.0)]) is None


def test_a_set_is_scored_against_its_own_and_shuffled_requests(bench, tmp_path):
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "molecules")
    water = {"num_nodes": 3, "atom_types": torch.tensor([3, 0, 0], dtype=torch.int8),  # O H H
             "positions": torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])}
    methane = {"num_nodes": 5, "atom_types": torch.tensor([1, 0, 0, 0, 0], dtype=torch.int8),
               "positions": torch.tensor([[0.0, 0.0, 0.0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                          [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])}
    clash = {"num_nodes": 2, "atom_types": torch.tensor([1, 1], dtype=torch.int8),
             "positions": torch.tensor([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])}  # refused by the reader
    hartree = 1 / bench.HARTREE_EV
    entry = {"label": "last", "checkpoint": "c.ckpt", "step": 7, "train_minutes": 1.0, "device_name": "cpu",
             "num": 3, "steps": 5, "seed": 0, "seconds": 1.0, "graphs": [water, methane, clash],
             "requests": {"train_index": [0, 1, 2], "num_atoms": [3, 5, 2],
                          "gap_hartree": [4.0 * hartree, 5.0 * hartree, 2.0 * hartree]}}
    path = tmp_path / "s.samples.pt"
    torch.save([entry], path)
    row, pts = bench.score_set("x", path, SizeJudge(), domain, train=[], seed=0)
    assert row["judged"] == 2 and row["refused"] == 1 and "molecule 2" in row["refused_reasons"][0]
    assert row["mae_ev"] == pytest.approx((1.0 + 0.0) / 2)  # |3 - 4| and |5 - 5|; the clash unjudged
    assert pts["asked"] == pytest.approx([4.0, 5.0, 2.0])
    assert row["num"] == 3 and 0 <= row["atom_stability"] <= 1
    torch.save([{**entry, "label": "snapshot"}], path)
    with pytest.raises(SystemExit, match="no conditional samples"):
        bench.score_set("x", path, SizeJudge(), domain, train=[], seed=0)
