import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.schedules import BUILTIN_SCHEDULES, CosineSchedule, LinearSchedule, PolynomialSchedule

NAMES = sorted(BUILTIN_SCHEDULES)


@pytest.mark.parametrize("name", NAMES)
def test_alpha_bar_monotone_in_unit_interval_with_right_ends(name):
    sched = BUILTIN_SCHEDULES[name]()
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    ab = sched.alpha_bar(t)
    assert bool(((ab > 0) & (ab <= 1)).all())
    assert bool((ab[1:] <= ab[:-1] + 1e-12).all()), "alpha_bar must not increase"
    assert float(ab[0]) > 0.99
    assert float(ab[-1]) < 0.01


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(a=st.floats(0, 1), b=st.floats(0, 1))
def test_alpha_bar_order_property(name, a, b):
    sched = BUILTIN_SCHEDULES[name]()
    lo, hi = min(a, b), max(a, b)
    assert float(sched.alpha_bar(lo)) >= float(sched.alpha_bar(hi)) - 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_discrete_view_matches_continuous(name):
    sched = BUILTIN_SCHEDULES[name]()
    d = sched.discrete(50)
    assert d["alpha_bar"].shape == (51,) and d["betas"].shape == (50,)
    assert torch.allclose(d["alpha_bar"], sched.alpha_bar(torch.linspace(0, 1, 51, dtype=torch.float64)))
    assert bool(((d["betas"] >= 0) & (d["betas"] < 1)).all())
    # the betas rebuild the cumulative product
    rebuilt = d["alpha_bar"][0] * torch.cumprod(1 - d["betas"], 0)
    assert torch.allclose(rebuilt, d["alpha_bar"][1:].clamp_min(0), atol=1e-3)


def test_polynomial_matches_edm_formula():
    s = 1e-5
    sched = PolynomialSchedule(power=2, s=s)
    for t in (0.0, 0.3, 0.7, 1.0):
        alpha = (1 - 2 * s) * (1 - t**2) + s
        assert math.isclose(float(sched.alpha_bar(t)), max(alpha**2, sched.eps), rel_tol=1e-9)


def test_cosine_and_linear_known_values():
    assert math.isclose(float(CosineSchedule().alpha_bar(0.0)), 1.0, rel_tol=1e-12)
    lin = LinearSchedule(beta_start=1e-4, beta_end=0.02, steps=1000)
    # continuous form of prod(1 - beta_i) ~ exp(-sum beta_i)
    assert math.isclose(float(lin.alpha_bar(0.5)), math.exp(-1000 * (1e-4 * 0.5 + 0.5 * (0.02 - 1e-4) * 0.25)))


def test_bad_options_and_times_raise():
    with pytest.raises(ValueError, match="beta_start"):
        LinearSchedule(beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CosineSchedule().alpha_bar(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="steps"):
        CosineSchedule().discrete(0)


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    """The pictures (`graphdiff schedule plot`, a trainer's loss.png) are drawn without pyplot, so
    calling them from a notebook does not switch its inline backend to Agg."""
    import matplotlib

    import numpy as np

    from graphdiff.training import plot_losses
    from graphdiff.viz import AtomsPanel, plot_atoms, plot_noised_graph, plot_schedules

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        log = tmp_path / "log.jsonl"
        log.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5, "val_loss": 0.6}\n')
        outs = [*plot_schedules(tmp_path / "s.png", ["cosine", "linear"]),
                plot_noised_graph(tmp_path / "n.png", times=(0.0, 1.0)), plot_losses(log, tmp_path / "loss.png"),
                plot_atoms([[AtomsPanel(np.eye(3), ["r", "g", "b"], [30, 30, 30], cell=4 * np.eye(3), title="cell")],
                            [AtomsPanel(np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0]], ["k", "k"], [20, 20],
                                        bonds=[(0, 1, 1.0)], equal=True)]], tmp_path / "atoms.png")]
        assert matplotlib.get_backend() == "svg"
        assert all(p.read_bytes().startswith(b"\x89PNG") for p in outs)
    finally:
        matplotlib.use(before)
