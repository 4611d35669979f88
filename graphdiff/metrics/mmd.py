"""MMD² between two lists of graphs for degree, clustering, orbit and spectral statistics.

Two kernel conventions, chosen with ``kernel=``:

``"gdss"`` — GDSS (Jo et al. 2022), ``harryjo97/GDSS``
    Kernels per statistic from ``utils/loader.py`` ``load_eval_settings`` (``degree``,
    ``cluster`` and ``spectral``: ``gaussian_emd``; ``orbit``: ``gaussian``); σ, bins and
    scaling from ``evaluation/stats.py`` (``degree_stats``, ``clustering_stats``,
    ``orbit_stats_all``, ``spectral_stats``); MMD and kernels from ``evaluation/mmd.py``
    (``compute_mmd``, ``gaussian_emd``, ``gaussian``):

    ============  ==========================  =====  ==========================  ==============
    statistic     descriptor                  bins   kernel                      σ
    ============  ==========================  =====  ==========================  ==============
    degree        degree histogram → pmf      —      Gaussian EMD                1
    clustering    clustering histogram → pmf  100    Gaussian EMD, scaling 100   0.1
    orbit         mean orbit counts (raw)     —      Gaussian L2                 30
    spectral      Laplacian-spectrum pmf      200    Gaussian EMD                1
    ============  ==========================  =====  ==========================  ==============

    Histograms become pmfs by dividing by their sum (``compute_mmd(..., is_hist=True)``).

``"digress"`` — DiGress (Vignac et al. 2023) / SPECTRE (Martinkus et al. 2022), ``cvignac/DiGress``
    ``src/analysis/spectre_utils.py`` with ``compute_emd=False`` (``PlanarSamplingMetrics``,
    ``SBMSamplingMetrics``) and ``src/analysis/dist_helper.py``: every statistic uses the
    Gaussian total-variation kernel ``gaussian_tv``; degree σ = 1, clustering σ = 0.1 with 100
    bins, orbit σ = 30 on the raw mean orbit counts (``is_hist=False``), spectral σ = 1 with 200
    bins. Histograms are divided by their sum + 1e-6 (``dist_helper.compute_mmd``).

Both drop generated graphs with no nodes before computing (``graph_pred_list_remove_empty``);
so does this module, for every statistic, and for the reference graphs too.

The value returned is the biased squared MMD that both codes print as "MMD" (see
:mod:`graphdiff.metrics.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import networkx as nx
import numpy as np

from graphdiff.errors import ConfigError
from graphdiff.metrics.descriptors import (
    clustering_histogram,
    degree_histogram,
    orbit_features,
    spectral_pmf,
)
from graphdiff.metrics.kernels import mmd2, normalise

__all__ = ["StatSetting", "CONVENTIONS", "STATISTICS", "KERNEL_NAMES", "resolve_kernel", "mmd_statistic",
           "mmd_all", "describe"]


@dataclass(frozen=True)
class StatSetting:
    """How one statistic is compared: descriptor, histogram normalisation, kernel, σ, scaling."""

    descriptor: Callable[[nx.Graph], np.ndarray]
    is_hist: bool
    kernel: str
    sigma: float
    distance_scaling: float = 1.0


#: Statistic names, in the order reported.
STATISTICS = ("degree", "clustering", "orbit", "spectral")

#: Kernel convention -> statistic -> setting (see the module docstring for the sources).
CONVENTIONS: dict[str, dict[str, StatSetting]] = {
    "gdss": {
        "degree": StatSetting(degree_histogram, True, "emd", 1.0),
        "clustering": StatSetting(clustering_histogram, True, "emd", 0.1, distance_scaling=100),
        "orbit": StatSetting(orbit_features, False, "l2", 30.0),
        "spectral": StatSetting(spectral_pmf, True, "emd", 1.0),
    },
    "digress": {
        "degree": StatSetting(degree_histogram, True, "tv", 1.0),
        "clustering": StatSetting(clustering_histogram, True, "tv", 0.1),
        "orbit": StatSetting(orbit_features, False, "tv", 30.0),
        "spectral": StatSetting(spectral_pmf, True, "tv", 1.0),
    },
}
#: Histogram normalisation ``h / (sum(h) + eps)`` of each convention.
_HIST_EPS = {"gdss": 0.0, "digress": 1e-6}
KERNEL_NAMES = tuple(CONVENTIONS)
_ALIASES = {"gdss": "gdss", "emd": "gdss", "graphrnn": "gdss",
            "digress": "digress", "spectre": "digress", "tv": "digress", "gran": "digress"}


def resolve_kernel(kernel: str) -> str:
    """The convention name for ``kernel`` (``"gdss"`` or ``"digress"``; a few aliases accepted).

    Raises
    ------
    ConfigError
        For an unknown name, listing the valid ones.
    """
    key = str(kernel).strip().lower()
    if key not in _ALIASES:
        raise ConfigError(f"unknown kernel convention {kernel!r}; use 'gdss' (Gaussian EMD, GDSS) or "
                         "'digress' (Gaussian TV, DiGress/SPECTRE)")
    return _ALIASES[key]


def describe(kernel: str) -> dict[str, dict[str, float | str | bool]]:
    """The settings of a convention, per statistic, as plain values (for reports)."""
    conv = resolve_kernel(kernel)
    out = {}
    for stat, s in CONVENTIONS[conv].items():
        out[stat] = {"kernel": {"emd": "gaussian_emd", "tv": "gaussian_tv", "l2": "gaussian"}[s.kernel],
                     "sigma": s.sigma, "distance_scaling": s.distance_scaling, "is_hist": s.is_hist,
                     "hist_eps": _HIST_EPS[conv] if s.is_hist else 0.0}
    return out


def _non_empty(graphs: Sequence[nx.Graph]) -> list[nx.Graph]:
    return [g for g in graphs if g.number_of_nodes() > 0]


def mmd_statistic(generated: Sequence[nx.Graph], reference: Sequence[nx.Graph], statistic: str,
                  kernel: str = "gdss", *, _cache: dict | None = None) -> float:
    """Squared MMD of one statistic between generated and reference graphs.

    Parameters
    ----------
    generated, reference:
        Lists of simple undirected networkx graphs (graphs without nodes are left out).
    statistic:
        ``"degree"``, ``"clustering"``, ``"orbit"`` or ``"spectral"``.
    kernel:
        ``"gdss"`` or ``"digress"`` (see the module docstring).

    Returns
    -------
    float
        The biased MMD² (``nan`` when either list has no non-empty graph).

    Raises
    ------
    ImportError
        For ``"orbit"`` without the ``orbit-count`` package.
    """
    conv = resolve_kernel(kernel)
    if statistic not in CONVENTIONS[conv]:
        raise ConfigError(f"unknown statistic {statistic!r}; statistics: {', '.join(STATISTICS)}")
    setting = CONVENTIONS[conv][statistic]

    def features(graphs: Sequence[nx.Graph], tag: str) -> list[np.ndarray]:
        key = (tag, statistic)
        if _cache is not None and key in _cache:
            return _cache[key]
        feats = [setting.descriptor(g) for g in _non_empty(graphs)]
        if _cache is not None:
            _cache[key] = feats
        return feats

    ref = features(reference, "ref")
    gen = features(generated, "gen")
    if setting.is_hist:
        ref, gen = normalise(ref, _HIST_EPS[conv]), normalise(gen, _HIST_EPS[conv])
    # Same argument order as the reference codes: compute_mmd(sample_ref, sample_pred, ...).
    return mmd2(ref, gen, setting.kernel, setting.sigma, distance_scaling=setting.distance_scaling)


def mmd_all(generated: Sequence[nx.Graph], reference: Sequence[nx.Graph], kernel: str = "gdss",
            statistics: Sequence[str] = STATISTICS) -> dict[str, float]:
    """:func:`mmd_statistic` for several statistics (descriptors computed once per graph list)."""
    cache: dict = {}
    return {stat: mmd_statistic(generated, reference, stat, kernel, _cache=cache) for stat in statistics}
