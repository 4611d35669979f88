"""The graph tables of docs/benchmarks.md and docs/graphs.md, from the results files.

Written by ``python benchmarks/tables.py``; ``benchmarks/_doctable.py`` says how a cell names
its figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _doctable import Cite, Line, Src, Table  # noqa: E402

DOC = "docs/benchmarks.md"
COMMUNITY = "graphs/results/community-small-dng.json"
KINDS = ("degree", "clustering", "orbit", "spectral")


def mmd(kind: str, spec: str = ".3f", std: bool = True, bold: bool = False) -> str:
    """An MMD² of a graph benchmark's summary, mean ± std over seeds."""
    b = "**" if bold else ""
    text = f"{{summary/{kind}/mean|{spec}}}" + (f" ± {{summary/{kind}/std|{spec}}}" if std else "")
    return f"{b}{text}{b}"


def parts(alias: str = "") -> str:
    """Valid / unique / novel, the three shares V.U.N. combines (of the line's source, or of the
    one named by ``alias``)."""
    a = f"{alias}:" if alias else ""
    return " / ".join(f"{{{a}summary/{m}/mean|%0}}" for m in ("validity", "uniqueness", "novelty")) + " %"


def one_seed(label: str, src: Src, vun_parts: bool = False) -> Line:
    return Line(src, [label, *(mmd(k, std=False) for k in KINDS), *([parts()] if vun_parts else []),
                      "{summary/vun/mean|%0} %"])


def roads(label: str, file: str, vun: str = "{summary/vun/mean|%1~} %") -> Line:
    return Line(Src(file), [label, "{summary/validity/mean|%1~} / {summary/uniqueness/mean|%0} / "
                                   "{summary/novelty/mean|%0} %", vun,
                            *(mmd(k, std=False) for k in KINDS)])


TABLES = [
    Table("community-small", DOC, ["MMD²", "degree", "clustering", "orbit"], [
        Line(Src(COMMUNITY, {}, -1), [
            "graphdiff `community-small-dng` ({train_meta/train_minutes|.0f} min, {train_meta/step|,} steps)",
            mmd("degree", bold=True), mmd("clustering", bold=True), mmd("orbit", ".4f", bold=True)]),
        Line(Src(COMMUNITY, {}, 1), [
            "the same model after 40 minutes ({train_meta/step|,} steps; previous bundle)",
            mmd("degree"), mmd("clustering"), mmd("orbit")]),
        Line(Src(COMMUNITY, {}, 0), [
            "the same transformer without structure features ({train_meta/step|,} steps)",
            mmd("degree"), mmd("clustering"), mmd("orbit")]),
        Cite(["GDSS (paper)", "0.045", "0.086", "0.007"]),
    ], readme=["community-small"]),
    Table("sbm", DOC, ["", *KINDS, "valid / unique / novel", "V.U.N."], [
        one_seed("`sbm-dng`", Src("graphs/results/sbm-dng.json"), vun_parts=True),
        Cite(["DiGress (paper)", "", "", "", "", "", "74 %"]),
    ], readme=["planar / SBM"]),
    Table("planar", DOC, ["", *KINDS, "valid (connected and planar) / unique / novel", "V.U.N."], [
        Line(Src("graphs/results/planar-dng.json"), [
            "`planar-dng` (absorbing edges, planar projector, {train_meta/train_minutes|.0f} min)",
            *(mmd(k, ".4f") for k in KINDS), parts(), "{summary/vun/mean|%1} ± {summary/vun/std|%1} %"]),
        Line(Src("graphs/results/planar-absorbing-2k.json"), [
            "its snapshots at 2,000 / 4,000 steps (one seed each)",
            *(f"{{summary/{k}/mean}} / {{b:summary/{k}/mean}}" for k in KINDS), f"{parts()}; {parts('b')}",
            "{summary/vun/mean|%0} % / {b:summary/vun/mean|%0} %"],
             more={"b": Src("graphs/results/planar-absorbing-4k.json")}),
        Line(Src("graphs/results/planar-dng-marginal.json"), [
            "earlier model (marginal edges, no constraint, {train_meta/train_minutes|.0f} min, "
            "{train_meta/step|,} steps)",
            *(mmd(k, ".4f") for k in KINDS), parts(), "{summary/vun/mean|%0} %"]),
        Line(Src("graphs/results/planar-dng-projected.json"), [
            "the same earlier model sampled with the planar projector",
            *(mmd(k, ".4f") for k in KINDS), parts(), "{summary/vun/mean|%1} ± {summary/vun/std|%1} %"]),
        Cite(["DiGress (paper / its released checkpoint)", "", "", "", "", "", "75 % / 85 %"]),
    ], readme=["planar / SBM"]),
    Table("grid", DOC, ["", *KINDS, "V.U.N."], [
        one_seed("`grid-cpu60` ({train_meta/step|d} steps)", Src("graphs/results/grid-cpu60.json")),
        Cite(["GDSS (Jo et al. 2022, Table 2)", "0.111", "0.005", "0.070", "–", "–"]),
        Line(Src("graphs/results/grid-real-mmd.json", {"action": "real-mmd", "dataset": "grid"}), [
            "20 training grids against the test grids", "{mmd/degree|.5f}", "{mmd/clustering|g}", "{mmd/orbit|.5f}",
            "{mmd/spectral}", "(valid: {validity|%0} %)"]),
    ]),
    # docs/graphs.md
    Table("roads", "docs/graphs.md", ["model (60 min each)", "valid (connected, no crossings) / unique / novel",
                                      "V.U.N.", "MMD² degree", "clustering", "orbit", "spectral"], [
        roads("`roads-dng` (`roads-late.toml`)", "graphs/results/roads-dng.json", "**{summary/vun/mean|%1~} %**"),
        roads("the same, `--constraint none`", "graphs/results/roads-late-unconstrained.json"),
        roads("`roads-absorbing.toml` (cosine edge schedule)", "graphs/results/roads-absorbing.json"),
        roads("the same, `--constraint none`", "graphs/results/roads-absorbing-unconstrained.json"),
        Line(Src("graphs/results/roads-real-mmd.json", {"action": "real-mmd", "dataset": "roads"}), [
            "40 training graphs against the test graphs", "{validity|%0} % / — / —", "—", "{mmd/degree|.4f}",
            "{mmd/clustering}", "{mmd/orbit|.4f}", "{mmd/spectral}"]),
    ], readme=["road networks"]),
]
