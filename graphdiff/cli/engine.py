"""Engine commands of the ``graphdiff`` CLI: train, sample, interpolate, checkpoints, schedule."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from graphdiff.cli.main import cli
from graphdiff.errors import ConfigError, DataError


@cli.command("train")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path),
              help="Continue from this training checkpoint (model, optimiser, EMA, step, RNG).")
@click.option("--init", "init", metavar="CKPT",
              help="Start a new run from the weights of this checkpoint (a path or a bundled name) of "
                   "the same [model] and [diffusion] config: fresh optimiser and step count.")
@click.option("--max-steps", type=int, help="Override training.max_steps.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Override training.out_dir.")
@click.option("--strict", is_flag=True, help="Fail on the first bad input row instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_cmd(config: Path, resume: Path | None, init: str | None, max_steps: int | None,
              out_dir: Path | None, strict: bool, quiet: bool) -> None:
    """Train the model CONFIG describes (TOML, YAML or JSON); writes checkpoints and logs."""
    from graphdiff.cli.main import check_names
    from graphdiff.config import load_config
    from graphdiff.runner import train

    cfg = load_config(config)
    check_names(cfg, config)
    if out_dir:
        cfg.training.out_dir = str(out_dir.resolve())
    if max_steps is not None:
        cfg.training.max_steps = max_steps
    import warnings

    from graphdiff.training import EMAWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EMAWarning)
        trainer, ckpt = train(cfg, resume=resume, init=init, progress=not quiet, strict=strict)
    for w in caught:  # an EMA that has not settled: one line, not a source listing
        if issubclass(w.category, EMAWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    last = {k: v for r in trainer.history for k, v in r.items()}
    click.echo(f"trained {trainer.step} steps; loss {last.get('loss', float('nan')):.4f}"
               + (f", val_loss {last['val_loss']:.4f}" if "val_loss" in last else ""))
    click.echo(f"checkpoint: {ckpt}")


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
    the domain's single-graph format or --format (crystals: ID_FORMULA_RANK.cif); a folder that
    holds files is refused without --overwrite.

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


@cli.command("checkpoints")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checkpoints_cmd(as_json: bool) -> None:
    """List bundled checkpoints: name, domain, task, what each was trained on, its figures."""
    from graphdiff.checkpoints import list_named

    items = list_named()
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in items], indent=2))
        return
    if not items:
        click.echo("no bundled checkpoints installed")
    for c in items:
        click.echo(f"{c.name}: {c.domain} / {c.task} — trained on {c.trained_on}")
        for k, v in c.figures.items():
            click.echo(f"    {k}: {v}")


@cli.group("schedule")
def schedule_group() -> None:
    """Inspect noise schedules."""


@schedule_group.command("plot")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("schedules.png"), show_default=True)
@click.option("--names", help="Comma-separated schedule names (default: all registered).")
def schedule_plot(out: Path, names: str | None) -> None:
    """Plot ᾱ(t) and the log SNR of each schedule, and a graph noised at several t."""
    from graphdiff.viz import plot_noised_graph, plot_schedules

    paths = plot_schedules(out, names.split(",") if names else None)
    noised = plot_noised_graph(out.with_name(out.stem + "_noised" + out.suffix))
    for p in [*paths, noised]:
        click.echo(f"wrote {p}")


@cli.command("evaluate")
@click.option("--domain", "domain_name", help="Domain of the files [default: the one domain that reads them].")
@click.option("--task", required=True, help="Metric set, e.g. csp or dng (the domain's metric '<domain>-<task>').")
@click.option("--generated", type=click.Path(exists=True, path_type=Path),
              help="Generated items (rows sharing an id are the candidates of one reference). "
                   "Exactly one of --generated and --baseline.")
@click.option("--baseline", "baseline_name",
              help="Score a registered baseline ('<domain>-<NAME>', e.g. retrieval or substitution) "
                   "built from --train instead of a --generated file.")
@click.option("--reference", required=True, type=click.Path(exists=True, path_type=Path),
              help="Reference items.")
@click.option("--train", "train_path", type=click.Path(exists=True, path_type=Path),
              help="Training items (novelty; the pool a --baseline draws from).")
@click.option("--k", type=int, multiple=True,
              help="Candidates per reference to score (repeatable; with --baseline default 1 and 2).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of a --baseline's random choices.")
@click.option("--dataset", help="Dataset name passed to the metric (dataset=NAME), for metrics that use it.")
@click.option("--kernel", type=click.Choice(["gdss", "digress"], case_sensitive=False),
              help="MMD kernel convention of graph metrics (social-dng, traffic-dng), passed to the "
                   "metric as kernel=NAME: gdss (Gaussian EMD) or digress (Gaussian total variation) "
                   "[default: the one --dataset's benchmark is reported with, else gdss]. An error "
                   "for a metric that takes no kernel.")
@click.option("--save-generated", type=click.Path(path_type=Path),
              help="Write a --baseline's candidates here (any format the domain writes).")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Write the metrics as JSON here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def evaluate_cmd(domain_name: str, task: str, generated: Path | None, baseline_name: str | None, reference: Path,
                 train_path: Path | None, k: tuple[int, ...], seed: int, dataset: str | None,
                 kernel: str | None, save_generated: Path | None, out: Path | None, quiet: bool = False) -> None:
    """Score generated items, or a baseline's candidates, against references with a registered
    domain metric.

    The metric is called as metric(generated, references, train=..., k=..., **options), with
    dataset=NAME and kernel=NAME among the options only when --dataset and --kernel are given;
    --kernel needs a metric that has a parameter named kernel. A metric with a parameter named
    progress gets progress=True (False with --quiet) and shows bars on stderr."""
    import graphdiff
    from graphdiff.api import resolve_domain
    from graphdiff.plugins import get_manager

    if (generated is None) == (baseline_name is None):
        raise ConfigError("evaluate: give exactly one of --generated FILE (a model's samples) and "
                          "--baseline NAME (a registered baseline built from --train)"
                          + ("; both were given" if generated is not None else ""))
    if baseline_name is not None and train_path is None:
        raise ConfigError(f"evaluate --baseline {baseline_name}: needs --train FILE, the training items "
                          "the baseline draws its candidates from")
    if save_generated is not None and baseline_name is None:
        raise ConfigError("evaluate --save-generated: only a --baseline's candidates can be saved "
                          "(--generated is already a file)")
    if any(kk < 1 for kk in k):
        raise ConfigError(f"evaluate --k {min(k)}: the number of candidates must be at least 1")
    for path in (out, save_generated):
        if path is not None:
            _check_output(str(path))
    manager = get_manager()
    domain = resolve_domain(domain_name, [generated or reference, reference])
    metric = manager.get("metrics", f"{domain.name}-{task}")
    if kernel is not None:
        _check_takes_kernel(manager, metric, f"{domain.name}-{task}")
    options: dict[str, object] = {"dataset": dataset} if dataset is not None else {}
    if kernel is not None:
        options["kernel"] = kernel.lower()
    if _takes_keyword(metric, "progress"):  # bars over the items a metric works through
        options["progress"] = not quiet
    ks = list(k) or ([1, 2] if baseline_name is not None else None)
    extra: dict[str, object] = {}
    gen: object = generated
    if baseline_name is not None:
        ref, train = list(domain.read(reference)), list(domain.read(train_path))
        gen = _baseline_candidates(_baseline(manager, domain.name, baseline_name), baseline_name, ref, train,
                                   max(ks), seed)
        if save_generated is not None:
            _save_candidates(domain, gen, save_generated)
        with_candidates = {str(r["id"]) for r in gen}
        extra = {"baseline": baseline_name, "seed": seed, "baseline_candidates": len(gen),
                 "baseline_references_without_candidates": sum(str(r["id"]) not in with_candidates for r in ref)}
    result = {**graphdiff.evaluate(gen, reference, task=task, domain=domain.name, train=train_path, k=ks,
                                   **options), **extra}
    if result.get("generated_rows_unreadable"):
        first = result["unreadable"][0]
        click.echo(f"{result['generated_rows_unreadable']} generated rows could not be read and are not scored: "
                   f"{first['where']}: {first['reason']}" + (" (all in the JSON)" if out else ""), err=True)
    click.echo(json.dumps({key: v for key, v in result.items() if key != "per_item"}, indent=2))
    if save_generated is not None:
        click.echo(f"wrote {len(gen)} baseline candidates to {save_generated}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        click.echo(f"wrote {out}")


def _baseline(manager, domain_name: str, name: str):
    """The registered baseline ``<domain>-<name>``; an unknown name lists the domain's."""
    from graphdiff.errors import UnknownNameError

    registry = manager.registry("baselines")
    full = f"{domain_name}-{name}"
    if full not in registry:
        prefix = f"{domain_name}-"
        valid = [n[len(prefix):] for n in registry.names() if n.startswith(prefix)]
        raise UnknownNameError(f"unknown baseline {name!r} for domain {domain_name!r} (no baseline registered "
                               f"as {full!r}). Valid names: {', '.join(valid) if valid else '(none registered)'}")
    return registry.get(full)


def _takes_keyword(fn, name: str) -> bool | None:
    """Whether ``fn`` has a parameter called ``name`` (a ``**kwargs`` catch-all does not count);
    ``None`` when its signature cannot be read."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    param = params.get(name)
    return param is not None and param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                inspect.Parameter.KEYWORD_ONLY)


def _check_takes_kernel(manager, metric, name: str) -> None:
    """``evaluate --kernel``: refuse a metric without a ``kernel`` parameter, naming those that take one."""
    if _takes_keyword(metric, "kernel") is not False:
        return
    registry = manager.registry("metrics")
    takers = [n for n in registry.names() if _takes_keyword(registry.get(n), "kernel")]
    raise ConfigError(f"evaluate --kernel: the metric {name!r} takes no kernel (--kernel chooses the "
                      "MMD kernel convention of graph metrics; metrics that take one: "
                      f"{', '.join(sorted(takers)) or 'none registered'})")


def _baseline_candidates(baseline, name: str, references: list, train: list, k: int, seed: int) -> list:
    """Run a baseline and check what it returned against the ``register_baselines`` contract."""
    from collections.abc import Mapping

    cands = baseline(references, train, k, seed=seed)
    if not isinstance(cands, (list, tuple)):
        raise DataError(f"baseline {name!r} returned {type(cands).__name__}, not a list of records")
    for i, rec in enumerate(cands):
        if not isinstance(rec, Mapping) or "id" not in rec or "obj" not in rec:
            raise DataError(f"baseline {name!r}: candidate {i} is not a record with 'id' and 'obj'")
    return list(cands)


def _save_candidates(domain, cands: list, path: Path) -> None:
    """Write baseline candidates with their reference's id and their rank (``sample``)."""
    ranks: dict[str, int] = {}
    extra = []
    for rec in cands:
        rid = str(rec["id"])
        rank = rec.get("sample", ranks.get(rid, 0))
        ranks[rid] = ranks.get(rid, 0) + 1
        extra.append({"sample": rank})
    path.parent.mkdir(parents=True, exist_ok=True)
    domain.write([r["obj"] for r in cands], path, ids=[str(r["id"]) for r in cands], extra=extra)


@cli.command("interpolate")
@click.option("--checkpoint", "-c", required=True, help="Checkpoint path or bundled name.")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="A file the domain reads holding the two end points.")
@click.option("--pair", nargs=2, type=int, default=(0, 1), show_default=True,
              help="Indices of the two items in --input.")
@click.option("--num", "-n", type=int, default=8, show_default=True, help="Points on the path, ends included.")
@click.option("--steps", type=int, default=100, show_default=True, help="Inversion and decoding steps.")
@click.option("--target-path", nargs=3, type=(str, float, float), default=None,
              help="NAME START END: a value that changes linearly along the path: a condition of "
                   "the model (classifier-free), or a registered differentiable target (gradient "
                   "guidance of the inner points; the two ends are decoded unguided, so that they "
                   "reproduce the inputs).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG of the requested and achieved target values and the validity along the path.")
@click.option("--target", multiple=True,
              help="As for sample (repeatable): NAME=VALUE for a condition of the model, held at "
                   "every point, or NAME=VALUE, NAME<=VALUE, NAME>=VALUE on a registered "
                   "differentiable target, which steers the decoding of every point by gradient "
                   "guidance (the two ends included).")
@_gradient_scale
@_guidance_mode
@click.option("--guide-fields", "guide_fields", multiple=True,
              help="As for sample: gradient guidance moves only this generated field (repeatable).")
@click.option("--predictor", "predictors", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A trained predictor whose properties become targets for --target (repeatable).")
@click.option("--out", "-o", "out_arg", required=True, type=click.Path(),
              help="Output file, or a folder (ending in '/', or an existing directory) that gets "
                   "one file per point, <index:05d>.<ext>, in the domain's single-graph format.")
@click.option("--format", "fmt", help="Per-file format of a folder --out (as for sample).")
@click.option("--overwrite", is_flag=True, help="Write into a folder that already holds files.")
@click.option("--no-ema", is_flag=True, help="Use the raw weights, not their moving average.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def interpolate_cmd(checkpoint: str, input_path: Path, pair: tuple[int, int], num: int, steps: int,
                    target_path: tuple[str, float, float] | None, target: tuple[str, ...],
                    gradient_scale: float, guidance_mode: str, guide_fields: tuple[str, ...],
                    predictors: tuple[Path, ...], out_arg: str, plot: Path | None, fmt: str | None,
                    overwrite: bool, no_ema: bool, quiet: bool) -> None:
    """Walk from one graph to another through the model's latent space.

    With --target the walk is steered: every point is decoded with the same requests that
    `graphdiff sample --target` takes, and each point's achieved value is stored beside it.
    The same from Python: graphdiff.load(CHECKPOINT).interpolate(a, b, num=N)."""
    import graphdiff
    from graphdiff.graphio import GraphSink

    if num < 2:
        raise ConfigError("--num must be at least 2 (the two end points)")
    _check_output(out_arg)
    if plot is not None:
        from graphdiff.viz import figure_path

        plot = figure_path(plot)  # an image format matplotlib cannot write is refused before any work
    model = graphdiff.load(checkpoint, ema=False if no_ema else None)
    _register_predictors(predictors)
    records = model.read_inputs(input_path)
    for i in pair:
        if not 0 <= i < len(records):
            raise DataError(f"{input_path}: no item {i} (it has {len(records)})")
    _say_readings(model, target, gradient_scale, guidance_mode)
    path = model.interpolate(records[pair[0]], records[pair[1]], num=num, steps=steps, targets=list(target),
                             target_path=target_path, gradient_scale=gradient_scale, guidance_mode=guidance_mode,
                             guide_fields=list(guide_fields) or None, progress=not quiet)
    sink = GraphSink(out_arg, model.domain, format=fmt, overwrite=overwrite)
    graphs, ids, info, objs = path.in_order()
    sink.write(graphs, ids=ids, extra=[i or {"lambda": int(k) / (num - 1), "valid": 0} for k, i in zip(ids, info)],
               objs=objs)
    sink.close()
    valid = [bool(i.get("valid")) for i in info]
    click.echo(f"wrote {sink.written} graphs from item {pair[0]} to item {pair[1]} to {_describe_sink(sink)} "
               f"({sum(valid)} valid)")
    _note_unstored(sink)
    if sink.skip_summary():
        click.echo(sink.skip_summary(), err=True)
    for name, op, v in path.requests:
        vals = ", ".join(f"{i.get(name, float('nan')):.4g}" for i in path.info)
        asked = (f"{op}{v}" if v is not None else
                 f"{target_path[1]:.4g} .. {target_path[2]:.4g}; the ends unguided")
        click.echo(f"{name} (requested {asked}) along the path: {vals}")
    if plot is not None:
        goals = None
        if target_path is not None:
            lo, hi = target_path[1], target_path[2]
            goals = [lo + (hi - lo) * i["lambda"] for i in path.info]
        _plot_path(plot, len(path), goals, target_path[0] if target_path else None,
                   {n: [i.get(n, float("nan")) for i in path.info] for n, _, _ in path.requests}, valid)
        click.echo(f"plot: {plot}")


def _plot_path(path: Path, num: int, goals, goal_name, series: dict[str, list[float]], valid: list[bool]) -> None:
    """Requested and achieved values and validity against the path parameter λ."""
    from matplotlib.figure import Figure

    lam = [k / (num - 1) for k in range(num)]
    fig = Figure(figsize=(6, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    if goals is not None:
        ax.plot(lam, goals, "k--", lw=1, label=f"requested {goal_name}")
    for name, vals in series.items():
        ax.plot(lam, vals, "o-", ms=4, label=f"achieved {name}")
    bad = [x for x, ok in zip(lam, valid) if not ok]
    if bad:
        ax.plot(bad, [ax.get_ylim()[0]] * len(bad), "rx", ms=8, label="invalid point")
    ax.set_xlabel("λ (0: first item, 1: second item)")
    ax.set_ylabel("value")
    ax.set_title(f"{sum(valid)} of {num} points valid", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
