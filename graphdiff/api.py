"""The Python API: every task as a function or a method, domain objects in and out.

::

    import graphdiff

    model = graphdiff.load("perov5-csp")             # a bundled name or a checkpoint file
    print(model)                                      # what it is: domain, task, fields, data
    cands = model.complete(["SrTiO3", "Sr2Ti2O6"], k=2, seed=0)
    cands[0][0]                                       # a pymatgen Structure: SrTiO3's first candidate
    cands[0].info[0]                                  # {'rank': 0, 'share': 0.75, 'distinct': 1}

    carbon = graphdiff.load("carbon24-dng").sample(4, seed=0)       # de novo: 4 Structures
    heat = graphdiff.load_predictor("perov5-heat")
    mean, std = heat.predict(cands[0])                 # [n, 1] arrays

The CLI (``graphdiff sample``, ``interpolate``, ``evaluate``, ``predict``) parses its options,
calls these and writes files.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from graphdiff.errors import ConfigError, DataError, GraphValidationError

__all__ = ["load", "Model", "Samples", "TargetRanking", "evaluate", "load_predictor", "PredictorModel",
           "resolve_device", "request_report"]


class Samples(list):
    """Generated domain objects (a ``list``), with what was learnt about each on the way.

    Attributes
    ----------
    info:
        One dict per object: its candidate ``rank`` and ``share`` of the draws (``complete``),
        the requested and achieved target values (``targets=``), judged values (``judges=``), the
        ranking score (``rank_by=``), ``lambda`` along an interpolation path...
    ids:
        One id per object: the input's id (``complete``), the position (``sample``).
    graphs:
        The generated graphs (``torch_geometric`` ``Data``) the objects were converted from.
    skipped:
        Generated graphs the domain could not convert to objects: ``{"index", "id", "reason",
        "graph"}`` each. They are not in the list; nothing is dropped without a record.
    unrelaxed:
        With ``relax={"keep_unrelaxed": True}``: the objects as generated, before relaxation
        (one per object, in the same order); else ``None``.
    """

    def __init__(self, objs: Sequence[Any] = (), *, info: Sequence[dict] | None = None,
                 ids: Sequence[str] | None = None, graphs: Sequence[Any] | None = None,
                 skipped: Sequence[dict] | None = None) -> None:
        super().__init__(objs)
        self.info: list[dict[str, Any]] = list(info) if info is not None else [{} for _ in objs]
        self.ids: list[str] = list(ids) if ids is not None else [str(i) for i in range(len(objs))]
        self.graphs: list[Any] = list(graphs) if graphs is not None else []
        self.skipped: list[dict[str, Any]] = list(skipped or [])
        self.unrelaxed: list[Any] | None = None

    def extend_samples(self, other: "Samples") -> None:
        """Append another run's objects with their info, ids, graphs and skipped items."""
        if other.unrelaxed is not None:
            self.unrelaxed = (self.unrelaxed if self.unrelaxed is not None else list(self)) + other.unrelaxed
            self.unrelaxed_graphs = (getattr(self, "unrelaxed_graphs", None) or list(self.graphs)) \
                + other.unrelaxed_graphs
        self.extend(other)
        self.info += other.info
        self.ids += other.ids
        self.graphs += other.graphs
        self.skipped += other.skipped

    def in_order(self) -> tuple[list[Any], list[str], list[dict], list[Any]]:
        """``(graphs, ids, info, objects)`` of every generated graph in the order it was drawn,
        the skipped ones included (their object ``None``, their info ``{}``): what a writer
        needs to name and count every item (:class:`graphdiff.graphio.GraphSink` skips and
        reports those without an object)."""
        items = [(s["index"], s["graph"], s["id"], {}, None) for s in self.skipped]
        order = getattr(self, "positions", None) or list(range(len(self)))
        items += [(p, g, i, info, o) for p, g, i, info, o in zip(order, self.graphs, self.ids, self.info, self)]
        items.sort(key=lambda t: t[0])
        return [t[1] for t in items], [t[2] for t in items], [t[3] for t in items], [t[4] for t in items]

    def as_unrelaxed(self) -> "Samples":
        """These samples as generated, before relaxation (needs ``keep_unrelaxed``): same ids,
        info and order, the unrelaxed objects and graphs."""
        if self.unrelaxed is None:
            raise ConfigError("no unrelaxed objects kept: sample with relax={'keep_unrelaxed': True}")
        out = Samples(self.unrelaxed, info=self.info, ids=self.ids, graphs=self.unrelaxed_graphs,
                      skipped=self.skipped)
        if hasattr(self, "positions"):
            out.positions = self.positions
        return out

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        kinds = sorted({type(o).__name__ for o in self})
        return f"<Samples: {len(self)} {'/'.join(kinds) or 'items'}{skipped}>"


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


def _as_requests(targets: Any) -> list[str]:
    """``targets=`` as request strings: ``"NAME<=V"``, a list of them, or ``{NAME: V}`` (=)."""
    if targets is None:
        return []
    if isinstance(targets, str):
        return [targets]
    if isinstance(targets, Mapping):
        return [f"{k}={float(v)!r}" for k, v in targets.items()]
    out = list(targets)
    bad = [t for t in out if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"targets: expected 'NAME=V', 'NAME<=V' or 'NAME>=V' strings or a "
                          f"{{name: value}} dict, got {bad[0]!r}")
    return out


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


class TargetRanking:
    """A registered target as the ranking score of an input's distinct candidates
    (``rank_by="NAME"`` or ``"NAME:max"``; :func:`graphdiff.candidates.distinct_candidates`
    ranks larger scores first, so ``min`` scores ``-value``). A candidate the target cannot
    score (it raises, or gives a non-finite value) scores NaN and ranks after the scored ones;
    it is never dropped, and :meth:`report` says how many there were and why the first failed."""

    def __init__(self, target: Any, lowest_first: bool = True) -> None:
        self.target, self.sign = target, -1.0 if lowest_first else 1.0
        self.column = target.name
        self.failures, self.first_failure = 0, ""

    @classmethod
    def parse(cls, text: str, domain: Any) -> "TargetRanking":
        name, _, way = text.partition(":")
        if way not in ("", "min", "max"):
            raise ConfigError(f"rank_by {text!r}: NAME, NAME:min (lowest first) or NAME:max (highest first)")
        return cls(domain_target("rank_by", name, domain), lowest_first=way != "max")

    def score(self, item: int, obj: Any) -> float:
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
        return (f"rank_by (--rank-by) {self.column}: {self.failures} candidate draw(s) could not be scored and "
                f"rank after the scored answers (column {self.column} = nan); first: {self.first_failure}")


def domain_target(option: str, name: str, domain: Any, what: str = "registered target") -> Any:
    """The registered target ``name`` for ``option``, a target of ``domain``: an unknown name is
    refused with the domain's targets listed, another domain's target is refused."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")
    if name not in reg:
        known = sorted(e.name for e in reg.entries() if getattr(e.obj, "domain", None) == domain.name)
        raise ConfigError(f"{option} {name!r}: no such {what}; {domain.name} targets: {', '.join(known) or 'none'}")
    target = reg.get(name)
    if target.domain != domain.name:
        raise ConfigError(f"{option} {name!r} scores {target.domain} items; this model generates {domain.name}")
    return target


def judge_targets(names: Sequence[str], domain: Any, requests: Sequence[tuple[str, str, float]]) -> list:
    """``[(target, op, value)]`` for ``judges=``: each judge (a predictor file's properties, a
    bundled predictor's name, or a registered target of ``domain``) with the request on the same
    property (``op``/``value`` ``None`` when nothing asks for it). A request and a judge concern
    the same property when their names' last ``-``-separated parts agree (``heat_ref`` and
    ``perov5-heat_ref``)."""
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import predictor_targets

    reg = get_manager().registry("targets")
    out = []
    for name in names:
        name = str(name)
        if Path(name).is_file():
            targets = predictor_targets(name)
        elif name in reg:
            targets = [domain_target("judge", name, domain)]
        else:
            from graphdiff.predictors import bundled_predictors

            bundled = bundled_predictors()
            if name not in bundled:
                domain_target("judge", name, domain, "predictor file, bundled predictor or registered target")
            targets = predictor_targets(bundled[name])
        for t in targets:  # a predictor file's targets may be of another domain
            if t.domain != domain.name:
                raise ConfigError(f"judge {name!r} scores {t.domain} items; this model generates {domain.name}")
            match = [(op, v) for n, op, v in requests if n.split("-")[-1] == t.name.split("-")[-1]]
            op, v = match[0] if match else (None, None)
            out.append((t, op, v))
    return out


def request_report(model: Any, infos: Sequence[dict], targets: Sequence[str] = (),
                   judges: Sequence[str] = ()) -> list[str]:
    """What ``graphdiff sample`` prints after writing: for each request on a registered target
    (``targets``, as ``sample(targets=...)`` takes them; not the model's own conditions) how far
    the items are from it, by the target itself, and for each of ``judges`` the mean it found and
    how far that is from the request on the same property. ``infos``: the items' ``info`` dicts
    (``Samples.info``), which hold the scores."""
    import statistics

    from graphdiff.runner import parse_target_requests

    def within(x: float, op: str, v: float) -> bool:
        return x <= v if op == "<=" else x >= v if op == ">=" else True

    requests = parse_target_requests(list(targets))
    lines = []
    for name, op, v in requests:
        vals = [s[name] for s in infos if name in s and s[name] == s[name]]
        if not vals or name in model.conditions:
            continue
        met = sum(within(x, op, v) for x in vals)
        lines.append(f"{name} {op} {v}: mean {statistics.fmean(vals):.4g}, mean |value - {v}| = "
                     f"{statistics.fmean(abs(x - v) for x in vals):.4g}"
                     + (f", {met}/{len(vals)} meet it" if op != "=" else "") + f" (scored by {name} itself)")
    for t, op, v in judge_targets(list(judges), model.domain, requests) if judges else []:
        col = f"judged_{t.name}"
        vals = [s[col] for s in infos if col in s and s[col] == s[col]]
        if not vals:
            lines.append(f"judge {t.name}: no generated item could be scored")
            continue
        line = f"judge {t.name}: mean {statistics.fmean(vals):.4g} over {len(vals)} items"
        if op is not None:
            line += f"; request {op}{v}: mean |value - {v}| = {statistics.fmean(abs(x - v) for x in vals):.4g}"
            if op != "=":
                line += f", {sum(within(x, op, v) for x in vals)}/{len(vals)} meet it"
        lines.append(line + f" ({t.description})" if t.description else line)
    return lines


class Model:
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
        opts = dict(steps=_positive("steps", steps) if steps is not None else sc.steps,
                    sampler=sampler or sc.sampler,
                    guidance_scale=sc.guidance_scale if guidance_scale is None else float(guidance_scale),
                    corrector_steps=sc.corrector_steps if corrector_steps is None else int(corrector_steps),
                    batch_size=_positive("batch_size", batch_size) if batch_size is not None else sc.batch_size)
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

        cond, guided = split_target_requests(_as_requests(targets), self.diffusion, self.domain,
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

    @staticmethod
    def _score(samples: Samples, scored: Sequence[tuple[Any, str, Any]], prefix: str = "") -> None:
        """Each target's value on each object into ``info[prefix + name]`` (NaN where it cannot score)."""
        for target, _, _ in scored:
            for obj, info in zip(samples, samples.info):
                try:
                    value = float(target(obj))
                except Exception:  # noqa: BLE001 - an item the target cannot score gets NaN
                    value = float("nan")
                info[prefix + target.name] = value

    def _relax_options(self, relax: Any) -> dict[str, Any] | None:
        """``relax=`` as keyword arguments of :meth:`Domain.relax` plus ``keep_unrelaxed``;
        ``None`` when not relaxing. Checked before any sampling."""
        if relax is None or relax is False:
            return None
        opts: dict[str, Any] = {} if relax is True else dict(relax) if isinstance(relax, Mapping) else None
        if opts is None:
            raise ConfigError(f"relax must be True, False or a dict of options (got {relax!r})")
        if not getattr(self.domain, "relaxes", False):
            raise ConfigError(f"domain {self.domain.name!r} cannot relax its objects; relax is for domains "
                              "that can (crystals: CHGNet)")
        unknown = sorted(set(opts) - {"fmax", "steps", "batch_size", "keep_unrelaxed"})
        if unknown:
            raise ConfigError(f"unknown relax option(s) {unknown}; known: fmax, steps, batch_size, keep_unrelaxed")
        if "fmax" in opts and not float(opts["fmax"]) > 0:
            raise ConfigError(f"relax fmax must be positive (got {opts['fmax']})")
        for name in ("steps", "batch_size"):
            if name in opts:
                opts[name] = _positive(f"relax {name}", opts[name])
        return opts

    def _finish(self, part: Samples, relaxing: dict[str, Any] | None, guided: list, judging: list,
                progress: bool, *, guided_scored: bool = False) -> Samples:
        """Relax ``part`` when asked, then score the final objects: each requested target's
        achieved value (unless ``guided_scored`` and nothing was relaxed) and each judge."""
        return self._finish_all([part], relaxing, guided, judging, progress, guided_scored=guided_scored)[0]

    def _finish_all(self, parts: Sequence[Samples], relaxing: dict[str, Any] | None, guided: list,
                    judging: list, progress: bool, *, guided_scored: bool = False) -> list[Samples]:
        """:meth:`_finish` for several parts (the inputs of a chunk): their objects are relaxed
        together, in one call of the domain's ``relax``, then each part is scored."""
        parts = list(parts)
        if relaxing is not None:
            self._relax(parts, relaxing, progress)
        for part in parts:
            if relaxing is not None or not guided_scored:
                self._score(part, guided)
            self._score(part, judging, prefix="judged_")
        return parts

    def _relax(self, parts: Sequence[Samples], opts: dict[str, Any], progress: bool) -> None:
        """Relax the objects of all ``parts`` in place (objects, graphs and info) with one call of
        the domain's ``relax`` (which evaluates ``batch_size`` objects at a time); each result
        goes back to the object it came from. An object that fails keeps its unrelaxed form and
        says why in ``info["relax_error"]``."""
        opts = dict(opts)
        keep = bool(opts.pop("keep_unrelaxed", False))
        if keep:
            for part in parts:
                part.unrelaxed, part.unrelaxed_graphs = list(part), list(part.graphs)
        objs = [obj for part in parts for obj in part]
        if not objs:
            return
        results = list(self.domain.relax(objs, progress=progress, **opts))
        if len(results) != len(objs):
            raise DataError(f"domain {self.domain.name!r}: relax() gave {len(results)} results for "
                            f"{len(objs)} objects")
        at = 0
        for part in parts:
            for j, res in enumerate(results[at:at + len(part)]):
                self._take_relaxed(part, j, res)
            at += len(part)

    def _take_relaxed(self, part: Samples, j: int, res: dict[str, Any]) -> None:
        """Item ``j`` of ``part`` becomes its relaxation result ``res`` (one of ``Domain.relax``'s)."""
        info = part.info[j]
        info.update({"relaxed": res.get("obj") is not None, "relax_converged": bool(res.get("converged")),
                     "relax_steps": int(res.get("steps") or 0), "energy_per_atom": res.get("energy_per_atom"),
                     "relax_displacement_rms": res.get("displacement_rms"),
                     "relax_displacement_max": res.get("displacement_max")})
        if res.get("obj") is None:
            info["relax_error"] = str(res.get("error") or "relaxation failed")
            return
        try:
            graph = self.domain.to_graph(res["obj"])
        except Exception as exc:  # noqa: BLE001 - keep the unrelaxed item, say why
            info.update(relaxed=False, relax_error=f"the relaxed object does not convert: {exc}")
            return
        part[j] = res["obj"]
        if part.graphs:
            part.graphs[j] = graph

    def _rerank(self, part: Samples, row: int, ranking: Any) -> None:
        """Rank an input's relaxed candidates again by ``ranking`` (``rank_by`` or a reference),
        scored on the relaxed objects: the distinct answers first, then valid before invalid, then
        the better score (NaN last), then the old rank. The reordered items take the ranks (and
        output positions) the list held; the ranking column holds the relaxed value."""
        if len(part) < 1:
            return
        keys = []
        for j, obj in enumerate(part):
            try:
                ok = bool(self.domain.valid(obj))
            except Exception:  # noqa: BLE001 - an object the domain cannot judge is invalid
                ok = False
            score = ranking.score(row, obj) if ok else float("nan")
            part.info[j][ranking.column] = round(ranking.value(score), 6)
            keys.append((not part.info[j].get("distinct", 1), not ok, -score if score == score else math.inf,
                         part.info[j].get("rank", j), j))
        order = [key[-1] for key in sorted(keys)]
        slots = sorted(part.info[j].get("rank", j) for j in range(len(part)))
        positions = getattr(part, "positions", None)
        slots_pos = sorted(positions) if positions else None
        part[:] = [part[j] for j in order]
        part.info = [part.info[j] for j in order]
        part.ids = [part.ids[j] for j in order]
        if part.graphs:
            part.graphs = [part.graphs[j] for j in order]
        if part.unrelaxed is not None:
            part.unrelaxed = [part.unrelaxed[j] for j in order]
            part.unrelaxed_graphs = [part.unrelaxed_graphs[j] for j in order] if part.unrelaxed_graphs else []
        for info, rank in zip(part.info, slots):
            info["rank"] = rank
        if slots_pos is not None:
            part.positions = slots_pos

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

        n = _positive("n", n)
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

    # ------------------------------------------------------------------ conditional tasks
    def read_inputs(self, path: str | Path, *, strict: bool = False, **options: Any) -> list[dict]:
        """The records of an input file (``Domain.read_inputs``: crystals read structures, a
        ``.txt`` file of formulas or a CSV with a ``formula`` column). Rows that cannot be read
        are skipped with a warning that names them (``strict=True``: an error)."""
        skipped: list[dict[str, str]] = []
        records = list(self.domain.read_inputs(Path(path), strict=strict, skipped=skipped, **options))
        if skipped:
            first = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
            warnings.warn(f"{path}: skipped {len(skipped)} input row(s) that cannot be read: {first}"
                          + (" ..." if len(skipped) > 3 else ""), RuntimeWarning, stacklevel=2)
        if not records:
            raise DataError(f"{path}: no usable inputs" + (f" ({len(skipped)} skipped; first: "
                                                           f"{skipped[0]['where']}: {skipped[0]['reason']})"
                                                           if skipped else ""))
        return records

    def templates(self, inputs: Any, *, task: str | None = None,
                  **input_options: Any) -> tuple[list[Any], list[str], list[dict]]:
        """``(graphs, ids, records)`` of the inputs of a conditional task: each input (a path
        of an input file, or a list of what ``Domain.input_graph`` takes: crystals take
        formulas, ``Composition`` and ``Structure`` objects) as a template graph, checked for
        the task's given fields."""
        if isinstance(inputs, Path):
            items: list[Any] = self.read_inputs(inputs, **input_options)
            input_options = {k: v for k, v in input_options.items() if k not in ("strict",)}
            input_options.pop("formula_units", None)  # applied while reading
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            items = [inputs]
        if not items:
            raise ConfigError("no inputs: give at least one item to complete")
        fields = self.task_fields(task) + self.given
        graphs, ids, records = [], [], []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            rid = _input_id(item, i)
            seen[rid] = seen.get(rid, 0) + 1
            rid = rid if seen[rid] == 1 else f"{rid}_{seen[rid]}"
            where = f"input {i} ({rid})" if rid != str(i) else f"input {i}"
            try:
                g = self.domain.input_graph(item, task, **input_options)
            except (DataError, GraphValidationError) as exc:
                raise DataError(f"{where}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - pymatgen/torch errors get the item named
                raise DataError(f"{where}: {self.domain.name} cannot use a {type(item).__name__} as "
                                f"an input ({type(exc).__name__}: {exc})") from None
            self.diffusion.spec.validate(g, where=where, fields=fields)
            graphs.append(g)
            ids.append(rid)
            records.append(item if isinstance(item, dict) else {"id": rid, "obj": item})
        return graphs, ids, records

    def check_unseen(self, graphs: Sequence[Any], ids: Sequence[str], fields: Sequence[str],
                     allow: bool) -> list[str]:
        """Per input, the classes the model never saw in training, joined (``""``: none). Unless
        ``allow``, any such input raises :class:`DataError` naming every one of them (up to 10)."""
        found = [", ".join(self.unseen_classes(g, fields)) for g in graphs]
        bad = [(i, ids[i], u) for i, u in enumerate(found) if u]
        if bad and not allow:
            listed = "; ".join(f"input {i} ({rid}): {u}" for i, rid, u in bad[:10])
            raise DataError(f"{len(bad)} input(s) hold classes absent from the model's training data, where its "
                            f"answers are guesses: {listed}{' ...' if len(bad) > 10 else ''} (allow_unseen=True, "
                            "or --allow-unseen, to try anyway; the candidates then carry them in 'unseen')")
        if bad:
            warnings.warn(f"{len(bad)} input(s) hold classes absent from the model's training data (first: input "
                          f"{bad[0][0]} ({bad[0][1]}): {bad[0][2]}); their candidates carry them in 'unseen'",
                          RuntimeWarning, stacklevel=3)
        return found

    def unseen_classes(self, graph: Any, fields: Sequence[str] | None = None) -> list[str]:
        """Labels of the categorical classes in ``graph`` (given or held fields) that the
        model's training data never held (crystals: elements), from the class frequencies the
        model stores (a marginal prior); empty where the model keeps no frequencies."""
        out: list[str] = []
        for name in fields if fields is not None else self.given:
            proc = self.diffusion.processes[name] if name in self.diffusion.processes else None
            if proc is None or getattr(proc, "prior_kind", None) != "marginal":
                continue
            c = proc.field.num_classes
            floor = 1e-4 / (1 + 1e-4 * c)  # what fit() gives a class absent from the data
            m = proc.m.detach().cpu()
            x = getattr(graph, name).long().view(-1).cpu()
            labels = proc.field.labels
            for k in sorted(set(x.tolist())):
                if 0 <= k < c and float(m[k]) < 1.5 * floor:
                    out.append(labels[k] if labels and k < len(labels) else f"{name} class {k}")
        return out

    def task_fields(self, task: str | None) -> list[str]:
        """The generated fields ``task`` holds to the inputs' values (a de novo model completing
        given fields, e.g. CSP by inpainting); ``[]`` when the model is trained for the task."""
        if task is None:
            return []
        if task not in self.domain.tasks:
            raise ConfigError(f"unknown task {task!r} for domain {self.domain.name!r}; it has "
                              f"{', '.join(sorted(self.domain.tasks))}")
        fields = list(self.domain.tasks[task])
        if not fields:
            raise ConfigError(f"task {task!r} is de novo: use Model.sample(n) (--num), not inputs")
        extra = [f for f in self.given if f not in fields]
        if extra:
            raise ConfigError(f"this model needs the given fields {self.given}, task {task!r} gives "
                              f"{fields}: use a model trained for {task!r}")
        return [f for f in fields if f not in self.given]

    def complete(self, inputs: Any, **options: Any) -> list[Samples]:
        """Complete each input's given fields: crystal structure prediction from compositions,
        inpainting. Returns one :class:`Samples` per input holding its ``k`` candidates, best
        first (see :meth:`complete_iter` for the options).

        Examples
        --------
        >>> model = graphdiff.load("perov5-csp")                                   # doctest: +SKIP
        >>> [[s.lattice.a for s in c] for c in model.complete(["SrTiO3"], k=2)]     # doctest: +SKIP
        """
        return [cands for _, cands in self.complete_iter(inputs, **options)]

    def complete_iter(self, inputs: Any, *, k: int = 1, seed: int = 0, task: str | None = None,
                      draws: int | None = None, max_draws: int | None = None, distinct: bool = True,
                      rank_by: str | None = None, references: Any = None, targets: Any = None,
                      guidance_scale: float | None = None, gradient_scale: float = 1.0,
                      guidance_mode: str = "auto", guide_fields: Sequence[str] | None = None,
                      judges: Sequence[str] = (), steps: int | None = None, sampler: str | None = None,
                      corrector_steps: int | None = None, constraint: Any = "model",
                      batch_size: int | None = None, allow_larger: bool = False, allow_unseen: bool = False,
                      relax: Any = False, progress: bool = True,
                      **input_options: Any) -> Iterator[tuple[int, Samples]]:
        """:meth:`complete`, one input at a time: ``(input index, its candidates)`` in order.

        Parameters
        ----------
        inputs:
            A list of inputs (crystals: ``"SrTiO3"``, a ``Composition``, a ``Structure``; any
            domain: its objects or records) or a ``pathlib.Path`` of an input file.
        k:
            Candidates per input. With ``distinct`` (the default) they are distinct answers:
            ``draws`` samples per input (default ``2k`` when ``k > 1``) are grouped by the
            domain's equivalence (crystals: ``StructureMatcher``), drawing more up to
            ``max_draws`` (default ``max(draws, 4k)``) while fewer than ``k`` were found, and
            ranked by validity, then by ``rank_by`` or the reference similarity when given, then
            by their share of the draws. ``info`` holds ``rank``, ``share``, ``distinct``.
            ``distinct=False``: ``k`` independent samples.
        task:
            A task of the domain that a de novo model does by inpainting (crystals: ``"csp"``).
        rank_by:
            ``"NAME"`` or ``"NAME:max"``: rank candidates by a registered target, lowest first
            (``:min``, as for an energy) or highest first.
        references:
            ``{"xrd": path}`` (one file for every input) or ``{"xrd": [path, ...]}`` (one per
            input): rank by similarity to an observation (crystals: a powder pattern), and
            condition a model trained on its encoding.
        targets, guidance_scale, gradient_scale, guidance_mode, guide_fields, judges, steps,
        sampler, corrector_steps, constraint, batch_size, relax:
            As for :meth:`sample_iter`; ``relax`` relaxes the ``k`` chosen candidates of each input
            (after they were chosen), the candidates of all the inputs completed together (a round
            of distinct candidates, a sampling batch without ``distinct``) in one call of the
            domain's relaxation, which evaluates the relax ``batch_size`` at a time. With
            ``rank_by`` or ``references`` the relaxed candidates are ranked again by their relaxed
            scores (distinct answers first, then valid ones, then the score; an energy ranks by
            the relaxed energy), and the ranking column holds the relaxed value.
        allow_larger:
            Accept inputs larger than any training graph.
        allow_unseen:
            Accept inputs with classes the model never saw in training (crystals: elements).
        input_options:
            The domain's options for its inputs (crystals: ``formula_units=Z``).
        """
        from graphdiff.progress import StepProgress
        from graphdiff.runner import sample_graphs, set_template_condition

        k = _positive("k", k)
        graphs, ids, records = self.templates(inputs if not isinstance(inputs, str) else [inputs], task=task,
                                              **input_options)
        inpaint = self.task_fields(task)
        if not allow_larger:
            self.diffusion.check_sizes(graphs, "input")
        unseen = self.check_unseen(graphs, ids, inpaint + self.given, allow_unseen)
        refs = self._references(references, records)
        if refs is not None:
            row_cond = refs.conditions(self.conditions)
            if row_cond is not None:
                graphs = [set_template_condition(self.diffusion, g, c) for g, c in zip(graphs, row_cond)]
        cond, guided, guidance = self._requests(targets, gradient_scale=gradient_scale,
                                                guidance_mode=guidance_mode, guide_fields=guide_fields)
        judging = self._judges(judges, cond, guided)
        relaxing = self._relax_options(relax)
        ranking: Any = refs
        if rank_by is not None:
            if not distinct:
                raise ConfigError("rank_by ranks distinct candidates: it needs distinct=True")
            if refs is not None:
                raise ConfigError("rank_by and references: candidates are ranked one way; give one of them")
            ranking = TargetRanking.parse(rank_by, self.domain)
        opts = self._options(steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                             corrector_steps=corrector_steps, batch_size=batch_size, constraint=constraint)
        opts.update(cond=cond or None, inpaint=inpaint, allow_larger=allow_larger)
        if guidance is not None:
            opts["gradient_guidance"] = guidance
        requested = _requested(cond, guided)
        per_step = opts["steps"]
        distinct = distinct and (k > 1 or (draws or 1) > 1 or ranking is not None)
        if not distinct:
            templates = [g for g in graphs for _ in range(k)]
            bar = StepProgress(math.ceil(len(templates) / opts["batch_size"]) * per_step, enabled=progress)
            done: list[Any] = []
            i = 0
            try:
                for chunk in sample_graphs(self.diffusion, templates=templates, seed=seed, step_progress=bar,
                                           **opts):
                    done += chunk
                    ready = []  # the inputs this chunk completes: relaxed together
                    while len(done) >= k:
                        part, done = done[:k], done[k:]
                        ready.append((i, self._convert(part, [ids[i]] * k,
                                                       [{"rank": r, **requested, **_flag(unseen[i])}
                                                        for r in range(k)])))
                        i += 1
                    finished = self._finish_all([c for _, c in ready], relaxing, guided, judging, progress)
                    yield from zip([j for j, _ in ready], finished)
            finally:
                bar.close()
            return
        draws = draws or (max(4, 2 * k) if ranking is not None else 2 * k if k > 1 else 1)
        max_draws = max_draws or max(draws, 4 * k)
        if draws < 1 or max_draws < draws:
            raise ConfigError(f"need draws >= 1 and max_draws >= draws (got {draws}, {max_draws})")
        for i, cands in self._distinct(graphs, ids, k, draws, max_draws, opts, seed, progress, ranking, requested,
                                       guided, judging, relaxing):
            for info in cands.info:
                info.update(_flag(unseen[i]))
            yield i, cands

    def _distinct(self, graphs: list[Any], ids: list[str], k: int, draws: int, max_draws: int, opts: dict,
                  seed: int, progress: bool, ranking: Any, requested: dict, guided: list,
                  judging: list, relaxing: dict[str, Any] | None) -> Iterator[tuple[int, Samples]]:
        from graphdiff.candidates import distinct_candidates
        from graphdiff.progress import StepProgress
        from graphdiff.runner import template_sampler

        per_step = opts["steps"]
        per_round = max(1, opts["batch_size"] // draws)
        rounds = math.ceil(len(graphs) / per_round)
        bar = StepProgress(rounds * math.ceil(per_round * draws / opts["batch_size"]) * per_step,
                           enabled=progress)
        base = template_sampler(self.diffusion, seed=seed, step_progress=bar, **opts)

        def sample(templates: list[Any]) -> list[Any]:
            cost = math.ceil(len(templates) / opts["batch_size"]) * per_step
            if bar.done + cost > bar.total:  # drawing again for inputs with too few answers
                bar.add(bar.done + cost - bar.total)
            return base(templates)

        score = ranking.score if ranking is not None else None
        self.fewer_than_k = 0
        ready: list[tuple[int, Samples]] = []  # the inputs of one round: relaxed together
        try:
            for i, cands in distinct_candidates(sample, graphs, k, self.domain, draws=draws, max_draws=max_draws,
                                                rows_per_round=per_round, progress=False, score=score):
                self.fewer_than_k += sum(not c.distinct for c in cands) > 0
                info = [{"rank": c.rank, "share": round(c.share, 4), "distinct": int(c.distinct), **requested,
                         **({ranking.column: round(ranking.value(c.score), 6)} if ranking is not None else {})}
                        for c in cands]
                ready.append((i, self._convert([c.graph for c in cands], [ids[i]] * len(cands), info)))
                if (i + 1) % per_round and i + 1 < len(graphs):
                    continue  # distinct_candidates yields a round's rows together, rows_per_round at a time
                finished = self._finish_all([c for _, c in ready], relaxing, guided, judging, progress)
                rows, ready = [j for j, _ in ready], []
                for j, part in zip(rows, finished):
                    if relaxing is not None and ranking is not None:
                        self._rerank(part, j, ranking)
                    yield j, part
        finally:
            bar.close()
        self.ranking_report = getattr(ranking, "report", lambda: None)()

    def _references(self, references: Any, records: list[dict]) -> Any:
        """``references=`` as :class:`~graphdiff.references.RowReferences` (or ``None``)."""
        if references is None:
            return None
        from graphdiff.plugins import get_manager
        from graphdiff.references import RowReferences, load_row_references

        if isinstance(references, RowReferences):
            return references
        if not isinstance(references, Mapping) or len(references) != 1:
            raise ConfigError("references: one {kind: file or [file per input]} (e.g. {'xrd': 'pattern.xy'})")
        (kind, given), = references.items()
        registry = get_manager().registry("references")
        if kind not in registry:
            raise ConfigError(f"references: no reference kind {kind!r} (registered: {', '.join(registry.names())})")
        ref = registry.get(kind)
        if ref.domain != self.domain.name:
            raise ConfigError(f"references: {kind!r} is a {ref.domain} reference; this model generates "
                              f"{self.domain.name}")
        if isinstance(given, (list, tuple)):
            if len(given) != len(records):
                raise ConfigError(f"references: {len(given)} {kind} files for {len(records)} inputs")
            rows = [{**r, "text": {**(r.get("text") or {}), kind: str(p)}} for r, p in zip(records, given)]
            return load_row_references(ref, rows, given=None, input_path=None)
        return load_row_references(ref, records, given=given, input_path=None)

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

        num = _positive("num", num)
        if num < 2:
            raise ConfigError("num must be at least 2 (the two end points)")
        _positive("steps", steps)
        (ga, gb), ids, _ = self.templates([a, b])
        for name, g in (("a", ga), ("b", gb)):
            self.diffusion.spec.validate(g, where=f"interpolation end {name}",
                                         fields=self.generates + self.given)
        cond, guided = split_target_requests(_as_requests(targets), self.diffusion, self.domain)
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


def _requested(cond: Mapping[str, float], guided: Sequence[tuple[Any, str, float]]) -> dict[str, Any]:
    """The ``requested_<name>`` values stored beside each item: a condition's value, a gradient
    request as ``"<op><value>"``."""
    out: dict[str, Any] = {f"requested_{n}": v for n, v in cond.items()}
    out.update({f"requested_{t.name}": f"{op}{v}" for t, op, v in guided})
    return out


def _flag(unseen: str) -> dict[str, str]:
    return {"unseen": unseen} if unseen else {}


def _input_id(item: Any, i: int) -> str:
    """An input's id: a record's id, a formula as written, else its position."""
    if isinstance(item, Mapping) and item.get("id") is not None:
        return str(item["id"])
    if isinstance(item, str):
        return item.strip()
    return str(i)


# ---------------------------------------------------------------------------- evaluate
def evaluate(generated: Any, reference: Any, *, task: str, domain: str | None = None, train: Any = None,
             k: Sequence[int] | int | None = None, **options: Any) -> dict[str, Any]:
    """Score generated items against references with the domain's registered metric
    (``<domain>-<task>``: crystals ``csp`` and ``dng`` follow CDVAE's protocol).

    Parameters
    ----------
    generated, reference, train:
        Files the domain reads (paths), lists of records, lists of domain objects, or, for
        ``generated``, what :meth:`Model.complete` returns (candidates keep their input's id).
    task:
        ``"csp"``, ``"dng"``... (the metric ``<domain>-<task>``).
    domain:
        The domain's name; default: inferred from the objects (the one domain whose converter
        accepts them) or, for files, the domain that reads them.
    k:
        Candidates per reference to score (CSP: match rate at each k).
    options:
        Passed to the metric (``dataset=``, ``kernel=``).
    """
    from graphdiff.plugins import get_manager

    manager = get_manager()
    dom = resolve_domain(domain, [generated, reference])
    metric = manager.get("metrics", f"{dom.name}-{task}")
    ks = [k] if isinstance(k, int) else (list(k) if k is not None else None)
    if ks is not None and any(kk < 1 for kk in ks):
        raise ConfigError(f"k: the number of candidates must be at least 1, got {ks}")
    unreadable: list[dict[str, str]] = []
    gen = _as_records(dom, generated, unreadable=unreadable)
    ref = _as_records(dom, reference)
    tr = _as_records(dom, train) if train is not None else None
    result = dict(metric(gen, ref, train=tr, k=ks, **options))
    if unreadable:
        result.update(generated_rows_unreadable=len(unreadable), unreadable=unreadable[:20])
    return result


def resolve_domain(name: str | None, things: Sequence[Any]) -> Any:
    """The domain called ``name``, or (``None``) the one the items belong to: the only domain
    whose converter accepts the objects, or the only one that reads the files (trying the
    first item where several read the suffix). Ambiguity raises :class:`ConfigError`."""
    from graphdiff.plugins import get_manager

    return _infer_domain(name, things, get_manager())


def _infer_domain(name: str | None, things: Sequence[Any], manager: Any) -> Any:
    if name is not None:
        return manager.get("domains", name)
    registry = manager.registry("domains")
    for thing in things:
        sample = _first_object(thing)
        if sample is None:
            continue
        fits = []
        for entry in registry.entries():
            try:
                entry.obj.to_graph(sample)
            except Exception:  # noqa: BLE001 - not this domain's object
                continue
            fits.append(entry.obj)
        if len(fits) == 1:
            return fits[0]
        if len(fits) > 1:
            raise ConfigError(f"domain: {len(fits)} domains accept a {type(sample).__name__} "
                              f"({', '.join(d.name for d in fits)}); pass domain=")
    for thing in things:
        if isinstance(thing, (str, Path)):
            fits = [e.obj for e in registry.entries() if _reads(e.obj, Path(thing))]
            if len(fits) > 1:  # several read the suffix: those that read its first item
                fits = [d for d in fits if _reads_first(d, Path(thing))] or fits
            if len(fits) == 1:
                return fits[0]
            if len(fits) > 1:
                raise ConfigError(f"domain: {', '.join(d.name for d in fits)} all read {Path(thing).name}; "
                                  "pass domain= (--domain)")
    raise ConfigError("domain: cannot tell which domain these items belong to; pass domain= (--domain)")


def _reads(domain: Any, path: Path) -> bool:
    suffix = path.suffix.lower()
    return any(s == suffix or (s.endswith("*") and path.name.startswith(s[:-1]))
               for s in getattr(domain, "read_suffixes", ()))


def _reads_first(domain: Any, path: Path) -> bool:
    try:
        skipped: list[dict[str, str]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            next(iter(domain.read(path, skipped=skipped)))
    except Exception:  # noqa: BLE001 - not this domain's file
        return False
    return True


def _first_object(thing: Any) -> Any:
    if isinstance(thing, (str, Path)) or thing is None:
        return None
    for item in thing:
        if isinstance(item, list):  # candidates of one input
            if item:
                return item[0]
            continue
        return item["obj"] if isinstance(item, Mapping) and "obj" in item else item
    return None


def _as_records(domain: Any, thing: Any, unreadable: list[dict[str, str]] | None = None) -> list[dict]:
    """Records (``id``, ``obj``, ``props``) for a metric, from a file, records, objects or
    :meth:`Model.complete`'s output (each candidate with its input's id and ``sample`` rank).

    With ``unreadable`` (generated items), a file is read without the domain's checks where its
    reader has a ``validate`` option (invalid outputs are scored as invalid, not skipped), and
    rows that cannot be read at all are appended to it."""
    from graphdiff.domain import Record

    if isinstance(thing, (str, Path)):
        path = Path(thing)
        if unreadable is not None:
            import inspect

            params = inspect.signature(domain.read).parameters
            takes = "validate" in params
            return list(domain.read(path, skipped=unreadable, **({"validate": False} if takes else {})))
        return list(domain.read(path))
    out = []
    for i, item in enumerate(thing):
        if isinstance(item, Samples):
            for r, (obj, rid) in enumerate(zip(item, item.ids)):
                out.append(Record(id=rid, obj=obj, props={"sample": float(item.info[r].get("rank", r))}))
        elif isinstance(item, Mapping) and "obj" in item:
            out.append(item)
        else:
            out.append(Record(id=str(i), obj=item, props={}))
    return out


# ---------------------------------------------------------------------------- predictors
class PredictorModel:
    """A trained property predictor (:func:`load_predictor`): :meth:`predict` takes domain objects."""

    def __init__(self, predictor: Any, path: Path) -> None:
        self.module = predictor
        self.path = path

    @property
    def properties(self) -> list[str]:
        return list(self.module.properties)

    @property
    def domain(self) -> str:
        return self.module.domain

    def predict(self, objects: Sequence[Any], batch_size: int = 256) -> tuple[Any, Any]:
        """Mean and ensemble std, ``numpy`` arrays ``[n, len(properties)]``, of domain objects."""
        objects = list(objects)
        mean, std = self.module.predict_objects(objects, batch_size=batch_size)
        return mean.numpy(), std.numpy()

    def out_of_domain(self, objects: Sequence[Any]) -> list[str]:
        """Per object, why it lies outside the predictor's training data (crystals: elements no
        training item had, more atoms than any had), ``""`` where it does not."""
        from graphdiff.predictors import out_of_domain_objects

        return out_of_domain_objects(self.module, list(objects))

    def __repr__(self) -> str:
        return f"<graphdiff predictor {self.path.stem!r}: {self.domain} -> {', '.join(self.properties)}>"


def load_predictor(name_or_path: str | Path, *, device: str = "cpu") -> PredictorModel:
    """A property predictor from its file (``graphdiff predictor train`` wrote it) or a bundled
    one by name (``perov5-heat``, ``qm9-gap``)."""
    from graphdiff.predictors import Predictor, resolve_predictor

    path = resolve_predictor(name_or_path)
    return PredictorModel(Predictor.load(path, device=device), Path(path))
