"""Graph generation benchmarks (community-small, planar, SBM, grid): train, evaluate, scale.

    python benchmarks/graphs/graphs_bench.py data  --dataset community-small
    python benchmarks/graphs/graphs_bench.py train --dataset community-small --minutes 40 --threads 1
    python benchmarks/graphs/graphs_bench.py export --dataset community-small   # after `graphdiff train CONFIG`
    python benchmarks/graphs/graphs_bench.py eval  --dataset community-small --seeds 3
    python benchmarks/graphs/graphs_bench.py scale --sizes 64 128 256 500
    python benchmarks/graphs/graphs_bench.py real-validity --threads 1
    python benchmarks/graphs/graphs_bench.py curve --names planar-absorbing-2k planar-absorbing-4k planar-dng \\
        --name planar-absorbing-curve

``data`` regenerates the dataset from its published recipe and split (seed 0) into
``runs/graphs/<dataset>/``. ``train`` trains ``benchmarks/graphs/configs/<dataset>.toml`` within a
wall-time budget and bundles the EMA weights into the social plugin as ``<dataset>-dng``.
``eval`` samples as many graphs as the test split holds (the GDSS / DiGress protocol), once per
seed, and writes MMD² (degree, clustering, orbit, spectral; the dataset's published kernel) and
V.U.N. with their mean and standard deviation over seeds beside the published anchors to
``benchmarks/graphs/results/<dataset>-dng.json`` / ``.png``, with a picture of generated and real graphs
in ``docs/images/``. ``scale`` times one reverse step and measures peak memory for graphs of
64 to 500 nodes (dense edge processes are O(n²)): ``benchmarks/graphs/results/graphs_sampling_scale``.
``real-validity`` runs the planar and SBM validity checks on the real graphs of every split (the
ceiling of V.U.N.) and times the structure features: ``benchmarks/graphs/results/graphs_real_validity``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, entries, newest, portable_meta, record, repo_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = Path(__file__).resolve().parent / "configs"
BUNDLES = {"social": ROOT / "plugins" / "graphdiff-social" / "graphdiff_social" / "checkpoints",
           "traffic": ROOT / "plugins" / "graphdiff-traffic" / "graphdiff_traffic" / "checkpoints"}
IMAGES = ROOT / "docs" / "images"

#: Published figures, with their source (MMD² as the papers print them).
ANCHORS = {
    "community-small": {"GDSS (Jo et al. 2022, Table 2)": {"degree": 0.045, "clustering": 0.086, "orbit": 0.007}},
    "planar": {"DiGress (Vignac et al. 2023, Table 3)": {"vun": 0.75},
               "DiGress released checkpoint (as reported by later work)": {"vun": 0.85}},
    "sbm": {"DiGress (Vignac et al. 2023, Table 3)": {"vun": 0.74}},
    "grid": {"GDSS (Jo et al. 2022, Table 2)": {"degree": 0.111, "clustering": 0.005, "orbit": 0.070}},
}


def data_dir(dataset: str) -> Path:
    return ROOT / "runs" / "graphs" / dataset


#: road networks of four block sizes (spacing in metres), 50 graphs each, 16-48 intersections
ROAD_SPACINGS = (60.0, 90.0, 120.0, 150.0)


def make_data(dataset: str, seed: int = 0) -> Path:
    out = data_dir(dataset)
    if (out / "train.jsonl").exists():
        return out
    if dataset == "roads":
        import random

        from graphdiff_traffic import TrafficDomain
        from graphdiff_traffic.generators import road_like_graphs

        graphs = [g for k, spacing in enumerate(ROAD_SPACINGS)
                  for g in road_like_graphs(50, seed + k, spacing=spacing, min_nodes=16, max_nodes=48)]
        random.Random(seed).shuffle(graphs)
        out.mkdir(parents=True, exist_ok=True)
        TrafficDomain().write(graphs[:160], out / "train.jsonl")
        TrafficDomain().write(graphs[160:], out / "test.jsonl")
        return out
    from graphdiff_social.datasets import write_dataset

    write_dataset(dataset, out, seed=seed)
    return out


def domain_of(dataset: str) -> str:
    return "traffic" if dataset == "roads" else "social"


def train(dataset: str, minutes: float, config: str | None = None) -> Path:
    from graphdiff.config import load_config
    from graphdiff.runner import train as run_train

    make_data(dataset)
    cfg = load_config(CONFIGS / f"{config or dataset}.toml")
    cfg.training.max_minutes = minutes
    t0 = time.perf_counter()
    run_train(cfg, progress=False)
    used = (time.perf_counter() - t0) / 60
    return export(dataset, cfg.training.out_dir, minutes, round(used, 1), config=config)


def export(dataset: str, out_dir: str, minutes: float, minutes_used: float, config: str | None = None) -> Path:
    from graphdiff.model import export_checkpoint, read_checkpoint

    src = Path(out_dir) / "last.ckpt"
    step = int(read_checkpoint(src)["step"])
    name = f"{dataset}-dng"
    BUNDLE = BUNDLES[domain_of(dataset)]
    meta = {"name": name, "task": "dng", "dataset": dataset, "steps": step, "train_minutes": minutes_used,
            "made_by": f"python benchmarks/graphs/graphs_bench.py train --dataset {dataset} --minutes {minutes}"
                       + (f" --config {config}" if config else "")}
    BUNDLE.mkdir(parents=True, exist_ok=True)
    dst = export_checkpoint(src, BUNDLE / f"{name}.ckpt", meta=meta)
    manifest = BUNDLE / f"{name}.json"
    old = json.loads(manifest.read_text()) if manifest.exists() else {}
    manifest.write_text(json.dumps({
        "task": "dng", "dataset": dataset,
        "trained_on": f"{dataset} training split (benchmarks/graphs/graphs_bench.py data, seed 0): {step} steps, "
                      f"{minutes_used} min on a 2-core CPU",
        "figures": old.get("figures", {}), "made_by": meta["made_by"],
        "evaluated_by": old.get("evaluated_by", "")}, indent=2))
    print(f"exported {dst} ({dst.stat().st_size / 1e6:.1f} MB) after {step} steps")
    return dst


def _graphs(domain, path: Path) -> list:
    return [r["obj"] for r in domain.read(path)]


def _drawn(samples: Path) -> tuple[list[list], float, int, dict]:
    """The final model's graphs in a ``benchmarks/gpu_runs.py sample`` file, one list per seed:
    ``(per_seed, seconds, steps, meta)``."""
    from torch_geometric.data import Data

    entries = [e for e in torch.load(samples) if e["label"] == "last"]
    if not entries:
        raise SystemExit(f"{samples}: holds no graphs of a final checkpoint")
    per_seed = [[Data(**{k: (v.long() if not v.is_floating_point() else v) if torch.is_tensor(v) else v
                         for k, v in g.items()}) for g in e["graphs"]] for e in entries]
    meta = {k: entries[0][k] for k in ("checkpoint", "step", "train_minutes", "max_minutes", "device_name")}
    return per_seed, sum(e["seconds"] for e in entries), entries[0]["steps"], meta


def evaluate(dataset: str, seeds: int, steps: int | None, samples: Path | None = None,
             name: str | None = None, checkpoint: str | None = None, constraint: str | None = None) -> dict:
    """Score the bundled ``<dataset>-dng`` (sampled here, ``seeds`` times), or the graphs a GPU
    run drew (``samples``: a ``benchmarks/gpu_runs.py sample`` file; written to ``<name>.json``
    and leaving the bundle's manifest alone). ``checkpoint`` scores another model (results in
    ``<name>.json``, the bundle's manifest left alone unless ``name`` is the bundle's);
    ``constraint`` overrides the model's edge constraint (a registered name, or ``none``)."""
    from graphdiff.metrics import graph_metrics
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs

    bundled = f"{dataset}-dng"
    name = name or bundled
    BUNDLE = BUNDLES[domain_of(dataset)]
    if (checkpoint is not None and name == bundled
            and Path(checkpoint).resolve() != (BUNDLE / f"{bundled}.ckpt").resolve()):
        raise SystemExit("eval --checkpoint: give --name for the results of a model that is not the bundle")
    domain = get_manager().get("domains", domain_of(dataset))
    folder = make_data(dataset)
    run = Run(seeds=list(range(seeds)) if samples is None else {"drawn_on_device": "see the samples file"},
              data=[folder / "test.jsonl", folder / "train.jsonl", samples,
                    None if samples is not None else (checkpoint or BUNDLE / f"{bundled}.ckpt")])
    test = _graphs(domain, folder / "test.jsonl")
    train_graphs = _graphs(domain, folder / "train.jsonl")
    if samples is not None:
        drawn, seconds, steps, meta = _drawn(samples)
        seeds, model, sampler = len(drawn), None, "ancestral"
    else:
        model, cfg, meta = load_model(checkpoint or BUNDLE / f"{bundled}.ckpt")
        steps, sampler, seconds = steps or cfg.sampling.steps, cfg.sampling.sampler, 0.0
    runs, generated, check = [], [], None
    for seed in range(seeds):
        if samples is not None:
            out = drawn[seed]
        else:
            t0 = time.perf_counter()
            extra = {} if constraint is None else {"constraint": constraint}  # "none" switches the model's off
            out = [g for chunk in sample_graphs(model, len(test), steps=steps, sampler=sampler,
                                                seed=seed, batch_size=256, **extra) for g in chunk]
            seconds += time.perf_counter() - t0
        gen = [domain.from_graph(g) for g in out]
        generated.append(gen)
        m = graph_metrics(gen, test, train=train_graphs,
                          dataset=dataset if dataset in ANCHORS or dataset == "roads" else None,
                          kernel=None if dataset in ANCHORS else "gdss")
        check = m["validity_check"]
        runs.append({"seed": seed, "mmd": m["mmd"], "validity": m["validity"], "uniqueness": m["uniqueness"],
                     "novelty": m["novelty"], "vun": m["vun"], "kernel": m.get("kernel")})
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in m["mmd"].items())
              + f"; V.U.N. {m['vun']}")
    summary = {}
    for key in runs[0]["mmd"]:
        vals = [r["mmd"][key] for r in runs]
        summary[key] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals)}
    for key in ("validity", "uniqueness", "novelty", "vun"):
        vals = [r[key] for r in runs if r[key] is not None]
        summary[key] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals)} if vals else None
    result = {
        "dataset": dataset, "checkpoint": name, "num_test": len(test), "num_train": len(train_graphs),
        "samples_per_seed": len(generated[0]), "seeds": seeds, "steps": steps, "sampler": sampler,
        "train_meta": portable_meta(meta), "summary": summary, "validity_check": check, "runs": runs,
        "anchors": ANCHORS.get(dataset, {}),
        "sampling_seconds_per_graph": seconds / sum(len(g) for g in generated),
        "threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "command": f"python benchmarks/graphs/graphs_bench.py eval --dataset {dataset} --seeds {seeds}"
                   + (f" --steps {steps}" if samples is None and steps != cfg.sampling.steps else "")
                   + (f" --checkpoint {checkpoint}" if checkpoint else "")
                   + (f" --constraint {constraint}" if constraint else "")
                   + (f" --name {name}" if name != bundled else ""),
    }
    if model is not None:
        used = model.constraint if constraint is None else constraint
        result["constraint"] = getattr(used, "name", used)
        result["edge_prior"] = {n: getattr(p, "prior_kind", None) for n, p in model.processes.items()}
    key = {"action": "eval", "dataset": dataset, "seeds": seeds, "steps": steps, "sampler": sampler,
           "checkpoint": (checkpoint if checkpoint is not None else bundled) if samples is None else None,
           "samples": repo_path(samples) if samples is not None else None, "constraint": constraint}
    if samples is not None:
        result["sampled_on"] = meta["device_name"]
        result["command"] = (f"python benchmarks/graphs/graphs_bench.py eval --dataset {dataset} --samples {samples}"
                             f" --name {name}")
        record(RESULTS / f"{name}.json", key, result, run)
        _plot_mmd(name, summary, ANCHORS.get(dataset, {}))
        return result
    if model.condition:
        result["conditional"] = conditional(model, cfg, domain, seeds=seeds, steps=steps, n=len(test),
                                            values=_condition_values(dataset, test), constraint=constraint)
    record(RESULTS / f"{name}.json", key, result, run)
    _plot_mmd(name, summary, ANCHORS.get(dataset, {}))
    if name != bundled:
        return result
    _picture(dataset, generated[0], test)
    manifest = BUNDLE / f"{name}.json"
    info = json.loads(manifest.read_text())
    info["figures"] = {**{f"mmd_{k}": round(summary[k]["mean"], 4) for k in runs[0]["mmd"]},
                       **({"vun": round(summary["vun"]["mean"], 4)} if summary["vun"] else {}),
                       "uniqueness": round(summary["uniqueness"]["mean"], 4),
                       "novelty": round(summary["novelty"]["mean"], 4)}
    info["evaluated_by"] = result["command"]
    manifest.write_text(json.dumps(info, indent=2))
    return result


def real_validity(repeats: int = 20) -> dict:
    """The validity checks on the real graphs (planar and SBM, every split): what share of the
    data itself passes, i.e. the ceiling of V.U.N.'s validity; and the cost of the structure
    features on one planar batch (16 graphs of 64 nodes), median of ``repeats`` runs."""
    from graphdiff.metrics.vun import validity_function
    from graphdiff.nn.structure import structure_features
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "social")
    run = Run(data=[make_data(d) for d in ("planar", "sbm")])
    result = {"datasets": {}}
    for dataset in ("planar", "sbm"):
        fn, note = validity_function(dataset)
        folder = make_data(dataset)
        rows = {}
        for split in ("train", "val", "test"):
            graphs = _graphs(domain, folder / f"{split}.jsonl")
            t0 = time.perf_counter()
            passed = sum(bool(fn(g)) for g in graphs)
            rows[split] = {"graphs": len(graphs), "valid": passed, "share": passed / len(graphs),
                           "seconds_per_graph": (time.perf_counter() - t0) / len(graphs)}
            print(f"{dataset} {split}: {passed} / {len(graphs)} valid")
        result["datasets"][dataset] = {"validity_check": note, "splits": rows}
    import networkx as nx

    graphs = _graphs(domain, make_data("planar") / "train.jsonl")[:16]
    adj = torch.stack([torch.tensor(nx.to_numpy_array(g, nodelist=sorted(g.nodes)), dtype=torch.float32)
                       for g in graphs])
    mask = torch.ones(adj.shape[:2], dtype=torch.bool)
    times = []
    for _ in range(repeats + 2):
        t0 = time.perf_counter()
        structure_features(adj, mask)
        times.append(time.perf_counter() - t0)
    result["structure_features"] = {"batch": "16 planar graphs of 64 nodes", "repeats": repeats,
                                    "median_ms": 1000 * statistics.median(times[2:]),
                                    "threads": torch.get_num_threads()}
    result["command"] = "python benchmarks/graphs/graphs_bench.py real-validity --threads 1"
    key = {"action": "real-validity", "repeats": repeats, "threads": torch.get_num_threads()}
    record(RESULTS / "graphs_real_validity.json", key, result, run)
    print(f"structure features: {result['structure_features']['median_ms']:.1f} ms per batch")
    return result


def curve(names: list[str], out: str) -> dict:
    """MMD² and V.U.N. against training steps, from ``eval`` results of snapshots of one run
    (``benchmarks/graphs/results/<name>.json``, each with ``checkpoint_step`` or its checkpoint's
    ``steps``): ``benchmarks/graphs/results/<out>.json`` / ``.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Run(data=[RESULTS / f"{name}.json" for name in names])
    points = []
    for name in names:
        r = newest(entries(RESULTS / f"{name}.json"))
        if r is None:
            raise SystemExit(f"{name}.json: no results recorded")
        step = r.get("checkpoint_step") or (r.get("train_meta") or {}).get("steps")
        if step is None:
            raise SystemExit(f"{name}.json names no training step")
        points.append({"name": name, "step": int(step), "seeds": r["seeds"],
                       **{k: v["mean"] for k, v in r["summary"].items() if v}})
    points.sort(key=lambda p: p["step"])
    keys = [k for k in ("degree", "clustering", "orbit", "spectral") if k in points[0]]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.5))
    for k in keys:
        ax.plot([p["step"] for p in points], [p[k] for p in points], "o-", label=k)
    ax.set_yscale("log")
    ax.set_xlabel("training steps")
    ax.set_ylabel("MMD² (lower is better)")
    ax.legend(fontsize=8)
    bx.plot([p["step"] for p in points], [100 * p["vun"] for p in points], "o-")
    bx.set_ylim(0, 105)
    bx.set_xlabel("training steps")
    bx.set_ylabel("V.U.N. (%)")
    fig.suptitle(out)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / f"{out}.png", dpi=120)
    result = {"points": points,
              "command": f"python benchmarks/graphs/graphs_bench.py curve --names {' '.join(names)} --name {out}"}
    record(RESULTS / f"{out}.json", {"action": "curve", "names": list(names)}, result, run)
    return result


def real_mmd(dataset: str, seed: int = 0) -> dict:
    """The floor of the MMDs: as many training graphs as the test split holds (a seeded draw),
    scored against the test split exactly as generated graphs are."""
    import random

    from graphdiff.metrics import graph_metrics
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", domain_of(dataset))
    folder = make_data(dataset)
    run = Run(seeds={"draw": seed}, data=[folder / "test.jsonl", folder / "train.jsonl"])
    test = _graphs(domain, folder / "test.jsonl")
    train_graphs = _graphs(domain, folder / "train.jsonl")
    drawn = random.Random(seed).sample(train_graphs, min(len(test), len(train_graphs)))
    m = graph_metrics(drawn, test, dataset=dataset if dataset in ANCHORS or dataset == "roads" else None,
                      kernel=None if dataset in ANCHORS else "gdss")
    result = {"dataset": dataset, "what": f"{len(drawn)} training graphs (random.Random({seed}).sample) "
                                          f"against the {len(test)} test graphs",
              "mmd": m["mmd"], "kernel": m.get("kernel"), "validity": m["validity"],
              "validity_check": m["validity_check"],
              "command": f"python benchmarks/graphs/graphs_bench.py real-mmd --dataset {dataset}"}
    record(RESULTS / f"{dataset}-real-mmd.json", {"action": "real-mmd", "dataset": dataset, "seed": seed}, result, run)
    print(json.dumps(result["mmd"]))
    return result


def _condition_values(dataset: str, test: list) -> list[float]:
    """Requested values: the 10th and 90th percentiles of the condition on the test split."""
    import numpy as np

    from graphdiff.plugins import get_manager

    registry = get_manager().registry("targets")
    name = "traffic-mean_edge_length" if dataset == "roads" else None
    if name is None:
        return []
    vals = np.array([registry.get(name)(g) for g in test])
    return [float(np.percentile(vals, 10)), float(np.percentile(vals, 90))]


def conditional(model, cfg, domain, *, seeds: int, steps: int, n: int, values: list[float],
                constraint: str | None = None) -> dict:
    """Sample ``n`` graphs per requested value of the model's condition (classifier-free
    guidance, the config's scale), score them with the target itself: mean and spread of the
    achieved values, and the mean absolute distance to the request. ``constraint`` as in ``eval``
    (``None``: the model's own)."""
    import numpy as np

    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs

    (cname,) = model.condition
    target = get_manager().registry("targets").get(cname)
    out = {"condition": cname, "guidance_scale": cfg.sampling.guidance_scale, "requests": []}
    for value in values:
        achieved = []
        for seed in range(seeds):
            extra = {} if constraint is None else {"constraint": constraint}
            graphs = [g for chunk in sample_graphs(model, n, steps=steps, seed=100 + seed, cond={cname: value},
                                                   guidance_scale=cfg.sampling.guidance_scale, **extra)
                      for g in chunk]
            for g in graphs:
                try:
                    achieved.append(float(target(domain.from_graph(g))))
                except Exception:  # noqa: BLE001 - a graph the target cannot score is counted
                    achieved.append(float("nan"))
        a = np.array(achieved)
        ok = a[np.isfinite(a)]
        out["requests"].append({"requested": value, "n": len(a), "scored": int(len(ok)),
                                "mean": float(ok.mean()) if len(ok) else None,
                                "std": float(ok.std()) if len(ok) else None,
                                "mae_to_request": float(np.abs(ok - value).mean()) if len(ok) else None})
        print(f"{cname} = {value:.1f}: achieved {ok.mean():.1f} ± {ok.std():.1f} (n = {len(ok)})")
    return out


def _plot_mmd(name: str, summary: dict, anchors: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("degree", "clustering", "orbit", "spectral") if k in summary]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    x = range(len(keys))
    ax.bar([i - 0.2 for i in x], [summary[k]["mean"] for k in keys], 0.4,
           yerr=[summary[k]["std"] for k in keys], label="graphdiff")
    for label, vals in anchors.items():
        if any(k in vals for k in keys):
            ax.bar([i + 0.2 for i in x], [vals.get(k, 0) for k in keys], 0.4, label=label)
    ax.set_xticks(list(x), keys)
    ax.set_ylabel("MMD² (lower is better)")
    ax.set_title(name)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def _picture(dataset: str, generated: list, real: list, n: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    fig, axes = plt.subplots(2, n, figsize=(2 * n, 4.2))
    for row, (label, graphs) in enumerate((("generated", generated), ("test split", real))):
        for i, ax in enumerate(axes[row]):
            ax.axis("off")
            if i >= len(graphs):
                continue
            g = graphs[i]
            if all("x" in d and "y" in d for _, d in g.nodes(data=True)):  # road networks: their map
                pos = {v: (d["x"], d["y"]) for v, d in g.nodes(data=True)}
                ax.set_aspect("equal")
            else:
                pos = nx.spring_layout(g, seed=0)
            nx.draw_networkx(g, pos, ax=ax, node_size=12, with_labels=False, width=0.5,
                             node_color="tab:blue" if row == 0 else "tab:green")
            ax.set_title(f"{label}: {g.number_of_nodes()} nodes", fontsize=8)
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / f"graphs_{dataset}.png", dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------ sampling time against size
def _one_size(n: int, steps: int, hidden: int, layers: int) -> dict:
    """Time ``steps`` reverse steps for one graph of ``n`` nodes (untrained weights: the cost
    does not depend on them); peak RSS of this process."""
    from graphdiff.config import RunConfig
    from graphdiff.model import build_model
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "social")
    cfg = RunConfig.model_validate({"data": {"domain": "social"},
                                    "model": {"hidden": hidden, "layers": layers}})
    model = build_model(cfg, domain)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.sample(num_nodes=[n], steps=2, generator=gen)  # warm-up
        t0 = time.perf_counter()
        model.sample(num_nodes=[n], steps=steps, generator=gen)
        dt = time.perf_counter() - t0
    return {"nodes": n, "seconds_per_step": dt / steps,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def scale(sizes: list[int], steps: int, hidden: int, layers: int, sampling_steps: int) -> dict:
    run = Run(seeds={"weights_and_noise": 0})
    rows = []
    for n in sizes:  # one process per size: peak memory is per size
        out = subprocess.run([sys.executable, __file__, "_one", "--n", str(n), "--steps", str(steps),
                              "--hidden", str(hidden), "--layers", str(layers)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["seconds_per_graph"] = row["seconds_per_step"] * sampling_steps
        rows.append(row)
        print(f"n={n}: {row['seconds_per_step'] * 1e3:.1f} ms/step, {row['seconds_per_graph']:.1f} s/graph "
              f"({sampling_steps} steps), peak {row['peak_rss_mb']:.0f} MB")
    # fitted exponent of time against n (log-log slope over the two largest sizes)
    import math

    slope = None
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        slope = math.log(b["seconds_per_step"] / a["seconds_per_step"]) / math.log(b["nodes"] / a["nodes"])
    result = {"domain": "social", "model": {"hidden": hidden, "layers": layers}, "timed_steps": steps,
              "sampling_steps": sampling_steps, "threads": torch.get_num_threads(), "rows": rows,
              "loglog_slope_last_two": slope,
              "command": f"python benchmarks/graphs/graphs_bench.py scale --sizes {' '.join(map(str, sizes))}"
                         f" --steps {steps}"}
    key = {"action": "scale", "sizes": list(sizes), "steps": steps, "hidden": hidden, "layers": layers,
           "sampling_steps": sampling_steps, "threads": torch.get_num_threads()}
    record(RESULTS / "graphs_sampling_scale.json", key, result, run)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax1 = plt.subplots(figsize=(5.5, 3.5))
    ns = [r["nodes"] for r in rows]
    ax1.loglog(ns, [r["seconds_per_graph"] for r in rows], "o-", label=f"s per graph ({sampling_steps} steps)")
    ax1.set_xlabel("nodes")
    ax1.set_ylabel("seconds per graph")
    ax2 = ax1.twinx()
    ax2.plot(ns, [r["peak_rss_mb"] for r in rows], "s--", color="tab:red", label="peak RSS (MB)")
    ax2.set_ylabel("peak RSS (MB)")
    ax1.set_title("dense edge diffusion: sampling cost against size")
    fig.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "graphs_sampling_scale.png", dpi=110)
    plt.close(fig)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["data", "train", "export", "eval", "curve", "scale", "real-validity",
                                        "real-mmd", "_one"])
    ap.add_argument("--dataset", default="community-small")
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 500])
    ap.add_argument("--sampling-steps", type=int, default=500)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--samples", type=Path, default=None,
                    help="eval: score the graphs of a `benchmarks/gpu_runs.py sample` file instead of sampling")
    ap.add_argument("--name", default=None, help="eval --samples / --checkpoint: the results file's name")
    ap.add_argument("--config", default=None,
                    help="train: benchmarks/graphs/configs/CONFIG.toml (default: the dataset's)")
    ap.add_argument("--names", nargs="+", default=[], help="curve: eval results of one run's snapshots")
    ap.add_argument("--checkpoint", default=None, help="eval: score this model instead of the bundled one")
    ap.add_argument("--constraint", default=None, help="eval: edge constraint while sampling (a registered "
                                                       "name, or none; default: the model's own)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "data":
        print(make_data(args.dataset))
    elif args.command == "train":
        train(args.dataset, args.minutes, config=args.config)
    elif args.command == "export":  # a run made with `graphdiff train benchmarks/graphs/configs/<dataset>.toml`
        from graphdiff.config import load_config
        from graphdiff.model import read_checkpoint

        cfg = load_config(CONFIGS / f"{args.config or args.dataset}.toml")
        used = json.loads(read_checkpoint(Path(cfg.training.out_dir) / "last.ckpt")["config"])
        export(args.dataset, cfg.training.out_dir, used["training"]["max_minutes"],
               used["training"]["max_minutes"], config=args.config)
    elif args.command == "real-mmd":
        real_mmd(args.dataset)
    elif args.command == "eval":
        evaluate(args.dataset, args.seeds, args.steps, samples=args.samples, name=args.name,
                 checkpoint=args.checkpoint, constraint=args.constraint)
    elif args.command == "curve":
        curve(args.names, args.name or f"{args.dataset}-curve")
    elif args.command == "real-validity":
        real_validity()
    elif args.command == "scale":
        scale(args.sizes, args.steps or 5, args.hidden, args.layers, args.sampling_steps)
    else:
        print(json.dumps(_one_size(args.n, args.steps or 5, args.hidden, args.layers)))


if __name__ == "__main__":
    main()
