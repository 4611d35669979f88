"""benchmarks/targets/predictor_eval.py: the metal / non-metal view of a zero-inflated property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets" / "predictor_eval.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "predictor_eval_bench")


def test_perfect_ranking_gives_auc_one_and_mae_on_positives_only(bench):
    y = np.array([0.0, 0.0, 0.0, 1.0, 2.0])
    score = np.array([0.1, 0.2, 0.0, 1.5, 2.0])
    out = bench.positive_class(y, score, 0.0, resamples=50)
    assert out["roc_auc"] == pytest.approx(1.0)
    assert out["n_positive"] == 2 and out["n_negative"] == 3
    # the errors on the metals (0.1, 0.2, 0.0) do not count: only |1 - 1.5| and |2 - 2|
    assert out["mae_positive"] == pytest.approx(0.25)
    lo, hi = out["roc_auc_95"]
    assert lo <= 1.0 and hi == pytest.approx(1.0)


def test_reversed_scores_give_auc_zero_and_random_scores_about_half(bench):
    y = np.array([0.0, 0.0, 1.0, 1.0])
    assert bench.positive_class(y, -y, 0.0, resamples=10)["roc_auc"] == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    y = (rng.random(4000) < 0.3).astype(float)
    auc = bench.positive_class(y, rng.random(4000), 0.0, resamples=10)["roc_auc"]
    assert abs(auc - 0.5) < 0.05


def test_one_class_has_no_roc_but_keeps_the_counts(bench):
    out = bench.positive_class(np.zeros(5), np.ones(5), 0.0)
    assert out["roc_auc"] is None and out["roc_auc_95"] is None
    assert out["n_positive"] == 0 and out["mae_positive"] is None
