"""Synthetic road networks: planar, connected graphs with coordinates and lengths in metres."""

from __future__ import annotations

import math
from typing import Literal

import networkx as nx
import numpy as np

__all__ = ["road_like_graphs", "perturbed_grid", "pruned_delaunay"]


def _finish(graph: nx.Graph, name: str) -> nx.Graph:
    for u, v in graph.edges:
        a, b = graph.nodes[u], graph.nodes[v]
        graph.edges[u, v]["length"] = math.hypot(a["x"] - b["x"], a["y"] - b["y"])
    graph.graph["name"] = name
    return graph


def _thin(graph: nx.Graph, rng: np.random.Generator, fraction: float,
          candidates: list[tuple[int, int]] | None = None) -> None:
    """Remove about ``fraction`` of the edges (from ``candidates``), keeping the graph connected."""
    edges = list(candidates if candidates is not None else graph.edges)
    rng.shuffle(edges)
    target = int(round(fraction * graph.number_of_edges()))
    removed = 0
    for u, v in edges:
        if removed >= target:
            break
        graph.remove_edge(u, v)
        if nx.has_path(graph, u, v):
            removed += 1
        else:
            graph.add_edge(u, v)


def perturbed_grid(rng: np.random.Generator, rows: int, cols: int, *, spacing: float = 100.0,
                   jitter: float = 0.2, diagonal_prob: float = 0.15, remove_frac: float = 0.15,
                   name: str = "grid") -> nx.Graph:
    """A city-block network: a jittered ``rows x cols`` grid with a few diagonals, thinned.

    Nodes ``0..rows*cols-1`` sit at ``(col, row) * spacing`` plus a uniform jitter of at most
    ``jitter * spacing`` per axis (``jitter <= 0.2`` keeps every block convex, so the network
    stays planar: no two road segments cross). Each block gets one diagonal with probability
    ``diagonal_prob``; then about ``remove_frac`` of the segments are removed, never
    disconnecting the network.
    """
    if not 0 <= jitter <= 0.2:
        raise ValueError(f"jitter must lie in [0, 0.2] to keep the grid planar, got {jitter}")
    graph = nx.Graph()
    for r in range(rows):
        for c in range(cols):
            dx, dy = rng.uniform(-jitter, jitter, size=2) * spacing
            graph.add_node(r * cols + c, x=float(c * spacing + dx), y=float(r * spacing + dy))
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c
            if c + 1 < cols:
                graph.add_edge(k, k + 1)
            if r + 1 < rows:
                graph.add_edge(k, k + cols)
            if c + 1 < cols and r + 1 < rows and rng.random() < diagonal_prob:
                if rng.random() < 0.5:
                    graph.add_edge(k, k + cols + 1)
                else:
                    graph.add_edge(k + 1, k + cols)
    _thin(graph, rng, remove_frac)
    return _finish(graph, name)


def pruned_delaunay(rng: np.random.Generator, n: int, *, spacing: float = 100.0,
                    prune_factor: float = 1.6, name: str = "delaunay") -> nx.Graph:
    """An irregular network: Delaunay triangulation of random points with long edges pruned.

    ``n`` points are uniform in a square of side ``spacing * sqrt(n)`` (about one node per
    ``spacing^2``). Edges longer than ``prune_factor`` times the median edge length are removed,
    longest first, unless that would disconnect the network. A triangulation is planar, and so
    is any subgraph of it.
    """
    from scipy.spatial import Delaunay, QhullError

    side = spacing * math.sqrt(n)
    for _ in range(100):
        points = rng.uniform(0.0, side, size=(n, 2))
        try:
            tri = Delaunay(points)
            break
        except QhullError:  # degenerate (collinear) draw: try again
            continue
    else:  # pragma: no cover - vanishingly unlikely for n >= 3
        raise RuntimeError("could not triangulate random points")
    graph = nx.Graph()
    for k, (x, y) in enumerate(points):
        graph.add_node(k, x=float(x), y=float(y))
    for simplex in tri.simplices:
        a, b, c = (int(i) for i in simplex)
        graph.add_edges_from([(a, b), (b, c), (a, c)])
    length = {e: float(np.linalg.norm(points[e[0]] - points[e[1]])) for e in graph.edges}
    limit = prune_factor * float(np.median(list(length.values())))
    for (u, v), d in sorted(length.items(), key=lambda item: -item[1]):
        if d <= limit:
            break
        graph.remove_edge(u, v)
        if not nx.has_path(graph, u, v):
            graph.add_edge(u, v)
    return _finish(graph, name)


def road_like_graphs(n_graphs: int, seed: int, *, kind: Literal["grid", "delaunay", "mixed"] = "mixed",
                     min_nodes: int = 16, max_nodes: int = 100, spacing: float = 100.0) -> list[nx.Graph]:
    """Planar, connected road-network-like graphs for training and tests.

    Parameters
    ----------
    n_graphs:
        How many graphs.
    seed:
        Random seed: the same seed gives the same graphs.
    kind:
        ``"grid"`` (:func:`perturbed_grid`: city blocks), ``"delaunay"``
        (:func:`pruned_delaunay`: irregular street patterns) or ``"mixed"`` (each graph either,
        at random).
    min_nodes, max_nodes:
        Size range of each graph (a grid has ``rows * cols`` nodes in this range, with an
        aspect ratio of at most 3).
    spacing:
        Typical distance between neighbouring intersections, in metres.

    Returns
    -------
    list of nx.Graph
        Nodes ``0..n-1`` with float ``x``/``y`` (metres), edges with ``length`` equal to the
        straight-line distance (metres), ``graph["name"]`` such as ``"road-grid-3"``. They
        convert with the ``traffic`` domain without warnings.
    """
    if kind not in ("grid", "delaunay", "mixed"):
        raise ValueError(f"kind must be 'grid', 'delaunay' or 'mixed', got {kind!r}")
    if not 4 <= min_nodes <= max_nodes:
        raise ValueError(f"need 4 <= min_nodes <= max_nodes, got {min_nodes}, {max_nodes}")
    shapes = [(r, c) for r in range(2, max_nodes // 2 + 1) for c in range(2, max_nodes // r + 1)
              if min_nodes <= r * c <= max_nodes and r <= 3 * c and c <= 3 * r]
    if kind == "grid" and not shapes:
        raise ValueError(f"no grid of aspect <= 3 has between {min_nodes} and {max_nodes} nodes")
    rng = np.random.default_rng(seed)
    graphs = []
    for k in range(n_graphs):
        which = kind if kind != "mixed" else ("grid" if shapes and rng.random() < 0.5 else "delaunay")
        if which == "grid":
            rows, cols = shapes[int(rng.integers(len(shapes)))]
            graphs.append(perturbed_grid(rng, rows, cols, spacing=spacing, name=f"road-grid-{k}"))
        else:
            n = int(rng.integers(min_nodes, max_nodes + 1))
            graphs.append(pruned_delaunay(rng, n, spacing=spacing, name=f"road-delaunay-{k}"))
    return graphs
