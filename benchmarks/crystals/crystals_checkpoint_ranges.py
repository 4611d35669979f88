"""The target ranges the bundled crystal checkpoints carry: what `--target` requests are checked against.

    python benchmarks/crystals/crystals_checkpoint_ranges.py [--write]

``graphdiff train`` records, in a new checkpoint's metadata (``target_ranges``), the range of
each cheap crystal target (density, volume per atom, number of elements) over its training
structures; a request outside it is warned about before sampling. The bundled checkpoints were
trained before that was recorded. This script recomputes the ranges over each one's training
file (the seeded 80/20 split of ``../shared/data/<dataset>/val.csv`` that
``benchmarks/crystals/crystals_csp.py split`` writes to ``runs/<dataset>/train.csv``, the file their
metadata names) with the same function training uses, and with ``--write`` stores them in the
checkpoint's metadata (the weights are not touched: every tensor is saved back as it was read).

Results: ``benchmarks/crystals/results/crystals-checkpoint-ranges.json`` (keyed by checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="store the ranges in the bundled checkpoints")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import torch

    from crystals_csp import split
    from graphdiff.checkpoints import list_named
    from graphdiff_crystals.domain import CrystalDomain
    from graphdiff_crystals.target_ranges import training_ranges

    domain = CrystalDomain()
    cache: dict[str, dict] = {}
    for named in list_named():
        if named.domain != "crystals":
            continue
        ckpt = torch.load(named.path, map_location="cpu", weights_only=True)
        meta = json.loads(ckpt["meta"])
        dataset = meta.get("dataset")
        if not dataset:
            print(f"{named.name}: no dataset recorded, skipped")
            continue
        train = ROOT / "runs" / dataset / "train.csv"
        if not train.exists():
            split(dataset)
        run = Run(data=[train, named.path])
        if dataset not in cache:
            cache[dataset] = training_ranges(r["obj"] for r in domain.read(train, skipped=[]))
        ranges = cache[dataset]
        print(named.name, {k: [round(v[0], 4), round(v[1], 4), v[2]] for k, v in ranges.items()})
        if args.write:
            meta["target_ranges"] = ranges
            ckpt["meta"] = json.dumps(meta)
            tmp = named.path.with_suffix(".tmp")
            torch.save(ckpt, tmp)
            os.replace(tmp, named.path)
        record(RESULTS / "crystals-checkpoint-ranges.json", {"checkpoint": named.name},
               {"dataset": dataset, "train_file": f"runs/{dataset}/train.csv", "target_ranges": ranges,
                "written": bool(args.write),
                "command": ("python benchmarks/crystals/crystals_checkpoint_ranges.py"
                            + (" --write" if args.write else ""))},
               run)


if __name__ == "__main__":
    main()
