"""Squared MMD between two samples of descriptor vectors, with the kernels of GDSS and DiGress.

Both reference codes compute the same biased (V-statistic) estimate of the squared MMD,

    MMD² = mean K(x, x') + mean K(y, y') − 2 mean K(x, y),

with every pair counted, the diagonal included (``compute_mmd``/``disc`` in GDSS
``evaluation/mmd.py`` and DiGress ``src/analysis/dist_helper.py``), and print that number
(unsquare-rooted) as "MMD". So does this module; a set against itself gives exactly 0.

Kernels, all of the form ``exp(-d(x, y)² / (2 σ²))``:

``"emd"``
    ``d`` is the earth mover's distance between two histograms on the bins ``0, 1, 2, ...``
    with ground distance ``|i − j| / distance_scaling`` (GDSS ``gaussian_emd``: ``pyemd.emd``
    with a Toeplitz distance matrix). For two histograms of equal mass this is the 1-D
    Wasserstein distance ``Σ_i |F_x(i) − F_y(i)| / distance_scaling`` of their cumulative sums,
    which is what is computed here (no pyemd needed; equal to pyemd to ~1e-15, see the
    cross-check in ``benchmarks/graphs/graph_metrics_crosscheck.py``).
``"tv"``
    ``d`` is the total variation ``Σ |x − y| / 2`` (DiGress/GRAN ``gaussian_tv``).
``"l2"``
    ``d`` is the Euclidean distance (GDSS/GraphRNN ``gaussian``).

Shorter vectors are zero-padded to the longest one, as both codes' ``process_tensor`` / inline
padding do. Histogram normalisation (``is_hist=True`` in both codes) divides each histogram by
its sum (GDSS) or by its sum + 1e-6 (DiGress); :func:`normalise` does either.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from graphdiff.errors import ConfigError

__all__ = ["KERNELS", "pad", "normalise", "distance_matrix", "kernel_matrix", "mmd2"]

#: Kernel names accepted by :func:`kernel_matrix`.
KERNELS = ("emd", "tv", "l2")


def pad(samples: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    """Stack 1-D vectors into a float matrix, zero-padding each to ``width`` (default: the longest)."""
    rows = [np.asarray(s, dtype=float).ravel() for s in samples]
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = np.zeros((len(rows), width), dtype=float)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def normalise(samples: Sequence[np.ndarray], eps: float = 0.0) -> list[np.ndarray]:
    """Each histogram divided by its sum plus ``eps`` (GDSS: ``eps=0``; DiGress: ``eps=1e-6``)."""
    return [np.asarray(s, dtype=float) / (np.sum(s) + eps) for s in samples]


def distance_matrix(x: np.ndarray, y: np.ndarray, kind: str, distance_scaling: float = 1.0) -> np.ndarray:
    """Pairwise distances ``d(x_i, y_j)`` of the rows of two equally wide matrices.

    ``kind`` is ``"emd"``, ``"tv"`` or ``"l2"`` (see the module docstring).
    """
    if kind not in KERNELS:
        raise ConfigError(f"unknown kernel {kind!r}; kernels: {', '.join(KERNELS)}")
    if kind == "emd":
        x, y = np.cumsum(x, axis=1), np.cumsum(y, axis=1)
    out = np.empty((x.shape[0], y.shape[0]), dtype=float)
    for i in range(x.shape[0]):
        diff = y - x[i]
        if kind == "l2":
            out[i] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        else:
            out[i] = np.abs(diff).sum(axis=1)
    if kind == "tv":
        out /= 2.0
    elif kind == "emd":
        out /= distance_scaling
    return out


def kernel_matrix(x: np.ndarray, y: np.ndarray, kind: str, sigma: float,
                  distance_scaling: float = 1.0) -> np.ndarray:
    """``exp(-d² / (2 σ²))`` for every pair of rows of ``x`` and ``y``."""
    d = distance_matrix(x, y, kind, distance_scaling)
    return np.exp(-d * d / (2.0 * sigma * sigma))


def mmd2(samples1: Sequence[np.ndarray], samples2: Sequence[np.ndarray], kind: str, sigma: float,
         *, distance_scaling: float = 1.0) -> float:
    """Biased squared MMD between two samples of vectors (histograms already normalised).

    Returns ``nan`` when either sample is empty (the reference codes return 1e6 or divide by
    zero; a missing value is clearer).
    """
    if len(samples1) == 0 or len(samples2) == 0:
        return float("nan")
    both = pad(list(samples1) + list(samples2))
    x, y = both[: len(samples1)], both[len(samples1):]
    kxx = kernel_matrix(x, x, kind, sigma, distance_scaling).mean()
    kyy = kernel_matrix(y, y, kind, sigma, distance_scaling).mean()
    kxy = kernel_matrix(x, y, kind, sigma, distance_scaling).mean()
    return float(kxx + kyy - 2.0 * kxy)
