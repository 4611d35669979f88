"""``graphdiff evaluate``: score generated items, or a registered baseline's candidates,
against references with a domain metric."""

from __future__ import annotations

import json
from pathlib import Path

import click

from graphdiff.cli.main import cli
from graphdiff.cli.sample import _check_output
from graphdiff.errors import ConfigError, DataError


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
