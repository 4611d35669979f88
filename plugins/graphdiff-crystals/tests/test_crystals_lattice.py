"""The O(3)-invariant lattice parametrisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff_crystals.lattice import (canonical_lattice, lattice_to_params, metric_tensor, periodic_close_pairs,
                                        params_to_lattice, right_handed, volume_from_params,
                                        wrap_frac)
from graphdiff_crystals.testing import lattices, rotations


def test_params_are_the_cholesky_factor_of_the_metric():
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(200, 3, 3)) * 4
    params = lattice_to_params(lat)
    assert isinstance(params, np.ndarray) and params.shape == (200, 6)
    chol = params_to_lattice(params)
    assert np.allclose(chol, np.linalg.cholesky(metric_tensor(lat)), atol=1e-10)
    assert np.allclose(np.triu(chol, 1), 0.0)
    assert (np.diagonal(chol, axis1=1, axis2=2) > 0).all()
    assert np.allclose(np.abs(np.linalg.det(lat)), volume_from_params(params))


@settings(max_examples=200, deadline=None)
@given(lattices(left_handed=True), rotations(reflections=True))
def test_invariant_under_rotations_and_reflections(lattice, rot):
    lat = lattice.matrix
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    p = lattice_to_params(lat)
    q = lattice_to_params(lat @ rot.T)  # every lattice vector rotated (or reflected)
    assert np.allclose(p, q, atol=1e-9)
    # the canonical lattice has the same lengths and angles as the original
    g = metric_tensor(canonical_lattice(lat))
    assert np.allclose(g, metric_tensor(lat), atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=6, max_size=6))
def test_any_six_reals_give_a_right_handed_lattice_and_back(values):
    params = np.array(values)
    lat = params_to_lattice(params)
    assert np.linalg.det(lat) > 0
    assert np.allclose(lattice_to_params(lat), params, atol=1e-9)


def test_torch_batched_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(1)
    lat_np = rng.normal(size=(2, 5, 3, 3)) + 3 * np.eye(3)
    lat = torch.tensor(lat_np, requires_grad=True)
    params = lattice_to_params(lat)
    assert isinstance(params, torch.Tensor) and params.shape == (2, 5, 6)
    assert np.allclose(params.detach().numpy(), lattice_to_params(lat_np))
    assert params_to_lattice(params).shape == (2, 5, 3, 3)
    assert torch.autograd.gradcheck(lattice_to_params, (lat[0, :2],))
    p = torch.tensor(rng.normal(size=(3, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(params_to_lattice, (p,))


def test_wrong_width_is_refused():
    with pytest.raises(ValueError, match="6 values"):
        params_to_lattice(np.zeros(5))


def test_degenerate_lattice_gives_non_finite_params():
    flat = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 0]])
    with np.errstate(divide="ignore"):
        assert not np.isfinite(lattice_to_params(flat)).all()


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_right_handed_flips_c_and_keeps_cartesian_positions(lib):
    lat = np.array([[4.0, 0.1, 0.2], [0.3, 5.0, 0.1], [0.2, -0.4, -6.0]])  # det < 0
    frac = np.array([[0.1, 0.2, 0.3], [0.7, 0.9, 0.0], [0.5, 0.5, 0.999]])
    conv = (lambda x: torch.tensor(x)) if lib == "torch" else (lambda x: x)
    new_lat, new_frac = right_handed(conv(lat), conv(frac))
    new_lat, new_frac = np.asarray(new_lat), np.asarray(new_frac)
    assert np.linalg.det(lat) < 0 < np.linalg.det(new_lat)
    assert np.allclose(new_lat[:2], lat[:2]) and np.allclose(new_lat[2], -lat[2])
    assert ((new_frac >= 0) & (new_frac < 1)).all()
    # Cartesian positions equal modulo lattice translations
    diff = (new_frac @ new_lat - frac @ lat) @ np.linalg.inv(lat)
    assert np.allclose(diff, np.round(diff), atol=1e-12)
    # a right-handed basis is left alone
    same_lat, same_frac = right_handed(conv(new_lat), conv(frac))
    assert np.allclose(np.asarray(same_lat), new_lat) and np.allclose(np.asarray(same_frac), frac)


def test_wrap_frac_edge_values():
    x = np.array([-1e-20, -0.0, 1.0, 0.9999999999, 2.5, -0.25, 3.0])
    y = wrap_frac(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 0.9999999999, 0.5, 0.75, 0.0]
    assert not np.signbit(y).any()
    t = wrap_frac(torch.tensor([-1e-9, -0.0, 1.0], dtype=torch.float32))
    assert t.dtype == torch.float32 and (t >= 0).all() and (t < 1).all()
    assert not torch.signbit(t).any()


@settings(max_examples=100, deadline=None)
@given(lattices(min_length=1.0, max_length=8.0, min_volume_fraction=0.1),
       st.lists(st.tuples(*[st.floats(-1.0, 2.0)] * 3), min_size=1, max_size=12),
       st.floats(0.3, 3.0), st.booleans())
def test_periodic_close_pairs_matches_pymatgen(lattice, frac, cutoff, force_fallback):
    from pymatgen.core import Structure

    frac = np.array(frac)
    pairs = periodic_close_pairs(lattice.matrix, frac, cutoff, max_work=0 if force_fallback else 10**8)
    s = Structure(lattice, ["H"] * len(frac), frac)
    centers, points, _, dists = s.get_neighbor_list(cutoff)
    expected: dict[tuple[int, int], float] = {}
    for a, b, d in zip(centers, points, dists):
        key = (int(min(a, b)), int(max(a, b)))
        expected[key] = min(float(d), expected.get(key, np.inf))
    # pymatgen counts distances equal to the cutoff, periodic_close_pairs ("closer than") does not
    expected = {k: d for k, d in expected.items() if d < cutoff - 1e-9}
    pairs = [p for p in pairs if p[2] < cutoff - 1e-9]
    assert [(i, j) for i, j, _ in pairs] == sorted(expected)
    assert np.allclose([d for _, _, d in pairs], [expected[k] for k in sorted(expected)], atol=1e-9)
