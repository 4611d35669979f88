"""The social domain: conversion, exact labels, bad inputs, datasets, targets, registration."""

from __future__ import annotations

import warnings

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from torch_geometric.data import Data

import graphdiff
from graphdiff.errors import DataError, GraphValidationError
from graphdiff.plugins import PluginManager
from graphdiff.testing import assert_roundtrip
from graphdiff.testing.strategies import simple_edges
from graphdiff_social import DroppedAttributesWarning, SocialDomain, builtin_graphs
from graphdiff_social.targets import average_clustering, density, modularity
from graphdiff_social.testing import social_graphs

DOMAIN = SocialDomain()


def _labels_order(graph):
    try:
        return sorted(graph.nodes)
    except TypeError:
        return list(graph.nodes)


@settings(max_examples=300, deadline=None)
@given(social_graphs(max_nodes=14))
def test_roundtrip_restores_labels_and_edges_exactly(graph):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # attribute-free graphs convert without warnings
        data = assert_roundtrip(DOMAIN, graph)
    back = DOMAIN.from_graph(data)
    assert set(back.nodes) == set(graph.nodes)
    assert {frozenset(e) for e in back.edges} == {frozenset(e) for e in graph.edges}
    assert list(back.nodes) == _labels_order(graph)
    assert all(type(a) is type(b) for a, b in zip(back.nodes, _labels_order(graph)))
    # torch_geometric turns tuple labels into lists on clone(); from_graph undoes it
    assert DOMAIN.equal(graph, DOMAIN.from_graph(data.clone()))


def test_layout():
    graph = nx.Graph([("c", "a"), ("b", "c")])
    graph.add_node("z")
    data = DOMAIN.to_graph(graph)
    assert data.node_labels == ["a", "b", "c", "z"]
    assert data.num_nodes == 4
    assert data.edge_index.tolist() == [[0, 1, 2, 2], [2, 2, 0, 1]]
    assert data.edges.tolist() == [1, 1, 1, 1] and data.edges.dtype == torch.long
    DOMAIN.spec.validate(data)
    assert DOMAIN.spec.edge_field.num_classes == 2 and DOMAIN.spec.max_nodes == 500


def test_unsortable_labels_keep_insertion_order():
    graph = nx.Graph()
    graph.add_nodes_from([3, "x", 1, (0, "t")])
    graph.add_edge("x", (0, "t"))
    data = DOMAIN.to_graph(graph)
    assert data.node_labels == [3, "x", 1, (0, "t")]
    assert data.edge_index[:, 0].tolist() == [1, 3]
    assert list(DOMAIN.from_graph(data).nodes) == [3, "x", 1, (0, "t")]


def test_edgeless_graph():
    graph = nx.empty_graph(3)
    data = assert_roundtrip(DOMAIN, graph)
    assert data.edge_index.shape == (2, 0) and data.edges.shape == (0,)


@settings(max_examples=50, deadline=None)
@given(simple_edges(7))
def test_from_generated_graph_without_labels(edges):
    edge_index, classes = edges
    data = Data(num_nodes=7, edge_index=edge_index, edges=classes)
    graph = DOMAIN.from_graph(data)
    assert list(graph.nodes) == list(range(7))
    assert {tuple(sorted(e)) for e in graph.edges} == {
        (min(a, b), max(a, b)) for a, b in edge_index.t().tolist()}


def test_from_graph_accepts_one_direction_and_validates():
    data = Data(num_nodes=3, edge_index=torch.tensor([[0, 1], [1, 2]]), edges=torch.tensor([1, 1]))
    assert sorted(DOMAIN.from_graph(data).edges) == [(0, 1), (1, 2)]
    bad = Data(num_nodes=3, edge_index=torch.tensor([[0], [0]]), edges=torch.tensor([1]))
    with pytest.raises(GraphValidationError, match="self-loops"):
        DOMAIN.from_graph(bad)
    wrong = Data(num_nodes=2, edge_index=torch.tensor([[0], [1]]), edges=torch.tensor([1]),
                 node_labels=["a"])
    with pytest.raises(DataError, match="1 labels for 2 nodes"):
        DOMAIN.from_graph(wrong)
    wrong.node_labels = ["a", "a"]
    with pytest.raises(DataError, match="repeated labels"):
        DOMAIN.from_graph(wrong)


# ---------------------------------------------------------------------------- bad inputs
def test_directed_graphs_are_rejected():
    with pytest.raises(DataError, match="DiGraph is directed"):
        DOMAIN.to_graph(nx.DiGraph([(0, 1)]))


def test_multigraphs_are_rejected():
    with pytest.raises(DataError, match="MultiGraph is a multigraph"):
        DOMAIN.to_graph(nx.MultiGraph([(0, 1), (0, 1)]))


def test_self_loops_are_rejected_naming_nodes():
    graph = nx.Graph([(0, 1), ("a", "a")])
    with pytest.raises(DataError, match=r"1 self-loop\(s\), at node\(s\) 'a'"):
        DOMAIN.to_graph(graph)


def test_size_limits():
    with pytest.raises(DataError, match="no nodes"):
        DOMAIN.to_graph(nx.Graph())
    with pytest.raises(DataError, match="more than the 500 nodes"):
        DOMAIN.to_graph(nx.path_graph(501))
    assert SocialDomain(max_nodes=None).to_graph(nx.path_graph(501)).num_nodes == 501
    with pytest.raises(ValueError):
        SocialDomain(max_nodes=0)


def test_not_a_graph():
    with pytest.raises(DataError, match="expected a networkx.Graph, got list"):
        DOMAIN.to_graph([(0, 1)])


def test_dropped_attributes_warn_or_raise():
    graph = nx.Graph()
    graph.add_edge(0, 1, weight=3.0)
    graph.nodes[0]["club"] = "x"
    graph.graph["year"] = 1977
    with pytest.warns(DroppedAttributesWarning) as record:
        DOMAIN.to_graph(graph)
    msg = str(record[0].message)
    assert "node attribute 'club'" in msg and "edge attribute 'weight'" in msg
    assert "graph attribute 'year'" in msg
    with pytest.raises(DataError, match="edge attribute 'weight'.*strict_attrs=True"):
        DOMAIN.to_graph(graph, strict_attrs=True)
    with pytest.raises(DataError):
        SocialDomain(strict_attrs=True).to_graph(graph)


def test_graph_name_is_kept():
    graph = nx.path_graph(3)
    graph.graph["name"] = "p3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = DOMAIN.to_graph(graph)
    assert DOMAIN.from_graph(data).graph["name"] == "p3"


# ---------------------------------------------------------------------------- datasets
def test_builtin_graphs():
    graphs = builtin_graphs()
    sizes = {name: (g.number_of_nodes(), g.number_of_edges()) for name, g in graphs.items()}
    assert sizes == {"karate_club": (34, 78), "les_miserables": (77, 254),
                     "florentine_families": (15, 20), "davis_southern_women": (32, 89)}
    for name, graph in graphs.items():
        assert graph.graph["name"] == name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = DOMAIN.to_graph(graph)
        assert DOMAIN.equal(graph, DOMAIN.from_graph(data))
        if name == "florentine_families":
            assert not caught
        else:
            assert any(issubclass(w.category, DroppedAttributesWarning) for w in caught)
    with pytest.raises(DataError, match="edge attribute 'weight'"):
        DOMAIN.to_graph(graphs["karate_club"], strict_attrs=True)
    with pytest.raises(DataError, match="node attribute 'bipartite'"):
        DOMAIN.to_graph(graphs["davis_southern_women"], strict_attrs=True)


# ---------------------------------------------------------------------------- targets
def test_targets_known_values():
    triangle = nx.complete_graph(3)
    assert average_clustering(triangle) == 1.0
    assert average_clustering(nx.star_graph(4)) == 0.0
    assert density(nx.complete_graph(5)) == 1.0
    assert density(nx.path_graph(3)) == pytest.approx(2 / 3)
    assert density(nx.empty_graph(1)) == 0.0
    two_triangles = nx.disjoint_union(triangle, triangle)
    assert modularity(two_triangles) == pytest.approx(0.5)
    assert modularity(nx.empty_graph(4)) == 0.0
    assert modularity(nx.complete_graph(4)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(DataError, match="no nodes"):
        density(nx.Graph())


# ---------------------------------------------------------------------------- registration
def test_load_domain_through_entry_point():
    pm = PluginManager(autoload=True, allow=["social"], strict=True).load()
    domain = pm.registry("domains").get("social")
    assert isinstance(domain, SocialDomain)
    info = pm.plugins["social"]
    assert info.distribution == "graphdiff-social" and info.ok
    assert info.registered["domains"] == ["social", "social-weighted"]
    targets = ["average_clustering", "density", "modularity"]
    # the social-weighted domain holds the same graphs (plus weights): the same targets
    assert sorted(info.registered["targets"]) == sorted(f"{d}-{t}" for d in ("social", "social-weighted")
                                                        for t in targets)
    weighted = pm.registry("targets").get("social-weighted-density")
    assert weighted.domain == "social-weighted" and weighted(nx.complete_graph(3)) == 1.0
    target = pm.registry("targets").get("social-average_clustering")
    assert target(nx.complete_graph(3)) == 1.0 and target.domain == "social"
    assert isinstance(graphdiff.load_domain("social"), SocialDomain)



# ---------------------------------------------------------------------------- edge weights
WEIGHTED = SocialDomain(edge_attr="weight", name="social-weighted")


# the round trip of the weights and the errors of bad weights are tested with the traffic
# domain's lengths in tests/test_edge_values.py


def test_weighted_domain_spec_and_registration():
    assert WEIGHTED.spec.names == ["edges", "weight"]
    assert WEIGHTED.spec["weight"].kind.value == "continuous" and WEIGHTED.spec["weight"].level.value == "edge"
    registered = graphdiff.load_domain("social-weighted")
    assert registered.spec == WEIGHTED.spec and registered.edge_attr == "weight"
    with pytest.raises(ValueError, match="edge_attr='edge_index' cannot name a field"):
        SocialDomain(edge_attr="edge_index")
    # the weight is not dropped; other attributes still are, and the plain domain drops the weight
    graph = nx.Graph([(1, 2, {"weight": 1.5, "color": "red"})])
    with pytest.warns(DroppedAttributesWarning, match="edge attribute 'color'") as record:
        WEIGHTED.to_graph(graph)
    assert "'weight'" not in str(record[0].message).split("drops")[1]
    with pytest.warns(DroppedAttributesWarning, match="edge attribute 'weight'"):
        DOMAIN.to_graph(graph)


def test_generated_weights_are_written_back():
    data = Data(num_nodes=3, edge_index=torch.tensor([[0, 1, 1, 2], [1, 2, 0, 1]]),
                edges=torch.ones(4, dtype=torch.long), weight=torch.tensor([[0.5], [2.0], [0.5], [2.0]]))
    graph = WEIGHTED.from_graph(data)
    assert sorted(graph.edges(data="weight")) == [(0, 1, 0.5), (1, 2, 2.0)]
    data.weight[3, 0] = 3.0
    with pytest.raises(GraphValidationError, match="not symmetric"):
        WEIGHTED.from_graph(data)
