"""A plugin's encoder and objective, chosen in a config, trained and sampled through the CLI and
the Python API: the blocks of section 10 of docs/writing-a-plugin.md, run as they stand.

The blocks marked ```` ```lang example=PATH ```` are written into a fresh folder; the package is
registered with graphdiff's own ``graphdiff_plugins`` fixture beside the social plugin, whose
domain the example trains on.
"""

from __future__ import annotations

import importlib
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Batch

import graphdiff
from graphdiff.cli import cli
from graphdiff.objectives import CrossEntropyObjective

nx = pytest.importorskip("networkx")
social_plugin = pytest.importorskip("graphdiff_social.plugin")

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
EXPECTED = {"graphdiff_extras/extensions.py", "graphdiff_extras/plugin.py", "run.toml", "sample_extras.py"}


def example_blocks() -> dict[str, str]:
    """The page's blocks marked ``example=PATH``, by path."""
    blocks: dict[str, str] = {}
    for m in FENCE.finditer(DOC.read_text(encoding="utf-8")):
        attrs = dict(a.split("=", 1) for a in m["attrs"].split() if "=" in a)
        if "example" in attrs:
            assert attrs["example"] not in blocks, f"{attrs['example']} appears twice in {DOC.name}"
            blocks[attrs["example"]] = m["body"]
    return blocks


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graphdiff_plugins):
    """The example written out, on ``sys.path``, registered with the social plugin; the working
    folder is the example's (its config and snippet use relative paths)."""
    blocks = example_blocks()
    assert set(blocks) == EXPECTED
    for rel, body in blocks.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    (tmp_path / "graphdiff_extras" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    plugin = importlib.import_module("graphdiff_extras.plugin")
    manager = graphdiff_plugins(social_plugin, plugin)
    graphs = [nx.cycle_graph(n) for n in range(4, 8)] + [nx.star_graph(n) for n in range(3, 7)]
    manager.get("domains", "social").write(graphs, tmp_path / "graphs.jsonl")
    yield tmp_path, manager
    for name in [m for m in sys.modules if m == "graphdiff_extras" or m.startswith("graphdiff_extras.")]:
        del sys.modules[name]


def test_a_plugin_encoder_and_objective_train_and_sample(extras, capsys) -> None:
    root, manager = extras
    listing = invoke(["plugins"])
    assert "encoders: extras-degree" in listing and "objectives: extras-focal" in listing
    assert "encoders: distances, fields, positional" in listing  # the core's, through the same hooks
    assert "OK" in invoke(["config", "validate", "run.toml"])

    invoke(["train", "run.toml", "--quiet"])
    ckpt = root / "run" / "last.ckpt"
    model = graphdiff.load(str(ckpt), device="cpu")
    extensions = sys.modules["graphdiff_extras.extensions"]
    assert isinstance(model.diffusion.denoiser.node_in, extensions.DegreeEncoder)
    assert model.diffusion.denoiser.node_in.degree_in.in_features == 7  # encoder_options reached it
    assert isinstance(model.diffusion.objectives["edges"], extensions.FocalLoss)
    assert model.diffusion.objectives["edges"].gamma == 2.0
    state = torch.load(ckpt, weights_only=True)["model"]
    assert {k for k in state if k.startswith("denoiser.node_in.")} == {"denoiser.node_in.bias",
                                                                       "denoiser.node_in.degree_in.weight"}

    # the objective is what training minimised: it differs from the cross-entropy on the same draw
    social = manager.get("domains", "social")
    data = [social.to_graph(g) for g in (nx.cycle_graph(5), nx.star_graph(4))]
    focal, _ = model.diffusion.loss(Batch.from_data_list(data), generator=torch.Generator().manual_seed(0))
    model.diffusion.objectives["edges"] = CrossEntropyObjective(model.diffusion.spec["edges"])
    plain, _ = model.diffusion.loss(Batch.from_data_list(data), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(focal) and float(focal.detach()) < float(plain.detach())

    invoke(["sample", "--checkpoint", str(ckpt), "--num", "4", "--seed", "0", "--out", "generated.jsonl",
            "--quiet"])
    from_cli = [r["obj"] for r in social.read(root / "generated.jsonl", strict=True)]
    from_api = graphdiff.load(str(ckpt), device="cpu").sample(4, seed=0, progress=False)
    assert len(from_cli) == len(from_api) == 4
    assert all(isinstance(g, nx.Graph) for g in from_api)
    assert all(social.equal(a, b) for a, b in zip(from_cli, from_api, strict=True))

    capsys.readouterr()
    runpy.run_path(str(root / "sample_extras.py"), run_name="__main__")
    assert capsys.readouterr().out == "4 FocalLoss\n"


def test_a_plugin_encoder_must_be_an_encoder(extras) -> None:
    """A registered module that is not an Encoder, or options it refuses, are named."""
    from graphdiff.config import parse_config
    from graphdiff.errors import ConfigError
    from graphdiff.model import build_model

    _, manager = extras
    manager.registry("encoders").register("extras-linear", torch.nn.Linear, origin="tests")
    base = {"data": {"domain": "social"}, "model": {"hidden": 8, "layers": 1}}
    with pytest.raises(TypeError, match="encoder 'extras-linear' is .*not a subclass of graphdiff.nn.encoders.Encoder"):
        build_model(parse_config({**base, "model": {**base["model"], "encoder": "extras-linear"}}))
    with pytest.raises(TypeError, match="GraphTransformerDenoiser: encoder 'extras-degree': .*'colour'"):
        build_model(parse_config({**base, "model": {**base["model"], "encoder": "extras-degree",
                                                    "encoder_options": {"colour": 1}}}))
    with pytest.raises(ConfigError, match="diffusion.objective: objective 'extras-focal' for field 'edges': "
                                          ".*unknown option"):
        build_model(parse_config({**base, "diffusion": {"objective": "extras-focal",
                                                        "objective_options": {"alpha": 1}}}))
