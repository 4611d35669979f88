"""``graphdiff predictor train | info`` and ``graphdiff predict``: property predictors
(:mod:`graphdiff.predictors`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from graphdiff.cli.main import cli

__all__ = ["predictor_group", "predict_cmd", "format_calibration"]


def format_calibration(props: dict) -> list[str]:
    """One line per property of a calibration report."""
    lines = []
    for p, r in props.items():
        if not r.get("n"):
            lines.append(f"  {p}: no validation values")
            continue
        base = f" (predict-the-mean {r['baseline_mae']:.4g})" if "baseline_mae" in r else ""
        base += f" (offset alone {r['offset_mae']:.4g})" if "offset_mae" in r else ""
        lines.append(f"  {p}: n={r['n']}  MAE {r['mae']:.4g}{base}  RMSE {r['rmse']:.4g}  R2 {r['r2']:.3f}  "
                     f"within 1 std {r['within_1std']:.3f} (ideal {r['ideal_1std']:.3f})  "
                     f"within 2 std {r['within_2std']:.3f} (ideal {r['ideal_2std']:.3f})  "
                     f"mean std {r['mean_std']:.4g}")
    return lines


@cli.group("predictor")
def predictor_group() -> None:
    """Property predictors: GNN regressors of graph-level properties, with ensemble uncertainty.

    A predictor reuses the domain's encoder (periodic for crystals, E(3)-invariant for
    molecules, message passing for plain graphs). See docs/predictors.md.
    """


@predictor_group.command("train")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--max-steps", type=click.IntRange(min=1), help="Override training.max_steps (per member).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Override training.out_dir.")
@click.option("--strict", is_flag=True, help="Fail on the first bad input row instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def predictor_train(config: Path, max_steps: int | None, out_dir: Path | None, strict: bool, quiet: bool) -> None:
    """Train the predictor CONFIG describes (a run config with a [predictor] section).

    Writes the predictor file, calibration.json (validation split: MAE, RMSE, R2 and the
    fraction of errors within 1 and 2 predicted std), val_predictions.csv, skipped.json and
    log.jsonl into training.out_dir, and prints the calibration.
    """
    from graphdiff.config import check_registered_names
    from graphdiff.predictors import load_predictor_config, train_predictor

    cfg = load_predictor_config(config)
    check_registered_names(cfg, config)
    if out_dir:
        cfg.training.out_dir = str(out_dir.resolve())
    path, report = train_predictor(cfg, max_steps=max_steps, progress=not quiet, strict=strict,
                                   log=lambda s: click.echo(s, err=True))
    click.echo(f"predictor: {path}")
    click.echo(f"trained {report['ensemble']} member(s) on {report['num_train']} item(s); "
               + (f"validation: {report['num_val']} item(s)" if report["split"] == "validation" else
                  f"{report['ensemble']}-fold cross-validation: every item judged by the member that never saw it")
               + (f"; skipped {report['num_skipped']}" if report["num_skipped"] else ""))
    if report["properties"]:
        click.echo(f"calibration ({'validation split' if report['split'] == 'validation' else 'out-of-fold'}):")
        for line in format_calibration(report["properties"]):
            click.echo(line)
        click.echo(f"calibration: {path.parent / 'calibration.json'}")


@predictor_group.command("info")
@click.argument("predictor")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def predictor_info(predictor: str, as_json: bool) -> None:
    """What PREDICTOR (a file or a bundled predictor's name) predicts, for which domain, and its
    calibration."""
    from graphdiff.predictors import Predictor, resolve_predictor

    path = resolve_predictor(predictor)
    model = Predictor.load(path)
    meta = dict(model.meta)
    info = {"path": str(path), "domain": model.domain, "properties": model.properties,
            "targets": [f"{meta.get('name') or model.domain + '-predicted'}-{p}" for p in model.properties],
            "encoder": model.arch["denoiser"], "ensemble": len(model.members),
            "variance": model.variance, "noisy": model.noisy, **{k: meta.get(k) for k in (
                "source", "num_train", "num_val", "num_skipped", "cross_validate", "offset", "steps",
                "parameters", "calibration")}}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{path}: {info['domain']} predictor of {', '.join(model.properties)}")
    click.echo(f"  encoder {info['encoder']}, {info['ensemble']} member(s)"
               + (", time-aware (noisy)" if model.noisy else "")
               + f"; trained on {info['num_train']} item(s) of {info['source']}"
               + (f" ({info['ensemble']}-fold cross-validation)" if info.get("cross_validate") else ""))
    if model.offset:
        missing = model.offset_gradient_free()
        click.echo(f"  learns the residual of a least-squares baseline on {', '.join(model.offset)}"
                   + (f"; not differentiable (no gradient of {', '.join(missing)})" if missing else ""))
    click.echo(f"  targets: {', '.join(info['targets'])}")
    if info.get("calibration"):
        click.echo("  calibration " + ("(out-of-fold):" if info.get("cross_validate") else "(validation split):"))
        for line in format_calibration(info["calibration"]):
            click.echo(line)


@cli.command("predict")
@click.option("--predictor", "-p", "predictor", required=True,
              help="A predictor file (graphdiff predictor train), a bundled predictor's name or the name of "
                   "its target (perov5-heat or perov5-heat_ref, qm9-gap: graphdiff targets lists them).")
@click.option("--input", "-i", "input_path", required=True,
              help="Items to score, in a format the predictor's domain reads, or a dataset a plugin "
                   "ships (e.g. qm9://test).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: the input's id column, then NAME and NAME_std per property, then "
                   "out_of_domain (why the predictor extrapolates on the item, e.g. elements no training "
                   "item had; empty when it does not).")
@click.option("--id-column", help="Name of the id column (default: the input CSV's column holding the ids, "
              "else 'id').")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--strict", is_flag=True, help="Fail on the first unreadable item instead of skipping it.")
def predict_cmd(predictor: str, input_path: str, out: Path, id_column: str | None, batch_size: int,
                strict: bool) -> None:
    """Predict the properties of every item of INPUT with a trained predictor.

    Items the domain cannot read are skipped and listed (--strict: an error). Items outside the
    predictor's training data (elements or other node classes no training item had, more atoms
    than any had) are predicted, warned about and flagged in the out_of_domain column.
    """
    from graphdiff.predictors import Predictor, predict_file, resolve_predictor

    from graphdiff.data import is_dataset_uri

    model = Predictor.load(resolve_predictor(predictor))
    if not is_dataset_uri(input_path):
        input_path = Path(input_path)  # a dataset URI stays a string: a Path collapses its "//"
    flagged: list[dict[str, str]] = []
    n, skipped = predict_file(model, input_path, out, strict=strict, id_column=id_column,
                              batch_size=batch_size, flagged=flagged)
    for s in skipped[:10]:
        click.echo(f"skipped {s['where']}: {s['reason']}", err=True)
    if len(skipped) > 10:
        click.echo(f"... and {len(skipped) - 10} more skipped", err=True)
    for f in flagged[:10]:
        click.echo(f"warning: {f['where']}: outside the predictor's training data ({f['reason']}); "
                   "its prediction is an extrapolation", err=True)
    if len(flagged) > 10:
        click.echo(f"... and {len(flagged) - 10} more outside the training data", err=True)
    click.echo(f"wrote {n} prediction(s) of {', '.join(model.properties)} to {out}"
               + (f" ({len(skipped)} item(s) skipped)" if skipped else "")
               + (f"; {len(flagged)} of them outside the predictor's training data (column out_of_domain)"
                  if flagged else ""))
