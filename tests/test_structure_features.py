"""Structure features of noisy graphs (cycles, components, spectrum) against networkx."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import GraphTransformerDenoiser
from graphdiff.nn.structure import GRAPH_FEATURES, NODE_FEATURES, structure_features
from graphdiff.testing.symmetry import assert_permutation_equivariant, random_noisy_graphs

NODE = {name: k for k, name in enumerate(NODE_FEATURES)}
GRAPH = {name: k for k, name in enumerate(GRAPH_FEATURES)}


@st.composite
def graphs(draw, max_nodes: int = 11) -> nx.Graph:
    n = draw(st.integers(1, max_nodes))
    pairs = list(itertools.combinations(range(n), 2))
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    g = nx.empty_graph(n)
    g.add_edges_from(p for p, k in zip(pairs, keep) if k)
    return g


def dense(gs: list[nx.Graph], pad: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(g.number_of_nodes() for g in gs) + pad
    adj = torch.zeros(len(gs), n, n, dtype=torch.float64)
    mask = torch.zeros(len(gs), n, dtype=torch.bool)
    for b, g in enumerate(gs):
        k = g.number_of_nodes()
        adj[b, :k, :k] = torch.from_numpy(nx.to_numpy_array(g, nodelist=range(k)))
        mask[b, :k] = True
    return adj, mask


def four_cycles_through(g: nx.Graph, i: int) -> int:
    """Brute force: a 4-cycle i-a-b-c-i is fixed by i's two neighbours {a, c} and the node b
    opposite i."""
    return sum(len((set(g[a]) & set(g[c])) - {i}) for a, c in itertools.combinations(g[i], 2))


@settings(max_examples=60, deadline=None)
@given(st.lists(graphs(), min_size=1, max_size=3))
def test_counts_components_and_spectrum_match_networkx(gs):
    adj, mask = dense(gs)
    node, graph = structure_features(adj, mask)
    for b, g in enumerate(gs):
        n = g.number_of_nodes()
        tri = nx.triangles(g)
        np.testing.assert_allclose(np.expm1(node[b, :n, NODE["triangles"]].numpy()),
                                   [tri[i] for i in range(n)], atol=1e-9)
        np.testing.assert_allclose(np.expm1(node[b, :n, NODE["4-cycles"]].numpy()),
                                   [four_cycles_through(g, i) for i in range(n)], atol=1e-9)
        comps = {i: len(c) for c in nx.connected_components(g) for i in c}
        np.testing.assert_allclose(node[b, :n, NODE["component fraction"]].numpy(),
                                   [comps[i] / n for i in range(n)], atol=1e-8)
        biggest = max(comps.values())
        assert node[b, :n, NODE["in largest component"]].tolist() == [float(comps[i] == biggest)
                                                                        for i in range(n)]
        count = nx.number_connected_components(g)
        assert graph[b, GRAPH["component fraction"]].item() == pytest.approx(count / n)
        assert np.expm1(graph[b, GRAPH["triangles"]].item()) == pytest.approx(sum(tri.values()) / 3)
        spectrum = np.sort(nx.laplacian_spectrum(g))[count:count + 5]
        want = np.zeros(5)
        want[:len(spectrum)] = spectrum
        got = np.expm1(graph[b, GRAPH["eigenvalue 1"]:GRAPH["eigenvalue 5"] + 1].numpy())
        np.testing.assert_allclose(got, want, atol=1e-8)
        lap = nx.laplacian_matrix(g, nodelist=range(n)).toarray().astype(float)
        heat = np.diag(scipy.linalg.expm(-2.0 * lap))
        np.testing.assert_allclose(node[b, :n, NODE["heat kernel t=2"]].numpy(), heat, atol=1e-8)
        assert not node[b, n:].any()


def test_known_graphs():
    k4, petersen = nx.complete_graph(4), nx.petersen_graph()
    adj, mask = dense([k4, petersen], pad=0)
    node, graph = structure_features(adj, mask)
    assert np.expm1(node[0, :4, NODE["4-cycles"]]).tolist() == pytest.approx([3.0] * 4)
    assert np.expm1(graph[0, GRAPH["4-cycles"]].item()) == pytest.approx(3.0)
    # the Petersen graph has girth 5: no triangles or 4-cycles, twelve 5-cycles
    assert not node[1, :, :2].any()
    assert np.expm1(node[1, :, NODE["closed 5-walks"]]).tolist() == pytest.approx([12.0] * 10)


@settings(max_examples=30, deadline=None)
@given(graphs(max_nodes=9), st.randoms(use_true_random=False))
def test_features_follow_a_relabelling(g, rnd):
    n = g.number_of_nodes()
    perm = list(range(n))
    rnd.shuffle(perm)
    h = nx.relabel_nodes(g, dict(zip(range(n), perm)))
    adj, mask = dense([g, h], pad=0)
    node, graph = structure_features(adj, mask)
    torch.testing.assert_close(node[1, perm], node[0, :n], atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(graph[1], graph[0], atol=1e-8, rtol=1e-6)


SOCIAL = GraphSpec("social", (FieldSpec("edges", "categorical", "edge", num_classes=2),))


def test_denoiser_with_structure_features_is_equivariant_and_uses_them():
    torch.manual_seed(0)
    model = GraphTransformerDenoiser(SOCIAL, {"edges": 2}, hidden=16, layers=2, heads=4, edge_hidden=8,
                                     structure_features=True).double()
    graphs = random_noisy_graphs(SOCIAL, [6, 1, 9, 4], seed=2)
    assert_permutation_equivariant(model, graphs, seed=1)
    out = model(graphs)["edges"]
    model.structure_x.weight.data.zero_()
    model.structure_y.weight.data.zero_()
    assert (model(graphs)["edges"] - out).abs().max() > 1e-6
    assert model.hparams["structure_features"] is True


def test_structure_features_need_an_edge_field():
    spec = GraphSpec("signals", (FieldSpec("signal", "continuous", "node", dim=2),))
    with pytest.raises(ValueError, match="structure_features needs an edge field"):
        GraphTransformerDenoiser(spec, {"signal": 2}, hidden=16, layers=1, heads=4, structure_features=True)
