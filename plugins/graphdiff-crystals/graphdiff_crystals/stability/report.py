"""The report of ``graphdiff stability``: relax the generated structures, score them against the
reference hull, and the stable / metastable / unique / novel / S.U.N. rates.

S.U.N. (MatterGen, Zeni et al. 2025; ``mattergen/evaluation/metrics``)
    stable: ``E_hull <= 0``; metastable: ``E_hull <= 0.1`` eV/atom (MatterGen's
    ``DEFAULT_STABILITY_THRESHOLD``, the threshold of its published "S.U.N." numbers); unique:
    the first of a set of ``StructureMatcher`` duplicates among the generated structures; novel:
    matching no training structure. SUN = stable & unique & novel, MSUN = metastable & unique &
    novel.

Denominators
    A rate is never taken over structures that could not be scored. The stable, metastable, SUN
    and MSUN rates are over the *scored* structures (those with an E_hull: relaxed, and with
    every element covered by the hull's elemental references); the unique and novel rates over
    the structures with a relaxed structure to compare. ``summary.rates_of_all_submitted`` gives
    every count over all submitted structures (unreadable and failed ones included, as MatterGen
    divides), where a structure that could not be scored counts as not stable.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from graphdiff_crystals.stability.entries import _MP2020, ENERGY_PROTOCOL
from graphdiff_crystals.stability.hull import ReferenceHull, hull_from_entries, hull_from_train
from graphdiff_crystals.stability.relaxation import (RelaxCache, Relaxer, RelaxSettings, _clean_structure,
                                                     _failure, relax_structures)

__all__ = ["STABLE_THRESHOLD", "METASTABLE_THRESHOLD", "E_HULL_TOL", "RATES", "stability_report", "summarise",
           "run_stability"]

#: E_hull (eV/atom) at or below which a structure is stable (on the reference hull or below it).
STABLE_THRESHOLD = 0.0
#: E_hull (eV/atom) at or below which a structure is metastable (MatterGen's stability threshold).
METASTABLE_THRESHOLD = 0.1
#: Numerical tolerance (eV/atom) of both comparisons: CHGNet computes in float32 (about 1e-7 relative,
#: a few 1e-7 eV/atom), and a structure equal to a reference entry must count as stable.
E_HULL_TOL = 1e-5


def _cif(structure: Any) -> str | None:
    if structure is None:
        return None
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


def _rate(n: int | None, d: int) -> float | None:
    return None if n is None or not d else n / d


#: the rates of the summary: name -> the count its denominator is (see the module docstring)
RATES = {"stable": "num_scored", "metastable": "num_scored", "sun": "num_scored", "msun": "num_scored",
         "unique": "num_compared", "novel": "num_compared"}


def summarise(rows: Sequence[dict[str, Any]], num_unreadable: int,
              with_train: bool) -> tuple[dict[str, Any], list[str]]:
    """The summary (counts and rates) and notes of report rows (see the module docstring for
    the denominators). ``num_unreadable`` input items had no row; ``with_train``: novelty, SUN
    and MSUN were computed."""
    n_total = len(rows) + num_unreadable

    def count(key: str) -> int:
        return sum(1 for r in rows if r[key] is True)

    ehs = [r["e_hull"] for r in rows if r["e_hull"] is not None]
    n_errors = sum(1 for r in rows if r["error"])
    counts: dict[str, Any] = {
        "num_generated": n_total, "num_unreadable": num_unreadable, "num_errors": n_errors,
        "num_timed_out": count("timed_out"), "num_scored": len(ehs), "num_not_scored": n_total - len(ehs),
        "num_outside_hull": sum(1 for r in rows if r["e_hull"] is None and not r["error"]),
        "num_compared": sum(1 for r in rows if r["unique"] is not None),
        "num_with_e_hull": len(ehs), "num_without_e_hull": n_total - len(ehs),
        "num_stable": count("stable"), "num_metastable": count("metastable"), "num_unique": count("unique"),
        "num_novel": count("novel") if with_train else None,
        "num_sun": count("sun") if with_train else None,
        "num_msun": count("msun") if with_train else None}
    rates = {f"{k}_rate": _rate(counts[f"num_{k}"], counts[d]) for k, d in RATES.items()}
    summary = {**rates, **counts,
               "e_hull_mean": float(np.mean(ehs)) if ehs else None,
               "e_hull_median": float(np.median(ehs)) if ehs else None,
               "denominators": {f"{k}_rate": d for k, d in RATES.items()},
               "denominator": ("stable, metastable, SUN and MSUN rates: the scored structures (num_scored: with an "
                               "E_hull); unique and novel rates: the structures with a relaxed structure to compare "
                               "(num_compared); structures that could not be scored are in no denominator"),
               "rates_of_all_submitted": {f"{k}_rate": _rate(counts[f"num_{k}"], n_total) for k in RATES},
               "rates_of_all_submitted_note": ("every count over all submitted structures, unreadable and failed ones "
                                               "included, as MatterGen divides: a structure that could not be scored "
                                               "counts as not stable, not unique and not novel")}
    notes = []
    if not with_train:
        notes.append("novelty, SUN and MSUN need the training set (--train); not computed")
    if counts["num_scored"] < n_total:
        notes.append(f"scored {counts['num_scored']} of {n_total} structures ({num_unreadable} unreadable, "
                     f"{n_errors} failed, {counts['num_outside_hull']} with elements the hull has no reference "
                     "for); the rates are over the scored ones")
    if counts["num_timed_out"]:
        notes.append(f"{counts['num_timed_out']} structure(s) ran out of time: their energy and structure are "
                     "those of the last step (an upper bound of the relaxed energy); they are scored as they are")
    if counts["num_outside_hull"]:
        notes.append("some compositions are not covered by the reference hull (elements without an elemental "
                     "reference): e_hull is null and e_hull_reason says why; they are not scored")
    return summary, notes


def stability_report(generated: Sequence[tuple[str, Any]], hull: ReferenceHull, settings: RelaxSettings, *,
                     train: Sequence[tuple[str, Any]] | None = None, unreadable: Sequence[dict[str, str]] = (),
                     workers: int = 1, batch_size: int = 16, max_atoms: int = 200, relaxer: Relaxer | None = None,
                     progress: bool = False, hull_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Relax ``generated`` (``(id, Structure)``), score it against ``hull`` and return the report.

    ``train`` (``(id, Structure)``, as given, not relaxed) is the novelty reference; without it
    novelty, SUN and MSUN are ``None``. ``unreadable`` items (``{"where", "reason"}``) count in
    every denominator. See the module docstring and ``docs/stability.md``.
    """
    from graphdiff_crystals.dng_metrics import uniqueness_novelty
    from graphdiff_crystals.domain import CrystalDomain

    t_start = time.perf_counter()
    checker = CrystalDomain(max_nodes=max_atoms)
    rows: list[dict[str, Any]] = []
    todo: list[int] = []
    for gid, s in generated:
        row: dict[str, Any] = {"id": gid, "formula": None, "num_atoms": None}
        try:
            row["formula"] = s.composition.reduced_formula
            row["num_atoms"] = len(s)
            problem = checker.structure_problem(s)
        except Exception as exc:  # noqa: BLE001 - reported
            problem = f"{type(exc).__name__}: {exc}"
        row["error"] = None if problem is None else f"not evaluated: {problem}"
        rows.append(row)
        if problem is None:
            todo.append(len(rows) - 1)

    relaxer = relaxer if relaxer is not None else Relaxer(settings)
    structures = [generated[i][1] for i in todo]
    initial = relaxer.static_energies(structures, batch_size, progress=progress) if structures else []
    if settings.relax:
        results = relax_structures(structures, settings, workers=workers, relaxer=relaxer, progress=progress,
                                   desc="relaxing generated")
    else:
        results = []
        for s, (e, err) in zip(structures, initial):
            clean = _clean_structure(s)
            results.append(_failure(err) if err else
                           {"structure": clean, "energy": e * len(clean), "energy_per_atom": e, "relax_steps": 0,
                            "converged": None, "timed_out": False, "relax_time_s": 0.0, "error": None})

    final_structures: list[Any] = [None] * len(rows)
    for i, (e0, err0), res in zip(todo, initial, results):
        row = rows[i]
        s0 = generated[i][1]
        row["energy_per_atom_initial"] = e0
        row["e_hull_initial"] = None
        if e0 is not None:
            row["e_hull_initial"] = hull.e_above_hull(s0.composition, e0 * len(s0))[0]
        row.update({k: res[k] for k in ("energy", "energy_per_atom", "relax_steps", "converged", "timed_out",
                                        "relax_time_s")})
        row["error"] = res["error"]
        final_structures[i] = res["structure"]
        row["relaxed_cif"] = _cif(res["structure"])
        if res["error"] is None:
            value, reason = hull.e_above_hull(res["structure"].composition, res["energy"])
            row["e_hull"], row["e_hull_reason"] = value, reason

    # --- uniqueness among the generated (relaxed) structures, novelty against the training set
    have = [i for i, s in enumerate(final_structures) if s is not None]
    un = uniqueness_novelty([final_structures[i] for i in have], [s for _, s in train] if train is not None else None,
                            ids=[str(i) for i in have],
                            train_ids=[t for t, _ in train] if train is not None else None)
    for i, res in zip(have, un):
        rows[i]["unique"] = res["unique"]
        rows[i]["duplicate_of"] = None if res["duplicate_of"] is None else rows[int(res["duplicate_of"])]["id"]
        rows[i]["_dup_index"] = None if res["duplicate_of"] is None else int(res["duplicate_of"])
        rows[i]["novel"] = res["novel"]
        rows[i]["matches_train"] = res["matches_train"]
    if train is not None:  # a duplicate is as novel as the structure it repeats (MatterGen scores every one)
        for i in have:
            j = rows[i].get("_dup_index")
            if j is not None:
                rows[i]["novel"] = rows[j]["novel"]
                rows[i]["matches_train"] = rows[j]["matches_train"]

    keys = ("id", "formula", "num_atoms", "relaxed_cif", "energy", "energy_per_atom", "e_hull", "e_hull_reason",
            "stable", "metastable", "unique", "duplicate_of", "novel", "matches_train", "sun", "msun",
            "timed_out", "converged", "relax_steps", "relax_time_s", "energy_per_atom_initial", "e_hull_initial",
            "error")
    for row in rows:
        eh = row.get("e_hull")
        row["stable"] = None if eh is None else bool(eh <= STABLE_THRESHOLD + E_HULL_TOL)
        row["metastable"] = None if eh is None else bool(eh <= METASTABLE_THRESHOLD + E_HULL_TOL)
        if row.get("error") and not row.get("e_hull_reason"):
            row["e_hull_reason"] = "no energy: " + row["error"]
        un_ok = row.get("unique") is True and row.get("novel") is True
        # a structure without an E_hull is not scored: its SUN is unknown, not False
        row["sun"] = None if train is None or eh is None else bool(un_ok and row["stable"])
        row["msun"] = None if train is None or eh is None else bool(un_ok and row["metastable"])
        for k in keys:
            row.setdefault(k, None)
        row.pop("_dup_index", None)
    rows = [{k: row[k] for k in keys} for row in rows]

    summary, notes = summarise(rows, len(unreadable), train is not None)
    elements = {el.symbol for _, s in generated for el in s.composition.elements}
    hull_summary = hull.summary(elements)
    hull_summary.update(hull_info or {})
    protocol = {
        "relaxation": {**settings.protocol(), "time_limit_s_per_structure": settings.time_limit,
                       "how": (("chgnet StructOptimizer's CHGNetCalculator and optimizer with ASE's "
                                f"{settings.cell_filter} (cell and positions), stepped with Optimizer.irun and "
                                "stopped at fmax, max_steps or the time limit (wall clock, checked after every step)")
                               if settings.engine == "ase" else
                               ("graphdiff_crystals.stability.batch_relax: ASE's FIRE on FrechetCellFilter "
                                f"coordinates (cell and positions), {settings.batch_size} structures per CHGNet "
                                "call, stopped at fmax (ASE's criterion on atom and cell rows), max_steps or the "
                                "time limit (the structure's own share of the work)"))
                       if settings.relax else "no relaxation: static CHGNet energies of the structures as given"},
        "model_version": relaxer.version,
        "energy": ENERGY_PROTOCOL,
        "correction_scheme": _MP2020,
        "hull": hull.description,
        "e_hull": ("pymatgen PhaseDiagram(reference entries of the structure's chemical system and its "
                   "subsystems).get_e_above_hull(entry, allow_negative=True), eV/atom; the generated entries are "
                   "not added to the hull"),
        "thresholds_eV_per_atom": {"stable": STABLE_THRESHOLD, "metastable": METASTABLE_THRESHOLD,
                                   "tolerance": E_HULL_TOL},
        "sun": ("MatterGen (Zeni et al., Nature 2025; mattergen/evaluation/metrics): SUN = stable and unique and "
                "novel; MSUN = metastable (E_hull <= 0.1 eV/atom, MatterGen's own stability threshold, so "
                "MatterGen's published '% S.U.N.' corresponds to msun_rate) and unique and novel; rates over the "
                "scored structures (MatterGen divides by every submitted structure: summary.rates_of_all_submitted)"),
        "matcher": ("uniqueness and novelty: graphdiff_crystals.dng_metrics.uniqueness_novelty, pymatgen "
                    "StructureMatcher() with default tolerances (ltol=0.2, stol=0.3, angle_tol=5) on the relaxed "
                    "structures; novelty against the training structures as given; a duplicate takes the "
                    "novelty of the structure it repeats (MatterGen uses its own disorder-aware matcher)"),
    }
    times = [r["relax_time_s"] for r in rows if r["relax_time_s"] is not None]
    return {
        "command": "stability",
        "protocol": protocol,
        "hull": hull_summary,
        "summary": summary,
        "timing": {"total_s": time.perf_counter() - t_start,
                   "relax_s_per_structure_mean": statistics.fmean(times) if times else None,
                   "relax_s_per_structure_median": statistics.median(times) if times else None,
                   "relax_s_per_structure_max": max(times) if times else None, "workers": workers},
        "notes": notes,
        "unreadable": list(unreadable),
        "rows": rows,
    }


def run_stability(generated_path: str | Path, *, entries_path: str | Path | None = None,
                  train_path: str | Path | None = None, settings: RelaxSettings | None = None,
                  entries_correction: str = "auto", element_refs_path: str | Path | None = None,
                  cache_path: str | Path | None = None, workers: int = 1, batch_size: int = 16,
                  max_atoms: int = 200, progress: bool = False, shipped_references: bool = True,
                  log: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Read the inputs, build the hull, relax and score; returns ``(report, relaxed records)``.

    The hull comes from ``entries_path`` when given, else from ``train_path`` (relaxed, cached
    in ``cache_path``, with the shipped CHGNet elemental references for the elements it gives
    none of unless ``shipped_references=False``); ``train_path`` is also the novelty reference
    whenever given.
    """
    from graphdiff.errors import DataError
    from graphdiff_crystals.domain import CrystalDomain

    if entries_path is None and train_path is None:
        raise DataError("the hull needs reference entries (--entries MP.json) or a training set (--train TRAIN.csv)")
    settings = settings or RelaxSettings()
    log = log or (lambda msg: None)
    domain = CrystalDomain(max_nodes=max_atoms)
    unreadable: list[dict[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generated = [(r["id"], r["obj"]) for r in domain.read(generated_path, skipped=unreadable, validate=False)]
    if not generated and not unreadable:
        raise DataError(f"{generated_path}: no structures")
    train = None
    train_unreadable: list[dict[str, str]] = []
    if train_path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = [(r["id"], r["obj"]) for r in domain.read(train_path, skipped=train_unreadable)]
        if not train:
            raise DataError(f"{train_path}: no usable training structure ({len(train_unreadable)} unreadable)")
    element_refs: list[tuple[str, Any]] = []
    if element_refs_path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            element_refs = [(r["id"], r["obj"]) for r in domain.read(element_refs_path)]
        impure = [rid for rid, s in element_refs if len(s.composition.elements) != 1]
        if impure:
            raise DataError(f"{element_refs_path}: --element-refs takes pure-element structures; "
                            f"not pure: {impure[:5]}")

    gen_elements = set()
    for _, s in generated:
        try:
            gen_elements |= {el.symbol for el in s.composition.elements}
        except Exception:  # noqa: BLE001 - a broken structure gets its error row in the report
            continue
    relaxer = Relaxer(settings)
    if entries_path is not None:
        log(f"reading reference entries from {entries_path}")
        hull, info = hull_from_entries(entries_path, entries_correction, progress=progress)
    else:
        cache = RelaxCache(cache_path, settings) if cache_path is not None else None
        log(f"building the hull from {len(train)} training structures"  # type: ignore[arg-type]
            + (f" (cache {cache_path})" if cache_path else ""))
        hull, info = hull_from_train(train, settings, cache=cache, element_refs=element_refs,  # type: ignore[arg-type]
                                     workers=workers, relaxer=relaxer, progress=progress, elements=gen_elements,
                                     shipped=shipped_references)
    if train_unreadable:
        info["train_unreadable"] = train_unreadable
    missing = sorted(gen_elements - hull.terminal)
    if missing:
        log(f"warning: no elemental reference in the hull for {', '.join(missing)}: generated structures with "
            "them get e_hull = null and are not scored (give --entries covering them, or --element-refs with "
            "--train)")
    report = stability_report(generated, hull, settings, train=train, unreadable=unreadable, workers=workers,
                              batch_size=batch_size, max_atoms=max_atoms, relaxer=relaxer, progress=progress,
                              hull_info=info)
    report["inputs"] = {"generated": str(generated_path),
                        "entries": None if entries_path is None else str(entries_path),
                        "train": None if train_path is None else str(train_path),
                        "element_refs": None if element_refs_path is None else str(element_refs_path)}
    from pymatgen.core import Structure

    relaxed = [(r["id"], Structure.from_str(r["relaxed_cif"], fmt="cif")) for r in report["rows"]
               if r["relaxed_cif"] is not None]
    return report, relaxed
