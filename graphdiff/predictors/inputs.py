"""What a :class:`~graphdiff.predictors.model.Predictor`'s members read: clean graphs, field
values in their own units (differentiable, for gradient guidance), or a diffusion model's noisy
states (a time-aware predictor), as :class:`~graphdiff.nn.base.NoisyGraphs`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from graphdiff.errors import GraphValidationError
from graphdiff.graph import FieldKind, Level
from graphdiff.nn.base import NoisyGraphs, all_pairs

__all__ = ["InputsMixin", "as_batch_vector"]


def _noise_profile(proc: Any) -> tuple:
    """A process's noise levels at a few times (its schedule, compared between two processes)."""
    times = (0.05, 0.3, 0.6, 0.95)
    schedule = getattr(proc, "schedule", None)
    if schedule is not None and hasattr(schedule, "alpha_sigma_float"):
        return tuple(round(v, 6) for t in times for v in schedule.alpha_sigma_float(t))
    if hasattr(proc, "sigma_float"):
        return tuple(round(proc.sigma_float(t), 6) for t in times)
    return (repr(schedule),)


def as_batch_vector(batch: Any, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch [N], ptr [B+1])`` from a graph-id vector, an object with ``.batch``/``.ptr``, or
    ``None`` (one graph)."""
    ptr = getattr(batch, "ptr", None)
    vec = getattr(batch, "batch", batch)
    if vec is None:
        vec = torch.zeros(n, dtype=torch.long, device=device)
    vec = torch.as_tensor(vec, device=device).long().view(-1)
    if vec.numel() != n:
        raise GraphValidationError(f"the batch vector has {vec.numel()} entries for {n} nodes")
    if ptr is None:
        if vec.numel() > 1 and bool((vec[1:] < vec[:-1]).any()):
            raise GraphValidationError("the nodes of each graph must be contiguous (batch sorted)")
        num = int(getattr(batch, "num_graphs", 0) or (int(vec.max()) + 1 if vec.numel() else 0))
        counts = torch.bincount(vec, minlength=num)
        ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    return vec, torch.as_tensor(ptr, device=device).long()


class InputsMixin:
    """The input side of :class:`~graphdiff.predictors.model.Predictor` (its ``spec``,
    ``processes``, ``noised`` and ``given``)."""

    def _elements(self, batch: Batch, name: str, pair_index: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Field ``name``'s clean elements in ``batch``, the element of each (graph or pair) and,
        for a continuous edge field, ``mask [P]`` (``True`` on the pairs that are edges; else
        ``None``). A categorical edge field is spread over all pairs as class ids (0: no edge);
        a continuous one as its values ``[P, dim]`` on the edges and the fitted mean elsewhere,
        as the diffusion model reads them (:meth:`~graphdiff.diffusion.GraphDiffusion.loss`)."""
        from graphdiff.diffusion import edge_field_to_pairs

        f = self.spec[name]
        if f.level is Level.NODE:
            return getattr(batch, name), batch.batch, None
        if f.level is Level.GRAPH:
            return getattr(batch, name), torch.arange(batch.num_graphs, device=batch.batch.device), None
        assert pair_index is not None
        _, pair_batch = all_pairs(batch.ptr)
        x0, mask = edge_field_to_pairs(f.kind, batch.edge_index, getattr(batch, name), batch.ptr, batch.batch,
                                       pair_index.size(1), self._edge_fill(name))
        return x0, pair_batch.to(x0.device), mask

    def _edge_fill(self, name: str) -> torch.Tensor | float:
        """What the pairs that are no edge hold of continuous edge field ``name``: its fitted mean
        (a standardised input of 0), as in the diffusion model."""
        return getattr(self.processes[name], "mean", 0.0)

    # ------------------------------------------------------------------ inputs
    def inputs(self, batch: Batch, t: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> NoisyGraphs:
        """The members' input for a batch of clean graphs: every field given (``t = 0``), or,
        with ``t [B]`` (``noisy`` predictors), the :attr:`noised` fields noised at ``t``."""
        device = batch.batch.device
        B = batch.num_graphs
        pair_index, pair_batch = (all_pairs(batch.ptr) if self.spec.edge_field is not None
                                  else (None, None))
        if pair_index is not None:
            pair_index, pair_batch = pair_index.to(device), pair_batch.to(device)
        inputs = {}
        noisy = t is not None and self.noised
        for name in self.spec.names:
            x0, index, mask = self._elements(batch, name, pair_index)
            proc = self.processes[name]
            clean = proc.clean_input(x0, index)
            if noisy and name in self.noised:
                if mask is not None:  # the non-edges noised from edge values, as a diffusion model does
                    from graphdiff.diffusion import resample_non_edges

                    x0 = resample_non_edges(x0, mask, pair_batch, B, generator)
                x_t, _ = proc.noise(x0, t[index], index, generator)
                noised = proc.model_input(x_t).to(clean.dtype)
                keep = (t[index] <= 0).view(-1, *([1] * (clean.dim() - 1)))
                clean = torch.where(keep, clean, noised)
            inputs[name] = clean
        # a time-aware predictor always sees the same given-flags (those of its task), so t = 0
        # at inference looks like t = 0 in training
        given = frozenset(self.given) if self.noisy else frozenset(self.spec.names)
        tt = t if noisy else torch.zeros(B, device=device)
        return NoisyGraphs(inputs=inputs, t=tt, batch=batch.batch, ptr=batch.ptr, pair_index=pair_index,
                           pair_batch=pair_batch, given=given)

    def inputs_from_fields(self, fields: dict[str, torch.Tensor], batch: Any = None) -> NoisyGraphs:
        """Differentiable members' input from field values in their own units.

        ``fields``: node fields ``[N, d]``, graph fields ``[B, d]``; categorical fields as class
        ids (``long``) or class probabilities ``[M, C]`` (differentiable); the edge field over all
        node pairs ``i < j`` in :func:`~graphdiff.nn.base.all_pairs` order (ids ``[P]`` or
        probabilities ``[P, C]``); a continuous edge field likewise, ``[P, dim]`` in its units
        (the pairs that are no edge are read as given); an edge field may be absent when
        ``batch`` is a :class:`Batch` holding ``edge_index`` and the field (a continuous one
        then holds its values on the edges, its fitted mean elsewhere). ``batch``: the graph of
        each node (``long [N]``, sorted), an object with ``.batch`` (and ``.ptr``), or ``None``
        (one graph).
        """
        from graphdiff.diffusion import edge_field_to_pairs

        node = next((fields[f.name] for f in self.spec.fields if f.level is Level.NODE and f.name in fields),
                    None)
        owner = getattr(batch, "batch", batch)
        if node is not None:
            n = node.shape[0]
        elif owner is not None:  # no node field (plain graphs): the batch vector sizes the graphs
            n = len(owner)
        else:
            raise GraphValidationError(f"no node field of the {self.spec.name!r} spec among {sorted(fields)}: "
                                       "pass batch (the graph of each node) to size the graphs")
        device = next((v.device for v in fields.values() if isinstance(v, torch.Tensor)),
                      owner.device if isinstance(owner, torch.Tensor) else torch.device("cpu"))
        vec, ptr = as_batch_vector(batch, n, device)
        B = ptr.numel() - 1
        pair_index = pair_batch = None
        if self.spec.edge_field is not None:
            pair_index, pair_batch = (x.to(device) for x in all_pairs(ptr))
        inputs = {}
        for f in self.spec.fields:
            value = fields.get(f.name)
            if value is None and f.level is Level.EDGE and getattr(batch, f.name, None) is not None:
                value, _ = edge_field_to_pairs(f.kind, batch.edge_index, getattr(batch, f.name), ptr, vec,
                                               pair_index.size(1), self._edge_fill(f.name))
            if value is None:
                raise GraphValidationError(f"field {f.name!r} is missing (given: {sorted(fields)})")
            index = {Level.NODE: vec, Level.GRAPH: torch.arange(B, device=device),
                     Level.EDGE: pair_batch}[f.level]
            if f.kind is FieldKind.CATEGORICAL:
                if value.is_floating_point() and value.dim() == 2:
                    x = value
                else:
                    x = F.one_hot(value.long().view(-1), f.num_classes).float()
            else:
                x = self.processes[f.name].clean_input(value, index)
            if x.shape[0] != index.numel():
                raise GraphValidationError(f"field {f.name!r}: {x.shape[0]} rows, expected {index.numel()}")
            inputs[f.name] = x
        given = frozenset(self.given) if self.noisy else frozenset(self.spec.names)
        return NoisyGraphs(inputs=inputs, t=torch.zeros(B, device=device), batch=vec, ptr=ptr,
                           pair_index=pair_index, pair_batch=pair_batch, given=given)

    # ------------------------------------------------------------------ time-aware guidance
    def process_mismatch(self, model: Any) -> list[str]:
        """Why this predictor cannot read the noisy states of diffusion model ``model`` (empty
        when it can): it must be time-aware (``noisy``), noise exactly the fields ``model``
        generates, and hold the same processes (kind, noise schedule and fitted normalisation
        of every field), as ``[predictor] processes_from`` gives it."""
        if not self.noisy:
            return ["the predictor is not time-aware (trained with noisy = false)"]
        problems = []
        gen = list(getattr(model, "generate", ()))
        if sorted(self.noised) != sorted(gen):
            problems.append(f"it was trained with {sorted(self.noised)} noised; the model generates {sorted(gen)}")
        for name in self.spec.names:
            theirs = model.processes[name] if name in model.processes else None
            if theirs is None:
                problems.append(f"the model has no process for field {name!r}")
                continue
            mine = self.processes[name]
            if type(mine) is not type(theirs):
                problems.append(f"field {name!r}: {type(mine).__name__} here, {type(theirs).__name__} in the model")
                continue
            if _noise_profile(mine) != _noise_profile(theirs):
                problems.append(f"field {name!r}: another noise schedule")
            a, b = mine.state_dict(), theirs.state_dict()
            if a.keys() != b.keys() or any(
                    a[k].shape != b[k].shape or not torch.allclose(a[k].double().cpu(), b[k].double().cpu(),
                                                                   rtol=1e-4, atol=1e-6) for k in a):
                problems.append(f"field {name!r}: another fitted normalisation (train the predictor with "
                                "[predictor] processes_from = the model's checkpoint)")
        return problems

    def noisy_inputs(self, states: dict[str, torch.Tensor], graphs: NoisyGraphs) -> NoisyGraphs:
        """The members' input for a diffusion model's noisy ``states`` (its processes' state
        space, differentiable) and its denoiser's ``graphs`` (``t``, the given fields' inputs),
        for a predictor whose :meth:`process_mismatch` with that model is empty."""
        inputs = {}
        for name in self.spec.names:
            if name in states and name in self.noised:
                x = states[name]
                inputs[name] = self.processes[name].model_input(x)
            else:
                inputs[name] = graphs.inputs[name]
        return NoisyGraphs(inputs=inputs, t=graphs.t, batch=graphs.batch, ptr=graphs.ptr,
                           pair_index=graphs.pair_index, pair_batch=graphs.pair_batch,
                           given=frozenset(self.given))

    def predict_noisy(self, states: dict[str, torch.Tensor], graphs: NoisyGraphs
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble mean and std ``[B, K]`` (own units) from noisy states at ``graphs.t``
        (differentiable in ``states``; see :meth:`noisy_inputs`)."""
        return self(self.noisy_inputs(states, graphs))
