"""The bundled ``qm9-dng`` checkpoint: listed by name, and the molecules part of ``make demo``."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io

from graphdiff.checkpoints import find_named


def test_qm9_dng_is_bundled_with_its_manifest():
    ckpt = find_named("qm9-dng")
    assert ckpt is not None and ckpt.domain == "molecules" and ckpt.task == "dng"
    assert Path(ckpt.path).stat().st_size < 20e6
    assert "QM9" in ckpt.trained_on and ckpt.made_by


def test_demo_generates_molecules_and_a_poscar(tmp_path):
    from graphdiff_molecules.demo import main

    summary = main(["--out", str(tmp_path), "--num", "4", "--steps", "5", "--show", "2"])
    assert summary["num_generated"] == 4
    frames = ase.io.read(tmp_path / "molecules" / "generated.extxyz", index=":")
    assert len(frames) == 4
    for f in frames:  # per-molecule metrics in each frame's info line
        assert {"mol_stable", "valid", "atom_stable_fraction"} <= set(f.info)
        assert 0.0 <= f.info["atom_stable_fraction"] <= 1.0
    boxed = ase.io.read(tmp_path / "molecules" / "POSCAR", format="vasp")
    assert boxed.cell.volume > 0 and len(boxed) in {len(f) for f in frames}
    assert (tmp_path / "molecules.png").stat().st_size > 0
    metrics = json.loads((tmp_path / "molecules" / "metrics.json").read_text())
    assert metrics["checkpoint"] == "qm9-dng" and 0 <= metrics["summary"]["atom_stability"] <= 1


def test_sample_stores_per_molecule_checks_and_the_condition(tmp_path):
    """``graphdiff sample --out GEN.xyz``: each frame's info line holds EDM's per-molecule checks."""
    from click.testing import CliRunner

    from graphdiff.cli import cli

    out = tmp_path / "gen.xyz"
    res = CliRunner().invoke(cli, ["sample", "-c", "qm9-dng", "-n", "3", "--steps", "4", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    frames = ase.io.read(out, index=":")
    assert len(frames) == 3
    for f in frames:
        assert {"mol_stable", "valid", "smiles", "atom_stable_fraction"} <= set(f.info)
