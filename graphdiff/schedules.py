"""Noise schedules: pure tensor maps from time to signal level. No ``nn.Module``.

Every schedule defines ``ᾱ(t)`` (``alpha_bar``) for continuous time ``t ∈ [0, 1]``: the signal
fraction kept in ``x_t = sqrt(ᾱ) x_0 + sqrt(1 − ᾱ) ε``. ``ᾱ`` decreases from about 1 at ``t = 0``
to about 0 at ``t = 1``; it is clipped to ``[eps, 1]`` so every value is in ``(0, 1]``.
Discrete time with ``T`` steps uses ``t = i / T`` (:meth:`NoiseSchedule.discrete`).

===========  ==================================================================================
linear       DDPM: β linear from ``beta_start`` to ``beta_end`` over ``T`` steps
             (continuous form ``ᾱ(t) = exp(−T(β₀ t + (β₁ − β₀) t² / 2))``)
cosine       Nichol & Dhariwal 2021: ``ᾱ(t) = cos²((t + s)/(1 + s) · π/2) / cos²(s/(1 + s) · π/2)``
polynomial   EDM (Hoogeboom et al. 2022): ``ᾱ(t) = ((1 − 2s)(1 − t^p) + s)²`` with ``p = power``
             (``α = (1 − 2s)(1 − (t/T)²) + s`` is the ``power = 2`` case; ᾱ = α²)
sigmoid      Jabri et al. 2022: ``ᾱ(t) = (σ(−(t(e − b) + b)/τ) − σ(−e/τ)) / (σ(−b/τ) − σ(−e/τ))``
===========  ==================================================================================
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

__all__ = [
    "NoiseSchedule",
    "LinearSchedule",
    "CosineSchedule",
    "PolynomialSchedule",
    "SigmoidSchedule",
    "build_schedule",
]


class NoiseSchedule:
    """Base class. Subclasses implement :meth:`_alpha_bar`; options are keyword arguments.

    Parameters
    ----------
    eps:
        Lower clip of ``ᾱ`` (keeps every value in ``(0, 1]``).
    """

    name: ClassVar[str] = ""

    def __init__(self, eps: float = 1e-5, **options: Any) -> None:
        if not 0 < eps < 1:
            raise ValueError(f"schedule {self.name!r}: eps must be in (0, 1), got {eps}")
        self.eps = float(eps)
        self.options = dict(options)
        self._float_cache: dict[float, float] = {}

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def alpha_bar(self, t: torch.Tensor | float) -> torch.Tensor:
        """``ᾱ(t)`` for ``t`` in ``[0, 1]``; same shape as ``t``, values in ``(0, 1]``."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if bool(((t < 0) | (t > 1)).any()):
            raise ValueError("schedule time must lie in [0, 1]")
        return self._alpha_bar(t).clamp(self.eps, 1.0)

    def alpha_bar_float(self, t: float) -> float:
        """``ᾱ(t)`` of one time as a Python float, memoised (sampling asks for the same few
        times at every step)."""
        t = float(t)
        value = self._float_cache.get(t)
        if value is None:
            value = float(self.alpha_bar(t))
            if len(self._float_cache) < 100_000:
                self._float_cache[t] = value
        return value

    def alpha_sigma_float(self, t: float) -> tuple[float, float]:
        """``(sqrt(ᾱ), sqrt(1 − ᾱ))`` of one time as Python floats."""
        ab = self.alpha_bar_float(t)
        return ab**0.5, max(1.0 - ab, 0.0) ** 0.5

    def alpha_sigma(self, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sqrt(ᾱ), sqrt(1 − ᾱ))`` as float32 tensors of ``t``'s shape."""
        ab = self.alpha_bar(t)
        return ab.sqrt().float(), (1 - ab).clamp_min(0).sqrt().float()

    def snr(self, t: torch.Tensor | float) -> torch.Tensor:
        """Signal-to-noise ratio ``ᾱ / (1 − ᾱ)``."""
        ab = self.alpha_bar(t)
        return ab / (1 - ab).clamp_min(1e-12)

    def discrete(self, steps: int) -> dict[str, torch.Tensor]:
        """Discrete-time view with ``steps`` steps: ``alpha_bar [steps + 1]`` at ``t = i / steps``
        and ``betas [steps]`` with ``1 − β_i = ᾱ_i / ᾱ_{i−1}``."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
        ab = self.alpha_bar(t)
        betas = (1 - ab[1:] / ab[:-1]).clamp(0, 0.999)
        return {"t": t, "alpha_bar": ab, "betas": betas}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "eps": self.eps, **self.options}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({opts})"


class LinearSchedule(NoiseSchedule):
    """DDPM's linear β schedule in continuous form (Ho et al. 2020)."""

    name = "linear"

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 0.02, steps: int = 1000,
                 eps: float = 1e-5) -> None:
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError("linear schedule needs 0 < beta_start <= beta_end < 1")
        super().__init__(eps=eps, beta_start=beta_start, beta_end=beta_end, steps=steps)
        self.b0, self.b1, self.T = beta_start, beta_end, steps

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.T * (self.b0 * t + 0.5 * (self.b1 - self.b0) * t**2))


class CosineSchedule(NoiseSchedule):
    """Cosine schedule (Nichol & Dhariwal 2021) with offset ``s``."""

    name = "cosine"

    def __init__(self, s: float = 0.008, eps: float = 1e-5) -> None:
        if s < 0:
            raise ValueError("cosine schedule needs s >= 0")
        super().__init__(eps=eps, s=s)
        self.s = s

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        f = torch.cos((t + self.s) / (1 + self.s) * math.pi / 2) ** 2
        f0 = math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2
        return f / f0


class PolynomialSchedule(NoiseSchedule):
    """EDM's polynomial schedule: ``α(t) = (1 − 2s)(1 − t^power) + s``, ``ᾱ = α²``."""

    name = "polynomial"

    def __init__(self, power: float = 2.0, s: float = 1e-5, eps: float = 1e-5) -> None:
        if power <= 0 or not 0 <= s < 0.5:
            raise ValueError("polynomial schedule needs power > 0 and 0 <= s < 0.5")
        super().__init__(eps=eps, power=power, s=s)
        self.power, self.s = power, s

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        alpha = (1 - 2 * self.s) * (1 - t**self.power) + self.s
        return alpha**2


class SigmoidSchedule(NoiseSchedule):
    """Sigmoid schedule (Jabri et al. 2022) between logits ``start`` and ``end``, temperature ``tau``."""

    name = "sigmoid"

    def __init__(self, start: float = -3.0, end: float = 3.0, tau: float = 1.0,
                 eps: float = 1e-5) -> None:
        if not start < end or tau <= 0:
            raise ValueError("sigmoid schedule needs start < end and tau > 0")
        super().__init__(eps=eps, start=start, end=end, tau=tau)
        self.start, self.end, self.tau = start, end, tau

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        v0 = torch.sigmoid(torch.tensor(self.start / self.tau, dtype=t.dtype))
        v1 = torch.sigmoid(torch.tensor(self.end / self.tau, dtype=t.dtype))
        v = torch.sigmoid((t * (self.end - self.start) + self.start) / self.tau)
        return (v1 - v) / (v1 - v0)


BUILTIN_SCHEDULES: dict[str, type[NoiseSchedule]] = {
    cls.name: cls for cls in (LinearSchedule, CosineSchedule, PolynomialSchedule, SigmoidSchedule)
}


def build_schedule(name: str, **options: Any) -> NoiseSchedule:
    """Build a registered schedule by name (looks up the plugin registry)."""
    from graphdiff.plugins import get_manager

    cls = get_manager().get("schedules", name)
    return cls(**options)
