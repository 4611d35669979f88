"""The ``traffic`` domain: planar road networks with node coordinates in metres."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

import networkx as nx
import torch
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
from graphdiff.nxgraph.io import read_graph_records, write_graphs
from graphdiff_traffic.roads import (
    coerce_numbers,
    is_geographic_crs,
    is_number,
    node_xy,
    to_simple_undirected,
)

__all__ = ["TrafficDomain", "LengthMismatchWarning", "DEFAULT_MAX_NODES"]

#: Largest road network the default ``traffic`` domain accepts.
DEFAULT_MAX_NODES = 1000

_UNDIRECTED_HINT = ("OSMnx saves road networks as MultiDiGraphs, one edge per travel direction and "
                    "parallel edges between the same nodes; pass undirected=True to merge them "
                    "into one undirected edge per node pair (the shortest is kept)")


class LengthMismatchWarning(UserWarning):
    """Some edge lengths differ from the straight-line distance between their end nodes."""


class TrafficDomain(Domain):
    """Road networks: undirected planar graphs whose nodes have ``x``/``y`` coordinates in metres.

    Fields
    ------
    ``edges``
        Edge-level categorical, 2 classes (class 1 = road segment).
    ``coords``
        Node-level continuous, dim 2: ``[x, y]`` in metres (projected coordinates, as OSMnx
        GraphML files of projected graphs hold them), stored exactly (``float64`` by default).

    ``length`` (only with ``edge_lengths=True``; registered as ``traffic-lengths``)
        Edge-level continuous, dim 1: each road segment's ``length`` in metres,
        ``[2E, 1]`` (``dtype``) aligned with ``edge_index``, the same on both directions.

    The model of edge lengths
    -------------------------
    By default edge lengths are not stored: the domain models them as **straight-line**
    distances between the end nodes, and :meth:`from_graph` sets each edge's ``length`` to that
    distance. :meth:`to_graph` accepts edges without a ``length``; a given length must be at
    least the straight-line distance (within ``length_rtol``/``length_atol``: projection scale
    factors make planar distances differ from surveyed lengths by ~0.1 %) or it raises
    :class:`~graphdiff.errors.DataError` (the coordinates and lengths disagree, e.g. different
    units); a longer length (a curved road) warns with :class:`LengthMismatchWarning`.

    With ``edge_lengths=True`` the lengths are kept as the continuous edge field ``length``:
    every edge must carry a finite numeric ``length`` (else :class:`DataError` naming the edge),
    still at least the straight-line distance, and a curved road's longer length is kept (no
    warning); :meth:`from_graph` writes the stored (or generated) length back. A generated
    length is the model's and is not checked against the distance of the generated
    coordinates.

    Other attributes (OSMnx's ``osmid``, ``highway``, ``geometry``...) are dropped with a
    :class:`~graphdiff.nxgraph.convert.DroppedAttributesWarning` listing them, or a
    :class:`DataError` when ``strict_attrs=True``. Node labels are kept exactly as in the
    ``social`` domain (``Data.node_labels``).

    Parameters
    ----------
    max_nodes:
        Largest network accepted (default 1000).
    undirected:
        Default of :meth:`to_graph`'s ``undirected``: merge directed graphs and multigraphs
        (OSMnx's MultiDiGraph) with :func:`to_simple_undirected` instead of raising.
    strict_attrs:
        Default of :meth:`to_graph`'s ``strict_attrs``.
    dtype:
        Floating dtype of ``coords`` (default ``torch.float64``: ``float32`` rounds projected
        coordinates of ~10^6 m to 0.1 m).
    length_rtol, length_atol:
        Tolerance of the length check, relative and in metres.
    edge_lengths:
        Keep each edge's ``length`` as the continuous edge field ``length`` (default ``False``:
        lengths are the straight-line distances).
    name:
        Registry name (default ``"traffic"``; the plugin registers ``traffic-lengths`` with
        ``edge_lengths=True``: sampling looks a checkpoint's domain up by this name).
    """

    version = "1"
    description = "Road networks: planar undirected graphs with node x/y in metres"
    read_suffixes = (".graphml", ".gml", ".json", ".jsonl")
    write_suffixes = (".graphml", ".gml", ".json", ".jsonl")
    #: one generated network per file (``graphdiff sample --out DIR/``): GraphML, as OSMnx saves
    #: road networks (node ``x``/``y``, edge ``length``)
    single_file_suffix = ".graphml"
    edge_field = "edges"
    coord_field = "coords"
    length_field = "length"

    def __init__(self, *, max_nodes: int | None = DEFAULT_MAX_NODES, undirected: bool = False,
                 strict_attrs: bool = False, dtype: torch.dtype = torch.float64,
                 length_rtol: float = 1e-3, length_atol: float = 1e-2, edge_lengths: bool = False,
                 name: str = "traffic") -> None:
        if max_nodes is not None and max_nodes < 1:
            raise ValueError(f"max_nodes must be >= 1 or None, got {max_nodes}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        self.name = name
        self.max_nodes = max_nodes
        self.undirected = undirected
        self.strict_attrs = strict_attrs
        self.dtype = dtype
        self.length_rtol = float(length_rtol)
        self.length_atol = float(length_atol)
        self.edge_lengths = bool(edge_lengths)
        if self.edge_lengths:
            self.description = "Road networks with each road's length kept (an edge value), not derived from x/y"
        lengths = (FieldSpec(self.length_field, FieldKind.CONTINUOUS, Level.EDGE, dim=1),) if self.edge_lengths else ()
        self._spec = GraphSpec(
            name=name,
            fields=(
                FieldSpec(self.edge_field, FieldKind.CATEGORICAL, Level.EDGE, num_classes=2,
                          labels=("none", "road")),
                FieldSpec(self.coord_field, FieldKind.CONTINUOUS, Level.NODE, dim=2),
            ) + lengths,
            max_nodes=max_nodes,
        )

    @property
    def spec(self) -> GraphSpec:
        """Fields ``edges`` (edge categorical, 2 classes), ``coords`` (node continuous, dim 2)
        and, with ``edge_lengths``, ``length`` (edge continuous, dim 1)."""
        return self._spec

    # ------------------------------------------------------------------ checks
    def prepare(self, obj: Any, where: str, undirected: bool | None = None) -> nx.Graph:
        """Check ``obj`` and return it as a simple undirected graph the domain holds.

        Parameters
        ----------
        obj:
            A networkx graph of a road network.
        where:
            Text naming the graph in messages.
        undirected:
            Merge a directed graph or multigraph (default: the domain's ``undirected``).

        Returns
        -------
        nx.Graph
            ``obj`` itself, or its merge by :func:`to_simple_undirected`.

        Raises
        ------
        DataError
            Not a networkx graph; directed or multigraph without ``undirected``; self-loops;
            no nodes; more than ``max_nodes``; a geographic (longitude/latitude) ``crs``; a
            node with a missing, non-numeric or non-finite ``x``/``y``; an edge with a
            non-numeric, non-finite or too short ``length``. Messages name the node or edge.
        """
        if not isinstance(obj, nx.Graph):
            raise DataError(f"{where}: expected a networkx graph, got {type(obj).__name__}")
        merge = self.undirected if undirected is None else undirected
        if merge and (obj.is_directed() or obj.is_multigraph()):
            obj = to_simple_undirected(obj)
        graph = check_simple_undirected(obj, where, hint_directed=_UNDIRECTED_HINT,
                                        hint_multi=_UNDIRECTED_HINT)
        n = graph.number_of_nodes()
        if n == 0:
            raise DataError(f"{where}: graph has no nodes")
        if self.max_nodes is not None and n > self.max_nodes:
            raise DataError(f"{where}: {describe(graph)} has more than the {self.max_nodes} nodes "
                            f"the {self.name!r} domain allows (max_nodes)")
        crs = graph.graph.get("crs")
        if is_geographic_crs(crs):
            raise DataError(f"{where}: the graph's crs {str(crs)!r} is geographic (longitude/latitude "
                            "degrees); the traffic domain needs planar coordinates in metres: "
                            "project it first, e.g. osmnx.project_graph(G)")
        xy = {u: node_xy(graph, u, where) for u in graph.nodes}
        self._check_lengths(graph, xy, where)
        return graph

    def check(self, graph: Any, where: str = "traffic graph") -> nx.Graph:
        """:meth:`prepare` with the domain's defaults (used by the reader)."""
        return self.prepare(graph, where)

    def _check_lengths(self, graph: nx.Graph, xy: dict[Hashable, tuple[float, float]],
                       where: str) -> None:
        longer: list[tuple[float, Hashable, Hashable, float, float]] = []
        for u, v, attrs in graph.edges(data=True):
            if "length" not in attrs:
                continue
            length = attrs["length"]
            if not is_number(length) or not math.isfinite(float(length)):
                raise DataError(f"{where}: edge ({u!r}, {v!r}) has a non-numeric or non-finite "
                                f"length {length!r}")
            length = float(length)
            dist = math.dist(xy[u], xy[v])
            slack = self.length_rtol * dist + self.length_atol
            if length < dist - slack:
                raise DataError(
                    f"{where}: edge ({u!r}, {v!r}) has length {length:g} m, shorter than the "
                    f"straight-line distance {dist:g} m between its nodes; coordinates and lengths "
                    "must both be in metres (is the graph projected?)")
            if length > dist + slack:
                longer.append((length - dist, u, v, length, dist))
        if longer and not self.edge_lengths:  # kept lengths are kept as they are
            _, u, v, length, dist = max(longer, key=lambda t: t[0])
            warnings.warn(
                f"{where}: {len(longer)} of {graph.number_of_edges()} edges are longer than the "
                f"straight line between their nodes (most: edge ({u!r}, {v!r}), {length:g} m vs "
                f"{dist:g} m); the traffic domain models lengths as straight-line distances, so "
                "from_graph will give length = distance",
                LengthMismatchWarning, stacklevel=4)

    # ------------------------------------------------------------------ conversion
    def to_graph(self, obj: Any, *, undirected: bool | None = None,
                 strict_attrs: bool | None = None) -> Data:
        """Convert a road network to a graph of this domain.

        Parameters
        ----------
        obj:
            A ``networkx.Graph`` whose nodes have numeric ``x``/``y`` (metres) and whose edges
            may have a ``length`` (metres); a directed graph or multigraph only with
            ``undirected=True``.
        undirected:
            Merge directed graphs and multigraphs (default: the domain's ``undirected``).
        strict_attrs:
            Raise instead of warning about dropped attributes (default: the domain's).

        Returns
        -------
        Data
            ``num_nodes``; ``edge_index`` ``long [2, 2E]``; ``edges`` ``long [2E]`` (all 1);
            ``coords`` ``[n, 2]`` (``dtype``); with ``edge_lengths``, ``length`` ``[2E, 1]``
            (``dtype``); ``node_labels``; ``graph_name`` when named.

        Raises
        ------
        DataError
            See :meth:`prepare`; dropped attributes with ``strict_attrs=True``; with
            ``edge_lengths``, an edge without a ``length`` (naming the edge).

        Warns
        -----
        LengthMismatchWarning, DroppedAttributesWarning
        """
        where = f"{self.name}.to_graph input"
        graph = self.prepare(obj, where, undirected)
        strict = self.strict_attrs if strict_attrs is None else strict_attrs
        handle_dropped(dropped_attributes(graph, keep_node=("x", "y"), keep_edge=("length",)),
                       where, self.name, strict,
                       kept=("node attributes 'x' and 'y'", "edge attribute 'length'"))
        data, order = structure_to_data(graph, self.edge_field)
        coords = [[float(graph.nodes[u]["x"]), float(graph.nodes[u]["y"])] for u in order]
        setattr(data, self.coord_field, torch.tensor(coords, dtype=self.dtype).reshape(-1, 2))
        if self.edge_lengths:
            edge_values_to_data(graph, data, order, "length", self.length_field, where, self.dtype)
        return data

    def from_graph(self, data: Data) -> nx.Graph:
        """Convert one graph back to a road network.

        Returns
        -------
        nx.Graph
            Nodes (original labels, or ``0..n-1``) with float ``x``/``y``; edges with
            ``length`` = straight-line distance between their nodes (metres), or with
            ``edge_lengths`` the stored (generated) ``length``.

        Raises
        ------
        graphdiff.errors.GraphValidationError
            When ``data`` does not match :attr:`spec` (a non-finite coordinate...).
        """
        where = f"{self.name}.from_graph input"
        self.spec.validate(data, where=where)
        labels = node_labels_of(data, where)
        coords = getattr(data, self.coord_field).detach().cpu().double().tolist()
        graph = nx.Graph()
        for label, (x, y) in zip(labels, coords):
            graph.add_node(label, x=x, y=y)
        kept = edge_values_of(data, self.length_field) if self.edge_lengths else None
        for i, j in edge_pairs(data, self.edge_field):
            length = kept[i, j] if kept is not None else math.dist(coords[i], coords[j])
            graph.add_edge(labels[i], labels[j], length=length)
        return restore_name(graph, data)

    def equal(self, a: Any, b: Any) -> bool:
        """Same node and edge sets and the same coordinates (to the precision of ``dtype``).

        Edge lengths are compared (to the precision of ``dtype``) only with ``edge_lengths``;
        otherwise the domain derives them from the coordinates.
        """
        if not (isinstance(a, nx.Graph) and isinstance(b, nx.Graph) and same_structure(a, b)):
            return False
        info = torch.finfo(self.dtype)
        for u in a.nodes:
            for key in ("x", "y"):
                va, vb = a.nodes[u].get(key), b.nodes[u].get(key)
                if not (is_number(va) and is_number(vb)):
                    return False
                if not math.isclose(float(va), float(vb), rel_tol=2 * info.eps, abs_tol=info.tiny):
                    return False
        return not self.edge_lengths or same_edge_values(a, b, "length", self.dtype)

    # ------------------------------------------------------------------ I/O
    def read(self, path: str | Path, *, strict: bool = False,
             skipped: list[dict[str, str]] | None = None, recursive: bool = False,
             undirected: bool | None = None,
             node_type: Callable[[str], Any] | None = None) -> Iterator[Record]:
        """Yield a :class:`~graphdiff.domain.Record` per road network of a file or a folder.

        Reads GraphML (as OSMnx saves it: numeric strings in ``x``/``y``/``length`` are turned
        into floats), GML and node-link JSON (``.json``, ``.jsonl``); see
        :mod:`graphdiff.nxgraph.io`. Each graph goes through :meth:`prepare`, so a record's
        ``obj`` converts with :meth:`to_graph` as it is; graphs that fail are skipped and
        reported in ``skipped`` (``strict=True``: raised). A single file that cannot be parsed
        raises :class:`DataError` naming it. Every message names the file (and ``graph k`` /
        ``line k`` in files of several networks) and the node or edge at fault: a missing or
        non-numeric ``x``/``y``, a bad ``length``, a GraphML value not of its declared type, an
        edge to an undeclared node, parallel edges or a directed graph without ``undirected``.

        Parameters
        ----------
        path:
            A file or a folder.
        strict, skipped:
            See :meth:`graphdiff.domain.Domain.read`.
        recursive:
            Read sub-folders too.
        undirected:
            Merge OSMnx MultiDiGraphs (default: the domain's ``undirected``).
        node_type:
            Conversion of text node labels, e.g. ``int`` for OSM node ids in GraphML.
        """
        def check(graph: nx.Graph, where: str) -> nx.Graph:
            return self.prepare(coerce_numbers(graph), where, undirected)

        yield from read_graph_records(path, check, strict=strict, skipped=skipped,
                                      recursive=recursive, node_type=node_type,
                                      suffixes=self.read_suffixes)

    def write(self, objs: list[Any], path: str | Path, *, fmt: str | None = None,
              ids: list[str] | None = None, extra: list[dict[str, Any]] | None = None) -> None:
        """Write road networks (GraphML: node ``x``/``y``, edge ``length``; GML; node-link JSON).

        ``path`` is a file (format from its suffix) or a folder (one file per graph); see
        :func:`graphdiff.nxgraph.writers.write_graphs`. Graphs are written as given; ``ids`` and
        ``extra`` become graph-level attributes.
        """
        from graphdiff.nxgraph.writers import with_graph_values

        objs = with_graph_values(list(objs), ids, extra, str(path))
        path = Path(path)
        if path.suffix and path.suffix.lower() not in self.write_suffixes:
            raise DataError(f"{path}: the {self.name!r} domain writes "
                            f"{', '.join(self.write_suffixes)}, not {path.suffix!r}")
        if fmt == "edgelist":
            raise DataError(f"{path}: edge lists cannot hold node coordinates; use graphml or json")
        write_graphs(list(objs), path, fmt=fmt)
