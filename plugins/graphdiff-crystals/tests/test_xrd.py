"""Powder diffraction patterns: reading, simulation, similarity, encoding, and --xrd sampling."""

from __future__ import annotations

import csv
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.cli import cli
from graphdiff.errors import DataError
from graphdiff_crystals import sample_path
from graphdiff_crystals.io import read_records
from graphdiff_crystals.xrd import (CU_KA, ENCODING_COLUMNS, Pattern, XRDReference, encode, read_pattern,
                                    similarity, simulate)


@pytest.fixture(scope="module")
def perovskites():
    """Sample structures with two single-site species (A, B) and their A/B-swapped twins."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = list(read_records(sample_path()))
    out = []
    for rec in recs:
        s = rec["obj"]
        singles = [e for e, n in Counter(str(x.specie) for x in s).items() if n == 1]
        if len(singles) == 2:
            swapped = s.copy()
            swapped.replace_species({singles[0]: singles[1], singles[1]: singles[0]})
            out.append((rec, s, swapped))
        if len(out) == 12:
            break
    return out


def measured(pattern: Pattern, rng, shift=0.3, width=0.08, noise=0.02, weak=0.05) -> Pattern:
    tt = np.arange(10.0, 90.0, 0.02)
    y = np.zeros_like(tt)
    top = pattern.intensity.max()
    for t, i in zip(pattern.two_theta, pattern.intensity):
        if i >= weak * top:
            y += i * np.exp(-0.5 * ((tt - t - shift) / width) ** 2)
    y += rng.normal(0, noise * top, y.shape)
    return Pattern(tt, np.clip(y, 0, None), pattern.wavelength)


def test_similarity_is_one_for_the_same_pattern_and_symmetric(perovskites):
    _, s, swapped = perovskites[0]
    p, q = simulate(s), simulate(swapped)
    assert similarity(p, p) == pytest.approx(1.0, abs=1e-9)
    assert similarity(p, q) == pytest.approx(similarity(q, p), abs=1e-9)
    assert 0.0 <= similarity(p, q) <= 1.0


def test_the_true_site_order_outscores_its_swap_with_clean_and_noisy_patterns(perovskites):
    """The point of the pattern: a composition leaves the A/B order open, the pattern does not.
    Noise, a zero shift of 0.3° and missing weak peaks must not change the choice for most."""
    rng = np.random.default_rng(0)
    clean = noisy = 0
    for _, s, swapped in perovskites:
        p = simulate(s)
        clean += XRDReference(p).similarity(s) > XRDReference(p).similarity(swapped)
        ref = XRDReference(measured(p, rng))
        noisy += ref.similarity(s) > ref.similarity(swapped)
    assert clean == len(perovskites)
    assert noisy >= 0.75 * len(perovskites)


def test_a_strained_cell_still_matches_its_pattern(perovskites):
    _, s, _ = perovskites[1]
    ref = XRDReference(simulate(s))
    strained = s.copy()
    strained.scale_lattice(s.volume * 1.02 ** 3)  # 2 % longer edges: peaks move by up to ~1.5°
    assert similarity(simulate(strained), ref.pattern) < 0.9
    assert ref.similarity(strained) > 0.97


def test_wavelength_conversion_keeps_d_spacings(perovskites):
    _, s, _ = perovskites[0]
    p = simulate(s)
    mo = simulate(s, 0.71073, (5, 60))
    back = mo.at_wavelength(CU_KA)
    inside = (back.two_theta > 10) & (back.two_theta < 90)
    assert np.allclose(np.sort(back.two_theta[inside])[:5], p.two_theta[:5], atol=0.05)
    assert similarity(back, p) > 0.99


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.5), st.floats(0.5, 2.0))
def test_similarity_ignores_a_zero_shift_and_intensity_scale(shift, scale):
    p = Pattern(np.array([21.0, 32.5, 40.1, 46.7, 58.0]), np.array([30.0, 100.0, 20.0, 45.0, 12.0]))
    q = Pattern(p.two_theta + shift, p.intensity * scale)
    assert similarity(p, q) > 0.999


def test_encoding_columns_and_range(perovskites):
    _, s, swapped = perovskites[0]
    e = encode(simulate(s))
    assert list(e) == ENCODING_COLUMNS
    assert max(e.values()) == pytest.approx(1.0) and min(e.values()) >= 0.0
    assert e != encode(simulate(swapped))


# ---------------------------------------------------------------------------- pattern files
def write(tmp_path: Path, text: str, name: str = "p.xy") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_at_the_same_angle_are_summed(tmp_path):
    p = read_pattern(write(tmp_path, "10 1\n10 2\n11 4\n"))
    assert p.two_theta.tolist() == [10, 11] and p.intensity.tolist() == [3, 4]


def test_reads_a_two_column_file_with_header_comments_and_separators(tmp_path):
    path = write(tmp_path, "# Cu Ka\n2theta,intensity\n10.0, 1\n10.5;3\n11.0\t2.5 0.1\n\n! end\n")
    p = read_pattern(path)
    assert p.two_theta.tolist() == [10.0, 10.5, 11.0] and p.intensity.tolist() == [1, 3, 2.5]


@pytest.mark.parametrize("text, match", [
    ("10 1\n11 abc\n", r"line 2: expected two numbers"),
    ("10 1\n9 2\n", r"line 2: 2θ must increase, 9 follows 10"),
    ("10 1\n11\n", r"line 2: expected two columns"),
    ("10 1\n200 2\n", r"line 2: 2θ = 200° is outside"),
    ("10 1\n11 nan\n", r"line 2: non-finite"),
    ("10 1\n", r"at least 2 points"),
    ("10 0\n11 -1\n", r"no positive intensity"),
    ("head\nagain\n10 1\n", r"line 2: expected two numbers"),
])
def test_bad_pattern_files_name_the_line(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        read_pattern(write(tmp_path, text))


def test_bad_wavelength_and_missing_file(tmp_path):
    path = write(tmp_path, "10 1\n11 2\n")
    with pytest.raises(DataError, match=r"wavelength 7 Å is out of range"):
        read_pattern(path, wavelength=7)
    with pytest.raises(DataError, match="no such pattern file"):
        read_pattern(tmp_path / "missing.xy")


def test_a_cif_is_simulated(tmp_path, perovskites):
    rec, s, _ = perovskites[0]
    cif = tmp_path / "x.cif"
    s.to(filename=str(cif))
    p = read_pattern(cif)
    assert "simulated from" in p.source
    assert similarity(p, simulate(s)) == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def rows_with_patterns(tmp_path_factory, perovskites):
    """A CSV of 3 perovskites, each naming its simulated pattern file in an ``xrd`` column."""
    folder = tmp_path_factory.mktemp("xrd")
    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames)
        by_id = {r["material_id"]: r for r in reader}
    rows = []
    for rec, s, _ in perovskites[:3]:
        p = simulate(s)
        (folder / "pat").mkdir(exist_ok=True)
        np.savetxt(folder / "pat" / f"{rec['id']}.xy", np.c_[p.two_theta, p.intensity])
        rows.append({**by_id[rec["id"]], "xrd": f"pat/{rec['id']}.xy"})
    with (folder / "in.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header + ["xrd"])
        w.writeheader()
        w.writerows(rows)
    return folder


def test_sample_ranks_candidates_by_the_pattern(rows_with_patterns):
    out = rows_with_patterns / "gen.csv"
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input",
                                 str(rows_with_patterns / "in.csv"), "--out", str(out), "--steps", "20",
                                 "-k", "2", "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    with out.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 6 and "xrd_similarity" in got[0]
    for a, b in zip(got[::2], got[1::2]):
        assert a["material_id"] == b["material_id"]
        if b["distinct"] == "1":  # distinct candidates come best pattern first
            assert float(a["xrd_similarity"]) >= float(b["xrd_similarity"])


def test_xrd_option_errors(rows_with_patterns, tmp_path):
    bad = write(tmp_path, "10 1\n9 2\n")
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input",
                                 str(rows_with_patterns / "in.csv"), "--out", str(tmp_path / "g.csv"),
                                 "--steps", "5", "--xrd", str(bad), "-q"])
    # the rows' own column wins over --xrd; a bad --xrd file is still reported
    assert r.exit_code == 2 and "line 2: 2θ must increase" in r.output
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--num", "2", "--out",
                                 str(tmp_path / "g.csv"), "--xrd", str(bad)])
    assert r.exit_code == 2 and "pass --input" in r.output
    good = write(tmp_path, "10 1\n11 2\n", "good.xy")
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--task", "csp", "--input",
                                 str(rows_with_patterns / "in.csv"), "--out", str(tmp_path / "g.csv"),
                                 "--xrd", str(good), "--xrd-wavelength", "9", "-q"])
    assert r.exit_code == 2 and "out of range" in r.output


def test_targets_lists_the_xrd_reference():
    import json

    r = CliRunner().invoke(cli, ["targets", "--json", "--domain", "crystals"], catch_exceptions=False)
    refs = {x["name"]: x for x in json.loads(r.output)["references"]}
    assert refs["xrd"]["option"] == "--xrd" and refs["xrd"]["condition_columns"] == 40
