"""Reading crystal structures: CDVAE CSV, CIF, POSCAR, Structure JSON, extended XYZ, ASE databases,
folders.

:func:`read_records` yields :class:`graphdiff.domain.Record` items::

    {"id": "18517", "obj": Structure, "props": {"heat_all": 2.76, ...}, "source": "val.csv row 1 ..."}

Formats (chosen by suffix; a folder reads every file it recognises, in name order):

``.csv``
    CDVAE format: a ``cif`` column (one CIF block per cell), an optional ``material_id`` column
    (else the row number is the id), an unnamed leading index column (ignored), and other
    columns: numeric ones become ``props`` (an empty cell gives NaN), the others (``formula``,
    ``xrd``...) are not properties (named once in a warning) and are kept as strings in each
    record's ``text``; so is ``candidate_id`` (without a warning). Rows are counted from 1 (the
    first row after the header).
``.cif``
    One or more data blocks; the id is the file stem for a single block, else the block name,
    unless the block holds ``_graphdiff_material_id`` (graphdiff's writers put it there, with
    the other per-structure values as ``_graphdiff_<name>`` items, which become ``props`` when
    numeric and ``text`` otherwise; a generated candidate's block, which also holds
    ``_graphdiff_rank``, gives its name as ``text["candidate_id"]``). Blocks are counted from 1.
``.vasp``, ``.poscar``, ``POSCAR*``, ``CONTCAR*``
    One structure (VASP 5 format with element symbols); the id is the file name.
``.json``
    A pymatgen ``Structure.as_dict()``, a list of them, or documents with a ``structure`` key
    (the Materials Project API form, e.g. ``{"material_id": "mp-149", "structure": {...},
    "band_gap": 0.6}``; numeric top-level fields become props), optionally wrapped as
    ``{"data": [...]}``. Items are counted from 0.
``.extxyz``, ``.xyz``
    Extended XYZ via ASE; frames are counted from 0; numeric ``info`` entries and calculator
    results (``energy``) become props, ``info["material_id"]`` the id.
``.db``
    An ASE database (``ase.db``, SQLite), row by row (:mod:`graphdiff_crystals.asedb`): the id is
    the row's ``material_id`` (else ``name``, else the row id), numeric key-value pairs and the
    row's energy become props; a row that is not periodic with a cell (a molecule) is skipped.

Bad items are skipped and reported (``skipped`` list, or a :class:`CrystalReadWarning`); with
``strict=True`` the first raises :class:`~graphdiff.errors.DataError`. A source that cannot be
read at all (missing file, empty CSV, no ``cif`` column, invalid JSON) raises
:class:`~graphdiff.errors.DataError` when :func:`read_records` is called.

Writers live in :mod:`graphdiff_crystals.writers`; :func:`write_structures` is re-exported.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import warnings
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from pymatgen.core import Structure

from graphdiff.domain import Record
from graphdiff.errors import DataError

from graphdiff_crystals.parsing import (cif_values, parse_cif_block, parse_poscar, split_cif_blocks,
                                        structure_from_atoms, structure_from_dict)
from graphdiff_crystals.writers import write_structures

__all__ = ["read_records", "write_structures", "sample_path", "CrystalReadWarning", "format_of"]

Check = Callable[[Structure], "str | None"]


class CrystalReadWarning(UserWarning):
    """A reader skipped an item (when no ``skipped`` list was given) or ignored columns/files."""


class _StrictError(DataError):
    """Raised in strict mode; passes through the folder reader's per-file error handling."""


@dataclass
class _Context:
    strict: bool
    skipped: list[dict[str, str]] | None
    check: Check | None
    notes: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)

    def bad(self, where: str, reason: str) -> None:
        if self.strict:
            raise _StrictError(f"{where}: {reason}")
        if self.skipped is not None:
            self.skipped.append({"where": where, "reason": reason})
        else:
            warnings.warn(f"skipped {where}: {reason}", CrystalReadWarning, stacklevel=4)

    def record(self, where: str, rid: str, build: Callable[[], tuple[Structure, list[str]]],
               props: dict[str, float] | None = None, text: dict[str, str] | None = None) -> Record | None:
        """Build, check and wrap one structure; report it and return None when it is bad."""
        try:
            structure, notes = build()
            problem = self.check(structure) if self.check is not None else None
        except _StrictError:
            raise
        except DataError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - a reader must not die on one bad item
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            self.bad(where, problem)
            return None
        self.notes += [f"{where}: {n}" for n in notes]
        key = (text or {}).get("candidate_id") or rid  # candidates of one input share its id
        self.seen[key] = self.seen.get(key, 0) + 1
        rec = Record(id=rid, obj=structure, props=dict(props or {}), source=where)
        if text:
            rec["text"] = dict(text)
        return rec

    def finish(self, label: str) -> None:
        if self.notes:
            warnings.warn(f"{label}: {len(self.notes)} parser warning(s) on structures that were read; "
                          f"first: {self.notes[0]}", CrystalReadWarning, stacklevel=3)
        dup = sorted(k for k, v in self.seen.items() if v > 1)
        if dup:
            warnings.warn(f"{label}: {len(dup)} id(s) occur more than once, e.g. {dup[:5]}",
                          CrystalReadWarning, stacklevel=3)


def sample_path(dataset: str = "perov_5") -> Path:
    """Path of a bundled sample of a CDVAE benchmark (CSV in the CDVAE format).

    ``perov_5``: ``perov5_sample.csv``, 600 Perov-5 crystals, every 6th row of the CDVAE
    Perov-5 ``val.csv`` (MIT licence; Castelli et al. 2012), with the same columns:
    ``material_id, cif, formula, heat_all, heat_ref, dir_gap, ind_gap`` and the unnamed index
    column. ``carbon_24``: ``carbon24_sample.csv``, 200 Carbon-24 crystals (6–24 atoms), every
    10th row of the CDVAE Carbon-24 ``val.csv`` (Pickard 2020), columns ``material_id, cif,
    energy_per_atom``.
    """
    files_ = {"perov_5": "perov5_sample.csv", "carbon_24": "carbon24_sample.csv"}
    if dataset not in files_:
        raise ValueError(f"no bundled sample {dataset!r}; there are {', '.join(files_)}")
    with as_file(files("graphdiff_crystals") / "data" / files_[dataset]) as path:
        return Path(path)


def format_of(path: Path) -> str | None:
    """The reader format of a file: ``csv``, ``cif``, ``poscar``, ``json``, ``extxyz``, ``db`` or None."""
    suffix = path.suffix.lower()
    if suffix == ".db":
        return "db"
    if suffix in (".csv", ".cif", ".json"):
        return suffix[1:]
    if suffix in (".vasp", ".poscar") or path.name.startswith(("POSCAR", "CONTCAR")):
        return "poscar"
    if suffix in (".extxyz", ".xyz"):
        return "extxyz"
    return None


def read_records(path: str | Path, *, strict: bool = False, skipped: list[dict[str, str]] | None = None,
                 check: Check | None = None, cif_column: str = "cif",
                 id_column: str = "material_id") -> Iterator[Record]:
    """Records from a file or a folder (see the module docstring for the formats).

    Parameters
    ----------
    path:
        A file or a folder of files.
    strict:
        Raise :class:`DataError` on the first bad item instead of skipping it.
    skipped:
        List that receives ``{"where": ..., "reason": ...}`` per skipped item; when ``None``
        each skip is a :class:`CrystalReadWarning`.
    check:
        ``check(structure) -> problem or None``; a structure with a problem is skipped (the
        domain passes :meth:`CrystalDomain.structure_problem`).
    cif_column, id_column:
        CSV column names.

    Returns
    -------
    An iterator of records. Problems with the source itself raise here, before iteration.
    """
    path = Path(path)
    ctx = _Context(strict=strict, skipped=skipped, check=check)
    if path.is_dir():
        return _read_folder(path, ctx, cif_column, id_column)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    kind = format_of(path)
    if kind is None:
        raise DataError(f"{path}: unknown format {path.suffix or path.name!r}; the crystals domain reads "
                        ".csv, .cif, .vasp/.poscar/POSCAR/CONTCAR, .json, .extxyz/.xyz, .db (ASE) and folders of "
                        "them")
    items = _file_items(path, kind, path.name, ctx, cif_column, id_column)
    return _finishing(items, ctx, path.name)


def _finishing(items: Iterator[Record], ctx: _Context, label: str) -> Iterator[Record]:
    yield from items
    ctx.finish(label)


def _read_folder(folder: Path, ctx: _Context, cif_column: str, id_column: str) -> Iterator[Record]:
    ignored = []
    for f in sorted(folder.iterdir()):
        if f.name.startswith("."):
            continue
        kind = format_of(f) if f.is_file() else None
        if kind is None:
            ignored.append(f.name + ("/" if f.is_dir() else ""))
            continue
        label = f"{folder.name}/{f.name}"
        try:
            yield from _file_items(f, kind, label, ctx, cif_column, id_column)
        except _StrictError:
            raise
        except DataError as exc:
            ctx.bad(label, str(exc).removeprefix(f"{label}: "))
    if ignored:
        warnings.warn(f"{folder}: ignored {len(ignored)} entries of no known format: {ignored[:10]}",
                      CrystalReadWarning, stacklevel=2)
    ctx.finish(str(folder))


def _file_items(path: Path, kind: str, label: str, ctx: _Context, cif_column: str,
                id_column: str) -> Iterator[Record]:
    """Records of one file; raises DataError (naming ``label``) when the file is unusable."""
    if kind == "csv":
        return _csv_items(_load_csv(path, label, cif_column, id_column), label, ctx)
    if kind == "json":
        return _json_items(_load_json(path, label), label, ctx)
    if kind == "extxyz":
        return _extxyz_items(path, label, ctx)
    if kind == "db":
        from graphdiff_crystals.asedb import read_ase_database

        return read_ase_database(path, label, ctx.bad, ctx.record)
    text = _read_text(path, label)
    if kind == "poscar":
        return _yield_one(ctx.record(label, path.name, lambda: parse_poscar(text)))
    return _cif_items(text, path.stem, label, ctx)


def _yield_one(record: Record | None) -> Iterator[Record]:
    if record is not None:
        yield record


def _read_text(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{label}: cannot read: {exc}") from exc


def _cif_items(text: str, stem: str, label: str, ctx: _Context) -> Iterator[Record]:
    blocks = split_cif_blocks(text)
    if not blocks:
        ctx.bad(label, "no data_ block: not a CIF file")
        return
    for k, (name, block) in enumerate(blocks, start=1):
        if len(blocks) == 1:
            where, rid = label, stem
        else:
            where, rid = f"{label} block {k} (data_{name})", name or f"{stem}-{k}"
        given, props, texts = cif_values(block)
        if given is not None:  # the id graphdiff wrote; the block name is then the candidate's
            rid = given
            if name and "rank" in props:  # a generated candidate: its block is named by its candidate id
                texts.setdefault("candidate_id", name)
        rec = ctx.record(where, rid, lambda block=block: parse_cif_block(block), props, texts)
        if rec is not None:
            yield rec


# ---------------------------------------------------------------------- CSV
@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    cif: int
    ident: int | None
    props: list[tuple[str, int]]
    texts: list[tuple[str, int]] = field(default_factory=list)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: columns that are text by design (graphdiff's candidate ids), kept in ``text`` without a warning
_TEXT_COLUMNS = frozenset({"candidate_id"})


def _load_csv(path: Path, label: str, cif_column: str, id_column: str) -> _Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{label}: cannot read as CSV: {exc}") from exc
    if header is None:
        raise DataError(f"{label}: the CSV file is empty (no header, no rows; columns found: none)")
    header = [h.strip() for h in header]
    if cif_column not in header:
        raise DataError(f"{label}: no {cif_column!r} column; columns found: {header}")
    if not rows:
        raise DataError(f"{label}: the CSV file has a header but no rows; columns found: {header}")
    cif = header.index(cif_column)
    ident = header.index(id_column) if id_column in header else None
    props, ignored = [], []
    for i, name in enumerate(header):
        if i in (cif, ident) or name == "" or name.startswith("Unnamed:"):
            continue
        values = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
        if values and all(_is_number(v) for v in values) and name not in _TEXT_COLUMNS:
            props.append((name, i))
        else:
            ignored.append(name)
    texts = [(name, header.index(name)) for name in ignored]
    ignored = [name for name in ignored if name not in _TEXT_COLUMNS]
    if ignored:
        warnings.warn(f"{label}: ignoring non-numeric or empty column(s) {ignored} as properties; only "
                      "numeric columns become properties (the others are kept as text)",
                      CrystalReadWarning, stacklevel=4)
    return _Table(header, rows, cif, ident, props, texts)


def _csv_items(table: _Table, label: str, ctx: _Context) -> Iterator[Record]:
    width = len(table.header)
    for n, row in enumerate(table.rows, start=1):
        ident = row[table.ident].strip() if table.ident is not None and table.ident < len(row) else ""
        where = f"{label} row {n}" + (f" ({table.header[table.ident]} {ident})" if ident else "")
        if len(row) != width:
            ctx.bad(where, f"the row has {len(row)} fields but the header has {width}")
            continue
        text = row[table.cif]
        props = {name: float(row[i]) if row[i].strip() else math.nan for name, i in table.props}
        texts = {name: row[i].strip() for name, i in table.texts if row[i].strip()}
        rec = ctx.record(where, ident or str(n), lambda text=text: _one_cif(text), props, texts)
        if rec is not None:
            yield rec


def _one_cif(text: str) -> tuple[Structure, list[str]]:
    if not text.strip():
        raise DataError("the cif cell is empty")
    blocks = split_cif_blocks(text)
    if len(blocks) != 1:
        raise DataError(f"the cif cell holds {len(blocks)} data blocks, expected 1")
    return parse_cif_block(blocks[0][1])


# ---------------------------------------------------------------------- JSON
def _load_json(path: Path, label: str) -> list[Any]:
    try:
        doc = json.loads(_read_text(path, label))
    except json.JSONDecodeError as exc:
        raise DataError(f"{label}: invalid JSON: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("data"), list) and "lattice" not in doc:
        doc = doc["data"]
    if isinstance(doc, dict):
        if ("lattice" in doc and "sites" in doc) or "structure" in doc:
            return [doc]
        raise DataError(f"{label}: a JSON object that is neither a Structure dict ('lattice', 'sites') nor "
                        f"a document with a 'structure' key; keys found: {sorted(doc)[:12]}")
    if isinstance(doc, list):
        return doc
    raise DataError(f"{label}: expected a JSON object or list, got {type(doc).__name__}")


def _numeric(items: Any) -> dict[str, float]:
    """The real-valued scalar entries of a dict (Python or NumPy numbers; no booleans)."""
    if not isinstance(items, dict):
        return {}
    out = {}
    for key, value in items.items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            out[str(key)] = float(value)
    return out


def _json_items(items: list[Any], label: str, ctx: _Context) -> Iterator[Record]:
    for k, item in enumerate(items):
        if isinstance(item, dict) and "structure" in item:
            sd, props, mid = item["structure"], _numeric(item), item.get("material_id")
        else:
            sd = item
            props = _numeric(item.get("properties")) if isinstance(item, dict) else {}
            mid = item.get("properties", {}).get("material_id") if isinstance(item, dict) and \
                isinstance(item.get("properties"), dict) else None
        props.pop("material_id", None)
        where = f"{label} item {k}" + (f" (material_id {mid})" if mid is not None else "")
        rec = ctx.record(where, str(mid) if mid is not None else str(k),
                         lambda sd=sd: (structure_from_dict(sd), []), props, _candidate(item))
        if rec is not None:
            yield rec


def _candidate(values: Any) -> dict[str, str] | None:
    """``{"candidate_id": ...}`` when a JSON document or an extxyz frame's info holds one."""
    cid = values.get("candidate_id") if isinstance(values, dict) else None
    return {"candidate_id": str(cid)} if cid is not None else None


# ---------------------------------------------------------------------- extended XYZ
def _extxyz_items(path: Path, label: str, ctx: _Context) -> Iterator[Record]:
    try:
        from ase.io import iread
    except ImportError as exc:  # pragma: no cover - ase is a dependency
        raise DataError(f"{label}: reading extended XYZ needs the 'ase' package") from exc
    frames = iread(str(path), index=":", format="extxyz")
    k = 0
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - the file cannot be read past this frame
            ctx.bad(f"{label} frame {k}", f"unreadable from this frame on ({type(exc).__name__}: {exc})")
            return
        props = _numeric(dict(atoms.info))
        if atoms.calc is not None:
            props.update(_numeric(atoms.calc.results))
        mid = atoms.info.get("material_id")
        props.pop("material_id", None)
        where = f"{label} frame {k}" + (f" (material_id {mid})" if mid is not None else "")
        rec = ctx.record(where, str(mid) if mid is not None else str(k),
                         lambda atoms=atoms: (structure_from_atoms(atoms), []), props, _candidate(atoms.info))
        if rec is not None:
            yield rec
        k += 1
