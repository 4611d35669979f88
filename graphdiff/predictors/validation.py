"""Validation: how well a predictor's mean and std fit held-out labels.

:func:`calibration` scores predictions against true values (MAE, RMSE, R², coverage of the
predicted std, NLL); :func:`validation_report` scores a trained ensemble on its validation
split (or out of fold) and writes ``val_predictions.csv``; :func:`member_predict` is one
ensemble member's prediction.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch_geometric.data import Batch, Data

from graphdiff.predictors.data import LABELS_ATTR, LabelledData, strip_graph
from graphdiff.predictors.model import Predictor

__all__ = ["calibration", "member_predict", "validation_report"]

_IDEAL_1, _IDEAL_2 = math.erf(1 / math.sqrt(2)), math.erf(2 / math.sqrt(2))


def calibration(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, properties: Sequence[str],
                baseline: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """Per property: ``n``, MAE, RMSE, R², the fractions of ``|y − mean|`` within 1 and 2
    predicted std (ideal 0.683 / 0.954), the mean predicted std, the RMS of ``(y − mean)/std``
    (1 when calibrated), the Gaussian NLL, and the MAE of predicting ``baseline`` (the training
    mean) for every item. Items with a missing ``y`` are left out."""
    out: dict[str, dict[str, Any]] = {}
    for j, p in enumerate(properties):
        mask = torch.isfinite(y[:, j])
        yy, mm, ss = y[mask, j].double(), mean[mask, j].double(), std[mask, j].double()
        n = int(yy.numel())
        if n == 0:
            out[p] = {"n": 0}
            continue
        err = yy - mm
        var_y = float(((yy - yy.mean()) ** 2).mean())
        mse = float((err ** 2).mean())
        safe = ss.clamp_min(1e-12)
        row = {
            "n": n,
            "mae": float(err.abs().mean()),
            "rmse": math.sqrt(mse),
            "r2": (1 - mse / var_y) if var_y > 0 else float("nan"),
            "within_1std": float((err.abs() <= ss).double().mean()),
            "within_2std": float((err.abs() <= 2 * ss).double().mean()),
            "ideal_1std": _IDEAL_1,
            "ideal_2std": _IDEAL_2,
            "mean_std": float(ss.mean()),
            "z_rms": float(((err / safe) ** 2).mean().sqrt()),
            "nll": float((0.5 * torch.log(2 * math.pi * safe ** 2) + 0.5 * (err / safe) ** 2).mean()),
        }
        if baseline is not None:
            row["baseline_mae"] = float((yy - float(baseline[j])).abs().mean())
        out[p] = row
    return out


@torch.no_grad()
def member_predict(model: Predictor, m: int, graphs: Sequence[Data], batch_size: int,
                    base: torch.Tensor | None = None) -> torch.Tensor:
    """Member ``m``'s mean ``[n, K]`` (float64, CPU, the properties' units; with an offset, plus
    the baseline, ``base`` when already computed)."""
    device = next(model.parameters()).device
    mus = [model.member_outputs(m, model.inputs(Batch.from_data_list(
        [strip_graph(g, model.spec) for g in graphs[i:i + batch_size]]).to(device)))[0].double().cpu()
        for i in range(0, len(graphs), batch_size)]
    if not mus:
        return torch.zeros(0, len(model.properties), dtype=torch.float64)
    mean = torch.cat(mus) * model.y_std.double().cpu() + model.y_mean.double().cpu()
    if model.offset:
        mean = mean + (base if base is not None else model.offset_values(graphs))
    return mean


def validation_report(model: Predictor, val: LabelledData, batch_size: int, out: Path,
                       folds: list[list[int]] | None = None, base: torch.Tensor | None = None,
                       label_mean: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """Calibration of the ensemble (and each member's MAE) on ``val``; writes
    ``val_predictions.csv``. With ``folds`` (cross-validation; ``val`` is then every row) it is
    out-of-fold: each row's mean is that of the member that never saw it, its std the one the
    ensemble reports for the row (noise and members' spread, as for any input), and
    ``member_mae`` is each member's on its fold. A member's error is larger than the ensemble
    mean's, so the std fitted to it (recalibration) errs on the wide side. ``base``: the
    offset's values on ``val`` (computed when None); ``offset_mae`` is the baseline's alone.
    ``label_mean``: the training labels' mean (default ``model.y_mean``, which an offset makes
    the residuals' mean), the predict-the-mean reference."""
    props = model.properties
    y = torch.cat([getattr(g, LABELS_ATTR) for g in val.graphs]).double()
    base = model.offset_values(val.graphs, val.ids) if base is None else base
    mean, std = model.predict(val.graphs, batch_size, val.ids, base=base)
    if folds is None:
        parts = [(m, list(range(len(val)))) for m in range(len(model.members))]
    else:  # the mean becomes the out-of-fold one; the std stays the ensemble's
        parts, mean = list(enumerate(folds)), torch.full_like(y, math.nan)
    member_mae: dict[str, list[float]] = {p: [] for p in props}
    for m, idx in parts:
        mu = member_predict(model, m, [val.graphs[i] for i in idx], batch_size, base[idx])
        if folds is not None:
            mean[idx] = mu
        for j, p in enumerate(props):
            ok = torch.isfinite(y[idx, j])
            if ok.any():
                member_mae[p].append(float((mu[ok, j] - y[idx][ok, j]).abs().mean()))
    report = calibration(y, mean, std, props,
                         model.y_mean.double().cpu() if label_mean is None else label_mean)
    for j, p in enumerate(props):
        if member_mae[p]:
            report[p]["member_mae"] = member_mae[p]
        ok = torch.isfinite(y[:, j])
        if model.offset and ok.any():  # the baseline alone
            report[p]["offset_mae"] = float((base[ok, j] - y[ok, j]).abs().mean())
    with open(out / "val_predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id"] + [c for p in props for c in (p, f"{p}_pred", f"{p}_std")])
        for i, rid in enumerate(val.ids):
            w.writerow([rid] + [repr(float(v)) for j in range(len(props))
                                for v in (y[i, j], mean[i, j], std[i, j])])
    return report
