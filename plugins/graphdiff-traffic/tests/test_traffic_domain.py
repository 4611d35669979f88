"""The traffic domain: conversion, the length model, bad inputs, generators, targets, registration."""

from __future__ import annotations

import math
import warnings

import networkx as nx
import pytest
import torch
from hypothesis import given, settings

import graphdiff
from graphdiff.errors import DataError
from graphdiff.nxgraph import DroppedAttributesWarning
from graphdiff.plugins import PluginManager
from graphdiff.testing import assert_roundtrip
from graphdiff_traffic import LengthMismatchWarning, TrafficDomain, road_like_graphs
from graphdiff_traffic.targets import global_efficiency, mean_edge_length, spatial_efficiency
from graphdiff_traffic.testing import road_networks

DOMAIN = TrafficDomain()


def _road(*edges, coords=None):
    graph = nx.Graph()
    coords = coords or {}
    for u, (x, y) in coords.items():
        graph.add_node(u, x=x, y=y)
    for u, v, *length in edges:
        graph.add_edge(u, v, **({"length": length[0]} if length else {}))
    return graph


SQUARE = {0: (0.0, 0.0), 1: (100.0, 0.0), 2: (100.0, 100.0), 3: (0.0, 100.0)}


@settings(max_examples=300, deadline=None)
@given(road_networks(max_nodes=12))
def test_roundtrip(graph):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # straight-line lengths, no extra attributes: no warnings
        data = assert_roundtrip(DOMAIN, graph)
    back = DOMAIN.from_graph(data)
    assert list(back.nodes) == sorted(graph.nodes)
    for u in graph.nodes:  # float64 storage: coordinates come back exactly
        assert back.nodes[u]["x"] == graph.nodes[u]["x"] and back.nodes[u]["y"] == graph.nodes[u]["y"]
    for u, v, length in back.edges(data="length"):
        a, b = graph.nodes[u], graph.nodes[v]
        assert length == pytest.approx(math.hypot(a["x"] - b["x"], a["y"] - b["y"]), rel=1e-12, abs=1e-9)


def test_layout_and_derived_lengths():
    graph = _road((1, 2), (2, 3, 100.0), coords={3: (0.0, 100.0), 1: (0.0, 0.0), 2: (100.0, 100.0)})
    data = DOMAIN.to_graph(graph)
    DOMAIN.spec.validate(data)
    assert data.coords.dtype == torch.float64
    assert data.coords.tolist() == [[0.0, 0.0], [100.0, 100.0], [0.0, 100.0]]
    assert data.node_labels == [1, 2, 3]
    back = DOMAIN.from_graph(data)
    assert back.edges[1, 2]["length"] == pytest.approx(100 * math.sqrt(2))
    assert back.edges[2, 3]["length"] == 100.0


def test_float32_option():
    domain = TrafficDomain(dtype=torch.float32)
    graph = _road((0, 1), coords={0: (0.1, 0.2), 1: (512345.678, 4123456.789)})
    data = domain.to_graph(graph)
    assert data.coords.dtype == torch.float32
    assert domain.equal(graph, domain.from_graph(data))  # within float32 rounding
    assert not DOMAIN.equal(graph, domain.from_graph(data))  # not exact


def test_equal_compares_coordinates():
    a = _road((0, 1), coords={0: (0.0, 0.0), 1: (3.0, 4.0)})
    b = _road((0, 1), coords={0: (0.0, 0.0), 1: (3.0, 4.000001)})
    assert DOMAIN.equal(a, a.copy()) and not DOMAIN.equal(a, b)
    assert not DOMAIN.equal(a, _road(coords={0: (0.0, 0.0), 1: (3.0, 4.0)}))


# ---------------------------------------------------------------------------- the length model
def test_longer_lengths_warn_shorter_lengths_fail():
    curved = _road((0, 1, 130.0), (1, 2, 100.0), coords=SQUARE)
    with pytest.warns(LengthMismatchWarning, match=r"1 of 2 edges .*edge \(0, 1\), 130 m vs 100 m"):
        data = DOMAIN.to_graph(curved)
    assert DOMAIN.from_graph(data).edges[0, 1]["length"] == 100.0
    short = _road((0, 1, 60.0), coords=SQUARE)
    with pytest.raises(DataError, match=r"edge \(0, 1\) has length 60 m, shorter than the straight-line"):
        DOMAIN.to_graph(short)
    # projection scale factors: 0.04 % shorter is within tolerance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DOMAIN.to_graph(_road((0, 1, 99.96), coords=SQUARE))
    with pytest.raises(DataError, match="non-numeric or non-finite length"):
        DOMAIN.to_graph(_road((0, 1, "100"), coords=SQUARE))
    with pytest.raises(DataError, match="non-numeric or non-finite length"):
        DOMAIN.to_graph(_road((0, 1, float("nan")), coords=SQUARE))


# ---------------------------------------------------------------------------- bad inputs
def test_missing_and_bad_coordinates_name_the_node():
    graph = _road((0, 1), coords={0: (0.0, 0.0)})
    with pytest.raises(DataError, match="node 1 has no 'x' coordinate"):
        DOMAIN.to_graph(graph)
    graph = _road(coords={"a": (0.0, "12.5")})
    with pytest.raises(DataError, match=r"node 'a' has a non-numeric 'y': '12.5' \(str\)"):
        DOMAIN.to_graph(graph)
    graph = _road(coords={"a": (float("inf"), 0.0)})
    with pytest.raises(DataError, match="node 'a' has a non-finite 'x'"):
        DOMAIN.to_graph(graph)
    graph = _road(coords={"a": (True, 0.0)})
    with pytest.raises(DataError, match="non-numeric 'x'"):
        DOMAIN.to_graph(graph)


def _osmnx_like():
    graph = nx.MultiDiGraph(crs="epsg:32633")
    for u, (x, y) in SQUARE.items():
        graph.add_node(u, x=x, y=y, street_count=2)
    graph.add_edge(0, 1, length=100.0, osmid=11)
    graph.add_edge(1, 0, length=100.0, osmid=11)
    graph.add_edge(1, 2, length=120.0, osmid=12)
    graph.add_edge(1, 2, length=100.0, osmid=13)  # parallel, shorter
    graph.add_edge(2, 3, length=100.0, osmid=14)
    return graph


def test_osmnx_multidigraph_needs_undirected():
    graph = _osmnx_like()
    with pytest.raises(DataError, match="MultiDiGraph is directed.*pass undirected=True"):
        DOMAIN.to_graph(graph)
    with pytest.raises(DataError, match="MultiGraph is a multigraph.*undirected=True"):
        DOMAIN.to_graph(nx.MultiGraph(graph.to_undirected()))
    with pytest.warns(DroppedAttributesWarning, match="node attribute 'street_count'.*edge attribute 'osmid'"):
        data = DOMAIN.to_graph(graph, undirected=True, strict_attrs=False)
    back = DOMAIN.from_graph(data)
    assert sorted(back.edges) == [(0, 1), (1, 2), (2, 3)]
    with pytest.warns(DroppedAttributesWarning):
        assert TrafficDomain(undirected=True).to_graph(graph).num_nodes == 4
    with pytest.raises(DataError, match="strict_attrs=True"):
        DOMAIN.to_graph(graph, undirected=True, strict_attrs=True)


def test_undirected_merge_keeps_the_shortest_parallel_edge():
    from graphdiff_traffic import to_simple_undirected

    merged = to_simple_undirected(_osmnx_like())
    assert type(merged) is nx.Graph
    assert merged.edges[1, 2]["length"] == 100.0 and merged.edges[1, 2]["osmid"] == 13
    assert merged.graph["crs"] == "epsg:32633" and merged.nodes[0]["street_count"] == 2


def test_other_bad_inputs():
    with pytest.raises(DataError, match="geographic"):
        DOMAIN.to_graph(_with_crs("EPSG:4326"))
    with pytest.raises(DataError, match="geographic"):
        DOMAIN.to_graph(_with_crs("+proj=longlat +datum=WGS84 +no_defs"))
    with pytest.warns(DroppedAttributesWarning, match="graph attribute 'crs'"):
        DOMAIN.to_graph(_with_crs("+proj=utm +zone=33 +ellps=WGS84 +datum=WGS84 +units=m +no_defs"))
    with pytest.raises(DataError, match="self-loop"):
        DOMAIN.to_graph(_road((0, 0), coords=SQUARE))
    with pytest.raises(DataError, match="no nodes"):
        DOMAIN.to_graph(nx.Graph())
    small = TrafficDomain(max_nodes=3)
    with pytest.raises(DataError, match="more than the 3 nodes"):
        small.to_graph(_road(coords=SQUARE))
    with pytest.raises(DataError, match="expected a networkx graph, got dict"):
        DOMAIN.to_graph(SQUARE)
    with pytest.raises(ValueError, match="floating dtype"):
        TrafficDomain(dtype=torch.long)
    with pytest.raises(ValueError, match="max_nodes"):
        TrafficDomain(max_nodes=0)


def _with_crs(crs):
    graph = _road((0, 1), coords=SQUARE)
    graph.graph["crs"] = crs
    return graph


# ---------------------------------------------------------------------------- generators
def _segments_cross(p1, p2, p3, p4):
    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(p3, p4, p1), orient(p3, p4, p2)
    d3, d4 = orient(p1, p2, p3), orient(p1, p2, p4)
    return d1 * d2 < 0 and d3 * d4 < 0


@pytest.mark.parametrize("kind", ["grid", "delaunay"])
def test_road_like_graphs_are_planar_connected_and_convert(kind):
    graphs = road_like_graphs(12, seed=7, kind=kind, min_nodes=16, max_nodes=60)
    assert len(graphs) == 12
    for graph in graphs:
        assert 16 <= graph.number_of_nodes() <= 60
        assert nx.is_connected(graph)
        assert graph.graph["name"].startswith(f"road-{kind}-")
        xy = {u: (d["x"], d["y"]) for u, d in graph.nodes(data=True)}
        edges = list(graph.edges)
        for k, (a, b) in enumerate(edges):
            assert graph.edges[a, b]["length"] == pytest.approx(math.dist(xy[a], xy[b]))
            for c, d in edges[k + 1:]:
                if len({a, b, c, d}) == 4:
                    assert not _segments_cross(xy[a], xy[b], xy[c], xy[d]), (a, b, c, d)
        lengths = [graph.edges[e]["length"] for e in edges]
        assert 20 < sum(lengths) / len(lengths) < 250  # metres, around the 100 m spacing
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_roundtrip(DOMAIN, graph)


def test_road_like_graphs_are_seeded():
    a, b = road_like_graphs(5, seed=3), road_like_graphs(5, seed=3)
    c = road_like_graphs(5, seed=4)
    assert all(DOMAIN.equal(x, y) for x, y in zip(a, b))
    assert not all(DOMAIN.equal(x, y) for x, y in zip(a, c))
    with pytest.raises(ValueError, match="kind"):
        road_like_graphs(1, 0, kind="hexagonal")
    with pytest.raises(ValueError, match="no grid"):
        road_like_graphs(1, 0, kind="grid", min_nodes=5, max_nodes=5)


# ---------------------------------------------------------------------------- targets
def test_targets_known_values():
    triangle = _road((0, 1), (1, 2), (0, 2), coords={0: (0.0, 0.0), 1: (3.0, 0.0), 2: (0.0, 4.0)})
    assert global_efficiency(triangle) == 1.0
    assert mean_edge_length(triangle) == pytest.approx(4.0)  # (3 + 5 + 4) / 3
    assert spatial_efficiency(triangle) == pytest.approx(1.0)
    path = _road((0, 1), (1, 2), coords={0: (0.0, 0.0), 1: (1.0, 0.0), 2: (2.0, 0.0)})
    assert global_efficiency(path) == pytest.approx(5 / 6)
    assert spatial_efficiency(path) == pytest.approx(1.0)  # collinear: routes are straight
    square = _road((0, 1), (1, 2), (2, 3), coords=SQUARE)  # open ring: detours
    assert 0 < spatial_efficiency(square) < 1
    lonely = _road(coords={0: (0.0, 0.0), 1: (1.0, 1.0)})
    assert mean_edge_length(lonely) == 0.0 and spatial_efficiency(lonely) == 0.0
    with pytest.raises(DataError, match="node 1 has no 'x'"):
        mean_edge_length(_road((0, 1), coords={0: (0.0, 0.0)}))


# ---------------------------------------------------------------------------- registration
def test_load_domain_through_entry_point():
    pm = PluginManager(autoload=True, allow=["traffic"], strict=True).load()
    domain = pm.registry("domains").get("traffic")
    assert isinstance(domain, TrafficDomain)
    info = pm.plugins["traffic"]
    assert info.distribution == "graphdiff-traffic" and info.ok
    targets = ["global_efficiency", "mean_edge_length", "spatial_efficiency"]
    # the traffic-lengths domain holds the same networks (plus kept lengths): the same targets
    assert sorted(info.registered["targets"]) == sorted(f"{d}-{t}" for d in ("traffic", "traffic-lengths")
                                                        for t in targets)
    assert pm.registry("targets").get("traffic-mean_edge_length").units == "m"
    kept = pm.registry("targets").get("traffic-lengths-mean_edge_length")
    assert kept.domain == "traffic-lengths" and kept.units == "m"
    assert isinstance(graphdiff.load_domain("traffic"), TrafficDomain)


def test_traffic_registers_the_dng_metric_on_road_networks(monkeypatch):
    from graphdiff.metrics import dng_metric

    for var in ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    pm = PluginManager(autoload=True, allow=["traffic"], strict=True).load()
    metric = pm.registry("metrics").get("traffic-dng")
    assert metric is dng_metric and pm.plugins["traffic"].registered["metrics"] == ["traffic-dng"]
    grids = [{"id": f"g{i}", "obj": g} for i, g in enumerate(road_like_graphs(4, 0, kind="grid"))]
    result = metric(grids, grids, train=None, k=None, dataset="planar")
    assert result["validity"] == 1.0 and result["novelty"] is None
    assert all(v == 0.0 for v in result["mmd"].values())


def test_bundled_roads_model_is_listed_and_draws_networks_of_the_requested_scale(tmp_path):
    from click.testing import CliRunner

    from graphdiff.checkpoints import find_named
    from graphdiff.cli import cli
    from graphdiff.metrics.vun import segments_conflict

    entry = find_named("roads-dng")
    assert entry.path.stat().st_size < 20e6
    listed = CliRunner().invoke(cli, ["checkpoints"])
    assert listed.exit_code == 0 and "roads-dng" in listed.output and "vun" in listed.output
    out = tmp_path / "gen"
    lengths = {}
    for request in (60.0, 160.0):
        res = CliRunner().invoke(cli, ["sample", "-c", "roads-dng", "-n", "3", "--steps", "30", "-q", "--seed", "0",
                                       "--target", f"traffic-mean_edge_length={request}",
                                       "--out", str(out / f"{request:.0f}.jsonl")])
        assert res.exit_code == 0, res.output
        graphs = [r["obj"] for r in DOMAIN.read(out / f"{request:.0f}.jsonl")]
        assert len(graphs) == 3
        for g in graphs:
            assert g.graph["requested_traffic-mean_edge_length"] == pytest.approx(request)
            xy = {u: (d["x"], d["y"]) for u, d in g.nodes(data=True)}
            edges = list(g.edges)
            assert edges and all(math.isclose(d["length"], math.dist(xy[u], xy[v]), rel_tol=1e-6)
                                 for u, v, d in g.edges(data=True))
            assert not any(segments_conflict(xy, a, b, c, d) for i, (a, b) in enumerate(edges)
                           for c, d in edges[i + 1:])
        lengths[request] = sum(mean_edge_length(g) for g in graphs) / len(graphs)
    # the condition steers the scale: blocks of 60 m against blocks of 160 m
    assert lengths[160.0] > 1.8 * lengths[60.0]



# ---------------------------------------------------------------------------- kept lengths
LENGTHS = TrafficDomain(edge_lengths=True, name="traffic-lengths")


# the round trip of the kept lengths and the errors of bad lengths are tested with the social
# domain's weights in tests/test_edge_values.py


def test_kept_lengths_spec_registration_and_generated_lengths():
    assert LENGTHS.spec.names == ["edges", "coords", "length"]
    assert DOMAIN.spec.names == ["edges", "coords"]   # the default domain is unchanged
    registered = graphdiff.load_domain("traffic-lengths")
    assert registered.spec == LENGTHS.spec and registered.edge_lengths
    # a generated length is written back as it is, not replaced by the distance
    from torch_geometric.data import Data
    data = Data(num_nodes=2, edge_index=torch.tensor([[0, 1], [1, 0]]), edges=torch.ones(2, dtype=torch.long),
                coords=torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64),
                length=torch.tensor([[7.5], [7.5]], dtype=torch.float64))
    assert LENGTHS.from_graph(data).edges[0, 1]["length"] == 7.5
    assert DOMAIN.from_graph(data).edges[0, 1]["length"] == 5.0
    # kept lengths are compared by equal
    a = _road((0, 1, 7.5), coords={0: (0.0, 0.0), 1: (3.0, 4.0)})
    b = _road((0, 1, 6.0), coords={0: (0.0, 0.0), 1: (3.0, 4.0)})
    assert not LENGTHS.equal(a, b) and DOMAIN.equal(a, b)
