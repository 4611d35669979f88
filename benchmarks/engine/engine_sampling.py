"""How much the diffusion loop adds to the denoiser, and whether memory grows with steps.

    python benchmarks/engine/engine_sampling.py [--repeats 5]

For each denoiser family (graph transformer on plain graphs, EGNN on point clouds, periodic on
crystals) it samples a batch with an untrained model and times (a) the whole ``sample`` call
and (b) the time spent inside the denoiser's ``forward`` (wrapped with a timer). The loop's
overhead is ``(total − denoiser) / denoiser``; medians over ``--repeats`` runs. It also records
the peak resident memory of a fresh process sampling 8 graphs with 50, 200 and 800 steps (no
trajectory).
Writes ``benchmarks/engine/results/engine_sampling.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def build(kind: str):
    from graphdiff.config import FieldProcessConfig
    from graphdiff.diffusion import GraphDiffusion
    from graphdiff.graph import FieldSpec, GraphSpec
    from graphdiff.nn import BUILTIN_DENOISERS
    from graphdiff.processes import build_process

    if kind == "graph_transformer":
        spec = GraphSpec("g", (FieldSpec("kind", "categorical", "node", num_classes=4),
                               FieldSpec("edges", "categorical", "edge", num_classes=2)))
        sizes = [20] * 32
    elif kind == "egnn":
        spec = GraphSpec("m", (FieldSpec("atom", "categorical", "node", num_classes=5),
                               FieldSpec("positions", "positions", "node", dim=3)))
        sizes = [18] * 32
    else:
        spec = GraphSpec("c", (FieldSpec("atom_types", "categorical", "node", num_classes=100),
                               FieldSpec("frac_coords", "torus", "node", dim=3),
                               FieldSpec("lattice", "continuous", "graph", dim=6)))
        sizes = [10] * 64
    procs = {f.name: build_process(f, FieldProcessConfig()) for f in spec.fields}
    net = BUILTIN_DENOISERS[kind](spec, {f.name: f.width for f in spec.fields}, hidden=128, layers=4)
    model = GraphDiffusion(spec, net, procs, generate=spec.names).eval()
    model.num_nodes_hist[sizes[0]] = 1.0
    return model, sizes


def overhead(kind: str, steps: int, repeats: int) -> dict:
    model, sizes = build(kind)
    spent = [0.0]
    forward = model.denoiser.forward

    def timed(graphs):
        t = time.perf_counter()
        out = forward(graphs)
        spent[0] += time.perf_counter() - t
        return out

    model.denoiser.forward = timed  # instance attribute shadows the method
    model.sample(sizes, steps=3)  # warm-up
    ratios, totals = [], []
    for r in range(repeats):
        spent[0] = 0.0
        t0 = time.perf_counter()
        model.sample(sizes, steps=steps, generator=torch.Generator().manual_seed(r))
        total = time.perf_counter() - t0
        ratios.append((total - spent[0]) / spent[0])
        totals.append(total)
    return {"denoiser": kind, "graphs": len(sizes), "nodes_per_graph": sizes[0], "steps": steps,
            "median_total_s": statistics.median(totals), "median_overhead": statistics.median(ratios),
            "overheads": ratios}


PEAK = """
import resource, sys, torch
sys.path.insert(0, {here!r})
from engine_sampling import build
model, sizes = build({kind!r})
model.sample(sizes[:8], steps={steps})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_memory(kind: str, steps: int) -> float:
    code = PEAK.format(here=str(Path(__file__).parent), kind=kind, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    run = Run(seeds={"torch": 0, "timed_repeat_r": "r"})
    torch.manual_seed(0)
    rows = [overhead(k, args.steps, args.repeats) for k in ("graph_transformer", "egnn", "periodic")]
    for r in rows:
        print(f"{r['denoiser']:>18}: loop overhead {100 * r['median_overhead']:.1f} % of denoiser time "
              f"({r['median_total_s']:.2f} s for {r['steps']} steps)")
    memory = {k: {s: peak_memory(k, s) for s in (50, 200, 800)} for k in ("egnn", "periodic")}
    for k, v in memory.items():
        print(f"{k:>18}: peak RSS by steps {v}")
    result = {"command": ("python benchmarks/engine/engine_sampling.py --repeats %d --steps %d"
                          % (args.repeats, args.steps)),
              "torch_threads": torch.get_num_threads(), "overhead": rows, "peak_rss_mb_by_steps": memory}
    record(RESULTS / "engine_sampling.json", key_from_args(args, threads=torch.get_num_threads()), result, run)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.bar([r["denoiser"] for r in rows], [100 * r["median_overhead"] for r in rows])
    a1.axhline(10, color="r", ls="--", label="10 % target")
    a1.set_ylabel("loop time / denoiser time (%)")
    a1.legend()
    for k, v in memory.items():
        a2.plot(list(v), list(v.values()), "o-", label=k)
    a2.set_xlabel("sampling steps")
    a2.set_ylabel("peak RSS (MB)")
    a2.set_xscale("log")
    a2.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "engine_sampling.png", dpi=100)


if __name__ == "__main__":
    main()
