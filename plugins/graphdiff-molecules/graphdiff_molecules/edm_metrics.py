"""De novo generation (DNG) metrics for molecules, following EDM's evaluation code.

Source: EDM, "Equivariant Diffusion for Molecule Generation in 3D" (Hoogeboom, Satorras, Vignac,
Welling 2022), repository ``ehoogeboom/e3_diffusion_for_molecules``, the code behind the QM9
tables of EDM, GeoLDM and later papers. ``graphdiff evaluate --domain molecules --task dng``
calls :func:`dng_metric`.

Which EDM function each piece follows
-------------------------------------
- **bond order** (:func:`get_bond_order`) = ``qm9/bond_analyze.py::get_bond_order``: the distance
  in pm (``100 * d`` Å) is single-bonded below ``bonds1[a][b] + margin1``; among those, double
  below ``bonds2[a][b] + margin2`` where ``bonds2`` lists the pair; among those, triple below
  ``bonds3[a][b] + margin3`` where ``bonds3`` lists the pair. Tables :data:`BONDS1`,
  :data:`BONDS2`, :data:`BONDS3` and margins ``margin1, margin2, margin3 = 10, 5, 3`` (pm) are
  EDM's, transcribed as data.
- **atom and molecule stability** (:func:`check_stability`) = ``qm9/analyze.py::check_stability``
  (QM9 branch: ``get_bond_order`` on every pair ``i < j``): an atom is stable when the sum of
  the orders of its bonds equals ``allowed_bonds[element]`` (:data:`ALLOWED_BONDS`; a list means
  any of its values); a molecule is stable when all its atoms are. Set level =
  ``analyze_stability_for_molecules``: ``mol_stable`` = stable molecules / molecules,
  ``atm_stable`` = stable atoms / atoms (all atoms of all molecules pooled).
- **RDKit molecule** (:func:`build_molecule`) = ``qm9/rdkit_functions.py::build_molecule`` +
  ``build_xae_molecule``: one RDKit atom per atom, one bond of the same order (single, double,
  triple) per pair with order > 0; no charges, no implicit-hydrogen settings (RDKit's defaults).
- **validity** = ``BasicMolecularMetrics.compute_validity``: ``mol2smiles`` (``Chem.SanitizeMol``;
  a ``ValueError`` means invalid) and, for a valid molecule, the SMILES of its largest fragment
  (``Chem.rdmolops.GetMolFrags(asMols=True)``, the first of the largest by number of atoms) —
  validity = valid / generated.
- **uniqueness** = ``compute_uniqueness``: distinct SMILES among the valid ones / valid.
- **novelty** = ``compute_novelty``: unique SMILES not among the training SMILES / unique. The
  training SMILES are EDM's ``compute_qm9_smiles``: ``mol2smiles(build_molecule(...))`` of each
  training molecule — the SMILES of the *whole* molecule (not its largest fragment), training
  molecules RDKit rejects left out.
- As EDM's ``evaluate``: when nothing is valid, uniqueness and novelty are 0.

Deviations (each small, all stated)
-----------------------------------
- Distances are computed in float64 with NumPy; EDM uses float32 torch tensors (``torch.cdist``
  in ``build_xae_molecule``, float32 NumPy in ``check_stability``). The two agree except for a
  distance within ~1e-5 Å of a threshold.
- EDM raises ``KeyError`` for an element pair missing from ``bonds1`` or an element missing from
  ``allowed_bonds`` (QM9 never has one). Here such a pair has no bond (as EDM's
  ``check_exists=True``) and such an atom is unstable, and ``notes`` says so.
- Without training molecules novelty is ``None`` (EDM prints nothing and returns 0.0).
- With no generated molecule the fractions are ``None`` (EDM divides by zero).
- EDM's ``bonds2`` lists C=S (160 pm) under ``"C"`` but not under ``"S"``, so its
  ``get_bond_order("S", "C", d)`` never gives a double bond, and ``check_stability`` (pair in
  atom order) and ``build_xae_molecule`` (pair sorted by the dataset's atom decoder) can
  disagree on a C–S pair. Here both use the atom-order rule of ``check_stability``. QM9
  (H, C, N, O, F) has no such pair.
- Sanitisation errors other than ``ValueError`` (none are known) also count as invalid instead
  of stopping the evaluation.

Added (not in EDM's numbers)
----------------------------
- ``valid_and_unique`` = validity × uniqueness (EDM's paper table reports "Valid and Unique").
- ``reference``: the same stability and validity numbers on the reference molecules (EDM's
  "Data" row: 99.0 % atom / 95.2 % molecule stability on QM9 with hydrogens).
- ``per_item``: one row per generated molecule (stability, the unstable atoms and why, validity,
  SMILES, fragments, whether unique and novel).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from graphdiff.progress import track
from graphdiff_molecules.domain import as_symbols_positions

__all__ = [
    "BONDS1", "BONDS2", "BONDS3", "MARGIN1", "MARGIN2", "MARGIN3", "ALLOWED_BONDS",
    "get_bond_order", "bond_orders", "check_stability", "build_molecule", "mol2smiles",
    "valid_smiles", "molecule_smiles", "dng_metric",
]

# ---------------------------------------------------------------------------------------------
# Data transcribed from EDM, qm9/bond_analyze.py (ehoogeboom/e3_diffusion_for_molecules, commit
# d28fd52). EDM's own source for the lengths: wiredchemist.com bond_energies_lengths and
# chemistry-reference.com "Bond Lengths and Enthalpies". Typical bond lengths in pm.
# ---------------------------------------------------------------------------------------------
#: Single bonds (pm).
BONDS1: dict[str, dict[str, int]] = {
    "H": {"H": 74, "C": 109, "N": 101, "O": 96, "F": 92, "B": 119, "Si": 148, "P": 144,
          "As": 152, "S": 134, "Cl": 127, "Br": 141, "I": 161},
    "C": {"H": 109, "C": 154, "N": 147, "O": 143, "F": 135, "Si": 185, "P": 184, "S": 182,
          "Cl": 177, "Br": 194, "I": 214},
    "N": {"H": 101, "C": 147, "N": 145, "O": 140, "F": 136, "Cl": 175, "Br": 214, "S": 168,
          "I": 222, "P": 177},
    "O": {"H": 96, "C": 143, "N": 140, "O": 148, "F": 142, "Br": 172, "S": 151, "P": 163,
          "Si": 163, "Cl": 164, "I": 194},
    "F": {"H": 92, "C": 135, "N": 136, "O": 142, "F": 142, "S": 158, "Si": 160, "Cl": 166,
          "Br": 178, "P": 156, "I": 187},
    "B": {"H": 119, "Cl": 175},
    "Si": {"Si": 233, "H": 148, "C": 185, "O": 163, "S": 200, "F": 160, "Cl": 202, "Br": 215,
           "I": 243},
    "Cl": {"Cl": 199, "H": 127, "C": 177, "N": 175, "O": 164, "P": 203, "S": 207, "B": 175,
           "Si": 202, "F": 166, "Br": 214},
    "S": {"H": 134, "C": 182, "N": 168, "O": 151, "S": 204, "F": 158, "Cl": 207, "Br": 225,
          "Si": 200, "P": 210, "I": 234},
    "Br": {"Br": 228, "H": 141, "C": 194, "O": 172, "N": 214, "Si": 215, "S": 225, "F": 178,
           "Cl": 214, "P": 222},
    "P": {"P": 221, "H": 144, "C": 184, "O": 163, "Cl": 203, "S": 210, "F": 156, "N": 177,
          "Br": 222},
    "I": {"H": 161, "C": 214, "Si": 243, "N": 222, "O": 194, "S": 234, "F": 187, "I": 266},
    "As": {"H": 152},
}
#: Double bonds (pm).
BONDS2: dict[str, dict[str, int]] = {
    "C": {"C": 134, "N": 129, "O": 120, "S": 160},
    "N": {"C": 129, "N": 125, "O": 121},
    "O": {"C": 120, "N": 121, "O": 121, "P": 150},
    "P": {"O": 150, "S": 186},
    "S": {"P": 186},
}
#: Triple bonds (pm).
BONDS3: dict[str, dict[str, int]] = {
    "C": {"C": 120, "N": 116, "O": 113},
    "N": {"C": 116, "N": 110},
    "O": {"C": 113},
}
#: EDM's margins (pm), "tuned to maximize the stability of the QM9 true samples".
MARGIN1, MARGIN2, MARGIN3 = 10, 5, 3
#: Valencies an atom must have to be stable (a list: any of them).
ALLOWED_BONDS: dict[str, int | list[int]] = {
    "H": 1, "C": 4, "N": 3, "O": 2, "F": 1, "B": 3, "Al": 3, "Si": 4, "P": [3, 5], "S": 4,
    "Cl": 1, "As": 3, "Br": 1, "I": 1, "Hg": [1, 2], "Bi": [3, 5],
}


def get_bond_order(atom1: str, atom2: str, distance: float, check_exists: bool = False) -> int:
    """Bond order (0-3) of two elements ``distance`` Å apart, as EDM's ``get_bond_order``.

    With ``check_exists`` a pair missing from :data:`BONDS1` has no bond (0); without it such a
    pair raises ``KeyError``, as in EDM.
    """
    distance = 100 * distance  # Å -> pm
    if check_exists and (atom1 not in BONDS1 or atom2 not in BONDS1[atom1]):
        return 0
    if distance < BONDS1[atom1][atom2] + MARGIN1:
        if atom1 in BONDS2 and atom2 in BONDS2[atom1]:
            if distance < BONDS2[atom1][atom2] + MARGIN2:
                if atom1 in BONDS3 and atom2 in BONDS3[atom1]:
                    if distance < BONDS3[atom1][atom2] + MARGIN3:
                        return 3
                return 2
        return 1
    return 0


def _thresholds(symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[n, n]`` thresholds (pm) of single, double and triple bonds (``-inf``: never)."""
    n = len(symbols)
    t1, t2, t3 = (np.full((n, n), -np.inf) for _ in range(3))
    for i, a in enumerate(symbols):
        for j, b in enumerate(symbols):
            if a in BONDS1 and b in BONDS1[a]:
                t1[i, j] = BONDS1[a][b] + MARGIN1
            if a in BONDS2 and b in BONDS2[a]:
                t2[i, j] = BONDS2[a][b] + MARGIN2
            if a in BONDS3 and b in BONDS3[a]:
                t3[i, j] = BONDS3[a][b] + MARGIN3
    return t1, t2, t3


def bond_orders(symbols: Sequence[str], positions: np.ndarray) -> np.ndarray:
    """``int [n, n]`` symmetric matrix of EDM bond orders (0 on the diagonal).

    The vectorised :func:`get_bond_order` (with ``check_exists=True``) over every pair ``i < j``
    called as ``get_bond_order(symbols[i], symbols[j], d)`` (EDM's ``check_stability``); a
    double (triple) bond needs the pair in ``bonds2`` (``bonds3``) and the distance under both
    the single and the double (and triple) thresholds, exactly as EDM's nested tests.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    n = len(symbols)
    if n == 0:
        return np.zeros((0, 0), dtype=np.int64)
    d = 100 * np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    t1, t2, t3 = _thresholds(symbols)
    single = d < t1
    double = single & (d < t2)
    triple = double & (d < t3)
    order = np.triu(single.astype(np.int64) + double + triple, k=1)  # pairs i < j, as EDM
    return order + order.T


def _allowed(symbol: str) -> list[int] | None:
    allowed = ALLOWED_BONDS.get(symbol)
    if allowed is None:
        return None
    return [allowed] if isinstance(allowed, int) else list(allowed)


def check_stability(symbols: Sequence[str], positions: np.ndarray,
                    orders: np.ndarray | None = None) -> dict[str, Any]:
    """EDM's ``check_stability`` for one molecule.

    Returns
    -------
    ``{"mol_stable": bool, "stable_atoms": int, "num_atoms": int, "valencies": [int],
    "unstable": ["C3: 5 bonds, allowed 4", ...]}``
    """
    orders = bond_orders(symbols, positions) if orders is None else orders
    valencies = orders.sum(axis=1).astype(int).tolist() if len(symbols) else []
    stable, unstable = 0, []
    for i, (s, v) in enumerate(zip(symbols, valencies)):
        allowed = _allowed(s)
        if allowed is not None and v in allowed:
            stable += 1
        else:
            want = ("no valency known" if allowed is None else
                    "allowed " + " or ".join(map(str, allowed)))
            unstable.append(f"{s}{i}: {v} bond{'s' if v != 1 else ''}, {want}")
    return {"mol_stable": stable == len(symbols), "stable_atoms": stable,
            "num_atoms": len(symbols), "valencies": valencies, "unstable": unstable}


# ---------------------------------------------------------------------------------- RDKit
def _rdkit() -> Any:
    try:
        from rdkit import Chem
    except ImportError as exc:  # pragma: no cover - rdkit is a dependency of the plugin
        raise ImportError("the molecules DNG metrics need RDKit: pip install rdkit") from exc
    return Chem


def build_molecule(symbols: Sequence[str], orders: np.ndarray) -> Any:
    """EDM's ``build_molecule``: an RDKit ``RWMol`` with one bond per pair of order > 0."""
    Chem = _rdkit()
    bond_type = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for s in symbols:
        mol.AddAtom(Chem.Atom(s))
    n = len(symbols)
    for i in range(n):
        for j in range(i):  # EDM: for i, for j < i, bond (i, j)
            if orders[i, j] > 0:
                mol.AddBond(i, j, bond_type[int(orders[i, j])])
    return mol


def mol2smiles(mol: Any) -> str | None:
    """EDM's ``mol2smiles``: sanitise in place; ``None`` when RDKit rejects the molecule."""
    Chem = _rdkit()
    from rdkit.rdBase import BlockLogs

    with BlockLogs():  # sanitisation errors are reported per molecule, not logged
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # noqa: BLE001 - EDM catches ValueError (MolSanitizeException's base)
            return None
        return Chem.MolToSmiles(mol)


def valid_smiles(symbols: Sequence[str], orders: np.ndarray) -> tuple[str | None, int]:
    """EDM's ``compute_validity`` for one molecule: the SMILES of the largest fragment of the
    sanitised molecule (``None`` when invalid) and its number of fragments (0 when invalid)."""
    Chem = _rdkit()
    mol = build_molecule(symbols, orders)
    smiles = mol2smiles(mol)
    if smiles is None:
        return None, 0
    frags = Chem.rdmolops.GetMolFrags(mol, asMols=True)
    largest = max(frags, default=mol, key=lambda m: m.GetNumAtoms())
    return mol2smiles(largest), len(frags)


def molecule_smiles(obj: Any) -> str | None:
    """EDM's training SMILES of one molecule (``compute_qm9_smiles``): the whole molecule's
    SMILES, or ``None`` when RDKit rejects it."""
    symbols, pos = as_symbols_positions(obj, "molecule")
    return mol2smiles(build_molecule(symbols, bond_orders(symbols, pos)))


# ---------------------------------------------------------------------------------- metric
def _records(items: Iterable[Any] | None) -> list[tuple[str, Any]]:
    out = []
    for k, item in enumerate(items or []):
        if isinstance(item, dict) and "obj" in item:
            out.append((str(item.get("id", k)), item["obj"]))
        else:
            out.append((str(k), item))
    return out


def _frac(num: int, den: int) -> float | None:
    return num / den if den else None


def _analyse(items: list[tuple[str, Any]], notes: set[str], progress: bool = False,
             desc: str = "molecules-dng: generated") -> list[dict[str, Any]]:
    rows = []
    for rid, obj in track(items, desc=desc, unit="molecule", enabled=progress):
        row: dict[str, Any] = {"id": rid}
        try:
            symbols, pos = as_symbols_positions(obj, f"molecule {rid}")
        except Exception as exc:  # noqa: BLE001 - an unreadable object is an invalid molecule
            row.update(num_atoms=0, stable_atoms=0, mol_stable=False, valid=False, smiles=None,
                       num_fragments=0, unstable=[], error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            continue
        missing = sorted({s for s in symbols if s not in BONDS1} |
                         {s for s in symbols if s not in ALLOWED_BONDS})
        if missing:
            notes.add(f"elements without EDM bond lengths or valencies ({', '.join(missing)}): "
                      "their pairs count as unbonded and their atoms as unstable")
        if not np.isfinite(pos).all():
            row.update(num_atoms=len(symbols), stable_atoms=0, mol_stable=False, valid=False,
                       smiles=None, num_fragments=0, unstable=[], error="non-finite positions")
            rows.append(row)
            continue
        orders = bond_orders(symbols, pos)
        st = check_stability(symbols, pos, orders)
        smiles, nfrag = valid_smiles(symbols, orders)
        row.update(num_atoms=st["num_atoms"], stable_atoms=st["stable_atoms"],
                   mol_stable=st["mol_stable"], unstable=st["unstable"], valid=smiles is not None,
                   smiles=smiles, num_fragments=nfrag)
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    atoms = sum(r["num_atoms"] for r in rows)
    return {
        "num_molecules": len(rows),
        "atom_stability": _frac(sum(r["stable_atoms"] for r in rows), atoms),
        "mol_stability": _frac(sum(bool(r["mol_stable"]) for r in rows), len(rows)),
        "validity": _frac(sum(bool(r["valid"]) for r in rows), len(rows)),
    }


def per_item_checks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-molecule values stored beside generated molecules, from :func:`dng_metric`'s
    ``per_item`` rows: ``atom_stable_fraction``, ``mol_stable``, ``valid`` and ``smiles``
    (``""`` when invalid)."""
    return [{"atom_stable_fraction": r["stable_atoms"] / r["num_atoms"] if r["num_atoms"] else 0.0,
             "mol_stable": bool(r["mol_stable"]), "valid": bool(r["valid"]),
             "smiles": r["smiles"] or ""} for r in rows]


def dng_metric(generated: Sequence[Any], references: Sequence[Any] | None = None,
               train: Sequence[Any] | None = None, k: Any = None, *,
               score_references: bool = True, progress: bool = False, **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --domain molecules --task dng``: EDM's molecule metrics.

    Parameters
    ----------
    generated:
        Records (``{"id", "obj"}``, ``obj`` an ``ase.Atoms`` or pymatgen ``Molecule``) or bare
        molecules: the samples to score.
    references:
        Reference molecules (e.g. the QM9 test split). EDM's metrics do not use them; with
        ``score_references`` their stability and validity are reported under ``reference``
        (EDM's "Data" row) for comparison.
    train:
        Training molecules: their SMILES are the novelty set (``None``: novelty is ``None``).
    k:
        Ignored (no candidates per input in de novo generation).
    progress:
        Show bars on stderr over the generated molecules, the training molecules (SMILES) and
        the references.

    Returns
    -------
    ``{"task": "dng", "protocol", "num_generated", "atom_stability", "mol_stability",
    "validity", "uniqueness", "valid_and_unique", "novelty", "num_valid", "num_unique",
    "num_novel", "num_train_smiles", "reference", "notes", "per_item"}``; fractions in [0, 1].
    """
    notes: set[str] = set()
    rows = _analyse(_records(generated), notes, progress)
    n = len(rows)
    valid = [r["smiles"] for r in rows if r["valid"]]
    unique = list(dict.fromkeys(valid))  # EDM: set(valid); order kept for the per-item flags
    train_smiles: set[str] | None = None
    train_rejected = 0
    if train is not None:
        train_smiles = set()
        for _, obj in track(_records(train), desc="molecules-dng: training SMILES", unit="molecule",
                            enabled=progress):
            try:
                smi = molecule_smiles(obj)
            except Exception:  # noqa: BLE001 - an unreadable training item gives no SMILES
                smi = None
            if smi is None:
                train_rejected += 1
            else:
                train_smiles.add(smi)
        if train_rejected:
            notes.add(f"{train_rejected} training molecule(s) RDKit rejects give no SMILES "
                      "(left out of the novelty set, as EDM's compute_qm9_smiles)")
    seen: set[str] = set()
    for r in rows:
        r["unique"] = bool(r["valid"] and r["smiles"] not in seen)
        if r["valid"]:
            seen.add(r["smiles"])
        r["novel"] = (None if train_smiles is None or not r["valid"]
                      else r["smiles"] not in train_smiles)
    novel = [s for s in unique if train_smiles is not None and s not in train_smiles]
    summary = _summary(rows)
    validity = summary["validity"]
    if n and not valid:  # EDM's evaluate: nothing valid -> uniqueness = novelty = 0
        uniqueness: float | None = 0.0
        novelty: float | None = 0.0 if train_smiles is not None else None
    else:
        uniqueness = _frac(len(unique), len(valid))
        novelty = _frac(len(novel), len(unique)) if train_smiles is not None else None
    result: dict[str, Any] = {
        "task": "dng",
        "protocol": "EDM (qm9/analyze.py, qm9/bond_analyze.py, qm9/rdkit_functions.py)",
        "num_generated": n,
        "atom_stability": summary["atom_stability"],
        "mol_stability": summary["mol_stability"],
        "validity": validity,
        "uniqueness": uniqueness,
        "valid_and_unique": (validity * uniqueness if validity is not None
                             and uniqueness is not None else None),
        "novelty": novelty,
        "num_valid": len(valid),
        "num_unique": len(unique),
        "num_novel": len(novel) if train_smiles is not None else None,
        "num_train_smiles": len(train_smiles) if train_smiles is not None else None,
    }
    if score_references and references is not None:
        ref_rows = _analyse(_records(references), notes, progress, desc="molecules-dng: references")
        result["reference"] = _summary(ref_rows)
    if train_smiles is None:
        notes.add("no training molecules given: novelty is None")
    result["notes"] = sorted(notes)
    result["per_item"] = rows
    return result
