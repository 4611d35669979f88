"""graphdiff plugin: the traffic domain (road networks with node coordinates in metres).

Public API
----------
:class:`TrafficDomain`
    The domain (registered as ``"traffic"``); lengths are modelled as straight-line distances.
:func:`road_like_graphs`
    Synthetic planar road networks (perturbed grids, pruned Delaunay triangulations).
:func:`to_simple_undirected`
    Merge an OSMnx MultiDiGraph into a simple undirected graph.
:mod:`graphdiff_traffic.targets`, :mod:`graphdiff_traffic.testing`
    Targets and hypothesis strategies.

Readers and writers (GraphML, GML, node-link JSON) come from the core's :mod:`graphdiff.nxgraph`.
"""

__version__ = "0.1.0"

__all__ = ["TrafficDomain", "LengthMismatchWarning", "road_like_graphs", "to_simple_undirected",
           "__version__"]

# Imported on first use: the plugin's entry point (graphdiff_traffic.plugin) imports this
# package, and ``graphdiff --help`` must not pay for torch and networkx.
from graphdiff.lazy import lazy_attributes

_LAZY = {
    "TrafficDomain": "graphdiff_traffic.domain",
    "LengthMismatchWarning": "graphdiff_traffic.domain",
    "to_simple_undirected": "graphdiff_traffic.roads",
    "road_like_graphs": "graphdiff_traffic.generators",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
