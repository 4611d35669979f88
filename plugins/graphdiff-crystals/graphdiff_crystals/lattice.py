"""An exact, O(3)-invariant parametrisation of crystal lattices.

A lattice is a matrix ``L`` of shape ``[3, 3]`` whose *rows* are the lattice vectors
``a, b, c`` (the pymatgen convention); Cartesian positions are ``cart = frac @ L``.

The parametrisation goes through the metric tensor ``G = L Lᵀ`` (the Gram matrix of the
lattice vectors), which is unchanged by any rotation or reflection ``L -> L Q`` (``Q``
orthogonal). Its lower-triangular Cholesky factor ``C`` (``G = C Cᵀ``, positive diagonal) is the
same lattice rotated into a canonical orientation::

    a = (C11,   0,   0)      a along x
    b = (C21, C22,   0)      b in the xy-plane
    c = (C31, C32, C33)      c in the upper half-space (C33 > 0: right-handed)

and the six parameters are the unconstrained reals::

    params = [log C11, log C22, log C33, C21, C31, C32]

:func:`params_to_lattice` maps *any* six reals to a valid right-handed lattice (no constraint
to enforce during diffusion), and ``params_to_lattice(lattice_to_params(L))`` is ``C``,
with ``C Cᵀ = L Lᵀ`` to machine precision.

Handedness: ``G`` cannot tell a lattice from its mirror image, so ``C`` is always
right-handed. A *left-handed* basis (``det L < 0``) therefore has to be turned right-handed
*before* its fractional coordinates are put into ``C``, or the crystal would be mirrored
(wrong for chiral structures). :func:`right_handed` does this without moving any atom: it
negates ``c`` and the third fractional coordinate (``f3 -> wrap(-f3)``), which leaves every
Cartesian position unchanged up to a lattice translation.

Every function accepts torch tensors (batched over leading dimensions, differentiable) or
NumPy arrays / nested lists (computed in float64 and returned as NumPy arrays).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from graphdiff.lattices import LatticeCodec

__all__ = [
    "lattice_to_params",
    "params_to_lattice",
    "geometry_lattice",
    "CODEC",
    "metric_tensor",
    "canonical_lattice",
    "right_handed",
    "volume_from_params",
    "wrap_frac",
    "periodic_close_pairs",
]

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def _as_tensor(x: Any) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``: non-tensors become float64 tensors."""
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.from_numpy(np.array(x, dtype=np.float64)), True


def _out(x: torch.Tensor, was_numpy: bool) -> Any:
    return x.detach().cpu().numpy() if was_numpy else x


def metric_tensor(lattice: Any) -> Any:
    """The metric (Gram) tensor ``G = L Lᵀ`` of lattices.

    Parameters
    ----------
    lattice:
        ``[..., 3, 3]``, rows are the lattice vectors.

    Returns
    -------
    ``[..., 3, 3]`` symmetric positive-definite for non-degenerate lattices.
    """
    lat, np_in = _as_tensor(lattice)
    return _out(lat @ lat.transpose(-1, -2), np_in)


def lattice_to_params(lattice: Any) -> Any:
    """Six O(3)-invariant parameters of lattices.

    Parameters
    ----------
    lattice:
        ``[..., 3, 3]``, rows are the lattice vectors; any orientation and handedness.

    Returns
    -------
    ``[..., 6]``: ``[log C11, log C22, log C33, C21, C31, C32]`` with ``C`` the lower-triangular
    Cholesky factor of ``L Lᵀ``. Invariant under ``L -> L Q`` for every orthogonal ``Q``
    (rotations *and* reflections); see :func:`right_handed` for keeping chirality. A
    degenerate lattice (``det L = 0``) gives non-finite values.

    Notes
    -----
    The factor is computed in closed form from the lattice vectors rather than with a LAPACK
    Cholesky (which costs milliseconds per call on CPU for 3x3 matrices and raises on
    degenerate input)::

        C11 = |a|            C21 = a.b / |a|           C31 = a.c / |a|
        C22 = |a x b| / |a|  C32 = (b.c - C21 C31) / C22
        C33 = |det L| / |a x b|

    Using cross products and the determinant for the diagonal avoids the cancellation of
    ``sqrt(|b|^2 - C21^2)`` in strongly skewed cells. Differentiable; batched.
    """
    lat, np_in = _as_tensor(lattice)
    a, b, c = lat[..., 0, :], lat[..., 1, :], lat[..., 2, :]
    norm_a = torch.linalg.vector_norm(a, dim=-1)
    axb = torch.linalg.cross(a, b, dim=-1)
    norm_axb = torch.linalg.vector_norm(axb, dim=-1)
    volume = torch.abs((axb * c).sum(-1))
    c21 = (a * b).sum(-1) / norm_a
    c31 = (a * c).sum(-1) / norm_a
    c22 = norm_axb / norm_a
    c32 = ((b * c).sum(-1) - c21 * c31) / c22
    log_a, log_axb = torch.log(norm_a), torch.log(norm_axb)
    params = torch.stack([log_a, log_axb - log_a, torch.log(volume) - log_axb, c21, c31, c32], dim=-1)
    return _out(params, np_in)


def params_to_lattice(params: Any) -> Any:
    """The canonical lattice of parameters (inverse of :func:`lattice_to_params`).

    Parameters
    ----------
    params:
        ``[..., 6]`` any real values.

    Returns
    -------
    ``[..., 3, 3]`` lower-triangular, rows ``a = (C11, 0, 0)``, ``b = (C21, C22, 0)``,
    ``c = (C31, C32, C33)`` with positive diagonal: a valid right-handed lattice.
    """
    p, np_in = _as_tensor(params)
    if p.shape[-1] != 6:
        raise ValueError(f"lattice parameters must have 6 values in the last dimension, got {list(p.shape)}")
    zero = torch.zeros_like(p[..., 0])
    d = torch.exp(p[..., :3])
    rows = [
        torch.stack([d[..., 0], zero, zero], dim=-1),
        torch.stack([p[..., 3], d[..., 1], zero], dim=-1),
        torch.stack([p[..., 4], p[..., 5], d[..., 2]], dim=-1),
    ]
    return _out(torch.stack(rows, dim=-2), np_in)


#: Bounds of the log-diagonal in :func:`geometry_lattice`: cell edges of 0.05 to 1100 Å.
GEOMETRY_LOG_BOUNDS = (-3.0, 7.0)


def geometry_lattice(params: Any) -> Any:
    """The lattice of parameters with the log-diagonal clamped to :data:`GEOMETRY_LOG_BOUNDS`.

    What a model reads the geometry of a noisy state from (a radius graph): any six reals give a
    cell whose edges are 0.05 to 1100 Å, so a very noisy lattice cannot ask the neighbour search
    for an absurd cell. Equal to :func:`params_to_lattice` within the bounds; differentiable
    (zero gradient in the clamped log-diagonal outside them); batched.

    Parameters
    ----------
    params:
        ``[..., 6]`` any real values.

    Returns
    -------
    ``[..., 3, 3]`` lower-triangular lattices, rows are the lattice vectors.
    """
    p, np_in = _as_tensor(params)
    log_diag = p[..., :3].clamp(*GEOMETRY_LOG_BOUNDS)
    return _out(params_to_lattice(torch.cat([log_diag, p[..., 3:]], dim=-1)), np_in)


#: The crystals domain's lattice field for the core (registered as the lattice codec ``crystals``):
#: ``[log C11, log C22, log C33, C21, C31, C32]`` to the lattice matrix through :func:`geometry_lattice`.
CODEC = LatticeCodec(dim=6, to_matrix=geometry_lattice, field="lattice",
                     description="[log C11, log C22, log C33, C21, C31, C32]: the Cholesky factor of the "
                                 "metric tensor (O(3)-invariant)")


def canonical_lattice(lattice: Any) -> Any:
    """``lattice`` rotated (or reflected) into the canonical orientation ``C``.

    Parameters
    ----------
    lattice:
        ``[..., 3, 3]``.

    Returns
    -------
    ``[..., 3, 3]``, the lower-triangular ``C`` with ``C Cᵀ = L Lᵀ``.
    """
    lat, np_in = _as_tensor(lattice)
    return _out(params_to_lattice(lattice_to_params(lat)), np_in)


def volume_from_params(params: Any) -> Any:
    """Cell volumes ``exp(p0 + p1 + p2)`` (``= C11 C22 C33 = |det L|``).

    Parameters
    ----------
    params:
        ``[..., 6]``.

    Returns
    -------
    ``[...]`` volumes in the cube of the lattice's length unit (Å³).
    """
    p, np_in = _as_tensor(params)
    return _out(torch.exp(p[..., :3].sum(-1)), np_in)


def wrap_frac(frac: ArrayT) -> ArrayT:
    """Wrap fractional coordinates into ``[0, 1)`` exactly.

    ``x - floor(x)`` can round to exactly ``1.0`` (for ``x = -1e-20``); such values become
    ``0.0``, and ``-0.0`` becomes ``+0.0``.

    Parameters
    ----------
    frac:
        Any shape, a torch tensor or NumPy array (float).

    Returns
    -------
    Same type, shape and dtype, values in ``[0, 1)``.
    """
    if isinstance(frac, torch.Tensor):
        y = frac - torch.floor(frac)
        return torch.where(y >= 1.0, torch.zeros_like(y), y) + 0.0
    arr = np.asarray(frac)
    y = arr - np.floor(arr)
    return np.where(y >= 1.0, 0.0, y).astype(arr.dtype, copy=False) + 0.0


def right_handed(lattice: ArrayT, frac_coords: ArrayT) -> tuple[ArrayT, ArrayT]:
    """Make one crystal's basis right-handed without moving any atom.

    When ``det L < 0`` the third lattice vector is negated and the third fractional coordinate
    becomes ``wrap(-f3)``; ``f1 a + f2 b + f3 c = f1 a + f2 b + (-f3)(-c)`` so Cartesian
    positions are unchanged (up to a lattice translation from the wrap). A right-handed
    basis is returned unchanged (torch: the same objects; NumPy: float64 copies), its
    fractional coordinates not wrapped.

    Parameters
    ----------
    lattice:
        ``[3, 3]`` rows are the lattice vectors (torch or NumPy).
    frac_coords:
        ``[num_atoms, 3]`` (same array library as ``lattice``).

    Returns
    -------
    ``(lattice [3, 3], frac_coords [num_atoms, 3])``, new arrays when flipped.
    """
    if isinstance(lattice, torch.Tensor):
        det = (torch.linalg.cross(lattice[0], lattice[1], dim=-1) * lattice[2]).sum()
        if bool(det >= 0):
            return lattice, frac_coords
        lat = lattice.clone()
        frac = frac_coords.clone()
    else:
        lat = np.array(lattice, dtype=np.float64)
        frac = np.array(frac_coords, dtype=np.float64).reshape(-1, 3)
        if np.linalg.det(lat) >= 0:
            return lat, frac
    lat[2] = -lat[2]
    frac[:, 2] = wrap_frac(-frac[:, 2])
    return lat, frac


def periodic_close_pairs(lattice: Any, frac_coords: Any, cutoff: float,
                         max_work: int = 20_000_000) -> list[tuple[int, int, float]]:
    """Pairs of atoms closer than ``cutoff`` under periodic boundary conditions.

    Exact for any cell: with interplanar spacings ``s_k`` (``1 / |row k of L⁻ᵀ|``), a vector
    shorter than ``cutoff`` has fractional components ``|x_k| <= cutoff / s_k``, so after wrapping
    coordinate differences into ``[-0.5, 0.5]`` only translations ``|n_k| <= floor(0.5 +
    cutoff / s_k)`` need checking. Falls back to pymatgen's cell-list search when that would
    exceed ``max_work`` pair-image distances (very thin cells).

    Parameters
    ----------
    lattice:
        ``[3, 3]`` rows are the lattice vectors (non-degenerate).
    frac_coords:
        ``[num_atoms, 3]`` finite.
    cutoff:
        Distance in the unit of the lattice (Å).

    Returns
    -------
    ``[(i, j, distance), ...]`` with ``i <= j`` sorted by ``(i, j)``, the shortest distance of
    each pair over all images; ``i == j`` means an atom is that close to its own periodic
    image (a lattice vector shorter than ``cutoff``).
    """
    lat = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3)
    n = len(frac)
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(lat).T, axis=1)
    reach = np.floor(0.5 + cutoff / spacing).astype(int)
    num_images = int(np.prod(2 * reach + 1))
    if n * n * num_images > max_work:
        return _close_pairs_cell_list(lat, frac, cutoff)
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij")
    images = np.stack([g.ravel() for g in grids], axis=1).astype(np.float64)  # [m, 3]
    diff = frac[None, :, :] - frac[:, None, :]
    diff -= np.round(diff)
    cart = (diff[:, :, None, :] + images[None, None, :, :]) @ lat  # [n, n, m, 3]
    dist = np.sqrt((cart ** 2).sum(-1))
    zero = np.flatnonzero((images == 0).all(axis=1))[0]
    idx = np.arange(n)
    dist[idx, idx, zero] = np.inf
    shortest = dist.min(axis=2)
    i, j = np.nonzero(np.triu(shortest < cutoff))
    return [(int(a), int(b), float(shortest[a, b])) for a, b in zip(i, j)]


def _close_pairs_cell_list(lat: np.ndarray, frac: np.ndarray, cutoff: float) -> list[tuple[int, int, float]]:
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice(lat), ["H"] * len(frac), frac)
    centers, points, _, dists = s.get_neighbor_list(cutoff)
    best: dict[tuple[int, int], float] = {}
    for a, b, d in zip(centers.tolist(), points.tolist(), dists.tolist()):
        key = (min(a, b), max(a, b))
        best[key] = min(d, best.get(key, np.inf))
    return sorted((a, b, d) for (a, b), d in best.items())
