"""graphdiff plugin: the social domain (simple undirected networkx graphs, structure only).

Public API
----------
:class:`SocialDomain`
    The domain (registered as ``"social"``).
:func:`builtin_graphs`
    The social networks networkx ships.
:func:`make_dataset`, :func:`write_dataset`
    Synthetic graph-generation benchmarks (community-small, grid, SBM, planar) regenerated from
    their published recipes (:mod:`graphdiff_social.datasets`;
    ``python -m graphdiff_social.datasets NAME OUT_DIR``).
:mod:`graphdiff_social.nxgraph`, :mod:`graphdiff_social.io`, :mod:`graphdiff_social.writers`
    The core's networkx conversion and graph files (:mod:`graphdiff.nxgraph`: GraphML / GML /
    edge list / node-link JSON readers and writers, errors naming the file and the node, edge or
    graph at fault), importable from these modules too.
:mod:`graphdiff_social.testing`
    Hypothesis strategies (:func:`~graphdiff_social.testing.social_graphs`).
"""

__version__ = "0.1.0"

__all__ = ["SocialDomain", "builtin_graphs", "make_dataset", "write_dataset", "DroppedAttributesWarning",
           "__version__"]

# Imported on first use: the plugin's entry point (graphdiff_social.plugin) imports this package,
# and ``graphdiff --help`` must not pay for torch and networkx; ``python -m
# graphdiff_social.datasets`` must not find the module imported already (runpy warns about that).
from graphdiff.lazy import lazy_attributes

_LAZY = {
    "SocialDomain": "graphdiff_social.domain",
    "DroppedAttributesWarning": "graphdiff.nxgraph.convert",
    "builtin_graphs": "graphdiff_social.datasets",
    "make_dataset": "graphdiff_social.datasets",
    "write_dataset": "graphdiff_social.datasets",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
