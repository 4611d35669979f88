"""graphdiff sample --judge: generated crystals scored by an independent predictor or target."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from graphdiff.cli import cli


@pytest.fixture(scope="module")
def rows(tmp_path_factory, sample_head):
    return sample_head(tmp_path_factory.mktemp("judge"), 4)


def test_judges_score_every_item_and_the_matching_request(rows, tmp_path):
    out = tmp_path / "g.csv"
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                 "--out", str(out), "--steps", "10", "-q", "--target", "crystals-density=6",
                                 "--judge", "crystals-density", "--judge", "perov5-heat_ref"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    with out.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 3
    for row in got:
        assert float(row["judged_crystals-density"]) == pytest.approx(float(row["crystals-density"]), rel=1e-6)
        assert row["judged_perov5-heat_ref"] not in ("", "nan")
    assert "judge crystals-density: mean" in r.output and "request =6.0: mean |value - 6.0|" in r.output
    assert "judge perov5-heat_ref: mean" in r.output  # nothing asked about heat_ref: no distance
    assert "judge perov5-heat_ref: mean" in r.output and "request" not in r.output.split("judge perov5-heat_ref")[1]


def test_judges_on_ranked_candidates_and_bad_names(rows, tmp_path):
    out = tmp_path / "k.csv"
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                 "--out", str(out), "--steps", "5", "-k", "2", "-q",
                                 "--judge", "crystals-volume_per_atom"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    with out.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 6 and all(float(x["judged_crystals-volume_per_atom"]) > 0 for x in got)
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                 "--out", str(out), "--judge", "nope"])
    assert r.exit_code == 2
    assert "judge 'nope': no such predictor file, bundled predictor or registered target" in r.output
    assert "crystals-density" in r.output


def test_sample_device_option(rows, tmp_path):
    import torch

    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                 "--out", str(tmp_path / "d.csv"), "--steps", "3", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    if not torch.cuda.is_available():
        r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                     "--out", str(tmp_path / "d.csv"), "--device", "cuda:0"])
        assert r.exit_code == 2 and "CUDA is not available" in r.output
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input", str(rows),
                                 "--out", str(tmp_path / "d.csv"), "--device", "gpu9"])
    assert r.exit_code == 2 and "device 'gpu9'" in r.output
