"""A trained property predictor on held-out rows: calibration beside the mean-predictor baseline.

    python benchmarks/predictor_eval.py --predictor plugins/graphdiff-crystals/graphdiff_crystals/predictors/perov5-heat.pt \\
        --test runs/perov_5/test.csv --train runs/perov_5/train.csv --name perov5-heat

Predicts every row of ``--test`` (``graphdiff.predictors.predict_file``), reads the true values
from the same file, and writes ``benchmarks/results/<name>.json``: per property the MAE, RMSE,
R², the share of errors within 1 and 2 predicted std, the Gaussian NLL, and the MAE of always
predicting the ``--train`` mean (the baseline a useful predictor must beat).
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _column(path: Path, name: str, id_col: str) -> dict[str, float]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="") as fh:
        return {row[id_col]: float(row[name]) for row in csv.DictReader(fh) if row.get(name) not in (None, "")}


def evaluate(predictor: Path, test: Path, train: Path, name: str, id_col: str = "material_id") -> dict:
    from graphdiff.predictors import Predictor, calibration, predict_file

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
    result = {"predictor": str(predictor.relative_to(ROOT)) if predictor.is_relative_to(ROOT) else str(predictor),
              "test": str(test), "num_predicted": count, "num_skipped": len(skipped),
              "seconds": round(seconds, 1), "threads": torch.get_num_threads(), "metrics": report,
              "train_meta": {k: v for k, v in (model.meta or {}).items() if k != "test_ids"},
              "command": f"python benchmarks/predictor_eval.py --predictor {predictor.relative_to(ROOT)} "
                         f"--test {test.relative_to(ROOT)} --train {train.relative_to(ROOT)} --name {name}"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(report, indent=1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictor", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--id-column", default="material_id")
    args = ap.parse_args()
    evaluate(args.predictor.resolve(), args.test.resolve(), args.train.resolve(), args.name, args.id_column)


if __name__ == "__main__":
    main()
