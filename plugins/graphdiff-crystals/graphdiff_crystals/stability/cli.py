"""``graphdiff stability`` (registered by the crystals plugin through ``register_commands``): parses
its options, calls :func:`graphdiff_crystals.stability.report.run_stability`, writes the report
and prints the rates with their denominators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from graphdiff_crystals.stability.relaxation import RelaxSettings
from graphdiff_crystals.stability.report import RATES, run_stability

__all__ = ["stability_command", "summary_lines"]


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The printed summary of a report: how many structures were scored, then every rate as
    ``count/denominator (percent)`` over the structures it could be computed for."""
    s = summary
    n = s["num_generated"]

    def frac(key: str) -> str:
        k, d = s[f"num_{key}"], s[RATES[key]]
        if k is None:
            return "n/a (needs --train)"
        return f"{k}/{d} ({100 * k / d:.1f}%)" if d else "n/a (none scored)"

    lines = [f"scored {s['num_scored']} of {n} structures ({s['num_unreadable']} unreadable, {s['num_errors']} "
             f"failed, {s['num_outside_hull']} with elements the hull has no reference for); "
             f"{s['num_timed_out']} timed out (scored at their last step)"]
    lines.append(f"stable (E_hull <= 0): {frac('stable')}   metastable (<= 0.1 eV/atom): {frac('metastable')}")
    lines.append(f"unique: {frac('unique')}   novel: {frac('novel')}   (of the {s['num_compared']} with a relaxed "
                 "structure)")
    lines.append(f"SUN: {frac('sun')}   MSUN: {frac('msun')}")
    return lines


def _build_command() -> Any:
    import click

    @click.command("stability")
    @click.option("--generated", "generated", required=True, type=click.Path(exists=True, path_type=Path),
                  help="Generated structures (any format the crystals domain reads, e.g. a CDVAE-style CSV).")
    @click.option("--entries", "entries", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Reference entries JSON: the hull. A list of ComputedEntry/ComputedStructureEntry dicts as "
                       "mp-api's MPRester.get_entries returns them ([e.as_dict() for e in entries]), with the "
                       "chemical systems' elements.")
    @click.option("--train", "train", type=click.Path(exists=True, path_type=Path),
                  help="Training structures: the novelty reference, and the hull (relaxed with CHGNet) when "
                       "--entries is not given.")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Report JSON: protocol, hull, summary and one row per structure.")
    @click.option("--entries-correction", type=click.Choice(["auto", "mp2020", "none"]), default="auto",
                  show_default=True,
                  help="MP2020 for the --entries: auto = entries with VASP run parameters are (re)processed with "
                       "MaterialsProject2020Compatibility, others used as given.")
    @click.option("--element-refs", type=click.Path(exists=True, path_type=Path),
                  help="Pure-element structures to relax and add to a --train hull (for elements without a "
                       "pure-element training structure or standard structure, e.g. O2, N2, Cl2).")
    @click.option("--no-shipped-refs", is_flag=True,
                  help="With --train: do not complete the hull with the shipped CHGNet elemental references "
                       "(elements without a training or standard reference then get no E_hull).")
    @click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
                  help="Cache of relaxed training energies [default: OUT with .relax-cache.json].")
    @click.option("--fmax", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
                  help="Force convergence (eV/Å).")
    @click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
                  help="Maximum relaxation steps per structure.")
    @click.option("--time-limit", type=click.FloatRange(min=0), default=300.0, show_default=True,
                  help="Seconds per structure (its share of the batched work; wall clock with --relaxer ase); "
                       "a structure out of time keeps its last step and is marked timed_out.")
    @click.option("--relaxer", "engine", type=click.Choice(["batched", "ase"]), default="batched", show_default=True,
                  help="batched: FIRE + FrechetCellFilter on --batch-size structures per CHGNet call; ase: chgnet's "
                       "StructOptimizer (the same FIRE and filter), one structure at a time.")
    @click.option("--no-relax", is_flag=True, help="Static CHGNet energies of the structures as given.")
    @click.option("--fixed-cell", is_flag=True, help="Relax positions only.")
    @click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                  help="Relaxation processes.")
    @click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
                  help="Structures per CHGNet call (static energies, and the batched relaxer).")
    @click.option("--max-atoms", type=click.IntRange(min=1), default=200, show_default=True,
                  help="Larger structures get an error row.")
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
    @click.option("--save-relaxed", type=click.Path(path_type=Path),
                  help="Also write the relaxed structures (any format the crystals domain writes).")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
    def stability_cmd(generated: Path, entries: Path | None, train: Path | None, out: Path, entries_correction: str,
                      element_refs: Path | None, no_shipped_refs: bool, cache: Path | None, fmax: float, steps: int,
                      time_limit: float, engine: str, no_relax: bool, fixed_cell: bool, workers: int,
                      batch_size: int, max_atoms: int, device: str,
                      save_relaxed: Path | None, quiet: bool) -> None:
        """Stability of generated crystals: CHGNet relaxation, energy above the convex hull, and the
        stable / metastable / unique / novel / S.U.N. rates.

        The hull is built from --entries (Materials Project entries: a JSON list of
        ComputedStructureEntry dicts, as MPRester().get_entries(...) returns them, written with
        json.dump([e.as_dict() for e in entries], f) or monty's dumpfn) or, without them, from the
        --train structures relaxed the same way plus elemental references (the shipped CHGNet
        references for elements the training set lacks). Energies are on the MP2020-corrected
        scale (CHGNet is trained on MP2020-corrected MPtrj energies). Rates are over the
        structures that could be scored ("scored M of N"). See docs/stability.md.
        """
        if entries is None and train is None:
            raise click.UsageError("give --entries MP.json (the hull) or --train TRAIN.csv (hull from the "
                                   "training set), or both (hull from --entries, novelty against --train)")
        if (element_refs is not None or no_shipped_refs) and entries is not None:
            raise click.UsageError("--element-refs and --no-shipped-refs concern a --train hull; with --entries the "
                                   "hull is the entries")
        settings = RelaxSettings(fmax=fmax, steps=steps, time_limit=time_limit, relax=not no_relax,
                                 relax_cell=not fixed_cell, device=None if device == "auto" else device,
                                 engine=engine, batch_size=batch_size)
        cache_path = cache
        if cache_path is None and entries is None:
            cache_path = out.with_name(out.stem + ".relax-cache.json")

        def log(msg: str) -> None:
            click.echo(msg, err=True)

        report, relaxed = run_stability(generated, entries_path=entries, train_path=train, settings=settings,
                                        entries_correction=entries_correction, element_refs_path=element_refs,
                                        cache_path=cache_path, workers=workers, batch_size=batch_size,
                                        max_atoms=max_atoms, progress=not quiet,
                                        shipped_references=not no_shipped_refs, log=log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=_json_default))
        if save_relaxed is not None:
            from graphdiff_crystals.io import write_structures

            write_structures([{"id": rid, "obj": s} for rid, s in relaxed], save_relaxed)
        click.echo(f"hull: {report['hull']['description']}")
        for line in summary_lines(report["summary"]):
            click.echo(line)
        t = report["timing"]
        if t["relax_s_per_structure_mean"] is not None and not no_relax:
            click.echo(f"relaxation: {t['relax_s_per_structure_mean']:.2f} s per structure on average "
                       f"(median {t['relax_s_per_structure_median']:.2f} s), total {t['total_s']:.1f} s")
        click.echo(f"wrote {out}" + (f" and {save_relaxed}" if save_relaxed else ""))

    return stability_cmd


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


stability_command = _build_command()
