"""Validity, uniqueness and novelty (V.U.N.) of generated graphs.

Definitions follow DiGress ``src/analysis/spectre_utils.py``
(``eval_fraction_unique_non_isomorphic_valid``, ``eval_fraction_isomorphic``,
``is_planar_graph``, ``is_sbm_graph``) and SPECTRE ``util/eval_helper.py`` (``is_grid_graph``):

unique
    A generated graph is unique when no *earlier* generated graph is isomorphic to it (the first
    of each isomorphism class counts as unique, its later copies do not). Uniqueness is the
    fraction of unique graphs among all generated ones.
novel
    Not isomorphic to any training graph. Novelty is the fraction of novel graphs among all
    generated ones (DiGress ``frac_non_iso``).
valid
    Dataset-specific, see :data:`VALIDITY`. V.U.N. is the fraction of generated graphs that are
    unique, novel and valid (DiGress ``frac_unique_non_iso_valid``).

Isomorphism is decided exactly with ``networkx.is_isomorphic``; graphs are first bucketed by
their Weisfeiler–Lehman hash (``networkx.weisfeiler_lehman_graph_hash``: isomorphic graphs
always share it), so only same-hash pairs are tested.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import networkx as nx
import numpy as np

__all__ = ["wl_hash", "first_isomorphic", "match_in", "is_planar_valid", "is_grid_valid", "is_road_valid",
           "segments_conflict", "sbm_wald_pvalue", "sbm_block_counts", "sbm_log_likelihood", "louvain_sbm_fit",
           "SBM_FITS", "LOUVAIN_RESOLUTIONS", "is_sbm_valid", "graph_tool_available", "VALIDITY", "validity_function"]


def wl_hash(graph: nx.Graph) -> str:
    """Weisfeiler–Lehman hash of the structure (3 iterations); equal for isomorphic graphs.

    Only compared within one run (networkx 3.5 changed the hashes of unlabelled graphs; the
    warning it gives about that is silenced here).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return nx.weisfeiler_lehman_graph_hash(graph, iterations=3)


def first_isomorphic(graphs: Sequence[nx.Graph]) -> list[int | None]:
    """For each graph, the index of the first earlier graph isomorphic to it (``None`` if none)."""
    buckets: dict[str, list[int]] = {}
    out: list[int | None] = []
    for i, g in enumerate(graphs):
        reps = buckets.setdefault(wl_hash(g), [])
        match = next((j for j in reps if nx.is_isomorphic(g, graphs[j])), None)
        if match is None:
            reps.append(i)
        out.append(match)
    return out


def match_in(graphs: Sequence[nx.Graph], pool: Sequence[nx.Graph]) -> list[int | None]:
    """For each graph, the index of a graph of ``pool`` isomorphic to it (``None`` if none)."""
    buckets: dict[str, list[int]] = {}
    for j, g in enumerate(pool):
        buckets.setdefault(wl_hash(g), []).append(j)
    return [next((j for j in buckets.get(wl_hash(g), []) if nx.is_isomorphic(g, pool[j])), None)
            for g in graphs]


# ---------------------------------------------------------------------------- validity
def is_planar_valid(graph: nx.Graph) -> bool:
    """Planar dataset: connected and planar (DiGress ``is_planar_graph``). No nodes: invalid."""
    if graph.number_of_nodes() == 0:
        return False
    return bool(nx.is_connected(graph) and nx.check_planarity(graph)[0])


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Whether the closed segments p1-p2 and q1-q2 intersect (collinear overlaps included)."""
    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on(a, b, c) -> bool:  # c on segment a-b, given collinear
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    d1, d2, d3, d4 = orient(q1, q2, p1), orient(q1, q2, p2), orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return ((d1 == 0 and on(q1, q2, p1)) or (d2 == 0 and on(q1, q2, p2))
            or (d3 == 0 and on(p1, p2, q1)) or (d4 == 0 and on(p1, p2, q2)))


def is_road_valid(graph: nx.Graph, x: str = "x", y: str = "y") -> bool:
    """Road networks: connected, and drawn with straight segments between the nodes' ``x``/``y``
    coordinates no two segments cross (road segments meet only at junctions, which are nodes).
    Segments that share an end node may only touch there. No nodes: invalid."""
    if graph.number_of_nodes() == 0 or not nx.is_connected(graph):
        return False
    xy = {u: (float(d[x]), float(d[y])) for u, d in graph.nodes(data=True)}
    if len(set(xy.values())) < len(xy):
        return False  # two junctions at one point
    edges = list(graph.edges)
    return not any(segments_conflict(xy, a, b, c, d)
                   for i, (a, b) in enumerate(edges) for c, d in edges[i + 1:])


def segments_conflict(xy, a, b, c, d) -> bool:
    """Whether the straight segments ``a–b`` and ``c–d`` between nodes at ``xy[node]`` conflict
    as road segments: without a shared end node, when they intersect at all (touching and
    collinear overlaps included); with one shared end node, when they overlap beyond it
    (collinear and pointing the same way). The same edge never conflicts with itself."""
    shared = {a, b} & {c, d}
    if not shared:
        return _segments_cross(xy[a], xy[b], xy[c], xy[d])
    if len(shared) > 1:
        return False
    (s,) = shared
    u, v = (b if a == s else a), (d if c == s else c)
    o = (xy[u][0] - xy[s][0]) * (xy[v][1] - xy[s][1]) - (xy[u][1] - xy[s][1]) * (xy[v][0] - xy[s][0])
    dot = (xy[u][0] - xy[s][0]) * (xy[v][0] - xy[s][0]) + (xy[u][1] - xy[s][1]) * (xy[v][1] - xy[s][1])
    return bool(o == 0 and dot > 0)


def is_grid_valid(graph: nx.Graph, max_side: int = 19) -> bool:
    """Grid dataset: isomorphic to a 2-D grid ``i × j`` with ``2 <= i, j <= max_side``.

    SPECTRE ``is_grid_graph`` compares with every ``nx.grid_2d_graph(i, j)`` for ``i, j`` in
    ``range(2, 20)`` with the same node count.
    """
    n = graph.number_of_nodes()
    for i in range(2, max_side + 1):
        j, rem = divmod(n, i)
        if rem or j < i or j > max_side:  # j >= i: an i×j grid is isomorphic to j×i
            continue
        grid = nx.grid_2d_graph(i, j)
        if nx.faster_could_be_isomorphic(graph, grid) and nx.is_isomorphic(graph, grid):
            return True
    return False


def sbm_wald_pvalue(block_sizes: Sequence[int], edge_counts: np.ndarray, p_intra: float = 0.3,
                    p_inter: float = 0.005) -> float:
    """Mean Wald-test p-value that a block partition has the SBM's edge probabilities.

    DiGress ``is_sbm_graph`` after its block-model fit: from the block sizes ``n_r`` and the
    undirected edge counts ``m_rs`` (``m_rr`` inside block ``r``), estimate
    ``p_rr = 2 m_rr / (n_r (n_r − 1))`` and ``p_rs = m_rs / (n_r n_s)``; for each, the Wald
    statistic ``W = (p̂ − p)² / (p̂ (1 − p̂) + 1e-6)`` and ``1 − chi2.cdf(W, 1)``; return their
    mean (the graph passes when it is > 0.9). As in DiGress, ``W`` has no sample-size factor,
    which makes the test lenient; it is kept as published. DiGress builds a *directed* graph-tool graph with
    both edge directions, so its intra-block counts are ``2 m_rr`` over ``n_r (n_r − 1)`` and its
    inter-block counts ``m_rs`` over ``n_r n_s``, which is what is written here.
    """
    from scipy.stats import chi2

    sizes = np.asarray(block_sizes, dtype=float)
    m = np.asarray(edge_counts, dtype=float)
    est_intra = 2.0 * np.diagonal(m) / (sizes * (sizes - 1) + 1e-6)
    inter = m.copy()
    np.fill_diagonal(inter, 0.0)
    est_inter = inter / (np.outer(sizes, sizes) + 1e-6)
    w_intra = (est_intra - p_intra) ** 2 / (est_intra * (1 - est_intra) + 1e-6)
    w = (est_inter - p_inter) ** 2 / (est_inter * (1 - est_inter) + 1e-6)
    np.fill_diagonal(w, w_intra)
    return float((1 - chi2.cdf(np.abs(w), 1)).mean())


def graph_tool_available() -> bool:
    """Whether ``graph_tool`` (needed for the SBM block-model fit) can be imported."""
    try:
        import graph_tool.all  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a broken binary install
        return False
    return True


def sbm_block_counts(graph: nx.Graph, blocks: Sequence[Sequence]) -> tuple[np.ndarray, np.ndarray]:
    """Block sizes ``n_r`` and undirected edge counts ``m_rs`` (``m_rr``: edges inside block
    ``r``) of a partition ``blocks`` of the graph's nodes."""
    where = {v: r for r, block in enumerate(blocks) for v in block}
    missing = [v for v in graph if v not in where]
    if missing:
        raise ValueError(f"the partition leaves out node {missing[0]!r}")
    k = len(blocks)
    counts = np.zeros((k, k))
    for u, v in graph.edges():
        r, s = where[u], where[v]
        if r == s:
            counts[r, r] += 1
        else:
            counts[r, s] += 1
            counts[s, r] += 1
    return np.array([len(b) for b in blocks], dtype=float), counts


def _sbm_blocks_pass(sizes: np.ndarray, counts: np.ndarray, p_intra: float, p_inter: float) -> bool:
    """DiGress's rules after the fit: 2-5 blocks of 20-40 nodes and a mean Wald p-value > 0.9."""
    if len(sizes) < 2 or len(sizes) > 5 or (sizes > 40).any() or (sizes < 20).any():
        return False
    return sbm_wald_pvalue(sizes, counts, p_intra, p_inter) > 0.9


#: Block-model fits :func:`is_sbm_valid` knows.
SBM_FITS = ("graph-tool", "louvain")
#: Louvain resolutions tried by the ``louvain`` fit; the partition with the lowest BIC wins.
LOUVAIN_RESOLUTIONS = (0.25, 0.5, 0.75, 1.0, 1.5)


def sbm_log_likelihood(sizes: np.ndarray, counts: np.ndarray) -> float:
    """Bernoulli block-model log-likelihood at its maximum (``p_rs`` = edge density of each
    block pair) for block sizes ``n_r`` and undirected edge counts ``m_rs``."""
    pairs = np.outer(sizes, sizes)
    np.fill_diagonal(pairs, sizes * (sizes - 1) / 2)
    iu = np.triu_indices(len(sizes))
    m, total = counts[iu], pairs[iu]
    p = np.divide(m, total, out=np.zeros_like(m), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = np.where(m > 0, m * np.log(np.where(p > 0, p, 1.0)), 0.0)
        gap = np.where(total - m > 0, (total - m) * np.log(np.where(p < 1, 1 - p, 1.0)), 0.0)
    return float((edge + gap).sum())


def _sbm_bic(graph: nx.Graph, blocks: list[list]) -> tuple[float, np.ndarray, np.ndarray]:
    sizes, counts = sbm_block_counts(graph, blocks)
    n, k = graph.number_of_nodes(), len(blocks)
    bic = (-2 * sbm_log_likelihood(sizes, counts) + k * (k + 1) / 2 * np.log(max(n * (n - 1) / 2, 1))
           + n * np.log(k))
    return bic, sizes, counts


def louvain_sbm_fit(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """Block sizes and edge counts of a block model fitted without graph-tool.

    Louvain communities (networkx, seed 0) at each of :data:`LOUVAIN_RESOLUTIONS`; an isolated
    node's singleton community joins the block that raises the likelihood most; the partition
    with the lowest BIC (``-2 log L + K(K+1)/2 log(n(n-1)/2) + n log K``) is kept.
    """
    best = None
    for res in LOUVAIN_RESOLUTIONS:
        blocks = [sorted(b, key=str) for b in nx.community.louvain_communities(graph, resolution=res, seed=0)]
        isolated, rest = [], []
        for block in blocks:
            (isolated if len(block) == 1 and graph.degree(block[0]) == 0 else rest).append(block)
        if not rest:                       # no edges: the first isolated node starts a block
            rest, isolated = isolated[:1], isolated[1:]
        for single in isolated:
            placed = graph.subgraph([v for b in rest for v in b] + single)
            scores = [sbm_log_likelihood(*sbm_block_counts(placed, rest[:r] + [rest[r] + single] + rest[r + 1:]))
                      for r in range(len(rest))]
            r = int(np.argmax(scores))
            rest[r] = rest[r] + single
        fit = _sbm_bic(graph, rest)
        if best is None or fit[0] < best[0]:
            best = fit
    return best[1], best[2]


def is_sbm_valid(graph: nx.Graph, p_intra: float = 0.3, p_inter: float = 0.005,
                 refinement_steps: int = 1000, fit: str = "graph-tool") -> bool:
    """SBM dataset (DiGress ``is_sbm_graph``, ``strict=True``): fit a block model, then the
    graph is valid when there are 2–5 blocks of 20–40 nodes and :func:`sbm_wald_pvalue` > 0.9.

    ``fit="graph-tool"`` is DiGress's fit: graph-tool's ``minimize_blockmodel_dl`` then
    ``refinement_steps`` merge-split sweeps. ``fit="louvain"`` (:func:`louvain_sbm_fit`:
    Louvain partitions at several resolutions, the one with the lowest BIC kept) is for
    machines without graph-tool; it is not the published fit, and results say which fit made
    them. On this repository's SBM split it passes 118 of the 128 training and 39 of the 40 test
    graphs; real graphs with a block that has no edge to the others fail whatever the fit,
    since DiGress's Wald statistic rejects a zero inter-block density.

    Raises
    ------
    ImportError
        ``fit="graph-tool"`` without ``graph_tool`` (not on PyPI; conda-forge only).
    ValueError
        For an unknown ``fit``.
    """
    if fit not in SBM_FITS:
        raise ValueError(f"unknown SBM fit {fit!r}; fits: {', '.join(SBM_FITS)}")
    if graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
        return False
    if fit == "louvain":
        return _sbm_blocks_pass(*louvain_sbm_fit(graph), p_intra, p_inter)
    import graph_tool.all as gt

    adj = nx.to_numpy_array(graph)
    g = gt.Graph()
    g.add_edge_list(np.transpose(adj.nonzero()))
    try:
        state = gt.minimize_blockmodel_dl(g)
    except ValueError:
        return False
    for _ in range(refinement_steps):
        state.multiflip_mcmc_sweep(beta=np.inf, niter=10)
    state = state.copy(b=gt.contiguous_map(state.get_blocks()))
    n_blocks = state.get_nonempty_B()
    sizes = state.get_nr().get_array()[:n_blocks]
    directed_counts = np.asarray(state.get_matrix().todense())[:n_blocks, :n_blocks]
    # undirected counts: the directed graph holds each edge twice (inside a block, both on the
    # diagonal; between blocks r and s, once in e_rs and once in e_sr)
    counts = directed_counts.astype(float)
    np.fill_diagonal(counts, np.diagonal(directed_counts) / 2.0)
    return _sbm_blocks_pass(np.asarray(sizes, dtype=float), counts, p_intra, p_inter)


def _sbm_validity(graph: nx.Graph) -> bool:
    return is_sbm_valid(graph)


def _sbm_validity_louvain(graph: nx.Graph) -> bool:
    return is_sbm_valid(graph, fit="louvain")


#: Dataset -> (validity function or None, description). ``None``: no validity is defined.
VALIDITY: dict[str, tuple[Callable[[nx.Graph], bool] | None, str]] = {
    "planar": (is_planar_valid, "connected and planar (DiGress is_planar_graph)"),
    "sbm": (_sbm_validity, "SBM block-model fit with graph-tool, Wald test p > 0.9 (DiGress is_sbm_graph)"),
    "grid": (is_grid_valid, "isomorphic to a 2-D grid i×j, 2 <= i, j <= 19 (SPECTRE is_grid_graph)"),
    "community-small": (None, "none: GDSS and DiGress define no validity for community-small"),
    "roads": (is_road_valid, "connected, and no two straight road segments (node x/y) cross"),
}


def validity_function(dataset: str | None) -> tuple[Callable[[nx.Graph], bool] | None, str]:
    """``(function or None, note)`` for a dataset; ``None`` with the reason when unavailable."""
    if dataset is None:
        return None, "none: no dataset given (pass dataset= planar, sbm, grid or community-small)"
    if dataset not in VALIDITY:
        return None, f"none: no validity is defined for dataset {dataset!r}"
    fn, note = VALIDITY[dataset]
    if dataset == "sbm" and not graph_tool_available():
        return _sbm_validity_louvain, (
            "SBM blocks fitted by Louvain communities (networkx, seed 0), then DiGress's rules (2-5 "
            "blocks of 20-40 nodes, Wald test p > 0.9): graph_tool, whose block-model fit DiGress "
            "uses, is not installed, so this is not the published fit")
    return fn, note
