"""GraphSpec / FieldSpec: construction rules, serialisation, and validation of graphs.

Random graphs come from :func:`graphdiff.testing.strategies.graphs`; each corruption test breaks
one thing in a valid graph and checks the error names the place (``where``) and the field.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from graphdiff.errors import GraphValidationError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level, wrap01
from graphdiff.testing.strategies import graphs

WHERE = "train.csv row 17"

CRYSTAL_LIKE = GraphSpec(
    name="crystal-like",
    fields=(
        FieldSpec("atom_types", FieldKind.CATEGORICAL, Level.NODE, num_classes=5,
                  labels=("H", "C", "N", "O", "F")),
        FieldSpec("frac_coords", "torus", "node", dim=3),
        FieldSpec("lattice", "continuous", "graph", dim=6),
    ),
    properties=("gap",),
    max_nodes=10,
)

EVERYTHING = GraphSpec(
    name="everything",
    fields=(
        FieldSpec("kind", "categorical", "node", num_classes=3),
        FieldSpec("signal", "continuous", "node", dim=2),
        FieldSpec("angle", "torus", "node", dim=1),
        FieldSpec("pos", "positions", "node", dim=3),
        FieldSpec("label", "categorical", "graph", num_classes=4),
        FieldSpec("scale", "continuous", "graph", dim=1),
        FieldSpec("bond", "categorical", "edge", num_classes=3),
        FieldSpec("length", "continuous", "edge", dim=2),
    ),
    properties=("energy", "gap"),
)

PAIRS = [
    ("categorical", "node"), ("categorical", "graph"), ("categorical", "edge"),
    ("continuous", "node"), ("continuous", "graph"), ("continuous", "edge"), ("torus", "node"), ("positions", "node"),
]


@st.composite
def specs(draw: Any) -> GraphSpec:
    """Random valid specs: any supported kind/level pairs, at most one categorical edge field
    (added when a continuous edge field needs it)."""
    chosen = draw(st.lists(st.sampled_from(PAIRS), min_size=1, max_size=6))
    if ("continuous", "edge") in chosen and ("categorical", "edge") not in chosen:
        chosen.append(("categorical", "edge"))
    edge_seen = False
    fields = []
    for i, (kind, level) in enumerate(chosen):
        if (kind, level) == ("categorical", "edge"):
            if edge_seen:
                continue
            edge_seen = True
        if kind == "categorical":
            fields.append(FieldSpec(f"f{i}", kind, level, num_classes=draw(st.integers(2, 6))))
        else:
            fields.append(FieldSpec(f"f{i}", kind, level, dim=draw(st.integers(1, 4))))
    props = draw(st.lists(st.sampled_from(["p", "q"]), unique=True, max_size=2))
    max_nodes = draw(st.one_of(st.none(), st.integers(3, 12)))
    return GraphSpec(name="random", fields=tuple(fields), properties=tuple(props), max_nodes=max_nodes)


@st.composite
def spec_and_graph(draw: Any, spec: GraphSpec | None = None, min_nodes: int = 1) -> tuple[GraphSpec, Data]:
    spec = spec if spec is not None else draw(specs())
    return spec, draw(graphs(spec, min_nodes=min_nodes))


def fails(spec: GraphSpec, data: Data, *fragments: str) -> str:
    """Assert validation fails and the message names ``WHERE`` and every fragment."""
    with pytest.raises(GraphValidationError) as info:
        spec.validate(data, where=WHERE)
    msg = str(info.value)
    assert msg.startswith(f"{WHERE}: "), msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    return msg


# ---------------------------------------------------------------------------- valid graphs
@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph())
def test_generated_graphs_validate(pair: tuple[GraphSpec, Data]) -> None:
    spec, data = pair
    spec.validate(data, where=WHERE)
    assert 1 <= data.num_nodes <= (spec.max_nodes or 8)


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(graphs(EVERYTHING, min_nodes=2, max_nodes=6))
def test_generated_graphs_have_the_documented_layout(data: Data) -> None:
    EVERYTHING.validate(data)
    n = data.num_nodes
    assert data.kind.shape == (n,) and data.kind.dtype == torch.long
    assert data.signal.shape == (n, 2) and data.signal.dtype == torch.float32
    assert data.pos.shape == (n, 3)
    assert data.label.shape == (1,) and data.scale.shape == (1, 1)
    assert bool(((data.angle >= 0) & (data.angle < 1)).all())
    ei = data.edge_index
    assert ei.shape[0] == 2 and data.bond.shape == (ei.shape[1],)
    assert bool((data.bond >= 1).all())  # class 0 ("no edge") is never stored
    assert bool((ei[0] != ei[1]).all())
    # both directions of each edge, with the same class
    forward = {(int(a), int(b)): int(c) for a, b, c in zip(ei[0], ei[1], data.bond)}
    assert all(forward.get((b, a)) == c for (a, b), c in forward.items())


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(graphs(CRYSTAL_LIKE))
def test_crystal_like_graphs_validate_and_respect_max_nodes(data: Data) -> None:
    CRYSTAL_LIKE.validate(data, where=WHERE)
    assert data.num_nodes <= CRYSTAL_LIKE.max_nodes


def test_validate_subset_of_fields() -> None:
    data = Data(num_nodes=2, atom_types=torch.tensor([0, 1]))
    CRYSTAL_LIKE.validate(data, where=WHERE, fields=["atom_types"])
    fails(CRYSTAL_LIKE, data, "field 'frac_coords' is missing")
    with pytest.raises(KeyError, match="no field 'nope'"):
        CRYSTAL_LIKE.validate(data, fields=["nope"])


# ---------------------------------------------------------------------------- corruptions
def node_fields(spec: GraphSpec, *kinds: str) -> list[FieldSpec]:
    return [f for f in spec.fields if f.level is Level.NODE and f.kind.value in kinds]


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph(), st.data())
def test_wrong_shape_named(pair: tuple[GraphSpec, Data], data: st.DataObject) -> None:
    spec, g = pair
    f = data.draw(st.sampled_from([f for f in spec.fields if f.level is not Level.EDGE] or [None]))
    assume(f is not None)
    value = getattr(g, f.name)
    how = data.draw(st.sampled_from(["extra row", "extra column"] if value.dim() == 2 else ["extra row"]))
    if how == "extra row":
        bad = torch.cat([value, value[:1]], dim=0)
    else:
        bad = torch.cat([value, value[:, :1]], dim=1)
    setattr(g, f.name, bad)
    fails(spec, g, f"field {f.name!r}", f"shape {list(bad.shape)}", f"expected {list(value.shape)}")


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph(), st.data())
def test_nan_or_inf_named(pair: tuple[GraphSpec, Data], data: st.DataObject) -> None:
    spec, g = pair
    floats = [f for f in spec.fields if f.kind is not FieldKind.CATEGORICAL and getattr(g, f.name).numel()]
    assume(floats)
    f = data.draw(st.sampled_from(floats))
    value = getattr(g, f.name).clone()
    row = data.draw(st.integers(0, value.shape[0] - 1))
    col = data.draw(st.integers(0, value.shape[1] - 1))
    value[row, col] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    setattr(g, f.name, value)
    fails(spec, g, f"field {f.name!r}", "non-finite value", f"at row {row}")


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph(), st.data())
def test_class_id_out_of_range_named(pair: tuple[GraphSpec, Data], data: st.DataObject) -> None:
    spec, g = pair
    cats = [f for f in spec.of_kind("categorical") if getattr(g, f.name).numel()]
    assume(cats)
    f = data.draw(st.sampled_from(cats))
    value = getattr(g, f.name).clone()
    low = 1 if f.level is Level.EDGE else 0
    value[data.draw(st.integers(0, value.numel() - 1))] = data.draw(
        st.one_of(st.integers(f.num_classes, f.num_classes + 5), st.integers(-5, low - 1)))
    setattr(g, f.name, value)
    fails(spec, g, f"field {f.name!r}", f"class ids must lie in [{low}, {f.num_classes})")


def test_edge_class_zero_is_not_stored() -> None:
    spec = GraphSpec("g", (FieldSpec("bond", "categorical", "edge", num_classes=3),))
    data = Data(num_nodes=2, edge_index=torch.tensor([[0, 1], [1, 0]]), bond=torch.tensor([0, 0]))
    fails(spec, data, "field 'bond'", "class ids must lie in [1, 3)")


def test_categorical_must_be_integer() -> None:
    data = Data(num_nodes=2, atom_types=torch.tensor([0.0, 1.0]), frac_coords=torch.zeros(2, 3),
                lattice=torch.zeros(1, 6))
    fails(CRYSTAL_LIKE, data, "field 'atom_types'", "must be integers")


def test_continuous_must_be_float() -> None:
    data = Data(num_nodes=2, atom_types=torch.tensor([0, 1]), frac_coords=torch.zeros(2, 3, dtype=torch.long),
                lattice=torch.zeros(1, 6))
    fails(CRYSTAL_LIKE, data, "field 'frac_coords'", "floating point")


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(graphs(CRYSTAL_LIKE), st.data())
def test_torus_value_outside_unit_interval_named(g: Data, data: st.DataObject) -> None:
    value = g.frac_coords.clone()
    row = data.draw(st.integers(0, value.shape[0] - 1))
    value[row, data.draw(st.integers(0, 2))] = data.draw(
        st.one_of(st.floats(1.0, 100.0), st.floats(-100.0, -1e-6)))
    g.frac_coords = value
    fails(CRYSTAL_LIKE, g, "field 'frac_coords'", "torus values must lie in [0, 1)")


@pytest.mark.filterwarnings("ignore:Unable to accurately infer")
@pytest.mark.parametrize("data", [Data(num_nodes=0), Data()], ids=["zero", "unknown"])
def test_no_nodes(data: Data) -> None:
    fails(CRYSTAL_LIKE, data, "graph has no nodes")


def test_too_many_nodes() -> None:
    n = CRYSTAL_LIKE.max_nodes + 1
    data = Data(num_nodes=n, atom_types=torch.zeros(n, dtype=torch.long),
                frac_coords=torch.zeros(n, 3), lattice=torch.zeros(1, 6))
    fails(CRYSTAL_LIKE, data, f"{n} nodes, more than the 10", "'crystal-like'")


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph(spec=EVERYTHING, min_nodes=1), st.data())
def test_self_loop_named(pair: tuple[GraphSpec, Data], data: st.DataObject) -> None:
    spec, g = pair
    node = data.draw(st.integers(0, g.num_nodes - 1))
    g.edge_index = torch.cat([g.edge_index, torch.tensor([[node], [node]])], dim=1)
    g.bond = torch.cat([g.bond, torch.tensor([1])])
    fails(spec, g, "field 'bond'", "self-loops are not allowed")


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(spec_and_graph(spec=EVERYTHING, min_nodes=2), st.integers(0, 3))
def test_edge_to_missing_node_named(pair: tuple[GraphSpec, Data], beyond: int) -> None:
    spec, g = pair
    n = g.num_nodes
    g.edge_index = torch.cat([g.edge_index, torch.tensor([[0], [n + beyond]])], dim=1)
    g.bond = torch.cat([g.bond, torch.tensor([1])])
    fails(spec, g, "field 'bond'", f"edge_index refers to nodes outside [0, {n})")


def test_edge_field_needs_edge_index() -> None:
    spec = GraphSpec("g", (FieldSpec("bond", "categorical", "edge", num_classes=2),))
    fails(spec, Data(num_nodes=3, bond=torch.ones(2, dtype=torch.long)), "field 'bond'", "edge_index of shape [2, E]")
    fails(spec, Data(num_nodes=3, bond=torch.ones(2, dtype=torch.long), edge_index=torch.tensor([0, 1])),
          "field 'bond'", "edge_index of shape [2, E]")


def test_missing_field_and_non_tensor() -> None:
    data = Data(num_nodes=1, atom_types=torch.tensor([0]), frac_coords=torch.zeros(1, 3))
    fails(CRYSTAL_LIKE, data, "field 'lattice' is missing")
    data.lattice = [[0.0] * 6]
    fails(CRYSTAL_LIKE, data, "field 'lattice' must be a tensor, got list")


def test_bad_property_named() -> None:
    data = Data(num_nodes=1, atom_types=torch.tensor([0]), frac_coords=torch.zeros(1, 3),
                lattice=torch.zeros(1, 6), gap=torch.tensor([1.0, 2.0]))
    fails(CRYSTAL_LIKE, data, "property 'gap' must be a one-element tensor")
    data.gap = torch.tensor([1.5])
    CRYSTAL_LIKE.validate(data)


# ---------------------------------------------------------------------------- spec construction
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="2bad", kind="continuous", level="node"), "not a Python identifier"),
        (dict(name="t", kind="torus", level="graph"), "kind 'torus' is not supported at level 'graph'"),
        (dict(name="p", kind="positions", level="edge"), "supported pairs: "),
        (dict(name="c", kind="categorical", level="node", num_classes=1), "needs num_classes >= 2"),
        (dict(name="c", kind="categorical", level="node", num_classes=3, labels=("a", "b")),
         "2 labels for 3 classes"),
        (dict(name="x", kind="continuous", level="node", dim=0), "needs dim >= 1, got 0"),
    ],
)
def test_bad_field_specs(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        FieldSpec(**kwargs)
    assert message in str(info.value)


def test_unknown_kind_or_level() -> None:
    with pytest.raises(ValueError, match="'spin'"):
        FieldSpec("x", "spin", "node")
    with pytest.raises(ValueError, match="'face'"):
        FieldSpec("x", "continuous", "face")


@pytest.mark.parametrize(
    ("fields", "properties", "message"),
    [
        ((FieldSpec("a", "continuous", "node"), FieldSpec("a", "torus", "node")), (), "duplicate field names ['a']"),
        ((FieldSpec("edge_index", "continuous", "node"),), (), "'edge_index' is a structural attribute"),
        ((FieldSpec("size", "continuous", "node"),), (), "'size' clashes with an attribute or method"),
        ((FieldSpec("node_index", "continuous", "node"),), (), "contains 'index' or 'batch'"),
        ((FieldSpec("a", "continuous", "node"),), ("to",), "'to' clashes"),
        ((FieldSpec("e1", "categorical", "edge", num_classes=2),
          FieldSpec("e2", "categorical", "edge", num_classes=2)), (), "at most one categorical edge-level field"),
        ((FieldSpec("length", "continuous", "edge"),), (), "needs a categorical edge field"),
        ((FieldSpec("gap", "continuous", "graph"),), ("gap",), "['gap'] are fields and properties"),
        ((), (), "has no fields"),
    ],
)
def test_bad_graph_specs(fields: tuple[FieldSpec, ...], properties: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError) as info:
        GraphSpec("bad", fields, properties)
    assert message in str(info.value) and "'bad'" in str(info.value)


def test_spec_lookups() -> None:
    assert CRYSTAL_LIKE.names == ["atom_types", "frac_coords", "lattice"]
    assert CRYSTAL_LIKE["lattice"].dim == 6 and "lattice" in CRYSTAL_LIKE and "pos" not in CRYSTAL_LIKE
    assert [f.name for f in CRYSTAL_LIKE.of_kind("torus")] == ["frac_coords"]
    assert [f.name for f in CRYSTAL_LIKE.at_level(Level.GRAPH)] == ["lattice"]
    assert CRYSTAL_LIKE.edge_field is None and EVERYTHING.edge_field.name == "bond"
    assert CRYSTAL_LIKE["atom_types"].width == 5 and CRYSTAL_LIKE["frac_coords"].width == 3
    with pytest.raises(KeyError, match="fields: \\['atom_types', 'frac_coords', 'lattice'\\]"):
        CRYSTAL_LIKE["coords"]


@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(specs())
def test_spec_dict_roundtrip(spec: GraphSpec) -> None:
    back = GraphSpec.from_dict(spec.to_dict())
    assert back == spec
    assert back.to_dict() == spec.to_dict()
    assert back.names == spec.names


def test_labels_survive_dict_roundtrip() -> None:
    assert GraphSpec.from_dict(CRYSTAL_LIKE.to_dict())["atom_types"].labels == ("H", "C", "N", "O", "F")


# ---------------------------------------------------------------------------- wrap01
@settings(deadline=None)  # torch ops; timing varies on a busy machine
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=20))
def test_wrap01_lands_in_unit_interval(values: list[float]) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    y = wrap01(x)
    assert bool(((y >= 0) & (y < 1)).all())
    # a whole number of periods away (up to float32 rounding of large x)
    k = (x - y).double()
    assert torch.allclose(k, k.round(), atol=1e-6 * float(x.abs().max().clamp_min(1.0)) + 1e-6)


# ---------------------------------------------------------------------------- continuous edge fields
ROADS = GraphSpec("roads", (FieldSpec("edges", "categorical", "edge", num_classes=2),
                            FieldSpec("length", "continuous", "edge", dim=1),
                            FieldSpec("capacity", "continuous", "edge", dim=2)))


def road(length: torch.Tensor | None = None) -> Data:
    """A path 0 - 1 - 2: edges (0, 1), (1, 2), then their reverses."""
    ei = torch.tensor([[0, 1, 1, 2], [1, 2, 0, 1]])
    return Data(num_nodes=3, edge_index=ei, edges=torch.ones(4, dtype=torch.long),
                length=torch.tensor([[1.5], [2.5], [1.5], [2.5]]) if length is None else length,
                capacity=torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0]]))


def test_continuous_edge_fields_validate_and_are_listed() -> None:
    ROADS.validate(road(), where=WHERE)
    assert ROADS.edge_field.name == "edges"
    assert [f.name for f in ROADS.edge_value_fields] == ["length", "capacity"]
    assert ROADS["length"].width == 1 and GraphSpec.from_dict(ROADS.to_dict()) == ROADS
    empty = Data(num_nodes=2, edge_index=torch.zeros(2, 0, dtype=torch.long), edges=torch.zeros(0, dtype=torch.long),
                 length=torch.zeros(0, 1), capacity=torch.zeros(0, 2))
    ROADS.validate(empty)


def test_continuous_edge_field_errors_are_named() -> None:
    fails(ROADS, road(torch.tensor([[1.5], [2.5], [1.5], [2.0]])), "'length'", "not symmetric", "edge (1, 2)",
          "(2, 1)", "[2.5]", "[2.0]")
    fails(ROADS, road(torch.tensor([1.5, 2.5, 1.5, 2.5])), "'length'", "shape [4]", "expected [4, 1]")
    fails(ROADS, road(torch.tensor([[1.5], [2.5], [1.5]])), "'length'", "expected [4, 1]")
    fails(ROADS, road(torch.tensor([[1], [2], [1], [2]])), "'length'", "floating point")
    fails(ROADS, road(torch.tensor([[1.5], [float("nan")], [1.5], [float("nan")]])), "'length'", "non-finite")
    one_way = road()
    one_way.edge_index = torch.tensor([[0, 1, 1, 0], [1, 2, 0, 2]])
    fails(ROADS, one_way, "'length'", "edge (1, 2)", "has no reverse (2, 1)")


@settings(deadline=None, max_examples=30)
@given(graphs(ROADS, max_nodes=6))
def test_continuous_edge_values_survive_json(data: Data) -> None:
    from graphdiff.graphio import graph_from_json, graph_to_json

    ROADS.validate(data)
    back = graph_from_json(graph_to_json(data, ROADS), ROADS)
    ROADS.validate(back)
    assert torch.equal(back.edge_index, data.edge_index)
    for name in ("length", "capacity"):
        assert getattr(back, name).shape == getattr(data, name).shape
        assert torch.equal(getattr(back, name), getattr(data, name))
