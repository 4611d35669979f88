r"""E(n)-equivariant graph neural network denoiser for molecules (Satorras et al. 2021), in the
variant of EDM (Hoogeboom et al. 2022): attention-gated messages, normalised coordinate
differences and a bounded (``tanh``) coordinate update, over the fully connected graph of each
molecule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from graphdiff.graph import FieldKind, GraphSpec, Level
from graphdiff.nn.base import Denoiser, NoisyGraphs, all_pairs
from graphdiff.nn.embeddings import (
    GraphContext,
    check_options,
    class_feature_tables,
    check_outputs,
    field_input,
    fully_connected_edges,
    mlp,
    edge_value_inputs,
    pair_values_on_edges,
)
from graphdiff.nn.encoders import DEFAULT_ENCODER, build_encoder, encoder_hparams

__all__ = ["EquivariantBlock", "EGNNDenoiser"]


class _GCL(nn.Module):
    """Invariant message-passing sublayer: gated messages, mean aggregation, residual update."""

    def __init__(self, hidden: int, edge_dim: int, attention: bool) -> None:
        super().__init__()
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden + edge_dim, hidden), nn.SiLU(),
                                      nn.Linear(hidden, hidden), nn.SiLU())
        self.gate = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid()) if attention else None
        self.node_mlp = mlp(2 * hidden, hidden, hidden)

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        src, dst = edge_index
        m = self.edge_mlp(torch.cat([h[dst], h[src], edge_attr], dim=-1))
        if self.gate is not None:
            m = m * self.gate(m)
        agg = scatter(m, dst, dim=0, dim_size=h.size(0), reduce="mean")
        return h + self.node_mlp(torch.cat([h, agg], dim=-1))


class EquivariantBlock(nn.Module):
    r"""``sublayers`` invariant message-passing sublayers, then an equivariant coordinate update.

    .. math::
        d_{ij}^2 &= \lVert \mathbf{x}_i - \mathbf{x}_j \rVert^2, \qquad
        \mathbf{a}_{ij} = [d_{ij}^2, \mathbf{a}^{(0)}_{ij}] \\
        \mathbf{m}_{ij} &= \phi_e(\mathbf{h}_i, \mathbf{h}_j, \mathbf{a}_{ij}), \qquad
        \mathbf{m}_{ij} \leftarrow \mathbf{m}_{ij}\,\sigma(\phi_g(\mathbf{m}_{ij})), \qquad
        \mathbf{h}_i \leftarrow \mathbf{h}_i + \phi_h\big(\mathbf{h}_i,
            \operatorname{mean}_{j \ne i} \mathbf{m}_{ij}\big) \\
        \mathbf{x}_i &\leftarrow \mathbf{x}_i + \operatorname{mean}_{j \ne i}
            \frac{\mathbf{x}_i - \mathbf{x}_j}{\sqrt{d_{ij}^2 + 10^{-8}} + c}\;
            r \tanh\big(\phi_x(\mathbf{h}_i, \mathbf{h}_j, \mathbf{a}_{ij})\big)

    :math:`\mathbf{a}^{(0)}_{ij}` are the invariant edge attributes fixed for the whole network
    (input distances, pair inputs of an edge field); :math:`c` is ``norm_constant`` and
    :math:`r` ``coords_range`` (without ``tanh`` the factor is :math:`\phi_x` itself). Only
    distances enter the networks, so :math:`\mathbf{h}` is E(n)-invariant and :math:`\mathbf{x}`
    E(n)-equivariant.

    Args:
        hidden (int): Node width.
        edge_dim (int): Width of :math:`\mathbf{a}^{(0)}`.
        sublayers (int): Invariant sublayers before the coordinate update.
        attention (bool): Gate messages with :math:`\sigma(\phi_g)`.
        coords_range (float): :math:`r`.
        tanh (bool): Bound the coordinate update with :math:`\tanh`.
        norm_constant (float): :math:`c`.
        update_coords (bool, optional): If ``False`` the block returns ``x`` unchanged and has
            no :math:`\phi_x` (used for a last block whose coordinates no output reads).
            (default: ``True``)

    Shapes:
        - **input:** ``h`` :math:`(N, \text{hidden})`, ``x`` :math:`(N, D)`,
          ``edge_index`` :math:`(2, E)` (source, target), ``edge_attr`` :math:`(E, \text{edge\_dim})`
        - **output:** ``(h, x)`` of the same shapes
    """

    def __init__(self, hidden: int, edge_dim: int, sublayers: int, attention: bool,
                 coords_range: float, tanh: bool, norm_constant: float,
                 update_coords: bool = True) -> None:
        super().__init__()
        self.gcls = nn.ModuleList(_GCL(hidden, edge_dim + 1, attention) for _ in range(sublayers))
        self.coords_range, self.tanh, self.norm_constant = coords_range, tanh, norm_constant
        self.coord_mlp = None
        if update_coords:
            last = nn.Linear(hidden, 1, bias=False)
            nn.init.xavier_uniform_(last.weight, gain=0.001)
            self.coord_mlp = nn.Sequential(nn.Linear(2 * hidden + edge_dim + 1, hidden), nn.SiLU(),
                                           nn.Linear(hidden, hidden), nn.SiLU(), last)

    def forward(self, h: Tensor, x: Tensor, edge_index: Tensor, edge_attr: Tensor
                ) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        diff = x[dst] - x[src]
        d2 = (diff * diff).sum(-1, keepdim=True)
        attr = torch.cat([d2, edge_attr], dim=-1)
        for gcl in self.gcls:
            h = gcl(h, edge_index, attr)
        if self.coord_mlp is None:
            return h, x
        unit = diff / (torch.sqrt(d2 + 1e-8) + self.norm_constant)
        scale = self.coord_mlp(torch.cat([h[dst], h[src], attr], dim=-1))
        scale = torch.tanh(scale) * self.coords_range if self.tanh else scale
        return h, x + scatter(unit * scale, dst, dim=0, dim_size=x.size(0), reduce="mean")


class EGNNDenoiser(Denoiser):
    r"""E(n)-equivariant denoiser for graphs with a Cartesian ``positions`` field.

    .. math::
        \mathbf{h}_i^{(0)} = \mathrm{enc}(\mathbf{x})_i + \mathbf{W}_c \mathbf{c}_{b(i)},
        \qquad \mathbf{a}^{(0)}_{ij} = [\lVert \mathbf{x}^{(0)}_i - \mathbf{x}^{(0)}_j \rVert^2,
        \mathbf{p}_{ij}, \mathbf{e}_{ij}]

    with :math:`\mathrm{enc}` the encoder (:mod:`graphdiff.nn.encoders`; by default ``fields``,
    :math:`\sum_f \mathbf{W}_f \mathbf{x}_{i,f}` over the atom types and other invariant node
    fields), :math:`\mathbf{c}_b` the :class:`~graphdiff.nn.embeddings.GraphContext` (time,
    conditions, graph fields), :math:`\mathbf{p}_{ij}` the edge field's pair input (bonds;
    followed by the noisy values of any continuous edge fields, e.g. bond lengths)
    when the spec has one and :math:`\mathbf{e}_{ij}` the encoder's edge features, if any
    (``distances``: a radial basis of the input distance). After ``layers``
    :class:`EquivariantBlock` s over all ordered pairs ``i != j`` of each graph:

    * positions: :math:`\hat{\boldsymbol\epsilon}_i = (\mathbf{x}^{(L)}_i - \mathbf{x}^{(0)}_i)
      - \operatorname{mean}_{k \in b(i)} (\mathbf{x}^{(L)}_k - \mathbf{x}^{(0)}_k)`
      (E(n)-equivariant, translation-invariant, zero centre of mass);
    * node fields: :math:`\mathrm{MLP}(\mathbf{h}^{(L)}_i)` (invariant);
    * edge field: :math:`\mathrm{MLP}([\mathbf{h}_i + \mathbf{h}_j, \mathbf{h}_i \odot
      \mathbf{h}_j, d_{ij}^2, \mathbf{p}_{ij}])` at ``graphs.pair_index`` (symmetric, invariant);
    * graph fields: :math:`\mathrm{MLP}([\operatorname{mean}_i \mathbf{h}^{(L)}_i, \mathbf{c}_b])`.

    A 1-node graph gets no messages (its :math:`\hat{\boldsymbol\epsilon}` is zero). Torus fields
    are refused (use ``periodic``); exactly one positions field is required, of any dimension.

    Args:
        spec (GraphSpec): The graphs' fields.
        outputs (dict): Field name -> output width, for the generated fields.
        cond_dim (int, optional): Number of condition columns. (default: ``0``)
        hidden (int, optional): Node width. (default: ``128``)
        layers (int, optional): Number of equivariant blocks (``>= 1``). (default: ``4``)
        sublayers (int, optional): Invariant sublayers per block. (default: ``2``)
        attention (bool, optional): Gated messages. (default: ``True``)
        coords_range (float, optional): Bound :math:`r` of each coordinate update.
            (default: ``15.0``)
        tanh (bool, optional): Use :math:`r\tanh` on coordinate updates. (default: ``True``)
        norm_constant (float, optional): Added to distances when normalising differences.
            (default: ``1.0``)
        class_features (dict, optional): Categorical node field -> registered class-feature
            table, embedded by the encoder. (default: none)
        encoder (str, optional): Registered encoder of the node inputs (attribute ``node_in``);
            it must read positions only through distances. (default: ``"fields"``)
        encoder_options (dict, optional): Options of the encoder. (default: none)

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` nodes, ``B`` graphs,
          ``P`` pairs; positions :math:`(N, D)`
        - **output:** dict: positions :math:`(N, D)`, node fields :math:`(N, C)`, edge field
          :math:`(P, C)`, graph fields :math:`(B, C)`, one entry per key of ``outputs``
    """

    def __init__(self, spec: GraphSpec, outputs: dict[str, int], cond_dim: int = 0,
                 hidden: int = 128, layers: int = 4, *, sublayers: int = 2, attention: bool = True,
                 coords_range: float = 15.0, tanh: bool = True, norm_constant: float = 1.0,
                 class_features: dict[str, str] | None = None, encoder: str = DEFAULT_ENCODER,
                 encoder_options: dict[str, Any] | None = None, **options: Any) -> None:
        name = type(self).__name__
        check_options(name, options, ["hidden", "layers", "sublayers", "attention", "coords_range",
                                      "tanh", "norm_constant", "class_features", "encoder",
                                      "encoder_options"])
        super().__init__(spec, outputs, cond_dim)
        check_outputs(name, spec, self.outputs, {
            FieldKind.TORUS: "use the 'periodic' denoiser for periodic coordinates"})
        positions = spec.of_kind(FieldKind.POSITIONS)
        if len(positions) != 1:
            raise ValueError(f"{name}: needs exactly one positions field, the {spec.name!r} spec "
                             f"has {[f.name for f in positions]}")
        if layers < 1:
            raise ValueError(f"{name}: layers must be >= 1, got {layers}")
        self.hparams = dict(hidden=hidden, layers=layers, sublayers=sublayers, attention=attention,
                            coords_range=coords_range, tanh=tanh, norm_constant=norm_constant)
        self.pos = positions[0]
        self.edge = spec.edge_field
        # pair inputs: the edge field's classes, then the continuous edge fields' values
        self.pair_width = (self.edge.width + sum(f.dim for f in spec.edge_value_fields)
                           if self.edge is not None else 0)
        edge_dim = 1 + self.pair_width
        tables = class_feature_tables(name, spec, class_features)
        if tables:
            self.hparams["class_features"] = dict(class_features)
        self.hparams.update(encoder_hparams(encoder, encoder_options))
        self.node_in = build_encoder(name, spec, hidden, encoder, encoder_options, tables)
        self.context = GraphContext(spec, self.cond_dim, hidden)
        self.ctx_to_h = nn.Linear(hidden, hidden)
        edge_dim += self.node_in.edge_dim
        self.blocks = nn.ModuleList(
            EquivariantBlock(hidden, edge_dim, sublayers, attention, coords_range, tanh,
                             norm_constant, update_coords=i < layers - 1 or self.pos.name in outputs)
            for i in range(layers)
        )
        self.out_heads = nn.ModuleDict()
        for f, width in self.outputs.items():
            level = spec[f].level
            if f == self.pos.name:
                continue
            in_dim = {Level.NODE: hidden, Level.GRAPH: 2 * hidden,
                      Level.EDGE: 2 * hidden + 1 + self.pair_width if self.edge else 0}[level]
            self.out_heads[f] = mlp(in_dim, hidden, width)

    def forward(self, graphs: NoisyGraphs) -> dict[str, Tensor]:
        if self.pos.name not in graphs.inputs:
            raise KeyError(f"{type(self).__name__}: positions field {self.pos.name!r} is missing "
                           f"from the inputs ({sorted(graphs.inputs)})")
        n_nodes, batch = graphs.num_nodes, graphs.batch
        ctx = self.context(graphs)
        h = self.node_in(graphs) + self.ctx_to_h(ctx)[batch]
        x0 = graphs.inputs[self.pos.name].to(h)
        edge_index = fully_connected_edges(graphs.ptr)
        diff0 = x0[edge_index[1]] - x0[edge_index[0]]
        attr = [(diff0 * diff0).sum(-1, keepdim=True)]
        pair_index, pair_in = graphs.pair_index, None
        if self.edge is not None:
            if pair_index is None:
                pair_index = all_pairs(graphs.ptr)[0].to(batch.device)
            if self.edge.name in graphs.inputs:
                pair_in = field_input(self.edge, graphs.inputs[self.edge.name]).to(h)
            else:
                pair_in = h.new_zeros(pair_index.size(1), self.edge.width)
            values = edge_value_inputs(self.spec, graphs.inputs, pair_index.size(1), h)
            if values is not None:
                pair_in = torch.cat([pair_in, values], dim=-1)
            attr.append(pair_values_on_edges(pair_in, pair_index, edge_index, n_nodes))
        if self.node_in.edge_dim:
            attr.append(self.node_in.edge_features(graphs, edge_index).to(h))
        attr = torch.cat(attr, dim=-1)
        x = x0
        for block in self.blocks:
            h, x = block(h, x, edge_index, attr)
        out: dict[str, Tensor] = {}
        for name in self.outputs:
            level = self.spec[name].level
            if name == self.pos.name:
                eps = x - x0
                out[name] = eps - scatter(eps, batch, dim=0, dim_size=graphs.num_graphs,
                                          reduce="mean")[batch]
            elif level is Level.NODE:
                out[name] = self.out_heads[name](h)
            elif level is Level.GRAPH:
                pooled = scatter(h, batch, dim=0, dim_size=graphs.num_graphs, reduce="mean")
                out[name] = self.out_heads[name](torch.cat([pooled, ctx], dim=-1))
            else:
                hi, hj = h[pair_index[0]], h[pair_index[1]]
                d = x[pair_index[0]] - x[pair_index[1]]
                feats = [hi + hj, hi * hj, (d * d).sum(-1, keepdim=True), pair_in]
                out[name] = self.out_heads[name](torch.cat(feats, dim=-1))
        return out
