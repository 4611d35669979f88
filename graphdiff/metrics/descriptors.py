"""Per-graph descriptors compared by the MMD metrics: degree, clustering, orbit counts, spectrum.

Each function takes one simple undirected ``networkx.Graph`` with at least one node and returns
a 1-D ``numpy`` array, computed as GDSS ``evaluation/stats.py`` and DiGress
``src/analysis/spectre_utils.py`` (both adapted from GraphRNN/GRAN) compute it:

:func:`degree_histogram`
    ``nx.degree_histogram``: counts of nodes of degree 0, 1, ..., max degree (``degree_worker``).
:func:`clustering_histogram`
    Histogram of the local clustering coefficients (``nx.clustering``) in ``bins`` equal bins on
    ``[0, 1]`` (``clustering_worker``; both use 100 bins).
:func:`orbit_features`
    Counts of the 15 node orbits of the graphlets of 2–4 nodes (ORCA, ``orca(graph)`` of both
    codes, which call the ``orca`` binary with ``node 4``), summed over the nodes and divided by
    the number of nodes (``orbit_stats_all``). Counted here with the ``orbit-count`` package
    (Python bindings of the same ORCA C++ code).
:func:`spectral_pmf`
    Eigenvalues of the normalised Laplacian (``scipy.linalg.eigvalsh`` of
    ``nx.normalized_laplacian_matrix``), histogram of 200 bins on ``[-1e-5, 2]``, divided by its
    sum (``spectral_worker``).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

__all__ = ["degree_histogram", "clustering_histogram", "orbit_features", "spectral_pmf",
           "NUM_ORBITS", "orbit_counts_available"]

#: Node orbits of the connected graphlets of 2, 3 and 4 nodes.
NUM_ORBITS = 15


def degree_histogram(graph: nx.Graph) -> np.ndarray:
    """Number of nodes of each degree ``0..max``."""
    return np.asarray(nx.degree_histogram(graph), dtype=float)


def clustering_histogram(graph: nx.Graph, bins: int = 100) -> np.ndarray:
    """Histogram (counts) of the local clustering coefficients in ``bins`` bins on ``[0, 1]``."""
    coeffs = list(nx.clustering(graph).values())
    hist, _ = np.histogram(coeffs, bins=bins, range=(0.0, 1.0), density=False)
    return hist.astype(float)


def orbit_counts_available() -> bool:
    """Whether the ``orbit-count`` package (ORCA bindings) can be imported."""
    try:
        import orbit_count  # noqa: F401
    except ImportError:
        return False
    return True


def orbit_features(graph: nx.Graph) -> np.ndarray:
    """The 15 node-orbit counts of 4-node graphlets, summed over nodes, divided by the node count.

    Raises
    ------
    ImportError
        When the ``orbit-count`` package is not installed.
    """
    import orbit_count

    n = graph.number_of_nodes()
    if graph.number_of_edges() == 0:  # ORCA needs at least one edge; every count is 0
        return np.zeros(NUM_ORBITS, dtype=float)
    # Integer labels 0..n-1: orbit_count maps labels through str(), which could merge 1 and "1".
    simple = nx.convert_node_labels_to_integers(nx.Graph(graph))
    simple.remove_edges_from(list(nx.selfloop_edges(simple)))
    counts = orbit_count.node_orbit_counts(simple, graphlet_size=4)
    return np.asarray(counts, dtype=float).sum(axis=0) / n


def spectral_pmf(graph: nx.Graph, bins: int = 200) -> np.ndarray:
    """Histogram of the normalised-Laplacian eigenvalues on ``[-1e-5, 2]``, summing to 1."""
    from scipy.linalg import eigvalsh

    try:
        eigs = eigvalsh(nx.normalized_laplacian_matrix(graph).todense())
    except Exception:  # noqa: BLE001 - DiGress: a failed decomposition gives zero eigenvalues
        eigs = np.zeros(graph.number_of_nodes())
    pmf, _ = np.histogram(eigs, bins=bins, range=(-1e-5, 2), density=False)
    return pmf / pmf.sum()
