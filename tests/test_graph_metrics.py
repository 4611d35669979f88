"""graphdiff.metrics: MMD² of graph statistics (GDSS and DiGress kernels) and V.U.N."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from graphdiff.errors import ConfigError, DataError
from graphdiff.metrics import (
    CONVENTIONS,
    DEFAULT_KERNEL,
    STATISTICS,
    canonical_dataset,
    dng_metric,
    graph_metrics,
    is_grid_valid,
    is_planar_valid,
    mmd_all,
    mmd_statistic,
    resolve_kernel,
)
from graphdiff.metrics.descriptors import orbit_features, spectral_pmf
from graphdiff.metrics.kernels import distance_matrix, mmd2
from graphdiff.metrics.vun import first_isomorphic, match_in, sbm_wald_pvalue

KERNELS = ("gdss", "digress")


def _er(count: int, n: int = 14, p: float = 0.3, seed: int = 0) -> list[nx.Graph]:
    return [nx.gnp_random_graph(n, p, seed=seed + i) for i in range(count)]


def _delaunay(count: int, n: int = 24, seed: int = 0) -> list[nx.Graph]:
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        g = nx.empty_graph(n)
        for a, b, c in Delaunay(rng.random((n, 2))).simplices:
            g.add_edges_from([(a, b), (b, c), (c, a)])
        graphs.append(g)
    return graphs


ER = _er(12)
PLANAR = _delaunay(12)


# ---------------------------------------------------------------------------- MMD²
@pytest.mark.parametrize("kernel", KERNELS)
def test_a_set_against_itself_is_zero_for_every_statistic(kernel):
    for graphs in (ER, PLANAR):
        values = mmd_all(graphs, [g.copy() for g in graphs], kernel)
        assert set(values) == set(STATISTICS)
        assert all(v == 0.0 for v in values.values()), values


@pytest.mark.parametrize("kernel", KERNELS)
def test_different_generators_give_a_clearly_positive_mmd(kernel):
    values = mmd_all(ER, PLANAR, kernel)
    # measured (12 ER G(14, 0.3) vs 12 Delaunay graphs of 24 nodes):
    #   gdss    degree 0.586, clustering 1.236, orbit 0.389, spectral 0.252
    #   digress degree 0.108, clustering 0.312, orbit 0.619, spectral 0.126
    assert all(v > 0.05 for v in values.values()), values
    # symmetric in its two arguments
    back = mmd_all(PLANAR, ER, kernel)
    assert all(math.isclose(values[s], back[s], rel_tol=1e-12) for s in STATISTICS)


def test_same_generator_is_closer_than_a_different_one():
    # Two samples of one generator vs samples of two. Degree and orbit separate them by far
    # (gdss: 0.079 vs 0.586, 0.017 vs 0.389). GDSS's spectral EMD (σ = 1, distance in 0.01-wide
    # bins) and DiGress's clustering TV (σ = 0.1) are near zero for any two non-identical
    # small graphs, so their MMD² sits near 1/n + 1/m (here 0.167) for any two samples.
    for kernel in KERNELS:
        for ref, same_gen, other_gen in ((ER, _er(12, seed=100), PLANAR),
                                          (PLANAR, _delaunay(12, seed=100), ER)):
            same, other = mmd_all(same_gen, ref, kernel), mmd_all(other_gen, ref, kernel)
            for stat in STATISTICS:
                assert same[stat] < other[stat], (kernel, stat, same[stat], other[stat])
            for stat in ("degree", "orbit"):
                assert same[stat] < other[stat] / 3, (kernel, stat, same[stat], other[stat])


def test_degree_mmd_by_hand():
    # P3: degree pmf [0, 2/3, 1/3]; K3: [0, 0, 1]. EMD of the cumulative sums = 2/3 and the
    # TV distance = (2/3 + 2/3) / 2 = 2/3, so with σ = 1 both kernels give k = exp(-2/9) and
    # MMD² = 1 + 1 - 2 exp(-2/9) (DiGress's 1e-6 normalisation moves it by ~1e-6).
    expected = 2 - 2 * math.exp(-2 / 9)
    assert mmd_statistic([nx.path_graph(3)], [nx.complete_graph(3)], "degree", "gdss") == pytest.approx(
        expected, abs=1e-12)
    assert mmd_statistic([nx.path_graph(3)], [nx.complete_graph(3)], "degree", "digress") == pytest.approx(
        expected, abs=1e-5)


def test_clustering_emd_uses_the_bin_scaling():
    # K3: every coefficient 1 (last bin); a star: every coefficient 0 (first bin). The EMD moves
    # all mass 99 bins, scaled by 1/100 -> 0.99; σ = 0.1 makes the kernel ~exp(-49).
    value = mmd_statistic([nx.complete_graph(3)], [nx.star_graph(3)], "clustering", "gdss")
    assert value == pytest.approx(2 - 2 * math.exp(-(0.99 ** 2) / (2 * 0.01)), abs=1e-12)
    # TV between disjoint pmfs is 1: 2 - 2 exp(-1 / 0.02)
    value = mmd_statistic([nx.complete_graph(3)], [nx.star_graph(3)], "clustering", "digress")
    assert value == pytest.approx(2 - 2 * math.exp(-1 / 0.02), abs=1e-6)


def test_orbit_features_count_4_node_orbits():
    # Triangle: each node has degree 2 (orbit 0) and sits on one triangle (orbit 3).
    tri = orbit_features(nx.complete_graph(3))
    assert tri.shape == (15,)
    assert tri[0] == 2 and tri[3] == 1 and tri.sum() == 3
    # K4: degree 3, 3 triangles, 1 four-clique (orbit 14) per node.
    k4 = orbit_features(nx.complete_graph(4))
    assert k4[0] == 3 and k4[3] == 3 and k4[14] == 1
    # labels of any type, and graphs without edges
    assert orbit_features(nx.relabel_nodes(nx.complete_graph(3), {0: "a", 1: (1, 2), 2: 3.5}))[3] == 1
    assert not orbit_features(nx.empty_graph(3)).any()


def test_spectral_pmf_is_a_200_bin_pmf():
    pmf = spectral_pmf(nx.cycle_graph(6))
    assert pmf.shape == (200,) and pmf.sum() == pytest.approx(1.0)
    assert pmf[0] == pytest.approx(1 / 6)  # one zero eigenvalue of six


def test_kernels_and_estimator_details():
    x = np.array([[0.5, 0.5, 0.0]])
    y = np.array([[0.0, 0.5, 0.5]])
    assert distance_matrix(x, y, "emd")[0, 0] == pytest.approx(1.0)
    assert distance_matrix(x, y, "emd", distance_scaling=4)[0, 0] == pytest.approx(0.25)
    assert distance_matrix(x, y, "tv")[0, 0] == pytest.approx(0.5)
    assert distance_matrix(x, y, "l2")[0, 0] == pytest.approx(math.sqrt(0.5))
    # vectors of different lengths are zero-padded
    assert mmd2([np.array([1.0])], [np.array([1.0, 0.0, 0.0])], "tv", 1.0) == 0.0
    assert math.isnan(mmd2([], [np.array([1.0])], "tv", 1.0))
    with pytest.raises(ConfigError, match="unknown kernel"):
        distance_matrix(x, y, "cosine")


def test_conventions_match_the_published_settings():
    gdss, digress = CONVENTIONS["gdss"], CONVENTIONS["digress"]
    assert [(gdss[s].kernel, gdss[s].sigma) for s in STATISTICS] == [
        ("emd", 1.0), ("emd", 0.1), ("l2", 30.0), ("emd", 1.0)]
    assert gdss["clustering"].distance_scaling == 100
    assert [(digress[s].kernel, digress[s].sigma) for s in STATISTICS] == [
        ("tv", 1.0), ("tv", 0.1), ("tv", 30.0), ("tv", 1.0)]
    assert not gdss["orbit"].is_hist and not digress["orbit"].is_hist
    assert resolve_kernel("EMD") == "gdss" and resolve_kernel("spectre") == "digress"
    with pytest.raises(ConfigError, match="unknown kernel convention"):
        resolve_kernel("rbf")


def test_empty_generated_graphs_are_left_out_of_the_mmd():
    with_empty = ER + [nx.Graph()]
    assert mmd_all(with_empty, ER, "gdss") == mmd_all(ER, ER, "gdss")
    result = graph_metrics(with_empty, ER, kernel="gdss", statistics=("degree",))
    assert result["mmd"]["degree"] == 0.0
    assert any("without nodes" in n for n in result["notes"])


# ---------------------------------------------------------------------------- validity
def test_planar_validity():
    assert all(is_planar_valid(g) for g in PLANAR)
    assert not is_planar_valid(nx.complete_graph(5))
    assert not is_planar_valid(nx.complete_bipartite_graph(3, 3))
    assert not is_planar_valid(nx.disjoint_union(nx.path_graph(3), nx.path_graph(3)))  # not connected
    assert not is_planar_valid(nx.Graph())


def _placed(edges, xy):
    g = nx.Graph(edges)
    nx.set_node_attributes(g, {u: {"x": float(p[0]), "y": float(p[1])} for u, p in xy.items()})
    return g


def test_road_validity_is_a_crossing_free_straight_line_drawing():
    from graphdiff.metrics.vun import is_road_valid

    square = {0: (0, 0), 1: (1, 0), 2: (1, 1), 3: (0, 1)}
    ring = [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert is_road_valid(_placed(ring + [(0, 2)], square))             # one diagonal: fine
    assert not is_road_valid(_placed(ring + [(0, 2), (1, 3)], square))  # two diagonals cross
    # K4 is a planar graph, but not in this drawing: validity is about the coordinates
    assert nx.check_planarity(_placed(ring + [(0, 2), (1, 3)], square))[0]
    # a segment through a junction it does not end at, overlapping segments, two nodes at one point
    line = {0: (0, 0), 1: (1, 0), 2: (2, 0)}
    assert not is_road_valid(_placed([(0, 2), (1, 0)], line))
    assert is_road_valid(_placed([(0, 1), (1, 2)], line))
    assert not is_road_valid(_placed([(0, 1), (1, 2)], {0: (0, 0), 1: (1, 0), 2: (0, 0)}))
    assert not is_road_valid(_placed([(0, 1), (2, 3)], square))          # not connected
    assert not is_road_valid(nx.Graph())
    # the road generator's networks all pass, whatever their block size
    from graphdiff_traffic.generators import road_like_graphs

    assert all(is_road_valid(g) for g in road_like_graphs(12, 3, spacing=80.0, min_nodes=16, max_nodes=40))


def test_grid_validity():
    assert is_grid_valid(nx.grid_2d_graph(3, 7))
    assert is_grid_valid(nx.convert_node_labels_to_integers(nx.grid_2d_graph(19, 10)))
    assert is_grid_valid(nx.cycle_graph(4))  # the 2 x 2 grid
    assert not is_grid_valid(nx.path_graph(6))  # 1 x 6 is below SPECTRE's smallest side (2)
    assert not is_grid_valid(nx.grid_2d_graph(20, 20))  # beyond 19
    broken = nx.grid_2d_graph(4, 4)
    broken.remove_edge((0, 0), (0, 1))
    broken.add_edge((0, 0), (1, 1))
    assert not is_grid_valid(broken)


def test_sbm_wald_test_accepts_the_true_parameters_and_rejects_others():
    sizes = [30, 25]
    # exactly the SBM densities: p_intra = 0.3, p_inter = 0.005
    edges = np.array([[0.3 * 30 * 29 / 2, 0.005 * 30 * 25], [0.005 * 30 * 25, 0.3 * 25 * 24 / 2]])
    assert sbm_wald_pvalue(sizes, edges) == pytest.approx(1.0, abs=1e-3)
    # Twice the intra density, 20x the inter one. DiGress's statistic has no sample-size factor,
    # W = (p̂ - p)² / (p̂ (1 - p̂)), so it is lenient (mean p-value 0.646 here), but below the 0.9
    # that a valid graph needs.
    dense = np.array([[0.6 * 30 * 29 / 2, 0.1 * 750], [0.1 * 750, 0.6 * 25 * 24 / 2]])
    assert sbm_wald_pvalue(sizes, dense) == pytest.approx(0.6459, abs=1e-4)


def test_sbm_without_graph_tool_falls_back_to_a_named_louvain_fit(monkeypatch):
    import graphdiff.metrics.vun as vun

    monkeypatch.setattr(vun, "graph_tool_available", lambda: False)
    result = graph_metrics(PLANAR[:3], PLANAR, train=ER, dataset="sbm", statistics=("degree",))
    assert result["validity"] == 0.0 and result["vun"] == 0.0
    assert "Louvain" in result["validity_check"] and "not the published fit" in result["validity_check"]
    assert result["uniqueness"] == 1.0 and result["novelty"] == 1.0
    assert all(row["valid"] is False for row in result["per_item"])


def test_louvain_sbm_fit_recovers_planted_blocks_and_judges_like_digress():
    from graphdiff.metrics.vun import is_sbm_valid, louvain_sbm_fit
    from graphdiff_social.datasets import generate_graphs

    sbm = nx.stochastic_block_model([25, 35, 30], [[0.3, 0.005, 0.005], [0.005, 0.3, 0.005],
                                                   [0.005, 0.005, 0.3]], seed=3)
    sizes, counts = louvain_sbm_fit(sbm)
    assert sorted(sizes.tolist()) == [25.0, 30.0, 35.0]
    assert np.trace(counts) + counts[np.triu_indices(3, 1)].sum() == sbm.number_of_edges()
    assert is_sbm_valid(sbm, fit="louvain")
    # an isolated node joins a block rather than forming a block of one
    lonely = sbm.copy()
    lonely.add_node("alone")
    assert len(louvain_sbm_fit(lonely)[0]) == 3
    # the dataset's own graphs mostly pass; other families never do
    real = generate_graphs("sbm", seed=0)[:20]
    assert sum(is_sbm_valid(g, fit="louvain") for g in real) >= 16
    assert not any(is_sbm_valid(g, fit="louvain") for g in PLANAR + ER)
    dense = nx.stochastic_block_model([30, 30], [[0.6, 0.1], [0.1, 0.6]], seed=1)
    assert not is_sbm_valid(dense, fit="louvain")
    with pytest.raises(ValueError, match="unknown SBM fit"):
        is_sbm_valid(sbm, fit="spectral")


# ---------------------------------------------------------------------------- uniqueness, novelty
def test_isomorphism_helpers():
    c4 = nx.cycle_graph(4)
    c4_relabelled = nx.relabel_nodes(c4, {0: "x", 1: "y", 2: "z", 3: "w"})
    p4, k3 = nx.path_graph(4), nx.complete_graph(3)
    assert first_isomorphic([c4, p4, c4_relabelled, k3, p4]) == [None, None, 0, None, 1]
    assert match_in([c4, k3, p4], [p4, nx.star_graph(3), c4]) == [2, None, 0]


def test_vun_on_hand_built_cases():
    c4 = nx.cycle_graph(4)
    gen = [c4, nx.relabel_nodes(c4, {0: 3, 1: 0, 2: 1, 3: 2}), nx.path_graph(4), nx.complete_graph(3),
           nx.complete_graph(5)]
    train = [nx.path_graph(4), nx.star_graph(5)]
    r = graph_metrics(gen, gen, train=train, dataset="planar", ids=["a", "b", "c", "d", "e"],
                      statistics=("degree",))
    rows = {row["id"]: row for row in r["per_item"]}
    assert [rows[i]["unique"] for i in "abcde"] == [True, False, True, True, True]
    assert rows["b"]["duplicate_of"] == "a"
    assert [rows[i]["novel"] for i in "abcde"] == [True, True, False, True, True]
    assert rows["c"]["train_match"] == "0"
    assert [rows[i]["valid"] for i in "abcde"] == [True, True, True, True, False]  # K5 is not planar
    assert [rows[i]["vun"] for i in "abcde"] == [True, False, False, True, False]
    assert r["uniqueness"] == pytest.approx(4 / 5) and r["novelty"] == pytest.approx(4 / 5)
    assert r["validity"] == pytest.approx(4 / 5) and r["unique_novel"] == pytest.approx(3 / 5)
    assert r["vun"] == pytest.approx(2 / 5)


def test_without_train_novelty_is_not_reported():
    r = graph_metrics(PLANAR[:4], PLANAR, dataset="planar", statistics=("degree",))
    assert r["novelty"] is None and r["vun"] is None and r["validity"] == 1.0
    assert any("no training graphs" in n for n in r["notes"])


def test_community_small_has_no_validity_and_datasets_pick_their_kernel():
    r = graph_metrics(ER[:3], ER, train=ER[3:], dataset="community_small", statistics=("degree",))
    assert r["dataset"] == "community-small" and r["kernel"] == "gdss"
    assert r["validity"] is None and r["vun"] is None and r["validity_check"].startswith("none")
    assert r["uniqueness"] == 1.0 and r["novelty"] == 1.0 and r["unique_novel"] == 1.0
    assert graph_metrics(PLANAR[:2], PLANAR, dataset="planar", statistics=("degree",))["kernel"] == "digress"
    assert graph_metrics(PLANAR[:2], PLANAR, dataset="planar", kernel="gdss",
                         statistics=("degree",))["kernel"] == "gdss"
    assert DEFAULT_KERNEL == {"community-small": "gdss", "grid": "gdss", "sbm": "digress", "planar": "digress"}
    assert canonical_dataset("Comm20") == "community-small" and canonical_dataset(None) is None


# ---------------------------------------------------------------------------- records
def test_dng_metric_takes_records():
    gen = [{"id": f"g{i}", "obj": g} for i, g in enumerate(PLANAR[:3])]
    ref = [{"id": f"r{i}", "obj": g} for i, g in enumerate(PLANAR)]
    train = [{"id": "t0", "obj": PLANAR[1]}]
    r = dng_metric(gen, ref, train=train, k=None, dataset="planar", kernel="digress")
    assert [row["id"] for row in r["per_item"]] == ["g0", "g1", "g2"]
    assert r["per_item"][1]["train_match"] == "t0" and r["novelty"] == pytest.approx(2 / 3)
    assert r["mmd"]["degree"] > 0 and set(r["mmd"]) == set(STATISTICS)
    with pytest.raises(DataError, match="networkx graph"):
        dng_metric([{"id": "x", "obj": "not a graph"}], ref)

