"""The molecule tables of docs/benchmarks.md and docs/molecules.md, from the results files.

Written by ``python benchmarks/tables.py``; ``benchmarks/_doctable.py`` says how a cell names
its figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _doctable import Cite, Line, Src, Table  # noqa: E402
from _figures import Calc, Fig  # noqa: E402

DOC = "docs/benchmarks.md"
GUIDE = "molecules/results/qm9-gap-guidance.json"
CURVE = Src("molecules/results/qm9-dng-gpu-curve.json")
CPU = Src("molecules/results/qm9-dng.json", {"recorded_as": "qm9-dng"})
COND = Src("molecules/results/qm9-gap-cond.json")


def gap(label: str, key: str, bold: bool = False, more: str = "") -> Line:
    b = "**" if bold else ""
    drawn = Calc(lambda n, o: int(n * o), [Fig(GUIDE, {"recorded_as": key}, "num"),
                                          Fig(GUIDE, {"recorded_as": key}, "oversample")], "d")
    return Line(Src(GUIDE, {"recorded_as": key}), figs={"drawn": drawn}, cells=[
        label, "{guided/mae_to_goal} / {guided/mae_to_goal_valid}" + more,
        f"{b}{{mae_ratio_unguided_over_guided|.2f}}{b}",
        *(f"{{guided/{m}|%1~}} %" for m in ("atom_stability", "molecule_stability", "rdkit_validity"))])


def stability(point: str, pct: str = "%1") -> list[str]:
    """Atom stability, molecule stability and validity of a point of a QM9 curve."""
    return [f"{{{point}/{m}|{pct}}} %" for m in ("atom_stability", "mol_stability", "validity")]


def snapshots(m: str, minutes: tuple[float, ...] = (11.3, 9.8, 8.3)) -> str:
    return " / ".join(f"{{points/[gpu_minutes={g}]/{m}|%1}}" for g in minutes) + " %"


BUNDLE = "final"                                  # qm9-dng-gpu-curve.json: the bundled qm9-dng
PREVIOUS = "points/[label=last,run=0]"            # the previous bundle (the H100 session's end)
FIRST = "points/[label=init]"                     # the first bundle (H200, 6.8 min)
COND_SET = "sets/[label={}]"

TABLES = [
    Table("qm9-gap-guidance", DOC, [
        "request", "mean \\|judged − goal\\| (eV), all / RDKit-valid", "unguided / guided", "atom stability",
        "molecule stability", "RDKit validity"], [
        Line(Src(GUIDE, {"recorded_as": "scale=1,n=128,steps=200,seed=0"}), [
            "unguided", "{unguided/mae_to_goal} / {unguided/mae_to_goal_valid}", "–",
            *(f"{{unguided/{m}|%1~}} %" for m in ("atom_stability", "molecule_stability", "rdkit_validity"))]),
        gap("gradient, S = 1", "scale=1,n=128,steps=200,seed=0", bold=True),
        gap("gradient, S = 3", "scale=3,n=128,steps=200,seed=0"),
        gap("selection alone: best {num|d} of {$drawn|d} by the guide (`--scale 0 --oversample 2`)",
            "scale=0,oversample=2,n=128,steps=200,seed=0"),
        Line(Src(GUIDE, {"recorded_as": "generator=qm9-gap-cond,cfg=0,n=128,steps=200,seed=0"}), [
            "`qm9-gap-cond` (below) asked for the goal (`--generator CKPT --cfg 0`), against its own unguided draws",
            "{guided/mae_to_goal} / {guided/mae_to_goal_valid} (unguided {unguided/mae_to_goal} / "
            "{unguided/mae_to_goal_valid})", "{mae_ratio_unguided_over_guided|.2f}",
            *(f"{{guided/{m}|%1}} % ({{unguided/{m}|%1}} %)"
              for m in ("atom_stability", "molecule_stability", "rdkit_validity"))]),
    ], readme=["QM9 de novo toward a HOMO-LUMO gap"]),
    Table("qm9-dng", DOC, ["model", "molecules scored", "atom stability", "molecule stability", "RDKit validity"], [
        Line(CURVE, [f"bundled `qm9-dng` ({{{BUNDLE}/gpu_minutes|.1f}} GPU min, {{{BUNDLE}/total_steps|,}} steps)",
                     f"{{{BUNDLE}/num|,}}", *stability(BUNDLE)]),
        Line(CURVE, [f"previous bundle ({{{PREVIOUS}/gpu_minutes|.1f}} GPU min, {{{PREVIOUS}/total_steps|,}} steps "
                     "of 128)", f"{{{PREVIOUS}/num|,}}", *stability(PREVIOUS)]),
        Line(CURVE, ["that run at 11.3 / 9.8 / 8.3 GPU min", "{points/[gpu_minutes=11.3]/num|d} each",
                     snapshots("atom_stability"), snapshots("mol_stability"), snapshots("validity")]),
        Line(CURVE, [f"first bundle (H200, {{{FIRST}/gpu_minutes|.1f}} min)", f"{{{FIRST}/num|,}}",
                     *stability(FIRST)]),
        Line(CPU, ["earlier CPU model ({final/train_minutes|.0f} min, one thread, no skip term)", "{final/num|d}",
                   "{final/atom_stability|%1} %", "{final/mol_stability|%0} %", "{final/validity|%1} %"]),
        Cite(["EDM (paper)", "10,000", "98.7 %", "82.0 %", "91.9 %"]),
    ], readme=["QM9 de novo: atom"]),
    Table("qm9-gap-cond", DOC, ["", "molecules", "MAE to the request (eV)", "against shuffled requests",
                                "atom / molecule stability", "RDKit validity"], [
        Line(COND, [
            f"`qm9-gap-cond`: the bundled `qm9-dng` made conditional, "
            f"{{{COND_SET.format(label)}/train_minutes|.1f}} min "
            f"({{{COND_SET.format(label)}/step|,}} steps of 512)" if label == "qm9-gap-cond" else
            (f"the same recipe from scratch, {{{COND_SET.format(label)}/train_minutes|.1f}} min "
             f"({{{COND_SET.format(label)}/step|,}} steps of 512)" if label == "scratch" else
             f"`qm9-gap-cond` with classifier-free guidance, scale {{{COND_SET.format(label)}/guidance_scale|g}} (the "
             f"first {{{COND_SET.format(label)}/num|d}} requests; {{{COND_SET.format(label)}/steps|d}} steps, "
             "on a CPU)"),
            f"{{{COND_SET.format(label)}/num|,}}", f"{{{COND_SET.format(label)}/mae_ev|.2f}}",
            f"{{{COND_SET.format(label)}/mae_ev_shuffled_requests|.2f}}",
            f"{{{COND_SET.format(label)}/atom_stability|%1}} / {{{COND_SET.format(label)}/mol_stability|%1~}} %",
            f"{{{COND_SET.format(label)}/validity|%1}} %"]) for label in ("qm9-gap-cond", "scratch", "cfg2-cpu200")
    ] + [
        Line(COND, ["bounds with this judge on {bounds/num|,} `qm9://test` molecules: real / #atoms only / shuffled",
                    "{bounds/num|,}", "{bounds/lower_bound_judge_on_real|.2f} / {bounds/num_atoms_only|.2f} / "
                    "{bounds/upper_bound_shuffled|.2f}", "", "", ""]),
        Cite(["EDM (its own classifier): EDM / #atoms / shuffled / real", "", "0.655 / 0.866 / 1.470 / 0.064", "", "",
              ""]),
    ], readme=["QM9 conditioned on the gap"]),
    # docs/molecules.md
    Table("qm9-dng-curve", "docs/molecules.md", ["model", "atom stability", "molecule stability", "RDKit validity"], [
        Line(CPU, ["CPU, {points/0/train_minutes|.0f} min ({points/0/step|d} steps of 64)",
                   "{points/0/atom_stability|%1} %",
                   "{points/0/mol_stability|%0} %", "{points/0/validity|%0} % (single atoms: no bonds at all)"]),
        Line(CPU, ["CPU, {final/train_minutes|.0f} min ({final/step|,} steps of 64)", "{final/atom_stability|%1} %",
                   "{final/mol_stability|%0} %", "{final/validity|%1} %"]),
        Line(CURVE, [f"GPU, {{{FIRST}/gpu_minutes|.1f}} min ({{{FIRST}/total_steps|,}} steps of 128), skip term: the "
                     "first bundle", *stability(FIRST)]),
        Line(CURVE, ["GPU, 8.3 / 9.8 / 11.3 min (snapshots)", *(snapshots(m, (8.3, 9.8, 11.3)) for m in (
            "atom_stability", "mol_stability", "validity"))]),
        Line(CURVE, [f"GPU, {{{PREVIOUS}/gpu_minutes|.1f}} min ({{{PREVIOUS}/total_steps|,}} steps of 128): the "
                     "previous bundle", *stability(PREVIOUS)]),
        Line(CURVE, [f"**bundled**: GPU, {{{BUNDLE}/gpu_minutes|.1f}} min ({{{BUNDLE}/total_steps|,}} steps, the last "
                     "2,058 of 512)", *(f"**{c}**" for c in stability(BUNDLE))]),
        Cite(["EDM (paper, 1.1 M steps on a GPU)", "98.7 %", "82.0 %", "91.9 %"]),
    ], readme=["QM9 de novo: atom"]),
]
