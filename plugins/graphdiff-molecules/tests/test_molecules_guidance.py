"""``graphdiff sample --target NAME<=V``: gradient guidance from a registered differentiable target."""

from __future__ import annotations

import itertools

import ase.io
import numpy as np
import pytest
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff_molecules import MoleculeDomain


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guided")
    mols = [r["obj"] for r in itertools.islice(MoleculeDomain().read("qm9://test"), 40)]
    MoleculeDomain().write(mols, tmp / "mols.xyz")
    cfg = tmp / "run.toml"
    cfg.write_text(f'[data]\ndomain = "molecules"\nsource = "{tmp / "mols.xyz"}"\nval_fraction = 0.1\n'
                   f'batch_size = 8\n[model]\nhidden = 16\nlayers = 1\n'
                   f'[training]\nmax_steps = 3\nout_dir = "{tmp / "run"}"\n[sampling]\nsteps = 20\n')
    res = CliRunner().invoke(cli, ["train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    return tmp / "run" / "last.ckpt"


def _radii(path):
    from graphdiff_molecules.targets import radius_of_gyration

    return np.array([radius_of_gyration(a) for a in ase.io.read(path, index=":")])


def test_gradient_guidance_moves_the_target(tiny_model, tmp_path):
    base, guided = tmp_path / "base.extxyz", tmp_path / "guided.extxyz"
    common = ["sample", "-c", str(tiny_model), "-n", "12", "-q", "--seed", "3"]
    res = CliRunner().invoke(cli, [*common, "-o", str(base)])
    assert res.exit_code == 0, res.output
    # the scale is how far the clean estimate moves along the gradient per step (normalised
    # units); this 3-step model's molecules are hundreds of Å wide, so it takes a strong pull
    res = CliRunner().invoke(cli, [*common, "-o", str(guided), "--target", "molecules-radius_of_gyration<=2",
                                   "--gradient-scale", "100"])
    assert res.exit_code == 0, res.output
    assert "molecules-radius_of_gyration <= 2.0: mean" in res.output
    assert _radii(guided).mean() < 0.9 * _radii(base).mean()
    frame = ase.io.read(guided, index=0)
    assert frame.info["requested_molecules-radius_of_gyration"] == "<=2.0"
    assert frame.info["molecules-radius_of_gyration"] == pytest.approx(_radii(guided)[0], rel=1e-4)


def test_requests_the_model_cannot_serve_are_refused(tiny_model, tmp_path):
    out = str(tmp_path / "x.extxyz")
    for request, message in (("gap=0.3", "not a condition of this model"),
                             ("molecules-radius_of_gyration~3", "expected NAME=VALUE"),
                             ("molecules-radius_of_gyration=abc", "is not a number")):
        res = CliRunner().invoke(cli, ["sample", "-c", str(tiny_model), "-n", "2", "-q", "-o", out,
                                       "--target", request])
        assert res.exit_code == 2 and message in res.output, (request, res.output)
