"""The predictor network: :class:`Predictor`, an ensemble of GNN regressors of graph-level
properties on one domain's graphs.

Its inputs (clean graphs, field values, or a diffusion model's noisy states), its ensemble
mean and std, the offset baseline of Δ-learning, and its file (``save`` / ``load``, in the
format of :mod:`graphdiff.predictors.files`). Training is in
:mod:`graphdiff.predictors.training`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data

from graphdiff.errors import CheckpointError, ConfigError, DataError, GraphValidationError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level
from graphdiff.nn.base import NoisyGraphs, all_pairs
from graphdiff.predictors.data import (LABELS_ATTR, load_domain, strip_graph, target_values, targets_of,
                                       without_gradient)
from graphdiff.predictors.files import PREDICTOR_FORMAT, read_file

__all__ = ["Predictor"]


def _noise_profile(proc: Any) -> tuple:
    """A process's noise levels at a few times (its schedule, compared between two processes)."""
    times = (0.05, 0.3, 0.6, 0.95)
    schedule = getattr(proc, "schedule", None)
    if schedule is not None and hasattr(schedule, "alpha_sigma_float"):
        return tuple(round(v, 6) for t in times for v in schedule.alpha_sigma_float(t))
    if hasattr(proc, "sigma_float"):
        return tuple(round(proc.sigma_float(t), 6) for t in times)
    return (repr(schedule),)


def _as_batch_vector(batch: Any, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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


class Predictor(nn.Module):
    """An ensemble of GNN regressors of graph-level properties on one domain's graphs.

    Parameters
    ----------
    spec:
        The domain's fields.
    properties:
        The predicted property names (``K``).
    denoiser:
        Registered denoiser name (the domain's encoder; resolved, not ``auto``).
    hidden, layers, options:
        The denoiser's hyper-parameters.
    fields:
        Field name -> :class:`~graphdiff.config.FieldProcessConfig` as a dict (input
        normalisation; noise when ``noisy``).
    ensemble:
        Number of members.
    variance:
        Members also predict a noise variance.
    noisy:
        Time-aware: ``noised`` fields are noised at a random ``t`` in training.
    noised, given:
        The fields noised (``noisy``) and those always given clean.
    domain:
        The domain's name (for messages and targets).
    offset:
        Terms of a linear baseline added to the members' prediction (``[predictor] offset``):
        ``"composition"`` and registered target names; its coefficients are the
        ``offset_coef`` buffer, fitted by :func:`train_predictor`.
    """

    def __init__(self, spec: GraphSpec, properties: Sequence[str], denoiser: str, hidden: int = 128,
                 layers: int = 4, options: dict[str, Any] | None = None,
                 fields: dict[str, dict[str, Any]] | None = None, ensemble: int = 3,
                 variance: bool = True, noisy: bool = False, noised: Sequence[str] | None = None,
                 given: Sequence[str] = (), domain: str | None = None,
                 offset: Sequence[str] = ()) -> None:
        super().__init__()
        from graphdiff.config import FieldProcessConfig
        from graphdiff.plugins import get_manager
        from graphdiff.processes import build_process

        self.spec = spec
        self.domain = domain or spec.name
        self.properties = list(properties)
        k = len(self.properties)
        self.variance, self.noisy = bool(variance), bool(noisy)
        self.given = [n for n in given if n in spec]
        self.noised = [n for n in (noised if noised is not None else spec.names)
                       if n in spec and n not in self.given] if noisy else []
        head = "predictor_head"
        while head in spec or head in spec.properties:
            head += "_"
        self.head = head
        self.width = k * (2 if self.variance else 1)
        self.ext = GraphSpec(spec.name, tuple(spec.fields) + (FieldSpec(head, "continuous", "graph",
                                                                        dim=self.width),),
                             max_nodes=spec.max_nodes)
        self.arch = {"denoiser": denoiser, "hidden": int(hidden), "layers": int(layers),
                     "options": dict(options or {}), "fields": dict(fields or {}),
                     "properties": self.properties, "ensemble": int(ensemble),
                     "variance": self.variance, "noisy": self.noisy, "noised": self.noised,
                     "given": self.given, "domain": self.domain}
        #: the baseline's terms; "composition" reads the first node categorical field
        self.offset = list(offset)
        self.offset_field = None
        if "composition" in self.offset:
            self.offset_field = next((f.name for f in spec.fields if f.level is Level.NODE
                                      and f.kind is FieldKind.CATEGORICAL), None)
            if self.offset_field is None:
                raise ConfigError(f"[predictor] offset 'composition' counts the classes of a node "
                                  f"categorical field; the {spec.name!r} graphs have none")
        if self.offset:
            if self.noisy:
                raise ConfigError("[predictor] offset is fitted on clean items: it cannot be combined "
                                  "with noisy = true (a time-aware predictor reads noisy states)")
            self.arch["offset"] = self.offset
        cfgs = {n: FieldProcessConfig.model_validate(c) for n, c in (fields or {}).items()}
        self.processes = nn.ModuleDict({n: build_process(spec[n], cfgs.get(n)) for n in spec.names})
        cls = get_manager().get("denoisers", denoiser)
        self.members = nn.ModuleList(
            cls(self.ext, {head: self.width}, cond_dim=0, hidden=hidden, layers=layers, **(options or {}))
            for _ in range(int(ensemble)))
        for member in self.members:  # e.g. the periodic radius graph reads the lattice normaliser
            if hasattr(member, "bind_processes"):
                member.bind_processes(self.processes)
        #: facts stored with the file (training data, calibration), its config and path (see load)
        self.meta: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.path: Path | None = None
        self.register_buffer("y_mean", torch.zeros(k))
        self.register_buffer("y_std", torch.ones(k))
        #: factor on the predicted std (variance scaling fitted on the validation split)
        self.register_buffer("std_scale", torch.ones(k))
        self.register_buffer("max_nodes_seen", torch.zeros((), dtype=torch.long))
        if self.offset:  # [features, K]: class fractions, target values, then the constant
            self.register_buffer("offset_coef", torch.zeros(self.offset_width, k, dtype=torch.float64))

    # ------------------------------------------------------------------ the offset (Δ-learning)
    @property
    def offset_targets(self) -> list[str]:
        """The offset's target terms (evaluated on domain objects: not differentiable)."""
        return [t for t in self.offset if t != "composition"]

    @property
    def offset_width(self) -> int:
        classes = self.spec[self.offset_field].num_classes if self.offset_field else 0
        return classes + len(self.offset_targets) + 1

    def offset_features(self, graphs: Sequence[Data], ids: Sequence[str] | None = None,
                        log: Callable[[str], None] | None = None) -> torch.Tensor:
        """The offset's design matrix ``[n, F]`` (float64): the class fractions of the node
        categorical field (``composition``), each target term's value on the item (rebuilt with
        the domain's ``from_graph``), and a constant 1. A target that fails or gives a value
        that is not finite raises :class:`DataError` naming the item."""
        targets: dict[str, Any] = {}
        domain = None
        if self.offset_targets:
            domain = load_domain(self.domain)
            known = self._offset_known()
            for name in self.offset_targets:
                if name not in known:
                    raise ConfigError(f"offset term {name!r}: no such target of domain {self.domain!r} "
                                      f"(targets: {', '.join(sorted(known)) or 'none'}; or 'composition')")
                targets[name] = known[name]
            if log is not None:
                log(f"offset: evaluating {', '.join(targets)} on {len(graphs)} item(s)")
        rows = torch.ones(len(graphs), self.offset_width, dtype=torch.float64)
        col = 0
        if self.offset_field:
            c = self.spec[self.offset_field].num_classes
            for i, g in enumerate(graphs):
                types = getattr(g, self.offset_field).long().view(-1)
                rows[i, :c] = torch.bincount(types, minlength=c).double() / max(types.numel(), 1)
            col = c
        if targets:
            objs = [domain.from_graph(g) for g in graphs]
            for k, (name, target) in enumerate(targets.items()):
                rows[:, col + k] = torch.tensor(target_values(target, name, objs, ids), dtype=torch.float64)
        return rows

    def offset_values(self, graphs: Sequence[Data], ids: Sequence[str] | None = None) -> torch.Tensor:
        """The baseline ``[n, K]`` (float64, CPU; zeros without an offset)."""
        if not self.offset:
            return torch.zeros(len(graphs), len(self.properties), dtype=torch.float64)
        return self.offset_features(graphs, ids) @ self.offset_coef.double().cpu()

    def _offset_known(self) -> dict[str, Any]:
        """The domain's registered targets, looked up once (guidance reads them at every step)."""
        if getattr(self, "_known_targets", None) is None:
            self._known_targets = targets_of(self.domain)
        return self._known_targets

    def offset_gradient_free(self) -> list[str]:
        """The offset's target terms that have no differentiable ``graph_fn`` (empty: the
        predictor is differentiable)."""
        return without_gradient(self.offset_targets, self._offset_known()) if self.offset_targets else []

    def _fields_offset(self, fields: dict[str, torch.Tensor], batch: Any, like: torch.Tensor) -> torch.Tensor:
        """The baseline ``[B, K]`` from field values: class fractions from class ids or
        probabilities (differentiable in them), each target term by its ``graph_fn`` (the
        caller has checked that every one has one)."""
        coef = self.offset_coef.to(like)
        B = like.shape[0]
        out = coef[-1].expand(B, -1)
        col = 0
        if self.offset_field:
            value = fields[self.offset_field]
            c = self.spec[self.offset_field].num_classes
            probs = value.to(like.dtype) if value.is_floating_point() and value.dim() == 2 else \
                F.one_hot(value.long().view(-1), c).to(like.dtype)
            vec, _ = _as_batch_vector(batch, probs.shape[0], like.device)
            sums = torch.zeros(B, c, dtype=like.dtype, device=like.device).index_add(0, vec, probs)
            out = out + sums / sums.sum(1, keepdim=True).clamp_min(1e-12) @ coef[:c]
            col = c
        if self.offset_targets:
            known = self._offset_known()
            for k, name in enumerate(self.offset_targets):
                value = known[name].graph_fn(fields, batch).to(like.dtype).view(B, 1)
                out = out + value * coef[col + k]
        return out

    # ------------------------------------------------------------------ statistics
    @torch.no_grad()
    def fit_statistics(self, graphs: Sequence[Data]) -> None:
        """Input normalisers (the processes' statistics) and the target standardisation, from the
        training graphs."""
        batch = Batch.from_data_list(list(graphs))
        pair_index = all_pairs(batch.ptr)[0] if self.spec.edge_field is not None else None
        for name in self.spec.names:
            x0, index, mask = self._elements(batch, name, pair_index)
            if mask is not None:  # a continuous edge field: statistics of the edges' values
                if not bool(mask.any()):
                    continue
                x0, index = x0[mask], index[mask]
            self.processes[name].fit(x0, index)
        y = getattr(batch, LABELS_ATTR, None)
        if y is not None:
            y = y.double()
            for j in range(y.size(1)):
                col = y[:, j][torch.isfinite(y[:, j])]
                if col.numel():
                    self.y_mean[j] = col.mean().float()
                    std = col.std(unbiased=False).float() if col.numel() > 1 else torch.tensor(1.0)
                    self.y_std[j] = std if std > 1e-8 else 1.0
        sizes = batch.ptr[1:] - batch.ptr[:-1]
        self.max_nodes_seen.fill_(int(sizes.max()))

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
        vec, ptr = _as_batch_vector(batch, n, device)
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

    # ------------------------------------------------------------------ outputs
    def member_outputs(self, m: int, graphs: NoisyGraphs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Member ``m``'s standardised mean ``[B, K]`` and variance ``[B, K]`` (``None`` without
        ``variance``)."""
        B = graphs.num_graphs
        like = graphs.batch
        head = torch.zeros(B, self.width, device=like.device)
        out = self.members[m](graphs.with_inputs(**{self.head: head}))[self.head]
        k = len(self.properties)
        mu = out[:, :k]
        var = F.softplus(out[:, k:]) + 1e-4 if self.variance else None
        return mu, var

    def forward(self, graphs: NoisyGraphs) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble mean and std ``[B, K]`` in the properties' own units."""
        mus, vars_ = [], []
        for m in range(len(self.members)):
            mu, var = self.member_outputs(m, graphs)
            mus.append(mu)
            if var is not None:
                vars_.append(var)
        mu = torch.stack(mus)                                    # [M, B, K]
        mean = mu.mean(0)
        total = ((mu - mean) ** 2).mean(0)
        if vars_:
            total = total + torch.stack(vars_).mean(0)
        std = total.clamp_min(0).sqrt()
        return mean * self.y_std + self.y_mean, std * self.y_std * self.std_scale

    def check_graphs(self, graphs: Sequence[Data], ids: Sequence[str] | None = None) -> None:
        """Validate input graphs against the predictor's spec (a graph of another domain fails
        here, naming the item)."""
        for i, g in enumerate(graphs):
            where = f"item {ids[i]}" if ids is not None else f"item {i}"
            try:
                self.spec.validate(g, where=where)
            except GraphValidationError as exc:
                raise GraphValidationError(f"{exc} (the predictor reads {self.domain!r} graphs with "
                                           f"fields {self.spec.names})") from None

    @torch.no_grad()
    def predict(self, graphs: Sequence[Data], batch_size: int = 256, ids: Sequence[str] | None = None,
                base: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std ``[n, K]`` (float64, CPU) for clean graphs of the domain. With an offset,
        the mean includes the baseline (``base``: its values when already computed)."""
        self.check_graphs(graphs, ids)
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        means, stds = [], []
        try:
            for start in range(0, len(graphs), batch_size):
                chunk = [strip_graph(g, self.spec) for g in graphs[start:start + batch_size]]
                batch = Batch.from_data_list(chunk).to(device)
                mean, std = self(self.inputs(batch))
                means.append(mean.double().cpu())
                stds.append(std.double().cpu())
        finally:
            self.train(was)
        k = len(self.properties)
        if not means:
            return torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, k, dtype=torch.float64)
        mean = torch.cat(means)
        if self.offset:
            mean = mean + (base if base is not None else self.offset_values(graphs, ids))
        return mean, torch.cat(stds)

    def predict_objects(self, objs: Sequence[Any], domain: Any = None, batch_size: int = 256
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std ``[n, K]`` for domain objects (converted with the domain's ``to_graph``)."""
        domain = domain or load_domain(self.domain)
        graphs = []
        for i, obj in enumerate(objs):
            try:
                graphs.append(domain.to_graph(obj))
            except (DataError, GraphValidationError, ValueError, TypeError, AttributeError) as exc:
                raise DataError(f"item {i}: the {self.domain!r} predictor cannot read a "
                                f"{type(obj).__name__}: {exc}") from None
        return self.predict(graphs, batch_size)

    def predict_fields(self, fields: dict[str, torch.Tensor], batch: Any = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable mean and std ``[B, K]`` from field values (see :meth:`inputs_from_fields`)."""
        missing = self.offset_gradient_free()
        if missing:
            raise ConfigError(f"the predictor's offset reads the target(s) {missing}, which are not "
                              "differentiable, so neither is the predictor (no gradient guidance; "
                              "rank or evaluate with it instead)")
        was = self.training
        self.eval()
        try:
            mean, std = self(self.inputs_from_fields(fields, batch))
            if self.offset:
                mean = mean + self._fields_offset(fields, batch, mean)
            return mean, std
        finally:
            self.train(was)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, config: dict[str, Any] | None = None,
             meta: dict[str, Any] | None = None) -> Path:
        """Write the predictor to one file, atomically (read with ``weights_only=True``)."""
        from graphdiff.model import save_checkpoint

        return save_checkpoint(path, {"format": PREDICTOR_FORMAT, "version": 1,
                                      "arch": json.dumps(self.arch), "spec": json.dumps(self.spec.to_dict()),
                                      "config": json.dumps(config or {}), "meta": json.dumps(meta or {}),
                                      "state": {k: v.detach().cpu() for k, v in self.state_dict().items()}})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Predictor":
        """A predictor written by :meth:`save` (eval mode); ``.meta`` and ``.config`` hold the
        stored facts (training data, calibration) and the config it was trained with."""
        path = Path(path)
        ckpt = read_file(path)
        try:
            arch = json.loads(ckpt["arch"])
            spec = GraphSpec.from_dict(json.loads(ckpt["spec"]))
            model = cls(spec, arch["properties"], arch["denoiser"], arch["hidden"], arch["layers"],
                        arch["options"], arch["fields"], arch["ensemble"], arch["variance"],
                        arch["noisy"], arch["noised"], arch["given"], arch["domain"], arch.get("offset", ()))
            state = dict(ckpt["state"])
            state.setdefault("std_scale", torch.ones(len(arch["properties"])))  # files from before it
            model.load_state_dict(state)
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: the predictor cannot be rebuilt "
                                  f"({type(exc).__name__}: {exc})") from None
        model.meta = json.loads(ckpt.get("meta") or "{}")
        model.config = json.loads(ckpt.get("config") or "{}")
        model.path = path
        model.eval()
        return model.to(device)
