"""The engine and predictor tables of docs/database.md and docs/predictors.md, from the results files.

Written by ``python benchmarks/tables.py``; ``benchmarks/_doctable.py`` says how a cell names
its figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _doctable import Line, Src, Table  # noqa: E402

DB = Src("engine/results/engine_db.json", {"recorded_as": "engine_db"})
GAP = Src("targets/results/perov5-gap.json", {"recorded_as": "perov5-gap"})


def db_row(count: int) -> Line:
    r = f"results/[count={count}]"
    return Line(DB, [
        f"{{{r}/count|,}}", f"{{{r}/build_s|.1f}} s ({{{r}/build_graphs_per_s|,.0f}}/s)",
        f"{{{r}/stream_s|.1f}} s ({{{r}/stream_graphs_per_s|,.0f}}/s)", f"{{{r}/random_graphs_per_s|,.0f}}/s",
        f"{{{r}/file_mib|.1f}} MiB", f"{{{r}/rss_after_imports_mib|.0f}} MiB", f"{{{r}/peak_rss_build_mib|.0f}} MiB",
        f"{{{r}/peak_rss_stream_mib|.0f}} MiB"])


def auc(model: str, target: str, interval: bool = True) -> str:
    p = f"{model}/{target}/positive"
    return f"{{{p}/roc_auc|.2f}}" + (f" ({{{p}/roc_auc_95/0|.2f}}–{{{p}/roc_auc_95/1|.2f}})" if interval else "")


TABLES = [
    Table("engine-db", "docs/database.md", [
        "graphs", "build (`append`, validated)", "stream (`iter_graphs`)", "random batches of 256", "file",
        "RSS after imports", "peak RSS build", "peak RSS stream"], [db_row(n) for n in (10_000, 100_000, 1_000_000)]),
    Table("perov5-gap", "docs/predictors.md", [
        "held-out Perov-5 ({metrics/dir_gap/n|d} cells, {metrics/dir_gap/positive/n_positive|d} gapped)",
        "GNN ensemble", "Magpie random forest"], [
        Line(GAP, ["`dir_gap` ROC AUC (95 % interval)", auc("metrics", "dir_gap"), auc("rf_baseline", "dir_gap")]),
        Line(GAP, ["`ind_gap` ROC AUC", auc("metrics", "ind_gap"), auc("rf_baseline", "ind_gap")]),
        Line(GAP, ["`dir_gap` MAE on gapped cells (eV)", "{metrics/dir_gap/positive/mae_positive|.2f}",
                   "{rf_baseline/dir_gap/positive/mae_positive|.2f}"]),
        Line(GAP, ["`ind_gap` MAE on gapped cells (eV)", "{metrics/ind_gap/positive/mae_positive|.2f}",
                   "{rf_baseline/ind_gap/positive/mae_positive|.2f}"]),
        Line(GAP, ["`dir_gap` / `ind_gap` MAE, all cells (eV)", "{metrics/dir_gap/mae} / {metrics/ind_gap/mae}",
                   "{rf_baseline/dir_gap/mae} / {rf_baseline/ind_gap/mae}"]),
    ], readme=["Perov-5 band gap"]),
]

#: the bundled perov5-heat on the held-out rows, rerun with provenance (the legacy entry
#: ``recorded_as: perov5-heat`` gave the same MAE, 0.05983)
HEAT = Src("targets/results/perov5-heat.json",
           {"predictor": "plugins/graphdiff-crystals/graphdiff_crystals/predictors/perov5-heat.pt",
            "test": "runs/perov_5/test.csv"})
TABLES += [
    Table("perov5-heat", "docs/predictors.md", ["predictor", "MAE (eV/atom)", "RMSE", "R²"], [
        Line(HEAT, ["`perov5-heat`", "**{metrics/heat_ref/mae|.4f}**", "{metrics/heat_ref/rmse}",
                    "{metrics/heat_ref/r2}"]),
        Line(Src("targets/results/perov5-heat-gnn3.json", {"recorded_as": "perov5-heat-gnn3"}), [
            "the previous `perov5-heat`: 3 GNN members on `heat_ref` itself (`perov5-heat-gnn3.json`)",
            "{metrics/heat_ref/mae|.4f}", "{metrics/heat_ref/rmse}", "{metrics/heat_ref/r2}"]),
        Line(HEAT, ["random forest (500 trees) on matminer's Magpie composition features", "{rf_baseline/heat_ref/mae}",
                    "{rf_baseline/heat_ref/rmse}", "{rf_baseline/heat_ref/r2}"]),
        Line(HEAT, ["the training mean", "{metrics/heat_ref/baseline_mae}", "–", "–"]),
    ], readme=["property predictors"], indent="  "),
]
