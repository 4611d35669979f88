"""Reading GraphML strictly: :mod:`graphdiff.nxgraph.graphml`, importable here too.

The graph domains share these helpers through the core (:mod:`graphdiff.nxgraph`); this module
keeps the names importable from where the social plugin first defined them.
"""

from graphdiff.nxgraph.graphml import (  # noqa: F401
    GRAPHML_NS,
    iter_graphml,
)

__all__ = ["GRAPHML_NS", "iter_graphml"]
