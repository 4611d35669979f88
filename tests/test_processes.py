import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.graph import FieldSpec
from graphdiff.processes import CategoricalProcess, GaussianProcess, PositionsProcess, TorusProcess
from graphdiff.processes.positions import remove_mean
from graphdiff.processes.torus import wrapped_normal_score
from graphdiff.schedules import CosineSchedule, PolynomialSchedule

CONT = FieldSpec("x", "continuous", "node", dim=3)
POS = FieldSpec("pos", "positions", "node", dim=3)
TOR = FieldSpec("frac", "torus", "node", dim=3)
CAT = FieldSpec("a", "categorical", "node", num_classes=5)


def test_kind_mismatch_is_rejected():
    with pytest.raises(ValueError, match="continuous"):
        GaussianProcess(TOR, CosineSchedule())
    with pytest.raises(TypeError, match="unknown options"):
        GaussianProcess(CONT, CosineSchedule(), bogus=1)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@settings(max_examples=20, deadline=None)
@given(t=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_gaussian_oracle_prediction_recovers_x0(prediction, t, seed):
    proc = GaussianProcess(CONT, CosineSchedule(), prediction=prediction)
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(7, 3, generator=g, dtype=torch.float32) * 2 + 1
    proc.fit(x0)
    index = torch.zeros(7, dtype=torch.long)
    tt = torch.full((7,), t)
    x_t, target = proc.noise(x0, tt, index, g)
    x_hat, _ = proc.split(x_t, target, t)
    assert torch.allclose(x_hat, proc.encode(x0, index), atol=1e-4)
    # deterministic step to t = 0 with the oracle lands on the data
    out = proc.finalize(proc.ddim(x_t, target, t, 0.0))
    assert torch.allclose(out, x0, atol=1e-3)


def test_gaussian_ddim_inversion_and_ancestral_posterior():
    proc = GaussianProcess(CONT, CosineSchedule(), prediction="eps")
    x = torch.randn(5, 3)
    eps = torch.randn(5, 3)
    idx = torch.zeros(5, dtype=torch.long)
    up = proc.ddim(x, eps, 0.3, 0.6)
    back = proc.ddim(up, eps, 0.6, 0.3)  # same eps: exact inverse
    assert torch.allclose(back, x, atol=1e-5)
    # ancestral variance: empirical variance of many draws matches the posterior's
    g = torch.Generator().manual_seed(0)
    xs = torch.stack([proc.step(x, eps, 0.6, 0.3, idx, g) for _ in range(4000)])
    a_t, s_t = (float(v) for v in proc.schedule.alpha_sigma(0.6))
    a_s, s_s = (float(v) for v in proc.schedule.alpha_sigma(0.3))
    var = (s_t**2 - (a_t / a_s) ** 2 * s_s**2) * s_s**2 / s_t**2
    assert abs(float(xs.var(0).mean()) - var) < 0.1 * var


def test_positions_stay_centred_and_scale_is_fitted():
    proc = PositionsProcess(POS, PolynomialSchedule())
    index = torch.tensor([0, 0, 0, 1, 1])
    x0 = torch.randn(5, 3) * 3 + 10
    proc.fit(x0, index)
    assert float(proc.scale) > 1.0
    x_t, eps = proc.noise(x0, torch.full((5,), 0.5), index)
    for g in (0, 1):
        assert torch.allclose(x_t[index == g].mean(0), torch.zeros(3), atol=1e-5)
        assert torch.allclose(eps[index == g].mean(0), torch.zeros(3), atol=1e-5)
    prior = proc.prior(5, index, 2)
    assert torch.allclose(remove_mean(prior, index), prior, atol=1e-6)
    step = proc.step(prior, torch.randn(5, 3), 0.9, 0.8, index)
    assert torch.allclose(remove_mean(step, index), step, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(d=st.floats(-0.5, 0.5), sigma=st.floats(0.01, 0.6))
def test_wrapped_normal_score_is_the_log_density_gradient(d, sigma):
    def logp(x):
        k = torch.arange(-8, 9, dtype=torch.float64)
        return torch.logsumexp(-((x + k) ** 2) / (2 * sigma**2), 0)

    h = 1e-5
    fd = (logp(torch.tensor(d + h, dtype=torch.float64)) - logp(torch.tensor(d - h, dtype=torch.float64))) / (2 * h)
    got = wrapped_normal_score(torch.tensor([[d]], dtype=torch.float64), torch.tensor([[sigma]], dtype=torch.float64))
    assert math.isclose(float(got), float(fd), rel_tol=1e-4, abs_tol=1e-4)
    # periodic
    got1 = wrapped_normal_score(torch.tensor([[d + 1]], dtype=torch.float64),
                                torch.tensor([[sigma]], dtype=torch.float64))
    assert math.isclose(float(got), float(got1), rel_tol=1e-5, abs_tol=1e-5)


@pytest.mark.parametrize("t", [0.0, 0.4, 1.0])
def test_torus_target_has_unit_scale_and_states_wrap(t):
    proc = TorusProcess(TOR)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(20000, 3, generator=g)
    x_t, target = proc.noise(x0, torch.full((20000,), t), torch.zeros(20000, dtype=torch.long), g)
    assert float(x_t.min()) >= 0 and float(x_t.max()) < 1
    assert abs(float(target.pow(2).mean()) - 1.0) < 0.05


def test_torus_oracle_predictor_moves_toward_data():
    proc = TorusProcess(TOR)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(500, 3, generator=g)
    t = 0.3
    x_t, target = proc.noise(x0, torch.full((500,), t), torch.zeros(500, dtype=torch.long), g)
    x_s = proc.step(x_t, target, t, 0.0, torch.zeros(500, dtype=torch.long), g)

    def dist(a, b):
        d = (a - b + 0.5) % 1.0 - 0.5
        return float(d.abs().mean())

    assert dist(x_s, x0) < 0.5 * dist(x_t, x0)


@pytest.mark.parametrize("deterministic", [False, True])
def test_torus_last_step_returns_the_denoised_estimate(deterministic):
    """At the last step (to t = 0) the torus state is the Tweedie estimate x_t + σ_t² score, not
    a state still carrying noise σ_min: with the oracle score of a small noise, the data itself."""
    proc = TorusProcess(TOR)
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(400, 3, generator=g)
    t = 0.002  # the last of 500 steps: σ_t just above σ_min
    sigma = proc.sigma_float(t)
    x_t = (x0 + sigma * torch.randn(400, 3, generator=g)) % 1.0
    d = (x_t - x0 + 0.5) % 1.0 - 0.5
    pred = (-d / sigma**2) / proc.score(torch.ones(1), t)  # the normalised oracle score
    out = proc.step(x_t, pred, t, 0.0, torch.zeros(400, dtype=torch.long), g, deterministic)
    err = (out - x0 + 0.5) % 1.0 - 0.5
    assert float(err.abs().max()) < 1e-5
    assert float(d.abs().mean()) > 1e-3  # the noise it removed


def test_categorical_forward_marginals_and_prior():
    proc = CategoricalProcess(CAT, CosineSchedule(), prior="marginal")
    data = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    proc.fit(data)
    assert torch.allclose(proc.m[:3], torch.tensor([0.6, 0.3, 0.1]), atol=1e-3)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((40000,), 3)
    t = 0.5
    x_t, target = proc.noise(x0, torch.full((40000,), t), torch.zeros(40000, dtype=torch.long), g)
    ab = float(proc.schedule.alpha_bar(t))
    expected = (1 - ab) * proc.m
    expected[3] += ab
    freq = torch.bincount(x_t, minlength=5).float() / 40000
    assert torch.allclose(freq, expected, atol=0.01)
    assert torch.equal(target, x0)
    prior = proc.prior(40000, torch.zeros(40000, dtype=torch.long), 1, g)
    assert torch.allclose(torch.bincount(prior, minlength=5).float() / 40000, proc.m, atol=0.01)


def _assert_posterior_is_bayes(proc, t=0.7, s=0.4):
    """``posterior`` with an oracle prediction equals Bayes' rule on the transition matrices,
    for every clean class and every state that it can reach."""
    C = proc.field.num_classes
    ab_t, ab_s = float(proc.schedule.alpha_bar(t)), float(proc.schedule.alpha_bar(s))
    m = proc.m.double()
    Q = lambda a: a * torch.eye(C, dtype=torch.float64) + (1 - a) * m.expand(C, C)  # noqa: E731
    Qts, Qs, Qt = Q(ab_t / ab_s), Q(ab_s), Q(ab_t)
    for x0 in range(C):
        for xt in range(C):
            if Qt[x0, xt] == 0:  # x_t cannot come from x0 (absorbing: a class other than 0 and x0)
                continue
            logits = torch.full((1, C), -30.0)
            logits[0, x0] = 30.0
            got = proc.posterior(torch.tensor([xt]), logits, t, s)[0].double()
            want = Qts[:, xt] * Qs[x0, :] / Qt[x0, xt]
            assert torch.allclose(got, want / want.sum(), atol=1e-5)


def test_categorical_posterior_matches_bayes_with_oracle():
    _assert_posterior_is_bayes(CategoricalProcess(CAT, CosineSchedule(), prior="uniform"))


def test_categorical_last_step_is_argmax_and_guidance_uses_log_probs():
    proc = CategoricalProcess(CAT, CosineSchedule())
    logits = torch.randn(10, 5)
    out = proc.step(torch.zeros(10, dtype=torch.long), logits, 0.01, 0.0, torch.zeros(10, dtype=torch.long))
    assert torch.equal(out, logits.argmax(-1))
    guided = proc.guide(logits, torch.zeros(10, 5), 2.0)
    assert torch.allclose(guided, 3 * torch.log_softmax(logits, -1) - 2 * torch.log_softmax(torch.zeros(10, 5), -1))


# ---------------------------------------------------------------- skip (linear-estimate) preconditioning
@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_skip_adds_the_linear_estimate(prediction):
    proc = GaussianProcess(CONT, CosineSchedule(), prediction=prediction, skip=True)
    x = torch.randn(7, 3)
    raw = torch.randn(7, 3)
    a, s = proc.schedule.alpha_sigma_float(0.6)
    expect = raw + {"eps": s * x, "x0": a * x, "v": 0 * x}[prediction]
    assert torch.allclose(proc.precondition(raw, x, 0.6), expect, atol=1e-6)
    # per-element times (training) give the same as the scalar time (sampling)
    t = torch.full((7,), 0.6)
    assert torch.allclose(proc.precondition(raw, x, t), expect, atol=1e-5)
    assert proc.config().get("skip") is True
    # off by default: the raw output is the prediction
    plain = GaussianProcess(CONT, CosineSchedule(), prediction=prediction)
    assert torch.equal(plain.precondition(raw, x, 0.6), raw) and "skip" not in plain.config()


def test_skip_keeps_an_untrained_sampler_at_the_data_scale():
    """A network that outputs nothing: without the skip term every ancestral step near t = 1
    divides by alpha_{t|s} < 1 and the state blows up; with it the state stays near unit scale."""
    index = torch.arange(4).repeat_interleave(16)
    spreads = {}
    for skip in (False, True):
        proc = PositionsProcess(POS, CosineSchedule(), skip=skip)
        g = torch.Generator().manual_seed(0)
        x = proc.prior(index.numel(), index, 4, g)
        times = torch.linspace(1, 0, 201).tolist()
        for t, s in zip(times[:-1], times[1:]):
            pred = proc.precondition(torch.zeros_like(x), x, t)
            x = proc.step(x, pred, t, s, index, g)
        spreads[skip] = float(x.pow(2).mean().sqrt())
    assert spreads[True] < 3.0 < 100 * 3.0 < spreads[False]


def test_skip_travels_with_the_config():
    from graphdiff.config import FieldProcessConfig
    from graphdiff.processes import build_process

    proc = build_process(POS, FieldProcessConfig(skip=True))
    assert isinstance(proc, PositionsProcess) and proc.skip
    assert not build_process(POS, FieldProcessConfig()).skip


# ---------------------------------------------------------------- absorbing categorical noise
def test_absorbing_noise_only_moves_to_class_zero_and_the_prior_is_class_zero():
    proc = CategoricalProcess(CAT, CosineSchedule(), prior="absorbing")
    proc.fit(torch.tensor([1, 2, 3, 4] * 10))  # data statistics do not move an absorbing prior
    assert torch.equal(proc.m, torch.tensor([1.0, 0, 0, 0, 0]))
    g = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 5, (20000,), generator=g)
    t = 0.6
    x_t, _ = proc.noise(x0, torch.full((20000,), t), torch.zeros(20000, dtype=torch.long), g)
    assert bool(((x_t == x0) | (x_t == 0)).all())  # noise only takes elements to class 0
    kept = (x_t[x0 > 0] == x0[x0 > 0]).float().mean()
    assert abs(float(kept) - float(proc.schedule.alpha_bar(t))) < 0.02
    prior = proc.prior(1000, torch.zeros(1000, dtype=torch.long), 1, g)
    assert bool((prior == 0).all())


def test_absorbing_posterior_matches_bayes_and_never_leaves_a_nonzero_class():
    proc = CategoricalProcess(CAT, CosineSchedule(), prior="absorbing")
    C = 5
    _assert_posterior_is_bayes(proc)
    # whatever the prediction, an element out of class 0 stays, at every step and at the last one
    g = torch.Generator().manual_seed(1)
    x = torch.tensor([0, 1, 2, 3, 4] * 20)
    logits = torch.randn(100, C, generator=g)
    for s_ in (0.4, 0.0):
        out = proc.step(x, logits, 0.7, s_, torch.zeros(100, dtype=torch.long), g)
        assert torch.equal(out[x > 0], x[x > 0])
    last = proc.step(x, logits, 0.01, 0.0, torch.zeros(100, dtype=torch.long))
    assert torch.equal(last[x == 0], logits.argmax(-1)[x == 0])


def test_unknown_prior_is_refused():
    with pytest.raises(ValueError, match="uniform, marginal or absorbing"):
        CategoricalProcess(CAT, CosineSchedule(), prior="masked")
