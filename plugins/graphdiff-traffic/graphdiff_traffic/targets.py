"""Graph-level targets of the ``traffic`` domain, on road networks with node ``x``/``y``."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np

from graphdiff.errors import DataError
from graphdiff.targets import Target
from graphdiff_traffic.roads import node_xy

__all__ = ["global_efficiency", "mean_edge_length", "spatial_efficiency", "traffic_targets",
           "traffic_target"]


def _graph(obj: Any, target: str) -> nx.Graph:
    if not isinstance(obj, nx.Graph):
        raise DataError(f"target {target!r}: expected a networkx graph, got {type(obj).__name__}")
    if obj.number_of_nodes() == 0:
        raise DataError(f"target {target!r}: the graph has no nodes")
    return obj


def global_efficiency(graph: nx.Graph) -> float:
    """Topological global efficiency: mean of ``1 / hops(i, j)`` over ordered node pairs.

    :func:`networkx.global_efficiency` (unweighted; unreachable pairs count 0; 0 for one node).
    A complete graph gives 1, a path of 3 nodes gives 5/6.
    """
    return float(nx.global_efficiency(_graph(graph, "global_efficiency")))


def mean_edge_length(graph: nx.Graph) -> float:
    """Mean straight-line length of the road segments, in metres, from node ``x``/``y``.

    Computed from the coordinates (the domain's model of lengths), not from ``length``
    attributes. A graph without edges scores 0.
    """
    graph = _graph(graph, "mean_edge_length")
    if graph.number_of_edges() == 0:
        return 0.0
    where = "target 'mean_edge_length'"
    total = sum(math.dist(node_xy(graph, u, where), node_xy(graph, v, where)) for u, v in graph.edges)
    return total / graph.number_of_edges()


def spatial_efficiency(graph: nx.Graph) -> float:
    """Route directness (Latora-Marchiori efficiency of a spatial network), in ``[0, 1]``.

    ``sum 1/d_route(i, j) / sum 1/d_straight(i, j)`` over node pairs at distinct positions,
    where ``d_route`` is the shortest path along straight-line segments (``inf`` when
    unreachable) and ``d_straight`` the straight-line distance. 1 when every pair is linked
    by a straight route (a complete graph, or points on a line joined in order); lower for
    detours and disconnected parts. Fewer than two distinct positions score 0.
    """
    graph = _graph(graph, "spatial_efficiency")
    where = "target 'spatial_efficiency'"
    nodes = list(graph.nodes)
    xy = {u: node_xy(graph, u, where) for u in nodes}
    weighted = nx.Graph()
    weighted.add_nodes_from(nodes)
    weighted.add_weighted_edges_from((u, v, math.dist(xy[u], xy[v])) for u, v in graph.edges)
    routes = dict(nx.all_pairs_dijkstra_path_length(weighted))
    num = den = 0.0
    for a, u in enumerate(nodes):
        for v in nodes[a + 1:]:
            straight = math.dist(xy[u], xy[v])
            if straight == 0.0:
                continue
            den += 1.0 / straight
            route = routes[u].get(v)
            if route is not None and route > 0.0:
                num += 1.0 / route
    return float(np.clip(num / den, 0.0, 1.0)) if den > 0 else 0.0


def traffic_targets(domain: str = "traffic") -> list[Target]:
    """The targets of a traffic domain, named ``"<domain>-<target>"``."""
    return [
        Target(f"{domain}-global_efficiency", domain, global_efficiency,
               description="topological global efficiency (mean inverse hop distance)", units=""),
        Target(f"{domain}-mean_edge_length", domain, mean_edge_length,
               description="mean straight-line road segment length", units="m"),
        Target(f"{domain}-spatial_efficiency", domain, spatial_efficiency,
               description="route directness: straight-line over route efficiency", units=""),
    ]


def traffic_target(name: str, domain: str = "traffic") -> Target:
    """The target of :func:`traffic_targets` called ``name`` (``"<domain>-mean_edge_length"``...);
    what the plugin registers by location."""
    found = {t.name: t for t in traffic_targets(domain)}
    if name not in found:
        raise KeyError(f"no traffic target {name!r}; targets: {', '.join(found)}")
    return found[name]
