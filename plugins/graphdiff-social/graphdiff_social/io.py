"""Reading networkx graph files: :mod:`graphdiff.nxgraph.io`, importable here too.

The graph domains share these helpers through the core (:mod:`graphdiff.nxgraph`); this module
keeps the names importable from where the social plugin first defined them.
"""

from graphdiff.nxgraph.io import (  # noqa: F401
    SUFFIX_FORMATS,
    LITERAL_MARK,
    format_of,
    iter_graph_file,
    read_graph_file,
    read_graph_records,
    write_graphs,
    report_skip,
)

__all__ = ["SUFFIX_FORMATS", "LITERAL_MARK", "format_of", "iter_graph_file", "read_graph_file",
           "read_graph_records", "write_graphs", "report_skip"]
