"""``graphdiff sample``: generate from a checkpoint (de novo, from input items or formulas,
toward targets), and the output and request helpers ``evaluate`` and ``interpolate`` share."""

from __future__ import annotations

import time
from pathlib import Path

import click

from graphdiff.cli.main import cli
from graphdiff.errors import ConfigError, DataError


class _SampleCommand(click.Command):
    """``graphdiff sample`` with one option ``--<name> FILE`` per registered reference kind
    (:mod:`graphdiff.references`; e.g. ``--xrd``) and its ``--<name>-<option>`` options."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        extra = getattr(self, "_reference_params", None)
        if extra is None:
            extra = []
            try:
                from graphdiff.plugins import get_manager

                entries = list(get_manager().registry("references").entries())
            except Exception:  # noqa: BLE001 - a broken plugin must not break the core command
                entries = []
            for e in entries:  # from the registrations' metadata: no reference module is imported
                try:
                    name, domain = e.name, e.meta("domain")
                    description = e.description or e.meta("description", "")
                    similarity = e.meta("similarity_description", "")
                    options = e.meta("options", {}) or {}
                except Exception as exc:  # noqa: BLE001 - one broken reference must not break the command
                    click.echo(f"warning: {exc}; --{e.name} is not offered", err=True)
                    continue
                extra.append(click.Option(
                    [f"--{name}", f"ref__{name}"], type=click.Path(dir_okay=False),
                    help=f"({domain}) {description} File for every input item (an input column "
                         f"{name!r} gives one per item, relative to the input file). Candidates "
                         f"are ranked by {similarity or 'similarity'} (column "
                         f"{name}_similarity); a model trained on its encoding is conditioned on it."))
                for opt, (typ, default, help_) in options.items():
                    extra.append(click.Option([f"--{name}-{opt.replace('_', '-')}",
                                               f"refopt__{name}__{opt}"], type=typ, default=default,
                                              show_default=True, help=help_))
            self._reference_params = extra
        help_option = self.get_help_option(ctx)
        rest = [p for p in params if p is not help_option]
        return rest + extra + ([help_option] if help_option is not None else [])


#: options sample and interpolate share
_gradient_scale = click.option(
    "--gradient-scale", type=float, default=1.0, show_default=True,
    help="Weight of gradient guidance from --target requests on differentiable targets.")
_guidance_mode = click.option(
    "--guidance-mode", type=click.Choice(["auto", "clean", "noisy"]), default="auto", show_default=True,
    help="How gradient guidance reads a target: a time-aware predictor (trained with "
         "noisy = true on this model's processes) reads the noisy states at each step; "
         "other targets read the denoiser's clean estimate. auto: time-aware where it "
         "fits the model; clean: always the clean estimate; noisy: time-aware or an error.")


@cli.command("sample", cls=_SampleCommand)
@click.option("--checkpoint", "-c", required=True, help="Checkpoint path or bundled name.")
@click.option("--out", "-o", "out_arg", required=True, type=click.Path(),
              help="Output file (.jsonl/.pt for any domain, or a format the domain writes), or a "
                   "folder (a path ending in '/', or an existing directory) that gets one file per "
                   "graph, named from its id (and rank), in the domain's single-graph format or "
                   "--format (social, traffic: GraphML; crystals: CIF; molecules: XYZ).")
@click.option("--num", "-n", type=int, help="Number of graphs (de novo).")
@click.option("--input", "input_path", type=click.Path(exists=True, path_type=Path),
              help="Items whose given fields the model completes; crystals: structures (CIF, POSCAR, "
                   "CDVAE CSV...), a .txt file of formulas (FORMULA or ID FORMULA per line) or a CSV "
                   "with a formula column.")
@click.option("--task", help="A task of the domain (e.g. crystals: csp, dng). Default: complete the "
              "--input items' given fields, or de novo with --num.")
@click.option("--samples-per-row", "-k", type=int, default=1, show_default=True,
              help="Candidates per input item: distinct answers, ranked (see --draws).")
@click.option("--draws", type=int, help="Samples drawn per input item to choose the K candidates from, "
              "grouped with the domain's equivalence and ranked by how often each answer is drawn "
              "[default: 2K when K > 1, else 1].")
@click.option("--max-draws", type=int, help="Draw up to this many per item while fewer than K distinct "
              "answers were found [default: max(draws, 4K)].")
@click.option("--allow-larger", is_flag=True, help="Accept input items larger than any training item.")
@click.option("--no-distinct", is_flag=True, help="K independent samples per item, no grouping or ranking.")
@click.option("--target", multiple=True,
              help="NAME=VALUE (repeatable): a condition the model was trained on (classifier-free "
                   "guidance), or a registered differentiable target (gradient guidance; also "
                   "NAME<=VALUE, NAME>=VALUE, and @WEIGHT to weigh requests against each other).")
@click.option("--predictor", "predictors", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A trained predictor (graphdiff predictor train) whose properties become targets "
                   "for --target (repeatable).")
@click.option("--judge", "judges", multiple=True,
              help="A predictor file or a registered target that scores the generated items "
                   "independently (repeatable): column judged_<target>, and for each --target "
                   "request on the same property, the mean distance to it as this judge sees it. "
                   "Use a predictor trained on data the generator never saw.")
@click.option("--guidance-scale", type=float, help="Classifier-free guidance weight.")
@_gradient_scale
@_guidance_mode
@click.option("--guide-fields", "guide_fields", multiple=True,
              help="Gradient guidance moves only this generated field (repeatable; default: every "
                   "continuous one), e.g. crystals: --guide-fields frac_coords leaves the cell to the model.")
@click.option("--oversample", type=float, default=1.0, show_default=True,
              help="De novo with --target requests on registered targets: draw OVERSAMPLE x N items "
                   "and keep the N whose target values best meet the requests (the weighted sum "
                   "of |value - V| for =, of the shortfall for <= and >=), in the order drawn "
                   "(best-of-N selection, beside or instead of gradient guidance: with "
                   "--gradient-scale 0 the targets only select).")
@click.option("--rank-by", "rank_by",
              help="NAME[:min|:max]: rank each --input item's distinct candidates by a registered "
                   "target (graphdiff targets), lowest first (:min, the default, as for an energy, "
                   "e.g. crystals-chgnet_energy) or highest first (:max), instead of by their share "
                   "of the draws; each answer is represented by its best-scoring draw and the "
                   "value is written in a column NAME. Draws default to max(4, 2K).")
@click.option("--formula", "formulas", multiple=True, metavar="FORMULA",
              help="(instead of --input) An item to complete, e.g. crystals: a composition such as "
                   "SrTiO3, the cell as written (Sr2Ti2O6: 10 atoms); repeatable.")
@click.option("--formula-units", type=click.IntRange(min=1), metavar="Z",
              help="Crystals: make each formula's cell Z units of its reduced formula (--formula, or "
                   "--input with a file of formulas).")
@click.option("--allow-unseen", is_flag=True,
              help="Accept input items with classes the model never saw in training (crystals: elements).")
@click.option("--steps", type=int, help="Reverse steps (default: the config's).")
@click.option("--sampler", type=click.Choice(["ancestral", "ddim"]), help="Sampler.")
@click.option("--corrector-steps", type=int, help="Langevin corrector steps for torus fields.")
@click.option("--constraint",
              help="A registered edge constraint (graphdiff plugins lists them: planar, forest, "
                   "max-degree-K...) kept in every state of the reverse process: the edges each step "
                   "adds are inserted in random order and those that would break it are discarded. "
                   "Default: the model's own (diffusion.constraint); 'none' switches it off.")
@click.option("--batch-size", type=int, help="Graphs per chunk.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="Where to sample: cpu, cuda, cuda:N, or auto (under torchrun each rank takes "
                   "cuda:LOCAL_RANK when CUDA is present; otherwise cuda when present, else cpu).")
@click.option("--format", "fmt", help="Per-file format of a folder --out (crystals: cif, poscar, extxyz, json; "
              "default: the domain's single-graph format).")
@click.option("--overwrite", is_flag=True, help="Write into a folder that already holds files (files of the same "
              "name are replaced).")
@click.option("--no-ema", is_flag=True, help="Sample with the raw weights, not their moving average.")
@click.option("--relax", is_flag=True, help="Relax every generated item before it is written (crystals: CHGNet, "
              "FIRE on positions and cell); OUT gets columns energy_per_atom, relax_converged, relax_steps, "
              "relax_displacement_rms/max, and relax_error where one failed (that item is written as generated).")
@click.option("--fmax", type=float, default=0.1, show_default=True,
              help="--relax: converged when every force is below FMAX (crystals: eV/Å).")
@click.option("--relax-steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="--relax: most optimiser steps per item.")
@click.option("--keep-unrelaxed", is_flag=True, help="--relax: also write the items as generated, to OUT with "
              "'.unrelaxed' before the suffix (a folder OUT: a sibling folder NAME.unrelaxed).")
@click.option("--strict", is_flag=True, help="Stop at the first generated item the domain cannot convert "
              "(default: skip it, count it and list it in a skip report beside --out).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sample_cmd(checkpoint: str, out_arg: str, num: int | None, input_path: Path | None,
               formulas: tuple[str, ...], formula_units: int | None, task: str | None, samples_per_row: int,
               draws: int | None, max_draws: int | None, allow_larger: bool, allow_unseen: bool, no_distinct: bool,
               target: tuple[str, ...], predictors: tuple[Path, ...], judges: tuple[str, ...],
               guidance_scale: float | None, gradient_scale: float, guidance_mode: str,
               guide_fields: tuple[str, ...], oversample: float, rank_by: str | None, steps: int | None,
               sampler: str | None, corrector_steps: int | None, constraint: str | None,
               batch_size: int | None, seed: int, device: str, fmt: str | None, overwrite: bool, no_ema: bool,
               relax: bool, fmax: float, relax_steps: int, keep_unrelaxed: bool, strict: bool, quiet: bool,
               **reference_args) -> None:
    """Generate graphs with a trained model and stream them to OUT.

    De novo with --num N. With --input FILE or --formula (crystals: a file of structures, a
    .txt file of formulas, a CSV with a formula column; or formulas such as SrTiO3), each item's
    given fields (e.g. a composition) are completed. With --samples-per-row K the K candidates
    of an item are distinct where the model offers distinct answers: more samples are drawn,
    grouped by the domain's equivalence (crystals: StructureMatcher) and ranked by validity, then
    by the share of draws each answer received; OUT gets the columns candidate_id ("{id}-{rank}"),
    rank, share and distinct beside the input's id. --rank-by NAME ranks them by a registered
    target instead (e.g. an energy).

    With OUT a folder (ending in "/" or an existing directory) every graph gets its own file in
    the domain's single-graph format or --format (crystals: ID_FORMULA_RANK.cif, or
    FORMULA_RANK.cif for --formula FORMULA); a folder that holds files is refused without
    --overwrite.

    References (e.g. crystals: --xrd PATTERN, a powder diffraction pattern) apply to input
    items: each item's candidates are ranked by their similarity to its reference (draws
    default to max(4, 2K)), and a model trained on the reference's encoding is conditioned on it.

    Generated graphs the domain cannot convert are skipped, counted and listed in a skip report
    beside OUT (--strict: an error). Under torchrun (WORLD_SIZE > 1) the work is split across
    ranks: rank r writes its contiguous share to OUT with ".rank<r>of<world>" before the suffix.

    The same from Python: graphdiff.load(CHECKPOINT).sample(N) or .complete(inputs, k=K).
    """
    import graphdiff
    from graphdiff.api import request_report

    have_input = input_path is not None or bool(formulas)
    _check_sample_args(num, have_input, input_path, formulas, rank_by, no_distinct, oversample, samples_per_row,
                       {"--draws": draws, "--max-draws": max_draws, "--steps": steps, "--batch-size": batch_size},
                       corrector_steps, fmax, relax, keep_unrelaxed)
    _check_output(out_arg)
    model = graphdiff.load(checkpoint, device=device, ema=False if no_ema else None)
    _register_predictors(predictors)
    common = dict(targets=list(target), guidance_scale=guidance_scale, gradient_scale=gradient_scale,
                  guidance_mode=guidance_mode, guide_fields=list(guide_fields) or None, judges=list(judges),
                  steps=steps, sampler=sampler, corrector_steps=corrector_steps,
                  constraint="model" if constraint is None else constraint, batch_size=batch_size,
                  relax={"fmax": fmax, "steps": relax_steps, "keep_unrelaxed": keep_unrelaxed} if relax else False,
                  progress=not quiet)
    _say_readings(model, target, gradient_scale, guidance_mode)
    rank, world = _shard()
    if have_input:
        items, records = _input_items(model, input_path, formulas, formula_units)
        refs = _row_references(reference_args, model.domain, records, input_path)
        lo, hi = rank * len(items) // world, (rank + 1) * len(items) // world
        items, first = items[lo:hi], lo * samples_per_row
        if refs is not None:
            refs.loaded = refs.loaded[lo:hi]
        runs = (c for _, c in model.complete_iter(
            items, k=samples_per_row, seed=seed + 7919 * rank, task=task, draws=draws, max_draws=max_draws,
            distinct=not no_distinct, rank_by=rank_by, references=refs, allow_larger=allow_larger,
            allow_unseen=allow_unseen, **({"formula_units": formula_units} if formulas and formula_units else {}),
            **common))
    else:
        _check_de_novo(model, task, reference_args)
        first = rank * num // world
        n = (rank + 1) * num // world - first
        if n == 0:
            click.echo(f"rank {rank}: nothing to sample")
            return
        runs = model.sample_iter(n, seed=seed + 7919 * rank, oversample=oversample, **common)
    scores = _write_samples(runs, model.domain, out_arg, first, world, have_input, fmt=fmt, overwrite=overwrite,
                            strict=strict, keep_unrelaxed=keep_unrelaxed)
    for note in (getattr(model, "ranking_report", None),):
        if note:
            click.echo(note)
    if getattr(model, "fewer_than_k", 0):
        click.echo(f"{model.fewer_than_k} items had fewer than {samples_per_row} distinct answers: their last "
                   "rows repeat earlier answers (distinct = 0)")
    if relax:
        _report_relaxation(scores)
    for line in request_report(model, scores, target, judges):
        click.echo(line)


def _check_sample_args(num: int | None, have_input: bool, input_path: Path | None, formulas: tuple[str, ...],
                       rank_by: str | None, no_distinct: bool, oversample: float, samples_per_row: int,
                       counts: dict[str, int | None], corrector_steps: int | None, fmax: float, relax: bool,
                       keep_unrelaxed: bool) -> None:
    """Refuse, before loading anything, option combinations `sample` cannot honour."""
    if num is not None and num < 1:
        raise ConfigError(f"--num must be at least 1 (got {num})")
    if (num is None) == (not have_input):
        raise ConfigError("give --num N (de novo) or --input FILE / --formula F (items to complete)"
                          + ("; not both" if have_input else ""))
    if input_path is not None and formulas:
        raise ConfigError("give --input FILE or --formula, not both")
    if rank_by is not None and (not have_input or no_distinct):
        raise ConfigError("--rank-by ranks the distinct candidates of --input items; it needs --input and no "
                          "--no-distinct (de novo: --oversample with --target selects)")
    if oversample != 1.0 and have_input:
        raise ConfigError("--oversample selects among de novo samples (--num, no --input) by --target requests")
    if samples_per_row < 1:
        raise ConfigError(f"--samples-per-row must be at least 1 (got {samples_per_row})")
    for name, value in counts.items():
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value})")
    if corrector_steps is not None and corrector_steps < 0:
        raise ConfigError(f"--corrector-steps must be at least 0 (got {corrector_steps})")
    if not fmax > 0:
        raise ConfigError(f"--fmax must be positive (got {fmax})")
    if keep_unrelaxed and not relax:
        raise ConfigError("--keep-unrelaxed keeps the items as generated beside the relaxed ones: it needs --relax")


def _check_de_novo(model, task: str | None, reference_args: dict) -> None:
    """De novo sampling (no --input): the task, references and model must allow it."""
    if task is not None and (task not in model.domain.tasks or model.domain.tasks[task]):
        if task in model.domain.tasks:
            raise ConfigError(f"task {task!r} completes the fields {list(model.domain.tasks[task])} of given "
                              "items: pass --input or --formula")
        model.task_fields(task)  # names the domain's tasks
    asked = [k[len("ref__"):] for k, v in reference_args.items() if k.startswith("ref__") and v is not None]
    if asked:
        raise ConfigError(f"--{asked[0]} ranks the candidates of given items: pass --input (e.g. the "
                          "compositions, for crystals) or --formula")
    if model.given:
        raise ConfigError(f"this model is trained to complete given fields {model.given}: use --input FILE "
                          "or --formula F")


def _write_samples(runs, domain, out_arg: str, first: int, world: int, have_input: bool, *, fmt: str | None,
                   overwrite: bool, strict: bool, keep_unrelaxed: bool) -> list[dict]:
    """Stream the generated chunks to OUT (and, with --keep-unrelaxed, the items as generated
    beside it); print what was written. Returns every item's info."""
    from graphdiff.graphio import GraphSink, is_folder_target

    folder, out = is_folder_target(out_arg), Path(out_arg)
    if world > 1 and not folder:
        out = out.with_name(f"{out.stem}.rank{_shard()[0]}of{world}{out.suffix}")
    sinks = {"out": GraphSink(out_arg if folder else out, domain, start=first if folder else 0, describe=True,
                              format=fmt, overwrite=overwrite, strict=strict, shared=world > 1)}
    if keep_unrelaxed:
        unrelaxed_out = (out_arg.rstrip("/\\") + ".unrelaxed/" if folder
                         else str(out.with_name(f"{out.stem}.unrelaxed{out.suffix}")))
        sinks["unrelaxed"] = GraphSink(unrelaxed_out, domain, start=first if folder else 0, describe=True,
                                       format=fmt, overwrite=overwrite, strict=strict, shared=world > 1)
    t0, scores = time.perf_counter(), []
    for run in runs:
        graphs, ids, extra, objs = run.in_order()
        if not have_input:
            ids = [str(sinks["out"].next_index + j) for j in range(len(graphs))]
        sinks["out"].write(graphs, ids=ids, extra=extra if any(extra) else None, objs=objs)
        if keep_unrelaxed:
            u_graphs, _, u_extra, u_objs = run.as_unrelaxed().in_order()
            sinks["unrelaxed"].write(u_graphs, ids=ids, extra=u_extra if any(u_extra) else None, objs=u_objs)
        scores += run.info
        if getattr(run, "selection", None):
            s = run.selection
            click.echo(f"kept {s['kept']} of {s['drawn']} samples that best meet the requests "
                       f"(largest kept shortfall {s['largest_shortfall']:.4g})")
    sink = sinks["out"]
    sink.close()
    dt = time.perf_counter() - t0
    click.echo(f"wrote {sink.written} graphs to {_describe_sink(sink)} in {dt:.1f} s "
               f"({sink.count / max(dt, 1e-9):.2f} graphs/s)")
    _note_unstored(sink)
    if sink.skip_summary():
        click.echo(sink.skip_summary(), err=True)
    if keep_unrelaxed:
        sinks["unrelaxed"].close()
        click.echo(f"wrote the {sinks['unrelaxed'].written} items as generated (before relaxation) to "
                   f"{_describe_sink(sinks['unrelaxed'])}")
    return scores


def _report_relaxation(scores: list[dict]) -> None:
    """One line: how many items relaxed, converged and failed, and the median energy."""
    import statistics

    tried = [s for s in scores if "relaxed" in s]
    if not tried:
        return
    done = [s for s in tried if s["relaxed"]]
    energies = [s["energy_per_atom"] for s in done if s.get("energy_per_atom") is not None]
    line = (f"relaxed {len(done)} of {len(tried)} items, {sum(bool(s['relax_converged']) for s in done)} converged"
            + (f", median energy {statistics.median(energies):.4g} per atom" if energies else ""))
    failed = [s["relax_error"] for s in tried if s.get("relax_error")]
    click.echo(line + (f"; {len(failed)} kept as generated (first reason: {failed[0]})" if failed else ""))


def _check_output(out_arg: str) -> None:
    """Refuse, before any work, an output whose folder is a file."""
    for parent in Path(out_arg).parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"--out {out_arg}: {parent} is a file, not a folder")
            break


def _register_predictors(predictors: tuple[Path, ...]) -> None:
    if predictors:
        from graphdiff.predictors import register_predictor

        for p in predictors:
            register_predictor(p)


def _input_items(model, input_path: Path | None, formulas: tuple[str, ...],
                 formula_units: int | None) -> tuple[list, list]:
    """The inputs to complete, as records (``--input``) or formula strings (``--formula``)."""
    if formulas:
        return list(formulas), [{"id": f, "obj": f} for f in formulas]
    options = {"formula_units": formula_units} if formula_units else {}
    records = model.read_inputs(input_path, **options)
    return records, records


def _say_readings(model, target: tuple[str, ...], gradient_scale: float, mode: str) -> None:
    """Print how gradient guidance reads each requested target (time-aware or clean estimate)."""
    if not target or gradient_scale == 0.0:
        return
    from graphdiff.predictors import guidance_reading
    from graphdiff.runner import split_target_requests

    try:
        _, guided = split_target_requests(target, model.diffusion, model.domain)
    except ConfigError:
        return  # the API names the problem
    for t, op, value in guided:
        _, why = guidance_reading(model.diffusion, t, mode)
        click.echo(f"guidance {t.name}{op}{value:g}: {why}")


def _describe_sink(sink) -> str:
    """Where a :class:`~graphdiff.graphio.GraphSink` wrote: its file, or its folder and file names."""
    if sink.mode != "folder":
        return str(sink.path)
    if not sink.count:
        return f"{sink.path}/"
    first, last = sink.file_for(sink.start).name, sink.file_for(sink.next_index - 1).name
    return f"{sink.path}/ ({first}" + (f" .. {last})" if sink.count > 1 else ")")


def _note_unstored(sink) -> None:
    """Say which per-graph values a folder's single-graph files could not hold."""
    if sink.unstored:
        click.echo(f"note: the {sink.suffix} files hold the graphs only; not stored: "
                   f"{', '.join(sorted(sink.unstored))} (the file index is the graph's position; "
                   "write a .jsonl file to keep them)", err=True)


def _row_references(args: dict, domain, records, input_path):
    """The one reference kind asked for (``--<name>`` or an input column), loaded per input
    item (:class:`graphdiff.references.RowReferences`), or ``None``."""
    from graphdiff.plugins import get_manager
    from graphdiff.references import load_row_references

    asked = []
    for e in get_manager().registry("references").entries():
        ref = e.obj
        given = args.get(f"ref__{ref.name}")
        in_column = records is not None and any((r.get("text") or {}).get(ref.name) for r in records)
        if given is None and not in_column:
            continue
        if ref.domain != domain.name:
            raise ConfigError(f"--{ref.name} is a {ref.domain} reference; this model generates {domain.name}")
        if records is None:
            raise ConfigError(f"--{ref.name} ranks the candidates of given items: pass --input "
                              "(e.g. the compositions, for crystals)")
        options = {opt: args[f"refopt__{ref.name}__{opt}"] for opt in ref.options
                   if f"refopt__{ref.name}__{opt}" in args}
        asked.append(load_row_references(ref, records, given=given, input_path=input_path, options=options))
    if len(asked) > 1:
        raise ConfigError(f"one reference at a time, got {[r.reference.name for r in asked]}")
    return asked[0] if asked else None


from graphdiff.api import TargetRanking  # noqa: E402,F401 - its home is the API


def _shard() -> tuple[int, int]:
    """``(rank, world_size)`` under torchrun, else ``(0, 1)``."""
    import os

    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
