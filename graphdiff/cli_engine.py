"""Engine commands of the ``graphdiff`` CLI: train, sample, interpolate, checkpoints, schedule."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from graphdiff.cli import cli
from graphdiff.errors import ConfigError, DataError


def _parse_targets(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--target {item!r}: expected COLUMN=VALUE")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--target {item!r}: {value!r} is not a number") from None
    return out


@cli.command("train")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path),
              help="Continue from this training checkpoint (model, optimiser, EMA, step, RNG).")
@click.option("--max-steps", type=int, help="Override training.max_steps.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Override training.out_dir.")
@click.option("--strict", is_flag=True, help="Fail on the first bad input row instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_cmd(config: Path, resume: Path | None, max_steps: int | None, out_dir: Path | None,
              strict: bool, quiet: bool) -> None:
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
    trainer, ckpt = train(cfg, resume=resume, progress=not quiet, strict=strict)
    last = {k: v for r in trainer.history for k, v in r.items()}
    click.echo(f"trained {trainer.step} steps; loss {last.get('loss', float('nan')):.4f}"
               + (f", val_loss {last['val_loss']:.4f}" if "val_loss" in last else ""))
    click.echo(f"checkpoint: {ckpt}")


@cli.command("sample")
@click.option("--checkpoint", "-c", required=True, help="Checkpoint path or bundled name.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path),
              help="Output file (.jsonl/.pt for any domain, or a format the domain writes).")
@click.option("--num", "-n", type=int, help="Number of graphs (de novo).")
@click.option("--input", "input_path", type=click.Path(exists=True, path_type=Path),
              help="Items whose given fields (e.g. compositions) the model completes.")
@click.option("--samples-per-row", "-k", type=int, default=1, show_default=True,
              help="Samples per input item.")
@click.option("--target", multiple=True, help="Condition COLUMN=VALUE (repeatable).")
@click.option("--guidance-scale", type=float, help="Classifier-free guidance weight.")
@click.option("--steps", type=int, help="Reverse steps (default: the config's).")
@click.option("--sampler", type=click.Choice(["ancestral", "ddim"]), help="Sampler.")
@click.option("--corrector-steps", type=int, help="Langevin corrector steps for torus fields.")
@click.option("--batch-size", type=int, help="Graphs per chunk.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sample_cmd(checkpoint: str, out: Path, num: int | None, input_path: Path | None, samples_per_row: int,
               target: tuple[str, ...], guidance_scale: float | None, steps: int | None,
               sampler: str | None, corrector_steps: int | None, batch_size: int | None, seed: int,
               quiet: bool) -> None:
    """Generate graphs with a trained model and stream them to OUT.

    Under torchrun (WORLD_SIZE > 1) the work is split across ranks: rank r writes its
    contiguous share to OUT with ".rank<r>of<world>" before the suffix.
    """
    from graphdiff.graphio import GraphSink
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager
    from graphdiff.runner import sample_graphs

    model, cfg, meta = load_model(checkpoint)
    domain = get_manager().get("domains", cfg.data.domain)
    sc = cfg.sampling
    templates, ids = None, None
    if input_path is not None:
        records = list(domain.read(input_path))
        graphs = [domain.record_to_graph(r) for r in records]
        templates = [g for g in graphs for _ in range(samples_per_row)]
        ids = [str(r.get("id", i)) for i, r in enumerate(records) for _ in range(samples_per_row)]
    elif num is None:
        raise ConfigError("give --num N (de novo) or --input FILE (items to complete)")
    elif model.given:
        raise ConfigError(f"this model is trained to complete given fields {model.given}: use --input")
    rank, world = _shard()
    if world > 1:  # under torchrun: each rank writes its own contiguous share
        total = len(templates) if templates is not None else num
        lo, hi = rank * total // world, (rank + 1) * total // world
        if templates is not None:
            templates, ids = templates[lo:hi], ids[lo:hi]
        else:
            num = hi - lo
        seed = seed + 7919 * rank
        out = out.with_name(f"{out.stem}.rank{rank}of{world}{out.suffix}")
        if num == 0 or (templates is not None and not templates):
            click.echo(f"rank {rank}: nothing to sample")
            return
    sink = GraphSink(out, domain)
    t0 = time.perf_counter()
    extra = None
    for chunk_index, chunk in enumerate(sample_graphs(
            model, num, templates=templates, cond=_parse_targets(target) or None,
            steps=steps or sc.steps, sampler=sampler or sc.sampler,
            guidance_scale=sc.guidance_scale if guidance_scale is None else guidance_scale,
            corrector_steps=sc.corrector_steps if corrector_steps is None else corrector_steps,
            batch_size=batch_size or sc.batch_size, seed=seed, progress=not quiet)):
        start = sink.count
        chunk_ids = ids[start:start + len(chunk)] if ids else [str(start + i) for i in range(len(chunk))]
        if samples_per_row > 1:
            extra = [{"sample": (start + i) % samples_per_row} for i in range(len(chunk))]
        sink.write(chunk, ids=chunk_ids, extra=extra)
    sink.close()
    dt = time.perf_counter() - t0
    click.echo(f"wrote {sink.count} graphs to {out} in {dt:.1f} s ({sink.count / max(dt, 1e-9):.2f} graphs/s)")


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
@click.option("--generated", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generated items (rows sharing an id are the candidates of one reference).")
@click.option("--reference", required=True, type=click.Path(exists=True, path_type=Path),
              help="Reference items.")
@click.option("--train", "train_path", type=click.Path(exists=True, path_type=Path),
              help="Training items (novelty).")
@click.option("--k", type=int, multiple=True, help="Candidates per reference to score (repeatable).")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Write the metrics as JSON here.")
def evaluate_cmd(domain_name: str, task: str, generated: Path, reference: Path, train_path: Path | None,
                 k: tuple[int, ...], out: Path | None) -> None:
    """Score generated items against references with a registered domain metric."""
    from graphdiff.plugins import get_manager

    manager = get_manager()
    domain = manager.get("domains", domain_name)
    metric = manager.get("metrics", f"{domain_name}-{task}")
    gen = list(domain.read(generated))
    ref = list(domain.read(reference))
    train = list(domain.read(train_path)) if train_path else None
    result = metric(gen, ref, train=train, k=list(k) or None)
    summary = {key: v for key, v in result.items() if key != "per_item"}
    click.echo(json.dumps(summary, indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        click.echo(f"wrote {out}")


@cli.command("interpolate")
@click.option("--checkpoint", "-c", required=True, help="Checkpoint path or bundled name.")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="A file the domain reads holding the two end points.")
@click.option("--pair", nargs=2, type=int, default=(0, 1), show_default=True,
              help="Indices of the two items in --input.")
@click.option("--num", "-n", type=int, default=8, show_default=True, help="Points on the path, ends included.")
@click.option("--steps", type=int, default=100, show_default=True, help="Inversion and decoding steps.")
@click.option("--target-path", nargs=3, type=(str, float, float), default=None,
              help="COLUMN START END: a condition that changes linearly along the path.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output file.")
def interpolate_cmd(checkpoint: str, input_path: Path, pair: tuple[int, int], num: int, steps: int,
                    target_path: tuple[str, float, float] | None, out: Path) -> None:
    """Walk from one graph to another through the model's latent space."""
    from graphdiff.graphio import GraphSink
    from graphdiff.model import load_model
    from graphdiff.plugins import get_manager

    model, cfg, _ = load_model(checkpoint)
    domain = get_manager().get("domains", cfg.data.domain)
    records = list(domain.read(input_path))
    for i in pair:
        if not 0 <= i < len(records):
            raise DataError(f"{input_path}: no item {i} (it has {len(records)})")
    a, b = (domain.record_to_graph(records[i]) for i in pair)
    cond_path = None
    if target_path is not None:
        col, lo, hi = target_path
        cond_path = [{col: lo + (hi - lo) * k / (num - 1)} for k in range(num)]
    path = model.interpolate(a, b, num=num, steps=steps, cond_path=cond_path)
    sink = GraphSink(out, domain)
    sink.write(path, ids=[f"{k}" for k in range(num)],
               extra=[{"lambda": k / (num - 1), **(cond_path[k] if cond_path else {})} for k in range(num)])
    sink.close()
    click.echo(f"wrote {num} graphs from item {pair[0]} to item {pair[1]} to {out}")
