"""EDM's metrics on real QM9 molecules (no generation): the "data" row of EDM's tables.

    python benchmarks/molecules/molecules_data_metrics.py [--split test] [--limit N]

Reads the split from the bundled QM9 (``qm9://<split>``, EDM's split), scores it with the
``molecules-dng`` metric (atom and molecule stability, RDKit validity, uniqueness) and writes
``benchmarks/molecules/results/qm9_data_metrics.json``. EDM reports 99.0 % atom and 95.2 % molecule
stability for the data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()

    from graphdiff.plugins import get_manager
    from molecules_qm9 import qm9_inputs

    run = Run(data=qm9_inputs())
    manager = get_manager()
    domain = manager.get("domains", "molecules")
    t0 = time.perf_counter()
    records = list(domain.read(f"qm9://{args.split}"))[: args.limit]
    metric = manager.get("metrics", "molecules-dng")(records, None)
    summary = {k: v for k, v in metric.items() if k != "per_item"}
    result = {"split": args.split, "num": len(records), "seconds": round(time.perf_counter() - t0, 1),
              "metrics": summary,
              "command": f"python benchmarks/molecules/molecules_data_metrics.py --split {args.split}"
                         + (f" --limit {args.limit}" if args.limit else "")}
    record(RESULTS / "qm9_data_metrics.json", key_from_args(args), result, run)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
