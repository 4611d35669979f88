r"""Structural features of a noisy graph: cycle counts and the Laplacian spectrum.

A message-passing or attention denoiser cannot count cycles or see connectivity from the
adjacency alone, yet validity on planar or block-model graphs depends on exactly that
(DiGress, Vignac et al. 2023, §4.3, adds such features to every step). :func:`structure_features`
computes them from the current discrete adjacency :math:`\mathbf{A}` of a dense batch, with no
gradient (they are inputs, like the noisy graph itself):

Node level (:data:`NODE_FEATURES` columns)
    * :math:`c_3(i) = (\mathbf{A}^3)_{ii}/2`, the triangles through :math:`i`;
    * :math:`c_4(i) = \big((\mathbf{A}^4)_{ii} - d_i^2 - \sum_j A_{ij}(d_j - 1)\big)/2`, the
      4-cycles through :math:`i` (closed 4-walks less the back-tracking ones);
    * closed 5- and 6-walks :math:`(\mathbf{A}^5)_{ii}`, :math:`(\mathbf{A}^6)_{ii}` (they count
      5- and 6-cycles plus walks that retrace shorter cycles);
    * the size of :math:`i`'s connected component over the graph's size, and whether that
      component is the largest;
    * the heat-kernel diagonal :math:`(e^{-t\mathbf{L}})_{ii} = \sum_k e^{-t\lambda_k} v_{ik}^2`
      at :math:`t = 0.5, 2, 8`: the spectrum seen from node :math:`i`. Unlike raw
      eigenvectors (DiGress feeds two), it has no sign or basis ambiguity, so the features stay
      exactly permutation-equivariant when eigenvalues repeat.

  Counts enter as :math:`\log(1 + c)`.

Graph level (:data:`GRAPH_FEATURES` columns)
    :math:`\log(1 + \cdot)` of the triangle and 4-cycle totals, the number of connected
    components (as a fraction of :math:`n` and its log), and :math:`\log(1 + \lambda)` of the
    five smallest non-zero eigenvalues of the combinatorial Laplacian
    :math:`\mathbf{L} = \mathbf{D} - \mathbf{A}` (zero where the graph has fewer).

Components come from the null space of :math:`\mathbf{L}`: its projector has diagonal
:math:`1/|C(i)|`, so the component size of every node is read off without a graph search.
Padded nodes get a Laplacian diagonal above every real eigenvalue, so a batch of graphs of
different sizes is decomposed at once (``torch.linalg.eigh`` in double precision).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["GRAPH_FEATURES", "NODE_FEATURES", "structure_features"]

NODE_FEATURES = ("triangles", "4-cycles", "closed 5-walks", "closed 6-walks", "component fraction",
                 "in largest component", "heat kernel t=0.5", "heat kernel t=2", "heat kernel t=8")
GRAPH_FEATURES = ("triangles", "4-cycles", "component fraction", "log components",
                  "eigenvalue 1", "eigenvalue 2", "eigenvalue 3", "eigenvalue 4", "eigenvalue 5")

_HEAT_TIMES = (0.5, 2.0, 8.0)
_ZERO = 1e-6     # eigenvalues below this (relative to the graph's size) are the null space


@torch.no_grad()
def structure_features(adj: Tensor, node_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Node and graph structure features of a dense batch.

    Args:
        adj (Tensor): ``[B, n, n]`` symmetric 0/1 adjacency (zero diagonal, zero on padding).
        node_mask (Tensor): ``[B, n]`` bool, the real nodes.

    Returns:
        tuple: node features ``[B, n, len(NODE_FEATURES)]`` (zero on padding) and graph
        features ``[B, len(GRAPH_FEATURES)]``, in ``adj``'s dtype.
    """
    dtype = adj.dtype
    a = adj.double() * (node_mask[:, :, None] & node_mask[:, None, :])
    b, n, _ = a.shape
    mask = node_mask.double()
    size = mask.sum(1).clamp(min=1)                                       # [B]
    deg = a.sum(-1)
    a2 = a @ a
    a3 = a2 @ a
    a4 = a3 @ a
    d3, d4 = a3.diagonal(dim1=1, dim2=2), a4.diagonal(dim1=1, dim2=2)
    d5 = (a4 * a).sum(-1)                 # diag(A^4 A) = sum_j (A^4)_ij A_ji
    d6 = (a3 * a3).sum(-1)                # diag(A^3 A^3), A symmetric
    c3 = d3 / 2
    c4 = ((d4 - deg ** 2 - (a @ (deg - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)) / 2).clamp(min=0)

    # spectrum of L = D - A; padding pushed above every real eigenvalue (<= 2 max degree < 2n)
    lap = torch.diag_embed(deg + (1 - mask) * (2 * n + 2)) - a
    vals, vecs = torch.linalg.eigh(lap)                                   # ascending
    zero = (vals < _ZERO * size.unsqueeze(-1)) & (torch.arange(n, device=a.device) < size.unsqueeze(-1))
    components = zero.sum(1).clamp(min=1)                                 # [B]
    proj_diag = (vecs ** 2 * zero.unsqueeze(1)).sum(-1)                   # 1 / |C(i)|
    comp_size = torch.where(mask > 0, 1 / proj_diag.clamp(min=1 / n), torch.zeros_like(proj_diag))
    largest = (comp_size >= comp_size.amax(1, keepdim=True) - 0.5) & node_mask

    # the first non-zero eigenpairs: positions components, components + 1, ...
    k = torch.arange(5, device=a.device)
    pos = components.unsqueeze(-1) + k                                    # [B, 5]
    valid = pos < size.unsqueeze(-1)
    pos_c = pos.clamp(max=n - 1)
    eig = torch.gather(vals, 1, pos_c).clamp(min=0) * valid
    t = torch.tensor(_HEAT_TIMES, dtype=a.dtype, device=a.device)
    decay = torch.exp(-t[None, None, :] * vals.clamp(min=0).unsqueeze(-1))   # [B, n(k), T]
    heat = torch.einsum("bik,bkt->bit", vecs ** 2, decay)                  # [B, n, T]

    node = torch.stack([torch.log1p(c3), torch.log1p(c4), torch.log1p(d5), torch.log1p(d6),
                        comp_size / size.unsqueeze(-1), largest.double(),
                        heat[..., 0], heat[..., 1], heat[..., 2]], dim=-1) * mask.unsqueeze(-1)
    graph = torch.cat([torch.log1p(c3.sum(1) / 3).unsqueeze(-1), torch.log1p(c4.sum(1) / 4).unsqueeze(-1),
                       (components / size).unsqueeze(-1), torch.log(components.double()).unsqueeze(-1),
                       torch.log1p(eig)], dim=-1)
    return node.to(dtype), graph.to(dtype)
