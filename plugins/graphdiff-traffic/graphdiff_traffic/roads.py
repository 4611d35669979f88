"""Road-network helpers: node coordinates, merging OSMnx MultiDiGraphs, CRS checks."""

from __future__ import annotations

import math
import numbers
from typing import Any, Hashable

import networkx as nx

from graphdiff.errors import DataError

__all__ = ["is_number", "node_xy", "to_simple_undirected", "is_geographic_crs", "coerce_numbers"]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (``bool`` excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def node_xy(graph: nx.Graph, node: Hashable, where: str) -> tuple[float, float]:
    """The ``(x, y)`` of a node as floats.

    Raises
    ------
    DataError
        When ``x`` or ``y`` is missing, not a real number, or not finite; naming the node.
    """
    attrs = graph.nodes[node]
    out = []
    for key in ("x", "y"):
        if key not in attrs:
            raise DataError(f"{where}: node {node!r} has no {key!r} coordinate (road network nodes "
                            "need numeric 'x' and 'y' attributes, in metres)")
        value = attrs[key]
        if not is_number(value):
            raise DataError(f"{where}: node {node!r} has a non-numeric {key!r}: {value!r} "
                            f"({type(value).__name__})")
        value = float(value)
        if not math.isfinite(value):
            raise DataError(f"{where}: node {node!r} has a non-finite {key!r}: {value!r}")
        out.append(value)
    return out[0], out[1]


def to_simple_undirected(graph: nx.Graph) -> nx.Graph:
    """Merge a directed graph or a multigraph into a simple undirected ``networkx.Graph``.

    Node attributes and graph attributes are copied. Of the edges between one node pair (both
    travel directions, parallel edges), the one with the smallest numeric ``length`` is kept
    with its attributes (the first one when none has a numeric length). Self-loops stay.
    """
    simple = nx.Graph()
    simple.graph.update(graph.graph)
    simple.add_nodes_from(graph.nodes(data=True))
    for u, v, attrs in graph.edges(data=True):
        if simple.has_edge(u, v):
            old = simple.edges[u, v].get("length")
            new = attrs.get("length")
            if is_number(new) and (not is_number(old) or new < old):
                simple.remove_edge(u, v)
                simple.add_edge(u, v, **attrs)
        else:
            simple.add_edge(u, v, **attrs)
    return simple


def is_geographic_crs(crs: Any) -> bool:
    """Whether a graph's ``crs`` (string or pyproj CRS) is longitude/latitude (EPSG:4326...)."""
    if crs is None:
        return False
    if getattr(crs, "is_geographic", False) is True:  # a pyproj CRS
        return True
    text = str(crs).lower().replace(" ", "")
    return ("4326" in text or "+proj=longlat" in text or "+proj=latlong" in text
            or "+proj=lonlat" in text)


def coerce_numbers(graph: nx.Graph) -> nx.Graph:
    """Numeric strings in ``x``/``y``/``length`` to floats (GraphML from OSMnx stores strings).

    Values that do not parse are left as they are, for the domain's check to name them.
    """
    def coerce(attrs: dict[str, Any], keys: tuple[str, ...]) -> None:
        for key in keys:
            value = attrs.get(key)
            if isinstance(value, str):
                try:
                    attrs[key] = float(value)
                except ValueError:
                    pass

    for _, attrs in graph.nodes(data=True):
        coerce(attrs, ("x", "y"))
    for *_, attrs in graph.edges(data=True):
        coerce(attrs, ("length",))
    return graph
