"""Graph readers and writers: GraphML, GML, edge lists, node-link JSON, folders, skip reports."""

from __future__ import annotations

import json
import re
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


# ---------------------------------------------------------------------------- bad input
# Every message names the file and the graph/node/edge/key at fault; nothing is merged or
# dropped silently (networkx's readers merge repeated nodes and edges and add undeclared nodes).
GRAPHML_HEAD = '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'


def _graphml(body: str, keys: str = "", edgedefault: str = "undirected") -> str:
    return f'{GRAPHML_HEAD}{keys}<graph edgedefault="{edgedefault}">{body}</graph></graphml>'


X_DOUBLE = '<key id="dx" for="node" attr.name="x" attr.type="double"/>'


@pytest.mark.parametrize("text, message", [
    (_graphml('<node id="a"><data key="dx">north</data></node>', X_DOUBLE),
     r"node 'a': attribute 'x' is 'north', not a double"),
    (_graphml('<node id="a"><data key="zz">1</data></node>'),
     r"node 'a': <data key='zz'> refers to no <key> element"),
    (_graphml('<node id="a"/><edge source="a" target="b"/>'),
     r"edge \('a', 'b'\): node 'b' has no <node> element"),
    (_graphml('<node id="a"/><node id="a"/>'), r"node 'a' is declared twice"),
    (_graphml('<node id="a"/><node id="b"/><edge id="e7" source="a" target="b" directed="true"/>'),
     r"edge 'e7' \('a', 'b'\) is marked directed='true' in a graph whose edgedefault is undirected"),
    (_graphml('<node id="a"><graph edgedefault="undirected"><node id="c"/></graph></node>'),
     r"node 'a' holds a nested <graph>"),
    (_graphml('<node id="a"/>', '<key id="d" for="node" attr.name="born" attr.type="date"/>'),
     r"<key id='d'> \(attribute 'born'\) has an unknown attr.type 'date'"),
    (_graphml('<node id="a"/>', '<key id="d" for="edge" attr.name="w" attr.type="double">'
                                '<default>heavy</default></key>'),
     r"<key id='d'> \(attribute 'w'\): the <default> 'heavy' is not a double"),
    ('<graphml><graph edgedefault="undirected"><node id="a"/></graph></graphml>',
     r"the root element <graphml> lacks the GraphML namespace"),
    (_graphml('<node id="a"/>').replace("</graph></graphml>", ""), r"not well-formed XML: .*line 1"),
], ids=["non-numeric", "unknown-key", "undeclared-node", "node-twice", "directed-edge", "nested",
        "unknown-type", "bad-default", "no-namespace", "truncated"])
def test_invalid_graphml_names_file_and_element(tmp_path, text, message):
    path = tmp_path / "bad.graphml"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"bad.graphml: corrupt or invalid GraphML: {message}"):
        list(DOMAIN.read(path))
    # in a folder the file is reported and skipped, the other files still read
    DOMAIN.write([nx.path_graph(2)], tmp_path / "good.graphml")
    skipped: list = []
    assert [r["id"] for r in DOMAIN.read(tmp_path, skipped=skipped)] == ["good.graphml"]
    assert [s["where"] for s in skipped] == [str(path)]


@pytest.mark.parametrize("edgedefault, body, message", [
    ("directed", '<node id="a"/><node id="b"/><edge source="a" target="b"/>', "DiGraph is directed"),
    ("undirected", '<node id="a"/><node id="b"/><edge source="a" target="b"/><edge source="b" target="a"/>',
     r"MultiGraph is a multigraph: 2 parallel edges between nodes 'a' and 'b'"),
    ("undirected", '<node id="a"/><node id="b"/><edge source="b" target="b"/>',
     r"1 self-loop\(s\), at node\(s\) 'b'"),
])
def test_graphs_the_domain_cannot_hold_name_file_and_element(tmp_path, edgedefault, body, message):
    path = tmp_path / "g.graphml"
    path.write_text(_graphml(body, edgedefault=edgedefault))
    skipped: list = []
    assert list(DOMAIN.read(path, skipped=skipped)) == []
    assert [s["where"] for s in skipped] == [str(path)] and re.search(message, skipped[0]["reason"])
    with pytest.raises(DataError, match=rf"g.graphml: {message}"):
        list(DOMAIN.read(path, strict=True))


def test_each_graph_of_a_graphml_file_is_judged_on_its_own(tmp_path):
    pair = '<node id="a"/><node id="b"/><edge source="a" target="b"/>'
    big = "".join(f'<node id="n{i}"/>' for i in range(501))
    text = (GRAPHML_HEAD
            + f'<graph edgedefault="undirected">{pair}<edge source="b" target="a"/></graph>'  # parallel
            + f'<graph edgedefault="undirected">{pair}</graph>'                                # fine
            + f'<graph edgedefault="undirected">{big}</graph>'                                 # too large
            + '<graph edgedefault="undirected"><node id="a"><data key="zz">1</data></node></graph>'
            + "</graphml>")
    path = tmp_path / "many.graphml"
    path.write_text(text)
    skipped: list = []
    records = list(DOMAIN.read(path, skipped=skipped))
    # networkx keeps "parallel edges seen" across the graphs of a file: graph 1 would be a MultiGraph
    assert [r["id"] for r in records] == ["many.graphml graph 1"]
    assert type(records[0]["obj"]) is nx.Graph and sorted(records[0]["obj"].edges) == [("a", "b")]
    reasons = {s["where"].replace(str(path), "F"): s["reason"] for s in skipped}
    assert set(reasons) == {"F graph 0", "F graph 2", "F graph 3"}
    assert "parallel edges between nodes 'a' and 'b'" in reasons["F graph 0"]
    assert "more than the 500 nodes" in reasons["F graph 2"]
    assert "node 'a': <data key='zz'> refers to no <key>" in reasons["F graph 3"]
    with pytest.raises(DataError, match=r"many.graphml graph 0: MultiGraph is a multigraph"):
        list(DOMAIN.read(path, strict=True))


def test_graphml_key_defaults_are_applied(tmp_path):
    keys = ('<key id="w" for="edge" attr.name="weight" attr.type="double"><default>1.5</default></key>'
            '<key id="c" for="node" attr.name="club" attr.type="string"><default>none</default></key>')
    body = ('<node id="a"><data key="c">x</data></node><node id="b"/>'
            '<edge source="a" target="b"/>')
    path = tmp_path / "defaults.graphml"
    path.write_text(_graphml(body, keys))
    (graph,) = read_graph_file(path)
    assert dict(graph.nodes(data="club")) == {"a": "x", "b": "none"}
    assert graph.edges["a", "b"]["weight"] == 1.5
    assert "node_default" not in graph.graph and "edge_default" not in graph.graph


@pytest.mark.parametrize("text, message", [
    ("a b\nb c\nb a\n", r"bad.edgelist line 3: edge \('b', 'a'\) repeats the edge of line 1"),
    ("a b\na b 2.0\n", r"bad.edgelist line 2: edge \('a', 'b'\) repeats the edge of line 1"),
])
def test_repeated_edges_in_an_edge_list_are_errors(tmp_path, text, message):
    path = tmp_path / "bad.edgelist"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        list(DOMAIN.read(path))


@pytest.mark.parametrize("graph, message", [
    ({"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}, r"node 'a' is listed twice \(nodes 0 and 1\)"),
    ({"nodes": [{"id": "a"}, {"name": "b"}], "edges": []}, r"node 1 has no 'id'"),
    ({"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "z"}]},
     r"edge 0 \('a', 'z'\): node 'z' is not in 'nodes'"),
    ({"nodes": [{"id": 0}, {"id": 1}], "edges": [{"source": 0, "target": 1}, {"source": 1, "target": 0}]},
     r"edge 1 \(1, 0\) repeats edge 0 in a graph not marked 'multigraph'"),
    ({"multigraph": True, "nodes": [{"id": 0}, {"id": 1}],
      "edges": [{"source": 0, "target": 1, "key": 0}, {"source": 0, "target": 1, "key": 1}]},
     r"MultiGraph is a multigraph: 2 parallel edges between nodes 0 and 1"),
])
def test_node_link_json_problems_name_the_item(tmp_path, graph, message):
    path = tmp_path / "bad.jsonl"
    good = {"nodes": [{"id": 0}, {"id": 1}], "edges": [{"source": 0, "target": 1}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(graph) + "\n")
    skipped: list = []
    assert [r["id"] for r in DOMAIN.read(path, skipped=skipped)] == ["bad.jsonl line 1"]
    assert skipped[0]["where"] == f"{path} line 2" and re.search(message, skipped[0]["reason"])
    with pytest.raises(DataError, match=rf"bad.jsonl line 2: {message}"):
        list(DOMAIN.read(path, strict=True))


def test_a_graph_database_keeps_node_labels(tmp_path):
    """`db build` stores each graph's node labels (GML's tuples stay tuples) and `db export`
    writes them back."""
    from click.testing import CliRunner
    from graphdiff.cli import cli
    from graphdiff.db import GraphDatabase

    src, db = tmp_path / "in", tmp_path / "g.db"
    src.mkdir()
    for k, graph in enumerate([nx.grid_2d_graph(2, 3), _sample_graph(["a", "b", "c", "lonely"]),
                               _sample_graph([3, "3", (1, "x")])]):
        write_graphs([graph], src / f"g{k}.gml")
    runner = CliRunner()
    res = runner.invoke(cli, ["db", "build", str(src), "-d", "social", "-o", str(db), "-q"])
    assert res.exit_code == 0 and "3 graph(s) stored" in res.output, res.output
    expected = [r["obj"] for r in DOMAIN.read(src)]
    with GraphDatabase.open(db) as opened:
        stored = [DOMAIN.from_graph(opened[k]) for k in range(len(opened))]
    assert all(_exact(a, b) for a, b in zip(expected, stored)) and (0, 1) in stored[0].nodes
    res = runner.invoke(cli, ["db", "export", str(db), "-o", str(tmp_path / "out.jsonl"), "-q"])
    assert res.exit_code == 0 and "3 graph(s) written" in res.output, res.output
    from graphdiff.graphio import graph_from_json
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    from_jsonl = [DOMAIN.from_graph(graph_from_json(json.loads(line), DOMAIN.spec)) for line in lines]
    assert all(_exact(a, b) for a, b in zip(expected, from_jsonl)) and (0, 1) in from_jsonl[0].nodes
