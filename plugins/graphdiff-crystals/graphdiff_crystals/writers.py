"""Writing crystal structures: CIF (one file or a folder), POSCAR, CDVAE CSV, JSON, extended XYZ.

The format follows the path:

==================================== =========================================================
path                                 written
==================================== =========================================================
``*.cif``                            one multi-block CIF file, block ``data_<id>`` per structure
``*.csv``                            CDVAE CSV: ``material_id, cif`` and one column per property
``*.json``                           ``[{"material_id", "structure": Structure.as_dict(), props}]``
``*.extxyz``                         extended XYZ (ASE); id and props in each frame's ``info``
``*.vasp``, ``*.poscar``, ``POSCAR`` one POSCAR (exactly one structure)
anything else (a folder)             one file per structure, ``<id>.cif`` (``folder_format=
                                     "cif"``, the default) or ``<id>.vasp`` (``"poscar"``)
==================================== =========================================================

A left-handed basis is written to CIF, CSV and POSCAR in its right-handed form ``a, b, -c``
(same atoms, see :func:`graphdiff_crystals.parsing.right_handed_structure`): CIF cannot express
it, and pymatgen's POSCAR writer would negate the lattice, inverting (mirroring) the crystal.
JSON and extended XYZ keep the lattice matrix as it is.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Iterable

from pymatgen.core import Structure
from pymatgen.core.structure import IStructure

from graphdiff.errors import DataError

from graphdiff_crystals.parsing import cif_string, right_handed_structure

__all__ = ["write_structures"]

_FOLDER_FORMATS = {"cif": ".cif", "poscar": ".vasp"}


def _items(objs: Iterable[Any], ids: list[str] | None) -> list[tuple[str, Structure, dict[str, float]]]:
    items = []
    for i, obj in enumerate(objs):
        if isinstance(obj, dict) and "obj" in obj:
            rid, structure, props = obj.get("id"), obj["obj"], dict(obj.get("props") or {})
        else:
            rid, structure, props = None, obj, {}
        if not isinstance(structure, IStructure):
            raise DataError(f"item {i}: expected a pymatgen Structure or a record, got {type(structure).__name__}")
        items.append((str(rid) if rid is not None else "", structure, props))
    if ids is not None:
        if len(ids) != len(items):
            raise DataError(f"{len(ids)} ids for {len(items)} structures")
        items = [(str(rid), s, p) for rid, (_, s, p) in zip(ids, items)]
    width = len(str(max(len(items) - 1, 0)))
    return [(rid or f"{i:0{width}d}_{s.composition.reduced_formula}", s, p) for i, (rid, s, p) in enumerate(items)]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip(".") or "structure"


def write_structures(objs: Iterable[Any], path: str | Path, *, ids: list[str] | None = None,
                     folder_format: str = "cif", significant_figures: int = 10, append: bool = False,
                     extra: list[dict[str, Any]] | None = None) -> list[Path]:
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
        ``"cif"`` or ``"poscar"``, for folders.
    significant_figures:
        Decimals of CIF numbers.
    append:
        Add to a file an earlier call wrote (CSV: same columns; CIF, extxyz: more blocks/frames;
        JSON: the list grows; folder: more files). Generation streams its output this way.
    extra:
        Per-structure values stored beside it (CSV columns, extxyz info, JSON keys), e.g.
        ``{"sample": 1}``.

    Returns
    -------
    The files written.

    Raises
    ------
    DataError
        On an unknown folder format, a non-structure item, two structures with the same file
        name in a folder, or several structures for a single POSCAR.
    """
    path = Path(path)
    items = _items(objs, ids)
    if extra is not None:
        if len(extra) != len(items):
            raise DataError(f"{len(extra)} extra entries for {len(items)} structures")
        items = [(rid, st, {**props, **ex}) for (rid, st, props), ex in zip(items, extra)]
    append = append and path.exists()
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".cif", ".csv", ".json", ".extxyz", ".vasp", ".poscar") and \
            not path.name.startswith(("POSCAR", "CONTCAR")):
        return _write_folder(items, path, folder_format, significant_figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".cif":
        text = "\n".join(cif_string(s, block=rid, significant_figures=significant_figures) for rid, s, _ in items)
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.write(("\n" if append else "") + text)
    elif suffix == ".csv":
        _write_csv(items, path, significant_figures, append)
    elif suffix == ".json":
        docs = json.loads(path.read_text(encoding="utf-8")) if append else []
        docs += [{"material_id": rid, "structure": s.as_dict(), **p} for rid, s, p in items]
        path.write_text(json.dumps(docs), encoding="utf-8")
    elif suffix == ".extxyz":
        _write_extxyz(items, path, append)
    else:
        if len(items) != 1:
            raise DataError(f"{path}: a POSCAR holds one structure, got {len(items)}; write to a folder instead")
        path.write_text(_poscar(items[0][0], items[0][1]), encoding="utf-8")
    return [path]


def _poscar(rid: str, structure: Structure) -> str:
    from pymatgen.io.vasp import Poscar

    return Poscar(right_handed_structure(structure), comment=rid).get_str(significant_figures=16)


def _write_folder(items: list[tuple[str, Structure, dict[str, float]]], folder: Path, fmt: str,
                  significant_figures: int) -> list[Path]:
    if fmt not in _FOLDER_FORMATS:
        raise DataError(f"unknown folder_format {fmt!r}; choose one of {sorted(_FOLDER_FORMATS)}")
    names = [_safe(rid) + _FOLDER_FORMATS[fmt] for rid, _, _ in items]
    seen: dict[str, str] = {}
    for name, (rid, _, _) in zip(names, items):
        if name in seen:
            raise DataError(f"{folder}: ids {seen[name]!r} and {rid!r} both give the file name {name!r}")
        seen[name] = rid
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (rid, s, _) in zip(names, items):
        text = cif_string(s, significant_figures=significant_figures) if fmt == "cif" else _poscar(rid, s)
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written


def _write_csv(items: list[tuple[str, Structure, dict[str, float]]], path: Path, significant_figures: int,
               append: bool = False) -> None:
    columns: dict[str, None] = {}
    for _, _, props in items:
        columns.update(dict.fromkeys(props))
    clash = {"material_id", "cif"} & set(columns)
    if clash:
        raise DataError(f"{path}: property names {sorted(clash)} clash with the CSV's own columns")
    if append:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        new = [c for c in columns if c not in header[2:]]
        if header[:2] != ["material_id", "cif"] or new:
            raise DataError(f"{path}: cannot append: its columns {header} lack {new or ['material_id', 'cif']}")
        columns = dict.fromkeys(header[2:])
    with open(path, "a" if append else "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if not append:
            writer.writerow(["material_id", "cif", *columns])
        for rid, s, props in items:
            cells = [_cell(props.get(c)) for c in columns]
            writer.writerow([rid, cif_string(s, significant_figures=significant_figures), *cells])


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


def _write_extxyz(items: list[tuple[str, Structure, dict[str, float]]], path: Path, append: bool = False) -> None:
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for rid, s, props in items:
        atoms = AseAtomsAdaptor.get_atoms(Structure(s.lattice, [site.specie for site in s], s.frac_coords))
        atoms.info.update({"material_id": rid, **props})
        frames.append(atoms)
    write(str(path), frames, format="extxyz", append=append)
