"""Generation toward a property value, judged by a predictor the generator never saw (Carbon-24).

    python benchmarks/targets_guidance.py predictors
    python benchmarks/targets_guidance.py run --num 64 --steps 200 --quantile 0.1

``predictors`` trains two GNN ensembles of Carbon-24's ``energy_per_atom`` (eV/atom) with
``graphdiff predictor train``: the *guide* on the training split of ``benchmarks/crystals_csp.py``
(``runs/carbon_24/train.csv``, the split ``carbon24-dng`` was trained on), and the *judge* on
the held-out split (``runs/carbon_24/test.csv``), which neither the generator nor the guide saw.

``run`` asks ``carbon24-dng`` for ``--num`` structures de novo twice, with the same seed and
steps: unguided, and with ``--target carbon24guide-energy_per_atom=V`` (gradient guidance by the
guide), where V is the ``--quantile`` of the training split's values (a low, stable energy).
Both sets are scored by the judge (``--judge``); the result is the mean |judged − V| of each
set, their ratio (the target: unguided at least 3 times guided), and the CDVAE structural
validity of each (the target: guided within 2 points of unguided). Results:
``benchmarks/results/carbon24-energy-guidance.json`` (one entry per ``--scale``) and
``carbon24-energy-guidance-scale<S>.png``.

Time-aware guidance:

    python benchmarks/targets_guidance.py predictors --role tguide
    python benchmarks/targets_guidance.py run --guide noisy --scale S

``--role tguide`` trains a third ensemble on the guide's split with ``noisy = true`` and
``processes_from = "carbon24-dng"``: it reads the generator's noisy states at their ``t``, and
``run --guide noisy`` steers with it (``--guidance-mode noisy``: the gradient in the noisy
states, as classifier guidance, instead of the clean guide's gradient in the denoiser's clean
estimate). Entries ``noisy,scale=<S>``; the unguided set of the same ``--num/--steps/--seed``
is sampled once and reused.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
NAME = "carbon24-energy-guidance"

csv.field_size_limit(sys.maxsize)

CONFIG = """# written by benchmarks/targets_guidance.py
[data]
domain = "crystals"
source = "{source}"
val_fraction = 0.1
batch_size = 32

[model]
hidden = 96
layers = 3

[training]
max_steps = {steps}
lr = 1e-3
warmup_steps = 100
val_every = 250
log_every = 100
out_dir = "{out}"

[predictor]
properties = ["energy_per_atom"]
ensemble = 3
name = "{name}"
"""


def _env(threads: int = 1) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


#: role -> (split it is trained on, extra [predictor] lines)
ROLES = {"guide": ("train", ""), "judge": ("test", ""),
         "tguide": ("train", 'noisy = true\nprocesses_from = "carbon24-dng"\n')}


def predictors(steps: int, roles: list[str]) -> None:
    if not (RUNS / "carbon_24" / "train.csv").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "crystals_csp.py"), "split",
                        "--dataset", "carbon_24"], check=True)
    for role in roles:
        split, extra = ROLES[role]
        out = RUNS / f"carbon24-{role}"
        out.mkdir(parents=True, exist_ok=True)
        cfg = out / "predictor.toml"
        cfg.write_text(CONFIG.format(source=RUNS / "carbon_24" / f"{split}.csv", steps=steps, out=out,
                                     name=f"carbon24{role}") + extra)
        subprocess.run([str(BIN / "graphdiff"), "predictor", "train", str(cfg), "-q"], check=True, env=_env())


def _values(path: Path, column: str) -> list[float]:
    with path.open(newline="") as fh:
        return [float(r[column]) for r in csv.DictReader(fh) if r.get(column) not in (None, "", "nan")]


def run(num: int, steps: int, quantile: float, scale: float, seed: int, reading: str = "clean") -> dict:
    train_vals = sorted(_values(RUNS / "carbon_24" / "train.csv", "energy_per_atom"))
    goal = train_vals[int(quantile * (len(train_vals) - 1))]
    role = "guide" if reading == "clean" else "tguide"
    guide, judge = RUNS / f"carbon24-{role}" / "predictor.pt", RUNS / "carbon24-judge" / "predictor.pt"
    tag = "" if reading == "clean" else "noisy-"
    out = {}
    for mode in ("unguided", "guided"):
        # the unguided set of these settings is sampled once, whatever the guide
        gen = (RUNS / f"{NAME}-{tag}guided.csv" if mode == "guided"
               else RUNS / f"{NAME}-unguided-n{num}-s{steps}-seed{seed}.csv")
        cmd = [str(BIN / "graphdiff"), "sample", "-c", "carbon24-dng", "--num", str(num), "--steps", str(steps),
               "--seed", str(seed), "--out", str(gen), "-q", "--judge", str(judge)]
        if mode == "guided":
            cmd += ["--predictor", str(guide), "--target", f"carbon24{role}-energy_per_atom={goal}",
                    "--gradient-scale", str(scale), "--guidance-mode", reading]
        t0 = time.perf_counter()
        reused = mode == "unguided" and gen.exists()
        res = None if reused else subprocess.run(cmd, check=True, env=_env(), capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        judged = _values(gen, "judged_carbon24judge-energy_per_atom")
        with gen.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        valid = _validity(gen)
        out[mode] = {
            "num": len(rows), "judged_n": len(judged), "file": str(gen.relative_to(ROOT)),
            "mae_to_goal": statistics.fmean(abs(v - goal) for v in judged),
            "judged_mean": statistics.fmean(judged), "judged_median": statistics.median(judged),
            "structural_validity": valid, "seconds": None if reused else round(seconds, 1),
            "guide_values_mean": (statistics.fmean(_values(gen, f"carbon24{role}-energy_per_atom"))
                                  if mode == "guided" else None),
            "cli_output": res.stdout.strip().splitlines()[-3:] if res is not None else "reused",
        }
    judge_meta = json.loads((RUNS / "carbon24-judge" / "calibration.json").read_text())
    result = {
        "dataset": "carbon_24", "generator": "carbon24-dng", "property": "energy_per_atom (eV/atom)",
        "goal": goal, "goal_quantile_of_train": quantile, "num": num, "steps": steps, "gradient_scale": scale,
        "guidance_reading": reading,
        "guide": ("GNN ensemble trained on runs/carbon_24/train.csv (the generator's split)" if reading == "clean"
                  else "time-aware GNN ensemble (noisy = true, processes_from = carbon24-dng) trained on "
                       "runs/carbon_24/train.csv (the generator's split), reading the noisy states"),
        "judge": "GNN ensemble trained on runs/carbon_24/test.csv (held out from the generator and the guide)",
        "judge_validation_mae": judge_meta["properties"]["energy_per_atom"].get("mae"),
        "train_std": statistics.pstdev(train_vals),
        **out,
        "mae_ratio_unguided_over_guided": out["unguided"]["mae_to_goal"] / max(out["guided"]["mae_to_goal"], 1e-12),
        "validity_change_points": 100 * (out["guided"]["structural_validity"] - out["unguided"]["structural_validity"]),
        "command": f"python benchmarks/targets_guidance.py run --num {num} --steps {steps} --quantile {quantile} "
                   f"--scale {scale} --seed {seed}" + ("" if reading == "clean" else " --guide noisy"),
        "predictors_command": "python benchmarks/targets_guidance.py predictors"
                              + ("" if reading == "clean" else " --role tguide"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{NAME}.json"
    allres = json.loads(path.read_text()) if path.exists() else {}
    allres.setdefault("runs", {})[f"{'' if reading == 'clean' else 'noisy,'}scale={scale:g}"] = result
    path.write_text(json.dumps(allres, indent=2) + "\n")
    _plot(result, goal)
    print(json.dumps({k: v for k, v in result.items() if k not in ("unguided", "guided")}, indent=2))
    return result


def _validity(gen: Path) -> float:
    import warnings

    from graphdiff_crystals.io import read_records
    from graphdiff_crystals.metrics import structure_valid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = list(read_records(gen, skipped=[]))
    with gen.open(newline="") as fh:
        total = sum(1 for _ in csv.DictReader(fh))
    return sum(bool(structure_valid(r["obj"])) for r in recs) / max(total, 1)


def _plot(result: dict, goal: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for mode, color in (("unguided", "#999"), ("guided", "#2a7")):
        vals = _values(ROOT / result[mode]["file"], "judged_carbon24judge-energy_per_atom")
        ax.hist(vals, bins=25, alpha=0.6, color=color,
                label=f"{mode}: mean |judged − goal| = {result[mode]['mae_to_goal']:.3f}")
    ax.axvline(goal, color="k", ls="--", lw=1, label=f"requested {goal:.3f}")
    ax.set_xlabel("energy_per_atom judged by the held-out predictor (eV/atom)")
    ax.set_ylabel("structures")
    ax.legend(fontsize=7)
    fig.tight_layout()
    noisy = "" if result["guidance_reading"] == "clean" else "noisy-"
    ax.set_title(f"{'time-aware' if noisy else 'clean-estimate'} guidance, scale {result['gradient_scale']:g}",
                 fontsize=9)
    fig.savefig(RESULTS / f"{NAME}-{noisy}scale{result['gradient_scale']:g}.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["predictors", "run"])
    ap.add_argument("--predictor-steps", type=int, default=3000)
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--quantile", type=float, default=0.1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--role", action="append", choices=sorted(ROLES),
                    help="predictors: which to train (repeatable; default guide and judge)")
    ap.add_argument("--guide", choices=["clean", "noisy"], default="clean",
                    help="run: the clean-estimate guide or the time-aware one (--role tguide)")
    a = ap.parse_args()
    if a.action == "predictors":
        predictors(a.predictor_steps, a.role or ["guide", "judge"])
    else:
        run(a.num, a.steps, a.quantile, a.scale, a.seed, a.guide)


if __name__ == "__main__":
    main()
