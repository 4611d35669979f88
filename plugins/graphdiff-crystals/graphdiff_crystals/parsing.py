"""Parsing one structure from text: CIF blocks, POSCAR, Structure dicts, ASE atoms.

Each parser returns ``(structure, notes)`` where ``notes`` are the parser's benign warnings
(collected, never printed here) and raises :class:`graphdiff.errors.DataError` with a one-line
reason when the input cannot give a trustworthy structure. pymatgen's I/O modules are imported
lazily (``pymatgen.io.vasp`` alone takes about a second).
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable, TypeVar

import numpy as np
from pymatgen.core import Structure

from graphdiff.errors import DataError

__all__ = ["split_cif_blocks", "parse_cif_block", "parse_poscar", "structure_from_dict",
           "structure_from_atoms", "cif_string", "right_handed_structure", "cif_values", "CIF_PREFIX"]

#: prefix of the CIF data items in which graphdiff's writers store an id and per-structure values
CIF_PREFIX = "_graphdiff_"
_CIF_VALUE = re.compile(r"^" + re.escape(CIF_PREFIX) + r"(\S+)[ \t]+(.*?)[ \t]*$", re.M)

T = TypeVar("T")

# A block in space group P1 needs no symmetry operations, so pymatgen's rounding of
# coordinates close to 1/3 and 2/3 (meant for applying symmetry) is switched off for it.
_P1_RE = re.compile(
    r"^[ \t]*_(?:symmetry_space_group_name_H-M|space_group_name_H-M_alt)[ \t]+(['\"]?)P[ \t]*1\1[ \t]*$"
    r"|^[ \t]*_(?:symmetry_Int_Tables_number|space_group_IT_number)[ \t]+1[ \t]*$",
    re.M,
)
# Composition checks of CifParser that mean atoms were lost or merged: the structure is wrong.
_FATAL_CIF = ("Missing elements", "Incorrect stoichiometry")
# pymatgen notices that say nothing about the file (sorting noble gases by electronegativity).
_NOISE = ("No Pauling electronegativity",)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _capture(fn: Callable[[], T]) -> tuple[T, list[str]]:
    """Run ``fn`` recording every warning it raises; return ``(result, messages)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [_one_line(str(w.message)) for w in caught]


def split_cif_blocks(text: str) -> list[tuple[str, str]]:
    """Split CIF text into its data blocks.

    Parameters
    ----------
    text:
        The contents of a CIF file (one or more ``data_`` blocks).

    Returns
    -------
    ``[(block_name, block_text), ...]`` in file order; ``block_name`` is what follows
    ``data_``. Lines before the first block (comments) go with the first block; ``data_`` inside
    semicolon-delimited text fields does not start a block.
    """
    blocks: list[tuple[str, list[str]]] = []
    preamble: list[str] = []
    in_text_field = False
    for line in text.splitlines(keepends=True):
        if line.startswith(";"):
            in_text_field = not in_text_field
        elif not in_text_field:
            stripped = line.strip()
            if stripped[:5].lower() == "data_":
                blocks.append((stripped[5:].split()[0] if stripped[5:].split() else "", [line]))
                continue
        (blocks[-1][1] if blocks else preamble).append(line)
    if blocks:
        blocks[0][1][:0] = preamble
    return [(name, "".join(lines)) for name, lines in blocks]


def parse_cif_block(text: str) -> tuple[Structure, list[str]]:
    """Parse one CIF data block with pymatgen's ``CifParser`` (the cell as written, not primitive).

    Parameters
    ----------
    text:
        One ``data_`` block.

    Returns
    -------
    ``(structure, notes)``; sites come in pymatgen's order (grouped by element), not the file's.

    Raises
    ------
    DataError
        When the parser fails or yields no structure (the reason includes its warnings), when it
        yields more than one, or when its composition check reports lost atoms (the formula
        in the CIF disagrees with the parsed sites, e.g. after merging overlapping sites).
    """
    from pymatgen.io.cif import CifParser

    frac_tolerance = 0.0 if _P1_RE.search(text) else 1e-4
    state: dict[str, Any] = {}

    def run() -> list[Structure]:
        parser = CifParser.from_str(text, frac_tolerance=frac_tolerance)
        state["parser"] = parser
        return parser.parse_structures(primitive=False, on_error="raise")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structures = run()
        except Exception as exc:  # noqa: BLE001 - pymatgen raises many types on bad input
            notes = [_one_line(str(w.message)) for w in caught]
            notes += getattr(state.get("parser"), "warnings", [])
            extra = f"; parser warnings: {'; '.join(dict.fromkeys(notes))}" if notes else ""
            raise DataError(_one_line(f"CIF could not be parsed ({type(exc).__name__}: {exc}){extra}")) from exc
    notes = list(dict.fromkeys([_one_line(str(w.message)) for w in caught]
                               + [_one_line(m) for m in state["parser"].warnings]))
    notes = [m for m in notes if not m.startswith(_NOISE)]
    fatal = [m for m in notes if m.startswith(_FATAL_CIF)]
    if fatal:
        raise DataError(f"CIF composition check failed: {fatal[0]}")
    if len(structures) != 1:
        raise DataError(f"the CIF block gave {len(structures)} structures, expected 1")
    return structures[0], notes


def parse_poscar(text: str) -> tuple[Structure, list[str]]:
    """Parse POSCAR / CONTCAR / ``.vasp`` text (VASP 5 format, with element symbols).

    Raises
    ------
    DataError
        When pymatgen cannot parse it, or when the file has no element symbols (VASP 4 format):
        pymatgen would then silently name the species H, He, Li...
    """
    from pymatgen.io.vasp import Poscar

    try:
        poscar, notes = _capture(lambda: Poscar.from_str(text))
    except Exception as exc:  # noqa: BLE001
        raise DataError(_one_line(f"POSCAR could not be parsed ({type(exc).__name__}: {exc})")) from exc
    if any("false names" in m for m in notes):
        raise DataError("POSCAR has no element symbols (VASP 4 format); add the line of element "
                        "symbols above the atom counts")
    return poscar.structure, notes


def structure_from_dict(d: Any) -> Structure:
    """``Structure.from_dict`` with a clear error on anything that is not a Structure dict."""
    if not isinstance(d, dict) or "lattice" not in d or "sites" not in d:
        keys = sorted(d)[:12] if isinstance(d, dict) else type(d).__name__
        raise DataError(f"not a pymatgen Structure dict (needs 'lattice' and 'sites'; got {keys})")
    try:
        s, _ = _capture(lambda: Structure.from_dict(d))
    except Exception as exc:  # noqa: BLE001
        raise DataError(_one_line(f"invalid Structure dict ({type(exc).__name__}: {exc})")) from exc
    if not isinstance(s, Structure):
        raise DataError(f"the dict describes a {type(s).__name__}, not a periodic Structure")
    return s


def structure_from_atoms(atoms: Any) -> Structure:
    """Convert an ``ase.Atoms`` object, which must be periodic in all three directions."""
    from pymatgen.io.ase import AseAtomsAdaptor

    if not all(atoms.pbc):
        raise DataError(f"not periodic in all three directions (pbc={list(map(bool, atoms.pbc))})")
    try:
        s, _ = _capture(lambda: AseAtomsAdaptor.get_structure(atoms))
    except Exception as exc:  # noqa: BLE001
        raise DataError(_one_line(f"cannot convert ase.Atoms ({type(exc).__name__}: {exc})")) from exc
    return s


def cif_string(structure: Structure, block: str | None = None, significant_figures: int = 10) -> str:
    """CIF text of one structure in space group P1 (pymatgen's ``CifWriter``).

    CIF stores lengths and angles, which cannot express a left-handed basis: such a structure
    is first made right-handed (``c`` and the third fractional coordinate negated, atoms
    unmoved) so that the file describes the same crystal and not its mirror image.

    Parameters
    ----------
    structure:
        The structure (site order is kept).
    block:
        Name of the ``data_`` block (default: pymatgen's, the formula); characters other than
        letters, digits, ``.``, ``-`` and ``_`` become ``_``.
    significant_figures:
        Decimals of lengths, angles and coordinates.
    """
    from pymatgen.io.cif import CifWriter

    with warnings.catch_warnings():  # pymatgen's notice when sorting noble gases by electronegativity
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        text = str(CifWriter(right_handed_structure(structure), significant_figures=significant_figures))
    if block is not None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(block)) or "structure"
        text = re.sub(r"^data_.*$", lambda _: f"data_{name}", text, count=1, flags=re.M)
    return text


def right_handed_structure(structure: Structure) -> Structure:
    """``structure`` itself when its basis is right-handed, else the same crystal in the basis
    ``a, b, -c`` (third fractional coordinate negated and wrapped; no atom moves).

    CIF cannot express a left-handed basis, and pymatgen's POSCAR writer negates a left-handed
    lattice *without* changing the fractional coordinates, which inverts the crystal (a mirror
    image for chiral structures); the writers call this first.
    """
    from graphdiff_crystals.lattice import right_handed

    if np.linalg.det(structure.lattice.matrix) >= 0:
        return structure
    lat, frac = right_handed(structure.lattice.matrix, structure.frac_coords)
    return Structure(lat, structure.species, frac)


def cif_values(block: str) -> tuple[str | None, dict[str, float], dict[str, str]]:
    """The id and the values :mod:`graphdiff_crystals.writers` stores in a CIF block as
    ``_graphdiff_<name>`` data items: ``(material_id or None, numeric values, text values)``;
    ``?`` (unknown) is NaN."""
    rid, props, texts = None, {}, {}
    for key, raw in _CIF_VALUE.findall(block):
        quoted = len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "'\""
        value = raw[1:-1] if quoted else raw
        if key == "material_id":
            rid = value
        elif raw == "?":
            props[key] = float("nan")
        elif not quoted and _is_number(value):
            props[key] = float(value)
        else:
            texts[key] = value
    return rid, props, texts


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
