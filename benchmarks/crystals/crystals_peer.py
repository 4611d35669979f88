"""graphdiff beside chemeleon-dng (a DiffCSP-family package) on the same Perov-5 split.

    python benchmarks/crystals/crystals_peer.py --minutes 30 --rows 100 --k 20 --steps 1000 --hidden 256 --layers 4
    python benchmarks/crystals/crystals_peer.py --rows 32 --reuse-training   # sample and evaluate again

One command, one run: (a) the seeded 80/20 split of ``../shared/data/perov_5/val.csv``
(``benchmarks/crystals/crystals_csp.py split``) and a separate virtual environment ``runs/peer-venv``
with ``torch==2.13.0`` (CPU build) and ``chemeleon-dng`` (made when missing); (b) both models
trained from scratch for CSP, one after the other, for the same wall-time budget, each in its
own process with ``OMP_NUM_THREADS=1``, at the same width, depth and batch size (chemeleon-dng:
its Lightning ``DataModule`` and ``DiffusionModule`` through ``benchmarks/crystals/peer/chemeleon_driver.py``;
graphdiff: its periodic denoiser through ``graphdiff train``); (c) ``--k`` independent samples
per held-out row (the first ``--rows`` of ``runs/perov_5/test.csv``) with ``--steps`` reverse
steps each (graphdiff: ``graphdiff sample --no-distinct``, so that neither side groups or ranks
its candidates; chemeleon-dng is trained with ``--steps`` diffusion timesteps since it samples
with exactly its training schedule); (d) both scored by the same evaluator, ``graphdiff evaluate
--task csp`` (CDVAE StructureMatcher stol 0.5, angle_tol 10, ltol 0.3) at k = 1, 2, K; (e)
``benchmarks/crystals/results/<name>.json`` (every figure, the command, the machine, load averages before
and after each phase) and ``<name>.png``.

Throughputs are measured the same way for both: training steps/s over the training loop (the
budget), sampling structures/s as structures over the sampling process's wall time (model load
included; the sampling loop's own rate is recorded beside it); peak memory is each phase's
process peak RSS (``wait4``). chemeleon-dng's upstream sampler evaluates its network twice per
step (predictor and one Langevin corrector step), graphdiff's ancestral sampler once; its
DataModule parses and Niggli-reduces every CIF on each access, inside its training steps.

Unlike the other benchmarks, which call the Python API, this one runs graphdiff as its CLI
(``graphdiff train``, ``sample``, ``evaluate``) in subprocesses, as it runs the peer's driver in
its own venv: each phase's process (its wall time, model load included, and peak RSS) is what is
measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _machine import cpu_model, run_phase as _run_phase  # noqa: E402
from _provenance import Run, key_from_args, record  # noqa: E402
from _tables import csv_rows, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DATASET = "perov_5"
SPLIT = ROOT / "runs" / DATASET
VENV = ROOT / "runs" / "peer-venv"
PEER_DATA = ROOT / "runs" / "peer-data"
DRIVER = Path(__file__).resolve().parent / "peer" / "chemeleon_driver.py"
GRAPHDIFF = Path(sys.executable).with_name("graphdiff")
TORCH_SPEC = "torch==2.13.0"  # the CPU build on disk; any other spec pulls the CUDA wheels
PEER_SPEC = "chemeleon-dng==0.1.5"
VAL_FRACTION = 0.05  # graphdiff's data.val_fraction; the peer gets its own val.csv of the same share
EVALUATOR = "graphdiff evaluate --task csp (CDVAE StructureMatcher stol=0.5, angle_tol=10, ltol=0.3)"


# ---------------------------------------------------------------------------- pure helpers

def ks_for(k: int) -> list[int]:
    """The k' at which match rates are reported: 1, 2 and k (those <= k)."""
    return sorted({kk for kk in (1, 2, k) if kk <= k})


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def compare(peer: dict, graphdiff: dict, ks: list[int], *, sampling_target: float = 2.0,
            training_target: float = 1.5) -> dict:
    """Speed ratios (graphdiff / peer) and the issue's targets.

    ``peer`` / ``graphdiff``: ``{"train": {"steps_per_s"}, "sample": {"structures_per_s"},
    "metrics": {"k=1": {"match_rate", "rmse"}, ...}}``.
    """
    train_x = ratio(graphdiff["train"]["steps_per_s"], peer["train"]["steps_per_s"])
    sample_x = ratio(graphdiff["sample"]["structures_per_s"], peer["sample"]["structures_per_s"])
    loop_x = ratio(graphdiff["sample"].get("structures_per_s_sampling_loop"),
                   peer["sample"].get("structures_per_s_sampling_loop"))
    match = {}
    for kk in ks:
        g = graphdiff["metrics"].get(f"k={kk}", {}).get("match_rate")
        p = peer["metrics"].get(f"k={kk}", {}).get("match_rate")
        match[f"k={kk}"] = {"graphdiff": g, "peer": p,
                            "difference": None if g is None or p is None else g - p,
                            "not_worse": None if g is None or p is None else g >= p}
    not_worse = [m["not_worse"] for m in match.values()]
    return {
        "training_steps_per_s_ratio": train_x,
        "sampling_structures_per_s_ratio": sample_x,
        "sampling_loop_structures_per_s_ratio": loop_x,
        "peak_rss_ratio_train": ratio(graphdiff["train"].get("peak_rss_mb"), peer["train"].get("peak_rss_mb")),
        "peak_rss_ratio_sample": ratio(graphdiff["sample"].get("peak_rss_mb"), peer["sample"].get("peak_rss_mb")),
        "match_rate": match,
        "targets": {
            f"sampling >= {sampling_target}x": None if sample_x is None else sample_x >= sampling_target,
            f"training >= {training_target}x": None if train_x is None else train_x >= training_target,
            "match rate not worse": None if None in not_worse else all(not_worse),
        },
    }


def times(x: float | None) -> str:
    """A ratio as text: ``x2.35`` or ``n/a``."""
    return "n/a" if x is None else f"x{x:.2f}"


def graphdiff_config(*, train_csv: str, out_dir: str, hidden: int, layers: int, num_freqs: int,
                     batch: int, minutes: float, steps: int, seed: int, lr: float = 1e-3) -> dict:
    """The graphdiff CSP run config: benchmarks/crystals/crystals_csp.py's recipe at the given width/depth/batch."""
    return {
        "data": {"domain": "crystals", "source": train_csv, "val_fraction": VAL_FRACTION, "batch_size": batch},
        "model": {"denoiser": "periodic", "hidden": hidden, "layers": layers, "options": {"num_freqs": num_freqs}},
        "diffusion": {"given": ["atom_types"]},
        "training": {"max_steps": 10_000_000, "max_minutes": minutes, "lr": lr, "seed": seed,
                     "warmup_steps": 200, "ema_decay": 0.999, "val_every": 500, "log_every": 50,
                     "checkpoint_every": 500, "out_dir": out_dir},
        "sampling": {"steps": steps, "sampler": "ancestral", "corrector_steps": 0},
    }


def command_line(args: argparse.Namespace, defaults: dict) -> str:
    """The command that reproduces the run: the script plus every option that differs from its default."""
    parts = ["python", "benchmarks/crystals/crystals_peer.py"]
    for key, value in vars(args).items():
        if value != defaults.get(key):
            flag = "--" + key.replace("_", "-")
            parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def sampling_loop_rate(log_text: str) -> tuple[float, float] | None:
    """``(seconds, graphs/s)`` of ``graphdiff sample``'s closing line ("wrote N graphs to OUT in S s
    (R graphs/s)"): the sampling loop without the process start and model load."""
    found = re.findall(r"wrote \d+ graphs to .* in ([\d.]+) s \(([\d.]+) graphs/s\)", log_text)
    return (float(found[-1][0]), float(found[-1][1])) if found else None


def read_metrics(eval_json: dict) -> dict:
    """``{"k=1": {"match_rate", "rmse"}, ...}`` of a ``graphdiff evaluate -o`` file, plus the row count."""
    out = {k: {"match_rate": v["match_rate"], "rmse": v["rmse"]} for k, v in eval_json["metrics"].items()}
    return out


def split_val(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded (train, val) split with ``round(fraction * n)`` (at least 1) rows held for validation."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n_val = max(1, int(round(fraction * len(rows))))
    val = set(idx[:n_val])
    return [r for i, r in enumerate(rows) if i not in val], [r for i, r in enumerate(rows) if i in val]


# ---------------------------------------------------------------------------- environment

def machine() -> dict:
    return {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "omp_num_threads": 1,
            "load_average_at_start": list(os.getloadavg())}


def _run_quiet(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


def peer_versions() -> dict | None:
    """Versions in the peer venv, or None when it is missing or incomplete."""
    py = VENV / "bin" / "python"
    if not py.exists():
        return None
    code = ("import json, importlib.metadata as m; import torch, chemeleon_dng, pytorch_lightning;"
            "print(json.dumps({p: m.version(p) for p in ('torch', 'chemeleon-dng', 'pytorch-lightning',"
            " 'torch-geometric', 'pymatgen', 'numpy')}))")
    res = _run_quiet([str(py), "-c", code])
    if res.returncode != 0:
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def ensure_venv(log) -> dict:
    """Create ``runs/peer-venv`` with torch 2.13.0 (CPU) first, then chemeleon-dng (idempotent)."""
    versions = peer_versions()
    if versions and versions["torch"].startswith("2.13.0"):
        return versions
    py, pip = VENV / "bin" / "python", VENV / "bin" / "pip"
    if not py.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # torch first, pinned: left to pip, chemeleon-dng's "torch>=2.1.0" would pull the CUDA wheels
    for spec in ([TORCH_SPEC], [PEER_SPEC, TORCH_SPEC]):
        log(f"pip install {' '.join(spec)}")
        subprocess.run([str(pip), "install", *spec], check=True, env=env)
    versions = peer_versions()
    if not versions:
        raise SystemExit(f"{VENV}: chemeleon-dng does not import after installation")
    return versions


def ensure_split(seed: int, log) -> dict:
    """The shared split (crystals_csp.py's) and the peer's data dir: train.csv/val.csv from it."""
    if not (SPLIT / "train.csv").exists() or not (SPLIT / "test.csv").exists():
        import crystals_csp

        crystals_csp.split(DATASET)
    header, rows = csv_rows(SPLIT / "train.csv")
    train, val = split_val(rows, VAL_FRACTION, seed)
    write_csv(PEER_DATA / "train.csv", header, train)
    write_csv(PEER_DATA / "val.csv", header, val)
    log(f"peer data: {len(train)} train / {len(val)} val rows of {SPLIT / 'train.csv'} -> {PEER_DATA}")
    return {"split": f"seeded 80/20 of ../shared/data/{DATASET}/val.csv (benchmarks/crystals/crystals_csp.py split)",
            "train_rows": len(rows), "peer_train_rows": len(train), "peer_val_rows": len(val),
            "graphdiff_val_fraction": VAL_FRACTION}


def run_phase(name: str, cmd: list[str], log_path: Path, log) -> dict:
    """:func:`_machine.run_phase` from the repository root."""
    return _run_phase(name, cmd, log_path, log, ROOT)


# ---------------------------------------------------------------------------- phases

def train_peer(args, run_dir: Path, log) -> dict:
    out = run_dir / "chemeleon"
    phase = run_phase("train chemeleon-dng", [
        str(VENV / "bin" / "python"), str(DRIVER), "train", "--data-dir", str(PEER_DATA), "--out", str(out),
        "--minutes", str(args.minutes), "--hidden", str(args.hidden), "--layers", str(args.layers),
        "--batch", str(args.batch), "--timesteps", str(args.steps), "--seed", str(args.seed)],
        run_dir / "train-chemeleon.log", log)
    return peer_training_record(run_dir, phase)


def peer_training_record(run_dir: Path, phase: dict) -> dict:
    res = json.loads((run_dir / "chemeleon" / "train.json").read_text())
    return {**res, "peak_rss_mb": phase["process_peak_rss_mb"], "phase": phase}


def train_graphdiff(args, run_dir: Path, log) -> dict:

    out = run_dir / "graphdiff"
    cfg = graphdiff_config(train_csv=str(SPLIT / "train.csv"), out_dir=str(out), hidden=args.hidden,
                           layers=args.layers, num_freqs=args.num_freqs, batch=args.batch,
                           minutes=args.minutes, steps=args.steps, seed=args.seed)
    cfg_path = run_dir / "graphdiff-config.json"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    phase = run_phase("train graphdiff", [str(GRAPHDIFF), "train", str(cfg_path), "-q"],
                      run_dir / "train-graphdiff.log", log)
    return graphdiff_training_record(args, run_dir, cfg, phase)


def graphdiff_training_record(args, run_dir: Path, cfg: dict, phase: dict) -> dict:
    from graphdiff.model import read_checkpoint

    out = run_dir / "graphdiff"
    ckpt = read_checkpoint(out / "last.ckpt")
    meta = json.loads(ckpt.get("meta") or "{}")
    steps = int(ckpt["step"])
    seconds = 60 * args.minutes  # the loop runs until the budget is spent (one step past it)
    return {"package": "graphdiff", "task": "csp", "steps": steps, "train_seconds": seconds,
            "steps_per_s": steps / seconds, "parameters": meta.get("parameters"), "hidden": args.hidden,
            "layers": args.layers, "num_freqs": args.num_freqs, "batch_size": args.batch,
            "num_train": meta.get("num_train"), "num_val": meta.get("num_val"), "ema_decay": 0.999,
            "config": cfg, "checkpoint": str((out / "last.ckpt").relative_to(ROOT)),
            "peak_rss_mb": phase["process_peak_rss_mb"], "phase": phase}


def sample_peer(args, run_dir: Path, rows_csv: Path, n: int, log) -> dict:
    out = run_dir / "chemeleon-samples.csv"
    phase = run_phase("sample chemeleon-dng", [
        str(VENV / "bin" / "python"), str(DRIVER), "sample", "--checkpoint", str(run_dir / "chemeleon" / "last.ckpt"),
        "--input", str(rows_csv), "--out", str(out), "--k", str(args.k), "--steps", str(args.steps),
        "--batch-size", str(args.sample_batch), "--seed", str(args.seed)],
        run_dir / "sample-chemeleon.log", log)
    inner = json.loads(out.with_suffix(".json").read_text())
    return {"structures": n * args.k, "steps": args.steps, "network_evals_per_step": 2,
            "sampler": "upstream predictor-corrector (DDPM lattice, score-matching coordinates + 1 Langevin step)",
            "candidates": "k independent samples", "batch_size": args.sample_batch,
            "structures_per_s": n * args.k / phase["wall_seconds"],
            "structures_per_s_sampling_loop": inner["structures_per_s"], "sampling_loop_seconds": inner["seconds"],
            "peak_rss_mb": phase["process_peak_rss_mb"], "out": str(out.relative_to(ROOT)), "phase": phase}


def sample_graphdiff(args, run_dir: Path, rows_csv: Path, n: int, log) -> dict:
    out = run_dir / "graphdiff-samples.csv"
    if out.exists():
        out.unlink()
    phase = run_phase("sample graphdiff", [
        str(GRAPHDIFF), "sample", "-c", str(run_dir / "graphdiff" / "last.ckpt"), "--input", str(rows_csv),
        "--task", "csp", "-k", str(args.k), "--no-distinct", "--steps", str(args.steps),
        "--batch-size", str(args.sample_batch), "--seed", str(args.seed), "-q", "-o", str(out)],
        run_dir / "sample-graphdiff.log", log)
    loop = sampling_loop_rate((ROOT / phase["log"]).read_text())
    return {"structures": n * args.k, "steps": args.steps, "network_evals_per_step": 1,
            "structures_per_s_sampling_loop": loop and loop[1], "sampling_loop_seconds": loop and loop[0],
            "sampler": "ancestral, corrector_steps 0 (EMA weights)",
            "candidates": "k independent samples (graphdiff sample --no-distinct: no grouping or ranking)",
            "batch_size": args.sample_batch, "structures_per_s": n * args.k / phase["wall_seconds"],
            "peak_rss_mb": phase["process_peak_rss_mb"], "out": str(out.relative_to(ROOT)), "phase": phase}


def evaluate(label: str, generated: Path, rows_csv: Path, ks: list[int], run_dir: Path, log) -> tuple[dict, dict]:
    out = run_dir / f"eval-{label}.json"
    cmd = [str(GRAPHDIFF), "evaluate", "--task", "csp", "--generated", str(generated), "--reference", str(rows_csv)]
    for kk in ks:
        cmd += ["--k", str(kk)]
    phase = run_phase(f"evaluate {label}", cmd + ["-o", str(out)], run_dir / f"eval-{label}.log", log)
    data = json.loads(out.read_text())
    metrics = read_metrics(data)
    for kk, m in metrics.items():
        rmse = "n/a" if m["rmse"] is None else f"{m['rmse']:.3f}"
        log(f"{label} {kk}: match rate {100 * m['match_rate']:.1f} %, RMSE {rmse}")
    return metrics, {"num_references": data["num_references"],
                     "references_without_candidates": data["references_without_candidates"], "phase": phase}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["chemeleon-dng", "graphdiff"]
    sides = [result["peer"], result["graphdiff"]]
    colors = ["#888888", "#1f77b4"]
    ks = result["ks"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [2, 1, 1]})
    ax = axes[0]
    width = 0.38
    for i, (name, side, c) in enumerate(zip(names, sides, colors)):
        vals = [100 * side["metrics"][f"k={kk}"]["match_rate"] for kk in ks]
        xs = [j + (i - 0.5) * width for j in range(len(ks))]
        bars = ax.bar(xs, vals, width, label=name, color=c)
        for b, kk in zip(bars, ks):
            rmse = side["metrics"][f"k={kk}"]["rmse"]
            ax.annotate(f"{b.get_height():.0f}%\n{'' if rmse is None else f'{rmse:.3f}'}",
                        (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(ks)), [f"k={kk}" for kk in ks])
    ax.set_ylabel("match rate (%) [RMSE above bars]")
    ax.set_ylim(0, 110)
    ax.set_title(f"CSP on {result['rows']} held-out Perov-5 rows")
    ax.legend(loc="upper left", fontsize=8)
    for ax, key, sub, title in ((axes[1], "train", "steps_per_s", "training steps/s"),
                                (axes[2], "sample", "structures_per_s",
                                 f"sampling structures/s ({result['steps']} steps)")):
        vals = [side[key][sub] for side in sides]
        bars = ax.bar(names, vals, color=colors)
        for b in bars:
            ax.annotate(f"{b.get_height():.2f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, max(vals) * 1.2 if max(vals) > 0 else 1)
    cmp_ = result["comparison"]
    fig.suptitle(f"{result['minutes']} min CPU training each, width {result['hidden']} x {result['layers']} layers, "
                 f"batch {result['batch']}; graphdiff/peer: training {times(cmp_['training_steps_per_s_ratio'])}, "
                 f"sampling {times(cmp_['sampling_structures_per_s_ratio'])}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def training_settings(args) -> dict:
    """What a trained pair depends on: a reused training must have been made with these."""
    return {k: getattr(args, k) for k in ("minutes", "steps", "hidden", "layers", "batch", "num_freqs", "seed")}


def reused_training(args, run_dir: Path, label: str, log) -> dict | None:
    """The record of an earlier training of ``label`` in ``run_dir`` (``train-<label>.json``,
    written after each training phase) when its settings are this run's, else ``None``."""
    path = run_dir / f"train-{label}.json"
    if not path.exists():
        log(f"{label}: no {path.name} in {run_dir}; training")
        return None
    saved = json.loads(path.read_text())
    if saved.get("settings") != training_settings(args):
        log(f"{label}: {path.name} was trained with {saved.get('settings')}; training again")
        return None
    log(f"{label}: reusing the training recorded in {path.relative_to(ROOT)}")
    return {**saved["train"], "reused_from": str(path.relative_to(ROOT))}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30, help="training wall time of each model")
    p.add_argument("--rows", type=int, default=100, help="held-out rows (the first of runs/perov_5/test.csv)")
    p.add_argument("--k", type=int, default=20, help="independent samples per row")
    p.add_argument("--steps", type=int, default=1000, help="reverse steps of both (chemeleon-dng: its timesteps)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=128, help="training batch size of both")
    p.add_argument("--num-freqs", type=int, default=32, help="graphdiff's Fourier features (crystals_csp.py's)")
    p.add_argument("--sample-batch", type=int, default=512, help="structures per sampling chunk, both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="crystals_peer", help="result name (benchmarks/crystals/results/<name>.json/.png)")
    p.add_argument("--reuse-training", action="store_true",
                   help="take both trained models and their training figures from an earlier run of the "
                        "same --name and training settings (runs/peer-<name>/train-*.json), and only "
                        "sample and evaluate (e.g. for more or other held-out rows)")
    return p


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = vars(parser.parse_args([]))
    run_dir = ROOT / "runs" / f"peer-{args.name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    run = Run(seeds={"seed": args.seed}, argv=None if argv is None else [__file__, *argv])

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", flush=True)

    result: dict = {"name": args.name, "command": command_line(args, defaults), "machine": machine(),
                    "dataset": DATASET, "minutes": args.minutes, "rows": args.rows, "k": args.k,
                    "steps": args.steps, "hidden": args.hidden, "layers": args.layers, "batch": args.batch,
                    "seed": args.seed, "ks": ks_for(args.k), "evaluator": EVALUATOR}
    result["peer_env"] = {"venv": str(VENV.relative_to(ROOT)), "install": [f"pip install {TORCH_SPEC}",
                          f"pip install {PEER_SPEC} {TORCH_SPEC}"], "versions": ensure_venv(log)}
    result["data"] = ensure_split(args.seed, log)
    header, rows = csv_rows(SPLIT / "test.csv", args.rows)
    rows_csv = run_dir / "rows.csv"
    write_csv(rows_csv, header, rows)
    result["data"]["held_out_rows"] = len(rows)

    peer: dict = {"package": "chemeleon-dng"}
    gd: dict = {"package": "graphdiff"}
    for side, label, fn in ((peer, "chemeleon", train_peer), (gd, "graphdiff", train_graphdiff)):
        side["train"] = reused_training(args, run_dir, label, log) if args.reuse_training else None
        if side["train"] is None:
            side["train"] = fn(args, run_dir, log)
            (run_dir / f"train-{label}.json").write_text(json.dumps(
                {"settings": training_settings(args), "train": side["train"]}, indent=2))
    for side in (peer, gd):
        log(f"{side['package']}: {side['train']['steps']} steps ({side['train']['steps_per_s']:.2f} steps/s), "
            f"{side['train']['parameters']} parameters")
    peer["sample"] = sample_peer(args, run_dir, rows_csv, len(rows), log)
    gd["sample"] = sample_graphdiff(args, run_dir, rows_csv, len(rows), log)
    for side in (peer, gd):
        log(f"{side['package']}: {side['sample']['structures_per_s']:.2f} structures/s")
    peer["metrics"], peer["evaluation"] = evaluate("chemeleon", run_dir / "chemeleon-samples.csv", rows_csv,
                                                   result["ks"], run_dir, log)
    gd["metrics"], gd["evaluation"] = evaluate("graphdiff", run_dir / "graphdiff-samples.csv", rows_csv,
                                               result["ks"], run_dir, log)
    result["peer"], result["graphdiff"] = peer, gd
    result["comparison"] = compare(peer, gd, result["ks"])
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    run.add_data(SPLIT / "train.csv", SPLIT / "test.csv")
    record(RESULTS / f"{args.name}.json", key_from_args(args, ignore=("name", "reuse_training")), result, run)
    plot(result, RESULTS / f"{args.name}.png")
    c = result["comparison"]
    log(f"graphdiff / chemeleon-dng: training {times(c['training_steps_per_s_ratio'])}, sampling "
        f"{times(c['sampling_structures_per_s_ratio'])}; targets {c['targets']}")
    log(f"wrote {RESULTS / (args.name + '.json')} and .png")
    return result


if __name__ == "__main__":
    main()
