"""networkx graphs <-> graphdiff ``Data``: :mod:`graphdiff.nxgraph.convert`, importable here too.

The graph domains share these helpers through the core (:mod:`graphdiff.nxgraph`); this module
keeps the names importable from where the social plugin first defined them.
"""

from graphdiff.nxgraph.convert import (  # noqa: F401
    LABELS_ATTR,
    NAME_ATTR,
    kept_graph_attributes,
    restore_name,
    DroppedAttributesWarning,
    check_simple_undirected,
    node_order,
    dropped_attributes,
    handle_dropped,
    structure_to_data,
    node_labels_of,
    edge_pairs,
    restore_label,
    same_structure,
    describe,
)

__all__ = ["LABELS_ATTR", "NAME_ATTR", "kept_graph_attributes", "restore_name",
           "DroppedAttributesWarning", "check_simple_undirected", "node_order",
           "dropped_attributes", "handle_dropped", "structure_to_data", "node_labels_of",
           "edge_pairs", "restore_label", "same_structure", "describe"]
