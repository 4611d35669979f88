"""Conditioning on a registered target: the training items need no data column for it."""

from __future__ import annotations

import networkx as nx
import pytest
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff.errors import DataError


@pytest.fixture()
def graphs_file(tmp_path):
    from graphdiff_social import SocialDomain

    graphs = [nx.gnp_random_graph(8 + i % 5, 0.2 + 0.05 * (i % 8), seed=i) for i in range(24)]
    path = tmp_path / "graphs.jsonl"
    SocialDomain().write(graphs, path)
    return path


def _config(tmp_path, source, condition):
    path = tmp_path / "run.toml"
    path.write_text(f'[data]\ndomain = "social"\nsource = "{source}"\nval_fraction = 0.2\nbatch_size = 8\n'
                    f'[model]\nhidden = 16\nlayers = 1\n'
                    f'[diffusion]\ncondition = ["{condition}"]\n'
                    f'[training]\nmax_steps = 4\nlog_every = 2\nval_every = 2\nout_dir = "{tmp_path / "run"}"\n'
                    f'[sampling]\nsteps = 3\n')
    return path


def test_a_target_becomes_a_condition_and_a_sampling_request(tmp_path, graphs_file):
    from graphdiff.model import load_model

    cfg = _config(tmp_path, graphs_file, "social-average_clustering")
    res = CliRunner().invoke(cli, ["train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    model, _, _ = load_model(tmp_path / "run" / "last.ckpt")
    assert model.condition == ["social-average_clustering"]
    # the normaliser saw the computed values (not the zeros of a missing column)
    assert float(model.cond_std[0]) > 0 and 0 < float(model.cond_mean[0]) < 1
    out = tmp_path / "gen.jsonl"
    res = CliRunner().invoke(cli, ["sample", "-c", str(tmp_path / "run" / "last.ckpt"), "-n", "3", "-q",
                                    "--target", "social-average_clustering=0.4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    import json

    # node-link JSON keeps them as graph attributes
    assert all(json.loads(line)["graph"]["requested_social-average_clustering"] == 0.4 for line in lines)


def test_an_unknown_condition_is_refused_naming_it(tmp_path, graphs_file):
    from graphdiff.config import load_config
    from graphdiff.plugins import get_manager
    from graphdiff.runner import load_training_data

    cfg = load_config(_config(tmp_path, graphs_file, "no-such-target"))
    with pytest.raises(DataError, match="'no-such-target'.*no target of domain 'social'"):
        load_training_data(cfg, get_manager().get("domains", "social"))
