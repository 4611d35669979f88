"""QM9 from the ``qm9pack`` wheel: records, EDM's train/valid/test split, extxyz export.

Data
----
``qm9pack`` (PyPI, MIT, R. Ramakrishnan, one of QM9's authors) ships QM9 inside its wheel as
CSV files (``qm9pack/data/qm9_part{1,2,3}.csv`` and ``qm9_polarizability.csv``). They are read
here through :mod:`importlib.resources`, without importing ``qm9pack`` itself (its
``__init__`` needs ``pkg_resources``, which recent setuptools no longer has, and pandas) and
without any download. The CSVs hold the 130,831 molecules of QM9's 133,885 that remain after
removing the 3,054 "uncharacterized" ones (QM9's ``uncharacterized.txt``: geometries whose
SMILES changed during the DFT relaxation); the missing indices are exactly that list (checked
against the published file: same count, same first and last entries).

Records
-------
:func:`read_qm9` yields :class:`graphdiff.domain.Record` items in QM9 order: ``id`` is the QM9
name (``"dsgdb9nsd_000001"``), ``obj`` an ``ase.Atoms`` (Å, as in QM9), ``props`` every
scalar property under its QM9 / EDM name, in QM9's own units:

==========  ======================================  =========
prop        qm9pack column                          unit
==========  ======================================  =========
A, B, C     RotA_GHz, RotB_GHz, RotC_GHz            GHz
mu          Dipole_debye                            D
alpha       Polarizability_bohr3                    bohr³
homo, lumo  HOMO_au, LUMO_au                        Hartree
gap         HOMO_LUMO_gap_au                        Hartree
r2          R2_bohr2                                bohr²
zpve        ZPVE_au                                 Hartree
U0, U       InternalEnergy_0K_au, _298K_au          Hartree
H, G        Enthalphy_298K_au, GibbsFreeEnergy_...  Hartree
Cv          Heatcapacity_Cv_cal_mol_K               cal/(mol K)
omega1      max of Harmonic_Freq_cmi (as EDM)       cm⁻¹
alpha_xx…   A_xx, A_xy, A_yy, A_xz, A_yz, A_zz      bohr³
==========  ======================================  =========

Records also carry ``smiles`` and ``inchi`` (QM9's strings, not props). A row that cannot be
parsed (bad coordinates, an atom count that disagrees, a non-numeric property, no
polarizability row) or that the domain's check rejects is skipped and reported, following the
:meth:`graphdiff.domain.Domain.read` contract (``"qm9_part1.csv row 17 (dsgdb9nsd_000016)"``).

Split (EDM)
-----------
:func:`qm9_split` reproduces ``gen_splits_gdb9`` of EDM's ``qm9/data/prepare/qm9.py``
(``ehoogeboom/e3_diffusion_for_molecules``, inherited from Cormorant): the included molecules
are the 0-based indices ``range(133885)`` minus the uncharacterized ones, sorted;
``Nmols = 130831``, ``Ntrain = 100000``, ``Ntest = int(0.1 * Nmols) = 13083``,
``Nvalid = Nmols - Ntrain - Ntest = 17748``; ``np.random.seed(0); perm =
np.random.permutation(Nmols)`` (here ``np.random.RandomState(seed).permutation``, the same
stream); ``train, valid, test = np.split(perm, [Ntrain, Ntrain + Nvalid])`` mapped through the
included indices. EDM's ``process_xyz_files`` then keeps the files of each split in archive
order, so each split lists its molecules by ascending QM9 index, as here. (EDM takes the
``k``-th member of the QM9 tarball as molecule ``k + 1``, which holds for the published
archive, whose members are in index order.)

Command line
------------
``python -m graphdiff_molecules.qm9 OUT_DIR [--max N] [--seed S] [--splits train,valid,test]``
writes ``OUT_DIR/qm9_<split>.extxyz`` (each frame's info line holds ``id``, ``smiles`` and the
props above; the molecules domain reads them back with the QM9 names as ids) and
``OUT_DIR/qm9_splits.json`` (the rule, the counts, the ids of every split, the skip report).

The molecules domain also reads ``qm9://train``, ``qm9://valid``, ``qm9://test`` and
``qm9://all`` (``qm9://train?seed=1`` for another permutation) directly, so a run config can
say ``data.train_source = "qm9://train"`` and ``graphdiff convert qm9://test test.extxyz``
works.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.resources
import importlib.util
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from ase import Atoms

from graphdiff.domain import Record, report_skip
from graphdiff.errors import DataError

__all__ = [
    "QM9_TOTAL", "QM9_UNCHARACTERIZED", "QM9_COUNT", "EDM_SPLIT_SIZES", "PROPERTY_COLUMNS",
    "POLARIZABILITY_COLUMNS", "SPLITS", "qm9_files", "qm9_indices", "qm9_id", "qm9_split",
    "read_qm9", "parse_qm9_source", "write_qm9_splits", "main",
]

#: Molecules in QM9 (GDB9) and the "uncharacterized" ones EDM removes.
QM9_TOTAL, QM9_UNCHARACTERIZED = 133885, 3054
#: Molecules qm9pack ships (and EDM splits).
QM9_COUNT = QM9_TOTAL - QM9_UNCHARACTERIZED
#: EDM's split sizes.
EDM_SPLIT_SIZES = {"train": 100000, "valid": QM9_COUNT - 100000 - int(0.1 * QM9_COUNT),
                   "test": int(0.1 * QM9_COUNT)}
SPLITS = ("train", "valid", "test")

#: qm9pack column -> prop name (QM9 / EDM names; QM9 units, see the module docstring).
PROPERTY_COLUMNS: dict[str, str] = {
    "RotA_GHz": "A", "RotB_GHz": "B", "RotC_GHz": "C", "Dipole_debye": "mu",
    "Polarizability_bohr3": "alpha", "HOMO_au": "homo", "LUMO_au": "lumo",
    "HOMO_LUMO_gap_au": "gap", "R2_bohr2": "r2", "ZPVE_au": "zpve",
    "InternalEnergy_0K_au": "U0", "InternalEnergy_298K_au": "U", "Enthalphy_298K_au": "H",
    "GibbsFreeEnergy_298K_au": "G", "Heatcapacity_Cv_cal_mol_K": "Cv",
}
#: qm9pack polarizability column -> prop name (bohr³).
POLARIZABILITY_COLUMNS: dict[str, str] = {
    "A_xx": "alpha_xx", "A_xy": "alpha_xy", "A_yy": "alpha_yy", "A_xz": "alpha_xz",
    "A_yz": "alpha_yz", "A_zz": "alpha_zz",
}
_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_POLAR = "qm9_polarizability.csv"
_NAME = re.compile(r"^dsgdb9nsd_(\d+)(?:\.xyz)?$")


# ---------------------------------------------------------------------------- files
def _data_dir() -> Any:
    """qm9pack's ``data`` folder as an importlib.resources ``Traversable`` (no import of qm9pack)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None:
        raise DataError("QM9 needs the qm9pack package (it ships the data set): pip install qm9pack")
    module = importlib.util.module_from_spec(spec)  # not executed: only its resources are read
    return importlib.resources.files(module) / "data"


def qm9_files() -> tuple[list[Any], Any]:
    """qm9pack's molecule CSVs (in QM9 order) and its polarizability CSV."""
    root = _data_dir()
    parts = [root / name for name in _PARTS]
    missing = [p.name for p in [*parts, root / _POLAR] if not p.is_file()]
    if missing:
        raise DataError(f"qm9pack is installed but lacks {', '.join(missing)} in its data folder; "
                        "reinstall it (pip install --force-reinstall qm9pack)")
    return parts, root / _POLAR


def qm9_id(index: int) -> str:
    """QM9's name of molecule ``index`` (1-based): ``dsgdb9nsd_000001``."""
    return f"dsgdb9nsd_{int(index):06d}"


def _index_of(name: str) -> int | None:
    m = _NAME.match(name.strip())
    return int(m.group(1)) if m else None


@functools.lru_cache(maxsize=1)
def qm9_indices() -> tuple[int, ...]:
    """The 1-based QM9 indices qm9pack ships, ascending (130,831 of 1..133,885)."""
    parts, _ = qm9_files()
    out: list[int] = []
    for part in parts:
        with part.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            head = next(reader)
            col = head.index("Index")
            out.extend(int(row[col]) for row in reader if row)
    return tuple(sorted(out))


@functools.lru_cache(maxsize=4)
def _split_indices(seed: int) -> dict[str, tuple[int, ...]]:
    included = np.asarray(qm9_indices(), dtype=np.int64) - 1  # EDM: 0-based, sorted
    n = len(included)
    if n != QM9_COUNT:
        raise DataError(f"qm9pack holds {n} molecules, EDM's split needs the {QM9_COUNT} "
                        f"characterized molecules of QM9")
    n_train, n_test = EDM_SPLIT_SIZES["train"], EDM_SPLIT_SIZES["test"]
    n_valid = n - (n_train + n_test)
    perm = np.random.RandomState(seed).permutation(n)  # = np.random.seed(seed); np.random.permutation(n)
    train, valid, test, extra = np.split(perm, [n_train, n_train + n_valid, n_train + n_valid + n_test])
    assert len(extra) == 0
    # EDM keeps each split's files in archive (= index) order: sort
    return {name: tuple(int(i) + 1 for i in np.sort(included[part]))
            for name, part in (("train", train), ("valid", valid), ("test", test))}


def qm9_split(seed: int = 0) -> dict[str, list[str]]:
    """EDM's QM9 split: ``{"train": [ids], "valid": [ids], "test": [ids]}``.

    100,000 / 17,748 / 13,083 molecules, ids like ``"dsgdb9nsd_000001"``, each list in
    ascending QM9 order; ``seed=0`` is EDM's (see the module docstring for the rule).
    """
    return {name: [qm9_id(i) for i in idx] for name, idx in _split_indices(int(seed)).items()}


# ---------------------------------------------------------------------------- parsing
def _numbers(text: str, what: str) -> list[float]:
    """Floats of a bracketed list (``"[[0.5,0.,1.],...]"``: QM9 writes ``0.`` and ``1.``)."""
    try:
        return [float(x) for x in text.replace("[", " ").replace("]", " ").split(",") if x.strip()]
    except ValueError as exc:
        raise DataError(f"{what}: not a list of numbers ({exc})") from None


def _elements(text: str) -> list[str]:
    return [e.strip().strip("'\"") for e in text.strip().strip("[]").split(",") if e.strip()]


def _read_polarizability(path: Any) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    with path.open("r", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            name = (row.get("XYZ_file") or "").strip()
            try:
                table[name] = {prop: float(row[col]) for col, prop in POLARIZABILITY_COLUMNS.items()}
            except (KeyError, TypeError, ValueError):
                continue  # reported when the molecule is read (no polarizability row)
    return table


def _record(row: dict[str, str], polar: dict[str, dict[str, float]] | None, where: str) -> Record:
    name = (row.get("XYZ_file") or "").strip()
    index = _index_of(name)
    if index is None:
        raise DataError(f"{where}: XYZ_file {name!r} is not a QM9 name (dsgdb9nsd_NNNNNN.xyz)")
    try:
        if int(row["Index"]) != index:
            raise DataError(f"{where}: Index {row['Index']} disagrees with XYZ_file {name!r}")
        n_atoms = int(row["N_atoms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: bad Index / N_atoms ({type(exc).__name__}: {exc})") from None
    symbols = _elements(row.get("Elements") or "")
    coords = _numbers(row.get("XYZ_Ang") or "", "XYZ_Ang")
    if len(coords) != 3 * len(symbols) or len(symbols) != n_atoms:
        raise DataError(f"{where}: {len(symbols)} elements, {len(coords)} coordinates and "
                        f"N_atoms = {n_atoms} disagree")
    props: dict[str, float] = {}
    for col, prop in PROPERTY_COLUMNS.items():
        try:
            value = float(row[col])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: {col} = {row.get(col)!r} is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: {col} = {value} is not finite")
        props[prop] = value
    freqs = _numbers(row.get("Harmonic_Freq_cmi") or "", "Harmonic_Freq_cmi")
    if not freqs:
        raise DataError(f"{where}: no harmonic frequencies (omega1)")
    props["omega1"] = max(freqs)  # EDM's process_xyz_gdb9
    if polar is not None:
        if name not in polar:
            raise DataError(f"{where}: no row in {_POLAR}")
        props.update(polar[name])
    try:
        atoms = Atoms(symbols=symbols, positions=np.asarray(coords, dtype=np.float64).reshape(-1, 3),
                      pbc=False)
    except (KeyError, ValueError) as exc:
        raise DataError(f"{where}: bad elements {symbols}: {exc}") from None
    return Record(id=qm9_id(index), obj=atoms, props=props, smiles=row.get("SMILES"),
                  inchi=row.get("InChi"))


def read_qm9(split: str = "all", *, seed: int = 0, ids: Iterable[str] | None = None,
             max_items: int | None = None, strict: bool = False,
             skipped: list[dict[str, str]] | None = None,
             check: Callable[[Any, str], Any] | None = None,
             files: Sequence[str | Path] | None = None,
             polarizability: str | Path | None | bool = True) -> Iterator[Record]:
    """Yield QM9 records (``id``, ``obj`` = ``ase.Atoms``, ``props``, ``smiles``, ``inchi``).

    Parameters
    ----------
    split:
        ``"train"``, ``"valid"``, ``"test"`` (EDM's split, see :func:`qm9_split`) or ``"all"``.
    seed:
        Seed of the split's permutation (0: EDM's).
    ids:
        Only these QM9 names (``"dsgdb9nsd_000001"``), after ``split``.
    max_items:
        Stop after this many records.
    strict, skipped:
        The :meth:`graphdiff.domain.Domain.read` contract: a bad row is appended to ``skipped``
        (warned about when ``None``), or raises :class:`DataError` with ``strict=True``.
    check:
        ``check(atoms, where)`` raising :class:`DataError` to reject a molecule (the domain's
        :meth:`~graphdiff_molecules.MoleculeDomain.check`).
    files, polarizability:
        Other CSV files in qm9pack's layout (tests); ``polarizability=False`` leaves the
        ``alpha_xx``… props out. Default: the files of the qm9pack wheel.

    Records come in QM9 order; molecules of the split are read, the other rows only scanned.
    """
    if split not in (*SPLITS, "all"):
        raise DataError(f"unknown QM9 split {split!r}; choose train, valid, test or all")
    if files is None:
        parts, polar_path = qm9_files()
    else:
        parts, polar_path = [Path(f) for f in files], None
    if polarizability is not True and polarizability is not False and polarizability is not None:
        polar_path = Path(polarizability)
    polar = _read_polarizability(polar_path) if polarizability is not False and polar_path else None
    wanted: set[int] | None = None
    if split != "all":
        wanted = set(_split_indices(int(seed))[split])
    if ids is not None:
        chosen = set()
        for name in ids:
            idx = _index_of(str(name))
            if idx is None:
                raise DataError(f"{name!r} is not a QM9 id (dsgdb9nsd_NNNNNN)")
            chosen.add(idx)
        wanted = chosen if wanted is None else wanted & chosen
    # qm9pack's rows are in ascending index order: stop past the last one wanted
    last = max(wanted) if wanted and files is None else None
    count = 0
    for part in parts:
        label = Path(str(part)).name
        with part.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for rownum, row in enumerate(reader, start=2):  # line 1 is the header
                if max_items is not None and count >= max_items:
                    return
                name = (row.get("XYZ_file") or "").strip()
                index = _index_of(name)
                if last is not None and index is not None and index > last:
                    return
                if wanted is not None and index is not None and index not in wanted:
                    continue
                where = f"{label} row {rownum}" + (f" ({name.removesuffix('.xyz')})" if name else "")
                try:
                    record = _record(row, polar, where)
                    if check is not None:
                        check(record["obj"], where)
                except DataError as exc:
                    report_skip(skipped, where, str(exc), strict)
                    continue
                count += 1
                yield record


_SOURCE = re.compile(r"^qm9:/{1,2}(?P<split>[A-Za-z]+)/?(?:\?(?P<query>.*))?$")


def parse_qm9_source(source: str | Path) -> dict[str, Any] | None:
    """``{"split": ..., "seed": ...}`` for a ``qm9://SPLIT[?seed=N]`` source, else ``None``.

    A ``Path`` collapses ``//`` (``Path("qm9://train")`` prints ``qm9:/train``): both spellings
    are accepted.
    """
    m = _SOURCE.match(str(source))
    if not m:
        return None
    split = m.group("split").lower()
    if split not in (*SPLITS, "all"):
        raise DataError(f"{source}: unknown QM9 split {split!r}; use qm9://train, qm9://valid, "
                        "qm9://test or qm9://all")
    seed = 0
    for item in filter(None, (m.group("query") or "").split("&")):
        key, _, value = item.partition("=")
        if key != "seed":
            raise DataError(f"{source}: unknown option {key!r} (only seed=N)")
        try:
            seed = int(value)
        except ValueError:
            raise DataError(f"{source}: seed must be an integer, got {value!r}") from None
    return {"split": split, "seed": seed}


# ---------------------------------------------------------------------------- export
def write_qm9_splits(out_dir: str | Path, *, max_items: int | None = None, seed: int = 0,
                     splits: Sequence[str] = SPLITS, check: Callable[[Any, str], Any] | None = None,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``qm9_<split>.extxyz`` for each split (at most ``max_items`` molecules each) and
    ``qm9_splits.json``; return the manifest written there."""
    from graphdiff_molecules.io import write_molecules

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = qm9_split(seed)
    manifest: dict[str, Any] = {
        "source": "qm9pack (QM9, 130831 characterized molecules)",
        "split_rule": "EDM qm9/data/prepare/qm9.py gen_splits_gdb9: np.random.seed(seed); "
                      "permutation of the 130831 characterized molecules; 100000 train, "
                      "int(0.1 * 130831) = 13083 test, the remaining 17748 valid",
        "seed": seed, "sizes": {k: len(v) for k, v in ids.items()}, "max_items": max_items,
        "files": {}, "written": {}, "skipped": {},
    }
    for split in splits:
        if split not in SPLITS:
            raise DataError(f"unknown QM9 split {split!r}; choose from {', '.join(SPLITS)}")
        skipped: list[dict[str, str]] = []
        objs, props = [], []
        for rec in read_qm9(split, seed=seed, max_items=max_items, skipped=skipped, check=check):
            objs.append(rec["obj"])
            props.append({"id": rec["id"], "smiles": rec.get("smiles") or "", **rec["props"]})
        path = out / f"qm9_{split}.extxyz"
        write_molecules(objs, path, props=props)
        manifest["files"][split] = path.name
        manifest["written"][split] = len(objs)
        manifest["skipped"][split] = skipped
        if progress:
            progress(f"wrote {len(objs)} molecules to {path}"
                     + (f" ({len(skipped)} skipped)" if skipped else ""))
    manifest["ids"] = ids
    (out / "qm9_splits.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graphdiff_molecules.qm9",
        description="Write QM9 (from the qm9pack wheel) as EDM's train/valid/test split: "
                    "OUT_DIR/qm9_<split>.extxyz and OUT_DIR/qm9_splits.json.")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    parser.add_argument("--max", dest="max_items", type=int, default=None,
                        help="at most N molecules per split (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0, EDM's)")
    parser.add_argument("--splits", default=",".join(SPLITS),
                        help="comma-separated splits to write (default train,valid,test)")
    args = parser.parse_args(argv)
    if args.max_items is not None and args.max_items < 1:
        parser.error("--max must be at least 1")
    from graphdiff_molecules.domain import MoleculeDomain

    try:
        manifest = write_qm9_splits(args.out_dir, max_items=args.max_items, seed=args.seed,
                                    splits=[s.strip() for s in args.splits.split(",") if s.strip()],
                                    check=MoleculeDomain().check, progress=print)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir / 'qm9_splits.json'} (split sizes {manifest['sizes']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
