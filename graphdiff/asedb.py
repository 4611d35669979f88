"""Reading ASE databases (``ase.db``'s SQLite files, ``.db``) row by row, for any domain.

What every domain reading an ASE database needs, and no domain knowledge: refuse a file that is
not an ASE database before ASE opens it (ASE would add its tables to any SQLite file, a graphdiff
graph database included), open it read-only in spirit (no lock file), walk its rows in row-id
order, make each row's ``ase.Atoms`` and let the domain check it; a row that fails is reported as
``"file.db row 7"`` (``"file.db row 7 (name)"`` when the row names itself) with the reason, and
reading goes on. The domains decide which rows are theirs (a crystal: periodic with a cell; a
molecule: not bonded across a cell) and what a row's values mean.

ASE is imported inside the functions: ``import graphdiff`` and the CLI's start-up do not import it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from graphdiff.errors import DataError

__all__ = ["AseRow", "check_ase_database", "connect_ase_database", "iter_ase_rows"]


@dataclass
class AseRow:
    """One readable row of an ASE database.

    Attributes
    ----------
    id:
        The row's id in the database (counts from 1).
    name:
        The row's own name: the first non-empty value of the ``names`` keys asked for, among its
        key-value pairs, then in ``row.data`` (``None`` when there is none).
    where:
        ``"label row 7"`` or ``"label row 7 (name)"``: how errors and skip reports name the row.
    atoms:
        ``row.toatoms()`` (its calculator holds the row's energy, forces... when stored).
    key_value_pairs, data:
        The row's key-value pairs and ``row.data`` (copies).
    row:
        ASE's row itself.
    """

    id: int
    name: str | None
    where: str
    atoms: Any
    key_value_pairs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    row: Any = None


def check_ase_database(path: str | Path, label: str | None = None) -> None:
    """Refuse, before ASE opens it (and would add its tables to it), a file that is not an ASE
    SQLite database; a graphdiff graph database (``graphdiff db build``) is named as such.

    Raises
    ------
    DataError
        ``"label: not an ASE database (...)"``, naming what the file is instead (``label``:
        default the path).
    """
    path = Path(path)
    label = str(path) if label is None else label
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{label}: cannot open as an SQLite database: {exc}") from exc
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{label}: not an ASE database (not an SQLite file: {exc})") from exc
    finally:
        con.close()
    if "systems" not in tables:
        hint = ("it is a graphdiff graph database (graphdiff db build): use it as data.source or with "
                "graphdiff db export" if {"graphs", "meta"} <= tables
                else "an ASE database is written with ase.db.connect(path).write(atoms)")
        raise DataError(f"{label}: not an ASE database (no 'systems' table; tables: {sorted(tables) or 'none'}); "
                        f"{hint}")


def connect_ase_database(path: str | Path, label: str | None = None) -> Any:
    """The ASE database at ``path`` (``ase.db``'s SQLite backend, no lock file), after
    :func:`check_ase_database`; nothing is written to the file.

    Raises
    ------
    DataError
        For a missing file, a folder, a file that is not an ASE database or one ASE cannot
        open, naming ``label`` (default the path).
    """
    path = Path(path)
    label = str(path) if label is None else label
    if not path.exists():
        raise DataError(f"{label}: no such file")
    if path.is_dir():
        raise DataError(f"{label}: is a folder, not an ASE database file")
    check_ase_database(path, label)
    import ase.db

    try:
        return ase.db.connect(str(path), type="db", use_lock_file=False, append=True)
    except Exception as exc:  # noqa: BLE001 - ASE raises OSError, sqlite3 errors, ...
        raise DataError(f"{label}: cannot read the ASE database: {type(exc).__name__}: {exc}") from exc


def _row_name(kvp: dict[str, Any], data: dict[str, Any], names: Sequence[str]) -> str | None:
    for key in names:
        for value in (kvp.get(key), data.get(key)):
            text = "" if value is None else str(value).strip()
            if text:
                return text
    return None


def iter_ase_rows(path: str | Path, *, label: str | None = None, names: Sequence[str] = ("name",),
                  check: Callable[[Any, str], Any] | None = None,
                  bad: Callable[[str, str], None] | None = None) -> Iterator[AseRow]:
    """The rows of an ASE database that make ``ase.Atoms`` and pass ``check``, in row-id order.

    Parameters
    ----------
    path:
        The ``.db`` file.
    label:
        How messages name the file (default the path): a row is ``"label row 7"``, or
        ``"label row 7 (name)"`` when it names itself.
    names:
        The keys that name a row (looked for among its key-value pairs, then in ``row.data``).
    check:
        ``check(atoms, where)`` raising :class:`DataError` for a row to skip (``where`` names
        the row; the message may start with it).
    bad:
        ``bad(where, reason)`` reports a row that is skipped (``reason`` without the ``where``
        prefix); a file that cannot be read past some row is reported once as
        ``bad(label, "unreadable from this row on (...)")`` and reading stops. Without ``bad``
        the first bad row raises :class:`DataError` (``"where: reason"``).

    Raises
    ------
    DataError
        For a missing file, a folder, a file that is not an ASE database (see
        :func:`check_ase_database`; nothing is written to it), or one ASE cannot read.
    """
    path = Path(path)
    label = str(path) if label is None else label

    def report(where: str, reason: str) -> None:
        reason = reason.removeprefix(f"{where}: ")
        if bad is None:
            raise DataError(f"{where}: {reason}")
        bad(where, reason)

    db = connect_ase_database(path, label)
    try:
        rows = db.select(sort="id")
    except Exception as exc:  # noqa: BLE001 - ASE raises OSError, sqlite3 errors, ...
        raise DataError(f"{label}: cannot read the ASE database: {type(exc).__name__}: {exc}") from exc
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - the file cannot be read past this row
            report(label, f"unreadable from this row on ({type(exc).__name__}: {exc})")
            return
        kvp = dict(getattr(row, "key_value_pairs", {}) or {})
        data = dict(getattr(row, "data", {}) or {})
        name = _row_name(kvp, data, names)
        where = f"{label} row {row.id}" + (f" ({name})" if name else "")
        problem = None
        try:
            atoms = row.toatoms()
        except Exception as exc:  # noqa: BLE001 - reported for this row
            problem = f"cannot make ase.Atoms: {type(exc).__name__}: {exc}"
        else:
            if check is not None:
                try:
                    check(atoms, where)
                except DataError as exc:
                    problem = str(exc)
        if problem is not None:
            report(where, problem)
            continue
        yield AseRow(id=int(row.id), name=name, where=where, atoms=atoms, key_value_pairs=kvp, data=data, row=row)
