"""What ``graphdiff train`` and ``graphdiff sample`` do, as functions (the CLI is a thin layer)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.config import RunConfig
from graphdiff.data import (DATABASE_SUFFIXES, IndexView, read_graphs, split_graphs, split_indices,
                            statistics_sample)
from graphdiff.diffusion import GraphDiffusion
from graphdiff.errors import ConfigError, DataError, GraphValidationError
from graphdiff.model import build_model
from graphdiff.training import Trainer

__all__ = ["train", "train_on", "load_training_data", "sample_graphs", "sample_in_chunks", "template_sampler",
           "parse_target_requests", "split_target_requests", "requests_guidance", "target_requests",
           "warn_outside_training_range"]


def load_training_data(cfg: RunConfig, domain: Any, strict: bool = False,
                       progress: bool = False) -> tuple[list[Data], list[Data], list[dict]]:
    """Read, convert and split the config's data: ``(train, val, skipped)``."""
    d = cfg.data
    skipped: list[dict[str, str]] = []
    if d.train_source:
        train = read_graphs(domain, d.train_source, strict=strict, max_items=d.max_items,
                            skipped=skipped, cache=d.cache, progress=progress, **d.options)
        val = (read_graphs(domain, d.val_source, strict=strict, skipped=skipped, cache=d.cache,
                           progress=progress, **d.options)
               if d.val_source else [])
    elif d.source and Path(d.source).suffix.lower() in DATABASE_SUFFIXES:
        # a graph database: stream from disk, never load it whole
        from graphdiff.db import DatabaseDataset

        dataset = DatabaseDataset(d.source, domain=domain)
        n = min(len(dataset), d.max_items) if d.max_items else len(dataset)
        train_idx, val_idx = split_indices(n, d.val_fraction, d.split_seed)
        return IndexView(dataset, train_idx), IndexView(dataset, val_idx), []
    elif d.source:
        graphs = read_graphs(domain, d.source, strict=strict, max_items=d.max_items, skipped=skipped,
                             cache=d.cache, progress=progress, **d.options)
        train, val = split_graphs(graphs, d.val_fraction, d.split_seed)
    else:
        raise DataError("data.source (or data.train_source) must name the data to train on")
    for name in cfg.diffusion.condition:
        if not isinstance(train, list):
            continue  # a database: checked when the model validates its statistics sample
        have = sum(getattr(g, name, None) is not None for g in train)
        if have == 0 and _target_for(domain, name) is not None:
            # a registered target of the domain (e.g. social-average_clustering): computed
            # from each item, so any graph statistic can be a condition without a data column
            target = _target_for(domain, name)
            for part in (train, val):
                attach_target(domain, part, name, target)
            have = len(train)
        if have == 0:
            raise DataError(f"diffusion.condition names {name!r} but no training item has that property "
                            f"and no target of domain {domain.name!r} has that name (graphdiff targets)")
        if have < len(train):
            raise DataError(f"diffusion.condition names {name!r} but {len(train) - have} of "
                            f"{len(train)} training items lack it")
    return train, val, skipped


def _target_for(domain: Any, name: str) -> Any:
    """The registered target ``name`` when it scores objects of ``domain``, else ``None``."""
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("targets")
    if name not in registry:
        return None
    target = registry.get(name)
    return target if getattr(target, "domain", None) in (None, domain.name) else None


def attach_target(domain: Any, graphs: Sequence[Data], name: str, target: Any) -> None:
    """Set ``graph.<name>`` to ``target(domain.from_graph(graph))`` (a ``float [1]`` property);
    a target that cannot score an item raises :class:`DataError` naming it."""
    for i, g in enumerate(graphs):
        try:
            value = float(target(domain.from_graph(g)))
        except Exception as exc:  # noqa: BLE001 - re-raised with the item named
            where = getattr(g, "item_id", None) or f"item {i}"
            raise DataError(f"target {name!r} cannot score training {where}: {exc}") from exc
        setattr(g, name, torch.tensor([value], dtype=torch.float32))


def train(cfg: RunConfig, *, resume: str | Path | None = None, init: str | Path | None = None,
          max_steps: int | None = None, progress: bool = True, strict: bool = False) -> tuple[Trainer, Path]:
    """Train the model a config describes; returns the trainer and its last checkpoint.

    ``resume`` continues a training checkpoint exactly; ``init`` starts a new run (fresh optimiser,
    schedule and step count) from the weights of any checkpoint of the same model, e.g. a bundled
    one, to train it further or fine-tune it on other data."""
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", cfg.data.domain)
    train_graphs, val_graphs, skipped = load_training_data(cfg, domain, strict=strict, progress=progress)
    return train_on(cfg, train_graphs, val_graphs, skipped=skipped, resume=resume, init=init,
                    max_steps=max_steps, progress=progress)


def train_on(cfg: RunConfig, train_graphs: Sequence[Data], val_graphs: Sequence[Data], *,
             skipped: Sequence[dict] = (), source: str | None = None, resume: str | Path | None = None,
             init: str | Path | None = None, max_steps: int | None = None,
             progress: bool = True) -> tuple[Trainer, Path]:
    """Train on graphs already in memory (``cfg.data``'s sources are not read).

    ``train_graphs`` / ``val_graphs`` must be graphs of ``cfg.data.domain`` (what its converter
    makes); ``source`` names where they came from in the checkpoint's metadata."""
    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", cfg.data.domain)
    if not train_graphs:
        raise DataError("no training graphs to train on")
    torch.manual_seed(cfg.training.seed)
    model = build_model(cfg, domain)
    model.fit_statistics(statistics_sample(train_graphs, seed=cfg.training.seed))
    if resume and init:
        raise ConfigError("give either resume (continue a run) or init (start from its weights), not both")
    if init:
        meta_init = init_weights(model, cfg, init)
    out = Path(cfg.training.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    meta = {"domain": domain.name, "domain_version": domain.version,
            "source": source or cfg.data.train_source or cfg.data.source, "num_train": len(train_graphs),
            "num_val": len(val_graphs), "num_skipped": len(skipped),
            "parameters": sum(p.numel() for p in model.parameters())}
    ranges = domain.training_ranges(train_graphs) if hasattr(domain, "training_ranges") else {}
    if ranges:
        meta["target_ranges"] = ranges
    if init:
        meta["init"] = meta_init
    trainer = Trainer(model, cfg, train_graphs, val_graphs, meta=meta, progress=progress)
    if resume:
        trainer.resume(resume)
    trainer.fit(max_steps)
    return trainer, out / "last.ckpt"


def init_weights(model: GraphDiffusion, cfg: RunConfig, path: str | Path) -> dict:
    """Load the weights of checkpoint ``path`` (a bundled name, a model-only or a training
    checkpoint: its EMA weights where it has them) into ``model``, built from ``cfg``.

    The checkpoint's [model] and [diffusion] sections must equal ``cfg``'s, so that the weights
    mean the same thing, with one exception: an unconditional checkpoint may start a model
    conditioned on properties (``diffusion.condition``; the rest of [diffusion] equal), to
    fine-tune a de novo model into a conditional one. The condition's weights are then new, and
    the columns of each context MLP's first layer that read the condition embedding start at
    zero, so the new model begins as exactly the checkpoint's (whatever the condition) and learns
    to use it. The normalisation statistics stored with the weights are kept (the weights were
    learnt against them); the node-count histogram, and the condition normaliser of a model that
    adds conditions, stay those of the data ``model`` was fitted to, which is the data the run
    trains on. Returns what the new checkpoint records of its start: the path, and the step and
    meta of the source (``adds_condition`` where conditions were added)."""
    from graphdiff.model import load_state, read_checkpoint, resolve_checkpoint
    from graphdiff.nn.embeddings import GraphContext

    src = resolve_checkpoint(path)
    ckpt = read_checkpoint(src)
    saved = json.loads(ckpt["config"])
    now = json.loads(cfg.model_dump_json())
    if saved.get("model") != now.get("model"):
        raise ConfigError(f"{path}: was trained with another [model] config, so its weights cannot "
                          f"start this run; saved {saved.get('model')} vs now {now.get('model')}")
    adds = _adds_condition(saved.get("diffusion") or {}, now.get("diffusion") or {})
    if saved.get("diffusion") != now.get("diffusion") and not adds:
        raise ConfigError(f"{path}: was trained with another [diffusion] config, so its weights cannot "
                          f"start this run (only an unconditional checkpoint may start a conditional model); "
                          f"saved {saved.get('diffusion')} vs now {now.get('diffusion')}")
    weights = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    own = model.state_dict()
    sizes = model.num_nodes_hist.clone()
    weights = {k: v.to(own[k].dtype) if k in own else v for k, v in weights.items()}
    if adds:
        for key in ("cond_mean", "cond_std"):
            weights[key] = own[key].clone()  # the condition's normaliser: fitted to this run's data
        for name, module in model.named_modules():
            if isinstance(module, GraphContext) and module.cond is not None:
                module.adopt_unconditional(weights, f"{name}.")
    load_state(model, weights, str(src))
    model.num_nodes_hist = sizes
    old = json.loads(ckpt.get("meta") or "{}")
    out = {"from": str(path), "step": int(ckpt.get("step", old.get("step", 0)) or 0),
           "source": old.get("source"), "train_minutes": old.get("train_minutes")}
    for key in ("total_steps", "total_train_minutes"):  # a checkpoint that itself started from another
        if old.get(key) is not None:
            out[key] = old[key]
    if adds:
        out["adds_condition"] = list(now["diffusion"]["condition"])
    return out


def _adds_condition(saved: dict, now: dict) -> bool:
    """Whether [diffusion] ``now`` is ``saved`` plus conditions (``saved`` has none)."""
    rest = ("condition", "cond_drop")
    return (not saved.get("condition") and bool(now.get("condition"))
            and {k: v for k, v in saved.items() if k not in rest} == {k: v for k, v in now.items() if k not in rest})


def sample_in_chunks(model: GraphDiffusion, total: int, chunk: int, *, make_kwargs: Callable[[int, int], dict],
                     seed: int = 0, progress: bool = False) -> Iterator[list[Data]]:
    """Yield generated graphs ``chunk`` at a time (memory stays flat however large ``total``).

    ``make_kwargs(start, count)`` returns the :meth:`GraphDiffusion.sample` keyword arguments of
    the chunk that starts at item ``start``. Each chunk draws from its own generator, seeded from
    ``seed`` and ``start``: the same seed and chunk size give the same output.
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="sample", unit="graph", dynamic_ncols=True)
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        gen = torch.Generator(device=model.num_nodes_hist.device).manual_seed(seed * 1_000_003 + start)
        out = model.sample(generator=gen, **make_kwargs(start, count))
        if bar:
            bar.update(count)
        yield out
    if bar:
        bar.close()


#: attribute of a template graph holding its own conditions (``float32 [1, C]``, NaN: unset)
TEMPLATE_CONDITION = "template_condition"


def set_template_condition(model: GraphDiffusion, template: Data, values: dict[str, float]) -> Data:
    """A copy of ``template`` carrying its own conditions ``values`` (names among
    ``model.condition``) for :func:`sample_graphs`."""
    unknown = set(values) - set(model.condition)
    if unknown:
        raise GraphValidationError(f"unknown condition {sorted(unknown)}; the model is conditioned on "
                                   f"{model.condition}")
    row = [float(values.get(n, float("nan"))) for n in model.condition]
    out = template.clone()
    setattr(out, TEMPLATE_CONDITION, torch.tensor([row], dtype=torch.float32))
    return out


def _without_condition(template: Data) -> Data:
    if getattr(template, TEMPLATE_CONDITION, None) is None:
        return template
    out = template.clone()
    del out[TEMPLATE_CONDITION]
    return out


def _template_conditions(model: GraphDiffusion, templates: list[Data], cond: dict[str, float] | None) -> torch.Tensor:
    """``[B, C]`` conditions of a chunk of templates, ``cond`` filling what a template leaves unset."""
    default = torch.tensor([[float((cond or {}).get(n, float("nan"))) for n in model.condition]])
    rows = []
    for t in templates:
        own = getattr(t, TEMPLATE_CONDITION, None)
        row = default.clone() if own is None else own.to(torch.float32).view(1, -1).clone()
        row = torch.where(torch.isnan(row), default, row)
        rows.append(row)
    return torch.cat(rows, 0)


def sample_graphs(model: GraphDiffusion, num: int | None = None, *, templates: Sequence[Data] | None = None,
                  cond: dict[str, float] | None = None, steps: int = 200, sampler: str = "ancestral",
                  guidance_scale: float = 0.0, corrector_steps: int = 0, batch_size: int = 256,
                  seed: int = 0, progress: bool = False, inpaint: Sequence[str] = (),
                  allow_larger: bool = False, gradient_guidance: Any = None,
                  constraint: Any = "model", step_progress: Callable | None = None) -> Iterator[list[Data]]:
    """De novo (``num``) or templated (``templates``: the given fields, e.g. compositions) sampling,
    in chunks of ``batch_size``. ``inpaint`` names generated fields held to the templates' values
    (a de novo model completing partial graphs; see :meth:`GraphDiffusion.sample`); ``constraint``
    overrides the model's edge constraint (a registered name, or ``None``: no projection).

    A template may carry its own conditions, set with :func:`set_template_condition`; they take
    precedence over ``cond`` (which fills the conditions a template leaves unset).

    ``step_progress`` wraps each chunk's loop of reverse steps (as
    :meth:`GraphDiffusion.sample`'s ``progress``): a bar that counts reverse steps across chunks
    (:class:`graphdiff.progress.StepProgress`) instead of finished graphs."""
    if templates is None and num is None:
        raise ValueError("give num (de novo) or templates (the given fields)")
    if templates is not None:
        total = len(templates)
        if not allow_larger:  # all of them before any sampling, not chunk by chunk
            model.check_sizes(templates, "input item")
        if model.given or inpaint:
            for i, tpl in enumerate(templates):
                for name in [*model.given, *inpaint]:
                    if getattr(tpl, name, None) is None:
                        raise GraphValidationError(f"input item {i}: the task needs field {name!r}")
    else:
        total = int(num)
    sizes: list[int] | None = None
    if templates is None:
        sizes = model.sample_num_nodes(total, torch.Generator().manual_seed(seed))

    def kwargs(start: int, count: int) -> dict:
        common = dict(steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                      corrector_steps=corrector_steps, cond=cond)
        if inpaint:
            common["inpaint"] = list(inpaint)
        if allow_larger:
            common["allow_larger"] = True
        if not (isinstance(constraint, str) and constraint == "model"):
            common["constraint"] = constraint
        if gradient_guidance is not None:
            common["gradient_guidance"] = gradient_guidance
        if step_progress is not None:
            common["progress"] = step_progress
        if templates is not None:
            part = list(templates[start:start + count])
            if any(getattr(t, TEMPLATE_CONDITION, None) is not None for t in part):
                if model.condition:
                    common["cond"] = _template_conditions(model, part, cond)
                part = [_without_condition(t) for t in part]
            return {**common, "template": part}
        return {**common, "num_nodes": sizes[start:start + count]}

    yield from sample_in_chunks(model, total, batch_size, make_kwargs=kwargs, seed=seed,
                                progress=progress and step_progress is None)


def template_sampler(model: GraphDiffusion, *, seed: int = 0, **options: Any) -> Callable[[list[Data]], list[Data]]:
    """``sample(templates) -> one generated graph per template``, for
    :func:`graphdiff.candidates.distinct_candidates`: each call is a :func:`sample_graphs` run
    (``options``: steps, sampler, batch_size, inpaint...) with its own seed, so repeated draws for
    the same templates differ and a run is reproducible from ``seed``."""
    calls = [0]

    def sample(templates: list[Data]) -> list[Data]:
        calls[0] += 1
        return [g for chunk in sample_graphs(model, templates=templates, seed=seed + 104729 * calls[0],
                                             **options) for g in chunk]

    return sample


# ---------------------------------------------------------------------------- target requests
def parse_target_requests(values: Sequence[str]) -> list[tuple[str, str, float]]:
    """``NAME=V``, ``NAME<=V``, ``NAME>=V`` (what ``graphdiff sample --target`` takes) ->
    ``[(name, op, value)]``; a malformed request raises :class:`~graphdiff.errors.ConfigError`.
    A weight suffix ``@W`` is accepted and dropped here (see :func:`split_target_requests`)."""
    return [(n, op, v) for n, op, v, _ in _parse_requests(values)]


def _parse_requests(values: Sequence[str]) -> list[tuple[str, str, float, float]]:
    """``NAME<op>VALUE[@WEIGHT]`` -> ``(name, op, value, weight)`` (weight 1 when not given)."""
    import re

    from graphdiff.errors import ConfigError

    out = []
    for item in values:
        m = re.fullmatch(r"\s*([^<>=\s]+)\s*(<=|>=|=)\s*([^@\s]+)\s*(?:@\s*(\S+))?\s*", item)
        if m is None:
            raise ConfigError(f"--target {item!r}: expected NAME=VALUE, NAME<=VALUE or NAME>=VALUE "
                              "(optionally @WEIGHT)")
        try:
            value = float(m.group(3))
        except ValueError:
            raise ConfigError(f"--target {item!r}: {m.group(3)!r} is not a number") from None
        try:
            weight = float(m.group(4)) if m.group(4) is not None else 1.0
        except ValueError:
            raise ConfigError(f"--target {item!r}: the weight {m.group(4)!r} is not a number") from None
        if not weight > 0:
            raise ConfigError(f"--target {item!r}: the weight must be positive")
        from graphdiff.predictor_files import canonical_target_name

        # a bundled predictor's own name (perov5-heat) stands for its target (perov5-heat_ref)
        out.append((canonical_target_name(m.group(1)), m.group(2), value, weight))
    return out


def split_target_requests(values: Sequence[str], model: GraphDiffusion, domain: Any,
                          differentiable: bool = True) -> tuple[dict[str, float], list]:
    """Conditions the model was trained on (classifier-free guidance, ``NAME=V`` only) and
    requests on registered differentiable targets of ``domain`` (gradient guidance):
    ``(cond, [(target, op, value)])``. A name that is neither, or (when ``differentiable``) a
    target that is not differentiable, raises :class:`~graphdiff.errors.ConfigError`; with
    ``differentiable=False`` any registered target of the domain is accepted (requests that only
    score and select, e.g. ``graphdiff sample --oversample F --gradient-scale 0``)."""
    from graphdiff.errors import ConfigError
    from graphdiff.plugins import get_manager

    import dataclasses

    cond, guided = {}, []
    registry = get_manager().registry("targets")
    for name, op, value, weight in _parse_requests(values):
        if name in model.condition:
            if op != "=":
                raise ConfigError(f"--target {name}{op}{value}: {name!r} is a condition of this model; "
                                  "a condition takes NAME=VALUE")
            if weight != 1.0:
                raise ConfigError(f"--target {name}={value}@{weight:g}: a weight applies to gradient requests; "
                                  f"{name!r} is a condition of this model (use --guidance-scale)")
            cond[name] = value
            k = model.condition.index(name)
            mean, std = float(model.cond_mean[k]), float(model.cond_std[k])
            if std > 0 and abs(value - mean) > 3 * std:
                warnings.warn(f"--target {name}={value:g} is {abs(value - mean) / std:.1f} standard deviations "
                              f"from the training mean of {name} ({mean:.4g} ± {std:.4g}): the model has seen "
                              "few such items, expect a weak effect", TargetRangeWarning, stacklevel=2)
            continue
        target = registry.get(name) if name in registry else None
        if target is None or getattr(target, "domain", domain.name) != domain.name:
            conds = ", ".join(model.condition) or "none"
            raise ConfigError(f"--target {name!r}: not a condition of this model (conditions: {conds}) "
                              f"and not a registered target of domain {domain.name!r} (graphdiff targets)")
        if differentiable and not getattr(target, "differentiable", False):
            raise ConfigError(f"--target {name!r}: this target is not differentiable, so it cannot guide "
                              "sampling; train a model conditioned on it (diffusion.condition) or a "
                              "predictor of it (graphdiff predictor train), or only select by it "
                              "(--oversample F --gradient-scale 0)")
        rng = getattr(target, "value_range", None)
        if rng is not None and not (rng[0] <= value <= rng[1]):
            warnings.warn(f"--target {name}{op}{value:g} lies outside the range the target was trained on "
                          f"[{rng[0]:.4g}, {rng[1]:.4g}]: its values there are extrapolations",
                          TargetRangeWarning, stacklevel=2)
        if weight != 1.0:
            target = dataclasses.replace(target, weight=weight)
        guided.append((target, op, value))
    return cond, guided


class TargetRangeWarning(UserWarning):
    """A ``--target`` request outside the values a model or predictor was trained on."""


def warn_outside_training_range(guided: Sequence[tuple[Any, str, float]], domain: Any,
                                meta: dict[str, Any]) -> None:
    """Warn (:class:`TargetRangeWarning`) for each gradient request ``(target, op, value)`` that
    asks for values beyond those the target takes over the model's training data, as
    ``domain.target_range(target, meta)`` reports them (``(low, high, where)``, ``where`` saying
    what the range was computed over, e.g. ``"over 200 structures of ..."``; ``None`` where the
    domain cannot tell): ``=`` outside ``[low, high]``, ``>=`` above ``high``, ``<=`` below
    ``low`` (a request every training item meets is not warned about). Targets with their own
    trained ``value_range`` (predictors) are checked by :func:`split_target_requests` instead.
    Called when the request is made, before sampling."""
    find = getattr(domain, "target_range", None)
    if find is None:
        return
    for target, op, value in guided:
        if getattr(target, "value_range", None) is not None:
            continue
        try:
            found = find(target, meta)
        except Exception as exc:  # noqa: BLE001 - a range that cannot be computed only loses the warning
            warnings.warn(f"--target {target.name}{op}{value:g}: the range of {target.name} over the training "
                          f"data could not be computed ({type(exc).__name__}: {exc}); not checked",
                          TargetRangeWarning, stacklevel=2)
            continue
        if found is None:
            continue
        low, high, where = found
        beyond = value < low if op == "<=" else value > high if op == ">=" else not low <= value <= high
        if beyond:
            units = f" {target.units}" if getattr(target, "units", "") else ""
            warnings.warn(f"--target {target.name}{op}{value:g} lies outside {low:.4g} to {high:.4g}{units}, the "
                          f"range of {target.name} {where}: the model has seen few or no such items, so expect "
                          "the request to be missed or the items to be unphysical", TargetRangeWarning, stacklevel=2)


def requests_guidance(model: GraphDiffusion, guided: Sequence[tuple[Any, str, float]], scale: float = 1.0,
                      mode: str = "auto", fields: Sequence[str] | None = None) -> Any:
    """One :class:`~graphdiff.diffusion.GradientGuidance` for all ``(target, op, value)``
    requests: minus the sum, weighted by each target's ``weight`` (``NAME<=V@W``), of the Huber
    losses of ``|v - goal|`` (``=``), ``relu(v - goal)`` (``<=``), ``relu(goal - v)`` (``>=``), so
    requests already met pull no more and distant ones pull with a bounded force. ``mode``: how
    each target reads the states (:func:`graphdiff.predictors.guidance_reading`): time-aware
    targets on the noisy states, the others on the clean estimate. ``fields``: move only these
    generated fields (default: every continuous one)."""
    from graphdiff.diffusion import GradientGuidance
    from graphdiff.predictors import target_guidance

    parts: dict[str, list] = {"clean": [], "noisy": []}
    for target, op, value in guided:
        g = target_guidance(model, target, goal=None, scale=1.0, mode=mode)
        raw, reading = (g.noisy_fn, "noisy") if g.noisy_fn is not None else (g.fn, "clean")

        def score(x, graphs, raw=raw, op=op, value=value, w=float(getattr(target, "weight", 1.0))):
            v = raw(x, graphs)
            gap = request_gap(v, op, value)
            # Huber: quadratic near the goal, linear far from it, so the pull stays bounded
            return -w * torch.where(gap < 1.0, 0.5 * gap ** 2, gap - 0.5)

        parts[reading].append(score)

    def combine(fns: list) -> Any:
        return (lambda x, graphs: sum(f(x, graphs) for f in fns)) if fns else None

    return GradientGuidance(combine(parts["clean"]), scale, noisy_fn=combine(parts["noisy"]),
                            fields=None if fields is None else frozenset(fields))


def request_gap(v: Any, op: str, goal: float) -> Any:
    """How far ``v`` (a float or a tensor) is from meeting one request: ``|v - goal|`` for ``=``,
    ``max(v - goal, 0)`` for ``<=``, ``max(goal - v, 0)`` for ``>=``; what gradient guidance
    pulls on and best-of-N selection ranks by."""
    d = goal - v if op == ">=" else v - goal
    return abs(d) if op == "=" else (d + abs(d)) / 2


def request_shortfall(values: dict[str, float], guided: Sequence[tuple[Any, str, float]]) -> float:
    """How far one item is from every ``(target, op, value)`` request, by the targets' own values
    ``values[target.name]``: the sum, weighted by each target's ``weight`` (``NAME=V@W``), of
    ``|v - goal|`` (``=``), ``max(v - goal, 0)`` (``<=``) and ``max(goal - v, 0)`` (``>=``).
    ``inf`` when a target could not score the item (a missing or NaN value)."""
    total = 0.0
    for target, op, goal in guided:
        v = values.get(target.name, float("nan"))
        if not math.isfinite(v):
            return math.inf
        total += float(getattr(target, "weight", 1.0)) * request_gap(v, op, goal)
    return total


def select_closest(scores: Sequence[dict[str, float]], guided: Sequence[tuple[Any, str, float]],
                   keep: int) -> list[int]:
    """The indices of the ``keep`` items whose target values ``scores[i]`` best meet the
    ``guided`` requests (:func:`request_shortfall`; ties go to the earlier item), in their
    original order: best-of-N selection, what ``graphdiff sample --oversample`` does."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    order = sorted(range(len(scores)), key=lambda i: (request_shortfall(scores[i], guided), i))
    return sorted(order[:keep])


def target_requests(model: GraphDiffusion, requests: Sequence[str], scale: float = 1.0,
                    domain: Any = None, mode: str = "auto") -> tuple[dict[str, float], Any]:
    """What ``--target REQUEST ... --gradient-scale SCALE`` asks of ``model``, for the Python API:
    ``(cond, gradient_guidance)`` to pass to :func:`sample_graphs`, :meth:`GraphDiffusion.sample`
    or :meth:`GraphDiffusion.interpolate` (``gradient_guidance`` is ``None`` when every request is
    a condition of the model)::

        cond, guidance = target_requests(model, ["crystals-density>=3.5"])
        graphs = [g for chunk in sample_graphs(model, 16, cond=cond, gradient_guidance=guidance)
                  for g in chunk]
    """
    if domain is None:
        from graphdiff.plugins import get_manager

        domain = get_manager().get("domains", model.spec.name)
    cond, guided = split_target_requests(requests, model, domain)
    return cond, (requests_guidance(model, guided, scale, mode) if guided else None)
