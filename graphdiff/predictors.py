"""Property predictors: GNN regressors of graph-level properties, for any registered domain.

A predictor reuses the domain's own encoder: the denoiser ``model.denoiser = "auto"`` picks
(``periodic`` for crystals, ``egnn`` for molecules, ``graph_transformer`` for plain graphs), built
on the domain's :class:`~graphdiff.graph.GraphSpec` plus one extra graph-level continuous field,
the *head*, whose output is the prediction. Every domain field enters clean, as given context, at
``t = 0`` (``noisy = true``: the generated fields are noised at a random ``t`` in training, so
the predictor also reads the noisy graphs a diffusion model sees, with their ``t``).

Each ensemble member predicts, per property, a mean and (``variance = true``) a noise variance,
trained with the β-NLL loss (Seitzer et al. 2022, β = 0.5) on standardised targets. The ensemble
(``ensemble`` members, seeds ``training.seed + 1000 m``, all on the same training split unless
``bootstrap = true``) gives the prediction

    mean = (1/M) Σ μ_m,     std² = (1/M) Σ σ_m² + (1/M) Σ (μ_m − mean)²

(aleatoric + epistemic; without ``variance`` only the spread of the members). Calibration on the
validation split (fraction of ``|y − mean|`` within 1 and 2 predicted std; MAE, RMSE, R²) is
written beside the predictor file.

Public API: :class:`PredictorConfig` / :func:`load_predictor_config`, :func:`read_labelled`,
:class:`Predictor` (``predict``, ``predict_objects``, ``predict_fields``, ``save``, ``load``),
:func:`train_predictor`, :func:`calibration`, :func:`predict_file`, :func:`predictor_targets`,
:func:`register_predictor`, :func:`target_guidance`. The command line is
``graphdiff predictor train CONFIG`` and ``graphdiff predict``. See ``docs/predictors.md``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import nn
from torch_geometric.data import Batch, Data

from graphdiff.config import RunConfig, _format_errors, read_mapping, resolve_paths
from graphdiff.data import convert_record
from graphdiff.errors import CheckpointError, ConfigError, DataError, GraphValidationError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level
from graphdiff.nn.base import NoisyGraphs, all_pairs
from graphdiff.predictor_files import PREDICTORS_ENV  # the predictor files the core registers

__all__ = [
    "bundled_predictors",
    "predictor_target_files",
    "resolve_predictor",
    "out_of_domain",
    "out_of_domain_objects",
    "training_classes",
    "PredictorOptions",
    "PredictorConfig",
    "parse_predictor_config",
    "load_predictor_config",
    "LabelledData",
    "read_labelled",
    "Predictor",
    "train_predictor",
    "calibration",
    "predict_file",
    "predictor_targets",
    "register_predictor",
    "predictor_header",
    "env_predictor_targets",
    "target_guidance",
    "PREDICTOR_FORMAT",
    "PREDICTORS_ENV",
]

PREDICTOR_FORMAT = "graphdiff-predictor"
#: attribute holding the standardisation-free targets ``float [1, K]`` (NaN: missing)
_Y = "predictor_y"
#: the β of the β-NLL loss
_BETA = 0.5
_IDEAL_1, _IDEAL_2 = math.erf(1 / math.sqrt(2)), math.erf(2 / math.sqrt(2))


# ============================================================================ configuration
class PredictorOptions(BaseModel):
    """The ``[predictor]`` section of a predictor config."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    properties: list[str] = Field(min_length=1, description="numeric columns (or targets) to predict")
    ensemble: int = Field(3, ge=1, description="ensemble members (different seeds)")
    bootstrap: bool = Field(False, description="train each member on a bootstrap resample")
    cross_validate: bool = Field(
        False, description="k-fold ensemble: the labelled rows are cut into `ensemble` seeded folds "
        "(data.split_seed); member m trains on all folds but m and is validated (select_best) on "
        "fold m, so the ensemble learns from every row, and the calibration is out-of-fold (each "
        "row judged by the member that never saw it); data.val_fraction is not used")
    variance: bool = Field(True, description="members also predict a noise variance (β-NLL)")
    loss: Literal["gaussian", "laplace"] = Field(
        "gaussian", description="the members' noise model: gaussian (β-NLL; the mean's gradient "
        "is that of a squared error, best for RMSE) or laplace (β-NLL of a Laplace law; with "
        "β = 1/2 the mean's gradient is that of an absolute error, best for MAE); the model "
        "selection (select_best) follows: validation MSE or MAE")
    noisy: bool = Field(False, description="time-aware: train on noisy inputs at random t")
    processes_from: str | None = Field(
        None, description="a diffusion checkpoint (file or bundled name) whose processes (noise "
        "schedules, fitted normalisations, generated and given fields) the time-aware predictor "
        "takes, so that it reads that model's noisy states in guidance; needs noisy = true")
    missing: Literal["skip", "error", "mask"] = Field(
        "skip", description="rows lacking a property: skip (reported), error, or mask (keep rows "
        "with at least one property; the loss ignores the missing ones)")
    labels: str | None = Field(None, description="CSV of property values keyed by item id "
                               "(for sources without property columns)")
    id_column: str = Field("id", description="the id column of the labels CSV")
    name: str | None = Field(None, description="prefix of the registered target names "
                             "(default '<domain>-predicted'): '<name>-<property>'")
    file: str = Field("predictor.pt", description="predictor file name inside training.out_dir")
    select_best: bool = Field(True, description="keep each member's weights of lowest validation loss")
    ema: bool = Field(False, description="validate and keep an exponential moving average of each "
                      "member's weights (decay training.ema_decay, warm-up training.ema_warmup) "
                      "instead of the raw weights")
    recalibrate: bool = Field(True, description="scale the predicted std by the validation split's "
                              "RMS of error / std (variance scaling), so the std matches the errors")
    offset: list[str] = Field(
        default_factory=list, description="Δ-learning: the members learn the residual of a linear "
        "baseline fitted by least squares on the training rows, b = Σ_c w_c x_c + Σ_t a_t t(item) "
        "+ c0, and predictions add it back. Terms: 'composition' (x_c: the fraction of the nodes "
        "in each class of the domain's node categorical field, e.g. the atom fractions of each "
        "element) and registered targets of the domain (t: e.g. crystals-chgnet_energy, "
        "evaluated on each item). The predictor stays differentiable when every target term is "
        "(has a graph_fn)")

    @field_validator("properties", "offset")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"names repeat: {v}")
        if any(not p.strip() for p in v):
            raise ValueError("a name is empty")
        return v


class PredictorConfig(RunConfig):
    """A run config (``data``, ``model``, ``diffusion``, ``training``) plus ``[predictor]``.

    ``data`` names the domain and the labelled source; ``model`` the encoder (``auto``: the
    domain's default denoiser), ``diffusion.fields`` the input normalisation (and, with
    ``noisy``, the noise), ``training`` the optimiser, steps, seed and ``out_dir``.
    """

    predictor: PredictorOptions


def parse_predictor_config(raw: dict[str, Any], where: str = "<config>",
                           base_dir: Path | None = None) -> PredictorConfig:
    """Validate a predictor config dictionary; errors name ``where`` and each bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a table/mapping, got {type(raw).__name__}")
    if "predictor" not in raw:
        raise ConfigError(f"{where}: no [predictor] section (e.g. properties = [\"heat_ref\"])")
    try:
        cfg = PredictorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, where)) from None
    if base_dir is not None:
        resolve_paths(cfg, base_dir)
        labels = cfg.predictor.labels
        if labels and not Path(labels).is_absolute():
            cfg.predictor.labels = str((base_dir / labels).resolve())
        ref = cfg.predictor.processes_from
        if ref and not Path(ref).is_absolute() and (base_dir / ref).exists():
            cfg.predictor.processes_from = str((base_dir / ref).resolve())  # else a bundled name
    return cfg


def load_predictor_config(path: str | Path) -> PredictorConfig:
    """Read and validate a predictor config file (TOML, YAML or JSON)."""
    path = Path(path)
    return parse_predictor_config(read_mapping(path), where=str(path), base_dir=path.resolve().parent)


# ============================================================================ labelled data
@dataclass
class LabelledData:
    """Graphs with their property values: ``graphs[i].predictor_y`` is ``float [1, K]`` (NaN where
    missing), ``ids[i]`` the item's id; ``skipped`` lists ``{"where", "reason"}`` of the items left
    out; ``sources`` says where each property's values came from (``column``, ``labels``,
    ``target``)."""

    graphs: list[Data]
    ids: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def subset(self, idx: Sequence[int]) -> "LabelledData":
        return LabelledData([self.graphs[i] for i in idx], [self.ids[i] for i in idx], [], self.sources)


def _read_labels(path: str | Path, id_column: str, properties: Sequence[str]
                 ) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``{id: {property: value}}`` for the property columns the labels CSV has, and its header."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such labels file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the labels as CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the labels file is empty")
    header = [h.strip() for h in rows[0]]
    if id_column not in header:
        raise DataError(f"{path}: no id column {id_column!r} (predictor.id_column); columns: {header}")
    ic = header.index(id_column)
    cols = {p: header.index(p) for p in properties if p in header}
    out: dict[str, dict[str, float]] = {}
    for n, row in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path} row {n}: {len(row)} fields but the header has {len(header)}")
        rid = row[ic].strip()
        if rid in out:
            raise DataError(f"{path} row {n}: id {rid!r} appears twice")
        values = {}
        for p, c in cols.items():
            text = row[c].strip()
            values[p] = _number(text, f"{path} row {n} (id {rid})", p) if text else math.nan
        out[rid] = values
    return out, header


def _number(value: Any, where: str, prop: str) -> float:
    """``float(value)`` or a :class:`DataError` naming the item and the property."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise DataError(f"{where}: property {prop!r} is a boolean ({value!r}), not a number")
    try:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError("not one value")
            value = value.item()
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: property {prop!r} has the non-numeric value {value!r}") from None


def _target_values(target: Any, name: str, objs: Sequence[Any], ids: Sequence[str] | None) -> list[float]:
    """``target``'s value on every object: one ``batch_fn`` call where the target has one (a
    batched model), else (or when the batch fails, to find the item) one call per object; an
    item that fails or gives a value that is not finite raises :class:`DataError` naming it."""
    errors = (DataError, ValueError, TypeError, ArithmeticError, RuntimeError)
    values = None
    if getattr(target, "batch_fn", None) is not None and objs:
        try:
            values = [float(v) for v in target.batch_fn(list(objs))]
        except errors:
            values = None
    out = []
    for i, obj in enumerate(objs):
        where = f"item {ids[i]}" if ids is not None else f"item {i}"
        try:
            value = values[i] if values is not None else float(target(obj))
        except errors as exc:
            raise DataError(f"{where}: offset term {name!r} cannot be evaluated: {exc}") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: offset term {name!r} is {value}")
        out.append(value)
    return out


def _targets_of(domain_name: str) -> dict[str, Any]:
    """The registered targets that score ``domain_name``'s objects, by name."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")  # the domain from the metadata: others stay unloaded
    return {e.name: e.obj for e in reg.entries() if e.meta("domain") in (None, domain_name)}


def _domain_targets(domain: Any) -> dict[str, Any]:
    return _targets_of(domain.name)


def _without_gradient(names: Sequence[str], known: dict[str, Any]) -> list[str]:
    """The targets among ``names`` that have no ``graph_fn`` in ``known`` (or are not in it)."""
    return [n for n in names if getattr(known.get(n), "graph_fn", None) is None]


def _strip(graph: Data, spec: GraphSpec) -> Data:
    """A copy holding only the spec's fields (and ``edge_index``): what a predictor reads."""
    out = Data(num_nodes=graph.num_nodes)
    for f in spec.fields:
        setattr(out, f.name, getattr(graph, f.name))
    if spec.edge_field is not None:
        out.edge_index = graph.edge_index
    return out


def read_labelled(domain: Any, source: str | Path, properties: Sequence[str], *,
                  labels: str | Path | None = None, id_column: str = "id",
                  missing: str = "skip", strict: bool = False, max_items: int | None = None,
                  progress: bool = False, **options: Any) -> LabelledData:
    """Read ``source`` with the domain's reader; attach each item's property values.

    A property's values come from, in this order: the ``labels`` CSV when it has that column
    (rows matched on the item id), the source's own column of that name, or a registered target
    of the domain of that name (computed from each item). Items the reader or the converter
    rejects are skipped and reported (``strict``: raised). An item lacking a property (empty
    cell, NaN, absent from the labels) is skipped and reported (``missing="skip"``), raises a
    :class:`DataError` naming its id (``"error"``), or is kept when it has another property
    (``"mask"``). A non-numeric value raises a :class:`DataError` naming the item.
    ``progress``: bars on stderr while the items are read and converted.
    """
    if missing not in ("skip", "error", "mask"):
        raise ValueError(f"missing must be skip, error or mask, got {missing!r}")
    source = str(source)
    if "://" not in source and not Path(source).exists():
        raise DataError(f"{source}: no such file or folder")
    skipped: list[dict[str, str]] = []
    name = Path(source).name or source
    try:
        records = []
        with _bar(max_items, f"reading {name}", "item", progress) as bar:
            for rec in domain.read(source, strict=strict, skipped=skipped, **options):
                records.append(rec)
                bar.update(1)
                if max_items is not None and len(records) >= max_items:
                    break
    except DataError as exc:
        raise DataError(f"cannot read {source} as a {domain.name!r} source: {exc}") from None
    if not records:
        raise DataError(f"{source}: no usable {domain.name!r} items" + (f" ({len(skipped)} skipped: "
                        f"{skipped[0]['where']}: {skipped[0]['reason']})" if skipped else ""))
    table, header = (_read_labels(labels, id_column, properties) if labels else ({}, []))
    columns = sorted({k for r in records for k in (r.get("props") or {})})
    targets = None
    getters: dict[str, Callable[[Any, str], Any]] = {}
    sources: dict[str, str] = {}
    for p in properties:
        if labels and p in header:
            getters[p] = lambda rec, rid, p=p: table.get(rid, {}).get(p, math.nan)
            sources[p] = f"labels {Path(labels).name}"
        elif p in columns:
            getters[p] = lambda rec, rid, p=p: (rec.get("props") or {}).get(p, math.nan)
            sources[p] = "column"
        else:
            targets = _domain_targets(domain) if targets is None else targets
            if p not in targets:
                where = [f"not a numeric column of {source} (numeric columns: {', '.join(columns) or 'none'}"
                         "; a column holding any non-numeric value is not a property)"]
                if labels:
                    where.append(f"not a column of the labels {labels} (columns: {', '.join(header)})")
                where.append(f"and no target of domain {domain.name!r} has that name (targets: "
                             f"{', '.join(sorted(targets)) or 'none'})")
                raise DataError(f"property {p!r} not found: " + "; ".join(where))
            getters[p] = lambda rec, rid, t=targets[p]: t(rec["obj"])
            sources[p] = f"target {p}"
    if labels:
        known = {str(r.get("id")) for r in records}
        unknown = [k for k in table if k not in known]
        if unknown and len(unknown) == len(table):
            raise DataError(f"{labels}: none of its ids matches an item of {source} (e.g. {unknown[0]!r} "
                            f"vs item id {str(records[0].get('id'))!r})")
    graphs, ids = [], []
    bar = _bar(len(records), f"converting {name}", "item", progress)
    for k, rec in enumerate(records):
        bar.update(1)
        rid = str(rec.get("id", k))
        where = str(rec.get("source") or (rid if Path(source).name in rid else f"{Path(source).name} item {k}"))
        if rid not in where:
            where += f" (id {rid})"
        values, notes = [], []
        for p in properties:
            try:
                raw = getters[p](rec, rid)
            except Exception as exc:  # noqa: BLE001 - a target that cannot score this item
                if missing == "error":
                    raise DataError(f"{where}: target {p!r} cannot score it: {exc}") from None
                raw = math.nan
                notes.append(f"target {p!r} cannot score it: {exc}")
            values.append(_number(raw, where, p))
        lacking = [p for p, v in zip(properties, values) if not math.isfinite(v)]
        if lacking:
            if missing == "error":
                raise DataError(f"{where}: property {', '.join(map(repr, lacking))} is missing "
                                "(predictor.missing = 'skip' leaves such items out)")
            if missing == "skip" or len(lacking) == len(properties):
                skipped.append({"where": where, "reason": f"no value of {', '.join(lacking)}"
                                + (f" ({'; '.join(notes)})" if notes else "")})
                continue
        graph = convert_record(domain, {"obj": rec["obj"]}, where, strict, skipped)  # no props
        if graph is None:
            continue
        graph = _strip(graph, domain.spec)
        setattr(graph, _Y, torch.tensor([values], dtype=torch.float32))
        graphs.append(graph)
        ids.append(rid)
    bar.close()
    if not graphs:
        shown = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
        raise DataError(f"{source}: no item has the properties {list(properties)} ({len(skipped)} "
                        f"skipped: {shown})")
    return LabelledData(graphs, ids, skipped, sources)


def _bar(total: int | None, desc: str, unit: str, enabled: bool) -> Any:
    """A progress bar on stderr (tqdm; a silent one when not ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                leave=False)


# ============================================================================ the model
def _noise_profile(proc: Any) -> tuple:
    """A process's noise levels at a few times (its schedule, compared between two processes)."""
    times = (0.05, 0.3, 0.6, 0.95)
    schedule = getattr(proc, "schedule", None)
    if schedule is not None and hasattr(schedule, "alpha_sigma_float"):
        return tuple(round(v, 6) for t in times for v in schedule.alpha_sigma_float(t))
    if hasattr(proc, "sigma_float"):
        return tuple(round(proc.sigma_float(t), 6) for t in times)
    return (repr(schedule),)


def _as_batch_vector(batch: Any, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch [N], ptr [B+1])`` from a graph-id vector, an object with ``.batch``/``.ptr``, or
    ``None`` (one graph)."""
    ptr = getattr(batch, "ptr", None)
    vec = getattr(batch, "batch", batch)
    if vec is None:
        vec = torch.zeros(n, dtype=torch.long, device=device)
    vec = torch.as_tensor(vec, device=device).long().view(-1)
    if vec.numel() != n:
        raise GraphValidationError(f"the batch vector has {vec.numel()} entries for {n} nodes")
    if ptr is None:
        if vec.numel() > 1 and bool((vec[1:] < vec[:-1]).any()):
            raise GraphValidationError("the nodes of each graph must be contiguous (batch sorted)")
        num = int(getattr(batch, "num_graphs", 0) or (int(vec.max()) + 1 if vec.numel() else 0))
        counts = torch.bincount(vec, minlength=num)
        ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    return vec, torch.as_tensor(ptr, device=device).long()


class Predictor(nn.Module):
    """An ensemble of GNN regressors of graph-level properties on one domain's graphs.

    Parameters
    ----------
    spec:
        The domain's fields.
    properties:
        The predicted property names (``K``).
    denoiser:
        Registered denoiser name (the domain's encoder; resolved, not ``auto``).
    hidden, layers, options:
        The denoiser's hyper-parameters.
    fields:
        Field name -> :class:`~graphdiff.config.FieldProcessConfig` as a dict (input
        normalisation; noise when ``noisy``).
    ensemble:
        Number of members.
    variance:
        Members also predict a noise variance.
    noisy:
        Time-aware: ``noised`` fields are noised at a random ``t`` in training.
    noised, given:
        The fields noised (``noisy``) and those always given clean.
    domain:
        The domain's name (for messages and targets).
    offset:
        Terms of a linear baseline added to the members' prediction (``[predictor] offset``):
        ``"composition"`` and registered target names; its coefficients are the
        ``offset_coef`` buffer, fitted by :func:`train_predictor`.
    """

    def __init__(self, spec: GraphSpec, properties: Sequence[str], denoiser: str, hidden: int = 128,
                 layers: int = 4, options: dict[str, Any] | None = None,
                 fields: dict[str, dict[str, Any]] | None = None, ensemble: int = 3,
                 variance: bool = True, noisy: bool = False, noised: Sequence[str] | None = None,
                 given: Sequence[str] = (), domain: str | None = None,
                 offset: Sequence[str] = ()) -> None:
        super().__init__()
        from graphdiff.config import FieldProcessConfig
        from graphdiff.plugins import get_manager
        from graphdiff.processes import build_process

        self.spec = spec
        self.domain = domain or spec.name
        self.properties = list(properties)
        k = len(self.properties)
        self.variance, self.noisy = bool(variance), bool(noisy)
        self.given = [n for n in given if n in spec]
        self.noised = [n for n in (noised if noised is not None else spec.names)
                       if n in spec and n not in self.given] if noisy else []
        head = "predictor_head"
        while head in spec or head in spec.properties:
            head += "_"
        self.head = head
        self.width = k * (2 if self.variance else 1)
        self.ext = GraphSpec(spec.name, tuple(spec.fields) + (FieldSpec(head, "continuous", "graph",
                                                                        dim=self.width),),
                             max_nodes=spec.max_nodes)
        self.arch = {"denoiser": denoiser, "hidden": int(hidden), "layers": int(layers),
                     "options": dict(options or {}), "fields": dict(fields or {}),
                     "properties": self.properties, "ensemble": int(ensemble),
                     "variance": self.variance, "noisy": self.noisy, "noised": self.noised,
                     "given": self.given, "domain": self.domain}
        #: the baseline's terms; "composition" reads the first node categorical field
        self.offset = list(offset)
        self.offset_field = None
        if "composition" in self.offset:
            self.offset_field = next((f.name for f in spec.fields if f.level is Level.NODE
                                      and f.kind is FieldKind.CATEGORICAL), None)
            if self.offset_field is None:
                raise ConfigError(f"[predictor] offset 'composition' counts the classes of a node "
                                  f"categorical field; the {spec.name!r} graphs have none")
        if self.offset:
            if self.noisy:
                raise ConfigError("[predictor] offset is fitted on clean items: it cannot be combined "
                                  "with noisy = true (a time-aware predictor reads noisy states)")
            self.arch["offset"] = self.offset
        cfgs = {n: FieldProcessConfig.model_validate(c) for n, c in (fields or {}).items()}
        self.processes = nn.ModuleDict({n: build_process(spec[n], cfgs.get(n)) for n in spec.names})
        cls = get_manager().get("denoisers", denoiser)
        self.members = nn.ModuleList(
            cls(self.ext, {head: self.width}, cond_dim=0, hidden=hidden, layers=layers, **(options or {}))
            for _ in range(int(ensemble)))
        for member in self.members:  # e.g. the periodic radius graph reads the lattice normaliser
            if hasattr(member, "bind_processes"):
                member.bind_processes(self.processes)
        #: facts stored with the file (training data, calibration), its config and path (see load)
        self.meta: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.path: Path | None = None
        self.register_buffer("y_mean", torch.zeros(k))
        self.register_buffer("y_std", torch.ones(k))
        #: factor on the predicted std (variance scaling fitted on the validation split)
        self.register_buffer("std_scale", torch.ones(k))
        self.register_buffer("max_nodes_seen", torch.zeros((), dtype=torch.long))
        if self.offset:  # [features, K]: class fractions, target values, then the constant
            self.register_buffer("offset_coef", torch.zeros(self.offset_width, k, dtype=torch.float64))

    # ------------------------------------------------------------------ the offset (Δ-learning)
    @property
    def offset_targets(self) -> list[str]:
        """The offset's target terms (evaluated on domain objects: not differentiable)."""
        return [t for t in self.offset if t != "composition"]

    @property
    def offset_width(self) -> int:
        classes = self.spec[self.offset_field].num_classes if self.offset_field else 0
        return classes + len(self.offset_targets) + 1

    def offset_features(self, graphs: Sequence[Data], ids: Sequence[str] | None = None,
                        log: Callable[[str], None] | None = None) -> torch.Tensor:
        """The offset's design matrix ``[n, F]`` (float64): the class fractions of the node
        categorical field (``composition``), each target term's value on the item (rebuilt with
        the domain's ``from_graph``), and a constant 1. A target that fails or gives a value
        that is not finite raises :class:`DataError` naming the item."""
        targets: dict[str, Any] = {}
        domain = None
        if self.offset_targets:
            domain = _load_domain(self.domain)
            known = self._offset_known()
            for name in self.offset_targets:
                if name not in known:
                    raise ConfigError(f"offset term {name!r}: no such target of domain {self.domain!r} "
                                      f"(targets: {', '.join(sorted(known)) or 'none'}; or 'composition')")
                targets[name] = known[name]
            if log is not None:
                log(f"offset: evaluating {', '.join(targets)} on {len(graphs)} item(s)")
        rows = torch.ones(len(graphs), self.offset_width, dtype=torch.float64)
        col = 0
        if self.offset_field:
            c = self.spec[self.offset_field].num_classes
            for i, g in enumerate(graphs):
                types = getattr(g, self.offset_field).long().view(-1)
                rows[i, :c] = torch.bincount(types, minlength=c).double() / max(types.numel(), 1)
            col = c
        if targets:
            objs = [domain.from_graph(g) for g in graphs]
            for k, (name, target) in enumerate(targets.items()):
                rows[:, col + k] = torch.tensor(_target_values(target, name, objs, ids), dtype=torch.float64)
        return rows

    def offset_values(self, graphs: Sequence[Data], ids: Sequence[str] | None = None) -> torch.Tensor:
        """The baseline ``[n, K]`` (float64, CPU; zeros without an offset)."""
        if not self.offset:
            return torch.zeros(len(graphs), len(self.properties), dtype=torch.float64)
        return self.offset_features(graphs, ids) @ self.offset_coef.double().cpu()

    def _offset_known(self) -> dict[str, Any]:
        """The domain's registered targets, looked up once (guidance reads them at every step)."""
        if getattr(self, "_known_targets", None) is None:
            self._known_targets = _targets_of(self.domain)
        return self._known_targets

    def offset_gradient_free(self) -> list[str]:
        """The offset's target terms that have no differentiable ``graph_fn`` (empty: the
        predictor is differentiable)."""
        return _without_gradient(self.offset_targets, self._offset_known()) if self.offset_targets else []

    def _fields_offset(self, fields: dict[str, torch.Tensor], batch: Any, like: torch.Tensor) -> torch.Tensor:
        """The baseline ``[B, K]`` from field values: class fractions from class ids or
        probabilities (differentiable in them), each target term by its ``graph_fn`` (the
        caller has checked that every one has one)."""
        coef = self.offset_coef.to(like)
        B = like.shape[0]
        out = coef[-1].expand(B, -1)
        col = 0
        if self.offset_field:
            value = fields[self.offset_field]
            c = self.spec[self.offset_field].num_classes
            probs = value.to(like.dtype) if value.is_floating_point() and value.dim() == 2 else \
                F.one_hot(value.long().view(-1), c).to(like.dtype)
            vec, _ = _as_batch_vector(batch, probs.shape[0], like.device)
            sums = torch.zeros(B, c, dtype=like.dtype, device=like.device).index_add(0, vec, probs)
            out = out + sums / sums.sum(1, keepdim=True).clamp_min(1e-12) @ coef[:c]
            col = c
        if self.offset_targets:
            known = self._offset_known()
            for k, name in enumerate(self.offset_targets):
                value = known[name].graph_fn(fields, batch).to(like.dtype).view(B, 1)
                out = out + value * coef[col + k]
        return out

    # ------------------------------------------------------------------ statistics
    @torch.no_grad()
    def fit_statistics(self, graphs: Sequence[Data]) -> None:
        """Input normalisers (the processes' statistics) and the target standardisation, from the
        training graphs."""
        batch = Batch.from_data_list(list(graphs))
        pair_index = all_pairs(batch.ptr)[0] if self.spec.edge_field is not None else None
        for name in self.spec.names:
            x0, index = self._elements(batch, name, pair_index)
            self.processes[name].fit(x0, index)
        y = getattr(batch, _Y, None)
        if y is not None:
            y = y.double()
            for j in range(y.size(1)):
                col = y[:, j][torch.isfinite(y[:, j])]
                if col.numel():
                    self.y_mean[j] = col.mean().float()
                    std = col.std(unbiased=False).float() if col.numel() > 1 else torch.tensor(1.0)
                    self.y_std[j] = std if std > 1e-8 else 1.0
        sizes = batch.ptr[1:] - batch.ptr[:-1]
        self.max_nodes_seen.fill_(int(sizes.max()))

    def _elements(self, batch: Batch, name: str, pair_index: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        from graphdiff.diffusion import edges_to_pairs

        f = self.spec[name]
        if f.level is Level.NODE:
            return getattr(batch, name), batch.batch
        if f.level is Level.GRAPH:
            return getattr(batch, name), torch.arange(batch.num_graphs, device=batch.batch.device)
        assert pair_index is not None
        _, pair_batch = all_pairs(batch.ptr)
        x0 = edges_to_pairs(batch.edge_index, getattr(batch, name), batch.ptr, batch.batch,
                            pair_index.size(1))
        return x0, pair_batch.to(x0.device)

    # ------------------------------------------------------------------ inputs
    def inputs(self, batch: Batch, t: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> NoisyGraphs:
        """The members' input for a batch of clean graphs: every field given (``t = 0``), or,
        with ``t [B]`` (``noisy`` predictors), the :attr:`noised` fields noised at ``t``."""
        device = batch.batch.device
        B = batch.num_graphs
        pair_index, pair_batch = (all_pairs(batch.ptr) if self.spec.edge_field is not None
                                  else (None, None))
        if pair_index is not None:
            pair_index, pair_batch = pair_index.to(device), pair_batch.to(device)
        inputs = {}
        noisy = t is not None and self.noised
        for name in self.spec.names:
            x0, index = self._elements(batch, name, pair_index)
            proc = self.processes[name]
            clean = proc.clean_input(x0, index)
            if noisy and name in self.noised:
                x_t, _ = proc.noise(x0, t[index], index, generator)
                noised = proc.model_input(x_t).to(clean.dtype)
                keep = (t[index] <= 0).view(-1, *([1] * (clean.dim() - 1)))
                clean = torch.where(keep, clean, noised)
            inputs[name] = clean
        # a time-aware predictor always sees the same given-flags (those of its task), so t = 0
        # at inference looks like t = 0 in training
        given = frozenset(self.given) if self.noisy else frozenset(self.spec.names)
        tt = t if noisy else torch.zeros(B, device=device)
        return NoisyGraphs(inputs=inputs, t=tt, batch=batch.batch, ptr=batch.ptr, pair_index=pair_index,
                           pair_batch=pair_batch, given=given)

    def inputs_from_fields(self, fields: dict[str, torch.Tensor], batch: Any = None) -> NoisyGraphs:
        """Differentiable members' input from field values in their own units.

        ``fields``: node fields ``[N, d]``, graph fields ``[B, d]``; categorical fields as class
        ids (``long``) or class probabilities ``[M, C]`` (differentiable); the edge field over all
        node pairs ``i < j`` in :func:`~graphdiff.nn.base.all_pairs` order (ids ``[P]`` or
        probabilities ``[P, C]``), or absent when ``batch`` is a :class:`Batch` holding
        ``edge_index`` and the field. ``batch``: the graph of each node (``long [N]``, sorted),
        an object with ``.batch`` (and ``.ptr``), or ``None`` (one graph).
        """
        from graphdiff.diffusion import edges_to_pairs

        node = next((fields[f.name] for f in self.spec.fields if f.level is Level.NODE and f.name in fields),
                    None)
        owner = getattr(batch, "batch", batch)
        if node is not None:
            n = node.shape[0]
        elif owner is not None:  # no node field (plain graphs): the batch vector sizes the graphs
            n = len(owner)
        else:
            raise GraphValidationError(f"no node field of the {self.spec.name!r} spec among {sorted(fields)}: "
                                       "pass batch (the graph of each node) to size the graphs")
        device = next((v.device for v in fields.values() if isinstance(v, torch.Tensor)),
                      owner.device if isinstance(owner, torch.Tensor) else torch.device("cpu"))
        vec, ptr = _as_batch_vector(batch, n, device)
        B = ptr.numel() - 1
        pair_index = pair_batch = None
        if self.spec.edge_field is not None:
            pair_index, pair_batch = (x.to(device) for x in all_pairs(ptr))
        inputs = {}
        for f in self.spec.fields:
            value = fields.get(f.name)
            if value is None and f.level is Level.EDGE and getattr(batch, f.name, None) is not None:
                value = edges_to_pairs(batch.edge_index, getattr(batch, f.name), ptr, vec,
                                       pair_index.size(1))
            if value is None:
                raise GraphValidationError(f"field {f.name!r} is missing (given: {sorted(fields)})")
            index = {Level.NODE: vec, Level.GRAPH: torch.arange(B, device=device),
                     Level.EDGE: pair_batch}[f.level]
            if f.kind is FieldKind.CATEGORICAL:
                if value.is_floating_point() and value.dim() == 2:
                    x = value
                else:
                    x = F.one_hot(value.long().view(-1), f.num_classes).float()
            else:
                x = self.processes[f.name].clean_input(value, index)
            if x.shape[0] != index.numel():
                raise GraphValidationError(f"field {f.name!r}: {x.shape[0]} rows, expected {index.numel()}")
            inputs[f.name] = x
        given = frozenset(self.given) if self.noisy else frozenset(self.spec.names)
        return NoisyGraphs(inputs=inputs, t=torch.zeros(B, device=device), batch=vec, ptr=ptr,
                           pair_index=pair_index, pair_batch=pair_batch, given=given)

    # ------------------------------------------------------------------ time-aware guidance
    def process_mismatch(self, model: Any) -> list[str]:
        """Why this predictor cannot read the noisy states of diffusion model ``model`` (empty
        when it can): it must be time-aware (``noisy``), noise exactly the fields ``model``
        generates, and hold the same processes (kind, noise schedule and fitted normalisation
        of every field), as ``[predictor] processes_from`` gives it."""
        if not self.noisy:
            return ["the predictor is not time-aware (trained with noisy = false)"]
        problems = []
        gen = list(getattr(model, "generate", ()))
        if sorted(self.noised) != sorted(gen):
            problems.append(f"it was trained with {sorted(self.noised)} noised; the model generates {sorted(gen)}")
        for name in self.spec.names:
            theirs = model.processes[name] if name in model.processes else None
            if theirs is None:
                problems.append(f"the model has no process for field {name!r}")
                continue
            mine = self.processes[name]
            if type(mine) is not type(theirs):
                problems.append(f"field {name!r}: {type(mine).__name__} here, {type(theirs).__name__} in the model")
                continue
            if _noise_profile(mine) != _noise_profile(theirs):
                problems.append(f"field {name!r}: another noise schedule")
            a, b = mine.state_dict(), theirs.state_dict()
            if a.keys() != b.keys() or any(
                    a[k].shape != b[k].shape or not torch.allclose(a[k].double().cpu(), b[k].double().cpu(),
                                                                   rtol=1e-4, atol=1e-6) for k in a):
                problems.append(f"field {name!r}: another fitted normalisation (train the predictor with "
                                "[predictor] processes_from = the model's checkpoint)")
        return problems

    def noisy_inputs(self, states: dict[str, torch.Tensor], graphs: NoisyGraphs) -> NoisyGraphs:
        """The members' input for a diffusion model's noisy ``states`` (its processes' state
        space, differentiable) and its denoiser's ``graphs`` (``t``, the given fields' inputs),
        for a predictor whose :meth:`process_mismatch` with that model is empty."""
        inputs = {}
        for name in self.spec.names:
            if name in states and name in self.noised:
                x = states[name]
                inputs[name] = self.processes[name].model_input(x)
            else:
                inputs[name] = graphs.inputs[name]
        return NoisyGraphs(inputs=inputs, t=graphs.t, batch=graphs.batch, ptr=graphs.ptr,
                           pair_index=graphs.pair_index, pair_batch=graphs.pair_batch,
                           given=frozenset(self.given))

    def predict_noisy(self, states: dict[str, torch.Tensor], graphs: NoisyGraphs
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble mean and std ``[B, K]`` (own units) from noisy states at ``graphs.t``
        (differentiable in ``states``; see :meth:`noisy_inputs`)."""
        return self(self.noisy_inputs(states, graphs))

    # ------------------------------------------------------------------ outputs
    def member_outputs(self, m: int, graphs: NoisyGraphs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Member ``m``'s standardised mean ``[B, K]`` and variance ``[B, K]`` (``None`` without
        ``variance``)."""
        B = graphs.num_graphs
        like = graphs.batch
        head = torch.zeros(B, self.width, device=like.device)
        out = self.members[m](graphs.with_inputs(**{self.head: head}))[self.head]
        k = len(self.properties)
        mu = out[:, :k]
        var = F.softplus(out[:, k:]) + 1e-4 if self.variance else None
        return mu, var

    def forward(self, graphs: NoisyGraphs) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble mean and std ``[B, K]`` in the properties' own units."""
        mus, vars_ = [], []
        for m in range(len(self.members)):
            mu, var = self.member_outputs(m, graphs)
            mus.append(mu)
            if var is not None:
                vars_.append(var)
        mu = torch.stack(mus)                                    # [M, B, K]
        mean = mu.mean(0)
        total = ((mu - mean) ** 2).mean(0)
        if vars_:
            total = total + torch.stack(vars_).mean(0)
        std = total.clamp_min(0).sqrt()
        return mean * self.y_std + self.y_mean, std * self.y_std * self.std_scale

    def check_graphs(self, graphs: Sequence[Data], ids: Sequence[str] | None = None) -> None:
        """Validate input graphs against the predictor's spec (a graph of another domain fails
        here, naming the item)."""
        for i, g in enumerate(graphs):
            where = f"item {ids[i]}" if ids is not None else f"item {i}"
            try:
                self.spec.validate(g, where=where)
            except GraphValidationError as exc:
                raise GraphValidationError(f"{exc} (the predictor reads {self.domain!r} graphs with "
                                           f"fields {self.spec.names})") from None

    @torch.no_grad()
    def predict(self, graphs: Sequence[Data], batch_size: int = 256, ids: Sequence[str] | None = None,
                base: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std ``[n, K]`` (float64, CPU) for clean graphs of the domain. With an offset,
        the mean includes the baseline (``base``: its values when already computed)."""
        self.check_graphs(graphs, ids)
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        means, stds = [], []
        try:
            for start in range(0, len(graphs), batch_size):
                chunk = [_strip(g, self.spec) for g in graphs[start:start + batch_size]]
                batch = Batch.from_data_list(chunk).to(device)
                mean, std = self(self.inputs(batch))
                means.append(mean.double().cpu())
                stds.append(std.double().cpu())
        finally:
            self.train(was)
        k = len(self.properties)
        if not means:
            return torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, k, dtype=torch.float64)
        mean = torch.cat(means)
        if self.offset:
            mean = mean + (base if base is not None else self.offset_values(graphs, ids))
        return mean, torch.cat(stds)

    def predict_objects(self, objs: Sequence[Any], domain: Any = None, batch_size: int = 256
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std ``[n, K]`` for domain objects (converted with the domain's ``to_graph``)."""
        domain = domain or _load_domain(self.domain)
        graphs = []
        for i, obj in enumerate(objs):
            try:
                graphs.append(domain.to_graph(obj))
            except (DataError, GraphValidationError, ValueError, TypeError, AttributeError) as exc:
                raise DataError(f"item {i}: the {self.domain!r} predictor cannot read a "
                                f"{type(obj).__name__}: {exc}") from None
        return self.predict(graphs, batch_size)

    def predict_fields(self, fields: dict[str, torch.Tensor], batch: Any = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable mean and std ``[B, K]`` from field values (see :meth:`inputs_from_fields`)."""
        missing = self.offset_gradient_free()
        if missing:
            raise ConfigError(f"the predictor's offset reads the target(s) {missing}, which are not "
                              "differentiable, so neither is the predictor (no gradient guidance; "
                              "rank or evaluate with it instead)")
        was = self.training
        self.eval()
        try:
            mean, std = self(self.inputs_from_fields(fields, batch))
            if self.offset:
                mean = mean + self._fields_offset(fields, batch, mean)
            return mean, std
        finally:
            self.train(was)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, config: dict[str, Any] | None = None,
             meta: dict[str, Any] | None = None) -> Path:
        """Write the predictor to one file, atomically (read with ``weights_only=True``)."""
        from graphdiff.model import save_checkpoint

        return save_checkpoint(path, {"format": PREDICTOR_FORMAT, "version": 1,
                                      "arch": json.dumps(self.arch), "spec": json.dumps(self.spec.to_dict()),
                                      "config": json.dumps(config or {}), "meta": json.dumps(meta or {}),
                                      "state": {k: v.detach().cpu() for k, v in self.state_dict().items()}})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Predictor":
        """A predictor written by :meth:`save` (eval mode); ``.meta`` and ``.config`` hold the
        stored facts (training data, calibration) and the config it was trained with."""
        path = Path(path)
        ckpt = _read_file(path)
        try:
            arch = json.loads(ckpt["arch"])
            spec = GraphSpec.from_dict(json.loads(ckpt["spec"]))
            model = cls(spec, arch["properties"], arch["denoiser"], arch["hidden"], arch["layers"],
                        arch["options"], arch["fields"], arch["ensemble"], arch["variance"],
                        arch["noisy"], arch["noised"], arch["given"], arch["domain"], arch.get("offset", ()))
            state = dict(ckpt["state"])
            state.setdefault("std_scale", torch.ones(len(arch["properties"])))  # files from before it
            model.load_state_dict(state)
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: the predictor cannot be rebuilt "
                                  f"({type(exc).__name__}: {exc})") from None
        model.meta = json.loads(ckpt.get("meta") or "{}")
        model.config = json.loads(ckpt.get("config") or "{}")
        model.path = path
        model.eval()
        return model.to(device)


def _load_domain(name: str) -> Any:
    from graphdiff.plugins import get_manager

    return get_manager().get("domains", name)


def bundled_predictors() -> dict[str, Path]:
    """``{name: file}`` of the predictor files the installed plugins register as targets (a
    bundled predictor's name is its file's stem: ``perov5-heat``, ``qm9-gap``)."""
    from graphdiff.plugins import get_manager

    out: dict[str, Path] = {}
    for entry in get_manager().registry("targets").entries():
        src = entry.meta("source", None, load=False)  # predictor targets say so at registration
        if src:
            out.setdefault(Path(src).stem, Path(src))
    return dict(sorted(out.items()))


def predictor_target_files() -> dict[str, Path]:
    """``{target name: predictor file}`` of the registered targets that read a predictor file
    (``perov5-heat_ref``: the bundled ``perov5-heat``), so that a predictor is found by the name
    of any of its targets as well as by its own."""
    from graphdiff.plugins import get_manager

    out: dict[str, Path] = {}
    for entry in get_manager().registry("targets").entries():
        src = entry.meta("source", None, load=False)
        if src:
            out[entry.name] = Path(src)
    return dict(sorted(out.items()))


def resolve_predictor(ref: str | Path) -> Path:
    """A predictor file from a path, a bundled predictor's name (:func:`bundled_predictors`:
    ``perov5-heat``) or the name of one of its registered targets
    (:func:`predictor_target_files`: ``perov5-heat_ref``), so that one name works wherever a
    predictor or a target is accepted.

    A reference that names none of these raises :class:`~graphdiff.errors.CheckpointError`
    listing the bundled names and their targets."""
    path = Path(ref)
    if path.is_file():
        return path.resolve()
    bundled = bundled_predictors()
    if str(ref) in bundled:
        return bundled[str(ref)]
    by_target = predictor_target_files()
    if str(ref) in by_target:
        return by_target[str(ref)]
    targets: dict[Path, list[str]] = {}
    for name, file in by_target.items():
        targets.setdefault(file.resolve(), []).append(name)
    names = ", ".join(f"{stem}" + (f" (targets {', '.join(t)})" if (t := [x for x in targets.get(f.resolve(), [])
                                                                          if x != stem]) else "")
                      for stem, f in bundled.items()) or "none installed"
    raise CheckpointError(f"{ref}: no such predictor file, nor a bundled predictor or predictor target "
                          f"(bundled: {names})")


def _as_predictor(p: "Predictor | str | Path") -> Predictor:
    return p if isinstance(p, Predictor) else _cached_load(str(Path(p).resolve()))


_CACHE: dict[tuple[str, float], Predictor] = {}
_HEADERS: dict[tuple[str, float], dict[str, Any]] = {}


def _read_file(path: Path, mmap: bool = False) -> dict[str, Any]:
    from graphdiff.model import load_torch_file

    ckpt = load_torch_file(path, "predictor", mmap=mmap)
    if not isinstance(ckpt, dict) or ckpt.get("format") != PREDICTOR_FORMAT:
        kind = ("a diffusion model checkpoint" if isinstance(ckpt, dict)
                and ckpt.get("format") == "graphdiff-checkpoint" else "not a graphdiff predictor")
        raise CheckpointError(f"{path}: {kind}, not a predictor (train one with "
                              "`graphdiff predictor train CONFIG`)")
    return ckpt


def predictor_header(path: str | Path) -> dict[str, Any]:
    """What a predictor file predicts, without building its networks (no plugin look-ups):
    ``{"domain", "properties", "name", "meta", "arch"}``."""
    path = Path(path).resolve()
    try:
        key = (str(path), os.stat(path).st_mtime)
    except OSError:
        raise CheckpointError(f"{path}: no such predictor file") from None
    if key not in _HEADERS:
        ckpt = _read_file(path, mmap=True)
        try:
            arch, meta = json.loads(ckpt["arch"]), json.loads(ckpt.get("meta") or "{}")
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: unreadable predictor header ({exc})") from None
        _HEADERS[key] = {"domain": arch["domain"], "properties": list(arch["properties"]),
                         "name": meta.get("name"), "meta": meta, "arch": arch,
                         "members": int(arch["ensemble"])}
    return _HEADERS[key]


def _cached_load(path: str) -> Predictor:
    """:meth:`Predictor.load`, once per file version (targets call it per object)."""
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        raise CheckpointError(f"{path}: no such predictor file") from None
    if key not in _CACHE:
        _CACHE[key] = Predictor.load(path)
    return _CACHE[key]


# ============================================================================ training
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
    """The trainer's warm-up and cosine schedule (:func:`graphdiff.training._lr_lambda`) over
    ``steps`` (a ``--max-steps`` override stretches it, not only ``training.max_steps``), or over
    the member's share of ``training.max_minutes`` when that ends first (``time_progress()``:
    the fraction of it used), so a member stopped by the budget still ends at the low rate."""
    from graphdiff.training import _lr_lambda

    return _lr_lambda(tc.model_copy(update={"max_steps": int(steps)}), time_progress)


@torch.no_grad()
def _member_val(model: Predictor, m: int, batches: list[Batch]) -> tuple[float, float]:
    """Member ``m``'s mean squared and mean absolute error of the standardised mean on
    validation batches."""
    sq, ab, count = 0.0, 0.0, 0
    for batch in batches:
        mu, _ = model.member_outputs(m, model.inputs(batch))
        z = (getattr(batch, _Y) - model.y_mean) / model.y_std
        mask = torch.isfinite(z)
        r = (mu - torch.where(mask, z, torch.zeros_like(z))) * mask
        sq += float((r ** 2).sum())
        ab += float(r.abs().sum())
        count += int(mask.sum())
    return sq / max(count, 1), ab / max(count, 1)


def calibration(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, properties: Sequence[str],
                baseline: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """Per property: ``n``, MAE, RMSE, R², the fractions of ``|y − mean|`` within 1 and 2
    predicted std (ideal 0.683 / 0.954), the mean predicted std, the RMS of ``(y − mean)/std``
    (1 when calibrated), the Gaussian NLL, and the MAE of predicting ``baseline`` (the training
    mean) for every item. Items with a missing ``y`` are left out."""
    out: dict[str, dict[str, Any]] = {}
    for j, p in enumerate(properties):
        mask = torch.isfinite(y[:, j])
        yy, mm, ss = y[mask, j].double(), mean[mask, j].double(), std[mask, j].double()
        n = int(yy.numel())
        if n == 0:
            out[p] = {"n": 0}
            continue
        err = yy - mm
        var_y = float(((yy - yy.mean()) ** 2).mean())
        mse = float((err ** 2).mean())
        safe = ss.clamp_min(1e-12)
        row = {
            "n": n,
            "mae": float(err.abs().mean()),
            "rmse": math.sqrt(mse),
            "r2": (1 - mse / var_y) if var_y > 0 else float("nan"),
            "within_1std": float((err.abs() <= ss).double().mean()),
            "within_2std": float((err.abs() <= 2 * ss).double().mean()),
            "ideal_1std": _IDEAL_1,
            "ideal_2std": _IDEAL_2,
            "mean_std": float(ss.mean()),
            "z_rms": float(((err / safe) ** 2).mean().sqrt()),
            "nll": float((0.5 * torch.log(2 * math.pi * safe ** 2) + 0.5 * (err / safe) ** 2).mean()),
        }
        if baseline is not None:
            row["baseline_mae"] = float((yy - float(baseline[j])).abs().mean())
        out[p] = row
    return out


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
                       getattr(batch, _Y), pc.loss)
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


@torch.no_grad()
def _member_predict(model: Predictor, m: int, graphs: Sequence[Data], batch_size: int,
                    base: torch.Tensor | None = None) -> torch.Tensor:
    """Member ``m``'s mean ``[n, K]`` (float64, CPU, the properties' units; with an offset, plus
    the baseline, ``base`` when already computed)."""
    device = next(model.parameters()).device
    mus = [model.member_outputs(m, model.inputs(Batch.from_data_list(
        [_strip(g, model.spec) for g in graphs[i:i + batch_size]]).to(device)))[0].double().cpu()
        for i in range(0, len(graphs), batch_size)]
    if not mus:
        return torch.zeros(0, len(model.properties), dtype=torch.float64)
    mean = torch.cat(mus) * model.y_std.double().cpu() + model.y_mean.double().cpu()
    if model.offset:
        mean = mean + (base if base is not None else model.offset_values(graphs))
    return mean


def _validation_report(model: Predictor, val: LabelledData, batch_size: int, out: Path,
                       folds: list[list[int]] | None = None, base: torch.Tensor | None = None,
                       label_mean: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """Calibration of the ensemble (and each member's MAE) on ``val``; writes
    ``val_predictions.csv``. With ``folds`` (cross-validation; ``val`` is then every row) it is
    out-of-fold: each row's mean is that of the member that never saw it, its std the one the
    ensemble reports for the row (noise and members' spread, as for any input), and
    ``member_mae`` is each member's on its fold. A member's error is larger than the ensemble
    mean's, so the std fitted to it (recalibration) errs on the wide side. ``base``: the
    offset's values on ``val`` (computed when None); ``offset_mae`` is the baseline's alone.
    ``label_mean``: the training labels' mean (default ``model.y_mean``, which an offset makes
    the residuals' mean), the predict-the-mean reference."""
    props = model.properties
    y = torch.cat([getattr(g, _Y) for g in val.graphs]).double()
    base = model.offset_values(val.graphs, val.ids) if base is None else base
    mean, std = model.predict(val.graphs, batch_size, val.ids, base=base)
    if folds is None:
        parts = [(m, list(range(len(val)))) for m in range(len(model.members))]
    else:  # the mean becomes the out-of-fold one; the std stays the ensemble's
        parts, mean = list(enumerate(folds)), torch.full_like(y, math.nan)
    member_mae: dict[str, list[float]] = {p: [] for p in props}
    for m, idx in parts:
        mu = _member_predict(model, m, [val.graphs[i] for i in idx], batch_size, base[idx])
        if folds is not None:
            mean[idx] = mu
        for j, p in enumerate(props):
            ok = torch.isfinite(y[idx, j])
            if ok.any():
                member_mae[p].append(float((mu[ok, j] - y[idx][ok, j]).abs().mean()))
    report = calibration(y, mean, std, props,
                         model.y_mean.double().cpu() if label_mean is None else label_mean)
    for j, p in enumerate(props):
        if member_mae[p]:
            report[p]["member_mae"] = member_mae[p]
        ok = torch.isfinite(y[:, j])
        if model.offset and ok.any():  # the baseline alone
            report[p]["offset_mae"] = float((base[ok, j] - y[ok, j]).abs().mean())
    with open(out / "val_predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id"] + [c for p in props for c in (p, f"{p}_pred", f"{p}_std")])
        for i, rid in enumerate(val.ids):
            w.writerow([rid] + [repr(float(v)) for j in range(len(props))
                                for v in (y[i, j], mean[i, j], std[i, j])])
    return report


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
    from graphdiff.model import _auto_denoiser
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
    denoiser = cfg.model.denoiser if cfg.model.denoiser != "auto" else _auto_denoiser(domain, spec)
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
                    setattr(g, _Y, y)
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
        report["properties"] = _validation_report(model, val, d.batch_size, out, folds, base,
                                                  fitted and fitted["label_mean"])
        if pc.recalibrate and (pc.variance or pc.ensemble > 1):
            scale = [float(report["properties"].get(p, {}).get("z_rms") or 1.0) for p in pc.properties]
            scale = [x if math.isfinite(x) and x > 0 else 1.0 for x in scale]
            model.std_scale.copy_(torch.tensor(scale, dtype=model.std_scale.dtype))
            after = _validation_report(model, val, d.batch_size, out, folds, base, fitted and fitted["label_mean"])
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
            "label_range": _label_range(train, pc.properties),
            "classes_seen": _classes_seen(train.graphs, spec)}
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
    labels = [getattr(g, _Y) for g in train.graphs + val.graphs]
    x_train = model.offset_features(train.graphs, train.ids, log=say)
    x_val = model.offset_features(val.graphs, val.ids, log=say) if len(val) else x_train[:0]
    y = torch.cat([getattr(g, _Y) for g in train.graphs]).double() if len(train) else x_train[:, :0]
    coef = torch.zeros(model.offset_width, len(model.properties), dtype=torch.float64)
    for j, prop in enumerate(model.properties):
        ok = torch.isfinite(y[:, j])
        if int(ok.sum()) == 0:
            raise DataError(f"[predictor] offset: no training row has {prop!r}")
        coef[:, j] = torch.linalg.lstsq(x_train[ok], y[ok, j:j + 1], driver="gelsd").solution[:, 0]
    model.offset_coef.copy_(coef)
    base_train, base_val = x_train @ coef, x_val @ coef
    for g, b in zip(train.graphs + val.graphs, torch.cat([base_train, base_val])):
        setattr(g, _Y, (getattr(g, _Y).double() - b.view(1, -1)).to(getattr(g, _Y).dtype))
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


def _class_fields(spec: GraphSpec) -> list[FieldSpec]:
    """The node categorical fields (a crystal's or molecule's atom types)."""
    return [f for f in spec.fields if f.level is Level.NODE and f.kind is FieldKind.CATEGORICAL]


def _classes_seen(graphs: Sequence[Data], spec: GraphSpec) -> dict[str, list[int]]:
    """``{field: sorted class indices}`` of the node categorical fields over ``graphs`` (stored
    with a predictor: :func:`out_of_domain` flags items with other classes)."""
    out = {}
    for f in _class_fields(spec):
        seen: set[int] = set()
        for g in graphs:
            seen.update(getattr(g, f.name).long().view(-1).unique().tolist())
        out[f.name] = sorted(seen)
    return out


def _label_range(data: LabelledData, properties: Sequence[str]) -> dict[str, list[float]]:
    """``{property: [min, max]}`` of the training labels (requests outside it are warned about)."""
    if not data.graphs:
        return {}
    y = torch.cat([g.predictor_y.view(1, -1) for g in data.graphs], 0)
    out = {}
    for k, prop in enumerate(properties):
        col = y[:, k][torch.isfinite(y[:, k])]
        if col.numel():
            out[prop] = [float(col.min()), float(col.max())]
    return out


# ============================================================================ out of domain
def training_classes(predictor: "Predictor | str | Path") -> dict[str, set[int] | None]:
    """``{field: class indices seen in training}`` of each node categorical field of a predictor
    (a crystal's or molecule's ``atom_types``; ``None`` where it cannot be known).

    A predictor trained by this version records them (``meta["classes_seen"]``, from every
    training item). For an older file they are read from the field's fitted marginal prior: a
    class absent from the training data keeps only the prior's floor (1e-4 of the mass, shared),
    a class seen once in up to a million nodes stands clear above it; a field without a marginal
    prior gives ``None``."""
    model = _as_predictor(predictor)
    recorded = (model.meta or {}).get("classes_seen") or {}
    out: dict[str, set[int] | None] = {}
    for f in _class_fields(model.spec):
        if f.name in recorded:
            out[f.name] = {int(c) for c in recorded[f.name]}
            continue
        proc = model.processes[f.name] if f.name in model.processes else None
        if getattr(proc, "prior_kind", None) != "marginal":
            out[f.name] = None
            continue
        m = proc.m.detach().double().cpu()
        floor = 1e-4 / (1 + 1e-4 * f.num_classes)
        out[f.name] = set(torch.nonzero(m > floor * 1.001).view(-1).tolist())
    return out


def out_of_domain(predictor: "Predictor | str | Path", graphs: Sequence[Data]) -> list[str]:
    """Per graph, why the predictor extrapolates on it (``""``: inside its training data): node
    classes the training items never had (``"atom_types not in the training data: C"``), and
    more nodes than any training item had. The prediction is still made; this says how far to
    trust it."""
    model = _as_predictor(predictor)
    seen = training_classes(model)
    largest = int(model.max_nodes_seen) if hasattr(model, "max_nodes_seen") else 0
    out = []
    for g in graphs:
        reasons = []
        for name, known in seen.items():
            if known is None or getattr(g, name, None) is None:
                continue
            new = sorted(set(getattr(g, name).long().view(-1).unique().tolist()) - known)
            if new:
                labels = model.spec[name].labels
                shown = [labels[c] if labels and 0 <= c < len(labels) else str(c) for c in new]
                reasons.append(f"{name} not in the training data: {', '.join(shown)}")
        n = int(g.num_nodes)
        if largest and n > largest:
            reasons.append(f"{n} nodes, more than any training item ({largest})")
        out.append("; ".join(reasons))
    return out


def out_of_domain_objects(predictor: "Predictor | str | Path", objs: Sequence[Any],
                          domain: Any = None) -> list[str]:
    """:func:`out_of_domain` of domain objects (converted with the predictor's domain, or
    ``domain``); an object that cannot be converted gets the reason it cannot."""
    model = _as_predictor(predictor)
    domain = domain or _load_domain(model.domain)
    out = []
    for i, obj in enumerate(objs):
        try:
            graph = domain.to_graph(obj)
        except Exception as exc:  # noqa: BLE001 - reported for this item
            out.append(f"cannot convert item {i}: {type(exc).__name__}: {exc}")
            continue
        out += out_of_domain(model, [graph])
    return out


# ============================================================================ prediction files
def _id_column_name(path: Path, ids: Sequence[str]) -> str:
    """The input CSV's column holding the items' ids (the first few suffice), else ``"id"``."""
    wanted = set(list(ids)[:5])
    if path.suffix.lower() != ".csv" or not wanted:
        return "id"
    try:
        csv.field_size_limit(1 << 30)
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            seen: list[set[str]] = [set() for _ in header]
            for row in reader:
                for c, value in enumerate(row[:len(header)]):
                    seen[c].add(value.strip())
                found = [c for c in range(len(header)) if header[c] and wanted <= seen[c]]
                if found:
                    return header[found[0]]
    except (OSError, csv.Error, UnicodeDecodeError):
        pass
    return "id"


def predict_file(predictor: "Predictor | str | Path", input_path: str | Path, out_path: str | Path, *,
                 strict: bool = False, id_column: str | None = None, batch_size: int = 256,
                 flagged: list[dict[str, str]] | None = None, **options: Any) -> tuple[int, list[dict[str, str]]]:
    """Predict every item of ``input_path`` (read with the predictor's domain) into the CSV
    ``out_path``: the input's id column, then per property ``NAME`` and ``NAME_std``, then
    ``out_of_domain``: why the predictor extrapolates on the item (:func:`out_of_domain`: node
    classes, e.g. elements, that no training item had; more nodes than any had), empty when it
    does not.

    Items are read, converted and predicted ``batch_size`` at a time; the output appears (by
    a rename) only when every item is done. Returns the number of rows written and the skipped
    items (reader or converter rejects; ``strict``: raised instead). ``flagged`` receives
    ``{"id", "where", "reason"}`` for each item out of the training domain.
    """
    model = _as_predictor(predictor)
    domain = _load_domain(model.domain)
    from graphdiff.data import is_dataset_uri

    out_path = Path(out_path)
    if not is_dataset_uri(str(input_path)):  # a dataset URI stays a string: a Path collapses "//"
        input_path = Path(input_path)
        if not input_path.exists():
            raise DataError(f"{input_path}: no such file or folder")
    trained = model.meta.get("domain_version")
    if trained is not None and str(trained) != str(domain.version):
        warnings.warn(f"the predictor was trained on version {trained} of domain {model.domain!r}; "
                      f"version {domain.version} is installed (its graphs may differ)", RuntimeWarning,
                      stacklevel=2)
    props = model.properties
    skipped: list[dict[str, str]] = []
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    count = 0
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)

            def flush(graphs: list[Data], ids: list[str], wheres: list[str]) -> None:
                nonlocal count
                if count == 0:
                    column = id_column or _id_column_name(Path(str(input_path)), ids)
                    if column in props or column in {f"{p}_std" for p in props}:
                        column = f"{column}_id"
                    writer.writerow([column] + [c for p in props for c in (p, f"{p}_std")] + ["out_of_domain"])
                mean, std = model.predict(graphs, batch_size, ids)
                reasons = out_of_domain(model, graphs)
                for i, rid in enumerate(ids):
                    writer.writerow([rid] + [repr(float(v)) for j in range(len(props))
                                             for v in (mean[i, j], std[i, j])] + [reasons[i]])
                    if reasons[i] and flagged is not None:
                        flagged.append({"id": rid, "where": wheres[i], "reason": reasons[i]})
                count += len(ids)

            graphs, ids, wheres = [], [], []
            try:
                for k, rec in enumerate(domain.read(input_path, strict=strict, skipped=skipped, **options)):
                    rid = str(rec.get("id", k))
                    where = str(rec.get("source") or rid)
                    g = convert_record(domain, {"obj": rec["obj"]}, where, strict, skipped, spec=model.spec)
                    if g is None:
                        continue
                    graphs.append(g)
                    ids.append(rid)
                    wheres.append(where)
                    if len(graphs) == batch_size:
                        flush(graphs, ids, wheres)
                        graphs, ids, wheres = [], [], []
            except DataError as exc:
                raise DataError(f"{input_path}: cannot read it as a {model.domain!r} file (the predictor "
                                f"predicts {model.domain!r} items): {exc}") from None
            if graphs:
                flush(graphs, ids, wheres)
        if count == 0:
            shown = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
            raise DataError(f"{input_path}: no {model.domain!r} item to predict"
                            + (f" ({len(skipped)} skipped: {shown})" if skipped else ""))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return count, skipped


# ============================================================================ targets
def predictor_targets(predictor: "Predictor | str | Path", name: str | None = None) -> list[Any]:
    """One :class:`~graphdiff.targets.Target` per property of a predictor, named
    ``'<name>-<property>'`` (``name``: the predictor's ``[predictor] name``, default
    ``'<domain>-predicted'``)."""
    from graphdiff.targets import predictor_target

    props = predictor.properties if isinstance(predictor, Predictor) else predictor_header(predictor)["properties"]
    return [predictor_target(predictor, p, name=name) for p in props]


def register_predictor(path: str | Path, name: str | None = None, manager: Any = None) -> list[str]:
    """Register a predictor's properties as targets of the running plugin manager (a plugin named
    ``predictor:<path>``); returns the target names."""
    from graphdiff.plugins import get_manager
    from graphdiff.plugins.hookspecs import hookimpl

    manager = manager or get_manager()
    targets = predictor_targets(Path(path).resolve(), name=name)

    class _Plugin:
        @hookimpl
        def register_targets(self, register):
            for t in targets:
                register(t.name, t, description=t.description)

    label = f"predictor:{Path(path).resolve()}"
    if label in manager.plugins:
        return [t.name for t in targets]
    manager.add_plugin(_Plugin(), label)
    return [t.name for t in targets]


def env_predictor_targets() -> list[Any]:
    """The targets of every predictor that :data:`PREDICTORS_ENV` lists (files, or folders whose
    ``*.pt`` predictors are all taken); the built-ins register them."""
    found = []
    for item in (os.environ.get(PREDICTORS_ENV) or "").split(os.pathsep):
        if not item.strip():
            continue
        p = Path(item.strip()).expanduser()
        files = sorted(p.glob("**/*.pt")) if p.is_dir() else [p]
        for f in files:
            try:
                found.extend(predictor_targets(f))
            except CheckpointError:
                if not p.is_dir():
                    raise
    return found


#: How gradient guidance reads a target: ``auto`` (a time-aware target on the noisy states when it
#: fits the model, else the target on the clean estimate), ``clean`` or ``noisy`` (an error when
#: the target cannot).
GUIDANCE_MODES = ("auto", "clean", "noisy")


def guidance_reading(model: Any, target: Any, mode: str = "auto") -> tuple[str, str]:
    """``("noisy" | "clean", why)``: how guidance by ``target`` reads ``model``'s states under
    ``mode`` (:data:`GUIDANCE_MODES`). Raises :class:`ConfigError` when ``mode = "noisy"`` and the
    target cannot, or when the chosen reading does not exist."""
    name = getattr(target, "name", target)
    if mode not in GUIDANCE_MODES:
        raise ConfigError(f"guidance mode {mode!r}: choose one of {', '.join(GUIDANCE_MODES)}")
    noisy = getattr(target, "noisy_fn", None)
    clean = getattr(target, "graph_fn", None)
    if mode != "clean" and noisy is not None:
        check = getattr(target, "noisy_check", None)
        problems = check(model) if check is not None else []
        if not problems:
            return "noisy", "time-aware: the target reads the noisy states at each step"
        if mode == "noisy" or clean is None:
            raise ConfigError(f"target {name!r} cannot read this model's noisy states: " + "; ".join(problems))
        return "clean", "on the clean estimate (its time-aware reading does not fit this model: " + \
            "; ".join(problems) + ")"
    if mode == "noisy":
        raise ConfigError(f"target {name!r} is not time-aware (no noisy reading): use guidance mode "
                          "'clean' or 'auto', or train a predictor with noisy = true")
    if clean is None:
        raise ConfigError(f"target {name!r} is not differentiable (no graph_fn)")
    return "clean", "on the clean estimate"


def target_guidance(model: Any, target: Any, goal: float | None = None, scale: float = 1.0,
                    mode: str = "auto") -> Any:
    """A :class:`~graphdiff.diffusion.GradientGuidance` that steers sampling with a differentiable
    target: towards larger values (``goal=None``) or towards ``goal`` (minimising the squared
    distance).

    ``mode`` (:data:`GUIDANCE_MODES`): a time-aware target (``target.noisy_fn``, a predictor
    trained with ``noisy = true`` on the model's own processes) reads the noisy states at each
    step (``GradientGuidance.noisy_fn``); otherwise ``target.graph_fn`` reads the clean
    estimates of the continuous fields, mapped back to their units with the model's processes,
    categorical fields entering as the model's current inputs (class probabilities).
    """
    from graphdiff.diffusion import GradientGuidance

    reading, _ = guidance_reading(model, target, mode)

    def towards(value: torch.Tensor) -> torch.Tensor:
        return value if goal is None else -(value - float(goal)) ** 2

    if reading == "noisy":
        noisy_fn = target.noisy_fn
        return GradientGuidance(None, scale, noisy_fn=lambda states, graphs: towards(noisy_fn(states, graphs)))
    graph_fn = target.graph_fn

    def fn(x0_hat: dict[str, torch.Tensor], graphs: NoisyGraphs) -> torch.Tensor:
        fields = {}
        for name, value in {**graphs.inputs, **x0_hat}.items():
            proc = model.processes[name] if name in model.processes else None
            if proc is None:
                continue
            # categorical inputs are class probabilities already; the others are states
            fields[name] = value if proc.kind is FieldKind.CATEGORICAL else proc.finalize(value)
        return towards(graph_fn(fields, graphs))

    return GradientGuidance(fn, scale)
