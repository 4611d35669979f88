"""The crystal tables of docs/benchmarks.md (and docs/crystals.md), from the results files.

Written by ``python benchmarks/tables.py``; ``benchmarks/_doctable.py`` says how a cell names
its figures (``{path|spec}`` of the line's entry, ``{alias:path|spec}`` of another).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _doctable import Cite, Line, Src, Table  # noqa: E402
from _figures import Calc, Fig  # noqa: E402

DOC = "docs/benchmarks.md"
P5 = "crystals/results/perov5-csp.json"
C24 = "crystals/results/carbon24-dng.json"
FREQ = "crystals/results/csp-frequency-baseline.json"
SITES = Src("crystals/results/perov5-site-orders.json", {"recorded_as": "perov5-site-orders"})
CAND = "variants/grouped with CSP match tolerances, "
MEDOID = CAND + "represented by its medoid"
ENERGY = CAND + "ranked by CHGNet energy (lowest first), represented by its lowest-energy draw"


def k(n: int, what: str = "metrics", pct: str = "%1") -> str:
    """A match rate with its RMSE in brackets: ``{what/k=n/match_rate} % ({what/k=n/rmse})``."""
    return f"{{{what}/k={n}/match_rate|{pct}}} % ({{{what}/k={n}/rmse}})"


def rate(n: int, what: str = "metrics", pct: str = "%1", alias: str = "") -> str:
    a = f"{alias}:" if alias else ""
    return f"{{{a}{what}/k={n}/match_rate|{pct}}}"


#: k = 1 with one draw per row (``crystals_csp.py eval --k 1 --seed S``) on all held-out rows, an entry per seed
ONE_DRAW = {"action": "eval", "k": 1, "draws": 1, "steps": 500, "corrector_steps": 0, "rank_by": None}
P5_K1 = {**ONE_DRAW, "checkpoint": "perov5-csp", "rows": 757}
C24_K1 = {**ONE_DRAW, "checkpoint": "carbon24-dng", "rows": 406}
#: the frequency baseline on all 757 held-out Perov-5 rows, rerun with provenance (crystals_csp.py eval
#: --baselines-only --baseline frequency --k 20; the legacy entry perov_5,rows=757 gave the same figures)
FREQ_P5 = {"action": "baselines", "dataset": "perov_5", "baseline": "frequency", "rows": 757, "k": 20}
#: Perov-5 k = 2 with the draws per row chosen on the validation rows (``crystals_csp.py
#: select-draws``), on all 757 held-out rows, an entry per seed
P5_DRAWS = 10
P5_K2 = {"action": "eval", "checkpoint": "perov5-csp", "rows": 757, "k": 2, "draws": P5_DRAWS, "steps": 500,
         "corrector_steps": 0, "rank_by": None, "first_draw": False}
P5_SELECT = Src(P5, {"action": "select-draws", "checkpoint": "perov5-csp", "k": 2})
#: carbon24-dng's 1,000 de novo structures without a corrector, rerun with provenance
C24DNG_KEY = {"action": "dng", "checkpoint": "carbon24-dng", "num": 1000, "corrector_steps": 0}
SEEDS = (0, 1, 2)
#: perov5-dng's 1,000 de novo structures at its own sampling settings, rerun with provenance
P5DNG_KEY = {"action": "dng", "checkpoint": "perov5-dng", "num": 1000, "corrector_steps": 0}


def seed_stat(file: str, key: Mapping[str, Any], path: str, stat: Callable[[Sequence[float]], float],
              seeds: Sequence[int] = SEEDS, spec: str = "%1") -> Calc:
    """``stat`` (e.g. statistics.mean, statistics.stdev) of the figure at ``path`` over the entries
    of ``key`` with each of ``seeds``."""
    return Calc(lambda *v: stat(v), [Fig(file, {**key, "seed": s}, path) for s in seeds], spec)


def over_seeds(file: str, key: dict, label: str, seeds: tuple[int, ...] = SEEDS,
               cells: tuple[str, ...] = ("{$m} ± {$s} %", "{$rm} ± {$rs}")) -> Line:
    """The k = 1 match rate (``$m`` ± ``$s``) and RMSE (``$rm`` ± ``$rs``) as mean ± sd (sample sd,
    n − 1) over the entries of ``seeds``, in ``cells``."""
    def calc(path: str, stat, spec: str) -> Calc:
        return seed_stat(file, key, path, stat, seeds, spec)

    figs = {"m": calc("metrics/k=1/match_rate", statistics.mean, "%1"),
            "s": calc("metrics/k=1/match_rate", statistics.stdev, "%1"),
            "rm": calc("metrics/k=1/rmse", statistics.mean, ".3f"),
            "rs": calc("metrics/k=1/rmse", statistics.stdev, ".3f")}
    return Line(Src(file, {**key, "seed": seeds[0]}), [label, *cells], figs=figs)


def seeds_k12(file: str, key: dict, label: str, seeds: tuple[int, ...] = SEEDS) -> Line:
    """Match rate and RMSE at k = 1 / 2 as mean ± sd (sample sd, n − 1) over the entries of ``seeds``."""
    def calc(path: str, stat, spec: str) -> Calc:
        return seed_stat(file, key, path, stat, seeds, spec)

    figs = {f"{w}{k}": calc(f"metrics/k={k}/{m}", stat, spec) for k in (1, 2)
            for w, m, stat, spec in (("m", "match_rate", statistics.mean, "%1"),
                                     ("s", "match_rate", statistics.stdev, "%1"),
                                     ("rm", "rmse", statistics.mean, ".3f"), ("rs", "rmse", statistics.stdev, ".3f"))}
    return Line(Src(file, {**key, "seed": seeds[0]}), [label, "{$m1} ± {$s1} % / {$m2} ± {$s2} %",
                                                       "{$rm1} ± {$rs1} / {$rm2} ± {$rs2}"], figs=figs)


def both(what: str, pct: str = "%1", ks: tuple[int, ...] = (1, 2)) -> list[str]:
    """Cells ``k = 1 / 2`` of match rates and of RMSEs."""
    return [" / ".join(rate(n, what, pct) + " %" for n in ks), " / ".join(f"{{{what}/k={n}/rmse}}" for n in ks)]


TABLES = [
    Table("perov5-csp", DOC, ["", "match rate", "RMSE"], [
        seeds_k12(P5, P5_K2, "graphdiff, k = 1 / 2 of {draws_per_row|d} draws per row (the number chosen on the "
                  "validation rows, below): mean ± sd over seeds 0, 1, 2 (n = 3, all {num_test|d} rows each)"),
        Line(P5_SELECT, ["the same on the {validation_rows|d} validation rows (seed 100), 4 / 10 / 20 draws per row, "
                         "k = 1", "{by_draws/4/k=1/match_rate|%1} / {by_draws/10/k=1/match_rate|%1} / "
                         "{by_draws/20/k=1/match_rate|%1} %", "{by_draws/4/k=1/rmse} / {by_draws/10/k=1/rmse} / "
                         "{by_draws/20/k=1/rmse}"]),
        Line(P5_SELECT, ["k = 2 (the rule, the fewest draws within one validation row of the best k = 2, chose "
                         "{chosen_draws|d})", "{by_draws/4/k=2/match_rate|%1} / {by_draws/10/k=2/match_rate|%1} / "
                         "{by_draws/20/k=2/match_rate|%1} %", "{by_draws/4/k=2/rmse} / {by_draws/10/k=2/rmse} / "
                         "{by_draws/20/k=2/rmse}"]),
        Line(Src(P5, {"recorded_as": "k=2"}, 1), ["same, before the last sampling step denoised (below), k = 1 / 2",
                                                  *both("metrics")]),
        Line(Src(P5, {"recorded_as": "k=2"}, 0), [
            "same checkpoint, earlier pipeline: {draws_per_row|d} draws, pymatgen's default grouping, first draw of "
            "each group, k = 1 / 2", *both("metrics")]),
        Line(Src(P5, {"recorded_as": "perov5-csp"}), ["same checkpoint, k independent samples, k = 1 / 2",
                                                      *both("metrics")]),
        over_seeds(P5, P5_K1, "same checkpoint, one draw per row (`--k 1`), k = 1: mean ± sd over seeds 0, 1, 2 "
                   "(n = 3, all {num_test|d} rows each)"),
        Line(Src(P5, {"recorded_as": "k=2"}), [
            "substitution baseline (`graphdiff evaluate --baseline substitution`), k = 1 / 2",
            *both("baselines/substitution")]),
        Line(Src(FREQ, FREQ_P5), [
            "frequency baseline (`--baseline frequency`: the commonest prototypes first), k = 1 / 2",
            *both("metrics")]),
        Line(Src(P5, {"recorded_as": "k=2"}), ["retrieval baseline, k = 1 / 2",
                                               "{baselines/retrieval/k=1/match_rate|%0} % / "
                                               "{baselines/retrieval/k=2/match_rate|%0} %", "–"]),
        Cite(["DiffCSP (paper, public test split, k = 1)", "52.0 %", "0.076"]),
    ], readme=["Perov-5 CSP, match rate"]),
    Table("perov5-site-order-predictors", DOC, ["predictor", "held-out rows"], [
        Line(SITES, ["the larger cation takes the A site (Goldschmidt; atomic radii)",
                     "{order_accuracy_on_held_out/larger cation on A (atomic radius)|%1} %"]),
        Line(SITES, ["the cation seen more often on the A site in training",
                     "{order_accuracy_on_held_out/cation more often on A in training|%1} %"]),
        Line(SITES, ["a random forest on the cations' and anions' Magpie descriptors",
                     "{order_accuracy_on_held_out/random forest on Magpie descriptors|%1} % "
                     "({order_accuracy_on_training_itself/random forest on Magpie descriptors|%1} % on its own "
                     "training rows)"]),
    ], indent="  "),
    Table("perov5-held-out-kinds", DOC, ["held-out rows", "count"], [
        Line(SITES, ["composition nowhere else", "{held_out_kinds/alone|d}"]),
        Line(SITES, ["other order in the training split", "{held_out_kinds/other order in training|d}"]),
        Line(SITES, ["other order also held out", "{held_out_kinds/other order held out|d}"]),
        Line(SITES, ["same order in the training split", "{held_out_kinds/same order in training|d}"]),
    ], indent="  "),
    Table("perov5-per-kind", DOC, ["rows", "k = 1", "k = 2"], [
        Line(SITES, [f"{label} ({{model/k=1/{kind}/rows|d}})", f"{{model/k=1/{kind}/match_rate|%1}} %",
                     f"{{model/k=2/{kind}/match_rate|%1}} %"])
        for label, kind in (("composition nowhere else", "alone"),
                            ("other order in training", "other order in training"),
                            ("other order also held out", "other order held out"))
    ], indent="  "),
    Table("carbon24-csp-50", DOC, ["", "k = 1", "k = 2", "k = 20"], [
        Line(Src(C24, {"recorded_as": "k=20,rows=50"}), ["graphdiff match rate (RMSE)",
                                                        *(k(n, pct="%0") for n in (1, 2, 20))]),
        Line(Src(C24, {"recorded_as": "k=20,rows=50,corrector=1"}), [
            "graphdiff, one corrector step (`--corrector-steps 1`)", *(k(n, pct="%0") for n in (1, 2, 20))]),
        Line(Src(C24, {"recorded_as": "k=20,rows=50"}), [
            "retrieval baseline (RMSE)", *(k(n, "baselines/retrieval", "%0") for n in (1, 2, 20))]),
        Line(Src(C24, {"recorded_as": "k=20,rows=50"}), [
            "substitution baseline (RMSE)", *(k(n, "baselines/substitution", "%0") for n in (1, 2, 20))]),
        Cite(["DiffCSP (paper, public test split)", "17.5 % (0.276)", "–", "–"]),
    ], readme=["Carbon-24 CSP, match rate"]),
    Table("carbon24-csp-rows", DOC, ["", "k = 1", "k = 2", "k = 20"], [
        Line(Src(C24, {"recorded_as": "k=1,rows=406"}), [
            "graphdiff, one draw per row (all {num_test|d} rows)", k(1), "", ""]),
        over_seeds(C24, C24_K1, "same, mean ± sd over seeds 0, 1, 2 (n = 3, `crystals_csp.py eval --k 1 --seed S`; "
                   "all {num_test|d} rows each)", cells=("{$m} ± {$s} % ({$rm} ± {$rs})", "", "")),
        Line(Src(C24, {"recorded_as": "k=1,rows=406,corrector=1"}), [
            "graphdiff, one draw, one corrector step ({num_test|d} rows)", k(1), "", ""]),
        Line(Src(C24, {"recorded_as": "k=2,rows=406"}), [
            "graphdiff, `-k 2` (draws per row: {draws_per_row|s}; all {num_test|d} rows)", k(1), k(2), ""]),
        Line(Src(C24, {"recorded_as": "k=2,rows=406"}), [
            "substitution / retrieval baseline ({num_test|d} rows)",
            *(f"{rate(n, 'baselines/substitution')} / {rate(n, 'baselines/retrieval')} %" for n in (1, 2)), ""]),
        Line(Src(FREQ, {"recorded_as": "carbon_24,rows=406"}), [
            "frequency baseline ({num_references|d} rows)", k(1), k(2), k(20)]),
        Line(Src(C24, {"recorded_as": "k=20,rows=100"}), [
            "graphdiff, {draws_per_row|d} draws (rows 0–99: the 50 above and 50 more)",
            rate(1, pct="%0") + " %", rate(2, pct="%0") + " %", k(20, pct="%0")]),
        Line(Src(C24, {"recorded_as": "k=20,rows=100"}), [
            "substitution / retrieval baseline (rows 0–99)",
            *(f"{rate(n, 'baselines/substitution', '%0')} / {rate(n, 'baselines/retrieval', '%0')} %"
              for n in (1, 2, 20))]),
        Line(Src(FREQ, {"recorded_as": "carbon_24,rows=100"}), [
            "frequency baseline (rows 0–99)", rate(1, pct="%0") + " %", rate(2, pct="%0") + " %", k(20, pct="%0")]),
    ], readme=["Carbon-24 CSP, match rate"]),
    Table("rank-by-energy", DOC, ["", "k = 1", "k = 2"], [
        Line(Src(P5, {"recorded_as": "k=2"}), [
            "Perov-5, all {num_test|d} held-out rows, {draws_per_row|d} draws: share of draws (the default, as in the "
            "table above)", k(1), k(2)]),
        Line(Src(P5, {"recorded_as": "k=2,rank-by=crystals-chgnet_energy"}), [
            "Perov-5, {num_test|d} rows, {draws_per_row|d} draws: CHGNet energy", k(1), k(2)]),
        Line(Src("crystals/results/perov5-csp-candidates.json", {"recorded_as": "perov5-csp-candidates"}), [
            "Perov-5, first {rows|d} rows, other {draws_per_row|d} draws: share / CHGNet energy",
            *(f"{{{MEDOID}/k={n}/match_rate|%0}} % / {{{ENERGY}/k={n}/match_rate|%0}} %" for n in (1, 2))]),
        Line(Src("crystals/results/carbon24-dng-candidates.json", {"recorded_as": "carbon24-dng-candidates"}), [
            "Carbon-24, first {rows|d} rows, {draws_per_row|d} draws: share / CHGNet energy",
            *(f"{{{MEDOID}/k={n}/match_rate|%0}} % / {{{ENERGY}/k={n}/match_rate|%0}} %" for n in (1, 2))]),
    ]),
]

DNG_CELLS = ["{metrics/validity/structure|%1} %", "{metrics/coverage/cov_recall|%1~} %",
             "{metrics/coverage/cov_precision|%1~} %",
             "{metrics/coverage/amsd_recall} / {metrics/coverage/amsd_precision}", "{metrics/wasserstein/density}"]

TABLES += [
    Table("perov5-dng", DOC, ["1,000 samples", "structural / compositional validity", "COV-R", "COV-P", "density W",
                              "#elements W"], [
        Line(Src("crystals/results/perov5-dng-dng.json", P5DNG_KEY), [
            "`perov5-dng` (one CPU hour)", "{metrics/validity/structure|%1} % / {metrics/validity/composition|%1} %",
            "{metrics/coverage/cov_recall|%1} %", "{metrics/coverage/cov_precision|%1} %",
            "{metrics/wasserstein/density}", "{metrics/wasserstein/num_elements}"]),
        Cite(["CDVAE (paper)", "100 % / 98.6 %", "99.5 %", "98.5 %", "0.126", "0.026"]),
    ], readme=["Perov-5 de novo: validity"]),
    Table("carbon24-fingerprint-noise", DOC, ["σ (Å)", *(f"{s:g}" for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4))], [
        Line(Src("crystals/results/carbon24-fingerprint-noise.json"), ["median fingerprint distance", *(
            f"{{noise_curve/[sigma_angstrom={s:g}]/median}}" for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4))]),
        Line(Src("crystals/results/carbon24-fingerprint-noise.json"), ["within the cutoff {struc_cutoff|g}", *(
            f"{{noise_curve/[sigma_angstrom={s:g}]/within_cutoff|%0}} %" for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4))]),
    ]),
    Table("carbon24-dng-200", DOC, ["200 samples", "validity", "COV-R", "COV-P",
                                    "mean nearest distance, recall / precision", "density W"], [
        Line(Src("crystals/results/carbon24-dng-dng-200.json"),
             ["bundled CPU model (`carbon24-dng-dng-200.json`)", *DNG_CELLS]),
        Line(Src("crystals/results/carbon24-dng-gpu-dng.json"),
             ["GPU model (`carbon24-dng-gpu-dng.json`)", *DNG_CELLS]),
    ], readme=["Carbon-24 de novo: validity"]),
    Table("carbon24-dng-1000", DOC, ["1,000 samples", "validity", "COV-R", "COV-P",
                                     "mean nearest distance, recall / precision", "density W", "unique / novel"], [
        Line(Src("crystals/results/carbon24-dng-dng.json", C24DNG_KEY), [
            "no corrector (`carbon24-dng-dng.json`)", *DNG_CELLS,
                                            "{metrics/uniqueness|%1} / {metrics/novelty|%1} %"]),
        Line(Src("crystals/results/carbon24-dng-dng-corrector1.json"), [
            "one corrector step (`carbon24-dng-dng-corrector1.json`)", "**{metrics/validity/structure|%1~} %**",
            "**{metrics/coverage/cov_recall|%1} %**", *DNG_CELLS[2:],
            "{metrics/uniqueness|%1} / {metrics/novelty|%1} %"]),
    ], readme=["Carbon-24 de novo: validity"]),
]

PEER = Src("crystals/results/crystals_peer.json")


def verdict(k: int) -> Calc:
    return Calc(lambda ok, diff: "equal" if diff == 0 else ("not worse" if ok else "worse"),
                [Fig(PEER.file, {}, f"comparison/match_rate/k={k}/not_worse"),
                 Fig(PEER.file, {}, f"comparison/match_rate/k={k}/difference")], "s")


def peer_rate(k: int, label: str) -> Line:
    pct = "%0" if k == 20 else "%1"
    return Line(PEER, [label, f"{{peer/metrics/k={k}/match_rate|{pct}}} % ({{peer/metrics/k={k}/rmse}})",
                       f"{{graphdiff/metrics/k={k}/match_rate|{pct}}} % ({{graphdiff/metrics/k={k}/rmse}})",
                       "{$verdict}"], figs={"verdict": verdict(k)})


def stability(name: str, model: str, src: Src, readme: str, hull: str, speed: str, bold_sun: bool = False,
              msun_ratio: bool = False) -> Table:
    """A stability table (``crystals_stability.py``): generated by ``model`` beside held-out real
    structures, rates, S.U.N., median E_hull, relaxation steps and throughput."""
    def share(label: str, what: str) -> Line:
        return Line(src, [label, f"{{sets/generated/{what}|%0}} %", f"{{sets/heldout/{what}|%0}} %",
                          f"{{ratio_generated_to_heldout/{what}|.2f?}}"])

    b = "**" if bold_sun else ""
    return Table(name, DOC, ["", f"generated (`{model}`)", "held-out real", "generated / held-out"], [
        share("stable (E_hull ≤ 0)", "stable_rate"), share("metastable (E_hull ≤ 0.1 eV/atom)", "metastable_rate"),
        share("unique", "unique_rate"), share("novel", "novel_rate"),
        Line(src, [f"{b}S.U.N.{b} / M.S.U.N.", f"{b}{{sets/generated/sun_rate|%0}} %{b} / "
                   "{sets/generated/msun_rate|%0} %", "{sets/heldout/sun_rate|%0} % / {sets/heldout/msun_rate|%0} %",
                   "{ratio_generated_to_heldout/sun_rate|.2f?}"
                   + (" / {ratio_generated_to_heldout/msun_rate|.2f?}" if msun_ratio else "")]),
        Line(src, ["median E_hull", f"{{sets/generated/e_hull_median|{hull}}} eV/atom",
                   f"{{sets/heldout/e_hull_median|{hull}}} eV/atom", ""]),
        Line(src, ["median relaxation steps", "{sets/generated/relax_steps_median|g}",
                   "{sets/heldout/relax_steps_median|g}", ""]),
        Line(src, ["relaxation throughput", f"{{sets/generated/relaxation_structures_per_min|{speed}}} structures/min",
                   f"{{sets/heldout/relaxation_structures_per_min|{speed}}} structures/min", ""]),
    ], readme=[readme])


C24S, P5S = Src("crystals/results/crystals_stability.json"), Src("crystals/results/perov5_stability.json")

TABLES += [
    Table("peer", DOC, ["", "chemeleon-dng", "graphdiff", "graphdiff / peer"], [
        Line(PEER, ["training steps in {minutes|g} min (steps/s)",
                    "{peer/train/steps|,} ({peer/train/steps_per_s|.2f})",
                    "{graphdiff/train/steps|,} ({graphdiff/train/steps_per_s|.2f})",
                    "**{comparison/training_steps_per_s_ratio|.2f}×** (target ≥ 1.5×)"]),
        Line(PEER, ["sampling, structures/s ({steps|,} steps)", "{peer/sample/structures_per_s|.2f}",
                    "{graphdiff/sample/structures_per_s|.2f}",
                    "**{comparison/sampling_structures_per_s_ratio|.2f}×** (target ≥ 2×)"]),
        Line(PEER, ["network evaluations per step", "{peer/sample/network_evals_per_step|d} (predictor + 1 corrector)",
                    "{graphdiff/sample/network_evals_per_step|d} (ancestral)", ""]),
        Line(PEER, ["peak memory, training / sampling",
                    "{peer/train/peak_rss_mb|,.0f} / {peer/sample/peak_rss_mb|,.0f} MB",
                    "{graphdiff/train/peak_rss_mb|,.0f} / {graphdiff/sample/peak_rss_mb|,.0f} MB",
                    "{comparison/peak_rss_ratio_train|.2f} / {comparison/peak_rss_ratio_sample|.2f}"]),
        peer_rate(1, "match rate (RMSE), k = 1"), peer_rate(2, "k = 2"), peer_rate(20, "k = 20"),
    ], readme=["beside chemeleon-dng"]),
    stability("carbon24-stability", "carbon24-dng", C24S, "Carbon-24 stability", ".2f", ".2f"),
    stability("perov5-stability", "perov5-dng", P5S, "Perov-5 stability", "±2", ".1f", bold_sun=True, msun_ratio=True),
]

SCALE = Src("crystals/results/crystals_scale.json")
THRU = "crystals/results/crystals_throughput.json"
FLOPS, TORCHRUN, STREAM = (Src(THRU, {"recorded_as": k}) for k in ("flops", "torchrun", "stream"))


def at(mode: str, atoms: int) -> str:
    return f"rows/[mode={mode},atoms={atoms}]"


def scale_cells(mode: str, atoms: int) -> str:
    """``1.4 ms, 0.0 MB`` below a second, ``1.24 s, 140 MB`` above (of one mode and size)."""
    return (f"{{{at(mode, atoms)}/median_ms|.1f}} ms, {{{at(mode, atoms)}/peak_increment_mb|.1f}} MB" if atoms < 100
            else f"{{$s_{mode}|.2f}} s, "
                 f"{{{at(mode, atoms)}/peak_increment_mb|{'.0f' if mode == 'fully_connected' else '.1f'}}} MB")


def seconds(mode: str, atoms: int) -> Calc:
    return Calc(lambda ms: ms / 1000, [Fig(SCALE.file, {}, f"{at(mode, atoms)}/median_ms")], ".2f")


def profile(label: str, category: str, pct: str = "%0") -> Line:
    return Line(FLOPS, [label, f"{{profile/categories/[category={category}]/share|{pct}}} %"])


def torchrun(i: int) -> Line:
    c = f"configs/{i}"
    return Line(TORCHRUN, [f"{{{c}/rows|d}}",
                           f"{{{c}/median_wall_s/1 process|.1f}} s ({{{c}/median_sampling_s/1 process|.1f}} s)",
                           f"{{{c}/median_wall_s/torchrun 2|.1f}} s ({{{c}/median_sampling_s/torchrun 2|.1f}} s)",
                           f"{{{c}/speedup_wall|.2f}} / {{{c}/speedup_sampling|.2f}}"])


TABLES += [
    Table("crystals-scale", DOC, ["atoms", "fully connected", "radius graph"], [
        Line(SCALE, ["{" + at("radius", n) + "/atoms|d}", scale_cells("fully_connected", n), scale_cells("radius", n)],
             figs={"s_fully_connected": seconds("fully_connected", n), "s_radius": seconds("radius", n)})
        for n in (5, 200)], readme=["crystal sampling step"]),
    Table("throughput-by-batch", DOC, ["compositions per batch", "time for 100 steps", "structures/s", "GFLOP/s",
                                       "share of the 1-thread peak"], [
        Line(FLOPS, [f"{{by_batch/[batch={b}]/batch|d}}", f"{{by_batch/[batch={b}]/median_sampling_s|.2f}} s",
                     f"{{by_batch/[batch={b}]/structures_per_s|.1f}}", f"{{by_batch/[batch={b}]/achieved_gflops|.1f}}",
                     f"{{by_batch/[batch={b}]/fraction_of_peak_1_thread|%1}} %"]) for b in (1, 16, 64, 256)]),
    Table("throughput-profile", DOC, ["category", "share of the step"], [
        profile("matrix multiply (`addmm`)", "matmul/linear"),
        profile("memory and shape (mostly `cat` of the edge features, copies)", "memory/shape"),
        profile("elementwise (mostly SiLU)", "elementwise"),
        profile("scatter and index (gathering node features onto pairs, the mean of messages)", "scatter/index"),
        Line(FLOPS, ["Python and dispatch (wall time minus operator time; {profile/op_calls_per_step|.0f} "
                     "operator calls "
                     "per step)", "{profile/categories/[category=python/dispatch overhead]/share|%0} %"]),
        profile("sin/cos Fourier features", "sin/cos features", "%1"),
        profile("layer norm", "layernorm", "%1"),
    ]),
    Table("throughput-torchrun", DOC, [
        "rows", "1 process: whole command (sampling)", "torchrun, 2 processes: whole command (sampling, slowest rank)",
        "speed-up: whole command / sampling"], [torchrun(0), torchrun(1)]),
    Table("throughput-stream", DOC, ["N", "peak RSS", "rows written", "wall time"], [
        Line(STREAM, [f"{{runs/{i}/num|,}}", f"{{runs/{i}/peak_rss_mb|.0f}} MB", f"{{runs/{i}/rows_written|,}}",
                      f"{{runs/{i}/wall_s|.0f}} s"]) for i in range(3)]),
]

# docs/crystals.md
CRYSTALS = "docs/crystals.md"
SCALE_ROWS = (5, 40, 80, 200)
TABLES += [
    Table("frequency-baseline-sample", CRYSTALS, ["baseline", "k = 1", "k = 2", "k = 20"], [
        Line(Src(FREQ, {"recorded_as": "bundled sample,rows=100"}), [
            "frequency", *(f"{{metrics/k={n}/match_rate|.2f}}" for n in (1, 2, 20))]),
    ]),
    Table("scale-rows", CRYSTALS, ["atoms", "edges, fully connected", "edges, 5 Å radius", "ms, fully connected",
                                   "ms, radius", "peak MB added, fully connected", "peak MB added, radius"], [
        Line(SCALE, ["{" + at("radius", n) + "/atoms|d}", "{" + at("fully_connected", n) + "/edges|d}",
                     "{" + at("radius", n) + "/edges|d}",
                     *("{" + at(m, n) + f"/median_ms|{'.1f' if n < 10 else '.0f'}}}"
                       for m in ("fully_connected", "radius")),
                     *("{" + at(m, n) + "/peak_increment_mb|.1f}" for m in ("fully_connected", "radius"))])
        for n in SCALE_ROWS]),
    Table("scale-slopes", CRYSTALS, ["", "time", "memory", "edges"], [
        Line(SCALE, [label, f"{{slopes/{m}/time_vs_atoms_ge20|.2f}}", f"{{slopes/{m}/memory_vs_atoms_ge20|.2f}}",
                     f"{{slopes/{m}/edges_vs_atoms|.2f}}"])
        for label, m in (("radius graph", "radius"), ("fully connected", "fully_connected"))],
        readme=["crystal sampling step"]),
]

# docs/crystals.md: what relaxation does to carbon24-dng draws (crystals_relax_effect.py)
RELAX = "crystals/results/crystals-relax-effect.json"
RELAX_KEY = {"checkpoint": "carbon24-dng", "seed": 0, "fmax": 0.1, "relax_steps": 300, "separate": 0.7}
#: the draws of each column pair: (label, number of draws)
RELAX_SETS = ((100, "a"), (300, "b"))
RELAX_ROWS = (
    ("free of short C–C contacts", "{X:S/short_contacts/short_contact_free|%0} %"),
    ("P1 (spglib, symprec 0.1)", "{X:S/space_groups/generated/fraction_p1|%0} %"),
    ("CDVAE COV-R / COV-P", "{X:S/coverage/cov_recall|%1} / {X:S/coverage/cov_precision|%0} %"),
    ("mean CHGNet energy, eV/atom (200 held-out rows: {a:raw/chgnet_energy/reference/mean|±2})",
     "{X:S/chgnet_energy/generated/mean|±2}"),
    ("density Wasserstein distance, g/cm³", "{X:S/wasserstein/density|.2f}"),
    ("uniqueness", "{X:S/uniqueness|%0} %"),
)


def _relax_cell(template: str, alias: str, side: str) -> str:
    return template.replace("X:", f"{alias}:").replace("S/", f"{side}/")


TABLES += [
    Table("relax-effect", CRYSTALS,
          ["", *(f"{n} draws, {side}" for n, _ in RELAX_SETS for side in ("raw", "relaxed"))], [
        Line(None, [label, *(_relax_cell(t, alias, side) for _, alias in RELAX_SETS for side in ("raw", "relaxed"))],
             more={alias: Src(RELAX, {**RELAX_KEY, "num": n}) for n, alias in RELAX_SETS})
        for label, t in RELAX_ROWS] + [
        Line(None, ["relaxed (converged) of the draws", *(
            x for _, alias in RELAX_SETS
            for x in ("", f"{{{alias}:relaxation/relaxed|d}} ({{{alias}:relaxation/converged|d}})"))],
             more={alias: Src(RELAX, {**RELAX_KEY, "num": n}) for n, alias in RELAX_SETS})]),
]

# docs/benchmarks.md: sampler settings of carbon24-dng on the validation rows (crystals_sampler.py)
SAMPLER = "crystals/results/carbon24-dng-sampler.json"
SAMPLER_KEY = {"checkpoint": "carbon24-dng", "dataset": "carbon_24", "num": 200, "steps": 500, "seed": 0}
SAMPLER_CORRECTORS = (0, 1, 2)
TABLES += [
    Table("carbon24-sampler-validation", DOC, ["corrector steps", "free of short C–C contacts", "P1",
                                               "COV-R / COV-P", "mean nearest distance, recall",
                                               "CSP k = 1 (RMSE), 81 rows", "structures/s (de novo)"], [
        Line(Src(SAMPLER, {**SAMPLER_KEY, "corrector_steps": c}), [
            f"{c}", "{dng/short_contact_free|%1} %", "{dng/fraction_p1|%1} %",
            "{dng/cov_recall|%0} / {dng/cov_precision|%0} %", "{dng/amsd_recall|.2f}",
            "{csp/match_rate@1|%1} % ({csp/rmse@1|.3f})", "{dng/structures_per_s|.2f}"])
        for c in SAMPLER_CORRECTORS]),
]

#: perov5-csp's sampler on the 152 validation rows, one draw per row (crystals_sampler.py run --num 0),
#: seeds 0 and 1; the setting with the lowest mean RMSE among those whose mean match rate is within
#: 2 points of the checkpoint's own (500 steps, no corrector) is then run on the test rows
P5_SAMPLER = "crystals/results/perov5-csp-sampler.json"
P5_SAMPLER_KEY = {"checkpoint": "perov5-csp", "dataset": "perov_5", "num": 0}
P5_SETTINGS = ((500, 0), (500, 1), (1000, 0), (1000, 1))
P5_CHOSEN = (1000, 1)


def _sampler_line(steps: int, corrector: int) -> Line:
    key = {**P5_SAMPLER_KEY, "steps": steps, "corrector_steps": corrector}
    figs = {"m": seed_stat(P5_SAMPLER, key, "csp/match_rate@1", statistics.mean, (0, 1), "%1"),
            "r": seed_stat(P5_SAMPLER, key, "csp/rmse@1", statistics.mean, (0, 1), ".3f"),
            "m0": Fig(P5_SAMPLER, {**key, "seed": 0}, "csp/match_rate@1", "%1"),
            "m1": Fig(P5_SAMPLER, {**key, "seed": 1}, "csp/match_rate@1", "%1"),
            "r0": Fig(P5_SAMPLER, {**key, "seed": 0}, "csp/rmse@1", ".3f"),
            "r1": Fig(P5_SAMPLER, {**key, "seed": 1}, "csp/rmse@1", ".3f")}
    label = (f"{steps} steps, {'no corrector' if not corrector else f'{corrector} corrector step'}"
             + (" (the checkpoint's)" if (steps, corrector) == (500, 0) else "")
             + (" (chosen)" if (steps, corrector) == P5_CHOSEN else "")
             + ": validation rows, mean of seeds 0 and 1 (each)")
    return Line(Src(P5_SAMPLER, {**key, "seed": 0}), [label, "{$m} % ({$m0} / {$m1})", "{$r} ({$r0} / {$r1})"],
                figs=figs)


TABLES += [
    Table("perov5-csp-sampler", DOC, ["one draw per row", "k = 1", "RMSE"], [
        *(_sampler_line(st, c) for st, c in P5_SETTINGS),
        over_seeds(P5, {**P5_K1, "steps": P5_CHOSEN[0], "corrector_steps": P5_CHOSEN[1]},
                   "the chosen setting on the {num_test|d} test rows: mean ± sd over seeds 0, 1, 2"),
        over_seeds(P5, P5_K1, "the checkpoint's setting on the same test rows: mean ± sd over seeds 0, 1, 2"),
    ]),
]
