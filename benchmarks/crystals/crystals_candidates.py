"""How the CSP candidate list is built from a row's draws: grouping tolerance and representative.

    python benchmarks/crystals/crystals_candidates.py draw --dataset perov_5 --checkpoint perov5-csp \
        --rows 100 --draws 10
    python benchmarks/crystals/crystals_candidates.py score --dataset perov_5 --checkpoint perov5-csp \
        --rows 100 --draws 10
    python benchmarks/crystals/crystals_candidates.py site-order --rows 100

``draw`` writes ``--draws`` independent samples for each of the first ``--rows`` held-out rows of
``benchmarks/crystals/crystals_csp.py``'s split (``graphdiff sample --no-distinct -k DRAWS``, seed 0) to
``runs/<dataset>_candidates/<checkpoint>-raw<DRAWS>.csv``. ``score`` groups each row's draws two
ways — pymatgen's default ``StructureMatcher()`` tolerances (ltol 0.2, stol 0.3, angle_tol 5°)
and the CSP match tolerances (``stol=0.5, angle_tol=10, ltol=0.3``, what ``CrystalDomain.equivalent``
uses) — ranks the groups by their share of the draws, represents each group by its first draw or
by its medoid (``graphdiff.candidates.medoid`` under the same matcher's RMS distance), and scores
the first 1 and 2 candidates with the CDVAE match rate and RMSE. A further variant ranks the
CSP-tolerance groups as ``graphdiff sample --rank-by crystals-chgnet_energy`` does: by the CHGNet
energy of the unrelaxed structures, lowest first, each group represented by its lowest-energy draw
(``graphdiff.candidates.rank_candidates`` with the negated energy as the score).

``site-order`` asks whether an energy could tell a Perov-5 row's A/B site order from the swapped
one: for the first ``--rows`` held-out rows with two cations, it swaps the two cations' species
(the other order of the same composition), relaxes both structures with CHGNet (cell and
positions, ``StructOptimizer``, fmax 0.05 eV/Å, at most 300 steps) and counts how often the
dataset's order has the lower relaxed energy per atom (also for the static energies, where the
dataset's order keeps its DFT-relaxed cell and so starts ahead). Results:
``benchmarks/crystals/results/perov5-site-order-energy.json``
(``graphdiff_crystals.metrics.match_rate``, as ``graphdiff evaluate`` does). The same draws go through every
variant, so the differences are the grouping's and the representative's alone. Results:
``benchmarks/crystals/results/<checkpoint>-candidates.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
csv.field_size_limit(sys.maxsize)


def _paths(dataset: str, checkpoint: str, rows: int, draws: int) -> tuple[Path, Path]:
    out = ROOT / "runs" / f"{dataset}_candidates"
    return out / f"test{rows}.csv", out / f"{checkpoint}-rows{rows}-raw{draws}.csv"


def draw(dataset: str, checkpoint: str, rows: int, draws: int) -> None:
    test = ROOT / "runs" / dataset / "test.csv"
    if not test.exists():
        raise SystemExit(f"{test} is missing: python benchmarks/crystals/crystals_csp.py split --dataset {dataset}")
    src, raw = _paths(dataset, checkpoint, rows, draws)
    src.parent.mkdir(parents=True, exist_ok=True)
    with test.open(newline="") as fh:
        reader = csv.DictReader(fh)
        head, body = reader.fieldnames, [r for _, r in zip(range(rows), reader)]
    with src.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        w.writerows(body)
    import graphdiff

    model = graphdiff.load(checkpoint)
    records = model.read_inputs(src)
    cands = model.complete(records, k=draws, distinct=False, task="csp", seed=0, progress=False)
    objs = [s for c in cands for s in c]
    model.domain.write(objs, raw, ids=[i for c in cands for i in c.ids],
                       extra=[{"sample": info["rank"]} for c in cands for info in c.info])
    print(f"wrote {raw}")


def score(dataset: str, checkpoint: str, rows: int, draws: int) -> dict:
    warnings.filterwarnings("ignore")
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    from graphdiff.candidates import group_equivalent, medoid, rank_candidates
    from graphdiff.api import TargetRanking
    from graphdiff.plugins import get_manager
    from graphdiff_crystals.metrics import MATCHER_KW, match_rate

    src, raw = _paths(dataset, checkpoint, rows, draws)
    run = Run(seeds={"draw_seed": 0}, data=[src, raw])
    refs = {r["material_id"]: Structure.from_str(r["cif"], fmt="cif") for r in csv.DictReader(src.open())}
    by_row: dict[str, list] = defaultdict(list)
    for r in csv.DictReader(raw.open()):
        by_row[r["material_id"]].append(Structure.from_str(r["cif"], fmt="cif"))
    ids = list(by_row)
    groupings = {"pymatgen defaults": StructureMatcher(), "CSP match tolerances": StructureMatcher(**MATCHER_KW)}
    t0 = time.perf_counter()
    result: dict = {"dataset": dataset, "checkpoint": checkpoint, "rows": len(by_row), "draws_per_row": draws,
                    "variants": {}}
    for gname, grouper in groupings.items():
        def dist(a, b, m=grouper):
            r = m.get_rms_dist(a, b)
            return None if r is None else float(r[0])

        chosen: dict[str, list[list]] = {"first draw": [], "medoid": []}
        for mid in ids:
            ss = by_row[mid]
            classes = group_equivalent(ss, grouper.fit, [True] * len(ss))
            classes.sort(key=lambda c: -len(c.members))  # by share; ties keep the earlier group first
            chosen["first draw"].append([ss[c.members[0]] for c in classes[:2]])
            chosen["medoid"].append([ss[medoid(c.members, ss, dist)] for c in classes[:2]])
        for rname, cands in chosen.items():
            entry = {}
            for k in (1, 2):
                m = match_rate(cands, [refs[mid] for mid in ids], k=k)
                entry[f"k={k}"] = {"match_rate": m["match_rate"], "rmse": m["rmse"]}
            result["variants"][f"grouped with {gname}, represented by its {rname}"] = entry
    # --rank-by crystals-chgnet_energy: the CLI's ranking on the same draws
    ranking = TargetRanking(get_manager().get("targets", "crystals-chgnet_energy"))
    csp = StructureMatcher(**MATCHER_KW)
    by_energy = []
    for mid in ids:
        ss = by_row[mid]
        scores = [ranking.score(0, s) for s in ss]
        classes = group_equivalent(ss, csp.fit, [True] * len(ss))
        by_energy.append([c.graph for c in rank_candidates(ss, classes, 2, scores)])
    entry = {}
    for k in (1, 2):
        m = match_rate(by_energy, [refs[mid] for mid in ids], k=k)
        entry[f"k={k}"] = {"match_rate": m["match_rate"], "rmse": m["rmse"]}
    entry["unscored_draws"] = ranking.failures
    result["variants"]["grouped with CSP match tolerances, ranked by CHGNet energy (lowest first), "
                       "represented by its lowest-energy draw"] = entry
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = (f"python benchmarks/crystals/crystals_candidates.py draw --dataset {dataset} "
                         f"--checkpoint {checkpoint} "
                         f"--rows {rows} --draws {draws} && python benchmarks/crystals/crystals_candidates.py score "
                         f"--dataset {dataset} --checkpoint {checkpoint} --rows {rows} --draws {draws}")
    key = {"action": "score", "dataset": dataset, "checkpoint": checkpoint, "rows": rows, "draws": draws,
           "draw_seed": 0}
    record(RESULTS / f"{checkpoint}-candidates.json", key, result, run)
    print(json.dumps(result, indent=2))
    return result


ANIONS = {"O", "N", "F", "S"}


def swapped(structure):
    """The structure with its two cations' species exchanged (``None``: not two cations)."""
    cations = [i for i, site in enumerate(structure) if site.specie.symbol not in ANIONS]
    if len(cations) != 2:
        return None
    a, b = cations
    out = structure.copy()
    out.replace(a, structure[b].specie, coords=structure[a].frac_coords)
    out.replace(b, structure[a].specie, coords=structure[b].frac_coords)
    return out


def site_order(rows: int) -> dict:
    warnings.filterwarnings("ignore")
    import statistics

    from chgnet.model import CHGNet, StructOptimizer
    from pymatgen.core import Structure

    test = ROOT / "runs" / "perov_5" / "test.csv"
    if not test.exists():
        raise SystemExit(f"{test} is missing: python benchmarks/crystals/crystals_csp.py split --dataset perov_5")
    run = Run(data=[test])
    with test.open(newline="") as fh:
        body = [r for _, r in zip(range(rows), csv.DictReader(fh))]
    model = CHGNet.load(verbose=False)
    opt = StructOptimizer(model=model, use_device="cpu")
    pairs = []
    for r in body:
        s = Structure.from_str(r["cif"], fmt="cif")
        t = swapped(s)
        if t is not None:
            pairs.append((r["material_id"], s, t))
    t0 = time.perf_counter()
    static = [[float(p["e"]) for p in model.predict_structure([s, t], task="e")] for _, s, t in pairs]
    relaxed = []
    for _, s, t in pairs:
        relaxed.append([float(opt.relax(x, fmax=0.05, steps=300, verbose=False)["trajectory"].energies[-1]) / len(x)
                        for x in (s, t)])
    diffs = [b - a for a, b in relaxed]
    result = {
        "dataset": "perov_5", "rows": len(body), "pairs": len(pairs),
        "static_dataset_order_lower": sum(a < b for a, b in static) / len(pairs),
        "relaxed_dataset_order_lower": sum(d > 0 for d in diffs) / len(pairs),
        "relaxed_swapped_minus_dataset_median_ev_per_atom": statistics.median(diffs),
        "relax": "chgnet StructOptimizer (cell and positions), fmax 0.05 eV/Å, at most 300 steps",
        "per_row": [{"material_id": mid, "static": st, "relaxed": rl}
                    for (mid, _, _), st, rl in zip(pairs, static, relaxed)],
        "seconds": round(time.perf_counter() - t0, 1),
        "command": f"python benchmarks/crystals/crystals_candidates.py site-order --rows {rows}",
    }
    key = {"action": "site-order", "dataset": "perov_5", "rows": rows, "fmax": 0.05, "max_steps": 300}
    record(RESULTS / "perov5-site-order-energy.json", key, result, run)
    print(json.dumps({k: v for k, v in result.items() if k != "per_row"}, indent=2))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["draw", "score", "site-order"])
    ap.add_argument("--dataset", default="perov_5")
    ap.add_argument("--checkpoint", default="perov5-csp")
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--draws", type=int, default=10)
    a = ap.parse_args()
    if a.action == "site-order":
        site_order(a.rows)
    else:
        (draw if a.action == "draw" else score)(a.dataset, a.checkpoint, a.rows, a.draws)


if __name__ == "__main__":
    main()
