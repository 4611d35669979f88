"""A trained model and its verbs: :func:`load` and :class:`Model` (de novo :meth:`Model.sample`,
:meth:`Model.interpolate`; the conditional tasks come from
:class:`~graphdiff.api.completing.CompletingMixin`, relaxation from
:class:`~graphdiff.api.relaxing.RelaxingMixin`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Sequence

from graphdiff.api.checks import positive
from graphdiff.api.completing import CompletingMixin
from graphdiff.api.relaxing import RelaxingMixin
from graphdiff.api.requests import as_requests, judge_targets, requested as _requested
from graphdiff.api.samples import Samples
from graphdiff.errors import ConfigError

__all__ = ["Model", "load", "resolve_device"]


def resolve_device(name: str = "auto") -> Any:
    """A ``torch.device`` from ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (under torchrun each
    rank takes ``cuda:LOCAL_RANK`` when CUDA is present; otherwise ``cuda`` when present, else
    the CPU)."""
    import os

    import torch

    if name != "auto":
        try:
            dev = torch.device(name)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"device {name!r}: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
        return dev
    if torch.cuda.is_available():
        if int(os.environ.get("WORLD_SIZE", 1)) > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cuda")
    return torch.device("cpu")


def load(name_or_path: str | Path, *, device: str = "auto", ema: bool | None = None) -> "Model":
    """The model stored in a checkpoint file, or a bundled one by name (``graphdiff
    checkpoints`` lists them), ready to sample.

    Parameters
    ----------
    name_or_path:
        ``"perov5-csp"``, ``"carbon24-dng"``... or the path of a checkpoint that ``graphdiff
        train`` wrote.
    device:
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    ema:
        Use the exponential moving average of the weights where the checkpoint has one;
        ``False`` uses the raw weights; ``None`` (the default): as the checkpoint's
        ``sampling.use_ema`` says (true unless the run config turned it off).
    """
    from graphdiff.model import load_model, resolve_checkpoint
    from graphdiff.plugins import get_manager

    path = resolve_checkpoint(name_or_path)
    diffusion, cfg, meta = load_model(path, use_ema=ema)
    diffusion.to(resolve_device(device))
    domain = get_manager().get("domains", cfg.data.domain)
    name = str(name_or_path) if not Path(name_or_path).exists() else Path(path).stem
    return Model(diffusion, cfg, meta, domain, name=name, path=Path(path),
                 ema=cfg.sampling.use_ema if ema is None else ema)


class Model(CompletingMixin, RelaxingMixin):
    """A trained graph diffusion model and its domain: what :func:`load` returns.

    The verbs: :meth:`sample` (de novo), :meth:`complete` (conditional tasks: crystal structure
    prediction from compositions, inpainting), :meth:`interpolate`. Each takes and returns the
    domain's objects (pymatgen ``Structure``, ASE ``Atoms``, networkx graphs...) in a
    :class:`Samples` list. The engine underneath is :attr:`diffusion`
    (:class:`~graphdiff.diffusion.GraphDiffusion`).
    """

    def __init__(self, diffusion: Any, config: Any, meta: dict[str, Any], domain: Any, *,
                 name: str = "", path: Path | None = None, ema: bool = True) -> None:
        self.diffusion = diffusion
        self.config = config
        self.meta = dict(meta)
        self.domain = domain
        self.name = name
        self.path = path
        self.ema = ema

    # ------------------------------------------------------------------ what it is
    @property
    def device(self) -> Any:
        return self.diffusion.num_nodes_hist.device

    @property
    def fields(self) -> list[str]:
        """Every field of the domain's graphs."""
        return list(self.diffusion.spec.names)

    @property
    def generates(self) -> list[str]:
        """The fields the model generates."""
        return list(self.diffusion.generate)

    @property
    def given(self) -> list[str]:
        """The fields an input must give (crystal structure prediction: ``atom_types``)."""
        return list(self.diffusion.given)

    @property
    def conditions(self) -> list[str]:
        """Properties the model was trained conditioned on (``targets={name: value}``)."""
        return list(self.diffusion.condition)

    @property
    def tasks(self) -> list[str]:
        """The domain's tasks this model can do (``dng``: :meth:`sample`; others: :meth:`complete`)."""
        out = []
        for task, fields in self.domain.tasks.items():
            if all(f in fields for f in self.given) and (fields or not self.given):
                out.append(task)
        return out

    @property
    def trained_on(self) -> dict[str, Any]:
        """What the checkpoint records of its training data and run."""
        keys = ("dataset", "split", "num_train", "num_val", "num_skipped", "steps", "train_minutes", "made_by")
        out = {k: self.meta[k] for k in keys if k in self.meta}
        if self.meta.get("source"):
            out["source"] = Path(str(self.meta["source"])).name
        return out

    @property
    def figures(self) -> dict[str, Any]:
        """Benchmark figures of a bundled checkpoint (empty for other checkpoints)."""
        from graphdiff.checkpoints import find_named

        found = find_named(self.name) if self.name else None
        return dict(found.figures) if found is not None else {}

    def describe(self) -> dict[str, Any]:
        """What :func:`print` shows, as a dict."""
        return {"name": self.name, "domain": self.domain.name, "tasks": self.tasks, "fields": self.fields,
                "generates": self.generates, "given": self.given, "conditions": self.conditions,
                "max_trained_nodes": self.diffusion.max_trained_nodes(), "ema": self.ema,
                "trained_on": self.trained_on, "figures": self.figures}

    def __repr__(self) -> str:
        d = self.describe()
        given = f" given {', '.join(d['given'])}" if d["given"] else ""
        conds = f"; conditioned on {', '.join(d['conditions'])}" if d["conditions"] else ""
        data = d["trained_on"]
        trained = (f"; trained on {data.get('num_train', '?')} {data.get('dataset') or data.get('source') or ''}"
                   .rstrip() + " items") if data else ""
        return (f"<graphdiff.Model {self.name!r}: {d['domain']}, tasks {', '.join(d['tasks'])}; generates "
                f"{', '.join(d['generates'])}{given}{conds}{trained}>")

    # ------------------------------------------------------------------ shared pieces
    def _options(self, *, steps: int | None, sampler: str | None, guidance_scale: float | None,
                 corrector_steps: int | None, batch_size: int | None, constraint: Any) -> dict[str, Any]:
        sc = self.config.sampling
        opts = dict(steps=positive("steps", steps) if steps is not None else sc.steps,
                    sampler=sampler or sc.sampler,
                    guidance_scale=sc.guidance_scale if guidance_scale is None else float(guidance_scale),
                    corrector_steps=sc.corrector_steps if corrector_steps is None else int(corrector_steps),
                    batch_size=positive("batch_size", batch_size) if batch_size is not None else sc.batch_size)
        if opts["sampler"] not in ("ancestral", "ddim"):
            raise ConfigError(f"sampler {opts['sampler']!r}: use 'ancestral' or 'ddim'")
        if opts["corrector_steps"] < 0:
            raise ConfigError(f"corrector_steps must be >= 0, got {opts['corrector_steps']}")
        if not (isinstance(constraint, str) and constraint == "model"):
            from graphdiff.constraints import check_constraint

            opts["constraint"] = check_constraint(constraint, self.diffusion.spec, self.diffusion.generate)
        return opts

    def _requests(self, targets: Any, *, gradient_scale: float, guidance_mode: str,
                  guide_fields: Sequence[str] | None, select_only: bool = False) -> tuple[dict, list, Any]:
        """``(cond, guided, gradient_guidance)`` of ``targets=``."""
        from graphdiff.runner import requests_guidance, split_target_requests, warn_outside_training_range

        cond, guided = split_target_requests(as_requests(targets), self.diffusion, self.domain,
                                             differentiable=not select_only)
        warn_outside_training_range(guided, self.domain, self.meta)
        if guide_fields and not (guided and gradient_scale != 0.0):
            raise ConfigError("guide_fields (--guide-fields) chooses what gradient guidance moves: it needs a "
                              "--target request on a differentiable target and a non-zero gradient_scale")
        guidance = None
        if guided and gradient_scale != 0.0:
            guidance = requests_guidance(self.diffusion, guided, gradient_scale, guidance_mode,
                                         list(guide_fields) if guide_fields else None)
        return cond, guided, guidance

    def _convert(self, graphs: Sequence[Any], ids: Sequence[str], info: Sequence[dict],
                 start: int = 0) -> Samples:
        """The domain objects of generated graphs; those that do not convert are recorded in
        :attr:`Samples.skipped` with the reason."""
        objs, keep_info, keep_ids, keep_graphs, skipped, positions = [], [], [], [], [], []
        for j, g in enumerate(graphs):
            try:
                obj = self.domain.from_graph(g)
            except Exception as exc:  # noqa: BLE001 - any converter failure is recorded, never fatal
                skipped.append({"index": start + j, "id": ids[j], "reason": f"{type(exc).__name__}: {exc}",
                                "graph": g})
                continue
            objs.append(obj)
            keep_info.append(dict(info[j]))
            keep_ids.append(ids[j])
            keep_graphs.append(g)
            positions.append(start + j)
        out = Samples(objs, info=keep_info, ids=keep_ids, graphs=keep_graphs, skipped=skipped)
        out.positions = positions
        return out


    def _judges(self, judges: Sequence[str], cond: dict, guided: list) -> list:
        requests = [(n, "=", v) for n, v in (cond or {}).items()] + [(t.name, op, v) for t, op, v in guided]
        return judge_targets(list(judges), self.domain, requests)

    # ------------------------------------------------------------------ de novo
    def sample(self, n: int, **options: Any) -> Samples:
        """``n`` new objects of the domain, de novo (see :meth:`sample_iter` for the options).

        Examples
        --------
        >>> structures = graphdiff.load("carbon24-dng").sample(8, seed=0, steps=100)   # doctest: +SKIP
        >>> low = model.sample(16, targets="crystals-density<=2.5")                     # doctest: +SKIP
        """
        out = Samples()
        for chunk in self.sample_iter(n, **options):
            out.extend_samples(chunk)
        return out

    def sample_iter(self, n: int, *, seed: int = 0, steps: int | None = None, sampler: str | None = None,
                    targets: Any = None, guidance_scale: float | None = None, gradient_scale: float = 1.0,
                    guidance_mode: str = "auto", guide_fields: Sequence[str] | None = None,
                    corrector_steps: int | None = None, constraint: Any = "model",
                    batch_size: int | None = None, oversample: float = 1.0, judges: Sequence[str] = (),
                    relax: Any = False, progress: bool = True) -> Iterator[Samples]:
        """:meth:`sample`, one chunk of ``batch_size`` objects at a time (memory stays flat).

        Parameters
        ----------
        n:
            How many objects (>= 1).
        seed:
            Same seed, same objects (on the same machine and batch size).
        steps, sampler, corrector_steps, batch_size:
            Reverse steps, ``"ancestral"`` or ``"ddim"``, Langevin corrector steps of torus
            fields, objects per chunk; default: the checkpoint's ``[sampling]`` config.
        targets:
            Requests: ``{"heat_ref": -0.5}`` or ``"NAME=V"`` for a condition the model was
            trained on (classifier-free guidance, weight ``guidance_scale``); ``"NAME<=V"``,
            ``"NAME>=V"``, ``"NAME=V"`` (optionally ``@WEIGHT``) on a registered differentiable
            target (gradient guidance, weight ``gradient_scale``; ``graphdiff targets`` lists
            them). Each object's achieved value is in ``info[NAME]``.
        guidance_mode, guide_fields:
            How gradient guidance reads a target (``auto``, ``clean``, ``noisy``) and which
            continuous fields it moves.
        constraint:
            ``"model"``: the model's own edge constraint; a registered name; ``None``: none.
        oversample:
            Draw ``ceil(oversample * n)`` and keep the ``n`` that best meet ``targets`` (in the
            order drawn); with ``gradient_scale=0`` the targets only select.
        judges:
            Predictor files, bundled predictor names or registered targets that score every
            object independently: ``info["judged_" + name]``.
        relax:
            ``True`` or ``{"fmax": 0.1, "steps": 500, "batch_size": 16, "keep_unrelaxed": False}``:
            relax every generated object with the domain's relaxation (crystals: CHGNet, FIRE on
            positions and cell) before it is returned. ``info`` gains ``relaxed``,
            ``relax_converged``, ``relax_steps``, ``energy_per_atom``, ``relax_displacement_rms``
            and ``relax_displacement_max`` (and ``relax_error`` where it failed: that object stays
            as generated); targets and judges score the relaxed objects. ``keep_unrelaxed``: the
            objects as generated in ``Samples.unrelaxed``.
        progress:
            A bar on stderr counting reverse steps, with an ETA.
        """
        from graphdiff.progress import StepProgress
        from graphdiff.runner import request_shortfall, sample_graphs, select_closest

        n = positive("n", n)
        if self.given:
            raise ConfigError(f"this model completes given fields {self.given}: use Model.complete(inputs)")
        if not oversample >= 1.0:
            raise ConfigError(f"oversample must be at least 1 (got {oversample:g})")
        select_only = oversample > 1.0 and gradient_scale == 0.0
        cond, guided, guidance = self._requests(targets, gradient_scale=gradient_scale,
                                                guidance_mode=guidance_mode, guide_fields=guide_fields,
                                                select_only=select_only)
        if oversample > 1.0 and not guided:
            raise ConfigError("oversample selects among samples by target requests on registered targets; "
                              "none was given")
        judging = self._judges(judges, cond, guided)
        relaxing = self._relax_options(relax)
        opts = self._options(steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                             corrector_steps=corrector_steps, batch_size=batch_size, constraint=constraint)
        if guidance is not None:
            opts["gradient_guidance"] = guidance
        requested = _requested(cond, guided)
        drawn = math.ceil(oversample * n) if oversample > 1.0 else n
        chunks = math.ceil(drawn / opts["batch_size"])
        bar = StepProgress(chunks * opts["steps"], enabled=progress)
        start = 0
        try:
            if oversample > 1.0:
                pool = Samples()
                for chunk in sample_graphs(self.diffusion, drawn, seed=seed, cond=cond or None,
                                           step_progress=bar, **opts):
                    part = self._convert(chunk, [str(start + j) for j in range(len(chunk))],
                                         [{} for _ in chunk], start)
                    start += len(chunk)
                    self._score(part, guided)
                    pool.extend_samples(part)
                kept = select_closest([{t.name: i[t.name] for t, _, _ in guided} for i in pool.info], guided, n)
                out = Samples([pool[i] for i in kept], info=[{**requested, **pool.info[i]} for i in kept],
                              ids=[str(j) for j in range(len(kept))], graphs=[pool.graphs[i] for i in kept],
                              skipped=pool.skipped)
                worst = max((request_shortfall(out.info[j], guided) for j in range(len(out))), default=0.0)
                out.selection = {"kept": len(kept), "drawn": drawn, "largest_shortfall": worst}
                yield self._finish(out, relaxing, guided, judging, progress, guided_scored=True)
                return
            for chunk in sample_graphs(self.diffusion, n, seed=seed, cond=cond or None, step_progress=bar, **opts):
                part = self._convert(chunk, [str(start + j) for j in range(len(chunk))],
                                     [dict(requested) for _ in chunk], start)
                start += len(chunk)
                yield self._finish(part, relaxing, guided, judging, progress)
        finally:
            bar.close()


    # ------------------------------------------------------------------ interpolation
    def interpolate(self, a: Any, b: Any, *, num: int = 8, steps: int = 100, targets: Any = None,
                    target_path: tuple[str, float, float] | None = None, gradient_scale: float = 1.0,
                    guidance_mode: str = "auto", guide_fields: Sequence[str] | None = None,
                    progress: bool = True) -> Samples:
        """``num`` objects on a path from ``a`` to ``b`` (ends included) through the model's
        latent space: both are inverted to noise, the noise interpolated, each point decoded.

        ``targets`` steer every point as in :meth:`sample`; ``target_path=(NAME, start, end)``
        asks for a value that changes linearly along the path (a condition of the model, or a
        differentiable target guiding the inner points). ``info`` holds ``lambda``, ``valid``,
        the requested and achieved values.
        """
        from graphdiff.progress import StepProgress
        from graphdiff.runner import requests_guidance, split_target_requests, warn_outside_training_range

        num = positive("num", num)
        if num < 2:
            raise ConfigError("num must be at least 2 (the two end points)")
        positive("steps", steps)
        (ga, gb), ids, _ = self.templates([a, b])
        for name, g in (("a", ga), ("b", gb)):
            self.diffusion.spec.validate(g, where=f"interpolation end {name}",
                                         fields=self.generates + self.given)
        cond, guided = split_target_requests(as_requests(targets), self.diffusion, self.domain)
        warn_outside_training_range(guided, self.domain, self.meta)
        if target_path is not None and (target_path[0] in cond or target_path[0] in {t.name for t, _, _ in guided}):
            raise ConfigError(f"{target_path[0]} is both in targets and target_path: give it once")
        path_target = None
        if target_path is not None and target_path[0] not in self.conditions:
            (path_target, _, _), = split_target_requests([f"{target_path[0]}={target_path[1]}"], self.diffusion,
                                                        self.domain)[1]
        if guide_fields and not (guided or path_target is not None):
            raise ConfigError("guide_fields (--guide-fields) chooses what gradient guidance moves: it needs a "
                              "--target or --target-path request on a differentiable target")
        fields = list(guide_fields) if guide_fields else None
        goals = None
        if target_path is not None:
            _, lo, hi = target_path
            goals = [lo + (hi - lo) * j / (num - 1) for j in range(num)]
        cond_path = None
        if (target_path is not None and path_target is None) or cond:
            cond_path = [{**cond, **({target_path[0]: goals[j]} if path_target is None and goals else {})}
                         for j in range(num)]
        guidance: Any = None
        if path_target is not None:  # the inner points chase the moving goal; the ends are the inputs
            guidance = [None if j in (0, num - 1) else
                        requests_guidance(self.diffusion, [*guided, (path_target, "=", goals[j])], gradient_scale,
                                          guidance_mode, fields) for j in range(num)]
            if guided:
                guidance[0] = guidance[-1] = requests_guidance(self.diffusion, guided, gradient_scale,
                                                               guidance_mode, fields)
        elif guided:
            guidance = requests_guidance(self.diffusion, guided, gradient_scale, guidance_mode, fields)
        bar = StepProgress((2 + num) * steps, desc="interpolate", enabled=progress)
        try:
            path = self.diffusion.interpolate(ga, gb, num=num, steps=steps, cond_path=cond_path,
                                              gradient_guidance=guidance, progress=bar)
        finally:
            bar.close()
        requested = _requested({}, guided)
        info = [{"lambda": j / (num - 1), **(cond_path[j] if cond_path else {}), **requested,
                 **({f"requested_{path_target.name}": goals[j]} if path_target is not None else {})}
                for j in range(num)]
        out = self._convert(path, [str(j) for j in range(num)], info)
        scored = [*guided, *([(path_target, "=", None)] if path_target is not None else [])]
        self._score(out, scored)
        for obj, item in zip(out, out.info):
            item["valid"] = int(bool(self.domain.valid(obj)))
        #: what each point was asked for: (name, op, value), value None for the moving target_path goal
        out.requests = [(t.name, op, v) for t, op, v in scored]
        return out
