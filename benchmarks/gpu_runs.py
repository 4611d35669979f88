"""Train bundled checkpoints on one GPU in a few minutes each, several runs at once.

    python benchmarks/gpu_runs.py pack                     # here: compact QM9 + the crystal splits into .gpu/
    python benchmarks/gpu_runs.py train qm9-dng --minutes 7 --out OUT   # on the GPU machine
    python benchmarks/gpu_runs.py train perov5-csp --minutes 7 --out OUT
    python benchmarks/gpu_runs.py train carbon24-dng --minutes 7 --out OUT

``pack`` stores QM9's EDM train/valid splits as three tensors per split (atom types, positions,
molecule boundaries), about 25 MB, because the QM9 wheel itself is too large to send; ``train``
rebuilds exactly the graphs the molecules domain makes (atom types and Cartesian positions; the
property columns are left out: the de novo model does not use them) and trains through
:func:`graphdiff.runner.train_on`. The crystal runs read the seeded 80/20 splits of
``benchmarks/crystals_csp.py split``. Each run writes a model-only checkpoint (EMA weights) and its
training log to ``--out``; ``benchmarks/crystals_csp.py`` and ``benchmarks/molecules_qm9.py``
evaluate them.
"""

from __future__ import annotations

import argparse
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


def pack() -> None:
    """QM9 splits as compact tensors, and the crystal splits, into ``.gpu/``."""
    import csv
    import sys

    from graphdiff.data import read_graphs
    from graphdiff.plugins import get_manager

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import crystals_csp

    PACK.mkdir(exist_ok=True)
    domain = get_manager().get("domains", "molecules")
    out = {}
    for split in ("train", "valid"):
        graphs = read_graphs(domain, f"qm9://{split}", cache=True)
        sizes = torch.tensor([g.num_nodes for g in graphs])
        out[split] = {"atom_types": torch.cat([g.atom_types for g in graphs]).to(torch.int8),
                      "positions": torch.cat([g.positions for g in graphs]).float(),
                      "sizes": sizes.to(torch.int16)}
        print(f"qm9://{split}: {len(graphs)} molecules, {int(sizes.sum())} atoms")
    torch.save(out, PACK / "qm9.pt")
    for dataset in ("perov_5", "carbon_24"):
        train_csv, test_csv = crystals_csp.split(dataset)
        (PACK / dataset).mkdir(exist_ok=True)
        shutil.copy(train_csv, PACK / dataset / "train.csv")
    csv.field_size_limit(sys.maxsize)
    print(f"packed into {PACK}: {sum(p.stat().st_size for p in PACK.rglob('*') if p.is_file()) / 1e6:.1f} MB")


def _qm9_graphs(split: str) -> list:
    from torch_geometric.data import Data

    part = torch.load(PACK / "qm9.pt")[split]
    types, pos = part["atom_types"].long(), part["positions"]
    graphs, lo = [], 0
    for n in part["sizes"].tolist():
        graphs.append(Data(atom_types=types[lo:lo + n], positions=pos[lo:lo + n], num_nodes=n))
        lo += n
    return graphs


def train(name: str, minutes: float, out: Path) -> Path:
    from graphdiff.config import RunConfig
    from graphdiff.model import export_checkpoint, read_checkpoint
    from graphdiff.runner import train as run_train
    from graphdiff.runner import train_on

    spec = json.loads(json.dumps(RUNS[name]))
    run_dir = ROOT / "runs" / f"{name}-gpu"
    spec["training"].update(COMMON, max_minutes=minutes, out_dir=str(run_dir))
    if spec["data"]["domain"] == "crystals":
        spec["data"]["source"] = str(PACK / spec["data"]["source"])
    cfg = RunConfig.model_validate(spec)
    t0 = time.perf_counter()
    if name == "qm9-dng":
        trainer, last = train_on(cfg, _qm9_graphs("train"), _qm9_graphs("valid"), progress=False,
                                 source="qm9://train (EDM split; benchmarks/gpu_runs.py pack)")
    else:
        trainer, last = run_train(cfg, progress=False)
    used = (time.perf_counter() - t0) / 60
    step = int(read_checkpoint(last)["step"])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "steps": step, "train_minutes": round(used, 1), "device": device,
            "made_by": f"python benchmarks/gpu_runs.py train {name} --minutes {minutes}"}
    dst = export_checkpoint(last, out / f"{name}.ckpt", meta=meta)
    shutil.copy(run_dir / "log.jsonl", out / f"{name}.log.jsonl")
    print(f"{name}: {step} steps in {used:.1f} min on {device} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return dst


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("pack")
    t = sub.add_parser("train")
    t.add_argument("name", choices=sorted(RUNS))
    t.add_argument("--minutes", type=float, required=True)
    t.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        pack()
    else:
        train(args.name, args.minutes, args.out)


if __name__ == "__main__":
    main()
