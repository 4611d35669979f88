"""The reference hull of ``graphdiff stability``: energy above the convex hull of reference
entries, from ``--entries`` (:func:`hull_from_entries`) or from the training set relaxed with
CHGNet plus elemental references (:func:`hull_from_train`).

``E_hull = PhaseDiagram(refs).get_e_above_hull(entry, allow_negative=True)`` per chemical system
(the reference entries of the system and its subsystems); a composition with an element that
has no elemental reference gets ``e_hull = None`` and a reason, never a made-up number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Sequence

from graphdiff_crystals.stability.entries import _MP2020, correct_entries, load_entries
from graphdiff_crystals.stability.references import (SHIPPED_REFERENCES, shipped_reference_entries,
                                                     shipped_references, standard_element_structure)
from graphdiff_crystals.stability.relaxation import RelaxCache, Relaxer, RelaxSettings, relax_structures

__all__ = ["ReferenceHull", "hull_from_entries", "hull_from_train"]


class ReferenceHull:
    """Reference entries and the energy above their convex hull, one ``PhaseDiagram`` per
    chemical system (built from the entries whose elements are a subset of it)."""

    def __init__(self, entries: Iterable[Any], source: str, description: str) -> None:
        self.entries = [e for e in entries if math.isfinite(e.energy_per_atom)]
        self.source = source
        self.description = description
        self.by_chemsys: dict[frozenset[str], list[Any]] = defaultdict(list)
        for e in self.entries:
            self.by_chemsys[frozenset(el.symbol for el in e.composition.elements)].append(e)
        self.elements = {el for key in self.by_chemsys for el in key}
        self.terminal = {next(iter(key)) for key in self.by_chemsys if len(key) == 1}
        self._pds: dict[frozenset[str], Any] = {}

    def elemental_reference(self, element: str) -> Any | None:
        """The lowest-energy pure-element entry of ``element`` (None without one)."""
        pure = self.by_chemsys.get(frozenset([element]), [])
        return min(pure, key=lambda e: e.energy_per_atom) if pure else None

    def missing_reason(self, elements: Iterable[str]) -> str | None:
        missing = sorted(set(elements) - self.terminal)
        if not missing:
            return None
        parts = []
        absent = [el for el in missing if el not in self.elements]
        only_compounds = [el for el in missing if el in self.elements]
        if absent:
            parts.append(f"{', '.join(absent)} not in the reference entries")
        if only_compounds:
            parts.append(f"no pure-element reference for {', '.join(only_compounds)} "
                         "(only in compounds of the reference entries)")
        return "the hull does not cover this composition: " + "; ".join(parts)

    def phase_diagram(self, chemsys: frozenset[str]) -> Any:
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        if chemsys not in self._pds:
            refs = [e for k in range(1, len(chemsys) + 1) for sub in combinations(sorted(chemsys), k)
                    for e in self.by_chemsys.get(frozenset(sub), [])]
            self._pds[chemsys] = PhaseDiagram(refs)
        return self._pds[chemsys]

    def e_above_hull(self, composition: Any, energy: float) -> tuple[float | None, str | None]:
        """``(E_hull in eV/atom, None)`` of ``energy`` (total, eV) at ``composition``, or
        ``(None, reason)`` when the reference entries do not cover its elements."""
        from pymatgen.entries.computed_entries import ComputedEntry

        chemsys = frozenset(el.symbol for el in composition.elements)
        reason = self.missing_reason(chemsys)
        if reason:
            return None, reason
        try:
            value = self.phase_diagram(chemsys).get_e_above_hull(ComputedEntry(composition, energy),
                                                                 allow_negative=True)
        except Exception as exc:  # noqa: BLE001 - reported per structure
            return None, f"PhaseDiagram failed: {type(exc).__name__}: {exc}"
        if value is None or not math.isfinite(value):
            return None, "PhaseDiagram gave no energy above the hull"
        return float(value), None

    def summary(self, elements: Iterable[str]) -> dict[str, Any]:
        refs = {}
        for el in sorted(set(elements)):
            e = self.elemental_reference(el)
            refs[el] = None if e is None else {"id": str(e.entry_id), "energy_per_atom": float(e.energy_per_atom)}
        return {"source": self.source, "description": self.description, "num_entries": len(self.entries),
                "num_elements": len(self.elements), "elemental_references": refs,
                "elements_without_reference": sorted(el for el, r in refs.items() if r is None)}


def hull_from_entries(path: str | Path, correction: str = "auto",
                      progress: bool = False) -> tuple[ReferenceHull, dict[str, Any]]:
    """The hull of the entries in ``path`` after :func:`correct_entries`."""
    entries, unreadable = load_entries(path)
    used, excluded, info = correct_entries(entries, correction, progress=progress)
    if correction == "none":
        how = "energies used as given (no correction applied; they must already be on the MP2020 scale)"
    elif correction == "mp2020":
        how = f"{info['num_corrected_with_mp2020']} entries (re)processed with {_MP2020}"
    else:
        how = (f"{info['num_corrected_with_mp2020']} DFT entries (with VASP run parameters) (re)processed with "
               f"{_MP2020}, {info['num_used_as_given']} entries without run parameters used as given "
               "(taken as already on the MP2020 scale)")
    desc = (f"{len(used)} user-supplied reference entries from {Path(path).name} ({how}; "
            f"{len(excluded)} rejected by {_MP2020} and {len(unreadable)} unreadable left out)")
    hull = ReferenceHull(used, "entries", desc)
    return hull, {"correction": info, "excluded_entries": excluded, "unreadable_entries": unreadable}


def _entry(structure_or_comp: Any, energy: float, entry_id: str) -> Any:
    from pymatgen.entries.computed_entries import ComputedEntry

    comp = getattr(structure_or_comp, "composition", structure_or_comp)
    return ComputedEntry(comp, energy, entry_id=entry_id)


def hull_from_train(train: Sequence[tuple[str, Any]], settings: RelaxSettings, *, cache: RelaxCache | None = None,
                    element_refs: Sequence[tuple[str, Any]] = (), workers: int = 1, relaxer: Relaxer | None = None,
                    progress: bool = False, elements: Iterable[str] = (),
                    shipped: bool = True) -> tuple[ReferenceHull, dict[str, Any]]:
    """The hull of the training structures relaxed with ``settings`` plus elemental references.

    For every element of the training set: the lowest-energy relaxed pure-element training
    structure; without one, a relaxed standard structure (:func:`standard_element_structure`);
    ``element_refs`` (``(id, Structure)``) are relaxed and added as well. Then every element of
    the training set or of ``elements`` (those of the structures to score) still without a
    reference gets the shipped CHGNet reference (:func:`shipped_reference_entries`; ``shipped=
    False``: none), so that a reference does not depend on the training set holding the
    element. Elements left without any are listed (their compositions get no E_hull).
    """
    structures = [s for _, s in train]
    results = relax_structures(structures, settings, workers=workers, relaxer=relaxer, progress=progress,
                               desc="relaxing training set", cache=cache)
    entries, failed = [], []
    n_timed_out = 0
    for (tid, s), res in zip(train, results):
        if res["error"] is not None:
            failed.append({"id": tid, "reason": res["error"]})
            continue
        n_timed_out += bool(res["timed_out"])
        entries.append(_entry(s, res["energy"], f"train:{tid}"))
    train_elements = sorted({el.symbol for e in entries for el in e.composition.elements})
    have = {e.composition.elements[0].symbol for e in entries if len(e.composition.elements) == 1}

    extra: list[tuple[str, Any, str]] = [(f"element-ref:{rid}", s, "--element-refs") for rid, s in element_refs]
    given = {el.symbol for _, s, _ in extra for el in s.composition.elements if len(s.composition.elements) == 1}
    for el in train_elements:
        if el in have or el in given:
            continue
        built = standard_element_structure(el)
        if built is not None:
            extra.append((f"standard:{el}", built[0], built[1]))
    ref_notes = []
    if extra:
        ref_results = relax_structures([s for _, s, _ in extra], settings, workers=workers, relaxer=relaxer,
                                       progress=progress, desc="relaxing elemental references", cache=cache)
        for (rid, s, src), res in zip(extra, ref_results):
            if res["error"] is not None:
                ref_notes.append({"id": rid, "source": src, "error": res["error"]})
                continue
            entries.append(_entry(s, res["energy"], rid))
            ref_notes.append({"id": rid, "source": src, "formula": s.composition.reduced_formula,
                              "energy_per_atom": res["energy_per_atom"], "timed_out": res["timed_out"]})
    needed = sorted(set(elements) | set(train_elements))
    probe = ReferenceHull(entries, "train", "")
    lacking = [el for el in needed if probe.elemental_reference(el) is None]
    shipped_used: list[dict[str, Any]] = []
    shipped_missing: dict[str, str] = {}
    if shipped and lacking:
        found, shipped_missing = shipped_reference_entries(lacking, settings.model)
        entries += found
        shipped_used = [{"element": e.composition.elements[0].symbol, "id": e.entry_id,
                         "energy_per_atom": float(e.energy_per_atom), "structure": e.data.get("structure")}
                        for e in found]
    probe = ReferenceHull(entries, "train", "")
    missing = sorted(el for el in needed if probe.elemental_reference(el) is None)
    desc = (f"{len(train) - len(failed)} training structures relaxed with CHGNet "
            f"({'relaxed' if settings.relax else 'static, unrelaxed'}; same protocol as the generated ones; "
            f"{len(failed)} failed and left out, {n_timed_out} timed out and kept with their last-step energy) "
            f"plus {sum('error' not in r for r in ref_notes)} relaxed elemental reference structure(s) "
            "(standard structures: ASE's reference states, published crystals, molecules in a box; and "
            "--element-refs) for training elements without a pure-element training structure")
    if shipped_used:
        protocol = shipped_references().get("protocol", {})
        desc += (f", and the shipped CHGNet references of {len(shipped_used)} element(s) without either "
                 f"({', '.join(r['element'] for r in shipped_used)}; {SHIPPED_REFERENCES}: the lowest relaxed "
                 f"energy among a few structures of each element, fmax {protocol.get('fmax_eV_per_A')} eV/A)")
    desc += "; energies are CHGNet's (MP2020 scale), no DFT data"
    if missing:
        desc += f"; no elemental reference for {', '.join(missing)} (compositions with them get no E_hull)"
    hull = ReferenceHull(entries, "train", desc)
    provenance = shipped_references().get("provenance") or {}
    return hull, {"train_failed": failed, "train_timed_out": n_timed_out, "extra_elemental_references": ref_notes,
                  "shipped_elemental_references": shipped_used,
                  "shipped_references_source": ({"file": SHIPPED_REFERENCES, "commit": provenance.get("commit"),
                                                 "started_utc": provenance.get("started_utc"),
                                                 "command": provenance.get("command")} if shipped_used else None),
                  "train_elements_without_reference": [el for el in missing if el in train_elements],
                  "elements_without_shipped_reference": shipped_missing,
                  "cache": None if cache is None else {"path": str(cache.path), "hits": cache.hits}}
