"""Encoders and objectives chosen by name: the built-ins through the registries, the defaults
exactly as before they were extension points, what each built-in computes, and clear errors."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Batch, Data

from graphdiff import builtins
from graphdiff.cli import cli
from graphdiff.config import DiffusionConfig, dump_config, parse_config
from graphdiff.errors import ConfigError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.model import build_model
from graphdiff.nn.base import NoisyGraphs, all_pairs
from graphdiff.nn.encoders import BUILTIN_ENCODERS, DistanceEncoder, FieldEncoder, PositionalEncoder
from graphdiff.objectives import (
    BUILTIN_OBJECTIVES,
    CrossEntropyObjective,
    DenoisingObjective,
    LossTerms,
    MinSNRObjective,
    MSEObjective,
    build_objectives,
)
from graphdiff.plugins import PluginManager
from graphdiff.processes import GaussianProcess
from graphdiff.schedules import CosineSchedule

CRYSTAL = GraphSpec("crystal", (
    FieldSpec("types", "categorical", "node", num_classes=4),
    FieldSpec("frac", "torus", "node", dim=3),
    FieldSpec("lattice", "continuous", "graph", dim=6),
))
GRAPHS = GraphSpec("graphs", (
    FieldSpec("signal", "continuous", "node", dim=2),
    FieldSpec("links", "categorical", "edge", num_classes=2),
))


def test_builtins_register_through_the_hooks() -> None:
    pm = PluginManager(autoload=False).load()
    for kind, table, objects in (("encoders", builtins.ENCODERS, BUILTIN_ENCODERS),
                                 ("objectives", builtins.OBJECTIVES, BUILTIN_OBJECTIVES)):
        assert set(table) == set(objects) == set(pm.plugins["graphdiff"].registered[kind])
        for name, cls in objects.items():
            assert pm.registry(kind).entry(name).description == table[name][1]
            assert pm.get(kind, name) is cls


# ---------------------------------------------------------------------------- defaults
#: The training loss of three bundled models (one per built-in denoiser) on fixed graphs with a
#: fixed generator, as each process's own loss gives it.
PINNED = {"community-small-dng": 0.3339410126209259, "qm9-dng": 2.365318775177002,
          "perov5-csp": 298.8388671875}


def _fixed_graphs(name: str, model) -> list[Data]:
    g = torch.Generator().manual_seed(11)
    if name == "community-small-dng":
        import networkx as nx

        from graphdiff.plugins import get_manager

        social = get_manager().get("domains", "social")
        return [social.to_graph(x) for x in (nx.cycle_graph(5), nx.path_graph(6), nx.complete_graph(4),
                                             nx.star_graph(5))]
    mols, crystals = [], []
    for n in (3, 5, 4):
        mols.append(Data(num_nodes=n, atom_types=torch.randint(0, 5, (n,), generator=g),
                         positions=torch.randn(n, 3, generator=g)))
        crystals.append(Data(num_nodes=n, atom_types=torch.randint(1, 60, (n,), generator=g),
                             frac_coords=torch.rand(n, 3, generator=g), lattice=torch.randn(1, 6, generator=g)))
    if name == "qm9-dng":
        return mols
    lattice = model.processes["lattice"]
    for c in crystals:
        c.lattice = lattice.mean + lattice.std * c.lattice
    return crystals


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_default_objective_is_each_process_loss(name: str) -> None:
    plugin = {"community-small-dng": "graphdiff_social", "qm9-dng": "graphdiff_molecules",
              "perov5-csp": "graphdiff_crystals"}[name]
    if importlib.util.find_spec(plugin) is None:  # found, not imported (the crystals plugin is slow to import)
        pytest.skip(f"{plugin} is not installed")
    from graphdiff.model import load_model

    model, cfg, _ = load_model(name)
    assert "objective" not in cfg.model_dump()["diffusion"] and "encoder" not in cfg.model_dump()["model"]
    assert all(type(o) is DenoisingObjective for o in model.objectives.values())
    assert type(model.denoiser.node_in) is FieldEncoder
    batch = Batch.from_data_list(_fixed_graphs(name, model))
    model.train()
    loss, parts = model.loss(batch, generator=torch.Generator().manual_seed(3))
    assert math.isclose(float(loss.detach()), PINNED[name], rel_tol=1e-6)
    # the objectives that name what the processes compute give the same numbers
    for field in list(model.objectives):
        kind = model.spec[field].kind.value
        model.objectives[field] = (CrossEntropyObjective if kind == "categorical" else MSEObjective)(model.spec[field])
    again, again_parts = model.loss(batch, generator=torch.Generator().manual_seed(3))
    assert torch.equal(loss, again) and parts == again_parts


def test_naming_the_default_encoder_builds_the_same_model() -> None:
    domain = SimpleNamespace(spec=GRAPHS)
    base = {"data": {"domain": "graphs"}, "model": {"hidden": 8, "layers": 1, "options": {"heads": 2}}}
    torch.manual_seed(0)
    default = build_model(parse_config(base), domain=domain)
    torch.manual_seed(0)
    named = build_model(parse_config({**base, "model": {**base["model"], "encoder": "fields"}}), domain=domain)
    a, b = default.state_dict(), named.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert {k for k in a if k.startswith("denoiser.node_in.")} == {"denoiser.node_in.proj.signal.weight",
                                                                   "denoiser.node_in.bias"}


def test_default_configs_dump_without_the_new_keys() -> None:
    cfg = parse_config({"data": {"domain": "x"}, "diffusion": {"fields": {"a": {"schedule": "linear"}}}})
    for fmt in ("toml", "yaml", "json"):
        text = dump_config(cfg, fmt)
        assert "encoder" not in text and "objective" not in text
    chosen = parse_config({"data": {"domain": "x"},
                           "model": {"encoder": "positional", "encoder_options": {"walk_steps": 3}},
                           "diffusion": {"objective": "min_snr", "objective_options": {"gamma": 2.0},
                                         "fields": {"a": {"objective": "mse"}}}})
    import tomllib

    assert parse_config(tomllib.loads(dump_config(chosen, "toml"))) == chosen


# ---------------------------------------------------------------------------- encoders
def _path_graph() -> NoisyGraphs:
    """One path 0 - 1 - 2 with one-hot edges, plus a single node."""
    ptr = torch.tensor([0, 3, 4])
    pair_index, pair_batch = all_pairs(ptr)  # (0,1), (0,2), (1,2)
    links = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    signal = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0], [1.0, 1.0]])
    return NoisyGraphs(inputs={"links": links, "signal": signal}, t=torch.tensor([0.5, 0.5]),
                       batch=torch.tensor([0, 0, 0, 1]), ptr=ptr, pair_index=pair_index, pair_batch=pair_batch)


def test_positional_encoder_reads_degrees_and_return_probabilities() -> None:
    enc = PositionalEncoder(GRAPHS, 8, walk_steps=2)
    feats = enc.walk_features(_path_graph())
    # degrees 1, 2, 1 (and 0 for the lone node); back after 2 steps: 1/2, 1, 1/2; after 3: never
    expected = torch.tensor([[math.log(2), 0.5, 0.0], [math.log(3), 1.0, 0.0], [math.log(2), 0.5, 0.0],
                             [0.0, 0.0, 0.0]])
    assert torch.allclose(feats, expected, atol=1e-6)
    assert enc(_path_graph()).shape == (4, 8)
    with pytest.raises(ValueError, match="needs an edge field; the 'crystal' spec has none"):
        PositionalEncoder(CRYSTAL, 8)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['steps'\]; valid options: .*walk_steps"):
        PositionalEncoder(GRAPHS, 8, steps=2)


def test_distance_encoder_expands_edge_lengths() -> None:
    enc = DistanceEncoder(GRAPHS, 8, num_basis=7, max_distance=6.0)  # centres 0, 1, ..., 6
    assert enc.field.name == "signal" and enc.edge_dim == 7
    edges = torch.tensor([[0, 0, 2], [1, 2, 1]])  # lengths 5, 3, 4
    feats = enc.edge_features(_path_graph(), edges)
    assert feats.shape == (3, 7) and feats.argmax(-1).tolist() == [5, 3, 4]
    with pytest.raises(ValueError, match="field must name a positions or continuous node field of 'crystal'"):
        DistanceEncoder(CRYSTAL, 8, field="frac")


def test_unknown_or_misplaced_encoders_are_config_errors() -> None:
    domain = SimpleNamespace(spec=GRAPHS)
    with pytest.raises(ConfigError, match="model.encoder: unknown encoder 'positonal'; did you mean 'positional'"
                                          r"\? Valid names: distances, fields, positional"):
        build_model(parse_config({"data": {"domain": "g"}, "model": {"encoder": "positonal"}}), domain=domain)
    with pytest.raises(ConfigError, match="model.options.encoder: set it as model.encoder"):
        build_model(parse_config({"data": {"domain": "g"}, "model": {"options": {"encoder": "fields"}}}),
                    domain=domain)


# ---------------------------------------------------------------------------- objectives
def test_min_snr_weights_the_squared_error() -> None:
    field = FieldSpec("x", "continuous", "node", dim=2)
    pred, target = torch.ones(3, 2), torch.zeros(3, 2)
    t = torch.tensor([0.05, 0.5, 0.95])
    for prediction in ("eps", "x0", "v"):
        process = GaussianProcess(field, CosineSchedule(), prediction=prediction)
        terms = LossTerms(field=field, process=process, pred=pred, target=target, x0=target, x_t=target,
                          t=t, index=torch.zeros(3, dtype=torch.long))
        snr = process.schedule.snr(t).float()
        clipped = snr.clamp_max(2.0)
        weight = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}[prediction]
        assert torch.allclose(MinSNRObjective(field, gamma=2.0)(terms), weight, rtol=1e-5)
    assert snr[0] > 2.0 > snr[2]  # both sides of gamma are exercised


def _diffusion(**kw) -> DiffusionConfig:
    return DiffusionConfig.model_validate(kw)


def test_objectives_are_chosen_per_field_and_kind() -> None:
    fields = ["types", "frac", "lattice"]
    run = build_objectives(_diffusion(objective="min_snr", objective_options={"gamma": 3.0}), CRYSTAL, fields)
    assert [type(run[n]) for n in fields] == [DenoisingObjective, DenoisingObjective, MinSNRObjective]
    assert run["lattice"].gamma == 3.0
    own = build_objectives(_diffusion(fields={"types": {"objective": "cross_entropy"},
                                              "frac": {"objective": "mse"}}), CRYSTAL, fields)
    assert [type(own[n]) for n in fields] == [CrossEntropyObjective, MSEObjective, DenoisingObjective]


@pytest.mark.parametrize("config, generate, message", [
    (dict(fields={"types": {"objective": "mse"}}), None,
     "diffusion.fields.types.objective: objective 'mse' takes continuous, positions, torus fields; "
     "'types' is categorical"),
    (dict(objective="cross_entropy"), ["frac", "lattice"],
     "diffusion.objective: 'cross_entropy' takes categorical fields; none of the generated fields"),
    (dict(objective="min-snr"), None,
     "diffusion.objective: unknown objective 'min-snr'; did you mean 'min_snr'\\? Valid names: cross_entropy, "
     "denoising, min_snr, mse"),
    (dict(fields={"types": {"objective": "cross_entropy"}}), ["frac", "lattice"],
     "diffusion.fields.types.objective: 'types' is not generated"),
    (dict(objective="min_snr", objective_options={"gama": 1}), None,
     "diffusion.objective: objective 'min_snr' for field 'lattice': .*unknown option.*gama"),
    (dict(objective="min_snr", fields={"frac": {"objective_options": {"gamma": 1}}}), None,
     "diffusion.fields.frac.objective_options: field 'frac' \\(torus\\) keeps 'denoising'"),
])
def test_objective_errors_name_the_config_key(config, generate, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_objectives(_diffusion(**config), CRYSTAL, generate or ["types", "frac", "lattice"])


def test_config_validate_refuses_unknown_encoders_and_objectives(tmp_path) -> None:
    pytest.importorskip("graphdiff_social")
    runner = CliRunner()
    for section, key, bad, valid in (("model", "encoder", "degree", "distances, fields, positional"),
                                     ("diffusion", "objective", "focal", "cross_entropy, denoising, min_snr, mse"),
                                     ("diffusion.fields.edges", "objective", "focal", "cross_entropy, denoising")):
        path = tmp_path / "run.toml"
        path.write_text(f'[data]\ndomain = "social"\n\n[{section}]\n{key} = "{bad}"\n')
        result = runner.invoke(cli, ["config", "validate", str(path)])
        assert result.exit_code != 0
        where = f"{section}.{key}"
        assert f"{where}: unknown {key} '{bad}'" in result.output and valid in result.output, result.output
