"""Crystal structure prediction on a CDVAE benchmark: split, train, export, evaluate.

    python benchmarks/crystals_csp.py split --dataset perov_5
    python benchmarks/crystals_csp.py train --dataset perov_5 --minutes 45 --name perov5-csp
    python benchmarks/crystals_csp.py eval  --dataset perov_5 --name perov5-csp --k 2 --limit 400

``split`` holds out 20 % of ``../shared/data/<dataset>/val.csv`` (seeded) into
``runs/<dataset>/{train,test}.csv``; ``train`` trains the CSP model (atom types given) within a
wall-time budget and exports the EMA weights as a model-only checkpoint into the crystals
plugin; ``eval`` samples ``k`` structures per held-out row and writes the CDVAE match rate and
RMSE at each ``k' <= k`` with throughput and peak memory to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
BUNDLE = ROOT / "plugins" / "graphdiff-crystals" / "graphdiff_crystals" / "checkpoints"

MODEL = {
    "perov_5": {"hidden": 128, "layers": 4, "num_freqs": 32, "batch_size": 64, "lr": 1e-3},
    "carbon_24": {"hidden": 128, "layers": 4, "num_freqs": 32, "batch_size": 32, "lr": 1e-3},
}


def split(dataset: str, seed: int = 0, test_fraction: float = 0.2) -> tuple[Path, Path]:
    src = SHARED / dataset / "val.csv"
    out = ROOT / "runs" / dataset
    out.mkdir(parents=True, exist_ok=True)
    csv.field_size_limit(sys.maxsize)
    with src.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = int(round(test_fraction * len(rows)))
    parts = {"test": [rows[i] for i in perm[:n_test]], "train": [rows[i] for i in perm[n_test:]]}
    for name, part in parts.items():
        with (out / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(part)
    print(f"{dataset}: {len(parts['train'])} train / {len(parts['test'])} test rows -> {out}")
    return out / "train.csv", out / "test.csv"


def train(dataset: str, name: str, minutes: float, max_steps: int, seed: int) -> Path:
    from graphdiff.config import RunConfig
    from graphdiff.runner import train as run_train

    train_csv = ROOT / "runs" / dataset / "train.csv"
    if not train_csv.exists():
        split(dataset)
    m = MODEL[dataset]
    cfg = RunConfig.model_validate({
        "data": {"domain": "crystals", "source": str(train_csv), "val_fraction": 0.05,
                 "batch_size": m["batch_size"]},
        "model": {"denoiser": "periodic", "hidden": m["hidden"], "layers": m["layers"],
                  "options": {"num_freqs": m["num_freqs"]}},
        "diffusion": {"given": ["atom_types"]},
        "training": {"max_steps": max_steps, "max_minutes": minutes, "lr": m["lr"], "seed": seed,
                     "warmup_steps": 200, "ema_decay": 0.999, "val_every": 500, "log_every": 50,
                     "checkpoint_every": 500, "out_dir": str(ROOT / "runs" / name)},
        "sampling": {"steps": 500, "sampler": "ancestral", "corrector_steps": 0},
    })
    t0 = time.perf_counter()
    trainer, ckpt = run_train(cfg, progress=False)
    minutes_used = (time.perf_counter() - t0) / 60
    return export(dataset, name, minutes, round(minutes_used, 1))


def export(dataset: str, name: str, minutes: float, minutes_used: float | None = None) -> Path:
    """Bundle the EMA weights of ``runs/<name>/last.ckpt`` with the split's held-out ids."""
    from graphdiff.model import export_checkpoint, read_checkpoint

    src = ROOT / "runs" / name / "last.ckpt"
    step = int(read_checkpoint(src)["step"])
    with (ROOT / "runs" / dataset / "test.csv").open(newline="") as fh:
        csv.field_size_limit(sys.maxsize)
        test_ids = [row.get("material_id") or row.get("") for row in csv.DictReader(fh)]
    BUNDLE.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "task": "csp", "dataset": dataset, "steps": step, "test_ids": test_ids,
            "split": "seeded 80/20 of ../shared/data/%s/val.csv (benchmarks/crystals_csp.py split)" % dataset,
            "made_by": f"python benchmarks/crystals_csp.py train --dataset {dataset} --minutes {minutes} "
                       f"--name {name}"}
    if minutes_used is not None:
        meta["train_minutes"] = minutes_used
    dst = export_checkpoint(src, BUNDLE / f"{name}.ckpt", meta=meta)
    print(f"exported {dst} ({dst.stat().st_size / 1e6:.1f} MB) after {step} steps")
    return dst


def evaluate(dataset: str, name: str, k: int, limit: int | None, steps: int | None, seed: int) -> dict:
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs
    from graphdiff_crystals.metrics import match_rate

    test_csv = ROOT / "runs" / dataset / "test.csv"
    if not test_csv.exists():
        split(dataset)
    ckpt = BUNDLE / f"{name}.ckpt"
    model, cfg, meta = load_model(ckpt)
    domain = get_manager().get("domains", "crystals")
    records = list(domain.read(test_csv))[:limit] if limit else list(domain.read(test_csv))
    refs = [r["obj"] for r in records]
    templates = [domain.record_to_graph(r) for r in records for _ in range(k)]
    steps = steps or cfg.sampling.steps
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    graphs = [g for chunk in sample_graphs(model, templates=templates, steps=steps,
                                           sampler=cfg.sampling.sampler, batch_size=512, seed=seed)
              for g in chunk]
    sample_s = time.perf_counter() - t0
    structs = [domain.from_graph(g) for g in graphs]
    cands = [structs[i * k:(i + 1) * k] for i in range(len(refs))]
    result = {"dataset": dataset, "checkpoint": name, "num_test": len(refs), "steps": steps,
              "sampler": cfg.sampling.sampler, "train_meta": meta,
              "sampling_structures_per_s": len(structs) / sample_s,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "metrics": {}}
    for kk in sorted({1, min(2, k), k}):
        m = match_rate(cands, refs, k=kk)
        result["metrics"][f"k={kk}"] = {"match_rate": m["match_rate"], "rmse": m["rmse"]}
        print(f"{name} k={kk}: match rate {100 * m['match_rate']:.1f} %, RMSE {m['rmse']}")
    result["command"] = (f"python benchmarks/crystals_csp.py eval --dataset {dataset} --name {name} "
                         f"--k {k}" + (f" --limit {limit}" if limit else ""))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    figures = {f"match_rate@{kk.split('=')[1]}": round(v["match_rate"], 4) for kk, v in result["metrics"].items()}
    figures.update({f"rmse@{kk.split('=')[1]}": (round(v["rmse"], 4) if v["rmse"] is not None else None)
                    for kk, v in result["metrics"].items()})
    figures["held_out_rows"] = len(refs)
    figures["steps"] = steps
    manifest = {"task": "csp", "dataset": dataset,
                "trained_on": f"{meta.get('split', dataset)}: {meta.get('steps')} steps, "
                              f"{meta.get('train_minutes', '?')} min on a 2-core CPU",
                "figures": figures, "made_by": meta.get("made_by", ""),
                "evaluated_by": result["command"]}
    (BUNDLE / f"{name}.json").write_text(json.dumps(manifest, indent=2))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["split", "train", "export", "eval"])
    ap.add_argument("--dataset", default="perov_5", choices=sorted(MODEL))
    ap.add_argument("--name", default=None)
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--max-steps", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    name = args.name or args.dataset.replace("_", "") + "-csp"
    if args.action == "split":
        split(args.dataset)
    elif args.action == "train":
        train(args.dataset, name, args.minutes, args.max_steps, args.seed)
    elif args.action == "export":
        export(args.dataset, name, args.minutes)
    else:
        evaluate(args.dataset, name, args.k, args.limit, args.steps, args.seed)


if __name__ == "__main__":
    main()
