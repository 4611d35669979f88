"""Torus fields: wrapped-normal score matching on ``[0, 1)^d`` (as DiffCSP).

Variance-exploding diffusion on the torus: ``x_t = (x_0 + σ(t) ε) mod 1`` with a geometric
schedule ``σ(t) = σ_min^{1−t} σ_max^t``. The transition density is the wrapped normal
``p(x_t | x_0) = Σ_k N(x_t − x_0 + k; 0, σ²)`` and its score is

    ∇ log p(d) = −Σ_k (d + k)/σ² · w_k,   w_k ∝ exp(−(d + k)²/(2σ²)),   d = x_t − x_0.

The denoiser predicts the score divided by ``sqrt(λ(σ))`` with ``λ(σ) = E[‖∇ log p‖²]`` per
coordinate (a unit-scale target at every σ); the loss is the squared error to that target.
``λ`` is tabulated once by quadrature over one period.

Reverse steps from ``t`` to ``s``:

* predictor (ancestral VE): ``x_s = x_t + (σ_t² − σ_s²) ŝ + sqrt(σ_s²(σ_t² − σ_s²)/σ_t²) z``;
* deterministic (probability-flow ODE): ``x_s = x_t + ½(σ_t² − σ_s²) ŝ`` (also for ``s > t``);
* corrector (Langevin, :meth:`TorusProcess.correct`): ``x ← x + γ ŝ + sqrt(2γ) z`` with
  ``γ = step_lr · (σ_t / σ_min)²``.

The prior at ``t = 1`` is uniform on the torus. Everything is wrapped back into ``[0, 1)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from graphdiff.graph import FieldKind, FieldSpec, wrap01
from graphdiff.processes.base import Process

__all__ = ["TorusProcess", "wrapped_normal_score"]


def wrapped_normal_score(d: torch.Tensor, sigma: torch.Tensor, images: int = 5) -> torch.Tensor:
    """Score ``∇_d log Σ_k N(d + k; 0, σ²)`` of a unit-period wrapped normal.

    Parameters
    ----------
    d:
        ``[M, D]`` displacements.
    sigma:
        ``[M, 1]`` or broadcastable standard deviations.
    images:
        Periodic images ``k ∈ [−images, images]`` summed.
    """
    k = torch.arange(-images, images + 1, dtype=d.dtype, device=d.device)
    dk = d.unsqueeze(-1) + k  # [M, D, K]
    s2 = (sigma**2).unsqueeze(-1)
    logw = -(dk**2) / (2 * s2)
    w = torch.softmax(logw, dim=-1)
    return -(dk * w).sum(-1) / s2.squeeze(-1)


class TorusProcess(Process):
    """Wrapped-normal diffusion of a torus field with values in ``[0, 1)``.

    Parameters
    ----------
    field:
        A ``torus`` field (node level).
    sigma_min, sigma_max:
        Ends of the geometric σ schedule (DiffCSP: 0.005 and 0.5).
    step_lr:
        Langevin corrector step size at ``σ_min`` (DiffCSP: 1e-5).
    """

    kind: ClassVar[FieldKind] = FieldKind.TORUS

    def __init__(self, field: FieldSpec, sigma_min: float = 0.005, sigma_max: float = 0.5,
                 step_lr: float = 1e-5, **options: Any) -> None:
        super().__init__(field)
        if options:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(options)}")
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"field {field.name!r}: need 0 < sigma_min < sigma_max")
        self.sigma_min, self.sigma_max, self.step_lr = float(sigma_min), float(sigma_max), float(step_lr)
        # λ(σ) on a log grid, by quadrature over one period
        grid = torch.logspace(math.log10(sigma_min), math.log10(sigma_max), 256, dtype=torch.float64)
        self.register_buffer("_log_sigma_grid", grid.log().float(), persistent=False)
        self.register_buffer("_lambda_grid", self._lambda(grid).float(), persistent=False)
        self._scale_cache: dict[float, float] = {}

    @staticmethod
    def _lambda(sigmas: torch.Tensor) -> torch.Tensor:
        x = (torch.arange(4000, dtype=torch.float64) + 0.5) / 4000 - 0.5  # one period
        out = []
        for s in sigmas:
            k = torch.arange(-6, 7, dtype=torch.float64)
            dens = torch.exp(-((x.unsqueeze(-1) + k) ** 2) / (2 * s * s)).sum(-1)
            dens = dens / dens.sum()
            score = wrapped_normal_score(x.unsqueeze(-1), s.view(1, 1), images=6).squeeze(-1)
            out.append((dens * score**2).sum())
        return torch.stack(out)

    def sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32)
        return self.sigma_min ** (1 - t) * self.sigma_max**t

    def score_scale(self, sigma: torch.Tensor) -> torch.Tensor:
        """``sqrt(λ(σ))``: the network output times this is the score."""
        logs = sigma.log().clamp(float(self._log_sigma_grid[0]), float(self._log_sigma_grid[-1]))
        pos = (logs - self._log_sigma_grid[0]) / (self._log_sigma_grid[-1] - self._log_sigma_grid[0])
        pos = pos * (self._log_sigma_grid.numel() - 1)
        lo = pos.floor().long().clamp(0, self._log_sigma_grid.numel() - 2)
        frac = pos - lo
        lam = self._lambda_grid[lo] * (1 - frac) + self._lambda_grid[lo + 1] * frac
        return lam.sqrt()

    # ------------------------------------------------------------------ forward
    def encode(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return wrap01(x0.float())

    def prior(self, num: int, index: torch.Tensor, num_graphs: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(num, self.field.dim, generator=generator, device=index.device)

    def noise(self, x0: torch.Tensor, t: torch.Tensor, index: torch.Tensor,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = self.encode(x0, index)
        sigma = self.sigma(t).to(x0).unsqueeze(-1)
        d = sigma * torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        target = wrapped_normal_score(d, sigma) / self.score_scale(sigma)
        return wrap01(x0 + d), target

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def loss(self, pred: torch.Tensor, target: torch.Tensor, x0: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
        return ((pred - target) ** 2).mean(-1)

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        return wrap01(x)

    # ------------------------------------------------------------------ reverse
    def sigma_float(self, t: float) -> float:
        return self.sigma_min ** (1 - float(t)) * self.sigma_max ** float(t)

    def score(self, pred: torch.Tensor, t: float) -> torch.Tensor:
        key = float(t)
        scale = self._scale_cache.get(key)
        if scale is None:
            scale = float(self.score_scale(torch.tensor([self.sigma_float(key)])))
            self._scale_cache[key] = scale
        return pred * scale

    def step(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float, index: torch.Tensor,
             generator: torch.Generator | None = None, deterministic: bool = False) -> torch.Tensor:
        st, ss = self.sigma_float(t), self.sigma_float(s)
        score = self.score(pred, t)
        if s <= 0:  # last step: the denoised estimate E[x_0 | x_t] = x_t + σ_t² ∇ log p (Tweedie)
            return wrap01(x + st**2 * score)
        if deterministic:
            return self.ddim(x, pred, t, s)
        var = st**2 - ss**2
        std = math.sqrt(ss**2 * var / st**2)
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return wrap01(x + var * score + std * z)

    def ddim(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float) -> torch.Tensor:
        """Probability-flow ODE step from ``t`` to ``s`` (either direction)."""
        st, ss = self.sigma_float(t), self.sigma_float(s)
        return wrap01(x + 0.5 * (st**2 - ss**2) * self.score(pred, t))

    def correct(self, x: torch.Tensor, pred: torch.Tensor, t: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """One Langevin corrector step at time ``t``."""
        gamma = self.step_lr * (self.sigma_float(t) / self.sigma_min) ** 2
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return wrap01(x + gamma * self.score(pred, t) + math.sqrt(2 * gamma) * z)

    def config(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "step_lr": self.step_lr}
