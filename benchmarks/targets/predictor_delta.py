"""Δ-learning on a universal potential: does a GNN that learns the residual of a CHGNet-based
baseline predict Perov-5 ``heat_ref`` better than one that learns ``heat_ref`` itself?

    python benchmarks/crystals/crystals_csp.py split --dataset perov_5
    OMP_NUM_THREADS=1 python benchmarks/targets/predictor_delta.py \
        --config benchmarks/targets/configs/perov5-heat-cv.toml

Steps, all on the seeded 80/20 split of ``../shared/data/perov_5/val.csv``:

1. CHGNet (the weights in its wheel) gives the energy per atom ``E`` of every structure as it
   is in the file (no relaxation).
2. The baseline ``b(x) = Σ_el w_el x_el + a E`` (``x_el``: the element's atom fraction) is fitted
   by least squares on the training rows only: the ``w_el`` absorb the difference between CHGNet's
   total energies (MPtrj, PBE/PBE+U) and the data's formation energies (Castelli, RPBE, its own
   elemental references).
3. The predictor of ``--config`` (same model, loss, folds and steps) is trained on the residual
   ``heat_ref − b(x)`` of the training rows, given as a labels CSV (``[predictor] labels``).
4. On the held-out rows the prediction is ``b(x)`` + the ensemble's residual; the JSON holds the
   MAE of the baseline alone, of each member and of the ensemble, beside the same predictor
   trained on ``heat_ref`` itself when ``--plain PREDICTOR`` names one (scored on the same rows).

``--composition-only`` is the control: the same steps with a baseline of element fractions
alone, which a GNN that pools over atoms can learn by itself, so any gain over the plain
predictor that remains there does not come from CHGNet.

Writes ``benchmarks/targets/results/<name>.json`` (default ``perov5-heat-delta``). This script is the
measurement that motivated ``[predictor] offset`` (docs/predictors.md), which trains the same
kind of predictor from one config and keeps the baseline inside the predictor file
(``benchmarks/targets/configs/perov5-heat-chgnet.toml``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "perov5-heat-cv.toml"


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _records(path: Path) -> list[dict]:
    """The crystals plugin's records of a CSV (``id``, ``obj``: the Structure, ``props``), read
    strictly: a row it cannot read stops the run, naming the row."""
    from graphdiff_crystals.io import read_records

    return list(read_records(path, strict=True))


def chgnet_energies(structures: list) -> np.ndarray:
    """CHGNet energy per atom of each structure as it is (unrelaxed)."""
    from chgnet.model import CHGNet

    model = CHGNet.load(use_device="cpu", verbose=False)
    return np.array([float(p["e"]) for p in model.predict_structure(structures, batch_size=64, task="e")])


def design(structures: list, energies: np.ndarray | None, elements: list[str]) -> np.ndarray:
    """Columns: the atom fraction of each element, then the CHGNet energy per atom (left out
    when ``energies`` is None: the composition-only control)."""
    frac = np.array([[s.composition.fractional_composition.get(e, 0.0) for e in elements] for s in structures])
    return frac if energies is None else np.hstack([frac, energies[:, None]])


def fit_baseline(structures: list, energies: np.ndarray | None, y: np.ndarray, elements: list[str]) -> np.ndarray:
    """Least-squares coefficients of :func:`design` for ``y`` (the element weights, then ``a``)."""
    coef, *_ = np.linalg.lstsq(design(structures, energies, elements), y, rcond=None)
    return coef


def _mae(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(pred - y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--train", type=Path, default=ROOT / "runs" / "perov_5" / "train.csv")
    ap.add_argument("--test", type=Path, default=ROOT / "runs" / "perov_5" / "test.csv")
    ap.add_argument("--property", default="heat_ref")
    ap.add_argument("--name", default="perov5-heat-delta")
    ap.add_argument("--plain", type=Path, default=None,
                    help="a predictor trained on the property itself, scored on the same rows")
    ap.add_argument("--composition-only", action="store_true",
                    help="control: the baseline without the CHGNet energy (element fractions only)")
    ap.add_argument("--max-steps", type=int, default=None, help="steps per member (default: the config's)")
    args = ap.parse_args()

    import torch

    from graphdiff.plugins import get_manager
    from graphdiff.predictors import Predictor, member_predict, parse_predictor_config, read_labelled, train_predictor

    torch.set_num_threads(1)
    run = Run(data=[args.train, args.test, args.config, args.plain])
    out_dir = ROOT / "runs" / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_rows, test_rows = _records(args.train), _records(args.test)
    s_train, s_test = [r["obj"] for r in train_rows], [r["obj"] for r in test_rows]
    e_train, e_test = (None, None) if args.composition_only else (chgnet_energies(s_train), chgnet_energies(s_test))
    chgnet_seconds = time.perf_counter() - t0
    elements = sorted({str(el) for s in s_train + s_test for el in s.composition.elements})
    y_train = np.array([float(r["props"][args.property]) for r in train_rows])
    y_test = np.array([float(r["props"][args.property]) for r in test_rows])
    coef = fit_baseline(s_train, e_train, y_train, elements)
    b_train, b_test = design(s_train, e_train, elements) @ coef, design(s_test, e_test, elements) @ coef
    unseen = sorted({str(el) for s in s_test for el in s.composition.elements}
                    - {str(el) for s in s_train for el in s.composition.elements})
    labels = out_dir / "residual.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "residual"])
        w.writerows([r["id"], repr(float(y - b))] for r, y, b in zip(train_rows, y_train, b_train))

    raw = tomllib.loads(args.config.read_text())
    raw["data"]["source"] = str(args.train.resolve())
    raw["training"]["out_dir"] = str(out_dir)
    raw["predictor"].update({"properties": ["residual"], "labels": str(labels), "id_column": "id",
                             "name": f"{args.name}-residual"})
    cfg = parse_predictor_config(raw, where=str(args.config))
    run.seeds = {"training": cfg.training.seed, "members": "training.seed + 1000 m",
                 "split": cfg.data.split_seed}
    t1 = time.perf_counter()
    path, report = train_predictor(cfg, max_steps=args.max_steps, progress=False)
    train_seconds = time.perf_counter() - t1

    domain = get_manager().get("domains", "crystals")
    test = read_labelled(domain, args.test, [args.property])
    index = {r["id"]: i for i, r in enumerate(test_rows)}
    order = [index[i] for i in test.ids]
    y, b = y_test[order], b_test[order]
    model = Predictor.load(path)
    def scores(predictor, offset) -> dict:  # the ensemble's and each member's MAE on the test rows
        return {"ensemble": _mae(predictor.predict(test.graphs)[0][:, 0].numpy() + offset, y),
                "members": [_mae(member_predict(predictor, m, test.graphs, 256)[:, 0].numpy() + offset, y)
                            for m in range(len(predictor.members))]}

    delta = scores(model, b)
    result = {
        "dataset": "perov_5", "property": args.property, "train": _rel(args.train),
        "test": _rel(args.test), "num_train": len(train_rows), "num_test": len(test.ids),
        "baseline": "least squares on the training rows: atom fraction of each element" + (
            "" if args.composition_only else
            " + CHGNet energy per atom of the unrelaxed structure (CHGNet %s)" % _chgnet_version()),
        "baseline_chgnet_coefficient": None if args.composition_only else float(coef[-1]),
        "elements_unseen_in_training": unseen,
        "config": _rel(args.config),
        "mae": {"baseline_alone": _mae(b, y), "members": delta["members"], "ensemble": delta["ensemble"],
                "predict_the_mean": _mae(np.full_like(y, y_train.mean()), y)},
        "out_of_fold_residual": report["properties"].get("residual", {}).get("mae"),
        "seconds": {"chgnet": round(chgnet_seconds, 1), "training": round(train_seconds, 1)},
        "command": _command(args),
    }
    if args.plain is not None:
        result["mae"]["plain_predictor"] = {"predictor": str(args.plain), **scores(Predictor.load(args.plain), 0.0)}
    record(RESULTS / f"{args.name}.json", key_from_args(args, ignore=("name",)), result, run)
    print(json.dumps(result["mae"], indent=1))


def _command(args: argparse.Namespace) -> str:
    """The command line that remakes the run, with the options that differ from the defaults."""
    words = ["OMP_NUM_THREADS=1 python benchmarks/targets/predictor_delta.py"]
    if args.config != DEFAULT_CONFIG:
        words += ["--config", _rel(args.config)]
    if args.name != "perov5-heat-delta":
        words += ["--name", args.name]
    if args.plain is not None:
        words += ["--plain", _rel(args.plain)]
    if args.max_steps is not None:
        words += ["--max-steps", str(args.max_steps)]
    if args.composition_only:
        words.append("--composition-only")
    return " ".join(words)


def _chgnet_version() -> str:
    from importlib.metadata import version

    return version("chgnet")


if __name__ == "__main__":
    main()
