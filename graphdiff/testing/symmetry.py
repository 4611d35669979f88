"""Symmetry and conditioning checks for denoisers, for plugin authors' tests.

Each ``assert_*`` function transforms a :class:`~graphdiff.nn.base.NoisyGraphs` batch, runs the
denoiser on the original and the transformed batch, and raises ``AssertionError`` naming the
output field and the largest deviation when the outputs do not transform as the contract of
:mod:`graphdiff.nn.base` says. Run them in double precision for tight tolerances::

    from graphdiff.testing.symmetry import random_noisy_graphs, assert_permutation_equivariant

    model = MyDenoiser(spec, outputs, hidden=32, layers=2).double()
    graphs = random_noisy_graphs(spec, sizes=[1, 3, 5], seed=0)
    assert_permutation_equivariant(model, graphs)

The model is run in eval mode (dropout off) under ``torch.no_grad``; its training flag is
restored afterwards.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from graphdiff.graph import FieldKind, GraphSpec, Level, wrap01
from graphdiff.nn.base import NoisyGraphs, all_pairs

__all__ = [
    "random_noisy_graphs",
    "assert_permutation_equivariant",
    "assert_rotation_equivariant",
    "assert_periodic_invariant",
    "assert_condition_masking",
]


def random_noisy_graphs(spec: GraphSpec, sizes: Sequence[int], *, cond_dim: int = 0,
                        given: Iterable[str] = (), seed: int = 0,
                        dtype: torch.dtype = torch.float64,
                        device: torch.device | str = "cpu") -> NoisyGraphs:
    """A random batch of noisy graphs carrying every field of ``spec``.

    Categorical inputs are random probability vectors (edge fields over all pairs ``i < j``,
    class 0 included), continuous inputs standard normal, torus inputs uniform in ``[0, 1)``,
    positions standard normal with zero centre of mass per graph; ``t`` uniform; ``cond``
    standard normal with a random ``cond_mask`` when ``cond_dim > 0``.

    Parameters
    ----------
    spec:
        The fields.
    sizes:
        Number of nodes of each graph (each ``>= 1``).
    cond_dim:
        Number of condition columns (0: ``cond`` and ``cond_mask`` are ``None``).
    given:
        Field names recorded as clean context in ``graphs.given``.
    seed, dtype, device:
        Random seed (same seed, same batch), float dtype and device of the tensors.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be non-empty and >= 1, got {list(sizes)}")
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(list(sizes), dtype=torch.long)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    batch = torch.repeat_interleave(torch.arange(len(sizes)), counts)
    n, b = int(ptr[-1]), len(sizes)
    pair_index = pair_batch = None
    if spec.edge_field is not None:
        pair_index, pair_batch = all_pairs(ptr)
    inputs: dict[str, Tensor] = {}
    for f in spec.fields:
        rows = {Level.NODE: n, Level.GRAPH: b,
                Level.EDGE: pair_index.size(1) if pair_index is not None else 0}[f.level]
        if f.kind is FieldKind.CATEGORICAL:
            value = F.softmax(2 * torch.randn(rows, f.num_classes, generator=g, dtype=dtype), -1)
        elif f.kind is FieldKind.TORUS:
            value = torch.rand(rows, f.dim, generator=g, dtype=dtype)
        else:
            value = torch.randn(rows, f.dim, generator=g, dtype=dtype)
            if f.kind is FieldKind.POSITIONS:
                value = value - _graph_mean(value, batch, b)[batch]
        inputs[f.name] = value
    cond = cond_mask = None
    if cond_dim > 0:
        cond = torch.randn(b, cond_dim, generator=g, dtype=dtype)
        cond_mask = torch.rand(b, cond_dim, generator=g) < 0.7
    t = torch.rand(b, generator=g, dtype=dtype)

    def dev(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.to(device)

    return NoisyGraphs(inputs={k: v.to(device) for k, v in inputs.items()}, t=t.to(device),
                       batch=batch.to(device), ptr=ptr.to(device), pair_index=dev(pair_index),
                       pair_batch=dev(pair_batch), cond=dev(cond), cond_mask=dev(cond_mask),
                       given=frozenset(given))


def _graph_mean(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    total = x.new_zeros(num_graphs, x.size(1)).index_add_(0, batch, x)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return total / count[:, None]


def _run(denoiser: torch.nn.Module, graphs: NoisyGraphs) -> dict[str, Tensor]:
    was_training = denoiser.training
    denoiser.eval()
    try:
        with torch.no_grad():
            return denoiser(graphs)
    finally:
        denoiser.train(was_training)


def _compare(expected: dict[str, Tensor], got: dict[str, Tensor], atol: float, what: str) -> None:
    if set(expected) != set(got):
        raise AssertionError(f"{what}: output keys changed from {sorted(expected)} to {sorted(got)}")
    for name in expected:
        a, b = expected[name], got[name]
        if a.shape != b.shape:
            raise AssertionError(f"{what}: output {name!r} has shape {list(b.shape)}, "
                                 f"expected {list(a.shape)}")
        if a.numel():
            err = float((a - b).abs().max())
            if not err < atol:
                raise AssertionError(f"{what}: output {name!r} deviates by {err:.3g} "
                                     f"(tolerance {atol:g})")


def _spec(denoiser: torch.nn.Module) -> GraphSpec:
    spec = getattr(denoiser, "spec", None)
    if not isinstance(spec, GraphSpec):
        raise TypeError("the denoiser must carry its GraphSpec as `.spec` (graphdiff.nn.Denoiser)")
    return spec


def _permute(graphs: NoisyGraphs, spec: GraphSpec, perm: Tensor
             ) -> tuple[NoisyGraphs, Tensor | None]:
    """Node ``k`` of the result is node ``perm[k]`` of ``graphs``; pairs are re-listed in
    canonical order. Returns the batch and, per new pair, the index of the same pair before."""
    old_pairs = None
    pair_index, pair_batch = graphs.pair_index, graphs.pair_batch
    if graphs.pair_index is not None:
        n = graphs.num_nodes
        keys = graphs.pair_index.min(0).values * n + graphs.pair_index.max(0).values
        order = torch.argsort(keys)
        pair_index, pair_batch = all_pairs(graphs.ptr)
        u, v = perm[pair_index[0]], perm[pair_index[1]]
        new_keys = torch.minimum(u, v) * n + torch.maximum(u, v)
        old_pairs = order[torch.searchsorted(keys[order], new_keys)]
    inputs = {}
    for name, value in graphs.inputs.items():
        level = spec[name].level if name in spec else None
        if level is Level.NODE:
            value = value[perm]
        elif level is Level.EDGE and old_pairs is not None:
            value = value[old_pairs]
        inputs[name] = value
    new = NoisyGraphs(inputs=inputs, t=graphs.t, batch=graphs.batch, ptr=graphs.ptr,
                      pair_index=pair_index, pair_batch=pair_batch, cond=graphs.cond,
                      cond_mask=graphs.cond_mask, given=graphs.given)
    return new, old_pairs


def assert_permutation_equivariant(denoiser: torch.nn.Module, graphs: NoisyGraphs, *,
                                   atol: float = 1e-4, seed: int = 0) -> None:
    """Shuffle the nodes inside every graph: node outputs must follow the shuffle, pair outputs
    must follow their (re-sorted) pairs, graph outputs must not change."""
    spec = _spec(denoiser)
    g = torch.Generator().manual_seed(seed)
    perm = torch.cat([torch.randperm(int(graphs.ptr[i + 1] - graphs.ptr[i]), generator=g)
                      + int(graphs.ptr[i]) for i in range(graphs.num_graphs)])
    perm = perm.to(graphs.ptr.device)
    shuffled, old_pairs = _permute(graphs, spec, perm)
    before, after = _run(denoiser, graphs), _run(denoiser, shuffled)
    expected = {}
    for name, value in before.items():
        level = spec[name].level
        if level is Level.NODE:
            value = value[perm]
        elif level is Level.EDGE:
            value = value[old_pairs]
        expected[name] = value
    _compare(expected, after, atol, "permutation equivariance")


def _orthogonal(d: int, reflect: bool, g: torch.Generator, dtype: torch.dtype) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    if (torch.det(q) < 0) != reflect:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def assert_rotation_equivariant(denoiser: torch.nn.Module, graphs: NoisyGraphs, *,
                                atol: float = 1e-4, reflect: bool = False, translate: bool = True,
                                seed: int = 0) -> None:
    """Rotate (``reflect=True``: rotate and reflect, determinant -1) every positions field with
    one random orthogonal matrix ``Q`` and, with ``translate``, shift each graph by its own
    random vector: positions outputs must become ``out @ Q.T`` (no translation), every other
    output must not change."""
    spec = _spec(denoiser)
    fields = [f for f in spec.of_kind(FieldKind.POSITIONS) if f.name in graphs.inputs]
    if not fields:
        raise ValueError(f"the {spec.name!r} spec has no positions field in the inputs")
    g = torch.Generator().manual_seed(seed)
    inputs, rotations = dict(graphs.inputs), {}
    for f in fields:
        x = inputs[f.name]
        q = _orthogonal(f.dim, reflect, g, x.dtype).to(x.device)
        x = x @ q.T
        if translate:
            x = x + 3 * torch.randn(graphs.num_graphs, f.dim, generator=g, dtype=torch.float64
                                    ).to(x)[graphs.batch]
        inputs[f.name], rotations[f.name] = x, q
    before, after = _run(denoiser, graphs), _run(denoiser, graphs.with_inputs(**inputs))
    expected = {k: (v @ rotations[k].T if k in rotations else v) for k, v in before.items()}
    what = "reflection" if reflect else "rotation"
    _compare(expected, after, atol, f"{what}{' + translation' if translate else ''} equivariance")


def assert_periodic_invariant(denoiser: torch.nn.Module, graphs: NoisyGraphs, *,
                              atol: float = 1e-4, seed: int = 0) -> None:
    """Every output must be invariant to (1) a common random shift of all torus coordinates of
    a graph, wrapped into ``[0, 1)``, and (2) adding random integer vectors to single atoms'
    coordinates (another periodic replica; these inputs leave ``[0, 1)`` on purpose)."""
    spec = _spec(denoiser)
    fields = [f for f in spec.of_kind(FieldKind.TORUS) if f.name in graphs.inputs]
    if not fields:
        raise ValueError(f"the {spec.name!r} spec has no torus field in the inputs")
    g = torch.Generator().manual_seed(seed)
    before = _run(denoiser, graphs)
    shifted, replica = {}, {}
    for f in fields:
        x = graphs.inputs[f.name]
        s = torch.rand(graphs.num_graphs, f.dim, generator=g, dtype=torch.float64).to(x)
        shifted[f.name] = wrap01(x + s[graphs.batch])
        replica[f.name] = x + torch.randint(-3, 4, x.shape, generator=g).to(x)
    _compare(before, _run(denoiser, graphs.with_inputs(**shifted)), atol,
             "invariance to a common fractional shift")
    _compare(before, _run(denoiser, graphs.with_inputs(**replica)), atol,
             "invariance to integer shifts of single atoms")


def assert_condition_masking(denoiser: torch.nn.Module, graphs: NoisyGraphs, *,
                             atol: float = 1e-4, seed: int = 0) -> None:
    """Masked-out conditions must be ignored and given ones must matter.

    Checks that (1) with ``cond_mask`` all ``False`` the outputs equal those for ``cond=None``
    whatever the values (NaN included), (2) with a random mask, changing only masked values
    changes nothing, and (3) with ``cond_mask`` all ``True``, new values change some output by
    more than ``atol``.
    """
    k = int(getattr(denoiser, "cond_dim", 0))
    if k < 1:
        raise ValueError("the denoiser has cond_dim == 0; nothing to check")
    g = torch.Generator().manual_seed(seed)
    b, device = graphs.num_graphs, graphs.ptr.device
    dtype = graphs.t.dtype if graphs.t.is_floating_point() else torch.float64

    def with_cond(cond: Tensor | None, mask: Tensor | None) -> dict[str, Tensor]:
        from dataclasses import replace
        return _run(denoiser, replace(graphs, cond=cond, cond_mask=mask))

    def rand() -> Tensor:
        return torch.randn(b, k, generator=g, dtype=torch.float64).to(device, dtype)

    none = torch.zeros(b, k, dtype=torch.bool, device=device)
    reference = with_cond(None, None)
    _compare(reference, with_cond(rand(), none), atol, "all conditions masked")
    nan = torch.full((b, k), float("nan"), dtype=dtype, device=device)
    _compare(reference, with_cond(nan, none), atol,
             "all conditions masked (NaN values)")
    mask = (torch.rand(b, k, generator=g) < 0.5).to(device)
    a = rand()
    changed = torch.where(mask, a, rand())
    _compare(with_cond(a, mask), with_cond(changed, mask), atol, "partly masked conditions")
    full = torch.ones(b, k, dtype=torch.bool, device=device)
    x, y = with_cond(rand(), full), with_cond(rand(), full)
    if all(x[n].numel() == 0 or float((x[n] - y[n]).abs().max()) <= atol for n in x):
        raise AssertionError("given conditions do not change any output: the condition "
                             "embedding is not used")
