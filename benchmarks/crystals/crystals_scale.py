"""Time and memory of one denoiser sampling step vs crystal size: fully connected vs radius graph.

    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_scale.py [--repeats 15] [--cutoff 5.0]
    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_scale.py --sizes 1 2 4   # a quick look

Supercells (pymatgen ``make_supercell``) of the first Perov-5 structure of the bundled sample
(``graphdiff_crystals/data/perov5_sample.csv``, 5 atoms) give cells of 5, 10, 20, 40, 80, 135
and 200 atoms. For each cell and each mode of the periodic denoiser (hidden 128, 4 layers,
32 Fourier frequencies, as the bundled ``perov5-csp``; the fully connected graph, and the
radius graph with ``cutoff`` 5 Å) it times one forward pass of an untrained model, the work of
one sampling step, on a batch of one crystal at a mid-noise state (``t = 0.5``; the real
lattice; every atom displaced by Gaussian noise of 0.1 Å per Cartesian component; atom types
given), under ``torch.no_grad``: median over ``--repeats`` after 3 warm-up passes. The radius
mode's time includes its neighbour search (vesin, CPU), which is also timed on its own.

Memory: the peak resident set size *added* by the forward pass, measured in a fresh Python
process per (mode, size): after building the model and inputs the kernel's high-water mark is
reset (``/proc/self/clear_refs``, Linux), three forward passes run, and the result is
``VmHWM - VmRSS`` before them (``/proc/self/status``), with glibc told to serve blocks of
64 kB and more from ``mmap`` and return them on free (``MALLOC_MMAP_THRESHOLD_=65536``), so that
the warm-up pass's memory is not kept resident and reused unseen. It counts every allocation
(torch's CPU allocator, vesin, NumPy), unlike ``tracemalloc``, which sees only Python objects.

Slopes are least-squares fits of ``log(y)`` on ``log(atoms)`` over all sizes and over
``>= 20`` atoms (where fixed per-call costs stop dominating). Run with one thread: the
machine is shared, so medians.

Writes ``benchmarks/crystals/results/crystals_scale.json`` (the exact command, torch threads, machine)
and ``crystals_scale.png`` (also copied to ``docs/images/``).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _machine import cpu_model, usable_cores  # noqa: E402
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DOC_IMAGES = ROOT / "docs" / "images"

#: supercell multiplier -> (na, nb, nc); atoms = 5 * na * nb * nc
SUPERCELLS = {1: (1, 1, 1), 2: (2, 1, 1), 4: (2, 2, 1), 8: (2, 2, 2), 16: (4, 2, 2),
              27: (3, 3, 3), 40: (5, 4, 2)}
MODES = ("fully_connected", "radius")


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": usable_cores(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "load_average": list(os.getloadavg())}


def perov5_structure():
    from pymatgen.core import Structure

    from graphdiff_crystals import sample_path

    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        row = next(csv.DictReader(fh))
    return row["material_id"], Structure.from_str(row["cif"], fmt="cif")


def build(mode: str, mult: int, cutoff: float, seed: int = 0):
    """``(denoiser, graphs, atoms)`` for one mode and supercell multiplier."""
    from torch_geometric.data import Batch

    from graphdiff.nn import NoisyGraphs, PeriodicDenoiser
    from graphdiff_crystals.domain import CrystalDomain

    _, prim = perov5_structure()
    cell = prim.make_supercell(list(SUPERCELLS[mult]), in_place=False)
    rng = np.random.default_rng(seed)
    noisy = cell.copy()
    cart = cell.cart_coords + 0.1 * rng.standard_normal((len(cell), 3))
    noisy = type(cell)(cell.lattice, cell.species, cart, coords_are_cartesian=True)
    dom = CrystalDomain(max_nodes=100_000)
    dom.min_distance = 0.0  # the noisy state may put atoms close together
    batch = Batch.from_data_list([dom.to_graph(noisy)])
    spec = dom.spec
    options = {"cutoff": cutoff} if mode == "radius" else {}
    torch.manual_seed(0)
    net = PeriodicDenoiser(spec, {"frac_coords": 3, "lattice": 6}, hidden=128, layers=4, num_freqs=32,
                           **options).eval()
    if mode == "radius":
        net.set_lattice_normalisation()  # the input below is the raw lattice parameters
    types = torch.nn.functional.one_hot(batch.atom_types, 100).float()
    graphs = NoisyGraphs(inputs={"atom_types": types, "frac_coords": batch.frac_coords.float(),
                                 "lattice": batch.lattice.float()},
                         t=torch.tensor([0.5]), batch=batch.batch, ptr=batch.ptr,
                         given=frozenset({"atom_types"}))
    return net, graphs, len(cell)


def count_edges(net, graphs) -> int:
    from graphdiff.nn.periodic import periodic_radius_graph

    n = graphs.num_nodes
    if net.cutoff is None:
        return n * n if net.self_pairs else n * (n - 1)
    lattice = net.lattice_matrices(graphs, graphs.inputs["frac_coords"])
    edge_index, _ = periodic_radius_graph(graphs.inputs["frac_coords"], lattice, graphs.ptr, net.cutoff,
                                          net.max_neighbors, self_loops=net.self_pairs)
    return int(edge_index.size(1))


def median_time(fn, repeats: int, warmup: int = 3) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def time_row(mode: str, mult: int, cutoff: float, repeats: int) -> dict[str, Any]:
    from graphdiff.nn.periodic import periodic_radius_graph

    net, graphs, atoms = build(mode, mult, cutoff)
    edges = count_edges(net, graphs)
    with torch.no_grad():
        med, times = median_time(lambda: net(graphs), repeats)
        search = None
        if mode == "radius":
            lattice = net.lattice_matrices(graphs, graphs.inputs["frac_coords"])
            frac = graphs.inputs["frac_coords"]
            search, _ = median_time(lambda: periodic_radius_graph(frac, lattice, graphs.ptr, net.cutoff), repeats)
    return {"mode": mode, "atoms": atoms, "supercell": list(SUPERCELLS[mult]), "edges": edges,
            "edges_per_atom": edges / atoms, "median_ms": 1e3 * med,
            "quartiles_ms": [1e3 * float(q) for q in np.percentile(times, [25, 75])],
            "search_median_ms": None if search is None else 1e3 * search}


PEAK = """
import re, sys, torch
torch.set_num_threads({threads})
sys.path.insert(0, {here!r})
from crystals_scale import build
def status():
    text = open("/proc/self/status").read()
    return {{k: int(re.search(k + r":\\s+(\\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}}
net, graphs, atoms = build({mode!r}, {mult}, {cutoff})
with torch.no_grad():
    net(graphs)  # first call: lazy allocations, imports (vesin)
    before = status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    for _ in range(3):
        net(graphs)
after = status()
print(before / 1024, after["VmHWM"] / 1024)
"""


def peak_memory(mode: str, mult: int, cutoff: float) -> dict[str, float]:
    code = PEAK.format(here=str(Path(__file__).parent), mode=mode, mult=mult, cutoff=cutoff,
                       threads=torch.get_num_threads())
    # large blocks straight from mmap, given back on free: otherwise glibc keeps the warm-up
    # pass's memory resident and the measured passes reuse it without raising the peak
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    before, peak = map(float, out.stdout.strip().splitlines()[-1].split())
    return {"rss_before_mb": before, "peak_rss_mb": peak, "peak_increment_mb": peak - before}


def slope(x: list[float], y: list[float]) -> float | None:
    if len(x) < 2:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def fits(rows: list[dict]) -> dict[str, Any]:
    out = {}
    for mode in MODES:
        rs = [r for r in rows if r["mode"] == mode]
        big = [r for r in rs if r["atoms"] >= 20]
        out[mode] = {
            "time_vs_atoms": slope([r["atoms"] for r in rs], [r["median_ms"] for r in rs]),
            "time_vs_atoms_ge20": slope([r["atoms"] for r in big], [r["median_ms"] for r in big]),
            "time_vs_edges_ge20": slope([r["edges"] for r in big], [r["median_ms"] for r in big]),
            "edges_vs_atoms": slope([r["atoms"] for r in rs], [r["edges"] for r in rs]),
            "memory_vs_atoms_ge20": slope([r["atoms"] for r in big],
                                          [max(r["peak_increment_mb"], 1e-3) for r in big]),
        }
    return out


def plot(rows: list[dict], cutoff: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    labels = {"fully_connected": "fully connected", "radius": f"radius graph ({cutoff:g} Å)"}
    panels = (("median_ms", "time per step (ms)"), ("peak_increment_mb", "peak RSS added by a step (MB)"),
              ("edges", "edges"))
    for mode, marker in zip(MODES, "os"):
        rs = [r for r in rows if r["mode"] == mode]
        atoms = [r["atoms"] for r in rs]
        big = [r for r in rs if r["atoms"] >= 20]
        for ax, (key, _) in zip(axes, panels):
            ys = [max(r[key], 0.1) for r in rs]
            fit = slope([r["atoms"] for r in big], [max(r[key], 1e-3) for r in big])
            tag = f" (slope {fit:.2f})" if fit is not None else ""
            ax.plot(atoms, ys, marker + "-", label=labels[mode] + tag)
    for ax, (_, what) in zip(axes, panels):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("atoms in the cell")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, title="slope: fit over >= 20 atoms", title_fontsize=7)
    fig.suptitle("Periodic denoiser, one forward pass (hidden 128, 4 layers), Perov-5 supercells, 1 thread")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed forward passes per size and mode")
    ap.add_argument("--cutoff", type=float, default=5.0, help="radius-graph cutoff (Å)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SUPERCELLS),
                    help=f"supercell multipliers among {list(SUPERCELLS)} (atoms = 5 x multiplier)")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-size memory subprocesses")
    args = ap.parse_args()
    bad = [m for m in args.sizes if m not in SUPERCELLS]
    if bad:
        ap.error(f"unknown multipliers {bad}; choose among {list(SUPERCELLS)}")
    from graphdiff_crystals import sample_path

    run = Run(seeds={"model_and_noise": 0}, data=[sample_path()])
    material, _ = perov5_structure()
    rows = []
    for mult in args.sizes:
        for mode in MODES:
            row = time_row(mode, mult, args.cutoff, args.repeats)
            row.update(peak_memory(mode, mult, args.cutoff) if not args.no_memory
                       else {"peak_increment_mb": float("nan")})
            rows.append(row)
            search = f", search {row['search_median_ms']:.2f} ms" if row["search_median_ms"] is not None else ""
            print(f"{mode:>15} {row['atoms']:4d} atoms {row['edges']:6d} edges: {row['median_ms']:8.2f} ms"
                  f"{search}, +{row['peak_increment_mb']:.1f} MB peak RSS", flush=True)
    slopes = fits(rows)
    for mode, s in slopes.items():
        print(f"{mode:>15} slopes: " + ", ".join(f"{k} {v:.2f}" for k, v in s.items() if v is not None))
    argv = [a for a in sys.argv[1:]]
    command = "OMP_NUM_THREADS=%s python benchmarks/crystals/crystals_scale.py %s" % (
        os.environ.get("OMP_NUM_THREADS", ""), " ".join(shlex.quote(a) for a in argv))
    result = {
        "command": command.strip(),
        "torch_threads": torch.get_num_threads(),
        "machine": machine_info(),
        "structure": {"source": "graphdiff_crystals/data/perov5_sample.csv", "material_id": material,
                      "atoms": 5},
        "model": {"denoiser": "periodic", "hidden": 128, "layers": 4, "num_freqs": 32,
                  "radius_options": {"cutoff": args.cutoff}, "batch": 1, "t": 0.5,
                  "noise": "0.1 Å Gaussian per Cartesian component; real lattice; atom types given"},
        "timing": f"median of {args.repeats} forward passes under torch.no_grad after 3 warm-ups",
        "memory": ("peak RSS added by 3 forward passes in a fresh process per (mode, size), after a "
                   "warm-up pass: VmHWM after resetting it (/proc/self/clear_refs) minus VmRSS before; "
                   "MALLOC_MMAP_THRESHOLD_=65536 so freed blocks leave the RSS"),
        "rows": rows,
        "slopes": slopes,
    }
    record(RESULTS / "crystals_scale.json", key_from_args(args, threads=torch.get_num_threads()), result, run)
    png = RESULTS / "crystals_scale.png"
    plot(rows, args.cutoff, png)
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, DOC_IMAGES / "crystals_scale.png")
    print(f"wrote {RESULTS / 'crystals_scale.json'} and {png}")


if __name__ == "__main__":
    main()
