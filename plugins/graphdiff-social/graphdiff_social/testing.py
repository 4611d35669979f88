"""Hypothesis strategies of valid ``social`` domain inputs, for tests of this and other plugins."""

from __future__ import annotations

from typing import Any, Hashable

import networkx as nx
from hypothesis import strategies as st

__all__ = ["node_labels", "social_graphs", "weighted_graphs", "LABEL_KINDS"]

#: Kinds of node labels :func:`node_labels` draws.
LABEL_KINDS = ("int", "str", "tuple", "mixed")

_INTS = st.integers(min_value=-10_000, max_value=10_000)
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


def _label(kind: str) -> st.SearchStrategy[Hashable]:
    if kind == "int":
        return _INTS
    if kind == "str":
        return _TEXT
    if kind == "tuple":
        return st.tuples(_INTS, _TEXT)
    if kind == "mixed":
        return st.one_of(_INTS, _TEXT)
    raise ValueError(f"unknown label kind {kind!r}; kinds: {', '.join(LABEL_KINDS)}")


@st.composite
def node_labels(draw: Any, n: int, kind: str | None = None) -> list[Hashable]:
    """``n`` distinct node labels of one kind (``int``, ``str``, ``tuple`` or ``mixed``
    int/str, which do not sort), in random order. ``kind=None`` draws the kind too."""
    kind = kind or draw(st.sampled_from(LABEL_KINDS))
    return draw(st.lists(_label(kind), min_size=n, max_size=n, unique=True))


@st.composite
def social_graphs(draw: Any, min_nodes: int = 1, max_nodes: int = 12,
                  label_kind: str | None = None) -> nx.Graph:
    """A simple undirected ``networkx.Graph`` with ``min_nodes..max_nodes`` nodes.

    Labels come from :func:`node_labels` and are inserted in random order; edges are a random
    subset of the node pairs (possibly none, possibly all). No attributes.
    """
    n = draw(st.integers(min_nodes, max_nodes))
    labels = draw(node_labels(n, label_kind))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    graph = nx.Graph()
    graph.add_nodes_from(labels)
    graph.add_edges_from((labels[i], labels[j]) for i, j in chosen)
    return graph


#: edge values: any float32 (kept exactly), or a float64 that float32 rounds but does not flush to zero
_WEIGHTS = st.one_of(st.floats(width=32, allow_nan=False, allow_infinity=False),
                     st.floats(min_value=-1e30, max_value=1e30).filter(lambda x: x == 0.0 or abs(x) > 1e-30),
                     st.integers(-10**6, 10**6))


@st.composite
def weighted_graphs(draw: Any, attr: str = "weight", min_nodes: int = 1, max_nodes: int = 12,
                    label_kind: str | None = None) -> nx.Graph:
    """A :func:`social_graphs` graph whose every edge carries a real number ``attr`` (a float32,
    a float64 in float32's normal range, or an int)."""
    graph = draw(social_graphs(min_nodes, max_nodes, label_kind))
    for u, v in graph.edges:
        graph.edges[u, v][attr] = draw(_WEIGHTS)
    return graph
