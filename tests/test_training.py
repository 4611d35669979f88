"""Trainer: exact resume, NaN handling, checkpoints, bad input, DDP under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from graphdiff.config import FieldProcessConfig, RunConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.errors import CheckpointError, GraphValidationError, TrainingError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.model import load_state, read_checkpoint, save_checkpoint
from graphdiff.nn import BUILTIN_DENOISERS
from graphdiff.processes import build_process
from graphdiff.training import Trainer

SPEC = GraphSpec("tiny", (
    FieldSpec("kind", "categorical", "node", num_classes=3),
    FieldSpec("x", "continuous", "node", dim=2),
    FieldSpec("edges", "categorical", "edge", num_classes=2),
), properties=("p",))


def graphs(num=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(2, 6, (1,), generator=gen))
        u = torch.arange(n - 1)
        out.append(Data(num_nodes=n, kind=torch.randint(0, 3, (n,), generator=gen),
                        x=torch.randn(n, 2, generator=gen),
                        edge_index=torch.stack([torch.cat([u, u + 1]), torch.cat([u + 1, u])]),
                        edges=torch.ones(2 * (n - 1), dtype=torch.long),
                        p=torch.tensor([float(n)])))
    return out


def model(condition=()):
    procs = {n: build_process(SPEC[n], FieldProcessConfig()) for n in SPEC.names}
    net = BUILTIN_DENOISERS["graph_transformer"](SPEC, {n: SPEC[n].width for n in SPEC.names},
                                                 cond_dim=len(condition), hidden=16, layers=1, heads=2)
    m = GraphDiffusion(SPEC, net, procs, generate=SPEC.names, condition=condition)
    m.fit_statistics(graphs())
    return m


def config(tmp_path, **training):
    return RunConfig.model_validate({
        "data": {"domain": "tiny", "batch_size": 8},
        "training": {"max_steps": 12, "log_every": 2, "val_every": 4, "checkpoint_every": 4,
                     "out_dir": str(tmp_path), "seed": 3, **training},
    })


def test_resume_continues_exactly(tmp_path):
    torch.manual_seed(0)
    straight = Trainer(model(), config(tmp_path / "a"), graphs(), graphs(8, 1), progress=False)
    straight.fit()
    torch.manual_seed(0)
    first = Trainer(model(), config(tmp_path / "b"), graphs(), graphs(8, 1), progress=False)
    first.fit(max_steps=4)  # writes last.ckpt at step 4
    torch.manual_seed(123)  # a different global state: resume must restore it
    second = Trainer(model(), config(tmp_path / "b"), graphs(), graphs(8, 1), progress=False)
    second.resume(tmp_path / "b" / "last.ckpt")
    assert second.step == 4
    second.fit()
    a, b = straight.model.state_dict(), second.model.state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in log) and (tmp_path / "b" / "loss.png").exists()


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = graphs()
    tr = Trainer(model(), config(tmp_path), data, progress=False)
    tr.fit(max_steps=4)
    good = read_checkpoint(tmp_path / "last.ckpt")
    data[0].x[0, 0] = float("nan")
    for g in data:
        g.x = torch.full_like(g.x, float("nan"))
    with pytest.raises(TrainingError, match="non-finite loss .* step 4"):
        tr.fit(max_steps=8)
    assert read_checkpoint(tmp_path / "last.ckpt")["step"] == good["step"] == 4


def test_corrupt_foreign_and_mismatched_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(bad)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a graphdiff checkpoint"):
        read_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "missing.ckpt")
    other = model(condition=("p",))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_state(model(), other.state_dict(), "x.ckpt")
    # a resume with another model config is refused before anything changes
    tr = Trainer(model(), config(tmp_path / "r"), graphs(), progress=False)
    tr.fit(max_steps=4)
    cfg = config(tmp_path / "r")
    cfg.model.hidden = 32
    tr2 = Trainer(model(), cfg, graphs(), progress=False)
    with pytest.raises(CheckpointError, match=r"another \[model\] config"):
        tr2.resume(tmp_path / "r" / "last.ckpt")


def test_atomic_save_leaves_no_temp_files(tmp_path):
    save_checkpoint(tmp_path / "c.ckpt", {"model": {"w": torch.ones(2)}})
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_sampling_bad_input(tmp_path):
    m = model()
    with pytest.raises(GraphValidationError, match="at least one node"):
        m.sample([3, 0], steps=2)
    with pytest.raises(GraphValidationError, match="unconditional"):
        m.sample([3], steps=2, cond={"p": 1.0})
    mc = model(condition=("p",))
    with pytest.raises(GraphValidationError, match="unknown condition"):
        mc.sample([3], steps=2, cond={"q": 1.0})
    with pytest.raises(GraphValidationError, match="has no such property"):
        mc.loss(__import__("torch_geometric").data.Batch.from_data_list(
            [Data(num_nodes=2, kind=torch.zeros(2, dtype=torch.long), x=torch.zeros(2, 2),
                  edge_index=torch.zeros(2, 0, dtype=torch.long), edges=torch.zeros(0, dtype=torch.long))]))


def test_sampling_is_seeded_and_memory_does_not_keep_a_trajectory():
    m = model().eval()
    a = m.sample([3, 4], steps=5, generator=torch.Generator().manual_seed(7))
    b = m.sample([3, 4], steps=5, generator=torch.Generator().manual_seed(7))
    for ga, gb in zip(a, b):
        assert torch.equal(ga.kind, gb.kind) and torch.equal(ga.x, gb.x)
        assert torch.equal(ga.edge_index, gb.edge_index)
    out, traj = m.sample([3], steps=4, return_trajectory=True)
    assert len(traj) == 4 and out[0].num_nodes == 3


def test_interpolation_endpoints_follow_inversion():
    m = model().eval()
    a, b = graphs(2, 5)[0], graphs(2, 5)[0].clone()
    b.x = b.x + 1.0
    path = m.interpolate(a, b, num=3, steps=20)
    assert len(path) == 3 and all(g.num_nodes == a.num_nodes for g in path)
    with pytest.raises(GraphValidationError, match="equal size"):
        m.interpolate(graphs(1, 0)[0], Data(num_nodes=9), num=3)


DDP_SCRIPT = textwrap.dedent("""
    import json, os, sys, torch
    sys.path.insert(0, {tests!r})
    from test_training import model, graphs, config
    from graphdiff.training import Trainer
    from pathlib import Path
    torch.manual_seed(0)
    tr = Trainer(model(), config(Path({out!r})), graphs(), progress=False)
    tr.fit(max_steps=6)
    flat = torch.cat([p.detach().flatten() for p in tr.model.parameters()])
    print(json.dumps({{"rank": tr.rank, "world": tr.world, "step": tr.step, "checksum": float(flat.sum())}}))
""")


def test_ddp_two_cpu_processes_under_torchrun(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_port=29517", str(script)], capture_output=True, text=True,
                          env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in rows) == [0, 1]
    assert all(r["world"] == 2 and r["step"] == 6 for r in rows)
    # data-parallel replicas stay identical
    assert abs(rows[0]["checksum"] - rows[1]["checksum"]) < 1e-4
    assert (tmp_path / "run" / "last.ckpt").exists()


def test_bad_training_graphs_are_named():
    m = model()
    g = graphs(3)
    g[1].x = torch.zeros(g[1].num_nodes, 5)
    with pytest.raises(GraphValidationError, match=r"training item 1: field 'x': shape"):
        m.fit_statistics(g)
    g = graphs(3)
    g[2].x[0, 0] = float("inf")
    with pytest.raises(GraphValidationError, match=r"training item 2: field 'x': non-finite"):
        Trainer(m, config(Path("/tmp/unused-run")), g, progress=False)
    with pytest.raises(GraphValidationError, match="template 0: field 'kind' is missing"):
        m2 = GraphDiffusion(SPEC, m.denoiser.__class__(SPEC, {"x": 2, "edges": 2}, hidden=16, layers=1, heads=2),
                            {n: m.processes[n] for n in SPEC.names}, generate=["x", "edges"], given=["kind"])
        m2.sample(template=[Data(num_nodes=3)], steps=2)
    empty = Data(num_nodes=0, kind=torch.zeros(0, dtype=torch.long), x=torch.zeros(0, 2),
                 edge_index=torch.zeros(2, 0, dtype=torch.long), edges=torch.zeros(0, dtype=torch.long))
    with pytest.raises(GraphValidationError, match="training item 0: graph has no nodes"):
        m.fit_statistics([empty])


def test_gradient_guidance_moves_samples_along_the_target():
    from graphdiff.diffusion import GradientGuidance

    m = model().eval()

    def mean_x(x0_hat, graphs):
        from torch_geometric.utils import scatter

        return scatter(x0_hat["x"][:, 0], graphs.batch, reduce="mean", dim_size=graphs.num_graphs)

    plain = m.sample([4] * 30, steps=20, generator=torch.Generator().manual_seed(0))
    pushed = m.sample([4] * 30, steps=20, generator=torch.Generator().manual_seed(0),
                      gradient_guidance=GradientGuidance(mean_x, scale=5.0))
    plain_mean = torch.cat([g.x[:, 0] for g in plain]).mean()
    pushed_mean = torch.cat([g.x[:, 0] for g in pushed]).mean()
    assert pushed_mean > plain_mean + 0.5, (plain_mean, pushed_mean)


def _sum_x0(x0_hat, graphs):
    """A target whose gradient in ``x̂_0["x"]`` is 1 in column 0 and 0 in column 1."""
    return torch.zeros(graphs.num_graphs).index_add(0, graphs.batch, x0_hat["x"][:, 0])


def test_gradient_guidance_moves_the_clean_estimate_by_scale_times_its_gradient():
    """At every noise level, t = 1 included, a Gaussian field's clean estimate moves by
    ``scale · ∇`` (a gradient with respect to the state would move it by ``∇ / SNR(t)``,
    about 1e5 ∇ at t = 1, and throw the samples far off)."""
    from types import SimpleNamespace

    from graphdiff.diffusion import GradientGuidance

    m = model().eval()
    proc = m.processes["x"]
    gen = torch.Generator().manual_seed(0)
    x, pred = torch.randn(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    graphs_ = SimpleNamespace(batch=torch.tensor([0, 0, 1, 1, 1]), num_graphs=2)
    for t in (1.0, 0.5, 0.01):
        out = m._apply_gradient_guidance(GradientGuidance(_sum_x0, scale=0.3), {"x": x}, {"x": pred}, graphs_, t)
        moved = proc.split(x, out["x"], t)[0] - proc.split(x, pred, t)[0]
        assert torch.allclose(moved, torch.tensor([[0.3, 0.0]]).expand(5, 2), atol=1e-3), (t, moved)


def test_time_aware_guidance_shifts_the_score_by_scale_times_the_state_gradient():
    """``noisy_fn`` is classifier guidance proper: with ``x_t`` fixed, ε̂ moves by
    ``−σ_t · scale · ∇_{x_t}`` (the score by ``+scale · ∇``), so x̂_0 moves by ``σ² / α`` times it;
    the gradient is taken in the states (the target reads ``x_t``, not the clean estimate)."""
    from types import SimpleNamespace

    from graphdiff.diffusion import GradientGuidance

    m = model().eval()
    proc = m.processes["x"]
    gen = torch.Generator().manual_seed(0)
    x, pred = torch.randn(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    graphs_ = SimpleNamespace(batch=torch.tensor([0, 0, 1, 1, 1]), num_graphs=2)
    seen = []

    def on_state(states, graphs):
        seen.append(states["x"].detach().clone())
        return _sum_x0(states, graphs)

    for t in (0.9, 0.5, 0.05):
        out = m._apply_gradient_guidance(GradientGuidance(None, 0.3, noisy_fn=on_state), {"x": x}, {"x": pred},
                                         graphs_, t)
        a, s = proc.schedule.alpha_sigma_float(t)
        moved = proc.split(x, out["x"], t)[0] - proc.split(x, pred, t)[0]
        expect = torch.tensor([[0.3 * s * s / a, 0.0]]).expand(5, 2)
        assert torch.allclose(moved, expect, rtol=1e-3, atol=1e-5), (t, moved, expect)
        assert torch.equal(seen[-1], x)  # the target read the state itself
    # both readings at once add their moves
    both = m._apply_gradient_guidance(GradientGuidance(_sum_x0, 0.3, noisy_fn=_sum_x0), {"x": x}, {"x": pred},
                                      graphs_, 0.5)
    a, s = proc.schedule.alpha_sigma_float(0.5)
    moved = proc.split(x, both["x"], 0.5)[0] - proc.split(x, pred, 0.5)[0]
    assert torch.allclose(moved[:, 0], torch.full((5,), 0.3 + 0.3 * s * s / a), rtol=1e-3)


def test_interpolation_can_be_steered_by_gradient_guidance():
    from graphdiff.diffusion import GradientGuidance

    m = model().eval()
    a, b = graphs(2, 5)[0], graphs(2, 5)[0].clone()
    b.x = b.x + 1.0
    push = GradientGuidance(_sum_x0, scale=1.0)
    plain = m.interpolate(a, b, num=3, steps=10)
    pushed = m.interpolate(a, b, num=3, steps=10, gradient_guidance=push)
    for p, q in zip(plain, pushed):
        assert torch.isfinite(q.x).all()
        assert float(q.x[:, 0].mean()) > float(p.x[:, 0].mean()) + 0.5
    # one guidance per point: None leaves that point as the plain path has it
    mixed = m.interpolate(a, b, num=3, steps=10, gradient_guidance=[None, push, None])
    assert torch.allclose(mixed[0].x, plain[0].x) and torch.allclose(mixed[2].x, plain[2].x)
    assert torch.allclose(mixed[1].x, pushed[1].x)
    with pytest.raises(ValueError, match="2 entries for 3 points"):
        m.interpolate(a, b, num=3, steps=10, gradient_guidance=[push, push])


def test_half_precision_export_loads_into_the_float32_model(tmp_path):
    pytest.importorskip("graphdiff_social")
    from graphdiff.checkpoints import find_named
    from graphdiff.model import export_checkpoint, load_model

    src = find_named("community-small-dng").path
    dst = export_checkpoint(src, tmp_path / "half.ckpt", weights_dtype=torch.float16)
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    full, _, _ = load_model(src)
    half, _, meta = load_model(dst)
    assert meta["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in half.parameters())
    assert torch.equal(full.num_nodes_hist, half.num_nodes_hist)
    for (name, a), b in zip(full.state_dict().items(), half.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-3), name


def test_progress_prints_a_line_per_log_interval_with_steps_per_s(tmp_path, capsys) -> None:
    tr = Trainer(model(), config(tmp_path / "p", max_steps=6, log_every=3, val_every=3), graphs(),
                 graphs(8, 1), progress=True)
    tr.fit()
    err = capsys.readouterr().err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["3/6", "6/6"], err
    assert all("steps/s" in ln and "loss " in ln and "val_loss " in ln and "graphs/s" in ln for ln in lines)
    assert "ETA" in lines[0] and "ETA" not in lines[1]  # none once the run is over
    logged = [r for r in tr.history if "loss" in r]
    assert [r["step"] for r in logged] == [3, 6] and all(r["steps_per_s"] > 0 for r in logged)


def test_quiet_training_prints_nothing(tmp_path, capsys) -> None:
    Trainer(model(), config(tmp_path / "q", max_steps=4), graphs(), progress=False).fit()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
