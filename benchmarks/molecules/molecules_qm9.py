"""De novo QM9 generation: train, bundle, stability against training time, sampling cost.

    OMP_NUM_THREADS=1 graphdiff train benchmarks/molecules/configs/qm9-dng.toml    # 75 min, snapshots every 15
    python benchmarks/molecules/molecules_qm9.py export
    python benchmarks/molecules/molecules_qm9.py curve --num 200 --steps 500
    python benchmarks/molecules/molecules_qm9.py cost  --steps 50 100 250 500
    python benchmarks/molecules/molecules_qm9.py score --checkpoint qm9-dng --num 100 --steps 500 --name qm9-dng-score

``export`` bundles the EMA weights of ``runs/qm9-dng/last.ckpt`` into the molecules plugin as
``qm9-dng`` with a manifest. ``curve`` samples ``--num`` molecules from every snapshot the
training kept (``training.snapshot_minutes``) and from the last checkpoint, scores them with
EDM's metrics (atom and molecule stability, RDKit validity, uniqueness, novelty against the
training split) and writes ``benchmarks/molecules/results/qm9-dng.json`` / ``qm9-dng.png``: stability
against training minutes beside EDM's figures. ``cost`` measures sampling time per molecule and
peak memory against the number of reverse steps (``benchmarks/molecules/results/qm9_sampling_cost``).
``score`` gives EDM's metrics of one checkpoint (a path or a bundled name), e.g. the bundled
``qm9-dng`` trained on a GPU by ``benchmarks/gpu_runs.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, record, repo_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
RUN = ROOT / "runs" / "qm9-dng"
BUNDLE = ROOT / "plugins" / "graphdiff-molecules" / "graphdiff_molecules" / "checkpoints"
TRAIN_COMMAND = "OMP_NUM_THREADS=1 graphdiff train benchmarks/molecules/configs/qm9-dng.toml"

#: EDM (Hoogeboom et al. 2022, Table 2, QM9 with hydrogens) and GeoLDM (Xu et al. 2023, Table 1).
ANCHORS = {"EDM": {"atom_stability": 0.987, "mol_stability": 0.820, "validity": 0.919},
           "GeoLDM": {"atom_stability": 0.989, "mol_stability": 0.894, "validity": 0.938},
           "data (EDM)": {"atom_stability": 0.990, "mol_stability": 0.952, "validity": 0.977}}


def export() -> Path:
    from graphdiff.model import export_checkpoint, read_checkpoint

    src = RUN / "last.ckpt"
    ckpt = read_checkpoint(src)
    step = int(ckpt["step"])
    minutes = json.loads(ckpt["config"])["training"]["max_minutes"]
    meta = {"name": "qm9-dng", "task": "dng", "dataset": "qm9", "steps": step, "train_minutes": minutes,
            "made_by": TRAIN_COMMAND}
    BUNDLE.mkdir(parents=True, exist_ok=True)
    dst = export_checkpoint(src, BUNDLE / "qm9-dng.ckpt", meta=meta)
    manifest = BUNDLE / "qm9-dng.json"
    old = json.loads(manifest.read_text()) if manifest.exists() else {}
    manifest.write_text(json.dumps({
        "task": "dng", "dataset": "qm9",
        "trained_on": f"QM9 with hydrogens, EDM's training split (100,000 molecules): {step} steps, "
                      f"{minutes} min on one CPU thread",
        "figures": old.get("figures", {}), "made_by": TRAIN_COMMAND,
        "evaluated_by": old.get("evaluated_by", "")}, indent=2))
    print(f"exported {dst} ({dst.stat().st_size / 1e6:.1f} MB) after {step} steps")
    return dst


def qm9_inputs() -> list[Path]:
    """The files QM9 is read from (qm9pack's molecule and polarizability CSVs), to name among a
    run's inputs by their hashes."""
    from graphdiff_molecules.qm9 import qm9_files

    parts, polar = qm9_files()
    return [Path(str(p)) for p in (*parts, polar)]


def _score(path: Path, num: int, steps: int, seed: int, train_smiles_source: list) -> dict:
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs
    from graphdiff_molecules.edm_metrics import dng_metric

    model, cfg, meta = load_model(path)
    domain = get_manager().get("domains", "molecules")
    t0 = time.perf_counter()
    out = [g for chunk in sample_graphs(model, num, steps=steps, seed=seed, batch_size=100) for g in chunk]
    seconds = time.perf_counter() - t0
    mols = [domain.from_graph(g) for g in out]
    m = dng_metric(mols, train=train_smiles_source)
    return {"checkpoint": str(path.relative_to(ROOT)), "step": meta.get("step"),
            "train_minutes": meta.get("train_minutes"), "num": num, "steps": steps,
            "seconds_per_molecule": seconds / num,
            **{k: m[k] for k in ("atom_stability", "mol_stability", "validity", "uniqueness", "novelty")}}


def _train_molecules(train_limit: int) -> list:
    """The training split for novelty: its first ``train_limit`` molecules (0: all; the SMILES
    of all 100k take minutes, and the count is stored in the JSON)."""
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "molecules")
    train = []
    for i, rec in enumerate(domain.read("qm9://train")):
        if train_limit and i >= train_limit:
            break
        train.append(rec["obj"])
    return train


def curve(num: int, steps: int, seed: int, train_limit: int, every: int = 1) -> dict:
    run = Run(seeds={"seed": seed}, data=qm9_inputs())
    train = _train_molecules(train_limit)
    snaps = sorted((RUN / "snapshots").glob("*.ckpt"))[every - 1::every]
    last = RUN / "last.ckpt"
    run.add_data(*snaps, last)
    points = []
    for path in [*snaps, last]:
        row = _score(path, num, steps, seed, train)
        if path == last:
            from graphdiff.model import read_checkpoint

            cfg = json.loads(read_checkpoint(last)["config"])
            row["train_minutes"] = cfg["training"]["max_minutes"]
        points.append(row)
        print(f"{path.name}: {row['train_minutes']} min, step {row['step']}: atom {row['atom_stability']:.3f}, "
              f"mol {row['mol_stability']:.3f}, valid {row['validity']:.3f}, unique {row['uniqueness']}")
    result = {"dataset": "QM9 with hydrogens (EDM split)", "checkpoint": "qm9-dng", "points": points,
              "final": points[-1], "anchors": ANCHORS, "novelty_train_molecules": len(train),
              "threads": torch.get_num_threads(),
              "trained_by": TRAIN_COMMAND,
              "command": f"python benchmarks/molecules/molecules_qm9.py curve --num {num} --steps {steps}"
                         + (f" --train-limit {train_limit}" if train_limit else "")
                         + (f" --every {every}" if every != 1 else "")}
    key = {"action": "curve", "num": num, "steps": steps, "seed": seed, "train_limit": train_limit,
           "every": every, "threads": torch.get_num_threads()}
    record(RESULTS / "qm9-dng.json", key, result, run)
    _plot(points)
    manifest = BUNDLE / "qm9-dng.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        f = points[-1]
        info["figures"] = {k: round(f[k], 4) for k in ("atom_stability", "mol_stability", "validity",
                                                       "uniqueness", "novelty") if f[k] is not None}
        info["figures"]["num_generated"] = num
        info["evaluated_by"] = result["command"]
        manifest.write_text(json.dumps(info, indent=2))
    return result


def _plot(points: list[dict], name: str = "qm9-dng", xlabel: str = "training minutes (one CPU thread)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    xs = [p["train_minutes"] for p in points]
    for key, label, color in (("atom_stability", "atom stability", "tab:blue"),
                              ("mol_stability", "molecule stability", "tab:orange"),
                              ("validity", "RDKit validity", "tab:green")):
        ax.plot(xs, [100 * p[key] for p in points], "o-", color=color, label=label)
        ax.axhline(100 * ANCHORS["EDM"][key], color=color, ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(f"{name}: EDM's metrics against training time (dotted: EDM)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def _cost_one(steps: int, num: int) -> dict:
    from graphdiff.model import load_model
    from graphdiff.runner import sample_graphs

    model, _, _ = load_model(BUNDLE / "qm9-dng.ckpt")
    t0 = time.perf_counter()
    for _ in sample_graphs(model, num, steps=steps, seed=0, batch_size=num):
        pass
    dt = time.perf_counter() - t0
    return {"steps": steps, "num": num, "seconds_per_molecule": dt / num,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cost(steps_list: list[int], num: int) -> dict:
    run = Run(seeds={"seed": 0}, data=[BUNDLE / "qm9-dng.ckpt"])
    rows = []
    for steps in steps_list:  # one process each: peak memory per setting
        out = subprocess.run([sys.executable, __file__, "_cost", "--steps", str(steps), "--num", str(num)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    result = {"checkpoint": "qm9-dng", "batch": num, "threads": torch.get_num_threads(), "rows": rows,
              "command": f"python benchmarks/molecules/molecules_qm9.py cost --steps {' '.join(map(str, steps_list))}"
                         f" --num {num}"}
    key = {"action": "cost", "steps": list(steps_list), "num": num, "threads": torch.get_num_threads()}
    record(RESULTS / "qm9_sampling_cost.json", key, result, run)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([r["steps"] for r in rows], [r["seconds_per_molecule"] for r in rows], "o-")
    ax.set_xlabel("reverse steps")
    ax.set_ylabel("seconds per molecule")
    ax2 = ax.twinx()
    ax2.plot([r["steps"] for r in rows], [r["peak_rss_mb"] for r in rows], "s--", color="tab:red")
    ax2.set_ylabel("peak RSS (MB)", color="tab:red")
    ax.set_title(f"qm9-dng sampling cost (batches of {num}, {torch.get_num_threads()} thread(s))")
    fig.tight_layout()
    fig.savefig(RESULTS / "qm9_sampling_cost.png", dpi=110)
    plt.close(fig)
    return result


def score(checkpoint: str, num: int, steps: int, seed: int, train_limit: int, name: str) -> dict:
    """EDM's metrics of ``num`` molecules from one checkpoint (a path or a bundled name) into
    ``benchmarks/molecules/results/<name>.json``."""
    from graphdiff.model import resolve_checkpoint

    run = Run(seeds={"seed": seed}, data=qm9_inputs())
    train = _train_molecules(train_limit)
    path = resolve_checkpoint(checkpoint).resolve()
    run.add_data(path)
    row = _score(path, num, steps, seed, train)
    row["checkpoint"] = checkpoint
    from graphdiff.model import read_checkpoint

    meta = json.loads(read_checkpoint(path).get("meta") or "{}")
    result = {"dataset": "QM9 with hydrogens (EDM split)", "final": row, "anchors": ANCHORS,
              "train_meta": {k: meta.get(k) for k in ("step", "train_minutes", "device", "made_by",
                                                      "parameters", "weights_dtype")},
              "novelty_train_molecules": len(train), "threads": torch.get_num_threads(),
              "command": f"python benchmarks/molecules/molecules_qm9.py score --checkpoint {checkpoint} --num {num} "
                         f"--steps {steps} --name {name}" + (f" --train-limit {train_limit}" if train_limit else "")}
    key = {"action": "score", "checkpoint": checkpoint, "num": num, "steps": steps, "seed": seed,
           "train_limit": train_limit, "threads": torch.get_num_threads()}
    record(RESULTS / f"{name}.json", key, result, run)
    print(json.dumps(row))
    return result


def stored_molecules(entry: dict, domain) -> list:
    """The molecules of one entry of a ``benchmarks/gpu_runs.py sample`` file (compact graphs)."""
    from torch_geometric.data import Data

    return [domain.from_graph(Data(atom_types=g["atom_types"].long(), positions=g["positions"].float(),
                                   num_nodes=g["num_nodes"])) for g in entry["graphs"]]


def gpu_curve(samples: list[Path], train_limit: int, name: str, then: list[Path] = ()) -> dict:
    """EDM's metrics of molecules drawn on a GPU by ``benchmarks/gpu_runs.py sample qm9-dng``
    (``samples``: its ``qm9-dng.samples.pt`` files; the run's start, its snapshots and its last
    checkpoint), against the GPU minutes of training behind each, into
    ``benchmarks/molecules/results/<name>.json`` / ``.png``. A run started from a checkpoint (``--init``)
    counts that checkpoint's minutes before its own. ``then``: the samples of a later run that
    started from the last checkpoint of ``samples``' run; its points count that run's minutes
    and steps first."""
    from graphdiff.plugins import get_manager
    from graphdiff_molecules.edm_metrics import dng_metric

    run = Run(data=[*samples, *then, *qm9_inputs()])
    domain = get_manager().get("domains", "molecules")
    train = _train_molecules(train_limit)
    runs = [[e for f in samples for e in torch.load(f)]]
    if then:
        runs.append([e for f in then for e in torch.load(f)])
    points = []
    before, before_steps = 0.0, 0
    for k, entries in enumerate(runs):
        start = next((e for e in entries if e["label"] == "init"), None)
        if k == 0 and start:
            before, before_steps = float(start["train_minutes"] or 0), int(start["step"])
        run_points = []
        for e in entries:
            mols = stored_molecules(e, domain)
            m = dng_metric(mols, train=train)
            if e["label"] == "init":
                minutes, steps = before, before_steps
            elif e["label"] == "snapshot":
                minutes, steps = before + float(e["train_minutes"]), before_steps + int(e["step"])
            else:  # the run's budget: its training loop's minutes, as for the snapshots
                minutes, steps = before + float(e["max_minutes"]), before_steps + int(e["step"])
            run_points.append({"label": e["label"], "run": k, "checkpoint": e["checkpoint"],
                               "gpu_minutes": round(minutes, 2), "total_steps": steps, "num": e["num"],
                               "steps": e["steps"], "seed": e["seed"],
                               "gpu_seconds_per_molecule": e["seconds"] / e["num"], "device": e["device_name"],
                               "train_minutes_measured": e["train_minutes"],
                               **({"sampled_with": e["provenance"]} if e.get("provenance") else {}),
                               **{key: m[key] for key in ("atom_stability", "mol_stability", "validity",
                                                          "uniqueness", "novelty")}})
            print(f"{e['label']} {e['checkpoint']}: {minutes:.1f} GPU min, {steps} steps, {e['num']} molecules: "
                  f"atom {m['atom_stability']:.3f}, mol {m['mol_stability']:.3f}, valid {m['validity']:.3f}")
        last = [p for p in run_points if p["label"] == "last"]
        if last:
            before, before_steps = last[-1]["gpu_minutes"], last[-1]["total_steps"]
        points += run_points
    points.sort(key=lambda p: (p["gpu_minutes"], p["label"] != "last"))
    final = [p for p in points if p["label"] == "last"]
    result = {"dataset": "QM9 with hydrogens (EDM split)", "points": points, "final": final[-1] if final else None,
              "anchors": ANCHORS, "novelty_train_molecules": len(train),
              "trained_by": ["bash benchmarks/gpu_session.sh OUT 5.5 on an H100 (benchmarks/gpu_runs.py train "
                             "qm9-dng --minutes 5.5 --init qm9-dng --snapshot-minutes 1.5, batch 128; sample ... "
                             "--num 1000)",
                             "bash benchmarks/gpu_session.sh OUT 6.5 60 on an H200 (benchmarks/gpu_runs.py train "
                             "qm9-dng --minutes 6.5 --init qm9-dng --batch-size 512 --tf32, beside qm9-gap-cond; "
                             "sample ... --num 1000)"][:len(runs)],
              "command": ("python benchmarks/molecules/molecules_qm9.py gpu-curve "
                          f"--samples {' '.join(map(str, samples))}")
                         + (f" --then {' '.join(map(str, then))}" if then else "")
                         + (f" --train-limit {train_limit}" if train_limit else "") + f" --name {name}"}
    key = {"action": "gpu-curve", "samples": [repo_path(p) for p in samples], "then": [repo_path(p) for p in then],
           "train_limit": train_limit}
    record(RESULTS / f"{name}.json", key, result, run)
    _plot([{**p, "train_minutes": p["gpu_minutes"]} for p in points], name=name,
          xlabel="GPU training minutes (H100, batch 128; then H200, batch 512)" if then
          else "GPU training minutes (H100)")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["export", "curve", "cost", "score", "gpu-curve", "_cost"])
    ap.add_argument("--samples", type=Path, nargs="+", help="gpu-curve: qm9-dng.samples.pt files")
    ap.add_argument("--then", type=Path, nargs="+", default=[],
                    help="gpu-curve: the samples of a later run started from the last checkpoint of --samples'")
    ap.add_argument("--checkpoint", default="qm9-dng", help="score: a checkpoint path or bundled name")
    ap.add_argument("--name", default="qm9-dng-score", help="score: the results file's name")
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--steps", type=int, nargs="+", default=[500])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0, help="novelty against the first N training molecules")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--every", type=int, default=1, help="score every N-th snapshot (and the last checkpoint)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "export":
        export()
    elif args.command == "curve":
        curve(args.num, args.steps[0], args.seed, args.train_limit, args.every)
    elif args.command == "score":
        score(args.checkpoint, args.num, args.steps[0], args.seed, args.train_limit, args.name)
    elif args.command == "gpu-curve":
        gpu_curve(args.samples, args.train_limit, args.name, args.then)
    elif args.command == "cost":
        cost(args.steps, args.num)
    else:
        print(json.dumps(_cost_one(args.steps[0], args.num)))


if __name__ == "__main__":
    main()
