"""The demo behind ``make demo``: the bundled crystal checkpoints on the bundled samples.

    python -m graphdiff_crystals.demo --out demo-output [--num 60] [--k 2] [--dng 24] [--steps 500]

1. Crystal structure prediction with ``perov5-csp``: compositions from rows of the bundled
   Perov-5 sample that the checkpoint did *not* train on (the benchmark's held-out split),
   ``k`` distinct candidates per composition (ranked by how often the model draws each), CIF
   files, the CDVAE match rate and RMSE, and pictures: predicted structures beside their
   references, lattice-length and volume distributions of predictions against references.
2. De novo generation with ``carbon24-dng``: ``--dng`` new carbon crystals (atom counts drawn
   from the training data), CIF files, structural validity, uniqueness, the Wasserstein
   distance of their density to the bundled Carbon-24 sample's, and pictures of structures and
   of the density histograms.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def plot_structures(pairs: list[tuple[Any, Any, str]], out: Path) -> Path:
    """Generated structures (one row), or predictions beneath their references (two rows)."""
    import matplotlib.cm as cm
    from pymatgen.core.periodic_table import Element

    from graphdiff.viz import AtomsPanel, plot_atoms

    def panel(s: Any, title: str) -> AtomsPanel:
        elements = [Element(str(sp.symbol)) for sp in s.species]
        return AtomsPanel(s.cart_coords, [cm.tab20(e.Z % 20) for e in elements],
                          [40 + 8 * e.row for e in elements], title=title, cell=s.lattice.matrix)

    if all(ref is None for _, ref, _ in pairs):
        rows = [[panel(pred, f"{title}\ngenerated") for pred, _, title in pairs]]
    else:
        rows = [[panel(ref, f"{title}\nreference") for _, ref, title in pairs],
                [panel(pred, "predicted") for pred, _, _ in pairs]]
    return plot_atoms(rows, out, size=3.2)


def plot_distributions(preds: list[Any], refs: list[Any], out: Path) -> Path:
    return plot_histograms({"lattice length a (Å)": ([s.lattice.a for s in refs], [s.lattice.a for s in preds]),
                            "volume per atom (Å³)": ([s.volume / len(s) for s in refs],
                                                     [s.volume / len(s) for s in preds])}, out)


def plot_histograms(panels: dict[str, tuple[list[float], list[float]]], out: Path,
                    labels: tuple[str, str] = ("reference", "predicted")) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * len(panels), 3.5))  # outside pyplot: the caller's backend stays
    axes = fig.subplots(1, len(panels))
    for ax, (label, (r, p)) in zip(np.atleast_1d(axes), panels.items()):
        values = list(r) + list(p)
        bins = np.linspace(min(values), max(values), 30) if values and max(values) > min(values) else 10
        ax.hist(r, bins=bins, alpha=0.6, label=labels[0], density=True)
        if p:
            ax.hist(p, bins=bins, alpha=0.6, label=labels[1], density=True)
        ax.set_xlabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    ap.add_argument("--checkpoint", default="perov5-csp")
    ap.add_argument("--num", type=int, default=60, help="compositions to predict")
    ap.add_argument("--k", type=int, default=2, help="structures per composition")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps (default: the checkpoint's)")
    ap.add_argument("--dng", type=int, default=24, help="de novo structures (0: skip)")
    ap.add_argument("--dng-checkpoint", default="carbon24-dng")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from graphdiff.candidates import distinct_candidates
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import template_sampler

    from graphdiff_crystals import sample_path
    from graphdiff_crystals.metrics import match_rate, structure_valid

    out = args.out
    (out / "cif").mkdir(parents=True, exist_ok=True)
    domain = get_manager().get("domains", "crystals")
    model, cfg, meta = load_model(args.checkpoint)
    held_out = set(meta.get("test_ids") or [])
    records = [r for r in domain.read(sample_path()) if not held_out or str(r["id"]) in held_out]
    records = records[: args.num]
    print(f"checkpoint {args.checkpoint}: {meta.get('dataset', '?')} CSP, {meta.get('steps', '?')} steps; "
          f"{len(records)} compositions from the bundled sample"
          + (" (all from its held-out split)" if held_out else ""))
    rows = [domain.record_to_graph(r) for r in records]
    steps = args.steps or cfg.sampling.steps
    sample = template_sampler(model, seed=args.seed, steps=steps, sampler=cfg.sampling.sampler, batch_size=256)
    t0 = time.perf_counter()
    draws = 2 * args.k if args.k > 1 else 1
    ranked = [cs for _, cs in distinct_candidates(sample, rows, args.k, domain, draws=draws,
                                                  max_draws=4 * args.k, progress=True)]
    seconds = time.perf_counter() - t0
    cands = [[domain.from_graph(c.graph) for c in cs] for cs in ranked]
    preds = [s for cs in cands for s in cs]
    drawn = sum(cs[0].draws for cs in ranked)
    refs = [r["obj"] for r in records]
    for i, (rec, cs) in enumerate(zip(records, cands)):
        for j, s in enumerate(cs):
            s.to(filename=str(out / "cif" / f"{rec['id']}_{s.composition.reduced_formula}_{j}.cif"))
    rows = []
    summary: dict[str, Any] = {"checkpoint": args.checkpoint, "num": len(refs), "k": args.k, "steps": steps,
                               "seconds": round(seconds, 1),
                               "samples_drawn": drawn,
                               "structures_per_s": round(drawn / max(seconds, 1e-9), 2),
                               "structural_validity": float(np.mean([structure_valid(s) for s in preds]))}
    for kk in sorted({1, args.k}):
        m = match_rate(cands, refs, k=kk)
        summary[f"match_rate@{kk}"] = m["match_rate"]
        summary[f"rmse@{kk}"] = m["rmse"]
        rows.append((kk, m["match_rate"], m["rmse"]))
    print("\n  k   match rate   RMSE")
    for kk, mr, rmse in rows:
        print(f"  {kk:<3} {100 * mr:9.1f} %   {rmse:.4f}" if rmse is not None else f"  {kk:<3} {100 * mr:9.1f} %   -")
    print(f"  structural validity {100 * summary['structural_validity']:.1f} %, "
          f"{summary['structures_per_s']} structures/s on {torch.get_num_threads()} threads")
    best = match_rate(cands, refs)["per_item"]
    shown = [(cands[i][0], refs[i], refs[i].composition.reduced_formula) for i in range(min(4, len(refs)))]
    plot_structures(shown, out / "structures.png")
    plot_distributions([c[0] for c in cands], refs, out / "distributions.png")
    result = {"csp": {**summary, "matched": [b["matched"] for b in best]}}
    print(f"\nwrote {len(preds)} CIF files to {out / 'cif'}, pictures structures.png and distributions.png")
    if args.dng:
        result["dng"] = de_novo(args, domain, out)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    print(f"metrics in {out / 'metrics.json'}")
    return result


def de_novo(args: Any, domain: Any, out: Path) -> dict[str, Any]:
    """Part 2: new carbon crystals from ``carbon24-dng``, checked against the bundled sample."""
    from scipy.stats import wasserstein_distance

    from graphdiff.model import load_model
    from graphdiff.runner import sample_graphs

    from graphdiff_crystals import sample_path
    from graphdiff_crystals.dng_metrics import uniqueness_novelty
    from graphdiff_crystals.metrics import structure_valid

    model, cfg, meta = load_model(args.dng_checkpoint)
    steps = args.steps or cfg.sampling.steps
    print(f"\ncheckpoint {args.dng_checkpoint}: {meta.get('dataset', '?')} de novo, {meta.get('steps', '?')} "
          f"training steps; generating {args.dng} crystals")
    t0 = time.perf_counter()
    graphs = [g for chunk in sample_graphs(model, args.dng, steps=steps, sampler=cfg.sampling.sampler,
                                           batch_size=256, seed=args.seed, progress=True) for g in chunk]
    seconds = time.perf_counter() - t0
    gen = [domain.from_graph(g) for g in graphs]
    refs = [r["obj"] for r in domain.read(sample_path("carbon_24"))]
    (out / "dng").mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(gen):
        s.to(filename=str(out / "dng" / f"{i:03d}_{s.composition.reduced_formula}{len(s)}.cif"))
    valid = [structure_valid(s) for s in gen]
    good = [s for s, v in zip(gen, valid) if v]
    n_unique = sum(r["unique"] for r in uniqueness_novelty(good))
    summary = {"checkpoint": args.dng_checkpoint, "num": len(gen), "steps": steps, "seconds": round(seconds, 1),
               "structures_per_s": round(len(gen) / max(seconds, 1e-9), 2),
               "structural_validity": float(np.mean(valid)),
               "uniqueness": n_unique / max(len(good), 1),
               "wasserstein_density": (float(wasserstein_distance([s.density for s in good],
                                                                  [s.density for s in refs])) if good else None),
               "reference": f"bundled Carbon-24 sample ({len(refs)} crystals)"}
    print(f"  structural validity {100 * summary['structural_validity']:.1f} %, uniqueness "
          f"{100 * summary['uniqueness']:.1f} %, Wasserstein distance of density to the sample "
          f"{summary['wasserstein_density']:.3f} g/cm³, {summary['structures_per_s']} structures/s")
    plot_structures([(s, None, f"{len(s)} atoms, {s.density:.2f} g/cm³") for s in good[:4]], out / "dng_structures.png")
    plot_histograms({"density (g/cm³)": ([s.density for s in refs], [s.density for s in good]),
                     "atoms per cell": ([len(s) for s in refs], [len(s) for s in good])},
                    out / "dng_distributions.png", labels=("Carbon-24 sample", "generated"))
    print(f"wrote {len(gen)} CIF files to {out / 'dng'}, pictures dng_structures.png and dng_distributions.png")
    return summary


if __name__ == "__main__":
    main()
