"""Named graphs: the social networks networkx ships, and the synthetic generation benchmarks.

:func:`builtin_graphs`
    Karate club, Les Misérables, Florentine families, Davis southern women.
:func:`make_dataset`, :func:`write_dataset`
    The synthetic benchmarks of graph generation papers — ``community-small``, ``grid`` (GDSS),
    ``sbm`` and ``planar`` (SPECTRE / DiGress) — **regenerated here from the published recipe
    with our seeds**, split as published. The papers' own graph files are not redistributed, so
    numbers computed on these graphs are comparable with the papers' *in distribution* (same
    generator, same sizes, same split sizes), not graph for graph.

Command line (writes ``train.jsonl``, ``test.jsonl`` and, when the split has one, ``val.jsonl``
— node-link JSON, one graph per line, read by the ``social`` domain)::

    python -m graphdiff_social.datasets planar data/planar --seed 0

Recipes (each checked against the code of the paper that defined it)
---------------------------------------------------------------------
``community-small`` — GDSS ``data/data_generators.py`` (``n_community``, from Niu et al.'s
    EDP-GNN; also SPECTRE ``data.py`` ``CommunityDataset(12, 21, 100)``, DiGress ``comm20``):
    100 graphs. For each, ``max_nodes`` is drawn uniformly from 12..20 and two communities of
    ``max_nodes // 2`` nodes (so 12, 14, ..., 20 nodes in all) are Erdős–Rényi graphs with
    ``p = 0.7``, each made with ``nx.gnp_random_graph(size, 0.7, seed=c)`` for community
    ``c = 0, 1`` — *as published*, so the two communities of a given size are the same graphs in
    every sample and only the bridges vary. Every pair of nodes across the two (connected
    components of the union) is bridged with probability ``0.05 * 2 / size``; when no bridge was
    drawn, one edge joins the first node of each. (GraphRNN's ``community`` generator is a
    different recipe: communities of 12–17 nodes, inter-community ``p = 0.01``.)
``grid`` — GDSS ``data/data_generators.py`` (``grid`` type, ``m`` and ``n`` in
    ``np.arange(10, 20)``): 100 graphs ``nx.grid_2d_graph(m, n)`` with ``m`` and ``n`` drawn
    independently and uniformly from 10..19 (so repeats occur), nodes numbered 0..n-1.
    (GraphRNN/GRAN/SPECTRE's ``grid`` instead enumerates the 100 pairs.)
``sbm`` — SPECTRE ``data.py`` ``SBMDataset`` (the ``sbm_200.pt`` DiGress uses): 200 graphs; per
    graph 2–5 blocks (uniform), each of 20–40 nodes (uniform), ``nx.stochastic_block_model``
    with ``p = 0.3`` inside blocks and ``0.005`` between.
``planar`` — SPECTRE ``data.py`` ``PlanarDataset(64, 200)``: 200 graphs; 64 points uniform in
    the unit square, edges of their Delaunay triangulation (``scipy.spatial.Delaunay``).

Splits
------
GDSS (``community-small``, ``grid``): ``utils/data_loader.py`` takes the *first*
    ``int(0.2 * N)`` graphs of the generated list as the test set and the rest as training set
    (no shuffle; the generation order is already random); no validation set: 80 train / 20 test.
SPECTRE (``sbm``, ``planar``): ``test_len = round(0.2 N)``, ``train_len = round(0.8 (N −
    test_len))``, the rest validation: 128 train / 32 val / 40 test. ``split="spectre"``
    (default) follows SPECTRE ``data.py``: ``torch.utils.data.random_split`` with
    ``torch.Generator().manual_seed(1234)``; ``split="digress"`` follows DiGress
    ``src/datasets/spectre_dataset.py``: ``torch.randperm(200)`` with seed 0, each split kept in
    generation order. The split permutation uses the published seed, not ``seed``.

Randomness comes from ``numpy.random.RandomState(seed)`` (the legacy generator the papers used
through ``np.random``); the same ``seed`` gives the same graphs with the same numpy and
networkx versions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import networkx as nx
import numpy as np

from graphdiff.errors import ConfigError

__all__ = ["builtin_graphs", "BUILTIN_GRAPHS", "SYNTHETIC_DATASETS", "DATASET_SIZES", "make_dataset",
           "write_dataset", "generate_graphs", "split_graphs", "main"]

#: Name -> networkx generator of each built-in graph.
BUILTIN_GRAPHS = {
    "karate_club": nx.karate_club_graph,
    "les_miserables": nx.les_miserables_graph,
    "florentine_families": nx.florentine_families_graph,
    "davis_southern_women": nx.davis_southern_women_graph,
}


def builtin_graphs() -> dict[str, nx.Graph]:
    """The four social networks bundled with networkx, by name, as networkx builds them.

    ``karate_club``
        Zachary's karate club, 34 nodes, 78 edges; node attribute ``club``, edge ``weight``.
    ``les_miserables``
        Co-appearances of the novel's characters, 77 nodes, 254 edges; edge ``weight``.
    ``florentine_families``
        Marriage ties of Renaissance Florentine families, 15 nodes, 20 edges.
    ``davis_southern_women``
        Bipartite women/events attendance graph, 32 nodes, 89 edges; node attribute
        ``bipartite`` and graph attributes ``top``/``bottom``.

    The graphs keep every attribute networkx gives them. The ``social`` domain keeps only
    the structure: converting one with ``to_graph`` warns that the weights and the node and
    graph attributes are dropped (``strict_attrs=True`` raises instead). Each graph's
    ``graph["name"]`` is set to its key here.

    Returns
    -------
    dict
        Name -> a fresh ``networkx.Graph`` (callers may modify it).
    """
    graphs = {}
    for name, make in BUILTIN_GRAPHS.items():
        graph = make()
        graph.graph["name"] = name
        graphs[name] = graph
    return graphs


# ---------------------------------------------------------------------------- generators
def _plain(nodes: int, edges) -> nx.Graph:
    """A graph with nodes 0..nodes-1, the given edges and no attributes."""
    graph = nx.Graph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from((int(u), int(v)) for u, v in edges)
    return graph


def _community_small(rng: np.random.RandomState, count: int) -> list[nx.Graph]:
    graphs = []
    for _ in range(count):
        max_nodes = int(rng.choice(np.arange(12, 21)))
        size = max_nodes // 2
        # As published: community c is nx.gnp_random_graph(size, 0.7, seed=c).
        union = nx.disjoint_union_all([nx.gnp_random_graph(size, 0.7, seed=c) for c in range(2)])
        p_bridge = 0.05 * 2 / ((2 - 1) * size)
        parts = [sorted(c) for c in nx.connected_components(union)]
        parts.sort(key=lambda c: c[0])
        edges = list(union.edges())
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                bridged = False
                for u in parts[i]:
                    for v in parts[j]:
                        if rng.rand() < p_bridge:
                            edges.append((u, v))
                            bridged = True
                if not bridged:
                    edges.append((parts[i][0], parts[j][0]))
        graphs.append(_plain(union.number_of_nodes(), edges))
    return graphs


def _grid(rng: np.random.RandomState, count: int) -> list[nx.Graph]:
    graphs = []
    for _ in range(count):
        m = int(rng.choice(np.arange(10, 20)))
        n = int(rng.choice(np.arange(10, 20)))
        grid = nx.convert_node_labels_to_integers(nx.grid_2d_graph(m, n))
        graphs.append(_plain(grid.number_of_nodes(), grid.edges()))
    return graphs


def _sbm(rng: np.random.RandomState, count: int) -> list[nx.Graph]:
    graphs = []
    for _ in range(count):
        blocks = int(rng.randint(2, 6))
        sizes = [int(s) for s in rng.randint(20, 41, size=blocks)]
        probs = np.full((blocks, blocks), 0.005)
        np.fill_diagonal(probs, 0.3)
        sbm = nx.stochastic_block_model(sizes, probs.tolist(), seed=int(rng.randint(2**31 - 1)))
        graphs.append(_plain(sbm.number_of_nodes(), sbm.edges()))
    return graphs


def _planar(rng: np.random.RandomState, count: int, nodes: int = 64) -> list[nx.Graph]:
    from scipy.spatial import Delaunay

    graphs = []
    for _ in range(count):
        points = rng.random_sample((nodes, 2))
        edges = set()
        for a, b, c in Delaunay(points).simplices:
            for u, v in ((a, b), (b, c), (c, a)):
                edges.add((min(u, v), max(u, v)))
        graphs.append(_plain(nodes, sorted(edges)))
    return graphs


#: Dataset -> (generator, number of graphs, split protocol).
SYNTHETIC_DATASETS: dict[str, tuple[Callable[[np.random.RandomState, int], list[nx.Graph]], int, str]] = {
    "community-small": (_community_small, 100, "gdss"),
    "grid": (_grid, 100, "gdss"),
    "sbm": (_sbm, 200, "spectre"),
    "planar": (_planar, 200, "spectre"),
}
#: Published split sizes (train, val, test).
DATASET_SIZES = {"community-small": (80, 0, 20), "grid": (80, 0, 20), "sbm": (128, 32, 40),
                 "planar": (128, 32, 40)}
_ALIASES = {"community_small": "community-small", "communitysmall": "community-small",
            "comm20": "community-small"}


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key.replace("_", "-"))
    if key not in SYNTHETIC_DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; datasets: {', '.join(SYNTHETIC_DATASETS)}")
    return key


def generate_graphs(name: str, seed: int = 0) -> list[nx.Graph]:
    """All graphs of a dataset in generation order (``graph["name"]`` is ``"<dataset>-<index>"``)."""
    key = _canonical(name)
    make, count, _ = SYNTHETIC_DATASETS[key]
    graphs = make(np.random.RandomState(seed), count)
    for k, graph in enumerate(graphs):
        graph.graph["name"] = f"{key}-{k:03d}"
    return graphs


def split_graphs(graphs: list[nx.Graph], protocol: str) -> dict[str, list[nx.Graph]]:
    """Split as published: ``"gdss"``, ``"spectre"`` or ``"digress"`` (see the module docstring)."""
    n = len(graphs)
    if protocol == "gdss":
        test = int(0.2 * n)
        return {"train": graphs[test:], "val": [], "test": graphs[:test]}
    if protocol not in ("spectre", "digress"):
        raise ConfigError(f"unknown split {protocol!r}; splits: gdss, spectre, digress")
    import torch

    test_len = int(round(n * 0.2))
    train_len = int(round((n - test_len) * 0.8))
    generator = torch.Generator().manual_seed(1234 if protocol == "spectre" else 0)
    perm = torch.randperm(n, generator=generator).tolist()
    parts = [perm[:train_len], perm[train_len:n - test_len], perm[n - test_len:]]
    if protocol == "digress":  # DiGress keeps each split in the original order
        parts = [sorted(p) for p in parts]
    return {key: [graphs[i] for i in idx] for key, idx in zip(("train", "val", "test"), parts)}


def make_dataset(name: str, seed: int = 0, *, split: str | None = None) -> dict[str, list[nx.Graph]]:
    """A synthetic benchmark, regenerated from its published recipe, split as published.

    The graphs are regenerated with ``seed`` (the papers' own graph files are not
    redistributed), so results on them are comparable with the papers in distribution, not
    graph for graph. See the module docstring for each recipe and split and the code it follows.

    Parameters
    ----------
    name:
        ``"community-small"``, ``"grid"``, ``"sbm"`` or ``"planar"`` (``_`` for ``-`` accepted).
    seed:
        Seed of the generation (``numpy.random.RandomState``).
    split:
        For ``sbm``/``planar``: ``"spectre"`` (default) or ``"digress"``; for
        ``community-small``/``grid`` only ``"gdss"`` (the default).

    Returns
    -------
    dict
        ``{"train": [...], "val": [...], "test": [...]}`` of ``networkx.Graph`` with nodes
        ``0..n-1`` and ``graph["name"]`` = ``"<dataset>-<generation index>"``; ``val`` is empty
        for the GDSS datasets.

    Raises
    ------
    graphdiff.errors.ConfigError
        For an unknown dataset or a split the dataset is not published with.
    """
    key = _canonical(name)
    protocol = SYNTHETIC_DATASETS[key][2]
    if split is not None:
        allowed = ("gdss",) if protocol == "gdss" else ("spectre", "digress")
        if split not in allowed:
            raise ConfigError(f"dataset {key!r} is split as {' or '.join(allowed)}, not {split!r}")
        protocol = split
    return split_graphs(generate_graphs(key, seed), protocol)


def write_dataset(name: str, out_dir: str | Path, seed: int = 0, *, split: str | None = None,
                  fmt: str = "jsonl") -> dict[str, Path]:
    """Generate a dataset with :func:`make_dataset` and write one file (or folder) per split.

    ``fmt="jsonl"`` writes ``OUT/train.jsonl``, ``OUT/val.jsonl`` (when the split has one) and
    ``OUT/test.jsonl``, node-link JSON with one graph per line; ``fmt="graphml"`` writes folders
    ``OUT/train/graph_00000.graphml``, ... Both are read by the ``social`` domain (and
    ``graphdiff evaluate --domain social``). Empty splits are not written.

    Returns
    -------
    dict
        Split name -> the file or folder written.
    """
    from graphdiff.nxgraph.writers import write_graphs

    if fmt not in ("jsonl", "graphml"):
        raise ConfigError(f"unknown format {fmt!r}; formats: jsonl, graphml")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, graphs in make_dataset(name, seed, split=split).items():
        if not graphs:
            continue
        target = out / (f"{part}.jsonl" if fmt == "jsonl" else part)
        write_graphs(graphs, target, fmt=fmt)
        written[part] = target
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m graphdiff_social.datasets NAME OUT_DIR [--seed S] [--split P] [--format F]``."""
    parser = argparse.ArgumentParser(
        prog="python -m graphdiff_social.datasets",
        description="Regenerate a synthetic graph-generation benchmark from its published recipe "
                    "(with our seed: comparable in distribution, not graph for graph) and write "
                    "its splits.")
    parser.add_argument("name", choices=sorted(SYNTHETIC_DATASETS), help="dataset")
    parser.add_argument("out_dir", type=Path, help="folder that receives the split files")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    parser.add_argument("--split", choices=["gdss", "spectre", "digress"],
                        help="split protocol (default: the dataset's own)")
    parser.add_argument("--format", dest="fmt", choices=["jsonl", "graphml"], default="jsonl",
                        help="jsonl: one file per split; graphml: one folder per split")
    args = parser.parse_args(argv)
    try:
        written = write_dataset(args.name, args.out_dir, args.seed, split=args.split, fmt=args.fmt)
    except ValueError as exc:
        parser.error(str(exc))
    for part, path in written.items():
        print(f"{part}: {_count(path)} graphs -> {path}")
    return 0


def _count(path: Path) -> int:
    if path.is_dir():
        return sum(1 for _ in path.iterdir())
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
