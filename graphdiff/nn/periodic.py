r"""Periodic denoiser for crystals, after DiffCSP's CSPNet (Jiao et al. 2023).

Atoms exchange messages over the fully connected graph of their crystal, seeing each other only
through Fourier features of fractional-coordinate differences, which are blind to the choice of
periodic replica and to a common shift of the whole crystal. The lattice is a graph-level field
stored in an O(3)-invariant form, so it enters as a plain invariant feature.

For large cells the fully connected graph (cost :math:`n^2` per crystal) can be replaced by a
radius graph under periodic boundaries (``cutoff``, in Å): see :class:`PeriodicDenoiser` and
:func:`periodic_radius_graph` (neighbour search with the optional dependency ``vesin``, the
extra ``graphdiff[periodic]``). The radius graph needs lattice matrices; it reads them from the
lattice field through the :class:`~graphdiff.lattices.LatticeCodec` a plugin registers.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from graphdiff.graph import FieldKind, GraphSpec, Level
from graphdiff.lattices import lattice_codec
from graphdiff.nn.base import Denoiser, NoisyGraphs, all_pairs
from graphdiff.nn.embeddings import (
    GraphContext,
    check_options,
    class_feature_tables,
    check_outputs,
    field_input,
    fully_connected_edges,
    edge_value_inputs,
    graph_field_features,
    mlp,
    pair_values_on_edges,
)
from graphdiff.nn.encoders import DEFAULT_ENCODER, build_encoder, encoder_hparams

__all__ = ["FractionalFourierFeatures", "PeriodicLayer", "PeriodicDenoiser", "periodic_radius_graph"]


class FractionalFourierFeatures(nn.Module):
    r"""Fourier features of fractional-coordinate differences.

    .. math::
        \psi(\boldsymbol\delta) = \big[\sin(2\pi k \delta_a), \cos(2\pi k \delta_a)
        \big]_{a = 1..D,\; k = 1..K}

    Every feature has period 1 in each :math:`\delta_a`, so :math:`\psi(\mathbf{f}_j -
    \mathbf{f}_i)` does not change when an atom moves to another periodic replica
    (:math:`\mathbf{f}_j + \mathbf{n}`, :math:`\mathbf{n} \in \mathbb{Z}^D`) or when all atoms
    shift together, wrapped or not.

    Args:
        num_freqs (int): :math:`K`.

    Shapes:
        - **input:** :math:`(E, D)`
        - **output:** :math:`(E, 2 K D)`
    """

    def __init__(self, num_freqs: int) -> None:
        super().__init__()
        if num_freqs < 1:
            raise ValueError(f"num_freqs must be >= 1, got {num_freqs}")
        self.num_freqs = num_freqs

    def forward(self, delta: Tensor) -> Tensor:
        k = torch.arange(1, self.num_freqs + 1, device=delta.device, dtype=delta.dtype)
        arg = 2 * math.pi * delta[..., None] * k                           # [E, D, K]
        return torch.cat([arg.sin(), arg.cos()], dim=-1).flatten(-2)

    def even(self, delta: Tensor) -> Tensor:
        r"""The cosine half, :math:`[\cos(2\pi k \delta_a)]`, even in :math:`\boldsymbol\delta`:
        ``[E, D] -> [E, K D]``."""
        k = torch.arange(1, self.num_freqs + 1, device=delta.device, dtype=delta.dtype)
        return torch.cos(2 * math.pi * delta[..., None] * k).flatten(-2)


def _import_vesin() -> Any:
    try:
        import vesin
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the radius-graph mode of the periodic denoiser (model.options.cutoff) needs the "
            "neighbour-list library vesin: pip install \"graphdiff[periodic]\" (or pip install vesin)") from exc
    return vesin


#: With ``max_neighbors`` set, the search radius of a crystal shrinks below ``cutoff`` only
#: when the mean atom density predicts more than this many times ``max_neighbors`` neighbours
#: per atom (a tiny, noisy lattice); see :func:`periodic_radius_graph`.
DENSITY_GUARD = 8


@torch.no_grad()
def periodic_radius_graph(frac: Tensor, lattice: Tensor, ptr: Tensor, cutoff: float,
                          max_neighbors: int | None = None,
                          self_loops: bool = True) -> tuple[Tensor, Tensor]:
    r"""Directed radius graph of each crystal under periodic boundary conditions.

    An edge ``(j -> i, S)`` joins atom ``i`` to the replica of atom ``j`` shifted by the
    integer lattice translation ``S``, for every ``(j, S)`` with
    :math:`\lVert (\mathbf{f}_j + \mathbf{S} - \mathbf{f}_i) \mathbf{L} \rVert \le r_c`,
    images of ``i`` itself included (``j = i``, ``S != 0``). The search runs with ``vesin``
    (cell lists, :math:`O(N \cdot \text{neighbours})`) on CPU in float64, one crystal at a
    time, with no gradient: callers recompute the displacements in torch from ``S``.

    Args:
        frac (Tensor): :math:`(N, 3)` fractional coordinates (any real values: they are
            wrapped into :math:`[0, 1)` for the search and ``S`` refers to the values given).
        lattice (Tensor): :math:`(B, 3, 3)`, rows are the lattice vectors.
        ptr (Tensor): :math:`(B + 1)` atom offsets of the crystals.
        cutoff (float): :math:`r_c` in the unit of the lattice (Å).
        max_neighbors (int, optional): Keep only the ``max_neighbors`` nearest edges of each
            target atom (ties broken by vesin's order; the self term does not count). As a
            guard against tiny noisy cells, the search radius of a crystal of ``n`` atoms and
            volume ``V`` is also lowered to the radius at which the mean density
            :math:`n / V` predicts ``DENSITY_GUARD * max_neighbors`` neighbours, when that is
            smaller than ``cutoff`` (not for real materials at usual settings: 8 x 12
            neighbours within 5 Å already takes the atom density of diamond, the highest of
            any solid). (default: ``None``)
        self_loops (bool, optional): Add the self term ``(i -> i, S = 0)`` of every atom, so
            that an isolated atom still gets a message. (default: ``True``)

    Returns:
        ``(edge_index, shift)``: ``edge_index`` :math:`(2, E)` long, row 0 the source ``j``,
        row 1 the target ``i`` (PyG order), sorted by target; ``shift`` :math:`(E, 3)` the
        integer image translations ``S`` as floats of ``frac``'s dtype, on ``frac``'s device.
    """
    vesin = _import_vesin()
    device, dtype = frac.device, frac.dtype
    f_all = frac.detach().to("cpu", torch.float64).numpy()
    lat_all = lattice.detach().to("cpu", torch.float64).numpy()
    starts = ptr.detach().cpu().tolist()
    srcs, dsts, shifts = [], [], []
    for b in range(len(starts) - 1):
        lo, hi = int(starts[b]), int(starts[b + 1])
        n = hi - lo
        if n == 0:
            continue
        lat = lat_all[b]
        if not np.all(np.isfinite(lat)) or not np.all(np.isfinite(f_all[lo:hi])):
            raise ValueError(f"periodic_radius_graph: crystal {b} has non-finite lattice or "
                             "fractional coordinates")
        radius = float(cutoff)
        volume = abs(float(np.linalg.det(lat)))
        if max_neighbors is not None and volume > 0:
            expected = n / volume * 4.0 / 3.0 * math.pi * radius ** 3
            limit = DENSITY_GUARD * max_neighbors
            if expected > limit:
                radius *= (limit / expected) ** (1.0 / 3.0)
        f = f_all[lo:hi]
        whole = np.floor(f)
        wrapped = f - whole
        nl = vesin.NeighborList(cutoff=radius, full_list=True, n_threads=1)
        i, j, s, d = nl.compute(wrapped @ lat, lat, True, "ijSd")
        i, j = i.astype(np.int64), j.astype(np.int64)
        # vesin: x_j - x_i + S L for the wrapped points; in the given coordinates the image of
        # j is f_j + (S - n_j + n_i), with n the integer parts taken off
        s = s.astype(np.float64) - whole[j] + whole[i]
        if max_neighbors is not None and i.size:
            order = np.lexsort((d, i))
            i, j, s, d = i[order], j[order], s[order], d[order]
            first = np.searchsorted(i, i, side="left")
            keep = (np.arange(i.size) - first) < max_neighbors
            i, j, s = i[keep], j[keep], s[keep]
        if self_loops:
            own = np.arange(n, dtype=np.int64)
            i, j = np.concatenate([i, own]), np.concatenate([j, own])
            s = np.concatenate([s, np.zeros((n, 3))])
        order = np.argsort(i, kind="stable")
        srcs.append(j[order] + lo)
        dsts.append(i[order] + lo)
        shifts.append(s[order])
    if not srcs:
        return (torch.zeros(2, 0, dtype=torch.long, device=device),
                torch.zeros(0, 3, dtype=dtype, device=device))
    edge_index = torch.from_numpy(np.stack([np.concatenate(srcs), np.concatenate(dsts)]))
    shift = torch.from_numpy(np.concatenate(shifts))
    return edge_index.to(device), shift.to(device=device, dtype=dtype)


def _cosine_envelope(r: Tensor, cutoff: float) -> Tensor:
    r""":math:`u(r) = \tfrac12 (\cos(\pi r / r_c) + 1)` for :math:`r < r_c`, else 0: 1 at
    :math:`r = 0`, falling to 0 with zero slope at the cutoff."""
    u = 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0)
    return torch.where(r < cutoff, u, torch.zeros_like(u))


class PeriodicLayer(nn.Module):
    r"""One CSPNet-style message-passing layer.

    .. math::
        \bar{\mathbf{h}} &= \mathrm{LN}(\mathbf{h}), \qquad
        \mathbf{m}_{ij} = \phi_m\big(\bar{\mathbf{h}}_i, \bar{\mathbf{h}}_j, \mathbf{g}_{b},
            \psi(\mathbf{f}_j - \mathbf{f}_i), \mathbf{p}_{ij}\big) \\
        \mathbf{h}_i &\leftarrow \mathbf{h}_i + \phi_h\big(\bar{\mathbf{h}}_i,
            \operatorname{mean}_{j} \mathbf{m}_{ij}\big)

    :math:`\mathbf{g}_b` are the graph's invariant graph-level fields (lattice), :math:`\psi`
    the :class:`FractionalFourierFeatures` and :math:`\mathbf{p}_{ij}` optional pair inputs.
    (The denoiser wraps :math:`\mathbf{f}_j - \mathbf{f}_i` to the nearest replica,
    :math:`[-\tfrac12, \tfrac12]^D`, before :math:`\psi`: the same features, smaller sin/cos
    arguments, so the invariances also hold to ~1e-6 in float32.)

    Args:
        hidden (int): Node width.
        edge_dim (int): Width of :math:`[\mathbf{g}_b, \psi, \mathbf{p}_{ij}]`.

    Shapes:
        - **input:** ``h`` :math:`(N, \text{hidden})`, ``edge_index`` :math:`(2, E)` (source,
          target), ``edge_attr`` :math:`(E, \text{edge\_dim})`
        - **output:** :math:`(N, \text{hidden})`
    """

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden + edge_dim, hidden), nn.SiLU(),
                                      nn.Linear(hidden, hidden), nn.SiLU())
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(),
                                      nn.Linear(hidden, hidden), nn.SiLU())

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor,
                edge_weight: Tensor | None = None) -> Tensor:
        r"""``edge_weight`` (``[E]``, optional): aggregate with the weighted mean
        :math:`\sum_j w_{ij} \mathbf{m}_{ij} / \sum_j w_{ij}` instead of the plain mean (a node
        without edges, or with zero total weight, gets a zero aggregate)."""
        src, dst = edge_index
        hn = self.norm(h)
        m = self.edge_mlp(torch.cat([hn[dst], hn[src], edge_attr], dim=-1))
        if edge_weight is None:
            agg = scatter(m, dst, dim=0, dim_size=h.size(0), reduce="mean")
        else:
            w = edge_weight.to(m)[:, None]
            num = scatter(w * m, dst, dim=0, dim_size=h.size(0), reduce="sum")
            den = scatter(w, dst, dim=0, dim_size=h.size(0), reduce="sum")
            agg = num / den.clamp_min(1e-12)
        return h + self.node_mlp(torch.cat([hn, agg], dim=-1))


class PeriodicDenoiser(Denoiser):
    r"""CSPNet-like denoiser for crystals: a torus field of fractional coordinates, node fields
    (atom types) and invariant graph-level fields (the lattice).

    .. math::
        \mathbf{h}_i^{(0)} = \mathrm{enc}(\mathbf{x})_i + \mathbf{W}_c \mathbf{c}_{b(i)}

    with :math:`\mathrm{enc}` the encoder (:mod:`graphdiff.nn.encoders`; by default
    ``fields``, :math:`\sum_f \mathbf{W}_f \mathbf{x}_{i,f}` over the atom types and other node
    fields) and :math:`\mathbf{c}_b` the :class:`~graphdiff.nn.embeddings.GraphContext` (time,
    conditions, graph fields), then ``layers`` :class:`PeriodicLayer` s over all ordered pairs
    :math:`(i, j)` of each crystal and a final layer norm. Heads:

    * torus field: :math:`\mathbf{W}_s \mathbf{h}^{(L)}_i`, the score in fractional space
      (``[N, D]``);
    * other node fields: :math:`\mathrm{MLP}(\mathbf{h}^{(L)}_i)`;
    * graph fields: :math:`\mathrm{MLP}([\operatorname{mean}_i \mathbf{h}^{(L)}_i,
      \mathbf{c}_b])`;
    * an edge field (if any; its pair inputs also enter messages):
      :math:`\mathrm{MLP}([\mathbf{h}_i + \mathbf{h}_j, \mathbf{h}_i \odot \mathbf{h}_j,
      \cos 2\pi k(\mathbf{f}_j - \mathbf{f}_i), \mathbf{p}_{ij}])`, symmetric in the pair.

    Self-pairs :math:`(i, i)` are included by default (as DiffCSP's fully connected graph does):
    an atom interacts with its own periodic images, a lattice-only message with
    :math:`\psi(\mathbf{0})`; it also gives a 1-atom crystal a message. All outputs are
    invariant to a common shift of the fractional coordinates (mod 1) and to integer shifts of
    single atoms, and permutation-equivariant. The lattice form being O(3)-invariant, no rotation
    is handled here. Positions fields are refused (use ``egnn``).

    Args:
        spec (GraphSpec): The graphs' fields (exactly one torus field).
        outputs (dict): Field name -> output width, for the generated fields.
        cond_dim (int, optional): Number of condition columns. (default: ``0``)
        hidden (int, optional): Node width. (default: ``128``)
        layers (int, optional): Number of message-passing layers (``>= 1``). (default: ``4``)
        num_freqs (int, optional): :math:`K` of the Fourier features; the highest frequency
            resolves fractional separations of about :math:`1/(2K)` (0.16 Å in a 10 Å cell at
            ``K = 32``). DiffCSP trains with ``K = 128``; in short runs fewer, smoother features
            learn faster (a 2-atom CSP toy at 500 steps: offset error 0.05 at ``K = 32`` vs
            0.10 at ``K = 128``, over 2-3 seeds), so the default is 32. (default: ``32``)
        self_pairs (bool, optional): Include :math:`(i, i)` messages (with a radius graph: the
            self term :math:`(i, i, \mathbf{0})`, besides the atom's images within the cutoff,
            which are always edges). (default: ``True``)
        cutoff (float, optional): Radius-graph mode, see below: the cutoff :math:`r_c` in Å.
            ``None`` keeps the fully connected graph. (default: ``None``)
        max_neighbors (int, optional): Radius-graph mode: keep the ``max_neighbors`` nearest
            neighbours of each atom (plus the self term), a guard against the huge
            neighbourhoods of the tiny cells that noisy lattices can have; see
            :func:`periodic_radius_graph`. (default: ``None``: all within the cutoff)
        lattice (str, optional): Radius-graph mode: the registered
            :class:`~graphdiff.lattices.LatticeCodec` of the lattice field. (default: the only
            one registered)
        class_features (dict, optional): Categorical node field -> registered class-feature
            table, embedded by the encoder. (default: none)
        encoder (str, optional): Registered encoder of the node inputs (attribute ``node_in``);
            its edge features, if any, join every message's edge input (they must be invariant
            to a common shift of the fractional coordinates). (default: ``"fields"``)
        encoder_options (dict, optional): Options of the encoder. (default: none)

    **Radius graphs for large cells** (``cutoff`` set). Messages run over the edges
    :math:`(j \to i, \mathbf{S})` of :func:`periodic_radius_graph`: every replica
    :math:`\mathbf{f}_j + \mathbf{S}` of every atom (``i`` itself included) within
    :math:`r_c` of atom ``i``, computed with ``vesin`` from the Cartesian positions of the
    *current* noisy state, ``frac @ L``. The lattice matrix ``L`` is rebuilt from the lattice
    field the denoiser sees (the codec's ``field``, or the only continuous graph field of the
    codec's width): the process's normalisation is undone, ``p = x * std + mean`` (the
    :class:`~graphdiff.diffusion.GraphDiffusion` that owns the denoiser binds its processes,
    :meth:`bind_processes`; a stand-alone denoiser needs :meth:`set_lattice_normalisation`),
    then the codec's ``to_matrix`` (the crystals plugin's bounds the cell to edges of 0.05 to
    1100 Å, for the geometry only). The search has no gradient; the edge features are
    computed in torch from the integer shifts, so they are differentiable in the fractional
    coordinates and the lattice (gradient guidance). With the displacement
    :math:`\mathbf{d}_{ij} = (\mathbf{f}_j + \mathbf{S} - \mathbf{f}_i)\mathbf{L}` and
    :math:`r = \lVert \mathbf{d}_{ij} \rVert`, the edge features are

    .. math::
        \mathbf{e}_{ij} = u(r)\,\big[\exp(-\tfrac12 (r - \mu_k)^2 / \varsigma^2)_{k=1..32},\;
        \mathbf{d}_{ij} / r_c,\; \mathbf{p}_{ij}\big], \qquad
        u(r) = \tfrac12 \big(\cos(\pi r / r_c) + 1\big)

    (32 Gaussians, :math:`\mu_k` evenly spaced on :math:`[0, r_c]`, :math:`\varsigma = r_c /
    31`; pair inputs unscaled), and each layer aggregates with the envelope-weighted mean
    :math:`\sum_j u(r_{ij}) \mathbf{m}_{ij} / \sum_j u(r_{ij})`, so the output is continuous
    as atoms cross the cutoff (the self term, :math:`u = 1`, keeps the sum positive).
    Decisions: the displacement is Cartesian *in the canonical frame* of the lattice form
    (``a`` along x, ``b`` in the xy-plane), which is O(3)-invariant like the lattice form
    itself and, unlike the fractional Fourier features (identical for every replica, and
    rescaled in a supercell), describes the local environment the same way in any cell: the
    per-atom messages of a diagonal supercell are exactly those of its primitive cell. The
    lattice no longer enters the edges (it enters through the context and the geometry).
    Cost grows as :math:`N \cdot \bar k \, (2\,\text{hidden} + 35)` per layer for
    :math:`\bar k` neighbours per atom (about 50-100 within 5 Å in solids), plus the
    :math:`O(N \bar k)` search on CPU each forward pass. Invariances are those of the fully
    connected mode (the search sees only relative positions); with ``max_neighbors``, ties in
    distance at the ``max_neighbors``-th neighbour are broken by vesin's order, so
    permutation equivariance can fail at exact ties.

    Shapes:
        - **input:** :class:`~graphdiff.nn.base.NoisyGraphs` with ``N`` atoms, ``B`` crystals;
          torus :math:`(N, D)` in :math:`[0, 1)`
        - **output:** dict: torus :math:`(N, D)`, node fields :math:`(N, C)`, graph fields
          :math:`(B, d)`, edge field :math:`(P, C)`, one entry per key of ``outputs``

    Cost grows as :math:`\sum_b n_b^2 \, (2 K D + 2\,\text{hidden})` per layer (fully
    connected mode).
    """

    #: Gaussians of the radial basis (radius-graph mode).
    NUM_RADIAL = 32

    def __init__(self, spec: GraphSpec, outputs: dict[str, int], cond_dim: int = 0,
                 hidden: int = 128, layers: int = 4, *, num_freqs: int = 32,
                 self_pairs: bool = True, cutoff: float | None = None,
                 max_neighbors: int | None = None, class_features: dict[str, str] | None = None,
                 encoder: str = DEFAULT_ENCODER, encoder_options: dict[str, Any] | None = None,
                 lattice: str | None = None, **options: Any) -> None:
        name = type(self).__name__
        check_options(name, options, ["hidden", "layers", "num_freqs", "self_pairs", "cutoff",
                                      "max_neighbors", "class_features", "encoder", "encoder_options",
                                      "lattice"])
        super().__init__(spec, outputs, cond_dim)
        check_outputs(name, spec, self.outputs, {
            FieldKind.POSITIONS: "use the 'egnn' denoiser for Cartesian positions"})
        tori = spec.of_kind(FieldKind.TORUS)
        if len(tori) != 1:
            raise ValueError(f"{name}: needs exactly one torus field, the {spec.name!r} spec has "
                             f"{[f.name for f in tori]}")
        if layers < 1:
            raise ValueError(f"{name}: layers must be >= 1, got {layers}")
        self.hparams = dict(hidden=hidden, layers=layers, num_freqs=num_freqs,
                            self_pairs=self_pairs)
        self.cutoff = self.max_neighbors = None
        self.lattice_field: str | None = None
        self.lattice_codec = None
        if cutoff is not None:
            self._init_radius(spec, tori[0], cutoff, max_neighbors, lattice)
        elif max_neighbors is not None:
            raise ValueError(f"{name}: max_neighbors={max_neighbors} needs a cutoff (radius-graph mode)")
        elif lattice is not None:
            raise ValueError(f"{name}: lattice={lattice!r} needs a cutoff (radius-graph mode)")
        object.__setattr__(self, "_lattice_norm", None)  # not a submodule: no state-dict entries
        self.torus = tori[0]
        self.edge = spec.edge_field
        self.self_pairs = bool(self_pairs)
        self.fourier = FractionalFourierFeatures(num_freqs)
        psi_dim = 2 * num_freqs * self.torus.dim
        self.graph_dim = graph_dim = sum(f.width for f in spec.at_level(Level.GRAPH))
        # pair inputs: the edge field's classes, then the continuous edge fields' values
        pair_dim = (self.edge.width + sum(f.dim for f in spec.edge_value_fields)
                    if self.edge is not None else 0)
        tables = class_feature_tables(name, spec, class_features)
        if tables:
            self.hparams["class_features"] = dict(class_features)
        self.hparams.update(encoder_hparams(encoder, encoder_options))
        self.node_in = build_encoder(name, spec, hidden, encoder, encoder_options, tables)
        self.context = GraphContext(spec, self.cond_dim, hidden)
        self.ctx_to_h = nn.Linear(hidden, hidden)
        edge_dim = ((self.NUM_RADIAL + 3 if self.cutoff is not None else graph_dim + psi_dim) + pair_dim
                    + self.node_in.edge_dim)
        self.layers = nn.ModuleList(PeriodicLayer(hidden, edge_dim) for _ in range(layers))
        self.final_norm = nn.LayerNorm(hidden)
        self.out_heads = nn.ModuleDict()
        for f, width in self.outputs.items():
            level = spec[f].level
            if f == self.torus.name:
                self.out_heads[f] = nn.Linear(hidden, width, bias=False)
            elif level is Level.NODE:
                self.out_heads[f] = mlp(hidden, hidden, width)
            elif level is Level.GRAPH:
                self.out_heads[f] = mlp(2 * hidden, hidden, width)
            else:
                self.out_heads[f] = mlp(2 * hidden + psi_dim // 2 + pair_dim, hidden, width)

    def _init_radius(self, spec: GraphSpec, torus: Any, cutoff: float, max_neighbors: int | None,
                     lattice: str | None) -> None:
        name = type(self).__name__
        cutoff = float(cutoff)
        if not (math.isfinite(cutoff) and cutoff > 0):
            raise ValueError(f"{name}: cutoff must be a positive number of Å, got {cutoff}")
        if max_neighbors is not None:
            if isinstance(max_neighbors, bool) or int(max_neighbors) != max_neighbors or max_neighbors < 1:
                raise ValueError(f"{name}: max_neighbors must be an integer >= 1, got {max_neighbors!r}")
            max_neighbors = int(max_neighbors)
        if torus.dim != 3:
            raise ValueError(f"{name}: the radius graph (cutoff) needs 3-D fractional coordinates, "
                             f"{torus.name!r} has dim {torus.dim}")
        codec_name, codec = lattice_codec(lattice, name)
        fitting = [f for f in spec.at_level(Level.GRAPH) if f.kind is FieldKind.CONTINUOUS and f.dim == codec.dim]
        named = [f for f in fitting if f.name == codec.field]
        if not (named or len(fitting) == 1):
            raise ValueError(f"{name}: the radius graph (cutoff) needs the lattice: a graph-level "
                             f"continuous field of dim {codec.dim} named {codec.field!r} (or the only one), "
                             f"as the lattice codec {codec_name!r} reads it ({codec.description})")
        self.lattice_field = (named or fitting)[0].name
        self.lattice_codec = codec
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.hparams.update(cutoff=cutoff, max_neighbors=max_neighbors, lattice=codec_name)
        self.register_buffer("rbf_centers", torch.linspace(0.0, cutoff, self.NUM_RADIAL), persistent=False)

    def bind_processes(self, processes: Mapping[str, Any]) -> None:
        """Read the lattice normalisation from the lattice field's process (its ``mean`` and
        ``std``, looked up at every forward pass, so fitted or loaded statistics apply).
        :class:`~graphdiff.diffusion.GraphDiffusion` calls this with its processes; only the
        radius-graph mode uses it. The process is referenced, not registered: the state dict
        does not change."""
        if self.lattice_field is not None and self.lattice_field in processes:
            object.__setattr__(self, "_lattice_norm", processes[self.lattice_field])

    def set_lattice_normalisation(self, mean: Tensor | None = None, std: Tensor | None = None) -> None:
        """For a denoiser used on its own in radius-graph mode: the lattice input is
        ``(params - mean) / std`` (default: the raw parameters, mean 0 and std 1), each of the
        lattice field's width."""
        if self.lattice_field is None:
            raise RuntimeError(f"{type(self).__name__}: only the radius-graph mode (cutoff) reads the lattice")
        dim = self.spec[self.lattice_field].dim
        mean = torch.zeros(dim) if mean is None else torch.as_tensor(mean, dtype=torch.float32).reshape(dim)
        std = torch.ones(dim) if std is None else torch.as_tensor(std, dtype=torch.float32).reshape(dim)
        norm = nn.Module()
        norm.register_buffer("mean", mean)
        norm.register_buffer("std", std)
        object.__setattr__(self, "_lattice_norm", norm)

    def lattice_matrices(self, graphs: NoisyGraphs, like: Tensor) -> Tensor:
        """``[B, 3, 3]`` lattice matrices (rows are the lattice vectors, in Å) of the current
        (noisy) lattice input, in ``like``'s dtype and differentiable in it (radius-graph mode)."""
        name = type(self).__name__
        norm = self.__dict__.get("_lattice_norm")
        if norm is None:
            raise RuntimeError(
                f"{name}: the radius graph needs the lattice normalisation; a GraphDiffusion binds "
                "it (bind_processes), a stand-alone denoiser needs set_lattice_normalisation()")
        if self.lattice_field not in graphs.inputs:
            raise KeyError(f"{name}: the radius graph needs the lattice field {self.lattice_field!r} "
                           f"in the inputs ({sorted(graphs.inputs)})")
        x = field_input(self.spec[self.lattice_field], graphs.inputs[self.lattice_field]).to(like)
        return self.lattice_codec.to_matrix(x * norm.std.to(like) + norm.mean.to(like))

    def _radius_edges(self, graphs: NoisyGraphs, frac: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(edge_index, edge_attr without pair inputs, edge_weight)`` of the radius graph."""
        lattice = self.lattice_matrices(graphs, h)
        edge_index, shift = periodic_radius_graph(frac, lattice, graphs.ptr, self.cutoff,
                                                  self.max_neighbors, self_loops=self.self_pairs)
        src, dst = edge_index
        delta = frac[src] + shift - frac[dst]                                  # [E, 3] fractional
        vec = torch.einsum("ea,eab->eb", delta, lattice[graphs.batch[dst]])   # [E, 3] Cartesian
        r2 = (vec * vec).sum(-1)
        r = torch.where(r2 > 0, r2.clamp_min(1e-20).sqrt(), torch.zeros_like(r2))  # safe grad at 0
        u = _cosine_envelope(r, self.cutoff)
        width = self.cutoff / (self.NUM_RADIAL - 1)
        rbf = torch.exp(-0.5 * ((r[:, None] - self.rbf_centers.to(r)) / width) ** 2)
        attr = u[:, None] * torch.cat([rbf, vec / self.cutoff], dim=-1)
        return edge_index, attr, u

    def _pair_inputs(self, graphs: NoisyGraphs, like: Tensor) -> tuple[Tensor, Tensor]:
        pair_index = graphs.pair_index
        if pair_index is None:
            pair_index = all_pairs(graphs.ptr)[0].to(like.device)
        if self.edge.name in graphs.inputs:
            pair_in = field_input(self.edge, graphs.inputs[self.edge.name]).to(like)
        else:
            pair_in = like.new_zeros(pair_index.size(1), self.edge.width)
        values = edge_value_inputs(self.spec, graphs.inputs, pair_index.size(1), like)
        return pair_index, pair_in if values is None else torch.cat([pair_in, values], dim=-1)

    def forward(self, graphs: NoisyGraphs) -> dict[str, Tensor]:
        if self.torus.name not in graphs.inputs:
            raise KeyError(f"{type(self).__name__}: torus field {self.torus.name!r} is missing "
                           f"from the inputs ({sorted(graphs.inputs)})")
        n_nodes, batch, b = graphs.num_nodes, graphs.batch, graphs.num_graphs
        ctx = self.context(graphs)
        h = self.node_in(graphs) + self.ctx_to_h(ctx)[batch]
        frac = graphs.inputs[self.torus.name].to(h)
        weight = None
        if self.cutoff is not None:
            edge_index, radial, weight = self._radius_edges(graphs, frac, h)
            attr = [radial]
        else:
            edge_index = fully_connected_edges(graphs.ptr, self_loops=self.self_pairs)
            src, dst = edge_index
            g = graph_field_features(self.spec, graphs.inputs, b, h)
            if g.size(1) != self.graph_dim:  # a graph field missing from the inputs: zeros
                g = h.new_zeros(b, self.graph_dim)
            delta = frac[src] - frac[dst]
            delta = delta - torch.round(delta).detach()  # nearest replica: smaller sin/cos arguments
            attr = [g[batch[dst]], self.fourier(delta)]
        if self.edge is not None:
            pair_index, pair_in = self._pair_inputs(graphs, h)
            attr.append(pair_values_on_edges(pair_in, pair_index, edge_index, n_nodes))
        if self.node_in.edge_dim:
            attr.append(self.node_in.edge_features(graphs, edge_index).to(h))
        attr = torch.cat(attr, dim=-1)
        for layer in self.layers:
            h = layer(h, edge_index, attr, weight)
        h = self.final_norm(h)
        out: dict[str, Tensor] = {}
        for name, head in self.out_heads.items():
            level = self.spec[name].level
            if level is Level.NODE:
                out[name] = head(h)
            elif level is Level.GRAPH:
                pooled = scatter(h, batch, dim=0, dim_size=b, reduce="mean")
                out[name] = head(torch.cat([pooled, ctx], dim=-1))
            else:
                i, j = pair_index
                delta = frac[j] - frac[i]
                psi = self.fourier.even(delta - torch.round(delta).detach())
                out[name] = head(torch.cat([h[i] + h[j], h[i] * h[j], psi, pair_in], dim=-1))
        return out
