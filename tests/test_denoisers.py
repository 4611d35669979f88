"""The built-in denoisers: output contract, symmetries, condition masking, gradients."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch_geometric.utils import to_dense_batch

from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import (
    EGNNDenoiser,
    GraphTransformerDenoiser,
    NoisyGraphs,
    PeriodicDenoiser,
)
from graphdiff.nn.embeddings import fully_connected_edges, pair_values_on_edges
from graphdiff.testing.symmetry import (
    assert_condition_masking,
    assert_periodic_invariant,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    random_noisy_graphs,
)

SIZES = [3, 1, 5, 2, 7, 4]


def _ramp_table(field):
    """A test class-feature table: two descriptors per class (a ramp and its square)."""
    if field.num_classes > 10:
        raise ValueError("the ramp table covers at most 10 classes")
    c = torch.arange(field.num_classes, dtype=torch.float32)
    return torch.stack([c, c ** 2], dim=1)


def _register_ramp() -> None:
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("features")
    if "test-ramp" not in registry:
        registry.register("test-ramp", _ramp_table, origin="tests")


_register_ramp()
SMALL = dict(hidden=16, layers=2)

SOCIAL = GraphSpec("social", (
    FieldSpec("kind", "categorical", "node", num_classes=3),
    FieldSpec("coords", "continuous", "node", dim=2),
    FieldSpec("density", "continuous", "graph", dim=2),
    FieldSpec("family", "categorical", "graph", num_classes=3),
    FieldSpec("links", "categorical", "edge", num_classes=3),
))
SIGNALS = GraphSpec("signals", (
    FieldSpec("signal", "continuous", "node", dim=4),
    FieldSpec("kind", "categorical", "node", num_classes=2),
))
MOLECULE = GraphSpec("molecule", (
    FieldSpec("atoms", "categorical", "node", num_classes=4),
    FieldSpec("charge", "continuous", "node", dim=1),
    FieldSpec("pos", "positions", "node", dim=3),
    FieldSpec("bonds", "categorical", "edge", num_classes=4),
    FieldSpec("energy", "continuous", "graph", dim=1),
))
PLANAR = GraphSpec("planar", (
    FieldSpec("atoms", "categorical", "node", num_classes=3),
    FieldSpec("xy", "positions", "node", dim=2),
))
CRYSTAL = GraphSpec("crystal", (
    FieldSpec("types", "categorical", "node", num_classes=5),
    FieldSpec("frac", "torus", "node", dim=3),
    FieldSpec("lattice", "continuous", "graph", dim=6),
))
CRYSTAL_BONDS = GraphSpec("crystal_bonds", CRYSTAL.fields + (
    FieldSpec("bonds", "categorical", "edge", num_classes=2),
    FieldSpec("phase", "categorical", "graph", num_classes=2),
))

# continuous edge fields: values on the pairs beside the categorical edge field
SOCIAL_VALUES = GraphSpec("social_values", SOCIAL.fields + (
    FieldSpec("length", "continuous", "edge", dim=1),
    FieldSpec("capacity", "continuous", "edge", dim=2),
))
MOLECULE_VALUES = GraphSpec("molecule_values", MOLECULE.fields + (
    FieldSpec("bond_length", "continuous", "edge", dim=1),
))
CRYSTAL_VALUES = GraphSpec("crystal_values", CRYSTAL_BONDS.fields + (
    FieldSpec("bond_order", "continuous", "edge", dim=1),
))


def everything(spec: GraphSpec) -> dict[str, int]:
    return {f.name: f.width for f in spec.fields}


CASES = {
    "gt-social": (GraphTransformerDenoiser, SOCIAL, dict(heads=4, edge_hidden=8)),
    "gt-no-edges": (GraphTransformerDenoiser, SIGNALS, dict(heads=2, edge_hidden=8)),
    "gt-structure": (GraphTransformerDenoiser, SOCIAL, dict(heads=4, edge_hidden=8, structure_features=True)),
    "gt-distances": (GraphTransformerDenoiser, SOCIAL, dict(heads=4, edge_hidden=8, pair_distances="coords")),
    "egnn-molecule": (EGNNDenoiser, MOLECULE, {}),
    "egnn-2d": (EGNNDenoiser, PLANAR, dict(sublayers=1, attention=False, tanh=False)),
    "periodic": (PeriodicDenoiser, CRYSTAL, dict(num_freqs=8)),
    "periodic-bonds": (PeriodicDenoiser, CRYSTAL_BONDS, dict(num_freqs=4, self_pairs=False)),
    "periodic-features": (PeriodicDenoiser, CRYSTAL, dict(num_freqs=8, class_features={"types": "test-ramp"})),
    "egnn-features": (EGNNDenoiser, MOLECULE, dict(class_features={"atoms": "test-ramp"})),
    "gt-features": (GraphTransformerDenoiser, SOCIAL, dict(heads=4, edge_hidden=8,
                                                           class_features={"kind": "test-ramp"})),
    # registered encoders other than the default "fields"
    "gt-encoders": (GraphTransformerDenoiser, SOCIAL, dict(heads=4, edge_hidden=8, encoder="distances",
                                                           encoder_options={"field": "coords", "num_basis": 6})),
    "egnn-distances": (EGNNDenoiser, MOLECULE, dict(encoder="distances", encoder_options={"num_basis": 6})),
    "periodic-positional": (PeriodicDenoiser, CRYSTAL_BONDS, dict(num_freqs=4, encoder="positional",
                                                                  encoder_options={"walk_steps": 3})),
    "gt-values": (GraphTransformerDenoiser, SOCIAL_VALUES, dict(heads=4, edge_hidden=8)),
    "egnn-values": (EGNNDenoiser, MOLECULE_VALUES, {}),
    "periodic-values": (PeriodicDenoiser, CRYSTAL_VALUES, dict(num_freqs=4, self_pairs=False)),
}


def build(case: str, cond_dim: int = 0, outputs: dict[str, int] | None = None, **extra):
    cls, spec, options = CASES[case]
    torch.manual_seed(0)
    model = cls(spec, outputs or everything(spec), cond_dim, **SMALL, **options, **extra)
    return model.double(), spec


def batch(spec: GraphSpec, cond_dim: int = 0, seed: int = 1, **kw) -> NoisyGraphs:
    return random_noisy_graphs(spec, SIZES, cond_dim=cond_dim, seed=seed, **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_keys_and_shapes(case):
    model, spec = build(case, cond_dim=2)
    graphs = batch(spec, cond_dim=2)
    out = model(graphs)
    assert set(out) == set(model.outputs)
    rows = {"node": graphs.num_nodes, "graph": graphs.num_graphs,
            "edge": 0 if graphs.pair_index is None else graphs.pair_index.size(1)}
    for name, value in out.items():
        f = spec[name]
        assert value.shape == (rows[f.level.value], f.width), name
        assert value.dtype == torch.float64 and torch.isfinite(value).all(), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_permutation_equivariance(case):
    model, spec = build(case)
    for seed in (0, 1):
        assert_permutation_equivariant(model, batch(spec, seed=seed + 3), seed=seed)


def test_permutation_check_catches_a_broken_model():
    class Positional(GraphTransformerDenoiser):
        def forward(self, graphs):
            out = super().forward(graphs)
            out["kind"] = out["kind"] + torch.arange(graphs.num_nodes, dtype=out["kind"].dtype)[:, None]
            return out

    torch.manual_seed(0)
    model = Positional(SOCIAL, everything(SOCIAL), **SMALL, heads=4).double()
    with pytest.raises(AssertionError, match="'kind'"):
        assert_permutation_equivariant(model, batch(SOCIAL))


@pytest.mark.parametrize("case", ["egnn-molecule", "egnn-2d", "egnn-distances"])
@pytest.mark.parametrize("reflect", [False, True])
def test_egnn_rotation_reflection_translation(case, reflect):
    model, spec = build(case)
    graphs = batch(spec)
    assert_rotation_equivariant(model, graphs, reflect=reflect, translate=True, seed=2)
    pos = next(f.name for f in spec.fields if f.kind.value == "positions")
    eps = model(graphs)[pos]
    means = torch.zeros(graphs.num_graphs, eps.size(1), dtype=eps.dtype).index_add_(0, graphs.batch, eps)
    assert means.abs().max() < 1e-10  # zero centre of mass
    assert eps.abs().max() > 1e-6     # and not trivially zero


def test_egnn_output_is_not_invariant():
    """Equivariance of the positions output is not satisfied by accident (by a constant)."""
    model, spec = build("egnn-molecule")
    graphs = batch(spec)
    q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    rotated = graphs.with_inputs(pos=graphs.inputs["pos"] @ q.T)
    assert (model(graphs)["pos"] - model(rotated)["pos"]).abs().max() > 1e-6


@pytest.mark.parametrize("case", ["periodic", "periodic-bonds", "periodic-positional"])
def test_periodic_invariance(case):
    model, spec = build(case)
    assert_periodic_invariant(model, batch(spec), seed=3)


def test_periodic_depends_on_relative_positions():
    model, spec = build("periodic")
    graphs = batch(spec)
    frac = graphs.inputs["frac"].clone()
    frac[0] = (frac[0] + 0.25) % 1.0  # move one atom of a 3-atom crystal
    diff = model(graphs)["frac"] - model(graphs.with_inputs(frac=frac))["frac"]
    assert diff[:3].abs().max() > 1e-6


@pytest.mark.parametrize("case", ["gt-social", "egnn-molecule", "periodic"])
def test_condition_masking(case):
    model, spec = build(case, cond_dim=3)
    assert_condition_masking(model, batch(spec, cond_dim=3), seed=4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_reach_every_parameter(case):
    model, spec = build(case, cond_dim=2)
    graphs = batch(spec, cond_dim=2)
    graphs = replace(graphs, cond=graphs.cond.masked_fill(~graphs.cond_mask, float("nan")))
    model.train()
    loss = sum((v ** 2).mean() for v in model(graphs).values())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, bad


@pytest.mark.parametrize("case, outputs, given", [
    ("gt-social", {"links": 3}, {"kind", "coords", "density", "family"}),
    ("gt-social", {"kind": 3}, {"links", "coords", "density", "family"}),
    ("egnn-molecule", {"atoms": 4}, {"pos", "charge", "bonds", "energy"}),
    ("periodic", {"frac": 3, "lattice": 6}, {"types"}),
    ("gt-values", {"length": 1, "capacity": 2}, {"kind", "coords", "density", "family", "links"}),
    ("gt-values", {"links": 3, "length": 1}, {"kind", "coords", "density", "family", "capacity"}),
])
def test_partial_outputs_use_every_parameter(case, outputs, given):
    """Tasks that give some fields (CSP, edge-only generation) leave no unused parameters
    (DDP without find_unused_parameters)."""
    model, spec = build(case, outputs=outputs)
    graphs = batch(spec, given=given)
    out = model(graphs)
    assert set(out) == set(outputs)
    sum(v.sum() for v in out.values()).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


@pytest.mark.parametrize("case, field", [("gt-values", "length"), ("egnn-values", "bond_length"),
                                         ("periodic-values", "bond_order")])
def test_continuous_edge_values_are_read_and_predicted(case, field):
    """The noisy values of a continuous edge field reach every output, and its head predicts
    one value per pair (so (i, j) and (j, i) share it)."""
    model, spec = build(case)
    graphs = batch(spec)
    a = model(graphs)
    assert a[field].shape == (graphs.pair_index.size(1), spec[field].dim)
    moved = graphs.with_inputs(**{field: graphs.inputs[field] + 1.0})
    b = model(moved)
    edge = spec.edge_field.name
    assert (a[field] - b[field]).abs().max() > 1e-6 and (a[edge] - b[edge]).abs().max() > 1e-6
    without = dict(graphs.inputs)
    del without[field]   # absent values read as zeros
    c = model(replace(graphs, inputs=without))
    zero = model(graphs.with_inputs(**{field: torch.zeros_like(graphs.inputs[field])}))
    assert torch.allclose(c[field], zero[field])


def test_given_flags_change_the_output():
    model, spec = build("periodic", outputs={"frac": 3, "lattice": 6})
    graphs = batch(spec)
    a = model(graphs)["frac"]
    b = model(replace(graphs, given=frozenset({"types"})))["frac"]
    assert (a - b).abs().max() > 1e-6


@pytest.mark.parametrize("case", ["gt-social", "egnn-molecule", "periodic-bonds"])
def test_missing_pair_index_is_rebuilt(case):
    model, spec = build(case)
    graphs = batch(spec)
    a = model(graphs)
    b = model(replace(graphs, pair_index=None, pair_batch=None))
    for name in a:
        assert torch.allclose(a[name], b[name])


def test_long_class_ids_are_accepted():
    model, spec = build("periodic")
    graphs = batch(spec)
    types = torch.randint(0, 5, (graphs.num_nodes,))
    a = model(graphs.with_inputs(types=types))
    b = model(graphs.with_inputs(types=torch.nn.functional.one_hot(types, 5).double()))
    assert torch.allclose(a["types"], b["types"])


def test_a_single_one_node_graph():
    for case in sorted(CASES):
        model, spec = build(case)
        out = model(random_noisy_graphs(spec, [1], seed=0))
        assert all(torch.isfinite(v).all() for v in out.values()), case


@pytest.mark.parametrize("cls", [GraphTransformerDenoiser, EGNNDenoiser, PeriodicDenoiser])
def test_unknown_option_is_named(cls):
    spec = {GraphTransformerDenoiser: SOCIAL, EGNNDenoiser: MOLECULE, PeriodicDenoiser: CRYSTAL}[cls]
    with pytest.raises(TypeError, match="hiden"):
        cls(spec, everything(spec), hiden=3)


def test_bad_outputs_and_specs_are_refused():
    with pytest.raises(ValueError, match="width"):
        GraphTransformerDenoiser(SOCIAL, {"kind": 4})
    with pytest.raises(ValueError, match="not fields"):
        GraphTransformerDenoiser(SOCIAL, {"nope": 4})
    with pytest.raises(ValueError, match="periodic"):
        GraphTransformerDenoiser(CRYSTAL, {"types": 5})
    with pytest.raises(ValueError, match="positions field"):
        EGNNDenoiser(SOCIAL, {"kind": 3})
    with pytest.raises(ValueError, match="torus field"):
        PeriodicDenoiser(SOCIAL, {"kind": 3})
    with pytest.raises(ValueError, match="egnn"):
        PeriodicDenoiser(GraphSpec("x", CRYSTAL.fields + MOLECULE.fields[2:3]), {"types": 5})


def test_pair_values_on_edges_is_symmetric():
    ptr = torch.tensor([0, 3, 4, 6])
    edges = fully_connected_edges(ptr, self_loops=True)
    assert edges.size(1) == 9 + 1 + 4
    from graphdiff.nn import all_pairs
    pairs, _ = all_pairs(ptr)
    values = torch.arange(pairs.size(1), dtype=torch.float64)[:, None] + 1
    on_edges = pair_values_on_edges(values, pairs, edges, 6)
    for (s, t), v in zip(edges.T.tolist(), on_edges[:, 0].tolist()):
        if s == t:
            assert v == 0
        else:
            k = [(a, b) for a, b in pairs.T.tolist()].index((min(s, t), max(s, t)))
            assert v == k + 1


def test_builtins_register_the_denoisers():
    from graphdiff.testing import isolated_manager

    with isolated_manager() as pm:
        registry = pm.registries["denoisers"]
        assert registry.get("graph_transformer") is GraphTransformerDenoiser
        assert registry.get("egnn") is EGNNDenoiser
        assert registry.get("periodic") is PeriodicDenoiser


@pytest.mark.parametrize("case", ["gt-social", "egnn-molecule", "periodic"])
def test_symmetries_hold_in_float32(case):
    cls, spec, options = CASES[case]
    torch.manual_seed(0)
    model = cls(spec, everything(spec), hidden=32, layers=2, **options)
    graphs = random_noisy_graphs(spec, [9, 1, 14], seed=5, dtype=torch.float32)
    assert_permutation_equivariant(model, graphs)
    if cls is EGNNDenoiser:
        assert_rotation_equivariant(model, graphs, reflect=True)
    if cls is PeriodicDenoiser:
        assert_periodic_invariant(model, graphs)


def test_pair_distance_basis_is_rigid_motion_invariant_and_locates_the_distance():
    model, spec = build("gt-distances")
    graphs = batch(spec)
    basis = model._distance_basis(graphs, graphs.num_graphs)
    angle = torch.tensor(0.7, dtype=torch.float64)
    rot = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    shift = torch.tensor([3.0, -2.0], dtype=torch.float64)
    moved = {**graphs.inputs, "coords": graphs.inputs["coords"] @ rot.T + shift}
    real = to_dense_batch(graphs.batch, graphs.batch, batch_size=graphs.num_graphs)[1]
    pairs = real[:, :, None] & real[:, None, :]   # padding is masked out by the caller
    assert torch.allclose(model._distance_basis(replace(graphs, inputs=moved), graphs.num_graphs)[pairs],
                          basis[pairs], atol=1e-9)
    # two nodes 1.0 apart: the basis peaks at the centre nearest 1.0
    two = random_noisy_graphs(spec, [2], seed=0)
    two = replace(two, inputs={**two.inputs, "coords": torch.tensor([[0.0, 0.0], [0.6, 0.8]], dtype=torch.float64)})
    peak = int(model._distance_basis(two, 1)[0, 0, 1].argmax())
    assert peak == int((model.rbf_centers - 1.0).abs().argmin())
    # and the pair stream uses it: other distances, other edge logits (all else equal)
    far = replace(two, inputs={**two.inputs, "coords": torch.tensor([[0.0, 0.0], [1.8, 2.4]], dtype=torch.float64)})
    model.eval()
    assert not torch.allclose(model(two)["links"], model(far)["links"])


def test_pair_distances_must_name_a_continuous_node_field():
    with pytest.raises(ValueError, match="pair_distances must name a continuous node field .*coords"):
        GraphTransformerDenoiser(SOCIAL, everything(SOCIAL), pair_distances="coord")
    with pytest.raises(ValueError, match="got 'kind'"):
        GraphTransformerDenoiser(SOCIAL, everything(SOCIAL), pair_distances="kind")


def test_class_features_enter_the_node_embedding():
    """The table's descriptors of each node's class change the output; a one-hot and a soft
    (probability) input both go through the table; the table is saved with the weights."""
    model, spec = build("periodic-features")
    model = model.float()
    emb = model.node_in
    assert torch.equal(emb.table_types, _ramp_table(spec["types"]))
    assert "node_in.table_types" in model.state_dict()
    x = torch.eye(5)
    base = emb.embed({"types": x}, 5)
    with torch.no_grad():
        emb.feature_proj["types"].weight.zero_()
    assert not torch.allclose(base, emb.embed({"types": x}, 5))
    with torch.no_grad():
        emb.feature_proj["types"].weight.fill_(1.0)
    soft = torch.full((1, 5), 0.2, requires_grad=True)
    out = emb.embed({"types": soft}, 1)
    out.sum().backward()
    assert soft.grad is not None and torch.isfinite(soft.grad).all()
    # the expectation of the descriptors under the class probabilities: mean ramp 2, mean square 6
    expected = emb.bias + emb.proj["types"](soft.detach()) + emb.feature_proj["types"](torch.tensor([[2.0, 6.0]]))
    assert torch.allclose(out, expected, atol=1e-5)


def test_class_features_errors_name_field_and_table():
    from graphdiff.errors import UnknownNameError

    with pytest.raises(ValueError, match="'frac' is not a categorical node field.*types"):
        PeriodicDenoiser(CRYSTAL, everything(CRYSTAL), class_features={"frac": "test-ramp"}, **SMALL)
    with pytest.raises(UnknownNameError, match="no-such-table"):
        PeriodicDenoiser(CRYSTAL, everything(CRYSTAL), class_features={"types": "no-such-table"}, **SMALL)
    big = GraphSpec("big", (FieldSpec("types", "categorical", "node", num_classes=12),) + CRYSTAL.fields[1:])
    with pytest.raises(ValueError, match="at most 10 classes"):
        PeriodicDenoiser(big, everything(big), class_features={"types": "test-ramp"}, **SMALL)
    with pytest.raises(ValueError, match="must map field names"):
        PeriodicDenoiser(CRYSTAL, everything(CRYSTAL), class_features="test-ramp", **SMALL)
