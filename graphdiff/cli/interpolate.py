"""``graphdiff interpolate``: walk from one graph to another through the model's latent space."""

from __future__ import annotations

from pathlib import Path

import click

from graphdiff.cli.main import cli
from graphdiff.cli.sample import (_check_output, _describe_sink, _gradient_scale, _guidance_mode, _note_unstored,
                                  _register_predictors, _say_readings)
from graphdiff.errors import ConfigError, DataError


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
