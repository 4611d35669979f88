"""benchmarks/crystals/crystals_relax_effect.py: how a relaxing run is recorded (no sampling, no CHGNet)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "crystals" / "crystals_relax_effect.py"


def test_a_relaxing_run_is_keyed_by_the_separation_and_names_only_changed_options(load_module, tmp_path,
                                                                                monkeypatch) -> None:
    mod = load_module(SCRIPT, "crystals_relax_effect_bench")
    from graphdiff_crystals.domain import SEPARATE_FACTOR

    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--fmax", type=float, default=0.1)
    args = ap.parse_args(["--num", "300"])
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--num", "300"])
    path = tmp_path / "toy.json"
    mod.record_relaxed(path, ap, args, {"figure": 1.0}, mod.Run(root=tmp_path))
    mod.record_relaxed(path, ap, args, {"figure": 2.0}, mod.Run(root=tmp_path))  # a rerun, beside the first
    (entry,) = json.loads(path.read_text())["entries"]
    assert entry["key"] == {"num": 300, "fmax": 0.1, "separate": SEPARATE_FACTOR}
    assert [r["figure"] for r in entry["runs"]] == [1.0, 2.0]
    assert entry["runs"][0]["command"] == "python benchmarks/crystals/crystals_relax_effect.py --num 300"
    assert entry["runs"][0]["separate"] == SEPARATE_FACTOR
