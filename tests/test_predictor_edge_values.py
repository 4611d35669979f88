"""Predictors on graphs with a continuous edge field (``social-weighted``: each edge's ``weight``).

The weight enters as a real edge feature, standardised by the edges' statistics (the pairs that
are no edge hold the mean, a standardised 0), as the diffusion models read it; the edge field
stays categorical. Labels are each graph's mean edge weight, which the structure alone does not
tell: a predictor that learns them reads the weights.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import networkx as nx
import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Batch

from graphdiff.cli import cli

pytest.importorskip("graphdiff_social")


def _weighted_graphs(num: int, seed: int) -> list[nx.Graph]:
    """Random graphs whose edges share a per-graph weight scale in ``[0.5, 3]`` (±20 % per edge)."""
    rng = random.Random(seed)
    graphs = []
    for i in range(num):
        g = nx.gnp_random_graph(rng.randint(6, 10), rng.uniform(0.3, 0.7), seed=seed * 1000 + i)
        if g.number_of_edges() == 0:
            g.add_edge(0, 1)
        scale = rng.uniform(0.5, 3.0)
        for u, v in g.edges:
            g.edges[u, v]["weight"] = scale * rng.uniform(0.8, 1.2)
        graphs.append(g)
    return graphs


def _mean_weight(g: nx.Graph) -> float:
    return sum(w for _, _, w in g.edges(data="weight")) / g.number_of_edges()


def _config(path: Path, *, out: str, steps: int, predictor: str, data: str = "") -> Path:
    path.write_text(f"""
[data]
domain = "social-weighted"
source = "graphs.jsonl"
val_fraction = 0.25
batch_size = 16
{data}
[model]
hidden = 32
layers = 2
[training]
max_steps = {steps}
lr = 3e-3
val_every = {steps}
log_every = {steps}
out_dir = "{out}"
[predictor]
labels = "labels.csv"
{predictor}""")
    return path


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    """64 weighted graphs, a labels CSV of their mean edge weight and a trained 2-member predictor."""
    from graphdiff_social import SocialDomain

    domain = SocialDomain(edge_attr="weight", name="social-weighted")
    root = tmp_path_factory.mktemp("weighted")
    graphs = _weighted_graphs(64, seed=0)
    domain.write(graphs, root / "graphs.jsonl")
    ids = [r["id"] for r in domain.read(root / "graphs.jsonl")]
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "mean_weight"])
        w.writerows([i, _mean_weight(g)] for i, g in zip(ids, graphs))
    cfg = _config(root / "pred.toml", out="run", steps=40,
                  predictor='properties = ["mean_weight"]\nensemble = 2\n')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    return {"root": root, "graphs": graphs, "domain": domain, "predictor": root / "run" / "predictor.pt"}


def test_edge_values_are_standardised_real_features():
    """The weight's normaliser is fitted on the edges only; its inputs are ``(w - mean) / std`` on
    the edges and 0 on the other pairs (not class ids); the edges stay one-hot classes."""
    from graphdiff_social import SocialDomain

    from graphdiff.nn import all_pairs
    from graphdiff.predictors import Predictor

    domain = SocialDomain(edge_attr="weight", name="social-weighted")
    path = nx.path_graph(3)                             # pairs (0,1) (0,2) (1,2): edges (0,1), (1,2)
    nx.set_edge_attributes(path, {(0, 1): 1.5, (1, 2): 4.5}, "weight")
    single = nx.Graph([(0, 1, {"weight": 3.0})])
    graphs = [domain.to_graph(path), domain.to_graph(single)]
    torch.manual_seed(0)
    model = Predictor(domain.spec, ["y"], "graph_transformer", hidden=16, layers=1, ensemble=1,
                      domain="social-weighted")
    model.fit_statistics(graphs)
    proc = model.processes["weight"]
    assert float(proc.mean) == pytest.approx(3.0) and float(proc.std) == pytest.approx(1.5 ** 0.5 * 1.0)
    inputs = model.inputs(Batch.from_data_list(graphs)).inputs
    z = inputs["weight"].view(-1).tolist()
    assert z == pytest.approx([-1.5 / 1.5 ** 0.5, 0.0, 1.5 / 1.5 ** 0.5, 0.0])
    assert inputs["edges"].argmax(-1).tolist() == [1, 0, 1, 1]
    # the same inputs from field values: edge values over all pairs, or read off the batch
    batch = Batch.from_data_list(graphs)
    pairs = all_pairs(batch.ptr)[0].size(1)
    from graphdiff.diffusion import edge_values_to_pairs

    dense, _ = edge_values_to_pairs(batch.edge_index, batch.weight, batch.ptr, batch.batch, pairs, 3.0)
    for fields in ({"edges": inputs["edges"], "weight": dense}, {"edges": inputs["edges"]}):
        got = model.inputs_from_fields(fields, batch).inputs["weight"]
        assert got.view(-1).tolist() == pytest.approx(z)


def test_the_predictor_learns_the_mean_edge_weight(weighted):
    report = json.loads((weighted["root"] / "run" / "calibration.json").read_text())
    row = report["properties"]["mean_weight"]
    assert report["num_val"] == 16 and row["n"] == 16
    assert row["mae"] < 0.5 * row["baseline_mae"], row   # far better than the training mean


def test_the_prediction_follows_the_edge_values_alone(weighted):
    """Same structure, weights doubled: the prediction moves up, by about what the label does."""
    from graphdiff.predictors import Predictor

    model = Predictor.load(weighted["predictor"])
    graphs = weighted["graphs"][:8]
    low = []
    for g in graphs:
        h = g.copy()
        nx.set_edge_attributes(h, {e: 0.8 for e in h.edges}, "weight")
        low.append(h)
    high = [h.copy() for h in low]
    for h in high:
        nx.set_edge_attributes(h, {e: 2.4 for e in h.edges}, "weight")
    lo, _ = model.predict_objects(low)
    hi, _ = model.predict_objects(high)
    assert bool((hi > lo + 0.5).all()), (lo.view(-1).tolist(), hi.view(-1).tolist())


def test_the_target_is_differentiable_in_the_edge_values(weighted):
    """As a target: ``graph_fn`` reads the weights as field values (differentiable) or off the
    batch, giving the file's predictions; guidance of a tiny social-weighted model by it moves the
    generated weights."""
    from graphdiff.config import RunConfig
    from graphdiff.model import build_model
    from graphdiff.nn import all_pairs
    from graphdiff.predictors import Predictor, target_guidance
    from graphdiff.targets import predictor_target

    domain = weighted["domain"]
    target = predictor_target(weighted["predictor"], "mean_weight")
    assert target.domain == "social-weighted" and target.differentiable
    objs = weighted["graphs"][:3]
    batch = Batch.from_data_list([domain.to_graph(g) for g in objs])
    model = Predictor.load(weighted["predictor"])
    edges = model.inputs(batch).inputs["edges"]
    expected = [target(g) for g in objs]
    assert target.graph_fn({"edges": edges}, batch).tolist() == pytest.approx(expected, rel=1e-5)
    from graphdiff.diffusion import edge_values_to_pairs

    dense, _ = edge_values_to_pairs(batch.edge_index, batch.weight, batch.ptr, batch.batch,
                                    all_pairs(batch.ptr)[0].size(1), model.processes["weight"].mean)
    weight = dense.clone().requires_grad_(True)
    values = target.graph_fn({"edges": edges, "weight": weight}, batch)
    assert values.tolist() == pytest.approx(expected, rel=1e-5)
    values.sum().backward()
    edge_pairs = edges.argmax(-1) == 1
    assert torch.isfinite(weight.grad).all() and float(weight.grad[edge_pairs].sum()) > 0

    # guidance of a tiny model that generates the weights on given edges raises them
    run = RunConfig.model_validate({"data": {"domain": "social-weighted"}, "model": {"hidden": 16, "layers": 1},
                                    "diffusion": {"given": ["edges"]}})
    torch.manual_seed(0)
    gen = build_model(run)
    gen.fit_statistics([domain.to_graph(g) for g in weighted["graphs"]])
    gen.eval()
    template = [domain.to_graph(g) for g in weighted["graphs"][:4]]
    plain = gen.sample(template=template, steps=3, generator=torch.Generator().manual_seed(1))
    guided = gen.sample(template=template, steps=3, generator=torch.Generator().manual_seed(1),
                        gradient_guidance=target_guidance(gen, target, scale=5.0))
    for a, b in zip(plain, guided):
        domain.spec.validate(b)
        assert torch.equal(a.edge_index, b.edge_index)
        assert float(b.weight.mean()) > float(a.weight.mean())


def test_a_time_aware_predictor_reads_a_weighted_models_noisy_states(weighted, tmp_path):
    """``noisy = true`` with ``processes_from`` a social-weighted model: the weights are noised in
    training (the non-edges from the graph's own edge values, as the model is trained), and the
    predictor then guides that model on its noisy states."""
    from graphdiff.model import load_model
    from graphdiff.predictors import Predictor, guidance_reading, target_guidance
    from graphdiff.targets import predictor_target

    root = weighted["root"]
    gen_cfg = tmp_path / "gen.toml"
    gen_cfg.write_text(f"""
[data]
domain = "social-weighted"
source = "{root / 'graphs.jsonl'}"
batch_size = 16
[model]
hidden = 16
layers = 1
[training]
max_steps = 2
out_dir = "{tmp_path / 'gen'}"
""")
    res = CliRunner().invoke(cli, ["train", "-q", str(gen_cfg)])
    assert res.exit_code == 0, res.output
    ckpt = tmp_path / "gen" / "last.ckpt"
    cfg = _config(root / "noisy.toml", out=str(tmp_path / "noisy"), steps=4,
                  predictor=f'properties = ["mean_weight"]\nensemble = 1\nnoisy = true\nname = "tn"\n'
                            f'processes_from = "{ckpt}"\n')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    model, _, _ = load_model(ckpt)
    pred = Predictor.load(tmp_path / "noisy" / "predictor.pt")
    assert pred.process_mismatch(model) == [] and sorted(pred.noised) == ["edges", "weight"]
    target = predictor_target(tmp_path / "noisy" / "predictor.pt", "mean_weight")
    assert guidance_reading(model, target, "auto")[0] == "noisy"
    seen = {}
    guide = target_guidance(model, target, scale=1.0)
    reads = guide.noisy_fn

    def spy(states, graphs):
        seen["weight"] = states["weight"].shape
        return reads(states, graphs)

    guide.noisy_fn = spy
    out = model.sample([5, 4], steps=3, generator=torch.Generator().manual_seed(0), gradient_guidance=guide)
    assert seen["weight"] == (10 + 6, 1)   # the noisy weights of every pair
    for g in out:
        weighted["domain"].spec.validate(g)
