"""Continuous fields: variance-preserving Gaussian diffusion.

Forward: ``x_t = α_t x_0 + σ_t ε`` with ``α_t = sqrt(ᾱ(t))``, ``σ_t = sqrt(1 − ᾱ(t))`` on the
*normalised* field ``(x − mean) / std`` (statistics from :meth:`GaussianProcess.fit`).

The denoiser predicts ``ε`` (``prediction="eps"``), ``x_0`` (``"x0"``) or
``v = α_t ε − σ_t x_0`` (``"v"``); the loss is the mean squared error to that target.

With ``skip=True`` the network learns only the residual to the best *linear* estimate of the
target for unit-variance data: ``ε̂ = σ_t x_t + f``, ``x̂_0 = α_t x_t + f`` (``v`` has a zero
linear estimate). Near ``t = 1``, where ``x_t`` is almost pure noise, the right answer then comes
without learning; an under-trained network that shrinks ``ε̂`` there otherwise makes reverse
steps that divide by ``α_{t|s} < 1`` inflate the state (Karras et al. 2022 precondition the
same way).

Reverse steps from ``t`` to ``s``:

* ancestral (DDPM posterior): ``x_s ~ N(μ, σ²)``, with ``α_{t|s} = α_t/α_s``,
  ``σ²_{t|s} = σ_t² − α²_{t|s} σ_s²``, ``μ = (α_{t|s} σ_s²/σ_t²) x_t + (α_s σ²_{t|s}/σ_t²) x̂_0``,
  ``σ² = σ²_{t|s} σ_s² / σ_t²``;
* deterministic (DDIM, η = 0): ``x_s = α_s x̂_0 + σ_s ε̂``, valid for ``s > t`` too (inversion).

Continuous *edge* fields (values on the edges: a road's length, a tie's weight) use this same
process on the dense pair representation: :class:`~graphdiff.diffusion.GraphDiffusion` gives it
one element per unordered node pair ``i < j`` (so a value is symmetric by construction), with
the statistics of :meth:`GaussianProcess.fit` taken over the pairs that are edges in the data.
Every pair is noised and denoised; the loss is averaged over the data's edges only (the other
pairs hold values of random edges of the same graph, so that they say nothing about where the
edges are); a generated graph keeps the values on the pairs its generated edge field makes edges.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch

from graphdiff.graph import FieldKind, FieldSpec
from graphdiff.processes.base import Process
from graphdiff.schedules import NoiseSchedule

__all__ = ["GaussianProcess"]

Prediction = Literal["eps", "x0", "v"]


class GaussianProcess(Process):
    """Gaussian diffusion of a continuous field.

    Parameters
    ----------
    field:
        A continuous field (node, graph or edge level).
    schedule:
        The noise schedule.
    prediction:
        What the denoiser predicts: ``"eps"``, ``"x0"`` or ``"v"``.
    skip:
        Add the linear estimate of the target to the denoiser's output (see the module notes).
    """

    kind: ClassVar[FieldKind] = FieldKind.CONTINUOUS

    def __init__(self, field: FieldSpec, schedule: NoiseSchedule, prediction: Prediction = "eps",
                 skip: bool = False, **options: Any) -> None:
        super().__init__(field)
        if prediction not in ("eps", "x0", "v"):
            raise ValueError(f"field {field.name!r}: prediction must be eps, x0 or v, got {prediction!r}")
        if options:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(options)}")
        self.schedule = schedule
        self.prediction = prediction
        self.skip = bool(skip)
        self.register_buffer("mean", torch.zeros(field.dim))
        self.register_buffer("std", torch.ones(field.dim))

    # ------------------------------------------------------------------ statistics
    def fit(self, x0: torch.Tensor, index: torch.Tensor | None = None) -> None:
        x0 = x0.double()
        self.mean.copy_(x0.mean(0).float())
        std = x0.std(0, unbiased=False).float() if x0.size(0) > 1 else torch.ones_like(self.std)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def encode(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return (x0.float() - self.mean) / self.std

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    # ------------------------------------------------------------------ forward
    def _noise_like(self, x: torch.Tensor, index: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    def prior(self, num: int, index: torch.Tensor, num_graphs: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.zeros(num, self.field.dim, device=index.device)
        return self._noise_like(z, index, generator)

    def noise(self, x0: torch.Tensor, t: torch.Tensor, index: torch.Tensor,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = self.encode(x0, index)
        a, s = self.schedule.alpha_sigma(t)
        a, s = a.to(x0).unsqueeze(-1), s.to(x0).unsqueeze(-1)
        eps = self._noise_like(x0, index, generator)
        x_t = a * x0 + s * eps
        target = {"eps": eps, "x0": x0, "v": a * eps - s * x0}[self.prediction]
        return x_t, target

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def precondition(self, pred: torch.Tensor, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        if not self.skip or self.prediction == "v":
            return pred
        if isinstance(t, torch.Tensor):
            a, s = self.schedule.alpha_sigma(t)
            coef = (s if self.prediction == "eps" else a).to(x).view(-1, *([1] * (x.dim() - 1)))
        else:
            a, s = self.schedule.alpha_sigma_float(float(t))
            coef = s if self.prediction == "eps" else a
        return pred + coef * x

    def loss(self, pred: torch.Tensor, target: torch.Tensor, x0: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
        return ((pred - target) ** 2).mean(-1)

    # ------------------------------------------------------------------ reverse
    def split(self, x: torch.Tensor, pred: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x̂_0, ε̂)`` from a state at time ``t`` and the denoiser output."""
        a, s = self.schedule.alpha_sigma_float(t)
        if self.prediction == "eps":
            eps = pred
            x0 = (x - s * eps) / a
        elif self.prediction == "x0":
            x0 = pred
            eps = (x - a * x0) / max(s, 1e-8)
        else:
            x0 = a * x - s * pred
            eps = s * x + a * pred
        return x0, eps

    def ddim(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float) -> torch.Tensor:
        """Deterministic step from ``t`` to ``s`` (either direction)."""
        x0, eps = self.split(x, pred, t)
        a_s, s_s = self.schedule.alpha_sigma_float(s)
        return a_s * x0 + s_s * eps

    def step(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float, index: torch.Tensor,
             generator: torch.Generator | None = None, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            return self.ddim(x, pred, t, s)
        x0, _ = self.split(x, pred, t)
        a_t, s_t = self.schedule.alpha_sigma_float(t)
        a_s, s_s = self.schedule.alpha_sigma_float(s)
        a_ts = a_t / a_s
        var_ts = max(s_t**2 - a_ts**2 * s_s**2, 0.0)
        mean = (a_ts * s_s**2 / s_t**2) * x + (a_s * var_ts / s_t**2) * x0
        std = (var_ts * s_s**2 / s_t**2) ** 0.5
        if s <= 0 or std == 0:
            return mean
        return mean + std * self._noise_like(x, index, generator)

    def config(self) -> dict[str, Any]:
        out = {"schedule": self.schedule.config(), "prediction": self.prediction}
        if self.skip:
            out["skip"] = True
        return out
