"""The social networks networkx ships, as named graphs."""

from __future__ import annotations

import networkx as nx

__all__ = ["builtin_graphs", "BUILTIN_GRAPHS"]

#: Name -> networkx generator of each built-in graph.
BUILTIN_GRAPHS = {
    "karate_club": nx.karate_club_graph,
    "les_miserables": nx.les_miserables_graph,
    "florentine_families": nx.florentine_families_graph,
    "davis_southern_women": nx.davis_southern_women_graph,
}


def builtin_graphs() -> dict[str, nx.Graph]:
    """The four social networks bundled with networkx, by name, as networkx builds them.

    ``karate_club``
        Zachary's karate club, 34 nodes, 78 edges; node attribute ``club``, edge ``weight``.
    ``les_miserables``
        Co-appearances of the novel's characters, 77 nodes, 254 edges; edge ``weight``.
    ``florentine_families``
        Marriage ties of Renaissance Florentine families, 15 nodes, 20 edges.
    ``davis_southern_women``
        Bipartite women/events attendance graph, 32 nodes, 89 edges; node attribute
        ``bipartite`` and graph attributes ``top``/``bottom``.

    The graphs keep every attribute networkx gives them. The ``social`` domain keeps only
    the structure: converting one with ``to_graph`` warns that the weights and the node and
    graph attributes are dropped (``strict_attrs=True`` raises instead). Each graph's
    ``graph["name"]`` is set to its key here.

    Returns
    -------
    dict
        Name -> a fresh ``networkx.Graph`` (callers may modify it).
    """
    graphs = {}
    for name, make in BUILTIN_GRAPHS.items():
        graph = make()
        graph.graph["name"] = name
        graphs[name] = graph
    return graphs
