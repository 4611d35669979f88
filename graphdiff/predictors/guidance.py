"""Gradient guidance by a target: how guidance reads a target (:data:`GUIDANCE_MODES`,
:func:`guidance_reading`: on the noisy states when the target is time-aware and fits the
model, else on the clean estimate) and the guidance itself (:func:`target_guidance`).
"""

from __future__ import annotations

from typing import Any

import torch

from graphdiff.errors import ConfigError
from graphdiff.graph import FieldKind
from graphdiff.nn.base import NoisyGraphs

__all__ = ["GUIDANCE_MODES", "guidance_reading", "target_guidance"]

#: How gradient guidance reads a target: ``auto`` (a time-aware target on the noisy states when it
#: fits the model, else the target on the clean estimate), ``clean`` or ``noisy`` (an error when
#: the target cannot).
GUIDANCE_MODES = ("auto", "clean", "noisy")


def guidance_reading(model: Any, target: Any, mode: str = "auto") -> tuple[str, str]:
    """``("noisy" | "clean", why)``: how guidance by ``target`` reads ``model``'s states under
    ``mode`` (:data:`GUIDANCE_MODES`). Raises :class:`ConfigError` when ``mode = "noisy"`` and the
    target cannot, or when the chosen reading does not exist."""
    name = getattr(target, "name", target)
    if mode not in GUIDANCE_MODES:
        raise ConfigError(f"guidance mode {mode!r}: choose one of {', '.join(GUIDANCE_MODES)}")
    noisy = getattr(target, "noisy_fn", None)
    clean = getattr(target, "graph_fn", None)
    if mode != "clean" and noisy is not None:
        check = getattr(target, "noisy_check", None)
        problems = check(model) if check is not None else []
        if not problems:
            return "noisy", "time-aware: the target reads the noisy states at each step"
        if mode == "noisy" or clean is None:
            raise ConfigError(f"target {name!r} cannot read this model's noisy states: " + "; ".join(problems))
        return "clean", "on the clean estimate (its time-aware reading does not fit this model: " + \
            "; ".join(problems) + ")"
    if mode == "noisy":
        raise ConfigError(f"target {name!r} is not time-aware (no noisy reading): use guidance mode "
                          "'clean' or 'auto', or train a predictor with noisy = true")
    if clean is None:
        raise ConfigError(f"target {name!r} is not differentiable (no graph_fn)")
    return "clean", "on the clean estimate"


def target_guidance(model: Any, target: Any, goal: float | None = None, scale: float = 1.0,
                    mode: str = "auto") -> Any:
    """A :class:`~graphdiff.diffusion.GradientGuidance` that steers sampling with a differentiable
    target: towards larger values (``goal=None``) or towards ``goal`` (minimising the squared
    distance).

    ``mode`` (:data:`GUIDANCE_MODES`): a time-aware target (``target.noisy_fn``, a predictor
    trained with ``noisy = true`` on the model's own processes) reads the noisy states at each
    step (``GradientGuidance.noisy_fn``); otherwise ``target.graph_fn`` reads the clean
    estimates of the continuous fields, mapped back to their units with the model's processes,
    categorical fields entering as the model's current inputs (class probabilities).
    """
    from graphdiff.diffusion import GradientGuidance

    reading, _ = guidance_reading(model, target, mode)

    def towards(value: torch.Tensor) -> torch.Tensor:
        return value if goal is None else -(value - float(goal)) ** 2

    if reading == "noisy":
        noisy_fn = target.noisy_fn
        return GradientGuidance(None, scale, noisy_fn=lambda states, graphs: towards(noisy_fn(states, graphs)))
    graph_fn = target.graph_fn

    def fn(x0_hat: dict[str, torch.Tensor], graphs: NoisyGraphs) -> torch.Tensor:
        fields = {}
        for name, value in {**graphs.inputs, **x0_hat}.items():
            proc = model.processes[name] if name in model.processes else None
            if proc is None:
                continue
            # categorical inputs are class probabilities already; the others are states
            fields[name] = value if proc.kind is FieldKind.CATEGORICAL else proc.finalize(value)
        return towards(graph_fn(fields, graphs))

    return GradientGuidance(fn, scale)
