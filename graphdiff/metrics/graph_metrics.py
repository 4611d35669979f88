"""One entry point for domain-free graph generation metrics: MMD² statistics and V.U.N.

:func:`graph_metrics` takes lists of networkx graphs; :func:`dng_metric` takes the records that
``graphdiff evaluate`` passes (``{"id", "obj"}``) and is what the social and traffic plugins
register as ``social-dng`` and ``traffic-dng``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import networkx as nx

from graphdiff.errors import ConfigError, DataError
from graphdiff.metrics.descriptors import orbit_counts_available
from graphdiff.metrics.mmd import STATISTICS, describe, mmd_statistic, resolve_kernel
from graphdiff.metrics.vun import first_isomorphic, match_in, validity_function
from graphdiff.progress import track

__all__ = ["DATASETS", "DEFAULT_KERNEL", "canonical_dataset", "graph_metrics", "dng_metric", "register_dng_metric"]

#: Dataset names known to the metrics (validity, default kernel), with accepted spellings.
DATASETS = {
    "community-small": ("community-small", "community_small", "communitysmall", "comm20", "community"),
    "sbm": ("sbm",),
    "planar": ("planar",),
    "grid": ("grid",),
}
#: The kernel convention each benchmark is usually reported with (``kernel=None``).
DEFAULT_KERNEL = {"community-small": "gdss", "grid": "gdss", "sbm": "digress", "planar": "digress"}


def canonical_dataset(dataset: str | None) -> str | None:
    """The canonical name of a known dataset (``None`` stays ``None``; unknown names pass through
    lower-cased)."""
    if dataset is None:
        return None
    key = str(dataset).strip().lower().replace("_", "-")
    for name, spellings in DATASETS.items():
        if key in {s.replace("_", "-") for s in spellings}:
            return name
    return key


def _fraction(flags: Sequence[bool]) -> float | None:
    return sum(bool(f) for f in flags) / len(flags) if flags else None


def graph_metrics(generated: Sequence[nx.Graph], reference: Sequence[nx.Graph],
                  train: Sequence[nx.Graph] | None = None, kernel: str | None = None,
                  dataset: str | None = None, *, ids: Sequence[str] | None = None,
                  train_ids: Sequence[str] | None = None,
                  statistics: Sequence[str] = STATISTICS, progress: bool = False) -> dict[str, Any]:
    """MMD² of graph statistics against ``reference`` and V.U.N. of ``generated``.

    Parameters
    ----------
    generated:
        Generated graphs (simple undirected networkx graphs).
    reference:
        Reference graphs, usually the test split of the dataset.
    train:
        Training graphs, for novelty (and so V.U.N.); ``None``: novelty is not reported.
    kernel:
        ``"gdss"`` (Gaussian EMD kernels) or ``"digress"`` (Gaussian TV kernels); see
        :mod:`graphdiff.metrics.mmd`. ``None``: the one the dataset's benchmark is reported with
        (:data:`DEFAULT_KERNEL`: ``digress`` for ``sbm``/``planar``, else ``gdss``).
    dataset:
        ``"planar"``, ``"sbm"``, ``"grid"``, ``"community-small"``, ``"roads"`` (selects validity), or
        ``None``/another name (no validity).
    ids, train_ids:
        Names of the generated and training graphs for the per-graph rows (default: indices).
    statistics:
        Which MMD statistics to compute (default all four).
    progress:
        Show a bar over the MMD statistics on stderr.

    Returns
    -------
    dict
        ``task`` ("dng"), ``dataset``, ``kernel``, ``kernel_settings``, ``num_generated``,
        ``num_reference``, ``num_train``, ``mmd`` (statistic -> MMD², ``None`` when it cannot be
        computed), ``validity``, ``validity_check`` (what validity means here, or why it is
        unavailable), ``uniqueness``, ``novelty``, ``unique_novel``, ``vun``, ``notes`` and
        ``per_item`` (one row per generated graph: ``id``, ``num_nodes``, ``num_edges``,
        ``valid``, ``unique``, ``duplicate_of``, ``novel``, ``train_match``, ``vun``). A value
        that cannot be computed is ``None`` with the reason in ``notes``, never a guess.

    Raises
    ------
    ConfigError
        For an unknown kernel convention or statistic.
    DataError
        When ``ids`` does not name every generated graph.
    """
    generated, reference = list(generated), list(reference)
    train = list(train) if train is not None else None
    name = canonical_dataset(dataset)
    conv = resolve_kernel(kernel if kernel is not None else DEFAULT_KERNEL.get(name or "", "gdss"))
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(generated))]
    if len(ids) != len(generated):
        raise DataError(f"ids: {len(ids)} names for {len(generated)} generated graphs")
    if train is not None:
        train_ids = ([str(i) for i in train_ids] if train_ids is not None
                     else [str(i) for i in range(len(train))])
    notes: list[str] = []

    # --- MMD²
    stats = list(statistics)
    bad = [s for s in stats if s not in STATISTICS]
    if bad:
        raise ConfigError(f"unknown statistic {bad[0]!r}; statistics: {', '.join(STATISTICS)}")
    if "orbit" in stats and not orbit_counts_available():
        stats.remove("orbit")
        notes.append("orbit MMD not computed: the orbit-count package (ORCA) is not installed")
    empty = sum(g.number_of_nodes() == 0 for g in generated)
    if empty:
        notes.append(f"{empty} generated graph(s) without nodes left out of the MMD statistics "
                     "(as GDSS and DiGress do)")
    values: dict[str, float] = {}
    if generated and reference:
        cache: dict = {}  # descriptors computed once per graph list
        for stat in track(stats, desc="dng: MMD²", unit="statistic", enabled=progress):
            values[stat] = mmd_statistic(generated, reference, stat, conv, _cache=cache)
    mmd: dict[str, float | None] = {}
    for stat in statistics:
        v = values.get(stat)
        mmd[stat] = None if v is None or v != v else v  # nan -> None
    if not generated or not reference:
        notes.append("MMD not computed: no generated or no reference graphs")

    # --- V.U.N.
    valid_fn, validity_note = validity_function(name)
    if valid_fn is None:
        notes.append(f"validity {validity_note}")
    valid = [bool(valid_fn(g)) for g in generated] if valid_fn is not None else None
    dup = first_isomorphic(generated)
    unique = [d is None for d in dup]
    match = match_in(generated, train) if train is not None else None
    novel = [m is None for m in match] if match is not None else None
    if train is None:
        notes.append("novelty and V.U.N. not computed: no training graphs given (train=)")
    rows = []
    for i, g in enumerate(generated):
        row: dict[str, Any] = {"id": ids[i], "num_nodes": g.number_of_nodes(),
                               "num_edges": g.number_of_edges(),
                               "valid": valid[i] if valid is not None else None,
                               "unique": unique[i], "duplicate_of": ids[dup[i]] if dup[i] is not None else None,
                               "novel": novel[i] if novel is not None else None,
                               "train_match": train_ids[match[i]] if match and match[i] is not None else None}
        row["vun"] = (row["valid"] and row["unique"] and row["novel"]
                      if valid is not None and novel is not None else None)
        rows.append(row)
    unique_novel = ([u and n for u, n in zip(unique, novel)] if novel is not None else None)
    return {
        "task": "dng",
        "dataset": name,
        "kernel": conv,
        "kernel_settings": {s: v for s, v in describe(conv).items() if s in statistics},
        "num_generated": len(generated),
        "num_reference": len(reference),
        "num_train": len(train) if train is not None else None,
        "mmd": mmd,
        "validity": _fraction(valid) if valid is not None else None,
        "validity_check": validity_note,
        "uniqueness": _fraction(unique),
        "novelty": _fraction(novel) if novel is not None else None,
        "unique_novel": _fraction(unique_novel) if unique_novel is not None else None,
        "vun": _fraction([r["vun"] for r in rows]) if valid is not None and novel is not None else None,
        "notes": notes,
        "per_item": rows,
    }


def _unpack(items: Sequence[Any] | None, what: str) -> tuple[list[nx.Graph], list[str]] | tuple[None, None]:
    if items is None:
        return None, None
    graphs, names = [], []
    for k, item in enumerate(items):
        if isinstance(item, Mapping):
            obj, name = item.get("obj"), str(item.get("id", k))
        else:
            obj, name = item, str(k)
        if not isinstance(obj, nx.Graph):
            raise DataError(f"{what} item {name}: expected a networkx graph (or a record whose 'obj' "
                            f"is one), got {type(obj).__name__}")
        if obj.is_directed() or obj.is_multigraph():
            obj = nx.Graph(obj.to_undirected() if obj.is_directed() else obj)
        graphs.append(obj)
        names.append(name)
    return graphs, names


def dng_metric(generated: Sequence[Any], references: Sequence[Any], train: Sequence[Any] | None = None,
               k: Any = None, dataset: str | None = None, kernel: str | None = None,
               progress: bool = False, **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --task dng`` for graph domains (``social-dng``, ``traffic-dng``).

    Takes records (``{"id", "obj": networkx.Graph}``, as the domains' ``read`` yields them) or
    bare graphs; ``k`` is ignored (candidates per reference are a CSP notion); ``progress``
    shows a bar over the MMD statistics. Returns :func:`graph_metrics`'s dict, its per-graph rows
    named by the generated records' ids.
    """
    gen, gen_ids = _unpack(generated, "generated")
    ref, _ids = _unpack(references, "reference")
    trn, trn_ids = _unpack(train, "train")
    return graph_metrics(gen, ref, trn, kernel=kernel, dataset=dataset, ids=gen_ids, train_ids=trn_ids,
                         progress=progress)


def register_dng_metric(register: Any, domain: str) -> None:
    """Register :func:`dng_metric` as ``<domain>-dng`` (for a graph domain's ``register_metrics``)."""
    register(f"{domain}-dng", "graphdiff.metrics.graph_metrics:dng_metric",
             description="Graph MMD² (degree, clustering, orbit, spectral; GDSS or DiGress kernels) and V.U.N.")
