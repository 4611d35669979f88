"""networkx graphs in graphdiff: conversion to ``Data`` and graph files, for any domain.

Domains whose objects are networkx graphs (social networks, road networks...) build on these
modules instead of on one another.

Modules
-------
:mod:`graphdiff.nxgraph.convert`
    Simple undirected graphs <-> ``Data`` (edge index, node labels, graph name, a numeric
    edge attribute as a continuous edge field), checks and the dropped-attribute warning
    (:class:`~graphdiff.nxgraph.convert.DroppedAttributesWarning`).
:mod:`graphdiff.nxgraph.io`
    GraphML / GML / edge list / node-link JSON readers (:func:`~graphdiff.nxgraph.io.read_graph_file`,
    :func:`~graphdiff.nxgraph.io.read_graph_records`); errors name the file and the node, edge
    or graph at fault.
:mod:`graphdiff.nxgraph.writers`
    The writers (:func:`~graphdiff.nxgraph.writers.write_graphs`).
:mod:`graphdiff.nxgraph.formats`, :mod:`graphdiff.nxgraph.graphml`
    Suffixes and the exact-label encoding; the strict GraphML reader.

The names below are importable from this package too; each is imported on first use, so that
importing the package costs nothing until then.
"""

from __future__ import annotations

__all__ = ["DroppedAttributesWarning", "check_simple_undirected", "structure_to_data", "node_labels_of",
           "edge_pairs", "same_structure", "read_graph_file", "read_graph_records", "iter_graph_file",
           "write_graphs", "with_graph_values", "SUFFIX_FORMATS", "format_of"]

from graphdiff.lazy import lazy_attributes

_LAZY = {
    "DroppedAttributesWarning": "graphdiff.nxgraph.convert",
    "check_simple_undirected": "graphdiff.nxgraph.convert",
    "structure_to_data": "graphdiff.nxgraph.convert",
    "node_labels_of": "graphdiff.nxgraph.convert",
    "edge_pairs": "graphdiff.nxgraph.convert",
    "same_structure": "graphdiff.nxgraph.convert",
    "read_graph_file": "graphdiff.nxgraph.io",
    "read_graph_records": "graphdiff.nxgraph.io",
    "iter_graph_file": "graphdiff.nxgraph.io",
    "write_graphs": "graphdiff.nxgraph.writers",
    "with_graph_values": "graphdiff.nxgraph.writers",
    "SUFFIX_FORMATS": "graphdiff.nxgraph.formats",
    "format_of": "graphdiff.nxgraph.formats",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
