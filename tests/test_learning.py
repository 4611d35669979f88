"""Proof that the engine learns: short CPU runs on synthetic graphs with a known distribution.

For each process kind, samples of a briefly trained model must match the data far better than
samples of the same model untrained, by a two-sample statistic with a fixed threshold.
"""

from __future__ import annotations

import math

import torch
from torch_geometric.data import Data

from graphdiff.config import RunConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import BUILTIN_DENOISERS
from graphdiff.processes import build_process
from graphdiff.config import FieldProcessConfig
from graphdiff.training import Trainer


def w1(a: torch.Tensor, b: torch.Tensor) -> float:
    """1-D Wasserstein-1 distance between two equal-size samples."""
    n = min(a.numel(), b.numel())
    return float((a.flatten()[:n].sort().values - b.flatten()[:n].sort().values).abs().mean())


def tv(a: torch.Tensor, b: torch.Tensor, classes: int) -> float:
    pa = torch.bincount(a.flatten(), minlength=classes).float()
    pb = torch.bincount(b.flatten(), minlength=classes).float()
    return 0.5 * float((pa / pa.sum() - pb / pb.sum()).abs().sum())


def make_model(spec: GraphSpec, denoiser: str, generate, given=(), condition=(), hidden=64, layers=3,
               fields=None, **opts) -> GraphDiffusion:
    fields = fields or {}
    procs = {n: build_process(spec[n], fields.get(n, FieldProcessConfig())) for n in list(generate) + list(given)}
    net = BUILTIN_DENOISERS[denoiser](spec, {n: spec[n].width for n in generate}, cond_dim=len(condition),
                                      hidden=hidden, layers=layers, **opts)
    return GraphDiffusion(spec, net, procs, generate=generate, given=given, condition=condition)


def train(model: GraphDiffusion, graphs, tmp_path, steps: int, lr: float = 2e-3, batch: int = 32) -> None:
    model.fit_statistics(graphs)
    cfg = RunConfig.model_validate({
        "data": {"domain": "synthetic", "batch_size": batch},
        "training": {"max_steps": steps, "lr": lr, "ema_decay": 0.99, "log_every": 50, "val_every": 10**6,
                     "checkpoint_every": 10**6, "out_dir": str(tmp_path), "warmup_steps": 20},
    })
    Trainer(model, cfg, graphs, progress=False).fit()
    model.eval()




# --------------------------------------------------------------------------- node features
NODE_SPEC = GraphSpec("synthetic-nodes", (
    FieldSpec("kind", "categorical", "node", num_classes=3),
    FieldSpec("x", "continuous", "node", dim=1),
    FieldSpec("g", "continuous", "graph", dim=1),
))


def node_graphs(num: int, seed: int = 0) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(3, 7, (1,), generator=gen))
        kind = torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), n, replacement=True, generator=gen)
        x = (2.0 * kind.float() + 0.2 * torch.randn(n, generator=gen)).view(n, 1)
        g = torch.tensor([[3.0 + 0.3 * float(torch.randn(1, generator=gen))]])
        out.append(Data(num_nodes=n, kind=kind, x=x, g=g))
    return out


def node_stats(graphs):
    kind = torch.cat([g.kind for g in graphs])
    x = torch.cat([g.x.view(-1) for g in graphs])
    gl = torch.cat([g.g.view(-1) for g in graphs])
    # x given kind = 0 tests that the model learned the dependence between fields
    return kind, x, gl, x[kind == 0]


def test_continuous_and_categorical_node_fields_are_learned(tmp_path):
    torch.manual_seed(0)
    data = node_graphs(400)
    v = FieldProcessConfig(prediction="v")
    model = make_model(NODE_SPEC, "graph_transformer", ["kind", "x", "g"], hidden=64, layers=2, heads=4,
                       fields={"x": v, "g": v})
    model.fit_statistics(data)
    sizes = [g.num_nodes for g in data[:300]]

    def score(m):
        out = m.sample(sizes, steps=50, generator=torch.Generator().manual_seed(1))
        k, x, gl, x0 = node_stats(out)
        rk, rx, rg, rx0 = node_stats(data[:300])
        return tv(k, rk, 3), w1(x, rx), w1(gl, rg), w1(x0, rx0)

    before = score(model)
    train(model, data, tmp_path, steps=400)
    after = score(model)
    assert after[0] < 0.08 and after[0] < before[0] / 2, (before, after)
    assert after[1] < 0.35 and after[1] < before[1] / 2, (before, after)
    assert after[2] < 0.35 and after[2] < before[2] / 2, (before, after)
    assert after[3] < 0.35, (before, after)


# --------------------------------------------------------------------------- edges
EDGE_SPEC = GraphSpec("synthetic-cycles", (FieldSpec("edges", "categorical", "edge", num_classes=2),))


def cycle(n: int) -> Data:
    u = torch.arange(n)
    v = (u + 1) % n
    return Data(num_nodes=n, edge_index=torch.stack([torch.cat([u, v]), torch.cat([v, u])]),
                edges=torch.ones(2 * n, dtype=torch.long))


def degrees(g: Data) -> torch.Tensor:
    return torch.bincount(g.edge_index[0], minlength=g.num_nodes)


def test_edges_over_node_pairs_are_learned(tmp_path):
    torch.manual_seed(0)
    data = [cycle(n) for n in range(5, 9)] * 50
    model = make_model(EDGE_SPEC, "graph_transformer", ["edges"], hidden=64, layers=3, heads=4)
    model.fit_statistics(data)

    def frac_degree_two(m):
        out = m.sample([5, 6, 7, 8] * 20, steps=50, generator=torch.Generator().manual_seed(2))
        return float(torch.cat([degrees(g) == 2 for g in out]).float().mean())

    before = frac_degree_two(model)
    train(model, data, tmp_path, steps=400)
    after = frac_degree_two(model)
    assert after > 0.85 and after > before + 0.3, (before, after)


# --------------------------------------------------------------------------- positions
POS_SPEC = GraphSpec("synthetic-squares", (
    FieldSpec("atom", "categorical", "node", num_classes=2),
    FieldSpec("pos", "positions", "node", dim=3),
))


def squares(num: int, seed: int = 0) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    corners = torch.tensor([[1.0, 1, 0], [1, -1, 0], [-1, -1, 0], [-1, 1, 0]])
    out = []
    for _ in range(num):
        q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen))
        pos = corners @ q.T + torch.randn(1, 3, generator=gen)
        out.append(Data(num_nodes=4, atom=torch.tensor([0, 1, 0, 1]), pos=pos))
    return out


def pair_distances(graphs) -> torch.Tensor:
    return torch.cat([torch.pdist(g.pos) for g in graphs])


def test_positions_are_learned_equivariantly(tmp_path):
    torch.manual_seed(0)
    data = squares(300)
    model = make_model(POS_SPEC, "egnn", ["atom", "pos"], hidden=64, layers=3,
                       fields={"pos": FieldProcessConfig(schedule="polynomial")})
    model.fit_statistics(data)
    ref = pair_distances(data[:200])

    def score(m):
        out = m.sample([4] * 200, steps=100, generator=torch.Generator().manual_seed(3))
        return w1(pair_distances(out), ref)

    before = score(model)
    train(model, data, tmp_path, steps=500, lr=1e-3)
    after = score(model)
    assert after < 0.25 and after < before / 3, (before, after)
    # interpolation: the end points of a path come back as the inputs (deterministic inversion)
    a, b = squares(2, seed=9)
    path = model.interpolate(a, b, num=3, steps=100)
    for end, src in ((path[0], a), (path[-1], b)):
        assert torch.equal(end.atom, src.atom)
        centred = src.pos - src.pos.mean(0)
        assert float((end.pos - centred).abs().max()) < 0.1, (end.pos, centred)


# --------------------------------------------------------------------------- torus
TORUS_SPEC = GraphSpec("synthetic-crystals", (
    FieldSpec("species", "categorical", "node", num_classes=2),
    FieldSpec("frac", "torus", "node", dim=3),
    FieldSpec("cell", "continuous", "graph", dim=2),
))


def pairs_half_apart(num: int, seed: int = 0) -> list[Data]:
    """Two atoms whose fractional coordinates differ by (0.5, 0.5, 0.5); random common shift."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        a = torch.rand(1, 3, generator=gen)
        frac = torch.cat([a, (a + 0.5) % 1.0])
        cell = torch.tensor([[1.0, -1.0]]) + 0.1 * torch.randn(1, 2, generator=gen)
        out.append(Data(num_nodes=2, species=torch.tensor([0, 1]), frac=frac, cell=cell))
    return out


def half_offset_error(graphs) -> torch.Tensor:
    d = torch.stack([g.frac[1] - g.frac[0] for g in graphs])
    wrapped = (d - 0.5 + 0.5) % 1.0 - 0.5  # distance of d from 0.5 on the circle
    return wrapped.abs().mean(-1)


def test_torus_field_is_learned_with_csp_mask(tmp_path):
    torch.manual_seed(0)
    data = pairs_half_apart(300)
    model = make_model(TORUS_SPEC, "periodic", ["frac", "cell"], given=["species"], hidden=64, layers=3)
    model.fit_statistics(data)
    templates = [Data(num_nodes=2, species=torch.tensor([0, 1])) for _ in range(200)]

    def score(m):
        out = m.sample(template=templates, steps=100, generator=torch.Generator().manual_seed(4))
        cells = torch.cat([g.cell for g in out])
        return float(half_offset_error(out).mean()), float((cells.mean(0) - torch.tensor([1.0, -1.0])).abs().max()), out

    before, _, _ = score(model)
    train(model, data, tmp_path, steps=500)
    after, cell_err, out = score(model)
    assert after < 0.08 and after < before / 2, (before, after)
    assert cell_err < 0.1
    # the given field is handed back unchanged
    assert all(torch.equal(g.species, torch.tensor([0, 1])) for g in out)


# --------------------------------------------------------------------------- values on edges
WEIGHTED_SPEC = GraphSpec("synthetic-weighted", (
    FieldSpec("edges", "categorical", "edge", num_classes=2),
    FieldSpec("length", "continuous", "edge", dim=1),
))


def weighted_graphs(num: int, seed: int = 0) -> list[Data]:
    """Random graphs (4 to 7 nodes, each pair an edge with probability 1/2) whose edges all carry
    one value drawn per graph from N(3, 0.5²)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(4, 8, (1,), generator=gen))
        u, v = torch.triu_indices(n, n, 1)[:, torch.rand(n * (n - 1) // 2, generator=gen) < 0.5]
        value = 3.0 + 0.5 * float(torch.randn(1, generator=gen))
        out.append(Data(num_nodes=n, edge_index=torch.stack([torch.cat([u, v]), torch.cat([v, u])]),
                        edges=torch.ones(2 * u.numel(), dtype=torch.long),
                        length=torch.full((2 * u.numel(), 1), value)))
    return out


def edge_value_stats(graphs) -> tuple[float, float, float]:
    """Mean of all edge values, mean within-graph spread (std) and spread of the graph means,
    over the graphs with edges (``inf`` when none has an edge)."""
    values = [g.length.view(-1) for g in graphs if g.length.numel()]
    if not values:
        return math.inf, math.inf, math.inf
    within = torch.stack([v.std(unbiased=False) for v in values]).mean()
    means = torch.stack([v.mean() for v in values])
    return float(torch.cat(values).mean()), float(within), float(means.std())


def test_continuous_edge_values_are_learned(tmp_path):
    torch.manual_seed(0)
    data = weighted_graphs(300)
    model = make_model(WEIGHTED_SPEC, "graph_transformer", ["edges", "length"], hidden=32, layers=2, heads=4,
                       fields={"length": FieldProcessConfig(prediction="x0")})
    model.fit_statistics(data)
    assert abs(float(model.processes["length"].mean) - 3.0) < 0.1    # statistics of the edges' values only
    sizes = [g.num_nodes for g in data[:60]]
    ref_mean, ref_within, ref_spread = edge_value_stats(data)
    assert ref_within < 1e-6

    def score(m):
        out = m.sample(sizes, steps=30, generator=torch.Generator().manual_seed(5))
        for i, g in enumerate(out):   # a [E, 1] value on each generated edge, the same both ways
            WEIGHTED_SPEC.validate(g, where=f"sample {i}")
        return edge_value_stats(out), out

    def learned(stats) -> bool:   # the data: mean 3, one value per graph, graph values spread by 0.5
        mean, within, spread = stats
        return abs(mean - ref_mean) < 0.3 and within < 0.15 and 0.2 < spread < 0.8

    (before, _) = score(model)
    train(model, data, tmp_path, steps=300)
    after, out = score(model)
    # a model drawing each edge's value from the data's marginal N(3, 0.5²) (right mean, no
    # structure) fails, as does the untrained one (its values hardly vary between graphs)
    noise = [g.clone() for g in out]
    gen = torch.Generator().manual_seed(6)
    for g in noise:
        draw = 3.0 + 0.5 * torch.randn(g.edge_index.size(1) // 2, 1, generator=gen)
        g.length = torch.cat([draw, draw])   # generated edges: all (i, j), i < j, then all (j, i)
        WEIGHTED_SPEC.validate(g)
    assert not learned(edge_value_stats(noise)), edge_value_stats(noise)
    assert not learned(before), before
    assert learned(after), (before, after, (ref_mean, ref_within, ref_spread))
    edges_per_graph = sum(g.edge_index.size(1) for g in out) / len(out)
    ref_edges = sum(g.edge_index.size(1) for g in data[:60]) / 60
    assert abs(edges_per_graph - ref_edges) < 0.3 * ref_edges, (edges_per_graph, ref_edges)
