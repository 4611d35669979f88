"""Sampler settings of a bundled crystal checkpoint, chosen on the validation rows.

    python benchmarks/crystals/crystals_sampler.py run --dataset carbon_24 --name carbon24-dng \
        --steps 500 --corrector 1 --step-lr 1e-5 --num 200
    python benchmarks/crystals/crystals_sampler.py collect --dataset carbon_24 --name carbon24-dng

``run`` samples one sampler setting (reverse steps, Langevin corrector steps per reverse step and
the corrector's step size at σ_min) twice (once with ``--num 0``, which a CSP model such as
``perov5-csp`` needs): ``num`` structures de novo, scored with CDVAE's
coverage, short contacts and the P1 fraction against the validation rows
(``runs/<dataset>/val.csv``: the 5 % of the training split
that training held out for validation, written by ``crystals_csp.py split``), and one structure
per validation row with its atoms given (CSP, CDVAE match rate at k = 1). The held-out test rows
are never read, so a setting chosen here is measured afterwards on rows it was not chosen on.
Each run is recorded in ``benchmarks/crystals/results/<name>-sampler.json`` (one entry per setting, a rerun
beside the earlier ones); ``collect`` plots the latest run of each setting.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, entries, latest, record  # noqa: E402
from crystals_csp import BUNDLE, RESULTS, _records, split  # noqa: E402

OUT = ROOT / "runs" / "sampler"
WHAT = "sampler settings scored on the validation rows only (see the module docstring)"


def _tag(steps: int, corrector: int, step_lr: float) -> str:
    return f"steps{steps}-corrector{corrector}-lr{step_lr:g}"


def run(dataset: str, name: str, steps: int, corrector: int, step_lr: float, num: int, seed: int) -> dict:
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs
    from graphdiff_crystals.metrics import match_rate

    val_csv = ROOT / "runs" / dataset / "val.csv"
    if not val_csv.exists():
        split(dataset)
    run_ = Run(seeds={"seed": seed, "csp_seed": seed + 1},
               data=[val_csv, ROOT / "runs" / dataset / "train.csv", BUNDLE / f"{name}.ckpt"])
    model, cfg, meta = load_model(BUNDLE / f"{name}.ckpt")
    torus = [n for n in model.generate if hasattr(model.processes[n], "step_lr")]
    for n in torus:
        model.processes[n].step_lr = step_lr
    manager = get_manager()
    domain = manager.get("domains", "crystals")
    refs = _records(domain, val_csv)
    train_recs = _records(domain, ROOT / "runs" / dataset / "train.csv")
    tag = _tag(steps, corrector, step_lr)
    out_dir = OUT / name
    out_dir.mkdir(parents=True, exist_ok=True)
    opts = dict(steps=steps, sampler=cfg.sampling.sampler, corrector_steps=corrector, batch_size=256)

    if num and model.given:
        raise SystemExit(f"{name} generates with {', '.join(model.given)} given (a CSP model): it cannot "
                         "sample de novo; --num 0 scores CSP alone")
    dng = None
    if num:
        t0 = time.perf_counter()
        graphs = [g for chunk in sample_graphs(model, num, seed=seed, **opts) for g in chunk]
        dng_seconds = time.perf_counter() - t0
        gen_csv = out_dir / f"{tag}-dng.csv"
        domain.write([domain.from_graph(g) for g in graphs], gen_csv, ids=[str(i) for i in range(num)])
        gen = list(domain.read(gen_csv, validate=False))
        dng = manager.get("metrics", "crystals-dng")(gen, refs, train=train_recs, dataset=dataset)

    inpaint = [] if model.given else ["atom_types"]  # a de novo model holds the composition
    templates = [domain.record_to_graph(r) for r in refs]
    t0 = time.perf_counter()
    csp = [g for chunk in sample_graphs(model, templates=templates, seed=seed + 1, inpaint=inpaint, **opts)
           for g in chunk]
    csp_seconds = time.perf_counter() - t0
    m = match_rate([[domain.from_graph(g)] for g in csp], [r["obj"] for r in refs], k=1)

    cov = dng["coverage"] if dng else None
    result = {
        "dataset": dataset, "checkpoint": name, "steps": steps, "corrector_steps": corrector,
        "step_lr": step_lr, "torus_fields": torus, "seed": seed,
        "reference": f"runs/{dataset}/val.csv ({len(refs)} validation rows of the training split)",
        "dng": None if dng is None else {"num_generated": num, "structural_validity": dng["validity"]["structure"],
                "cov_recall": cov["cov_recall"], "cov_precision": cov["cov_precision"],
                "amsd_recall": cov["amsd_recall"], "amsd_precision": cov["amsd_precision"],
                "wdist_density": dng["wasserstein"]["density"],
                # physical sanity of the raw draws (no relaxation): short contacts against the
                # per-pair minima of the validation and training structures, P1 at symprec 0.1
                "short_contact_free": (dng.get("short_contacts") or {}).get("short_contact_free"),
                "fraction_p1": ((dng.get("space_groups") or {}).get("generated") or {}).get("fraction_p1"),
                "structures_per_s": num / dng_seconds},
        "csp": {"rows": len(refs), "match_rate@1": m["match_rate"], "rmse@1": m["rmse"],
                "structures_per_s": len(refs) / csp_seconds},
        "threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "command": f"python benchmarks/crystals/crystals_sampler.py run --dataset {dataset} --name {name} "
                   f"--steps {steps} "
                   f"--corrector {corrector} --step-lr {step_lr:g} --num {num} --seed {seed}",
    }
    result["what"] = WHAT
    key = {"dataset": dataset, "checkpoint": name, "steps": steps, "sampler": cfg.sampling.sampler,
           "corrector_steps": corrector, "step_lr": step_lr, "num": num, "seed": seed}
    record(RESULTS / f"{name}-sampler.json", key, result, run_)
    print(json.dumps({k: result[k] for k in ("dng", "csp")}, indent=1))
    return result


def collect(dataset: str, name: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [latest(e) for e in entries(RESULTS / f"{name}-sampler.json")]
    runs = [r for r in runs if r["dataset"] == dataset]
    runs.sort(key=lambda r: (r["steps"], r["step_lr"], r["corrector_steps"]))
    out = {"checkpoint": name, "dataset": dataset, "what": WHAT,
           "runs": {f"{_tag(r['steps'], r['corrector_steps'], r['step_lr'])}-seed{r['seed']}": r for r in runs}}
    nan = float("nan")

    def dng(r: dict, key: str, scale: float = 1.0) -> float:  # CSP-only runs (--num 0) have no de novo part
        return nan if not r.get("dng") else scale * r["dng"][key]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    labels = [f"{r['steps']} st, c={r['corrector_steps']}, lr={r['step_lr']:g}, s={r['seed']}" for r in runs]
    x = range(len(runs))
    axes[0].bar(x, [dng(r, "cov_recall", 100) for r in runs], label="COV-R")
    axes[0].bar(x, [dng(r, "cov_precision", 100) for r in runs], label="COV-P", alpha=0.7)
    axes[0].set_ylabel("coverage on validation rows (%)")
    axes[0].set_ylim(0, 100)
    axes[0].legend()
    axes[1].bar(x, [dng(r, "amsd_recall") for r in runs], label="recall")
    axes[1].bar(x, [dng(r, "amsd_precision") for r in runs], label="precision", alpha=0.5)
    axes[1].axhline(0.2, color="k", ls="--", lw=0.8)
    axes[1].set_ylabel("mean nearest fingerprint distance")
    axes[1].legend()
    axes[2].bar(x, [100 * r["csp"]["match_rate@1"] for r in runs])
    axes[2].set_ylabel("CSP match rate, k = 1 (%)")
    for ax in axes:
        ax.set_xticks(list(x), labels, rotation=60, ha="right", fontsize=7)
    fig.suptitle(f"{name}: sampler settings on {dataset} validation rows")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}-sampler.png", dpi=120)
    for r in runs:
        print(f"{_tag(r['steps'], r['corrector_steps'], r['step_lr']):36s} COV-R {dng(r, 'cov_recall', 100):5.1f} "
              f"COV-P {dng(r, 'cov_precision', 100):5.1f} amsd {dng(r, 'amsd_recall'):.3f}/"
              f"{dng(r, 'amsd_precision'):.3f} valid {dng(r, 'structural_validity', 100):.1f} "
              f"CSP@1 {100 * r['csp']['match_rate@1']:.1f} ({r['csp']['rmse@1']}) seed {r['seed']}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["run", "collect"])
    p.add_argument("--dataset", required=True, choices=["perov_5", "carbon_24"])
    p.add_argument("--name", required=True, help="a bundled checkpoint")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--corrector", type=int, default=0)
    p.add_argument("--step-lr", type=float, default=1e-5)
    p.add_argument("--num", type=int, default=200,
                   help="structures sampled de novo (0: CSP alone; a CSP model takes only 0)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.command == "run":
        run(a.dataset, a.name, a.steps, a.corrector, a.step_lr, a.num, a.seed)
    else:
        collect(a.dataset, a.name)


if __name__ == "__main__":
    main()
