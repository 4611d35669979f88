"""CHGNet elemental reference energies, shipped with the crystals plugin for ``graphdiff stability``.

    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_elemental_refs.py [--elements Na,Si] [--workers 1]

For every element CHGNet covers (:data:`CHGNET_ELEMENTS`: the 89 elements of its MPtrj training
data, H to Pu without Po, At, Rn, Fr and Ra; ``--elements`` for fewer), a few candidate structures
of the pure element (:func:`candidates`) are relaxed with CHGNet under the
default protocol of ``graphdiff stability`` (``graphdiff_crystals.stability.RelaxSettings()``:
FIRE through ASE's ``FrechetCellFilter``, fmax 0.1 eV/Å, at most 500 steps), and the lowest
energy per atom is kept (converged relaxations first):

- the standard structure ``graphdiff stability`` builds itself
  (``graphdiff_crystals.stability.standard_element_structure``: ASE's reference state, a
  published crystal of B, P, Mn, Ga, Se and Te, or, for H, N, O, F, Cl, Br, I and S, one
  molecule in a 12 Å box);
- for the elements that do not form molecular solids, fcc, bcc and hcp (ideal c/a) guesses with
  the nearest-neighbour distance of the standard structure (else twice the element's metallic
  radius, or its van der Waals radius for a noble gas), a
  diamond guess for the group-14 elements, and graphite (AB) for carbon; a guess of the same
  lattice as ASE's reference state is left out (ASE's own, with its measured constants, is there).

Writes the package data ``plugins/graphdiff-crystals/graphdiff_crystals/data/
chgnet_elemental_references.json`` (``--out``; every element with its energy, the structure that
gave it, every candidate's energy, the protocol and this run's provenance) and records the run in
``benchmarks/crystals/results/crystals-elemental-refs.json`` (keyed by the element set and protocol). Where
the CDVAE splits are at hand (``../shared/data/{perov_5,carbon_24}/val.csv``), the run also
records which of their elements got an energy.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "plugins" / "graphdiff-crystals" / "graphdiff_crystals" / "data" / "chgnet_elemental_references.json"
#: atomic numbers of the elements in CHGNet's training data (MPtrj: 89 elements, Z = 1-94 but Po, At, Rn, Fr, Ra)
CHGNET_Z = tuple(z for z in range(1, 95) if z not in (84, 85, 86, 87, 88))
#: elements whose solid is a molecular crystal: only the molecule in a box is a candidate
MOLECULAR = frozenset({"H", "N", "O", "F", "Cl", "Br", "I", "S"})
GROUP_14 = frozenset({"C", "Si", "Ge", "Sn"})
DATASETS = ("perov_5", "carbon_24")
FORMAT = "graphdiff-elemental-references"


# ---------------------------------------------------------------------------- which elements
def dataset_elements(path: Path) -> set[str]:
    """The elements of a CDVAE-format CSV: from its ``formula`` column where it has one, else
    from the species of its CIFs (rows that cannot be read are passed over)."""
    from pymatgen.core import Composition, Structure

    csv.field_size_limit(1 << 30)
    found: set[str] = set()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        column = "formula" if "formula" in (reader.fieldnames or []) else "cif"
        for row in reader:
            text = (row.get(column) or "").strip()
            if not text:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    comp = Composition(text) if column == "formula" else \
                        Structure.from_str(text, fmt="cif").composition
            except Exception:  # noqa: BLE001 - an unreadable row names no element
                continue
            found |= {el.symbol for el in comp.elements}
    return found


def element_set(given: str | None) -> list[str]:
    """The elements to relax, in atomic-number order: ``given`` (comma-separated symbols), else
    every element CHGNet covers."""
    from pymatgen.core import Element

    if not given:
        return [Element.from_Z(z).symbol for z in CHGNET_Z]
    symbols = {s.strip() for s in given.split(",") if s.strip()}
    bad = sorted(s for s in symbols if not Element.is_valid_symbol(s))
    if bad:
        raise SystemExit(f"--elements: not element symbols: {bad}")
    return sorted(symbols, key=lambda s: Element(s).Z)


def dataset_coverage(symbols: Iterable[str], data: Path = DATA) -> dict[str, Any]:
    """For each CDVAE split at hand: its elements and those of them without a reference."""
    have = set(symbols)
    out = {}
    for name in DATASETS:
        path = data / name / "val.csv"
        if path.exists():
            els = dataset_elements(path)
            out[name] = {"num_elements": len(els), "not_covered": sorted(els - have)}
    return out


# ---------------------------------------------------------------------------- candidate structures
def nearest_neighbour(structure: Any) -> float | None:
    """The shortest interatomic distance of a crystal (periodic images included)."""
    import numpy as np

    if len(structure) == 1:
        return float(min(structure.lattice.abc))
    d = structure.distance_matrix + np.eye(len(structure)) * 1e9
    return float(min(d.min(), min(structure.lattice.abc)))


def candidates(symbol: str) -> list[tuple[str, Any]]:
    """``(label, Structure)`` of the candidate structures of one element (see the module docstring)."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states
    from pymatgen.core import Element, Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from graphdiff_crystals.stability import standard_element_structure

    out: list[tuple[str, Any]] = []
    standard = standard_element_structure(symbol)
    if standard is not None:
        out.append((f"standard: {standard[1]}", standard[0]))
    if symbol in MOLECULAR:
        return out
    state = reference_states[atomic_numbers[symbol]] or {}
    ase_lattice = str(state.get("symmetry", "")).lower() if standard and standard[1].startswith("ASE") else ""
    d = nearest_neighbour(standard[0]) if standard is not None and "box" not in standard[1] else None
    if d is None or not math.isfinite(d) or d < 1.0:  # no crystal to measure: twice the element's radius
        el = Element(symbol)
        radius = el.van_der_waals_radius if el.is_noble_gas else el.metallic_radius or el.atomic_radius
        d = 2 * float(radius or el.van_der_waals_radius)
    guesses = {"fcc": {"a": math.sqrt(2) * d}, "bcc": {"a": 2 * d / math.sqrt(3)},
               "hcp": {"a": d, "c": math.sqrt(8 / 3) * d}}
    if symbol in GROUP_14:
        guesses["diamond"] = {"a": 4 * d / math.sqrt(3)}
    for lattice, params in guesses.items():
        if lattice == ase_lattice:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = bulk(symbol, lattice, **params)
        label = f"{lattice} guess (nearest neighbour {d:.3f} A)"
        out.append((label, AseAtomsAdaptor.get_structure(atoms)))
    if symbol == "C":  # graphite, AB stacking (a = 2.464 A, c = 6.711 A)
        graphite = Structure(Lattice.hexagonal(2.464, 6.711), ["C"] * 4,
                             [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
        out.append(("graphite (AB)", graphite))
    return out


# ---------------------------------------------------------------------------- the lowest one
def pick_lowest(results: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The candidate result with the lowest ``energy_per_atom`` among the converged ones, else
    among those with an energy (``None`` when none has one)."""
    usable = [r for r in results if r.get("energy_per_atom") is not None and math.isfinite(r["energy_per_atom"])]
    if not usable:
        return None
    converged = [r for r in usable if r.get("converged")]
    return min(converged or usable, key=lambda r: r["energy_per_atom"])


def element_entry(symbol: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One element of the data file from its candidates' results (``label``, ``energy_per_atom``,
    ``converged``, ``timed_out``, ``relax_steps``, ``num_atoms``, ``error``)."""
    best = pick_lowest(results)
    entry: dict[str, Any] = {
        "energy_per_atom": None if best is None else round(float(best["energy_per_atom"]), 6),
        "structure": None if best is None else best["label"],
        "num_atoms": None if best is None else best["num_atoms"],
        "converged": None if best is None else bool(best["converged"]),
        "relax_steps": None if best is None else best["relax_steps"],
        "candidates": [{"structure": r["label"], "num_atoms": r["num_atoms"],
                        "energy_per_atom": (None if r["energy_per_atom"] is None
                                            else round(float(r["energy_per_atom"]), 6)),
                        "converged": r["converged"], "timed_out": r["timed_out"], "relax_steps": r["relax_steps"],
                        "error": r["error"]} for r in results],
    }
    if best is None:
        entry["error"] = "no candidate gave an energy"
    return entry


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--elements", help="comma-separated symbols (default: every element CHGNet covers)")
    ap.add_argument("--workers", type=int, default=1, help="relaxation processes")
    ap.add_argument("--out", type=Path, default=OUT, help="the data file to write")
    ap.add_argument("--name", default="crystals-elemental-refs", help="results file name")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import torch

    from graphdiff_crystals.stability import RelaxSettings, Relaxer, relax_structures

    run = Run(seeds={}, data=[p for p in (DATA / name / "val.csv" for name in DATASETS) if p.exists()])
    symbols = element_set(args.elements)
    settings = RelaxSettings()
    jobs = [(el, label, s) for el in symbols for label, s in candidates(el)]
    print(f"{len(symbols)} elements, {len(jobs)} candidate structures", file=sys.stderr)
    cpu0, t0 = time.process_time(), time.perf_counter()
    relaxer = Relaxer(settings) if args.workers == 1 else None
    results = relax_structures([s for _, _, s in jobs], settings, workers=args.workers, relaxer=relaxer,
                               progress=not args.quiet, desc="relaxing elemental candidates")
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    by_element: dict[str, list[dict[str, Any]]] = {el: [] for el in symbols}
    for (el, label, s), res in zip(jobs, results):
        by_element[el].append({"label": label, "num_atoms": len(s), **{k: res[k] for k in (
            "energy_per_atom", "converged", "timed_out", "relax_steps", "error")}})
    elements = {el: element_entry(el, rs) for el, rs in by_element.items()}
    missing = sorted(el for el, e in elements.items() if e["energy_per_atom"] is None)
    how = {"elements": "given with --elements" if args.elements else "every element CHGNet covers (MPtrj)",
           "datasets": dataset_coverage([el for el in symbols if el not in missing])}
    protocol = {**settings.protocol(), "time_limit_s_per_structure": settings.time_limit,
                "model_version": (relaxer or Relaxer(settings)).version}
    summary = {"num_elements": len(symbols), "num_with_energy": len(symbols) - len(missing),
               "without_energy": missing, "num_candidates": len(jobs),
               "num_candidates_converged": sum(1 for r in results if r["converged"]),
               "relax_wall_seconds": round(wall, 1), "relax_cpu_seconds_this_process": round(cpu, 1),
               "torch_threads": torch.get_num_threads(), "workers": args.workers}
    stored = record(RESULTS / f"{args.name}.json",
                    key_from_args(args, ignore=("out", "name", "quiet", "workers"), protocol=protocol),
                    {"summary": summary, "elements_from": how, "protocol": protocol,
                     "elements": {el: {k: e[k] for k in ("energy_per_atom", "structure", "converged")}
                                  for el, e in elements.items()}}, run)
    doc = {"format": FORMAT, "version": 1,
           "description": ("CHGNet energy per atom (eV/atom, the MP2020-corrected scale CHGNet learned) of the "
                           "lowest-energy relaxed structure of each element among a few candidates; "
                           "made by benchmarks/crystals/crystals_elemental_refs.py"),
           "protocol": protocol, "elements_from": how, "summary": summary,
           "elements": elements, "provenance": stored["provenance"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, doc)
    print(f"{summary['num_with_energy']} of {len(symbols)} elements in {wall / 60:.1f} min "
          f"({cpu / 60:.1f} CPU-min in this process); wrote {args.out}", file=sys.stderr)
    if missing:
        print(f"no energy for {', '.join(missing)}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
