"""Molecules in periodic boxes: molecule -> pymatgen ``Structure`` (for POSCAR / CIF) and back."""

from __future__ import annotations

import itertools
import os
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from scipy.spatial.distance import cdist

from graphdiff.errors import DataError
from graphdiff_molecules.domain import as_symbols_positions

__all__ = ["molecule_to_structure", "structure_to_molecule", "write_structure",
           "min_image_distance", "periodic_bond"]


def _lattice(cell: Any) -> Any:
    from pymatgen.core import Lattice

    if isinstance(cell, Lattice):
        return cell
    arr = np.asarray(cell, dtype=np.float64)
    if arr.ndim == 0:
        return Lattice.cubic(float(arr))
    if arr.shape == (3,):
        return Lattice.orthorhombic(*arr.tolist())
    if arr.shape == (3, 3):
        return Lattice(arr)
    raise DataError(f"cell must be a side length, 3 lengths or a 3x3 matrix (Å), got shape {arr.shape}")


def min_image_distance(cart: np.ndarray, matrix: np.ndarray, reach: int = 2) -> tuple[float, int, int]:
    """Shortest distance between an atom and a periodic image (of itself or another atom).

    Parameters
    ----------
    cart:
        ``[n, 3]`` Cartesian positions (Å), inside the cell.
    matrix:
        ``[3, 3]`` lattice vectors as rows (Å).
    reach:
        Images up to ``reach`` cells away along each vector are checked.

    Returns
    -------
    distance, i, j:
        The distance (Å) and the atoms ``i`` and ``j`` (``j``'s image is the close one).
    """
    best = (np.inf, 0, 0)
    steps = range(-reach, reach + 1)
    for shift in itertools.product(steps, steps, steps):
        if shift == (0, 0, 0):
            continue
        d = cdist(cart, cart + np.asarray(shift, dtype=np.float64) @ matrix)
        k = int(np.argmin(d))
        if d.flat[k] < best[0]:
            best = (float(d.flat[k]), *divmod(k, d.shape[1]))
    return best


def molecule_to_structure(molecule: Any, vacuum: float | None = 10.0, cell: Any = None, *,
                          min_image: float = 3.0) -> Any:
    """Place a molecule in a periodic box, as a pymatgen ``Structure`` (for POSCAR / CIF).

    Parameters
    ----------
    molecule:
        ``ase.Atoms`` or pymatgen ``Molecule``.
    vacuum:
        Without ``cell``: the box is cubic with side ``max extent + 2 * vacuum`` (Å), so at
        least ``vacuum`` separates the molecule from each face.
    cell:
        A given box: a cube side, three orthorhombic lengths, a ``3 x 3`` matrix (rows are the
        lattice vectors, Å) or a pymatgen ``Lattice``. ``vacuum`` is then ignored.
    min_image:
        Smallest distance (Å) allowed between an atom and any periodic image (default 3 Å,
        beyond covalent bonding).

    Returns
    -------
    pymatgen.core.Structure
        The molecule with the centre of its bounding box at the centre of the box.

    Raises
    ------
    DataError
        An empty molecule or non-finite positions; an atom outside the given ``cell``; atoms
        closer than ``min_image`` to periodic images (too little vacuum / too small a cell).
    """
    from pymatgen.core import Lattice, Structure

    symbols, pos = as_symbols_positions(molecule, "molecule_to_structure input")
    if not symbols:
        raise DataError("molecule_to_structure input: the molecule has no atoms")
    if not np.isfinite(pos).all():
        i = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
        raise DataError(f"molecule_to_structure input: atom {i} has a non-finite position")
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    if cell is None:
        if vacuum is None or vacuum < 0:
            raise DataError(f"molecule_to_structure: vacuum must be >= 0 Å without a cell, got {vacuum}")
        lattice = Lattice.cubic(float((hi - lo).max() + 2 * vacuum) or 1e-3)
        box = f"vacuum={vacuum} Å"
    else:
        lattice = _lattice(cell)
        box = f"the given cell {np.round(lattice.abc, 4).tolist()} Å"
    matrix = np.asarray(lattice.matrix, dtype=np.float64)
    centre = np.full(3, 0.5) @ matrix
    cart = pos - (lo + hi) / 2 + centre
    frac = cart @ np.linalg.inv(matrix)
    outside = ((frac < 0) | (frac >= 1)).any(axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(f"molecule_to_structure: atom {i} ({symbols[i]}) lies outside the box when "
                        f"the molecule is centred in {box}; use a larger cell")
    dist, i, j = min_image_distance(cart, matrix)
    if dist < min_image:
        raise DataError(
            f"molecule_to_structure: atom {i} ({symbols[i]}) is {dist:.3g} Å from a periodic image "
            f"of atom {j} ({symbols[j]}), closer than min_image={min_image} Å with {box}; "
            "give more vacuum or a larger cell")
    return Structure(lattice, symbols, cart, coords_are_cartesian=True)


def structure_to_molecule(structure: Any, *, unwrap: bool = True, bond_scale: float = 1.2) -> Atoms:
    """Take the molecule out of a periodic ``Structure`` (or a periodic ``ase.Atoms``).

    Parameters
    ----------
    structure:
        pymatgen ``Structure`` or ``ase.Atoms`` with a cell.
    unwrap:
        Make molecules cut by the cell boundary whole: starting from each not-yet-placed atom,
        bonded neighbours (closer than ``bond_scale`` times the sum of covalent radii through
        the minimum image) are placed next to the atom that reached them. Without ``unwrap``
        the Cartesian positions are taken as they are.
    bond_scale:
        Factor on covalent radii sums for the bonds that ``unwrap`` follows.

    Returns
    -------
    ase.Atoms
        Non-periodic, positions in the box's Cartesian frame (Å). A molecule written by
        :func:`molecule_to_structure` comes back translated (centred in the box).

    Raises
    ------
    DataError
        For another type, disordered sites, or unknown element symbols.
    """
    from pymatgen.core import IStructure

    if isinstance(structure, IStructure):
        symbols = []
        for k, site in enumerate(structure):
            if not site.is_ordered:
                raise DataError(f"structure_to_molecule: site {k} is disordered ({site.species})")
            symbols.append(site.specie.symbol)
        cart = np.asarray(structure.cart_coords, dtype=np.float64)
        matrix = np.asarray(structure.lattice.matrix, dtype=np.float64)
    elif isinstance(structure, Atoms):
        symbols = structure.get_chemical_symbols()
        cart = structure.get_positions()
        matrix = np.asarray(structure.cell[:], dtype=np.float64)
        if abs(np.linalg.det(matrix)) < 1e-12:
            unwrap = False  # no cell: nothing to unwrap
    else:
        raise DataError(f"structure_to_molecule: expected a pymatgen Structure or ase.Atoms, "
                        f"got {type(structure).__name__}")
    if unwrap and len(symbols) > 1:
        cart = _unwrap(symbols, cart, matrix, bond_scale)
    return Atoms(symbols=symbols, positions=cart, pbc=False)


def periodic_bond(structure: Any, *, bond_scale: float = 1.2, reach: int = 2) -> tuple[float, int, int] | None:
    """The bond that makes ``structure`` periodic (a bulk crystal, a chain or a layer) rather
    than molecules in a box, or ``None``.

    The atoms are unwrapped as in :func:`structure_to_molecule`; a structure is periodic when an
    atom then lies within bonding distance (``bond_scale`` times the sum of covalent radii) of
    a periodic image (up to ``reach`` cells away) of any atom, itself included.

    Parameters
    ----------
    structure:
        pymatgen ``Structure`` or ``ase.Atoms`` with a cell (without one: ``None``).

    Returns
    -------
    ``(distance in Å, i, j)``: the shortest such bond, from atom ``i`` to an image of atom
    ``j``; ``None`` for molecules in a box.
    """
    from pymatgen.core import IStructure

    if isinstance(structure, IStructure):
        if not structure.is_ordered:
            return None  # structure_to_molecule refuses it, naming the site
        symbols = [site.specie.symbol for site in structure]
        cart = np.asarray(structure.cart_coords, dtype=np.float64)
        matrix = np.asarray(structure.lattice.matrix, dtype=np.float64)
    elif isinstance(structure, Atoms):
        symbols = structure.get_chemical_symbols()
        cart = structure.get_positions()
        matrix = np.asarray(structure.cell[:], dtype=np.float64)
        if abs(np.linalg.det(matrix)) < 1e-12 or not np.any(structure.pbc):
            return None
    else:
        return None
    if not symbols:
        return None
    try:
        radii = np.array([covalent_radii[atomic_numbers[s]] for s in symbols])
    except KeyError:
        return None  # structure_to_molecule names the unknown element
    if len(symbols) > 1:
        cart = _unwrap(symbols, cart, matrix, bond_scale)
    limit = bond_scale * (radii[:, None] + radii[None, :])
    best: tuple[float, int, int] | None = None
    steps = range(-reach, reach + 1)
    for shift in itertools.product(steps, steps, steps):
        if shift == (0, 0, 0):
            continue
        d = cdist(cart, cart + np.asarray(shift, dtype=np.float64) @ matrix)
        close = np.argwhere(d <= limit)
        for i, j in close:
            if best is None or d[i, j] < best[0]:
                best = (float(d[i, j]), int(i), int(j))
    return best


def _unwrap(symbols: list[str], cart: np.ndarray, matrix: np.ndarray, bond_scale: float) -> np.ndarray:
    try:
        radii = np.array([covalent_radii[atomic_numbers[s]] for s in symbols])
    except KeyError as exc:
        raise DataError(f"structure_to_molecule: unknown element {exc.args[0]!r}") from exc
    inv = np.linalg.inv(matrix)
    frac = cart @ inv
    placed = np.full(len(symbols), False)
    out = cart.copy()
    for start in range(len(symbols)):
        if placed[start]:
            continue
        placed[start] = True
        queue = deque([start])
        while queue:
            i = queue.popleft()
            todo = np.flatnonzero(~placed)
            if not len(todo):
                break
            d = frac[todo] - frac[i]
            d -= np.round(d)
            vec = d @ matrix
            near = np.linalg.norm(vec, axis=1) <= bond_scale * (radii[i] + radii[todo])
            for j, v in zip(todo[near], vec[near]):
                out[j] = out[i] + v
                placed[j] = True
                queue.append(int(j))
    return out


def write_structure(molecule: Any, path: str | Path, *, vacuum: float | None = 10.0, cell: Any = None,
                    min_image: float = 3.0) -> None:
    """Write one molecule in a periodic box as POSCAR (``POSCAR``, ``CONTCAR``, ``*.vasp``,
    ``*.poscar``) or CIF (``*.cif``), through :func:`molecule_to_structure`.

    Raises
    ------
    DataError
        See :func:`molecule_to_structure`; naming the file.
    """
    path = Path(path)
    fmt = "cif" if path.suffix.lower() == ".cif" else "poscar"
    try:
        structure = molecule_to_structure(molecule, vacuum, cell, min_image=min_image)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(structure.to(fmt=fmt), encoding="utf-8")
    os.replace(tmp, path)
