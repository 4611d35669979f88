"""CHGNet relaxation speed: chgnet's ``StructOptimizer`` (one structure at a time) against the
batched relaxer (``graphdiff_crystals.stability.batch_relax``), the same FIRE and
``FrechetCellFilter``, the same ``fmax`` and step cap, on the same perturbed structures.

Structures: Carbon-24 and Perov-5 crystals of the bundled samples (``sample_path``), chosen with
``--seed``, every atom moved ``--rattle`` Å in a random direction (generated-like: off their
minimum). Phases, each timed on its own (a shared machine is noisy; its load average is
recorded before each):

1. ``structoptimizer``: the first ``--n-ase`` structures of each dataset, one by one, by
   chgnet's own ``StructOptimizer().relax`` as a user calls it (task ``efsm`` every step, BLAS
   threads as the process has them); converged = stopped before the step cap;
2. ``ase``: the same, by chgnet's StructOptimizer parts as ``graphdiff stability --relaxer ase``
   runs them (one BLAS thread: scipy's 3x3 ``logm``/``expm`` in the cell filter otherwise take
   milliseconds each on a busy machine);
3. ``batched_same``: the same structures in one batched call;
4. ``batched_all``: all ``--n`` structures of each dataset in one batched call.

Figures: per structure, ms per FIRE step (its relaxation's wall time over its CHGNet
evaluations, ``steps + 1``; for a batched call, the call's wall time over all evaluations it
made, i.e. the amortised cost of one structure-step) and their median, total wall time,
steps, converged fraction and, for structures relaxed both ways, final energy differences
(meV/atom). torch runs ``--threads`` intra-op threads in every phase.

    python benchmarks/crystals/crystals_relax_speed.py                      # writes results/crystals_relax_speed.json
    python benchmarks/crystals/crystals_relax_speed.py --n 4 --n-ase 1 --steps 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("carbon_24", "perov_5")


def rattled(dataset: str, n: int, rattle: float, seed: int) -> list[tuple[str, Any]]:
    """``n`` ``(id, Structure)`` of a bundled sample (rows chosen with ``seed``), every atom moved
    ``rattle`` Å in a uniformly random direction."""
    from pymatgen.core import Structure

    from graphdiff_crystals.domain import CrystalDomain
    from graphdiff_crystals.io import sample_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = list(CrystalDomain().read(sample_path(dataset)))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(records), size=min(n, len(records)), replace=False)
    out = []
    for k in picks:
        s = records[int(k)]["obj"]
        step = rng.normal(size=(len(s), 3))
        step *= rattle / np.linalg.norm(step, axis=1, keepdims=True)
        out.append((str(records[int(k)]["id"]),
                    Structure(s.lattice, s.species, s.cart_coords + step, coords_are_cartesian=True)))
    return out


def per_step_ms(seconds: float, steps: int) -> float:
    """Milliseconds per CHGNet evaluation of a relaxation of ``steps`` FIRE steps (``steps + 1``
    evaluations)."""
    return 1000.0 * seconds / (steps + 1)


def summarise(rows: Sequence[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """Median ms per step, total steps, converged fraction and wall time of one phase's rows
    (``{"ms_per_step", "steps", "converged", "error"}``)."""
    ok = [r for r in rows if r["error"] is None]
    return {"num_structures": len(rows), "num_failed": len(rows) - len(ok),
            "median_ms_per_step": statistics.median(r["ms_per_step"] for r in ok) if ok else None,
            "total_steps": sum(r["steps"] for r in ok), "converged_fraction": (
                sum(1 for r in ok if r["converged"]) / len(ok) if ok else None),
            "wall_s": round(wall_s, 2)}


def energy_differences(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``b - a`` final energies (meV/atom) of the structures both relaxed, overall and over those
    both converged, and how many took the same number of steps."""
    both = [(x, y) for x, y in zip(a, b) if x["error"] is None and y["error"] is None]
    d = [1000 * (y["energy_per_atom"] - x["energy_per_atom"]) for x, y in both]
    dc = [1000 * (y["energy_per_atom"] - x["energy_per_atom"]) for x, y in both if x["converged"] and y["converged"]]
    return {"num_compared": len(both), "max_abs_meV_per_atom": max(map(abs, d)) if d else None,
            "mean_meV_per_atom": float(np.mean(d)) if d else None,
            "max_abs_meV_per_atom_both_converged": max(map(abs, dc)) if dc else None,
            "num_same_steps": sum(1 for x, y in both if x["steps"] == y["steps"])}


def run_ase(items: Sequence[tuple[str, Any]], fmax: float, steps: int) -> tuple[list[dict[str, Any]], float]:
    from graphdiff_crystals.stability import Relaxer, RelaxSettings

    relaxer = Relaxer(RelaxSettings(fmax=fmax, steps=steps, time_limit=None, engine="ase"))
    rows, t0 = [], time.perf_counter()
    for rid, s in items:
        t = time.perf_counter()
        r = relaxer.relax(s)
        dt = time.perf_counter() - t
        rows.append({"id": rid, "num_atoms": len(s), "steps": r["relax_steps"], "converged": r["converged"],
                     "energy_per_atom": r["energy_per_atom"], "seconds": round(dt, 3),
                     "ms_per_step": per_step_ms(dt, r["relax_steps"]), "error": r["error"]})
    return rows, time.perf_counter() - t0


def run_structoptimizer(items: Sequence[tuple[str, Any]], fmax: float,
                        steps: int) -> tuple[list[dict[str, Any]], float]:
    import contextlib
    import io

    from chgnet.model import StructOptimizer

    with contextlib.redirect_stdout(io.StringIO()):
        opt = StructOptimizer(optimizer_class="FIRE")  # its own CHGNet, as a user gets it
    rows, t0 = [], time.perf_counter()
    for rid, s in items:
        t = time.perf_counter()
        try:
            out = opt.relax(s, fmax=fmax, steps=steps, relax_cell=True, ase_filter="FrechetCellFilter",
                            verbose=False)
            n_steps = len(out["trajectory"].energies) - 2  # observed at step 0, every step, and once more
            e, err = float(out["trajectory"].energies[-1]) / len(s), None
        except Exception as exc:  # noqa: BLE001 - reported in the row
            n_steps, e, err = 0, None, f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t
        rows.append({"id": rid, "num_atoms": len(s), "steps": n_steps, "converged": err is None and n_steps < steps,
                     "energy_per_atom": e, "seconds": round(dt, 3), "ms_per_step": per_step_ms(dt, n_steps),
                     "error": err})
    return rows, time.perf_counter() - t0


def run_batched(items: Sequence[tuple[str, Any]], fmax: float, steps: int,
                batch_size: int) -> tuple[list[dict[str, Any]], float]:
    from graphdiff_crystals.stability.batch_relax import load_chgnet, relax_batch

    model = load_chgnet()
    t0 = time.perf_counter()
    res = relax_batch([s for _, s in items], fmax=fmax, steps=steps, batch_size=batch_size, model=model,
                      threads=None)
    wall = time.perf_counter() - t0
    evaluations = sum(r["steps"] + 1 for r in res if r["error"] is None) or 1
    amortised = 1000.0 * wall / evaluations
    rows = [{"id": rid, "num_atoms": len(s), "steps": r["steps"], "converged": r["converged"],
             "energy_per_atom": r["energy_per_atom"], "seconds_own_share": r["time_s"],
             "ms_per_step": amortised, "ms_per_step_own_share": None if r["time_s"] is None
             else per_step_ms(r["time_s"], r["steps"]), "displacement_rms": r["displacement_rms"],
             "displacement_max": r["displacement_max"], "error": r["error"]} for (rid, s), r in zip(items, res)]
    return rows, wall


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="structures per dataset for the batched relaxer")
    ap.add_argument("--n-ase", type=int, default=3, help="of them, per dataset, also relaxed by StructOptimizer")
    ap.add_argument("--steps", type=int, default=100, help="FIRE step cap")
    ap.add_argument("--fmax", type=float, default=0.1, help="eV/Å")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rattle", type=float, default=0.2, help="Å every atom is moved")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads in every phase")
    ap.add_argument("--name", default="crystals_relax_speed", help="results file name")
    ap.add_argument("--results", type=Path, default=RESULTS, help="results folder")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import torch

    from graphdiff_crystals.io import sample_path

    torch.set_num_threads(args.threads)
    run = Run(seeds={"seed": args.seed}, data=[sample_path(d) for d in DATASETS],
              argv=None if argv is None else [__file__, *argv])
    items = {d: rattled(d, args.n, args.rattle, args.seed) for d in DATASETS}
    same = [it for d in DATASETS for it in items[d][:args.n_ase]]
    every = [it for d in DATASETS for it in items[d]]
    phases: dict[str, Any] = {}
    for name, fn, its in (("structoptimizer", lambda x: run_structoptimizer(x, args.fmax, args.steps), same),
                          ("ase", lambda x: run_ase(x, args.fmax, args.steps), same),
                          ("batched_same", lambda x: run_batched(x, args.fmax, args.steps, args.batch_size), same),
                          ("batched_all", lambda x: run_batched(x, args.fmax, args.steps, args.batch_size), every)):
        load0 = os.getloadavg()[0]
        print(f"{name}: {len(its)} structures (load {load0:.1f})", file=sys.stderr, flush=True)
        rows, wall = fn(its)
        phases[name] = {"summary": {**summarise(rows, wall), "load_average_1min_before": round(load0, 2)},
                        "rows": rows}
        print(f"  {phases[name]['summary']}", file=sys.stderr, flush=True)
    ase, same_b = phases["ase"]["summary"], phases["batched_same"]["summary"]
    raw = phases["structoptimizer"]["summary"]
    comparison = {
        "median_ms_per_step_structoptimizer": raw["median_ms_per_step"],
        "speedup_median_ms_per_step_vs_structoptimizer": (
            raw["median_ms_per_step"] / same_b["median_ms_per_step"]
            if raw["median_ms_per_step"] and same_b["median_ms_per_step"] else None),
        "speedup_wall_vs_structoptimizer": raw["wall_s"] / same_b["wall_s"] if same_b["wall_s"] else None,
        "energy_batched_minus_structoptimizer": energy_differences(phases["structoptimizer"]["rows"],
                                                                   phases["batched_same"]["rows"]),
        "energy_batched_minus_ase": energy_differences(phases["ase"]["rows"], phases["batched_same"]["rows"]),
        "median_ms_per_step_ase": ase["median_ms_per_step"],
        "median_ms_per_step_batched": same_b["median_ms_per_step"],
        "speedup_median_ms_per_step": (ase["median_ms_per_step"] / same_b["median_ms_per_step"]
                                       if ase["median_ms_per_step"] and same_b["median_ms_per_step"] else None),
        "speedup_wall": ase["wall_s"] / same_b["wall_s"] if same_b["wall_s"] else None,
    }
    key = key_from_args(args, ignore=("name", "results"))
    result = {"comparison": comparison, "phases": phases,
              "how": ("structoptimizer: chgnet's StructOptimizer().relax as is; "
                      "ase: chgnet StructOptimizer's CHGNetCalculator with ASE FIRE + FrechetCellFilter, one "
                      "structure at a time (graphdiff stability --relaxer ase); batched: graphdiff_crystals."
                      "stability.batch_relax.relax_batch, the same FIRE and filter, batch_size structures per "
                      "CHGNet call, forces and stress from one backward pass; ms per step: wall time over CHGNet "
                      "evaluations (steps + 1), amortised over the batch for the batched phases")}
    stored = record(args.results / f"{args.name}.json", key, result, run)
    print(f"median ms/step: chgnet StructOptimizer {comparison['median_ms_per_step_structoptimizer']:.0f}, "
          f"graphdiff --relaxer ase {comparison['median_ms_per_step_ase']:.0f}, batched "
          f"{comparison['median_ms_per_step_batched']:.0f} (x{comparison['speedup_median_ms_per_step'] or 0:.1f}); "
          f"wall x{comparison['speedup_wall'] or 0:.1f}; energies: {comparison['energy_batched_minus_ase']}",
          file=sys.stderr)
    return stored


if __name__ == "__main__":
    main()
