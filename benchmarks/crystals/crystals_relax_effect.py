"""What CHGNet relaxation as a generation step does to de novo crystals: contacts, coverage, energy.

    python benchmarks/crystals/crystals_relax_effect.py [--checkpoint carbon24-dng] [--num 100] [--seed 0]
                                               [--fmax 0.1] [--relax-steps 300]

The bundled checkpoint samples ``--num`` structures de novo through the Python API with
``relax={"keep_unrelaxed": True}`` (``graphdiff sample --relax --keep-unrelaxed``), so the raw
and the relaxed structures are the same draws. Both sets are scored with ``graphdiff evaluate
--task dng`` against the held-out split of their dataset (``runs/<dataset>/test.csv``, made by
``python benchmarks/crystals/crystals_csp.py split``) with the training split as ``--train``: CDVAE's
validity and coverage, the physical-sanity figures (short contacts against the per-pair minima of
the reference and training structures, space groups at symprec 0.1) and, with ``energy=True``,
the CHGNet energy per atom against the references'. The relaxation's own record (converged,
steps, displacements, failures) and wall time are kept too.

Results: ``benchmarks/crystals/results/crystals-relax-effect.json`` (keyed by checkpoint, num, seed,
fmax, relax steps and ``separate``, the factor of covalent radii below which atoms are moved apart
before CHGNet; entries without it ran before that step existed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def relaxation_summary(info: list[dict]) -> dict:
    """How the relaxation of generated items went, from their ``info`` (``Model.sample`` /
    ``complete`` with ``relax=``): counts, the first failures, median steps and displacement."""
    return {
        "relaxed": sum(bool(i.get("relaxed")) for i in info),
        "converged": sum(bool(i.get("relax_converged")) for i in info),
        "failed": [i["relax_error"] for i in info if i.get("relax_error")][:10],
        "median_steps": statistics.median(i.get("relax_steps", 0) for i in info) if info else None,
        "median_displacement_rms": statistics.median(
            [i["relax_displacement_rms"] for i in info if i.get("relax_displacement_rms") is not None] or [0]),
    }


def summary(metrics: dict) -> dict:
    """The figures worth keeping of a dng result (per-item rows and long lists left out)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if not isinstance(v, list) or len(v) <= 10}
        elif not isinstance(value, list):
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="carbon24-dng")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fmax", type=float, default=0.1)
    ap.add_argument("--relax-steps", type=int, default=300)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import graphdiff

    model = graphdiff.load(args.checkpoint, device="cpu")
    dataset = model.meta["dataset"]
    test, train = ROOT / "runs" / dataset / "test.csv", ROOT / "runs" / dataset / "train.csv"
    if not test.exists():
        raise SystemExit(f"{test} is missing: python benchmarks/crystals/crystals_csp.py split --dataset {dataset}")
    run = Run(seeds={"seed": args.seed}, data=[test, train])
    t0 = time.perf_counter()
    samples = model.sample(args.num, seed=args.seed, progress=True,
                           relax={"fmax": args.fmax, "steps": args.relax_steps, "keep_unrelaxed": True})
    seconds = time.perf_counter() - t0
    info = samples.info
    energies = [i["energy_per_atom"] for i in info if i.get("energy_per_atom") is not None]
    out: dict = {
        "checkpoint": args.checkpoint, "dataset": dataset, "num": len(samples), "skipped": len(samples.skipped),
        "seconds_sample_and_relax": round(seconds, 1),
        "relaxation": {**relaxation_summary(info),
                       "median_energy_per_atom": statistics.median(energies) if energies else None},
    }
    for name, items in (("raw", samples.unrelaxed), ("relaxed", list(samples))):
        t1 = time.perf_counter()
        metrics = graphdiff.evaluate(items, test, task="dng", train=train, energy=True)
        out[name] = {**summary(metrics.get("metrics", metrics)), "seconds": round(time.perf_counter() - t1, 1)}
        sc = out[name].get("short_contacts", {})
        cov = out[name].get("coverage", {})
        print(name, "short-contact free", sc.get("short_contact_free"), "COV-R", cov.get("cov_recall"),
              "COV-P", cov.get("cov_precision"))
    record_relaxed(RESULTS / "crystals-relax-effect.json", ap, args, out, run)


def record_relaxed(path: Path, ap: argparse.ArgumentParser, args: argparse.Namespace, out: dict, run: Run) -> None:
    """Record ``out`` of a run that relaxed with ``CrystalDomain.relax``: the command (the options
    that differ from their defaults) and ``separate``, the factor of covalent radii below which
    atoms are moved apart before CHGNet, which changes the figures and so is part of the key."""
    from graphdiff_crystals.domain import SEPARATE_FACTOR

    out["command"] = f"python benchmarks/crystals/{Path(sys.argv[0]).name}" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v != ap.get_default(k))
    out["separate"] = SEPARATE_FACTOR
    record(path, key_from_args(args, separate=SEPARATE_FACTOR), out, run)


if __name__ == "__main__":
    main()
