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

Readers and writers (GraphML, GML, node-link JSON) come from :mod:`graphdiff_social.io`.
"""

from graphdiff_traffic.domain import LengthMismatchWarning, TrafficDomain
from graphdiff_traffic.roads import to_simple_undirected
from graphdiff_traffic.generators import road_like_graphs

__version__ = "0.1.0"

__all__ = ["TrafficDomain", "LengthMismatchWarning", "road_like_graphs", "to_simple_undirected",
           "__version__"]
