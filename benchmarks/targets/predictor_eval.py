"""A trained property predictor on held-out rows: calibration beside the mean-predictor baseline.

    python benchmarks/targets/predictor_eval.py \\
        --predictor plugins/graphdiff-crystals/graphdiff_crystals/predictors/perov5-heat.pt \\
        --test runs/perov_5/test.csv --train runs/perov_5/train.csv --name perov5-heat

Predicts every row of ``--test`` (``graphdiff.predictors.predict_file``), reads the true values
from the same file, and writes ``benchmarks/targets/results/<name>.json``: per property the MAE, RMSE,
R², the share of errors within 1 and 2 predicted std, the Gaussian NLL, and the MAE of always
predicting the ``--train`` mean (the baseline a useful predictor must beat).

``--rf`` (on by default; ``--no-rf`` leaves it out) adds a composition-only baseline: a random
forest (scikit-learn ``RandomForestRegressor``, ``--rf-trees`` trees, seed ``--rf-seed``) on
matminer's Magpie features (``ElementProperty.from_preset("magpie")``, 132 statistics of
elemental properties) of each row's composition (the ``formula`` column, else the structure of
the ``cif`` column), fitted on every ``--train`` row and scored on the ``--test`` rows. Its MAE,
RMSE and R² go under ``rf_baseline`` in the JSON, with ``rf_mae / predictor_mae`` (how many
times larger the forest's error is than the predictor's). For reference, matbench_perovskites
(the same Castelli data, about 15k training cells) reports RF-on-Magpie ≈ 0.24 eV and CGCNN ≈
0.045 eV MAE on ``e_form``.

``--positive-above T`` (for band gaps: ``--positive-above 0``) adds, per property, a metal /
non-metal view: the ROC AUC of the predicted value as a score for ``true > T`` (scikit-learn
``roc_auc_score``, with a 95 % bootstrap interval over the test rows, 1,000 resamples, seed 0)
and the MAE on the rows with ``true > T`` only (the gapped cells), for the predictor and for the
random forest alike. A property that is zero for most rows (Perov-5 ``dir_gap``: 96 %) has a small
overall MAE that says little; these two figures are the informative ones.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, portable_meta, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def _column(path: Path, name: str, id_col: str) -> dict[str, float]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="") as fh:
        return {row[id_col]: float(row[name]) for row in csv.DictReader(fh) if row.get(name) not in (None, "")}


def _compositions(path: Path, id_col: str) -> dict[str, object]:
    """``{id: pymatgen Composition}`` of a crystals CSV: the ``formula`` column, else the ``cif``."""
    from pymatgen.core import Composition, Structure

    csv.field_size_limit(sys.maxsize)
    out = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("formula"):
                out[row[id_col]] = Composition(row["formula"])
            else:
                out[row[id_col]] = Structure.from_str(row["cif"], fmt="cif").composition
    return out


def _regression(y, pred) -> dict[str, float]:
    import numpy as np

    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    err = y - pred
    mse = float((err ** 2).mean())
    var = float(((y - y.mean()) ** 2).mean())
    return {"n": int(y.size), "mae": float(np.abs(err).mean()), "rmse": mse ** 0.5,
            "r2": 1 - mse / var if var > 0 else float("nan")}


def positive_class(y, score, threshold: float, resamples: int = 1000, seed: int = 0) -> dict:
    """ROC AUC of ``score`` for ``y > threshold`` (with a 95 % bootstrap interval) and the MAE of
    ``score`` on the rows with ``y > threshold``."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    label = y > threshold
    out = {"threshold": threshold, "n_positive": int(label.sum()), "n_negative": int((~label).sum()),
           "roc_auc": None, "roc_auc_95": None,
           "mae_positive": float(np.abs(y[label] - score[label]).mean()) if label.any() else None}
    if label.all() or not label.any():
        return out  # one class only: no ROC
    out["roc_auc"] = float(roc_auc_score(label, score))
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(resamples):
        pick = rng.integers(0, y.size, y.size)
        if 0 < label[pick].sum() < pick.size:
            aucs.append(roc_auc_score(label[pick], score[pick]))
    out["roc_auc_95"] = [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))]
    return out


def rf_baseline(train: Path, test: Path, properties: list[str], id_col: str, trees: int = 500,
                seed: int = 0, positive_above: float | None = None) -> dict[str, dict]:
    """Per property: a random forest on Magpie composition features, fitted on ``train``,
    scored on ``test`` (MAE, RMSE, R², sizes, seconds)."""
    import numpy as np
    from matminer.featurizers.composition import ElementProperty
    from sklearn.ensemble import RandomForestRegressor

    featurizer = ElementProperty.from_preset("magpie")
    featurizer.set_n_jobs(1)
    comps = {"train": _compositions(train, id_col), "test": _compositions(test, id_col)}
    feats = {}
    for split, table in comps.items():
        ids = list(table)
        x = np.array(featurizer.featurize_many([table[i] for i in ids], pbar=False), dtype=float)
        feats[split] = (ids, x)
    out = {}
    for prop in properties:
        data = {}
        for split, path in (("train", train), ("test", test)):
            truth = _column(path, prop, id_col)
            ids, x = feats[split]
            keep = [k for k, i in enumerate(ids) if i in truth and np.isfinite(x[k]).all()]
            data[split] = (x[keep], np.array([truth[ids[k]] for k in keep]), len(ids) - len(keep))
        t0 = time.perf_counter()
        forest = RandomForestRegressor(n_estimators=trees, random_state=seed, n_jobs=1)
        forest.fit(data["train"][0], data["train"][1])
        pred = forest.predict(data["test"][0])
        extra = {} if positive_above is None else {"positive": positive_class(data["test"][1], pred, positive_above)}
        out[prop] = {**_regression(data["test"][1], pred), **extra, "n_train": int(len(data["train"][1])),
                     "num_dropped": {"train": data["train"][2], "test": data["test"][2]},
                     "trees": trees, "seed": seed, "features": f"matminer magpie ({x.shape[1]})",
                     "seconds": round(time.perf_counter() - t0, 1)}
    return out


def evaluate(predictor: Path, test: Path, train: Path, name: str, id_col: str = "material_id",
             rf: bool = True, rf_trees: int = 500, rf_seed: int = 0, positive_above: float | None = None) -> dict:
    from graphdiff.predictors import Predictor, calibration, predict_file

    run = Run(seeds={"rf_seed": rf_seed, "bootstrap": 0}, data=[predictor, test, train])
    model = Predictor.load(predictor)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pred.csv"
        count, skipped = predict_file(model, test, out, id_column=id_col)
        with out.open(newline="") as fh:
            preds = list(csv.DictReader(fh))
    seconds = time.perf_counter() - t0
    report = {}
    for prop in model.properties:
        truth = _column(test, prop, id_col)
        rows = [r for r in preds if r[id_col] in truth]
        y = torch.tensor([truth[r[id_col]] for r in rows])
        mean = torch.tensor([float(r[prop]) for r in rows])
        std = torch.tensor([float(r[f"{prop}_std"]) for r in rows])
        base = torch.tensor([sum(v := list(_column(train, prop, id_col).values())) / len(v)])
        report.update(calibration(y.view(-1, 1), mean.view(-1, 1), std.view(-1, 1), [prop], baseline=base))
        if positive_above is not None:
            report[prop]["positive"] = positive_class(y.numpy(), mean.numpy(), positive_above)
    result = {"predictor": str(predictor.relative_to(ROOT)) if predictor.is_relative_to(ROOT) else str(predictor),
              "test": str(_rel(test)), "num_predicted": count, "num_skipped": len(skipped),
              "seconds": round(seconds, 1), "threads": torch.get_num_threads(), "metrics": report,
              "train_meta": portable_meta(model.meta)}
    if rf:
        forest = rf_baseline(train, test, list(model.properties), id_col, rf_trees, rf_seed, positive_above)
        for prop, row in forest.items():
            mae = report[prop]["mae"]
            row["rf_mae_over_predictor_mae"] = row["mae"] / mae if mae > 0 else float("nan")
        result["rf_baseline"] = forest
    extra = "" if rf else " --no-rf"
    extra += f" --rf-trees {rf_trees}" if rf and rf_trees != 500 else ""
    extra += f" --rf-seed {rf_seed}" if rf and rf_seed != 0 else ""
    extra += f" --id-column {id_col}" if id_col != "material_id" else ""
    extra += f" --positive-above {positive_above:g}" if positive_above is not None else ""
    result["command"] = (f"python benchmarks/targets/predictor_eval.py --predictor {_rel(predictor)} "
                         f"--test {_rel(test)} --train {_rel(train)} --name {name}{extra}")
    key = {"predictor": str(_rel(predictor)), "test": str(_rel(test)), "train": str(_rel(train)),
           "id_column": id_col, "rf": rf, "rf_trees": rf_trees, "rf_seed": rf_seed, "positive_above": positive_above}
    record(RESULTS / f"{name}.json", key, result, run)
    print(json.dumps({"metrics": report, **({"rf_baseline": result["rf_baseline"]} if rf else {})}, indent=1))
    return result


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictor", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--id-column", default="material_id")
    ap.add_argument("--rf", action=argparse.BooleanOptionalAction, default=True,
                    help="also score a random forest on Magpie composition features (default: on)")
    ap.add_argument("--rf-trees", type=int, default=500)
    ap.add_argument("--rf-seed", type=int, default=0)
    ap.add_argument("--positive-above", type=float, default=None, metavar="T",
                    help="also report ROC AUC for true > T and the MAE on those rows (band gaps: 0)")
    args = ap.parse_args()
    evaluate(args.predictor.resolve(), args.test.resolve(), args.train.resolve(), args.name, args.id_column,
             args.rf, args.rf_trees, args.rf_seed, args.positive_above)


if __name__ == "__main__":
    main()
