"""SDF / MOL files: reading block by block (with skip reports) and writing with perceived bonds.

Reading
-------
The file is split into blocks at the ``$$$$`` lines here, and each block is parsed on its own
by RDKit (``SDMolSupplier``, ``sanitize=False``, ``removeHs=False``: the atoms as written,
explicit hydrogens kept, no valence check), so a block RDKit cannot parse is skipped and reported
as ``"file.sdf block 3 (line 40)"`` (blocks count from 0, lines from 1) with RDKit's reason,
and the blocks around it are kept. A molecule without 3D coordinates (no conformer, or a 2D
depiction: every z is 0 and the header line does not say ``3D``) is reported too, as is one the
domain's ``check`` refuses. A ``.mol`` file is read the same way (normally one block).

Writing
-------
:func:`write_sdf` writes one block per molecule: atoms and positions (4 decimals, the molfile
format), the id as the molecule's name (first line), properties and extra values as data
fields, and bonds perceived from the geometry by RDKit: ``DetermineConnectivity`` (covalent
radii), then ``DetermineBondOrders`` with total charge 0. The data field ``bond_orders`` says
what the bonds are:

``determined``
    Connectivity and bond orders (aromatic rings written in Kekulé form).
``connectivity-only``
    Bond orders could not be assigned (a radical, a charged or a non-chemical geometry...):
    every bond perceived is written as single.
``none``
    Even connectivity failed: the atoms are written without bonds.

The reason of a failure is in the data field ``bond_orders_reason``. No molecule is left out.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from ase import Atoms

from graphdiff.domain import Record, report_skip
from graphdiff.errors import DataError
from graphdiff_molecules.domain import as_symbols_positions

__all__ = ["SDF_SUFFIXES", "iter_sdf_blocks", "parse_sdf_block", "read_sdf_records", "sdf_props",
           "perceive_bonds", "molecule_block", "write_sdf"]

#: File suffixes read as SDF / MOL (lower case).
SDF_SUFFIXES = (".sdf", ".mol")

#: Data field written by :func:`write_sdf` saying how bonds were made.
BOND_ORDERS_FIELD = "bond_orders"

_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")
_LINE = re.compile(r"on line ?(\d+)")


class _Errors:
    """RDKit's error messages captured so far (timestamps and "moving to the next molecule"
    lines removed)."""

    def __init__(self, capture: Any) -> None:
        self._capture = capture

    def __call__(self) -> list[str]:
        text = (self._capture.messages or "") if self._capture is not None else ""
        out = []
        for line in text.splitlines():
            line = _TIMESTAMP.sub("", line).strip()
            if line and "moving to the beginning of the next molecule" not in line:
                out.append(line)
        return out


@contextlib.contextmanager
def _rdkit_errors() -> Iterator[_Errors]:
    """Silence RDKit's log; yield a callable giving the error messages logged so far."""
    from rdkit import rdBase

    capture_cls = getattr(rdBase, "CaptureErrorLog", None)  # recent RDKit only
    with rdBase.BlockLogs():
        if capture_cls is None:  # pragma: no cover - older RDKit: no reason text
            yield _Errors(None)
            return
        with capture_cls() as capture:
            yield _Errors(capture)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path}: is a folder, not an SDF/MOL file") from exc
    if b"\x00" in data:
        raise DataError(f"{path}: not an SDF/MOL text file (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older SDF files: names and fields in Latin-1


def iter_sdf_blocks(path: str | Path) -> Iterator[tuple[int, int, str]]:
    """Yield ``(block, line, text)`` for each block of an SDF / MOL file.

    ``block`` counts from 0, ``line`` (the block's first line) from 1; ``text`` ends with the
    ``$$$$`` line (added when the last block has none). Text after the last ``$$$$`` that is
    only blank lines is not a block.

    Raises
    ------
    DataError
        When the file is missing, a folder or binary.
    """
    path = Path(path)
    lines = _read_text(path).splitlines(keepends=True)
    block, start, current = 0, 0, []
    for i, line in enumerate(lines):
        current.append(line if line.endswith(("\n", "\r")) else line + "\n")
        if line.strip() == "$$$$":
            yield block, start + 1, "".join(current)
            block, start, current = block + 1, i + 1, []
    if any(line.strip() for line in current):
        yield block, start + 1, "".join(current) + "$$$$\n"


def parse_sdf_block(text: str, where: str, line: int = 1) -> Any:
    """One block as an RDKit ``Mol`` (unsanitised, hydrogens kept, data fields as properties).

    ``line`` is the block's first line in its file: RDKit's line numbers (counted within the
    block) are translated to file lines in the message.

    Raises
    ------
    DataError
        ``"where: RDKit cannot parse the block (...)"`` with RDKit's reason.
    """
    from rdkit import Chem

    mol, error = None, None
    with _rdkit_errors() as errors:
        try:
            supplier = Chem.SDMolSupplier()
            supplier.SetData(text, sanitize=False, removeHs=False, strictParsing=True)
            mol = supplier[0]
        except Exception as exc:  # noqa: BLE001 - RDKit raises RuntimeError, IndexError, ...
            error = f"{type(exc).__name__}: {exc}"
        messages = errors()
    if mol is None:
        reasons = [_LINE.sub(lambda m: f"on line {int(m.group(1)) + line - 1}", msg) for msg in messages]
        if error:
            reasons.append(error)
        if not text.replace("$$$$", "").strip():
            reasons.insert(0, "empty block")
        reason = "; ".join(reasons) or "no reason given by RDKit"
        raise DataError(f"{where}: RDKit cannot parse the block ({reason})")
    return mol


def sdf_props(mol: Any) -> dict[str, float]:
    """The numeric data fields of a molecule read from an SDF (finite floats; text fields and
    RDKit's private properties such as ``_Name`` are left out)."""
    props: dict[str, float] = {}
    for key in mol.GetPropNames(includePrivate=False, includeComputed=False):
        try:
            value = float(str(mol.GetProp(key)).strip())
        except ValueError:
            continue
        if math.isfinite(value):
            props[str(key)] = value
    return props


def _name(mol: Any) -> str:
    return mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""


def read_sdf_records(path: str | Path, check: Callable[[Any, str], Any] | None, *,
                     strict: bool = False, skipped: list[dict[str, str]] | None = None,
                     label: str | None = None) -> Iterator[Record]:
    """Records of the blocks of an SDF / MOL file, following the ``Domain.read`` contract.

    Parameters
    ----------
    path:
        The file.
    check:
        ``check(mol, where)`` raising :class:`DataError` for a molecule to skip (or ``None``);
        it gets the RDKit ``Mol``.
    strict, skipped:
        See :meth:`graphdiff.domain.Domain.read`. A skipped block is reported as
        ``"path block 3 (line 40)"``.
    label:
        How ids name the file (default its name): ``"label block 3"`` for a block without a
        name.

    Records hold ``id`` (the molecule's name, the block's first line, when it has one, else
    ``"file.sdf block 3"``), ``obj`` (``ase.Atoms`` at the conformer's positions, the numeric
    data fields in its ``info``) and ``props`` (the numeric data fields).
    """
    path = Path(path)
    label = path.name if label is None else label
    for block, line, text in iter_sdf_blocks(path):
        where = f"{path} block {block} (line {line})"
        try:
            mol = parse_sdf_block(text, where, line)
            name = _name(mol)
            if name:
                where = f"{where} ({name})"
            symbols, pos = as_symbols_positions(mol, where)
            if check is not None:
                check(mol, where)
            try:
                atoms = Atoms(symbols=symbols, positions=pos, pbc=False)
            except (KeyError, ValueError) as exc:
                raise DataError(f"{where}: cannot make ase.Atoms: {type(exc).__name__}: {exc} "
                                f"(elements {sorted(set(symbols))})") from None
        except DataError as exc:
            report_skip(skipped, where, str(exc), strict)
            continue
        props = sdf_props(mol)
        atoms.info.update(props)
        yield Record(id=name or f"{label} block {block}", obj=atoms, props=props)


# ---------------------------------------------------------------------------- writing
def _rdkit_molecule(symbols: list[str], pos: np.ndarray, where: str) -> Any:
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.RWMol()
    for i, symbol in enumerate(symbols):
        try:
            atom = Chem.Atom(symbol) if symbol != "X" else Chem.Atom(0)
        except RuntimeError as exc:
            raise DataError(f"{where}: atom {i}: {symbol!r} is not an element RDKit knows") from exc
        atom.SetNoImplicit(True)  # the atoms given are all there is: no implicit hydrogens
        mol.AddAtom(atom)
    conf = Chem.Conformer(len(symbols))
    for i, p in enumerate(pos):
        conf.SetAtomPosition(i, Point3D(float(p[0]), float(p[1]), float(p[2])))
    conf.Set3D(True)
    mol.AddConformer(conf, assignId=True)
    return mol


def _reason(exc: Exception, messages: list[str]) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    extra = [m for m in messages if m not in text]
    return "; ".join([text, *extra])[:500]


def perceive_bonds(symbols: list[str], positions: Any, where: str = "molecule") -> tuple[Any, str, str]:
    """An RDKit molecule of ``symbols`` at ``positions`` (Å) with bonds perceived from the
    geometry.

    Returns
    -------
    mol, status, reason:
        ``status`` is ``"determined"`` (``DetermineConnectivity`` then ``DetermineBondOrders``
        with charge 0), ``"connectivity-only"`` (bond orders failed: the connectivity's single
        bonds) or ``"none"`` (connectivity failed: no bonds); ``reason`` says why a step
        failed (``""`` when none did).
    """
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    bare = _rdkit_molecule(list(symbols), pos, where)
    connected = Chem.RWMol(bare)
    with _rdkit_errors() as errors:
        try:
            rdDetermineBonds.DetermineConnectivity(connected)
        except Exception as exc:  # noqa: BLE001 - RDKit raises ValueError, RuntimeError, ...
            return bare, "none", f"connectivity failed: {_reason(exc, errors())}"
    ordered = Chem.RWMol(connected)
    with _rdkit_errors() as errors:
        try:
            rdDetermineBonds.DetermineBondOrders(ordered, charge=0)
        except Exception as exc:  # noqa: BLE001
            return connected, "connectivity-only", f"bond orders failed: {_reason(exc, errors())}"
    return ordered, "determined", ""


def _field_value(value: Any, where: str, key: str) -> str:
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real):
        text = repr(float(value))
    elif isinstance(value, str):
        text = value
    elif getattr(value, "shape", None) == () and hasattr(value, "item"):
        return _field_value(value.item(), where, key)
    else:
        try:
            text = json.dumps(value.tolist() if hasattr(value, "tolist") else value)
        except (TypeError, ValueError):
            text = str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = text.split("\n")
    if any(not ln.strip() for ln in lines) and text:
        raise DataError(f"{where}: data field {key!r}: a value with a blank line cannot be stored in "
                        "an SDF (a blank line ends the field)")
    if any(ln.strip() == "$$$$" for ln in lines):
        raise DataError(f"{where}: data field {key!r}: a value line '$$$$' would end the SDF block")
    return text


def molecule_block(obj: Any, where: str, *, name: str | None = None,
                   fields: dict[str, Any] | None = None) -> str:
    """The SDF block (ending with ``$$$$``) of one molecule: bonds from :func:`perceive_bonds`,
    ``name`` on the first line, ``fields`` then ``bond_orders`` (and ``bond_orders_reason``)
    as data fields.

    Raises
    ------
    DataError
        For an object that is not a molecule, non-finite positions, coordinates the fixed-width
        molfile format cannot hold (``|x| >= 1e5`` Å), or an unstorable field.
    """
    from rdkit import Chem

    symbols, pos = as_symbols_positions(obj, where)
    if not np.isfinite(pos).all():
        i = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
        raise DataError(f"{where}: atom {i} has a non-finite position {pos[i].tolist()}; an SDF "
                        "cannot hold it")
    if pos.size and np.abs(pos).max() >= 1e5:
        raise DataError(f"{where}: coordinates of {np.abs(pos).max():.4g} Å do not fit the SDF "
                        "molfile's fixed-width columns (< 1e5 Å)")
    mol, status, reason = perceive_bonds(symbols, pos, where)
    title = (name or "").replace("\r", " ").replace("\n", " ").strip()
    mol.SetProp("_Name", title[:80])
    with _rdkit_errors() as errors:
        try:
            molblock = Chem.MolToMolBlock(mol, kekulize=True)
        except Exception:  # noqa: BLE001 - Kekulé form not found: aromatic bond types (4)
            try:
                molblock = Chem.MolToMolBlock(mol, kekulize=False)
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"{where}: RDKit cannot write the molecule: "
                                f"{_reason(exc, errors())}") from exc
    fields = dict(fields or {})
    fields[BOND_ORDERS_FIELD] = status
    if reason:
        fields[BOND_ORDERS_FIELD + "_reason"] = reason
    else:
        fields.pop(BOND_ORDERS_FIELD + "_reason", None)
    parts = [molblock if molblock.endswith("\n") else molblock + "\n"]
    for key, value in fields.items():
        key = str(key)
        if not key.strip() or any(c in key for c in "<>\n\r"):
            raise DataError(f"{where}: {key!r} cannot name an SDF data field (empty, or has '<', "
                            "'>' or a line break)")
        parts.append(f">  <{key}>\n{_field_value(value, where, key)}\n\n")
    parts.append("$$$$\n")
    return "".join(parts)


def write_sdf(objs: list[Any], path: str | Path, *, props: list[dict[str, Any]] | None = None,
              ids: list[str] | None = None, extra: list[dict[str, Any]] | None = None,
              append: bool = False) -> None:
    """Write molecules to an SDF file, one block per molecule (see :func:`molecule_block`).

    ``props[k]`` and ``extra[k]`` become data fields of block ``k`` (``bond_orders``, written
    last, is this writer's), ``ids[k]`` its name. ``append=True`` adds blocks to an existing
    file. The file is written whole or not at all (a temporary file, then a rename; with
    ``append``, the blocks are made before the file is opened).

    Raises
    ------
    DataError
        See :func:`molecule_block`; the message names the file and the molecule.
    """
    path = Path(path)
    blocks = []
    for k, obj in enumerate(objs):
        where = f"{path} molecule {k}"
        fields: dict[str, Any] = {}
        if props is not None:
            fields.update(props[k] or {})
        if extra is not None:
            fields.update(extra[k] or {})
        blocks.append(molecule_block(obj, where, name=None if ids is None else str(ids[k]),
                                     fields=fields))
    text = "".join(blocks)
    if append and path.exists():
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{path}: cannot write: {exc}") from exc
    os.replace(tmp, path)
