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
:mod:`graphdiff_social.nxgraph`
    networkx <-> ``Data`` helpers shared with other graph domains.
:mod:`graphdiff_social.io`
    GraphML / GML / edge list / node-link JSON readers and writers; errors name the file and
    the node, edge or graph at fault (GraphML through :mod:`graphdiff_social.graphml`).
:mod:`graphdiff_social.testing`
    Hypothesis strategies (:func:`~graphdiff_social.testing.social_graphs`).
"""

from graphdiff_social.domain import SocialDomain
from graphdiff_social.nxgraph import DroppedAttributesWarning

__version__ = "0.1.0"

__all__ = ["SocialDomain", "builtin_graphs", "make_dataset", "write_dataset", "DroppedAttributesWarning",
           "__version__"]

_LAZY = {"builtin_graphs", "make_dataset", "write_dataset"}


def __getattr__(name: str):
    # Imported on first use, so that ``python -m graphdiff_social.datasets`` does not find the
    # module already imported by the package (runpy warns about that).
    if name in _LAZY:
        from graphdiff_social import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'graphdiff_social' has no attribute {name!r}")
