"""The offset of :class:`~graphdiff.predictors.model.Predictor` (Δ-learning): a linear baseline
in class fractions and registered target values that the members' prediction is added to.
Its coefficients are the ``offset_coef`` buffer, fitted by
:func:`~graphdiff.predictors.training.train_predictor`."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from graphdiff.errors import ConfigError
from graphdiff.predictors.data import load_domain, target_values, targets_of, without_gradient
from graphdiff.predictors.inputs import as_batch_vector

__all__ = ["OffsetMixin"]


class OffsetMixin:
    """The offset side of :class:`~graphdiff.predictors.model.Predictor` (its ``offset``,
    ``offset_field``, ``spec``, ``domain`` and ``properties``)."""

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
            vec, _ = as_batch_vector(batch, probs.shape[0], like.device)
            sums = torch.zeros(B, c, dtype=like.dtype, device=like.device).index_add(0, vec, probs)
            out = out + sums / sums.sum(1, keepdim=True).clamp_min(1e-12) @ coef[:c]
            col = c
        if self.offset_targets:
            known = self._offset_known()
            for k, name in enumerate(self.offset_targets):
                value = known[name].graph_fn(fields, batch).to(like.dtype).view(B, 1)
                out = out + value * coef[col + k]
        return out
