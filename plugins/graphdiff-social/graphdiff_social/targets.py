"""Graph-level targets of the ``social`` domain (structure only: edge weights are ignored)."""

from __future__ import annotations

from typing import Any

import networkx as nx

from graphdiff.errors import DataError
from graphdiff.targets import Target

__all__ = ["average_clustering", "modularity", "density", "social_targets", "social_target"]


def _graph(obj: Any, target: str) -> nx.Graph:
    if not isinstance(obj, nx.Graph):
        raise DataError(f"target {target!r}: expected a networkx.Graph, got {type(obj).__name__}")
    if obj.number_of_nodes() == 0:
        raise DataError(f"target {target!r}: the graph has no nodes")
    return obj


def average_clustering(graph: nx.Graph) -> float:
    """Mean local clustering coefficient (unweighted; nodes of degree < 2 count as 0).

    A triangle gives 1, a tree gives 0.
    """
    return float(nx.average_clustering(_graph(graph, "average_clustering")))


def modularity(graph: nx.Graph) -> float:
    """Newman modularity of the communities found by greedy modularity maximisation.

    Communities come from :func:`networkx.community.greedy_modularity_communities`
    (Clauset-Newman-Moore, unweighted, deterministic); the value is
    :func:`networkx.community.modularity` of that partition. A graph without edges has no
    defined modularity; it scores 0. Two disjoint triangles score 0.5.
    """
    graph = _graph(graph, "modularity")
    if graph.number_of_edges() == 0:
        return 0.0
    communities = nx.community.greedy_modularity_communities(graph)
    return float(nx.community.modularity(graph, communities))


def density(graph: nx.Graph) -> float:
    """Edges over node pairs, ``2E / (n (n - 1))`` (0 for a single node); a clique gives 1."""
    return float(nx.density(_graph(graph, "density")))


def social_targets(domain: str = "social") -> list[Target]:
    """The targets of a social domain, named ``"<domain>-<target>"``."""
    return [
        Target(f"{domain}-average_clustering", domain, average_clustering,
               description="mean local clustering coefficient", units=""),
        Target(f"{domain}-modularity", domain, modularity,
               description="modularity of greedy (CNM) communities", units=""),
        Target(f"{domain}-density", domain, density,
               description="edges over node pairs", units=""),
    ]


def social_target(name: str, domain: str = "social") -> Target:
    """The target of :func:`social_targets` called ``name`` (``"<domain>-density"``...); what the
    plugin registers by location."""
    found = {t.name: t for t in social_targets(domain)}
    if name not in found:
        raise KeyError(f"no social target {name!r}; targets: {', '.join(found)}")
    return found[name]
