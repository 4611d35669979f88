"""The bundled ``qm9-gap`` predictor (``graphdiff_molecules/predictors/qm9-gap.pt``): QM9's HOMO-LUMO
gap in eV, registered by the plugin as the target ``qm9-gap``.

Skipped while the file is not bundled (it is trained by ``benchmarks/targets/configs/qm9-gap.toml`` and
copied in by ``benchmarks/targets/predictor_curve.py eval ... --bundle``).
"""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest
from click.testing import CliRunner

FOLDER = resources.files("graphdiff_molecules") / "predictors"
BUNDLED = FOLDER / "qm9-gap.pt"
HARTREE_EV = 27.211386245988

pytestmark = pytest.mark.skipif(
    not BUNDLED.is_file(),
    reason="graphdiff_molecules/predictors/qm9-gap.pt is not bundled yet (train it with "
           "benchmarks/targets/configs/qm9-gap.toml, bundle it with "
           "benchmarks/targets/predictor_curve.py eval --bundle)")


def test_qm9_gap_is_listed_by_graphdiff_targets():
    from graphdiff.cli import cli

    res = CliRunner().invoke(cli, ["targets", "--json", "--domain", "molecules"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["targets"]}
    assert "qm9-gap" in rows, sorted(rows)
    assert rows["qm9-gap"]["domain"] == "molecules"
    manifest = json.loads((FOLDER / "qm9-gap.json").read_text())
    assert manifest["target"] == "qm9-gap" and manifest["units"] == "eV" and manifest["made_by"]


def test_qm9_gap_scores_held_out_molecules_in_ev():
    """On EDM test molecules (never trained on): finite values in QM9's gap range (about 1 to
    17 eV), far closer to the truth than the best constant for these very molecules."""
    from graphdiff.plugins import get_manager
    from graphdiff_molecules.qm9 import read_qm9

    target = get_manager().get("targets", "qm9-gap")
    assert target.domain == "molecules" and target.graph_fn is not None
    records = list(read_qm9("test", max_items=40))
    pred = [target(r["obj"]) for r in records]
    assert all(math.isfinite(p) and 0.5 < p < 20.0 for p in pred), pred
    truth = [r["props"]["gap"] * HARTREE_EV for r in records]
    mae = sum(abs(p - t) for p, t in zip(pred, truth)) / len(truth)
    mean = sum(truth) / len(truth)
    baseline = sum(abs(t - mean) for t in truth) / len(truth)
    assert mae < 0.6 * baseline, (mae, baseline)
