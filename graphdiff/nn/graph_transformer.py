r"""Dense graph transformer for plain graphs (social and traffic networks), DiGress-style.

Each graph is made dense: node features :math:`\mathbf{X} \in \mathbb{R}^{n \times d_x}`, pair
features :math:`\mathbf{E} \in \mathbb{R}^{n \times n \times d_e}` (from the edge field's pair
inputs: symmetric, zero on the diagonal and on padding) and a global vector
:math:`\mathbf{y} \in \mathbb{R}^{d_y}` holding time, conditions and graph-level fields. Every
layer updates all three with attention whose scores are modulated (FiLM) by the pair features.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from graphdiff.graph import FieldKind, GraphSpec, Level
from graphdiff.nn.base import Denoiser, NoisyGraphs, all_pairs
from graphdiff.nn.embeddings import (
    GraphContext,
    check_options,
    class_feature_tables,
    check_outputs,
    edge_value_inputs,
    field_input,
    fully_connected_edges,
    mlp,
)
from graphdiff.nn.encoders import DEFAULT_ENCODER, build_encoder, dense_pair_features, encoder_hparams
from graphdiff.nn.structure import GRAPH_FEATURES, NODE_FEATURES, structure_features

__all__ = ["DenseGraphTransformerLayer", "GraphTransformerDenoiser"]

#: ``pair_distances``: radial basis size, and its last centre on the field's normalised scale
#: (data processes scale continuous fields to unit spread, so a graph's distances fall in a few units)
_RBF, _RBF_MAX = 24, 3.0


def _film(z: Tensor, y: Tensor, mul: nn.Linear, add: nn.Linear) -> Tensor:
    """``z * (1 + mul(y)) + add(y)`` with ``y`` ``[B, dy]`` broadcast over the middle dims of
    ``z`` ``[B, ..., d]``."""
    shape = (y.size(0),) + (1,) * (z.dim() - 2) + (-1,)
    return z * (1 + mul(y).view(shape)) + add(y).view(shape)


def _masked_pool(z: Tensor, mask: Tensor) -> Tensor:
    """Mean and max of ``z`` ``[B, ..., d]`` over its middle dims where ``mask`` ``[B, ...]``
    holds, ``[B, 2d]``; an empty set pools to zeros."""
    m = mask.unsqueeze(-1).to(z.dtype)
    dims = tuple(range(1, z.dim() - 1))
    count = m.sum(dims).clamp(min=1)
    mean = (z * m).sum(dims) / count
    low = torch.finfo(z.dtype).min
    peak = z.masked_fill(~mask.unsqueeze(-1), low).amax(dims)
    peak = torch.where(mask.flatten(1).any(1, keepdim=True), peak, torch.zeros_like(peak))
    return torch.cat([mean, peak], dim=-1)


class DenseGraphTransformerLayer(nn.Module):
    r"""One layer of the dense graph transformer, updating nodes, pairs and the global vector.

    .. math::
        \mathbf{S}_{ij} &= \frac{\mathbf{W}_Q\mathbf{x}_i \odot \mathbf{W}_K\mathbf{x}_j}
            {\sqrt{d_x / H}}, \qquad
        \mathbf{S}'_{ij} = \mathbf{S}_{ij} \odot (1 + \mathbf{W}_\times \mathbf{e}_{ij})
            + \mathbf{W}_+ \mathbf{e}_{ij} \\
        \alpha_{ij}^{h} &= \operatorname{softmax}_j \textstyle\sum_{d \in h} S'_{ijd}, \qquad
        \tilde{\mathbf{x}}_i = \textstyle\sum_j \alpha_{ij}^{h}
            (\mathbf{W}_V \mathbf{x}_j + \mathbf{W}_{EV} \mathbf{e}_{ij})_h \\
        \mathbf{x}_i &\leftarrow \mathrm{LN}(\mathbf{x}_i + \mathbf{W}_{XO}\,
            \mathrm{FiLM}_\mathbf{y}(\tilde{\mathbf{x}}_i)), \qquad
        \mathbf{e}_{ij} \leftarrow \mathrm{LN}(\mathbf{e}_{ij} + \mathbf{W}_{EO}\,
            \mathrm{FiLM}_\mathbf{y}(\mathbf{S}'_{ij})) \\
        \mathbf{y} &\leftarrow \mathrm{LN}\big(\mathbf{y} + \mathrm{MLP}(\mathbf{W}_y\mathbf{y}
            + \mathbf{W}_{PX}\,\mathrm{pool}(\mathbf{X}) + \mathbf{W}_{PE}\,
            \mathrm{pool}(\mathbf{E}))\big)

    each stream followed by :math:`\mathbf{z} \leftarrow \mathrm{LN}(\mathbf{z} +
    \mathrm{FFN}(\mathbf{z}))`; ``pool`` is the masked mean and max, the softmax runs over the
    real nodes ``j`` of the graph (``i`` included), and padded nodes / pairs (and the diagonal
    of :math:`\mathbf{E}`) are zeroed after the update. Permutation-equivariant in ``(i, j)``.

    Args:
        dx (int): Node width :math:`d_x` (divisible by ``heads``).
        de (int): Pair width :math:`d_e`.
        dy (int): Global width :math:`d_y`.
        heads (int): Attention heads :math:`H`.
        ffn_mult (int, optional): Width multiplier of the feed-forward blocks. (default: ``2``)
        dropout (float, optional): Dropout on the residual branches. (default: ``0.0``)
        update_x, update_e, update_y (bool, optional): Whether the layer updates that stream;
            a final layer skips the streams no output reads, so every parameter gets a
            gradient (DDP without ``find_unused_parameters``). (default: ``True``)

    Shapes:
        - **input:** ``X`` :math:`(B, n, d_x)`, ``E`` :math:`(B, n, n, d_e)`,
          ``y`` :math:`(B, d_y)`, ``node_mask`` :math:`(B, n)`, ``pair_mask`` :math:`(B, n, n)`
        - **output:** ``(X, E, y)`` of the same shapes
    """

    def __init__(self, dx: int, de: int, dy: int, heads: int, ffn_mult: int = 2,
                 dropout: float = 0.0, update_x: bool = True, update_e: bool = True,
                 update_y: bool = True) -> None:
        super().__init__()
        if dx % heads:
            raise ValueError(f"hidden size {dx} is not divisible by heads={heads}")
        self.heads, self.dx = heads, dx
        self.update_x, self.update_e, self.update_y = update_x, update_e, update_y
        self.dropout = nn.Dropout(dropout)
        if update_x or update_e:
            self.q, self.k = nn.Linear(dx, dx), nn.Linear(dx, dx)
            self.e_mul, self.e_add = nn.Linear(de, dx), nn.Linear(de, dx)
        if update_x:
            self.v, self.e_val = nn.Linear(dx, dx), nn.Linear(de, dx)
            self.yx_mul, self.yx_add = nn.Linear(dy, dx), nn.Linear(dy, dx)
            self.x_out = nn.Linear(dx, dx)
            self.x_norm1, self.x_norm2 = nn.LayerNorm(dx), nn.LayerNorm(dx)
            self.x_ffn = mlp(dx, ffn_mult * dx, dx, nn.ReLU)
        if update_e:
            self.ye_mul, self.ye_add = nn.Linear(dy, dx), nn.Linear(dy, dx)
            self.e_out = nn.Linear(dx, de)
            self.e_norm1, self.e_norm2 = nn.LayerNorm(de), nn.LayerNorm(de)
            self.e_ffn = mlp(de, ffn_mult * de, de, nn.ReLU)
        if update_y:
            self.y_self = nn.Linear(dy, dy)
            self.x_pool, self.e_pool = nn.Linear(2 * dx, dy), nn.Linear(2 * de, dy)
            self.y_out = mlp(dy, dy, dy)
            self.y_norm1, self.y_norm2 = nn.LayerNorm(dy), nn.LayerNorm(dy)
            self.y_ffn = mlp(dy, ffn_mult * dy, dy, nn.ReLU)

    def forward(self, X: Tensor, E: Tensor, y: Tensor, node_mask: Tensor,
                pair_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, n, _ = X.shape
        nm = node_mask.unsqueeze(-1).to(X.dtype)
        pm = pair_mask.unsqueeze(-1).to(X.dtype)
        X_new, E_new, y_new = X, E, y
        if self.update_x or self.update_e:
            head_dim = self.dx // self.heads
            Q, K = self.q(X), self.k(X)
            S = Q[:, :, None, :] * K[:, None, :, :] / math.sqrt(head_dim)   # [B, n, n, dx]
            S = S * (1 + self.e_mul(E)) + self.e_add(E)
        if self.update_x:
            logits = S.view(b, n, n, self.heads, head_dim).sum(-1)          # [B, n, n, H]
            logits = logits.masked_fill(~node_mask[:, None, :, None], float("-inf"))
            alpha = torch.softmax(logits, dim=2)
            values = (self.v(X)[:, None, :, :] + self.e_val(E)).view(b, n, n, self.heads, -1)
            attended = (alpha.unsqueeze(-1) * values).sum(2).reshape(b, n, self.dx)
            upd = self.x_out(_film(attended, y, self.yx_mul, self.yx_add))
            X_new = self.x_norm1(X + self.dropout(upd))
            X_new = self.x_norm2(X_new + self.dropout(self.x_ffn(X_new))) * nm
        if self.update_e:
            upd = self.e_out(_film(S, y, self.ye_mul, self.ye_add))
            E_new = self.e_norm1(E + self.dropout(upd))
            E_new = self.e_norm2(E_new + self.dropout(self.e_ffn(E_new))) * pm
        if self.update_y:
            pooled = self.x_pool(_masked_pool(X, node_mask)) + self.e_pool(_masked_pool(E, pair_mask))
            y_new = self.y_norm1(y + self.dropout(self.y_out(self.y_self(y) + pooled)))
            y_new = self.y_norm2(y_new + self.dropout(self.y_ffn(y_new)))
        return X_new, E_new, y_new


class GraphTransformerDenoiser(Denoiser):
    r"""DiGress-style dense graph transformer denoiser for plain graphs.

    Inputs are embedded as

    .. math::
        \mathbf{x}_i^{(0)} = \mathrm{enc}(\mathbf{x})_i + \mathbf{W}_D
            \big[\overline{\mathbf{a}}_i, \log(1 + \deg_i)\big] + \mathbf{W}_c \mathbf{c}_{b(i)},
        \qquad \mathbf{e}_{ij}^{(0)} = \mathbf{W}_A \mathbf{a}_{ij}, \qquad
        \mathbf{y}^{(0)} = \mathbf{W}_y \mathbf{c}_b

    with :math:`\mathrm{enc}` the encoder (:mod:`graphdiff.nn.encoders`; by default ``fields``,
    :math:`\sum_f \mathbf{W}_f \mathbf{x}_{i,f}` over the node fields), :math:`\mathbf{a}_{ij}`
    the edge field's pair input (class probabilities, zero on the diagonal; with continuous
    edge fields, :math:`\mathbf{e}_{ij}^{(0)} \mathrel{+}= \mathbf{W}_V \mathbf{v}_{ij}` with
    :math:`\mathbf{v}_{ij}` their noisy values on the pair, symmetric),
    :math:`\overline{\mathbf{a}}_i` its mean over the other nodes,
    :math:`\deg_i = \sum_j (1 - a_{ij,0})` the expected degree and :math:`\mathbf{c}_b` the
    :class:`~graphdiff.nn.embeddings.GraphContext` (time, conditions, graph fields). Without an
    edge field :math:`\mathbf{E}^{(0)} = 0` and attention is still over all node pairs. After
    ``layers`` :class:`DenseGraphTransformerLayer` s the heads read

    * node fields from :math:`\mathbf{x}_i`;
    * the edge field, and each continuous edge field, from :math:`\tfrac12(\mathrm{MLP}(\mathbf{e}_{ij}) +
      \mathrm{MLP}(\mathbf{e}_{ji}))` at the pairs of ``graphs.pair_index`` (symmetric);
    * graph fields from :math:`\mathbf{y}`.

    Node continuous fields (features, 2-D road coordinates...) are plain features; torus and
    positions fields are refused (use the ``periodic`` or ``egnn`` denoiser). With
    ``pair_distances`` naming one of them, the pair stream also starts from the distances between
    its current (noisy) values, :math:`\mathbf{e}_{ij}^{(0)} \mathrel{+}= \mathbf{W}_r\,
    \mathrm{rbf}(\lVert \mathbf{x}_i - \mathbf{x}_j \rVert)` (Gaussian radial basis on the
    field's normalised scale): which nodes are near each other, the main evidence for an edge
    in a spatial graph such as a road network, without the network having to learn subtraction
    from absolute coordinates. An encoder with edge features adds them the same way,
    :math:`\mathbf{e}_{ij}^{(0)} \mathrel{+}= \mathbf{W}_e\, \mathrm{enc}_{ij}`.

    Args:
        spec (GraphSpec): The graphs' fields.
        outputs (dict): Field name -> output width, for the generated fields.
        cond_dim (int, optional): Number of condition columns. (default: ``0``)
        hidden (int, optional): Node width :math:`d_x`. (default: ``128``)
        layers (int, optional): Number of transformer layers (``>= 1``). (default: ``4``)
        heads (int, optional): Attention heads; must divide ``hidden``. (default: ``8``)
        edge_hidden (int, optional): Pair width :math:`d_e`. (default: ``64``)
        global_hidden (int, optional): Global width :math:`d_y`. (default: ``hidden``)
        ffn_mult (int, optional): Feed-forward width multiplier. (default: ``2``)
        dropout (float, optional): Residual dropout. (default: ``0.0``)
        structure_features (bool, optional): Add the cycle counts, connected components and
            Laplacian spectrum of the current noisy adjacency
            (:func:`~graphdiff.nn.structure.structure_features`) to the node and global inputs,
            as DiGress does; needs an edge field. (default: ``False``)
        pair_distances (str, optional): A node continuous field whose pairwise distances feed
            the pair stream (e.g. the road network's ``"coords"``). (default: ``None``)
        class_features (dict, optional): Categorical node field -> registered class-feature
            table, embedded by the encoder. (default: none)
        encoder (str, optional): Registered encoder of the node inputs (attribute ``node_in``;
            e.g. ``"positional"``). (default: ``"fields"``)
        encoder_options (dict, optional): Options of the encoder. (default: none)

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` nodes, ``B`` graphs,
          ``P`` pairs
        - **output:** dict: node fields :math:`(N, C)`, edge field :math:`(P, C)`, graph
          fields :math:`(B, C)`, one entry per key of ``outputs``

    Memory grows as :math:`B \, n_{max}^2 \, d_x` (dense pairs).
    """

    def __init__(self, spec: GraphSpec, outputs: dict[str, int], cond_dim: int = 0,
                 hidden: int = 128, layers: int = 4, *, heads: int = 8, edge_hidden: int = 64,
                 global_hidden: int | None = None, ffn_mult: int = 2, dropout: float = 0.0,
                 structure_features: bool = False, pair_distances: str | None = None,
                 class_features: dict[str, str] | None = None, encoder: str = DEFAULT_ENCODER,
                 encoder_options: dict[str, Any] | None = None, **options: Any) -> None:
        name = type(self).__name__
        check_options(name, options, ["hidden", "layers", "heads", "edge_hidden", "global_hidden",
                                      "ffn_mult", "dropout", "structure_features", "pair_distances",
                                      "class_features", "encoder", "encoder_options"])
        super().__init__(spec, outputs, cond_dim)
        check_outputs(name, spec, self.outputs, {
            FieldKind.TORUS: "use the 'periodic' denoiser for periodic coordinates",
            FieldKind.POSITIONS: "use the 'egnn' denoiser for Cartesian positions",
        })
        if layers < 1:
            raise ValueError(f"{name}: layers must be >= 1, got {layers}")
        dx, de, dy = hidden, edge_hidden, global_hidden or hidden
        self.hparams = dict(hidden=hidden, layers=layers, heads=heads, edge_hidden=de,
                            global_hidden=dy, ffn_mult=ffn_mult, dropout=dropout,
                            structure_features=bool(structure_features))
        if pair_distances is not None:
            self.hparams["pair_distances"] = pair_distances
            field = next((f for f in spec.fields if f.name == pair_distances), None)
            if field is None or field.kind is not FieldKind.CONTINUOUS or field.level is not Level.NODE:
                choices = [f.name for f in spec.fields if f.kind is FieldKind.CONTINUOUS and f.level is Level.NODE]
                raise ValueError(f"{name}: pair_distances must name a continuous node field of {spec.name!r} "
                                 f"({', '.join(choices) or 'it has none'}), got {pair_distances!r}")
            self.distance_in = nn.Linear(_RBF, edge_hidden)
            self.register_buffer("rbf_centers", torch.linspace(0.0, _RBF_MAX, _RBF), persistent=False)
        self.pair_distances = pair_distances
        self.edge = spec.edge_field
        self.de = de
        tables = class_feature_tables(name, spec, class_features)
        if tables:
            self.hparams["class_features"] = dict(class_features)
        self.hparams.update(encoder_hparams(encoder, encoder_options))
        self.node_in = build_encoder(name, spec, dx, encoder, encoder_options, tables)
        self.context = GraphContext(spec, self.cond_dim, dx)
        self.ctx_to_x, self.ctx_to_y = nn.Linear(dx, dx), nn.Linear(dx, dy)
        if self.edge is not None:
            self.edge_in = nn.Linear(self.edge.width, de)
            self.degree_in = nn.Linear(self.edge.width + 1, dx, bias=False)
        self.value_width = sum(f.dim for f in spec.edge_value_fields)
        if self.value_width:  # continuous edge fields (lengths, weights): more pair inputs
            self.values_in = nn.Linear(self.value_width, de)
        self.structure = bool(structure_features)
        if self.structure:
            if self.edge is None:
                raise ValueError(f"{name}: structure_features needs an edge field; {spec.name!r} has none")
            self.structure_x = nn.Linear(len(NODE_FEATURES), dx, bias=False)
            self.structure_y = nn.Linear(len(GRAPH_FEATURES), dy, bias=False)
        levels = {name: spec[name].level for name in self.outputs}
        last = dict(update_x=Level.NODE in levels.values(), update_e=Level.EDGE in levels.values(),
                    update_y=Level.GRAPH in levels.values())
        self.layers = nn.ModuleList(
            DenseGraphTransformerLayer(dx, de, dy, heads, ffn_mult, dropout,
                                       **(last if i == layers - 1 else {}))
            for i in range(layers)
        )
        width = {Level.NODE: dx, Level.EDGE: de, Level.GRAPH: dy}
        self.out_heads = nn.ModuleDict({
            f: mlp(width[lv], width[lv], self.outputs[f]) for f, lv in levels.items()
        })
        if self.node_in.edge_dim:
            self.encoded_pairs_in = nn.Linear(self.node_in.edge_dim, de)

    def _dense_pairs(self, graphs: NoisyGraphs, b: int, n: int, like: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Dense symmetric pair inputs ``[B, n, n, C]`` and the pairs' (graph, i, j) indices."""
        pair_index, pair_batch = graphs.pair_index, graphs.pair_batch
        if pair_index is None:
            pair_index, pair_batch = all_pairs(graphs.ptr)
            pair_index, pair_batch = pair_index.to(like.device), pair_batch.to(like.device)
        if pair_batch is None:
            pair_batch = graphs.batch[pair_index[0]]
        start = graphs.ptr[pair_batch]
        li, lj = pair_index[0] - start, pair_index[1] - start
        dense = like.new_zeros(b, n, n, self.edge.width)
        if self.edge.name in graphs.inputs:
            a = field_input(self.edge, graphs.inputs[self.edge.name]).to(like)
            dense[pair_batch, li, lj] = a
            dense[pair_batch, lj, li] = a
        return dense, pair_batch, li, lj

    def _distance_basis(self, graphs: NoisyGraphs, b: int) -> Tensor:
        """Gaussian radial basis ``[B, n, n, K]`` of the distances between the current values of
        the ``pair_distances`` field (differentiable: gradient guidance reaches the values)."""
        x = field_input(self.spec[self.pair_distances], graphs.inputs[self.pair_distances])
        x, _ = to_dense_batch(x.to(self.rbf_centers.dtype), graphs.batch, batch_size=b)
        diff = x.unsqueeze(2) - x.unsqueeze(1)
        dist = torch.sqrt((diff ** 2).sum(-1, keepdim=True) + 1e-12)   # smooth at i = j
        width = _RBF_MAX / (_RBF - 1)
        return torch.exp(-0.5 * ((dist - self.rbf_centers) / width) ** 2)

    def forward(self, graphs: NoisyGraphs) -> dict[str, Tensor]:
        b = graphs.num_graphs
        ctx = self.context(graphs)
        h = self.node_in(graphs) + self.ctx_to_x(ctx)[graphs.batch]
        X, node_mask = to_dense_batch(h, graphs.batch, batch_size=b)
        n = X.size(1)
        eye = torch.eye(n, dtype=torch.bool, device=X.device)
        pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~eye
        if self.edge is not None:
            A, pair_batch, li, lj = self._dense_pairs(graphs, b, n, X)
            E = self.edge_in(A) * pair_mask.unsqueeze(-1).to(X.dtype)
            others = (node_mask.sum(1, keepdim=True) - 1).clamp(min=1).to(X.dtype)   # [B, 1]
            mean_a = A.sum(2) / others.unsqueeze(-1)
            edge_mass = A.sum(-1) - A[..., 0]                # [B, n, n] mass on "some edge" classes
            degree = torch.log1p(edge_mass.sum(2, keepdim=True))
            X = X + self.degree_in(torch.cat([mean_a, degree], dim=-1)) * node_mask.unsqueeze(-1)
            if self.value_width:
                values = edge_value_inputs(self.spec, graphs.inputs, li.numel(), X)
                V = X.new_zeros(b, n, n, self.value_width)
                V[pair_batch, li, lj] = values
                V[pair_batch, lj, li] = values
                E = E + self.values_in(V) * pair_mask.unsqueeze(-1).to(X.dtype)
        else:
            E = X.new_zeros(b, n, n, self.de)
        if self.pair_distances is not None:
            E = E + self.distance_in(self._distance_basis(graphs, b)) * pair_mask.unsqueeze(-1).to(X.dtype)
        if self.node_in.edge_dim:
            pairs = dense_pair_features(self.node_in, graphs, b, n, fully_connected_edges(graphs.ptr), X)
            E = E + self.encoded_pairs_in(pairs) * pair_mask.unsqueeze(-1).to(X.dtype)
        y = self.ctx_to_y(ctx)
        if self.structure:
            node_f, graph_f = structure_features(edge_mass * pair_mask.to(X.dtype), node_mask)
            X = X + self.structure_x(node_f)
            y = y + self.structure_y(graph_f)
        for layer in self.layers:
            X, E, y = layer(X, E, y, node_mask, pair_mask)
        out: dict[str, Tensor] = {}
        for name, head in self.out_heads.items():
            level = self.spec[name].level
            if level is Level.NODE:
                out[name] = head(X[node_mask])
            elif level is Level.GRAPH:
                out[name] = head(y)
            else:
                logits = head(E)
                logits = 0.5 * (logits + logits.transpose(1, 2))
                out[name] = logits[pair_batch, li, lj]
        return out
