"""ASE databases of crystals (``.db``: ``ase.db``'s SQLite files), read and written.

A crystal row is periodic in all three directions and has a cell of non-zero volume; a row
without them (a molecule, as the molecules domain reads and writes them) is skipped with the
reason, so the two domains' files stay told apart. Each row holds:

- the structure (``row.toatoms()``; written from the pymatgen ``Structure`` with ``pbc = True``);
- its id: ``material_id`` (else ``name``) among the row's key-value pairs or, where ASE refuses
  it as a key-value pair (an id such as ``"18517"`` that reads as a number), in ``row.data``;
  else the row's own id;
- its values (a record's ``props`` and ``extra``: a candidate's ``candidate_id``, ``rank``...) as
  key-value pairs, and those ASE refuses there (reserved names, names that are not identifiers
  such as ``perov5-heat_ref``, text that reads as a number) in ``row.data`` under the same name; an
  ``energy`` becomes the row's energy (a single-point calculator), as ASE users find it
  (``row.energy``).

Reading gives numeric key-value pairs, numeric ``row.data`` values and the calculator's scalar
results (``energy``) as ``props``; ``candidate_id`` as ``text``. The file's ``metadata`` says
``{"graphdiff_domain": "crystals"}``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from graphdiff.asedb import check_ase_database, connect_ase_database, iter_ase_rows
from graphdiff.domain import Record
from graphdiff.errors import DataError

__all__ = ["check_ase_database", "read_ase_database", "write_ase_database", "holds_crystals"]

#: a row's id keys, in the order they are looked for
_ID_KEYS = ("material_id", "name")


def _is_crystal_row(row: Any) -> bool:
    pbc = np.asarray(row.pbc).reshape(-1)
    return bool(pbc.all()) and abs(float(np.linalg.det(np.asarray(row.cell, dtype=float).reshape(3, 3)))) > 1e-6


def holds_crystals(path: Path, rows: int = 50) -> bool:
    """Whether an ASE database holds crystals: written by this domain, or a crystal row (periodic
    with a cell) among its first ``rows`` rows. A file that is not an ASE database gives ``True``
    (the reader says what is wrong with it)."""
    try:
        db = connect_ase_database(path, path.name)
        if (db.metadata or {}).get("graphdiff_domain") == "crystals":
            return True
        return any(_is_crystal_row(row) for row in db.select(sort="id", limit=rows))
    except Exception:  # noqa: BLE001 - unreadable: the reader reports it
        return True


def _scalars(values: Any) -> dict[str, float]:
    """The finite real scalars of a mapping (no booleans)."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value):
            out[str(key)] = float(value)
    return out


def _check_crystal(atoms: Any, where: str) -> None:
    if not _is_crystal_row(atoms):
        pbc = [bool(x) for x in np.asarray(atoms.pbc).reshape(-1)]
        volume = abs(float(np.linalg.det(np.asarray(atoms.cell, dtype=float).reshape(3, 3))))
        raise DataError(f"{where}: not a crystal: pbc={pbc}, cell volume {volume:.3g} A^3 (a crystal row is periodic "
                        "in three directions with a cell); a molecule is read by the molecules domain")


def read_ase_database(path: Path, label: str, bad: Callable[[str, str], None],
                      record: Callable[..., Record | None]) -> Iterator[Record]:
    """Records of the crystal rows of an ASE database, in row-id order; ``bad(where, reason)``
    reports a row that is not a crystal or cannot be read, ``record(where, id, build, props,
    text)`` checks and wraps one (the reader's context, :mod:`graphdiff_crystals.io`). The rows
    are walked by :func:`graphdiff.asedb.iter_ase_rows`."""
    from graphdiff_crystals.parsing import structure_from_atoms

    for item in iter_ase_rows(path, label=label, names=_ID_KEYS, check=_check_crystal, bad=bad):
        kvp, data, atoms = item.key_value_pairs, item.data, item.atoms
        props = {**_scalars(kvp), **_scalars(data)}
        if atoms.calc is not None:
            props.update(_scalars(getattr(atoms.calc, "results", {})))
        for key in _ID_KEYS:
            props.pop(key, None)
        cid = kvp.get("candidate_id", data.get("candidate_id"))
        text = {"candidate_id": str(cid)} if cid not in (None, "") else None
        rec = record(item.where, item.name if item.name is not None else str(item.id),
                     lambda atoms=atoms: (structure_from_atoms(atoms), []), props, text)
        if rec is not None:
            yield rec


def _fits_a_column(key: str, value: Any) -> bool:
    """Whether ASE takes ``key = value`` as a key-value pair (a searchable column)."""
    from ase.db.core import check

    if value is None or isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check({key: value})
    except ValueError:
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_ase_database(items: Iterable[tuple[str, Any, dict[str, Any]]], path: Path, append: bool) -> None:
    """Write ``(id, Structure, values)`` items as rows of an ASE database (a new file unless
    ``append``); see the module docstring for where the id and the values go."""
    import ase.db
    from ase.calculators.singlepoint import SinglePointCalculator
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if not append:
        path.unlink(missing_ok=True)
    db = ase.db.connect(str(path), type="db", use_lock_file=False, append=True)
    with db:
        for rid, s, values in items:
            atoms = AseAtomsAdaptor.get_atoms(Structure(s.lattice, [site.specie for site in s], s.frac_coords))
            atoms.pbc = True
            kvp: dict[str, Any] = {}
            data: dict[str, Any] = {}
            for key, value in {"material_id": rid, **values}.items():
                value = _plain(value)
                if key == "energy" and isinstance(value, numbers.Real) and math.isfinite(value):
                    atoms.calc = SinglePointCalculator(atoms, energy=float(value))
                    continue
                if _fits_a_column(str(key), value):
                    kvp[str(key)] = value
                elif value is not None and not (isinstance(value, float) and not math.isfinite(value)):
                    data[str(key)] = value if isinstance(value, (str, int, float, bool)) else str(value)
            db.write(atoms, key_value_pairs=kvp, data=data)
    if not append or not db.metadata:
        db.metadata = {"graphdiff_domain": "crystals"}
