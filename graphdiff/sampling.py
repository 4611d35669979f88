"""The reverse process as steps: :class:`SamplingRun` holds one batch's sampling setup and takes
one reverse step at a time (:meth:`SamplingRun.step`), returning a typed :class:`SampleStep`; the
loop over the steps lives outside it (:meth:`graphdiff.diffusion.GraphDiffusion.sample` is such a
loop, and a user may write their own).

One step from time ``t`` to ``s < t`` runs these pieces, in this order:

1. the denoiser's predictions at ``t`` (classifier-free guided when the model is conditioned and
   ``guidance_scale != 0``: :class:`~graphdiff.guidance.ClassifierFreeGuidance`);
2. correction: :class:`LangevinCorrector` moves of the torus fields at ``t``, each followed by a
   new prediction;
3. gradient guidance: :class:`~graphdiff.guidance.GradientGuidance` shifts the predictions;
4. the step itself: every generated field's process moves its state from ``t`` to ``s``;
5. inpainting: :class:`Inpainting` puts the fields held to a template's values back on their
   forward process at ``s``;
6. projection: :class:`EdgeProjection` keeps the edge field inside a structural constraint.

Each piece is a small object that holds no model and can be used (and tested) on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from graphdiff.constraints import EdgeConstraint, project_edges
from graphdiff.graph import FieldKind, wrap01
from graphdiff.guidance import ClassifierFreeGuidance, GradientGuidance
from graphdiff.nn.base import NoisyGraphs
from graphdiff.processes.base import Process

__all__ = ["ClassifierFreeGuidance", "EdgeProjection", "GradientGuidance", "Inpainting", "LangevinCorrector",
           "SampleStep", "SamplingRun", "clean_estimates"]

States = dict[str, torch.Tensor]
#: ``denoise(states, t) -> (predictions, denoiser input)``: the model's (guided) predictions of
#: every generated field at time ``t``.
Denoise = Callable[[States, float], tuple[States, NoisyGraphs]]


@dataclass
class SampleStep:
    """The output of one reverse step (:meth:`SamplingRun.step`).

    All tensors are in the processes' state space (:meth:`SamplingRun.finalize` maps states to
    the data's units).

    Attributes
    ----------
    index:
        The step's number, ``0`` to ``steps − 1``.
    t, s:
        The times the step went from and to (``s < t``; ``s = 0`` at the last step).
    states:
        Field name -> the new state ``x_s`` of every generated field (after inpainting and
        projection): the input of the next step.
    previous:
        Field name -> the states ``x_t`` the predictions were made from (after any corrector
        moves).
    predictions:
        Field name -> the denoiser's output at ``t`` that moved the states (preconditioned, and
        guided where guidance is on).
    clean:
        Field name -> the estimate of the clean data ``x̂_0`` from ``previous`` and
        ``predictions`` (:func:`clean_estimates`): ``[M, d]`` values of continuous, positions
        and torus fields, ``[M, C]`` class probabilities of categorical fields.
    """

    index: int
    t: float
    s: float
    states: States
    previous: States
    predictions: States
    clean: States

    @property
    def is_last(self) -> bool:
        """Whether this step reached ``t = 0`` (its states are the samples)."""
        return self.s <= 0.0


def clean_estimates(processes: Mapping[str, Process], states: States, preds: States, t: float) -> States:
    """The denoiser's estimate of the clean data ``x̂_0`` of each field at time ``t``.

    Gaussian and positions fields: ``x̂_0`` from the state and the ε / x₀ / v prediction; torus
    fields: Tweedie's ``x_t + σ_t² ŝ`` wrapped to ``[0, 1)``; categorical fields: the predicted
    probabilities of the clean classes ``[M, C]``. A process of another kind contributes its
    ``clean_estimate(x, pred, t)`` when it defines one, else nothing.
    """
    out: States = {}
    for name, x in states.items():
        if name not in preds:
            continue
        proc, pred = processes[name], preds[name]
        own = getattr(proc, "clean_estimate", None)
        if own is not None:
            out[name] = own(x, pred, t)
        elif proc.kind is FieldKind.CATEGORICAL:
            out[name] = F.softmax(pred.float(), -1)
        elif proc.kind is FieldKind.TORUS:
            out[name] = wrap01(x + proc.sigma_float(t) ** 2 * proc.score(pred, t))
        elif hasattr(proc, "split"):
            out[name] = proc.split(x, pred, t)[0]
    return out


class LangevinCorrector:
    """Langevin corrector moves of the torus fields at a fixed time (predictor–corrector
    sampling, as DiffCSP): ``x ← x + γ ŝ + sqrt(2γ) z`` with ``γ = step_lr (σ_t / σ_min)²``
    (:meth:`~graphdiff.processes.torus.TorusProcess.correct`), ``steps`` times per reverse step,
    the denoiser predicting afresh after every move.

    Parameters
    ----------
    processes:
        Field name -> process.
    fields:
        The torus fields to move (in this order: each move draws its noise field by field).
    steps:
        Moves per reverse step.
    """

    def __init__(self, processes: Mapping[str, Process], fields: Sequence[str], steps: int) -> None:
        if steps < 0:
            raise ValueError(f"corrector steps must be >= 0, got {steps}")
        self.processes, self.fields, self.steps = processes, list(fields), int(steps)

    def move(self, states: States, preds: States, t: float,
             generator: torch.Generator | None = None) -> States:
        """One Langevin move of every corrected field (a new dict; the others are kept)."""
        out = dict(states)
        for name in self.fields:
            out[name] = self.processes[name].correct(out[name], preds[name], t, generator)
        return out

    def __call__(self, states: States, preds: States, graphs: NoisyGraphs, t: float, denoise: Denoise,
                 generator: torch.Generator | None = None) -> tuple[States, States, NoisyGraphs]:
        """``steps`` moves, each followed by ``denoise``: the corrected states and their
        predictions and denoiser input."""
        if not self.fields:
            return states, preds, graphs
        for _ in range(self.steps):
            states = self.move(states, preds, t, generator)
            preds, graphs = denoise(states, t)
        return states, preds, graphs


class EdgeProjection:
    """Keeps a generated edge field inside a structural constraint (ConStruct's projector).

    After each reverse step, the edges the step added (all edges, for a constraint that reads
    node positions) are inserted one at a time in a random order and those that would break
    the property are discarded (:func:`~graphdiff.constraints.project_edges`); the start state
    is projected the same way.

    Parameters
    ----------
    constraint:
        The constraint.
    edge:
        The name of the generated edge field.
    processes:
        Field name -> process (a geometric constraint reads a Gaussian field's clean estimate).
    pair_index, pair_batch, ptr:
        ``[2, P]`` node pairs, ``[P]`` their graphs and ``[B + 1]`` node offsets of the batch.
    given_positions:
        ``[N, 2]`` node positions of a geometric constraint whose position field is given (the
        template's values), ``None`` otherwise.
    """

    def __init__(self, constraint: EdgeConstraint, edge: str, processes: Mapping[str, Process],
                 pair_index: torch.Tensor, pair_batch: torch.Tensor, ptr: torch.Tensor,
                 given_positions: torch.Tensor | None = None) -> None:
        self.constraint, self.edge, self.processes = constraint, edge, processes
        self.pair_index, self.pair_batch, self.ptr = pair_index, pair_batch, ptr
        self.position_field = constraint.position_field
        self.given_positions = given_positions

    def positions(self, states: States) -> torch.Tensor | None:
        """The nodes' positions a geometric constraint reads: the current state of a generated
        field (an affine image of the data's positions, which keeps every crossing), or the
        template's values of a given one; ``None`` for a constraint that reads none."""
        if self.position_field is None:
            return None
        if self.position_field in states:
            return states[self.position_field]
        return self.given_positions

    def layout(self, states: States, preds: States, t: float) -> torch.Tensor | None:
        """Before the last step, a geometric constraint reads the denoiser's estimate of the
        clean positions (a Gaussian field's ``x̂_0``), where the nodes are heading, rather than
        their noisy state; ``None`` where there is no such estimate (the state is read)."""
        if self.position_field is None or self.position_field not in states:
            return None
        split = getattr(self.processes[self.position_field], "split", None)
        return split(states[self.position_field], preds[self.position_field], t)[0] if split is not None else None

    def project(self, prev: torch.Tensor, states: States, generator: torch.Generator | None = None,
                layout: torch.Tensor | None = None) -> torch.Tensor:
        """The projected edge classes ``[P]`` of ``states`` (after every field moved), given the
        classes ``prev`` before the step; ``layout`` (see :meth:`layout`) replaces the positions
        of the states."""
        return project_edges(self.constraint, prev, states[self.edge], self.pair_index, self.pair_batch,
                             self.ptr, generator, self.positions(states) if layout is None else layout)

    def start(self, states: States, generator: torch.Generator | None = None) -> torch.Tensor:
        """The projection of the start state: the prior draw's edges added to an empty graph."""
        return self.project(torch.zeros_like(states[self.edge]), states, generator)


class Inpainting:
    """Generated fields held to a template's values by replacement (RePaint-style completion).

    After every reverse step to ``s`` each held field's state is redrawn from the forward
    process ``q(x_s | x_0)`` of the template's clean value, and at the last step set to the
    encoded value itself.

    Parameters
    ----------
    processes:
        Field name -> process.
    targets:
        Field name -> ``(x0, index)``: the template's clean values of the field's elements and the
        graph of each element.
    """

    def __init__(self, processes: Mapping[str, Process],
                 targets: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.processes, self.targets = processes, dict(targets)

    @property
    def fields(self) -> list[str]:
        return list(self.targets)

    def apply(self, states: States, s: float, last: bool,
              generator: torch.Generator | None = None) -> States:
        """The states with every held field replaced by its value at ``s`` (a new dict)."""
        out = dict(states)
        for name, (x0, index) in self.targets.items():
            proc = self.processes[name]
            if last:
                out[name] = proc.encode(x0, index)
            else:
                ts = torch.full((x0.shape[0],), float(s), device=x0.device)
                out[name] = proc.noise(x0, ts, index, generator)[0]
        return out


class SamplingRun:
    """One batch's reverse process, a step at a time (made by
    :meth:`graphdiff.diffusion.GraphDiffusion.prepare_sampling`).

    The times go from 1 to 0 in ``steps`` equal steps. A loop over the steps::

        run = model.prepare_sampling([6, 8], steps=50, generator=torch.Generator().manual_seed(0))
        states = run.initial_states()
        for i in range(run.steps):
            out = run.step(states, i)      # a SampleStep
            states = out.states
        graphs = run.to_graphs(states)

    is what :meth:`~graphdiff.diffusion.GraphDiffusion.sample` does; the same seed gives the same
    graphs either way.

    Parameters
    ----------
    processes:
        Field name -> process.
    generate:
        The generated fields, in the order they are drawn and stepped.
    index:
        Field name -> ``[M]`` graph of each element of every generated field.
    num_graphs:
        ``B``.
    steps:
        Number of reverse steps.
    deterministic:
        DDIM / probability-flow steps where the process allows (categorical fields stay
        stochastic).
    denoise:
        ``denoise(states, t) -> (predictions, denoiser input)``, classifier-free guided.
    to_graphs:
        ``to_graphs(states) -> list[Data]``: the batch's graphs carrying the final states.
    generator:
        Source of every random draw.
    latents:
        Start states of some generated fields (default: a draw from the prior).
    corrector, gradient_guidance, projection, inpainting:
        The optional pieces of a step (``None``: off).
    classifier_free:
        The classifier-free guidance ``denoise`` applies (``None``: off); recorded for
        inspection.
    """

    def __init__(self, *, processes: Mapping[str, Process], generate: Sequence[str],
                 index: Mapping[str, torch.Tensor], num_graphs: int, steps: int, deterministic: bool,
                 denoise: Denoise, to_graphs: Callable[[States], list[Data]],
                 generator: torch.Generator | None = None, latents: Mapping[str, torch.Tensor] | None = None,
                 corrector: LangevinCorrector | None = None, gradient_guidance: GradientGuidance | None = None,
                 projection: EdgeProjection | None = None, inpainting: Inpainting | None = None,
                 classifier_free: ClassifierFreeGuidance | None = None) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.processes, self.generate, self.index = processes, list(generate), dict(index)
        self.num_graphs, self.steps, self.deterministic = int(num_graphs), int(steps), bool(deterministic)
        self.denoise, self._to_graphs, self.generator = denoise, to_graphs, generator
        self.latents = dict(latents or {})
        self.corrector, self.gradient_guidance = corrector, gradient_guidance
        self.projection, self.inpainting, self.classifier_free = projection, inpainting, classifier_free
        #: ``steps + 1`` times from 1 to 0
        self.times: list[float] = torch.linspace(1.0, 0.0, self.steps + 1).tolist()

    @property
    def timesteps(self) -> list[tuple[float, float]]:
        """``(t, s)`` of every step."""
        return list(zip(self.times[:-1], self.times[1:]))

    @torch.no_grad()
    def initial_states(self) -> States:
        """The states at ``t = 1``: the latents where given, else a draw from each field's prior
        (in :attr:`generate` order), the edges projected onto the constraint."""
        states: States = {}
        for name in self.generate:
            index = self.index[name]
            if name in self.latents:
                states[name] = self.latents[name].to(index.device)
            else:
                states[name] = self.processes[name].prior(index.numel(), index, self.num_graphs, self.generator)
        if self.projection is not None:
            states[self.projection.edge] = self.projection.start(states, self.generator)
        return states

    @torch.no_grad()
    def step(self, states: States, i: int) -> SampleStep:
        """Reverse step ``i`` (from ``times[i]`` to ``times[i + 1]``) of ``states`` (not modified)."""
        if not 0 <= i < self.steps:
            raise IndexError(f"step {i} of a run of {self.steps} steps")
        t, s = self.times[i], self.times[i + 1]
        last = i == self.steps - 1
        x = dict(states)
        preds, graphs = self.denoise(x, t)
        if self.corrector is not None:
            x, preds, graphs = self.corrector(x, preds, graphs, t, self.denoise, self.generator)
        if self.gradient_guidance is not None:
            preds = self.gradient_guidance.apply(self.processes, x, preds, graphs, t)
        layout = self.projection.layout(x, preds, t) if self.projection is not None and not last else None
        new = {name: self.processes[name].step(x[name], preds[name], t, s, self.index[name], self.generator,
                                               self.deterministic)
               for name in self.generate}
        if self.inpainting is not None:
            new = self.inpainting.apply(new, s, last, self.generator)
        if self.projection is not None:  # after every field moved: a geometric constraint reads the new positions
            new[self.projection.edge] = self.projection.project(x[self.projection.edge], new, self.generator, layout)
        return SampleStep(index=i, t=t, s=s, states=new, previous=x, predictions=preds,
                          clean=clean_estimates(self.processes, x, preds, t))

    def finalize(self, states: States) -> States:
        """The states in the data's units, on the CPU (what a trajectory records)."""
        return {n: self.processes[n].finalize(x).cpu() for n, x in states.items()}

    def to_graphs(self, states: States) -> list[Data]:
        """The batch's graphs carrying ``states`` (the samples, after the last step)."""
        return self._to_graphs(states)
