"""Training a predictor: :func:`train_predictor` fits the ensemble a
:class:`~graphdiff.predictors.config.PredictorConfig` describes and writes the predictor file
with its calibration.

Each member is trained with the β-NLL loss (Gaussian or Laplace) on standardised targets, on
the training split, a bootstrap resample or all folds but its own (:func:`fold_indices`); the
offset of Δ-learning is fitted first by least squares, and a time-aware predictor takes the
processes of a diffusion checkpoint (``[predictor] processes_from``).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphdiff.errors import ConfigError, DataError
from graphdiff.graph import GraphSpec
from graphdiff.nn.base import NoisyGraphs
from graphdiff.predictors.validation import validation_report
from graphdiff.predictors.config import PredictorConfig, PredictorOptions
from graphdiff.predictors.data import LABELS_ATTR, LabelledData, classes_seen, label_range, read_labelled
from graphdiff.predictors.model import Predictor

__all__ = ["train_predictor", "fold_indices"]

#: the β of the β-NLL loss
_BETA = 0.5


def _losses(model: Predictor, m: int, graphs: NoisyGraphs, y: torch.Tensor,
            loss: str = "gaussian") -> torch.Tensor:
    """Masked β-NLL (without variance: squared or absolute error) of member ``m`` on
    standardised targets.

    ``gaussian``: ``½(log σ² + r²/σ²) · σ^{2β}``. ``laplace`` (scale ``b = σ/√2``, the same
    variance): ``(log b + |r|/b) · σ^{2β}``; with β = ½ the weight is ∝ ``b``, so the mean's
    gradient is ``sign(r)``, that of the absolute error, whatever the predicted scale."""
    mu, var = model.member_outputs(m, graphs)
    z = (y - model.y_mean) / model.y_std
    mask = torch.isfinite(z)
    z = torch.where(mask, z, torch.zeros_like(z))
    if var is None:
        per = (mu - z).abs() if loss == "laplace" else (mu - z) ** 2
    elif loss == "laplace":
        b = torch.sqrt(var / 2)
        per = (torch.log(b) + (mu - z).abs() / b) * var.detach() ** _BETA
    else:
        per = 0.5 * (torch.log(var) + (mu - z) ** 2 / var) * var.detach() ** _BETA
    per = per * mask
    return per.sum() / mask.sum().clamp_min(1)


def _lr_schedule(tc: Any, steps: int, time_progress: Callable[[], float] | None = None) -> Callable[[int], float]:
    """The trainer's warm-up and cosine schedule (:func:`graphdiff.training.lr_lambda`) over
    ``steps`` (a ``--max-steps`` override stretches it, not only ``training.max_steps``), or over
    the member's share of ``training.max_minutes`` when that ends first (``time_progress()``:
    the fraction of it used), so a member stopped by the budget still ends at the low rate."""
    from graphdiff.training import lr_lambda

    return lr_lambda(tc.model_copy(update={"max_steps": int(steps)}), time_progress)


@torch.no_grad()
def _member_val(model: Predictor, m: int, batches: list[Batch]) -> tuple[float, float]:
    """Member ``m``'s mean squared and mean absolute error of the standardised mean on
    validation batches."""
    sq, ab, count = 0.0, 0.0, 0
    for batch in batches:
        mu, _ = model.member_outputs(m, model.inputs(batch))
        z = (getattr(batch, LABELS_ATTR) - model.y_mean) / model.y_std
        mask = torch.isfinite(z)
        r = (mu - torch.where(mask, z, torch.zeros_like(z))) * mask
        sq += float((r ** 2).sum())
        ab += float(r.abs().sum())
        count += int(mask.sum())
    return sq / max(count, 1), ab / max(count, 1)


def _check_cross_validation(cfg: PredictorConfig) -> None:
    pc, d = cfg.predictor, cfg.data
    if not pc.cross_validate:
        return
    if pc.ensemble < 2:
        raise ConfigError("[predictor] cross_validate = true cuts the data into one fold per member: "
                          f"it needs ensemble >= 2 (got {pc.ensemble})")
    if pc.bootstrap:
        raise ConfigError("[predictor] cross_validate and bootstrap both choose each member's "
                          "training rows: set one of them")
    if d.val_source:
        raise ConfigError("[predictor] cross_validate = true validates each member on its own fold "
                          f"of the source; data.val_source = {d.val_source} would go unused: remove it")


def fold_indices(n: int, folds: int, seed: int = 0) -> list[list[int]]:
    """``folds`` disjoint index lists covering ``range(n)`` (seeded; sizes differ by at most one)."""
    if n < folds:
        raise DataError(f"cross-validation with {folds} folds needs at least {folds} labelled items, "
                        f"got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [sorted(perm[f::folds]) for f in range(folds)]


def _labelled_splits(cfg: PredictorConfig, domain: Any, strict: bool, progress: bool = False
                     ) -> tuple[LabelledData, LabelledData, list[dict[str, str]]]:
    """``(train, val, skipped)`` from the config's data section: ``val_source``, else a seeded
    ``val_fraction`` split of the (train) source; with ``cross_validate``, every row is in
    ``train`` and ``val`` is empty (the folds are cut from ``train``)."""
    from graphdiff.data import DATABASE_SUFFIXES, split_indices

    pc, d = cfg.predictor, cfg.data
    read = dict(labels=pc.labels, id_column=pc.id_column, missing=pc.missing, strict=strict, progress=progress,
                **d.options)
    source = d.train_source or d.source
    if not source:
        raise DataError("data.source (or data.train_source) must name the labelled data")
    if Path(source).suffix.lower() in DATABASE_SUFFIXES:
        raise DataError(f"{source}: predictors read a domain's source files, not a graph database "
                        "(export it first: graphdiff db export)")
    everything = read_labelled(domain, source, pc.properties, max_items=d.max_items, **read)
    if pc.cross_validate:
        return everything, everything.subset([]), everything.skipped
    if d.train_source and d.val_source:
        val = read_labelled(domain, d.val_source, pc.properties, **read)
        return everything, val, everything.skipped + val.skipped
    tr, va = split_indices(len(everything), d.val_fraction, d.split_seed)
    return everything.subset(tr), everything.subset(va), everything.skipped


def _train_member(model: Predictor, m: int, graphs: list[Data], val_batches: list[Batch],
                  cfg: PredictorConfig, steps: int, device: torch.device,
                  write: Callable[[dict[str, Any]], None], tick: Callable[[], None]) -> None:
    """Train member ``m`` (seed ``training.seed + 1000 m``); keep its best-validation weights
    when ``select_best``."""
    from graphdiff.data import BatchStream
    from graphdiff.errors import TrainingError
    from graphdiff.training import EMA

    pc, tc = cfg.predictor, cfg.training
    seed = tc.seed + 1000 * m
    member = model.members[m]
    if pc.bootstrap:
        pick = torch.randint(0, len(graphs), (len(graphs),), generator=torch.Generator().manual_seed(seed))
        graphs = [graphs[i] for i in pick.tolist()]
    stream = BatchStream(graphs, cfg.data.batch_size, seed=seed)
    params = [p for p in member.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    budget = tc.max_minutes * 60 / pc.ensemble if tc.max_minutes else None
    t0 = time.perf_counter()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_schedule(
        tc, steps, None if budget is None else (lambda: (time.perf_counter() - t0) / budget)))
    gen = torch.Generator(device="cpu").manual_seed(seed + 1)
    best, best_state = math.inf, None
    ema = EMA(member, tc.ema_decay, warmup=tc.ema_warmup) if pc.ema else None
    member.train()
    for step in range(steps):
        batch = stream.batch_at(step).to(device)
        t = None
        if model.noisy:  # t ~ U(0, 1), and exactly 0 (clean) for a fifth of the graphs
            t = torch.rand(batch.num_graphs, generator=gen)
            t = torch.where(torch.rand(batch.num_graphs, generator=gen) < 0.2, torch.zeros_like(t), t).to(device)
        loss = _losses(model, m, model.inputs(batch, t, gen if device.type == "cpu" else None),
                       getattr(batch, LABELS_ATTR), pc.loss)
        if not torch.isfinite(loss):
            raise TrainingError(f"predictor member {m}, step {step + 1}: the loss is not finite "
                                f"({float(loss.detach())}); lower training.lr?")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            nn.utils.clip_grad_norm_(params, tc.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(member)
        tick()
        last = step + 1 == steps or (budget is not None and time.perf_counter() - t0 > budget)
        record: dict[str, Any] = {}
        if (step + 1) % tc.log_every == 0 or last:
            record = {"loss": float(loss.detach()), "lr": sched.get_last_lr()[0]}
        if val_batches and ((step + 1) % tc.val_every == 0 or last):
            live = None
            if ema is not None:  # the averaged weights are the ones validated and kept
                live = copy.deepcopy(member.state_dict())
                member.load_state_dict(ema.shadow)
            member.eval()
            record["val_mse"], record["val_mae"] = _member_val(model, m, val_batches)
            v = record["val_mae" if pc.loss == "laplace" else "val_mse"]
            if v < best:
                best = v
                best_state = copy.deepcopy(member.state_dict()) if pc.select_best else None
            if live is not None:
                member.load_state_dict(live)
            member.train()
        if record:
            write({"member": m, "step": step + 1, **record})
        if last:
            break
    if best_state is not None:
        member.load_state_dict(best_state)
    elif ema is not None:
        member.load_state_dict(ema.shadow)
    member.eval()


@dataclass
class _ProcessesSource:
    model: Any
    generate: list[str]
    given: list[str]
    field_configs: dict[str, dict[str, Any]]


def _processes_source(pc: PredictorOptions, spec: GraphSpec) -> _ProcessesSource:
    """The diffusion model ``[predictor] processes_from`` names, checked against the predictor."""
    from graphdiff.model import load_model

    if not pc.noisy:
        raise ConfigError("[predictor] processes_from takes a diffusion model's noise: set noisy = true")
    gen, gen_cfg, _ = load_model(pc.processes_from)
    if gen.spec.name != spec.name or list(gen.spec.names) != list(spec.names):
        raise ConfigError(f"[predictor] processes_from = {pc.processes_from}: a {gen.spec.name!r} model with "
                          f"fields {list(gen.spec.names)}; the predictor reads {spec.name!r} graphs with "
                          f"fields {list(spec.names)}")
    missing = [n for n in spec.names if n not in gen.processes]
    if missing:
        raise ConfigError(f"[predictor] processes_from = {pc.processes_from}: the model neither generates nor "
                          f"is given the field(s) {missing}, so a predictor cannot read its states")
    return _ProcessesSource(gen, list(gen.generate), list(gen.given),
                            {n: c.model_dump() for n, c in gen_cfg.diffusion.fields.items()})


def train_predictor(cfg: PredictorConfig, *, max_steps: int | None = None, progress: bool = True,
                    strict: bool = False, log: Callable[[str], None] | None = None
                    ) -> tuple[Path, dict[str, Any]]:
    """Train the ensemble ``cfg`` describes; write the predictor, ``calibration.json``,
    ``val_predictions.csv``, ``skipped.json`` and ``log.jsonl`` into ``training.out_dir``.

    ``max_steps`` overrides ``training.max_steps`` (steps per member); ``log`` receives
    one-line notes (skipped items). Returns the predictor file and the calibration report.
    """
    from graphdiff.data import statistics_sample
    from graphdiff.model import auto_denoiser
    from graphdiff.plugins import get_manager
    from graphdiff.training import resolve_device

    say = log or (lambda s: None)
    pc, d, tc = cfg.predictor, cfg.data, cfg.training
    steps = int(max_steps or tc.max_steps)
    domain = get_manager().get("domains", d.domain)
    spec = domain.spec
    for key in ("given", "generate", "fields"):
        for name in (getattr(cfg.diffusion, key) or []):
            if name not in spec:
                raise ConfigError(f"diffusion.{key}: {name!r} is not a field of domain {spec.name!r} "
                                  f"(fields: {', '.join(spec.names)})")
    _check_cross_validation(cfg)
    train, val, skipped = _labelled_splits(cfg, domain, strict, progress)
    folds = fold_indices(len(train), pc.ensemble, d.split_seed) if pc.cross_validate else None
    if skipped:
        shown = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
        say(f"skipped {len(skipped)} item(s) (see skipped.json): {shown}" + (" ..." if len(skipped) > 3 else ""))
    denoiser = cfg.model.denoiser if cfg.model.denoiser != "auto" else auto_denoiser(domain, spec)
    noised = cfg.diffusion.generate or [n for n in spec.names if n not in cfg.diffusion.given]
    given = list(cfg.diffusion.given)
    fields = {n: c.model_dump() for n, c in cfg.diffusion.fields.items()}
    source = _processes_source(pc, spec) if pc.processes_from else None
    if source is not None:  # the generator's fields, schedules and normalisations
        noised, given = list(source.generate), list(source.given)
        fields = source.field_configs
    device = resolve_device(tc.device)
    torch.manual_seed(tc.seed)
    model = Predictor(spec, pc.properties, denoiser, cfg.model.hidden, cfg.model.layers, cfg.model.options,
                      fields, pc.ensemble, pc.variance, pc.noisy, noised, given, domain.name, pc.offset)
    fitted = _fit_offset(model, train, val, say) if pc.offset else None
    model.fit_statistics(statistics_sample(train.graphs, seed=tc.seed))
    if source is not None:
        for name in spec.names:
            model.processes[name].load_state_dict(source.model.processes[name].state_dict())
        problems = model.process_mismatch(source.model)
        if problems:  # cannot happen unless the checkpoint is inconsistent; never train in vain
            raise ConfigError(f"[predictor] processes_from = {pc.processes_from}: " + "; ".join(problems))
        say(f"processes from {pc.processes_from}: noised {noised}, given {given}")
    model.to(device)
    out = Path(tc.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    def batches(graphs: Sequence[Data]) -> list[Batch]:
        return [Batch.from_data_list(list(graphs[i:i + d.batch_size])).to(device)
                for i in range(0, len(graphs), d.batch_size)]

    val_batches = batches(val.graphs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps * pc.ensemble, desc="training predictor", unit="step", dynamic_ncols=True,
                   file=sys.stderr)
    with open(out / "log.jsonl", "w") as log_file:
        def write(record: dict[str, Any]) -> None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

        try:
            for m in range(pc.ensemble):
                graphs, member_val = train.graphs, val_batches
                if folds is not None:  # member m: every fold but m; validated on fold m
                    held = set(folds[m])
                    graphs = [g for i, g in enumerate(train.graphs) if i not in held]
                    member_val = batches([train.graphs[i] for i in folds[m]])
                _train_member(model, m, graphs, member_val, cfg, steps, device, write,
                              bar.update if bar else (lambda: None))
        finally:
            if bar:
                bar.close()
            if fitted is not None:  # the labels again, not the residuals the members learnt
                for g, y in zip(train.graphs + val.graphs, fitted["labels"]):
                    setattr(g, LABELS_ATTR, y)
    model.eval()
    path = out / pc.file
    if folds is not None:
        val = train  # every row, judged out of fold
    report: dict[str, Any] = {"predictor": str(path), "domain": domain.name,
                              "split": "out-of-fold" if folds is not None else "validation",
                              "num_train": len(train), "num_val": len(val), "num_skipped": len(skipped),
                              "ensemble": pc.ensemble, "bootstrap": pc.bootstrap,
                              "cross_validate": pc.cross_validate, "variance": pc.variance,
                              "loss": pc.loss, "ema": pc.ema,
                              "noisy": pc.noisy, "processes_from": pc.processes_from,
                              "select_best": pc.select_best, "sources": train.sources,
                              "properties": {}}
    base = None
    if fitted is not None:
        base = fitted["train_base"] if folds is not None else fitted["val_base"]
        report["offset"] = {"terms": pc.offset, "coefficients": fitted["coefficients"]}
    if len(val):
        report["properties"] = validation_report(model, val, d.batch_size, out, folds, base,
                                                  fitted and fitted["label_mean"])
        if pc.recalibrate and (pc.variance or pc.ensemble > 1):
            scale = [float(report["properties"].get(p, {}).get("z_rms") or 1.0) for p in pc.properties]
            scale = [x if math.isfinite(x) and x > 0 else 1.0 for x in scale]
            model.std_scale.copy_(torch.tensor(scale, dtype=model.std_scale.dtype))
            after = validation_report(model, val, d.batch_size, out, folds, base, fitted and fitted["label_mean"])
            for p, x in zip(pc.properties, scale):
                if p in report["properties"]:
                    report["properties"][p]["std_scale"] = x
                    report["properties"][p]["recalibrated"] = {
                        k: after[p][k] for k in ("within_1std", "within_2std", "mean_std", "z_rms", "nll")
                        if k in after.get(p, {})}
    else:
        warnings.warn("no validation items (data.val_fraction = 0 and no data.val_source): "
                      "no calibration report", RuntimeWarning, stacklevel=2)
    meta = {"domain": domain.name, "domain_version": domain.version, "properties": pc.properties,
            "name": pc.name or f"{domain.name}-predicted", "source": d.train_source or d.source,
            "num_train": len(train), "num_val": len(val), "num_skipped": len(skipped),
            "cross_validate": pc.cross_validate, "offset": report.get("offset"),
            "steps": steps, "sources": train.sources,
            "calibration": report["properties"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "label_range": label_range(train, pc.properties),
            "classes_seen": classes_seen(train.graphs, spec)}
    model.save(path, config=cfg.model_dump(mode="json"), meta=meta)
    (out / "calibration.json").write_text(json.dumps(report, indent=2))
    return path, report


def _fit_offset(model: Predictor, train: LabelledData, val: LabelledData,
                say: Callable[[str], None]) -> dict[str, Any]:
    """Fit the offset's coefficients by least squares on the training rows (each property on the
    rows that have it; the minimum-norm solution, as class fractions and the constant are
    collinear), and replace the labels of ``train`` and ``val`` by their residuals. Returns the
    labels to restore, the baselines of both sets and the coefficients ``{property: {term:
    value}}`` (classes by label, e.g. ``atom_types=O``, else by index)."""
    labels = [getattr(g, LABELS_ATTR) for g in train.graphs + val.graphs]
    x_train = model.offset_features(train.graphs, train.ids, log=say)
    x_val = model.offset_features(val.graphs, val.ids, log=say) if len(val) else x_train[:0]
    y = torch.cat([getattr(g, LABELS_ATTR) for g in train.graphs]).double() if len(train) else x_train[:, :0]
    coef = torch.zeros(model.offset_width, len(model.properties), dtype=torch.float64)
    for j, prop in enumerate(model.properties):
        ok = torch.isfinite(y[:, j])
        if int(ok.sum()) == 0:
            raise DataError(f"[predictor] offset: no training row has {prop!r}")
        coef[:, j] = torch.linalg.lstsq(x_train[ok], y[ok, j:j + 1], driver="gelsd").solution[:, 0]
    model.offset_coef.copy_(coef)
    base_train, base_val = x_train @ coef, x_val @ coef
    for g, b in zip(train.graphs + val.graphs, torch.cat([base_train, base_val])):
        setattr(g, LABELS_ATTR, (getattr(g, LABELS_ATTR).double() - b.view(1, -1)).to(getattr(g, LABELS_ATTR).dtype))
    field = model.spec[model.offset_field] if model.offset_field else None
    classes = (field.labels or range(field.num_classes)) if field is not None else ()
    names = [f"{model.offset_field}={c}" for c in classes] + model.offset_targets + ["constant"]
    say("offset: " + "; ".join(f"{p}: " + ", ".join(f"{n} {coef[i, j]:.4g}" for i, n in enumerate(names)
                                                    if n in model.offset_targets or n == "constant")
                               for j, p in enumerate(model.properties)))
    label_mean = torch.stack([y[torch.isfinite(y[:, j]), j].mean() for j in range(y.shape[1])])
    return {"labels": labels, "train_base": base_train, "val_base": base_val, "label_mean": label_mean,
            "coefficients": {p: {n: float(coef[i, j]) for i, n in enumerate(names) if abs(float(coef[i, j])) > 1e-9}
                             for j, p in enumerate(model.properties)}}
