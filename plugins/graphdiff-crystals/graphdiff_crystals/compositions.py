"""Compositions as inputs of crystal structure prediction.

A CSP model is given the atoms of a cell and generates their positions and the lattice. The
atoms can come from a structure (its sites), or from a formula:

* ``"SrTiO3"`` asks for a 5-atom cell, ``"Sr2Ti2O6"`` for a 10-atom cell: the formula as
  written is the cell content. The atoms are ordered as pymatgen orders species (by
  electronegativity), which is the order in which a CIF's sites are read: a formula and its
  reference structure give the model the same atoms in the same order, so the same seed gives
  the same candidates (checked on all 3,787 Perov-5 rows of the shared data);
* ``formula_units=Z`` asks for ``Z`` formula units of the *reduced* formula (``"SrTiO3"`` with
  ``Z = 2`` is ``Sr2Ti2O6``).

Files of compositions (:func:`read_compositions`): a text file with one formula per line
(``FORMULA`` or ``ID FORMULA``; blank lines and ``#`` comments ignored), or a CSV file with a
``formula`` or ``composition`` column and no ``cif`` column (an id from ``material_id`` or
``id`` when present; numeric columns become properties, others are kept as text).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterator

import torch
from torch_geometric.data import Data

from graphdiff.domain import Record, report_skip
from graphdiff.errors import DataError

__all__ = ["parse_formula", "composition_graph", "read_compositions", "is_composition_file",
           "FORMULA_COLUMNS"]

#: CSV columns read as compositions, in order of preference
FORMULA_COLUMNS = ("formula", "composition")
_ID_COLUMNS = ("material_id", "id")


def parse_formula(formula: Any, formula_units: int | None = None) -> Any:
    """A pymatgen ``Composition`` with whole numbers of atoms from a formula string or a
    ``Composition``, in the order the formula names its elements.

    Parameters
    ----------
    formula:
        ``"SrTiO3"``, ``"Sr2Ti2O6"``, ``"Ca(OH)2"``, or a ``Composition``.
    formula_units:
        ``Z``: the cell holds ``Z`` units of the reduced formula (``None``: the formula as
        written is the cell).

    Raises
    ------
    DataError
        The formula is empty or does not parse, names something that is not an element, asks
        for a fractional number of atoms, or ``formula_units`` is not a positive integer.
    """
    from pymatgen.core import Composition, Element

    if isinstance(formula, Composition):
        comp, text = formula, formula.formula
    else:
        text = str(formula).strip()
        if not text:
            raise DataError("empty formula")
        try:
            comp = Composition(text)
        except Exception as exc:  # noqa: BLE001 - pymatgen raises ValueError and others
            raise DataError(f"formula {text!r} does not parse: {exc}") from None
    if len(comp) == 0:
        raise DataError(f"formula {text!r} names no atoms")
    symbols = [getattr(sp, "symbol", str(sp)) for sp in comp]
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise DataError(f"formula {text!r}: {symbol!r} is not a chemical element")
    # plain elements (an oxidation state such as Sr2+ is dropped), in the order written
    comp = Composition({Element(s): amt for s, amt in zip(symbols, comp.values())})
    fractional = [f"{getattr(sp, 'symbol', sp)}{amt:g}" for sp, amt in comp.items()
                  if abs(amt - round(amt)) > 1e-6]
    if fractional:
        whole = next((f for f in range(2, 101)
                      if all(abs(a * f - round(a * f)) < 1e-6 for a in comp.values())), None)
        hint = (f" (e.g. {(comp * whole).formula.replace(' ', '')})" if whole is not None else "")
        raise DataError(f"formula {text!r}: a cell holds whole atoms, not {', '.join(fractional)}; "
                        f"scale the formula to whole numbers{hint}")
    if any(amt <= 0 for amt in comp.values()):
        raise DataError(f"formula {text!r}: every amount must be positive")
    if formula_units is not None:
        if isinstance(formula_units, bool) or not isinstance(formula_units, int) or formula_units < 1:
            raise DataError(f"formula_units must be a positive whole number, got {formula_units!r}")
        reduced, _ = comp.get_reduced_composition_and_factor()
        comp = reduced * formula_units
    return comp


def composition_graph(comp: Any, max_nodes: int | None = None) -> Data:
    """The CSP template of a composition: ``atom_types`` ``long [n]`` (atomic number - 1, each
    element's atoms together, elements in pymatgen's order of species: by electronegativity, the
    order in which a CIF's sites are read, so that a formula and its structure give the model
    the same atoms in the same order), ``num_nodes = n``.

    Raises :class:`DataError` when the cell would hold more than ``max_nodes`` atoms."""
    from pymatgen.core import Element

    z: list[int] = []
    amounts = {Element(getattr(sp, "symbol", str(sp))): amt for sp, amt in comp.items()}
    for el in sorted(amounts):  # pymatgen's order of species (electronegativity), as a CIF's sites are read
        z += [el.Z] * int(round(amounts[el]))
    if max_nodes is not None and len(z) > max_nodes:
        raise DataError(f"formula {comp.formula.replace(' ', '')}: {len(z)} atoms in the cell, more than "
                        f"the {max_nodes} a crystal graph holds")
    return Data(atom_types=torch.tensor(z, dtype=torch.long) - 1, num_nodes=len(z))


def is_composition_file(path: str | Path) -> bool:
    """Whether ``path`` is a file of compositions: a ``.txt`` file, or a CSV file whose header
    has a ``formula``/``composition`` column and no ``cif`` column."""
    path = Path(path)
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return True
    if suffix != ".csv":
        return False
    header = _csv_header(path)
    return "cif" not in header and any(c in header for c in FORMULA_COLUMNS)


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot read as CSV: {exc}") from exc


def read_compositions(path: str | Path, *, strict: bool = False,
                      skipped: list[dict[str, str]] | None = None,
                      formula_units: int | None = None) -> Iterator[Record]:
    """Records (``id``, ``obj`` = ``Composition``, ``props``, ``text``) of a file of
    compositions (see the module docstring). A line or row whose formula does not parse is
    reported through ``skipped`` (or raises with ``strict=True``), naming the line and why.

    Ids: the line's ID, the CSV's ``material_id``/``id`` column, else the formula as written;
    a formula that repeats gets ``_2``, ``_3``... after its second occurrence's id."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    label = path.name
    seen: dict[str, int] = {}

    def unique(rid: str) -> str:
        seen[rid] = seen.get(rid, 0) + 1
        return rid if seen[rid] == 1 else f"{rid}_{seen[rid]}"

    def parse(where: str, text: str) -> Any:
        try:
            return parse_formula(text, formula_units)
        except DataError as exc:
            report_skip(skipped, where, str(exc), strict)
            return None

    if path.suffix.lower() != ".csv":
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{label}: cannot read: {exc}") from exc
        for n, line in enumerate(lines, start=1):
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            parts = body.replace(",", " ").split()
            where = f"{label} line {n}"
            if len(parts) > 2:
                report_skip(skipped, where, f"expected FORMULA or ID FORMULA, got {body!r}", strict)
                continue
            comp = parse(where, parts[-1])
            if comp is not None:
                yield Record(id=unique(parts[0]), obj=comp, props={}, source=where)
        return
    header = _csv_header(path)
    column = next((c for c in FORMULA_COLUMNS if c in header), None)
    if column is None:
        raise DataError(f"{label}: no {' or '.join(repr(c) for c in FORMULA_COLUMNS)} column; "
                        f"columns found: {header}")
    ident = next((c for c in _ID_COLUMNS if c in header), None)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh, fieldnames=header))[1:]
    for n, row in enumerate(rows, start=1):
        rid = (row.get(ident) or "").strip() if ident else ""
        where = f"{label} row {n}" + (f" ({ident} {rid})" if rid else "")
        if None in row or any(v is None for v in row.values()):
            report_skip(skipped, where, f"the row's number of fields differs from the header's {len(header)}",
                        strict)
            continue
        comp = parse(where, row[column] or "")
        if comp is None:
            continue
        props, text = {}, {}
        for key, value in row.items():
            if key in (column, ident) or not key or key.startswith("Unnamed:"):
                continue
            value = (value or "").strip()
            try:
                props[key] = float(value) if value else math.nan
            except ValueError:
                text[key] = value
        rec = Record(id=unique(rid or (row[column] or "").strip()), obj=comp, props=props, source=where)
        if text:
            rec["text"] = text
        yield rec

