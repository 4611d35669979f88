"""Hypothesis strategies for crystal structures, for this plugin's tests and for others'.

Example
-------
>>> from hypothesis import given, settings
>>> from graphdiff_crystals.testing import structures
>>> @given(structures(max_atoms=8))
... def test_something(structure):
...     assert structure.is_ordered

Every drawn structure is accepted by :meth:`graphdiff_crystals.domain.CrystalDomain.to_graph`
with its default options: ordered sites, elements ``Z = 1..100``, a cell that is not too skewed,
and all interatomic distances (periodic images included) at least ``min_distance``.
The strategies shrink towards small cubic-ish cells with few hydrogen atoms.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from pymatgen.core import Element, Lattice, Structure

from graphdiff_crystals.domain import ELEMENT_SYMBOLS
from graphdiff_crystals.lattice import periodic_close_pairs

__all__ = ["lattices", "rotations", "structures", "chiral_structure", "triple_product", "EDGE_FRACTIONS"]

#: Fractional coordinates at or near the wrap boundary, drawn now and then.
EDGE_FRACTIONS = (0.0, -0.0, 1.0, 1.0 - 1e-12, 1e-12, -1e-12, 0.9999999999, 0.5, -1.0, 2.0)


@st.composite
def rotations(draw: Any, reflections: bool = False) -> np.ndarray:
    """Random orthogonal ``[3, 3]`` matrices: rotations from unit quaternions, times
    ``diag(1, 1, -1)`` half the time when ``reflections`` (``det = -1``)."""
    q = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4)))
    norm = float(np.linalg.norm(q))
    assume(norm > 0.1)
    w, x, y, z = q / norm
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    if reflections and draw(st.booleans()):
        rot = rot @ np.diag([1.0, 1.0, -1.0])
    return rot


@st.composite
def lattices(draw: Any, min_length: float = 2.0, max_length: float = 15.0, min_angle: float = 55.0,
             max_angle: float = 125.0, min_volume_fraction: float = 0.35,
             left_handed: bool = True) -> Lattice:
    """Random valid lattices in random orientations.

    Parameters
    ----------
    min_length, max_length:
        Range of the lengths ``a, b, c`` in Å.
    min_angle, max_angle:
        Range of ``alpha, beta, gamma`` in degrees.
    min_volume_fraction:
        Lower bound of ``V / (a b c)`` (1 for a rectangular box, 0 for a flat cell): keeps the
        cell from being too skewed.
    left_handed:
        Also draw left-handed bases (a lattice vector negated, or an improper rotation).
    """
    lengths = [draw(st.floats(min_length, max_length)) for _ in range(3)]
    angles = [draw(st.floats(min_angle, max_angle)) for _ in range(3)]
    cos = np.cos(np.radians(angles))
    frac2 = 1 - (cos ** 2).sum() + 2 * cos.prod()
    assume(frac2 > min_volume_fraction ** 2)
    matrix = Lattice.from_parameters(*lengths, *angles).matrix @ draw(rotations(reflections=left_handed)).T
    if left_handed:
        flip = draw(st.sampled_from([None, None, 0, 1, 2]))
        if flip is not None:
            matrix[flip] = -matrix[flip]
    return Lattice(matrix)


def _fraction() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(0.0, 1.0, exclude_max=True),
        st.sampled_from(EDGE_FRACTIONS),
        st.floats(-3.0, 3.0),
    )


@st.composite
def structures(draw: Any, min_atoms: int = 1, max_atoms: int = 30,
               elements: Sequence[str | int] | None = None, min_distance: float = 0.7,
               left_handed: bool = True, lattice: st.SearchStrategy[Lattice] | None = None) -> Structure:
    """Random valid ordered pymatgen ``Structure`` objects.

    ``n`` atoms (drawn in ``[min_atoms, max_atoms]``) are placed in turn at random fractional
    coordinates (uniform, at the wrap boundary such as ``0.9999999999``, ``-0.0`` or ``1.0``,
    or outside ``[0, 1)``) from ``n + min(n // 4 + 1, 8)`` candidates; a candidate closer than
    ``min_distance`` to an atom already placed is dropped, so crowded small cells may hold
    fewer than ``n`` atoms; the example is rejected (``assume``) below ``min_atoms``. By
    default the shortest lattice length grows with ``min_atoms`` (about ``10 min_distance³``
    of volume per atom) so that large ``min_atoms`` are not mostly rejected.

    Parameters
    ----------
    min_atoms, max_atoms:
        Range of the number of sites.
    elements:
        Symbols or atomic numbers to draw from (default: all of ``Z = 1..100``).
    min_distance:
        Smallest distance between two atoms, periodic images included (Å); keep it above the
        converter's overlap threshold (0.5 Å).
    left_handed:
        Also draw left-handed lattices (see :func:`lattices`).
    lattice:
        Strategy for the lattice (default :func:`lattices` with ``left_handed`` and lengths
        from ``max(2, (10 min_atoms min_distance³)^(1/3))`` to 15 Å).
    """
    if not 1 <= min_atoms <= max_atoms:
        raise ValueError(f"need 1 <= min_atoms <= max_atoms, got {min_atoms}, {max_atoms}")
    pool = [Element.from_Z(e).symbol if isinstance(e, int) else Element(e).symbol
            for e in (elements if elements is not None else ELEMENT_SYMBOLS)]
    if lattice is None:
        # room for min_atoms: about 10 min_distance³ of volume per atom
        shortest = max(2.0, (10.0 * min_atoms * min_distance ** 3) ** (1 / 3))
        lattice = lattices(min_length=shortest, max_length=max(15.0, 2 * shortest), left_handed=left_handed)
    lat = draw(lattice)
    n = draw(st.integers(min_atoms, max_atoms))
    # a few spare candidates make up for the atoms dropped as too close
    candidates = n + min(n // 4 + 1, 8)
    frac = np.array([[draw(_fraction()) for _ in range(3)] for _ in range(candidates)], dtype=np.float64)
    pairs = periodic_close_pairs(lat.matrix, frac, min_distance)
    assume(all(i != j for i, j, _ in pairs))  # no atom close to its own image
    dropped: set[int] = set()
    for i, j, _ in pairs:  # greedy, in order: keep the earlier atom of each close pair
        if i not in dropped:
            dropped.add(j)
    keep = [k for k in range(candidates) if k not in dropped][:n]
    assume(len(keep) >= min_atoms)
    species = [draw(st.sampled_from(pool)) for _ in keep]
    return Structure(lat, species, frac[keep])


def chiral_structure(left_handed: bool = False) -> Structure:
    """A fixed chiral test crystal: C, N, O and F at the corners of an irregular tetrahedron
    in a 10-12 Å triclinic cell. With ``left_handed`` the same atoms (same Cartesian positions)
    are described in the left-handed basis ``a, b, -c``."""
    lattice = Lattice.from_parameters(10.0, 11.0, 12.0, 80.0, 85.0, 95.0).matrix
    if left_handed:
        lattice = lattice * np.array([[1.0], [1.0], [-1.0]])
    cart = np.array([[5.0, 5.0, 5.0], [6.4, 5.1, 5.2], [5.3, 6.7, 4.9], [5.2, 5.4, 6.9]])
    return Structure(lattice, ["C", "N", "O", "F"], cart @ np.linalg.inv(lattice))


def triple_product(structure: Structure, sites: tuple[int, int, int, int] = (0, 1, 2, 3)) -> float:
    """Signed volume ``v1 . (v2 x v3)`` of the vectors from site ``sites[0]`` to the other three
    (minimum images, exact when they are closer than half the cell). Unchanged by rotations,
    translations and changes of basis; its sign flips under a mirror image, so it tells
    whether a conversion mirrored a chiral structure."""
    i, j, k, m = sites
    df = structure.frac_coords[[j, k, m]] - structure.frac_coords[i]
    df -= np.round(df)
    v = df @ structure.lattice.matrix
    return float(np.dot(v[0], np.cross(v[1], v[2])))
