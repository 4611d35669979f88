"""S.U.N. rate of de novo crystals beside held-out real structures, and CHGNet relaxation throughput.

    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_stability.py --num 50

One command, one run (Carbon-24 by default):

1. the seeded 80/20 split ``runs/<dataset>/{train,test}.csv`` of ``benchmarks/crystals/crystals_csp.py``
   (made when missing), the split the bundled de novo checkpoint was trained on;
2. *generated*: ``graphdiff sample --checkpoint carbon24-dng --task dng --num N --seed S``;
3. *held-out*: the first N rows of ``runs/<dataset>/test.csv``, real structures the model never
   saw: the ceiling a generator can reach under the same protocol;
4. the hull, two ways (``--hull-rows``):

   - ``chemsys`` (Perov-5's default): every training row whose elements all lie in the
     chemical system of a scored structure (generated or held-out). E_hull depends only on the
     entries of a composition's system and its subsystems, so this gives each scored structure
     the E_hull a hull of the whole training set would give. Perov-5's ABX3 rows rarely share
     a system, so the hull of a composition is mostly its elements and the training rows of the
     same three elements: no binary or other ternary phases, which the data does not hold.
     Its stable rates are therefore upper bounds of what a Materials Project hull would give.
   - ``ranked`` (Carbon-24's default, where every row is carbon and relaxing all ~1,600 is
     too slow on a CPU): the ``--hull-size`` rows with the lowest ``--energy-column``
     (Carbon-24's DFT ``energy_per_atom``; without the column a seeded random subset) together
     with the ``--hull-size-chgnet`` rows with the lowest static CHGNet energy per atom (the
     structures as given, batched, cached in ``runs/stability/train-static-energies/``). The
     second ranking is needed: Carbon-24's DFT-lowest rows are diamond-like, and its layered
     sp2 (graphite-like) rows, which CHGNet relaxes about 0.11 eV/atom lower, rank in the
     hundreds by the DFT column, so a hull of the DFT-lowest rows alone sits above the CHGNet
     minimum.

   Both add a standard structure of every element of the hull rows and of the scored
   structures (``graphdiff_crystals.stability.standard_element_structure``: ASE's reference
   state, a published crystal for B, P, Mn, Ga, Se and Te, or one molecule in a 12 Å box for
   H, N, O, F, Cl, Br, I and S8). Everything is relaxed with CHGNet by
   ``graphdiff_crystals.stability``'s own functions and the same protocol as the scored sets,
   and written as an entries file of plain ``{"composition", "energy", "entry_id"}`` objects;
5. ``graphdiff stability --generated SET.csv --entries hull-entries.json --train train.csv`` for
   both sets (hull from the entries, novelty against the training split), with the same
   ``--time-limit``, ``--fmax`` and ``--steps``;
6. ``benchmarks/crystals/results/<name>.json`` (the command, the machine, load averages, the hull, per set
   every rate, median E_hull and relaxation steps, converged / timed-out / failed counts,
   relaxation throughput in structures/min, and generated / held-out ratios) and ``<name>.png``
   (E_hull distributions with the 0 and 0.1 eV/atom lines, and the rates).

Working files go to ``runs/stability/<name>/``. Perov-5:

    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_stability.py --dataset perov_5 --num 100 \
        --name perov5_stability
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _machine import cpu_model, run_phase as _run_phase, usable_cores  # noqa: E402
from _provenance import Run, bundled, key_from_args, record  # noqa: E402
from _tables import csv_rows, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
RUNS = ROOT / "runs" / "stability"
GRAPHDIFF = Path(sys.executable).with_name("graphdiff")

#: The bundled de novo checkpoint of each dataset (trained on ``runs/<dataset>/train.csv``).
DNG_CHECKPOINTS = {"carbon_24": "carbon24-dng", "perov_5": "perov5-dng"}
#: How each dataset's hull rows are chosen by default (``--hull-rows``).
HULL_ROWS = {"carbon_24": "ranked", "perov_5": "chemsys"}
RATES = ("stable", "metastable", "unique", "novel", "sun", "msun")
SETS = ("generated", "heldout")
LABELS = {"generated": "generated (de novo)", "heldout": "held-out real"}

# ---------------------------------------------------------------------------- pure helpers

def resolve_checkpoint(dataset: str, checkpoint: str | None,
                       task_of: Callable[[str], str | None] = lambda name: None) -> str:
    """The de novo checkpoint to sample from; ``SystemExit`` with the reason when there is none.

    ``task_of(name)`` gives a bundled checkpoint's task (None for a path or unknown name); a
    bundled checkpoint whose task is not ``dng`` is refused.
    """
    if checkpoint is None:
        checkpoint = DNG_CHECKPOINTS.get(dataset)
    if checkpoint is None:
        raise SystemExit(f"no de novo checkpoint is bundled for {dataset}; pass one with --checkpoint")
    task = task_of(checkpoint)
    if task is not None and task != "dng":
        raise SystemExit(f"{checkpoint} is a {task} checkpoint; the S.U.N. rate needs a de novo (dng) one")
    return checkpoint


def bundled_task(name: str) -> str | None:
    """The task of a bundled checkpoint (``graphdiff checkpoints``), None for anything else."""
    from graphdiff.checkpoints import find_named

    found = find_named(name)
    return None if found is None else found.task


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def lowest_indices(values: Sequence[float | None], size: int) -> list[int]:
    """Indices of the ``size`` smallest finite values, smallest first (ties: earlier index first)."""
    valued = sorted((v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v))
    return [i for _, i in valued[:max(0, size)]]


def select_hull_rows(header: list[str], rows: list[list[str]], size: int, energy_column: str | None,
                     seed: int = 0) -> tuple[list[int], dict[str, Any]]:
    """Indices of the training rows chosen by their DFT energy, and how they were chosen.

    With ``energy_column`` in ``header``: the ``size`` rows with the lowest value of it (rows
    without a number there are skipped; ties keep file order). Otherwise ``size`` rows drawn
    with ``random.Random(seed)``, in file order.
    """
    size = max(0, min(size, len(rows)))
    if energy_column and energy_column in header:
        col = header.index(energy_column)
        values = [_float(r[col]) if col < len(r) else None for r in rows]
        picked = lowest_indices(values, size)
        info = {"how": f"the {len(picked)} training rows with the lowest '{energy_column}'",
                "energy_column": energy_column, "rows_with_a_value": sum(v is not None for v in values),
                "energy_range_of_subset": [values[picked[0]], values[picked[-1]]] if picked else None}
    else:
        picked = sorted(random.Random(seed).sample(range(len(rows)), size))
        info = {"how": (f"{len(picked)} training rows drawn at random (seed {seed}): the column "
                        f"'{energy_column}' is not in the training file, so the rows cannot be ranked by energy"),
                "energy_column": None, "seed": seed}
    info["num_train_rows"] = len(rows)
    info["row_indices"] = picked
    return picked, info


def _cif_elements(text: str) -> frozenset[str]:
    """The elements of the structure in a CIF text (raises when it cannot be read)."""
    import warnings

    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return frozenset(el.symbol for el in Structure.from_str(text, fmt="cif").composition.elements)


def element_sets_of_cifs(path: Path) -> list[frozenset[str]]:
    """The set of elements of every readable structure in a ``material_id, cif`` file."""
    header, rows = csv_rows(path)
    col = header.index("cif")
    out = []
    for r in rows:
        try:
            out.append(_cif_elements(r[col]))
        except Exception:  # noqa: BLE001 - an unreadable structure adds no chemical system
            continue
    return out


def select_chemsys_rows(header: list[str], rows: list[list[str]], systems: Sequence[frozenset[str]]
                        ) -> tuple[list[int], dict[str, Any]]:
    """Indices of the training rows whose elements all lie in one of ``systems``.

    The energy above the hull of a composition depends only on the entries of its chemical
    system and its subsystems, so a hull of these rows gives every scored structure the same
    E_hull as a hull of the whole training set would (with the same elemental references).
    Rows whose formula cannot be read are left out and counted.
    """
    from pymatgen.core import Composition

    col = header.index("formula") if "formula" in header else None
    cif_col = header.index("cif")
    unique = {frozenset(x) for x in systems if x}
    picked, unreadable = [], 0
    for i, r in enumerate(rows):
        try:
            if col is not None and r[col]:
                elements = frozenset(el.symbol for el in Composition(r[col]).elements)
            else:
                elements = _cif_elements(r[cif_col])
        except Exception:  # noqa: BLE001 - counted below
            unreadable += 1
            continue
        if any(elements <= sys_ for sys_ in unique):
            picked.append(i)
    info = {"how": (f"the {len(picked)} training rows inside the chemical systems of the scored structures "
                    f"({len(unique)} systems): exactly the entries a hull of the whole training set would "
                    "use for them"),
            "num_train_rows": len(rows), "num_chemical_systems": len(unique), "unreadable_rows": unreadable,
            "row_indices": picked}
    return picked, info


def merge_selections(*selections: Sequence[int]) -> list[int]:
    """The union of row selections, in file order."""
    return sorted({i for sel in selections for i in sel})


def row_ids(header: list[str], rows: list[list[str]], indices: Sequence[int]) -> list[str]:
    """The ``material_id`` of the rows (their index where the file has no such column)."""
    col = header.index("material_id") if "material_id" in header else None
    return [rows[i][col] if col is not None and col < len(rows[i]) else str(i) for i in indices]


def plain_entry(entry_id: str, composition: dict[str, float], energy: float) -> dict[str, Any]:
    """One entry of the hull file: total energy (eV), as ``graphdiff stability --entries`` reads it."""
    return {"entry_id": entry_id, "composition": {el: float(n) for el, n in composition.items()},
            "energy": float(energy)}


def hull_entries(records: Sequence[tuple[str, dict[str, float], dict[str, Any]]]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Entries of the relaxed reference structures and the ones left out.

    ``records``: ``(entry_id, composition, relax result)`` with the result of
    ``graphdiff_crystals.stability.Relaxer.relax`` (``energy``, ``error``...). A failed
    relaxation is left out; a timed-out one keeps its last-step energy (an extra point can
    only lower the hull).
    """
    entries, failed = [], []
    for entry_id, comp, res in records:
        energy = res.get("energy")
        if res.get("error") or energy is None or not math.isfinite(energy):
            failed.append({"id": entry_id, "reason": res.get("error") or "no energy"})
            continue
        entries.append(plain_entry(entry_id, comp, energy))
    return entries, failed


def elemental_minima(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each element, the pure-element entry of lowest energy per atom."""
    best: dict[str, dict[str, Any]] = {}
    for e in entries:
        comp = {el: n for el, n in e["composition"].items() if n}
        if len(comp) != 1:
            continue
        (el, n), = comp.items()
        epa = e["energy"] / n
        if el not in best or epa < best[el]["energy_per_atom"]:
            best[el] = {"entry_id": e["entry_id"], "energy_per_atom": epa}
    return best


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def set_summary(report: dict[str, Any], wall_s: float | None = None, cpu_s: float | None = None) -> dict[str, Any]:
    """The figures of one ``graphdiff stability`` report.

    The rates are over every submitted structure (MatterGen's denominator: one that could not be
    scored counts as a failure), so that generated and held-out sets compare on the same footing;
    the command's own rates, over the scored structures, are kept beside them as
    ``<rate>_of_scored`` with ``num_scored``.

    Relaxation throughput: relaxations (rows with a ``relax_time_s``: finished, timed out or
    failed inside CHGNet) per minute of their summed ``relax_time_s``; end-to-end: structures
    per minute of the command's wall time ``wall_s``
    (model load, reading the training set, static energies, relaxation, matching). With the
    command's CPU seconds ``cpu_s``, ``cpu_share`` is the share of a core it got (below 1 when
    other jobs ran on the same core), and the per-full-core figure divides the relaxation rate
    by it (an estimate: the share is over the whole command).
    """
    s = report["summary"]
    rows = report["rows"]
    # over every submitted structure, as MatterGen divides (graphdiff stability's own rates are over
    # the scored ones; reports written before that distinction have only these)
    submitted = s.get("rates_of_all_submitted") or {f"{k}_rate": s[f"{k}_rate"] for k in RATES}
    relax_times = [r["relax_time_s"] for r in rows if r.get("relax_time_s") is not None]
    steps = [r["relax_steps"] for r in rows if r.get("error") is None and r.get("relax_steps") is not None]
    relax_total = sum(relax_times)
    out: dict[str, Any] = {
        "num": s["num_generated"],
        **{f"{k}_rate": submitted[f"{k}_rate"] for k in RATES},
        **{f"num_{k}": s[f"num_{k}"] for k in RATES},
        "num_scored": s.get("num_scored", s["num_generated"] - s["num_without_e_hull"]),
        **({f"{k}_rate_of_scored": s[f"{k}_rate"] for k in RATES} if "rates_of_all_submitted" in s else {}),
        "e_hull_median": s["e_hull_median"], "e_hull_mean": s["e_hull_mean"],
        "e_hull_initial_median": _median([r["e_hull_initial"] for r in rows if r.get("e_hull_initial") is not None]),
        "relax_steps_median": _median(steps),
        "num_converged": sum(1 for r in rows if r.get("converged") is True),
        "num_timed_out": s["num_timed_out"],
        "num_failed": s["num_errors"] + s["num_unreadable"],
        "num_without_e_hull": s["num_without_e_hull"],
        "num_relaxations": len(relax_times),
        "relax_seconds_total": relax_total,
        "relax_s_per_structure_median": _median(relax_times),
        "relax_s_per_structure_max": max(relax_times) if relax_times else None,
        "relaxation_structures_per_min": 60 * len(relax_times) / relax_total if relax_total > 0 else None,
        "report_total_s": report.get("timing", {}).get("total_s"),
        "wall_s": wall_s,
        "end_to_end_structures_per_min": 60 * s["num_generated"] / wall_s if wall_s else None,
        "cpu_s": cpu_s,
        "cpu_share": cpu_s / wall_s if cpu_s is not None and wall_s else None,
    }
    rate, share = out["relaxation_structures_per_min"], out["cpu_share"]
    out["relaxation_structures_per_min_per_full_core_estimate"] = rate / share if rate and share else None
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``; None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def rate_ratios(generated: dict[str, Any], heldout: dict[str, Any]) -> dict[str, float | None]:
    """generated / held-out for every rate (the share of the ceiling the generator reaches)."""
    return {f"{k}_rate": ratio(generated.get(f"{k}_rate"), heldout.get(f"{k}_rate")) for k in RATES}


def e_hulls(report: dict[str, Any]) -> list[float]:
    return [r["e_hull"] for r in report["rows"] if r.get("e_hull") is not None]


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


# ---------------------------------------------------------------------------- environment

def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("graphdiff", "chgnet", "pymatgen", "ase", "torch", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def machine() -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cores": usable_cores(),
            "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"), "versions": versions(),
            "load_average_at_start": list(os.getloadavg())}


def run_phase(name: str, cmd: list[str], log_path: Path, log) -> dict:
    """:func:`_machine.run_phase` from the repository root."""
    return _run_phase(name, cmd, log_path, log, ROOT)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def ensure_split(dataset: str) -> tuple[Path, Path]:
    split_dir = ROOT / "runs" / dataset
    if not (split_dir / "train.csv").exists() or not (split_dir / "test.csv").exists():
        import crystals_csp

        crystals_csp.split(dataset)
    return split_dir / "train.csv", split_dir / "test.csv"


# ---------------------------------------------------------------------------- the hull

def train_static_energies(train_csv: Path, header: list[str], rows: list[list[str]], settings: Any,
                          cache_path: Path, log: Callable[[str], None]) -> tuple[list[float | None], dict[str, Any]]:
    """CHGNet energy per atom of every training structure as given (unrelaxed, batched), one
    value per row (None where the CIF cannot be read or CHGNet fails); cached in ``cache_path``
    by the training file's hash and the model."""
    import hashlib
    import warnings

    key = {"train_sha256": hashlib.sha256(train_csv.read_bytes()).hexdigest(), "model": settings.model}
    if cache_path.exists():
        doc = json.loads(cache_path.read_text())
        if doc.get("key") == key and len(doc.get("energy_per_atom", [])) == len(rows):
            log(f"static CHGNet energies of the training rows from {_rel(cache_path)}")
            return doc["energy_per_atom"], {"seconds": doc.get("seconds"), "cached": _rel(cache_path)}
    import torch
    from pymatgen.core import Structure
    from graphdiff_crystals.stability import Relaxer

    torch.set_num_threads(1)
    col = header.index("cif")
    structures: list[Any] = []
    for r in rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structures.append(Structure.from_str(r[col], fmt="cif"))
        except Exception:  # noqa: BLE001 - an unreadable row is not ranked
            structures.append(None)
    log(f"static CHGNet energies of {len(rows)} training rows (to rank them for the hull)")
    t0 = time.perf_counter()
    readable = [i for i, s in enumerate(structures) if s is not None]
    values: list[float | None] = [None] * len(rows)
    for i, (e, _) in zip(readable, Relaxer(settings).static_energies([structures[i] for i in readable], 64)):
        values[i] = e
    seconds = round(time.perf_counter() - t0, 1)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps({"key": key, "seconds": seconds, "energy_per_atom": values}))
    log(f"static energies: {seconds} s")
    return values, {"seconds": seconds, "cached": None}


def build_hull(subset_csv: Path, settings: Any, entries_path: Path, cache_path: Path,
               log: Callable[[str], None], elements_needed: Sequence[str] = ()) -> dict[str, Any]:
    """Relax the hull subset and a standard structure of each of its elements and of
    ``elements_needed`` (CHGNet, the same protocol as the scored sets) and write the entries
    file; returns the hull's description."""
    import torch
    from graphdiff_crystals.domain import CrystalDomain
    from graphdiff_crystals.stability import RelaxCache, Relaxer, relax_structures, standard_element_structure

    torch.set_num_threads(1)
    records = [(r["id"], r["obj"]) for r in CrystalDomain().read(subset_csv)]
    elements = sorted({el.symbol for _, s in records for el in s.composition.elements} | set(elements_needed))
    standard, no_standard = [], []
    for el in elements:
        built = standard_element_structure(el)
        if built is None:
            no_standard.append(el)
        else:
            standard.append((f"standard:{el}", built[0], built[1]))
    have_pure = {s.composition.elements[0].symbol for _, s in records if len(s.composition.elements) == 1}
    uncovered = sorted(set(no_standard) - have_pure)
    if uncovered:
        raise SystemExit(f"no elemental reference for {', '.join(uncovered)}: there is no standard "
                         "structure of it and the hull subset has no pure-element structure of it, so the "
                         "hull would not cover these compositions")
    items = [(f"train:{rid}", s, "training row") for rid, s in records] + standard
    log(f"relaxing {len(records)} training structures and {len(standard)} standard elemental structure(s) "
        f"for the hull (cache {_rel(cache_path)})")
    t0 = time.perf_counter()
    cache = RelaxCache(cache_path, settings)
    results = relax_structures([s for _, s, _ in items], settings, relaxer=Relaxer(settings), progress=True,
                               desc="relaxing the hull subset", cache=cache)
    seconds = time.perf_counter() - t0
    entries, failed = hull_entries([(eid, s.composition.as_dict(), res)
                                    for (eid, s, _), res in zip(items, results)])
    entries_path.write_text(json.dumps(entries, indent=1))
    minima = elemental_minima(entries)
    fresh = [res for res in results if not res.get("cached")]
    relax_times = [res["relax_time_s"] for res in fresh if res.get("relax_time_s") is not None]
    refs = []
    for (eid, s, src), res in zip(items[len(records):], results[len(records):]):
        refs.append({"entry_id": eid, "source": src, "formula": s.composition.reduced_formula,
                     "energy_per_atom": res.get("energy_per_atom"), "error": res.get("error")})
    per_entry = [{"entry_id": eid, "formula": s.composition.reduced_formula, "num_atoms": len(s),
                  "energy_per_atom": res.get("energy_per_atom"), "relax_steps": res.get("relax_steps"),
                  "converged": res.get("converged"), "timed_out": res.get("timed_out"), "error": res.get("error")}
                 for (eid, s, _), res in zip(items, results)]
    return {
        "entries_file": _rel(entries_path), "subset_file": _rel(subset_csv),
        "num_entries": len(entries), "num_training_rows": len(records), "standard_elemental_structures": refs,
        "failed": failed, "num_timed_out": sum(1 for r in results if r.get("timed_out")),
        "elemental_minimum": minima, "entries": per_entry,
        "relax_seconds": round(seconds, 2), "cache": {"path": _rel(cache_path), "hits": cache.hits},
        "relaxation_structures_per_min": 60 * len(relax_times) / sum(relax_times) if relax_times else None,
    }


# ---------------------------------------------------------------------------- the figure

def plot(result: dict[str, Any], reports: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {"generated": "#1f77b4", "heldout": "#888888"}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    values = {k: np.sort(np.asarray(e_hulls(reports[k]), dtype=float)) for k in SETS}
    everything = np.concatenate([v for v in values.values() if v.size]) if any(v.size for v in values.values()) \
        else np.zeros(1)
    hi = max(0.3, float(np.quantile(everything, 0.95)) * 1.1)
    lo = min(-0.05, float(everything.min()) - 0.02)
    for k in SETS:
        v = values[k]
        if not v.size:
            continue
        y = np.arange(1, v.size + 1) / result["sets"][k]["num"]  # over all structures, as the rates
        ax.step(np.concatenate([[lo], np.clip(v, lo, hi)]), np.concatenate([[0.0], y]), where="post",
                color=colors[k], label=f"{LABELS[k]} (n={result['sets'][k]['num']}, median {np.median(v):.3f})")
    for x, name in ((0.0, "stable"), (0.1, "metastable")):
        ax.axvline(x, color="k", lw=0.8, ls="--" if x else "-")
        ax.annotate(f" {name}", (x, 0.02), fontsize=8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"E_hull (eV/atom, CHGNet; values beyond {hi:.2f} drawn at the edge)")
    ax.set_ylabel("fraction of structures with E_hull <= x")
    ax.set_title(f"{result['dataset']}: E_hull after CHGNet relaxation")
    ax.legend(fontsize=8, loc="upper left")
    width = 0.38
    for i, k in enumerate(SETS):
        vals = [100 * (result["sets"][k][f"{r}_rate"] or 0) for r in RATES]
        bars = bx.bar([j + (i - 0.5) * width for j in range(len(RATES))], vals, width, color=colors[k],
                      label=LABELS[k])
        for b in bars:
            bx.annotate(f"{b.get_height():.0f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
    bx.set_xticks(range(len(RATES)), [r.upper() if r in ("sun", "msun") else r for r in RATES], fontsize=8)
    bx.set_ylabel("% of structures")
    bx.set_ylim(0, 115)
    bx.set_title("rates (MatterGen definitions)")
    bx.legend(fontsize=8, loc="upper right")
    g, h = result["sets"]["generated"], result["sets"]["heldout"]
    fig.suptitle(f"{result['checkpoint']} vs held-out {result['dataset']} rows; hull: "
                 f"{result['hull']['num_entries']} CHGNet-relaxed references; relaxation "
                 f"{g['relaxation_structures_per_min']:.1f} / {h['relaxation_structures_per_min']:.1f} structures/min "
                 f"(generated / held-out, one CPU core shared with other jobs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- main

def ranked_hull_rows(args: argparse.Namespace, train_csv: Path, header: list[str], train_rows: list[list[str]],
                     settings: Any, log: Callable[[str], None]) -> tuple[list[int], dict[str, Any]]:
    """The union of the lowest ``--energy-column`` rows and the lowest static-CHGNet rows."""
    dft_idx, dft_info = select_hull_rows(header, train_rows, args.hull_size, args.energy_column, args.seed)
    static_idx: list[int] = []
    static_info: dict[str, Any] = {"how": "not used (--hull-size-chgnet 0)"}
    if args.hull_size_chgnet > 0:
        static, timing = train_static_energies(train_csv, header, train_rows, settings,
                                               RUNS / "train-static-energies" / f"{args.dataset}.json", log)
        static_idx = lowest_indices(static, args.hull_size_chgnet)
        static_info = {"how": (f"the {len(static_idx)} training rows with the lowest CHGNet energy per atom of "
                               "the structure as given (unrelaxed, batched static prediction)"),
                       "rows_with_a_value": sum(v is not None for v in static),
                       "energy_range_of_subset": ([static[static_idx[0]], static[static_idx[-1]]]
                                                  if static_idx else None),
                       "row_indices": static_idx, **timing}
    chosen = merge_selections(dft_idx, static_idx)
    how = {"how": (f"{len(chosen)} training rows: the union of {dft_info['how']} and {static_info['how']} "
                   f"({len(set(dft_idx) & set(static_idx))} in both)"),
           "num_train_rows": len(train_rows), "num_rows": len(chosen), "by_energy_column": dft_info,
           "by_chgnet_static_energy": static_info, "material_ids": row_ids(header, train_rows, chosen)}
    return chosen, how


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="carbon_24", help="runs/<dataset>/{train,test}.csv (crystals_csp.py split)")
    p.add_argument("--checkpoint", default=None,
                   help="de novo checkpoint (path or bundled name) [default: the dataset's bundled one, "
                        f"{DNG_CHECKPOINTS}]")
    p.add_argument("--num", type=int, default=100, help="generated structures, and held-out rows")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (and of a random hull subset)")
    p.add_argument("--sample-steps", type=int, default=None, help="reverse steps [default: the checkpoint's]")
    p.add_argument("--hull-rows", choices=["ranked", "chemsys"], default=None,
                   help="ranked: the --hull-size / --hull-size-chgnet lowest-energy training rows (a subset "
                        "when every row shares the scored structures' chemical system, as in Carbon-24); "
                        "chemsys: every training row inside a chemical system of a scored structure (exact) "
                        f"[default per dataset: {HULL_ROWS}, else ranked]")
    p.add_argument("--hull-size", type=int, default=40,
                   help="training rows with the lowest --energy-column in the hull subset")
    p.add_argument("--energy-column", default="energy_per_atom",
                   help="training-file column that ranks the rows for the hull subset (lowest first)")
    p.add_argument("--hull-size-chgnet", type=int, default=40,
                   help="also the training rows with the lowest static CHGNet energy (0: none)")
    p.add_argument("--time-limit", type=float, default=120.0, help="relaxation wall-clock seconds per structure")
    p.add_argument("--fmax", type=float, default=0.1, help="relaxation force threshold (eV/Å)")
    p.add_argument("--steps", type=int, default=500, help="maximum relaxation steps per structure")
    p.add_argument("--name", default="crystals_stability", help="result name (<results-dir>/<name>.json/.png)")
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON and PNG go")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    checkpoint = resolve_checkpoint(args.dataset, args.checkpoint, bundled_task)
    if args.num < 1 or args.hull_size < 0 or args.hull_size_chgnet < 0 or args.hull_size + args.hull_size_chgnet < 1:
        raise SystemExit("--num must be at least 1, and --hull-size and --hull-size-chgnet not both 0")
    run_dir = RUNS / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    results_dir = args.results_dir if args.results_dir.is_absolute() else ROOT / args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    run = Run(seeds={"seed": args.seed}, argv=[__file__, *argv], data=[bundled(checkpoint)])

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", flush=True)

    result: dict[str, Any] = {
        "name": args.name,
        "command": shlex.join(["python", "benchmarks/crystals/crystals_stability.py", *argv]),
        "launched_as": (f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} on CPU(s) "
                        f"{sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"),
        "machine": machine(), "dataset": args.dataset, "checkpoint": checkpoint, "num": args.num,
        "seed": args.seed, "run_dir": _rel(run_dir),
    }
    from graphdiff_crystals.stability import RelaxSettings

    settings = RelaxSettings(fmax=args.fmax, steps=args.steps, time_limit=args.time_limit)
    result["relaxation"] = {**settings.protocol(), "time_limit_s_per_structure": args.time_limit,
                            "torch_threads": 1, "workers": 1,
                            "same_for": "hull subset, generated and held-out structures"}

    # 1. the split
    train_csv, test_csv = ensure_split(args.dataset)
    header, train_rows = csv_rows(train_csv)
    result["data"] = {"train": _rel(train_csv), "test": _rel(test_csv), "train_rows": len(train_rows),
                      "split": (f"seeded 80/20 of ../shared/data/{args.dataset}/val.csv "
                                "(benchmarks/crystals/crystals_csp.py split)")}

    # 2. generated
    gen_csv = run_dir / "generated.csv"
    if gen_csv.exists():
        gen_csv.unlink()
    cmd = [str(GRAPHDIFF), "sample", "--checkpoint", checkpoint, "--task", "dng", "--num", str(args.num),
           "--seed", str(args.seed), "-q", "-o", str(gen_csv)]
    if args.sample_steps:
        cmd += ["--steps", str(args.sample_steps)]
    result["sampling"] = run_phase("sample", cmd, run_dir / "sample.log", log)

    # 3. held-out
    test_header, test_rows = csv_rows(test_csv, args.num)
    held_csv = run_dir / "heldout.csv"
    write_csv(held_csv, test_header, test_rows)
    result["data"]["heldout_rows"] = len(test_rows)
    result["data"]["heldout"] = f"the first {len(test_rows)} rows of {_rel(test_csv)} -> {_rel(held_csv)}"

    # 4. the hull
    hull_rows = args.hull_rows or HULL_ROWS.get(args.dataset, "ranked")
    systems = element_sets_of_cifs(gen_csv) + element_sets_of_cifs(held_csv)
    if hull_rows == "chemsys":
        chosen, how = select_chemsys_rows(header, train_rows, systems)
        how["material_ids"] = row_ids(header, train_rows, chosen)
    else:
        chosen, how = ranked_hull_rows(args, train_csv, header, train_rows, settings, log)
    subset_csv = run_dir / "hull-subset.csv"
    write_csv(subset_csv, header, [train_rows[i] for i in chosen])
    entries_path = run_dir / "hull-entries.json"
    load_before = list(os.getloadavg())
    hull = build_hull(subset_csv, settings, entries_path, run_dir / "hull-relax-cache.json", log,
                      elements_needed=sorted(set().union(*systems)))
    hull["selection"] = how
    hull["load_average_before"], hull["load_average_after"] = load_before, list(os.getloadavg())
    standards = ", ".join(r["formula"] + " " + r["source"] for r in hull["standard_elemental_structures"])
    hull["description"] = (
        f"{hull['num_entries']} CHGNet-relaxed reference structures: {how['how']} (of {how['num_train_rows']}; "
        "relaxed CHGNet energies build the hull; the dataset's energies are not used) plus a "
        f"standard structure of each element ({standards}), relaxed with the same protocol as the scored structures")
    minima = ", ".join(f"{el}: {m['energy_per_atom']:.4f} eV/atom ({m['entry_id']})"
                       for el, m in hull["elemental_minimum"].items())
    log(f"hull: {hull['num_entries']} entries, {len(hull['failed'])} failed; lowest per element: {minima}")
    result["hull"] = hull

    # 5. stability of both sets
    reports: dict[str, dict[str, Any]] = {}
    result["sets"] = {}
    for key, path in (("generated", gen_csv), ("heldout", held_csv)):
        out = run_dir / f"stability-{key}.json"
        phase = run_phase(f"stability {key}", [
            str(GRAPHDIFF), "stability", "--generated", str(path), "--entries", str(entries_path),
            "--train", str(train_csv), "--out", str(out), "--time-limit", str(args.time_limit),
            "--fmax", str(args.fmax), "--steps", str(args.steps), "--workers", "1", "-q"],
            run_dir / f"stability-{key}.log", log)
        reports[key] = json.loads(out.read_text())
        summary = set_summary(reports[key], phase["wall_seconds"], phase["cpu_seconds"])
        result["sets"][key] = {**summary, "report": _rel(out), "input": _rel(path), "phase": phase,
                               "hull_used": reports[key]["hull"]["description"],
                               "notes": reports[key]["notes"]}
        log(f"{key}: stable {pct(summary['stable_rate'])}, metastable {pct(summary['metastable_rate'])}, "
            f"unique {pct(summary['unique_rate'])}, novel {pct(summary['novel_rate'])}, "
            f"SUN {pct(summary['sun_rate'])}, MSUN {pct(summary['msun_rate'])}; median E_hull "
            f"{summary['e_hull_median']}; {summary['relaxation_structures_per_min']:.2f} structures/min relaxing")

    # 6. comparison, figure
    g, h = result["sets"]["generated"], result["sets"]["heldout"]
    result["ratio_generated_to_heldout"] = rate_ratios(g, h)
    relax_total = g["relax_seconds_total"] + h["relax_seconds_total"]
    n_relaxed = g["num_relaxations"] + h["num_relaxations"]
    result["throughput"] = {
        "relaxation_structures_per_min": {"generated": g["relaxation_structures_per_min"],
                                          "heldout": h["relaxation_structures_per_min"],
                                          "both": 60 * n_relaxed / relax_total if relax_total else None,
                                          "hull_subset": hull["relaxation_structures_per_min"]},
        "end_to_end_structures_per_min": {"generated": g["end_to_end_structures_per_min"],
                                          "heldout": h["end_to_end_structures_per_min"]},
        "definition": ("relaxation: structures relaxed per minute of summed per-structure relaxation time "
                       "(CHGNet FIRE + FrechetCellFilter, one process, one torch thread); end-to-end: structures "
                       "per minute of the whole graphdiff stability command (model load, reading the training "
                       "set, static energies, relaxation, StructureMatcher uniqueness/novelty)"),
        "relaxation_structures_per_min_per_full_core_estimate": {
            k: result["sets"][k]["relaxation_structures_per_min_per_full_core_estimate"] for k in SETS},
        "cpu_share_of_the_stability_commands": {k: result["sets"][k]["cpu_share"] for k in SETS},
        "sampling_structures_per_min": 60 * args.num / result["sampling"]["wall_seconds"],
    }
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    json_path = results_dir / f"{args.name}.json"
    run.add_data(train_csv, test_csv, gen_csv)
    record(json_path, key_from_args(args, ignore=("name", "results_dir"), checkpoint=checkpoint), result, run)
    plot(result, reports, results_dir / f"{args.name}.png")
    r = result["ratio_generated_to_heldout"]
    log(f"generated / held-out: SUN {r['sun_rate']}, MSUN {r['msun_rate']}, stable {r['stable_rate']}, "
        f"metastable {r['metastable_rate']}")
    log(f"wrote {_rel(json_path)} and .png")
    return result


if __name__ == "__main__":
    main()
