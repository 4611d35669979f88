"""Crystal structure prediction on a CDVAE benchmark: split, train, export, evaluate.

    python benchmarks/crystals/crystals_csp.py split --dataset perov_5
    python benchmarks/crystals/crystals_csp.py train --dataset perov_5 --minutes 45 --name perov5-csp
    python benchmarks/crystals/crystals_csp.py eval  --dataset perov_5 --name perov5-csp --k 2 --draws 4
    python benchmarks/crystals/crystals_csp.py select-draws --dataset perov_5 --name perov5-csp --k 2
    python benchmarks/crystals/crystals_csp.py train --dataset carbon_24 --task dng --minutes 58 --name carbon24-dng
    python benchmarks/crystals/crystals_csp.py eval  --dataset carbon_24 --name carbon24-dng --k 20 --limit 100
    python benchmarks/crystals/crystals_csp.py dng   --dataset carbon_24 --name carbon24-dng --num 1000
    python benchmarks/crystals/crystals_csp.py eval  --dataset carbon_24 --baselines-only --baseline frequency \
        --k 10 --limit 100
    python benchmarks/crystals/crystals_csp.py train --dataset perov_5 --task dng --condition heat_ref \\
        --minutes 60 --name perov5-dng

``split`` holds out 20 % of ``../shared/data/<dataset>/val.csv`` (seeded) into
``runs/<dataset>/{train,test}.csv``; ``train`` trains the CSP model (atom types given) within a
wall-time budget and exports the EMA weights as a model-only checkpoint into the crystals
plugin; ``eval`` samples ``k`` structures per held-out row and writes the CDVAE match rate and
RMSE at each ``k' <= k`` with throughput and peak memory to ``benchmarks/crystals/results/<name>.json``;
``select-draws`` chooses the draws per row on the validation rows (``eval --rows-from val`` at
4, 10 and 20 draws, seed 100; :data:`DRAWS_RULE`), never on the test rows;
``eval --baselines-only`` scores the no-model baselines alone on the first ``--limit`` held-out rows
(``benchmarks/crystals/results/csp-<baseline>-baseline.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, entries, in_file, latest, portable_meta, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
BUNDLE = ROOT / "plugins" / "graphdiff-crystals" / "graphdiff_crystals" / "checkpoints"
#: share of the training split that training holds out for validation (with data.split_seed 0)
VAL_FRACTION = 0.05

MODEL = {
    "perov_5": {"hidden": 128, "layers": 4, "num_freqs": 32, "batch_size": 64, "lr": 1e-3},
    "carbon_24": {"hidden": 128, "layers": 4, "num_freqs": 32, "batch_size": 32, "lr": 1e-3},
}


def split(dataset: str, seed: int = 0, test_fraction: float = 0.2) -> tuple[Path, Path]:
    src = SHARED / dataset / "val.csv"
    out = ROOT / "runs" / dataset
    out.mkdir(parents=True, exist_ok=True)
    csv.field_size_limit(sys.maxsize)
    with src.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = int(round(test_fraction * len(rows)))
    parts = {"test": [rows[i] for i in perm[:n_test]], "train": [rows[i] for i in perm[n_test:]]}
    for name, part in parts.items():
        with (out / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(part)
    val_split(out)
    print(f"{dataset}: {len(parts['train'])} train / {len(parts['test'])} test rows -> {out}")
    return out / "train.csv", out / "test.csv"


def val_split(folder: Path) -> Path:
    """``folder/val.csv``: the rows of ``folder/train.csv`` that training holds out for
    validation (``data.val_fraction`` VAL_FRACTION, ``data.split_seed`` 0, as ``train`` sets
    them). Sampler and ranking settings are chosen on these rows, never on the test rows."""
    from graphdiff.data import split_indices

    csv.field_size_limit(sys.maxsize)
    with (folder / "train.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    _, val_idx = split_indices(len(rows), VAL_FRACTION, 0)
    with (folder / "val.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows[i] for i in val_idx)
    return folder / "val.csv"


def train(dataset: str, name: str, minutes: float, max_steps: int, seed: int, task: str = "csp",
          condition: Sequence[str] = (), elements: bool = False) -> Path:
    from graphdiff.config import RunConfig
    from graphdiff.runner import train as run_train

    train_csv = ROOT / "runs" / dataset / "train.csv"
    if not train_csv.exists():
        split(dataset)
    m = MODEL[dataset]
    cfg = RunConfig.model_validate({
        "data": {"domain": "crystals", "source": str(train_csv), "val_fraction": VAL_FRACTION,
                 "batch_size": m["batch_size"]},
        "model": {"denoiser": "periodic", "hidden": m["hidden"], "layers": m["layers"],
                  "options": {"num_freqs": m["num_freqs"],
                              **({"class_features": {"atom_types": "elements"}} if elements else {})}},
        "diffusion": {"given": ["atom_types"] if task == "csp" else [], "condition": list(condition)},
        "training": {"max_steps": max_steps, "max_minutes": minutes, "lr": m["lr"], "seed": seed,
                     "warmup_steps": 200, "ema_decay": 0.999, "val_every": 500, "log_every": 50,
                     "checkpoint_every": 500, "out_dir": str(ROOT / "runs" / name)},
        "sampling": {"steps": 500, "sampler": "ancestral", "corrector_steps": 0},
    })
    t0 = time.perf_counter()
    trainer, ckpt = run_train(cfg, progress=False)
    minutes_used = (time.perf_counter() - t0) / 60
    return export(dataset, name, minutes, round(minutes_used, 1), task=task, condition=condition,
                  elements=elements)


def export(dataset: str, name: str, minutes: float, minutes_used: float | None = None,
           task: str = "csp", condition: Sequence[str] = (), elements: bool = False) -> Path:
    """Bundle the EMA weights of ``runs/<name>/last.ckpt`` with the split's held-out ids."""
    from graphdiff.model import export_checkpoint, read_checkpoint

    src = ROOT / "runs" / name / "last.ckpt"
    step = int(read_checkpoint(src)["step"])
    with (ROOT / "runs" / dataset / "test.csv").open(newline="") as fh:
        csv.field_size_limit(sys.maxsize)
        test_ids = [row.get("material_id") or row.get("") for row in csv.DictReader(fh)]
    BUNDLE.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "task": task, "dataset": dataset, "steps": step, "test_ids": test_ids,
            "split": "seeded 80/20 of ../shared/data/%s/val.csv (benchmarks/crystals/crystals_csp.py split)" % dataset,
            "made_by": f"python benchmarks/crystals/crystals_csp.py train --dataset {dataset} --minutes {minutes} "
                       f"--name {name} --task {task}" + "".join(f" --condition {c}" for c in condition)
                       + (" --elements" if elements else "")}
    if minutes_used is not None:
        meta["train_minutes"] = minutes_used
    dst = export_checkpoint(src, BUNDLE / f"{name}.ckpt", meta=meta)
    print(f"exported {dst} ({dst.stat().st_size / 1e6:.1f} MB) after {step} steps")
    manifest(dataset, name)
    return dst


def _csp_entries(name: str) -> list[dict]:
    """The CSP evaluations of ``name`` recorded so far (``benchmarks/crystals/results/<name>.json``)."""
    return entries(RESULTS / f"{name}.json")


def manifest(dataset: str, name: str, meta: dict | None = None) -> None:
    """(Re)write the bundled checkpoint's manifest from its metadata (read from the checkpoint
    when not given) and the results files, so that ``graphdiff checkpoints`` lists it and
    ``--checkpoint NAME`` finds it."""
    from graphdiff.model import read_checkpoint

    if meta is None:
        meta = json.loads(read_checkpoint(BUNDLE / f"{name}.ckpt").get("meta") or "{}")
    write_manifest(name, dataset, meta, _csp_entries(name))


def _records(domain, path: Path, limit: int | None = None) -> list:
    recs = list(domain.read(path))
    return recs[:limit] if limit else recs


def evaluate(dataset: str, name: str, k: int, limit: int | None, steps: int | None, seed: int,
             draws: int | None = None, baselines: bool = True, max_draws: int | None = None,
             corrector_steps: int | None = None, first_draw: bool = False, rank_by: str | None = None,
             rows_from: str = "test") -> dict:
    """CSP on the held-out rows: ``k`` distinct candidates per row, ranked by the share of
    ``draws`` samples (graphdiff.candidates) or, with ``rank_by``, by a registered target as
    ``graphdiff sample --rank-by`` ranks them, scored at k' in {1, 2, k}; the three baselines
    (retrieval, substitution, frequency) beside. ``rows_from="val"``: the validation rows
    instead (``runs/<dataset>/val.csv``, held out by training), where settings are chosen; such
    an entry is keyed ``rows_from: val`` and never stands for the checkpoint."""
    from graphdiff.candidates import distinct_candidates
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import template_sampler
    from graphdiff_crystals.metrics import match_rate

    if rows_from not in ROWS_FROM:
        raise SystemExit(f"rows_from {rows_from!r}: one of {', '.join(ROWS_FROM)}")
    test_csv = ROOT / "runs" / dataset / f"{rows_from}.csv"
    if not test_csv.exists():
        split(dataset)
    ckpt = BUNDLE / f"{name}.ckpt"
    run = Run(seeds={"seed": seed}, data=[test_csv, ckpt])
    model, cfg, meta = load_model(ckpt)
    manager = get_manager()
    domain = manager.get("domains", "crystals")
    records = _records(domain, test_csv, limit)
    refs = [r["obj"] for r in records]
    rows = [domain.record_to_graph(r) for r in records]
    inpaint = [] if model.given else ["atom_types"]  # a de novo model holds the composition
    steps = steps or cfg.sampling.steps
    draws = max(draws or k, k)
    max_draws = max(max_draws or 2 * k, draws)
    corrector = cfg.sampling.corrector_steps if corrector_steps is None else corrector_steps
    sample = template_sampler(model, seed=seed, steps=steps, sampler=cfg.sampling.sampler, batch_size=512,
                              inpaint=inpaint, corrector_steps=corrector)
    t0 = time.perf_counter()
    ranking = None
    if rank_by:
        from graphdiff.api import TargetRanking

        ranking = TargetRanking.parse(rank_by, domain)
    ranked = [cs for _, cs in distinct_candidates(sample, rows, k, domain, draws=draws, max_draws=max_draws,
                                                  rows_per_round=max(1, 512 // draws), medoids=not first_draw,
                                                  score=ranking.score if ranking else None)]
    seconds = time.perf_counter() - t0
    cands = [[domain.from_graph(c.graph) for c in cs] for cs in ranked]
    drawn = sum(cs[0].draws for cs in ranked)
    result = {"dataset": dataset, "checkpoint": name, "num_test": len(refs), "rows_from": rows_from, "steps": steps,
              "sampler": cfg.sampling.sampler, "corrector_steps": corrector, "k": k, "draws_per_row": draws,
              "candidates": ("distinct (StructureMatcher), ranked by share of draws, each class represented by "
                             + ("its first draw" if first_draw else "its medoid (CrystalDomain.distance)")
                             if ranking is None else
                             f"distinct (StructureMatcher), ranked by {rank_by} as graphdiff sample --rank-by "
                             f"{rank_by} ranks them, each class represented by its best-scoring draw"),
              **({"rank_by": rank_by, "unscored_draws": ranking.failures} if ranking else {}),
              "train_meta": portable_meta(meta),
              "samples_drawn": drawn,
              "sampling_structures_per_s": drawn / seconds,
              "seconds_with_grouping": round(seconds, 1),
              "threads": torch.get_num_threads(),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "metrics": {}, "baselines": {}}
    ks = sorted({1, min(2, k), k})
    for kk in ks:
        m = match_rate(cands, refs, k=kk)
        result["metrics"][f"k={kk}"] = {"match_rate": m["match_rate"], "rmse": m["rmse"]}
        print(f"{name} k={kk}: match rate {100 * m['match_rate']:.1f} %, RMSE {m['rmse']}")
    if baselines:
        run.add_data(ROOT / "runs" / dataset / "train.csv")
        train_recs = _records(domain, ROOT / "runs" / dataset / "train.csv")
        result["baselines"] = _baselines(manager, records, train_recs, BASELINES, k, ks, seed)[0]
    result["command"] = (f"python benchmarks/crystals/crystals_csp.py eval --dataset {dataset} --name {name} --k {k}"
                         + (f" --draws {draws}" if draws != k else "")
                         + (f" --max-draws {max_draws}" if max_draws != max(2 * k, draws) else "")
                         + (f" --limit {limit}" if limit else "")
                         + (f" --rows-from {rows_from}" if rows_from != "test" else "")
                         + (f" --steps {steps}" if steps != cfg.sampling.steps else "")
                         + (f" --corrector-steps {corrector}" if corrector != cfg.sampling.corrector_steps else "")
                         + (" --first-draw" if first_draw else "")
                         + (f" --rank-by {rank_by}" if rank_by else ""))
    result["checkpoint_settings"] = (steps == cfg.sampling.steps and corrector == cfg.sampling.corrector_steps
                                     and not first_draw and not rank_by)
    key = {"action": "eval", "dataset": dataset, "checkpoint": name, "rows": len(refs), "k": k, "draws": draws,
           "max_draws": max_draws, "steps": steps, "sampler": cfg.sampling.sampler, "corrector_steps": corrector,
           "first_draw": first_draw, "rank_by": rank_by, "seed": seed, "baselines": baselines,
           **({"rows_from": rows_from} if rows_from != "test" else {})}  # test entries keep their keys
    record(RESULTS / f"{name}.json", key, result, run)
    recorded = _csp_entries(name)
    write_manifest(name, dataset, meta, recorded)
    plot_results(name, recorded)
    return result


ROWS_FROM = ("test", "val")
#: select-draws: the draws per row chosen among, the seed of the validation draws, and the rule
DRAWS_CHOICES = (4, 10, 20)
SELECTION_SEED = 100
DRAWS_RULE = "the fewest draws per row whose k = 2 match rate on the validation rows is within one row of the best"


def choose_draws(by_draws: dict[int, dict], rows: int) -> int:
    """The draws per row that :data:`DRAWS_RULE` picks from ``{draws: metrics}`` (``metrics``:
    ``{"k=2": {"match_rate"}, ...}``) measured on ``rows`` validation rows."""
    if not by_draws:
        raise ValueError("choose_draws: no candidates")
    best = max(m["k=2"]["match_rate"] for m in by_draws.values())
    return min(d for d, m in by_draws.items() if m["k=2"]["match_rate"] >= best - 1 / rows - 1e-12)


def select_draws(dataset: str, name: str, k: int, choices: Sequence[int] = DRAWS_CHOICES,
                 seed: int = SELECTION_SEED) -> dict:
    """``eval --rows-from val`` at each of ``choices`` draws per row (seed ``seed``), then the
    draws :func:`choose_draws` picks, recorded as an entry of its own (``action: select-draws``)
    beside the validation entries it read. The test rows are not read."""
    run = Run(seeds={"seed": seed}, data=[ROOT / "runs" / dataset / "val.csv"])  # timed from here
    by_draws = {}
    for d in choices:
        res = evaluate(dataset, name, k, None, None, seed, draws=d, baselines=False, rows_from="val")
        by_draws[d] = res["metrics"]
    rows = res["num_test"]
    chosen = choose_draws(by_draws, rows)
    result = {"dataset": dataset, "checkpoint": name, "k": k, "validation_rows": rows, "seed": seed,
              "rule": DRAWS_RULE, "by_draws": {str(d): m for d, m in by_draws.items()}, "chosen_draws": chosen,
              "report": (f"python benchmarks/crystals/crystals_csp.py eval --dataset {dataset} --name {name} "
                         f"--k {k} --draws {chosen} --seed S --no-baselines, S = 0, 1, 2 (the test rows)"),
              "command": (f"python benchmarks/crystals/crystals_csp.py select-draws --dataset {dataset} --name {name} "
                          f"--k {k}")}
    key = {"action": "select-draws", "dataset": dataset, "checkpoint": name, "k": k,
           "choices": list(choices), "seed": seed}
    record(RESULTS / f"{name}.json", key, result, run)
    print(f"{name}: {chosen} draws per row chosen on {rows} validation rows ({DRAWS_RULE})")
    return result


#: the no-model baselines of ``eval`` (plugin ``crystals-<name>``, graphdiff_crystals.baselines)
BASELINES = ("retrieval", "substitution", "frequency")


def _baselines(manager, records: list, train_recs: list, names: Sequence[str], k: int, ks: Sequence[int],
               seed: int) -> tuple[dict, dict]:
    """Match rate and RMSE at each k' in ``ks`` of each no-model baseline's ``k`` candidates per row,
    and how many rows each left without a candidate."""
    from graphdiff_crystals.metrics import match_rate

    refs = [r["obj"] for r in records]
    out: dict[str, dict] = {}
    missing: dict[str, int] = {}
    for b in names:
        gen = manager.get("baselines", f"crystals-{b}")(records, train_recs, k=k, seed=seed)
        groups: dict[str, list] = {}
        for rec in gen:
            groups.setdefault(str(rec["id"]), []).append(rec["obj"])
        bc = [groups.get(str(r["id"]), []) for r in records]
        out[b], missing[b] = {}, sum(not c for c in bc)
        for kk in ks:
            m = match_rate(bc, refs, k=kk)
            out[b][f"k={kk}"] = {"match_rate": m["match_rate"], "rmse": m["rmse"]}
            print(f"baseline {b} k={kk}: match rate {100 * m['match_rate']:.1f} %, RMSE {m['rmse']}")
    return out, missing


def evaluate_baselines(dataset: str, k: int, limit: int | None, seed: int,
                       names: Sequence[str] = BASELINES) -> dict:
    """The no-model baselines alone (``eval --baselines-only``) on the first ``limit`` held-out rows
    (all when None), scored at k' in {1, 2, k}: the rows of a model figure on a subset of the split
    (e.g. the first 100 rows of ``targets_xrd.py --limit 100``), so that it is set against
    baselines on exactly its rows. Each baseline is recorded in ``csp-<name>-baseline.json`` with
    the layout of that file's earlier entries (``metrics/k=N/match_rate``)."""
    from graphdiff.plugins import get_manager

    test_csv, train_csv = ROOT / "runs" / dataset / "test.csv", ROOT / "runs" / dataset / "train.csv"
    if not test_csv.exists():
        split(dataset)
    manager = get_manager()
    domain = manager.get("domains", "crystals")
    records = _records(domain, test_csv, limit)
    train_recs = _records(domain, train_csv)
    ks = sorted({1, min(2, k), k})
    results = {}
    for b in names:
        run = Run(seeds={"seed": seed}, data=[test_csv, train_csv])
        scores, missing = _baselines(manager, records, train_recs, [b], k, ks, seed)
        rows = f"the first {len(records)} rows" if limit else f"all {len(records)} rows"
        result = {"what": f"crystals-{b} (graphdiff_crystals.baselines.{b}), no model, on {rows} of the "
                          "held-out split (benchmarks/crystals/crystals_csp.py split)",
                  "dataset": dataset, "reference": test_csv, "train": train_csv, "num_references": len(records),
                  "rows": f"0–{len(records) - 1}" if limit else "all", "baseline": b, "k": k,
                  "metrics": scores[b], "references_without_candidates": missing[b],
                  "command": f"python benchmarks/crystals/crystals_csp.py eval --baselines-only --baseline {b} "
                             f"--dataset {dataset} --k {k}" + (f" --limit {limit}" if limit else "")
                             + (f" --seed {seed}" if seed else "")}
        key = {"action": "baselines", "dataset": dataset, "baseline": b, "rows": len(records),
               "first_rows": bool(limit), "k": k, "seed": seed}
        results[b] = record(RESULTS / f"csp-{b}-baseline.json", key, result, run)
    return results


def test_eval(entry: dict) -> bool:
    """Whether an entry is an evaluation on the test rows (not one on the validation rows, nor a
    ``select-draws`` choice)."""
    key = entry["key"]
    return key.get("rows_from", "test") == "test" and key.get("action") != "select-draws"


def quotable(entry: dict) -> bool:
    """Whether an entry's figures may stand for the checkpoint in its manifest: its own sampling
    settings and the CLI's candidate representatives, the first seed. A repeat with other random
    draws is reported beside it, never in its place. Entries recorded before keys were complete
    say so in their label (``recorded_as``); one recovered from the file's history is not quoted."""
    key = entry["key"]
    if not in_file(entry):
        return False  # recovered from the file's history: no longer its figure
    if not test_eval(entry):
        return False  # validation rows choose settings; they never stand for the checkpoint
    if "recorded_as" in key:
        label = key["recorded_as"]
        return not any(tag in label for tag in ("corrector=", "steps=", "first-draw", "rank-by=", "repeat="))
    return bool(latest(entry).get("checkpoint_settings")) and key.get("seed", 0) == 0


def write_manifest(name: str, dataset: str, meta: dict, recorded: list[dict]) -> None:
    """The bundled checkpoint's manifest: what it was trained on and its figures (per k, the
    latest run of the quotable entry on the most rows, then of one asked for exactly that k, then
    of the later entry)."""
    figures: dict = {}
    own = [latest(e) for e in recorded if quotable(e)]
    chosen: dict[str, tuple] = {}
    for run in own:
        for kk, v in run["metrics"].items():
            kk = kk.split("=")[1]
            rank = (run["num_test"], run.get("k") == int(kk))
            if kk not in chosen or rank >= chosen[kk][0]:
                chosen[kk] = (rank, run, v)
    for kk, (_, run, v) in sorted(chosen.items(), key=lambda x: int(x[0])):
        figures[f"match_rate@{kk}"] = round(v["match_rate"], 4)
        figures[f"rmse@{kk}"] = round(v["rmse"], 4) if v["rmse"] is not None else None
        figures[f"rows@{kk}"] = run["num_test"]
        figures["steps"] = run["steps"]
    dng_path = RESULTS / f"{name}-dng.json"
    evaluated = [r["command"] for r in own]
    dng_runs = [latest(e) for e in entries(dng_path)]
    if dng_runs:  # de novo figures of the same checkpoint: the most structures, then the later
        dng = max(reversed(dng_runs), key=lambda r: r["num_generated"])
        m = dng["metrics"]
        figures.update({"dng_structural_validity": round(m["validity"]["structure"], 4),
                        "dng_compositional_validity": round(m["validity"]["composition"], 4),
                        "dng_cov_recall": m["coverage"]["cov_recall"],
                        "dng_cov_precision": m["coverage"]["cov_precision"],
                        "dng_wdist_density": m["wasserstein"]["density"],
                        "dng_wdist_num_elements": m["wasserstein"]["num_elements"],
                        "dng_num_generated": dng["num_generated"], "dng_steps": dng["steps"]})
        evaluated.append(dng["command"])
    manifest = {"task": meta.get("task", "csp"), "dataset": dataset,
                "trained_on": f"{meta.get('split', dataset)}: {meta.get('steps')} steps, "
                              f"{meta.get('train_minutes', '?')} min on a 2-core CPU",
                "figures": figures, "made_by": meta.get("made_by", ""),
                "evaluated_by": "; ".join(evaluated)}
    (BUNDLE / f"{name}.json").write_text(json.dumps(manifest, indent=2))


def plot_results(name: str, recorded: list[dict]) -> None:
    """Match rate per k: the model beside the baselines (the latest run of each entry)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[int, float]] = {}
    runs = [latest(e) for e in recorded if in_file(e) and test_eval(e)]
    counts = [run.get("steps") for run in runs]
    usual = max(set(counts), key=counts.count) if counts else None
    for run in runs:
        model = ("graphdiff" + (f", {run['steps']} steps" if run.get("steps") != usual else "")
                 + (f", {run['corrector_steps']} corrector step(s)" if run.get("corrector_steps") else "")
                 + (f", ranked by {run['rank_by']}" if run.get("rank_by") else ""))
        for label, metrics in [(model, run["metrics"]), *run.get("baselines", {}).items()]:
            for kk, v in metrics.items():  # per k, the run on the most rows (as in the manifest)
                pts = series.setdefault(label, {})
                x, rows = int(kk.split("=")[1]), run.get("num_test", 0)
                if x not in pts or rows > pts[x][0]:
                    pts[x] = (rows, 100 * v["match_rate"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, pts in series.items():
        ks = sorted(pts)
        ax.plot(ks, [pts[x][1] for x in ks], "o-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("candidates per composition (k)")
    ax.set_ylabel("match rate (%)")
    ax.set_title(name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def evaluate_dng(dataset: str, name: str, num: int, steps: int | None, seed: int, reuse: bool = False,
                 corrector_steps: int | None = None) -> dict:
    """De novo: ``num`` structures (atom counts drawn from training), CDVAE's generation metrics
    against the held-out rows (coverage, property distributions) and the training rows (novelty)."""
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs

    run = Run(seeds={"seed": seed}, data=[BUNDLE / f"{name}.ckpt"])
    model, cfg, meta = load_model(BUNDLE / f"{name}.ckpt")
    manager = get_manager()
    domain = manager.get("domains", "crystals")
    steps = steps or cfg.sampling.steps
    corrector = cfg.sampling.corrector_steps if corrector_steps is None else corrector_steps
    tag = f"{name}-dng" + (f"-corrector{corrector}" if corrector != cfg.sampling.corrector_steps else "")
    out_csv = ROOT / "runs" / dataset / f"{tag}-{num}.csv"
    timing = ROOT / "runs" / dataset / f"{tag}-{num}.seconds"
    reused = reuse and out_csv.exists() and timing.exists()
    if reused:  # score the structures of an earlier run
        seconds = float(timing.read_text())
    else:
        t0 = time.perf_counter()
        graphs = [g for chunk in sample_graphs(model, num, steps=steps, sampler=cfg.sampling.sampler,
                                               corrector_steps=corrector, batch_size=256, seed=seed)
                  for g in chunk]
        seconds = time.perf_counter() - t0
        domain.write([domain.from_graph(g) for g in graphs], out_csv, ids=[str(i) for i in range(num)])
        timing.write_text(str(seconds))
    run.add_data(out_csv, ROOT / "runs" / dataset / "test.csv", ROOT / "runs" / dataset / "train.csv")
    gen = list(domain.read(out_csv, validate=False))
    refs = _records(domain, ROOT / "runs" / dataset / "test.csv")
    train_recs = _records(domain, ROOT / "runs" / dataset / "train.csv")
    metric = manager.get("metrics", "crystals-dng")(gen, refs, train=train_recs, dataset=dataset)
    summary = {key: v for key, v in metric.items() if key != "per_item"}
    result = {"dataset": dataset, "checkpoint": name, "num_generated": num, "steps": steps,
              "sampler": cfg.sampling.sampler, "corrector_steps": corrector,
              "sampling_structures_per_s": num / seconds, "sampling_seconds": round(seconds, 1),
              "threads": torch.get_num_threads(),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "train_meta": portable_meta(meta),
              "metrics": summary,
              "command": f"python benchmarks/crystals/crystals_csp.py dng --dataset {dataset} --name {name} --num {num}"
                         + (f" --steps {steps}" if steps != cfg.sampling.steps else "")
                         + (f" --corrector-steps {corrector}" if corrector != cfg.sampling.corrector_steps else "")}
    print(json.dumps(summary, indent=1))
    if reused:
        result["reused_structures"] = True  # sampled by an earlier run: its time, today's scores
    key = {"action": "dng", "dataset": dataset, "checkpoint": name, "num": num, "steps": steps,
           "sampler": cfg.sampling.sampler, "corrector_steps": corrector, "seed": seed}
    record(RESULTS / f"{tag}.json", key, result, run)
    if tag == f"{name}-dng":  # the checkpoint's own sampling settings: its manifest's figures
        manifest(dataset, name, meta)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["split", "train", "export", "eval", "select-draws", "dng", "manifest"])
    ap.add_argument("--dataset", default="perov_5", choices=sorted(MODEL))
    ap.add_argument("--name", default=None)
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--max-steps", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num", type=int, default=1000, help="structures to generate (dng)")
    ap.add_argument("--draws", type=int, default=None, help="samples per row to rank candidates from")
    ap.add_argument("--max-draws", type=int, default=None,
                    help="draw up to this many per row while fewer than k distinct (default 2k)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--rows-from", choices=ROWS_FROM, default="test",
                    help="eval: the held-out test rows, or the validation rows that settings are chosen on")
    ap.add_argument("--baselines-only", action="store_true",
                    help="eval: only the no-model baselines (no checkpoint), on the first --limit held-out rows, "
                         "each recorded in csp-<baseline>-baseline.json")
    ap.add_argument("--baseline", action="append", choices=BASELINES, default=None,
                    help="eval --baselines-only: this baseline (repeatable; default all three)")
    ap.add_argument("--reuse", action="store_true", help="dng: score the structures an earlier run sampled")
    ap.add_argument("--task", choices=["csp", "dng"], default="csp",
                    help="csp: atom types given; dng: every field generated")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--corrector-steps", type=int, default=None,
                    help="eval, dng: Langevin corrector steps per reverse step (default: the checkpoint's)")
    ap.add_argument("--condition", action="append", default=[], metavar="COLUMN",
                    help="train: condition on this numeric column (classifier-free, repeatable)")
    ap.add_argument("--rank-by", default=None, metavar="TARGET[:min|:max]",
                    help="eval: rank each row's candidates by a registered target (graphdiff sample --rank-by), "
                         "e.g. crystals-chgnet_energy")
    ap.add_argument("--first-draw", action="store_true",
                    help="eval: represent each class of equivalent draws by its first draw, not its medoid")
    ap.add_argument("--elements", action="store_true",
                    help="train: embed each atom's Magpie element descriptors too "
                         "(class_features = {atom_types = \"elements\"})")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.name or args.dataset.replace("_", "") + "-" + args.task
    if args.action == "split":
        split(args.dataset)
    elif args.action == "train":
        train(args.dataset, name, args.minutes, args.max_steps, args.seed, args.task, args.condition,
              args.elements)
    elif args.action == "export":
        export(args.dataset, name, args.minutes, task=args.task, condition=args.condition,
               elements=args.elements)
    elif args.action == "manifest":
        manifest(args.dataset, name)
    elif args.action == "select-draws":
        select_draws(args.dataset, name, args.k)
    elif args.action == "dng":
        evaluate_dng(args.dataset, name, args.num, args.steps, args.seed, args.reuse, args.corrector_steps)
    elif args.baselines_only:
        evaluate_baselines(args.dataset, args.k, args.limit, args.seed, args.baseline or BASELINES)
    else:
        evaluate(args.dataset, name, args.k, args.limit, args.steps, args.seed, args.draws,
                 not args.no_baselines, args.max_draws, args.corrector_steps, args.first_draw, args.rank_by,
                 args.rows_from)


if __name__ == "__main__":
    main()
