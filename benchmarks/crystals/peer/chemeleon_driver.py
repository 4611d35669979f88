"""Train and sample chemeleon-dng (CSP) from scratch; run with the peer venv's python.

    runs/peer-venv/bin/python benchmarks/crystals/peer/chemeleon_driver.py train \
        --data-dir runs/peer-data --out runs/peer-chemeleon --minutes 30 \
        --hidden 256 --layers 4 --batch 128 --timesteps 1000
    runs/peer-venv/bin/python benchmarks/crystals/peer/chemeleon_driver.py sample \
        --checkpoint runs/peer-chemeleon/last.ckpt --input rows.csv --k 20 --steps 1000 \
        --out runs/peer-chemeleon/samples.csv

``train`` builds chemeleon-dng's own Lightning ``DataModule`` on ``DATA_DIR/{train,val}.csv``
(CDVAE CSV: a ``cif`` column) and its ``DiffusionModule`` (CSPNet; DDPM on the lattice, wrapped
normal score matching on fractional coordinates, ``--timesteps`` discrete steps) with the
upstream ``configs/base.yaml`` recipe (Adam 1e-3, ReduceLROnPlateau, gradient clipping 0.5 by
value, validation every 5 epochs), on one CPU device for ``--minutes`` of wall time
(Lightning ``max_time``). It writes ``OUT/last.ckpt`` and ``OUT/train.json`` (steps, steps/s,
parameters, peak RSS).

``sample`` draws ``--k`` independent structures per input row for the row's atoms (CSP) with
the module's own predictor-corrector sampler, ``--steps`` reverse steps (must equal the
trained ``num_timesteps``: the noise schedules are discrete), and writes a CSV
``material_id,cif,sample`` plus ``OUT.json`` (structures/s, peak RSS).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from pathlib import Path


def _threads() -> int:
    import torch

    n = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(n)
    return torch.get_num_threads()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_configs(hidden: int, layers: int, time_dim: int, num_freqs: int) -> dict:
    """CSPNet settings: upstream configs/base.yaml with the width and depth replaced."""
    return {"hidden_dim": hidden, "time_dim": time_dim, "num_layers": layers, "max_atoms": 100,
            "act_fn": "silu", "dis_emb": "sin", "num_freqs": num_freqs, "ln": True, "ip": True,
            "smooth": False, "cond_dim": 0, "pred_atom_types": False}


def train(args: argparse.Namespace) -> dict:
    import datetime

    import pytorch_lightning as pl
    from chemeleon_dng.datamodule import DataModule
    from chemeleon_dng.script_util import create_diffusion_module

    threads = _threads()
    pl.seed_everything(args.seed, verbose=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dm = DataModule(data_dir=args.data_dir, batch_size=args.batch, dataset_type="mp",
                    num_workers=0, pin_memory=False)
    module = create_diffusion_module(
        task="csp", model_configs=model_configs(args.hidden, args.layers, args.time_dim, args.num_freqs),
        optimizer_configs={"optimizer": "adam", "lr": args.lr, "weight_decay": 0.0,
                           "scheduler": "reduce_on_plateau", "patience": 30, "early_stopping": 500,
                           "warmup_steps": 0},
        num_timesteps=args.timesteps, beta_schedule_ddpm="cosine", beta_schedule_d3pm="reciprocal",
        max_atoms=100, d3pm_hybrid_coeff=0.1, sigma_begin=0.005, sigma_end=0.5)
    params = sum(p.numel() for p in module.parameters())

    class Clock(pl.Callback):
        t0 = t1 = None

        def on_train_start(self, trainer, pl_module):
            self.t0 = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            self.t1 = time.perf_counter()

    clock = Clock()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, max_steps=10**9,
                         max_time=datetime.timedelta(seconds=round(60 * args.minutes)),
                         gradient_clip_val=0.5, gradient_clip_algorithm="value",
                         check_val_every_n_epoch=5, num_sanity_val_steps=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[clock], default_root_dir=str(out))
    trainer.fit(module, datamodule=dm)
    ckpt = out / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    seconds = (clock.t1 or time.perf_counter()) - clock.t0
    steps = int(trainer.global_step)
    res = {"package": "chemeleon-dng", "task": "csp", "steps": steps, "epochs": int(trainer.current_epoch),
           "train_seconds": round(seconds, 2), "steps_per_s": steps / seconds, "parameters": params,
           "hidden": args.hidden, "layers": args.layers, "time_dim": args.time_dim,
           "num_freqs": args.num_freqs, "batch_size": args.batch, "timesteps": args.timesteps,
           "lr": args.lr, "num_train": len(dm.train_dataset), "num_val": len(dm.val_dataset),
           "threads": threads, "peak_rss_mb": _peak_rss_mb(), "checkpoint": str(ckpt)}
    (out / "train.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res))
    return res


def _compositions(path: Path, limit: int | None) -> list[tuple[str, list[int]]]:
    from pymatgen.core import Structure

    csv.field_size_limit(sys.maxsize)
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            st = Structure.from_str(row["cif"], fmt="cif")
            rows.append((str(row.get("material_id") or row.get("")), list(st.atomic_numbers)))
            if limit and len(rows) == limit:
                break
    return rows


def sample(args: argparse.Namespace) -> dict:
    import torch
    from chemeleon_dng.diffusion.diffusion_module import DiffusionModule
    from pymatgen.core import Lattice, Structure

    threads = _threads()
    torch.manual_seed(args.seed)
    import numpy as np

    np.random.seed(args.seed)
    dm = DiffusionModule.load_from_checkpoint(args.checkpoint, map_location="cpu", weights_only=False)
    dm.eval()
    if dm.num_timesteps != args.steps:
        raise SystemExit(f"the checkpoint was trained with {dm.num_timesteps} timesteps; chemeleon-dng "
                         f"samples with exactly that many (asked: {args.steps})")
    rows = _compositions(Path(args.input), args.limit)
    jobs = [(rid, z, s) for rid, z in rows for s in range(args.k)]
    out_rows = []
    t0 = time.perf_counter()
    for i in range(0, len(jobs), args.batch_size):
        chunk = jobs[i:i + args.batch_size]
        atom_types = [a for _, z, _ in chunk for a in z]
        num_atoms = [len(z) for _, z, _ in chunk]
        atoms_list = dm.sample(task="csp", atom_types=atom_types, num_atoms=num_atoms, verbose=False)
        for (rid, _, s), atoms in zip(chunk, atoms_list, strict=True):
            st = Structure(Lattice(atoms.cell.array), atoms.numbers.tolist(), atoms.get_scaled_positions(wrap=True))
            out_rows.append((rid, st.to(fmt="cif"), s))
        print(f"sampled {min(i + args.batch_size, len(jobs))}/{len(jobs)}", flush=True)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "cif", "sample"])
        w.writerows(out_rows)
    res = {"package": "chemeleon-dng", "rows": len(rows), "k": args.k, "structures": len(jobs),
           "steps": args.steps, "network_evals_per_step": 2, "sampler": "predictor-corrector (upstream)",
           "batch_size": args.batch_size, "seconds": round(seconds, 2),
           "structures_per_s": len(jobs) / seconds, "threads": threads, "peak_rss_mb": _peak_rss_mb(),
           "out": str(out)}
    out.with_suffix(".json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res))
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data-dir", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--minutes", type=float, default=30)
    t.add_argument("--hidden", type=int, default=256)
    t.add_argument("--layers", type=int, default=4)
    t.add_argument("--time-dim", type=int, default=128)
    t.add_argument("--num-freqs", type=int, default=128)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--timesteps", type=int, default=1000)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=42)
    s = sub.add_parser("sample")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--k", type=int, default=1)
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--limit", type=int, default=None)
    s.add_argument("--batch-size", type=int, default=512)
    s.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    {"train": train, "sample": sample}[args.cmd](args)


if __name__ == "__main__":
    main()
