"""What CHGNet relaxation as a generation step does to crystal structure prediction: match rate, RMSE.

    python benchmarks/crystals/crystals_relax_csp.py [--dataset perov_5] [--rows 100] [--seed 0]
                                            [--fmax 0.1] [--relax-steps 300]

The bundled CSP model of the dataset (``perov5-csp``; ``carbon24-dng`` by inpainting for
Carbon-24) completes the first ``--rows`` held-out rows (``runs/<dataset>/test.csv``, made by
``python benchmarks/crystals/crystals_csp.py split``), one candidate each, through the Python API with
``relax={"keep_unrelaxed": True}``, so the raw and the relaxed candidates are the same draws.
Both are scored with CDVAE's match rate and RMSE (``graphdiff.evaluate(..., task="csp")``)
against the rows' structures, which are DFT-relaxed, and the relaxation's own record is kept.

Results: ``benchmarks/crystals/results/crystals-relax-csp.json`` (keyed by dataset, rows, seed, fmax,
relax steps and ``separate``, the factor of covalent radii below which atoms are moved apart before
CHGNet runs; entries without it ran before that step existed).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run  # noqa: E402
from crystals_relax_effect import record_relaxed, relaxation_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = {"perov_5": ("perov5-csp", None), "carbon_24": ("carbon24-dng", "csp")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="perov_5", choices=sorted(MODELS))
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fmax", type=float, default=0.1)
    ap.add_argument("--relax-steps", type=int, default=300)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import graphdiff

    test = ROOT / "runs" / args.dataset / "test.csv"
    if not test.exists():
        raise SystemExit(f"{test} is missing: "
                         f"python benchmarks/crystals/crystals_csp.py split --dataset {args.dataset}")
    name, task = MODELS[args.dataset]
    run = Run(seeds={"seed": args.seed}, data=[test])
    model = graphdiff.load(name, device="cpu")
    records = model.read_inputs(test)[:args.rows]
    t0 = time.perf_counter()
    cands = model.complete(records, k=1, seed=args.seed, task=task, progress=True,
                           relax={"fmax": args.fmax, "steps": args.relax_steps, "keep_unrelaxed": True})
    seconds = time.perf_counter() - t0
    refs = [{"id": str(i), "obj": r["obj"]} for i, r in enumerate(records)]
    info = [i for c in cands for i in c.info]
    out: dict = {"checkpoint": name, "dataset": args.dataset, "rows": len(records),
                 "seconds_sample_and_relax": round(seconds, 1),
                 "relaxation": relaxation_summary(info)}
    for label, pick in (("raw", lambda c: c.unrelaxed), ("relaxed", lambda c: list(c))):
        gen = [{"id": str(i), "obj": s} for i, c in enumerate(cands) for s in pick(c)]
        metrics = graphdiff.evaluate(gen, refs, task="csp", domain="crystals", k=[1])["metrics"]
        out[label] = metrics
        print(label, {k: (round(100 * v["match_rate"], 1), v["rmse"]) for k, v in metrics.items()})
    record_relaxed(RESULTS / "crystals-relax-csp.json", ap, args, out, run)


if __name__ == "__main__":
    main()
