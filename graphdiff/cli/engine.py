"""Engine commands of the ``graphdiff`` CLI: train, checkpoints, schedule (``sample``,
``evaluate`` and ``interpolate`` have their own modules)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from graphdiff.cli.main import cli


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
