"""benchmarks/molecules/molecules_guidance.py: how a generated QM9 set is scored against a requested gap."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "molecules" / "molecules_guidance.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "molecules_guidance_bench")


def _frame(n: int, frac: float, mol_stable: bool, valid: bool, guide: float | None) -> str:
    info = (f'id=0 atom_stable_fraction={frac} mol_stable={"T" if mol_stable else "F"} '
            f'valid={"T" if valid else "F"}' + (f" qm9-gap={guide}" if guide is not None else "")
            + ' pbc="F F F"')
    atoms = "".join(f"C {1.5 * i:.3f} 0.0 0.0\n" for i in range(n))
    return f"{n}\nProperties=species:S:1:pos:R:3 {info}\n{atoms}"


def test_frames_are_scored_as_edm_counts_them(bench, tmp_path):
    path = tmp_path / "gen.xyz"
    path.write_text(_frame(4, 0.75, False, True, 5.5) + _frame(2, 1.0, True, False, 6.0))
    scores = bench.frame_scores(path)
    assert scores == [{"atoms": 4, "stable_atoms": 3, "mol_stable": False, "valid": True, "guide": 5.5},
                      {"atoms": 2, "stable_atoms": 2, "mol_stable": True, "valid": False, "guide": 6.0}]
    s = bench.summarize(scores, [5.0, 7.0], goal=5.5)
    assert s["atom_stability"] == pytest.approx(5 / 6)  # atoms pooled over molecules, as EDM counts
    assert s["molecule_stability"] == 0.5 and s["rdkit_validity"] == 0.5
    assert s["mae_to_goal"] == pytest.approx(1.0)  # (0.5 + 1.5) / 2
    assert s["mae_to_goal_valid"] == pytest.approx(0.5)  # the valid molecule only
    assert s["guide_values_mean"] == pytest.approx(5.75)
    assert (s["judged_n"], s["unjudged"]) == (2, 0)
    # a molecule the judge could not read: left out of the distance, counted
    s = bench.summarize(scores, [5.0, float("nan")], goal=5.5)
    assert (s["judged_n"], s["unjudged"]) == (1, 1) and s["mae_to_goal"] == pytest.approx(0.5)
    assert s["rdkit_validity"] == 0.5  # the rates still count every molecule
    with pytest.raises(SystemExit, match="1 judged values for 2 molecules"):
        bench.summarize(scores, [5.0], goal=5.5)


def test_goal_and_file_names(bench):
    assert bench.goal_value([3.0, 1.0, 2.0, 4.0, 5.0], 0.1) == 1.0
    assert bench.goal_value([3.0, 1.0, 2.0, 4.0, 5.0], 0.5) == 3.0
    assert bench.xyz_path("unguided", 128, 200, 0).name == "qm9-gap-guidance-unguided-n128-s200-seed0.xyz"
    assert bench.xyz_path("scale3", 128, 200, 0).name == "qm9-gap-guidance-scale3-n128-s200-seed0.xyz"
