"""The sampling loop, pinned: for a fixed seed, :meth:`GraphDiffusion.sample` (and inversion,
interpolation and trajectories) produce exactly the tensors recorded in
``tests/data/sampling_steps.pt``, on bundled checkpoints of every domain and with every piece of
the step switched on once: classifier-free and gradient guidance, the Langevin corrector, edge
constraints (combinatorial and geometric), inpainting, the deterministic sampler.

The fixture holds the exact outputs (a few kB) of a run on CPU with one thread; the comparison is
bit for bit. Re-record it (after a change that is *meant* to change the samples, or on a machine or
torch build whose kernels round differently) with ``python tests/test_sampling_steps.py --record``.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import graphdiff
from graphdiff.diffusion import GradientGuidance

pytest.importorskip("graphdiff_crystals")
pytest.importorskip("graphdiff_molecules")
pytest.importorskip("graphdiff_social")
pytest.importorskip("graphdiff_traffic")

FIXTURE = Path(__file__).parent / "data" / "sampling_steps.pt"


@functools.cache
def _load(name: str):
    return graphdiff.load(name, device="cpu", ema=True)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _graph_tensors(graphs, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor attribute of every graph, keyed ``"{i}.{attribute}"``."""
    out = {}
    for i, g in enumerate(graphs):
        for key in sorted(g.keys()):
            value = g[key]
            if isinstance(value, torch.Tensor):
                out[f"{prefix}{i}.{key}"] = value.detach().cpu().clone()
    return out


def _states(states: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().cpu().clone() for k, v in sorted(states.items())}


def _per_graph(values: torch.Tensor, graphs) -> torch.Tensor:
    """Sum of ``values [N, d]`` (or ``[B, d]``) per graph: ``[B]``."""
    if values.shape[0] == graphs.num_graphs:
        return values.sum(-1)
    return torch.zeros(graphs.num_graphs, dtype=values.dtype).index_add(0, graphs.batch, values.sum(-1))


def _crystal_target(x0: dict[str, torch.Tensor], graphs) -> torch.Tensor:
    """A smooth target of the clean estimate: a small cell with spread-out atoms."""
    return (-0.1 * _per_graph(x0["lattice"] ** 2, graphs)
            + _per_graph(torch.sin(2 * math.pi * x0["frac_coords"]), graphs))


def _crystal_noisy_target(xt: dict[str, torch.Tensor], graphs) -> torch.Tensor:
    """A target of the noisy state itself (the time-aware reading)."""
    return (0.05 * _per_graph(torch.cos(2 * math.pi * xt["frac_coords"]), graphs)
            - 0.02 * _per_graph(xt["lattice"], graphs))


def _molecule_target(x0: dict[str, torch.Tensor], graphs) -> torch.Tensor:
    """Spread the atoms out (the squared distance from the centre)."""
    return 0.1 * _per_graph(x0["positions"] ** 2, graphs)


# ----------------------------------------------------------------------------- the cases
def case_perov5_csp_composition() -> dict[str, torch.Tensor]:
    """CSP from formulas: the given atom types come from a composition template."""
    m = _load("perov5-csp")
    tpl = [m.domain.input_graph(f, "csp") for f in ("SrTiO3", "BaZrO3", "KNbO3")]
    return _graph_tensors(m.diffusion.sample(template=tpl, steps=6, generator=_gen(11)))


def case_perov5_csp_corrector() -> dict[str, torch.Tensor]:
    """Langevin corrector steps on the torus field."""
    m = _load("perov5-csp")
    tpl = [m.domain.input_graph(f, "csp") for f in ("SrTiO3", "CaTiO3")]
    return _graph_tensors(m.diffusion.sample(template=tpl, steps=5, corrector_steps=2, generator=_gen(12)))


def case_carbon24_dng() -> dict[str, torch.Tensor]:
    """De novo crystals (categorical, torus and Gaussian fields)."""
    m = _load("carbon24-dng")
    return _graph_tensors(m.diffusion.sample([6, 8, 10], steps=6, generator=_gen(13)))


def case_carbon24_dng_ddim_corrector() -> dict[str, torch.Tensor]:
    """The deterministic sampler with a corrector."""
    m = _load("carbon24-dng")
    return _graph_tensors(m.diffusion.sample([8, 12], steps=5, sampler="ddim", corrector_steps=1,
                                             generator=_gen(14)))


def case_carbon24_inpaint_csp() -> dict[str, torch.Tensor]:
    """A de novo model doing CSP by inpainting its atom types."""
    m = _load("carbon24-dng")
    tpl = [m.domain.input_graph(f, "csp") for f in ("C8", "C12")]
    return _graph_tensors(m.diffusion.sample(template=tpl, steps=6, inpaint=["atom_types"], generator=_gen(15)))


def case_carbon24_energy_cfg() -> dict[str, torch.Tensor]:
    """Classifier-free guidance towards a property value."""
    m = _load("carbon24-dng-energy")
    return _graph_tensors(m.diffusion.sample([8, 10], steps=6, cond={"energy_per_atom": -154.4},
                                             guidance_scale=1.0, generator=_gen(16)))


def case_perov5_dng_cfg_tensor() -> dict[str, torch.Tensor]:
    """Classifier-free guidance with a ``[B, K]`` condition, one row not given (NaN)."""
    m = _load("perov5-dng")
    cond = torch.tensor([[-0.5], [float("nan")]])
    return _graph_tensors(m.diffusion.sample([5, 5], steps=5, cond=cond, guidance_scale=0.5, generator=_gen(17)))


def case_carbon24_gradient_guidance() -> dict[str, torch.Tensor]:
    """Gradient guidance: a target of the clean estimate and one of the noisy state at once."""
    m = _load("carbon24-dng")
    guide = GradientGuidance(_crystal_target, scale=0.5, noisy_fn=_crystal_noisy_target)
    return _graph_tensors(m.diffusion.sample([6, 8], steps=6, gradient_guidance=guide, generator=_gen(18)))


def case_carbon24_gradient_guidance_fields() -> dict[str, torch.Tensor]:
    """Gradient guidance that moves one field only."""
    m = _load("carbon24-dng")
    guide = GradientGuidance(_crystal_target, scale=0.5, fields=frozenset({"frac_coords"}))
    return _graph_tensors(m.diffusion.sample([6, 8], steps=5, gradient_guidance=guide, generator=_gen(19)))


def case_qm9_dng() -> dict[str, torch.Tensor]:
    """Molecules: atom types and E(3) positions."""
    m = _load("qm9-dng")
    return _graph_tensors(m.diffusion.sample([5, 9, 12], steps=5, generator=_gen(20)))


def case_qm9_gradient_guidance_ddim() -> dict[str, torch.Tensor]:
    """Gradient guidance of positions under the deterministic sampler."""
    m = _load("qm9-dng")
    guide = GradientGuidance(_molecule_target, scale=0.3)
    return _graph_tensors(m.diffusion.sample([7, 9], steps=5, sampler="ddim", gradient_guidance=guide,
                                             generator=_gen(21)))


def case_planar_dng_constraint() -> dict[str, torch.Tensor]:
    """Plain graphs with the model's planarity constraint projected at every step."""
    m = _load("planar-dng")
    return _graph_tensors(m.diffusion.sample([12, 16], steps=6, generator=_gen(22)))


def case_community_small_dng() -> dict[str, torch.Tensor]:
    """Plain graphs, no constraint."""
    m = _load("community-small-dng")
    return _graph_tensors(m.diffusion.sample([12, 16], steps=6, generator=_gen(23)))


def case_community_small_constraint() -> dict[str, torch.Tensor]:
    """A constraint chosen at sampling time (the model has none)."""
    m = _load("community-small-dng")
    return _graph_tensors(m.diffusion.sample([12, 14], steps=5, constraint="forest", generator=_gen(24)))


def case_roads_dng_geometric_constraint() -> dict[str, torch.Tensor]:
    """Edges that may not cross, read from the positions the denoiser heads for; conditioned."""
    m = _load("roads-dng")
    return _graph_tensors(m.diffusion.sample([10, 14], steps=6, cond={"traffic-mean_edge_length": 0.2},
                                             guidance_scale=0.5, generator=_gen(25)))


def case_carbon24_trajectory() -> dict[str, torch.Tensor]:
    """The states after every step."""
    m = _load("carbon24-dng")
    graphs, traj = m.diffusion.sample([6, 8], steps=4, generator=_gen(26), return_trajectory=True)
    out = _graph_tensors(graphs)
    for i, states in enumerate(traj):
        out.update(_states(states, f"traj{i}."))
    return out


def case_carbon24_invert_interpolate() -> dict[str, torch.Tensor]:
    """Deterministic inversion, and decoding along a path with the atom types held."""
    d = _load("carbon24-dng").diffusion
    a, b = d.sample([8, 8], steps=5, generator=_gen(27))
    out = _states(d.invert([a], steps=4), "latent.")
    out.update(_graph_tensors(d.interpolate(a, b, num=3, steps=4)))
    return out


def case_perov5_dng_interpolate_condition_guided() -> dict[str, torch.Tensor]:
    """Interpolation with a changing condition and gradient guidance of the decoding."""
    d = _load("perov5-dng").diffusion
    a, b = d.sample([5, 5], steps=5, generator=_gen(28))
    guide = GradientGuidance(_crystal_target, scale=0.3)
    path = d.interpolate(a, b, num=3, steps=4, cond_path=[{"heat_ref": v} for v in (-0.5, 0.0, 0.5)],
                         gradient_guidance=[None, guide, guide])
    return _graph_tensors(path)


CASES: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def _run(case: str) -> dict[str, torch.Tensor]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recorded kernels: one thread's order of summation
    try:
        return CASES[case]()
    finally:
        torch.set_num_threads(threads)


def record(path: Path = FIXTURE) -> None:
    """Write the fixture from the code as it is now."""
    data: dict[str, Any] = {case: _run(case) for case in CASES}
    data["_meta"] = {"torch": str(torch.__version__)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    print(f"recorded {len(CASES)} cases, {path.stat().st_size} bytes, in {path}")


@functools.cache
def _expected() -> dict[str, Any]:
    if not FIXTURE.exists():
        pytest.fail(f"{FIXTURE} is missing: record it with `python {Path(__file__).name} --record`")
    return torch.load(FIXTURE, weights_only=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_samples_are_bit_for_bit_the_recorded_ones(case):
    expected = _expected()
    assert case in expected, f"case {case!r} is not in the fixture: re-record it"
    got = _run(case)
    assert sorted(got) == sorted(expected[case]), f"{case}: other tensors than recorded"
    for key, want in expected[case].items():
        have = got[key]
        assert have.dtype == want.dtype and have.shape == want.shape, (case, key, have.dtype, have.shape,
                                                                       want.dtype, want.shape)
        same = torch.equal(have, want) or (have.is_floating_point() and bool(
            torch.isclose(have, want, rtol=0.0, atol=0.0, equal_nan=True).all()))  # NaN where NaN was
        if not same:
            diff = (have.double() - want.double()).abs().max().item() if have.is_floating_point() else "classes"
            pytest.fail(f"{case}: {key} differs from the recorded tensor (largest difference {diff}; "
                        f"recorded with torch {expected['_meta']['torch']}, running {torch.__version__})")



# ----------------------------------------------------------------------------- the loop and its pieces
def test_a_loop_of_steps_written_by_hand_gives_the_samples_of_sample():
    from graphdiff.sampling import SampleStep

    d = _load("carbon24-dng").diffusion
    guide = GradientGuidance(_crystal_target, scale=0.5)
    kw = {"steps": 4, "corrector_steps": 1, "gradient_guidance": guide}
    run = d.prepare_sampling([6, 8], generator=_gen(5), **kw)
    assert run.steps == 4 and run.timesteps[0][0] == 1.0 and run.timesteps[-1][1] == 0.0
    states = run.initial_states()
    seen = []
    for i in range(run.steps):
        before = dict(states)
        out = run.step(states, i)
        assert isinstance(out, SampleStep) and (out.index, out.t, out.s) == (i, *run.timesteps[i])
        assert all(states[n] is before[n] for n in before)  # the input states are left as they were
        assert set(out.states) == set(out.previous) == set(out.predictions) == set(d.generate)
        seen.append(out)
        states = out.states
    assert [o.is_last for o in seen] == [False, False, False, True]
    by_hand = _graph_tensors(run.to_graphs(states))
    recorded = []
    direct = _graph_tensors(d.sample([6, 8], generator=_gen(5), callback=recorded.append, **kw))
    assert by_hand.keys() == direct.keys() and all(torch.equal(by_hand[k], direct[k]) for k in direct)
    assert [o.index for o in recorded] == [0, 1, 2, 3]
    for a, b in zip(seen, recorded):
        assert all(torch.equal(a.states[n], b.states[n]) for n in a.states)


def test_the_clean_estimates_of_a_step():
    d = _load("carbon24-dng").diffusion
    run = d.prepare_sampling([6, 8], steps=3, generator=_gen(6))
    states = run.initial_states()
    for i in range(run.steps):
        out = run.step(states, i)
        states = out.states
        probs = out.clean["atom_types"]
        assert probs.shape == (14, d.spec["atom_types"].num_classes)
        assert torch.allclose(probs.sum(-1), torch.ones(14))
        frac = out.clean["frac_coords"]
        assert frac.shape == (14, 3) and bool(((frac >= 0) & (frac < 1)).all())
        lattice, _ = d.processes["lattice"].split(out.previous["lattice"], out.predictions["lattice"], out.t)
        assert torch.equal(out.clean["lattice"], lattice)
    # the last step lands on the clean estimate: Tweedie's for the torus, x̂_0 for a Gaussian field
    assert torch.equal(out.states["frac_coords"], out.clean["frac_coords"])
    assert torch.allclose(out.states["lattice"], out.clean["lattice"], atol=1e-5)
    assert torch.equal(out.states["atom_types"], out.clean["atom_types"].argmax(-1))


def test_trajectories_come_from_their_own_method():
    d = _load("carbon24-dng").diffusion
    graphs, traj = d.sample_trajectory([6], steps=3, generator=_gen(7))
    old_graphs, old_traj = d.sample([6], steps=3, generator=_gen(7), return_trajectory=True)
    assert len(traj) == 3 and all(set(s) == set(d.generate) for s in traj)
    for a, b in zip(traj, old_traj):
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert torch.equal(traj[-1]["frac_coords"], graphs[0].frac_coords)  # data units, the last state
    assert torch.equal(graphs[0].lattice, old_graphs[0].lattice)
    assert isinstance(d.sample([6], steps=2, generator=_gen(7)), list)
    with pytest.raises(TypeError, match="return_trajectory"):
        d.sample_trajectory([6], steps=2, return_trajectory=True)


def test_progress_wraps_the_loop_of_steps_once():
    d = _load("community-small-dng").diffusion
    calls, ticks = [], []

    def progress(steps):
        calls.append(list(steps))
        for i in steps:
            ticks.append(i)
            yield i

    d.sample([6, 7], steps=4, corrector_steps=2, progress=progress, generator=_gen(8))
    assert calls == [[0, 1, 2, 3]] and ticks == [0, 1, 2, 3]


def test_bad_arguments_are_refused_before_any_draw():
    d = _load("carbon24-dng").diffusion
    with pytest.raises(ValueError, match="steps must be >= 1"):
        d.prepare_sampling([6], steps=0)
    with pytest.raises(ValueError, match="corrector_steps"):
        d.sample([6], steps=2, corrector_steps=-1)
    with pytest.raises(ValueError, match="unknown sampler"):
        d.sample([6], steps=2, sampler="euler")
    from graphdiff.errors import GraphValidationError

    with pytest.raises(GraphValidationError, match="gradient guidance fields"):
        d.sample([6], steps=2, gradient_guidance=GradientGuidance(_crystal_target, fields=frozenset({"atom_types"})))
    run = d.prepare_sampling([6], steps=2)
    with pytest.raises(IndexError, match="step 2 of a run of 2 steps"):
        run.step(run.initial_states(), 2)


def test_classifier_free_guidance_combines_the_two_predictions():
    from graphdiff.guidance import ClassifierFreeGuidance

    d = _load("carbon24-dng-energy").diffusion
    gen = _gen(9)
    cond = {"lattice": torch.randn(2, 6, generator=gen), "atom_types": torch.randn(5, 3, generator=gen)}
    uncond = {"lattice": torch.randn(2, 6, generator=gen), "atom_types": torch.randn(5, 3, generator=gen)}
    out = ClassifierFreeGuidance(0.5).combine(d.processes, cond, uncond)
    assert torch.allclose(out["lattice"], 1.5 * cond["lattice"] - 0.5 * uncond["lattice"])
    logp = torch.log_softmax
    assert torch.allclose(out["atom_types"], 1.5 * logp(cond["atom_types"], -1) - 0.5 * logp(uncond["atom_types"], -1))
    # the guided run calls the denoiser twice per step, the second time with every condition masked
    masks = []
    denoiser = d.denoiser
    hook = denoiser.register_forward_pre_hook(lambda mod, args: masks.append(args[0].cond_mask.clone()))
    try:
        run = d.prepare_sampling([4, 5], steps=1, cond={"energy_per_atom": -154.0}, guidance_scale=1.0,
                                 generator=_gen(9))
        assert run.classifier_free == ClassifierFreeGuidance(1.0)
        run.step(run.initial_states(), 0)
    finally:
        hook.remove()
    assert len(masks) == 2 and bool(masks[0].all()) and not bool(masks[1].any())
    assert d.prepare_sampling([4], steps=1, cond={"energy_per_atom": -154.0}).classifier_free is None


def test_the_corrector_moves_the_torus_fields_and_predicts_again():
    from graphdiff.sampling import LangevinCorrector

    d = _load("carbon24-dng").diffusion
    run = d.prepare_sampling([6], steps=2, corrector_steps=3, generator=_gen(10))
    assert run.corrector is not None and run.corrector.fields == ["frac_coords"] and run.corrector.steps == 3
    states = run.initial_states()
    preds, graphs = run.denoise(states, 1.0)
    calls = []

    def denoise(x, t):
        calls.append(t)
        return run.denoise(x, t)

    moved, _, _ = run.corrector(states, preds, graphs, 1.0, denoise, _gen(1))
    assert calls == [1.0] * 3
    assert not torch.equal(moved["frac_coords"], states["frac_coords"])
    assert all(moved[n] is states[n] for n in ("atom_types", "lattice"))
    # one move is the torus process's own Langevin step
    once = LangevinCorrector(d.processes, ["frac_coords"], 1).move(states, preds, 0.5, _gen(2))
    assert torch.equal(once["frac_coords"], d.processes["frac_coords"].correct(states["frac_coords"],
                                                                              preds["frac_coords"], 0.5, _gen(2)))
    nothing = LangevinCorrector(d.processes, [], 3)
    assert nothing(states, preds, graphs, 1.0, denoise, _gen(1))[0] is states and len(calls) == 3
    assert d.prepare_sampling([6], steps=2).corrector is None
    assert _load("qm9-dng").diffusion.prepare_sampling([5], steps=2, corrector_steps=2).corrector is None  # no torus


def test_the_projection_keeps_every_state_inside_the_constraint():
    import networkx as nx

    from graphdiff.constraints import resolve_constraint
    from graphdiff.nn.base import all_pairs
    from graphdiff.sampling import EdgeProjection

    d = _load("community-small-dng").diffusion
    ptr = torch.tensor([0, 5, 9])
    pair_index, pair_batch = all_pairs(ptr)
    proj = EdgeProjection(resolve_constraint("forest"), "edges", d.processes, pair_index, pair_batch, ptr)
    full = {"edges": torch.ones(pair_batch.numel(), dtype=torch.long)}
    start = proj.start(full, _gen(3))
    assert proj.positions(full) is None and proj.layout(full, {}, 0.5) is None
    for g, (lo, hi) in enumerate([(0, 5), (5, 9)]):
        edges = pair_index[:, (pair_batch == g) & (start > 0)] - lo
        graph = nx.Graph(list(zip(*edges.tolist())))
        graph.add_nodes_from(range(hi - lo))
        assert nx.is_tree(graph)  # every pair offered, a spanning tree kept
    # removed edges stay removed, kept ones are kept
    fewer = start.clone()
    fewer[torch.nonzero(start).view(-1)[0]] = 0
    assert torch.equal(proj.project(start, {"edges": fewer}, _gen(4)), fewer)
    # the model's own constraint is the run's projection; "none" switches it off
    planar = _load("planar-dng").diffusion
    assert planar.prepare_sampling([8], steps=2).projection.constraint.name == "planar"
    assert planar.prepare_sampling([8], steps=2, constraint=None).projection is None


def test_a_geometric_projection_reads_where_the_nodes_are_heading():
    d = _load("roads-dng").diffusion
    run = d.prepare_sampling([8], steps=3, generator=_gen(5))
    proj = run.projection
    assert proj.position_field == "coords"
    states = run.initial_states()
    preds, _ = run.denoise(states, 1.0)
    assert proj.positions(states) is states["coords"]
    layout = proj.layout(states, preds, 1.0)
    assert torch.equal(layout, d.processes["coords"].split(states["coords"], preds["coords"], 1.0)[0])


def test_inpainting_puts_the_held_fields_back_on_their_forward_process():
    from graphdiff.sampling import Inpainting

    m = _load("carbon24-dng")
    d = m.diffusion
    tpl = [m.domain.input_graph("C6", "csp")]
    run = d.prepare_sampling(template=tpl, steps=3, inpaint=["atom_types"], generator=_gen(6))
    paint = run.inpainting
    assert isinstance(paint, Inpainting) and paint.fields == ["atom_types"]
    x0, index = paint.targets["atom_types"]
    assert torch.equal(x0, tpl[0].atom_types)
    states = run.initial_states()
    last = paint.apply(states, 0.0, True)
    assert torch.equal(last["atom_types"], d.processes["atom_types"].encode(x0, index))
    assert last["lattice"] is states["lattice"]
    mid = paint.apply(states, 0.4, False, _gen(7))
    ts = torch.full((x0.shape[0],), 0.4)
    assert torch.equal(mid["atom_types"], d.processes["atom_types"].noise(x0, ts, index, _gen(7))[0])
    final = states
    for i in range(run.steps):
        final = run.step(final, i).states
    assert torch.equal(final["atom_types"], d.processes["atom_types"].encode(x0, index))


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: python {sys.argv[0]} --record")
    record()
