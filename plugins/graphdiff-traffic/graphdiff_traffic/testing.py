"""Hypothesis strategies of valid ``traffic`` domain inputs."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
from hypothesis import strategies as st

__all__ = ["coordinates", "road_networks", "road_networks_with_lengths"]

#: Coordinates in metres: any finite float in +-1e7 (projected coordinates reach ~1e7 m).
coordinates = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def road_networks(draw: Any, min_nodes: int = 1, max_nodes: int = 12) -> nx.Graph:
    """A simple undirected road network the ``traffic`` domain accepts.

    Nodes have distinct ``int`` labels (inserted in random order) and float ``x``/``y`` from
    :data:`coordinates`; edges are a random subset of the node pairs, each with no ``length``
    or with ``length`` equal to the straight-line distance. The geometry need not be planar:
    the domain does not require it.
    """
    n = draw(st.integers(min_nodes, max_nodes))
    labels = draw(st.lists(st.integers(-10**9, 10**9), min_size=n, max_size=n, unique=True))
    graph = nx.Graph()
    for label in labels:
        graph.add_node(label, x=draw(coordinates), y=draw(coordinates))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    for i, j in chosen:
        u, v = labels[i], labels[j]
        if draw(st.booleans()):
            a, b = graph.nodes[u], graph.nodes[v]
            graph.add_edge(u, v, length=math.hypot(a["x"] - b["x"], a["y"] - b["y"]))
        else:
            graph.add_edge(u, v)
    return graph


@st.composite
def road_networks_with_lengths(draw: Any, min_nodes: int = 1, max_nodes: int = 12) -> nx.Graph:
    """A :func:`road_networks` network whose every edge has a ``length``: the straight-line
    distance times a curvature factor in ``[1, 3]`` (a road is never shorter than the line)."""
    graph = draw(road_networks(min_nodes, max_nodes))
    for u, v in graph.edges:
        a, b = graph.nodes[u], graph.nodes[v]
        dist = math.hypot(a["x"] - b["x"], a["y"] - b["y"])
        graph.edges[u, v]["length"] = dist * draw(st.floats(min_value=1.0, max_value=3.0))
    return graph
