"""Engine commands of the ``graphdiff`` CLI: train, sample, interpolate, checkpoints, schedule."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click

from graphdiff.cli import cli
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
    from graphdiff.cli import _check_names
    from graphdiff.config import load_config
    from graphdiff.runner import train

    cfg = load_config(config)
    _check_names(cfg, config)
    if out_dir:
        cfg.training.out_dir = str(out_dir.resolve())
    if max_steps:
        cfg.training.max_steps = max_steps
    trainer, ckpt = train(cfg, resume=resume, init=init, progress=not quiet, strict=strict)
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
            for e in entries:
                ref = e.obj
                extra.append(click.Option(
                    [f"--{ref.name}", f"ref__{ref.name}"], type=click.Path(dir_okay=False),
                    help=f"({ref.domain}) {ref.description} File for every input item (an input column "
                         f"{ref.name!r} gives one per item, relative to the input file). Candidates "
                         f"are ranked by {ref.similarity_description or 'similarity'} (column "
                         f"{ref.name}_similarity); a model trained on its encoding is conditioned on it."))
                for opt, (typ, default, help_) in ref.options.items():
                    extra.append(click.Option([f"--{ref.name}-{opt.replace('_', '-')}",
                                               f"refopt__{ref.name}__{opt}"], type=typ, default=default,
                                              show_default=True, help=help_))
            self._reference_params = extra
        help_option = self.get_help_option(ctx)
        rest = [p for p in params if p is not help_option]
        return rest + extra + ([help_option] if help_option is not None else [])


@cli.command("sample", cls=_SampleCommand)
@click.option("--checkpoint", "-c", required=True, help="Checkpoint path or bundled name.")
@click.option("--out", "-o", "out_arg", required=True, type=click.Path(),
              help="Output file (.jsonl/.pt for any domain, or a format the domain writes), or a "
                   "folder (a path ending in '/', or an existing directory) that gets one file per "
                   "graph, <index:05d>.<ext> in the domain's single-graph format (social, traffic: "
                   "GraphML; crystals: CIF; molecules: XYZ).")
@click.option("--num", "-n", type=int, help="Number of graphs (de novo).")
@click.option("--input", "input_path", type=click.Path(exists=True, path_type=Path),
              help="Items whose given fields (e.g. compositions) the model completes.")
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
@click.option("--gradient-scale", type=float, default=1.0, show_default=True,
              help="Weight of gradient guidance from --target requests on differentiable targets.")
@click.option("--guidance-mode", type=click.Choice(["auto", "clean", "noisy"]), default="auto", show_default=True,
              help="How gradient guidance reads a target: a time-aware predictor (trained with "
                   "noisy = true on this model's processes) reads the noisy states at each step; "
                   "other targets read the denoiser's clean estimate. auto: time-aware where it "
                   "fits the model; clean: always the clean estimate; noisy: time-aware or an error.")
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
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sample_cmd(checkpoint: str, out_arg: str, num: int | None, input_path: Path | None, task: str | None,
               samples_per_row: int,
               draws: int | None, max_draws: int | None, allow_larger: bool, no_distinct: bool,
               target: tuple[str, ...], predictors: tuple[Path, ...], judges: tuple[str, ...],
               guidance_scale: float | None,
               gradient_scale: float, guidance_mode: str, guide_fields: tuple[str, ...], oversample: float,
               rank_by: str | None, steps: int | None,
               sampler: str | None, corrector_steps: int | None, constraint: str | None,
               batch_size: int | None, seed: int,
               device: str, quiet: bool, **reference_args) -> None:
    """Generate graphs with a trained model and stream them to OUT.

    With --input, each item's given fields (e.g. a composition) are completed. With
    --samples-per-row K the K candidates of an item are distinct where the model offers distinct
    answers: more samples are drawn, grouped by the domain's equivalence (crystals:
    StructureMatcher) and ranked by validity, then by the share of draws each answer received
    (the model's own probability of it); OUT gets the columns sample (the rank), share and
    distinct. --rank-by NAME ranks them by a registered target instead (e.g. an energy).

    With OUT a folder (ending in "/" or an existing directory) every graph gets its own file,
    OUT/00000.<ext>, OUT/00001.<ext>..., in the domain's single-graph format; existing files are
    never overwritten.

    References (e.g. crystals: --xrd PATTERN, a powder diffraction pattern) apply to --input
    items: each item's candidates are ranked by their similarity to its reference (draws
    default to max(4, 2K)), and a model trained on the reference's encoding is conditioned on it.

    Under torchrun (WORLD_SIZE > 1) the work is split across ranks: rank r writes its
    contiguous share to OUT with ".rank<r>of<world>" before the suffix (to a folder OUT: its
    files, numbered from the index of its first graph).
    """
    from graphdiff.graphio import GraphSink, is_folder_target
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import requests_guidance, sample_graphs, split_target_requests

    if samples_per_row < 1:
        raise ConfigError("--samples-per-row must be at least 1")
    folder = is_folder_target(out_arg)
    out = Path(out_arg)
    first_index = 0
    model, cfg, meta = load_model(checkpoint)
    model.to(_sampling_device(device))
    domain = get_manager().get("domains", cfg.data.domain)
    sc = cfg.sampling
    if predictors:
        from graphdiff.predictors import register_predictor

        for p in predictors:
            register_predictor(p)
    if not oversample >= 1.0:
        raise ConfigError(f"--oversample must be at least 1 (got {oversample:g})")
    # selection alone (--gradient-scale 0) may use targets without a gradient
    cond, guided = split_target_requests(target, model, domain,
                                         differentiable=not (oversample > 1.0 and gradient_scale == 0.0))
    if oversample > 1.0 and (input_path is not None or not guided):
        raise ConfigError("--oversample selects among de novo samples (--num, no --input) by --target "
                          "requests on registered targets" + ("" if guided else "; none was given"))
    if guide_fields and not (guided and gradient_scale != 0.0):
        raise ConfigError("--guide-fields chooses what gradient guidance moves: it needs a --target request "
                          "on a differentiable target and a non-zero --gradient-scale")
    judging = _judges(judges, domain, cond, guided)
    rows, row_ids = None, None
    if input_path is not None:
        records = list(domain.read(input_path))
        rows = [domain.record_to_graph(r) for r in records]
        row_ids = [str(r.get("id", i)) for i, r in enumerate(records)]
    refs = _row_references(reference_args, domain, records if input_path is not None else None,
                           input_path)
    if refs is not None:
        row_cond = refs.conditions(model.condition)
        if row_cond is not None:
            from graphdiff.runner import set_template_condition

            rows = [set_template_condition(model, g, c) for g, c in zip(rows, row_cond)]
            click.echo(f"conditioning on the {refs.reference.name} encoding "
                       f"({len(refs.reference.columns)} columns) of {sum(bool(c) for c in row_cond)} "
                       f"of {len(rows)} items")
    if input_path is None and num is None:
        raise ConfigError("give --num N (de novo) or --input FILE (items to complete)")
    elif rows is None and model.given:
        raise ConfigError(f"this model is trained to complete given fields {model.given}: use --input")
    inpaint = _task_fields(task, domain, model, rows is not None)
    ranking = refs
    if rank_by is not None:
        if rows is None or no_distinct:
            raise ConfigError("--rank-by ranks the distinct candidates of --input items; it needs --input "
                              "and no --no-distinct (de novo: --oversample with --target selects)")
        if refs is not None:
            raise ConfigError(f"--rank-by and --{refs.reference.name}: candidates are ranked one way; "
                              "give one of them")
        ranking = TargetRanking.parse(rank_by, domain)
    distinct = rows is not None and not no_distinct and (samples_per_row > 1 or (draws or 1) > 1
                                                         or ranking is not None)
    if distinct:
        draws = draws or (max(4, 2 * samples_per_row) if ranking is not None
                          else 2 * samples_per_row if samples_per_row > 1 else 1)
        max_draws = max_draws or max(draws, 4 * samples_per_row)
        if draws < 1 or max_draws < draws:
            raise ConfigError(f"need --draws >= 1 and --max-draws >= --draws (got {draws}, {max_draws})")
    rank, world = _shard()
    if world > 1:  # under torchrun: each rank writes its own contiguous share
        total = len(rows) if rows is not None else num
        lo, hi = rank * total // world, (rank + 1) * total // world
        if rows is not None:
            rows, row_ids = rows[lo:hi], row_ids[lo:hi]
            if refs is not None:
                refs.loaded = refs.loaded[lo:hi]
        else:
            num = hi - lo
        seed = seed + 7919 * rank
        if folder:  # one folder for all ranks: each numbers its files from its first graph
            first_index = lo * (samples_per_row if rows is not None else 1)
        else:
            out = out.with_name(f"{out.stem}.rank{rank}of{world}{out.suffix}")
        if num == 0 or (rows is not None and not rows):
            click.echo(f"rank {rank}: nothing to sample")
            return
    opts = dict(cond=cond or None, steps=steps or sc.steps, sampler=sampler or sc.sampler,
                guidance_scale=sc.guidance_scale if guidance_scale is None else guidance_scale,
                corrector_steps=sc.corrector_steps if corrector_steps is None else corrector_steps,
                batch_size=batch_size or sc.batch_size, inpaint=inpaint, allow_larger=allow_larger)
    if constraint is not None:  # checked before any sampling starts
        from graphdiff.constraints import check_constraint

        opts["constraint"] = check_constraint(constraint, model.spec, model.generate)
    if guided and gradient_scale != 0.0:
        _say_readings(model, guided, guidance_mode)
        opts["gradient_guidance"] = requests_guidance(model, guided, gradient_scale, guidance_mode,
                                                      guide_fields or None)
    achieved: dict[str, list[float]] = {t.name: [] for t, _, _ in guided}
    judged: dict[str, list[float]] = {f"judged_{t.name}": [] for t, _, _ in judging}
    sink = GraphSink(out_arg if folder else out, domain, start=first_index, describe=True)
    t0 = time.perf_counter()
    if distinct:
        _sample_distinct(model, domain, sink, rows, row_ids, samples_per_row, draws, max_draws, opts,
                         seed, progress=not quiet, ranking=ranking, judging=judging, judged=judged)
    else:
        templates = ids = None
        if rows is not None:
            templates = [g for g in rows for _ in range(samples_per_row)]
            ids = [i for i in row_ids for _ in range(samples_per_row)]
        extra = None
        requested = {f"requested_{k}": v for k, v in (opts["cond"] or {}).items()}
        requested.update({f"requested_{t.name}": f"{op}{v}" for t, op, v in guided})
        if oversample > 1.0:  # the kept items, scored once while choosing them
            chunks = [_best_of(model, domain, num, oversample, guided, seed, quiet, opts, achieved)]
        else:
            chunks = ((chunk, None) for chunk in
                      sample_graphs(model, num, templates=templates, seed=seed, progress=not quiet, **opts))
        for chunk, scored in chunks:
            start = sink.count
            chunk_ids = (ids[start:start + len(chunk)] if ids
                         else [str(sink.next_index + i) for i in range(len(chunk))])
            scores, objs = scored or _score_targets(domain, chunk, guided, achieved)
            if judging:
                jscores, objs = _score_targets(domain, chunk, judging, judged, prefix="judged_", objs=objs)
                scores = [{**a, **b} for a, b in zip(scores or [{} for _ in chunk], jscores)]
            if samples_per_row > 1 or requested or scores:  # candidate rank, the request, its value
                extra = [{**({"sample": (start + i) % samples_per_row} if samples_per_row > 1 else {}),
                          **requested, **(scores[i] if scores else {})} for i in range(len(chunk))]
            sink.write(chunk, ids=chunk_ids, extra=extra, objs=objs)
    sink.close()
    dt = time.perf_counter() - t0
    click.echo(f"wrote {sink.count} graphs to {_describe_sink(sink)} in {dt:.1f} s "
               f"({sink.count / max(dt, 1e-9):.2f} graphs/s)")
    _note_unstored(sink)
    for t, op, v in guided:  # how far the samples are from each request, by the target itself
        vals = [x for x in achieved[t.name] if x == x]
        if vals:
            import statistics

            met = sum((x <= v) if op == "<=" else (x >= v) if op == ">=" else True for x in vals)
            dist = statistics.fmean(abs(x - v) for x in vals)
            click.echo(f"{t.name} {op} {v}: mean {statistics.fmean(vals):.4g}, mean |value - {v}| = "
                       f"{dist:.4g}" + (f", {met}/{len(vals)} meet it" if op != "=" else "")
                       + f" (scored by {t.name} itself on the generated items)")
    _report_judges(judging, judged)


def _best_of(model, domain, num: int, factor: float, guided: list, seed: int, quiet: bool,
             opts: dict, achieved: dict[str, list[float]]) -> tuple[list, tuple[list[dict], list | None]]:
    """``ceil(factor * num)`` de novo samples, of which the ``num`` that best meet the
    ``guided`` requests (:func:`graphdiff.runner.select_closest`), as one chunk with its target
    values and domain objects (as :func:`_score_targets` gives them; ``achieved`` gets the kept
    items' values)."""
    from graphdiff.runner import request_shortfall, sample_graphs, select_closest

    drawn = [g for chunk in sample_graphs(model, math.ceil(factor * num), seed=seed, progress=not quiet, **opts)
             for g in chunk]
    scores, objs = _score_targets(domain, drawn, guided, {t.name: [] for t, _, _ in guided})
    kept = select_closest(scores, guided, num)
    worst = max((request_shortfall(scores[i], guided) for i in kept), default=0.0)
    click.echo(f"kept {len(kept)} of {len(drawn)} samples that best meet the requests "
               f"(largest kept shortfall {worst:.4g})")
    for name, values in achieved.items():
        values.extend(scores[i][name] for i in kept)
    return [drawn[i] for i in kept], ([scores[i] for i in kept], None if objs is None else [objs[i] for i in kept])


def _say_readings(model, guided: list, mode: str) -> None:
    """Print how gradient guidance reads each requested target (time-aware or clean estimate)."""
    from graphdiff.predictors import guidance_reading

    for target, op, value in guided:
        _, why = guidance_reading(model, target, mode)
        request = f"{target.name}{op}{value:g}" if value is not None else f"{target.name} (along the path)"
        click.echo(f"guidance {request}: {why}")


def _judges(names: tuple[str, ...], domain, cond: dict, guided: list) -> list:
    """``[(target, op, value)]`` for ``--judge``: each judge target (a predictor file's
    properties, or a registered target of ``domain``) with the request on the same property
    (``op``/``value`` ``None`` when nothing asks for it). A request and a judge concern the same
    property when their names' last ``-``-separated parts agree (``heat_ref`` and
    ``perov5-heat_ref``)."""
    from graphdiff.predictors import predictor_targets

    requests = [(n, "=", v) for n, v in (cond or {}).items()] + [(t.name, op, v) for t, op, v in guided]
    out = []
    for name in names:
        targets = (predictor_targets(name) if Path(name).is_file()
                   else [_domain_target("--judge", name, domain, "predictor file or registered target")])
        for t in targets:  # a predictor file's targets may be of another domain
            _check_target_domain("--judge", name, t, domain)
            match = [(op, v) for n, op, v in requests if n.split("-")[-1] == t.name.split("-")[-1]]
            op, v = match[0] if match else (None, None)
            out.append((t, op, v))
    return out


def _domain_target(option: str, name: str, domain, what: str = "registered target"):
    """The registered target ``name`` for ``option``, a target of ``domain``: an unknown name is
    refused with the domain's targets listed, another domain's target is refused."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")
    if name not in reg:
        known = sorted(e.name for e in reg.entries() if getattr(e.obj, "domain", None) == domain.name)
        raise ConfigError(f"{option} {name!r}: no such {what}; {domain.name} targets: {', '.join(known) or 'none'}")
    target = reg.get(name)
    _check_target_domain(option, name, target, domain)
    return target


def _check_target_domain(option: str, name: str, target, domain) -> None:
    if target.domain != domain.name:
        raise ConfigError(f"{option} {name!r} scores {target.domain} items; this model generates {domain.name}")


def _report_judges(judging: list, judged: dict[str, list[float]]) -> None:
    import statistics

    for t, op, v in judging:
        vals = [x for x in judged[f"judged_{t.name}"] if x == x]
        if not vals:
            click.echo(f"judge {t.name}: no generated item could be scored")
            continue
        line = f"judge {t.name}: mean {statistics.fmean(vals):.4g} over {len(vals)} items"
        if op is not None:
            dist = statistics.fmean(abs(x - v) for x in vals)
            line += f"; request {op}{v}: mean |value - {v}| = {dist:.4g}"
            if op != "=":
                met = sum((x <= v) if op == "<=" else (x >= v) for x in vals)
                line += f", {met}/{len(vals)} meet it"
        click.echo(line + f" ({t.description})" if t.description else line)


def _score_targets(domain, chunk, guided, achieved, prefix: str = "",
                   objs: list | None = None) -> tuple[list[dict], list | None]:
    """The value of each guided target on each generated item (NaN where it cannot score), and
    the items' domain objects, converted once for the targets and the writer (``None`` when no
    target is guided or an item does not convert: the writer then converts and reports it).
    Columns and ``achieved`` keys are ``prefix + target name``; ``objs`` reuses converted items."""
    if not guided:
        return [], objs
    if objs is None:
        objs = []
        for g in chunk:
            try:
                objs.append(domain.from_graph(g))
            except Exception:  # noqa: BLE001 - scored as NaN here; the writer names the failure
                objs.append(None)
    rows: list[dict] = [{} for _ in chunk]
    for target, _, _ in guided:
        for i, obj in enumerate(objs):
            try:
                value = float(target(obj)) if obj is not None else float("nan")
            except Exception:  # noqa: BLE001 - an item the target cannot score gets NaN
                value = float("nan")
            rows[i][prefix + target.name] = value
            achieved[prefix + target.name].append(value)
    return rows, (objs if all(o is not None for o in objs) else None)


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


def _task_fields(task: str | None, domain, model, have_input: bool) -> list[str]:
    """Check ``--task`` against the model and the input; return the generated fields to hold to
    the input's values (a de novo model asked to complete given fields, e.g. CSP)."""
    if task is None:
        return []
    if task not in domain.tasks:
        raise ConfigError(f"unknown task {task!r} for domain {domain.name!r}; it has "
                          f"{', '.join(sorted(domain.tasks))}")
    fields = list(domain.tasks[task])
    if fields and not have_input:
        raise ConfigError(f"task {task!r} completes the fields {fields} of given items: pass --input")
    if not fields and have_input:
        raise ConfigError(f"task {task!r} is de novo: pass --num, not --input")
    extra = [f for f in model.given if f not in fields]
    if extra:
        raise ConfigError(f"this model needs the given fields {model.given}, task {task!r} gives "
                          f"{fields or 'none'}: use a model trained for {task!r}")
    return [f for f in fields if f not in model.given]


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


class TargetRanking:
    """``--rank-by NAME[:min|:max]``: a registered target as the ranking score of an item's
    distinct candidates (:func:`graphdiff.candidates.distinct_candidates` ranks larger scores
    first, so ``min`` scores ``-value``). A candidate the target cannot score (it raises, or gives
    a non-finite value) scores NaN and ranks after the scored ones; it is never dropped, and
    :meth:`report` says how many there were and why the first failed."""

    def __init__(self, target, lowest_first: bool = True) -> None:
        self.target, self.sign = target, -1.0 if lowest_first else 1.0
        self.column = target.name
        self.failures, self.first_failure = 0, ""

    @classmethod
    def parse(cls, text: str, domain) -> "TargetRanking":
        name, _, way = text.partition(":")
        if way not in ("", "min", "max"):
            raise ConfigError(f"--rank-by {text!r}: NAME, NAME:min (lowest first) or NAME:max (highest first)")
        return cls(_domain_target("--rank-by", name, domain), lowest_first=way != "max")

    def score(self, item: int, obj) -> float:
        try:
            v = float(self.target(obj))
        except Exception as exc:  # noqa: BLE001 - counted and reported; the candidate ranks last
            v, why = float("nan"), f"{type(exc).__name__}: {exc}"
        else:
            why = "" if math.isfinite(v) else f"value {v}"
        if why:
            self.failures += 1
            self.first_failure = self.first_failure or why
            return float("nan")
        return self.sign * v

    def value(self, score: float) -> float:
        """The target's value from a ranking score."""
        return self.sign * score

    def report(self) -> str | None:
        """How many candidates the target could not score (``None``: none)."""
        if not self.failures:
            return None
        return (f"--rank-by {self.column}: {self.failures} candidate draw(s) could not be scored and rank "
                f"after the scored answers (column {self.column} = nan); first: {self.first_failure}")


def _sample_distinct(model, domain, sink, rows, row_ids, k: int, draws: int, max_draws: int, opts: dict,
                     seed: int, progress: bool, ranking=None, judging=(), judged=None) -> None:
    """Distinct ranked candidates per row (graphdiff.candidates), streamed to ``sink``; ranked by
    ``ranking`` (a reference's similarity or a :class:`TargetRanking`) where one is given."""
    from graphdiff.candidates import distinct_candidates
    from graphdiff.runner import template_sampler

    sample = template_sampler(model, seed=seed, **opts)
    per_round = max(1, opts["batch_size"] // draws)
    fewer = 0
    score = ranking.score if ranking is not None else None
    for i, cands in distinct_candidates(sample, rows, k, domain, draws=draws, max_draws=max_draws,
                                        rows_per_round=per_round, progress=progress, score=score):
        fewer += sum(not c.distinct for c in cands) > 0
        graphs = [c.graph for c in cands]
        jscores, objs = _score_targets(domain, graphs, list(judging), judged, prefix="judged_")
        sink.write(graphs, ids=[row_ids[i]] * len(cands), objs=objs,
                   extra=[{"sample": c.rank, "share": round(c.share, 4), "distinct": int(c.distinct),
                           **({ranking.column: round(ranking.value(c.score), 6)} if ranking is not None else {}),
                           **(jscores[j] if jscores else {})}
                          for j, c in enumerate(cands)])
    note = getattr(ranking, "report", lambda: None)()
    if note:
        click.echo(note)
    if fewer:
        click.echo(f"{fewer} of {len(rows)} items had fewer than {k} distinct answers after up to "
                   f"{max_draws} draws: their last rows repeat earlier answers (distinct = 0)")


def _sampling_device(name: str):
    """``--device``: ``auto`` gives each torchrun rank ``cuda:LOCAL_RANK`` when CUDA is present,
    else ``cuda`` when present, else the CPU."""
    import os

    import torch

    if name != "auto":
        try:
            dev = torch.device(name)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"--device {name!r}: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {name!r}: CUDA is not available on this machine")
        return dev
    if torch.cuda.is_available():
        if int(os.environ.get("WORLD_SIZE", 1)) > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cuda")
    return torch.device("cpu")


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
@click.option("--domain", "domain_name", default="crystals", show_default=True, help="Domain of the files.")
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
def evaluate_cmd(domain_name: str, task: str, generated: Path | None, baseline_name: str | None, reference: Path,
                 train_path: Path | None, k: tuple[int, ...], seed: int, dataset: str | None,
                 kernel: str | None, save_generated: Path | None, out: Path | None) -> None:
    """Score generated items, or a baseline's candidates, against references with a registered
    domain metric.

    The metric is called as metric(generated, references, train=..., k=..., **options), with
    dataset=NAME and kernel=NAME among the options only when --dataset and --kernel are given;
    --kernel needs a metric that has a parameter named kernel."""
    from graphdiff.errors import UnknownNameError
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
    bad_k = [kk for kk in k if kk < 1]
    if bad_k:
        raise ConfigError(f"evaluate --k {bad_k[0]}: the number of candidates must be at least 1")

    manager = get_manager()
    domain = manager.get("domains", domain_name)
    metric = manager.get("metrics", f"{domain_name}-{task}")
    if kernel is not None:
        kernel = kernel.lower()
        _check_takes_kernel(manager, metric, f"{domain_name}-{task}")
    baseline = None
    if baseline_name is not None:
        registry = manager.registry("baselines")
        full = f"{domain_name}-{baseline_name}"
        if full not in registry:
            prefix = f"{domain_name}-"
            valid = [n[len(prefix):] for n in registry.names() if n.startswith(prefix)]
            raise UnknownNameError(
                f"unknown baseline {baseline_name!r} for domain {domain_name!r} (no baseline "
                f"registered as {full!r}). Valid names: {', '.join(valid) if valid else '(none registered)'}"
            )
        baseline = registry.get(full)
    ref = list(domain.read(reference))
    train = list(domain.read(train_path)) if train_path else None
    ks = list(k) or ([1, 2] if baseline is not None else None)
    extra: dict[str, object] = {}
    if baseline is not None:
        gen = _baseline_candidates(baseline, baseline_name, ref, train or [], max(ks), seed)
        if save_generated is not None:
            _save_candidates(domain, gen, save_generated)
        with_candidates = {str(r["id"]) for r in gen}
        extra = {"baseline": baseline_name, "seed": seed, "baseline_candidates": len(gen),
                 "baseline_references_without_candidates":
                     sum(str(r["id"]) not in with_candidates for r in ref)}
    else:
        gen, unreadable = _read_generated(domain, generated)
        if unreadable:
            extra = {"generated_rows_unreadable": len(unreadable), "unreadable": unreadable[:20]}
            click.echo(f"{len(unreadable)} generated rows could not be read and are not scored: "
                       f"{unreadable[0]['where']}: {unreadable[0]['reason']}"
                       + (" (all in the JSON)" if out else ""), err=True)
    kwargs: dict[str, object] = {"dataset": dataset} if dataset is not None else {}
    if kernel is not None:
        kwargs["kernel"] = kernel
    result = {**metric(gen, ref, train=train, k=ks, **kwargs), **extra}
    summary = {key: v for key, v in result.items() if key != "per_item"}
    click.echo(json.dumps(summary, indent=2))
    if save_generated is not None:
        click.echo(f"wrote {len(gen)} baseline candidates to {save_generated}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        click.echo(f"wrote {out}")


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


def _read_generated(domain, path: Path) -> tuple[list, list[dict[str, str]]]:
    """Generated items as the metric must see them: the domain's own checks (e.g. overlapping
    atoms) are off where its reader allows, since invalid outputs are scored as invalid, not
    skipped; rows that cannot be read at all are returned for the report."""
    import inspect

    params = inspect.signature(domain.read).parameters
    takes = "validate" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    skipped: list[dict[str, str]] = []
    records = list(domain.read(path, skipped=skipped, **({"validate": False} if takes else {})))
    return records, skipped


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
@click.option("--gradient-scale", type=float, default=1.0, show_default=True,
              help="Weight of gradient guidance from --target requests on differentiable targets.")
@click.option("--guidance-mode", type=click.Choice(["auto", "clean", "noisy"]), default="auto", show_default=True,
              help="How gradient guidance reads a target: a time-aware predictor (trained with "
                   "noisy = true on this model's processes) reads the noisy states at each step; "
                   "other targets read the denoiser's clean estimate. auto: time-aware where it "
                   "fits the model; clean: always the clean estimate; noisy: time-aware or an error.")
@click.option("--guide-fields", "guide_fields", multiple=True,
              help="As for sample: gradient guidance moves only this generated field (repeatable).")
@click.option("--predictor", "predictors", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A trained predictor whose properties become targets for --target (repeatable).")
@click.option("--out", "-o", "out_arg", required=True, type=click.Path(),
              help="Output file, or a folder (ending in '/', or an existing directory) that gets "
                   "one file per point, <index:05d>.<ext>, in the domain's single-graph format.")
def interpolate_cmd(checkpoint: str, input_path: Path, pair: tuple[int, int], num: int, steps: int,
                    target_path: tuple[str, float, float] | None, target: tuple[str, ...],
                    gradient_scale: float, guidance_mode: str, guide_fields: tuple[str, ...],
                    predictors: tuple[Path, ...], out_arg: str, plot: Path | None) -> None:
    """Walk from one graph to another through the model's latent space.

    With --target the walk is steered: every point is decoded with the same requests that
    `graphdiff sample --target` takes, and each point's achieved value is stored beside it."""
    from graphdiff.candidates import _convert
    from graphdiff.graphio import GraphSink
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import requests_guidance, split_target_requests

    if num < 2:
        raise ConfigError("--num must be at least 2 (the two end points)")
    model, cfg, _ = load_model(checkpoint)
    domain = get_manager().get("domains", cfg.data.domain)
    if predictors:
        from graphdiff.predictors import register_predictor

        for p in predictors:
            register_predictor(p)
    cond, guided = split_target_requests(target, model, domain)
    if target_path is not None and (target_path[0] in cond or target_path[0] in {t.name for t, _, _ in guided}):
        raise ConfigError(f"--target {target_path[0]}... and --target-path {target_path[0]} ...: "
                          "give it once")
    path_target = None  # a differentiable target whose goal moves along the path
    if target_path is not None and target_path[0] not in model.condition:
        (path_target, _, _), = split_target_requests([f"{target_path[0]}={target_path[1]}"], model, domain)[1]
    if guide_fields and not (guided or path_target is not None):
        raise ConfigError("--guide-fields chooses what gradient guidance moves: it needs a --target or "
                          "--target-path request on a differentiable target")
    fields = guide_fields or None
    records = list(domain.read(input_path))
    for i in pair:
        if not 0 <= i < len(records):
            raise DataError(f"{input_path}: no item {i} (it has {len(records)})")
    a, b = (domain.record_to_graph(records[i]) for i in pair)
    goals = None
    if target_path is not None:
        name, lo, hi = target_path
        goals = [lo + (hi - lo) * k / (num - 1) for k in range(num)]
    cond_path = None
    if (target_path is not None and path_target is None) or cond:
        cond_path = [{**cond, **({target_path[0]: goals[k]} if path_target is None and goals else {})}
                     for k in range(num)]
    _say_readings(model, [*guided, *([(path_target, "=", None)] if path_target is not None else [])],
                  guidance_mode)
    if path_target is not None:  # the inner points chase the moving goal; the ends are the inputs
        guidance = [None if k in (0, num - 1) else
                    requests_guidance(model, [*guided, (path_target, "=", goals[k])], gradient_scale,
                                      guidance_mode, fields)
                    for k in range(num)]
        if guided:
            common = requests_guidance(model, guided, gradient_scale, guidance_mode, fields)
            guidance[0] = guidance[-1] = common
    else:
        guidance = requests_guidance(model, guided, gradient_scale, guidance_mode, fields) if guided else None
    path = model.interpolate(a, b, num=num, steps=steps, cond_path=cond_path, gradient_guidance=guidance)
    scored = [*guided, *([(path_target, "=", None)] if path_target is not None else [])]
    achieved: dict[str, list[float]] = {t.name: [] for t, _, _ in scored}
    # each point converted once, for its validity, the targets and the writer (an unconvertible
    # point is invalid; the writer then converts it again and names the failure)
    converted, valid = map(list, zip(*(_convert(domain, g) for g in path)))
    objs = converted if all(o is not None for o in converted) else None
    scores, _ = _score_targets(domain, path, scored, achieved, objs=converted)
    requested = {f"requested_{t.name}": f"{op}{v}" for t, op, v in guided}
    sink = GraphSink(out_arg, domain)
    sink.write(path, ids=[f"{k}" for k in range(num)],
               extra=[{"lambda": k / (num - 1), **(cond_path[k] if cond_path else {}), **requested,
                       **({f"requested_{path_target.name}": goals[k]} if path_target is not None else {}),
                       **(scores[k] if scores else {}), "valid": int(valid[k])} for k in range(num)],
               objs=objs)
    sink.close()
    click.echo(f"wrote {num} graphs from item {pair[0]} to item {pair[1]} to {_describe_sink(sink)} "
               f"({sum(valid)} valid)")
    _note_unstored(sink)
    for t, op, v in guided:
        vals = ", ".join(f"{x:.4g}" for x in achieved[t.name])
        click.echo(f"{t.name} (requested {op}{v}) along the path: {vals}")
    if path_target is not None:
        vals = ", ".join(f"{x:.4g}" for x in achieved[path_target.name])
        click.echo(f"{path_target.name} (requested {goals[0]:.4g} .. {goals[-1]:.4g}; the ends unguided) "
                   f"along the path: {vals}")
    if plot is not None:
        series = {t.name: achieved[t.name] for t, _, _ in scored}
        _plot_path(plot, num, goals, target_path[0] if target_path else None, series, valid)
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
