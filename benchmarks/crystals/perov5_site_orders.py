"""Can the A/B site order of a held-out Perov-5 row be told from its composition?

    python benchmarks/crystals/crystals_csp.py split --dataset perov_5
    python benchmarks/crystals/perov5_site_orders.py analyse
    python benchmarks/crystals/perov5_site_orders.py analyse --generated runs/perov_5/gen.csv   # also score a model
    python benchmarks/crystals/perov5_site_orders.py distortions --generated runs/perov_5/gen.csv

A Perov-5 cell is one ABX3 perovskite (5 atoms). Its composition fixes the three anion sites' elements
and the two cations, but not which cation takes the A site (12 anion neighbours) and which the B
site (the octahedral centre). A CSP answer matches the row only with the row's order, so the
first-candidate (k = 1) match rate of any method is bounded by how well the order can be told.

``analyse`` works on the split of ``benchmarks/crystals/crystals_csp.py`` (80 % training, 20 % held out of
``../shared/data/perov_5/val.csv``, seed 0):

1. **Roles.** Each cell's A, B and X sites are read from its geometry (:func:`site_roles`: the B
   site is the one whose three X sites are nearest, the A site the one they are furthest from),
   not from element names: 56 elements occur on the A and B sites, some of them (N, O, S) also
   anions elsewhere.
2. **Siblings.** For every held-out row, the rows of the same reduced composition in the training
   split and elsewhere in the held-out split, and whether any of them holds the same order
   (``StructureMatcher`` at the CSP tolerances).
3. **Predictors of the order from the elements**, fitted on the training rows only and scored on
   the held-out rows: the larger cation on the A site (Goldschmidt's rule; atomic radii), each
   element's share of A-site occurrences in training, and a random forest on the two cations'
   standardised Magpie descriptors (the 22 that ``class_features = {atom_types = "elements"}``
   embeds) and the anions', each row presented in both cation orders.
4. **Ceilings** of the k = 1 match rate, if every candidate with the right order matched: a method
   that knows only the composition (the best predictor's accuracy on the held-out rows), and one
   that also answers "the order training does not hold" wherever the training split holds the
   composition's other order (a leak between the splits, not learning; nothing in graphdiff uses it).
5. With ``--generated`` (a ``graphdiff sample --task csp -k K`` output for ``runs/perov_5/test.csv``),
   the CDVAE match rate at k = 1 and k = 2 (``graphdiff_crystals.metrics.match_rate``) for each kind
   of row.

Results: ``benchmarks/crystals/results/perov5-site-orders.json`` / ``.png``.

``distortions`` asks the same of the RMSE: how far each cell is from the ideal cubic cell of its own
roles and volume (:func:`distortion`), whether a random forest on the elements predicts that
distance (fitted on the training rows, R² on the held-out rows), and the mean matched k = 2 RMS
of a ``--generated`` file for held-out cells near to and far from ideal. Results:
``benchmarks/crystals/results/perov5-distortions.json``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, record, repo_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
SPLIT = ROOT / "runs" / "perov_5"
csv.field_size_limit(sys.maxsize)

#: kinds of held-out rows, by where the other rows of their composition are
KINDS = ("alone", "other order in training", "other order held out", "same order in training")


def site_roles(structure: Any) -> tuple[str, str, tuple[str, ...], float]:
    """``(A, B, X, margin)`` of a 5-atom ABX3 cell, from its geometry.

    Of the 20 ways to name an A and a B site among five, the one kept minimises the summed
    distance of the three X sites to B minus their summed distance to A (in the ideal cubic cell
    X-B is a/2 and X-A a/sqrt 2). ``margin`` is how much worse the next assignment that names
    other sites scores (Å); a distorted or non-perovskite cell has a small one. A cell that is not
    five atoms raises ``ValueError``.
    """
    if len(structure) != 5:
        raise ValueError(f"an ABX3 cell has 5 sites, this one has {len(structure)}")
    d = structure.distance_matrix
    scores = []
    for a, b in itertools.permutations(range(5), 2):
        x = [i for i in range(5) if i not in (a, b)]
        scores.append((sum(d[i, b] for i in x) - sum(d[i, a] for i in x), a, b, x))
    scores.sort(key=lambda s: s[0])
    best, a, b, x = scores[0]
    other = next(s for s in scores[1:] if (s[1], s[2]) != (a, b))
    symbol = lambda i: structure[i].specie.symbol  # noqa: E731
    return symbol(a), symbol(b), tuple(sorted(symbol(i) for i in x)), float(other[0] - best)


def _radius(symbol: str) -> float:
    from pymatgen.core import Element

    el = Element(symbol)
    r = el.atomic_radius if el.atomic_radius is not None else el.atomic_radius_calculated
    return float(r) if r is not None else float("nan")


def radius_rule(rows: Sequence[tuple[str, str, tuple[str, ...]]]) -> list[bool]:
    """Per row: does the rule "the larger cation takes the A site" give the row's order?
    (Rows where the radii tie or are unknown count as wrong half the time: ``None``.)"""
    out = []
    for a, b, _ in rows:
        ra, rb = _radius(a), _radius(b)
        out.append(None if not ra == ra or not rb == rb or ra == rb else ra > rb)
    return out


def share_rule(train: Sequence[tuple[str, str, tuple[str, ...]]],
               rows: Sequence[tuple[str, str, tuple[str, ...]]]) -> list[bool | None]:
    """Per row: does "the cation found more often on the A site in training takes it" give the
    row's order? Shares are smoothed (``(n_A + 1) / (n + 2)``); a tie is ``None``."""
    on_a, seen = Counter(a for a, _, _ in train), Counter()
    for a, b, _ in train:
        seen[a] += 1
        seen[b] += 1
    share = lambda e: (on_a[e] + 1) / (seen[e] + 2)  # noqa: E731
    return [None if share(a) == share(b) else share(a) > share(b) for a, b, _ in rows]


def _features(rows: Sequence[tuple[str, str, tuple[str, ...]]], swap: Sequence[bool]) -> np.ndarray:
    from graphdiff_crystals.elements import element_table

    symbols, table = element_table()
    table = table.numpy()
    index = {s: i for i, s in enumerate(symbols)}
    out = []
    for (a, b, x), sw in zip(rows, swap):
        first, second = (b, a) if sw else (a, b)
        anions = np.mean([table[index[e]] for e in x], axis=0)
        out.append(np.concatenate([table[index[first]], table[index[second]], anions]))
    return np.asarray(out)


def forest_rule(train: Sequence[tuple[str, str, tuple[str, ...]]],
                rows: Sequence[tuple[str, str, tuple[str, ...]]], seed: int = 0) -> list[bool]:
    """Per row: does a random forest, trained on the training rows each shown in both cation
    orders (label: is the first cation on the A site), put the row's A cation first?"""
    from sklearn.ensemble import RandomForestClassifier

    x = np.concatenate([_features(train, [False] * len(train)), _features(train, [True] * len(train))])
    y = np.concatenate([np.ones(len(train)), np.zeros(len(train))])
    forest = RandomForestClassifier(n_estimators=500, min_samples_leaf=3, random_state=seed, n_jobs=1).fit(x, y)
    p_as_is = forest.predict_proba(_features(rows, [False] * len(rows)))[:, 1]
    p_swapped = forest.predict_proba(_features(rows, [True] * len(rows)))[:, 1]
    return [bool(p > q) for p, q in zip(p_as_is, p_swapped)]


def accuracy(hits: Sequence[bool | None]) -> float:
    """Share of rows a rule gets right; a row it cannot decide (``None``) counts one half."""
    return float(np.mean([0.5 if h is None else float(h) for h in hits]))


def row_kinds(train: Sequence[tuple[str, Any]], test: Sequence[tuple[str, Any]], same) -> list[str]:
    """The kind (:data:`KINDS`) of every held-out row. ``train`` / ``test``: ``(composition key,
    structure)``; ``same(s, t)``: do two structures hold the same order."""
    by_train, by_test = defaultdict(list), defaultdict(list)
    for key, s in train:
        by_train[key].append(s)
    for i, (key, s) in enumerate(test):
        by_test[key].append(i)
    kinds = []
    for i, (key, s) in enumerate(test):
        in_train = by_train.get(key, [])
        if any(same(s, t) for t in in_train):
            kinds.append("same order in training")
        elif in_train:
            kinds.append("other order in training")
        elif any(j != i for j in by_test[key]):
            kinds.append("other order held out")
        else:
            kinds.append("alone")
    return kinds


def ceilings(kinds: Sequence[str], p: float) -> dict[str, float]:
    """k = 1 ceilings when an order found with probability ``p`` always matches.

    ``composition_only``: every row is right with probability ``p``. ``with_training_orders``:
    rows whose other order training holds are always right (answer the order training lacks), two
    held-out rows of one composition give one right answer between them whatever is chosen (each
    counts 1/2), the rest ``p``; a training row with the same order is answered by copying it.
    """
    n = len(kinds)
    c = Counter(kinds)
    leak = (c["other order in training"] + c["same order in training"] + 0.5 * c["other order held out"]
            + p * c["alone"]) / n
    return {"composition_only": p, "with_training_orders": leak}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _split() -> tuple[dict[str, list[dict[str, str]]], dict[str, list[Any]], dict[str, list[tuple]]]:
    """The training and held-out rows of ``crystals_csp.py``'s split: the CSV rows, their
    structures and their :func:`site_roles`, each keyed by ``"train"`` / ``"test"``."""
    from pymatgen.core import Structure

    paths = {name: SPLIT / f"{name}.csv" for name in ("train", "test")}
    for p in paths.values():
        if not p.exists():
            raise SystemExit(f"{p} is missing: python benchmarks/crystals/crystals_csp.py split --dataset perov_5")
    raw = {name: _read(p) for name, p in paths.items()}
    structs = {name: [Structure.from_str(r["cif"], fmt="cif") for r in rows] for name, rows in raw.items()}
    roles = {name: [site_roles(s) for s in ss] for name, ss in structs.items()}
    return raw, structs, roles


def _candidates(generated: Path, test_rows: Sequence[dict[str, str]]) -> list[list[Any]]:
    """The candidates of a ``graphdiff sample --task csp`` output for each held-out row, in the
    file's order; every row must have some."""
    from pymatgen.core import Structure

    cands: dict[str, list[Any]] = defaultdict(list)
    for r in _read(generated):
        cands[r["material_id"]].append(Structure.from_str(r["cif"], fmt="cif"))
    ids = [r["material_id"] for r in test_rows]
    missing = [i for i in ids if i not in cands]
    if missing:
        raise SystemExit(f"{generated}: no candidate for {len(missing)} held-out rows (first: {missing[0]}); "
                         "was it sampled from runs/perov_5/test.csv?")
    return [cands[i] for i in ids]


def _shown(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def model_by_kind(cands: Sequence[list[Any]], refs: Sequence[Any], kinds: Sequence[str]) -> dict[str, Any]:
    """k = 1 and k = 2 CDVAE match rates of each held-out row's candidates, per kind."""
    from graphdiff_crystals.metrics import match_rate

    out: dict[str, Any] = {}
    for k in (1, 2):
        res = match_rate(cands, refs, k=k)
        matched = [p["matched"] for p in res["per_item"]]
        out[f"k={k}"] = {"all": {"rows": len(refs), "match_rate": res["match_rate"]}}
        for kind in KINDS:
            sel = [m for m, kd in zip(matched, kinds) if kd == kind]
            if sel:
                out[f"k={k}"][kind] = {"rows": len(sel), "match_rate": float(np.mean(sel))}
    return out


def ideal_cell(a_el: str, b_el: str, x_els: Sequence[str], volume: float) -> Any:
    """The ideal cubic ABX3 cell of the given roles and volume (B at the origin, X on the cell edges'
    midpoints, A at the centre): the substitution baseline's template on Perov-5."""
    from pymatgen.core import Lattice, Structure

    coords = [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    return Structure(Lattice.cubic(volume ** (1 / 3)), [a_el, b_el, *x_els], coords)


def distortion(structure: Any, matcher: Any, roles: tuple | None = None) -> float | None:
    """The CSP RMS distance (normalised as the CDVAE RMSE) of a cell from its ideal cubic cell with
    the same roles and volume; ``None`` when the matcher does not pair them at all. ``roles``:
    the cell's :func:`site_roles`, when already known."""
    a, b, x, *_ = roles if roles is not None else site_roles(structure)
    res = matcher.get_rms_dist(structure, ideal_cell(a, b, x, structure.volume))
    return None if res is None else float(res[0])


def distortions(generated: Path) -> dict[str, Any]:
    """How far the held-out cells are from the ideal cubic cell, whether that is predictable from the
    elements, and how the model's matched RMS follows it."""
    warnings.filterwarnings("ignore")
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from sklearn.ensemble import RandomForestRegressor

    from graphdiff_crystals.metrics import MATCHER_KW, match_rate

    run = Run(seeds={"random_forest": 0}, data=[SPLIT / "train.csv", SPLIT / "test.csv", generated])
    t0 = time.perf_counter()
    matcher = StructureMatcher(**MATCHER_KW)
    raw, structs, roles = _split()
    dist = {name: [distortion(s, matcher, r) for s, r in zip(ss, roles[name])] for name, ss in structs.items()}

    # predictability of the distortion from the elements, in the row's own order
    def xy(name):
        keep = [i for i, d in enumerate(dist[name]) if d is not None]
        rows = [roles[name][i][:3] for i in keep]
        return _features(rows, [False] * len(rows)), np.asarray([dist[name][i] for i in keep])

    x_tr, y_tr = xy("train")
    x_te, y_te = xy("test")
    forest = RandomForestRegressor(n_estimators=500, min_samples_leaf=3, random_state=0, n_jobs=1).fit(x_tr, y_tr)
    pred = forest.predict(x_te)
    r2 = 1 - float(np.sum((pred - y_te) ** 2) / np.sum((y_te - y_te.mean()) ** 2))

    res = match_rate(_candidates(generated, raw["test"]), structs["test"], k=2)
    pairs = [(d, p["rms"]) for d, p in zip(dist["test"], res["per_item"]) if p["matched"] and d is not None]
    d_arr, m_arr = np.asarray([p[0] for p in pairs]), np.asarray([p[1] for p in pairs])
    bins = [(0, 0.05), (0.05, 0.2), (0.2, 1.0)]
    by_bin = {f"{lo}-{hi}": {"rows": int(((d_arr >= lo) & (d_arr < hi)).sum()),
                              "model_mean_rms": float(m_arr[(d_arr >= lo) & (d_arr < hi)].mean())
                              if ((d_arr >= lo) & (d_arr < hi)).any() else None}
              for lo, hi in bins}
    test_d = np.asarray([d for d in dist["test"] if d is not None])
    result = {
        "dataset": "perov_5",
        "what": "RMS distance (CSP StructureMatcher, CDVAE normalisation) of each cell from the ideal cubic "
                "cell with its own A/B/X roles and volume",
        "rows": {"train": len(structs["train"]), "test": len(structs["test"])},
        "test_unmatched_by_the_template": int(sum(d is None for d in dist["test"])),
        "test_distortion": {"mean": float(test_d.mean()), "median": float(np.median(test_d)),
                            "share_below_0.05": float(np.mean(test_d < 0.05)),
                            "share_0.2_or_more": float(np.mean(test_d >= 0.2))},
        "predict_distortion_from_elements": {
            "model": "random forest on the A, B and mean X Magpie descriptors, fitted on the training rows",
            "r2_held_out": r2, "mae_held_out": float(np.mean(np.abs(pred - y_te))),
            "mae_of_the_training_mean": float(np.mean(np.abs(y_tr.mean() - y_te)))},
        "model": {"generated": _shown(generated),
                  "k=2": {"match_rate": res["match_rate"], "rmse": res["rmse"]},
                  "matched_rows_with_a_template_distance": len(pairs),
                  "correlation_model_rms_vs_distortion": float(np.corrcoef(d_arr, m_arr)[0, 1]),
                  "by_distortion": by_bin},
        "target": {"rmse": 0.04},
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = ("python benchmarks/crystals/perov5_site_orders.py distortions --generated "
                         + result["model"]["generated"])
    record(RESULTS / "perov5-distortions.json", {"action": "distortions", "generated": repo_path(generated)},
           result, run)
    print(json.dumps(result, indent=2))
    return result


def analyse(generated: Path | None, label: str | None) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from graphdiff_crystals.metrics import MATCHER_KW

    run = Run(seeds={"random_forest": 0}, data=[SPLIT / "train.csv", SPLIT / "test.csv", generated])
    t0 = time.perf_counter()
    raw, structs, roles = _split()
    rows = {name: [(a, b, x) for a, b, x, _ in rr] for name, rr in roles.items()}
    margins = [m for rr in roles.values() for *_, m in rr]

    matcher = StructureMatcher(**MATCHER_KW)
    key = lambda s: s.composition.reduced_formula  # noqa: E731
    kinds = row_kinds([(key(s), s) for s in structs["train"]], [(key(s), s) for s in structs["test"]], matcher.fit)

    preds = {
        "larger cation on A (atomic radius)": radius_rule(rows["test"]),
        "cation more often on A in training": share_rule(rows["train"], rows["test"]),
        "random forest on Magpie descriptors": forest_rule(rows["train"], rows["test"]),
    }
    fitted = {
        "cation more often on A in training": accuracy(share_rule(rows["train"], rows["train"])),
        "random forest on Magpie descriptors": accuracy(forest_rule(rows["train"], rows["train"])),
    }
    acc = {name: accuracy(h) for name, h in preds.items()}
    p_best = max(acc.values())
    counts = Counter(kinds)
    per_comp = Counter(key(s) for ss in structs.values() for s in ss)
    result: dict[str, Any] = {
        "dataset": "perov_5",
        "split": "benchmarks/crystals/crystals_csp.py split (seeded 80/20 of ../shared/data/perov_5/val.csv)",
        "rows": {"train": len(rows["train"]), "test": len(rows["test"])},
        "role_margin_angstrom": {"median": float(np.median(margins)),
                                 "share_below_0.1": float(np.mean(np.asarray(margins) < 0.1))},
        "a_site_larger_radius_in_training": accuracy(radius_rule(rows["train"])),
        "compositions": {"all_rows": len(per_comp), "with_two_or_more_rows": sum(n > 1 for n in per_comp.values())},
        "held_out_kinds": {k: counts.get(k, 0) for k in KINDS},
        "order_accuracy_on_held_out": acc,
        "order_accuracy_on_training_itself": fitted,
        "k1_ceiling": ceilings(kinds, p_best),
        "k1_ceiling_if_the_order_were_a_coin_flip": ceilings(kinds, 0.5),
        "target": {"k=1": 0.65, "k=2": 0.98},
    }
    if generated is not None:
        result["model"] = {"label": label or generated.name, "generated": _shown(generated),
                           **model_by_kind(_candidates(generated, raw["test"]), structs["test"], kinds)}
    result["per_row"] = [{"material_id": r["material_id"], "A": a, "B": b, "X": list(x), "kind": kd}
                         for r, (a, b, x), kd in zip(raw["test"], rows["test"], kinds)]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = "python benchmarks/crystals/perov5_site_orders.py analyse" + (
        f" --generated {result['model']['generated']}" + (f" --label '{label}'" if label else "")
        if generated is not None else "")
    key = {"action": "analyse", "generated": repo_path(generated) if generated is not None else None}
    record(RESULTS / "perov5-site-orders.json", key, result, run)
    plot(result, RESULTS / "perov5-site-orders.png")
    print(json.dumps({k: v for k, v in result.items() if k != "per_row"}, indent=2))
    return result


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1.2]})
    acc = result["order_accuracy_on_held_out"]
    names = list(acc)
    ax1.barh(range(len(names)), [acc[n] * 100 for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax1.text(acc[n] * 100 + 1, i, f"{acc[n] * 100:.1f} %", va="center", fontsize=8)
    ax1.axvline(50, color="grey", ls="--", label="coin flip")
    ax1.set_yticks(range(len(names)), [n.replace(" (", "\n(").replace(" on ", "\non ") for n in names], fontsize=8)
    ax1.set_xlim(0, 100)
    ax1.set_xlabel("held-out rows whose A/B order it gives (%)")
    ax1.set_title("Telling the site order from the elements", fontsize=10)
    ax1.legend(fontsize=8, loc="lower right")

    bars = {"ceiling: composition only": result["k1_ceiling"]["composition_only"],
            "ceiling: also the orders\ntraining holds (a leak)": result["k1_ceiling"]["with_training_orders"]}
    if "model" in result:
        bars[f"{result['model']['label']}\nk = 1 (measured)"] = result["model"]["k=1"]["all"]["match_rate"]
    ax2.bar(range(len(bars)), [v * 100 for v in bars.values()], color=["tab:gray", "tab:gray", "tab:green"][:len(bars)])
    for i, v in enumerate(bars.values()):
        ax2.text(i, v * 100 + 1, f"{v * 100:.1f} %", ha="center", fontsize=8)
    ax2.axhline(result["target"]["k=1"] * 100, color="tab:red", ls="--", label="k = 1 target (65 %)")
    ax2.set_xticks(range(len(bars)), list(bars), fontsize=8)
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("k = 1 match rate (%)")
    ax2.set_title(f"Perov-5, {result['rows']['test']} held-out rows", fontsize=10)
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["analyse", "distortions"])
    ap.add_argument("--generated", type=Path, help="a graphdiff sample --task csp output for runs/perov_5/test.csv")
    ap.add_argument("--label", help="the model's name in the plot (default: the file's name)")
    args = ap.parse_args()
    gen = args.generated.resolve() if args.generated else None
    if args.action == "distortions":
        if gen is None:
            raise SystemExit("distortions needs --generated (a graphdiff sample --task csp -k 2 output)")
        distortions(gen)
    else:
        analyse(gen, args.label)


if __name__ == "__main__":
    main()
