"""The demo behind ``make demo``: crystal structure prediction with the bundled ``perov5-csp``
checkpoint on the bundled Perov-5 sample.

    python -m graphdiff_crystals.demo --out demo-output [--num 60] [--k 2] [--steps 500]

It takes compositions from rows of the bundled sample that the checkpoint did *not* train on
(the benchmark's held-out split), predicts ``k`` structures per composition, writes them as CIF
files, prints the CDVAE match rate and RMSE, and saves pictures: a few predicted structures
beside their references, and the lattice-length and volume distributions of predictions
against the references.
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pymatgen.core.periodic_table import Element

    fig = plt.figure(figsize=(3.2 * len(pairs), 6.4))
    for col, (pred, ref, title) in enumerate(pairs):
        for row, (s, label) in enumerate(((ref, "reference"), (pred, "predicted"))):
            ax = fig.add_subplot(2, len(pairs), row * len(pairs) + col + 1, projection="3d")
            m = s.lattice.matrix
            corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ m
            for a in range(8):
                for b in range(a + 1, 8):
                    if bin(a ^ b).count("1") == 1:
                        ax.plot(*zip(corners[a], corners[b]), color="0.6", lw=0.7)
            xyz = s.cart_coords
            colors = [plt.cm.tab20(Element(str(sp.symbol)).Z % 20) for sp in s.species]
            sizes = [40 + 8 * Element(str(sp.symbol)).row for sp in s.species]
            ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], c=colors, s=sizes, depthshade=False,
                       edgecolors="k", linewidths=0.4)
            ax.set_title(f"{title}\n{label}" if row == 0 else label, fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_distributions(preds: list[Any], refs: list[Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, (label, fn) in zip(axes, (("lattice length a (Å)", lambda s: s.lattice.a),
                                      ("volume per atom (Å³)", lambda s: s.volume / len(s)))):
        r = [fn(s) for s in refs]
        p = [fn(s) for s in preds]
        bins = np.linspace(min(r + p), max(r + p), 30)
        ax.hist(r, bins=bins, alpha=0.6, label="reference", density=True)
        ax.hist(p, bins=bins, alpha=0.6, label="predicted", density=True)
        ax.set_xlabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    ap.add_argument("--checkpoint", default="perov5-csp")
    ap.add_argument("--num", type=int, default=60, help="compositions to predict")
    ap.add_argument("--k", type=int, default=2, help="structures per composition")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps (default: the checkpoint's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs

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
    templates = [domain.record_to_graph(r) for r in records for _ in range(args.k)]
    steps = args.steps or cfg.sampling.steps
    t0 = time.perf_counter()
    graphs = [g for chunk in sample_graphs(model, templates=templates, steps=steps, sampler=cfg.sampling.sampler,
                                           batch_size=256, seed=args.seed, progress=True) for g in chunk]
    seconds = time.perf_counter() - t0
    preds = [domain.from_graph(g) for g in graphs]
    refs = [r["obj"] for r in records]
    cands = [preds[i * args.k:(i + 1) * args.k] for i in range(len(refs))]
    for i, (rec, cs) in enumerate(zip(records, cands)):
        for j, s in enumerate(cs):
            s.to(filename=str(out / "cif" / f"{rec['id']}_{s.composition.reduced_formula}_{j}.cif"))
    rows = []
    summary: dict[str, Any] = {"checkpoint": args.checkpoint, "num": len(refs), "k": args.k, "steps": steps,
                               "seconds": round(seconds, 1),
                               "structures_per_s": round(len(preds) / max(seconds, 1e-9), 2),
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
    (out / "metrics.json").write_text(json.dumps({**summary, "matched": [b["matched"] for b in best]}, indent=2))
    print(f"\nwrote {len(preds)} CIF files to {out / 'cif'}, pictures structures.png and distributions.png, "
          f"and metrics.json in {out}")
    return summary


if __name__ == "__main__":
    main()
