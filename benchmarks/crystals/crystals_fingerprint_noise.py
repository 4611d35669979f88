"""How much positional noise the CDVAE coverage cutoff tolerates, and where generated crystals sit.

    OMP_NUM_THREADS=1 python benchmarks/crystals/crystals_fingerprint_noise.py --dataset carbon_24 \
        --checkpoint carbon24-dng

COV-R / COV-P (CDVAE's protocol, ``graphdiff evaluate --task dng``) count a generated and a
reference crystal as close when their structure fingerprints (the mean over sites of matminer's
``CrystalNNFingerprint.from_preset("ops")``) lie within a cutoff: 0.2 for Carbon-24 and
Perov-5. This script measures what that cutoff means in Ångström:

1. *noise curve*: the first ``--num`` held-out structures (``runs/<dataset>/test.csv``, the split
   of ``benchmarks/crystals/crystals_csp.py``), each atom moved by isotropic Gaussian noise of standard
   deviation σ per Cartesian component (σ in ``--sigmas``, seed ``--seed``), lattice kept; the
   fingerprint distance between each noisy copy and its clean self: median, 90th percentile and
   the share within the cutoff;
2. *the data's own spacing*: each of those structures' distance to the nearest *other* held-out
   structure;
3. *generated*: ``--generate`` structures drawn by ``graphdiff sample --checkpoint CKPT --task dng``
   (the checkpoint's own sampling settings unless ``--steps``; one run per ``--corrector-steps``
   value), and each
   one's distance to the nearest held-out structure (every row of the test split, as COV-P
   uses), with the σ at which the noise curve's median reaches the generated median (the
   "equivalent noise", interpolated in log σ).

Writes ``benchmarks/crystals/results/<dataset>-fingerprint-noise.json`` (the command, every figure) and
``.png`` (the noise curve, the cutoff and the generated median).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, bundled, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs"
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent

def _structures(path: Path, skipped: list[dict[str, str]] | None = None) -> list:
    """The structures of a CSV with a ``cif`` column, read by the crystals plugin's reader: every
    row, or (with ``skipped``) the readable ones, the others reported there."""
    from graphdiff_crystals.io import read_records

    return [r["obj"] for r in read_records(path, strict=skipped is None, skipped=skipped)]


def jitter(structure, sigma: float, rng: np.random.Generator):
    """``structure`` with every atom moved by N(0, σ²) per Cartesian component (Å); same lattice."""
    from pymatgen.core import Structure

    cart = structure.cart_coords + rng.normal(0.0, sigma, (len(structure), 3))
    return Structure(structure.lattice, structure.species, cart, coords_are_cartesian=True)


def equivalent_sigma(sigmas: list[float], medians: list[float], value: float) -> float | None:
    """The σ at which the (increasing) median curve reaches ``value``, linear in log σ between
    measured points; ``None`` outside the measured range."""
    for (s0, m0), (s1, m1) in zip(zip(sigmas, medians), zip(sigmas[1:], medians[1:])):
        if m0 <= value <= m1 and m1 > m0:
            f = (value - m0) / (m1 - m0)
            return float(math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0))))
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="carbon_24", choices=["carbon_24", "perov_5"])
    ap.add_argument("--num", type=int, default=100, help="held-out structures jittered")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None, help="a de novo checkpoint to place beside the curve")
    ap.add_argument("--generate", type=int, default=200)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--corrector-steps", type=int, nargs="+", default=[None],
                    help="one sampling run per value (default: the checkpoint's setting)")
    args = ap.parse_args()

    from graphdiff_crystals.dng_metrics import resolve_cutoffs, structure_fingerprint

    warnings.simplefilter("ignore")
    split = RUNS / args.dataset
    if not (split / "test.csv").exists():
        subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "crystals_csp.py"), "split",
                        "--dataset", args.dataset], check=True)
    run = Run(seeds={"seed": args.seed}, data=[split / "test.csv", bundled(args.checkpoint)])
    t0 = time.perf_counter()
    refs = _structures(split / "test.csv")  # strict: a reference row that cannot be read stops here
    struc_cutoff, _, cutoff_source = resolve_cutoffs(refs, dataset=args.dataset)
    ref_fps = np.array([structure_fingerprint(s) for s in refs])
    clean = refs[: args.num]
    rng = np.random.default_rng(args.seed)
    curve = []
    for sigma in args.sigmas:
        d = np.array([np.linalg.norm(structure_fingerprint(jitter(s, sigma, rng)) - ref_fps[i])
                      for i, s in enumerate(clean)])
        curve.append({"sigma_angstrom": sigma, "median": float(np.median(d)),
                      "p90": float(np.percentile(d, 90)), "within_cutoff": float((d <= struc_cutoff).mean())})
        print(f"σ = {sigma:g} Å: median {curve[-1]['median']:.3f}, within {struc_cutoff:g}: "
              f"{curve[-1]['within_cutoff']:.0%}", flush=True)
    pair = np.linalg.norm(ref_fps[: args.num, None] - ref_fps[None], axis=-1)
    pair[np.arange(len(clean)), np.arange(len(clean))] = np.inf
    spacing = pair.min(1)
    result = {
        "dataset": args.dataset, "num_jittered": len(clean), "num_references": len(refs),
        "struc_cutoff": struc_cutoff, "cutoff_source": cutoff_source, "seed": args.seed,
        "fingerprint": 'mean over sites of matminer CrystalNNFingerprint.from_preset("ops")',
        "noise": "isotropic Gaussian per Cartesian component, lattice kept",
        "noise_curve": curve,
        "nearest_other_reference": {"median": float(np.median(spacing)),
                                    "within_cutoff": float((spacing <= struc_cutoff).mean())},
    }
    if args.checkpoint:
        result["generated"] = [_generated(args, corr, ref_fps, struc_cutoff, curve)
                               for corr in args.corrector_steps]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = "python benchmarks/crystals/crystals_fingerprint_noise.py " + shlex.join(sys.argv[1:])
    out = RESULTS / f"{args.dataset.replace('_', '')}-fingerprint-noise.json"
    record(out, key_from_args(args), result, run)
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out}")


def _generated(args: argparse.Namespace, corrector: int | None, ref_fps: np.ndarray, struc_cutoff: float,
               curve: list[dict]) -> dict:
    """Sample ``args.generate`` crystals with ``--corrector-steps corrector`` (``None``: the
    checkpoint's setting) and place them against the held-out fingerprints and the noise curve."""
    from graphdiff_crystals.dng_metrics import structure_fingerprint

    tag = f"{args.dataset}-{Path(args.checkpoint).stem}" + ("" if corrector is None else f"-corrector{corrector}")
    gen = RUNS / "fingerprint-noise" / f"{tag}.csv"
    gen.parent.mkdir(parents=True, exist_ok=True)
    import torch

    import graphdiff

    torch.set_num_threads(1)
    model = graphdiff.load(args.checkpoint)
    samples = model.sample(args.generate, seed=args.seed, steps=args.steps, corrector_steps=corrector,
                           progress=False)
    model.domain.write(list(samples), gen, ids=samples.ids)
    skipped: list[dict[str, str]] = []
    dists, failed = [], 0
    for s in _structures(gen, skipped):
        try:
            dists.append(float(np.linalg.norm(ref_fps - structure_fingerprint(s), axis=1).min()))
        except Exception:  # noqa: BLE001 - counted: a structure CrystalNN cannot fingerprint
            failed += 1
    d = np.array(dists)
    med = float(np.median(d)) if len(d) else None
    out = {
        "checkpoint": args.checkpoint, "num": args.generate, "fingerprinted": len(d),
        "fingerprint_failures": failed, "unreadable": len(skipped), "steps": args.steps or "checkpoint default",
        "corrector_steps": "checkpoint default" if corrector is None else corrector,
        "nearest_reference_median": med,
        "within_cutoff": float((d <= struc_cutoff).mean()) if len(d) else None,
        "equivalent_sigma_angstrom": (equivalent_sigma([c["sigma_angstrom"] for c in curve],
                                                       [c["median"] for c in curve], med)
                                      if med is not None else None),
    }
    print(json.dumps(out, indent=1), flush=True)
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["noise_curve"]
    s = [c["sigma_angstrom"] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, [c["median"] for c in curve], "o-", label="jittered held-out crystal vs itself (median)")
    ax.fill_between(s, 0, [c["p90"] for c in curve], alpha=0.15, label="up to the 90th percentile")
    ax.axhline(result["struc_cutoff"], color="k", ls="--", label=f"COV cutoff {result['struc_cutoff']:g}")
    ax.axhline(result["nearest_other_reference"]["median"], color="g", ls=":",
               label="held-out crystal vs nearest other (median)")
    for gen, color in zip(result.get("generated") or [], ("r", "m", "c", "y")):
        if gen["nearest_reference_median"] is not None:
            corr = gen["corrector_steps"]
            ax.axhline(gen["nearest_reference_median"], color=color,
                       label=f"{gen['checkpoint']} (corrector {corr}) vs nearest held-out (median)")
    ax.set_xscale("log")
    ax.set_xlabel("Gaussian noise per Cartesian component σ (Å)")
    ax.set_ylabel("structure fingerprint distance")
    ax.set_title(f"{result['dataset']}: what the coverage cutoff tolerates")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
