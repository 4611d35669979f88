"""The radius-graph mode of the periodic denoiser (``model.options.cutoff``).

(a) the vesin neighbour list against a brute-force image enumeration; (b) the denoiser's
invariances (periodic replicas, common shifts, permutations) and gradients; (c) a supercell
gives the per-atom outputs of its primitive cell; (d) training and sampling through
``graphdiff.runner`` with ``model.options = {cutoff = 5.0}``; (e) the fully connected mode
(``cutoff`` unset) is unchanged: the bundled ``perov5-csp`` checkpoint loads, gives the outputs
recorded before the radius mode existed, and samples.
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import NoisyGraphs, PeriodicDenoiser
from graphdiff.nn.periodic import periodic_radius_graph
from graphdiff.testing.symmetry import (assert_periodic_invariant, assert_permutation_equivariant,
                                        random_noisy_graphs)
from graphdiff_crystals import sample_path
from graphdiff_crystals.lattice import lattice_to_params, params_to_lattice

pytest.importorskip("vesin")

CRYSTAL = GraphSpec("crystal", (
    FieldSpec("types", "categorical", "node", num_classes=5),
    FieldSpec("frac", "torus", "node", dim=3),
    FieldSpec("lattice", "continuous", "graph", dim=6),
))
#: lattice normalisation for random inputs: standard-normal inputs become ~4 Å cells
MEAN = torch.tensor([1.4, 1.4, 1.4, 0.0, 0.0, 0.0])
STD = torch.tensor([0.1, 0.1, 0.1, 0.5, 0.5, 0.5])


def radius_model(spec: GraphSpec = CRYSTAL, outputs: dict[str, int] | None = None, cutoff: float = 4.0,
                 seed: int = 0, **options) -> PeriodicDenoiser:
    torch.manual_seed(seed)
    outputs = outputs or {"frac": 3, "lattice": 6}
    model = PeriodicDenoiser(spec, outputs, hidden=16, layers=2, cutoff=cutoff, **options).double()
    model.set_lattice_normalisation(MEAN, STD)
    return model


def graph_tensors(lattice: np.ndarray, frac: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    f = torch.tensor(frac, dtype=torch.float64)
    return f, torch.tensor(lattice, dtype=torch.float64)[None], torch.tensor([0, len(frac)])


def brute_force(lattice: np.ndarray, frac: np.ndarray, cutoff: float) -> dict[tuple, float]:
    """Every ``(i, j, S)`` with ``|(f_j + S - f_i) L| <= cutoff``, ``(i, i, 0)`` excluded, by
    looping over enough integer images (coordinates may lie outside ``[0, 1)``)."""
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(lattice).T, axis=1)  # interplanar distances
    span = np.ptp(frac, axis=0) if len(frac) > 1 else np.zeros(3)
    reach = np.ceil(cutoff / spacing + span).astype(int) + 1
    out = {}
    for i, j in itertools.product(range(len(frac)), repeat=2):
        for s in itertools.product(*[range(-r, r + 1) for r in reach]):
            if i == j and not any(s):
                continue
            d = float(np.linalg.norm((frac[j] + np.array(s) - frac[i]) @ lattice))
            if d <= cutoff:
                out[(i, j, s)] = d
    return out


def edges_as_dict(lattice: np.ndarray, frac: np.ndarray, cutoff: float, **kw) -> dict[tuple, float]:
    f, lat, ptr = graph_tensors(lattice, frac)
    edge_index, shift = periodic_radius_graph(f, lat, ptr, cutoff, self_loops=False, **kw)
    out = {}
    for (j, i), s in zip(edge_index.T.tolist(), shift.tolist()):
        assert all(float(x).is_integer() for x in s)
        key = (i, j, tuple(int(x) for x in s))
        assert key not in out, f"duplicate edge {key}"
        out[key] = float(np.linalg.norm((frac[j] + np.array(s) - frac[i]) @ lattice))
    return out


lengths = st.floats(2.0, 7.0)
angles = st.floats(65.0, 115.0)


@st.composite
def structures(draw):
    lat = Lattice.from_parameters(draw(lengths), draw(lengths), draw(lengths),
                                  draw(angles), draw(angles), draw(angles)).matrix
    n = draw(st.integers(1, 5))
    frac = np.array(draw(st.lists(st.lists(st.floats(-1.5, 2.5), min_size=3, max_size=3),
                                  min_size=n, max_size=n)))
    return lat, frac


# ---------------------------------------------------------------------------- (a) neighbour list
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structures(), st.floats(0.5, 6.0))
def test_neighbour_list_matches_brute_force(structure, cutoff):
    lattice, frac = structure
    got = edges_as_dict(lattice, frac, cutoff)
    want = brute_force(lattice, frac, cutoff)
    # pairs within rounding of the cutoff may go either way
    edge = {k for k, d in {**got, **want}.items() if abs(d - cutoff) < 1e-9}
    assert set(got) - edge == set(want) - edge
    for k in set(got) & set(want):
        assert abs(got[k] - want[k]) < 1e-9


def test_neighbour_list_matches_pymatgen(triclinic):
    s = triclinic
    got = edges_as_dict(s.lattice.matrix, s.frac_coords, 5.5)
    centers, points, images, dists = s.get_neighbor_list(5.5)
    want = {(int(i), int(j), tuple(int(x) for x in img)): float(d)
            for i, j, img, d in zip(centers, points, images, dists)}
    assert set(got) == set(want) and len(got) > 50
    assert max(abs(got[k] - want[k]) for k in got) < 1e-9


def test_self_term_and_sorted_targets():
    lat = np.eye(3) * 20.0
    frac = np.array([[0.1, 0.1, 0.1], [0.6, 0.6, 0.6], [0.12, 0.1, 0.1]])
    f, lat_t, ptr = graph_tensors(lat, frac)
    edge_index, shift = periodic_radius_graph(f, lat_t, ptr, 3.0)
    pairs = sorted(map(tuple, edge_index.T.tolist()))
    # atom 1 is isolated: only its self term; atoms 0 and 2 (0.4 Å apart) see each other
    assert pairs == [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)]
    assert torch.all(edge_index[1][1:] >= edge_index[1][:-1])
    assert shift.abs().sum() == 0


def test_max_neighbors_keeps_the_nearest():
    rng = np.random.default_rng(0)
    lat = Lattice.from_parameters(4.0, 4.5, 5.0, 80, 95, 100).matrix
    frac = rng.random((6, 3))
    full = edges_as_dict(lat, frac, 6.0)
    kept = edges_as_dict(lat, frac, 6.0, max_neighbors=7)
    assert set(kept) <= set(full)
    for i in range(6):
        mine = sorted(d for (a, _, _), d in full.items() if a == i)
        got = sorted(d for (a, _, _), d in kept.items() if a == i)
        assert len(got) == 7 and np.allclose(got, mine[:7])


def test_tiny_cell_guard_bounds_the_graph():
    """A collapsed noisy cell (0.1 Å^3) with max_neighbors: the search radius shrinks, the
    graph stays small (without the guard: ~5e4 neighbours per atom)."""
    lat = np.diag([0.4, 0.5, 0.5])
    frac = np.random.default_rng(1).random((4, 3))
    f, lat_t, ptr = graph_tensors(lat, frac)
    edge_index, _ = periodic_radius_graph(f, lat_t, ptr, 5.0, max_neighbors=12)
    assert edge_index.size(1) == 4 * 13  # 12 neighbours + the self term each


def test_the_lattice_comes_through_the_registered_codec():
    from graphdiff_crystals.lattice import CODEC, geometry_lattice

    p = torch.randn(7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p[:, :3] = p[:, :3].clamp(-2.0, 2.0)
    assert torch.equal(geometry_lattice(p), params_to_lattice(p))  # within the bounds: the lattice itself
    far = p.clone()
    far[:, 0] = 12.0  # a cell edge of e^12 Å is bounded to e^7
    assert torch.allclose(geometry_lattice(far)[:, 0, 0], torch.full((7,), math.exp(7.0), dtype=torch.float64))
    model = radius_model()
    assert model.lattice_codec is CODEC and model.hparams["lattice"] == "crystals"
    assert torch.equal(model.lattice_codec.to_matrix(p), geometry_lattice(p))
    with pytest.raises(ValueError, match="lattice: unknown lattice 'no-such-codec'"):
        PeriodicDenoiser(CRYSTAL, {"frac": 3}, cutoff=5.0, lattice="no-such-codec")
    with pytest.raises(ValueError, match="needs a cutoff"):
        PeriodicDenoiser(CRYSTAL, {"frac": 3}, lattice="crystals")


# ---------------------------------------------------------------------------- (b) symmetries
SIZES = [3, 1, 5, 2, 7]


@pytest.mark.parametrize("options", [{}, {"max_neighbors": 6}, {"self_pairs": False}])
def test_periodic_invariance_and_permutation_equivariance(options):
    model = radius_model(**options)
    for seed in (0, 1):
        graphs = random_noisy_graphs(CRYSTAL, SIZES, seed=seed)
        assert_periodic_invariant(model, graphs, atol=1e-9, seed=seed)
        if "max_neighbors" not in options:  # exact ties could be broken differently
            assert_permutation_equivariant(model, graphs, atol=1e-9, seed=seed)


def test_max_neighbors_permutation_equivariant_without_ties():
    model = radius_model(max_neighbors=6)
    graphs = random_noisy_graphs(CRYSTAL, SIZES, seed=4)  # random coordinates: no ties
    assert_permutation_equivariant(model, graphs, atol=1e-9, seed=4)


def test_outputs_depend_on_geometry_and_gradients_flow():
    model = radius_model()
    graphs = random_noisy_graphs(CRYSTAL, SIZES, seed=2)
    frac = graphs.inputs["frac"].clone().requires_grad_(True)
    lat = graphs.inputs["lattice"].clone().requires_grad_(True)
    out = model(graphs.with_inputs(frac=frac, lattice=lat))
    (out["frac"] ** 2).sum().backward()
    assert torch.isfinite(frac.grad).all() and frac.grad.abs().sum() > 0
    assert torch.isfinite(lat.grad).all() and lat.grad.abs().sum() > 0
    moved = model(graphs.with_inputs(frac=graphs.inputs["frac"] + 0.01 * torch.randn_like(frac)))
    assert (moved["frac"] - out["frac"]).abs().max() > 1e-6


def two_atoms(distance: float, cell: float = 20.0) -> NoisyGraphs:
    frac = torch.tensor([[0.1, 0.2, 0.3], [0.1 + distance / cell, 0.2, 0.3]], dtype=torch.float64)
    types = torch.eye(5, dtype=torch.float64)[[1, 3]]
    lattice = ((lattice_to_params(torch.eye(3, dtype=torch.float64) * cell) - MEAN.double()) / STD.double())
    return NoisyGraphs(inputs={"types": types, "frac": frac, "lattice": lattice[None]},
                       t=torch.tensor([0.4], dtype=torch.float64), batch=torch.zeros(2, dtype=torch.long),
                       ptr=torch.tensor([0, 2]))


def test_isolated_atoms_get_a_message_and_outputs_are_continuous_at_the_cutoff():
    model = radius_model(cutoff=4.0)
    apart = model(two_atoms(10.0))["frac"]
    assert torch.isfinite(apart).all() and (apart[0] - apart[1]).abs().max() > 1e-6  # self terms
    inside, outside = model(two_atoms(4.0 - 1e-7))["frac"], model(two_atoms(4.0 + 1e-7))["frac"]
    assert (inside - outside).abs().max() < 1e-6  # the envelope-weighted mean is continuous
    near = model(two_atoms(2.0))["frac"]
    assert (near - outside).abs().max() > 1e-4
    lonely = radius_model(cutoff=4.0, self_pairs=False)(two_atoms(10.0))["frac"]
    assert torch.isfinite(lonely).all()


def test_options_are_checked_and_recorded():
    model = radius_model(max_neighbors=10)
    assert model.hparams["cutoff"] == 4.0 and model.hparams["max_neighbors"] == 10
    assert "cutoff" not in PeriodicDenoiser(CRYSTAL, {"frac": 3}).hparams
    with pytest.raises(ValueError, match="cutoff"):
        PeriodicDenoiser(CRYSTAL, {"frac": 3}, cutoff=-1.0)
    with pytest.raises(ValueError, match="max_neighbors"):
        PeriodicDenoiser(CRYSTAL, {"frac": 3}, cutoff=5.0, max_neighbors=0)
    with pytest.raises(ValueError, match="needs a cutoff"):
        PeriodicDenoiser(CRYSTAL, {"frac": 3}, max_neighbors=8)
    no_lattice = GraphSpec("x", CRYSTAL.fields[:2])
    with pytest.raises(ValueError, match="lattice"):
        PeriodicDenoiser(no_lattice, {"frac": 3}, cutoff=5.0)
    unbound = PeriodicDenoiser(CRYSTAL, {"frac": 3}, hidden=8, layers=1, cutoff=5.0)
    with pytest.raises(RuntimeError, match="set_lattice_normalisation"):
        unbound(random_noisy_graphs(CRYSTAL, [2]))


# ---------------------------------------------------------------------------- (c) supercells
def crystal_graphs(structures_: list[Structure], rng: np.random.Generator | None = None) -> NoisyGraphs:
    from graphdiff_crystals.domain import CrystalDomain

    dom = CrystalDomain()
    batch = Batch.from_data_list([dom.to_graph(s) for s in structures_])
    types = torch.nn.functional.one_hot(batch.atom_types, 100).double()
    return NoisyGraphs(inputs={"atom_types": types, "frac_coords": batch.frac_coords.double(),
                               "lattice": batch.lattice.double()},
                       t=torch.full((len(structures_),), 0.5, dtype=torch.float64), batch=batch.batch,
                       ptr=batch.ptr)


def perov5_structures(count: int) -> list[Structure]:
    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        rows = [row for _, row in zip(range(count), csv.DictReader(fh))]
    return [Structure.from_str(row["cif"], fmt="cif") for row in rows]


def random_primitive(seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    lat = Lattice.from_parameters(*rng.uniform(3.0, 4.5, 3), *rng.uniform(75, 105, 3))
    species = ["Na", "Cl", "O", "Si"][: 2 + seed % 3]
    return Structure(lat, species, rng.random((len(species), 3)))


@pytest.mark.parametrize("scale", [(2, 1, 1), (1, 2, 1), (1, 1, 3)])
@pytest.mark.parametrize("which", ["perov5", "random0", "random1"])
def test_supercell_atoms_get_the_outputs_of_their_primitive_atoms(which, scale):
    """With the per-crystal context (lattice, size) switched off, an atom's radius-graph
    neighbourhood (every replica within the cutoff, here larger than the primitive cell) and
    hence its messages and outputs are the same in a diagonal supercell as in the primitive
    cell: exactly, for any cutoff (the envelope-weighted mean sees the same multiset of
    neighbours)."""
    from graphdiff_crystals.domain import CrystalDomain

    spec = CrystalDomain().spec
    prim = perov5_structures(1)[0] if which == "perov5" else random_primitive(int(which[-1]))
    if which == "perov5":  # a noisy state, off the high-symmetry positions
        rng = np.random.default_rng(3)
        prim = Structure(prim.lattice, prim.species, prim.frac_coords + 0.05 * rng.standard_normal((len(prim), 3)))
    # the supercell built by hand so that atom m * len(prim) + k is an image of primitive atom k
    mult = np.array(scale)
    images = list(itertools.product(*[range(m) for m in scale]))
    frac = np.concatenate([(prim.frac_coords + np.array(img)) / mult for img in images])
    sup = Structure(Lattice(prim.lattice.matrix * mult[:, None]), list(prim.species) * len(images), frac)
    # pymatgen's supercell is the same crystal (sanity check of the construction)
    assert sup.matches(prim.make_supercell(list(scale), in_place=False), scale=False, primitive_cell=False)

    model = radius_model(spec, {"frac_coords": 3, "lattice": 6}, cutoff=5.0, seed=1)
    model.set_lattice_normalisation()  # the inputs are the raw lattice parameters
    with torch.no_grad():
        model.ctx_to_h.weight.zero_()
        model.ctx_to_h.bias.zero_()
    out_p = model(crystal_graphs([prim]))["frac_coords"]
    out_s = model(crystal_graphs([sup]))["frac_coords"]
    assert out_p.abs().max() > 1e-3
    assert torch.allclose(out_s, out_p.repeat(len(images), 1), atol=1e-10, rtol=0)

    # negative control: the fully connected model's messages change with the cell
    torch.manual_seed(1)
    full = PeriodicDenoiser(spec, {"frac_coords": 3, "lattice": 6}, hidden=16, layers=2).double()
    with torch.no_grad():
        full.ctx_to_h.weight.zero_()
        full.ctx_to_h.bias.zero_()
    fp, fs = full(crystal_graphs([prim]))["frac_coords"], full(crystal_graphs([sup]))["frac_coords"]
    assert (fs - fp.repeat(len(images), 1)).abs().max() > 1e-4


# ---------------------------------------------------------------------------- (d) end to end
@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, sample_head) -> Path:
    return sample_head(tmp_path_factory.mktemp("data"), 25)


def test_train_and_sample_with_a_cutoff(small_csv, tmp_path):
    from graphdiff.config import load_config
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs, train

    cfg_path = tmp_path / "radius.toml"
    cfg_path.write_text(f"""
[data]
domain = "crystals"
source = "{small_csv}"
val_fraction = 0.1
batch_size = 8

[model]
hidden = 32
layers = 2
options = {{cutoff = 5.0, max_neighbors = 48}}

[diffusion]
given = []

[training]
max_steps = 4
log_every = 2
val_every = 2
out_dir = "{tmp_path / 'run'}"

[sampling]
steps = 4
""")
    cfg = load_config(cfg_path)
    assert cfg.model.options == {"cutoff": 5.0, "max_neighbors": 48}
    trainer, last = train(cfg, progress=False)
    assert last.exists()
    model, cfg2, _ = load_model(last)
    den = model.denoiser
    assert den.cutoff == 5.0 and den.max_neighbors == 48
    # the loaded lattice statistics are the ones the radius graph reads
    norm = den.__dict__["_lattice_norm"]
    assert norm is model.processes["lattice"] and float(norm.mean[0]) > 1.0  # log of ~4 Å
    graphs = [g for chunk in sample_graphs(model, 3, steps=4, seed=0) for g in chunk]
    dom = get_manager().get("domains", "crystals")
    structures_ = [dom.from_graph(g) for g in graphs]
    assert len(structures_) == 3 and all(len(s) >= 1 for s in structures_)
    assert all(np.isfinite(s.lattice.matrix).all() for s in structures_)


# ---------------------------------------------------------------------------- (e) fully connected unchanged
#: denoiser outputs of ``perov5-csp`` on the inputs of :func:`fixed_inputs`, recorded with the
#: code before the radius-graph mode was added (rounded to 1e-6)
BEFORE = {
    "frac_coords": [[0.551488, 0.655089, -0.865762], [-0.731635, -0.130405, -1.030871],
                    [-0.669981, -1.654732, 2.099804], [-0.427629, -0.778334, 2.865101],
                    [0.998539, 1.670097, -3.20593], [-1.093007, 2.119403, 1.289525],
                    [0.754625, -1.442123, -2.935547], [-1.415826, -2.546056, 2.069713],
                    [0.003818, 2.9536, 1.839048], [1.386279, -0.676543, -2.344792]],
    "lattice": [[0.773357, 1.343214, 1.395326, 0.622183, 0.085754, -0.286289],
                [0.126625, -0.032732, -0.196952, -0.050972, -0.759725, -0.342135]],
}


def fixed_inputs(model) -> tuple[NoisyGraphs, Batch]:
    from graphdiff_crystals.domain import CrystalDomain

    dom = CrystalDomain()
    b = Batch.from_data_list([dom.to_graph(s) for s in perov5_structures(2)])
    g = torch.Generator().manual_seed(0)
    frac = torch.rand(b.num_nodes, 3, generator=g)
    lat = model.processes["lattice"].encode(b.lattice, None) * 0.7 + 0.3 * torch.randn(2, 6, generator=g)
    inputs = {"frac_coords": frac, "lattice": lat,
              "atom_types": model.processes["atom_types"].clean_input(b.atom_types, b.batch)}
    graphs = NoisyGraphs(inputs=inputs, t=torch.tensor([0.5, 0.3]), batch=b.batch, ptr=b.ptr,
                         given=frozenset(["atom_types"]))
    return graphs, b


def test_fully_connected_checkpoint_unchanged_and_samples():
    from graphdiff.model import load_model
    from graphdiff.runner import sample_graphs
    from graphdiff_crystals.domain import CrystalDomain

    model, cfg, _ = load_model("perov5-csp")
    assert "cutoff" not in cfg.model.options and model.denoiser.cutoff is None
    assert model.denoiser.hparams == {"hidden": 128, "layers": 4, "num_freqs": 32, "self_pairs": True}
    graphs, b = fixed_inputs(model)
    with torch.no_grad():
        out = model.denoiser(graphs)
    for name, want in BEFORE.items():
        # float32 arithmetic on values of a few units: library builds move the last bits (up to
        # ~3e-6 seen); any change to the model moves them by orders of magnitude more
        assert torch.allclose(out[name].double(), torch.tensor(want, dtype=torch.float64), atol=1e-5, rtol=0), name
    templates = b.to_data_list()
    gen = [g for chunk in sample_graphs(model, templates=templates, steps=20, seed=0) for g in chunk]
    dom = CrystalDomain()
    structures_ = [dom.from_graph(g) for g in gen]
    assert len(structures_) == 2
    for s, tpl in zip(structures_, perov5_structures(2)):
        assert s.composition.reduced_formula == tpl.composition.reduced_formula
        assert math.isfinite(s.volume) and s.volume > 1.0


def test_a_predictor_with_a_radius_graph_reads_its_lattice_normalisation():
    import warnings

    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor
    from graphdiff_crystals import sample_path

    dom = get_manager().get("domains", "crystals")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = list(dom.read(sample_path()))[:8]
    graphs = [dom.record_to_graph(r) for r in recs]
    for g in graphs:
        g.predictor_y = torch.tensor([[float(g.heat_ref)]])
    p = Predictor(dom.spec, ["heat_ref"], "periodic", hidden=16, layers=1, options={"cutoff": 5.0},
                  ensemble=1, domain="crystals")
    p.fit_statistics(graphs)
    mean, std = p.predict(graphs)
    assert mean.shape == (8, 1) and torch.isfinite(mean).all() and torch.isfinite(std).all()
