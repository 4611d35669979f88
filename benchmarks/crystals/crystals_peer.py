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
with exactly its training schedule), in chunks of ``--chunk-rows`` rows, each chunk its own
process, recorded under ``runs/peer-<name>/<side>-chunks/`` as it ends; (d) both scored by the
same evaluator, ``graphdiff evaluate --task csp`` (CDVAE StructureMatcher stol 0.5, angle_tol
10, ltol 0.3) at k = 1, 2, K; (e) ``benchmarks/crystals/results/<name>.json`` (every figure, the
command, the machine, load averages before and after each phase) and ``<name>.png``.

Resuming: chemeleon-dng samples about one held-out row (k = 20, 1000 steps) a minute on one
thread, so 200 rows take hours. A stopped run resumes with the same command plus
``--reuse-training``: the trained models are reused and only the chunks without a record are
sampled (``--workers 2`` samples two chunks at once). Chunks sampled under other settings stop
the run with what differs; chunks of a model that was trained again are removed.

    python benchmarks/crystals/crystals_peer.py --rows 200                    # trains both, then samples
    python benchmarks/crystals/crystals_peer.py --rows 200 --reuse-training   # resumes where it stopped

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
from _provenance import Run, key_from_args, record, sha256  # noqa: E402
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


# ---------------------------------------------------------------------------- sampling in chunks

def chunk_bounds(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: consecutive chunks of ``chunk_rows`` held-out rows (the last may be
    shorter). Chunk i always covers the same rows, so a run on more rows reuses the earlier chunks."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    return [(a, min(a + chunk_rows, n_rows)) for a in range(0, n_rows, chunk_rows)]


def chunk_seed(seed: int, index: int) -> int:
    """The sampling seed of chunk ``index``: distinct per chunk, fixed by the run's seed."""
    return seed * 100_003 + index


def sampling_settings(args, checkpoint: Path) -> dict:
    """What a sampled chunk depends on besides its rows: a chunk is reused only under these."""
    return {"k": args.k, "steps": args.steps, "seed": args.seed, "sample_batch": args.sample_batch,
            "chunk_rows": args.chunk_rows, "checkpoint_sha256": sha256(checkpoint)}


def row_ids(rows: list[list[str]], header: list[str]) -> list[str]:
    col = header.index("material_id") if "material_id" in header else 0
    return [r[col] for r in rows]


def open_chunk_dir(chunk_dir: Path, settings: dict, *, fresh_model: bool, log) -> None:
    """Make ``chunk_dir`` ready for chunks sampled under ``settings``.

    Chunks already there are kept when they were sampled under the same settings (an interrupted
    run resumes). When the model was just trained again, earlier chunks belong to the model it
    replaced and are removed (said in the log). Other settings stop the run with what differs."""
    import shutil

    manifest = chunk_dir / "settings.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved != settings:
            if fresh_model:
                done = len(list(chunk_dir.glob("chunk-*.json")))
                log(f"{chunk_dir.relative_to(ROOT)}: removing {done} chunks sampled from the model this run replaced")
                shutil.rmtree(chunk_dir)
            else:
                diff = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
                raise SystemExit(f"{chunk_dir}: its chunks were sampled under other settings "
                                 f"(earlier, now: {diff}); remove the folder or run with another --name")
    chunk_dir.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(settings, indent=2))


def sample_in_chunks(label: str, args, run_dir: Path, header: list[str], rows: list[list[str]],
                     checkpoint: Path, command, loop_seconds, *, fresh_model: bool, log) -> dict:
    """Sample ``rows`` chunk by chunk, each chunk in its own process, recording each chunk as it ends.

    ``command(rows_csv, out_csv, seed)`` is a chunk's command line; ``loop_seconds(out_csv, phase)``
    its sampling loop's own seconds (model load excluded). A chunk is done once its
    ``chunk-NNNN.json`` is written (after its samples): a rerun with the same model and settings
    (``--reuse-training``) samples only the chunks without one, so a long run can be stopped and
    resumed. The chunks' samples are then joined into ``<label>-samples.csv``."""
    chunk_dir = run_dir / f"{label}-chunks"
    open_chunk_dir(chunk_dir, sampling_settings(args, checkpoint), fresh_model=fresh_model, log=log)
    bounds = chunk_bounds(len(rows), args.chunk_rows)
    ids_of = [row_ids(rows[a:b], header) for a, b in bounds]
    records: dict[int, dict] = {}
    pending: list[int] = []
    for i, ((a, b), ids) in enumerate(zip(bounds, ids_of)):
        done = chunk_dir / f"chunk-{i:04d}.json"
        record_ = json.loads(done.read_text()) if done.exists() else None
        if record_ is not None and record_["material_ids"] == ids[:len(record_["material_ids"])] != ids:
            log(f"{label}: chunk {i + 1} was the shorter last chunk of a run on fewer rows; sampling it again")
            record_ = None
        if record_ is not None and record_["material_ids"] != ids:
            raise SystemExit(f"{done}: sampled for other rows than rows {a}..{b - 1} of this run; "
                             f"remove {chunk_dir} or run with another --name")
        if record_ is None:
            pending.append(i)
        else:
            records[i] = record_
    reused = len(records)

    def sample_chunk(i: int) -> dict:
        a, b = bounds[i]
        part = chunk_dir / f"chunk-{i:04d}"
        rows_csv, out_csv = part.with_name(part.name + "-rows.csv"), part.with_suffix(".csv")
        out_csv.unlink(missing_ok=True)  # a chunk without its record is sampled again from the start
        write_csv(rows_csv, header, rows[a:b])
        seed = chunk_seed(args.seed, i)
        phase = run_phase(f"sample {label}, chunk {i + 1}/{len(bounds)} (rows {a}..{b - 1})",
                          command(rows_csv, out_csv, seed), part.with_suffix(".log"), log)
        record_ = {"chunk": i, "rows": [a, b], "material_ids": ids_of[i], "seed": seed,
                   "structures": (b - a) * args.k, "loop_seconds": loop_seconds(out_csv, phase),
                   "workers": args.workers, "phase": phase}
        part.with_suffix(".json").write_text(json.dumps(record_, indent=2))  # last: the chunk is done
        return record_

    if args.workers > 1 and len(pending) > 1:
        from concurrent.futures import ThreadPoolExecutor  # each chunk is its own one-thread process

        with ThreadPoolExecutor(args.workers) as pool:
            for i, record_ in zip(pending, pool.map(sample_chunk, pending)):
                records[i] = record_
    else:
        for i in pending:
            records[i] = sample_chunk(i)
    chunks = [records[i] for i in range(len(bounds))]
    out_header: list[str] | None = None
    out_rows: list[list[str]] = []
    for i in range(len(bounds)):
        part_csv = chunk_dir / f"chunk-{i:04d}.csv"
        h, r = csv_rows(part_csv)
        if out_header is not None and h != out_header:
            raise SystemExit(f"{part_csv}: header {h} differs from the other chunks' {out_header}")
        out_header = h
        out_rows += r
    if reused:
        log(f"{label}: {reused} of {len(bounds)} chunks reused from {chunk_dir.relative_to(ROOT)}")
    out = run_dir / f"{label}-samples.csv"
    write_csv(out, out_header or [], out_rows)
    wall = sum(c["phase"]["wall_seconds"] for c in chunks)
    loops = [c["loop_seconds"] for c in chunks]
    loop = None if None in loops else sum(loops)
    n = sum(c["structures"] for c in chunks)
    return {"structures": n, "steps": args.steps, "batch_size": args.sample_batch, "chunks": len(chunks),
            "chunk_rows": args.chunk_rows, "chunks_reused": reused, "workers": args.workers,
            "wall_seconds": round(wall, 2),
            "structures_per_s": n / wall, "sampling_loop_seconds": loop,
            "structures_per_s_sampling_loop": None if not loop else n / loop,
            "peak_rss_mb": max(c["phase"]["process_peak_rss_mb"] for c in chunks),
            "out": str(out.relative_to(ROOT)),
            "chunk_records": [{k: v for k, v in c.items() if k != "material_ids"} for c in chunks]}


def sample_peer(args, run_dir: Path, header: list[str], rows: list[list[str]], fresh_model: bool, log) -> dict:
    ckpt = run_dir / "chemeleon" / "last.ckpt"

    def command(rows_csv: Path, out: Path, seed: int) -> list[str]:
        return [str(VENV / "bin" / "python"), str(DRIVER), "sample", "--checkpoint", str(ckpt),
                "--input", str(rows_csv), "--out", str(out), "--k", str(args.k), "--steps", str(args.steps),
                "--batch-size", str(args.sample_batch), "--seed", str(seed)]

    def loop_seconds(out: Path, phase: dict) -> float:
        return json.loads(out.with_suffix(".json").read_text())["seconds"]

    res = sample_in_chunks("chemeleon", args, run_dir, header, rows, ckpt, command, loop_seconds,
                           fresh_model=fresh_model, log=log)
    return {**res, "network_evals_per_step": 2,
            "sampler": "upstream predictor-corrector (DDPM lattice, score-matching coordinates + 1 Langevin step)",
            "candidates": "k independent samples"}


def sample_graphdiff(args, run_dir: Path, header: list[str], rows: list[list[str]], fresh_model: bool,
                     log) -> dict:
    ckpt = run_dir / "graphdiff" / "last.ckpt"

    def command(rows_csv: Path, out: Path, seed: int) -> list[str]:
        return [str(GRAPHDIFF), "sample", "-c", str(ckpt), "--input", str(rows_csv), "--task", "csp",
                "-k", str(args.k), "--no-distinct", "--steps", str(args.steps), "--batch-size",
                str(args.sample_batch), "--seed", str(seed), "-q", "-o", str(out)]

    def loop_seconds(out: Path, phase: dict) -> float | None:
        loop = sampling_loop_rate((ROOT / phase["log"]).read_text())
        return loop and loop[0]

    res = sample_in_chunks("graphdiff", args, run_dir, header, rows, ckpt, command, loop_seconds,
                           fresh_model=fresh_model, log=log)
    return {**res, "network_evals_per_step": 1, "sampler": "ancestral, corrector_steps 0 (EMA weights)",
            "candidates": "k independent samples (graphdiff sample --no-distinct: no grouping or ranking)"}


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
    p.add_argument("--chunk-rows", type=int, default=25,
                   help="held-out rows sampled per process; each chunk is recorded as it ends, so an "
                        "interrupted run resumes with --reuse-training (25 rows x k 20 = one 500-structure batch)")
    p.add_argument("--workers", type=int, default=1,
                   help="chunks sampled at once, each in its own one-thread process (does not change "
                        "the samples; the per-process rates are then measured under that load)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="crystals_peer", help="result name (benchmarks/crystals/results/<name>.json/.png)")
    p.add_argument("--reuse-training", action="store_true",
                   help="take both trained models and their training figures from an earlier run of the "
                        "same --name and training settings (runs/peer-<name>/train-*.json), and only "
                        "sample and evaluate (e.g. for more or other held-out rows); chunks already sampled "
                        "from these models under the same settings are kept, so a stopped run resumes")
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
    if len(rows) < args.rows:
        raise SystemExit(f"{SPLIT / 'test.csv'} has {len(rows)} rows; --rows asked for {args.rows}")
    rows_csv = run_dir / "rows.csv"
    write_csv(rows_csv, header, rows)
    result["data"]["held_out_rows"] = len(rows)

    peer: dict = {"package": "chemeleon-dng"}
    gd: dict = {"package": "graphdiff"}
    fresh = {}
    for side, label, fn in ((peer, "chemeleon", train_peer), (gd, "graphdiff", train_graphdiff)):
        side["train"] = reused_training(args, run_dir, label, log) if args.reuse_training else None
        fresh[label] = side["train"] is None
        if side["train"] is None:
            side["train"] = fn(args, run_dir, log)
            (run_dir / f"train-{label}.json").write_text(json.dumps(
                {"settings": training_settings(args), "train": side["train"]}, indent=2))
    for side in (peer, gd):
        log(f"{side['package']}: {side['train']['steps']} steps ({side['train']['steps_per_s']:.2f} steps/s), "
            f"{side['train']['parameters']} parameters")
    # graphdiff first: its side is done in minutes, the peer's sampling takes hours on one thread
    gd["sample"] = sample_graphdiff(args, run_dir, header, rows, fresh["graphdiff"], log)
    peer["sample"] = sample_peer(args, run_dir, header, rows, fresh["chemeleon"], log)
    for side in (peer, gd):
        log(f"{side['package']}: {side['sample']['structures_per_s']:.2f} structures/s")
    peer["metrics"], peer["evaluation"] = evaluate("chemeleon", run_dir / "chemeleon-samples.csv", rows_csv,
                                                   result["ks"], run_dir, log)
    gd["metrics"], gd["evaluation"] = evaluate("graphdiff", run_dir / "graphdiff-samples.csv", rows_csv,
                                               result["ks"], run_dir, log)
    result["peer"], result["graphdiff"] = peer, gd
    result["comparison"] = compare(peer, gd, result["ks"])
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)  # this invocation (resumed chunks excluded)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    run.add_data(SPLIT / "train.csv", SPLIT / "test.csv")
    key = key_from_args(args, ignore=("name", "reuse_training", "workers"))
    record(RESULTS / f"{args.name}.json", key, result, run)
    plot(result, RESULTS / f"{args.name}.png")
    c = result["comparison"]
    log(f"graphdiff / chemeleon-dng: training {times(c['training_steps_per_s_ratio'])}, sampling "
        f"{times(c['sampling_structures_per_s_ratio'])}; targets {c['targets']}")
    log(f"wrote {RESULTS / (args.name + '.json')} and .png")
    return result


if __name__ == "__main__":
    main()
