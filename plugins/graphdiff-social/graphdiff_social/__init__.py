"""graphdiff plugin: the social domain (simple undirected networkx graphs, structure only).

Public API
----------
:class:`SocialDomain`
    The domain (registered as ``"social"``).
:func:`builtin_graphs`
    The social networks networkx ships.
:mod:`graphdiff_social.nxgraph`
    networkx <-> ``Data`` helpers shared with other graph domains.
:mod:`graphdiff_social.io`
    GraphML / GML / edge list / node-link JSON readers and writers.
:mod:`graphdiff_social.testing`
    Hypothesis strategies (:func:`~graphdiff_social.testing.social_graphs`).
"""

from graphdiff_social.datasets import builtin_graphs
from graphdiff_social.domain import SocialDomain
from graphdiff_social.nxgraph import DroppedAttributesWarning

__version__ = "0.1.0"

__all__ = ["SocialDomain", "builtin_graphs", "DroppedAttributesWarning", "__version__"]
