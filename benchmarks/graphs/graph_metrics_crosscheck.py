"""Cross-check graphdiff.metrics against independent implementations of the same protocols.

    PYTHONPATH=/path/to/xdeps python benchmarks/graphs/graph_metrics_crosscheck.py [--seed 0]

Needs, importable but **not** graphdiff dependencies (install them into a throwaway target,
e.g. ``pip install --target /tmp/xdeps --no-deps synthetic-graph-benchmarks orca-graphlets
pygsp scikit-learn joblib threadpoolctl requests pyemd pot``):

``synthetic-graph-benchmarks`` (PyPI, a packaged copy of DiGress ``src/analysis/spectre_utils.py``
    and ``dist_helper.py``; its metric functions download nothing — only its ``Dataset`` loaders
    do, and they are not used here). Its ``degree_stats``, ``clustering_stats``,
    ``orbit_stats_all`` and ``spectral_stats`` with ``compute_emd=False`` are the DiGress
    Gaussian-TV numbers; with ``compute_emd=True`` its degree/clustering use the Gaussian EMD
    kernel (solved by linear programming) with DiGress's 1e-6 normalisation.
``pyemd`` + ``pot``
    The EMD of GDSS ``evaluation/mmd.py`` (``pyemd.emd`` with a Toeplitz ground distance), used
    here to score the GDSS convention independently of graphdiff's cumulative-sum formula.
``orca-graphlets``
    An independent port of ORCA, against which the ``orbit-count`` counts are compared.

Why not a test: these packages pull scikit-learn, pygsp, POT and requests, too heavy for
graphdiff's test dependencies. ``polygraph-benchmark`` was also considered and rejected: it
requires rdkit, tabpfn, fcd and numba.

Writes ``benchmarks/graphs/results/graph_metrics_crosscheck.json`` (every pair of numbers, the largest
absolute difference, settings, versions) and exits non-zero when a difference exceeds the
tolerance.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def _gdss_reference(ref, gen, statistic):
    """GDSS evaluation/stats.py + evaluation/mmd.py, with pyemd, independent of graphdiff."""
    import pyemd
    from scipy.linalg import eigvalsh, toeplitz

    from orca import orca_nodes

    def feat(g):
        if statistic == "degree":
            return np.array(nx.degree_histogram(g), dtype=float)
        if statistic == "clustering":
            return np.histogram(list(nx.clustering(g).values()), bins=100, range=(0.0, 1.0))[0].astype(float)
        if statistic == "spectral":
            eigs = eigvalsh(nx.normalized_laplacian_matrix(g).todense())
            h = np.histogram(eigs, bins=200, range=(-1e-5, 2))[0].astype(float)
            return h / h.sum()
        h = nx.convert_node_labels_to_integers(g)
        counts = orca_nodes(np.array(list(h.edges()), dtype=int), h.number_of_nodes(), graphlet_size=4)
        return np.asarray(counts, dtype=float).sum(axis=0) / h.number_of_nodes()

    sigma, scaling = {"degree": (1.0, 1.0), "clustering": (0.1, 100.0), "orbit": (30.0, 1.0),
                      "spectral": (1.0, 1.0)}[statistic]
    xs, ys = [feat(g) for g in ref], [feat(g) for g in gen]
    if statistic != "orbit":
        xs, ys = [x / x.sum() for x in xs], [y / y.sum() for y in ys]

    def kern(a, b):
        n = max(len(a), len(b))
        a, b = np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))
        if statistic == "orbit":
            d = np.linalg.norm(a - b)
        else:
            d = pyemd.emd(a, b, toeplitz(range(n)).astype(float) / scaling)
        return np.exp(-d * d / (2 * sigma * sigma))

    def disc(p, q):
        return sum(kern(a, b) for a in p for b in q) / (len(p) * len(q))

    return disc(xs, xs) + disc(ys, ys) - 2 * disc(xs, ys)


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-9, help="largest allowed |ours - theirs|")
    args = parser.parse_args()
    run = Run(seeds={"seed": args.seed})

    import orbit_count
    import synthetic_graph_benchmarks.spectre_utils as su
    from orca import orca_nodes

    from graphdiff.metrics import graph_metrics, mmd_statistic
    from graphdiff_social.datasets import make_dataset

    t0 = time.time()
    planar = make_dataset("planar", args.seed)
    sbm = make_dataset("sbm", args.seed)
    comm = make_dataset("community-small", args.seed)
    grid = make_dataset("grid", args.seed)
    pairs = {
        "planar-test vs planar-train[:40]": (planar["test"], planar["train"][:40]),
        "planar-test vs sbm-test": (planar["test"], sbm["test"]),
        "community-small test vs train": (comm["test"], comm["train"]),
        "community-small test vs grid test[:5]": (comm["test"], grid["test"][:5]),
    }
    rows, worst = [], 0.0
    for label, (ref, gen) in pairs.items():
        theirs_tv = {
            "degree": su.degree_stats(ref, gen, is_parallel=False, compute_emd=False),
            "clustering": su.clustering_stats(ref, gen, bins=100, is_parallel=False, compute_emd=False),
            "orbit": su.orbit_stats_all(ref, gen, compute_emd=False),
            "spectral": su.spectral_stats(ref, gen, is_parallel=False, n_eigvals=-1, compute_emd=False),
        }
        for stat, theirs in theirs_tv.items():
            ours = mmd_statistic(gen, ref, stat, "digress")
            diff = abs(ours - float(theirs))
            worst = max(worst, diff)
            rows.append({"pair": label, "kernel": "digress", "statistic": stat, "ours": ours,
                         "theirs": float(theirs), "source": "synthetic_graph_benchmarks (DiGress spectre_utils)",
                         "abs_diff": diff})
        for stat in ("degree", "clustering", "orbit", "spectral"):
            ours = mmd_statistic(gen, ref, stat, "gdss")
            theirs = _gdss_reference(ref, gen, stat)
            diff = abs(ours - theirs)
            worst = max(worst, diff)
            rows.append({"pair": label, "kernel": "gdss", "statistic": stat, "ours": ours, "theirs": theirs,
                         "source": "GDSS formulas with pyemd + orca-graphlets", "abs_diff": diff})
        # DiGress's EMD variant (compute_emd=True) differs from GDSS only by the 1e-6 normalisation
        emd_deg = su.degree_stats(ref, gen, is_parallel=False, compute_emd=True)
        rows.append({"pair": label, "kernel": "gdss", "statistic": "degree (DiGress compute_emd=True, info)",
                     "ours": mmd_statistic(gen, ref, "degree", "gdss"), "theirs": float(emd_deg),
                     "source": "synthetic_graph_benchmarks, linprog EMD, eps 1e-6 (not held to tol)",
                     "abs_diff": abs(mmd_statistic(gen, ref, "degree", "gdss") - float(emd_deg))})

    # Orbit counts: orbit-count vs orca-graphlets, node by node.
    orbit_mismatch = 0
    all_graphs = planar["test"] + sbm["test"] + comm["test"] + grid["test"][:5]
    for g in all_graphs:
        a = orbit_count.node_orbit_counts(g, graphlet_size=4)
        b = orca_nodes(np.array(list(g.edges()), dtype=int), g.number_of_nodes(), graphlet_size=4)
        orbit_mismatch += int(not np.array_equal(np.asarray(a), np.asarray(b)))

    # V.U.N. on planar: generated = test + duplicates + 3 training graphs + K5.
    gen = planar["test"] + planar["test"][:5] + planar["train"][:3] + [nx.complete_graph(5)]
    ours = graph_metrics(gen, planar["test"], train=planar["train"], dataset="planar", statistics=("degree",))
    u, un, vun = su.eval_fraction_unique_non_isomorphic_valid(gen, planar["train"], su.is_planar_graph)
    novelty = 1.0 - su.eval_fraction_isomorphic(gen, planar["train"])
    validity = su.eval_acc_planar_graph(gen)
    vun_rows = {"uniqueness": (ours["uniqueness"], u), "unique_novel": (ours["unique_novel"], un),
                "vun": (ours["vun"], vun), "novelty": (ours["novelty"], novelty),
                "validity": (ours["validity"], validity)}
    vun_ok = all(abs(a - b) < 1e-12 for a, b in vun_rows.values())

    result = {
        "command": " ".join(sys.argv), "seed": args.seed, "tolerance": args.tol,
        "max_abs_diff": worst, "orbit_count_graphs_compared": len(all_graphs),
        "orbit_count_mismatches": orbit_mismatch,
        "vun": {k: {"ours": a, "theirs": b} for k, (a, b) in vun_rows.items()},
        "vun_match": vun_ok, "mmd": rows, "seconds": round(time.time() - t0, 1),
        "versions": {"python": platform.python_version(), "networkx": nx.__version__, "numpy": np.__version__,
                     **{pkg: _version(pkg) for pkg in ("orbit-count", "synthetic-graph-benchmarks",
                                                       "orca-graphlets", "pyemd", "pot", "scipy")}},
        "machine": platform.processor() or platform.machine(),
    }
    out = RESULTS / "graph_metrics_crosscheck.json"
    record(out, key_from_args(args), result, run)
    for r in rows:
        print(f"{r['pair']:40s} {r['kernel']:7s} {r['statistic']:42s} "
              f"ours {r['ours']:.10f} theirs {r['theirs']:.10f} |d| {r['abs_diff']:.1e}")
    print(f"orbit counts: {orbit_mismatch} mismatching graphs of {len(all_graphs)}")
    print("V.U.N.:", {k: v for k, v in vun_rows.items()}, "match" if vun_ok else "MISMATCH")
    print(f"max |ours - theirs| = {worst:.2e} (tolerance {args.tol:g}); wrote {out}")
    return 0 if worst <= args.tol and orbit_mismatch == 0 and vun_ok else 1


if __name__ == "__main__":
    sys.exit(main())
