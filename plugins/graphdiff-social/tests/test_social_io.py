"""Graph readers and writers: GraphML, GML, edge lists, node-link JSON, folders, skip reports."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphdiff.errors import DataError
from graphdiff_social import SocialDomain
from graphdiff_social.io import read_graph_file, write_graphs
from graphdiff_social.testing import social_graphs
from networkx.readwrite.gml import literal_stringizer

DOMAIN = SocialDomain()
SUFFIXES = [".graphml", ".gml", ".edgelist", ".txt", ".json", ".jsonl"]


def _exact(a: nx.Graph, b: nx.Graph) -> bool:
    """Same labels (types included) and edges."""
    return (DOMAIN.equal(a, b)
            and sorted(map(repr, a.nodes)) == sorted(map(repr, b.nodes)))


def _sample_graph(labels):
    graph = nx.Graph()
    graph.add_nodes_from(labels)
    nodes = list(labels)
    graph.add_edges_from(zip(nodes[:-2], nodes[1:-1]))  # last node isolated
    return graph


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("labels", [
    ["a", "b", "c", "lonely"],
    [0, 5, -3, 7],
    [(0, "x"), (1, "y"), (2, "z"), (3, "w")],
    [1, "one", (1, "one"), 2.5],
], ids=["str", "int", "tuple", "mixed"])
def test_single_graph_roundtrip(tmp_path, suffix, labels):
    graph = _sample_graph(labels)
    path = tmp_path / f"g{suffix}"
    DOMAIN.write([graph], path)
    records = list(DOMAIN.read(path, strict=True))
    assert len(records) == 1
    assert records[0]["id"] == (f"{path.name} line 1" if suffix == ".jsonl" else path.name)
    assert _exact(records[0]["obj"], graph)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the files add no attributes of their own
        DOMAIN.to_graph(records[0]["obj"])


def _edgelist_text(graph, label):
    """How an edge list writes a label (literal unless every label is a str)."""
    literal = not all(isinstance(u, str) for u in graph.nodes)
    return literal_stringizer(label) if literal else label


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=social_graphs(max_nodes=8), suffix=st.sampled_from(SUFFIXES))
def test_roundtrip_property(tmp_path, graph, suffix):
    path = tmp_path / f"p{suffix}"
    try:
        DOMAIN.write([graph], path)
    except DataError as exc:  # only edge lists refuse labels, those that would not parse back
        assert suffix in (".edgelist", ".txt") and "cannot be written to an edge list" in str(exc)
        texts = [_edgelist_text(graph, u) for u in graph.nodes]
        assert any(t == "" or t.startswith("#") or any(c.isspace() for c in t) for t in texts)
        return
    (record,) = DOMAIN.read(path, strict=True)
    assert _exact(record["obj"], graph)


def test_edge_attributes_survive_files(tmp_path):
    graph = nx.Graph()
    graph.add_edge("a", "b", weight=2.5)
    graph.add_edge("b", "c", weight=1.0, kind="friend")
    for suffix in (".graphml", ".gml", ".edgelist", ".json"):
        path = tmp_path / f"w{suffix}"
        DOMAIN.write([graph], path)
        (back,) = read_graph_file(path)
        assert back.edges["a", "b"]["weight"] == 2.5
        assert back.edges["b", "c"]["kind"] == "friend"


def test_third_party_edge_list(tmp_path):
    path = tmp_path / "net.txt"
    path.write_text("# a comment\n1 2\n2 3 4.5\n3 4 {'weight': 2}\n9\n")
    (graph,) = read_graph_file(path)
    assert set(graph.nodes) == {"1", "2", "3", "4", "9"}
    assert graph.edges["2", "3"]["weight"] == 4.5 and graph.edges["3", "4"]["weight"] == 2
    (record,) = DOMAIN.read(path, node_type=int)
    assert set(record["obj"].nodes) == {1, 2, 3, 4, 9}


def test_third_party_gml_without_labels_and_old_links_json(tmp_path):
    gml = tmp_path / "net.gml"
    gml.write_text("graph [\n node [ id 0 ]\n node [ id 1 ]\n edge [ source 0 target 1 ]\n]\n")
    (graph,) = read_graph_file(gml)
    assert sorted(graph.edges) == [(0, 1)]
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"directed": False, "multigraph": False, "graph": {},
                               "nodes": [{"id": "a"}, {"id": "b"}], "links": [{"source": "a", "target": "b"}]}))
    (graph,) = read_graph_file(old)
    assert list(graph.edges) == [("a", "b")]


def test_many_graphs_per_file_and_folders(tmp_path):
    graphs = [nx.path_graph(3), nx.cycle_graph(4), nx.complete_graph(2)]
    for suffix in (".json", ".jsonl"):
        path = tmp_path / f"many{suffix}"
        DOMAIN.write(graphs, path)
        records = list(DOMAIN.read(path, strict=True))
        assert [DOMAIN.equal(r["obj"], g) for r, g in zip(records, graphs)] == [True] * 3
    assert [r["id"] for r in DOMAIN.read(tmp_path / "many.jsonl")] == [
        "many.jsonl line 1", "many.jsonl line 2", "many.jsonl line 3"]
    with pytest.raises(DataError, match="a graphml file holds one graph, got 3"):
        DOMAIN.write(graphs, tmp_path / "many.graphml")
    folder = tmp_path / "out"
    written = write_graphs(graphs, folder, fmt="gml")
    assert [p.name for p in written] == ["graph_00000.gml", "graph_00001.gml", "graph_00002.gml"]
    records = list(DOMAIN.read(folder, strict=True))
    assert [r["id"] for r in records] == [p.name for p in written]
    assert all(DOMAIN.equal(r["obj"], g) for r, g in zip(records, graphs))


def test_folder_reports_what_it_skips(tmp_path):
    folder = tmp_path / "graphs"
    folder.mkdir()
    DOMAIN.write([nx.path_graph(3)], folder / "a.graphml")
    DOMAIN.write([nx.DiGraph([(0, 1)])], folder / "b.json")
    (folder / "c.graphml").write_text("<graphml><graph><node id=")
    (folder / "d.pkl").write_bytes(b"\x80\x04")
    (folder / "e.jsonl").write_text(json.dumps(nx.node_link_data(nx.path_graph(2), edges="edges"))
                                    + "\n{not json\n"
                                    + json.dumps(nx.node_link_data(nx.Graph([(1, 1)]), edges="edges"))
                                    + "\n")
    (folder / "sub").mkdir()
    DOMAIN.write([nx.path_graph(4)], folder / "sub" / "f.gml")
    skipped: list = []
    records = list(DOMAIN.read(folder, skipped=skipped))
    assert [r["id"] for r in records] == ["a.graphml", "e.jsonl line 1"]
    reasons = {s["where"].replace(str(folder), "F"): s["reason"] for s in skipped}
    assert set(reasons) == {"F/b.json", "F/c.graphml", "F/d.pkl", "F/e.jsonl line 2",
                            "F/e.jsonl line 3", "F/sub"}
    assert "directed" in reasons["F/b.json"]
    assert "corrupt or invalid GraphML" in reasons["F/c.graphml"]
    assert "unsupported suffix '.pkl'" in reasons["F/d.pkl"]
    assert "invalid JSON" in reasons["F/e.jsonl line 2"]
    assert "self-loop" in reasons["F/e.jsonl line 3"]
    assert "recursive=True" in reasons["F/sub"]
    nested = list(DOMAIN.read(folder, recursive=True, skipped=[]))
    assert "sub/f.gml" in [r["id"] for r in nested]
    with pytest.raises(DataError, match="b.json: .*directed"):
        list(DOMAIN.read(folder, strict=True))


def test_corrupt_single_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.graphml"
    bad.write_text("<graphml><graph><node id='a'/>")
    with pytest.raises(DataError, match=r"broken.graphml: corrupt or invalid GraphML"):
        list(DOMAIN.read(bad))
    gml = tmp_path / "broken.gml"
    gml.write_text("graph [ node [ id 0 ")
    with pytest.raises(DataError, match=r"broken.gml: corrupt or invalid GML"):
        list(DOMAIN.read(gml))
    js = tmp_path / "broken.json"
    js.write_text("{")
    with pytest.raises(DataError, match=r"broken.json: invalid JSON"):
        list(DOMAIN.read(js))
    el = tmp_path / "broken.edgelist"
    el.write_text("a b\nc d not-a-number\n")
    with pytest.raises(DataError, match=r"broken.edgelist line 2: expected 'u v'"):
        list(DOMAIN.read(el))
    with pytest.raises(DataError, match="no such file or folder"):
        list(DOMAIN.read(tmp_path / "missing.graphml"))
    (tmp_path / "x.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(DataError, match="unsupported suffix '.pkl'"):
        list(DOMAIN.read(tmp_path / "x.pkl"))


def test_invalid_graphs_in_a_file_are_skipped(tmp_path):
    path = tmp_path / "loops.json"
    DOMAIN.write([nx.Graph([(0, 0)]), nx.path_graph(2)], path)
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    assert [r["id"] for r in records] == ["loops.json item 1"]
    assert skipped[0]["where"] == f"{path} item 0" and "self-loop" in skipped[0]["reason"]
    with pytest.warns(RuntimeWarning, match="skipped .*item 0"):
        list(DOMAIN.read(path))
    big = tmp_path / "big.graphml"
    DOMAIN.write([nx.path_graph(600)], big)
    skipped = []
    assert list(DOMAIN.read(big, skipped=skipped)) == []
    assert "more than the 500 nodes" in skipped[0]["reason"]


def test_writer_errors(tmp_path):
    with pytest.raises(DataError, match="unsupported suffix '.pkl'"):
        DOMAIN.write([nx.path_graph(2)], tmp_path / "g.pkl")
    spaced = nx.Graph([("a b", "c")])
    with pytest.raises(DataError, match="node 'a b' cannot be written to an edge list"):
        DOMAIN.write([spaced], tmp_path / "g.edgelist")
    listy = nx.Graph()
    listy.add_node(0, tags=[1, 2])
    with pytest.raises(DataError, match="g.graphml: cannot write as GRAPHML"):
        DOMAIN.write([listy], tmp_path / "g.graphml")
    with pytest.raises(DataError, match="edge list holds one simple undirected graph"):
        DOMAIN.write([nx.DiGraph([(0, 1)])], tmp_path / "d.edgelist")
    assert not any(p.suffix == ".tmp" for p in tmp_path.iterdir())
