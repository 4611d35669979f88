"""Positions: Gaussian diffusion in the zero centre-of-mass subspace (E(3)-equivariant).

As EDM (Hoogeboom et al. 2022): clean positions are centred per graph and scaled by one scalar
(so rotations commute with the normalisation); the noise ``ε`` is drawn in the subspace
``Σ_i ε_i = 0`` of each graph, so ``x_t`` stays centred and an E(n)-equivariant denoiser keeps
the learned density invariant to rotations, reflections and translations. Steps are those of
:class:`~graphdiff.processes.gaussian.GaussianProcess` with every noise draw projected.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from graphdiff.graph import FieldKind, FieldSpec
from graphdiff.processes.base import scatter_mean_per_graph
from graphdiff.processes.gaussian import GaussianProcess, Prediction
from graphdiff.schedules import NoiseSchedule

__all__ = ["PositionsProcess", "remove_mean"]


def remove_mean(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Subtract each graph's mean: ``x [N, d]`` with ``index [N]`` -> centred ``[N, d]``."""
    num_graphs = int(index.max()) + 1 if index.numel() else 0
    return x - scatter_mean_per_graph(x, index, num_graphs)[index]


class PositionsProcess(GaussianProcess):
    """Zero-CoM Gaussian diffusion of Cartesian positions (node level).

    Parameters
    ----------
    field:
        A ``positions`` field.
    schedule:
        The noise schedule (EDM uses ``polynomial``).
    prediction:
        ``"eps"`` (default), ``"x0"`` or ``"v"``.
    """

    kind: ClassVar[FieldKind] = FieldKind.POSITIONS

    def __init__(self, field: FieldSpec, schedule: NoiseSchedule, prediction: Prediction = "eps",
                 skip: bool = False, **options: Any) -> None:
        super().__init__(field, schedule, prediction, skip, **options)
        self.register_buffer("scale", torch.ones(()))

    def fit(self, x0: torch.Tensor, index: torch.Tensor | None = None) -> None:
        if index is None:
            raise ValueError("PositionsProcess.fit needs the graph index of each node")
        centred = remove_mean(x0.double(), index)
        rms = centred.pow(2).mean().sqrt().float()
        self.scale.copy_(rms if rms > 1e-6 else torch.ones(()))

    def encode(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return remove_mean(x0.float(), index) / self.scale

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def _noise_like(self, x: torch.Tensor, index: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return remove_mean(eps, index)

    def step(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float, index: torch.Tensor,
             generator: torch.Generator | None = None, deterministic: bool = False) -> torch.Tensor:
        return remove_mean(super().step(x, pred, t, s, index, generator, deterministic), index)
