"""QM9 generation toward a HOMO-LUMO gap, judged by a predictor the generator and the guide never saw.

    python benchmarks/molecules/molecules_guidance.py judge
    python benchmarks/molecules/molecules_guidance.py run --num 128 --steps 200 --quantile 0.1 --scale S

``judge`` writes the judge's labels (QM9's gap in eV for the 14,748 molecules of ``qm9://valid``
outside the seeded 3,000 that validated the bundled ``qm9-gap``) and trains it with
``benchmarks/targets/configs/qm9-gap-judge.toml`` (``graphdiff.predictors.train_predictor``, what
``graphdiff predictor train`` runs) (``runs/qm9-gap-judge/predictor.pt``, the same recipe
as ``qm9-gap``). The generator ``qm9-dng`` and the guide ``qm9-gap`` were both trained on
``qm9://train``: the judge's molecules are new to both.

``run`` asks the bundled ``qm9-dng`` for ``--num`` molecules de novo twice, with the same seed
and steps: unguided, and with ``--target qm9-gap=V --gradient-scale S`` (gradient guidance by the
bundled predictor ``qm9-gap`` on the denoiser's clean estimate), where V is the ``--quantile`` of
the gaps of ``qm9://train`` (a small gap). The judge scores every generated molecule
(``graphdiff.load_predictor(judge).predict``, beside the molecules in ``*.judged.csv``; a
molecule the molecules reader refuses, e.g. with two atoms closer than
0.1 Å, is counted and reported as unjudged); the result is the mean |judged − V| of each set over
the judged molecules and over the judged RDKit-valid ones, their ratio (the target: unguided at
least 3 times guided), and EDM's atom stability, molecule stability and RDKit validity of each
set (the target: guided validity within 2 points of unguided), as ``graphdiff sample`` writes
them into each frame's info line. The sets are drawn in this process through the Python API
(``graphdiff.load(generator).sample_iter``, written as ``graphdiff sample --out`` writes them);
the ``graphdiff sample`` flags named here are the same options.
The unguided set of the same ``--num/--steps/--seed`` is sampled once and reused.

``run --generator CKPT --cfg W`` asks a model conditioned on QM9's gap (e.g. ``qm9-gap-cond`` of
``benchmarks/gpu_runs.py``) for the goal instead (``--target gap=V/27.2114 --guidance-scale W``,
classifier-free guidance); its unguided set is the same model with the condition left out.
``--oversample F`` draws F × ``--num`` guided molecules and keeps the ``--num`` the guide finds
closest to V (``graphdiff sample --oversample``); with ``--scale 0`` that is selection alone.

Results: ``benchmarks/molecules/results/qm9-gap-guidance.json`` (one entry per ``--scale``) and
``qm9-gap-guidance-scale<S>.png``; the molecules stay in ``runs/qm9-gap-guidance-*.xyz``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1]),  # the benchmarks' shared helpers
                str(Path(__file__).resolve().parents[1] / "targets")]  # predictor_curve, targets_guidance
from predictor_curve import HARTREE_EV  # noqa: E402
from _provenance import Run, bundled, entries, record  # noqa: E402
from targets_guidance import goal_value, sample_file, train_predictor_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs"
RESULTS = Path(__file__).resolve().parent / "results"
NAME = "qm9-gap-guidance"
GENERATOR = "qm9-dng"
GUIDE = "qm9-gap"  # the bundled predictor's target
JUDGE_DIR = RUNS / "qm9-gap-judge"
JUDGE_CONFIG = Path(__file__).resolve().parent / "configs" / "qm9-gap-judge.toml"


def train_gaps() -> list[float]:
    """The gaps (eV) of ``qm9://train``, the split the generator and the guide were trained on."""
    from graphdiff_molecules.qm9 import read_qm9

    return [r["props"]["gap"] * HARTREE_EV for r in read_qm9("train")]


def judge() -> None:
    labels = JUDGE_DIR / "gap_ev.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "targets" / "predictor_curve.py"), "labels", "--judge",
                    "--out", str(labels), "--val-max", "3000"], check=True)
    t0 = time.perf_counter()
    train_predictor_file(JUDGE_CONFIG)
    print(f"judge trained in {time.perf_counter() - t0:.0f} s: {JUDGE_DIR / 'predictor.pt'}")


def xyz_path(kind: str, num: int, steps: int, seed: int) -> Path:
    """``kind``: ``unguided`` or ``scale<S>`` (prefixed by the generator's name when it is not
    the bundled one)."""
    return RUNS / f"{NAME}-{kind}-n{num}-s{steps}-seed{seed}.xyz"


def frame_scores(path: Path) -> list[dict]:
    """Per molecule, from the info line ``graphdiff sample`` writes: atoms, stable atoms (EDM),
    molecule stability and RDKit validity; the guide's value where the set was guided."""
    from ase.io import read

    out = []
    for atoms in read(path, index=":", format="extxyz"):
        info = atoms.info
        n = len(atoms)
        out.append({"atoms": n, "stable_atoms": round(float(info["atom_stable_fraction"]) * n),
                    "mol_stable": bool(info["mol_stable"]), "valid": bool(info["valid"]),
                    "guide": float(info[GUIDE]) if GUIDE in info else None})
    return out


def judged_values(path: Path, predictor: Path, frames: int) -> tuple[list[float], list[str]]:
    """The judge's gap of each of the ``frames`` molecules of ``path``, in file order (NaN for a
    molecule the molecules reader refuses, e.g. two atoms closer than 0.1 Å), and the reader's
    reasons (the first 10). The predictions are also written beside ``path`` (``*.judged.csv``:
    ``id``, ``gap``, ``gap_std``, ``out_of_domain``)."""
    import graphdiff
    from graphdiff.api import resolve_domain

    judge = graphdiff.load_predictor(predictor)
    domain = resolve_domain(judge.domain, [])
    skipped: list[dict[str, str]] = []
    recs: list[Any] = []
    for k, rec in enumerate(domain.read(path, skipped=skipped)):
        rid = str(rec.get("id", k))
        try:
            domain.to_graph(rec["obj"])
        except Exception as exc:  # noqa: BLE001 - a molecule the judge cannot read is unjudged, with its reason
            skipped.append({"where": str(rec.get("source") or rid), "reason": str(exc)})
            continue
        recs.append((rid, rec["obj"]))
    objs = [obj for _, obj in recs]
    mean, std = judge.predict(objs) if objs else ([], [])
    reasons = judge.out_of_domain(objs) if objs else []
    col = judge.properties.index("gap")
    with path.with_suffix(".judged.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *(c for p in judge.properties for c in (p, f"{p}_std")), "out_of_domain"])
        for i, (rid, _) in enumerate(recs):
            writer.writerow([rid, *(repr(float(v)) for j in range(len(judge.properties))
                                    for v in (mean[i][j], std[i][j])), reasons[i]])
    by_frame = {int(rid.rsplit("frame ", 1)[1]): float(mean[i][col]) for i, (rid, _) in enumerate(recs)}
    why = [f"skipped {s['where']}: {s['reason']}".replace(f"{ROOT}/", "") for s in skipped[:10]]
    return [by_frame.get(i, float("nan")) for i in range(frames)], why


def summarize(scores: list[dict], judged: list[float], goal: float) -> dict:
    """EDM's rates and the distance to the goal of one generated set (the distance over the
    molecules the judge could score; ``unjudged`` counts the others)."""
    if len(judged) != len(scores):
        raise SystemExit(f"{len(judged)} judged values for {len(scores)} molecules")
    scored = [(abs(v - goal), s) for v, s in zip(judged, scores) if v == v]
    dist = [d for d, _ in scored]
    valid_dist = [d for d, s in scored if s["valid"]]
    n = len(scores)
    guide = [s["guide"] for s in scores if s["guide"] is not None and s["guide"] == s["guide"]]
    vals = [v for v in judged if v == v]
    return {
        "num": n, "judged_n": len(dist), "unjudged": n - len(dist),
        "mae_to_goal": statistics.fmean(dist),
        "mae_to_goal_valid": statistics.fmean(valid_dist) if valid_dist else None,
        "judged_mean": statistics.fmean(vals), "judged_median": statistics.median(vals),
        "atom_stability": sum(s["stable_atoms"] for s in scores) / sum(s["atoms"] for s in scores),
        "molecule_stability": sum(s["mol_stable"] for s in scores) / n,
        "rdkit_validity": sum(s["valid"] for s in scores) / n,
        "guide_values_mean": statistics.fmean(guide) if guide else None,
    }


def sample(out: Path, num: int, steps: int, seed: int, extra: dict[str, Any],
           generator: str = GENERATOR) -> float | None:
    """Draw the set unless it is on disk (``graphdiff.load(generator).sample_iter`` with the
    ``Model.sample`` options ``extra``); the seconds it took (``None``: reused)."""
    if out.exists():
        return None
    t0 = time.perf_counter()
    sample_file(generator, out, num, steps=steps, seed=seed, **extra)
    return round(time.perf_counter() - t0, 1)


def run(num: int, steps: int, quantile: float, scale: float, seed: int, oversample: float = 1.0,
        generator: str = GENERATOR, cfg: float | None = None) -> dict:
    """``cfg``: instead of gradient guidance by the guide, ask ``generator`` (a model conditioned on
    QM9's ``gap``, in Hartree) for the goal, with classifier-free guidance weight ``cfg``; its
    unguided set is the same model with the condition left out."""
    predictor = JUDGE_DIR / "predictor.pt"
    if not predictor.exists():
        raise SystemExit(f"{predictor} is missing: python benchmarks/molecules/molecules_guidance.py judge")
    run_ = Run(seeds={"seed": seed}, data=[predictor, bundled(generator), bundled(GUIDE) if cfg is None else None])
    gaps = train_gaps()
    goal = goal_value(gaps, quantile)
    over = f"-oversample{oversample:g}" if oversample != 1.0 else ""
    tag = "" if generator == GENERATOR else f"{Path(generator).stem}-"
    if cfg is None:  # graphdiff sample --target qm9-gap=V --gradient-scale S --guidance-mode clean
        request: dict[str, Any] = {"targets": [f"{GUIDE}={goal}"], "gradient_scale": float(scale),
                                   "guidance_mode": "clean"}
        kind = f"scale{scale:g}{over}"
    else:  # --target gap=V/Hartree --guidance-scale W
        request = {"targets": [f"gap={goal / HARTREE_EV}"], "guidance_scale": float(f"{cfg:g}")}
        kind = f"cfg{cfg:g}{over}"
    sets = {"unguided": (xyz_path(f"{tag}unguided", num, steps, seed), {}),
            "guided": (xyz_path(f"{tag}{kind}", num, steps, seed),
                       {**request, **({"oversample": float(f"{oversample:g}")} if over else {})})}
    out, judged = {}, {}
    for mode, (path, extra) in sets.items():
        seconds = sample(path, num, steps, seed, extra, generator)
        scores = frame_scores(path)
        judged[mode], skipped = judged_values(path, predictor, len(scores))
        out[mode] = {**summarize(scores, judged[mode], goal), "unjudged_why": skipped,
                     "file": str(path.relative_to(ROOT)), "seconds": seconds}
    calib = json.loads((JUDGE_DIR / "calibration.json").read_text())["properties"]["gap"]
    result = {
        "generator": generator, "property": "HOMO-LUMO gap (eV)", "goal": goal,
        "goal_quantile_of_train": quantile, "train_std": statistics.pstdev(gaps),
        "num": num, "steps": steps, "seed": seed,
        **({"gradient_scale": scale, "guidance_reading": "clean"} if cfg is None else
           {"classifier_free_scale": cfg, "request": f"gap={goal / HARTREE_EV} Hartree"}),
        "oversample": oversample,
        "guide": (f"the bundled predictor {GUIDE} (2-member GNN ensemble trained on qm9://train, the generator's split)"
                  if cfg is None else "none: the generator's own condition on the gap"),
        "judge": ("GNN ensemble trained on the 14,748 molecules of qm9://valid outside the 3,000 that "
                  "validated the guide (benchmarks/targets/configs/qm9-gap-judge.toml)"),
        "judge_validation_mae": calib.get("mae"),
        **out,
        "mae_ratio_unguided_over_guided": out["unguided"]["mae_to_goal"] / max(out["guided"]["mae_to_goal"], 1e-12),
        "validity_change_points": 100 * (out["guided"]["rdkit_validity"] - out["unguided"]["rdkit_validity"]),
        "command": (f"python benchmarks/molecules/molecules_guidance.py run --num {num} --steps {steps} "
                    f"--quantile {quantile} --seed {seed}"
                    + (f" --scale {scale:g}" if cfg is None else f" --generator {generator} --cfg {cfg:g}")
                    + (f" --oversample {oversample:g}" if over else "")),
        "judge_command": "python benchmarks/molecules/molecules_guidance.py judge",
    }
    path = RESULTS / f"{NAME}.json"
    for old in (r for e in entries(path) for r in e["runs"]):  # a reused set keeps the time it was drawn in
        for mode in ("unguided", "guided"):
            if out[mode]["seconds"] is None and old.get(mode, {}).get("file") == out[mode]["file"]:
                out[mode]["seconds"] = old[mode].get("seconds")
    run_.add_data(*(p for p, _ in sets.values()))
    key = {"generator": generator, "guidance": "gradient" if cfg is None else "classifier-free",
           "scale": scale if cfg is None else cfg, "quantile": quantile, "oversample": oversample,
           "num": num, "steps": steps, "seed": seed}
    record(path, key, result, run_)
    _plot(result, [[v for v in judged[m] if v == v] for m in ("unguided", "guided")])
    print(json.dumps({k: v for k, v in result.items() if k not in ("unguided", "guided")}, indent=2))
    for mode in ("unguided", "guided"):
        print(mode, json.dumps(out[mode]))
    return result


def _plot(result: dict, judged: list[list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for mode, vals, color in (("unguided", judged[0], "#999"), ("guided", judged[1], "#2a7")):
        r = result[mode]
        ax.hist(vals, bins=25, alpha=0.6, color=color,
                label=f"{mode}: mean |judged − goal| = {r['mae_to_goal']:.2f} eV, "
                      f"valid {100 * r['rdkit_validity']:.0f} %")
    ax.axvline(result["goal"], color="k", ls="--", lw=1, label=f"requested {result['goal']:.2f} eV")
    ax.set_xlabel("HOMO-LUMO gap judged by the held-out predictor (eV)")
    ax.set_ylabel("molecules")
    ax.legend(fontsize=7)
    how = (f"qm9-dng guided by qm9-gap, scale {result['gradient_scale']:g}" if "gradient_scale" in result else
           f"{Path(result['generator']).stem} asked for the gap, classifier-free scale "
           f"{result['classifier_free_scale']:g}")
    ax.set_title(how
                 + (f", best of {result['oversample']:g}x by the guide" if result.get("oversample", 1.0) != 1.0 else "")
                 + " "
                 f"({result['num']} molecules, {result['steps']} steps)", fontsize=9)
    fig.tight_layout()
    over = result.get("oversample", 1.0)
    kind = (f"scale{result['gradient_scale']:g}" if "gradient_scale" in result else
            f"{Path(result['generator']).stem}-cfg{result['classifier_free_scale']:g}")
    fig.savefig(RESULTS / f"{NAME}-{kind}{f'-oversample{over:g}' if over != 1.0 else ''}.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["judge", "run"])
    ap.add_argument("--num", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--quantile", type=float, default=0.1)
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oversample", type=float, default=1.0,
                    help="draw this many times --num and keep the --num the guide finds closest (best-of-N)")
    ap.add_argument("--generator", default=GENERATOR, help="a checkpoint (path or bundled name)")
    ap.add_argument("--cfg", type=float, default=None,
                    help="ask a gap-conditioned --generator for the goal with this classifier-free scale "
                         "(instead of gradient guidance by the guide)")
    args = ap.parse_args()
    if args.action == "judge":
        judge()
    else:
        run(args.num, args.steps, args.quantile, args.scale, args.seed, args.oversample, args.generator, args.cfg)


if __name__ == "__main__":
    main()
