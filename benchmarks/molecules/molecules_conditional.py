"""QM9 molecules conditioned on the HOMO-LUMO gap, scored with EDM's conditional protocol.

    python benchmarks/molecules/molecules_guidance.py judge           # the judge, once (runs/qm9-gap-judge)
    python benchmarks/molecules/molecules_conditional.py eval \\
        --set qm9-gap-cond=runs/gpu13b/qm9-gap-cond.samples.pt \\
        --set scratch=runs/gpu13/qm9-gap-cond.samples.pt --name qm9-gap-cond

The samples may come from any ``gpu_runs.py sample`` run, on a CPU too (``--checkpoint CKPT
--guidance-scale W`` for classifier-free guidance; its first N requests are those of a larger
set of the same seed).

EDM's protocol (Hoogeboom et al. 2022, section 5.3 and Table 3): the generator draws one molecule
for each (number of atoms, property) pair drawn from its training data, and a property
classifier that never saw the generator's training molecules predicts the property of every
generated molecule; the score is the mean absolute error between the requested and the
predicted values. Two bounds put it in context: the classifier on real molecules against their
true values (lower bound: "QM9"), and the classifier on real molecules against shuffled values
(upper bound: "Naive"); "#Atoms" predicts the property from the number of atoms alone.

Here the generator (``qm9-gap-cond``, drawn on a GPU by ``benchmarks/gpu_runs.py sample
qm9-gap-cond``, which stores the requested pairs beside the molecules) was trained on
``qm9://train``; the classifier is the judge of ``benchmarks/molecules/molecules_guidance.py``, trained
on the 14,748 molecules of ``qm9://valid`` outside the seeded 3,000 that validated ``qm9-gap``.
EDM splits its training data in halves instead; what matters, that the classifier and the
generator never share molecules, holds. The bounds and #Atoms are measured here on a seeded
3,000 of ``qm9://test`` with this judge (#Atoms: the mean training gap of molecules of the same
size). A generated molecule the molecules reader refuses (e.g. two atoms closer than 0.1 Å) is
counted and left out of the mean. Each set is also scored against its requests shuffled: the
gap between the two is what the conditioning adds.

Results: ``benchmarks/molecules/results/<name>.json`` and ``<name>.png``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1]),  # the benchmarks' shared helpers
                str(Path(__file__).resolve().parents[1] / "targets")]  # predictor_curve, targets_guidance
import molecules_qm9  # noqa: E402
from _provenance import Run, record, repo_path  # noqa: E402
from predictor_curve import HARTREE_EV  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
JUDGE = ROOT / "runs" / "qm9-gap-judge" / "predictor.pt"

#: EDM (Hoogeboom et al. 2022), Table 3, Δε in eV (published in meV)
EDM_TABLE = {"Naive (upper bound)": 1.470, "#Atoms": 0.866, "EDM": 0.655, "QM9 (lower bound)": 0.064}


def _rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _judge(predictor, domain, objs: list) -> tuple[list[float], list[str]]:
    """The judge's gap (eV) of each object (NaN where the molecules reader refuses it) and the
    reasons of the refusals."""
    graphs, where, reasons = [], [], []
    for i, obj in enumerate(objs):
        try:
            graphs.append(domain.to_graph(obj))
            where.append(i)
        except Exception as exc:  # noqa: BLE001 - a refused molecule is reported, not judged
            reasons.append(f"molecule {i}: {exc}")
    values = [float("nan")] * len(objs)
    if graphs:
        mean, _ = predictor.predict(graphs)
        col = predictor.properties.index("gap")
        for i, v in zip(where, mean[:, col].tolist()):
            values[i] = v
    return values, reasons


def _mae(pairs: list[tuple[float, float]]) -> float | None:
    pairs = [(a, b) for a, b in pairs if a == a and b == b]
    return statistics.fmean(abs(a - b) for a, b in pairs) if pairs else None


def bounds(predictor, domain, num: int, seed: int) -> dict:
    """The judge on ``num`` seeded molecules of qm9://test: against their true gaps (lower bound),
    against the gaps shuffled (upper bound), and the per-size mean of the training gaps (#Atoms)."""
    from graphdiff_molecules.qm9 import read_qm9

    test = list(read_qm9("test"))
    keep = sorted(random.Random(seed).sample(range(len(test)), min(num, len(test))))
    test = [test[i] for i in keep]
    truth = [r["props"]["gap"] * HARTREE_EV for r in test]
    judged, refused = _judge(predictor, domain, [r["obj"] for r in test])
    shuffled = truth[:]
    random.Random(seed + 1).shuffle(shuffled)
    by_size: dict[int, list[float]] = {}
    for r in read_qm9("train"):
        by_size.setdefault(len(r["obj"]), []).append(r["props"]["gap"] * HARTREE_EV)
    size_mean = {n: statistics.fmean(v) for n, v in by_size.items()}
    overall = statistics.fmean(g for v in by_size.values() for g in v)
    by_atoms = [size_mean.get(len(r["obj"]), overall) for r in test]
    return {"num": len(test), "refused": len(refused), "seed": seed,
            "lower_bound_judge_on_real": _mae(list(zip(judged, truth))),
            "upper_bound_shuffled": _mae(list(zip(judged, shuffled))),
            "num_atoms_only": _mae(list(zip(by_atoms, truth)))}


def score_set(label: str, path: Path, predictor, domain, train: list, seed: int) -> tuple[dict, dict]:
    """EDM's conditional MAE and molecule metrics of one samples file (its entry labelled
    ``last``)."""
    from graphdiff_molecules.edm_metrics import dng_metric

    entries = [e for e in torch.load(path) if e["label"] == "last" and "requests" in e]
    if not entries:
        raise SystemExit(f"{path}: no conditional samples (entries labelled 'last' with 'requests')")
    e = entries[0]
    mols = molecules_qm9.stored_molecules(e, domain)
    asked = [g * HARTREE_EV for g in e["requests"]["gap_hartree"]]
    judged, refused = _judge(predictor, domain, mols)
    metrics = dng_metric(mols, train=train)
    valid = [bool(r["valid"]) for r in metrics["per_item"]]
    stable = [bool(r["mol_stable"]) for r in metrics["per_item"]]
    shuffled = asked[:]
    random.Random(seed).shuffle(shuffled)
    pairs = list(zip(judged, asked))
    row = {"label": label, "samples": _rel(path), "checkpoint": e["checkpoint"], "step": e["step"],
           "train_minutes": e["train_minutes"], "device": e["device_name"], "num": len(mols),
           "steps": e["steps"], "seed": e["seed"], "sampling_seconds": round(e["seconds"], 1),
           "guidance_scale": e.get("guidance_scale", 0.0),
           "judged": sum(v == v for v in judged), "refused": len(refused), "refused_reasons": refused[:5],
           "mae_ev": _mae(pairs),
           "mae_ev_valid": _mae([p for p, ok in zip(pairs, valid) if ok]),
           "mae_ev_stable": _mae([p for p, ok in zip(pairs, stable) if ok]),
           "num_valid": sum(valid), "num_stable": sum(stable),
           "mae_ev_shuffled_requests": _mae(list(zip(judged, shuffled))),
           **{k: metrics[k] for k in ("atom_stability", "mol_stability", "validity", "uniqueness", "novelty")}}
    print(f"{label}: MAE {row['mae_ev']:.3f} eV over {row['judged']} judged "
          f"(shuffled requests {row['mae_ev_shuffled_requests']:.3f}); atom stability "
          f"{row['atom_stability']:.3f}, molecule {row['mol_stability']:.3f}, validity {row['validity']:.3f}")
    return row, {"asked": asked, "judged": judged, "valid": valid}


def evaluate(sets: list[tuple[str, Path]], name: str, judge: Path, test_num: int, seed: int,
             train_limit: int) -> dict:
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor

    if not judge.exists():
        raise SystemExit(f"{judge}: no judge; train it with python benchmarks/molecules/molecules_guidance.py judge")
    torch.set_num_threads(1)
    run = Run(seeds={"seed": seed}, data=[judge, *(path for _, path in sets), *molecules_qm9.qm9_inputs()])
    domain = get_manager().get("domains", "molecules")
    predictor = Predictor.load(judge)
    train = molecules_qm9._train_molecules(train_limit)
    rows, points = [], {}
    for label, path in sets:
        row, pts = score_set(label, path, predictor, domain, train, seed)
        rows.append(row)
        points[label] = pts
    bound = bounds(predictor, domain, test_num, seed)
    print(f"bounds on {bound['num']} qm9://test molecules: judge {bound['lower_bound_judge_on_real']:.3f}, "
          f"#atoms {bound['num_atoms_only']:.3f}, shuffled {bound['upper_bound_shuffled']:.3f} eV")
    result = {"dataset": "QM9 with hydrogens (EDM split)", "property": "gap (HOMO-LUMO, eV)",
              "protocol": "EDM conditional: one molecule per (atoms, gap) pair drawn from the generator's "
                          "training split; a classifier trained on other molecules judges each one",
              "judge": _rel(judge), "judge_training": "the 14,748 molecules of qm9://valid outside the seeded "
                                                      "3,000 that validated qm9-gap",
              "sets": rows, "bounds": bound, "edm_table3_ev": EDM_TABLE,
              "novelty_train_molecules": len(train),
              "command": "python benchmarks/molecules/molecules_conditional.py eval "
                         + " ".join(f"--set {label}={_rel(path)}" for label, path in sets)
                         + f" --name {name} --test-num {test_num} --seed {seed}"
                         + (f" --train-limit {train_limit}" if train_limit else "")}
    key = {"sets": [[label, repo_path(path)] for label, path in sets], "judge": repo_path(judge),
           "test_num": test_num, "seed": seed, "train_limit": train_limit}
    record(RESULTS / f"{name}.json", key, result, run)
    _plot(name, result, points)
    return result


def _plot(name: str, result: dict, points: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    ax = axes[0]
    for label, pts in points.items():
        xs = [a for a, j in zip(pts["asked"], pts["judged"]) if j == j]
        ys = [j for j in pts["judged"] if j == j]
        ax.scatter(xs, ys, s=6, alpha=0.5, label=label)
    lo, hi = 2.0, 12.0
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="requested gap (eV)", ylabel="judged gap (eV)",
           title="each generated molecule")
    ax.legend(fontsize=8)
    ax = axes[1]
    b = result["bounds"]
    bars = [("judge on real\n(lower bound)", b["lower_bound_judge_on_real"], "0.5"),
            ("#atoms only", b["num_atoms_only"], "0.5"),
            ("shuffled\n(upper bound)", b["upper_bound_shuffled"], "0.5")]
    bars += [(f"{r['label']}\n(shuffled req.)", r["mae_ev_shuffled_requests"], "C7") for r in result["sets"]]
    bars += [(r["label"], r["mae_ev"], f"C{i}") for i, r in enumerate(result["sets"])]
    ax.bar(range(len(bars)), [v for _, v, _ in bars], color=[c for _, _, c in bars])
    ax.axhline(EDM_TABLE["EDM"], color="r", ls="--", lw=1, label="EDM 0.655 eV (its own classifier)")
    ax.set_xticks(range(len(bars)), [t for t, _, _ in bars], fontsize=7, rotation=30, ha="right")
    ax.set(ylabel="MAE to the requested gap (eV)", title="EDM's conditional protocol (this judge)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval")
    ev.add_argument("--set", action="append", required=True, metavar="LABEL=SAMPLES",
                    help="a label and a samples file of benchmarks/gpu_runs.py sample (repeatable)")
    ev.add_argument("--name", default="qm9-gap-cond")
    ev.add_argument("--judge", type=Path, default=JUDGE)
    ev.add_argument("--test-num", type=int, default=3000, help="qm9://test molecules for the bounds")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--train-limit", type=int, default=5000, help="novelty against the first N training molecules")
    args = ap.parse_args()
    sets = []
    for item in args.set:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--set {item!r}: give LABEL=SAMPLES")
        sets.append((label, Path(path)))
    evaluate(sets, args.name, args.judge, args.test_num, args.seed, args.train_limit)


if __name__ == "__main__":
    main()
