"""``GraphDiffusion``: the one diffusion loop for every graph domain.

A model is a denoiser plus one :class:`~graphdiff.processes.base.Process` per field. The *task*
is a mask over fields: ``generate`` fields are noised and predicted, ``given`` fields are clean
context (crystal structure prediction gives ``atom_types``; de novo gives nothing).

* :meth:`GraphDiffusion.loss` — one training loss for a batch (time ``t ~ U(t_min, 1)`` per
  graph, condition dropout for classifier-free guidance), each field scored by its objective
  (:mod:`graphdiff.objectives`).
* :meth:`GraphDiffusion.sample` — ancestral or deterministic (DDIM / probability-flow) sampling
  with any number of steps, Langevin correctors for torus fields, classifier-free guidance
  (``guidance_scale`` w: ``(1 + w) f(x, c) − w f(x, ∅)``) and a hook for gradient guidance: a
  loop over the steps of a :class:`~graphdiff.sampling.SamplingRun`
  (:meth:`GraphDiffusion.prepare_sampling`), each returning a
  :class:`~graphdiff.sampling.SampleStep`.
* :meth:`GraphDiffusion.interpolate` — deterministic inversion of two graphs to noise,
  spherical interpolation of the latents, decoding (optionally with a changing condition).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphdiff.constraints import check_constraint
from graphdiff.errors import GraphValidationError
from graphdiff.graph import FieldKind, GraphSpec, Level, wrap01
from graphdiff.guidance import ClassifierFreeGuidance, GradientGuidance
from graphdiff.nn.base import Denoiser, NoisyGraphs, all_pairs
from graphdiff.objectives import DenoisingObjective, LossTerms, Objective
from graphdiff.processes.base import Process
from graphdiff.sampling import EdgeProjection, Inpainting, LangevinCorrector, SampleStep, SamplingRun

__all__ = ["GraphDiffusion", "GradientGuidance", "SampleStep", "SamplingRun", "pair_ids", "edges_to_pairs",
           "pairs_to_edges", "edge_values_to_pairs", "pair_values_of_edges", "resample_non_edges",
           "edge_field_to_pairs"]


# ---------------------------------------------------------------------------- edge helpers
def pair_ids(u: torch.Tensor, v: torch.Tensor, ptr: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Index into :func:`~graphdiff.nn.base.all_pairs` order of the pairs ``(u, v)`` (global
    node ids, ``u < v``, same graph)."""
    sizes = ptr[1:] - ptr[:-1]
    pair_offsets = torch.cat([sizes.new_zeros(1), torch.cumsum(sizes * (sizes - 1) // 2, 0)])
    g = batch[u]
    n = sizes[g]
    i, j = u - ptr[g], v - ptr[g]
    return pair_offsets[g] + i * n - i * (i + 1) // 2 + (j - i - 1)


def edges_to_pairs(edge_index: torch.Tensor, values: torch.Tensor, ptr: torch.Tensor,
                   batch: torch.Tensor, num_pairs: int) -> torch.Tensor:
    """Dense class ids ``[P]`` over all pairs from sparse edges (absent pairs get class 0)."""
    out = torch.zeros(num_pairs, dtype=torch.long, device=edge_index.device)
    if edge_index.numel():
        u, v = edge_index
        keep = u < v
        out[pair_ids(u[keep], v[keep], ptr, batch)] = values[keep].long()
    return out


def pairs_to_edges(pair_index: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse ``edge_index [2, 2E]`` (both directions) and values ``[2E]`` from pair classes."""
    keep = classes > 0
    u, v = pair_index[:, keep]
    vals = classes[keep]
    return torch.stack([torch.cat([u, v]), torch.cat([v, u])]), torch.cat([vals, vals])


def edge_values_to_pairs(edge_index: torch.Tensor, values: torch.Tensor, ptr: torch.Tensor,
                         batch: torch.Tensor, num_pairs: int, fill: torch.Tensor | float = 0.0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense values of a continuous edge field over all pairs.

    Parameters
    ----------
    edge_index:
        ``[2, E]`` global node ids of the stored edges (both directions).
    values:
        ``[E, dim]`` the field's values on them (symmetric: read from the ``u < v`` direction).
    ptr, batch:
        ``[B + 1]`` node offsets and ``[N]`` graph of each node.
    num_pairs:
        ``P``, the number of pairs of :func:`~graphdiff.nn.base.all_pairs`.
    fill:
        Value of the pairs that are no edge (a scalar or ``[dim]``).

    Returns
    -------
    values, mask:
        ``float [P, dim]`` and ``bool [P]``, ``True`` on the pairs that are edges.
    """
    dim = values.size(-1) if values.dim() == 2 else 1
    out = torch.zeros(num_pairs, dim, dtype=torch.float32, device=edge_index.device)
    out += torch.as_tensor(fill, dtype=torch.float32, device=out.device)
    mask = torch.zeros(num_pairs, dtype=torch.bool, device=edge_index.device)
    if edge_index.numel():
        u, v = edge_index
        keep = u < v
        ids = pair_ids(u[keep], v[keep], ptr, batch)
        out[ids] = values.reshape(-1, dim)[keep].float()
        mask[ids] = True
    return out, mask


def pair_values_of_edges(edge_index: torch.Tensor, pair_values: torch.Tensor, n: int) -> torch.Tensor:
    """The values ``[E, dim]`` on the edges ``edge_index [2, E]`` (local ids of one graph of
    ``n`` nodes, either direction) of per-pair values ``[n (n − 1) / 2, dim]`` in
    :func:`~graphdiff.nn.base.all_pairs` order."""
    if not edge_index.numel():
        return pair_values.new_zeros(0, pair_values.size(-1))
    i, j = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    return pair_values[i * n - i * (i + 1) // 2 + (j - i - 1)]


def edge_field_to_pairs(kind: FieldKind, edge_index: torch.Tensor, values: torch.Tensor, ptr: torch.Tensor,
                        batch: torch.Tensor, num_pairs: int, fill: torch.Tensor | float = 0.0
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An edge field over all pairs: ``(x0, mask)``. A continuous field (``kind``) gives its
    values ``[P, dim]`` on the edges and ``fill`` elsewhere, with ``mask [P]`` marking the edges
    (:func:`edge_values_to_pairs`); a categorical one its class ids ``[P]`` (0: no edge) and
    ``mask`` ``None`` (:func:`edges_to_pairs`)."""
    if kind is FieldKind.CONTINUOUS:
        return edge_values_to_pairs(edge_index, values, ptr, batch, num_pairs, fill)
    return edges_to_pairs(edge_index, values, ptr, batch, num_pairs), None


def resample_non_edges(x0: torch.Tensor, mask: torch.Tensor, pair_batch: torch.Tensor, num_graphs: int,
                       generator: torch.Generator | None) -> torch.Tensor:
    """``x0 [P, dim]`` with every pair that is no edge (``~mask``) holding the value of a random
    edge of its graph (graphs without edges keep ``x0``).

    The loss of a continuous edge field reads only the edges, so what the other pairs hold is
    free; but the denoiser sees every pair's noisy value, and a constant there (the mean) would
    tell it which pairs are edges in training, a shortcut the edge field's prediction would learn
    and that sampling does not offer. Values drawn from the graph's own edges carry no such sign.
    """
    counts = torch.bincount(pair_batch[mask], minlength=num_graphs)          # edges per graph
    starts = torch.cumsum(counts, 0) - counts
    u = torch.rand(x0.size(0), generator=generator, device=x0.device)
    n = counts[pair_batch]
    pick = starts[pair_batch] + torch.minimum((u * n).long(), (n - 1).clamp_min(0))
    replace = ~mask & (n > 0)
    edges = x0[mask]
    out = x0.clone()
    out[replace] = edges[pick[replace]]
    return out


class _Elements:
    """The elements (nodes, graphs or pairs) of one field in a batch; ``mask`` ``[M]`` marks
    the elements a continuous edge field is trained on (the pairs that are edges), else ``None``."""

    __slots__ = ("x0", "index", "mask")

    def __init__(self, x0: torch.Tensor | None, index: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.x0, self.index, self.mask = x0, index, mask


class GraphDiffusion(nn.Module):
    """Denoiser + per-field processes + the task (generated and given fields).

    Parameters
    ----------
    spec:
        The domain's fields.
    denoiser:
        A :class:`~graphdiff.nn.base.Denoiser` whose ``outputs`` are the generated fields.
    processes:
        Field name -> process, for every generated and given field.
    generate:
        Fields the model generates.
    given:
        Fields given as clean context.
    condition:
        Graph-level property names the model is conditioned on.
    cond_drop:
        Probability of dropping the condition of a graph in training (classifier-free).
    loss_weights:
        Field name -> weight in the total loss (default 1).
    t_min:
        Smallest training time.
    constraint:
        Optional :class:`~graphdiff.constraints.EdgeConstraint` (or registered name) that every
        state of the reverse process keeps, by projection of each step's added edges (the model
        must generate an edge field).
    objectives:
        Field name -> :class:`~graphdiff.objectives.Objective` scoring that generated field in
        :meth:`loss` (default, and for every field left out: ``denoising``, each process's own
        loss). Objectives are submodules: what they hold is saved with the weights.
    """

    def __init__(self, spec: GraphSpec, denoiser: Denoiser, processes: dict[str, Process],
                 generate: Sequence[str], given: Sequence[str] = (), condition: Sequence[str] = (),
                 cond_drop: float = 0.1, loss_weights: dict[str, float] | None = None,
                 t_min: float = 1e-3, constraint: Any = None,
                 objectives: Mapping[str, Objective] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.generate = list(generate)
        self.given = list(given)
        self.condition = list(condition)
        if not self.generate:
            raise ValueError("nothing to generate: the task gives every field")
        overlap = set(self.generate) & set(self.given)
        if overlap:
            raise ValueError(f"fields {sorted(overlap)} are both generated and given")
        for name in self.generate + self.given:
            spec[name]  # raises a clear KeyError for unknown fields
            if name not in processes:
                raise ValueError(f"no process for field {name!r}")
        self._check_edge_values(spec)
        if set(denoiser.outputs) != set(self.generate):
            raise ValueError(f"denoiser outputs {sorted(denoiser.outputs)} differ from the generated "
                             f"fields {sorted(self.generate)}")
        self.denoiser = denoiser
        self.processes = nn.ModuleDict(processes)
        if hasattr(denoiser, "bind_processes"):  # e.g. the periodic radius graph reads the lattice normaliser
            denoiser.bind_processes(self.processes)
        self.cond_drop = float(cond_drop)
        self.loss_weights = {n: float((loss_weights or {}).get(n, 1.0)) for n in self.generate}
        self.t_min = float(t_min)
        self.register_buffer("cond_mean", torch.zeros(len(self.condition)))
        self.register_buffer("cond_std", torch.ones(len(self.condition)))
        max_nodes = spec.max_nodes or 512
        self.register_buffer("num_nodes_hist", torch.zeros(max_nodes + 1))
        self.constraint = check_constraint(constraint, spec, self.generate)
        objectives = dict(objectives or {})
        unknown = sorted(set(objectives) - set(self.generate))
        if unknown:
            raise ValueError(f"objectives for {unknown}, which are not generated fields ({self.generate})")
        for name, objective in objectives.items():
            if not isinstance(objective, Objective):
                raise TypeError(f"the objective of field {name!r} must be a graphdiff.objectives.Objective, "
                                f"got {type(objective).__name__}")
        self.objectives = nn.ModuleDict({n: objectives[n] if n in objectives else DenoisingObjective(spec[n])
                                         for n in self.generate})


    def _check_edge_values(self, spec: GraphSpec) -> None:
        """A continuous edge field lives on the edges: the task must hold the edge field, and a
        given one needs the edges given too (its values sit on the template's edges)."""
        edge = spec.edge_field
        for f in spec.edge_value_fields:
            if f.name not in self.generate + self.given:
                continue
            if edge.name not in self.generate + self.given:
                raise ValueError(f"field {f.name!r} holds values on the edges: the task must generate or give "
                                 f"the edge field {edge.name!r} too")
            if f.name in self.given and edge.name in self.generate:
                raise ValueError(f"field {f.name!r} (values on the edges) is given but the edge field "
                                 f"{edge.name!r} is generated: give both, or generate {f.name!r} too")

    # ------------------------------------------------------------------ batches
    @property
    def has_pairs(self) -> bool:
        edge = self.spec.edge_field
        return edge is not None and edge.name in self.generate + self.given

    def _pairs(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.has_pairs:
            return None, None
        return all_pairs(batch.ptr)

    def _elements(self, batch: Batch, name: str, pair_index: torch.Tensor | None,
                  generator: torch.Generator | None = None, resample: bool = False) -> _Elements:
        """The clean elements of field ``name`` in ``batch``. A continuous edge field is spread
        over all pairs: its values on the pairs that are edges (``mask``) and, on the others, the
        data mean, or with ``resample`` (training) the value of a random edge of the same graph."""
        f = self.spec[name]
        if f.level is Level.NODE:
            return _Elements(getattr(batch, name), batch.batch)
        if f.level is Level.GRAPH:
            x = getattr(batch, name)
            return _Elements(x, torch.arange(batch.num_graphs, device=batch.batch.device))
        assert pair_index is not None
        _, pair_batch = all_pairs(batch.ptr)
        # continuous: values on the edges; the other pairs hold the data mean
        fill = getattr(self.processes[name], "mean", 0.0) if name in self.processes else 0.0
        x0, mask = edge_field_to_pairs(f.kind, batch.edge_index, getattr(batch, name), batch.ptr, batch.batch,
                                       pair_index.size(1), fill)
        if mask is not None and resample:
            x0 = resample_non_edges(x0, mask, pair_batch, batch.num_graphs, generator)
        return _Elements(x0, pair_batch, mask)

    def _cond(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.condition:
            return None, None
        cols = []
        for name in self.condition:
            value = getattr(batch, name, None)
            if value is None:
                raise GraphValidationError(
                    f"the model is conditioned on {name!r} but the batch has no such property")
            cols.append(value.view(-1).float())
        cond = torch.stack(cols, -1)
        mask = torch.isfinite(cond)
        cond = torch.where(mask, (cond - self.cond_mean) / self.cond_std, torch.zeros_like(cond))
        return cond, mask

    # ------------------------------------------------------------------ statistics
    def validate(self, graphs: Iterable[Data], where: str = "item") -> None:
        """Check that every graph carries the generated and given fields, well formed, and the
        condition properties; raises :class:`GraphValidationError` naming the first bad one."""
        for i, g in enumerate(graphs):
            self.spec.validate(g, where=f"{where} {i}", fields=self.generate + self.given)
            for name in self.condition:
                if getattr(g, name, None) is None:
                    raise GraphValidationError(f"{where} {i}: the model is conditioned on {name!r}, "
                                               "which this graph lacks")

    @torch.no_grad()
    def fit_statistics(self, graphs: Iterable[Data] | Batch) -> None:
        """Set every process's data statistics, the condition normaliser and the node-count
        histogram from the training graphs (call once before training)."""
        if not isinstance(graphs, Batch):
            graphs = list(graphs)
            self.validate(graphs, "training item")
        batch = graphs if isinstance(graphs, Batch) else Batch.from_data_list(graphs)
        pair_index, _ = self._pairs(batch)
        for name in self.generate + self.given:
            el = self._elements(batch, name, pair_index)
            if el.mask is not None:  # a continuous edge field: statistics of the edges' values
                if not bool(el.mask.any()):
                    continue
                el = _Elements(el.x0[el.mask], el.index[el.mask])
            self.processes[name].fit(el.x0, el.index)
        if self.condition:
            cols = torch.stack([getattr(batch, n).view(-1).double() for n in self.condition], -1)
            for k in range(cols.size(1)):
                col = cols[:, k][torch.isfinite(cols[:, k])]
                if col.numel():
                    self.cond_mean[k] = col.mean().float()
                    std = col.std(unbiased=False).float() if col.numel() > 1 else torch.tensor(1.0)
                    self.cond_std[k] = std if std > 1e-8 else 1.0
        sizes = (batch.ptr[1:] - batch.ptr[:-1]).long()
        if int(sizes.max()) >= self.num_nodes_hist.numel():
            self.num_nodes_hist = torch.zeros(int(sizes.max()) + 1)
        self.num_nodes_hist.zero_()
        self.num_nodes_hist.index_add_(0, sizes, torch.ones_like(sizes, dtype=torch.float))

    def sample_num_nodes(self, num: int, generator: torch.Generator | None = None) -> list[int]:
        """Graph sizes drawn from the training distribution."""
        if float(self.num_nodes_hist.sum()) <= 0:
            raise RuntimeError("no node-count statistics: call fit_statistics on training data first")
        idx = torch.multinomial(self.num_nodes_hist.cpu(), num, replacement=True, generator=generator)
        return idx.tolist()

    # ------------------------------------------------------------------ training
    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss of one batch: ``(total, {field: value})``.

        Each graph gets a time ``t ~ U(t_min, 1)``; every generated field is noised by its
        process, the denoiser predicts all of them at once, and each field's objective
        (:attr:`objectives`) gives a loss per element, averaged over the batch's elements of
        that field; ``total`` sums the fields times their ``loss_weights``."""
        device = batch.batch.device
        B = batch.num_graphs
        t = self.t_min + (1 - self.t_min) * torch.rand(B, generator=generator, device=device)
        pair_index, pair_batch = self._pairs(batch)
        inputs, targets, elements, states = {}, {}, {}, {}
        for name in self.generate:
            el = self._elements(batch, name, pair_index, generator, resample=True)
            x_t, target = self.processes[name].noise(el.x0, t[el.index], el.index, generator)
            inputs[name] = self.processes[name].model_input(x_t)
            targets[name], elements[name], states[name] = target, el, x_t
        for name in self.given:
            el = self._elements(batch, name, pair_index)
            inputs[name] = self.processes[name].clean_input(el.x0, el.index)
        cond, mask = self._cond(batch)
        if cond is not None and self.cond_drop > 0:
            keep = torch.rand(B, 1, generator=generator, device=device) >= self.cond_drop
            mask = mask & keep
        graphs = NoisyGraphs(inputs=inputs, t=t, batch=batch.batch, ptr=batch.ptr,
                             pair_index=pair_index, pair_batch=pair_batch, cond=cond, cond_mask=mask,
                             given=frozenset(self.given))
        preds = self.denoiser(graphs)
        total = torch.zeros((), device=device)
        parts: dict[str, float] = {}
        for name in self.generate:
            el, process = elements[name], self.processes[name]
            t_el = t[el.index]
            pred = process.precondition(preds[name], states[name], t_el)
            per = self.objectives[name](LossTerms(field=self.spec[name], process=process, pred=pred,
                                                  target=targets[name], x0=el.x0, x_t=states[name],
                                                  t=t_el, index=el.index))
            if el.mask is not None:  # a continuous edge field: scored on the data's edges only
                per = per[el.mask]
            value = per.mean() if per.numel() else torch.zeros((), device=device)
            parts[name] = float(value.detach())
            total = total + self.loss_weights[name] * value
        return total, parts

    def forward(self, batch: Batch, generator: torch.Generator | None = None):
        """Same as :meth:`loss` (so ``DistributedDataParallel`` can wrap the model)."""
        return self.loss(batch, generator)

    # ------------------------------------------------------------------ sampling
    def max_trained_nodes(self) -> int:
        """The largest graph size seen in training (0 before :meth:`fit_statistics`)."""
        nz = torch.nonzero(self.num_nodes_hist > 0)
        return int(nz.max()) if nz.numel() else 0

    def check_sizes(self, graphs: Sequence[Data], where: str = "template") -> None:
        """Refuse graphs larger than any training graph (the model is only known to work on the
        sizes it was trained on); ``where`` names the items in the error."""
        trained = self.max_trained_nodes()
        for i, g in enumerate(graphs):
            if trained and g.num_nodes > trained:
                raise GraphValidationError(
                    f"{where} {i} has {g.num_nodes} nodes; the model was trained on at most {trained} "
                    "(pass allow_larger=True, or --allow-larger, to try anyway)")

    def _template(self, num_nodes: Sequence[int] | None, template: Batch | Sequence[Data] | None,
                  device: torch.device, inpaint: Sequence[str] = (), allow_larger: bool = False) -> Batch:
        if template is not None:
            graphs = template.to_data_list() if isinstance(template, Batch) else list(template)
            for i, g in enumerate(graphs):
                self.spec.validate(g, where=f"template {i}", fields=self.given + list(inpaint))
            if not allow_larger:
                self.check_sizes(graphs)
            return Batch.from_data_list(graphs).to(device)
        if self.given:
            raise GraphValidationError(f"this model needs the given fields {self.given}: pass a template")
        if num_nodes is None:
            raise ValueError("pass num_nodes or a template")
        sizes = [int(n) for n in num_nodes]
        if any(n < 1 for n in sizes):
            raise GraphValidationError(f"every graph needs at least one node, got sizes {sizes}")
        return Batch.from_data_list([Data(num_nodes=n) for n in sizes]).to(device)

    def _denoise(self, states: dict[str, torch.Tensor], given_inputs: dict[str, torch.Tensor],
                 t: float, batch: Batch, pair_index, pair_batch, cond, mask,
                 guidance_scale: float) -> tuple[dict[str, torch.Tensor], NoisyGraphs]:
        B = batch.num_graphs
        inputs = {n: self.processes[n].model_input(x) for n, x in states.items()}
        inputs.update(given_inputs)
        tt = torch.full((B,), float(t), device=batch.batch.device)
        graphs = NoisyGraphs(inputs=inputs, t=tt, batch=batch.batch, ptr=batch.ptr,
                             pair_index=pair_index, pair_batch=pair_batch, cond=cond, cond_mask=mask,
                             given=frozenset(self.given))
        if cond is not None and guidance_scale != 0.0:
            preds = ClassifierFreeGuidance(guidance_scale)(
                lambda g: self._precondition(self.denoiser(g), states, t), graphs, self.processes)
        else:
            preds = self._precondition(self.denoiser(graphs), states, t)
        return preds, graphs

    def _precondition(self, preds: dict[str, torch.Tensor], states: dict[str, torch.Tensor],
                      t: float) -> dict[str, torch.Tensor]:
        return {n: (self.processes[n].precondition(p, states[n], t) if n in states else p)
                for n, p in preds.items()}

    def _apply_gradient_guidance(self, guidance: GradientGuidance, states, preds, graphs, t: float):
        """Shift continuous predictions by the gradient of a differentiable target (see
        :meth:`GradientGuidance.apply <graphdiff.guidance.GradientGuidance.apply>`)."""
        return guidance.apply(self.processes, states, preds, graphs, t)

    @torch.no_grad()
    def sample(
        self,
        num_nodes: Sequence[int] | None = None,
        *,
        progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
        callback: Callable[[SampleStep], None] | None = None,
        return_trajectory: bool = False,
        **options: Any,
    ) -> list[Data] | tuple[list[Data], list[dict[str, torch.Tensor]]]:
        """Generate graphs: a loop over the reverse steps of a :class:`~graphdiff.sampling.SamplingRun`
        (:meth:`prepare_sampling`, then :meth:`SamplingRun.step <graphdiff.sampling.SamplingRun.step>`
        from ``t = 1`` to ``0``).

        Parameters
        ----------
        num_nodes, **options:
            What to sample and how: :meth:`prepare_sampling`'s arguments (``template``, ``cond``,
            ``steps``, ``sampler``, ``guidance_scale``, ``corrector_steps``, ``gradient_guidance``,
            ``generator``, ``latents``, ``inpaint``, ``allow_larger``, ``constraint``), documented there.
        progress:
            Wraps the loop of steps: called once with ``range(steps)``, it returns the iterable
            the loop runs over (a ``tqdm``, or a :class:`graphdiff.progress.StepProgress` shared
            by several calls).
        callback:
            Called after every step with its :class:`~graphdiff.sampling.SampleStep` (new
            states, predictions, clean estimates): to watch, record or plot the reverse process.
        return_trajectory:
            Kept for compatibility with code written before :meth:`sample_trajectory`: also
            return the list of states after every step (memory grows with ``steps``). Use
            :meth:`sample_trajectory` or a ``callback`` instead.

        Returns
        -------
        list of Data
            The generated graphs, one per size or template. With ``return_trajectory``: a tuple
            ``(graphs, trajectory)`` as :meth:`sample_trajectory` returns.
        """
        run = self.prepare_sampling(num_nodes, **options)
        trajectory: list[dict[str, torch.Tensor]] = []
        states = run.initial_states()
        loop: Iterable[int] = range(run.steps)
        if progress is not None:
            loop = progress(loop)
        for i in loop:
            out = run.step(states, i)
            states = out.states
            if return_trajectory:
                trajectory.append(run.finalize(states))
            if callback is not None:
                callback(out)
        graphs = run.to_graphs(states)
        return (graphs, trajectory) if return_trajectory else graphs

    def sample_trajectory(self, num_nodes: Sequence[int] | None = None,
                          **options: Any) -> tuple[list[Data], list[dict[str, torch.Tensor]]]:
        """:meth:`sample` (same arguments), also returning the states after every step.

        Returns
        -------
        tuple
            ``(graphs, trajectory)``: the generated graphs, and for each of the ``steps`` steps a
            dict field name -> the states of every generated field after it, in the data's units
            and on the CPU (memory grows with ``steps``).
        """
        if "return_trajectory" in options:
            raise TypeError("sample_trajectory always returns the trajectory: drop return_trajectory")
        return self.sample(num_nodes, return_trajectory=True, **options)

    @torch.no_grad()
    def prepare_sampling(
        self,
        num_nodes: Sequence[int] | None = None,
        *,
        template: Batch | Sequence[Data] | None = None,
        cond: torch.Tensor | dict[str, float] | None = None,
        steps: int = 200,
        sampler: str = "ancestral",
        guidance_scale: float = 0.0,
        corrector_steps: int = 0,
        gradient_guidance: GradientGuidance | None = None,
        generator: torch.Generator | None = None,
        latents: dict[str, torch.Tensor] | None = None,
        inpaint: Sequence[str] = (),
        allow_larger: bool = False,
        constraint: Any = "model",
    ) -> SamplingRun:
        """The sampling setup of one batch, checked, as a :class:`~graphdiff.sampling.SamplingRun`
        to step through (:meth:`sample` takes the same arguments). Draws nothing yet: the run's
        ``initial_states()`` draws the start, each ``step(states, i)`` one reverse step::

            run = model.prepare_sampling([6, 8], steps=50, generator=torch.Generator().manual_seed(0))
            states = run.initial_states()
            for i in range(run.steps):
                states = run.step(states, i).states
            graphs = run.to_graphs(states)      # == model.sample([6, 8], steps=50, generator=<same seed>)

        Parameters
        ----------
        num_nodes:
            Size of each graph (de novo). Ignored when ``template`` is given.
        template:
            Graphs carrying the given fields (e.g. the composition for CSP); their sizes are used.
        cond:
            Condition values in the properties' own units: ``[B, K]`` or a dict
            ``{property: value}`` applied to every graph. ``NaN`` entries are "not given".
        steps:
            Number of reverse steps.
        sampler:
            ``"ancestral"`` (stochastic) or ``"ddim"`` (deterministic where the process allows;
            categorical fields stay stochastic).
        guidance_scale:
            Classifier-free guidance weight ``w`` (0: plain conditional sampling).
        corrector_steps:
            Langevin corrector steps per step for torus fields.
        gradient_guidance:
            Optional :class:`~graphdiff.guidance.GradientGuidance`.
        generator:
            Source of every random draw (the same seed gives the same graphs).
        latents:
            Start states at ``t = 1`` per generated field (interpolation); default: the prior.
        inpaint:
            Generated fields held to the template's values by replacement: after every reverse
            step the field's state is redrawn from ``q(x_s | x_0)`` of the template's clean value
            (and set exactly at the end). Lets a de novo model complete a partial graph, e.g.
            predict a structure for a given composition.
        allow_larger:
            Accept templates larger than any training graph (refused by default: a model is
            only known to work on the sizes it was trained on).
        constraint:
            ``"model"`` (the default): the model's own :attr:`constraint`; otherwise a registered
            name, an :class:`~graphdiff.constraints.EdgeConstraint`, or ``None`` / ``"none"`` for
            no projection. With a constraint, the edges each reverse step adds are inserted in a
            random order and those that would break it are discarded (ConStruct's projector), so
            every state, and the generated graph, has the property.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if gradient_guidance is not None:
            gradient_guidance.check(self.processes, self.generate)
        if sampler not in ("ancestral", "ddim"):
            raise ValueError(f"unknown sampler {sampler!r}; use 'ancestral' or 'ddim'")
        if corrector_steps < 0:
            raise ValueError(f"corrector_steps must be >= 0, got {corrector_steps}")
        device = self.num_nodes_hist.device
        if isinstance(constraint, str) and constraint == "model":  # not while the edges are held (interpolation)
            edge = self.spec.edge_field
            constraint = self.constraint if edge is not None and edge.name in self.generate else None
        else:
            constraint = check_constraint(constraint, self.spec, self.generate)
        inpaint = list(inpaint)
        bad = [n for n in inpaint if n not in self.generate]
        if bad:
            raise GraphValidationError(f"inpaint fields {bad} are not generated by this model "
                                       f"(it generates {self.generate})")
        if inpaint and template is None:
            raise GraphValidationError(f"inpainting {inpaint} needs a template holding their values")
        batch = self._template(num_nodes, template, device, inpaint, allow_larger)
        B = batch.num_graphs
        pair_index, pair_batch = self._pairs(batch)
        c, mask = self._sampling_condition(cond, B, device)
        given_inputs = {}
        for name in self.given:
            el = self._elements(batch, name, pair_index)
            given_inputs[name] = self.processes[name].clean_input(el.x0, el.index)
        index_of: dict[str, torch.Tensor] = {}
        for name in self.generate:
            level = self.spec[name].level
            index_of[name] = (batch.batch if level is Level.NODE else torch.arange(B, device=device)
                              if level is Level.GRAPH else pair_batch)

        def denoise(states: dict[str, torch.Tensor], t: float) -> tuple[dict[str, torch.Tensor], NoisyGraphs]:
            return self._denoise(states, given_inputs, t, batch, pair_index, pair_batch, c, mask, guidance_scale)

        projection = None
        if constraint is not None:
            field = constraint.position_field
            given_positions = (self._elements(batch, field, pair_index).x0
                               if field is not None and field not in self.generate else None)
            projection = EdgeProjection(constraint, self.spec.edge_field.name, self.processes, pair_index,
                                        pair_batch, batch.ptr, given_positions)
        inpainting = None
        if inpaint:
            held = {n: self._elements(batch, n, pair_index) for n in inpaint}
            inpainting = Inpainting(self.processes, {n: (el.x0, el.index) for n, el in held.items()})
        torus = [n for n in self.generate if self.processes[n].kind is FieldKind.TORUS]
        corrector = LangevinCorrector(self.processes, torus, corrector_steps) if corrector_steps and torus else None
        return SamplingRun(processes=self.processes, generate=self.generate, index=index_of, num_graphs=B,
                           steps=steps, deterministic=sampler == "ddim", denoise=denoise,
                           to_graphs=lambda states: self._to_graphs(batch, states, pair_index),
                           generator=generator, latents=latents, corrector=corrector,
                           gradient_guidance=gradient_guidance, projection=projection, inpainting=inpainting,
                           classifier_free=(ClassifierFreeGuidance(guidance_scale)
                                            if c is not None and guidance_scale != 0.0 else None))

    def _sampling_condition(self, cond, B: int, device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.condition:
            if cond is not None and not (isinstance(cond, dict) and not cond):
                raise GraphValidationError("this model is unconditional; it takes no condition")
            return None, None
        if cond is None:
            values = torch.full((B, len(self.condition)), float("nan"), device=device)
        elif isinstance(cond, dict):
            unknown = set(cond) - set(self.condition)
            if unknown:
                raise GraphValidationError(f"unknown condition {sorted(unknown)}; the model is "
                                           f"conditioned on {self.condition}")
            row = [float(cond.get(n, float("nan"))) for n in self.condition]
            values = torch.tensor(row, device=device).expand(B, -1).clone()
        else:
            values = torch.as_tensor(cond, dtype=torch.float32, device=device)
            if values.dim() == 1:
                values = values.view(-1, 1) if len(self.condition) == 1 else values.expand(B, -1)
            if values.shape != (B, len(self.condition)):
                raise GraphValidationError(f"condition shape {list(values.shape)}, expected "
                                           f"[{B}, {len(self.condition)}] ({self.condition})")
        mask = torch.isfinite(values)
        normed = torch.where(mask, (values - self.cond_mean) / self.cond_std, torch.zeros_like(values))
        return normed, mask

    def _to_graphs(self, batch: Batch, states: dict[str, torch.Tensor],
                   pair_index: torch.Tensor | None) -> list[Data]:
        out_fields = {n: self.processes[n].finalize(x).cpu() for n, x in states.items()}
        batch = batch.cpu()
        ptr = batch.ptr.tolist()
        graphs = []
        for g in range(batch.num_graphs):
            data = batch.get_example(g)
            lo, hi = ptr[g], ptr[g + 1]
            for name, value in out_fields.items():
                f = self.spec[name]
                if f.level is Level.NODE:
                    setattr(data, name, value[lo:hi])
                elif f.level is Level.GRAPH:
                    setattr(data, name, value[g:g + 1])
            graphs.append(data)
        edge = self.spec.edge_field
        if edge is not None and edge.name in out_fields:
            classes = out_fields[edge.name]
            sizes = [ptr[g + 1] - ptr[g] for g in range(batch.num_graphs)]
            offset = 0
            for g, n in enumerate(sizes):
                count = n * (n - 1) // 2
                local = torch.triu_indices(n, n, offset=1)
                ei, vals = pairs_to_edges(local, classes[offset:offset + count])
                graphs[g].edge_index, offset = ei, offset + count
                setattr(graphs[g], edge.name, vals)
        values = [f.name for f in self.spec.edge_value_fields if f.name in out_fields]
        if values:  # read off on each graph's edges (generated, or the template's)
            offset = 0
            for g in range(batch.num_graphs):
                n = ptr[g + 1] - ptr[g]
                count = n * (n - 1) // 2
                for name in values:
                    setattr(graphs[g], name, pair_values_of_edges(graphs[g].edge_index,
                                                                  out_fields[name][offset:offset + count], n))
                offset += count
        return graphs

    # ------------------------------------------------------------------ interpolation
    @torch.no_grad()
    def invert(self, graphs: Sequence[Data], steps: int = 100, cond: Any = None,
               progress: Callable[[Iterable[int]], Iterable[int]] | None = None) -> dict[str, torch.Tensor]:
        """Deterministic inversion (DDIM / probability flow) of clean graphs to ``t = 1``.

        Categorical generated fields cannot be inverted; they are held clean as context during
        the inversion. Returns the latent state of each continuous generated field.
        ``progress`` wraps the loop of steps (as in :meth:`sample`).
        """
        batch = Batch.from_data_list(list(graphs)).to(self.num_nodes_hist.device)
        pair_index, pair_batch = self._pairs(batch)
        c, mask = self._sampling_condition(cond, batch.num_graphs, batch.batch.device)
        states, fixed = {}, {}
        for name in self.generate:
            el = self._elements(batch, name, pair_index)
            proc = self.processes[name]
            if proc.kind is FieldKind.CATEGORICAL:
                fixed[name] = proc.clean_input(el.x0, el.index)
            else:
                states[name] = proc.encode(el.x0, el.index)
        given_inputs = {n: self.processes[n].clean_input(self._elements(batch, n, pair_index).x0,
                                                         self._elements(batch, n, pair_index).index)
                        for n in self.given}
        given_inputs.update(fixed)
        times = torch.linspace(0.0, 1.0, steps + 1).tolist()
        for i in (progress(range(steps)) if progress is not None else range(steps)):
            t, s = times[i], times[i + 1]
            inputs = {n: self.processes[n].model_input(x) for n, x in states.items()}
            inputs.update(given_inputs)
            preds, _ = self._denoise({}, inputs, t, batch, pair_index, pair_batch, c, mask, 0.0)
            for name in states:
                states[name] = self.processes[name].ddim(states[name], preds[name], t, s)
        return states

    @torch.no_grad()
    def interpolate(self, a: Data, b: Data, num: int = 8, steps: int = 100,
                    cond_path: Sequence[dict[str, float]] | None = None,
                    gradient_guidance: GradientGuidance | Sequence[GradientGuidance | None] | None = None,
                    progress: Callable[[Iterable[int]], Iterable[int]] | None = None) -> list[Data]:
        """Graphs along a path from ``a`` to ``b`` (same number of nodes).

        Both are inverted to noise deterministically; latents of Gaussian and positions fields
        are interpolated spherically (slerp), torus latents along the shortest wrapped path;
        categorical generated fields are taken from the nearer end; every point is decoded with
        the deterministic sampler. ``cond_path`` gives a condition for each point (a target that
        changes along the path). ``gradient_guidance`` steers the decoding of every point
        towards a differentiable target (as in :meth:`sample`; the inversion is not guided), or,
        as a sequence of ``num`` entries, each point with its own (``None``: unguided).
        ``progress`` wraps every loop of steps: two inversions and ``num`` decodings.
        """
        if gradient_guidance is None or isinstance(gradient_guidance, GradientGuidance):
            guides = [gradient_guidance] * num
        else:
            guides = list(gradient_guidance)
            if len(guides) != num:
                raise ValueError(f"gradient_guidance has {len(guides)} entries for {num} points")
        if a.num_nodes != b.num_nodes:
            raise GraphValidationError(
                f"interpolation needs graphs of equal size, got {a.num_nodes} and {b.num_nodes} nodes")
        if num < 2:
            raise ValueError("num must be >= 2 (the two end points)")
        if cond_path is not None and len(cond_path) != num:
            raise ValueError(f"cond_path has {len(cond_path)} entries for {num} points")
        za = self.invert([a], steps, cond_path[0] if cond_path else None, progress)
        zb = self.invert([b], steps, cond_path[-1] if cond_path else None, progress)
        out = []
        for k in range(num):
            lam = k / (num - 1)
            latents = {}
            for name in za:
                proc = self.processes[name]
                if proc.kind is FieldKind.TORUS:
                    diff = wrap01(zb[name] - za[name] + 0.5) - 0.5
                    latents[name] = wrap01(za[name] + lam * diff)
                else:
                    latents[name] = _slerp(za[name], zb[name], lam)
            near = a if lam < 0.5 else b
            template = near.clone()
            cat = [n for n in self.generate if self.processes[n].kind is FieldKind.CATEGORICAL]
            out.append(self._decode(template, latents, cat, steps,
                                    cond_path[k] if cond_path else None, guides[k], progress))
        return out

    def _decode(self, template: Data, latents: dict[str, torch.Tensor], held: list[str], steps: int,
                cond: Any, gradient_guidance: GradientGuidance | None = None,
                progress: Callable[[Iterable[int]], Iterable[int]] | None = None) -> Data:
        """Deterministic decoding of one latent with some categorical fields held fixed."""
        saved = (self.generate, self.given)
        try:
            self.generate = [n for n in saved[0] if n not in held]
            self.given = saved[1] + held
            if not self.generate:
                return template
            (graph,) = self.sample(template=[template], cond=cond, steps=steps, sampler="ddim",
                                   latents=latents, gradient_guidance=gradient_guidance, progress=progress)
        finally:
            self.generate, self.given = saved
        return graph


def _slerp(a: torch.Tensor, b: torch.Tensor, lam: float) -> torch.Tensor:
    """Spherical interpolation of two latents treated as single vectors."""
    fa, fb = a.reshape(-1), b.reshape(-1)
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm()).clamp_min(1e-12)
    omega = math.acos(float(cos.clamp(-1 + 1e-7, 1 - 1e-7)))
    if omega < 1e-4:
        return (1 - lam) * a + lam * b
    return (math.sin((1 - lam) * omega) * a + math.sin(lam * omega) * b) / math.sin(omega)
