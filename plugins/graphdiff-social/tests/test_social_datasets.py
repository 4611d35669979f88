"""Synthetic benchmarks (community-small, grid, SBM, planar): sizes, splits, determinism, files,
and ``graphdiff evaluate --task dng`` on them."""

from __future__ import annotations

import json
import subprocess
import sys

import networkx as nx
import pytest
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff_social import SocialDomain, make_dataset
from graphdiff_social.datasets import DATASET_SIZES, generate_graphs, split_graphs, write_dataset

NAMES = ["community-small", "grid", "sbm", "planar"]


@pytest.fixture(scope="module")
def datasets():
    return {name: make_dataset(name, seed=0) for name in NAMES}


def _all(split):
    return split["train"] + split["val"] + split["test"]


def _edges(graphs):
    return [sorted(g.edges()) for g in graphs]


@pytest.mark.parametrize("name", NAMES)
def test_split_sizes_are_the_published_ones(datasets, name):
    d = datasets[name]
    assert (len(d["train"]), len(d["val"]), len(d["test"])) == DATASET_SIZES[name]
    names = [g.graph["name"] for g in _all(d)]
    assert len(set(names)) == len(names)  # a partition of the generated graphs


def test_gdss_split_is_the_first_20_percent_as_test(datasets):
    graphs = generate_graphs("grid", seed=0)
    d = datasets["grid"]
    assert [g.graph["name"] for g in d["test"]] == [g.graph["name"] for g in graphs[:20]]
    assert [g.graph["name"] for g in d["train"]] == [g.graph["name"] for g in graphs[20:]]


def test_spectre_and_digress_splits():
    graphs = generate_graphs("planar", seed=0)
    spectre, digress = split_graphs(graphs, "spectre"), split_graphs(graphs, "digress")
    for split in (spectre, digress):
        assert [len(split[k]) for k in ("train", "val", "test")] == [128, 32, 40]
    # DiGress keeps generation order within a split; SPECTRE's random_split does not
    idx = [int(g.graph["name"].split("-")[-1]) for g in digress["test"]]
    assert idx == sorted(idx)
    assert {g.graph["name"] for g in spectre["test"]} != {g.graph["name"] for g in digress["test"]}
    assert make_dataset("planar", 0, split="digress")["val"][0].graph["name"] == digress["val"][0].graph["name"]
    with pytest.raises(ValueError, match="split as gdss"):
        make_dataset("grid", split="spectre")
    with pytest.raises(ValueError, match="unknown dataset"):
        make_dataset("ego-small")


def test_community_small_recipe(datasets):
    graphs = _all(datasets["community-small"])
    sizes = {g.number_of_nodes() for g in graphs}
    assert sizes <= {12, 14, 16, 18, 20} and len(sizes) >= 4
    for g in graphs:
        half = g.number_of_nodes() // 2
        left, right = set(range(half)), set(range(half, 2 * half))
        cross = sum((u in left) != (v in left) for u, v in g.edges())
        inner = g.number_of_edges() - cross
        assert nx.is_connected(g) and cross >= 1
        assert inner > 0.45 * 2 * half * (half - 1) / 2  # ER p = 0.7 inside each community
        assert cross <= 6  # bridges: p = 0.1 / half over half² pairs, 0.1 * half expected
        assert nx.is_connected(g.subgraph(left)) and nx.is_connected(g.subgraph(right))
        assert sorted(g.nodes) == list(range(g.number_of_nodes()))


def test_grid_recipe(datasets):
    for g in _all(datasets["grid"]):
        n = g.number_of_nodes()
        sides = [(m, n // m) for m in range(10, 20) if n % m == 0 and m <= n // m <= 19]
        assert sides, n  # m x k with 10 <= m <= k <= 19
        assert any(nx.is_isomorphic(g, nx.grid_2d_graph(*s)) for s in sides)
        assert sorted(g.nodes) == list(range(n))


def test_sbm_recipe(datasets):
    graphs = _all(datasets["sbm"])
    nodes = [g.number_of_nodes() for g in graphs]
    assert 40 <= min(nodes) and max(nodes) <= 200
    assert min(nodes) < 70 and max(nodes) > 150  # 2-5 blocks of 20-40 nodes, both ends reached
    density = sum(nx.density(g) for g in graphs) / len(graphs)
    assert 0.05 < density < 0.2
    assert all(set(g.graph) == {"name"} for g in graphs)  # no 'partition' attribute to drop


def test_planar_recipe(datasets):
    from graphdiff.metrics import is_planar_valid

    for g in _all(datasets["planar"]):
        assert g.number_of_nodes() == 64 and is_planar_valid(g)
        # a triangulation of 64 points: 3n - 3 - h edges with h >= 3 points on the hull
        assert 2 * 64 - 3 <= g.number_of_edges() <= 3 * 64 - 6


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_fixes_the_graphs(datasets, name):
    again = make_dataset(name, seed=0)
    for part in ("train", "val", "test"):
        assert _edges(again[part]) == _edges(datasets[name][part])
    other = make_dataset(name, seed=1)
    assert _edges(_all(other)) != _edges(_all(datasets[name]))


def test_write_dataset_files_are_read_by_the_social_domain(tmp_path):
    written = write_dataset("community-small", tmp_path / "comm", seed=3)
    assert sorted(written) == ["test", "train"]  # GDSS has no validation split
    assert written["train"].name == "train.jsonl"
    domain = SocialDomain()
    train = list(domain.read(written["train"], strict=True))
    expected = make_dataset("community-small", seed=3)["train"]
    assert len(train) == 80
    assert all(domain.equal(r["obj"], g) for r, g in zip(train, expected))
    folders = write_dataset("planar", tmp_path / "planar", seed=0, fmt="graphml")
    assert sorted(folders) == ["test", "train", "val"]
    assert len(list(domain.read(folders["val"], strict=True))) == 32


def test_command_line(tmp_path):
    out = tmp_path / "grid"
    proc = subprocess.run([sys.executable, "-m", "graphdiff_social.datasets", "grid", str(out), "--seed", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" not in proc.stderr
    assert "train: 80 graphs" in proc.stdout and "test: 20 graphs" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["test.jsonl", "train.jsonl"]

def test_command_line_rejects_unknown_names(tmp_path, capsys):
    from graphdiff_social.datasets import main

    with pytest.raises(SystemExit) as exc:
        main(["ego", str(tmp_path / "x")])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_evaluate_dng_on_a_written_dataset(tmp_path):
    files = write_dataset("planar", tmp_path / "planar", seed=0)
    # "generated": the test graphs, three of them twice, one training graph and a K5
    generated = make_dataset("planar", seed=0)
    gen = generated["test"][:10] + generated["test"][:3] + generated["train"][:1] + [nx.complete_graph(5)]
    from graphdiff_social.io import write_graphs

    write_graphs(gen, tmp_path / "gen.jsonl")
    out = tmp_path / "metrics.json"
    res = CliRunner().invoke(cli, ["evaluate", "--domain", "social", "--task", "dng",
                                   "--generated", str(tmp_path / "gen.jsonl"), "--reference", str(files["test"]),
                                   "--train", str(files["train"]), "--dataset", "planar", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["dataset"] == "planar" and r["kernel"] == "digress" and r["num_generated"] == 15
    assert r["validity"] == pytest.approx(14 / 15) and r["uniqueness"] == pytest.approx(12 / 15)
    assert r["novelty"] == pytest.approx(14 / 15) and r["vun"] == pytest.approx(10 / 15)
    assert all(0 <= v < 0.2 for v in r["mmd"].values()), r["mmd"]
    rows = r["per_item"]
    assert rows[10]["duplicate_of"] == rows[0]["id"] and rows[13]["train_match"] is not None
    assert rows[14]["valid"] is False
    assert "per_item" not in res.output  # the summary printed leaves the rows out


def test_social_registers_the_dng_metric(monkeypatch):
    from graphdiff.metrics import dng_metric
    from graphdiff.plugins import PluginManager

    for var in ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    pm = PluginManager(autoload=True, allow=["social"], strict=True).load()
    assert pm.registry("metrics").get("social-dng") is dng_metric
    assert pm.plugins["social"].registered["metrics"] == ["social-dng"]
