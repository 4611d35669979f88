"""networkx graphs <-> graphdiff ``Data``: the structure of simple undirected graphs.

A simple undirected networkx graph with ``n`` nodes becomes a
:class:`torch_geometric.data.Data` with

``num_nodes``
    ``n``.
``edge_index``
    ``long [2, 2E]``: each undirected edge ``{i, j}`` (``i < j``) once in each direction, the
    pairs sorted, first all ``(i, j)`` then all ``(j, i)``.
``<edge_field>``
    ``long [2E]``, all ones (class 1 = "edge"; class 0, "no edge", is never stored).
``node_labels``
    Python ``list`` of the original node labels: node ``k`` of the graph is ``node_labels[k]``.
``graph_name``
    The graph's ``graph["name"]`` when it is a string (absent otherwise); kept so that named
    graphs convert without a dropped-attribute warning and come back named.
``<value_field>`` (optional, :func:`edge_values_to_data`)
    ``float [2E, 1]``: a numeric edge attribute (a weight, a length) aligned with
    ``edge_index``, the same value on both directions: a continuous edge field.

Nodes are numbered ``0..n-1`` in the sorted order of their labels when the labels sort,
otherwise in the graph's insertion order (see :func:`node_order`).

Domains of networkx graphs build their converters from these helpers and add the fields they
model (node coordinates, node signals) on top of the structure.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Hashable, Iterable, Sequence

import networkx as nx
import torch
from torch_geometric.data import Data

from graphdiff.errors import DataError

__all__ = [
    "LABELS_ATTR",
    "NAME_ATTR",
    "kept_graph_attributes",
    "restore_name",
    "DroppedAttributesWarning",
    "check_simple_undirected",
    "node_order",
    "dropped_attributes",
    "handle_dropped",
    "structure_to_data",
    "node_labels_of",
    "edge_pairs",
    "restore_label",
    "same_structure",
    "describe",
    "edge_values_to_data",
    "edge_values_of",
    "same_edge_values",
]

#: Name of the ``Data`` attribute holding the original node labels.
LABELS_ATTR = "node_labels"
#: Name of the ``Data`` attribute holding the graph's name.
NAME_ATTR = "graph_name"


class DroppedAttributesWarning(UserWarning):
    """A graph had node, edge or graph attributes that its domain does not keep."""


def describe(obj: Any) -> str:
    """A short description of a graph object for error messages (type, name, size)."""
    if isinstance(obj, nx.Graph):
        name = obj.graph.get("name")
        named = f" {name!r}" if name else ""
        return (f"{type(obj).__name__}{named} with {obj.number_of_nodes()} nodes and "
                f"{obj.number_of_edges()} edges")
    return type(obj).__name__


def check_simple_undirected(graph: Any, where: str, *, hint_directed: str = "",
                            hint_multi: str = "") -> nx.Graph:
    """Check that ``graph`` is a simple undirected networkx graph.

    Parameters
    ----------
    graph:
        The object to check.
    where:
        Text naming the graph in messages (a file, a row, ``"to_graph input"``).
    hint_directed, hint_multi:
        Extra advice appended to the message for directed graphs and multigraphs.

    Returns
    -------
    The graph, unchanged.

    Raises
    ------
    DataError
        When ``graph`` is not a ``networkx.Graph``, is directed, is a multigraph, or has
        self-loops; the message names the kind of graph (and the self-looped nodes, or the first
        node pair with parallel edges).
    """
    if not isinstance(graph, nx.Graph):
        raise DataError(f"{where}: expected a networkx.Graph, got {type(graph).__name__}")
    kind = type(graph).__name__
    if graph.is_directed():
        raise DataError(
            f"{where}: {kind} is directed; the domain holds undirected graphs"
            + (f" ({hint_directed})" if hint_directed else
               " (convert with networkx.Graph(G.to_undirected()) if direction does not matter)")
        )
    if graph.is_multigraph():
        parallel = next(((u, v) for u, v in graph.edges() if graph.number_of_edges(u, v) > 1), None)
        found = (f": {graph.number_of_edges(*parallel)} parallel edges between nodes {parallel[0]!r} "
                 f"and {parallel[1]!r}" if parallel is not None else " (parallel edges are allowed)")
        raise DataError(
            f"{where}: {kind} is a multigraph{found}; the domain holds simple graphs"
            + (f" ({hint_multi})" if hint_multi else
               " (collapse parallel edges with networkx.Graph(G) if they do not matter)")
        )
    loops = [u for u, v in nx.selfloop_edges(graph)]
    if loops:
        shown = ", ".join(repr(u) for u in loops[:5]) + (" ..." if len(loops) > 5 else "")
        raise DataError(
            f"{where}: {len(loops)} self-loop(s), at node(s) {shown}; the domain holds graphs "
            "without self-loops (remove them with G.remove_edges_from(networkx.selfloop_edges(G)))"
        )
    return graph


def node_order(graph: nx.Graph) -> list[Hashable]:
    """The node labels in the order they are numbered: sorted if they sort, else insertion order.

    Labels "sort" when ``sorted`` succeeds on them (all numbers, all strings, all tuples of
    comparable items...). Mixed labels such as ``[1, "a"]`` keep the graph's insertion order.
    """
    nodes = list(graph.nodes)
    try:
        return sorted(nodes)
    except TypeError:
        return nodes


def dropped_attributes(graph: nx.Graph, *, keep_node: Iterable[str] = (),
                       keep_edge: Iterable[str] = (), keep_graph: Iterable[str] = ()) -> list[str]:
    """The attribute names a conversion would drop, as ``"node attribute 'club'"`` strings.

    Parameters
    ----------
    graph:
        The graph.
    keep_node, keep_edge, keep_graph:
        Attribute names the domain keeps (they are not reported).

    Returns
    -------
    Sorted descriptions of node, edge and graph attribute names outside the keep lists.
    """
    keep_n, keep_e, keep_g = set(keep_node), set(keep_edge), set(keep_graph)
    keep_g |= kept_graph_attributes(graph)
    node_keys = {k for _, d in graph.nodes(data=True) for k in d} - keep_n
    edge_keys = {k for *_, d in graph.edges(data=True) for k in d} - keep_e
    graph_keys = set(graph.graph) - keep_g
    return ([f"node attribute {k!r}" for k in sorted(map(str, node_keys))]
            + [f"edge attribute {k!r}" for k in sorted(map(str, edge_keys))]
            + [f"graph attribute {k!r}" for k in sorted(map(str, graph_keys))])


def kept_graph_attributes(graph: nx.Graph) -> set[str]:
    """Graph attributes :func:`structure_to_data` keeps: ``name`` when it is a string."""
    return {"name"} if isinstance(graph.graph.get("name"), str) else set()


def restore_name(graph: nx.Graph, data: Data) -> nx.Graph:
    """Give ``graph`` the ``graph_name`` stored on ``data``, if any."""
    name = getattr(data, NAME_ATTR, None)
    if isinstance(name, str):
        graph.graph["name"] = name
    return graph


def handle_dropped(dropped: Sequence[str], where: str, domain: str, strict: bool, *,
                   kept: Sequence[str] = ()) -> None:
    """Raise (``strict``) or warn about attributes a conversion drops; do nothing if none.

    Parameters
    ----------
    dropped:
        What the conversion drops, as :func:`dropped_attributes` describes it.
    where:
        Text naming the graph in the message.
    domain:
        The domain's name, for the message.
    strict:
        Raise instead of warning.
    kept:
        The attributes the domain keeps besides the structure (``"node attribute 'x'"``...),
        named in the message.

    Raises
    ------
    DataError
        With ``strict=True`` when ``dropped`` is not empty.

    Warns
    -----
    DroppedAttributesWarning
        With ``strict=False`` when ``dropped`` is not empty.
    """
    if not dropped:
        return
    message = (f"{where}: the {domain!r} domain keeps only the graph structure"
               + (f" and {', '.join(kept)}" if kept else "")
               + f"; it drops {', '.join(dropped)}")
    if strict:
        raise DataError(message + " (strict_attrs=True)")
    warnings.warn(message + " (pass strict_attrs=True to make this an error)",
                  DroppedAttributesWarning, stacklevel=3)


def structure_to_data(graph: nx.Graph, edge_field: str) -> tuple[Data, list[Hashable]]:
    """Build the ``Data`` skeleton of a simple undirected graph (see the module docstring).

    Parameters
    ----------
    graph:
        A simple undirected graph (checked beforehand with :func:`check_simple_undirected`).
    edge_field:
        Name of the edge-level categorical field to fill with class 1.

    Returns
    -------
    data, order:
        ``data`` with ``num_nodes``, ``edge_index [2, 2E]``, ``<edge_field> [2E]`` and
        ``node_labels``; ``order`` is the label of each node index.
    """
    order = node_order(graph)
    index = {label: i for i, label in enumerate(order)}
    pairs = sorted((min(index[u], index[v]), max(index[u], index[v])) for u, v in graph.edges)
    if pairs:
        src = [i for i, _ in pairs] + [j for _, j in pairs]
        dst = [j for _, j in pairs] + [i for i, _ in pairs]
        edge_index = torch.tensor([src, dst], dtype=torch.long)
    else:
        edge_index = torch.zeros((2, 0), dtype=torch.long)
    data = Data(num_nodes=len(order), edge_index=edge_index)
    setattr(data, edge_field, torch.ones(edge_index.size(1), dtype=torch.long))
    setattr(data, LABELS_ATTR, list(order))
    if "name" in kept_graph_attributes(graph):
        setattr(data, NAME_ATTR, graph.graph["name"])
    return data, order


def restore_label(label: Any) -> Hashable:
    """Undo torch_geometric's tuple-to-list conversion of labels (``Data.clone``, ``.to``).

    Node labels are hashable, so they were never lists: any list found is a tuple that
    torch_geometric rewrote, and it is turned back into one (recursively).
    """
    if isinstance(label, list):
        return tuple(restore_label(x) for x in label)
    return label


def node_labels_of(data: Data, where: str) -> list[Hashable]:
    """The node labels stored on ``data`` (``0..n-1`` when it has none, e.g. a generated graph).

    Raises
    ------
    DataError
        When ``node_labels`` does not hold one unique label per node.
    """
    n = int(data.num_nodes)
    labels = getattr(data, LABELS_ATTR, None)
    if labels is None:
        return list(range(n))
    if isinstance(labels, torch.Tensor):
        labels = labels.tolist()
    labels = [restore_label(x) for x in labels]
    if len(labels) != n:
        raise DataError(f"{where}: {LABELS_ATTR} holds {len(labels)} labels for {n} nodes")
    if len(set(labels)) != n:
        raise DataError(f"{where}: {LABELS_ATTR} holds repeated labels")
    return labels


def edge_pairs(data: Data, edge_field: str) -> list[tuple[int, int]]:
    """The undirected edges ``(i, j)``, ``i < j``, of a graph's edge field, sorted and unique.

    Entries of class 0 ("no edge"), if a generated graph carries them, are ignored; an
    ``edge_index`` holding only one direction of an edge still gives the edge.
    """
    edge_index = data.edge_index
    classes = getattr(data, edge_field)
    keep = classes != 0
    src, dst = edge_index[0, keep].tolist(), edge_index[1, keep].tolist()
    return sorted({(min(a, b), max(a, b)) for a, b in zip(src, dst)})


def same_structure(a: nx.Graph, b: nx.Graph) -> bool:
    """Whether two undirected graphs have the same node set and the same edge set."""
    if set(a.nodes) != set(b.nodes):
        return False
    edges_a = {frozenset(e) for e in a.edges}
    edges_b = {frozenset(e) for e in b.edges}
    return edges_a == edges_b and a.number_of_edges() == b.number_of_edges()


def _number(value: Any) -> float | None:
    """``value`` as a finite float when it is a real number (``bool`` excluded), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def edge_values_to_data(graph: nx.Graph, data: Data, order: Sequence[Hashable], attr: str, field: str,
                        where: str, dtype: torch.dtype = torch.float32) -> Data:
    """Store the numeric edge attribute ``attr`` of ``graph`` as the continuous edge field
    ``field`` of ``data`` (built by :func:`structure_to_data` from the same graph).

    Parameters
    ----------
    graph:
        The simple undirected graph.
    data:
        Its ``Data`` skeleton (``edge_index [2, 2E]``).
    order:
        The label of each node index (the second value :func:`structure_to_data` returns).
    attr:
        The edge attribute to keep (``"weight"``, ``"length"``).
    field:
        The ``Data`` attribute (a continuous edge field of dim 1) that receives it.
    where:
        Text naming the graph in messages.
    dtype:
        Floating dtype of the field.

    Returns
    -------
    ``data``, with ``<field>`` ``[2E, 1]``: the value of edge ``edge_index[:, k]`` in row ``k``,
    the same on both directions.

    Raises
    ------
    DataError
        Naming the first edge (by its node labels) whose ``attr`` is missing, not a real number
        (``bool`` and strings included) or not finite.
    """
    values = []
    ei = data.edge_index
    half = ei.size(1) // 2
    for k in range(half):  # structure_to_data: all (i, j), i < j, then the same reversed
        u, v = order[int(ei[0, k])], order[int(ei[1, k])]
        attrs = graph.edges[u, v]
        if attr not in attrs:
            raise DataError(f"{where}: edge ({u!r}, {v!r}) has no {attr!r} attribute; every edge needs a "
                            f"numeric {attr!r} to keep it as an edge value")
        value = _number(attrs[attr])
        if value is None:
            raise DataError(f"{where}: edge ({u!r}, {v!r}) has {attr!r} = {attrs[attr]!r}, not a finite real "
                            "number")
        values.append(value)
    column = torch.tensor(values, dtype=dtype).view(-1, 1)
    setattr(data, field, torch.cat([column, column]))
    return data


def edge_values_of(data: Data, field: str) -> dict[tuple[int, int], float]:
    """The values of a continuous edge field (dim 1) per undirected edge ``(i, j)``, ``i < j``.

    Either direction of an edge is read (both hold the same value in a valid graph); entries
    whose edge class is 0 ("no edge") are not stored in valid graphs.
    """
    value = getattr(data, field).detach().cpu().double()
    values = value.reshape(-1).tolist() if value.dim() < 2 else value[:, 0].tolist()
    src, dst = data.edge_index.tolist()
    return {(min(a, b), max(a, b)): w for a, b, w in zip(src, dst, values)}


def same_edge_values(a: nx.Graph, b: nx.Graph, attr: str, dtype: torch.dtype = torch.float32) -> bool:
    """Whether every edge of ``a`` has the same numeric ``attr`` in ``b`` to the precision of
    ``dtype`` (the graphs have the same edges)."""
    eps = torch.finfo(dtype).eps
    for u, v, value in a.edges(data=attr):
        other = b.edges[u, v].get(attr) if b.has_edge(u, v) else None
        x, y = _number(value), _number(other)
        if x is None or y is None or not math.isclose(x, y, rel_tol=4 * eps, abs_tol=torch.finfo(dtype).tiny):
            return False
    return True
