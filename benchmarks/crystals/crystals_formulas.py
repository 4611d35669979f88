"""Crystal structure prediction from formulas alone against the same from reference CIFs.

    python benchmarks/crystals/crystals_formulas.py [--rows 100] [--k 2] [--seed 0] [--steps N]

The held-out rows of the Perov-5 split (``runs/perov_5/test.csv``, made by
``python benchmarks/crystals/crystals_csp.py split --dataset perov_5``) are completed twice by the bundled
``perov5-csp`` through the Python API, with the same seed: once from the records read from the
CSV (each row's CIF gives the composition), once from the row's ``formula`` column alone
(``Model.complete(["CuCdN3", ...])``). Both sets of candidates are scored against the reference
structures with CDVAE's match rate (``graphdiff.evaluate(..., task="csp")``), and every candidate
is compared with its twin (same lattice and coordinates to 1e-6).

Results: ``benchmarks/crystals/results/crystals-formulas.json`` (keyed by rows, k, seed, steps).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
TEST = ROOT / "runs" / "perov_5" / "test.csv"


def same(a, b) -> bool:
    return (np.allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
            and np.allclose(a.frac_coords, b.frac_coords, atol=1e-6)
            and [s.specie.symbol for s in a] == [s.specie.symbol for s in b])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100, help="first ROWS held-out rows")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="reverse steps (default: the checkpoint's)")
    args = ap.parse_args()
    if not TEST.exists():
        raise SystemExit(f"{TEST} is missing: python benchmarks/crystals/crystals_csp.py split --dataset perov_5")
    warnings.simplefilter("ignore")
    import graphdiff

    run = Run(seeds={"seed": args.seed}, data=[TEST])
    model = graphdiff.load("perov5-csp", device="cpu")
    records = model.read_inputs(TEST)[:args.rows]
    formulas = [r["text"]["formula"] for r in records]
    ks = sorted({1, args.k})
    out: dict = {"rows": len(records), "k": args.k, "steps": args.steps or model.config.sampling.steps}
    cands = {}
    for name, inputs in (("cif", records), ("formula", formulas)):
        t0 = time.perf_counter()
        cands[name] = model.complete(inputs, k=args.k, seed=args.seed, steps=args.steps, progress=False)
        refs = [{"id": str(i), "obj": r["obj"]} for i, r in enumerate(records)]
        gen = [{"id": str(i), "obj": s} for i, c in enumerate(cands[name]) for s in c]
        metrics = graphdiff.evaluate(gen, refs, task="csp", domain="crystals", k=ks)["metrics"]
        out[name] = {**metrics, "seconds": round(time.perf_counter() - t0, 1)}
        print(name, {kk: (round(100 * v["match_rate"], 1), v["rmse"]) for kk, v in metrics.items()})
    pairs = [(a, b) for ca, cb in zip(cands["cif"], cands["formula"]) for a, b in zip(ca, cb)]
    out["candidates"] = len(pairs)
    out["identical_candidates"] = sum(same(a, b) for a, b in pairs)
    out["same_count_per_row"] = all(len(a) == len(b) for a, b in zip(cands["cif"], cands["formula"]))
    out["command"] = "python benchmarks/crystals/crystals_formulas.py" + "".join(
        f" --{k} {v}" for k, v in vars(args).items() if v != ap.get_default(k))
    record(RESULTS / "crystals-formulas.json", key_from_args(args), out, run)
    print(f"identical candidates: {out['identical_candidates']} of {out['candidates']}")


if __name__ == "__main__":
    main()
