"""Traffic readers and writers: GraphML (as OSMnx saves it), GML, node-link JSON, folders."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest

from graphdiff.errors import DataError
from graphdiff_traffic import TrafficDomain, road_like_graphs

DOMAIN = TrafficDomain()


@pytest.mark.parametrize("suffix", [".graphml", ".gml", ".json"])
def test_single_network_roundtrip_is_exact(tmp_path, suffix):
    (graph,) = road_like_graphs(1, seed=11)
    path = tmp_path / f"road{suffix}"
    DOMAIN.write([graph], path)
    (record,) = DOMAIN.read(path, strict=True)
    back = record["obj"]
    assert DOMAIN.equal(back, graph)
    assert back.graph["name"] == graph.graph["name"]
    for u, d in graph.nodes(data=True):
        assert back.nodes[u]["x"] == d["x"] and back.nodes[u]["y"] == d["y"]
    for u, v, length in graph.edges(data="length"):
        assert back.edges[u, v]["length"] == length
    data = DOMAIN.to_graph(back)
    assert DOMAIN.equal(DOMAIN.from_graph(data), graph)


def test_many_networks_jsonl_and_folder(tmp_path):
    graphs = road_like_graphs(4, seed=2, max_nodes=40)
    DOMAIN.write(graphs, tmp_path / "roads.jsonl")
    records = list(DOMAIN.read(tmp_path / "roads.jsonl", strict=True))
    assert [r["id"] for r in records] == [f"roads.jsonl line {k}" for k in range(1, 5)]
    assert all(DOMAIN.equal(r["obj"], g) for r, g in zip(records, graphs))
    folder = tmp_path / "city"
    DOMAIN.write(graphs, folder)  # one GraphML per network
    records = list(DOMAIN.read(folder, strict=True))
    assert [r["id"] for r in records] == [f"graph_{k:05d}.graphml" for k in range(4)]
    assert all(DOMAIN.equal(r["obj"], g) for r, g in zip(records, graphs))


def _osmnx_graphml(path):
    """A file shaped like osmnx.save_graphml: MultiDiGraph, every attribute a string."""
    graph = nx.MultiDiGraph(crs="epsg:32633", created_with="OSMnx")
    coords = {1001: ("500000.5", "4649776.25"), 1002: ("500100.5", "4649776.25"),
              1003: ("500100.5", "4649876.25")}
    for u, (x, y) in coords.items():
        graph.add_node(u, x=x, y=y, street_count="2")
    graph.add_edge(1001, 1002, key=0, length="100.0", osmid="7", highway="residential")
    graph.add_edge(1002, 1001, key=0, length="100.0", osmid="7", highway="residential")
    graph.add_edge(1002, 1003, key=0, length="131.5", osmid="8", highway="tertiary")
    graph.add_edge(1002, 1003, key=1, length="100.02", osmid="9", highway="service")
    nx.write_graphml(graph, path)


def test_osmnx_style_graphml(tmp_path):
    path = tmp_path / "osm.graphml"
    _osmnx_graphml(path)
    skipped: list = []
    assert list(DOMAIN.read(path, skipped=skipped)) == []
    assert "directed" in skipped[0]["reason"] and "undirected=True" in skipped[0]["reason"]
    (record,) = DOMAIN.read(path, undirected=True, node_type=int, strict=True)
    graph = record["obj"]
    assert type(graph) is nx.Graph and sorted(graph.nodes) == [1001, 1002, 1003]
    assert graph.nodes[1001]["x"] == 500000.5 and graph.nodes[1003]["y"] == 4649876.25
    assert graph.edges[1002, 1003]["length"] == 100.02  # shortest parallel edge kept
    with pytest.warns(Warning) as caught:
        data = DOMAIN.to_graph(graph)
    assert any("osmid" in str(w.message) for w in caught)
    assert data.coords[0].tolist() == [500000.5, 4649776.25]  # exact in float64
    assert data.node_labels == [1001, 1002, 1003]


def test_bad_networks_are_reported(tmp_path):
    good, = road_like_graphs(1, seed=1, max_nodes=20)
    no_x = nx.Graph([(0, 1)])
    no_x.nodes[0].update(x=0.0, y=0.0)
    no_x.nodes[1].update(y=3.0)
    words = nx.Graph()
    words.add_node("a", x="north", y=1.0)
    path = tmp_path / "mixed.jsonl"
    DOMAIN.write([good, no_x, words], path)
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["mixed.jsonl line 1"]
    assert skipped[0]["where"] == f"{path} line 2"
    assert "node 1 has no 'x' coordinate" in skipped[0]["reason"]
    assert "node 'a' has a non-numeric 'x': 'north'" in skipped[1]["reason"]
    with pytest.raises(DataError, match=r"mixed.jsonl line 2: node 1 has no 'x'"):
        list(DOMAIN.read(path, strict=True))


def test_formats_the_domain_does_not_handle(tmp_path):
    graph, = road_like_graphs(1, seed=5, max_nodes=20)
    with pytest.raises(DataError, match="cannot hold node coordinates|writes"):
        DOMAIN.write([graph], tmp_path / "road.edgelist")
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "edges.edgelist").write_text("0 1\n")
    DOMAIN.write([graph], folder / "ok.json")
    skipped: list = []
    assert [r["id"] for r in DOMAIN.read(folder, skipped=skipped)] == ["ok.json"]
    assert "unsupported suffix '.edgelist'" in skipped[0]["reason"]
    with pytest.raises(DataError, match="unsupported suffix"):
        list(DOMAIN.read(folder / "edges.edgelist"))
    bad = tmp_path / "broken.graphml"
    bad.write_text("<graphml><graph>")
    with pytest.raises(DataError, match="broken.graphml: corrupt or invalid GraphML"):
        list(DOMAIN.read(bad))
    js = tmp_path / "old.json"
    js.write_text(json.dumps({"nodes": [{"id": 0, "x": 0, "y": 0}, {"id": 1, "x": 3, "y": 4}],
                              "links": [{"source": 0, "target": 1, "length": 5}]}))
    (record,) = DOMAIN.read(js, strict=True)
    assert DOMAIN.from_graph(DOMAIN.to_graph(record["obj"])).edges[0, 1]["length"] == 5.0


# ---------------------------------------------------------------------------- bad input
# OSMnx-shaped GraphML (every attribute a string) with one problem each: the message names the
# file and the node, edge or graph; the file's network is never read with the problem dropped.
def _road_graphml(path, *, nodes=None, edges=None, keys=None, edgedefault="undirected"):
    keys = keys or {"x": ("node", "string"), "y": ("node", "string"), "length": ("edge", "string")}
    nodes = nodes if nodes is not None else {"1": {"x": "0", "y": "0"}, "2": {"x": "30", "y": "40"}}
    edges = edges if edges is not None else [("1", "2", {"length": "50.0"})]
    ids = {name: f"d{k}" for k, name in enumerate(keys)}
    text = ['<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">']
    text += [f'<key id="{ids[n]}" for="{f}" attr.name="{n}" attr.type="{t}"/>' for n, (f, t) in keys.items()]
    text.append(f'<graph edgedefault="{edgedefault}">')
    for u, attrs in nodes.items():
        data = "".join(f'<data key="{ids[k]}">{v}</data>' for k, v in attrs.items())
        text.append(f'<node id="{u}">{data}</node>')
    for u, v, attrs in edges:
        data = "".join(f'<data key="{ids[k]}">{x}</data>' for k, x in attrs.items())
        text.append(f'<edge source="{u}" target="{v}">{data}</edge>')
    text.append("</graph></graphml>")
    path.write_text("".join(text))
    return path


def test_a_valid_osmnx_style_file(tmp_path):
    (record,) = DOMAIN.read(_road_graphml(tmp_path / "ok.graphml"), node_type=int, strict=True)
    assert record["obj"].nodes[2] == {"x": 30.0, "y": 40.0} and record["obj"].edges[1, 2]["length"] == 50.0


@pytest.mark.parametrize("case, message", [
    ({"nodes": {"1": {"x": "0", "y": "0"}, "2": {"y": "40"}}},
     r"node '2' has no 'x' coordinate"),
    ({"nodes": {"1": {"x": "0", "y": "0"}, "2": {"x": "30"}}},
     r"node '2' has no 'y' coordinate"),
    ({"nodes": {"1": {"x": "0", "y": "0"}, "2": {"x": "east", "y": "40"}}},
     r"node '2' has a non-numeric 'x': 'east'"),
    ({"nodes": {"1": {"x": "0", "y": "nan"}, "2": {"x": "30", "y": "40"}}},
     r"node '1' has a non-finite 'y'"),
    ({"edges": [("1", "2", {"length": "long"})]},
     r"edge \('1', '2'\) has a non-numeric or non-finite length 'long'"),
    ({"edges": [("1", "2", {"length": "5"})]},
     r"edge \('1', '2'\) has length 5 m, shorter than the straight-line distance 50 m"),
    ({"edges": [("1", "2", {"length": "50"}), ("2", "2", {})]},
     r"1 self-loop\(s\), at node\(s\) '2'"),
    ({"edges": [("1", "2", {"length": "50"}), ("2", "1", {"length": "50"})]},
     r"MultiGraph is a multigraph: 2 parallel edges between nodes '1' and '2'.*undirected=True"),
    ({"edgedefault": "directed"}, r"DiGraph is directed.*undirected=True"),
    ({"nodes": {str(i): {"x": str(i), "y": "0"} for i in range(1001)}, "edges": []},
     r"Graph with 1001 nodes and 0 edges has more than the 1000 nodes the 'traffic' domain allows"),
], ids=["no-x", "no-y", "text-x", "nan-y", "text-length", "short-length", "self-loop", "parallel",
        "directed", "too-large"])
def test_bad_networks_in_graphml_name_file_and_element(tmp_path, case, message):
    path = _road_graphml(tmp_path / "city.graphml", **case)
    skipped: list = []
    assert list(DOMAIN.read(path, skipped=skipped)) == []
    assert [s["where"] for s in skipped] == [str(path)]
    assert re.search(message, skipped[0]["reason"]), skipped[0]["reason"]
    with pytest.raises(DataError, match=rf"city.graphml: {message}"):
        list(DOMAIN.read(path, strict=True))


@pytest.mark.parametrize("case, message", [
    ({"keys": {"x": ("node", "double"), "y": ("node", "double")},
      "nodes": {"1": {"x": "0", "y": "0"}, "2": {"x": "east", "y": "40"}}, "edges": [("1", "2", {})]},
     r"node '2': attribute 'x' is 'east', not a double"),
    ({"keys": {"x": ("node", "double"), "y": ("node", "double"), "length": ("edge", "double")},
      "nodes": {"1": {"x": "0", "y": "0"}, "2": {"x": "30", "y": "40"}},
      "edges": [("1", "2", {"length": "fifty"})]},
     r"edge \('1', '2'\): attribute 'length' is 'fifty', not a double"),
    ({"edges": [("1", "3", {"length": "50"})]}, r"edge \('1', '3'\): node '3' has no <node> element"),
], ids=["typed-x", "typed-length", "undeclared-node"])
def test_corrupt_graphml_names_file_and_element(tmp_path, case, message):
    path = _road_graphml(tmp_path / "city.graphml", **case)
    with pytest.raises(DataError, match=rf"city.graphml: corrupt or invalid GraphML: {message}"):
        list(DOMAIN.read(path))
