r"""Encoders: what a denoiser reads of a noisy graph.

An encoder turns a batch of noisy graphs (:class:`~graphdiff.nn.base.NoisyGraphs`: the current
state of every field, the time, the conditions) into the denoiser's input features:

* node features :math:`\mathbf{h}^{(0)} \in \mathbb{R}^{N \times \text{hidden}}`
  (:meth:`Encoder.forward`), where the node stream starts;
* optionally, features of ordered node pairs (:meth:`Encoder.edge_features`, ``edge_dim``
  columns), which a denoiser appends to its own edge inputs (``edge_dim = 0``: none).

The built-in denoisers take theirs by name from the ``encoders`` registry (``[model] encoder``
and ``encoder_options`` in a run config; the default is ``fields``) and add their graph context
(time, conditions, graph-level fields; :class:`~graphdiff.nn.embeddings.GraphContext`) to the
node features. Their own geometry (the periodic denoiser's Fourier features of fractional
differences, the EGNN's squared distances, the graph transformer's pair inputs) is part of the
architecture and stays; an encoder's edge features come on top.

======================  ============================  ============================================
registered name         class                         features
======================  ============================  ============================================
``fields``              :class:`FieldEncoder`         a linear embedding of each categorical and
                                                      continuous node field (atom types, signals)
``positional``          :class:`PositionalEncoder`    ``fields`` plus the degree and random-walk
                                                      return probabilities of the noisy edge field
``distances``           :class:`DistanceEncoder`      ``fields`` plus a Gaussian radial basis of
                                                      the distance between the two nodes of each
                                                      edge
======================  ============================  ============================================

Symmetry contract: node features permute with the nodes and edge features with the pairs; an
encoder used with ``egnn`` must not read absolute positions (only distances), and one used with
``periodic`` must not read absolute fractional coordinates (only wrapped differences), so that
the denoiser keeps the invariances its tests prove.

A new encoder subclasses :class:`Encoder` (or :class:`FieldEncoder`, to keep the field
embedding), takes ``(spec, hidden, **options)`` (plus ``class_features``, a dict of tables, when
the denoiser's ``class_features`` option is set) and is registered with ``register_encoders``.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from graphdiff.graph import FieldKind, GraphSpec, Level
from graphdiff.nn.base import NoisyGraphs
from graphdiff.nn.embeddings import NodeFieldEmbedding, check_options, field_input

__all__ = ["Encoder", "FieldEncoder", "PositionalEncoder", "DistanceEncoder", "build_encoder",
           "encoder_hparams", "dense_pair_features", "DEFAULT_ENCODER", "BUILTIN_ENCODERS"]

#: The encoder a built-in denoiser uses when none is named.
DEFAULT_ENCODER = "fields"


class Encoder(nn.Module):
    r"""Base class of registered encoders.

    Subclasses are built as ``cls(spec, hidden, **options)`` and implement :meth:`forward`; one
    that describes node pairs sets :attr:`edge_dim` and implements :meth:`edge_features`.

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` nodes, ``B`` graphs
        - **output:** :math:`(N, \text{hidden})`
    """

    #: width of :meth:`edge_features` (0: the encoder describes nodes only)
    edge_dim: int = 0

    def forward(self, graphs: NoisyGraphs) -> Tensor:  # pragma: no cover - abstract
        """Node input features ``[N, hidden]``."""
        raise NotImplementedError

    def edge_features(self, graphs: NoisyGraphs, edge_index: Tensor) -> Tensor:
        """Features ``[E, edge_dim]`` of the ordered pairs ``edge_index`` ``[2, E]`` (row 0 the
        source ``j``, row 1 the target ``i``, global node ids, as
        :func:`~graphdiff.nn.embeddings.fully_connected_edges` gives them)."""
        return graphs.batch.new_zeros(edge_index.size(1), 0, dtype=torch.float32)


class FieldEncoder(NodeFieldEmbedding, Encoder):
    r"""The default encoder: a linear embedding of each node field.

    .. math::
        \mathbf{h}_i = \mathbf{b} + \sum_f \mathbf{W}_f \mathbf{x}_{i,f}
        + \sum_{f \in \text{tables}} \mathbf{V}_f \boldsymbol\Phi_f^\top \mathbf{x}_{i,f}

    over the categorical and continuous node fields in ``graphs.inputs`` (a one-hot class makes
    :math:`\mathbf{W}_f \mathbf{x}_{i,f}` an embedding lookup, class probabilities its
    expectation); see :class:`~graphdiff.nn.embeddings.NodeFieldEmbedding`, whose parameters
    (and state-dict keys) it has. Torus and positions fields are not embedded: their absolute
    values carry no invariant information.

    Args:
        spec (GraphSpec): The graphs' fields.
        hidden (int): Output width.
        class_features (dict, optional): Categorical node field -> class-feature table
            :math:`(C, d)`. (default: none)

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` nodes
        - **output:** :math:`(N, \text{hidden})`
    """

    def __init__(self, spec: GraphSpec, hidden: int, *, class_features: Mapping[str, Tensor] | None = None,
                 **options: Any) -> None:
        check_options(type(self).__name__, options, self._option_names())
        super().__init__(spec, hidden, class_features=class_features)
        self.hidden = int(hidden)

    @classmethod
    def _option_names(cls) -> list[str]:
        return ["class_features"]

    def embed(self, inputs: Mapping[str, Tensor], num_nodes: int) -> Tensor:
        """The field embedding of a dict of inputs (``field -> [num_nodes, width]``)."""
        return NodeFieldEmbedding.forward(self, inputs, num_nodes)

    def forward(self, graphs: NoisyGraphs) -> Tensor:  # type: ignore[override]
        return self.embed(graphs.inputs, graphs.num_nodes)


def _edge_field(owner: str, spec: GraphSpec) -> Any:
    edge = spec.edge_field
    if edge is None:
        raise ValueError(f"{owner}: needs an edge field; the {spec.name!r} spec has none")
    return edge


def _dense_adjacency(graphs: NoisyGraphs, edge: Any, like: Tensor) -> tuple[Tensor, Tensor]:
    """``(A, local)``: the expected adjacency ``[B, n, n]`` of the noisy edge field (the
    probability mass on the edge classes, ``1 − p(class 0)``; zeros where the field is not in
    the inputs) and each node's index inside its graph ``[N]``."""
    b = graphs.num_graphs
    sizes = graphs.ptr[1:] - graphs.ptr[:-1]
    n = int(sizes.max()) if sizes.numel() else 0
    local = torch.arange(graphs.num_nodes, device=graphs.batch.device) - graphs.ptr[graphs.batch]
    adj = like.new_zeros(b, n, n)
    if edge.name in graphs.inputs and graphs.pair_index is not None and graphs.pair_index.numel():
        mass = field_input(edge, graphs.inputs[edge.name]).to(like)[:, 1:].sum(-1)
        i, j = graphs.pair_index
        owner = graphs.batch[i]
        adj[owner, local[i], local[j]] = mass
        adj[owner, local[j], local[i]] = mass
    return adj, local


class PositionalEncoder(FieldEncoder):
    r"""``fields`` plus structural positional encodings of plain graphs.

    From the expected adjacency of the noisy edge field, :math:`a_{ij} = 1 - p_{ij}(\text{no
    edge})`, with degrees :math:`d_i = \sum_j a_{ij}` and the random-walk matrix
    :math:`\mathbf{M} = \mathbf{D}^{-1}\mathbf{A}` (a row of zeros for an isolated node):

    .. math::
        \mathbf{h}_i = \mathrm{FieldEncoder}(\mathbf{x})_i + \mathbf{W}_p
        \big[\log(1 + d_i),\; (\mathbf{M}^2)_{ii}, \dots, (\mathbf{M}^{K+1})_{ii}\big]

    the log-degree and the probabilities that a random walk from :math:`i` is back after
    :math:`2 \dots K+1` steps (random-walk positional encodings, Dwivedi et al. 2022): they tell
    nodes apart by their place in the graph (a leaf, a hub, a node on a short cycle), with no
    sign or basis ambiguity, so they are exactly permutation-equivariant. Computed densely per
    graph, :math:`O(K n^3)`.

    Args:
        spec (GraphSpec): The graphs' fields (with an edge field).
        hidden (int): Output width.
        walk_steps (int, optional): :math:`K`. (default: ``8``)
        class_features (dict, optional): As :class:`FieldEncoder`.

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` nodes
        - **output:** :math:`(N, \text{hidden})`
    """

    def __init__(self, spec: GraphSpec, hidden: int, *, walk_steps: int = 8,
                 class_features: Mapping[str, Tensor] | None = None, **options: Any) -> None:
        super().__init__(spec, hidden, class_features=class_features, **options)
        self.edge = _edge_field(type(self).__name__, spec)
        if isinstance(walk_steps, bool) or int(walk_steps) != walk_steps or walk_steps < 1:
            raise ValueError(f"{type(self).__name__}: walk_steps must be an integer >= 1, got {walk_steps!r}")
        self.walk_steps = int(walk_steps)
        self.walk_in = nn.Linear(self.walk_steps + 1, hidden, bias=False)

    @classmethod
    def _option_names(cls) -> list[str]:
        return ["class_features", "walk_steps"]

    def walk_features(self, graphs: NoisyGraphs) -> Tensor:
        """``[N, K + 1]``: ``log(1 + degree)`` and the return probabilities."""
        like = self.walk_in.weight
        adj, local = _dense_adjacency(graphs, self.edge, like)
        degree = adj.sum(-1)                                               # [B, n]
        walk = adj / degree.clamp_min(1e-12).unsqueeze(-1)
        cols = [torch.log1p(degree)]
        power = walk
        for _ in range(self.walk_steps):
            power = power @ walk
            cols.append(torch.diagonal(power, dim1=-2, dim2=-1))
        feats = torch.stack(cols, dim=-1)                                  # [B, n, K + 1]
        return feats[graphs.batch, local]

    def forward(self, graphs: NoisyGraphs) -> Tensor:  # type: ignore[override]
        return super().forward(graphs) + self.walk_in(self.walk_features(graphs))


class DistanceEncoder(FieldEncoder):
    r"""``fields`` plus a radial basis of pair distances, as edge features.

    For an edge :math:`j \to i` and the current (noisy) values :math:`\mathbf{x}` of one node
    field (Cartesian positions, or a continuous node field such as 2-D coordinates), on the
    field's normalised scale:

    .. math::
        \mathbf{e}_{ij} = \big[\exp\!\big(-\tfrac12 (r_{ij} - \mu_k)^2 / \varsigma^2\big)
        \big]_{k=1..K}, \qquad r_{ij} = \lVert \mathbf{x}_i - \mathbf{x}_j \rVert

    with :math:`\mu_k` evenly spaced on :math:`[0, r_{max}]` and :math:`\varsigma = r_{max} /
    (K - 1)`. Distances are invariant to rotations, reflections and translations, so the EGNN
    stays E(n)-equivariant; the graph transformer receives them on its pair stream. The node
    features are those of :class:`FieldEncoder`.

    Args:
        spec (GraphSpec): The graphs' fields.
        hidden (int): Output width of the node features.
        field (str, optional): The node field whose distances are expanded (positions or
            continuous). (default: the positions field, else the only continuous node field)
        num_basis (int, optional): :math:`K` (``>= 2``). (default: ``16``)
        max_distance (float, optional): :math:`r_{max}`, in the field's normalised units (the
            data scaled to unit spread). (default: ``3.0``)
        class_features (dict, optional): As :class:`FieldEncoder`.

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs`, ``edge_index`` :math:`(2, E)`
        - **output:** node features :math:`(N, \text{hidden})`; edge features :math:`(E, K)`
    """

    def __init__(self, spec: GraphSpec, hidden: int, *, field: str | None = None, num_basis: int = 16,
                 max_distance: float = 3.0, class_features: Mapping[str, Tensor] | None = None,
                 **options: Any) -> None:
        super().__init__(spec, hidden, class_features=class_features, **options)
        name = type(self).__name__
        kinds = (FieldKind.POSITIONS, FieldKind.CONTINUOUS)
        choices = [f.name for f in spec.at_level(Level.NODE) if f.kind in kinds]
        if field is None:
            positions = [f.name for f in spec.of_kind(FieldKind.POSITIONS)]
            field = positions[0] if len(positions) == 1 else choices[0] if len(choices) == 1 else None
            if field is None:
                raise ValueError(f"{name}: name the node field whose distances to expand (field = ...): "
                                 f"{', '.join(choices) or f'the {spec.name!r} spec has none'}")
        if field not in choices:
            raise ValueError(f"{name}: field must name a positions or continuous node field of "
                             f"{spec.name!r} ({', '.join(choices) or 'it has none'}), got {field!r}")
        if isinstance(num_basis, bool) or int(num_basis) != num_basis or num_basis < 2:
            raise ValueError(f"{name}: num_basis must be an integer >= 2, got {num_basis!r}")
        if not float(max_distance) > 0:
            raise ValueError(f"{name}: max_distance must be > 0, got {max_distance!r}")
        self.field = spec[field]
        self.edge_dim = int(num_basis)
        self.max_distance = float(max_distance)
        self.register_buffer("centers", torch.linspace(0.0, self.max_distance, self.edge_dim), persistent=False)

    @classmethod
    def _option_names(cls) -> list[str]:
        return ["class_features", "field", "num_basis", "max_distance"]

    def edge_features(self, graphs: NoisyGraphs, edge_index: Tensor) -> Tensor:
        like = self.bias
        if self.field.name not in graphs.inputs:
            return like.new_zeros(edge_index.size(1), self.edge_dim)
        x = field_input(self.field, graphs.inputs[self.field.name]).to(like)
        src, dst = edge_index
        diff = x[dst] - x[src]
        r = torch.sqrt((diff * diff).sum(-1, keepdim=True) + 1e-12)       # smooth at r = 0
        width = self.max_distance / (self.edge_dim - 1)
        return torch.exp(-0.5 * ((r - self.centers.to(like)) / width) ** 2)


#: Registered name -> encoder class, registered by :mod:`graphdiff.builtins`.
BUILTIN_ENCODERS: dict[str, type[Encoder]] = {
    "fields": FieldEncoder,
    "positional": PositionalEncoder,
    "distances": DistanceEncoder,
}


def build_encoder(owner: str, spec: GraphSpec, hidden: int, name: str = DEFAULT_ENCODER,
                  options: Mapping[str, Any] | None = None,
                  class_features: Mapping[str, Tensor] | None = None) -> Encoder:
    """The registered encoder ``name`` built for a denoiser (``owner`` names it in errors).

    ``class_features`` (resolved tables) is passed only when there are any.

    Raises
    ------
    UnknownNameError
        For an unknown name, listing the registered encoders.
    TypeError, ValueError
        When the registered object is not an :class:`Encoder` subclass or refuses its options;
        the message names the denoiser and the encoder.
    """
    from graphdiff.plugins import get_manager

    cls = get_manager().get("encoders", name)
    if not (isinstance(cls, type) and issubclass(cls, Encoder)):
        raise TypeError(f"{owner}: encoder {name!r} is {cls!r}, not a subclass of "
                        "graphdiff.nn.encoders.Encoder")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"{owner}: encoder_options must be a table of options, got {options!r}")
    kwargs = dict(options or {})
    if class_features:
        kwargs["class_features"] = class_features
    try:
        encoder = cls(spec, hidden, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{owner}: encoder {name!r}: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{owner}: encoder {name!r}: {exc}") from exc
    if int(getattr(encoder, "edge_dim", 0)) < 0:
        raise ValueError(f"{owner}: encoder {name!r} has a negative edge_dim")
    return encoder


def encoder_hparams(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a denoiser records of its encoder in ``hparams`` (nothing for the default)."""
    out: dict[str, Any] = {}
    if name != DEFAULT_ENCODER:
        out["encoder"] = name
    if options:
        out["encoder_options"] = dict(options)
    return out


def dense_pair_features(encoder: Encoder, graphs: NoisyGraphs, num_graphs: int, n: int,
                        edge_index: Tensor, like: Tensor) -> Tensor:
    """An encoder's edge features on the ordered pairs ``edge_index`` (inside each graph) laid
    out densely, ``[B, n, n, edge_dim]``: entry ``[b, i, j]`` describes the edge ``j -> i``."""
    feats = encoder.edge_features(graphs, edge_index).to(like)
    dense = like.new_zeros(num_graphs, n, n, feats.size(-1))
    if edge_index.numel():
        src, dst = edge_index
        owner = graphs.batch[dst]
        start = graphs.ptr[owner]
        dense[owner, dst - start, src - start] = feats
    return dense
