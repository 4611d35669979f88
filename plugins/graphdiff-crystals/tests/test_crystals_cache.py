"""Cached graph datasets: hit on an unchanged source, miss when the source or converter changes."""

from __future__ import annotations

import csv
import sys

import pytest

from graphdiff.data import cache_dir, read_graphs
from graphdiff_crystals import sample_path


@pytest.fixture
def small(tmp_path):
    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        rows = list(csv.reader(fh))
    rows[3][2] = "data_broken\n_cell_length_a 1\n"  # a malformed CIF: reported, not dropped silently
    path = tmp_path / "small.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows[:21])
    return path


def test_cache_hit_miss_and_skip_report(domain, small, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHDIFF_CACHE_DIR", str(tmp_path / "cache"))
    first: list = []
    graphs = read_graphs(domain, small, skipped=first, cache=True)
    assert len(graphs) == 19 and len(first) == 1 and "row 3" in first[0]["where"]
    assert len(list(cache_dir().glob("crystals-*.pt"))) == 1

    # a hit: nothing is read again, the same graphs and the same skip report come back
    def no_read(*a, **k):
        raise AssertionError("the source was read again")

    monkeypatch.setattr(type(domain), "read", no_read)
    second: list = []
    again = read_graphs(domain, small, skipped=second, cache=True)
    assert second == first and len(again) == 19
    assert all((a.frac_coords == b.frac_coords).all() for a, b in zip(graphs, again))
    monkeypatch.undo()
    monkeypatch.setenv("GRAPHDIFF_CACHE_DIR", str(tmp_path / "cache"))

    # a changed converter version misses
    monkeypatch.setattr(type(domain), "version", "changed")
    read_graphs(domain, small, skipped=[], cache=True)
    assert len(list(cache_dir().glob("crystals-*.pt"))) == 2
    monkeypatch.setattr(type(domain), "version", "1")

    # a changed source misses
    text = small.read_text().splitlines(keepends=True)
    small.write_text("".join(text[:-10]))
    fewer = read_graphs(domain, small, skipped=[], cache=True)
    assert len(fewer) < 19 and len(list(cache_dir().glob("crystals-*.pt"))) == 3


def test_a_corrupt_cache_file_is_rebuilt(domain, small, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHDIFF_CACHE_DIR", str(tmp_path / "cache"))
    read_graphs(domain, small, skipped=[], cache=True)
    (path,) = cache_dir().glob("crystals-*.pt")
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="unreadable graph cache"):
        graphs = read_graphs(domain, small, skipped=[], cache=True)
    assert len(graphs) == 19
