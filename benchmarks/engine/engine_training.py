"""Training step time and peak memory against batch size and graph size.

    python benchmarks/engine/engine_training.py [--repeats 5]

For the periodic (crystals), EGNN (molecules) and graph-transformer (plain graphs) denoisers at
their default width (hidden 128, 4 layers), one optimiser step (loss, backward, AdamW) is timed
on random graphs for a grid of batch sizes and node counts; each point runs in a fresh process so
its peak resident memory is its own. Medians over ``--repeats`` steps after one warm-up step.
Writes ``benchmarks/engine/results/engine_training.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"

POINT = r"""
import json, resource, statistics, time, torch
from torch_geometric.data import Batch, Data
from graphdiff.config import FieldProcessConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import BUILTIN_DENOISERS
from graphdiff.processes import build_process

kind, batch_size, nodes, repeats = {kind!r}, {batch}, {nodes}, {repeats}
torch.manual_seed(0)
if kind == "periodic":
    spec = GraphSpec("c", (FieldSpec("atom_types", "categorical", "node", num_classes=100),
                           FieldSpec("frac_coords", "torus", "node", dim=3),
                           FieldSpec("lattice", "continuous", "graph", dim=6)))
    make = lambda n: Data(num_nodes=n, atom_types=torch.randint(0, 100, (n,)), frac_coords=torch.rand(n, 3),
                          lattice=torch.randn(1, 6))
elif kind == "egnn":
    spec = GraphSpec("m", (FieldSpec("atom", "categorical", "node", num_classes=5),
                           FieldSpec("positions", "positions", "node", dim=3)))
    make = lambda n: Data(num_nodes=n, atom=torch.randint(0, 5, (n,)), positions=torch.randn(n, 3))
else:
    spec = GraphSpec("g", (FieldSpec("edges", "categorical", "edge", num_classes=2),))
    def make(n):
        u = torch.arange(n - 1)
        return Data(num_nodes=n, edge_index=torch.stack([torch.cat([u, u + 1]), torch.cat([u + 1, u])]),
                    edges=torch.ones(2 * (n - 1), dtype=torch.long))
graphs = [make(nodes) for _ in range(batch_size)]
procs = {{f.name: build_process(f, FieldProcessConfig()) for f in spec.fields}}
net = BUILTIN_DENOISERS[kind](spec, {{f.name: f.width for f in spec.fields}}, hidden=128, layers=4)
model = GraphDiffusion(spec, net, procs, generate=spec.names)
model.fit_statistics(graphs)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
batch = Batch.from_data_list(graphs)
times = []
for r in range(repeats + 1):
    t = time.perf_counter()
    loss, _ = model.loss(batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if r:
        times.append(time.perf_counter() - t)
print(json.dumps({{"denoiser": kind, "batch_size": batch_size, "nodes": nodes,
                  "median_step_s": statistics.median(times),
                  "graphs_per_s": batch_size / statistics.median(times),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

GRID = {
    "periodic": {"batch": [16, 64], "nodes": [5, 20, 50]},
    "egnn": {"batch": [16, 64], "nodes": [9, 19, 29]},
    "graph_transformer": {"batch": [8, 32], "nodes": [20, 64, 128]},
}


def point(kind: str, batch: int, nodes: int, repeats: int) -> dict:
    code = POINT.format(kind=kind, batch=batch, nodes=nodes, repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return {"denoiser": kind, "batch_size": batch, "nodes": nodes, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    run = Run(seeds={"torch": 0})
    rows = []
    for kind, grid in GRID.items():
        for b in grid["batch"]:
            for n in grid["nodes"]:
                row = point(kind, b, n, args.repeats)
                rows.append(row)
                print(json.dumps(row))
    import torch

    result = {"command": f"python benchmarks/engine/engine_training.py --repeats {args.repeats}",
              "torch_threads": torch.get_num_threads(), "hidden": 128, "layers": 4, "points": rows}
    record(RESULTS / "engine_training.json", key_from_args(args, threads=torch.get_num_threads()), result, run)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for col, (kind, grid) in enumerate(GRID.items()):
        for n in grid["nodes"]:
            pts = [r for r in rows if r["denoiser"] == kind and r["nodes"] == n and "error" not in r]
            axes[0, col].plot([r["batch_size"] for r in pts], [r["median_step_s"] for r in pts], "o-",
                              label=f"{n} nodes")
            axes[1, col].plot([r["batch_size"] for r in pts], [r["peak_rss_mb"] for r in pts], "o-", label=f"{n} nodes")
        axes[0, col].set_title(kind)
        axes[0, col].set_ylabel("step time (s)")
        axes[1, col].set_ylabel("peak RSS (MB)")
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.set_xlabel("graphs per batch")
            ax.legend()
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "engine_training.png", dpi=100)


if __name__ == "__main__":
    main()
