"""Writing networkx graph files: :mod:`graphdiff.nxgraph.writers`, importable here too.

The graph domains share these helpers through the core (:mod:`graphdiff.nxgraph`); this module
keeps the names importable from where the social plugin first defined them.
"""

from graphdiff.nxgraph.writers import (  # noqa: F401
    write_graphs,
    with_graph_values,
)

__all__ = ["write_graphs", "with_graph_values"]
