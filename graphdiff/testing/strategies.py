"""Hypothesis strategies for random graphs that satisfy a :class:`~graphdiff.graph.GraphSpec`."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st
from torch_geometric.data import Data

from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level

__all__ = ["graphs", "field_values", "simple_edges", "edge_values"]

_FLOATS = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False, width=32)
_UNIT = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False, width=32)


@st.composite
def simple_edges(draw: Any, n: int, num_classes: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Undirected simple edges of an ``n``-node graph: ``edge_index [2, 2E]`` with both
    directions and class ids ``[2E]`` in ``[1, num_classes)``."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    classes = [draw(st.integers(1, num_classes - 1)) for _ in chosen]
    src = [i for i, _ in chosen] + [j for _, j in chosen]
    dst = [j for _, j in chosen] + [i for i, _ in chosen]
    return (torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
            torch.tensor(classes + classes, dtype=torch.long))


def field_values(f: FieldSpec, n: int) -> st.SearchStrategy[torch.Tensor]:
    """Values of one node- or graph-level field for a graph of ``n`` nodes."""
    rows = n if f.level is Level.NODE else 1
    if f.kind is FieldKind.CATEGORICAL:
        return st.lists(st.integers(0, f.num_classes - 1), min_size=rows, max_size=rows).map(
            lambda v: torch.tensor(v, dtype=torch.long))
    elem = _UNIT if f.kind is FieldKind.TORUS else _FLOATS
    return st.lists(elem, min_size=rows * f.dim, max_size=rows * f.dim).map(
        lambda v: torch.tensor(v, dtype=torch.float32).reshape(rows, f.dim))


def edge_values(f: FieldSpec, num_edges: int) -> st.SearchStrategy[torch.Tensor]:
    """Values ``float [2 E, dim]`` of a continuous edge field for the ``E`` undirected edges of
    :func:`simple_edges` (its first ``E`` columns one direction, the last ``E`` the other): the
    same value on both directions."""
    rows = num_edges * f.dim
    return st.lists(_FLOATS, min_size=rows, max_size=rows).map(
        lambda v: torch.tensor(v, dtype=torch.float32).reshape(num_edges, f.dim).repeat(2, 1))


@st.composite
def graphs(draw: Any, spec: GraphSpec, min_nodes: int = 1, max_nodes: int = 8) -> Data:
    """A random graph carrying every field of ``spec`` (and sometimes its properties)."""
    hi = min(max_nodes, spec.max_nodes) if spec.max_nodes else max_nodes
    n = draw(st.integers(min_nodes, hi))
    data = Data(num_nodes=n)
    edge = spec.edge_field
    if edge is not None:
        ei, cls = draw(simple_edges(n, edge.num_classes))
        data.edge_index = ei
        setattr(data, edge.name, cls)
    for f in spec.fields:
        if f.level is Level.EDGE and f.kind is FieldKind.CONTINUOUS:
            setattr(data, f.name, draw(edge_values(f, data.edge_index.size(1) // 2)))
        elif f.level is not Level.EDGE:
            setattr(data, f.name, draw(field_values(f, n)))
    for p in spec.properties:
        if draw(st.booleans()):
            setattr(data, p, torch.tensor([draw(_FLOATS)], dtype=torch.float32))
    return data
