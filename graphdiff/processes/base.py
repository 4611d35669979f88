"""The process contract: how one field is noised and denoised.

A process owns no network. It is an ``nn.Module`` only to carry *buffers* (data statistics such
as a normaliser or a marginal class distribution) into checkpoints. All tensors are per
*element*: a node, a graph or a node pair, depending on the field's level; ``index [M]`` gives
the graph of each element and ``t [M]`` its diffusion time in ``[0, 1]`` (0 = clean).

Life cycle::

    process.fit(x0_all)                         # data statistics, once before training
    x_t, target = process.noise(x0, t, index)   # training: forward q(x_t | x_0) and target
    loss = process.loss(pred, target, x0, t)    # per element [M]
    x = process.prior(M, index, B)              # sampling starts here (t = 1)
    x = process.step(x, pred, t, s, index)      # one reverse step t -> s < t
    out = process.finalize(x, pred, t_last)     # clean values in the field's own units

``model_input(x)`` turns a state into the float features a denoiser reads. Continuous
processes also offer ``ddim(x, pred, t, s)``, deterministic in both directions (``s > t`` is an
inversion step), which interpolation uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from graphdiff.graph import FieldKind, FieldSpec

__all__ = ["Process", "scatter_mean_per_graph"]


def scatter_mean_per_graph(x: torch.Tensor, index: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of rows of ``x [M, d]`` per graph: ``[num_graphs, d]`` (zero for empty graphs)."""
    out = torch.zeros(num_graphs, x.size(-1), dtype=x.dtype, device=x.device)
    out.index_add_(0, index, x)
    count = torch.bincount(index, minlength=num_graphs).clamp_min(1).to(x.dtype)
    return out / count.unsqueeze(-1)


class Process(nn.Module, ABC):
    """Base class of per-field noise processes.

    Parameters
    ----------
    field:
        The field this process diffuses.
    **options:
        Process options (schedule, prediction type...), documented by subclasses.
    """

    kind: ClassVar[FieldKind]
    #: whether ``ddim`` (a deterministic, invertible step) exists
    deterministic: ClassVar[bool] = True

    def __init__(self, field: FieldSpec, **options: Any) -> None:
        super().__init__()
        if field.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} diffuses {self.kind.value} fields; "
                             f"field {field.name!r} is {field.kind.value}")
        self.field = field

    @property
    def width(self) -> int:
        return self.field.width

    def fit(self, x0: torch.Tensor, index: torch.Tensor | None = None) -> None:
        """Set data statistics from clean values of the whole training set (default: none)."""

    @abstractmethod
    def prior(self, num: int, index: torch.Tensor, num_graphs: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample of ``x_1`` for ``num`` elements."""

    @abstractmethod
    def noise(self, x0: torch.Tensor, t: torch.Tensor, index: torch.Tensor,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_t, target)`` for clean values ``x0`` (in the field's units) at times ``t [M]``."""

    @abstractmethod
    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Float features ``[M, width]`` of a state, as the denoiser reads them."""

    def clean_input(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Features of a *given* (clean) field, in the same space as :meth:`model_input`."""
        return self.model_input(self.encode(x0, index))

    def encode(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Clean values in the field's units -> the process's state space (e.g. normalised)."""
        return x0

    @abstractmethod
    def loss(self, pred: torch.Tensor, target: torch.Tensor, x0: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
        """Per-element training loss ``[M]``."""

    @abstractmethod
    def step(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float, index: torch.Tensor,
             generator: torch.Generator | None = None, deterministic: bool = False) -> torch.Tensor:
        """One reverse step from time ``t`` to ``s < t`` given the denoiser output ``pred``."""

    @abstractmethod
    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        """The final state (``t`` = 0) in the field's own units and dtype."""

    def precondition(self, pred: torch.Tensor, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The denoiser's raw output ``pred`` for state ``x`` at ``t`` -> the prediction used by
        :meth:`loss` and :meth:`step` (identity unless the process adds a skip term)."""
        return pred

    def guide(self, pred: torch.Tensor, pred_uncond: torch.Tensor, scale: float) -> torch.Tensor:
        """Classifier-free guidance: ``(1 + w) pred_cond − w pred_uncond``."""
        return (1.0 + scale) * pred - scale * pred_uncond

    def config(self) -> dict[str, Any]:
        return {}
