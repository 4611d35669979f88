"""The predictor network: :class:`Predictor`, an ensemble of GNN regressors of graph-level
properties on one domain's graphs.

Its ensemble mean and std, its statistics and its file (``save`` / ``load``, in the format of
:mod:`graphdiff.predictors.files`). Its inputs (clean graphs, field values, or a diffusion
model's noisy states) are :mod:`graphdiff.predictors.inputs`, the offset baseline of
Δ-learning :mod:`graphdiff.predictors.offset`, training :mod:`graphdiff.predictors.training`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data

from graphdiff.errors import CheckpointError, ConfigError, DataError, GraphValidationError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level
from graphdiff.nn.base import NoisyGraphs, all_pairs
from graphdiff.predictors.data import LABELS_ATTR, load_domain, strip_graph
from graphdiff.predictors.files import PREDICTOR_FORMAT, read_file
from graphdiff.predictors.inputs import InputsMixin
from graphdiff.predictors.offset import OffsetMixin

__all__ = ["Predictor"]


class Predictor(InputsMixin, OffsetMixin, nn.Module):
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
