"""Guidance of the reverse process: the pieces of a sampling step that rewrite the denoiser's
predictions before the processes move the states.

* :class:`ClassifierFreeGuidance` — ``(1 + w) f(x, c) − w f(x, ∅)`` of a model trained with
  condition dropout (on log-probabilities for categorical fields).
* :class:`GradientGuidance` — the gradient of a differentiable target of the clean estimate
  (``fn``) or of the noisy state (``noisy_fn``) added to the predictions of the continuous fields.

Both act on one step's predictions only and hold no model: the loop of
:class:`~graphdiff.sampling.SamplingRun` applies them, and they can be called (and tested) on
their own with a model's processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from graphdiff.errors import GraphValidationError
from graphdiff.graph import FieldKind
from graphdiff.nn.base import NoisyGraphs
from graphdiff.processes.base import Process

__all__ = ["GUIDANCE_CLAMP", "ClassifierFreeGuidance", "GradientGuidance"]

#: Gradient guidance scores the clean estimate of Gaussian and positions fields clamped to this
#: many units of their normalisation (the training data's standard deviation or RMS).
GUIDANCE_CLAMP = 5.0


@dataclass(frozen=True)
class ClassifierFreeGuidance:
    """Classifier-free guidance with weight ``scale`` (``w``).

    The denoiser is run twice at each step, with the graphs' conditions and with none (every
    condition masked out, as condition dropout did in training); each field's prediction becomes
    its process's :meth:`~graphdiff.processes.base.Process.guide` of the two, ``(1 + w) f(x, c) −
    w f(x, ∅)`` (on log-probabilities for categorical fields). ``w = 0`` is plain conditional
    sampling.
    """

    scale: float

    @staticmethod
    def unconditional(graphs: NoisyGraphs) -> NoisyGraphs:
        """The same denoiser input with every condition masked out (``f(x, ∅)``)."""
        return replace(graphs, cond_mask=torch.zeros_like(graphs.cond_mask))

    def combine(self, processes: Mapping[str, Process], cond: dict[str, torch.Tensor],
                uncond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Guided predictions from the conditional and unconditional ones (per field)."""
        return {n: processes[n].guide(cond[n], uncond[n], self.scale) for n in cond}

    def __call__(self, predict: Callable[[NoisyGraphs], dict[str, torch.Tensor]], graphs: NoisyGraphs,
                 processes: Mapping[str, Process]) -> dict[str, torch.Tensor]:
        """Guided predictions: ``predict`` (the preconditioned denoiser) run with and without the
        conditions of ``graphs``, combined."""
        return self.combine(processes, predict(graphs), predict(self.unconditional(graphs)))


@dataclass
class GradientGuidance:
    """Gradient (classifier) guidance from a differentiable target.

    ``fn(x0_hat: dict[str, Tensor], graphs: NoisyGraphs) -> Tensor [B]`` scores the denoiser's
    clean estimates of the continuous, positions and torus fields (in the processes' state
    space); sampling moves each field along ``scale · ∇ fn`` (to *increase* ``fn``; pass a
    negated distance to reach a value).

    ``noisy_fn(x_t: dict[str, Tensor], graphs: NoisyGraphs) -> Tensor [B]`` (optional, beside or
    instead of ``fn``) scores the *noisy* states themselves at the current ``graphs.t``: a
    time-aware predictor trained on the model's own noise. Its gradient enters as classifier
    guidance does, as a shift of the score, ``scale · ∇_{x_t} noisy_fn``.

    ``fields`` (optional): only these generated fields are moved; the others still enter the
    target at their current estimate but follow the model alone (e.g. guide the atoms'
    positions and leave the cell to the model).
    """

    fn: Callable[[dict[str, torch.Tensor], NoisyGraphs], torch.Tensor] | None = None
    scale: float = 1.0
    noisy_fn: Callable[[dict[str, torch.Tensor], NoisyGraphs], torch.Tensor] | None = None
    fields: frozenset[str] | None = None

    def check(self, processes: Mapping[str, Process], generate: Sequence[str]) -> None:
        """Raise :class:`GraphValidationError` when :attr:`fields` names a field that is not a
        continuous field of ``generate``."""
        if self.fields is None:
            return
        moved = [n for n in generate if processes[n].kind is not FieldKind.CATEGORICAL]
        bad = sorted(set(self.fields) - set(moved))
        if bad:
            raise GraphValidationError(f"gradient guidance fields {bad} are not continuous fields this "
                                       f"model generates (it can move {moved})")

    def apply(self, processes: Mapping[str, Process], states: dict[str, torch.Tensor],
              preds: dict[str, torch.Tensor], graphs: NoisyGraphs, t: float) -> dict[str, torch.Tensor]:
        """Shift continuous predictions by the gradient of the target.

        ``fn``: the gradient is taken with respect to the clean estimate ``x̂_0`` itself.
        Gaussian and positions fields move their clean estimate by ``scale · ∇`` (the prediction
        is rewritten so that the state ``x_t`` is unchanged); torus fields shift their score by
        ``scale · ∇`` (``x̂_0`` moves by ``σ² · scale · ∇``). The move of ``x̂_0`` is thus bounded
        at every noise level: a gradient with respect to the state ``x_t`` would carry a factor
        ``1 / α_t``, and an ε shift of ``σ_t`` times it moves ``x̂_0`` by ``∇ / SNR(t)``, about
        ``10⁵ ∇`` at ``t = 1``, which threw the samples far off. The target scores Gaussian and
        positions estimates clamped to ``±5`` normalisation units (:data:`GUIDANCE_CLAMP`).

        ``noisy_fn`` (a time-aware target, which reads ``x_t`` as it was trained to): classifier
        guidance proper, the score of every continuous field shifted by ``scale · ∇_{x_t}``
        (``ε̂`` moves by ``−σ_t · scale · ∇``, ``x̂_0`` by ``σ_t² / α_t · scale · ∇``).

        Parameters
        ----------
        processes:
            Field name -> process (a model's ``processes``).
        states:
            The generated fields' states ``x_t`` at time ``t``.
        preds:
            The (preconditioned) denoiser outputs of those fields at ``t``.
        graphs:
            The denoiser's input at ``t`` (handed to the targets).
        t:
            The time of the states.

        Returns
        -------
        dict
            ``preds`` with the moved fields' predictions replaced (a new dict).
        """
        moves: dict[str, torch.Tensor] = {}   # the move of x̂_0 (Gaussian / positions fields)
        scores: dict[str, torch.Tensor] = {}  # the shift of the score (torus fields)

        def add(table: dict, name: str, value: torch.Tensor) -> None:
            table[name] = table[name] + value if name in table else value

        with torch.enable_grad():
            if self.fn is not None:
                leaves = {}
                for name, x in states.items():
                    proc = processes[name]
                    if proc.kind is FieldKind.CATEGORICAL:
                        continue
                    if proc.kind is FieldKind.TORUS:
                        sigma = float(proc.sigma(t))
                        clean = x + sigma**2 * proc.score(preds[name], t)
                    else:
                        clean, _ = proc.split(x, preds[name], t)
                        # far from the data at high noise (errors grow as 1 / α_t): score a plausible
                        # estimate, so that a steep target (a density of log lengths) cannot overflow
                        clean = clean.clamp(-GUIDANCE_CLAMP, GUIDANCE_CLAMP)
                    leaves[name] = clean.detach().clone().requires_grad_(True)
                if leaves:
                    value = self.fn(dict(leaves), graphs).sum()
                    grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
                    for name, grad in zip(leaves, grads):
                        if grad is not None:
                            add(scores if processes[name].kind is FieldKind.TORUS else moves,
                                name, self.scale * grad)
            if self.noisy_fn is not None:
                leaves = {name: x.detach().clone().requires_grad_(True) for name, x in states.items()
                          if processes[name].kind is not FieldKind.CATEGORICAL}
                if leaves:
                    value = self.noisy_fn({**states, **leaves}, graphs).sum()
                    grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
                    for name, grad in zip(leaves, grads):
                        if grad is None:
                            continue
                        proc = processes[name]
                        if proc.kind is FieldKind.TORUS:
                            add(scores, name, self.scale * grad)
                        else:
                            a, s = proc.schedule.alpha_sigma_float(t)
                            add(moves, name, (s * s / max(a, 1e-8)) * self.scale * grad)
        if self.fields is not None:
            scores = {n: v for n, v in scores.items() if n in self.fields}
            moves = {n: v for n, v in moves.items() if n in self.fields}
        out = dict(preds)
        for name, shift in scores.items():
            proc = processes[name]
            out[name] = out[name] + shift / proc.score_scale(proc.sigma(t).view(1))
        for name, delta in moves.items():
            proc = processes[name]
            a, s = proc.schedule.alpha_sigma_float(t)
            s = max(s, 1e-8)
            if proc.prediction == "eps":  # x_t fixed: ε̂ = (x_t − α x̂_0) / σ
                out[name] = out[name] - (a / s) * delta
            elif proc.prediction == "x0":
                out[name] = out[name] + delta
            else:  # v = α ε̂ − σ x̂_0 with x_t fixed: v moves by −δ (α² / σ + σ) = −δ / σ
                out[name] = out[name] - delta / s
        return out
