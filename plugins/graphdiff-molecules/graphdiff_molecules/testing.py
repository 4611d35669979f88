"""Hypothesis strategies of valid ``molecules`` domain inputs."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from ase import Atoms
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graphdiff_molecules.domain import QM9_ELEMENTS

__all__ = ["molecules"]


@st.composite
def molecules(draw: Any, min_atoms: int = 1, max_atoms: int = 29,
              elements: Sequence[str] = QM9_ELEMENTS, *, kind: str = "ase",
              spacing: float = 1.2, jitter: float = 0.3, max_offset: float = 8.0) -> Any:
    """A molecule the ``molecules`` domain (default settings) accepts.

    Atoms sit in distinct cells of a cubic grid of ``spacing`` Å, each moved by up to
    ``jitter`` Å per axis, and the whole molecule by up to ``max_offset`` Å: any two atoms are at
    least ``spacing - 2 * jitter`` (0.6 Å) apart, above the domain's ``min_distance``.

    Parameters
    ----------
    min_atoms, max_atoms:
        Size range.
    elements:
        Element symbols to draw from.
    kind:
        ``"ase"`` (``ase.Atoms``), ``"pymatgen"`` (``Molecule``) or ``"any"`` (either).
    """
    if kind not in ("ase", "pymatgen", "any"):
        raise ValueError(f"kind must be 'ase', 'pymatgen' or 'any', got {kind!r}")
    if spacing - 2 * jitter <= 0:
        raise ValueError("spacing must exceed 2 * jitter, or atoms may overlap")
    n = draw(st.integers(min_atoms, max_atoms))
    side = math.ceil(n ** (1 / 3)) + 1
    cells = draw(st.lists(st.integers(0, side**3 - 1), min_size=n, max_size=n, unique=True))
    grid = np.array([[c // side**2, (c // side) % side, c % side] for c in cells], dtype=np.float64)
    shake = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-jitter, jitter)))
    offset = draw(hnp.arrays(np.float64, (3,), elements=st.floats(-max_offset, max_offset)))
    positions = (grid.reshape(n, 3) * spacing + shake + offset).reshape(n, 3)
    symbols = draw(st.lists(st.sampled_from(tuple(elements)), min_size=n, max_size=n))
    if kind == "any":
        kind = draw(st.sampled_from(("ase", "pymatgen")))
    if kind == "pymatgen":
        from pymatgen.core import Molecule

        return Molecule(symbols, positions)
    return Atoms(symbols=symbols, positions=positions)
