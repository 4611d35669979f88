"""Continuous edge fields in the diffusion loop: values on the edges, diffused over all node pairs,
scored on the data's edges only, read off on the generated edges (symmetric); and the plugin domains
that keep one (``social-weighted``, ``traffic-lengths``): their values round-trip, bad values name
the edge, and they are offered the targets of the domain they extend."""

from __future__ import annotations

import importlib.util
import warnings

import networkx as nx
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from graphdiff.cli import cli

from graphdiff.config import FieldProcessConfig
from graphdiff.diffusion import GraphDiffusion, resample_non_edges, edge_values_to_pairs, pair_values_of_edges
from graphdiff.errors import DataError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import BUILTIN_DENOISERS, all_pairs
from graphdiff.objectives import Objective
from graphdiff.processes import build_process
from graphdiff.testing import assert_roundtrip

SPEC = GraphSpec("roads", (
    FieldSpec("edges", "categorical", "edge", num_classes=2),
    FieldSpec("length", "continuous", "edge", dim=1),
    FieldSpec("signal", "continuous", "node", dim=1),
))


def graph(n: int, pairs: list[tuple[int, int]], values: list[float]) -> Data:
    u = torch.tensor([i for i, _ in pairs], dtype=torch.long)
    v = torch.tensor([j for _, j in pairs], dtype=torch.long)
    vals = torch.tensor(values, dtype=torch.float32).view(-1, 1)
    return Data(num_nodes=n, edge_index=torch.stack([torch.cat([u, v]), torch.cat([v, u])]),
                edges=torch.ones(2 * len(pairs), dtype=torch.long), length=torch.cat([vals, vals]),
                signal=torch.randn(n, 1))


DATA = [graph(4, [(0, 1), (2, 3)], [1.0, 5.0]), graph(3, [(0, 2)], [3.0]), graph(2, [], [])]


def model(generate=("edges", "length", "signal"), given=(), objectives=None, denoiser="graph_transformer"):
    procs = {n: build_process(SPEC[n], FieldProcessConfig()) for n in list(generate) + list(given)}
    opts = dict(heads=2) if denoiser == "graph_transformer" else {}
    net = BUILTIN_DENOISERS[denoiser](SPEC, {n: SPEC[n].width for n in generate}, hidden=16, layers=2, **opts)
    torch.manual_seed(0)
    return GraphDiffusion(SPEC, net, procs, generate=list(generate), given=list(given), objectives=objectives)


def test_dense_values_and_back():
    batch = Batch.from_data_list(DATA)
    pair_index, _ = all_pairs(batch.ptr)
    values, mask = edge_values_to_pairs(batch.edge_index, batch.length, batch.ptr, batch.batch,
                                        pair_index.size(1), fill=-1.0)
    assert mask.sum() == 3 and values.shape == (6 + 3 + 1, 1)
    # pairs of graph 0 in row-major order: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); graph 1: (0,1) (0,2) (1,2)
    assert values[:, 0].tolist() == [1.0, -1, -1, -1, -1, 5.0, -1, 3.0, -1, -1]
    assert torch.equal(pair_values_of_edges(DATA[0].edge_index, values[:6], 4), DATA[0].length)
    assert torch.equal(pair_values_of_edges(DATA[1].edge_index, values[6:9], 3), DATA[1].length)


def test_non_edges_take_values_of_their_own_graphs_edges():
    batch = Batch.from_data_list(DATA)
    pair_index, pair_batch = all_pairs(batch.ptr)
    values, mask = edge_values_to_pairs(batch.edge_index, batch.length, batch.ptr, batch.batch,
                                        pair_index.size(1), fill=-1.0)
    out = resample_non_edges(values, mask, pair_batch, 3, torch.Generator().manual_seed(0))
    assert torch.equal(out[mask], values[mask])
    assert set(out[:6, 0].tolist()) <= {1.0, 5.0} and set(out[6:9, 0].tolist()) == {3.0}
    assert out[9, 0] == -1.0   # a graph without edges keeps the fill


def test_statistics_come_from_the_edges():
    m = model()
    m.fit_statistics(DATA)
    assert torch.allclose(m.processes["length"].mean, torch.tensor([3.0]))
    assert torch.allclose(m.processes["length"].std, torch.tensor([(8 / 3) ** 0.5]))


class PairNumber(Objective):
    """Scores element ``k`` as ``k``: the field's loss is then the mean index of the scored pairs."""

    kinds = frozenset({"continuous"})

    def forward(self, terms):
        return torch.arange(terms.pred.size(0), dtype=terms.pred.dtype) + 0 * terms.pred.sum()


def test_loss_is_the_mean_over_the_data_edges():
    m = model(objectives={"length": PairNumber(SPEC["length"])})
    m.fit_statistics(DATA)
    _, parts = m.loss(Batch.from_data_list(DATA), torch.Generator().manual_seed(0))
    assert parts["length"] == pytest.approx((0 + 5 + 7) / 3)   # the edge pairs' numbers


@pytest.mark.parametrize("denoiser", ["graph_transformer"])
@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_samples_carry_symmetric_values_on_their_edges(denoiser, sampler):
    m = model(denoiser=denoiser)
    m.fit_statistics(DATA)
    loss, _ = m.loss(Batch.from_data_list(DATA), torch.Generator().manual_seed(0))
    loss.backward()
    out = m.sample([5, 4, 1], steps=4, sampler=sampler, generator=torch.Generator().manual_seed(1))
    for i, g in enumerate(out):
        SPEC.validate(g, where=f"sample {i}")   # [E, 1] aligned with edge_index, equal both ways
        assert g.length.shape == (g.edge_index.size(1), 1)
    again = m.sample([5, 4, 1], steps=4, sampler=sampler, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a.length, b.length) and torch.equal(a.edge_index, b.edge_index)
               for a, b in zip(out, again))


def test_values_generated_on_given_edges():
    m = model(generate=("length", "signal"), given=("edges",))
    m.fit_statistics(DATA)
    template = [Data(num_nodes=g.num_nodes, edge_index=g.edge_index, edges=g.edges) for g in DATA]
    out = m.sample(template=template, steps=3, generator=torch.Generator().manual_seed(2))
    for g, t in zip(out, DATA):
        assert torch.equal(g.edge_index, t.edge_index)
        SPEC.validate(g)


def test_interpolation_keeps_values_on_edges():
    m = model(generate=("length", "signal"), given=("edges",))
    m.fit_statistics(DATA)
    a = DATA[0]
    b = graph(4, [(0, 1), (2, 3)], [2.0, 4.0])
    path = m.interpolate(a, b, num=3, steps=3)
    for g in path:
        SPEC.validate(g)


def test_tasks_that_split_values_from_edges_are_refused():
    with pytest.raises(ValueError, match="must generate or give the edge field 'edges'"):
        model(generate=("length",))
    with pytest.raises(ValueError, match="is given but the edge field 'edges' is generated"):
        model(generate=("edges",), given=("length",))


def test_egnn_generates_bond_lengths_on_its_bonds():
    spec = GraphSpec("molecules-with-lengths", (
        FieldSpec("atoms", "categorical", "node", num_classes=2),
        FieldSpec("pos", "positions", "node", dim=3),
        FieldSpec("bonds", "categorical", "edge", num_classes=3),
        FieldSpec("bond_length", "continuous", "edge", dim=1),
    ))
    data = []
    for g in DATA:
        n = g.num_nodes
        data.append(Data(num_nodes=n, atoms=torch.zeros(n, dtype=torch.long), pos=torch.randn(n, 3),
                         edge_index=g.edge_index, bonds=g.edges.clone(), bond_length=g.length.clone()))
    procs = {f.name: build_process(f, FieldProcessConfig()) for f in spec.fields}
    torch.manual_seed(0)
    net = BUILTIN_DENOISERS["egnn"](spec, {f.name: f.width for f in spec.fields}, hidden=16, layers=2)
    m = GraphDiffusion(spec, net, procs, generate=spec.names)
    m.fit_statistics(data)
    m.loss(Batch.from_data_list(data), torch.Generator().manual_seed(0))[0].backward()
    out = m.sample([4, 3], steps=3, generator=torch.Generator().manual_seed(1))
    for g in out:
        spec.validate(g)
        assert g.bond_length.shape == (g.edge_index.size(1), 1)


# ---------------------------------------------------------------------------- the domains with edge values
_INSTALLED = {p: importlib.util.find_spec(p) is not None for p in ("graphdiff_social", "graphdiff_traffic")}


def _needs(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not _INSTALLED[package], reason=f"{package} is not installed")


#: (domain, dtype of the values): each domain's values round-trip within the precision of that dtype
VALUE_DOMAINS = [
    pytest.param("social-weighted", torch.float32, marks=_needs("graphdiff_social"), id="social-weighted"),
    pytest.param("traffic-lengths", torch.float64, marks=_needs("graphdiff_traffic"), id="traffic-lengths-f64"),
    pytest.param("traffic-lengths", torch.float32, marks=_needs("graphdiff_traffic"), id="traffic-lengths-f32"),
]

#: the domains themselves
VALUE_DOMAIN_NAMES = [
    pytest.param("social-weighted", marks=_needs("graphdiff_social"), id="social-weighted"),
    pytest.param("traffic-lengths", marks=_needs("graphdiff_traffic"), id="traffic-lengths"),
]


def _value_domain(name: str, dtype: torch.dtype = torch.float32):
    """``(domain, value attribute, strategy of its valid inputs)``: the plugins' domains that keep
    an edge value (the attribute is also the field's name)."""
    if name == "social-weighted":
        from graphdiff_social import SocialDomain
        from graphdiff_social.testing import weighted_graphs

        return SocialDomain(edge_attr="weight", name=name), "weight", weighted_graphs(max_nodes=10)
    from graphdiff_traffic import TrafficDomain
    from graphdiff_traffic.testing import road_networks_with_lengths

    return TrafficDomain(edge_lengths=True, dtype=dtype, name=name), "length", road_networks_with_lengths(max_nodes=10)


@pytest.mark.parametrize(("name", "dtype"), VALUE_DOMAINS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_edge_values_roundtrip_within_their_dtype(name, dtype, data):
    domain, attr, inputs = _value_domain(name, dtype)
    graph = data.draw(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the value is kept, not dropped; a curved road's length is no mismatch
        out = assert_roundtrip(domain, graph)
    values = getattr(out, attr)
    assert values.dtype == dtype and values.shape == (out.edge_index.size(1), 1)
    back = domain.from_graph(out)
    for u, v, value in graph.edges(data=attr):
        assert back.edges[u, v][attr] == float(torch.tensor(float(value), dtype=dtype))
    assert domain.equal(graph, domain.from_graph(out.clone()))


@pytest.mark.parametrize("name", VALUE_DOMAIN_NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_missing_or_non_numeric_edge_value_names_the_edge(name, data):
    domain, attr, inputs = _value_domain(name)
    graph = data.draw(inputs.filter(lambda g: g.number_of_nodes() >= 2 and g.number_of_edges() > 0))
    u, v = data.draw(st.sampled_from(sorted(graph.edges, key=repr)))
    bad = data.draw(st.sampled_from(["missing", "text", None, True, float("nan"), float("inf"), [1.0]]))
    if bad == "missing":
        del graph.edges[u, v][attr]
    else:
        graph.edges[u, v][attr] = bad
    with pytest.raises(DataError) as info:
        domain.to_graph(graph)
    msg = str(info.value)
    assert f"edge ({u!r}, {v!r})" in msg or f"edge ({v!r}, {u!r})" in msg, msg
    assert attr in msg and f"{name}.to_graph input" in msg, msg


@pytest.mark.parametrize("name", VALUE_DOMAIN_NAMES)
def test_the_domains_with_edge_values_are_offered_their_base_domains_targets(name):
    """The same graphs plus an edge value: every target of the base domain is registered for them
    too (``<domain>-<target>``), is listed by ``graphdiff targets``, offered to predictors, and
    scores their items as the base domain's target scores the same graph."""
    import graphdiff
    from graphdiff.plugins import get_manager
    from graphdiff.predictors.data import targets_of

    base = name.split("-")[0]
    reg = get_manager().registry("targets")
    theirs = sorted(e.name[len(base) + 1:] for e in reg.entries() if e.meta("domain") == base)
    ours = sorted(e.name[len(name) + 1:] for e in reg.entries() if e.meta("domain") == name)
    assert theirs and ours == theirs
    res = CliRunner().invoke(cli, ["targets", "--domain", name])
    assert res.exit_code == 0, res.output
    assert all(f"{name}-{t}" in res.output for t in theirs) and f"{base}-{theirs[0]} " not in res.output
    assert {f"{name}-{t}" for t in theirs} <= set(targets_of(name))
    domain, attr, _ = _value_domain(name)
    graph = nx.cycle_graph(4)
    for k, (u, v) in enumerate(graph.edges):
        graph.edges[u, v][attr] = 150.0 + k
    if base == "traffic":  # a 100 m square of roads 150 m and more long
        for k, u in enumerate(graph.nodes):
            graph.nodes[u].update(x=100.0 * (k in (1, 2)), y=100.0 * (k in (2, 3)))
    item = graphdiff.load_domain(name).from_graph(domain.to_graph(graph))
    for t in theirs:
        target = reg.get(f"{name}-{t}")
        assert target.domain == name
        assert target(item) == pytest.approx(reg.get(f"{base}-{t}")(graph))
