"""The target tables of docs/benchmarks.md: generation toward a property value and CSP with a
diffraction pattern, from the results files.

Written by ``python benchmarks/tables.py``; ``benchmarks/_doctable.py`` says how a cell names
its figures (``{path|spec}`` of the line's entry, ``{alias:path|spec}`` of another).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _doctable import Cite, Line, Src, Table  # noqa: E402,F401
from _figures import Calc, Fig  # noqa: E402

DOC = "docs/benchmarks.md"
P5 = "crystals/results/perov5-csp.json"
TABLES: list[Table] = []

C24G = "targets/results/carbon24-energy-guidance.json"
C24C = "targets/results/carbon24-energy-guidance-carbon24-dng-energy.json"


def guided(label: str, src: Src, guide: bool = True) -> Line:
    """A guided set of a guidance run: the guide's mean, the judged distance, the ratio, validity,
    density and the CHGNet median."""
    return Line(src, [label, *(["{guided/guide_values_mean|±3}"] if guide else []), "{guided/mae_to_goal}",
                      "{mae_ratio_unguided_over_guided|.2f}", "{guided/structural_validity|%1~} %",
                      "{guided/density_mean|.2f}", "{guided/chgnet_energy_median|±2}"])


def unguided(label: str, src: Src, guide: bool = True) -> Line:
    return Line(src, [label, *(["–"] if guide else []), "{unguided/mae_to_goal}", "–",
                      "{unguided/structural_validity|%1~} %", "{unguided/density_mean|.2f}",
                      "{unguided/chgnet_energy_median|±2}"])


GUIDED_HEAD = ["guided set", "guide's mean value", "mean \\|judged − goal\\|", "unguided / guided", "validity",
               "density (g/cm³)", "CHGNet median (eV/atom)"]
ALSO_DENSITY = "scale=300,also=crystals-density<=3.7@0.003,also=crystals-density>=2.6@0.003"


#: targets_guidance.py select-report --oversample 4: the choice (validation judge) and the report (held-out judge)
C24C_SELECT = {"guide": "cfg", "action": "select", "judge": "vjudge", "oversample": 4.0}
C24C_REPORT = {"guide": "cfg", "action": "report", "judge": "judge", "oversample": 4.0}
BEST_OF = "best {num|d} of {$drawn|d}"


def _drawn(key: dict) -> Calc:
    """How many guided structures were drawn for the ``num`` kept."""
    return Calc(lambda n, o: int(n * o), [Fig(C24C, key, "num"), Fig(C24C, key, "oversample")], "d")


def cfg(label: str, select: str, key: str, bold: bool = False, draws: str = "seed-0 sweep, held-out judge") -> Line:
    """A run of the earlier sweep (``run``, seed 0 unless its key says seed 1)."""
    b = "**" if bold else ""
    cells = [label, draws, select, "{guided/mae_to_goal}", "{mae_ratio_unguided_over_guided|.2f}",
             "{guided/structural_validity|%1~} %", "{guided/density_mean|.2f}", "{guided/chgnet_energy_median|±2}"]
    return Line(Src(C24C, {"recorded_as": key}), [f"{b}{c}{b}" for c in cells],
                figs={"drawn": _drawn({"recorded_as": key})})


def c24_select(w: float) -> Line:
    """A weight's guided set drawn with the selection seed, scored by the validation judge."""
    key = {"guide": "cfg", "scale": w, "judge": "vjudge", "seed": 100, "oversample": 4.0}
    return Line(Src(C24C, key), [
        f"{w:g}", "selection, seed {seed|d}, validation judge", BEST_OF, "{guided/mae_to_goal}",
        "{mae_ratio_unguided_over_guided|.2f}", "{guided/structural_validity|%1~} %", "{guided/density_mean|.2f}",
        "{guided/chgnet_energy_median|±2}"], figs={"drawn": _drawn(key)})


def c24_seed(i: int) -> Line:
    """The ``i``-th reported seed at the chosen weight, scored by the held-out judge."""
    return Line(Src(C24C, C24C_REPORT), [
        "chosen: {chosen_scale|g}", f"report, seed {{per_seed/{i}/seed|d}}, held-out judge", BEST_OF,
        f"{{per_seed/{i}/guided_mae}} (unguided {{per_seed/{i}/unguided_mae}})", f"{{per_seed/{i}/ratio|.2f}}",
        f"{{per_seed/{i}/guided_validity|%1~}} % (unguided {{per_seed/{i}/unguided_validity|%1~}} %)",
        f"{{per_seed/{i}/guided_density_mean|.2f}} (unguided {{per_seed/{i}/unguided_density_mean|.2f}})",
        f"{{per_seed/{i}/guided_chgnet_energy_median|±2}} "
        f"(unguided {{per_seed/{i}/unguided_chgnet_energy_median|±2}})"],
        figs={"drawn": _drawn(C24C_REPORT)})


def goal(q: str, more: str = "") -> Line:
    a, b = f"cfg,scale=1,oversample=4{q}", f"cfg,scale=1,oversample=4{q},seed=1"
    two = [f"{{{path}}} / {{b:{path}}}" for path in ("unguided/mae_to_goal", "guided/mae_to_goal")]
    return Line(Src(C24C, {"recorded_as": a}), [
        f"{{goal|±3}} ({{goal_quantile_of_train|g}}{more})", *two,
        "{mae_ratio_unguided_over_guided|.2f} / {b:mae_ratio_unguided_over_guided|.2f}",
        "{guided/guide_values_mean|±3} / {b:guided/guide_values_mean|±3}",
        "{guided/judged_mean|±3} / {b:guided/judged_mean|±3}",
        "{guided/structural_validity|%0} %"], more={"b": Src(C24C, {"recorded_as": b})})


TABLES += [
    Table("carbon24-energy-gradient", DOC, GUIDED_HEAD, [
        unguided("unguided", Src(C24G, {"recorded_as": "scale=1"})),
        *(guided(f"`--gradient-scale {s}`", Src(C24G, {"recorded_as": f"scale={s}"})) for s in (1, 30, 100, 300)),
        guided("scale 100, `--oversample 4`", Src(C24G, {"recorded_as": "scale=100,oversample=4"})),
        guided("scale 300, `--oversample 4`", Src(C24G, {"recorded_as": "scale=300,oversample=4"})),
        guided("selection only (scale 0, `--oversample 4`)", Src(C24G, {"recorded_as": "scale=0,oversample=4"})),
        guided("scale 300, `--guide-fields frac_coords`", Src(C24G, {"recorded_as": "scale=300,fields=frac_coords"})),
        guided("selection by guide and CHGNet (scale 0, `--oversample 4`, "
               "`--also \"crystals-chgnet_energy<=-9.06@0.1\"`)",
               Src(C24G, {"recorded_as": "scale=0,oversample=4,also=crystals-chgnet_energy<=-9.06@0.1"})),
        guided("scale 300, `--also \"crystals-density<=3.7@0.003\" --also \"crystals-density>=2.6@0.003\"`",
               Src(C24G, {"recorded_as": ALSO_DENSITY})),
    ], readme=["Carbon-24 de novo toward an energy"]),
    Table("carbon24-energy-cfg", DOC, [
        "`--guidance-scale` w", "draws, judge", "kept", "mean \\|judged − goal\\|", "unguided / guided",
        "validity", "density (g/cm³)", "CHGNet median (eV/atom)"], [
        Line(Src(C24C, {"guide": "cfg", "scale": 0.0, "judge": "vjudge", "seed": 100, "oversample": 4.0}), [
            "unguided", "selection, seed {seed|d}, validation judge", "–", "{unguided/mae_to_goal}", "–",
            "{unguided/structural_validity|%1~} %", "{unguided/density_mean|.2f}",
            "{unguided/chgnet_energy_median|±2}"]),
        *(c24_select(w) for w in (0.0, 1.0, 3.0)),
        Line(Src(C24C, C24C_SELECT), [
            "**chosen: {chosen_scale|g}**", "selection, seed {seed|d}, validation judge", BEST_OF,
            "**{chosen/guided_mae}**", "**{chosen/ratio|.2f}**", "{chosen/guided_validity|%1~} %",
            "{chosen/guided_density_mean|.2f}", "{chosen/guided_chgnet_energy_median|±2}"],
            figs={"drawn": _drawn(C24C_SELECT)}),
        *(c24_seed(i) for i in range(3)),
        Line(Src(C24C, C24C_REPORT), [
            "**chosen: {chosen_scale|g}**", "report, mean ± sd of seeds {seeds/0|d}–{seeds/-1|d}", BEST_OF,
            "**{guided_mae/mean} ± {guided_mae/sd}** (unguided {unguided_mae/mean} ± {unguided_mae/sd})",
            "**{ratio/mean|.2f} ± {ratio/sd|.2f}**",
            "change {validity_change_points/mean|±1} ± {validity_change_points/sd|.1f} points", "–", "–"],
            figs={"drawn": _drawn(C24C_REPORT)}),
        Line(Src(C24C, {"recorded_as": "cfg,scale=0,oversample=4"}), [
            "unguided", "seed-0 sweep, held-out judge", "–", "{unguided/mae_to_goal}", "–",
            "{unguided/structural_validity|%1~} %", "{unguided/density_mean|.2f}",
            "{unguided/chgnet_energy_median|±2}"]),
        cfg("0 (the condition alone)", "–", "cfg,scale=0"),
        cfg("1", "–", "cfg,scale=1"),
        cfg("3", "–", "cfg,scale=3"),
        cfg("0", BEST_OF, "cfg,scale=0,oversample=4"),
        cfg("1", BEST_OF, "cfg,scale=1,oversample=4"),
        cfg("3", BEST_OF, "cfg,scale=3,oversample=4"),
        cfg("1 (its own unguided set: {unguided/mae_to_goal})", BEST_OF, "cfg,scale=1,oversample=4,seed=1",
            draws="seed-1 repeat, held-out judge"),
    ], readme=["Carbon-24 de novo toward an energy"]),
    Table("carbon24-energy-goals", DOC, [
        "goal (quantile of the training split)", "\\|judged − goal\\|, unguided", "\\|judged − goal\\|, guided",
        "unguided / guided", "guide's mean value", "judged mean", "validity"], [
        goal("", ", above"), goal(",quantile=0.5"), goal(",quantile=0.9")]),
    Table("carbon24-energy-noisy", DOC, [
        "`--gradient-scale` (noisy reading)", *GUIDED_HEAD[1:]], [
        guided(f"{s:,}", Src(C24G, {"recorded_as": f"noisy,scale={s}"})) for s in (10, 100, 1000, 3000, 10000)]),
    Table("carbon24-energy-chgnet", DOC, ["set", *GUIDED_HEAD[2:]], [
        unguided("unguided", Src(C24G, {"recorded_as": "chgnet,scale=1"}), guide=False),
        *(guided(f"CHGNet guidance, scale {s}", Src(C24G, {"recorded_as": f"chgnet,scale={s}"}), guide=False)
          for s in (1, 2))]),
]

HEAT = "targets/results/perov5-heat-guidance.json"
XRD = "targets/results/perov5-xrd.json"
C24X = "targets/results/carbon24-xrd-ranking.json"


#: targets_guidance.py select-report: the choice (validation judge) and the report (held-out judge)
HEAT_SELECT = {"guide": "cfg", "action": "select", "judge": "vjudge"}
HEAT_REPORT = {"guide": "cfg", "action": "report", "judge": "judge"}
SWEEP = "seed-0 sweep, held-out judge"


def heat(label: str, key: str, bold: bool = False, draws: str = SWEEP) -> Line:
    b = "**" if bold else ""
    return Line(Src(HEAT, {"recorded_as": key}), [
        label, draws, f"{b}{{guided/mae_to_goal}}{b}", f"{b}{{mae_ratio_unguided_over_guided|.2f}}{b}",
        "{guided/structural_validity|%1~} %"])


def heat_select(w: float) -> Line:
    """A weight's guided set drawn with the selection seed, scored by the validation judge."""
    return Line(Src(HEAT, {"guide": "cfg", "scale": w, "judge": "vjudge", "seed": 100}), [
        f"condition, W = {w:g}", "selection, seed {seed|d}, validation judge", "{guided/mae_to_goal}",
        "{mae_ratio_unguided_over_guided|.2f}", "{guided/structural_validity|%1~} %"])


def heat_seed(i: int) -> Line:
    """The ``i``-th reported seed at the chosen weight, scored by the held-out judge."""
    return Line(Src(HEAT, HEAT_REPORT), [
        "condition, chosen W = {chosen_scale|g}", f"report, seed {{per_seed/{i}/seed|d}}, held-out judge",
        f"{{per_seed/{i}/guided_mae}} (unguided {{per_seed/{i}/unguided_mae}})", f"{{per_seed/{i}/ratio|.2f}}",
        f"{{per_seed/{i}/guided_validity|%1~}} % (unguided {{per_seed/{i}/unguided_validity|%1~}} %)"])


def xrd(label: str, key: str, bold: bool = False) -> Line:
    b = "**" if bold else ""
    return Line(Src(XRD, {"recorded_as": key}), [label, f"{b}{{match_rate_k1|%1}} %{b}", "{rmse_k1}"])


def xrd24(label: str, key: str, bold: bool = False, rmse: bool = False) -> Line:
    b = "**" if bold else ""
    r = " (RMSE {first_candidate_by_xrd_similarity/rmse})" if rmse else ""
    return Line(Src(C24X, {"recorded_as": key}), [
        label, f"{b}{{first_candidate_by_xrd_similarity/match_rate|%0}} %{b}{r}",
        "{best_of_all_distinct_candidates/match_rate|%0} %"])


TABLES += [
    Table("perov5-heat-guidance", DOC, ["request", "draws, judge", "mean \\|judged − goal\\|",
                                        "unguided / guided", "structural validity"], [
        Line(Src(HEAT, {"guide": "cfg", "scale": 0.0, "judge": "vjudge", "seed": 100}), [
            "unguided", "selection, seed {seed|d}, validation judge", "{unguided/mae_to_goal}", "–",
            "{unguided/structural_validity|%1~} %"]),
        *(heat_select(w) for w in (0.0, 1.0, 3.0, 6.0)),
        Line(Src(HEAT, HEAT_SELECT), [
            "**chosen: W = {chosen_scale|g}**", "selection, seed {seed|d}, validation judge",
            "**{chosen/guided_mae}**", "**{chosen/ratio|.2f}**", "{chosen/guided_validity|%1~} %"]),
        *(heat_seed(i) for i in range(3)),
        Line(Src(HEAT, HEAT_REPORT), [
            "**condition, chosen W = {chosen_scale|g}**", "report, mean ± sd of seeds {seeds/0|d}–{seeds/-1|d}",
            "**{guided_mae/mean} ± {guided_mae/sd}** (unguided {unguided_mae/mean} ± {unguided_mae/sd})",
            "**{ratio/mean|.2f} ± {ratio/sd|.2f}**",
            "change {validity_change_points/mean|±1} ± {validity_change_points/sd|.1f} points"]),
        Line(Src(HEAT, {"recorded_as": "cfg,scale=3"}), ["unguided", SWEEP, "{unguided/mae_to_goal}", "–",
                                                         "{unguided/structural_validity|%1~} %"]),
        heat("condition, W = 0", "cfg,scale=0"), heat("condition, W = 1", "cfg,scale=1"),
        heat("condition, W = 3", "cfg,scale=3"), heat("condition, W = 6", "cfg,scale=6"),
        *(heat(f"gradient, S = {s}", f"scale={s}") for s in (1, 3, 10, 30, 100)),
        heat("gradient by the current `perov5-heat` (CHGNet offset), S = 5", "scale=5"),
    ], readme=["Perov-5 de novo toward a heat of formation"]),
    Table("perov5-xrd", DOC, ["model, pattern, draws per row", "match rate, first candidate", "RMSE"], [
        Line(Src(P5, {"recorded_as": "k=2"}, {"draws_per_row": 4}), [
            "`perov5-csp`, no pattern, {draws_per_row|d} draws ranked by share", "{metrics/k=1/match_rate|%1} %",
            "{metrics/k=1/rmse}"]),
        xrd("`perov5-csp`, clean pattern, 4 draws", "perov5-csp-clean-d4"),
        xrd("`perov5-csp`, noisy pattern, 4 draws", "perov5-csp-noisy-d4"),
        xrd("`perov5-csp`, clean pattern, 8 draws", "perov5-csp-clean-d8", bold=True),
        xrd("`perov5-csp`, noisy pattern, 8 draws", "perov5-csp-noisy-d8", bold=True),
        xrd("`perov5-xrd` (conditioned on the pattern), clean pattern, 4 draws", "perov5-xrd-clean-d4"),
        xrd("`perov5-xrd` (conditioned on the pattern), noisy pattern, 4 draws", "perov5-xrd-noisy-d4"),
    ], readme=["Perov-5 CSP with a powder pattern"]),
    Table("carbon24-xrd", DOC, ["model, pattern", "first candidate by similarity",
                                "best of all distinct candidates"], [
        xrd24("`carbon24-dng` completing the composition, clean pattern", "carbon24-dng-clean-both-100"),
        xrd24("`carbon24-dng`, noisy pattern", "carbon24-dng-noisy-both-100"),
        xrd24("`carbon24-xrd` (conditioned on the pattern), clean pattern", "carbon24-xrd-clean-both-100",
              bold=True, rmse=True),
        xrd24("`carbon24-xrd`, noisy pattern", "carbon24-xrd-noisy-both-100", rmse=True),
        Line(Src("crystals/results/csp-frequency-baseline.json",
                 {"action": "baselines", "dataset": "carbon_24", "rows": 100, "k": 10}), [
            "no model, no pattern: frequency baseline (the {k|d} commonest training structures of the row's size), "
            "the same {num_references|d} rows", "{metrics/k=1/match_rate|%0} % (RMSE {metrics/k=1/rmse})",
            "{metrics/k=10/match_rate|%0} % (of {k|d})"]),
    ], readme=["Carbon-24 CSP with a powder pattern"], indent="  "),
]


def search(label: str, key: str) -> Line:
    return Line(Src(C24X, {"recorded_as": key}), [
        label, "**{first_candidate/match_rate|%1} %** (RMSE {first_candidate/rmse})",
        "{any_of_first_10/match_rate|%1} %"])


TABLES += [
    Table("carbon24-xrd-search", DOC, ["search-match", "first candidate", "any of the first 10"], [
        search("clean pattern, all {rows|d} rows", "search-clean"),
        search("noisy pattern, all {rows|d} rows", "search-noisy"),
        Line(Src(C24X, {"recorded_as": "search-clean-100"}), [
            "clean / noisy pattern, the first {rows|d} rows",
            "{first_candidate/match_rate|%0} % / {b:first_candidate/match_rate|%0} %",
            "{any_of_first_10/match_rate|%0} % / {b:any_of_first_10/match_rate|%0} %"],
            more={"b": Src(C24X, {"recorded_as": "search-noisy-100"})}),
    ], indent="  "),
]
