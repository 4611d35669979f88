"""Train checkpoints on one GPU in a few minutes each, several runs at once, and sample them there.

    python benchmarks/gpu_runs.py pack qm9 planar           # here: compact data into .gpu/
    python benchmarks/gpu_runs.py train qm9-dng --minutes 7 --out OUT [--init qm9-dng]   # on the GPU
    python benchmarks/gpu_runs.py train planar-dng --minutes 7 --out OUT --snapshot-minutes 2
    python benchmarks/gpu_runs.py sample qm9-dng --out OUT --num 1000 --seeds 1
    bash benchmarks/gpu_session.sh OUT MINUTES              # all of the above in one call

``pack qm9`` stores QM9's EDM training split (and the first 2,000 validation molecules) as three
compact tensors: atom types (int8), positions in milli-ångström (int16: at most 0.0005 Å from
the float values) and molecule sizes, 10 MB gzipped, because the QM9 wheel is too large to send;
``train`` rebuilds the graphs the molecules domain makes (atom types and Cartesian positions; the
property columns are left out: the de novo model does not use them). ``pack planar`` copies the
planar splits of ``benchmarks/graphs_bench.py data``; ``pack perov_5`` / ``carbon_24`` the seeded
80/20 crystal splits of ``benchmarks/crystals_csp.py split``. ``train`` goes through
:func:`graphdiff.runner.train_on`; ``--init`` starts from the weights of a checkpoint of the same
model (e.g. the bundled one, to train it further). Each run writes a model-only checkpoint (EMA
weights, float16) and its training log to ``--out``. ``sample`` draws graphs on the GPU from the
run's snapshots and its last checkpoint (and from ``--init``'s, for the start of the curve) and
stores them as plain tensors in ``OUT/NAME.samples.pt``; ``benchmarks/molecules_qm9.py
gpu-curve`` and ``benchmarks/graphs_bench.py eval --samples`` score them on the CPU.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / ".gpu"

COMMON = {"warmup_steps": 500, "ema_decay": 0.999, "val_every": 1000, "log_every": 100,
          "checkpoint_every": 1000, "max_steps": 10_000_000, "device": "auto"}

RUNS = {
    "planar-dng": {
        "data": {"domain": "social", "train_source": "graphs/planar/train.jsonl",
                 "val_source": "graphs/planar/val.jsonl", "batch_size": 64},
        "model": {"hidden": 192, "layers": 8, "options": {"edge_hidden": 64, "structure_features": True}},
        "training": {"lr": 4e-4, "warmup_steps": 200},
        "sampling": {"steps": 500},
    },
    "qm9-dng": {
        "data": {"domain": "molecules", "source": "qm9://train", "batch_size": 128},
        "model": {"denoiser": "auto", "hidden": 256, "layers": 6},
        "diffusion": {"fields": {"positions": {"skip": True}}},
        "training": {"lr": 5e-4},
        "sampling": {"steps": 500},
    },
    "perov5-csp": {
        "data": {"domain": "crystals", "source": "perov_5/train.csv", "val_fraction": 0.05, "batch_size": 256},
        "model": {"denoiser": "periodic", "hidden": 256, "layers": 6, "options": {"num_freqs": 32}},
        "diffusion": {"given": ["atom_types"]},
        "training": {"lr": 1e-3},
        "sampling": {"steps": 500, "sampler": "ancestral", "corrector_steps": 0},
    },
    "carbon24-dng": {
        "data": {"domain": "crystals", "source": "carbon_24/train.csv", "val_fraction": 0.05, "batch_size": 128},
        "model": {"denoiser": "periodic", "hidden": 256, "layers": 6, "options": {"num_freqs": 32}},
        "diffusion": {"given": []},
        "training": {"lr": 1e-3},
        "sampling": {"steps": 500, "sampler": "ancestral", "corrector_steps": 0},
    },
}


def pack(what: list[str]) -> None:
    """Compact data for the GPU runs into ``.gpu/`` (see the module's docstring)."""
    PACK.mkdir(exist_ok=True)
    for item in what:
        if item == "qm9":
            _pack_qm9()
        elif item == "planar":
            import graphs_bench

            folder = graphs_bench.make_data("planar")
            (PACK / "graphs" / "planar").mkdir(parents=True, exist_ok=True)
            for split in ("train", "val"):
                shutil.copy(folder / f"{split}.jsonl", PACK / "graphs" / "planar" / f"{split}.jsonl")
        elif item in ("perov_5", "carbon_24"):
            import crystals_csp

            train_csv, _ = crystals_csp.split(item)
            (PACK / item).mkdir(exist_ok=True)
            shutil.copy(train_csv, PACK / item / "train.csv")
        else:
            raise SystemExit(f"pack: unknown item {item!r} (qm9, planar, perov_5, carbon_24)")
    print(f"packed into {PACK}: {sum(p.stat().st_size for p in PACK.rglob('*') if p.is_file()) / 1e6:.1f} MB")


def _pack_qm9(valid_limit: int = 2000) -> None:
    from graphdiff.data import read_graphs
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "molecules")
    out = {}
    for split in ("train", "valid"):
        graphs = read_graphs(domain, f"qm9://{split}", cache=True)
        if split == "valid":
            graphs = graphs[:valid_limit]
        sizes = torch.tensor([g.num_nodes for g in graphs])
        pos = torch.cat([g.positions for g in graphs]).double()
        if float(pos.abs().max()) >= 32.0:
            raise SystemExit("qm9 pack: a coordinate is beyond the int16 milli-ångström range")
        out[split] = {"atom_types": torch.cat([g.atom_types for g in graphs]).to(torch.int8),
                      "positions_mA": torch.round(pos * 1000).to(torch.int16),
                      "sizes": sizes.to(torch.uint8)}
        print(f"qm9://{split}: {len(graphs)} molecules, {int(sizes.sum())} atoms")
    with gzip.open(PACK / "qm9.pt.gz", "wb", compresslevel=6) as fh:
        torch.save(out, fh)


def _qm9_graphs(split: str) -> list:
    from torch_geometric.data import Data

    with gzip.open(PACK / "qm9.pt.gz", "rb") as fh:
        part = torch.load(io.BytesIO(fh.read()))[split]
    types, pos = part["atom_types"].long(), part["positions_mA"].float() / 1000
    graphs, lo = [], 0
    for n in part["sizes"].tolist():
        graphs.append(Data(atom_types=types[lo:lo + n], positions=pos[lo:lo + n], num_nodes=n))
        lo += n
    return graphs


def _config(name: str, minutes: float, snapshot_minutes: float | None):
    from graphdiff.config import RunConfig

    spec = json.loads(json.dumps(RUNS[name]))
    run_dir = ROOT / "runs" / f"{name}-gpu"
    spec["training"] = {**COMMON, **spec["training"], "max_minutes": minutes, "out_dir": str(run_dir),
                        "snapshot_minutes": snapshot_minutes}
    for key in ("source", "train_source", "val_source"):
        if spec["data"].get(key) and spec["data"]["domain"] != "molecules":
            spec["data"][key] = str(PACK / spec["data"][key])
    return RunConfig.model_validate(spec), run_dir


def train(name: str, minutes: float, out: Path, init: str | None = None,
          snapshot_minutes: float | None = None) -> Path:
    from graphdiff.model import export_checkpoint, read_checkpoint
    from graphdiff.runner import train as run_train
    from graphdiff.runner import train_on

    cfg, run_dir = _config(name, minutes, snapshot_minutes)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: no snapshots or log lines of an earlier one
    t0 = time.perf_counter()
    if name == "qm9-dng":
        trainer, last = train_on(cfg, _qm9_graphs("train"), _qm9_graphs("valid"), progress=False, init=init,
                                 source="qm9://train (EDM split; benchmarks/gpu_runs.py pack)")
    else:
        trainer, last = run_train(cfg, progress=False, init=init)
    used = (time.perf_counter() - t0) / 60
    ckpt = read_checkpoint(last)
    step = int(ckpt["step"])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    made_by = f"python benchmarks/gpu_runs.py train {name} --minutes {minutes}" + (f" --init {init}" if init else "")
    meta = {"name": name, "steps": step, "train_minutes": round(used, 1), "device": device, "made_by": made_by}
    started = json.loads(ckpt.get("meta") or "{}").get("init")
    if started:
        meta["total_steps"] = step + int(started.get("step") or 0)
        meta["total_train_minutes"] = round(used + float(started.get("train_minutes") or 0), 1)
    dst = export_checkpoint(last, out / f"{name}.ckpt", meta=meta, weights_dtype=torch.float16)
    shutil.copy(run_dir / "log.jsonl", out / f"{name}.log.jsonl")
    print(f"{name}: {step} steps in {used:.1f} min on {device} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)",
          flush=True)
    return dst


def sample(name: str, out: Path, num: int, seeds: int, steps: int, init: str | None = None,
           snapshot_num: int | None = None, budget_s: float | None = None) -> Path:
    """Sample the run's snapshots (one seed, ``snapshot_num`` graphs), its exported checkpoint
    (``seeds`` seeds of ``num`` graphs) and ``init``'s checkpoint, on the GPU when there is one;
    the graphs go to ``OUT/NAME.samples.pt`` as dicts of plain tensors, rewritten after each
    job, so that a run stopped by ``budget_s`` keeps what it drew."""
    from graphdiff.model import load_model, read_checkpoint, resolve_checkpoint
    from graphdiff.runner import sample_graphs

    t_start = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run_dir = ROOT / "runs" / f"{name}-gpu"
    jobs = []  # (label, path, seed, num): the final model first, then the curve's points
    for seed in range(seeds):
        jobs.append(("last", out / f"{name}.ckpt", seed, num))
    if init:
        jobs.append(("init", resolve_checkpoint(init), 0, snapshot_num or num))
    for snap in sorted((run_dir / "snapshots").glob("*.ckpt")):
        jobs.append(("snapshot", snap, 0, snapshot_num or num))
    results, dst = [], out / f"{name}.samples.pt"
    for label, path, seed, count in jobs:
        if budget_s is not None and time.perf_counter() - t_start > budget_s:
            print(f"sample {name}: time budget reached, {label} {path.name} seed {seed} skipped", flush=True)
            continue
        model, cfg, meta = load_model(path)
        model.to(device).eval()
        ck = read_checkpoint(path)
        step = int(ck.get("step", meta.get("steps", 0)) or meta.get("steps", 0))
        minutes = meta.get("train_minutes")
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        graphs = [g for chunk in sample_graphs(model, count, steps=steps, seed=seed, batch_size=count) for g in chunk]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        results.append({"label": label, "checkpoint": path.name, "step": step, "train_minutes": minutes,
                        "max_minutes": cfg.training.max_minutes,
                        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                        "seed": seed, "num": count, "steps": steps, "seconds": seconds, "device": str(device),
                        "graphs": [_compact(g) for g in graphs]})
        torch.save(results, dst)
        print(f"sample {name}: {label} {path.name} (step {step}) seed {seed}: {count} graphs in {seconds:.1f} s",
              flush=True)
    return dst


def _compact(g) -> dict:
    """A graph's tensors on the CPU, integer ones in the smallest type that holds them (int16 /
    int8): 40 planar graphs of 4,032 node pairs stay under a megabyte."""
    out = {"num_nodes": int(g.num_nodes)}
    for key, value in g.to_dict().items():
        if not torch.is_tensor(value):
            continue
        value = value.detach().cpu()
        if not value.is_floating_point() and value.numel():
            lo, hi = int(value.min()), int(value.max())
            for small in (torch.int8, torch.int16, torch.int32):
                info = torch.iinfo(small)
                if info.min <= lo and hi <= info.max:
                    value = value.to(small)
                    break
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("what", nargs="+", help="qm9, planar, perov_5, carbon_24")
    t = sub.add_parser("train")
    t.add_argument("name", choices=sorted(RUNS))
    t.add_argument("--minutes", type=float, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--init", help="start from this checkpoint's weights (a path or a bundled name)")
    t.add_argument("--snapshot-minutes", type=float, default=None)
    s = sub.add_parser("sample")
    s.add_argument("name", choices=sorted(RUNS))
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--num", type=int, required=True)
    s.add_argument("--seeds", type=int, default=1)
    s.add_argument("--steps", type=int, default=500)
    s.add_argument("--init", help="also sample this checkpoint (the run's start)")
    s.add_argument("--snapshot-num", type=int, default=None)
    s.add_argument("--budget-s", type=float, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        import sys

        sys.path.insert(0, str(ROOT / "benchmarks"))
        pack(args.what)
    elif args.cmd == "train":
        train(args.name, args.minutes, args.out, init=args.init, snapshot_minutes=args.snapshot_minutes)
    else:
        sample(args.name, args.out, args.num, args.seeds, args.steps, init=args.init,
               snapshot_num=args.snapshot_num, budget_s=args.budget_s)


if __name__ == "__main__":
    main()
