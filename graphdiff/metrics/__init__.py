"""Domain-free metrics of generated graphs: MMD² of graph statistics and V.U.N.

:func:`graph_metrics`
    MMD² (degree, clustering, 4-node orbit counts, normalised-Laplacian spectrum) between
    generated and reference networkx graphs, under the GDSS (Gaussian EMD) or DiGress/SPECTRE
    (Gaussian TV) kernel conventions, plus validity, uniqueness, novelty and V.U.N.
:func:`dng_metric`
    The same on ``graphdiff evaluate`` records; registered by the social and traffic plugins as
    ``social-dng`` and ``traffic-dng``.
:func:`mmd_statistic`, :func:`mmd_all`
    The MMD² alone.

Where each choice comes from is written in :mod:`graphdiff.metrics.mmd` (kernels, σ, bins),
:mod:`graphdiff.metrics.descriptors` (statistics) and :mod:`graphdiff.metrics.vun` (V.U.N.).
"""

from graphdiff.metrics.graph_metrics import (DATASETS, DEFAULT_KERNEL, canonical_dataset, dng_metric, graph_metrics,
                                             register_dng_metric)
from graphdiff.metrics.mmd import CONVENTIONS, KERNEL_NAMES, STATISTICS, mmd_all, mmd_statistic, resolve_kernel
from graphdiff.metrics.vun import is_grid_valid, is_planar_valid

__all__ = ["graph_metrics", "dng_metric", "register_dng_metric", "mmd_statistic", "mmd_all", "resolve_kernel",
           "canonical_dataset", "is_planar_valid", "is_grid_valid", "CONVENTIONS", "KERNEL_NAMES", "STATISTICS",
           "DATASETS", "DEFAULT_KERNEL"]
