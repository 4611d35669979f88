"""The denoiser contract and the noisy-graph batch it receives.

A denoiser is an ``nn.Module`` built from a :class:`~graphdiff.graph.GraphSpec` and the output
widths it must predict. ``forward(graphs)`` takes a :class:`NoisyGraphs` and returns one tensor per
output field:

=================  ============================  ===========================================
field              input in ``graphs.inputs``     output
=================  ============================  ===========================================
node categorical   ``[N, C]`` (one-hot/probs)     ``[N, C]`` logits of the clean class
node continuous    ``[N, d]``                     ``[N, d]`` (ε, x₀ or v, per the process)
node torus         ``[N, d]`` in ``[0, 1)``       ``[N, d]`` score of the wrapped normal
node positions     ``[N, d]`` zero CoM per graph  ``[N, d]`` ε, E(n)-equivariant, zero CoM
graph continuous   ``[B, d]``                     ``[B, d]``
graph categorical  ``[B, C]``                     ``[B, C]`` logits
edge categorical   ``[P, C]`` over node pairs     ``[P, C]`` logits, symmetric in the pair
edge continuous    ``[P, d]`` over node pairs     ``[P, d]`` (ε, x₀ or v), symmetric in the pair
=================  ============================  ===========================================

``N`` nodes, ``B`` graphs, ``P`` unordered node pairs ``i < j`` inside each graph
(``graphs.pair_index``). A continuous edge field (values on the edges: lengths, weights) is
given over all pairs like the categorical one: one value per unordered pair, so the same for
``(i, j)`` and ``(j, i)``; only the pairs that are edges in the data are scored in training.
Given (clean) fields appear in ``inputs`` too; the denoiser uses them as context and need not
predict them.

Symmetry contract (tests prove it with :func:`graphdiff.testing.assert_permutation_equivariant`
and friends): outputs permute with the nodes; positions outputs rotate with the input rotation
and ignore translations; torus outputs are invariant to a shared shift of the coordinates and to
rotations of the lattice (lattice fields are stored in an invariant form).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from graphdiff.graph import GraphSpec

__all__ = ["NoisyGraphs", "Denoiser", "all_pairs"]


@dataclass
class NoisyGraphs:
    """A batch of noisy graphs as seen by a denoiser.

    Attributes
    ----------
    inputs:
        Field name -> float tensor (see the module table).
    t:
        ``[B]`` diffusion time in ``[0, 1]`` (0 = clean).
    batch:
        ``[N]`` graph index of each node.
    ptr:
        ``[B + 1]`` node offsets of each graph.
    pair_index:
        ``[2, P]`` global node indices of the unordered pairs ``i < j`` in each graph, or ``None``
        when the spec has no edge field.
    pair_batch:
        ``[P]`` graph index of each pair, or ``None``.
    cond:
        ``[B, K]`` graph-level condition values (normalised), or ``None``.
    cond_mask:
        ``[B, K]`` bool, ``True`` where the condition is given (classifier-free guidance drops it).
    given:
        Names of the fields that are clean context rather than noisy.
    """

    inputs: dict[str, torch.Tensor]
    t: torch.Tensor
    batch: torch.Tensor
    ptr: torch.Tensor
    pair_index: torch.Tensor | None = None
    pair_batch: torch.Tensor | None = None
    cond: torch.Tensor | None = None
    cond_mask: torch.Tensor | None = None
    given: frozenset[str] = field(default_factory=frozenset)

    @property
    def num_graphs(self) -> int:
        return int(self.ptr.numel() - 1)

    @property
    def num_nodes(self) -> int:
        return int(self.batch.numel())

    def with_inputs(self, **inputs: torch.Tensor) -> "NoisyGraphs":
        return replace(self, inputs={**self.inputs, **inputs})


def all_pairs(ptr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered node pairs ``i < j`` inside each graph.

    Parameters
    ----------
    ptr:
        ``[B + 1]`` node offsets.

    Returns
    -------
    pair_index:
        ``[2, P]`` global node indices, graph by graph, row-major in ``(i, j)``.
    pair_batch:
        ``[P]`` graph index of each pair.
    """
    index, owner = [], []
    for g in range(ptr.numel() - 1):
        start, n = int(ptr[g]), int(ptr[g + 1] - ptr[g])
        iu = torch.triu_indices(n, n, offset=1, device=ptr.device)
        index.append(iu + start)
        owner.append(torch.full((iu.size(1),), g, dtype=torch.long, device=ptr.device))
    if not index:
        return torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(index, dim=1), torch.cat(owner)


class Denoiser(nn.Module):
    """Base class of registered denoisers.

    Parameters
    ----------
    spec:
        The graphs' fields.
    outputs:
        Field name -> output width (classes for categorical fields, ``dim`` otherwise), for
        every field the model generates.
    cond_dim:
        Number of graph-level condition values (0: unconditional).
    **hparams:
        Architecture options (hidden size, layers...), documented by each subclass.
    """

    def __init__(self, spec: GraphSpec, outputs: dict[str, int], cond_dim: int = 0,
                 **hparams: Any) -> None:
        super().__init__()
        unknown = set(outputs) - set(spec.names)
        if unknown:
            raise ValueError(f"{type(self).__name__}: outputs {sorted(unknown)} are not fields of "
                             f"the {spec.name!r} spec ({spec.names})")
        self.spec = spec
        self.outputs = dict(outputs)
        self.cond_dim = int(cond_dim)

    def forward(self, graphs: NoisyGraphs) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError
