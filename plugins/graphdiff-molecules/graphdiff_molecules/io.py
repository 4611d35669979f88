"""Molecule readers (XYZ / extended XYZ frame by frame, SDF / MOL, folders of them, ASE databases;
all with skip reports) and molecule writers.

``ase.io.read(path, index=":")`` raises on the first bad frame and returns none of the frames:
a frame cut short makes the next frame's header unreadable, and ASE (3.29) raises
``ase.io.extxyz.XYZError("Expected xyz header but got: invalid literal for int() ...")``, or a
bare ``ValueError("could not convert string to float: ...")`` for a bad coordinate, neither
naming the frame. ``ase.io.iread`` indexes the whole file first and fails the same way, before
yielding any frame.

This module splits the file into frames itself: a frame is an atom-count line, a comment line
and that many atom lines. A frame whose header is not a count, whose atom block is cut short
(by the end of the file, a blank line, or the next frame's count line) or that ASE cannot parse
is reported with its number and first line, and reading goes on with the next frame.

SDF / MOL files are read block by block by :mod:`graphdiff_molecules.sdf`; a folder by reading
its XYZ / extxyz / SDF / MOL files in name order (:func:`read_folder_records`); an ASE database
(``.db``, SQLite) row by row (:func:`read_ase_db_records`). :func:`read_records` picks the
reader from the path.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import ase.io
from ase import Atoms

from graphdiff.asedb import connect_ase_database, iter_ase_rows
from graphdiff.domain import Record, report_skip
from graphdiff.errors import DataError
from graphdiff_molecules.domain import as_symbols_positions

__all__ = ["iter_xyz_frames", "read_xyz", "read_xyz_records", "read_folder_records",
           "read_ase_db_records", "db_holds_molecules", "read_records", "write_molecules", "frame_props", "FILE_KINDS"]

#: Suffix (lower case) -> reader of the files a folder may hold (other entries are ignored,
#: with a warning naming them).
FILE_KINDS = {".xyz": "xyz", ".extxyz": "xyz", ".sdf": "sdf", ".mol": "sdf"}
#: Suffixes read as ASE databases (``ase.db``, SQLite backend).
ASE_DB_SUFFIXES = (".db",)

_POSCAR_NAMES = ("POSCAR", "CONTCAR")
_POSCAR_SUFFIXES = (".vasp", ".poscar")


def _count(line: str) -> int | None:
    """The atom count if ``line`` is a frame header (one non-negative integer), else ``None``."""
    tokens = line.split()
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    return None


def _parse_frame(text: str, where: str) -> Atoms:
    errors = []
    for fmt in ("extxyz", "xyz"):  # plain-XYZ comment lines that extxyz cannot parse
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                atoms = ase.io.read(io.StringIO(text), format=fmt, index=0)
            return atoms
        except Exception as exc:  # noqa: BLE001 - ASE raises XYZError, ValueError, KeyError...
            errors.append(f"{fmt}: {type(exc).__name__}: {exc}")
    raise DataError(f"{where}: malformed frame ({'; '.join(errors)})")


def iter_xyz_frames(path: str | Path) -> Iterator[tuple[int, str, Atoms | DataError]]:
    """Yield ``(frame, where, atoms_or_error)`` for each frame of an XYZ / extxyz file.

    ``frame`` counts from 0; ``where`` reads ``"file.xyz frame 3 (line 12)"`` (lines count from
    1). A bad frame is yielded as a :class:`DataError` saying what is wrong.

    Raises
    ------
    DataError
        When the file is missing or not UTF-8 text.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise DataError(f"{path}: not an XYZ text file: {exc}") from exc
    i, frame, total = 0, 0, len(lines)
    while i < total:
        if not lines[i].strip():
            i += 1
            continue
        where = f"{path} frame {frame} (line {i + 1})"
        count = _count(lines[i])
        if count is None:
            j = next((k for k in range(i + 1, total) if _count(lines[k]) is not None), total)
            tail = f"skipped to line {j + 1}" if j < total else "skipped to the end of the file"
            yield frame, where, DataError(f"{where}: expected the atom count that starts a frame, "
                                          f"got {lines[i].strip()[:60]!r} ({tail})")
            frame, i = frame + 1, j
            continue
        body_start, end = i + 2, i + 2 + count
        if body_start > total:
            yield frame, where, DataError(f"{where}: truncated frame: the file ends after the "
                                          f"atom count ({count}) before the comment line")
            return
        cut = None
        for k in range(body_start, min(end, total)):
            if not lines[k].strip() or _count(lines[k]) is not None:
                cut = k
                break
        if cut is not None or end > total:
            found = (cut if cut is not None else total) - body_start
            stop = ("the end of the file" if cut is None else
                    f"a blank line (line {cut + 1})" if not lines[cut].strip() else
                    f"what looks like the next frame's atom count (line {cut + 1})")
            yield frame, where, DataError(f"{where}: truncated frame: the header says {count} atoms, "
                                          f"{found} atom line(s) come before {stop}")
            frame, i = frame + 1, (cut if cut is not None else total)
            continue
        try:
            atoms: Atoms | DataError = _parse_frame("".join(lines[i:end]), where)
        except DataError as exc:
            atoms = exc
        yield frame, where, atoms
        frame, i = frame + 1, end


def frame_props(atoms: Atoms) -> dict[str, float]:
    """Numeric scalars of a frame: ``info`` entries and calculator results (``energy``...)."""
    props: dict[str, float] = {}
    items = list(atoms.info.items())
    calc = getattr(atoms, "calc", None)
    if calc is not None:
        items += list(getattr(calc, "results", {}).items())
    for key, value in items:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                props[str(key)] = float(value)
        elif getattr(value, "shape", None) == () and getattr(value, "dtype", None) is not None:
            if value.dtype.kind in "fiu" and math.isfinite(float(value)):
                props[str(key)] = float(value)
    return props


def read_xyz(path: str | Path) -> list[Atoms]:
    """All frames of an XYZ / extxyz file; the first bad frame raises :class:`DataError` naming it."""
    frames = []
    for _, _, item in iter_xyz_frames(path):
        if isinstance(item, DataError):
            raise item
        frames.append(item)
    return frames


def read_xyz_records(path: str | Path, check: Callable[[Any, str], Any] | None, *,
                     strict: bool = False, skipped: list[dict[str, str]] | None = None,
                     label: str | None = None) -> Iterator[Record]:
    """Records of the frames of an XYZ / extxyz file, following the ``Domain.read`` contract.

    Parameters
    ----------
    path:
        The file.
    check:
        ``check(atoms, where)`` raising :class:`DataError` for a molecule to skip (or ``None``).
    strict, skipped:
        See :meth:`graphdiff.domain.Domain.read`.
    label:
        How ids name the file (default its name): ``"label frame 3"`` for a frame without an
        ``id``.
    """
    path = Path(path)
    label = path.name if label is None else label
    for frame, where, item in iter_xyz_frames(path):
        if isinstance(item, DataError):
            report_skip(skipped, where, str(item), strict)
            continue
        if check is not None:
            try:
                check(item, where)
            except DataError as exc:
                report_skip(skipped, where, str(exc), strict)
                continue
        rid = item.info.get("id")
        if not isinstance(rid, str) or not rid.strip():
            rid = f"{label} frame {frame}"
        yield Record(id=rid, obj=item, props=frame_props(item))


def _read_file_records(path: Path, check: Callable[[Any, str], Any] | None, *, strict: bool,
                       skipped: list[dict[str, str]] | None, label: str | None) -> Iterator[Record]:
    if FILE_KINDS.get(path.suffix.lower()) == "sdf":
        from graphdiff_molecules.sdf import read_sdf_records

        yield from read_sdf_records(path, check, strict=strict, skipped=skipped, label=label)
    else:
        yield from read_xyz_records(path, check, strict=strict, skipped=skipped, label=label)


def read_folder_records(folder: str | Path, check: Callable[[Any, str], Any] | None, *,
                        strict: bool = False, skipped: list[dict[str, str]] | None = None,
                        ) -> Iterator[Record]:
    """Records of the XYZ / extxyz / SDF / MOL files of a folder, in file-name order.

    Ids are ``"folder/file.sdf block 3"`` / ``"folder/file.xyz frame 2"`` unless the molecule
    names itself (an SDF block's name, an extxyz frame's ``id``). Bad frames and blocks are
    reported as in a single file; a file that cannot be read at all (not text) is reported as
    a whole (``where`` is its path). Sub-folders and files of other formats are not read:
    one ``RuntimeWarning`` names them (hidden entries, ``.name``, are passed over).

    Raises
    ------
    DataError
        When the folder holds no file of these formats (or, with ``strict``, at the first bad
        item).
    """
    folder = Path(folder)
    files, ignored = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in FILE_KINDS:
            files.append(entry)
        else:
            ignored.append(entry.name + ("/" if entry.is_dir() else ""))
    if ignored:
        warnings.warn(f"{folder}: ignored {len(ignored)} entries that are not XYZ, extxyz, SDF or "
                      f"MOL files: {ignored[:10]}{' ...' if len(ignored) > 10 else ''}",
                      RuntimeWarning, stacklevel=2)
    if not files:
        raise DataError(f"{folder}: no molecule files in the folder (it reads "
                        f"{', '.join(FILE_KINDS)}; found {len(ignored)} other entries)")
    for path in files:
        try:
            yield from _read_file_records(path, check, strict=strict, skipped=skipped,
                                          label=f"{folder.name}/{path.name}")
        except DataError as exc:
            if strict:
                raise
            report_skip(skipped, str(path), str(exc), strict)


def _refuse_crystal(atoms: Atoms, where: str) -> None:
    """A periodic row bonded across its cell is a crystal (the crystals domain reads it), not a
    molecule in a box: refuse it rather than drop its lattice."""
    if not all(atoms.pbc):
        return
    from graphdiff_molecules.periodic import periodic_bond

    bond = periodic_bond(atoms)
    if bond is not None:
        d, i, j = bond
        raise DataError(f"{where}: a crystal, not a molecule: periodic, and atom {i} bonds to a periodic image of "
                        f"atom {j} across the cell ({d:.3g} A); read it with the crystals domain")


def db_holds_molecules(path: str | Path, rows: int = 50) -> bool:
    """Whether an ASE database holds molecules: a row among its first ``rows`` that is not a
    crystal (not periodic, or a molecule in a box), or no rows at all. A file that is not an ASE
    database gives ``True`` (the reader says what is wrong with it)."""
    path = Path(path)
    try:
        db = connect_ase_database(path)
        if (db.metadata or {}).get("graphdiff_domain") not in (None, "molecules"):
            return False
        seen = 0
        for row in db.select(sort="id", limit=rows):
            seen += 1
            try:
                _refuse_crystal(row.toatoms(), "")
            except DataError:
                continue
            return True
        return seen == 0
    except Exception:  # noqa: BLE001 - unreadable: the reader reports it
        return True


def read_ase_db_records(path: str | Path, check: Callable[[Any, str], Any] | None, *,
                        strict: bool = False, skipped: list[dict[str, str]] | None = None,
                        label: str | None = None) -> Iterator[Record]:
    """Records of the rows of an ASE database (``ase.db``, SQLite file), in row-id order.

    Records hold ``id`` (the row's ``name``, a key-value pair or in ``row.data``, when not empty, else
    ``"file.db row 7"`` with the row's id), ``obj`` (``row.toatoms()``, the key-value pairs in
    its ``info``) and ``props`` (numeric key-value pairs and scalar calculator results such as
    ``energy``). A row that cannot be turned into atoms, a crystal (periodic and bonded across
    its cell: the crystals domain reads those), or one that ``check`` rejects, is skipped and
    reported as ``"file.db row 7"`` (``"file.db row 7 (name)"``), as is a file that cannot be read
    past some row (``where``: the file). The rows are walked by :func:`graphdiff.asedb.iter_ase_rows`.

    Raises
    ------
    DataError
        For a missing file, or one that is not an ASE SQLite database (a graphdiff graph
        database is named as such); nothing is written to the file.
    """
    path = Path(path)
    label = path.name if label is None else label

    def check_row(atoms: Atoms, where: str) -> None:
        _refuse_crystal(atoms, where)
        if check is not None:
            check(atoms, where)

    def bad(where: str, reason: str) -> None:
        report_skip(skipped, where, reason, strict)

    for row in iter_ase_rows(path, label=str(path), names=("name",), check=check_row, bad=bad):
        atoms = row.atoms
        atoms.info.update(row.key_value_pairs)
        yield Record(id=row.name or f"{label} row {row.id}", obj=atoms, props=frame_props(atoms))


def read_records(path: str | Path, check: Callable[[Any, str], Any] | None, *,
                 strict: bool = False, skipped: list[dict[str, str]] | None = None,
                 ) -> Iterator[Record]:
    """Records of a molecule source, the reader chosen from the path: a folder
    (:func:`read_folder_records`), ``.sdf`` / ``.mol`` (:func:`graphdiff_molecules.sdf.read_sdf_records`),
    ``.db`` (:func:`read_ase_db_records`), anything else XYZ / extxyz (:func:`read_xyz_records`)."""
    path = Path(path)
    if path.is_dir():
        yield from read_folder_records(path, check, strict=strict, skipped=skipped)
    elif path.suffix.lower() in ASE_DB_SUFFIXES:
        yield from read_ase_db_records(path, check, strict=strict, skipped=skipped)
    else:
        yield from _read_file_records(path, check, strict=strict, skipped=skipped, label=None)


def _as_ase(obj: Any, where: str) -> Atoms:
    if isinstance(obj, Atoms):
        return obj.copy()
    symbols, pos = as_symbols_positions(obj, where)
    return Atoms(symbols=symbols, positions=pos, pbc=False)


def write_molecules(objs: list[Any], path: str | Path, *, props: list[dict[str, Any]] | None = None,
                    vacuum: float | None = 10.0, cell: Any = None, ids: list[str] | None = None,
                    extra: list[dict[str, Any]] | None = None, append: bool = False) -> None:
    """Write molecules to ``path``, in the format its name gives.

    Parameters
    ----------
    objs:
        ``ase.Atoms`` or pymatgen ``Molecule`` objects.
    path:
        ``*.extxyz`` (extended XYZ: frames with ``props`` in their info), ``*.xyz`` (plain XYZ
        frames; extended XYZ info lines when ``props``, ``ids`` or ``extra`` are given), ``*.sdf``
        (one block per molecule, bonds perceived from the geometry, see
        :func:`graphdiff_molecules.sdf.write_sdf`), ``POSCAR``/``CONTCAR``/``*.vasp``/
        ``*.poscar`` or ``*.cif`` (one molecule in a periodic box).
    props:
        One dict of scalar properties per molecule (extxyz and SDF only: another format raises).
    vacuum, cell:
        The box of POSCAR/CIF output, see
        :func:`graphdiff_molecules.periodic.molecule_to_structure`.
    ids, extra:
        The :meth:`graphdiff.domain.Domain.write` contract: a name and a dict of values per
        molecule, stored where the format allows (extxyz: the info line, ``id=...``; SDF: the
        molecule's name and data fields; the readers take the id back), else left out.
    append:
        Add frames (blocks) to an existing XYZ / extxyz / SDF file (POSCAR and CIF hold one
        molecule).

    Raises
    ------
    DataError
        For an unknown format, ``props``/``ids``/``extra`` of the wrong length, ``props`` with
        an XYZ/POSCAR/CIF file, several molecules (or ``append``) for POSCAR/CIF, or a box too
        small; naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    for what, values in (("property dicts", props), ("ids", ids), ("extra dicts", extra)):
        if values is not None and len(values) != len(objs):
            raise DataError(f"{path}: {len(values)} {what} for {len(objs)} molecules")
    if suffix in (".xyz", ".extxyz"):
        # .xyz: plain XYZ frames, unless there is something to store (ids, extra values,
        # properties): then the comment line is an extended-XYZ info line (still valid XYZ)
        extended = suffix == ".extxyz" or any(v is not None for v in (props, ids, extra))
        images = []
        for k, obj in enumerate(objs):
            atoms = _as_ase(obj, f"{path} molecule {k}")
            if extended:
                if ids is not None:
                    atoms.info["id"] = str(ids[k])
                if extra is not None:
                    atoms.info.update(extra[k])
                if props is not None:
                    atoms.info.update(props[k])
            images.append(atoms)
        fmt = "extxyz" if extended else "xyz"
        if append and path.exists():
            try:
                ase.io.write(path, images, format=fmt, append=True)
            except Exception as exc:  # noqa: BLE001 - ASE raises many types on unwritable info
                raise DataError(f"{path}: cannot append: {type(exc).__name__}: {exc}") from exc
            return
        tmp = path.with_name(path.name + ".tmp")
        try:
            ase.io.write(tmp, images, format=fmt)
        except Exception as exc:  # noqa: BLE001 - ASE raises many types on unwritable info
            tmp.unlink(missing_ok=True)
            raise DataError(f"{path}: cannot write: {type(exc).__name__}: {exc}") from exc
        os.replace(tmp, path)
        return
    if suffix == ".sdf":
        from graphdiff_molecules.sdf import write_sdf

        write_sdf(objs, path, props=props, ids=ids, extra=extra, append=append)
        return
    if path.name.upper() in _POSCAR_NAMES or suffix in _POSCAR_SUFFIXES or suffix == ".cif":
        if props is not None:
            raise DataError(f"{path}: POSCAR and CIF files hold no molecule properties; "
                            "write .extxyz to keep them")
        if len(objs) != 1 or (append and path.exists()):
            got = len(objs) + (1 if append and path.exists() else 0)
            raise DataError(f"{path}: a POSCAR or CIF file holds one molecule, got {got}; "
                            "write one file per molecule")
        from graphdiff_molecules.periodic import write_structure

        write_structure(objs[0], path, vacuum=vacuum, cell=cell)
        return
    raise DataError(f"{path}: unsupported molecule file; write .extxyz, .xyz, .sdf, POSCAR/.vasp or .cif")
