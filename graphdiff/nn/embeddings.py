r"""Building blocks shared by the denoisers: time, condition and field embeddings, plus the
graph plumbing (fully connected edges, pair values on edges) they all need.

Time embedding
    :math:`\mathbf{e}_t = \mathrm{MLP}\big([\sin(s t \omega_k), \cos(s t \omega_k)]_k\big)` with
    :math:`\omega_k = 10000^{-k/(F/2)}` and :math:`s = 1000` so that :math:`t \in [0, 1]` spans
    the range of DDPM's integer steps.

Condition embedding (classifier-free guidance)
    Column :math:`k` of ``cond`` becomes :math:`c_k \mathbf{w}_k + \mathbf{b}_k` where the
    condition is given and a learned null vector :math:`\varnothing_k` where ``cond_mask`` is
    ``False``; the ``K`` vectors are concatenated and passed through an MLP. A masked value never
    reaches the arithmetic (it is zeroed first), so NaN placeholders are safe.

Graph context
    :math:`\mathbf{c}_b = \mathrm{MLP}([\mathbf{e}_t, \mathbf{e}_{cond}, \mathbf{g}_b,
    \log(1 + n_b)]) + \sum_{f \in \text{given}} \mathbf{u}_f` where :math:`\mathbf{g}_b` holds the
    graph-level fields (continuous values, categorical probabilities) and :math:`\mathbf{u}_f` is
    a learned flag telling the network that field ``f`` is clean context.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level

__all__ = [
    "TimeEmbedding",
    "ConditionEmbedding",
    "NodeFieldEmbedding",
    "GraphContext",
    "mlp",
    "field_input",
    "graph_field_features",
    "fully_connected_edges",
    "pair_values_on_edges",
    "edge_value_inputs",
    "check_options",
    "check_outputs",
    "class_feature_tables",
]


def mlp(in_dim: int, hidden: int, out_dim: int, act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """``Linear(in, hidden) -> act -> Linear(hidden, out)``."""
    return nn.Sequential(nn.Linear(in_dim, hidden), act(), nn.Linear(hidden, out_dim))


def check_options(owner: str, options: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Raise ``TypeError`` naming unknown constructor options and listing the valid ones."""
    if options:
        raise TypeError(
            f"{owner}: unknown option(s) {sorted(options)}; valid options: {sorted(valid)}"
        )


def check_outputs(owner: str, spec: GraphSpec, outputs: Mapping[str, int],
                  unsupported: Mapping[FieldKind, str] | None = None) -> None:
    """Check output widths against the spec and refuse field kinds a model cannot honour.

    Raises
    ------
    ValueError
        Naming the field: a width that is not ``spec[name].width``, no outputs at all, or a
        field whose kind is in ``unsupported`` (the message says which model to use instead).
    """
    if not outputs:
        raise ValueError(f"{owner}: no outputs requested")
    for name, width in outputs.items():
        f = spec[name]
        if int(width) != f.width:
            raise ValueError(f"{owner}: output {name!r} has width {width}, but the spec says "
                             f"{f.width} ({f.kind.value}@{f.level.value})")
    for f in spec.fields:
        if unsupported and f.kind in unsupported:
            raise ValueError(f"{owner}: field {f.name!r} is a {f.kind.value} field; "
                             f"{unsupported[f.kind]}")


def field_input(f: FieldSpec, value: Tensor) -> Tensor:
    """A field's model input as a float matrix: class ids (``long [n]``) become one-hot
    ``[n, C]``; float inputs pass through (``[n, width]``)."""
    if f.kind is FieldKind.CATEGORICAL and not value.is_floating_point():
        return F.one_hot(value.reshape(-1).long(), f.num_classes).float()
    return value.reshape(value.shape[0], -1) if value.dim() != 2 else value


def edge_value_inputs(spec: GraphSpec, inputs: Mapping[str, Tensor], num_pairs: int,
                      like: Tensor) -> Tensor | None:
    """The continuous edge fields' pair inputs, concatenated in spec order: ``[P, sum of dims]``
    (zeros for a field absent from ``inputs``), or ``None`` when the spec has none. A denoiser
    reads them beside the categorical edge field's pair input; each pair ``i < j`` holds one
    value, so the inputs are symmetric in the pair. ``like`` gives dtype and device."""
    fields = spec.edge_value_fields
    if not fields:
        return None
    parts = [field_input(f, inputs[f.name]).to(like) if f.name in inputs else like.new_zeros(num_pairs, f.dim)
             for f in fields]
    return torch.cat(parts, dim=-1)


def graph_field_features(spec: GraphSpec, inputs: Mapping[str, Tensor], num_graphs: int,
                         like: Tensor) -> Tensor:
    """Concatenated graph-level fields present in ``inputs``: ``[B, sum of widths]`` (``[B, 0]``
    when there are none). ``like`` gives dtype and device."""
    parts = [field_input(f, inputs[f.name]).to(like) for f in spec.at_level(Level.GRAPH)
             if f.name in inputs]
    if not parts:
        return like.new_zeros(num_graphs, 0)
    return torch.cat(parts, dim=-1)


class TimeEmbedding(nn.Module):
    r"""Sinusoidal embedding of the diffusion time followed by an MLP.

    Args:
        hidden (int): Output width.
        freq_dim (int, optional): Number of sinusoidal features (even). (default: ``hidden``)
        scale (float, optional): :math:`s`, multiplies ``t`` before the sinusoids.
            (default: ``1000.0``)

    Shapes:
        - **input:** ``t`` :math:`(B)`, or a scalar broadcast to ``num_graphs``
        - **output:** :math:`(B, \text{hidden})`
    """

    def __init__(self, hidden: int, freq_dim: int | None = None, scale: float = 1000.0) -> None:
        super().__init__()
        self.freq_dim = 2 * ((freq_dim or hidden) // 2)
        self.scale = float(scale)
        self.mlp = mlp(self.freq_dim, hidden, hidden)

    def forward(self, t: Tensor, num_graphs: int | None = None) -> Tensor:
        t = torch.as_tensor(t).reshape(-1)
        if num_graphs is not None and t.numel() == 1:
            t = t.expand(num_graphs)
        dtype = self.mlp[0].weight.dtype
        half = self.freq_dim // 2
        k = torch.arange(half, device=t.device, dtype=dtype)
        freqs = torch.exp(-math.log(10000.0) * k / max(half, 1))
        arg = self.scale * t.to(dtype)[:, None] * freqs[None, :]
        return self.mlp(torch.cat([arg.sin(), arg.cos()], dim=-1))


class ConditionEmbedding(nn.Module):
    r"""Graph-level conditions with a learned null embedding per column.

    .. math::
        \mathbf{e}_k = \begin{cases} c_k \mathbf{w}_k + \mathbf{b}_k & m_k \\
        \varnothing_k & \lnot m_k \end{cases}, \qquad
        \mathbf{e}_{cond} = \mathrm{MLP}([\mathbf{e}_1, \dots, \mathbf{e}_K])

    Args:
        cond_dim (int): :math:`K`, number of condition columns (``>= 1``).
        hidden (int): Output width.

    Shapes:
        - **input:** ``cond`` :math:`(B, K)` or ``None`` (all masked),
          ``cond_mask`` :math:`(B, K)` bool or ``None`` (all given when ``cond`` is given)
        - **output:** :math:`(B, \text{hidden})`
    """

    def __init__(self, cond_dim: int, hidden: int) -> None:
        super().__init__()
        if cond_dim < 1:
            raise ValueError(f"ConditionEmbedding needs cond_dim >= 1, got {cond_dim}")
        self.cond_dim = cond_dim
        self.weight = nn.Parameter(torch.randn(cond_dim, hidden))
        self.bias = nn.Parameter(torch.zeros(cond_dim, hidden))
        self.null = nn.Parameter(torch.randn(cond_dim, hidden))
        self.mlp = mlp(cond_dim * hidden, hidden, hidden)

    def forward(self, cond: Tensor | None, cond_mask: Tensor | None, num_graphs: int) -> Tensor:
        k, dtype, device = self.cond_dim, self.weight.dtype, self.weight.device
        if cond is None:
            cond = torch.zeros(num_graphs, k, dtype=dtype, device=device)
            cond_mask = torch.zeros(num_graphs, k, dtype=torch.bool, device=device)
        cond = cond.to(dtype).reshape(num_graphs, k)
        if cond_mask is None:
            cond_mask = torch.ones_like(cond, dtype=torch.bool)
        mask = cond_mask.to(torch.bool).reshape(num_graphs, k)
        value = torch.where(mask, cond, torch.zeros_like(cond))  # masked values never used
        emb = value[..., None] * self.weight + self.bias
        emb = torch.where(mask[..., None], emb, self.null.expand_as(emb))
        return self.mlp(emb.flatten(1))


def class_feature_tables(owner: str, spec: GraphSpec, names: Mapping[str, str] | None
                         ) -> dict[str, Tensor]:
    """Resolve a denoiser's ``class_features`` option: categorical node field -> the name of a
    registered feature table (``graphdiff features``; e.g. ``elements`` from the crystals
    plugin), returned as ``{field: float [C, d]}``.

    Raises
    ------
    ValueError
        Naming the field or table: not a categorical node field of ``spec``, an unknown table
        (the registry lists the valid ones), or a table of the wrong shape or with non-finite
        values.
    """
    if not names:
        return {}
    if not isinstance(names, Mapping):
        raise ValueError(f"{owner}: class_features must map field names to feature-table names, "
                         f"e.g. {{atom_types = \"elements\"}}; got {names!r}")
    from graphdiff.plugins import get_manager

    tables: dict[str, Tensor] = {}
    for field, table in names.items():
        f = next((x for x in spec.fields if x.name == field), None)
        if f is None or f.kind is not FieldKind.CATEGORICAL or f.level is not Level.NODE:
            choices = [x.name for x in spec.fields
                       if x.kind is FieldKind.CATEGORICAL and x.level is Level.NODE]
            raise ValueError(f"{owner}: class_features: {field!r} is not a categorical node field of "
                             f"{spec.name!r} ({', '.join(choices) or 'it has none'})")
        make = get_manager().get("features", str(table))
        value = torch.as_tensor(make(f), dtype=torch.float32)
        if value.dim() != 2 or value.size(0) != f.num_classes or value.size(1) < 1:
            raise ValueError(f"{owner}: feature table {table!r} for {field!r} has shape "
                             f"{tuple(value.shape)}, expected ({f.num_classes}, d)")
        if not torch.isfinite(value).all():
            raise ValueError(f"{owner}: feature table {table!r} for {field!r} has non-finite values")
        tables[field] = value
    return tables


class NodeFieldEmbedding(nn.Module):
    r"""Sum of linear embeddings of the node-level fields of the chosen kinds.

    .. math::
        \mathbf{h}_i = \mathbf{b} + \sum_f \mathbf{W}_f \mathbf{x}_{i,f}
        + \sum_{f \in \text{tables}} \mathbf{V}_f \boldsymbol\Phi_f^\top \mathbf{x}_{i,f}

    A categorical field's one-hot (or probability) input makes :math:`\mathbf{W}_f
    \mathbf{x}_{i,f}` an embedding lookup (or its expectation). A categorical field with a
    *class-feature table* :math:`\boldsymbol\Phi_f` (``[C, d]``, fixed descriptors of each
    class, e.g. an element's electronegativity, radius, group and period) also embeds the
    descriptors of its class (or their expectation): classes rare in the training data then
    share what the network learnt about classes with similar descriptors. Tables are stored
    with the weights (buffers), so a saved model keeps the table it was trained with. Fields
    absent from ``inputs`` contribute nothing.

    Args:
        spec (GraphSpec): The graphs' fields.
        hidden (int): Output width.
        kinds (iterable of FieldKind): Node field kinds to embed.
            (default: categorical and continuous)
        class_features (dict, optional): Categorical node field name -> its table
            :math:`(C, d)` (see :func:`class_feature_tables`). (default: none)

    Shapes:
        - **input:** ``inputs`` dict of :math:`(N, \text{width}_f)`, ``num_nodes`` :math:`N`
        - **output:** :math:`(N, \text{hidden})`
    """

    def __init__(self, spec: GraphSpec, hidden: int,
                 kinds: Iterable[FieldKind] = (FieldKind.CATEGORICAL, FieldKind.CONTINUOUS),
                 class_features: Mapping[str, Tensor] | None = None) -> None:
        super().__init__()
        kinds = set(kinds)
        self.fields = [f for f in spec.at_level(Level.NODE) if f.kind in kinds]
        self.proj = nn.ModuleDict({f.name: nn.Linear(f.width, hidden, bias=False)
                                   for f in self.fields})
        self.bias = nn.Parameter(torch.zeros(hidden))
        tables = dict(class_features or {})
        unknown = sorted(set(tables) - {f.name for f in self.fields if f.kind is FieldKind.CATEGORICAL})
        if unknown:
            raise ValueError(f"NodeFieldEmbedding: class features for {unknown}, which are not "
                             "embedded categorical node fields")
        self.feature_fields = sorted(tables)
        self.feature_proj = nn.ModuleDict()
        for name in self.feature_fields:
            table = torch.as_tensor(tables[name], dtype=torch.float32)
            self.register_buffer(f"table_{name}", table)
            self.feature_proj[name] = nn.Linear(table.size(1), hidden, bias=False)

    def forward(self, inputs: Mapping[str, Tensor], num_nodes: int) -> Tensor:
        h = self.bias.expand(num_nodes, -1)
        for f in self.fields:
            if f.name in inputs:
                x = field_input(f, inputs[f.name]).to(self.bias.dtype)
                h = h + self.proj[f.name](x)
                if f.name in self.feature_proj:
                    table = getattr(self, f"table_{f.name}").to(x)
                    h = h + self.feature_proj[f.name](x @ table)
        return h


class GraphContext(nn.Module):
    r"""Per-graph context vector: time, conditions, graph-level fields, size and given-flags.

    .. math::
        \mathbf{c}_b = \mathrm{MLP}([\mathbf{e}_t, \mathbf{e}_{cond}, \mathbf{g}_b,
        \log(1 + n_b)]) + \sum_{f \in \text{given}} \mathbf{u}_f

    Args:
        spec (GraphSpec): The graphs' fields.
        cond_dim (int): Number of condition columns (0: no condition embedding).
        hidden (int): Output width.

    Shapes:
        - **input:** a :class:`~graphdiff.nn.base.NoisyGraphs` with ``B`` graphs
        - **output:** :math:`(B, \text{hidden})`
    """

    def __init__(self, spec: GraphSpec, cond_dim: int, hidden: int) -> None:
        super().__init__()
        self.spec = spec
        self.time = TimeEmbedding(hidden)
        self.cond = ConditionEmbedding(cond_dim, hidden) if cond_dim > 0 else None
        self.graph_width = sum(f.width for f in spec.at_level(Level.GRAPH))
        in_dim = hidden * (2 if self.cond is not None else 1) + self.graph_width + 1
        self.mlp = mlp(in_dim, hidden, hidden)
        self.given = nn.Parameter(0.1 * torch.randn(len(spec.fields), hidden))

    def adopt_unconditional(self, state: dict[str, Tensor], prefix: str) -> None:
        """Make ``state``, which holds an unconditional context's weights under ``prefix``, fit
        this conditioned one: the condition embedding keeps this module's own (new) weights and
        the columns of the MLP's first layer that read it start at zero, so the context computes
        what the unconditional one did, whatever the condition."""
        own = self.state_dict()
        for key, value in own.items():
            if key.startswith("cond."):
                state[prefix + key] = value.clone()
        key, width = prefix + "mlp.0.weight", self.mlp[0].out_features
        old = state[key]
        grown = old.new_zeros(own["mlp.0.weight"].shape)
        grown[:, :width] = old[:, :width]  # the time embedding
        grown[:, 2 * width:] = old[:, width:]  # graph-level fields and the size
        state[key] = grown

    def forward(self, graphs: Any) -> Tensor:
        b = graphs.num_graphs
        parts = [self.time(graphs.t, b)]
        like = parts[0]
        if self.cond is not None:
            parts.append(self.cond(graphs.cond, graphs.cond_mask, b))
        g = graph_field_features(self.spec, graphs.inputs, b, like)
        if g.size(1) != self.graph_width:  # a graph field missing from inputs: zeros
            g = like.new_zeros(b, self.graph_width)
        sizes = (graphs.ptr[1:] - graphs.ptr[:-1]).to(like)
        parts += [g, torch.log1p(sizes)[:, None]]
        flags = like.new_tensor([float(f.name in graphs.given) for f in self.spec.fields])
        return self.mlp(torch.cat(parts, dim=-1)) + (flags @ self.given)[None, :]


def fully_connected_edges(ptr: Tensor, self_loops: bool = False) -> Tensor:
    """All ordered node pairs inside each graph, in PyG order (row 0 source ``j``, row 1 target
    ``i``; messages flow ``j -> i`` and aggregate at row 1).

    Shapes:
        - **input:** ``ptr`` :math:`(B + 1)`
        - **output:** :math:`(2, E)` with :math:`E = \\sum_b n_b^2` (minus ``N`` without self
          loops)
    """
    sizes = ptr[1:] - ptr[:-1]
    n_nodes = int(ptr[-1])
    node = torch.arange(n_nodes, device=ptr.device)
    owner = torch.repeat_interleave(torch.arange(sizes.numel(), device=ptr.device), sizes)
    per_node = sizes[owner]
    target = torch.repeat_interleave(node, per_node)
    first = torch.cumsum(per_node, 0) - per_node
    offset = torch.arange(target.numel(), device=ptr.device) - first[target]
    source = ptr[owner[target]] + offset
    if not self_loops:
        keep = source != target
        source, target = source[keep], target[keep]
    return torch.stack([source, target])


def pair_values_on_edges(values: Tensor, pair_index: Tensor, edge_index: Tensor,
                         num_nodes: int) -> Tensor:
    """Copy per-pair values (unordered pairs ``i < j``) onto ordered edges in either direction.

    Edges whose pair is not in ``pair_index`` (self loops) get zeros.

    Shapes:
        - **input:** ``values`` :math:`(P, C)`, ``pair_index`` :math:`(2, P)`,
          ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(E, C)`
    """
    out = values.new_zeros(edge_index.size(1), values.size(1))
    if values.size(0) == 0 or edge_index.size(1) == 0:
        return out
    lo, hi = pair_index.min(0).values, pair_index.max(0).values
    keys = lo * num_nodes + hi
    order = torch.argsort(keys)
    sorted_keys = keys[order]
    elo, ehi = edge_index.min(0).values, edge_index.max(0).values
    ekeys = elo * num_nodes + ehi
    pos = torch.searchsorted(sorted_keys, ekeys).clamp(max=sorted_keys.numel() - 1)
    found = (sorted_keys[pos] == ekeys) & (elo != ehi)
    out[found] = values[order[pos[found]]]
    return out
