"""Property predictors: training, calibration, `graphdiff predict`, targets, bad input.

Tiny models and a few steps only: a social dataset whose property (edge density) is exact, so a
trained predictor must beat predicting the training mean; the bundled Perov-5 sample for shapes.
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import networkx as nx
import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Batch

from graphdiff.cli import cli
from graphdiff.errors import ConfigError, DataError

pytest.importorskip("graphdiff_social")

PEROV = Path(__file__).resolve().parents[1] / "plugins/graphdiff-crystals/graphdiff_crystals/data/perov5_sample.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _tiny_crystals(path: Path, *, data: str, training: str, predictor: str = "") -> Path:
    """A config of a tiny crystals run (hidden 16, one layer, 4 Fourier frequencies) on the
    bundled Perov-5 sample; ``data`` / ``training`` / ``predictor`` are the lines of those
    sections beyond the shared ones."""
    text = f"""
[data]
domain = "crystals"
source = "{PEROV}"
batch_size = 8
{data}
[model]
hidden = 16
layers = 1
options = {{ num_freqs = 4 }}
[training]
{training}
"""
    return _toml(path, text + (f"[predictor]\n{predictor}" if predictor else ""))


# ---------------------------------------------------------------------------- social: exact labels
@pytest.fixture(scope="module")
def social(tmp_path_factory):
    """64 random graphs, a labels CSV of their edge density, and a trained 2-member predictor."""
    from graphdiff_social import SocialDomain

    root = tmp_path_factory.mktemp("social")
    rng = random.Random(0)
    graphs = [nx.gnp_random_graph(rng.randint(6, 11), rng.uniform(0.1, 0.9), seed=i) for i in range(64)]
    data = root / "graphs.jsonl"
    SocialDomain().write(graphs, data)
    ids = [r["id"] for r in SocialDomain().read(data)]
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "density"])
        w.writerows([i, nx.density(g)] for i, g in zip(ids, graphs))
    cfg = _toml(root / "pred.toml", """
[data]
domain = "social"
source = "graphs.jsonl"
val_fraction = 0.25
batch_size = 16
[model]
hidden = 32
layers = 2
[training]
max_steps = 60
lr = 3e-3
val_every = 20
log_every = 20
out_dir = "run"
[predictor]
properties = ["density"]
labels = "labels.csv"
ensemble = 2
""")
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    return {"root": root, "data": data, "graphs": graphs, "ids": ids, "cfg": cfg, "output": res.output,
            "predictor": root / "run" / "predictor.pt"}


def test_social_predictor_beats_the_mean_on_held_out_graphs(social):
    report = json.loads((social["root"] / "run" / "calibration.json").read_text())
    row = report["properties"]["density"]
    assert report["num_val"] == 16 and report["num_train"] == 48 and report["ensemble"] == 2
    assert row["n"] == 16
    # the held-out MAE is far below predicting the training mean for every graph
    assert row["mae"] < 0.5 * row["baseline_mae"], row
    assert row["r2"] > 0.5
    for key in ("within_1std", "within_2std"):
        assert 0.0 <= row[key] <= 1.0
    assert row["within_1std"] <= row["within_2std"]
    assert row["mean_std"] > 0 and len(row["member_mae"]) == 2
    assert "calibration (validation split)" in social["output"] and "within 1 std" in social["output"]
    assert (social["root"] / "run" / "val_predictions.csv").exists()
    # variance scaling: the std is multiplied by the validation RMS of error / std, after which
    # that RMS is 1 on the validation split; the factor is stored in the file
    from graphdiff.predictors import Predictor

    assert row["std_scale"] == pytest.approx(row["z_rms"])
    assert row["recalibrated"]["z_rms"] == pytest.approx(1.0, rel=1e-3)
    model = Predictor.load(social["predictor"])
    assert float(model.std_scale[0]) == pytest.approx(row["std_scale"], rel=1e-6)


def test_predict_writes_ids_then_property_and_std(social, tmp_path):
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["predict", "--predictor", str(social["predictor"]),  # 7 per chunk
                                   "--input", str(social["data"]), "--out", str(out), "--batch-size", "7"])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert list(rows[0]) == ["id", "density", "density_std", "out_of_domain"]
    assert [r["id"] for r in rows] == social["ids"]
    assert all(float(r["density_std"]) > 0 for r in rows)
    errors = [abs(float(r["density"]) - nx.density(g)) for r, g in zip(rows, social["graphs"])]
    assert sum(errors) / len(errors) < 0.1


def test_the_target_matches_predict_and_is_differentiable(social, tmp_path):
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor
    from graphdiff.targets import Target, predictor_target

    out = tmp_path / "pred.csv"
    CliRunner().invoke(cli, ["predict", "-p", str(social["predictor"]), "-i", str(social["data"]), "-o", str(out)])
    rows = _rows(out)
    target = predictor_target(social["predictor"], "density")
    assert isinstance(target, Target) and target.domain == "social" and target.differentiable
    assert target.name == "social-predicted-density"
    import networkx as nx

    dens = [nx.density(g) for g in social["graphs"]]
    lo, hi = target.value_range  # the training labels' range, stored in the file
    assert min(dens) - 1e-6 <= lo <= hi <= max(dens) + 1e-6 and lo < hi
    for g, r in list(zip(social["graphs"], rows))[:4]:
        assert target(g) == pytest.approx(float(r["density"]), rel=1e-5, abs=1e-6)
    # graph_fn on a batch: same values; differentiable in the edge probabilities
    domain = get_manager().get("domains", "social")
    batch = Batch.from_data_list([domain.to_graph(g) for g in social["graphs"][:3]])
    model = Predictor.load(social["predictor"])
    inputs = model.inputs(batch).inputs["edges"].clone().requires_grad_(True)
    values = target.graph_fn({"edges": inputs}, batch)
    assert values.shape == (3,)
    for v, r in zip(values.tolist(), rows[:3]):
        assert v == pytest.approx(float(r["density"]), rel=1e-5, abs=1e-6)
    values.sum().backward()
    assert inputs.grad is not None and torch.isfinite(inputs.grad).all() and inputs.grad.abs().sum() > 0


def test_register_predictor_adds_its_targets_to_the_manager(social, graphdiff_plugins):
    import graphdiff_social.plugin

    from graphdiff.predictors import register_predictor

    pm = graphdiff_plugins(graphdiff_social.plugin)  # the process-wide manager for this test only
    assert register_predictor(social["predictor"]) == ["social-predicted-density"]
    assert "social-predicted-density" in pm.registry("targets")
    assert any(name.startswith("predictor:") for name in pm.plugins)
    res = CliRunner().invoke(cli, ["targets", "--domain", "social"])
    assert "social-predicted-density" in res.output and "2-member GNN ensemble" in res.output


def test_predictors_in_the_environment_are_registered_as_targets(social, monkeypatch):
    from graphdiff.plugins.manager import PluginManager

    monkeypatch.setenv("GRAPHDIFF_PREDICTORS", str(social["predictor"].parent))
    pm = PluginManager(autoload=False, strict=True).load()
    assert "social-predicted-density" in pm.registry("targets")


def test_a_predictor_refuses_another_domains_file(social, tmp_path):
    res = CliRunner().invoke(cli, ["predict", "-p", str(social["predictor"]), "-i", str(PEROV),
                                   "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2
    assert "cannot read it as a 'social' file" in res.output
    assert not (tmp_path / "x.csv").exists()
    notpred = tmp_path / "fake.pt"
    torch.save({"format": "graphdiff-checkpoint"}, notpred)
    res = CliRunner().invoke(cli, ["predict", "-p", str(notpred), "-i", str(social["data"]),
                                   "-o", str(tmp_path / "y.csv")])
    assert res.exit_code == 2 and "a diffusion model checkpoint, not a predictor" in res.output


# ---------------------------------------------------------------------------- bad labels
def _labels(social, tmp_path, rows):
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "density"])
        w.writerows(rows)
    return path


def test_missing_values_are_skipped_and_reported_or_raise_naming_the_row(social, tmp_path):
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import read_labelled

    domain = get_manager().get("domains", "social")
    ids = social["ids"][:6]
    labels = _labels(social, tmp_path, [[i, "" if k == 2 else 0.5] for k, i in enumerate(ids)])
    data = read_labelled(domain, social["data"], ["density"], labels=labels, max_items=6)
    assert len(data) == 5 and [s["where"] for s in data.skipped] == [ids[2]]
    assert "no value of density" in data.skipped[0]["reason"]
    with pytest.raises(DataError, match=f"{ids[2]}.*'density' is missing"):
        read_labelled(domain, social["data"], ["density"], labels=labels, max_items=6, missing="error")
    bad = _labels(social, tmp_path, [[ids[0], "0.3"], [ids[1], "dense"]])
    with pytest.raises(DataError, match=f"row 2 \\(id {ids[1]}\\).*non-numeric value 'dense'"):
        read_labelled(domain, social["data"], ["density"], labels=bad, max_items=6)
    with pytest.raises(DataError, match="property 'clustering' not found.*social-average_clustering"):
        read_labelled(domain, social["data"], ["clustering"], max_items=6)
    # a registered target of the domain is a property too (computed from each item)
    data = read_labelled(domain, social["data"], ["social-density"], max_items=4)
    y = torch.cat([g.predictor_y for g in data.graphs]).view(-1)
    assert y.tolist() == pytest.approx([nx.density(g) for g in social["graphs"][:4]])


def test_mask_keeps_items_with_some_properties(social, tmp_path):
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import read_labelled

    ids = social["ids"][:3]
    labels = tmp_path / "two.csv"
    labels.write_text(f"id,a,b\n{ids[0]},1,2\n{ids[1]},3,\n{ids[2]},,\n")
    domain = get_manager().get("domains", "social")
    data = read_labelled(domain, social["data"], ["a", "b"], labels=labels, max_items=3, missing="mask")
    assert data.ids == ids[:2] and len(data.skipped) == 1 and data.sources == {"a": "labels two.csv",
                                                                              "b": "labels two.csv"}
    y = data.graphs[1].predictor_y
    assert y[0, 0] == 3 and math.isnan(float(y[0, 1]))


def test_calibration_numbers_by_hand():
    from graphdiff.predictors import calibration

    y = torch.tensor([[0.0], [1.0], [2.0], [3.0], [float("nan")]])
    mean = torch.tensor([[0.5], [2.5], [4.5], [3.0], [9.0]])
    std = torch.ones(5, 1)
    row = calibration(y, mean, std, ["p"], baseline=torch.tensor([1.5]))["p"]
    assert row["n"] == 4
    assert row["mae"] == pytest.approx((0.5 + 1.5 + 2.5 + 0) / 4)
    assert row["rmse"] == pytest.approx(math.sqrt((0.25 + 2.25 + 6.25) / 4))
    assert row["r2"] == pytest.approx(1 - (8.75 / 4) / 1.25)
    assert (row["within_1std"], row["within_2std"]) == (0.5, 0.75)
    assert row["ideal_1std"] == pytest.approx(0.6827, abs=1e-4)
    assert row["ideal_2std"] == pytest.approx(0.9545, abs=1e-4)
    assert row["baseline_mae"] == pytest.approx(1.0)


def test_the_laplace_loss_gives_the_mean_an_absolute_error_gradient():
    """``loss = "laplace"``: β-NLL of a Laplace law of the same variance; with β = ½ the mean's
    gradient is ``sign(residual)`` times a constant, whatever the predicted variance, and the
    value matches the formula by hand (the Gaussian loss's mean gradient grows with the residual)."""
    from types import SimpleNamespace

    from graphdiff.predictors.training import _losses

    z = torch.tensor([[0.0], [0.0], [0.0], [float("nan")]])
    mu = torch.tensor([[0.5], [-2.0], [3.0], [7.0]], requires_grad=True)
    var = torch.tensor([[0.25], [1.0], [4.0], [1.0]])
    model = SimpleNamespace(member_outputs=lambda m, g: (mu, var), y_mean=torch.zeros(1),
                            y_std=torch.ones(1))
    loss = _losses(model, 0, None, z, "laplace")
    b = torch.sqrt(var[:3] / 2)
    by_hand = ((torch.log(b) + mu[:3].detach().abs() / b) * var[:3].sqrt()).mean()
    assert float(loss.detach()) == pytest.approx(float(by_hand), rel=1e-6)
    (grad,) = torch.autograd.grad(loss, mu)
    # d/dmu = sign(mu) * sqrt(2) / 3 for the three labelled rows; the missing label adds nothing
    assert grad[:3, 0].tolist() == pytest.approx([math.sqrt(2) / 3, -math.sqrt(2) / 3, math.sqrt(2) / 3])
    assert float(grad[3, 0]) == 0.0
    (g_gauss,) = torch.autograd.grad(_losses(model, 0, None, z, "gaussian"), mu)
    assert abs(float(g_gauss[2, 0])) != pytest.approx(abs(float(g_gauss[0, 0])))
    # without a variance head: plain absolute error
    model.member_outputs = lambda m, g: (mu, None)
    assert float(_losses(model, 0, None, z, "laplace").detach()) == pytest.approx((0.5 + 2 + 3) / 3)


def test_ema_keeps_the_averaged_weights(social, tmp_path):
    """``[predictor] ema = true``: the member kept is the moving average of its weights (decay
    ``training.ema_decay``); with decay 0 the average is the last weights, so the predictions
    equal those of a run without it, and with decay 0.9 they differ."""
    from graphdiff_social import SocialDomain

    from graphdiff.predictors import Predictor

    graphs = [SocialDomain().to_graph(g) for g in social["graphs"][:8]]
    text = social["cfg"].read_text().replace('labels = "labels.csv"', f'labels = "{social["root"] / "labels.csv"}"')
    text = text.replace('source = "graphs.jsonl"', f'source = "{social["data"]}"')
    preds = {}
    for name, extra, decay in (("plain", "", None), ("ema0", "ema = true\n", 0.0), ("ema9", "ema = true\n", 0.9)):
        body = text.replace('out_dir = "run"',
                            f'out_dir = "{tmp_path / name}"' + (f"\nema_decay = {decay}" if decay is not None else ""))
        body = body.replace("ensemble = 2", "ensemble = 1\nselect_best = false\n" + extra)
        cfg = _toml(tmp_path / f"{name}.toml", body)
        res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
        assert res.exit_code == 0, res.output
        assert json.loads((tmp_path / name / "calibration.json").read_text())["ema"] is bool(extra)
        preds[name] = Predictor.load(tmp_path / name / "predictor.pt").predict(graphs)[0]
    assert torch.allclose(preds["plain"], preds["ema0"], atol=1e-6)
    assert not torch.allclose(preds["plain"], preds["ema9"], atol=1e-4)


def test_fold_indices_cover_every_item_once():
    from graphdiff.predictors import fold_indices

    folds = fold_indices(23, 4, seed=3)
    assert sorted(i for f in folds for i in f) == list(range(23))
    assert sorted(len(f) for f in folds) == [5, 6, 6, 6]
    assert fold_indices(23, 4, seed=3) == folds and fold_indices(23, 4, seed=4) != folds
    with pytest.raises(DataError, match="at least 4 labelled items, got 3"):
        fold_indices(3, 4)


def test_cross_validation_trains_each_member_without_its_fold(social, tmp_path, monkeypatch):
    """``cross_validate = true``: member m trains on every row but fold m and is validated on
    fold m; the calibration and ``val_predictions.csv`` are out-of-fold (each row predicted by
    the member that never saw it)."""
    import graphdiff.predictors as P
    import graphdiff.predictors.training as T
    from graphdiff_social import SocialDomain

    from collections import Counter

    seen: dict[int, Counter] = {}
    real = T._train_member

    def spy(model, m, graphs, val_batches, *args, **kwargs):
        seen[m] = Counter(round(float(g.predictor_y[0, 0]), 5) for g in graphs)
        seen[-1 - m] = Counter(round(float(v), 5) for b in val_batches for v in b.predictor_y[:, 0])
        return real(model, m, graphs, val_batches, *args, **kwargs)

    monkeypatch.setattr(T, "_train_member", spy)
    text = social["cfg"].read_text().replace('labels = "labels.csv"', f'labels = "{social["root"] / "labels.csv"}"')
    text = text.replace('source = "graphs.jsonl"', f'source = "{social["data"]}"')
    text = text.replace('out_dir = "run"', f'out_dir = "{tmp_path / "cv"}"')
    cfg = _toml(tmp_path / "cv.toml", text.replace("ensemble = 2", "ensemble = 4\ncross_validate = true"))
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "4-fold cross-validation" in res.output and "calibration (out-of-fold)" in res.output
    densities = Counter(round(nx.density(g), 5) for g in social["graphs"])
    for m in range(4):  # the fold is exactly what the member did not train on
        assert seen[m] + seen[-1 - m] == densities and sum(seen[-1 - m].values()) == 16
    assert sum((seen[-1 - m] for m in range(4)), Counter()) == densities
    info = CliRunner().invoke(cli, ["predictor", "info", str(tmp_path / "cv" / "predictor.pt")])
    assert "(4-fold cross-validation)" in info.output and "calibration (out-of-fold):" in info.output
    report = json.loads((tmp_path / "cv" / "calibration.json").read_text())
    assert report["split"] == "out-of-fold" and report["num_val"] == report["num_train"] == 64
    assert len(report["properties"]["density"]["member_mae"]) == 4
    model = P.Predictor.load(tmp_path / "cv" / "predictor.pt")
    rows = list(csv.DictReader(open(tmp_path / "cv" / "val_predictions.csv")))
    assert sorted(r["id"] for r in rows) == sorted(social["ids"])
    by_id = {r["id"]: r for r in rows}
    graphs = [SocialDomain().to_graph(g) for g in social["graphs"]]
    folds = P.fold_indices(64, 4, 0)
    for m, fold in enumerate(folds):  # each row's out-of-fold value is its own member's
        mu = P.member_predict(model, m, [graphs[i] for i in fold], 16)
        got = torch.tensor([float(by_id[social["ids"][i]]["density_pred"]) for i in fold])
        assert torch.allclose(got, mu[:, 0].float(), atol=1e-5)
    z = torch.tensor([(float(r["density"]) - float(r["density_pred"])) / float(r["density_std"]) for r in rows])
    assert float(z.pow(2).mean().sqrt()) == pytest.approx(1.0, abs=1e-3)  # scaled on the out-of-fold errors
    assert report["properties"]["density"]["recalibrated"]["z_rms"] == pytest.approx(1.0, abs=1e-3)
    for bad, why in (("ensemble = 1\ncross_validate = true", "needs ensemble >= 2"),
                     ("ensemble = 2\ncross_validate = true\nbootstrap = true", "set one of them")):
        cfg = _toml(tmp_path / "bad.toml", text.replace("ensemble = 2", bad))
        res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
        assert res.exit_code != 0 and why in res.output, res.output


def test_offset_fits_a_target_baseline_and_the_members_learn_the_rest(social, tmp_path):
    """``offset = ["social-density"]`` on labels ``3 × density − 1``: the least-squares baseline
    recovers the line exactly (coefficients and an out-of-fold baseline error of 0); predictions
    are the baseline plus the members' residual; the reports and ``val_predictions.csv`` hold the
    labels, not the residuals; a predictor whose baseline reads a target without a gradient is
    not differentiable."""
    import graphdiff.predictors as P
    from graphdiff.targets import predictor_target
    from graphdiff_social import SocialDomain

    labels = tmp_path / "line.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "y"])
        w.writerows([i, 3 * nx.density(g) - 1] for i, g in zip(social["ids"], social["graphs"]))
    text = social["cfg"].read_text().replace('labels = "labels.csv"', f'labels = "{labels}"')
    text = text.replace('source = "graphs.jsonl"', f'source = "{social["data"]}"')
    text = text.replace('out_dir = "run"', f'out_dir = "{tmp_path / "off"}"')
    text = text.replace("max_steps = 60", "max_steps = 10")
    text = text.replace('properties = ["density"]', 'properties = ["y"]\noffset = ["social-density"]')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(_toml(tmp_path / "off.toml", text))])
    assert res.exit_code == 0, res.output
    assert "offset alone" in res.output
    report = json.loads((tmp_path / "off" / "calibration.json").read_text())
    coef = report["offset"]["coefficients"]["y"]
    assert coef["social-density"] == pytest.approx(3.0, abs=1e-5)  # labels are float32
    assert coef.get("constant", 0.0) == pytest.approx(-1.0, abs=1e-5)
    row = report["properties"]["y"]
    assert row["offset_mae"] < 1e-6 and row["baseline_mae"] > 0.1  # the labels' mean, not the residuals'
    model = P.Predictor.load(tmp_path / "off" / "predictor.pt")
    lo, hi = model.meta["label_range"]["y"]
    ys = [3 * nx.density(g) - 1 for g in social["graphs"]]
    assert min(ys) <= lo < hi <= max(ys) and hi - lo > 0.5
    graphs = [SocialDomain().to_graph(g) for g in social["graphs"]]
    dens = torch.tensor([nx.density(g) for g in social["graphs"]], dtype=torch.float64)
    assert torch.allclose(model.offset_values(graphs)[:, 0], 3 * dens - 1, atol=1e-6)
    mean, _ = model.predict(graphs)
    residual = torch.stack([P.member_predict(model, m, graphs, 16, torch.zeros(len(graphs), 1))
                            for m in range(2)]).mean(0)
    assert torch.allclose(mean, 3 * dens.view(-1, 1) - 1 + residual, atol=1e-6)
    rows = _rows(tmp_path / "off" / "val_predictions.csv")
    by_id = dict(zip(social["ids"], ys))
    assert all(float(r["y"]) == pytest.approx(by_id[r["id"]], abs=1e-6) for r in rows)
    target = predictor_target(tmp_path / "off" / "predictor.pt", "y")
    assert not target.differentiable and "residual of a baseline on social-density" in target.description
    assert target(social["graphs"][0]) == pytest.approx(float(mean[0, 0]), abs=1e-6)
    with pytest.raises(ConfigError, match="not differentiable"):
        model.predict_fields({"edges": Batch.from_data_list(graphs[:2]).edges}, Batch.from_data_list(graphs[:2]))
    info = CliRunner().invoke(cli, ["predictor", "info", str(tmp_path / "off" / "predictor.pt")])
    assert "learns the residual of a least-squares baseline on social-density" in info.output
    for bad, why in (('offset = ["no-such-target"]', "no such target of domain 'social'.*social-density"),
                     ('offset = ["composition"]', "node categorical field"),
                     ('offset = ["social-density"]\nnoisy = true', "cannot be combined with noisy")):
        cfg = _toml(tmp_path / "bad.toml", text.replace('offset = ["social-density"]', bad))
        res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
        assert res.exit_code != 0, res.output
        assert __import__("re").search(why, res.output), res.output


def test_composition_and_chgnet_offset_is_differentiable(tmp_path):
    """``offset = ["composition", "crystals-chgnet_energy"]`` on crystals: the baseline reads the
    element fractions (also from class probabilities) and CHGNet's energy, both differentiable,
    so the target keeps its gradient and agrees with ``predict``."""
    pytest.importorskip("graphdiff_crystals")
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor, read_labelled
    from graphdiff.targets import predictor_target

    cfg = _tiny_crystals(tmp_path / "comp.toml", data="max_items = 24\nval_fraction = 0.25",
                         training='max_steps = 3\nval_every = 3\nout_dir = "run"',
                         predictor='properties = ["heat_ref"]\nensemble = 2\n'
                                   'offset = ["composition", "crystals-chgnet_energy"]\n')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    path = tmp_path / "run" / "predictor.pt"
    model = Predictor.load(path)
    report = json.loads((tmp_path / "run" / "calibration.json").read_text())
    coef = report["offset"]["coefficients"]["heat_ref"]
    assert coef["crystals-chgnet_energy"] > 0  # (18 rows for ~20 terms: the values mean little)
    assert all(k.startswith("atom_types=") or k in ("constant", "crystals-chgnet_energy") for k in coef)
    items = read_labelled(get_manager().get("domains", "crystals"), PEROV, ["heat_ref"], max_items=4)
    mean, _ = model.predict(items.graphs)
    target = predictor_target(path, "heat_ref")
    assert target.differentiable
    batch = Batch.from_data_list(items.graphs)
    probs = torch.nn.functional.one_hot(batch.atom_types.long(), 100).double().requires_grad_(True)
    lattice = batch.lattice.clone().double().requires_grad_(True)
    values = target.graph_fn({"atom_types": probs, "frac_coords": batch.frac_coords,
                              "lattice": lattice}, batch)
    assert values.tolist() == pytest.approx(mean[:, 0].tolist(), rel=1e-5, abs=1e-5)
    values.sum().backward()
    assert probs.grad.abs().sum() > 0 and lattice.grad.abs().sum() > 0


def test_target_values_batch_and_per_item_errors():
    """A target's ``batch_fn`` gives all values in one call; when it fails, the values come one
    by one, and an item that fails or is not finite is named."""
    from graphdiff.predictors import target_values
    from graphdiff.targets import Target

    calls = []
    ok = Target("t", "d", lambda x: 2.0 * x, batch_fn=lambda xs: calls.append(len(xs)) or [2.0 * x for x in xs])
    assert target_values(ok, "t", [1, 2, 3], None) == [2.0, 4.0, 6.0] and calls == [3]
    def broken(xs):
        raise RuntimeError("batch failed")
    fallback = Target("t", "d", lambda x: 1.0 / x, batch_fn=broken)
    assert target_values(fallback, "t", [1, 2], None) == [1.0, 0.5]
    with pytest.raises(DataError, match="item b: offset term 't' cannot be evaluated"):
        target_values(fallback, "t", [1, 0], ["a", "b"])
    with pytest.raises(DataError, match="item 1: offset term 't' is nan"):
        target_values(Target("t", "d", lambda x: x), "t", [1.0, float("nan")], None)


def test_config_errors_name_the_field(tmp_path):
    from graphdiff.predictors import load_predictor_config

    cfg = _toml(tmp_path / "a.toml", '[data]\ndomain = "social"\n')
    with pytest.raises(ConfigError, match="no \\[predictor\\] section"):
        load_predictor_config(cfg)
    cfg = _toml(tmp_path / "b.toml", '[data]\ndomain = "social"\n[predictor]\nproperties = ["a"]\nensembel = 2\n')
    with pytest.raises(ConfigError, match="predictor.ensembel: unknown key"):
        load_predictor_config(cfg)
    cfg = _toml(tmp_path / "c.toml", '[data]\ndomain = "social"\n[predictor]\nproperties = []\n')
    with pytest.raises(ConfigError, match="predictor.properties"):
        load_predictor_config(cfg)


# ---------------------------------------------------------------------------- crystals: shapes
def test_crystals_heat_ref_predictor_shapes_columns_and_guidance(tmp_path):
    pytest.importorskip("graphdiff_crystals")
    from pymatgen.core import Lattice, Structure

    from graphdiff.config import RunConfig
    from graphdiff.model import build_model
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor, read_labelled, target_guidance
    from graphdiff.targets import predictor_target

    cfg = _tiny_crystals(tmp_path / "perov.toml", data="max_items = 24\nval_fraction = 0.25",
                         training='max_steps = 4\nval_every = 2\nout_dir = "run"',
                         predictor='properties = ["heat_ref"]\nnoisy = true\n')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert report["ensemble"] == 3 and report["num_val"] == 6 and report["noisy"]
    row = report["properties"]["heat_ref"]
    assert 0 <= row["within_1std"] <= row["within_2std"] <= 1 and row["mean_std"] > 0
    # a small input: the first 10 rows of the sample
    with open(PEROV, newline="") as fh:
        rows = list(csv.reader(fh))
    small = tmp_path / "small.csv"
    with open(small, "w", newline="") as fh:
        csv.writer(fh).writerows(rows[:11])
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(cli, ["predict", "-p", str(tmp_path / "run" / "predictor.pt"), "-i", str(small),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    pred = _rows(out)
    assert list(pred[0]) == ["material_id", "heat_ref", "heat_ref_std", "out_of_domain"]
    assert [r["material_id"] for r in pred] == [r[1] for r in rows[1:11]]
    # out of domain: the elements no training row had, as the predictor recorded them
    from graphdiff.predictors import out_of_domain, out_of_domain_objects, training_classes

    loaded = Predictor.load(tmp_path / "run" / "predictor.pt")
    labels = loaded.spec["atom_types"].labels
    seen = {labels[c] for c in loaded.meta["classes_seen"]["atom_types"]}
    train_rows = read_labelled(get_manager().get("domains", "crystals"), PEROV, ["heat_ref"], max_items=24)
    assert seen <= {labels[int(c)] for g in train_rows.graphs for c in g.atom_types.view(-1)}
    for r, cif_row in zip(pred, rows[1:11]):
        elements = {el.symbol for el in Structure.from_str(cif_row[2], fmt="cif").composition.elements}
        unseen = sorted(elements - seen, key=labels.index)
        assert r["out_of_domain"] == (f"atom_types not in the training data: {', '.join(unseen)}" if unseen else "")
    # an older file without the record: the classes come from the fitted marginal prior, the same
    recorded = training_classes(loaded)
    del loaded.meta["classes_seen"]
    assert training_classes(loaded) == recorded
    carbon = Structure(Lattice.cubic(3.57), ["C"] * 8, [[0, 0, 0], [.25, .25, .25], [.5, .5, 0], [.75, .75, .25],
                                                       [.5, 0, .5], [.75, .25, .75], [0, .5, .5], [.25, .75, .75]])
    flags = out_of_domain_objects(loaded, [carbon])
    assert "atom_types not in the training data: C" in flags[0]
    assert "8 nodes, more than any training item (5)" in flags[0]
    assert out_of_domain(loaded, train_rows.graphs[:3]) == ["", "", ""]
    assert all(float(r["heat_ref_std"]) > 0 and math.isfinite(float(r["heat_ref"])) for r in pred)
    # the target scores a Structure as predict does; graph_fn is differentiable in the fields
    domain = get_manager().get("domains", "crystals")
    path = tmp_path / "run" / "predictor.pt"
    target = predictor_target(path, "heat_ref")
    items = read_labelled(domain, small, ["heat_ref"], max_items=2)
    recs = [r for _, r in zip(range(2), domain.read(small))]
    assert target(recs[0]["obj"]) == pytest.approx(float(pred[0]["heat_ref"]), rel=1e-5)
    batch = Batch.from_data_list(items.graphs)
    frac = batch.frac_coords.clone().requires_grad_(True)
    lattice = batch.lattice.clone().requires_grad_(True)
    values = target.graph_fn({"atom_types": batch.atom_types, "frac_coords": frac, "lattice": lattice}, batch)
    assert values.tolist() == pytest.approx([float(r["heat_ref"]) for r in pred[:2]], rel=1e-5)
    values.sum().backward()
    assert lattice.grad.abs().sum() > 0 and torch.isfinite(frac.grad).all()
    # the property must be a numeric column
    with pytest.raises(DataError, match="'formula' not found.*numeric columns: .*heat_ref"):
        read_labelled(domain, small, ["formula"])
    # guidance of a tiny diffusion model by the predictor runs and moves the sample
    run = RunConfig.model_validate({"data": {"domain": "crystals"}, "model": {"hidden": 16, "layers": 1,
                                                                              "options": {"num_freqs": 4}}})
    torch.manual_seed(0)
    model = build_model(run)
    model.fit_statistics(items.graphs)
    model.eval()
    plain = model.sample([5], steps=2, generator=torch.Generator().manual_seed(1))
    guided = model.sample([5], steps=2, generator=torch.Generator().manual_seed(1),
                          gradient_guidance=target_guidance(model, target, scale=5.0))
    assert not torch.allclose(plain[0].lattice, guided[0].lattice)
    assert Predictor.load(path).noisy


def test_a_max_steps_override_stretches_the_learning_rate_schedule():
    from graphdiff.config import TrainingConfig
    from graphdiff.predictors.training import _lr_schedule

    tc = TrainingConfig(warmup_steps=10, lr_schedule="cosine", max_steps=100)
    assert _lr_schedule(tc, tc.max_steps)(100) == pytest.approx(0.05)   # the config's end
    assert _lr_schedule(tc, 1000)(100) > 0.9                           # an override of 1000 steps: still high
    assert _lr_schedule(tc, 1000)(1000) == pytest.approx(0.05)
    # a time budget that ends first: the cosine follows the time used
    used = [0.0]
    timed = _lr_schedule(tc, 1000, lambda: used[0])
    assert timed(200) > 0.9
    used[0] = 1.0
    assert timed(200) == pytest.approx(0.05)


# ---------------------------------------------------------------------------- time-aware guidance
def test_a_time_aware_predictor_on_a_generators_processes_guides_its_noisy_states(tmp_path):
    """``processes_from`` gives the predictor the generator's processes, so it reads the sampler's
    noisy states (``--guidance-mode noisy``); a time-aware predictor with its own normalisation
    cannot, and says why (``auto`` falls back to the clean estimate)."""
    pytest.importorskip("graphdiff_crystals")
    from graphdiff.model import load_model
    from graphdiff.predictors import Predictor, guidance_reading
    from graphdiff.targets import predictor_target

    gen_cfg = _tiny_crystals(tmp_path / "gen.toml", data="max_items = 24",
                             training='max_steps = 2\nout_dir = "gen"')
    res = CliRunner().invoke(cli, ["train", "-q", str(gen_cfg)])
    assert res.exit_code == 0, res.output
    ckpt = tmp_path / "gen" / "last.ckpt"

    def config(name: str, extra: str = "", noisy: str = "true") -> Path:
        """A 1-member predictor named ``name`` (time-aware unless ``noisy = "false"``), trained
        into ``name/``."""
        return _tiny_crystals(tmp_path / f"{name}.toml", data="max_items = 30\nval_fraction = 0.2",
                              training=f'max_steps = 3\nval_every = 3\nout_dir = "{name}"',
                              predictor=f'properties = ["heat_ref"]\nensemble = 1\nnoisy = {noisy}\n'
                                        f'name = "{name}"\n{extra}')

    fitted = config("fitted", 'processes_from = "gen/last.ckpt"\n')
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(fitted)])
    assert res.exit_code == 0, res.output
    own = config("own")
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(own)])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "fitted" / "calibration.json").read_text())
    assert report["processes_from"] == str(ckpt.resolve())

    model, _, _ = load_model(ckpt)
    fitted_p = Predictor.load(tmp_path / "fitted" / "predictor.pt")
    assert fitted_p.process_mismatch(model) == []
    assert sorted(fitted_p.noised) == sorted(model.generate)
    own_p = Predictor.load(tmp_path / "own" / "predictor.pt")
    assert any("normalisation" in p for p in own_p.process_mismatch(model))

    t_fit = predictor_target(tmp_path / "fitted" / "predictor.pt", "heat_ref")
    t_own = predictor_target(tmp_path / "own" / "predictor.pt", "heat_ref")
    assert guidance_reading(model, t_fit, "auto")[0] == "noisy"
    assert guidance_reading(model, t_fit, "clean")[0] == "clean"
    reading, why = guidance_reading(model, t_own, "auto")
    assert reading == "clean" and "does not fit this model" in why and "normalisation" in why
    with pytest.raises(ConfigError, match="cannot read this model's noisy states"):
        guidance_reading(model, t_own, "noisy")

    # the target reads noisy states differentiably: the gradient reaches every continuous state
    from graphdiff.predictors import target_guidance

    seen = {}
    guide = target_guidance(model, t_fit, goal=0.5, scale=1.0)
    assert guide.fn is None and guide.noisy_fn is not None

    reads = guide.noisy_fn

    def spy(states, graphs):
        value = reads(states, graphs)
        seen["t"] = graphs.t.clone()
        return value

    guide.noisy_fn = spy
    out = model.sample([5, 5], steps=3, generator=torch.Generator().manual_seed(0), gradient_guidance=guide)
    assert len(out) == 2 and all(torch.isfinite(g.lattice).all() for g in out)
    assert 0 < float(seen["t"].max()) < 1  # the last step it read was a noisy one

    # the CLI: --guidance-mode noisy guides by the time-aware predictor and says so
    with open(PEROV, newline="") as fh:
        first = list(csv.reader(fh))[:4]
    rows_csv = tmp_path / "rows.csv"
    with open(rows_csv, "w", newline="") as fh:
        csv.writer(fh).writerows(first)
    common = ["sample", "-c", str(ckpt), "--num", "2", "--steps", "3", "-q", "--target", "fitted-heat_ref=0.5",
              "--predictor", str(tmp_path / "fitted" / "predictor.pt")]
    res = CliRunner().invoke(cli, [*common, "--guidance-mode", "noisy", "-o", str(tmp_path / "g.csv")])
    assert res.exit_code == 0, res.output
    assert "time-aware" in res.output and len(_rows(tmp_path / "g.csv")) == 2
    res = CliRunner().invoke(cli, ["sample", "-c", str(ckpt), "--num", "2", "--steps", "3", "-q",
                                   "--target", "own-heat_ref=0.5", "--guidance-mode", "noisy",
                                   "--predictor", str(tmp_path / "own" / "predictor.pt"),
                                   "-o", str(tmp_path / "h.csv")])
    assert res.exit_code != 0 and "cannot read this model's noisy states" in res.output
    # processes_from without noisy = true is refused before any training
    bad = config("bad", 'processes_from = "gen/last.ckpt"\n', noisy="false")
    res = CliRunner().invoke(cli, ["predictor", "train", "-q", str(bad)])
    assert res.exit_code != 0 and "set noisy = true" in res.output
