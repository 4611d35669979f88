"""Reading GraphML strictly: every problem is reported with the file and the element it is in.

networkx's :class:`~networkx.readwrite.graphml.GraphMLReader` parses the file; this module adds
the checks it leaves out and names the element at fault:

- a ``<data>`` value that is not of its key's ``attr.type`` (``x = "north"`` for a ``double``),
  a ``<data>`` referring to no ``<key>``, a key with an unknown type or a bad ``<default>``:
  networkx raises with neither the node nor the edge named;
- an edge whose ``source`` or ``target`` has no ``<node>`` element (networkx adds the node
  silently), a node declared twice (networkx merges the two silently), a node holding a nested
  ``<graph>`` (networkx drops it silently, except in yFiles group nodes);
- an edge marked ``directed="true"`` in an undirected graph (or ``"false"`` in a directed one);
- key ``<default>`` values are applied to the nodes, edges and graphs that do not set the
  attribute, as GraphML defines them (networkx keeps them aside as ``node_default`` /
  ``edge_default`` graph attributes, so a node relying on a default looked as if it lacked the
  attribute).

networkx also keeps "this file has parallel edges" across the graphs of one file; here each
``<graph>`` is judged on its own edges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from xml.etree.ElementTree import Element, ElementTree, ParseError

import networkx as nx
from networkx.readwrite.graphml import GraphMLReader

from graphdiff.errors import DataError

__all__ = ["GRAPHML_NS", "iter_graphml"]

GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_TYPES = "boolean, int, long, float, double, string"


class _Bad(Exception):
    """A problem in one element; the caller adds the file (and graph) to the message."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _edge_name(edge_xml: Element) -> str:
    ends = f"({edge_xml.get('source')!r}, {edge_xml.get('target')!r})"
    edge_id = edge_xml.get("id")
    return f"edge {edge_id!r} {ends}" if edge_id else f"edge {ends}"


def _element_name(xml: Element) -> str:
    tag = _local(xml.tag)
    if tag == "node":
        return f"node {xml.get('id')!r}"
    if tag == "edge":
        return _edge_name(xml)
    return f"<{tag}> element"


class _StrictReader(GraphMLReader):
    """networkx's reader with the checks of the module docstring."""

    def __init__(self) -> None:
        super().__init__(node_type=str)
        self._type_names: dict[str, str] = {}
        self._declared: set[str] = set()
        self._edge_ends: list[tuple[str, str, str]] = []

    # ------------------------------------------------------------------ keys
    def find_graphml_keys(self, graph_element: Element) -> tuple[dict, dict]:
        keys = graph_element.findall(f"{{{self.NS_GRAPHML}}}key")
        for key in keys:
            key_id, name = key.get("id"), key.get("attr.name")
            if key.get("yfiles.type") is not None:
                self._type_names[key_id] = "yfiles"
                continue
            attr_type = key.get("attr.type") or "string"
            if name is None:
                raise _Bad(f"<key id={key_id!r}> has no attr.name")
            if attr_type not in self.python_type:
                raise _Bad(f"<key id={key_id!r}> (attribute {name!r}) has an unknown attr.type "
                           f"{attr_type!r}; GraphML types are {_TYPES}")
            self._type_names[key_id] = attr_type
            default = key.find(f"{{{self.NS_GRAPHML}}}default")
            if default is not None:
                try:
                    self._convert(attr_type, default.text)
                except (ValueError, KeyError, AttributeError, TypeError):
                    raise _Bad(f"<key id={key_id!r}> (attribute {name!r}): the <default> "
                               f"{default.text!r} is not a {attr_type}") from None
        return super().find_graphml_keys(graph_element)

    def _convert(self, attr_type: str, text: str | None) -> Any:
        if attr_type == "boolean":
            return self.convert_bool[text.lower()]  # type: ignore[union-attr]
        return self.python_type[attr_type](text)

    # ------------------------------------------------------------------ graphs
    def make_graph(self, graph_xml: Element, graphml_keys: dict, defaults: dict, G: Any = None) -> Any:
        if G is not None:  # the inner graph of a yFiles group node: same graph, same checks
            return super().make_graph(graph_xml, graphml_keys, defaults, G)
        # networkx keeps these on the reader, across the graphs of a file: one graph each here
        self.multigraph = False
        self.edge_ids = {}
        self._declared = set()
        self._edge_ends = []
        graph = super().make_graph(graph_xml, graphml_keys, defaults)
        for name, source, target in self._edge_ends:
            for end in (source, target):
                if end not in self._declared:
                    raise _Bad(f"{name}: node {end!r} has no <node> element")
        graph.graph.pop("node_default", None)
        graph.graph.pop("edge_default", None)
        self._apply_defaults(graph, graphml_keys, defaults)
        return graph

    @staticmethod
    def _apply_defaults(graph: Any, graphml_keys: dict, defaults: dict) -> None:
        """Key defaults, where the node, edge or graph does not set the attribute (GraphML rule)."""
        for key_id, value in defaults.items():
            spec = graphml_keys[key_id]
            target, name = spec.get("for") or "all", spec["name"]  # value: converted by networkx
            if target in ("node", "all"):
                for _, attrs in graph.nodes(data=True):
                    attrs.setdefault(name, value)
            if target in ("edge", "all"):
                edges = graph.edges(keys=True, data=True) if graph.is_multigraph() else graph.edges(data=True)
                for *_, attrs in edges:
                    attrs.setdefault(name, value)
            if target in ("graph", "all"):
                graph.graph.setdefault(name, value)

    def add_node(self, G: Any, node_xml: Element, graphml_keys: dict, defaults: dict) -> None:
        node_id = node_xml.get("id")
        if node_id is None:
            raise _Bad("a <node> element has no id")
        if node_id in self._declared:
            raise _Bad(f"node {node_id!r} is declared twice (two <node id={node_id!r}> elements)")
        self._declared.add(node_id)
        nested = node_xml.find(f"{{{self.NS_GRAPHML}}}graph")
        if nested is not None and node_xml.attrib.get("yfiles.foldertype") != "group":
            raise _Bad(f"node {node_id!r} holds a nested <graph>; nested graphs are not supported")
        super().add_node(G, node_xml, graphml_keys, defaults)

    def add_edge(self, G: Any, edge_element: Element, graphml_keys: dict) -> None:
        name = _edge_name(edge_element)
        source, target = edge_element.get("source"), edge_element.get("target")
        if source is None or target is None:
            raise _Bad(f"{name} has no {'source' if source is None else 'target'}")
        directed = edge_element.get("directed")
        if (directed == "true" and not G.is_directed()) or (directed == "false" and G.is_directed()):
            kind = "directed" if G.is_directed() else "undirected"
            raise _Bad(f"{name} is marked directed={directed!r} in a graph whose edgedefault is "
                       f"{kind}; mixed directed and undirected edges are not supported")
        self._edge_ends.append((name, source, target))
        super().add_edge(G, edge_element, graphml_keys)

    def decode_data_elements(self, graphml_keys: dict, obj_xml: Element) -> dict:
        try:
            return super().decode_data_elements(graphml_keys, obj_xml)
        except (ValueError, KeyError, AttributeError, TypeError, nx.NetworkXError):
            pass
        owner = _element_name(obj_xml)
        for data in obj_xml.findall(f"{{{self.NS_GRAPHML}}}data"):
            key = data.get("key")
            if key not in graphml_keys:
                raise _Bad(f"{owner}: <data key={key!r}> refers to no <key> element")
            attr_type = self._type_names.get(key, "string")
            if data.text is None or len(list(data)) > 0 or attr_type == "yfiles":
                continue
            try:
                self._convert(attr_type, data.text)
            except (ValueError, KeyError, AttributeError, TypeError):
                raise _Bad(f"{owner}: attribute {graphml_keys[key]['name']!r} is {data.text!r}, "
                           f"not a {attr_type} (<key id={key!r}> declares attr.type={attr_type!r})") from None
        raise _Bad(f"{owner}: its <data> elements cannot be read")  # pragma: no cover - not expected


def iter_graphml(path: str | Path) -> Iterator[tuple[str, nx.Graph | DataError]]:
    """Yield ``(where, graph_or_error)`` for every ``<graph>`` of a GraphML file.

    ``where`` is the file, or ``"<file> graph <k>"`` when it holds several graphs. Node labels
    are the ``id`` strings. A graph with an invalid element is yielded as a :class:`DataError`
    naming the file, the graph (when there are several) and the element; the file's other graphs
    still come.

    Raises
    ------
    DataError
        When the file is not well-formed XML, is not GraphML, has an invalid ``<key>``, holds no
        ``<graph>``, or holds one graph that is invalid (there is nothing else to read).
    """
    path = Path(path)
    try:
        root = ElementTree(file=str(path)).getroot()
    except ParseError as exc:
        raise DataError(f"{path}: corrupt or invalid GraphML: not well-formed XML: {exc}") from exc
    if root.tag != f"{{{GRAPHML_NS}}}graphml":
        problem = (f"the root element <graphml> lacks the GraphML namespace (xmlns=\"{GRAPHML_NS}\")"
                   if root.tag == "graphml" else
                   f"the root element is <{root.tag}>, not <graphml> (namespace {GRAPHML_NS})")
        raise DataError(f"{path}: corrupt or invalid GraphML: {problem}")
    reader = _StrictReader()
    try:
        keys, defaults = reader.find_graphml_keys(root)
    except _Bad as exc:
        raise DataError(f"{path}: corrupt or invalid GraphML: {exc}") from None
    graph_elements = root.findall(f"{{{GRAPHML_NS}}}graph")
    if not graph_elements:
        raise DataError(f"{path}: GraphML file holds no <graph> element")
    for k, graph_xml in enumerate(graph_elements):
        where = f"{path} graph {k}" if len(graph_elements) > 1 else str(path)
        try:
            graph = reader.make_graph(graph_xml, keys, defaults)
        except _Bad as exc:
            error = DataError(f"{where}: corrupt or invalid GraphML: {exc}")
        except Exception as exc:  # noqa: BLE001 - networkx's own errors (hyperedges...)
            error = DataError(f"{where}: corrupt or invalid GraphML: {type(exc).__name__}: {exc}")
        else:
            yield where, graph
            continue
        if len(graph_elements) == 1:
            raise error
        yield where, error
