"""A molecules property predictor on QM9's held-out split, and its learning curve.

Made for the bundled ``qm9-gap`` predictor (HOMO-LUMO gap in eV, ``benchmarks/targets/configs/qm9-gap.toml``),
usable for any single-file predictor whose truth is a numeric prop of the test items::

    # 1. the labels the config trains on: QM9's gap in eV (QM9 stores Hartree) for qm9://train and
    #    a seeded subset of qm9://valid (the validation split; the rest of valid is left out)
    python benchmarks/targets/predictor_curve.py labels --out runs/qm9-gap/gap_ev.csv --val-max 3000

    # 2. training (graphdiff predictor train benchmarks/targets/configs/qm9-gap.toml), then
    python benchmarks/targets/predictor_curve.py eval --predictor runs/qm9-gap/predictor.pt --test qm9://test \\
        --name qm9-gap [--bundle]

``eval`` predicts every item of ``--test`` (``qm9://test``: EDM's 13,083 test molecules; any file
the molecules domain reads; ``--max N``: a seeded subset of N), reads the truth from each item's
``--truth`` prop times ``--truth-scale`` (default: QM9's ``gap`` in Hartree -> eV), and writes
``benchmarks/targets/results/<name>.json``: MAE, RMSE, R², calibration (``graphdiff.predictors.calibration``)
and the MAE of always predicting the training mean (stored in the predictor), plus the learning
curve read from the training log (``log.jsonl`` beside the predictor, or ``--log``): each member's
validation RMSE, in the property's units, against its training steps. The log holds the
validation mean squared error of the standardised target (``val_mse``), so the curve is
``sqrt(val_mse) * y_std`` (an RMSE; the log has no MAE). ``benchmarks/targets/results/<name>.png`` plots
it with the test MAE / RMSE of the ensemble.

``--bundle`` first copies the predictor to
``plugins/graphdiff-molecules/graphdiff_molecules/predictors/<name>.pt`` (the log stays where it
was: ``--log`` defaults to the one beside the original), evaluates that copy (the stored command
names it) and writes the manifest ``<name>.json`` beside it (as ``perov5-heat`` of the crystals
plugin), which the molecules plugin then registers as the target ``<[predictor] name>-<property>``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1]),  # the benchmarks' shared helpers
                str(Path(__file__).resolve().parents[1] / "molecules")]  # molecules_qm9
from _provenance import Run, portable_meta, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
BUNDLE = ROOT / "plugins" / "graphdiff-molecules" / "graphdiff_molecules" / "predictors"
#: CODATA 2018 Hartree energy in eV
HARTREE_EV = 27.211386245988


def _rel(path: Path | str) -> str:
    p = Path(path)
    if "://" in str(path):
        return str(path)
    p = p.resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


# ---------------------------------------------------------------------------- labels
def write_labels(out: Path, prop: str = "gap", scale: float = HARTREE_EV, val_max: int | None = 3000,
                 seed: int = 0, judge: bool = False) -> dict:
    """``id,<prop>`` for every molecule of qm9://train and a seeded ``val_max`` of qm9://valid
    (all of it when ``None``), the QM9 value times ``scale``. Test molecules are never listed.

    ``judge``: instead, only the qm9://valid molecules *outside* that seeded subset: the data of
    a judge that neither the generator (trained on qm9://train) nor the guide (trained on
    qm9://train, validated on the subset) has seen."""
    from graphdiff_molecules.qm9 import read_qm9

    rows: list[tuple[str, float]] = []
    train = [] if judge else [(r["id"], r["props"][prop] * scale) for r in read_qm9("train")]
    valid = [(r["id"], r["props"][prop] * scale) for r in read_qm9("valid")]
    if val_max is not None and val_max < len(valid):
        keep = set(random.Random(seed).sample(range(len(valid)), val_max))
        valid = [v for i, v in enumerate(valid) if (i in keep) != judge]
    elif judge:
        raise ValueError("--judge needs a --val-max below the size of qm9://valid: the judge takes the rest")
    rows = train + valid
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", prop])
        for rid, v in rows:
            w.writerow([rid, repr(float(v))])
    info = {"out": _rel(out), "train": len(train), "valid": len(valid), "scale": scale, "seed": seed,
            "judge": judge}
    print(json.dumps(info))
    return info


# ---------------------------------------------------------------------------- evaluation
def _records(test: str, max_items: int | None, seed: int) -> tuple[list, int]:
    from graphdiff.predictors import load_domain

    domain = load_domain("molecules")
    skipped: list[dict[str, str]] = []
    records = list(domain.read(test, skipped=skipped))
    total = len(records)
    if max_items is not None and max_items < total:
        keep = sorted(random.Random(seed).sample(range(total), max_items))
        records = [records[i] for i in keep]
    return records, total


def learning_curve(log: Path, y_std: list[float], properties: list[str]) -> dict[str, list[list[float]]]:
    """``{member: [[step, val_rmse], ...]}`` from a predictor's ``log.jsonl`` (units of the
    property when there is one; standardised otherwise)."""
    scale = y_std[0] if len(properties) == 1 else 1.0
    curve: dict[str, list[list[float]]] = {}
    with log.open() as fh:
        for line in fh:
            rec = json.loads(line)
            if "val_mse" in rec:
                curve.setdefault(str(rec["member"]), []).append(
                    [int(rec["step"]), math.sqrt(float(rec["val_mse"])) * scale])
    return curve


def evaluate(predictor: Path, test: str, name: str, truth: str = "gap", scale: float = HARTREE_EV,
             max_items: int | None = None, seed: int = 0, log: Path | None = None, units: str = "eV",
             batch_size: int = 256, bundle: bool = False) -> dict:
    from graphdiff.data import convert_record
    from graphdiff.predictors import Predictor, calibration, load_domain

    log = log or predictor.parent / "log.jsonl"
    if bundle:  # evaluate the bundled copy, so that the stored command names the plugin's file
        BUNDLE.mkdir(parents=True, exist_ok=True)
        dest = BUNDLE / f"{name}.pt"
        if predictor.resolve() != dest.resolve():
            shutil.copyfile(predictor, dest)
        predictor = dest
    run = Run(seeds={"seed": seed}, data=[predictor])
    if test.startswith("qm9://"):
        from molecules_qm9 import qm9_inputs

        run.add_data(*qm9_inputs())
    elif "://" not in test:
        run.add_data(test)
    model = Predictor.load(predictor)
    if len(model.properties) != 1:
        raise SystemExit(f"{predictor}: predicts {model.properties}; this script scores one property")
    prop = model.properties[0]
    domain = load_domain(model.domain)
    t0 = time.perf_counter()
    records, total = _records(test, max_items, seed)
    graphs, ids, ys, skipped = [], [], [], []
    for k, rec in enumerate(records):
        value = (rec.get("props") or {}).get(truth)
        if value is None or not math.isfinite(float(value)):
            skipped.append({"where": str(rec.get("id", k)), "reason": f"no {truth}"})
            continue
        g = convert_record(domain, {"obj": rec["obj"]}, str(rec.get("id", k)), False, skipped, spec=model.spec)
        if g is None:
            continue
        graphs.append(g)
        ids.append(str(rec.get("id", k)))
        ys.append(float(value) * scale)
    read_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    mean, std = model.predict(graphs, batch_size, ids)
    predict_s = time.perf_counter() - t1
    y = torch.tensor(ys, dtype=torch.float64).view(-1, 1)
    metrics = calibration(y, mean.double(), std.double(), [prop], baseline=model.y_mean.double().cpu())
    curve = learning_curve(log, model.y_std.tolist(), model.properties) if log.is_file() else {}
    result = {
        "predictor": _rel(predictor), "test": test, "units": units,
        "truth": f"{truth} x {scale:g}" if scale != 1 else truth,
        "num_test_items": total, "num_predicted": len(graphs), "num_skipped": len(skipped),
        "subset": (f"seeded random {max_items} of {total} (seed {seed})"
                   if max_items is not None and max_items < total else "all"),
        "seconds": {"read": round(read_s, 1), "predict": round(predict_s, 1)},
        "threads": torch.get_num_threads(), "metrics": metrics,
        "learning_curve": {"log": _rel(log) if curve else None,
                           "what": f"validation RMSE ({units}) per member against its training steps "
                                   "(sqrt(val_mse) * y_std from log.jsonl)",
                           "members": curve},
        "train_meta": portable_meta(model.meta),
    }
    extra = "" if truth == "gap" else f" --truth {truth}"
    extra += "" if scale == HARTREE_EV else f" --truth-scale {scale:g}"
    extra += "" if units == "eV" else f" --units {units}"
    extra += f" --max {max_items} --seed {seed}" if max_items is not None else ""
    extra += f" --log {_rel(log)}" if curve and log.resolve() != (predictor.parent / "log.jsonl").resolve() else ""
    result["command"] = (f"python benchmarks/targets/predictor_curve.py eval --predictor {_rel(predictor)} "
                         f"--test {test} --name {name}{extra}")
    key = {"predictor": _rel(predictor), "test": _rel(test), "truth": truth, "truth_scale": scale,
           "max": max_items, "seed": seed, "units": units}
    record(RESULTS / f"{name}.json", key, result, run)
    plot(name, result)
    print(json.dumps({"metrics": metrics, "subset": result["subset"], "seconds": result["seconds"]}, indent=1))
    if bundle:
        write_manifest(name, result)
    return result


def plot(name: str, result: dict) -> None:
    """Each member's validation RMSE against steps, with the ensemble's test MAE and RMSE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = result["units"]
    (prop, m), = result["metrics"].items()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for member, pts in sorted(result["learning_curve"]["members"].items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=f"member {member}: validation RMSE")
    ax.axhline(m["rmse"], color="k", ls="--", lw=1, label=f"ensemble test RMSE {m['rmse']:.3f}")
    ax.axhline(m["mae"], color="k", ls=":", lw=1, label=f"ensemble test MAE {m['mae']:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("training steps (per member)")
    ax.set_ylabel(f"{prop} error ({units})")
    ax.set_title(f"{name}: mean-baseline test MAE {m.get('baseline_mae', float('nan')):.3f} {units}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def write_manifest(name: str, result: dict) -> None:
    """The manifest ``<name>.json`` beside the bundled ``<name>.pt`` (as the crystals plugin's)."""
    dest = BUNDLE / f"{name}.pt"
    meta = result["train_meta"]
    (prop, m), = result["metrics"].items()
    members = len((meta.get("calibration") or {}).get(prop, {}).get("member_mae") or []) or "?"
    manifest = {
        "property": prop, "units": result["units"], "target": f"{meta.get('name')}-{prop}",
        "trained_on": f"{meta.get('num_train')} molecules of {meta.get('source')} (EDM split), "
                      f"validated on {meta.get('num_val')} of qm9://valid; {members}-member ensemble, "
                      f"{meta.get('steps')} steps each (at most), {meta.get('parameters')} parameters",
        "figures": {"test_items": m["n"], "subset": result["subset"], "mae": round(m["mae"], 4),
                    "rmse": round(m["rmse"], 4), "r2": round(m["r2"], 4),
                    "within_1std": round(m["within_1std"], 3), "within_2std": round(m["within_2std"], 3),
                    "mean_baseline_mae": round(m["baseline_mae"], 4)},
        "made_by": "python benchmarks/targets/predictor_curve.py labels --out runs/qm9-gap/gap_ev.csv --val-max 3000; "
                   "OMP_NUM_THREADS=1 graphdiff predictor train benchmarks/targets/configs/qm9-gap.toml",
        "evaluated_by": result["command"],
    }
    (BUNDLE / f"{name}.json").write_text(json.dumps(manifest, indent=2))
    print(f"bundled {_rel(dest)} and {_rel(BUNDLE / f'{name}.json')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lab = sub.add_parser("labels", help="write the eV labels of qm9://train and a subset of qm9://valid")
    lab.add_argument("--out", type=Path, default=ROOT / "runs" / "qm9-gap" / "gap_ev.csv")
    lab.add_argument("--property", default="gap")
    lab.add_argument("--scale", type=float, default=HARTREE_EV, help="QM9 unit -> label unit (Hartree -> eV)")
    lab.add_argument("--val-max", type=int, default=3000, help="molecules of qm9://valid to label (0: all)")
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--judge", action="store_true",
                     help="label only the qm9://valid molecules outside the seeded --val-max subset "
                          "(a held-out judge's data)")
    ev = sub.add_parser("eval", help="score a predictor on held-out molecules; learning curve")
    ev.add_argument("--predictor", type=Path, required=True)
    ev.add_argument("--test", default="qm9://test", help="qm9://test or a molecules file")
    ev.add_argument("--name", required=True)
    ev.add_argument("--truth", default="gap", help="the items' prop holding the true value")
    ev.add_argument("--truth-scale", type=float, default=HARTREE_EV,
                    help="factor from the prop's unit to the predictor's (QM9 Hartree -> eV)")
    ev.add_argument("--units", default="eV")
    ev.add_argument("--max", type=int, default=None, help="a seeded random subset of this many items")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--log", type=Path, default=None, help="training log (default: log.jsonl beside the predictor)")
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--bundle", action="store_true",
                    help="copy the predictor and a manifest into the molecules plugin's predictors/")
    args = ap.parse_args()
    if args.cmd == "labels":
        write_labels(args.out.resolve(), args.property, args.scale, args.val_max or None, args.seed,
                     args.judge)
    else:
        evaluate(args.predictor.resolve(), args.test, args.name, args.truth, args.truth_scale, args.max,
                 args.seed, args.log.resolve() if args.log else None, args.units, args.batch_size, args.bundle)


if __name__ == "__main__":
    main()
