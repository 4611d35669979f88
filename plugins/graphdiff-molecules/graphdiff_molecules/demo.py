"""The molecules part of ``make demo``: the bundled ``qm9-dng`` checkpoint generates molecules.

    python -m graphdiff_molecules.demo --out demo-output [--num 32] [--steps 500]

Generates ``--num`` molecules de novo (numbers of atoms drawn from QM9's training split),
scores them with EDM's metrics (atom and molecule stability, RDKit validity, uniqueness), and
writes ``molecules/generated.extxyz`` (one frame per molecule, its metrics in the info line),
the first stable molecule placed in a periodic box with 10 Å of vacuum as ``molecules/POSCAR``,
``molecules/metrics.json`` and ``molecules.png`` (a few generated molecules, bonds as EDM's
distance tables assign them).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

#: CPK-like colours of QM9's elements.
COLORS = {"H": "0.85", "C": "0.25", "N": "tab:blue", "O": "tab:red", "F": "tab:green"}


def plot_molecules(mols: list[Any], titles: list[str], out: Path) -> Path:
    """3-D pictures of molecules; bonds drawn where EDM's tables put one."""
    from graphdiff.viz import AtomsPanel, plot_atoms
    from graphdiff_molecules.edm_metrics import bond_orders

    panels = []
    for atoms, title in zip(mols, titles):
        symbols = atoms.get_chemical_symbols()
        xyz = atoms.get_positions()
        orders = bond_orders(symbols, xyz)
        bonds = [(a, b, 0.8 + 0.8 * (orders[a, b] - 1)) for a in range(len(symbols))
                 for b in range(a + 1, len(symbols)) if orders[a, b] > 0]
        panels.append(AtomsPanel(xyz, [COLORS.get(s, "tab:purple") for s in symbols],
                                 [25 if s == "H" else 70 for s in symbols], title=title, bonds=bonds,
                                 equal=True))
    return plot_atoms([panels], out, size=2.9)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    ap.add_argument("--checkpoint", default="qm9-dng")
    ap.add_argument("--num", type=int, default=32, help="molecules to generate")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps (default: the checkpoint's)")
    ap.add_argument("--show", type=int, default=5, help="molecules in the picture")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from graphdiff.model import load_model, resolve_checkpoint
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs
    from graphdiff_molecules.edm_metrics import dng_metric, per_item_checks

    domain = get_manager().get("domains", "molecules")
    model, cfg, meta = load_model(resolve_checkpoint(args.checkpoint))
    steps = args.steps or cfg.sampling.steps
    out = args.out / "molecules"
    out.mkdir(parents=True, exist_ok=True)
    print(f"\ncheckpoint {args.checkpoint}: QM9 de novo, "
          f"{meta.get('total_steps', meta.get('steps', '?'))} training steps; "
          f"generating {args.num} molecules with {steps} reverse steps")
    t0 = time.perf_counter()
    graphs = [g for chunk in sample_graphs(model, args.num, steps=steps, seed=args.seed, batch_size=64)
              for g in chunk]
    seconds = time.perf_counter() - t0
    mols = [domain.from_graph(g) for g in graphs]
    m = dng_metric(mols)
    rows = m["per_item"]
    domain.write(mols, out / "generated.extxyz", ids=[f"qm9-dng-{i:03d}" for i in range(len(mols))],
                 extra=per_item_checks(rows))  # what domain.describe stores, without scoring again
    stable = [i for i, r in enumerate(rows) if r["mol_stable"]]
    boxed = stable[0] if stable else 0
    domain.write([mols[boxed]], out / "POSCAR", vacuum=10.0)
    order = stable + [i for i in range(len(mols)) if i not in stable]
    shown = order[: args.show]
    plot_molecules([mols[i] for i in shown],
                   [f"{mols[i].get_chemical_formula()}\n{rows[i]['smiles'] or 'invalid'}"
                    + (" (stable)" if rows[i]["mol_stable"] else "") for i in shown],
                   args.out / "molecules.png")
    summary = {k: m[k] for k in ("num_generated", "atom_stability", "mol_stability", "validity", "uniqueness")}
    summary["seconds_per_molecule"] = seconds / max(len(mols), 1)
    (out / "metrics.json").write_text(json.dumps({"checkpoint": args.checkpoint, "steps": steps,
                                                  "summary": summary, "protocol": m["protocol"]}, indent=2))
    print(f"  atom stability {100 * m['atom_stability']:.1f} %, molecule stability "
          f"{100 * m['mol_stability']:.1f} %, RDKit validity {100 * m['validity']:.1f} %, uniqueness "
          f"{100 * (m['uniqueness'] or 0):.1f} % ({summary['seconds_per_molecule']:.2f} s per molecule)")
    print(f"wrote {out / 'generated.extxyz'}, molecule {boxed} in a box as {out / 'POSCAR'}, "
          f"picture {args.out / 'molecules.png'}")
    return summary


if __name__ == "__main__":
    main()
