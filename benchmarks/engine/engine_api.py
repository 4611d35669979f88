"""The Python API and the CLI give the same items, for every bundled checkpoint; what each costs.

    python benchmarks/engine/engine_api.py [--num 2] [--steps 20] [--seed 0]

For each bundled checkpoint (``graphdiff checkpoints``), in this process:
``graphdiff.load(name).sample(num)`` (de novo) or ``.complete(inputs)`` (a model that is given
fields: the first ``num`` rows of the bundled sample of its dataset), and the same through the
CLI in a fresh process (``graphdiff sample -c NAME -n NUM`` / ``--input FILE``, written as
``.pt``, the domain-free list of generated graphs, every field stored exactly). Every field of
every generated graph is compared; ``identical`` means equal to 1e-6.

Times: ``api_s`` is the load and the call in this process (torch and the plugins already
imported, as in a notebook after its first cell); ``cli_s`` is the wall time of the command
(start-up, imports, load, sampling, writing). Their difference is what the CLI adds per call.

Results: ``benchmarks/engine/results/engine-api.json`` (keyed by num, steps, seed; every run kept, with
its provenance).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent


def _inputs(model, num: int, folder: Path) -> Path | None:
    """A CSV of the first ``num`` rows of the bundled sample of the model's dataset (crystals),
    or ``None`` for a de novo model."""
    if not model.given:
        return None
    from graphdiff_crystals import sample_path

    src = sample_path(model.meta.get("dataset") or "perov_5")
    out = folder / f"{model.name}-inputs.csv"
    with src.open(newline="") as fh:
        reader = csv.reader(fh)
        rows = [next(reader) for _ in range(num + 1)]
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def _compare(api_graphs: list, cli_file: Path, spec) -> dict:
    import torch

    cli_graphs = torch.load(cli_file, weights_only=False)
    worst = 0.0
    same = len(cli_graphs) == len(api_graphs)
    for a, b in zip(api_graphs, cli_graphs):
        for name in spec.names:
            x, y = getattr(a, name, None), getattr(b, name, None)
            if x is None and y is None:
                continue
            if x is None or y is None or x.shape != y.shape:
                same = False
                continue
            d = float((x.double() - y.double()).abs().max()) if x.numel() else 0.0
            worst = max(worst, d)
    return {"graphs_api": len(api_graphs), "graphs_cli": len(cli_graphs), "max_abs_difference": worst,
            "identical": bool(same and worst <= 1e-6)}


def one(name: str, num: int, steps: int, seed: int, folder: Path) -> dict:
    import graphdiff

    t0 = time.perf_counter()
    model = graphdiff.load(name, device="cpu")
    inputs = _inputs(model, num, folder)
    if inputs is None:
        out = model.sample(num, seed=seed, steps=steps, progress=False)
        graphs = out.graphs + [s["graph"] for s in out.skipped]
    else:
        cands = model.complete(model.read_inputs(inputs), seed=seed, steps=steps, allow_unseen=True, progress=False)
        graphs = [g for c in cands for g in c.graphs]
    api_s = time.perf_counter() - t0
    cli_out = folder / f"{name}.pt"
    cmd = [str(BIN / "graphdiff"), "sample", "-c", name, "--steps", str(steps), "--seed", str(seed),
           "--out", str(cli_out), "-q", "--device", "cpu"]
    cmd += ["-n", str(num)] if inputs is None else ["--input", str(inputs), "--allow-unseen"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    cli_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    row = {"checkpoint": name, "domain": model.domain.name, "task": "complete" if inputs is not None else "sample",
           "api_s": round(api_s, 3), "cli_s": round(cli_s, 3), "cli_over_api_s": round(cli_s - api_s, 3),
           **_compare(graphs, cli_out, model.diffusion.spec)}
    print(f"{name:22s} {row['task']:8s} API {api_s:6.2f} s  CLI {cli_s:6.2f} s  identical={row['identical']} "
          f"(max |diff| {row['max_abs_difference']:.2g})")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--num", type=int, default=2, help="items per checkpoint")
    ap.add_argument("--steps", type=int, default=20, help="reverse steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="+", help="these bundled checkpoints (default: all)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from graphdiff.checkpoints import list_named

    run = Run(seeds={"seed": args.seed})
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one(c.name, args.num, args.steps, args.seed, Path(tmp)) for c in list_named()
                if not args.only or c.name in args.only]
    result = {"checkpoints": rows,
              "all_identical": all(r["identical"] for r in rows),
              "median_api_s": statistics.median(r["api_s"] for r in rows),
              "median_cli_s": statistics.median(r["cli_s"] for r in rows),
              "median_cli_over_api_s": statistics.median(r["cli_over_api_s"] for r in rows),
              "command": "python benchmarks/engine/engine_api.py" + "".join(
                  f" --{k} {v}" for k, v in vars(args).items() if v != ap.get_default(k))}
    if args.only:  # a check of some checkpoints, not the recorded figure
        return
    record(RESULTS / "engine-api.json", key_from_args(args), result, run)
    print(f"all identical: {result['all_identical']}; median API {result['median_api_s']:.2f} s, CLI "
          f"{result['median_cli_s']:.2f} s (+{result['median_cli_over_api_s']:.2f} s per call)")


if __name__ == "__main__":
    main()
