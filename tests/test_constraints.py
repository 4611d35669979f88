"""Projected sampling: edge-deletion invariant constraints kept in every reverse state."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.constraints import BUILTIN_CONSTRAINTS, project_edges, resolve_constraint
from graphdiff.errors import ConfigError, UnknownNameError
from graphdiff.nn.base import all_pairs

NAMES = ["planar", "forest", "max-degree-3"]


def _grown(constraint, n: int, pairs: list[tuple[int, int]]) -> nx.Graph:
    """A graph with the property: ``pairs`` inserted in order, keeping those it allows."""
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for u, v in pairs:
        if u != v and not g.has_edge(u, v):
            g.add_edge(u, v)
            if not constraint.holds(g):
                g.remove_edge(u, v)
    return g


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), n=st.integers(3, 11), data=st.data())
def test_admits_agrees_with_adding_the_edge_and_testing(name, n, data):
    constraint = BUILTIN_CONSTRAINTS[name]
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))
    g = _grown(constraint, n, pairs)
    assert constraint.holds(g)
    before = sorted(g.edges())
    for u in range(n):
        for v in range(u + 1, n):
            if g.has_edge(u, v):
                continue
            h = g.copy()
            h.add_edge(u, v)
            assert constraint.admits(g, u, v) == constraint.holds(h), (name, sorted(g.edges()), (u, v))
    assert sorted(g.edges()) == before  # admits leaves the graph as it was


def test_planar_rejects_the_edges_that_make_k5_and_k33():
    planar = BUILTIN_CONSTRAINTS["planar"]
    k5 = nx.complete_graph(5)
    k5.remove_edge(0, 1)
    assert planar.holds(k5) and not planar.admits(k5, 0, 1)
    k33 = nx.complete_bipartite_graph(3, 3)
    k33.remove_edge(0, 3)
    assert planar.holds(k33) and not planar.admits(k33, 0, 3)
    assert planar.admits(nx.path_graph(6), 0, 5)


def _pair_graph(pair_index, classes, ptr, g) -> nx.Graph:
    lo, hi = int(ptr[g]), int(ptr[g + 1])
    out = nx.Graph()
    out.add_nodes_from(range(hi - lo))
    for p in torch.nonzero(classes > 0).view(-1).tolist():
        u, v = int(pair_index[0, p]), int(pair_index[1, p])
        if lo <= u < hi:
            out.add_edge(u - lo, v - lo)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_projection_keeps_the_property_and_drops_only_added_edges_that_break_it(name):
    constraint = BUILTIN_CONSTRAINTS[name]
    ptr = torch.tensor([0, 7, 16, 28])
    pair_index, pair_batch = all_pairs(ptr)
    gen = torch.Generator().manual_seed(0)
    # a start state with the property, then a dense proposal that keeps some edges and adds many
    prev = project_edges(constraint, torch.zeros(pair_batch.numel(), dtype=torch.long),
                         torch.randint(0, 3, (pair_batch.numel(),), generator=gen), pair_index, pair_batch, ptr, gen)
    new = torch.randint(0, 3, (pair_batch.numel(),), generator=gen)
    out = project_edges(constraint, prev, new, pair_index, pair_batch, ptr, torch.Generator().manual_seed(5))
    again = project_edges(constraint, prev, new, pair_index, pair_batch, ptr, torch.Generator().manual_seed(5))
    assert torch.equal(out, again)  # the insertion order comes from the generator
    kept = (prev > 0) & (new > 0)
    assert torch.equal(out[kept], new[kept])  # edges kept by the step keep their new class
    assert bool((out[new == 0] == 0).all())  # removed edges stay removed
    assert bool(((out == new) | (out == 0)).all())  # the projection only discards
    added = (new > 0) & (prev == 0)
    assert bool((out[added] == 0).any())  # the proposal was dense enough to need the projection
    for g in range(3):
        final = _pair_graph(pair_index, out, ptr, g)
        assert constraint.holds(final)
        dropped = _pair_graph(pair_index, added & (out == 0), ptr, g)
        for u, v in dropped.edges():  # maximal: each discarded edge breaks the property of the result
            assert not constraint.admits(final, u, v)


def test_resolve_constraint_names_and_none():
    assert resolve_constraint(None) is None and resolve_constraint("none") is None
    assert resolve_constraint("planar") is BUILTIN_CONSTRAINTS["planar"]
    with pytest.raises(UnknownNameError, match="planar"):
        resolve_constraint("planer")


# ---------------------------------------------------------------- through the model, the config and the CLI
@pytest.fixture()
def graphs_file(tmp_path):
    pytest.importorskip("graphdiff_social")
    from graphdiff_social import SocialDomain

    graphs = [nx.random_labeled_tree(8 + i % 5, seed=i) for i in range(20)]
    path = tmp_path / "trees.jsonl"
    SocialDomain().write(graphs, path)
    return path


def _config(tmp_path, source, diffusion: str) -> object:
    path = tmp_path / "run.toml"
    path.write_text(f'[data]\ndomain = "social"\nsource = "{source}"\nval_fraction = 0.2\nbatch_size = 8\n'
                    f'[model]\nhidden = 16\nlayers = 1\n{diffusion}'
                    f'[training]\nmax_steps = 3\nlog_every = 1\nval_every = 2\nout_dir = "{tmp_path / "run"}"\n'
                    f'[sampling]\nsteps = 8\n')
    return path


def test_a_constrained_absorbing_model_generates_forests_and_keeps_its_constraint(tmp_path, graphs_file):
    from click.testing import CliRunner

    from graphdiff.cli import cli
    from graphdiff.model import load_model
    from graphdiff.runner import sample_graphs

    cfg = _config(tmp_path, graphs_file,
                  '[diffusion]\nconstraint = "forest"\n[diffusion.fields.edges]\nprior = "absorbing"\n')
    res = CliRunner().invoke(cli, ["train", "-q", str(cfg)])
    assert res.exit_code == 0, res.output
    ckpt = tmp_path / "run" / "last.ckpt"
    model, _, _ = load_model(ckpt)
    assert model.constraint.name == "forest" and model.processes["edges"].prior_kind == "absorbing"
    graphs = [g for c in sample_graphs(model, 6, steps=8, seed=0) for g in c]
    from graphdiff_social import SocialDomain

    for g in graphs:
        assert nx.is_forest(SocialDomain().from_graph(g))
    # the CLI can swap the model's constraint for another one
    out = tmp_path / "gen.jsonl"
    res = CliRunner().invoke(cli, ["sample", "-c", str(ckpt), "-n", "4", "-q", "--constraint", "max-degree-2",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    for r in SocialDomain().read(out):
        assert max((d for _, d in r["obj"].degree()), default=0) <= 2
    res = CliRunner().invoke(cli, ["sample", "-c", str(ckpt), "-n", "2", "-q", "--constraint", "planer",
                                   "-o", str(tmp_path / "x.jsonl")])
    assert res.exit_code != 0 and "planar" in res.output


def test_a_constraint_is_refused_where_no_edges_are_generated(tmp_path, graphs_file):
    from graphdiff.config import load_config
    from graphdiff.model import build_model

    cfg = load_config(_config(tmp_path, graphs_file, '[diffusion]\nconstraint = "no-such"\n'))
    with pytest.raises(ConfigError, match="diffusion.constraint.*planar"):
        build_model(cfg)
    cfg = load_config(_config(tmp_path, graphs_file, '[diffusion]\nconstraint = "planar"\ngiven = ["edges"]\n'))
    with pytest.raises(ConfigError, match="does not generate its edge field 'edges'"):
        build_model(cfg)


def test_plugins_load_without_warnings():
    """A plugin hook that looks a registry up while plugins load (the bundled predictors read which
    targets their baseline uses) sees the manager being loaded instead of starting it again."""
    code = ("import warnings; warnings.simplefilter('error', RuntimeWarning)\n"
            "from graphdiff.plugins import get_manager\n"
            "m = get_manager(); assert not m.errors, m.errors\n"
            "assert 'planar' in m.registry('constraints').names()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]



# ---------------------------------------------------------------- a constraint that reads node positions
def _positioned(xy: list[tuple[float, float]], edges=()) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from((i, {"pos": (float(x), float(y))}) for i, (x, y) in enumerate(xy))
    g.add_edges_from(edges)
    return g


def test_no_crossings_on_known_drawings():
    from graphdiff.constraints import NoCrossings

    c = NoCrossings("coords")
    #   3 ---- 2      a square with the diagonal 0-2 drawn, and node 4 halfway along the side 0-1
    #   |      |
    #   0 -4-- 1
    square = _positioned([(0, 0), (2, 0), (2, 2), (0, 2), (1, 0)], [(0, 2)])
    assert c.holds(square)
    assert not c.admits(square, 1, 3)  # the other diagonal crosses it
    assert not c.admits(square, 4, 3)  # so does 4-3
    assert c.admits(square, 4, 2) and c.admits(square, 2, 3) and c.admits(square, 0, 3)  # ends only
    assert c.admits(square, 0, 2)  # an edge already there
    square.add_edge(0, 1)
    assert not c.admits(square, 4, 2)  # 4-2 starts on the segment 0-1: touching counts as crossing
    path = _positioned([(0, 0), (2, 0), (1, 0), (1, 1)], [(0, 1)])
    assert not c.admits(path, 2, 3) and not c.admits(path, 0, 2)  # touches 0-1; runs along it from 0
    bent = _positioned([(0, 0), (2, 0), (-1, 1)], [(0, 1)])
    assert c.admits(bent, 0, 2) and c.holds(bent)  # two segments meeting at a junction at an angle


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 9), data=st.data())
def test_no_crossings_admits_agrees_with_adding_and_testing(n, data):
    """On a small integer lattice, where collinear and touching segments are common."""
    from graphdiff.constraints import NoCrossings

    c = NoCrossings("coords")
    xy = data.draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=n, max_size=n, unique=True))
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    g = _positioned(xy)
    for u, v in pairs:
        if u != v and c.admits(g, u, v):
            g.add_edge(u, v)
    assert c.holds(g)
    for u in range(n):
        for v in range(u + 1, n):
            h = g.copy()
            h.add_edge(u, v)
            assert c.admits(g, u, v) == c.holds(h), (xy, sorted(g.edges()), (u, v))


def test_projection_with_moving_positions_reinserts_kept_edges():
    from graphdiff.constraints import NoCrossings

    c = NoCrossings("coords")
    ptr = torch.tensor([0, 8, 20])
    pair_index, pair_batch = all_pairs(ptr)
    gen = torch.Generator().manual_seed(1)
    prev = torch.randint(0, 2, (pair_batch.numel(),), generator=gen)  # not crossing-free at the new positions
    new = torch.where(torch.rand(prev.shape, generator=gen) < 0.8, prev, 1 - prev)
    pos = torch.rand(20, 2, generator=gen)
    with pytest.raises(ValueError, match="positions"):
        project_edges(c, prev, new, pair_index, pair_batch, ptr, gen)
    out = project_edges(c, prev, new, pair_index, pair_batch, ptr, torch.Generator().manual_seed(2), pos)
    assert bool(((out == new) | (out == 0)).all())  # the projection only discards
    kept = (prev > 0) & (new > 0)
    assert bool((out[kept] == 0).any())  # kept edges that cross at the new positions are discarded too
    for g in range(2):
        lo = int(ptr[g])
        final = _pair_graph(pair_index, out, ptr, g)
        for i in final:
            final.nodes[i]["pos"] = tuple(pos[lo + i].tolist())
        assert c.holds(final)
        dropped = _pair_graph(pair_index, (new > 0) & (out == 0), ptr, g)
        for u, v in dropped.edges():  # every discarded edge crosses a kept one
            assert not c.admits(final, u, v)


def test_a_road_model_under_no_crossings_draws_no_crossing_segments(tmp_path):
    pytest.importorskip("graphdiff_traffic")
    from graphdiff_traffic import TrafficDomain
    from graphdiff_traffic.generators import road_like_graphs

    from graphdiff.config import load_config
    from graphdiff.metrics.vun import segments_conflict
    from graphdiff.model import build_model, load_model
    from graphdiff.runner import sample_graphs, train

    source = tmp_path / "roads.jsonl"
    TrafficDomain().write(road_like_graphs(12, 0, min_nodes=8, max_nodes=14), source)
    path = tmp_path / "run.toml"
    path.write_text(f'[data]\ndomain = "traffic"\nsource = "{source}"\nval_fraction = 0.0\nbatch_size = 6\n'
                    '[model]\nhidden = 16\nlayers = 1\n[model.options]\npair_distances = "coords"\n'
                    '[diffusion]\nconstraint = "no-crossings"\n[diffusion.fields.edges]\nprior = "absorbing"\n'
                    f'[training]\nmax_steps = 3\nlog_every = 1\nout_dir = "{tmp_path / "run"}"\n')
    train(load_config(path))
    model, _, _ = load_model(tmp_path / "run" / "last.ckpt")
    assert model.constraint.name == "no-crossings" and model.constraint.position_field == "coords"
    drawn = [TrafficDomain().from_graph(g) for c in sample_graphs(model, 6, steps=12, seed=0) for g in c]
    assert sum(g.number_of_edges() for g in drawn) > 0
    for g in drawn:
        xy = {u: (d["x"], d["y"]) for u, d in g.nodes(data=True)}
        edges = list(g.edges)
        assert not any(segments_conflict(xy, a, b, c, d) for i, (a, b) in enumerate(edges) for c, d in edges[i + 1:])
    # the social domain has no positions: the constraint is refused with the reason
    social = load_config(_config(tmp_path, source, '[diffusion]\nconstraint = "no-crossings"\n'))
    social.data.domain = "social"
    with pytest.raises(ConfigError, match="2-D node positions from field 'coords'"):
        build_model(social)
