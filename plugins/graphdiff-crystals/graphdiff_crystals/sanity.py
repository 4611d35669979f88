"""Physical sanity of generated crystals: short contacts, space groups and CHGNet energies.

``graphdiff evaluate --task dng`` and ``--task csp`` report the first two beside the CDVAE
metrics (keys ``short_contacts`` and ``space_groups``); ``energy=True`` (Python API) adds
``chgnet_energy``. The metrics ``crystals-sanity`` (``--task sanity``: all three, energy off
unless ``energy=True``) and ``crystals-energy`` (``--task energy``) report them on their own.

Short contacts
--------------
For every element pair ``A-B`` (symbols sorted, ``"C-C"``, ``"Cl-Na"``) the **reference
minimum** is the shortest ``A``–``B`` distance in any reference structure, under periodic
boundaries (minimum image, pymatgen ``Structure.distance_matrix``), an atom and its own periodic
images included (the shortest lattice vector, for ``A-A``). A structure has a **short contact**
when some pair ``A-B`` of it is closer than

- the reference minimum of ``A-B`` minus :data:`CONTACT_TOLERANCE` (0.1 Å), where the references
  hold that pair;
- otherwise :data:`COVALENT_FACTOR` (0.7) times the sum of the covalent radii of ``A`` and ``B``
  (Cordero et al. 2008, pymatgen's ``CovalentRadius``; 1.02 Å for C–C, 1.88 Å for Na–Cl): lenient,
  as the sum of covalent radii is a typical bond length, so a pair the references never show is
  only flagged when it is clearly too close;
- :data:`FALLBACK_DISTANCE` (0.5 Å, the structural-validity cut-off) for an element without a
  covalent radius.

A structure whose distances cannot be computed (a non-finite or degenerate cell) counts as *not*
short-contact free and is counted in ``num_unassessed``.

Space groups
------------
spglib through pymatgen's ``SpacegroupAnalyzer`` at ``symprec`` :data:`SYMPREC` (0.1 Å, the value
commonly used for generated crystals) and ``angle_tolerance`` :data:`ANGLE_TOLERANCE` (5°), for the
generated and the reference structures: the fraction in P1 (space group 1), the commonest space
groups of each, and the total variation distance ``½ Σ_g |p_gen(g) − p_ref(g)|`` between the two
distributions over space-group numbers (0: the same, 1: disjoint). Structures spglib cannot
analyse are counted in ``num_failed`` and left out of the fractions.

CHGNet energies
---------------
With ``energy=True``: CHGNet energies per atom of the structures as they are, generated against
at most 200 references (:mod:`graphdiff_crystals.sanity_energy`).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from typing import Any, Sequence

import numpy as np

from graphdiff.progress import track
from graphdiff_crystals.sanity_energy import ENERGY_MAX_REFERENCES

__all__ = [
    "CONTACT_TOLERANCE", "COVALENT_FACTOR", "FALLBACK_DISTANCE", "SYMPREC", "ANGLE_TOLERANCE",
    "ENERGY_MAX_REFERENCES", "pair_key", "pair_minima", "reference_pair_minima", "contact_threshold",
    "short_contacts", "space_group", "space_group_summary", "sanity_report", "sanity_metric",
]

#: Å subtracted from a pair's reference minimum before a distance counts as a short contact.
CONTACT_TOLERANCE = 0.1
#: Pairs absent from the references: short below this times the sum of the covalent radii.
COVALENT_FACTOR = 0.7
#: Å, for an element without a covalent radius (the structural-validity cut-off of CDVAE).
FALLBACK_DISTANCE = 0.5
#: spglib distance tolerance (Å) for the space groups.
SYMPREC = 0.1
#: spglib angle tolerance (degrees).
ANGLE_TOLERANCE = 5.0
#: How many of the commonest space groups are listed.
TOP_SPACE_GROUPS = 5


# ---------------------------------------------------------------------------- short contacts
def pair_key(a: str, b: str) -> str:
    """``"A-B"`` with the two element symbols sorted (``pair_key("Na", "Cl") == "Cl-Na"``)."""
    return "-".join(sorted((a, b)))


def _symbols(structure: Any) -> list[str]:
    out = []
    for i, site in enumerate(structure):
        if not site.is_ordered:
            raise ValueError(f"site {i} is disordered ({site.species}); short contacts need one element per site")
        sp = site.specie
        out.append(getattr(sp, "symbol", None) or getattr(getattr(sp, "element", None), "symbol", str(sp)))
    return out


def _shortest_lattice_vector(matrix: np.ndarray) -> float:
    """Length (Å) of the shortest non-zero lattice vector: the distance from an atom to its own
    nearest periodic image (searched over ``{-1, 0, 1}³`` combinations of the LLL-reduced cell)."""
    from pymatgen.core import Lattice

    lll = Lattice(matrix).lll_matrix
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)])
    return float(np.linalg.norm(shifts @ lll, axis=1).min())


def pair_minima(structure: Any) -> dict[str, float]:
    """The shortest distance (Å) of each element pair of ``structure`` under periodic boundaries
    (minimum image; an atom and its own images count for ``A-A``): ``{"C-C": 1.54}``.

    Raises
    ------
    ValueError
        A non-finite or degenerate cell, or a disordered site.
    """
    lat = structure.lattice
    if not (np.isfinite(lat.matrix).all() and np.isfinite(structure.frac_coords).all()):
        raise ValueError("non-finite lattice or coordinates")
    if not abs(float(np.linalg.det(lat.matrix))) > 1e-6:
        raise ValueError("degenerate cell (zero volume)")
    symbols = np.asarray(_symbols(structure))
    image = _shortest_lattice_vector(lat.matrix)
    dist = np.asarray(structure.distance_matrix, dtype=float) if len(symbols) > 1 else np.zeros((1, 1))
    np.fill_diagonal(dist, np.inf)
    elements = sorted(set(symbols.tolist()))
    where = {el: np.flatnonzero(symbols == el) for el in elements}
    out: dict[str, float] = {}
    for i, a in enumerate(elements):
        for b in elements[i:]:
            d = float(dist[np.ix_(where[a], where[b])].min())
            if a == b:
                d = min(d, image)
            out[pair_key(a, b)] = d
    return out


def reference_pair_minima(structures: Sequence[Any], ids: Sequence[str] | None = None,
                          progress: bool = False) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """Per element pair, the shortest distance over ``structures``:
    ``({"C-C": {"minimum": 1.39, "id": "<id of that structure>", "structures": 200}}, failures)``,
    where ``structures`` counts the structures holding the pair and ``failures`` lists the
    structures whose distances could not be computed (``{"id", "reason"}``)."""
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(structures))]
    out: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, str]] = []
    for sid, s in track(zip(ids, structures), desc="crystals: reference contacts", total=len(ids),
                        unit="structure", enabled=progress):
        try:
            mins = pair_minima(s)
        except Exception as exc:  # noqa: BLE001 - reported, never dropped silently
            failures.append({"id": sid, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        for key, d in mins.items():
            entry = out.setdefault(key, {"minimum": math.inf, "id": None, "structures": 0})
            entry["structures"] += 1
            if d < entry["minimum"]:
                entry["minimum"], entry["id"] = d, sid
    return out, failures


@functools.lru_cache(maxsize=None)
def _covalent_radius(symbol: str) -> float | None:
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    r = CovalentRadius.radius.get(symbol)
    return float(r) if r is not None else None


def contact_threshold(key: str, reference: dict[str, dict[str, Any]], tolerance: float = CONTACT_TOLERANCE,
                      covalent_factor: float = COVALENT_FACTOR) -> tuple[float, str]:
    """``(threshold Å, rule)`` below which pair ``key`` is a short contact: the reference minimum
    minus ``tolerance`` (rule ``"reference"``), else ``covalent_factor`` × the sum of the covalent
    radii (``"covalent"``), else :data:`FALLBACK_DISTANCE` (``"fallback"``)."""
    if key in reference:
        return float(reference[key]["minimum"]) - tolerance, "reference"
    a, _, b = key.partition("-")
    ra, rb = _covalent_radius(a), _covalent_radius(b or a)
    if ra is not None and rb is not None:
        return covalent_factor * (ra + rb), "covalent"
    return FALLBACK_DISTANCE, "fallback"


def short_contacts(structures: Sequence[Any], reference: dict[str, dict[str, Any]], *,
                   tolerance: float = CONTACT_TOLERANCE, covalent_factor: float = COVALENT_FACTOR,
                   progress: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Short contacts of ``structures`` against the reference minima of
    :func:`reference_pair_minima`.

    Returns
    -------
    ``(summary, per_item)``: ``summary`` holds ``short_contact_free`` (the fraction of all
    structures without a short contact; unassessable structures count as not free), the counts,
    the rule, and the thresholds used (``reference_minima`` and ``covalent_thresholds`` of the
    pairs the structures hold, ``flagged_pairs`` counts); each ``per_item`` row holds
    ``short_contact`` (``True``/``False``, ``None`` when unassessable), ``closest_contact``
    (``{"pair", "distance", "threshold", "rule"}``: the pair furthest below, or nearest above,
    its threshold) and ``contact_error``.
    """
    per_item: list[dict[str, Any]] = []
    used_ref: dict[str, float] = {}
    used_cov: dict[str, float] = {}
    flagged: Counter[str] = Counter()
    for s in track(structures, desc="crystals: short contacts", total=len(structures), unit="structure",
                   enabled=progress):
        row: dict[str, Any] = {"short_contact": None, "closest_contact": None, "contact_error": None}
        try:
            mins = pair_minima(s)
        except Exception as exc:  # noqa: BLE001 - unassessable: counted, never dropped
            row["contact_error"] = f"{type(exc).__name__}: {exc}"
            per_item.append(row)
            continue
        worst, short_pairs = None, []
        for key, d in mins.items():
            thr, rule = contact_threshold(key, reference, tolerance, covalent_factor)
            if rule == "reference":
                used_ref[key] = float(reference[key]["minimum"])
            else:
                used_cov[key] = thr
            if d < thr:
                short_pairs.append(key)
            if worst is None or d - thr < worst["distance"] - worst["threshold"]:
                worst = {"pair": key, "distance": round(d, 4), "threshold": round(thr, 4), "rule": rule}
        flagged.update(short_pairs)
        row["short_contact"] = bool(short_pairs)
        row["closest_contact"] = worst
        per_item.append(row)
    n = len(per_item)
    n_short = sum(r["short_contact"] is True for r in per_item)
    n_free = sum(r["short_contact"] is False for r in per_item)
    summary = {
        "short_contact_free": n_free / n if n else None,
        "num_structures": n,
        "num_with_short_contact": n_short,
        "num_unassessed": n - n_short - n_free,
        "tolerance_angstrom": tolerance,
        "covalent_factor": covalent_factor,
        "rule": (f"short contact: a pair distance (periodic, minimum image) below the shortest distance of its "
                 f"element pair in the reference structures minus {tolerance:g} Å; pairs absent from the "
                 f"references: below {covalent_factor:g} × the sum of covalent radii (Cordero 2008)"),
        "reference_minima": {k: round(v, 4) for k, v in sorted(used_ref.items())},
        "covalent_thresholds": {k: round(v, 4) for k, v in sorted(used_cov.items())},
        "flagged_pairs": dict(sorted(flagged.items())),
    }
    return summary, per_item


# ---------------------------------------------------------------------------- space groups
def space_group(structure: Any, symprec: float = SYMPREC,
                angle_tolerance: float = ANGLE_TOLERANCE) -> tuple[int, str]:
    """``(number, Hermann–Mauguin symbol)`` of ``structure`` by spglib (pymatgen
    ``SpacegroupAnalyzer``) at ``symprec`` Å and ``angle_tolerance`` degrees.

    Raises
    ------
    ValueError
        A non-finite cell, or one spglib cannot analyse.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    lat = structure.lattice
    if not (np.isfinite(lat.matrix).all() and np.isfinite(structure.frac_coords).all()):
        raise ValueError("non-finite lattice or coordinates")
    sga = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
    number = sga.get_space_group_number()
    if number is None:
        raise ValueError("spglib found no space group")
    return int(number), str(sga.get_space_group_symbol())


def _space_groups(structures: Sequence[Any], symprec: float, angle_tolerance: float, desc: str,
                  progress: bool) -> list[tuple[int, str] | str]:
    out: list[tuple[int, str] | str] = []
    for s in track(structures, desc=desc, total=len(structures), unit="structure", enabled=progress):
        try:
            out.append(space_group(s, symprec, angle_tolerance))
        except Exception as exc:  # noqa: BLE001 - counted in num_failed
            out.append(f"{type(exc).__name__}: {exc}")
    return out


def _distribution(groups: Sequence[tuple[int, str] | str]) -> tuple[dict[str, Any], Counter[int]]:
    ok = [g for g in groups if not isinstance(g, str)]
    counts: Counter[int] = Counter(n for n, _ in ok)
    symbols = {n: sym for n, sym in ok}
    n = len(ok)
    failed = [g for g in groups if isinstance(g, str)]
    return {
        "num": len(groups),
        "num_failed": len(failed),
        "first_failure": failed[0] if failed else None,
        "fraction_p1": counts.get(1, 0) / n if n else None,
        "num_space_groups": len(counts),
        "top": [{"number": g, "symbol": symbols[g], "fraction": round(c / n, 4)}
                for g, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SPACE_GROUPS]],
    }, counts


def space_group_summary(generated: Sequence[Any], reference: Sequence[Any], *, symprec: float = SYMPREC,
                        angle_tolerance: float = ANGLE_TOLERANCE,
                        progress: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Space groups of the generated and the reference structures: ``(summary, per_item)``.

    ``summary``: ``{"symprec", "angle_tolerance", "generated": {...}, "reference": {...},
    "total_variation"}``, each side with ``fraction_p1``, ``top`` (the commonest space groups:
    ``number``, ``symbol``, ``fraction``) and ``num_failed``; ``total_variation`` is
    ``½ Σ |p_gen − p_ref|`` over space-group numbers (``None`` when a side has none).
    ``per_item``: ``{"space_group", "space_group_symbol"}`` of each generated structure
    (``None`` where spglib failed).
    """
    gen = _space_groups(generated, symprec, angle_tolerance, "crystals: space groups (generated)", progress)
    ref = _space_groups(reference, symprec, angle_tolerance, "crystals: space groups (reference)", progress)
    gen_sum, gen_counts = _distribution(gen)
    ref_sum, ref_counts = _distribution(ref)
    tv = None
    if gen_counts and ref_counts:
        ng, nr = sum(gen_counts.values()), sum(ref_counts.values())
        tv = 0.5 * sum(abs(gen_counts.get(g, 0) / ng - ref_counts.get(g, 0) / nr)
                       for g in set(gen_counts) | set(ref_counts))
    summary = {"symprec": symprec, "angle_tolerance": angle_tolerance, "generated": gen_sum, "reference": ref_sum,
               "total_variation": tv,
               "distance": "total variation between the space-group-number distributions (0: same, 1: disjoint)"}
    per_item = [{"space_group": None if isinstance(g, str) else g[0],
                 "space_group_symbol": None if isinstance(g, str) else g[1]} for g in gen]
    return summary, per_item


# ---------------------------------------------------------------------------- reports and metrics
def sanity_report(generated: Sequence[Any], references: Sequence[Any], train: Sequence[Any] | None = None, *,
                  reference_ids: Sequence[str] | None = None, train_ids: Sequence[str] | None = None,
                  contact_tolerance: float = CONTACT_TOLERANCE, covalent_factor: float = COVALENT_FACTOR,
                  symprec: float = SYMPREC, angle_tolerance: float = ANGLE_TOLERANCE, contacts: bool = True,
                  space_groups: bool = True, energy: bool = False,
                  energy_max_references: int = ENERGY_MAX_REFERENCES, seed: int | None = 0,
                  progress: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The physical-sanity figures of generated structures against references:
    ``({"short_contacts", "space_groups", "chgnet_energy"}, per_item)`` (each key only when
    asked for; see the module docstring).

    The reference minima of the short contacts come from ``references`` and, when given,
    ``train``; the space-group and energy distributions compare with ``references`` only.
    ``per_item`` has one row per generated structure merging the rows of each part.
    """
    for name, value in (("contact_tolerance", contact_tolerance), ("covalent_factor", covalent_factor),
                        ("symprec", symprec), ("angle_tolerance", angle_tolerance)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    out: dict[str, Any] = {}
    per_item: list[dict[str, Any]] = [{} for _ in generated]
    if contacts:
        pool = list(references) + list(train or [])
        ids = ([str(i) for i in reference_ids] if reference_ids is not None
               else [f"reference {i}" for i in range(len(references))])
        if train is not None:
            ids += ([str(i) for i in train_ids] if train_ids is not None else [f"train {i}" for i in range(len(train))])
        minima, failures = reference_pair_minima(pool, ids, progress=progress)
        summary, rows = short_contacts(generated, minima, tolerance=contact_tolerance,
                                       covalent_factor=covalent_factor, progress=progress)
        summary["num_reference_structures"] = len(pool)
        summary["reference_structures"] = (f"references ({len(references)})" if train is None else
                                           f"references ({len(references)}) and training structures ({len(train)})")
        summary["num_reference_pairs"] = len(minima)
        summary["reference_failures"] = failures[:20]
        summary["num_reference_failures"] = len(failures)
        out["short_contacts"] = summary
        for item, row in zip(per_item, rows):
            item.update(row)
    if space_groups:
        summary, rows = space_group_summary(generated, references, symprec=symprec,
                                            angle_tolerance=angle_tolerance, progress=progress)
        out["space_groups"] = summary
        for item, row in zip(per_item, rows):
            item.update(row)
    if energy:
        from graphdiff_crystals.sanity_energy import energy_summary

        summary, rows = energy_summary(generated, references, max_references=energy_max_references, seed=seed,
                                       progress=progress)
        out["chgnet_energy"] = summary
        for item, row in zip(per_item, rows):
            item.update(row)
    return out, per_item


def _records(items: Sequence[Any] | None) -> tuple[list[str], list[Any]]:
    ids, objs = [], []
    for n, item in enumerate(items or []):
        if isinstance(item, dict):
            ids.append(str(item.get("id", n)))
            objs.append(item["obj"])
        else:
            ids.append(str(n))
            objs.append(item)
    return ids, objs


def sanity_metric(generated: Sequence[Any], references: Sequence[Any], train: Sequence[Any] | None = None,
                  k: Any = None, dataset: str | None = None, *, contact_tolerance: float = CONTACT_TOLERANCE,
                  covalent_factor: float = COVALENT_FACTOR, symprec: float = SYMPREC,
                  angle_tolerance: float = ANGLE_TOLERANCE, energy: bool = False,
                  energy_max_references: int = ENERGY_MAX_REFERENCES, seed: int | None = 0,
                  progress: bool = False, **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --task sanity`` (metric ``crystals-sanity``): short contacts and space
    groups of any generated structures (de novo or CSP candidates) against the references, and
    CHGNet energies with ``energy=True``; no CDVAE fingerprints, so it is quick.

    Parameters
    ----------
    generated, references, train:
        Records (``{"id", "obj": Structure}``) or bare structures; ``train`` (optional) adds to the
        reference minima of the short contacts.
    k, dataset:
        Ignored (``dataset`` is only recorded).
    contact_tolerance, covalent_factor, symprec, angle_tolerance:
        See :mod:`graphdiff_crystals.sanity` (0.1 Å, 0.7, 0.1 Å, 5°).
    energy, energy_max_references, seed:
        CHGNet energies (off by default), of at most this many references drawn with ``seed``.
    progress:
        Bars on stderr.

    Returns
    -------
    ``{"task": "sanity", "num_generated", "num_references", "short_contacts", "space_groups",
    ["chgnet_energy"], "per_item"}``.
    """
    gids, gen = _records(generated)
    rids, ref = _records(references)
    tids, trn = _records(train) if train is not None else (None, None)
    report, rows = sanity_report(gen, ref, trn, reference_ids=rids, train_ids=tids,
                                 contact_tolerance=contact_tolerance, covalent_factor=covalent_factor,
                                 symprec=symprec, angle_tolerance=angle_tolerance, energy=energy,
                                 energy_max_references=energy_max_references, seed=seed, progress=progress)
    return {"task": "sanity", "dataset": dataset, "num_generated": len(gen), "num_references": len(ref), **report,
            "per_item": [{"id": i, **r} for i, r in zip(gids, rows)]}
