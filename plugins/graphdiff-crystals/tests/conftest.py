"""Shared fixtures of the crystals plugin tests."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from graphdiff_crystals.domain import CrystalDomain


@pytest.fixture(scope="session")
def domain() -> CrystalDomain:
    return CrystalDomain()


@pytest.fixture
def rocksalt() -> Structure:
    """Conventional NaCl cell, a = 5.64 Å, 8 atoms."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture
def triclinic() -> Structure:
    """A small triclinic cell with three elements and coordinates at the wrap boundary."""
    lattice = Lattice.from_parameters(4.1, 5.3, 6.2, 78.0, 95.0, 104.0)
    return Structure(lattice, ["Si", "O", "O", "Li"],
                     [[0.0, 0.0, 0.0], [0.9999999999, 0.25, -0.0], [0.5, 1.0, 0.75], [-0.3, 1.7, 0.2]])


@pytest.fixture(scope="session")
def sample_head():
    """``sample_head(folder, lines, dataset="perov_5") -> Path``: the first ``lines`` lines
    (header included) of a bundled sample CSV, written to ``folder/<dataset>-<lines>.csv``."""
    import csv
    import sys

    from graphdiff_crystals import sample_path

    def write(folder, lines: int, dataset: str = "perov_5"):
        csv.field_size_limit(sys.maxsize)
        with open(sample_path(dataset), newline="") as fh:
            rows = list(csv.reader(fh))[:lines]
        out = folder / f"{dataset}-{lines}.csv"
        with out.open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        return out

    return write
