"""The plugin through its real entry point: domain and targets registered, data shipped."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

import graphdiff
from graphdiff.errors import DataError
from graphdiff.plugins import PluginManager, manager as manager_module, reset_manager
from graphdiff.targets import Target
from graphdiff_crystals.domain import CrystalDomain
from graphdiff_crystals.io import sample_path
from graphdiff_crystals.targets import density, volume_per_atom

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def test_entry_point_is_declared():
    eps = {ep.name: ep for ep in metadata.entry_points(group="graphdiff")}
    assert eps["crystals"].value == "graphdiff_crystals.plugin"
    assert eps["crystals"].dist.metadata["Name"] == "graphdiff-crystals"


def test_discovery_through_the_entry_point():
    pm = PluginManager(autoload=True, allow=["crystals"], strict=True).load()
    info = pm.plugins["crystals"]
    assert info.ok and info.distribution == "graphdiff-crystals"
    assert info.registered == {"domains": ["crystals"],
                               "targets": ["crystals-density", "crystals-volume_per_atom", "crystals-num_elements",
                                           "crystals-chgnet_energy", "perov5-heat_ref", "perov5-heat"],
                               "metrics": ["crystals-csp", "crystals-dng", "crystals-sanity", "crystals-energy"],
                               "checkpoints": ["carbon24-dng-energy", "carbon24-dng", "carbon24-xrd", "perov5-csp",
                                               "perov5-dng", "perov5-xrd"],
                               "baselines": ["crystals-retrieval", "crystals-substitution", "crystals-frequency"],
                               "commands": ["stability"],
                               "references": ["xrd"],
                               "features": ["elements"],
                               "extras": ["crystals", "stability"],
                               "lattices": ["crystals"]}
    assert isinstance(pm.get("domains", "crystals"), CrystalDomain)
    target = pm.get("targets", "crystals-density")
    assert isinstance(target, Target) and target.domain == "crystals" and target.units == "g/cm^3"


@pytest.mark.filterwarnings("ignore::graphdiff_crystals.io.CrystalReadWarning")
def test_load_domain(monkeypatch):
    monkeypatch.delenv("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "crystals")
    previous = manager_module._MANAGER
    reset_manager(None)
    try:
        domain = graphdiff.load_domain("crystals")
        assert isinstance(domain, CrystalDomain) and domain.name == "crystals"
        records = domain.read(sample_path(), skipped=[])
        data = domain.record_to_graph(next(iter(records)))
        assert data.num_nodes == 5
    finally:
        reset_manager(previous)


def test_targets():
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    # 4 NaCl (58.44 g/mol) in (5.64 Å)³
    assert density(nacl) == pytest.approx(4 * 58.443 / 6.02214076e23 / (5.64e-8) ** 3, rel=1e-3)
    assert volume_per_atom(nacl) == pytest.approx(5.64 ** 3 / 8)
    with pytest.raises(DataError, match="pymatgen Structure"):
        density("NaCl")


def test_sample_ships_as_package_data():
    path = sample_path()
    assert path.is_file() and path.name == "perov5_sample.csv"
    assert path.parent == PLUGIN_ROOT / "graphdiff_crystals" / "data"
    config = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())
    assert "data/*.csv" in config["tool"]["setuptools"]["package-data"]["graphdiff_crystals"]


def test_targets_are_differentiable_on_graph_fields():
    import torch
    from torch_geometric.data import Batch

    from graphdiff_crystals.targets import TARGETS

    domain = CrystalDomain()
    structures = [r["obj"] for r, _ in zip(domain.read(sample_path()), range(4))]
    batch = Batch.from_data_list([domain.to_graph(s) for s in structures])
    by_name = {t.name: t for t in TARGETS}
    for name, fn in (("crystals-density", density), ("crystals-volume_per_atom", volume_per_atom)):
        target = by_name[name]
        assert target.differentiable
        lattice = batch.lattice.clone().double().requires_grad_(True)
        values = target.graph_fn({"lattice": lattice, "atom_types": batch.atom_types}, batch)
        assert values.shape == (4,)
        assert values.tolist() == pytest.approx([fn(s) for s in structures], rel=1e-6)
        values.sum().backward()
        assert torch.isfinite(lattice.grad).all() and lattice.grad[:, :3].abs().min() > 0
        # class probabilities (one-hot here) give the same values; a batch vector works too
        onehot = torch.nn.functional.one_hot(batch.atom_types, 100).double()
        again = target.graph_fn({"lattice": batch.lattice.double(), "atom_types": onehot}, batch.batch)
        assert again.tolist() == pytest.approx(values.tolist(), rel=1e-9)


def test_bundled_heat_predictor_is_a_target_that_beats_the_mean():
    """``perov5-heat_ref`` (the bundled predictor) is registered as a differentiable target and,
    on bundled Perov-5 rows held out of its training split, is far closer than the training mean."""
    import csv
    import json
    import sys
    from importlib import resources

    from graphdiff.model import read_checkpoint
    from graphdiff.plugins import get_manager
    from graphdiff_crystals import sample_path

    manager = get_manager()
    target = manager.get("targets", "perov5-heat_ref")
    assert target.graph_fn is not None  # usable for gradient guidance
    folder = resources.files("graphdiff_crystals") / "predictors"
    manifest = json.loads((folder / "perov5-heat.json").read_text())
    assert manifest["target"] == "perov5-heat_ref" and manifest["made_by"]
    # the predictor shares perov5-csp's split: its held-out ids
    held_out = set(json.loads(read_checkpoint(folder.parent / "checkpoints" / "perov5-csp.ckpt")["meta"])["test_ids"])
    domain = manager.get("domains", "crystals")
    csv.field_size_limit(sys.maxsize)
    rows = [r for r in domain.read(sample_path()) if str(r["id"]) in held_out][:24]
    assert len(rows) >= 20
    truth = [float(r["props"]["heat_ref"]) for r in rows]
    pred = [target(r["obj"]) for r in rows]
    mae = sum(abs(p - t) for p, t in zip(pred, truth)) / len(rows)
    mean = sum(truth) / len(truth)  # the best constant for these very rows: a strict baseline
    baseline = sum(abs(t - mean) for t in truth) / len(truth)
    assert mae < 0.4 * baseline, (mae, baseline)


def test_num_elements_and_chgnet_energy_targets():
    import warnings

    from pymatgen.core import Lattice, Structure

    from graphdiff.errors import DataError
    from graphdiff.plugins import get_manager

    pm = get_manager()
    n, e = pm.get("targets", "crystals-num_elements"), pm.get("targets", "crystals-chgnet_energy")
    assert not n.differentiable and e.differentiable and e.units == "eV/atom"
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert n(nacl) == 2.0
    squeezed = nacl.copy()
    squeezed.scale_lattice(nacl.volume * 0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        energy, high = e(nacl), e(squeezed)
    assert -4.5 < energy < -2.5           # rock-salt NaCl: about -3.4 eV/atom (MP, GGA)
    assert high > energy + 0.1            # compressing far below equilibrium costs energy
    # a cell squeezed beyond any solid (1 atom/Å³; diamond has 0.18) is refused, not scored
    crushed = nacl.copy()
    crushed.scale_lattice(len(nacl) / 1.0)
    with pytest.raises(DataError, match=r"atoms/Å³ \(over 0.5: no solid is that dense"):
        e(crushed)
    with pytest.raises(DataError, match="at least one atom|Structure"):
        n("not a structure")


def test_chgnet_energy_gradient_matches_finite_differences():
    """``graph_chgnet_energy`` gives CHGNet's energy of each graph of a batch, as the
    ``Structure`` target does, and its gradient in the lattice parameters and fractional
    coordinates agrees with central differences; a cell denser than any solid gets 0 without
    gradient instead of stopping a sampler."""
    import torch
    from torch_geometric.data import Batch

    from graphdiff_crystals.targets import chgnet_energies, chgnet_energy, graph_chgnet_energy

    domain = CrystalDomain()
    structures = [r["obj"] for r, _ in zip(domain.read(sample_path()), range(3))]
    batch = Batch.from_data_list([domain.to_graph(s) for s in structures])
    frac = batch.frac_coords.clone().double().requires_grad_(True)
    lattice = batch.lattice.clone().double().requires_grad_(True)
    fields = {"atom_types": batch.atom_types, "frac_coords": frac, "lattice": lattice}
    values = graph_chgnet_energy(fields, batch)
    assert values.tolist() == pytest.approx([chgnet_energy(s) for s in structures], abs=1e-5)
    assert chgnet_energies(structures) == pytest.approx([chgnet_energy(s) for s in structures], abs=1e-5)
    values.sum().backward()
    h = 1e-3
    for which, grad, j in (("lattice", lattice.grad, (1, 0)), ("lattice", lattice.grad, (2, 3)),
                           ("frac_coords", frac.grad, (0, 0)), ("frac_coords", frac.grad, (6, 2))):
        def at(delta):
            f = {k: v.detach().clone() for k, v in fields.items()}
            f[which][j] += delta
            return float(graph_chgnet_energy(f, batch).sum())
        fd = (at(h) - at(-h)) / (2 * h)
        assert float(grad[j]) == pytest.approx(fd, abs=2e-3), (which, j)
    assert lattice.grad[:, :3].abs().min() > 1e-3
    crushed = {"atom_types": batch.atom_types, "frac_coords": batch.frac_coords.double(),
               "lattice": batch.lattice.double() - torch.tensor([1.5, 1.5, 1.5, 0, 0, 0]).double()}
    out = graph_chgnet_energy(crushed, batch)
    assert out.tolist() == [0.0, 0.0, 0.0]
    # an element CHGNet does not embed (Z > 94), as a clean estimate's arg-max can be
    heavy = {**fields, "atom_types": batch.atom_types.clone()}
    heavy["atom_types"][0] = 98
    out = graph_chgnet_energy(heavy, batch)
    assert out[0] == 0.0 and out[1:].tolist() == pytest.approx(values[1:].tolist(), abs=1e-6)


def test_bundled_predictor_is_addressed_by_name(tmp_path):
    """``graphdiff predict -p perov5-heat`` and ``predictor info perov5-heat`` take the bundled
    predictor by name, with the same predictions as its file; an unknown name lists the bundled."""
    import csv
    from importlib import resources

    from click.testing import CliRunner

    from graphdiff.cli import cli
    from graphdiff.errors import CheckpointError
    from graphdiff.predictors import bundled_predictors, resolve_predictor
    from graphdiff_crystals import sample_path

    path = Path(str(resources.files("graphdiff_crystals") / "predictors" / "perov5-heat.pt")).resolve()
    assert bundled_predictors()["perov5-heat"].resolve() == path
    assert resolve_predictor("perov5-heat").resolve() == path
    assert resolve_predictor(path) == path
    with pytest.raises(CheckpointError, match=r"nope: no such predictor file.*bundled: .*perov5-heat"):
        resolve_predictor("nope")
    runner = CliRunner()
    outs = []
    for ref in ("perov5-heat", str(path)):
        out = tmp_path / f"{len(outs)}.csv"
        r = runner.invoke(cli, ["predict", "-p", ref, "-i", str(sample_path()), "-o", str(out)])
        assert r.exit_code == 0, r.output
        with out.open() as fh:
            outs.append([(row["material_id"], row["heat_ref"]) for row in csv.DictReader(fh)])
    assert outs[0] == outs[1] and len(outs[0]) > 10
    r = runner.invoke(cli, ["predictor", "info", "perov5-heat", "--json"])
    assert r.exit_code == 0 and str(path) in r.output
    r = runner.invoke(cli, ["predict", "-p", "nope", "-i", str(sample_path()), "-o", str(tmp_path / "x.csv")])
    assert r.exit_code != 0 and "bundled: " in r.output and not (tmp_path / "x.csv").exists()
    assert "perov5-heat (targets perov5-heat_ref)" in r.output


def test_one_name_for_the_bundled_predictor_everywhere(tmp_path):
    """The predictor's name (perov5-heat) and its target's (perov5-heat_ref) both work for
    ``predict``/``load_predictor`` and for ``--target``/``--judge``, and mean the same target."""
    from importlib import resources

    from graphdiff.plugins import get_manager
    from graphdiff.predictors import resolve_predictor
    from graphdiff.runner import parse_target_requests

    path = Path(str(resources.files("graphdiff_crystals") / "predictors" / "perov5-heat.pt")).resolve()
    assert resolve_predictor("perov5-heat_ref").resolve() == path == resolve_predictor("perov5-heat").resolve()
    targets = get_manager().registry("targets")
    a, b = targets.get("perov5-heat"), targets.get("perov5-heat_ref")
    assert a.name == b.name == "perov5-heat_ref" and a.source == b.source == str(path)
    assert parse_target_requests(["perov5-heat<=-1", "perov5-heat_ref>=0"]) == [
        ("perov5-heat_ref", "<=", -1.0), ("perov5-heat_ref", ">=", 0.0)]


def test_bundled_predictor_flags_inputs_outside_its_training_data(tmp_path):
    """Pure carbon and a uranium perovskite into perov5-heat: predicted, warned about, flagged."""
    import csv

    from click.testing import CliRunner

    from graphdiff.cli import cli
    from graphdiff.predictors import out_of_domain_objects, resolve_predictor
    from graphdiff_crystals.io import write_structures

    srtio3 = Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                       [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])
    carbon = Structure(Lattice.cubic(3.57), ["C"] * 8, [[0, 0, 0], [.25, .25, .25], [.5, .5, 0], [.75, .75, .25],
                                                       [.5, 0, .5], [.75, .25, .75], [0, .5, .5], [.25, .75, .75]])
    upuo3 = Structure(Lattice.cubic(4.3), ["U", "Pu", "O", "O", "O"],
                      [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])
    flags = out_of_domain_objects(resolve_predictor("perov5-heat"), [srtio3, carbon, upuo3])
    assert flags == ["", "atom_types not in the training data: C; 8 nodes, more than any training item (5)",
                     "atom_types not in the training data: U, Pu"]
    src = tmp_path / "in.csv"
    write_structures([{"id": "srtio3", "obj": srtio3}, {"id": "diamond", "obj": carbon}], src)
    out = tmp_path / "pred.csv"
    r = CliRunner().invoke(cli, ["predict", "-p", "perov5-heat_ref", "-i", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "warning: in.csv row 2 (material_id diamond): outside the predictor's training data" in r.output
    assert "1 of them outside the predictor's training data (column out_of_domain)" in r.output
    with out.open() as fh:
        rows = {row["material_id"]: row for row in csv.DictReader(fh)}
    assert rows["srtio3"]["out_of_domain"] == "" and rows["diamond"]["out_of_domain"] == flags[1]
