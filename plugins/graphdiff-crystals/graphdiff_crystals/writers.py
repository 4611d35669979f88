"""Writing crystal structures: CIF (one file or a folder), POSCAR, CDVAE CSV, JSON, extended XYZ, ASE
databases.

The format follows the path:

==================================== =========================================================
path                                 written
==================================== =========================================================
``*.cif``                            one multi-block CIF file, block ``data_<id>`` per structure
``*.csv``                            CDVAE CSV: ``material_id, cif`` and one column per value
``*.json``                           ``[{"material_id", "structure": Structure.as_dict(), values}]``
``*.extxyz``                         extended XYZ (ASE); id and values in each frame's ``info``
``*.db``                             ASE database (``ase.db``): one periodic row per structure,
                                     id and values as key-value pairs (see
                                     :mod:`graphdiff_crystals.asedb`)
``*.vasp``, ``*.poscar``, ``POSCAR`` one POSCAR (exactly one structure)
anything else (a folder)             one file per structure, ``<id>_<formula>.cif`` (see
                                     :func:`file_stem`; ``folder_format`` ``"cif"``, the
                                     default, ``"poscar"`` (``.vasp``), ``"extxyz"``, ``"json"``)
==================================== =========================================================

Per-structure values (a record's ``props`` and ``extra``) are CSV columns, extxyz ``info``
entries and JSON keys; in CIF they are data items ``_graphdiff_<name>`` beside the structure
(``_graphdiff_material_id`` holds the id), which CIF readers ignore and
:func:`graphdiff_crystals.io.read_records` reads back.

Generated candidates (``extra`` with ``"sample"``, the rank, or ``"rank"``; see
:func:`graphdiff.outputs.candidate_values`) keep their input's id as ``material_id`` and get a
unique ``candidate_id`` (``{id}-{rank}``), which names their CIF data block, their POSCAR
comment line and, in a folder, their file (``{id}_{formula}_{rank}.cif``).

A left-handed basis is written to CIF, CSV and POSCAR in its right-handed form ``a, b, -c``
(same atoms, see :func:`graphdiff_crystals.parsing.right_handed_structure`): CIF cannot express
it, and pymatgen's POSCAR writer would negate the lattice, inverting (mirroring) the crystal.
JSON and extended XYZ keep the lattice matrix as it is.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pymatgen.core import Structure
from pymatgen.core.structure import IStructure

from graphdiff.errors import DataError
from graphdiff.outputs import candidate_values, check_folder, safe_name

from graphdiff_crystals.parsing import CIF_PREFIX, cif_string, right_handed_structure

__all__ = ["write_structures", "file_stem"]

#: ``folder_format`` -> file suffix
_FOLDER_FORMATS = {"cif": ".cif", "poscar": ".vasp", "extxyz": ".extxyz", "json": ".json"}


@dataclass
class _Item:
    id: str                       # the id column (material_id); generated when none was given
    structure: Structure
    values: dict[str, Any] = field(default_factory=dict)  # props and extra, candidate columns first
    given: bool = True            # whether the id was given (else made up from index and formula)

    @property
    def name(self) -> str:
        """What names the structure once (a CIF block, a POSCAR comment): its candidate id."""
        return str(self.values.get("candidate_id", self.id))


def file_stem(structure: Any, item_id: str, rank: int | None = None) -> str:
    """The file name (without suffix) of a structure in a folder: ``{id}_{reduced formula}``,
    and ``_{rank}`` for a candidate (``mp-1_SrTiO3_0``). An id that is the reduced formula
    itself (a structure asked for by formula, ``--formula SrTiO3``) is not repeated:
    ``SrTiO3_0``."""
    try:
        formula = structure.composition.reduced_formula
    except Exception:  # noqa: BLE001 - a name is still needed for an odd object
        formula = ""
    parts = [str(item_id), "" if str(item_id) == formula else formula] + ([str(rank)] if rank is not None else [])
    return "_".join(p for p in parts if p)


def _items(objs: Iterable[Any], ids: list[str] | None, extra: list[dict[str, Any]] | None) -> list[_Item]:
    items = []
    for i, obj in enumerate(objs):
        if isinstance(obj, dict) and "obj" in obj:
            rid, structure, props = obj.get("id"), obj["obj"], dict(obj.get("props") or {})
        else:
            rid, structure, props = None, obj, {}
        if not isinstance(structure, IStructure):
            raise DataError(f"item {i}: expected a pymatgen Structure or a record, got {type(structure).__name__}")
        items.append(_Item(str(rid) if rid is not None else "", structure, props, rid is not None))
    if ids is not None:
        if len(ids) != len(items):
            raise DataError(f"{len(ids)} ids for {len(items)} structures")
        for item, rid in zip(items, ids):
            item.id, item.given = str(rid), True
    if extra is not None:
        if len(extra) != len(items):
            raise DataError(f"{len(extra)} extra entries for {len(items)} structures")
        for item, ex in zip(items, extra):
            item.values.update(ex or {})
    width = len(str(max(len(items) - 1, 0)))
    for i, item in enumerate(items):
        if not item.given:
            item.id = f"{i:0{width}d}_{item.structure.composition.reduced_formula}"
        item.values = candidate_values(item.id if item.given else None, item.values)
    return items


def write_structures(objs: Iterable[Any], path: str | Path, *, ids: list[str] | None = None,
                     folder_format: str = "cif", significant_figures: int = 10, append: bool = False,
                     extra: list[dict[str, Any]] | None = None, overwrite: bool = False) -> list[Path]:
    """Write structures (or records) to ``path`` in the format its suffix names (see the module docstring).

    Parameters
    ----------
    objs:
        pymatgen ``Structure`` objects or records (dicts with ``obj`` and optionally ``id`` and
        ``props``, as :meth:`CrystalDomain.read` yields).
    path:
        File or folder (created, with its parents, when missing).
    ids:
        Identifiers, one per structure (default: the records' ids, else ``<index>_<formula>``).
    folder_format:
        ``"cif"``, ``"poscar"``, ``"extxyz"`` or ``"json"``, for folders.
    significant_figures:
        Decimals of CIF numbers.
    append:
        Add to a file an earlier call wrote (CSV: same columns; CIF, extxyz: more blocks/frames;
        JSON: the list grows; folder: more files). Generation streams its output this way.
    extra:
        Per-structure values stored beside it (CSV columns, extxyz info, JSON keys, CIF
        ``_graphdiff_`` items), e.g. ``{"sample": 1, "share": 0.5}`` for a candidate (see the
        module docstring).
    overwrite:
        Folders: write into a folder that already holds files (files of the same name are
        replaced). Without it (and without ``append``) such a folder is refused.

    Returns
    -------
    The files written.

    Raises
    ------
    DataError
        On an unknown folder format, a non-structure item, a folder that holds files (without
        ``overwrite`` or ``append``), a file that exists in an appended folder, or several
        structures for a single POSCAR.
    """
    path = Path(path)
    items = _items(objs, ids, extra)
    append = append and path.exists()
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".cif", ".csv", ".json", ".extxyz", ".db", ".vasp", ".poscar") and \
            not path.name.startswith(("POSCAR", "CONTCAR")):
        return _write_folder(items, path, folder_format, significant_figures, append, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".cif":
        text = "\n".join(_cif_block(item, significant_figures) for item in items)
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.write(("\n" if append else "") + text)
    elif suffix == ".csv":
        _write_csv(items, path, significant_figures, append)
    elif suffix == ".json":
        docs = json.loads(path.read_text(encoding="utf-8")) if append else []
        docs += [{"material_id": item.id, "structure": item.structure.as_dict(), **item.values}
                 for item in items]
        path.write_text(json.dumps(docs), encoding="utf-8")
    elif suffix == ".extxyz":
        _write_extxyz(items, path, append)
    elif suffix == ".db":
        from graphdiff_crystals.asedb import write_ase_database

        write_ase_database([(item.id, item.structure, item.values) for item in items], path, append)
    else:
        if len(items) != 1:
            raise DataError(f"{path}: a POSCAR holds one structure, got {len(items)}; write to a folder instead")
        path.write_text(_poscar(items[0].name, items[0].structure), encoding="utf-8")
    return [path]


def _cif_value(value: Any) -> str:
    """A CIF data value: numbers as they are (NaN as ``?``, unknown), text quoted when needed."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "?" if math.isnan(value) else repr(value)
    text = " ".join(str(value).split())
    if text and not re.search(r"\s", text) and text[0] not in "_#$'\"[];" and text not in ("?", "."):
        return text
    if "' " not in text and not text.endswith("'"):
        return f"'{text}'"
    return f'"{text}"'


def _cif_block(item: _Item, significant_figures: int) -> str:
    """One CIF data block named by the item's candidate id, with its id and values as
    ``_graphdiff_`` data items after the ``data_`` line."""
    text = cif_string(item.structure, block=item.name, significant_figures=significant_figures)
    lines = [f"{CIF_PREFIX}material_id  {_cif_value(item.id)}"] if item.given else []
    for key, value in item.values.items():  # the candidate id is the block's name
        if key != "candidate_id" and (isinstance(value, (str, int, float)) or value is None):
            lines.append(f"{CIF_PREFIX}{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(key))}  {_cif_value(value)}")
    if not lines:
        return text
    rows = text.split("\n")
    at = next((i for i, row in enumerate(rows) if row.startswith("data_")), 0)
    return "\n".join(rows[:at + 1] + lines + rows[at + 1:])


def _poscar(name: str, structure: Structure) -> str:
    from pymatgen.io.vasp import Poscar

    return Poscar(right_handed_structure(structure), comment=name).get_str(significant_figures=16)


def _write_folder(items: list[_Item], folder: Path, fmt: str, significant_figures: int, append: bool,
                  overwrite: bool) -> list[Path]:
    if fmt not in _FOLDER_FORMATS:
        raise DataError(f"unknown folder_format {fmt!r}; choose one of {sorted(_FOLDER_FORMATS)}")
    if not append:
        check_folder(folder, overwrite=overwrite)
    suffix = _FOLDER_FORMATS[fmt]
    names: list[str] = []
    used: set[str] = set()
    for item in items:
        rank = item.values.get("rank")
        stem = safe_name(file_stem(item.structure, item.id, rank if isinstance(rank, int) else None)
                         if item.given else item.id)
        name, n = stem + suffix, 1
        while name.lower() in used:  # two structures with the same id: a second name, never a clash
            n += 1
            name = f"{stem}_dup{n}{suffix}"
        used.add(name.lower())
        if (folder / name).exists() and not overwrite:
            raise DataError(f"{folder / name}: already exists; files are never overwritten without "
                            "overwrite=True")
        names.append(name)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, item in zip(names, items):
        write_structures([item.structure], folder / name, ids=[item.id],
                         extra=[item.values], significant_figures=significant_figures)
        written.append(folder / name)
    return written


def _write_csv(items: list[_Item], path: Path, significant_figures: int, append: bool = False) -> None:
    columns: dict[str, None] = {}
    for item in items:
        columns.update(dict.fromkeys(item.values))
    clash = {"material_id", "cif"} & set(columns)
    if clash:
        raise DataError(f"{path}: property names {sorted(clash)} clash with the CSV's own columns")
    if append:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        if header[:2] != ["material_id", "cif"]:
            raise DataError(f"{path}: cannot append: its columns {header} do not start with material_id, cif")
        new = [c for c in columns if c not in header[2:]]
        columns = dict.fromkeys([*header[2:], *new])
        if new:  # a value the earlier rows did not have: a wider header, their cells left empty
            _widen_csv(path, [*header, *new])
    with open(path, "a" if append else "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if not append:
            writer.writerow(["material_id", "cif", *columns])
        for item in items:
            cells = [_cell(item.values.get(c)) for c in columns]
            writer.writerow([item.id, cif_string(item.structure, significant_figures=significant_figures), *cells])


def _widen_csv(path: Path, header: list[str]) -> None:
    """Rewrite a CSV file under a wider ``header`` (the new columns empty in its rows)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(row + [""] * (len(header) - len(row)) for row in rows)
    tmp.replace(path)


def _cell(value: Any) -> str:
    """A CSV cell: empty for missing, integers as integers, other numbers in full precision,
    text as it is (e.g. a request ``">=3.5"`` that ``graphdiff sample --target`` records)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


def _write_extxyz(items: list[_Item], path: Path, append: bool = False) -> None:
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for item in items:
        s = item.structure
        atoms = AseAtomsAdaptor.get_atoms(Structure(s.lattice, [site.specie for site in s], s.frac_coords))
        atoms.info.update({"material_id": item.id, **item.values})
        frames.append(atoms)
    write(str(path), frames, format="extxyz", append=append)
