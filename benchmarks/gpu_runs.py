"""Train checkpoints on one GPU in a few minutes each, several runs at once, and sample them there.

    python benchmarks/gpu_runs.py pack qm9 planar           # here: compact data into .gpu/
    python benchmarks/gpu_runs.py train qm9-dng --minutes 7 --out OUT [--init qm9-dng]   # on the GPU
    python benchmarks/gpu_runs.py train planar-dng --minutes 7 --out OUT --snapshot-minutes 2
    python benchmarks/gpu_runs.py sample qm9-dng --out OUT --num 1000 --seeds 1
    bash benchmarks/gpu_session.sh OUT MINUTES              # all of the above in one call

``pack qm9`` stores QM9's EDM training split (and the first 2,000 validation molecules) as
compact tensors: atom types (int8), positions in milli-ångström (int16: at most 0.0005 Å from the
float values, stored as separate low- and high-byte planes), molecule sizes and the HOMO-LUMO gap
(Hartree), 8 MB xz-compressed, because the QM9 wheel is too large to send;
``train`` rebuilds the graphs the molecules domain makes (atom types and Cartesian positions,
and the gap where the recipe is conditioned on it, as ``qm9-gap-cond``). ``pack planar`` copies the
planar splits of ``benchmarks/graphs/graphs_bench.py data``; ``pack perov_5`` / ``carbon_24`` the seeded
80/20 crystal splits of ``benchmarks/crystals/crystals_csp.py split``. ``train`` goes through
:func:`graphdiff.runner.train_on`; ``--init`` starts from the weights of a checkpoint of the same
model (e.g. the bundled one, to train it further). Each run writes a model-only checkpoint (EMA
weights, float16) and its training log to ``--out``. ``sample`` draws graphs on the GPU from the
run's snapshots and its last checkpoint (and from ``--init``'s, for the start of the curve) and
stores them as plain tensors in ``OUT/NAME.samples.pt``; ``benchmarks/molecules/molecules_qm9.py
gpu-curve`` and ``benchmarks/graphs/graphs_bench.py eval --samples`` score them on the CPU.
"""

from __future__ import annotations

import argparse
import functools
import io
import lzma
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _provenance import Run, file_ref  # noqa: E402

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
    # the qm9-dng recipe conditioned on QM9's HOMO-LUMO gap (Hartree, QM9's own unit) with
    # classifier-free condition dropout: EDM's conditional generation (benchmarks/molecules/molecules_conditional.py)
    "qm9-gap-cond": {
        "data": {"domain": "molecules", "source": "qm9://train", "batch_size": 512},
        "model": {"denoiser": "auto", "hidden": 256, "layers": 6},
        "diffusion": {"fields": {"positions": {"skip": True}}, "condition": ["gap"]},
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
        out[split] = {"atom_types": torch.cat([g.atom_types for g in graphs]).to(torch.int8),
                      "positions_planes": encode_positions(pos), "sizes": sizes.to(torch.uint8),
                      "gap": torch.tensor([float(g.gap) for g in graphs], dtype=torch.float32)}
        print(f"qm9://{split}: {len(graphs)} molecules, {int(sizes.sum())} atoms")
    buf = io.BytesIO()
    torch.save(out, buf)
    (PACK / "qm9.pt.xz").write_bytes(lzma.compress(buf.getvalue(), preset=9))


def encode_positions(pos: torch.Tensor) -> torch.Tensor:
    """Positions ``[atoms, 3]`` (Å) as milli-ångström int16, coordinate by coordinate, split into
    a plane of low and a plane of high bytes (``uint8 [2, 3 * atoms]``): the high bytes barely
    vary, so xz compresses them well."""
    if pos.numel() and float(pos.abs().max()) >= 32.0:
        raise SystemExit("qm9 pack: a coordinate is beyond the int16 milli-ångström range (32 Å)")
    milli = torch.round(pos.double() * 1000).to(torch.int16).T.contiguous().reshape(-1)  # x..., y..., z...
    return milli.view(torch.uint8).view(-1, 2).T.contiguous()


def decode_positions(planes: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`encode_positions`: ``float32 [atoms, 3]`` in Å."""
    return planes.T.contiguous().reshape(-1).view(torch.int16).view(3, -1).T.float() / 1000


@functools.lru_cache(maxsize=1)
def _qm9_pack(path: Path) -> dict:
    """The packed splits, decompressed once per process (training reads two splits, sampling
    reads the requests of every job)."""
    return torch.load(io.BytesIO(lzma.decompress(path.read_bytes())))


def _qm9_part(split: str) -> dict:
    part = _qm9_pack(PACK / "qm9.pt.xz")[split]
    return {"atom_types": part["atom_types"].long(), "positions": decode_positions(part["positions_planes"]),
            "sizes": part["sizes"].long(), "gap": part["gap"]}


def _qm9_graphs(split: str, condition: list[str] | tuple = ()) -> list:
    from torch_geometric.data import Data

    part = _qm9_part(split)
    types, pos, gaps = part["atom_types"], part["positions"], part["gap"]
    graphs, lo = [], 0
    for i, n in enumerate(part["sizes"].tolist()):
        g = Data(atom_types=types[lo:lo + n], positions=pos[lo:lo + n], num_nodes=n)
        if "gap" in condition:
            g.gap = gaps[i:i + 1].clone()
        graphs.append(g)
        lo += n
    return graphs


def _config(name: str, minutes: float, snapshot_minutes: float | None, batch_size: int | None = None,
            lr: float | None = None, warmup_steps: int | None = None):
    from graphdiff.config import RunConfig

    spec = json.loads(json.dumps(RUNS[name]))
    run_dir = ROOT / "runs" / f"{name}-gpu"
    spec["training"] = {**COMMON, **spec["training"], "max_minutes": minutes, "out_dir": str(run_dir),
                        "snapshot_minutes": snapshot_minutes}
    if batch_size:
        spec["data"]["batch_size"] = batch_size
    if lr:
        spec["training"]["lr"] = lr
    if warmup_steps is not None:
        spec["training"]["warmup_steps"] = warmup_steps
    for key in ("source", "train_source", "val_source"):
        if spec["data"].get(key) and spec["data"]["domain"] != "molecules":
            spec["data"][key] = str(PACK / spec["data"][key])
    return RunConfig.model_validate(spec), run_dir


def train(name: str, minutes: float, out: Path, init: str | None = None,
          snapshot_minutes: float | None = None, batch_size: int | None = None, lr: float | None = None,
          warmup_steps: int | None = None, tf32: bool = False) -> Path:
    from graphdiff.errors import TrainingError
    from graphdiff.model import export_checkpoint, read_checkpoint
    from graphdiff.runner import train as run_train
    from graphdiff.runner import train_on

    if tf32:  # TensorFloat-32 matrix products (Ampere and later): training only, never sampling
        torch.set_float32_matmul_precision("high")
    cfg, run_dir = _config(name, minutes, snapshot_minutes, batch_size, lr, warmup_steps)
    run = Run(seeds={"training": cfg.training.seed}, data=[PACK] if PACK.exists() else [])
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: no snapshots or log lines of an earlier one
    t0 = time.perf_counter()
    last, failed = run_dir / "last.ckpt", None
    try:
        if name.startswith("qm9-"):
            cond = cfg.diffusion.condition
            _, last = train_on(cfg, _qm9_graphs("train", cond), _qm9_graphs("valid", cond), progress=False,
                               init=init, source="qm9://train (EDM split; benchmarks/gpu_runs.py pack)")
        else:
            _, last = run_train(cfg, progress=False, init=init)
    except TrainingError as exc:  # e.g. a non-finite loss: keep the last good checkpoint
        failed = str(exc)
        print(f"{name}: training stopped: {exc}", flush=True)
        if not last.exists():
            raise
    used = (time.perf_counter() - t0) / 60
    ckpt = read_checkpoint(last)
    step = int(ckpt["step"])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    made_by = f"python benchmarks/gpu_runs.py train {name} --minutes {minutes}" + (f" --init {init}" if init else "")
    made_by += "".join(f" --{k} {v}"
                       for k, v in (("batch-size", batch_size), ("lr", lr), ("warmup-steps", warmup_steps))
                       if v is not None)
    made_by += " --tf32" if tf32 else ""
    meta = {"name": name, "steps": step, "train_minutes": round(used, 1), "device": device, "made_by": made_by,
            "batch_size": cfg.data.batch_size}
    if failed:
        meta["stopped"] = failed
    meta["provenance"] = run.provenance()
    started = json.loads(ckpt.get("meta") or "{}").get("init")
    if started:
        meta["total_steps"] = step + int(started.get("total_steps") or started.get("step") or 0)
        meta["total_train_minutes"] = round(
            used + float(started.get("total_train_minutes") or started.get("train_minutes") or 0), 1)
    dst = export_checkpoint(last, out / f"{name}.ckpt", meta=meta, weights_dtype=torch.float16)
    shutil.copy(run_dir / "log.jsonl", out / f"{name}.log.jsonl")
    print(f"{name}: {step} steps in {used:.1f} min on {device} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)",
          flush=True)
    return dst


def condition_requests(count: int, seed: int) -> list[tuple[int, int, float]]:
    """EDM's conditional protocol draws (number of atoms, property) pairs from the generator's
    training data: ``count`` molecules of the packed training split, drawn with ``seed``, as
    (index, atoms, gap in Hartree)."""
    part = _qm9_part("train")
    pick = torch.randperm(len(part["sizes"]), generator=torch.Generator().manual_seed(10_007 + seed))[:count]
    return [(int(i), int(part["sizes"][i]), float(part["gap"][i])) for i in pick]


def sample(name: str, out: Path, num: int, seeds: int, steps: int, init: str | None = None,
           snapshot_num: int | None = None, budget_s: float | None = None, guidance_scale: float = 0.0,
           checkpoint: Path | None = None) -> Path:
    """Sample the run's snapshots (one seed, ``snapshot_num`` graphs), its exported checkpoint
    (``seeds`` seeds of ``num`` graphs) and ``init``'s checkpoint, on the GPU when there is one;
    the graphs go to ``OUT/NAME.samples.pt`` as dicts of plain tensors, rewritten after each
    job, so that a run stopped by ``budget_s`` keeps what it drew. A model conditioned on the gap
    draws each molecule for a (size, gap) pair of :func:`condition_requests` (no guidance: the
    conditional model alone, as EDM, unless ``guidance_scale`` asks for classifier-free guidance);
    the pairs are stored beside the graphs. ``checkpoint``: sample it instead of ``OUT/NAME.ckpt``."""
    from torch_geometric.data import Data

    from graphdiff.model import load_model, read_checkpoint, resolve_checkpoint
    from graphdiff.runner import sample_graphs, set_template_condition

    t_start = time.perf_counter()
    run = Run(seeds=list(range(seeds)))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run_dir = ROOT / "runs" / f"{name}-gpu"
    jobs = []  # (label, path, seed, num): the final model first, then the curve's points
    for seed in range(seeds):
        jobs.append(("last", checkpoint or out / f"{name}.ckpt", seed, num))
    if init:
        jobs.append(("init", resolve_checkpoint(init), 0, snapshot_num or num))
    for snap in sorted((run_dir / "snapshots").glob("*.ckpt")):
        jobs.append(("snapshot", snap, 0, snapshot_num or num))
    out.mkdir(parents=True, exist_ok=True)
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
        requests = None
        if model.condition:
            if list(model.condition) != ["gap"]:
                raise SystemExit(f"sample {name}: conditioned on {model.condition}; only ['gap'] is drawn here")
            requests = condition_requests(count, seed)
            templates = [set_template_condition(model, Data(num_nodes=n), {"gap": gap}) for _, n, gap in requests]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if requests is None:
            chunks = sample_graphs(model, count, steps=steps, seed=seed, batch_size=count)
        else:
            chunks = sample_graphs(model, templates=templates, steps=steps, seed=seed, batch_size=count,
                                   guidance_scale=guidance_scale)
        graphs = [g for chunk in chunks for g in chunk]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        entry = {"label": label, "checkpoint": path.name, "step": step, "train_minutes": minutes,
                 "max_minutes": cfg.training.max_minutes,
                 "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                 "seed": seed, "num": count, "steps": steps, "seconds": seconds, "device": str(device),
                 "guidance_scale": guidance_scale,
                 "provenance": {**run.provenance(), "seeds": {"seed": seed}, "data": [file_ref(path)]},
                 "graphs": [_compact(g) for g in graphs]}
        if requests is not None:
            entry["requests"] = {"train_index": [r[0] for r in requests], "num_atoms": [r[1] for r in requests],
                                 "gap_hartree": [r[2] for r in requests]}
        results.append(entry)
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
    t.add_argument("--batch-size", type=int, default=None, help="instead of the recipe's")
    t.add_argument("--lr", type=float, default=None, help="instead of the recipe's")
    t.add_argument("--warmup-steps", type=int, default=None, help="instead of the recipe's")
    t.add_argument("--tf32", action="store_true", help="TensorFloat-32 matrix products in training")
    s = sub.add_parser("sample")
    s.add_argument("name", choices=sorted(RUNS))
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--num", type=int, required=True)
    s.add_argument("--seeds", type=int, default=1)
    s.add_argument("--steps", type=int, default=500)
    s.add_argument("--init", help="also sample this checkpoint (the run's start)")
    s.add_argument("--snapshot-num", type=int, default=None)
    s.add_argument("--budget-s", type=float, default=None)
    s.add_argument("--guidance-scale", type=float, default=0.0, help="classifier-free guidance (conditional runs)")
    s.add_argument("--checkpoint", type=Path, default=None, help="sample this checkpoint instead of OUT/NAME.ckpt")
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        pack(args.what)
    elif args.cmd == "train":
        train(args.name, args.minutes, args.out, init=args.init, snapshot_minutes=args.snapshot_minutes,
              batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, tf32=args.tf32)
    else:
        sample(args.name, args.out, args.num, args.seeds, args.steps, init=args.init,
               snapshot_num=args.snapshot_num, budget_s=args.budget_s, guidance_scale=args.guidance_scale,
               checkpoint=args.checkpoint)


if __name__ == "__main__":
    main()
