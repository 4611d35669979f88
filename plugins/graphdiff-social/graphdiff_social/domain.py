"""The ``social`` domain: simple undirected networkx graphs: their structure and, optionally, one
numeric edge attribute (``social-weighted``: the edges' ``weight``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import networkx as nx
from torch_geometric.data import Data

from graphdiff.domain import Domain, Record
from graphdiff.errors import DataError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level
from graphdiff.nxgraph.convert import (
    check_simple_undirected,
    describe,
    dropped_attributes,
    edge_pairs,
    edge_values_of,
    edge_values_to_data,
    handle_dropped,
    node_labels_of,
    restore_name,
    same_edge_values,
    same_structure,
    structure_to_data,
)
from graphdiff.nxgraph.io import SUFFIX_FORMATS, read_graph_records, write_graphs

__all__ = ["SocialDomain", "DEFAULT_MAX_NODES"]

#: Largest graph the default ``social`` domain accepts (edges are diffused densely: O(n^2)).
DEFAULT_MAX_NODES = 500


class SocialDomain(Domain):
    """Social networks: simple undirected graphs: their structure and, with ``edge_attr``, one
    numeric edge attribute (a tie's weight).

    Fields
    ------
    ``edges``
        Edge-level categorical, 2 classes: class 1 is "edge" (class 0, "no edge", is what the
        absent node pairs are and is never stored).
    ``<edge_attr>`` (only with ``edge_attr``, e.g. ``weight``)
        Edge-level continuous, dim 1: the attribute's value on each edge, ``float32 [2E, 1]``
        aligned with ``edge_index`` (the same on both directions). Every edge must carry it as
        a finite real number, or :meth:`to_graph` raises :class:`~graphdiff.errors.DataError`
        naming the edge; :meth:`from_graph` writes it back on each edge.

    Conversion
    ----------
    :meth:`to_graph` numbers the nodes ``0..n-1`` in the sorted order of their labels when they
    sort, else in insertion order, and keeps the labels as the Python list
    ``Data.node_labels``; :meth:`from_graph` gives them back exactly (a generated graph, which
    has no ``node_labels``, gets labels ``0..n-1``). A string ``graph["name"]`` is kept as
    ``Data.graph_name`` and restored. Other node, edge and graph attributes (edge weights
    without ``edge_attr``, a ``club`` or ``bipartite`` node attribute) are **not** kept. They
    are never dropped silently:
    ``to_graph`` warns with :class:`~graphdiff.nxgraph.convert.DroppedAttributesWarning` listing
    them, or raises :class:`~graphdiff.errors.DataError` when ``strict_attrs=True``.

    Parameters
    ----------
    max_nodes:
        Largest graph accepted (default 500).
    strict_attrs:
        Default of :meth:`to_graph`'s ``strict_attrs``.
    edge_attr:
        A numeric edge attribute to keep as a continuous edge field of the same name (which
        must be a valid field name), e.g. ``"weight"``; ``None`` (default): structure only.
        The plugin registers ``social-weighted``, this domain with ``edge_attr="weight"``: name
        it in a config's ``[data] domain`` to train on weighted graphs.
    name:
        Registry name (default ``"social"``; a checkpoint's spec keeps it, and sampling looks
        the domain up by it, so a domain with ``edge_attr`` should have its own name).
    """

    version = "1"
    description = "Social networks: simple undirected graphs (structure only) from networkx"
    read_suffixes = tuple(SUFFIX_FORMATS)
    write_suffixes = tuple(SUFFIX_FORMATS)
    #: one generated graph per file (``graphdiff sample --out DIR/``): GraphML
    single_file_suffix = ".graphml"
    edge_field = "edges"

    def __init__(self, *, max_nodes: int | None = DEFAULT_MAX_NODES, strict_attrs: bool = False,
                 edge_attr: str | None = None, name: str = "social") -> None:
        if max_nodes is not None and max_nodes < 1:
            raise ValueError(f"max_nodes must be >= 1 or None, got {max_nodes}")
        if edge_attr is not None and (not isinstance(edge_attr, str) or edge_attr == self.edge_field):
            raise ValueError(f"edge_attr must be an edge attribute name other than {self.edge_field!r}, "
                             f"got {edge_attr!r}")
        self.name = name
        self.max_nodes = max_nodes
        self.strict_attrs = strict_attrs
        self.edge_attr = edge_attr
        if edge_attr is not None:
            self.description = (f"Social networks with edge weights: the structure and each edge's numeric "
                                f"{edge_attr!r}")
        fields = [FieldSpec(self.edge_field, FieldKind.CATEGORICAL, Level.EDGE, num_classes=2,
                            labels=("none", "edge"))]
        if edge_attr is not None:
            try:
                fields.append(FieldSpec(edge_attr, FieldKind.CONTINUOUS, Level.EDGE, dim=1))
                self._spec = GraphSpec(name=name, fields=tuple(fields), max_nodes=max_nodes)
            except ValueError as exc:
                raise ValueError(f"edge_attr={edge_attr!r} cannot name a field: {exc}") from None
        else:
            self._spec = GraphSpec(name=name, fields=tuple(fields), max_nodes=max_nodes)

    @property
    def spec(self) -> GraphSpec:
        """``edges`` (edge categorical, 2 classes), and with ``edge_attr`` that attribute (edge
        continuous, dim 1); ``max_nodes`` as configured."""
        return self._spec

    # ------------------------------------------------------------------ checks
    def check(self, graph: Any, where: str = "social graph") -> nx.Graph:
        """Check that ``graph`` is a graph this domain holds and return it.

        Raises
        ------
        DataError
            For a non-networkx object, a directed graph, a multigraph, self-loops, no nodes,
            or more than ``max_nodes`` nodes; the message names ``where`` and the problem.
        """
        check_simple_undirected(graph, where)
        n = graph.number_of_nodes()
        if n == 0:
            raise DataError(f"{where}: graph has no nodes")
        if self.max_nodes is not None and n > self.max_nodes:
            raise DataError(f"{where}: {describe(graph)} has more than the {self.max_nodes} nodes "
                            f"the {self.name!r} domain allows (max_nodes)")
        return graph

    # ------------------------------------------------------------------ conversion
    def to_graph(self, obj: Any, *, strict_attrs: bool | None = None) -> Data:
        """Convert a simple undirected networkx graph to a graph of this domain.

        Parameters
        ----------
        obj:
            A ``networkx.Graph`` (not directed, not a multigraph, no self-loops, 1 to
            ``max_nodes`` nodes).
        strict_attrs:
            Raise instead of warning when ``obj`` carries attributes that are dropped
            (default: the domain's ``strict_attrs``, ``False``).

        Returns
        -------
        Data
            ``num_nodes``; ``edge_index`` ``long [2, 2E]`` (both directions); ``edges``
            ``long [2E]`` (all 1); with ``edge_attr``, that field ``float32 [2E, 1]``;
            ``node_labels`` (list of ``n`` original labels); ``graph_name`` (``str``, when the
            graph has a string ``name``).

        Raises
        ------
        DataError
            See :meth:`check`; also for dropped attributes with ``strict_attrs=True``, and with
            ``edge_attr`` for an edge without it or with a value that is not a finite real
            number (naming the edge).
        """
        where = f"{self.name}.to_graph input"
        graph = self.check(obj, where)
        strict = self.strict_attrs if strict_attrs is None else strict_attrs
        keep = (self.edge_attr,) if self.edge_attr is not None else ()
        handle_dropped(dropped_attributes(graph, keep_edge=keep), where, self.name, strict,
                       kept=tuple(f"edge attribute {a!r}" for a in keep))
        data, order = structure_to_data(graph, self.edge_field)
        if self.edge_attr is not None:
            edge_values_to_data(graph, data, order, self.edge_attr, self.edge_attr, where)
        return data

    def from_graph(self, data: Data) -> nx.Graph:
        """Convert one graph of this domain back to a ``networkx.Graph``.

        Nodes come in index order with their original labels (``0..n-1`` when ``data`` has no
        ``node_labels``); edges are the node pairs whose ``edges`` class is 1, each with its
        ``edge_attr`` value (a float) when the domain keeps one.

        Raises
        ------
        graphdiff.errors.GraphValidationError
            When ``data`` does not match :attr:`spec`.
        DataError
            When ``node_labels`` does not hold one unique label per node.
        """
        where = f"{self.name}.from_graph input"
        self.spec.validate(data, where=where)
        labels = node_labels_of(data, where)
        graph = nx.Graph()
        graph.add_nodes_from(labels)
        if self.edge_attr is None:
            graph.add_edges_from((labels[i], labels[j]) for i, j in edge_pairs(data, self.edge_field))
        else:
            values = edge_values_of(data, self.edge_attr)
            graph.add_edges_from((labels[i], labels[j], {self.edge_attr: values[i, j]})
                                 for i, j in edge_pairs(data, self.edge_field))
        return restore_name(graph, data)

    def equal(self, a: Any, b: Any) -> bool:
        """Same node set and same edge set, and with ``edge_attr`` the same values on the edges
        to float32 precision (other attributes are not compared: they are not modelled)."""
        if not (isinstance(a, nx.Graph) and isinstance(b, nx.Graph) and same_structure(a, b)):
            return False
        return self.edge_attr is None or same_edge_values(a, b, self.edge_attr)

    # ------------------------------------------------------------------ I/O
    def read(self, path: str | Path, *, strict: bool = False,
             skipped: list[dict[str, str]] | None = None, recursive: bool = False,
             node_type: Callable[[str], Any] | None = None) -> Iterator[Record]:
        """Yield a :class:`~graphdiff.domain.Record` per graph of a file or a folder.

        Formats: GraphML, GML, edge lists (``.edgelist``/``.txt``), node-link JSON (``.json``,
        ``.jsonl``); see :mod:`graphdiff.nxgraph.io`. Graphs this domain cannot hold (directed,
        multigraph, self-loops, too large, empty), bad ``.jsonl`` lines and, in a folder,
        unreadable files are skipped and reported in ``skipped`` (``strict=True``: raised).
        A single file that cannot be parsed raises :class:`DataError` naming it.

        Parameters
        ----------
        path:
            A graph file or a folder of graph files.
        strict, skipped:
            See :meth:`graphdiff.domain.Domain.read`.
        recursive:
            Read sub-folders too.
        node_type:
            Conversion of text labels (``int`` for numbered nodes) in files that graphdiff did
            not write.
        """
        yield from read_graph_records(path, self.check, strict=strict, skipped=skipped,
                                      recursive=recursive, node_type=node_type)

    def write(self, objs: list[Any], path: str | Path, *, fmt: str | None = None,
              ids: list[str] | None = None, extra: list[dict[str, Any]] | None = None) -> None:
        """Write graphs to a file (format from its suffix) or a folder (one file per graph).

        See :func:`graphdiff.nxgraph.writers.write_graphs`; graphs are written as given, attributes
        included; ``ids`` and ``extra`` become graph-level attributes (``id`` and the extra
        keys), which GraphML, GML and node-link JSON keep (an edge list keeps none).
        """
        from graphdiff.nxgraph.writers import with_graph_values

        write_graphs(with_graph_values(list(objs), ids, extra, str(path)), path, fmt=fmt)
