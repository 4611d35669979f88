"""Run configurations: pydantic v2 models read from TOML, YAML or JSON.

A run config has five sections — ``data``, ``model``, ``diffusion``, ``training``,
``sampling`` — each with defaults except ``data.domain``. Unknown keys are errors (a typo must
not be ignored silently). Every validation error names the file and the dotted field path::

    run.toml: data.batch_size: Input should be greater than 0 (got -4)

Relative paths inside a config file are resolved against the file's folder.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError,
                      field_validator, model_serializer)

from graphdiff.errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "FieldProcessConfig",
    "DiffusionConfig",
    "TrainingConfig",
    "SamplingConfig",
    "RunConfig",
    "load_config",
    "parse_config",
    "dump_config",
    "format_errors",
    "check_registered_names",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: keys written out only when they differ from their default, so that a config that does
    #: not use them dumps (and is stored in checkpoints) exactly as before they existed
    _omit_defaults: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in self._omit_defaults:
                if key in data and getattr(self, key) == type(self).model_fields[key].get_default(
                        call_default_factory=True):
                    del data[key]
        return data


class DataConfig(_Section):
    """Which domain, which data, how to split and batch it."""

    domain: str = Field(description="registered domain name, e.g. 'crystals'")
    source: str | None = Field(None, description="path the domain reads (CSV, folder, database)")
    train_source: str | None = Field(None, description="separate training source (overrides split)")
    val_source: str | None = Field(None, description="separate validation source (overrides split)")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    split_seed: int = 0
    max_items: int | None = Field(None, gt=0, description="read at most this many items")
    batch_size: int = Field(64, gt=0)
    cache: bool = Field(True, description="cache converted graphs (keyed by source bytes and converter version)")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the domain reader")


class ModelConfig(_Section):
    """The denoiser: a registered name and its hyper-parameters."""

    denoiser: str = Field("auto", description="registered denoiser, or 'auto' (domain default)")
    hidden: int = Field(128, gt=0)
    layers: int = Field(4, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    encoder: str | None = Field(None, description="registered encoder of the denoiser's inputs "
                                                  "(graphdiff plugins); default: the denoiser's own, "
                                                  "'fields' for the built-ins")
    encoder_options: dict[str, Any] = Field(default_factory=dict, description="options of the encoder")

    _omit_defaults = ("encoder", "encoder_options")


class FieldProcessConfig(_Section):
    """How one field is diffused."""

    schedule: str = "cosine"
    schedule_options: dict[str, Any] = Field(default_factory=dict)
    prediction: Literal["eps", "x0", "v"] = "eps"
    skip: bool = Field(False, description="Gaussian fields: the network learns the residual to the "
                                          "linear estimate of its target (sigma_t x_t for eps)")
    prior: Literal["uniform", "marginal", "absorbing"] = Field(
        "marginal", description="categorical fields: where noise takes a class; 'absorbing' = class 0 "
                                "(for edges: noise only deletes them, the partner of diffusion.constraint)")
    sigma_min: float = Field(0.005, gt=0.0)
    sigma_max: float = Field(0.5, gt=0.0)
    loss_weight: float = Field(1.0, ge=0.0)
    objective: str | None = Field(None, description="registered training objective of this field "
                                                    "(default: diffusion.objective)")
    objective_options: dict[str, Any] = Field(default_factory=dict, description="options of the objective")

    _omit_defaults = ("objective", "objective_options")


class DiffusionConfig(_Section):
    """Which fields are generated or given, conditioning, and per-field processes."""

    generate: list[str] | None = Field(None, description="fields to generate (default: all not given)")
    given: list[str] = Field(default_factory=list, description="fields given as context (e.g. CSP)")
    fields: dict[str, FieldProcessConfig] = Field(default_factory=dict)
    condition: list[str] = Field(default_factory=list, description="graph properties to condition on")
    cond_drop: float = Field(0.1, ge=0.0, le=1.0, description="condition dropout (classifier-free)")
    constraint: str | None = Field(None, description="registered edge constraint (e.g. 'planar') kept in every "
                                                     "state of the reverse process by projection")
    objective: str = Field("denoising", description="registered training objective of every generated field "
                                                    "whose kind it takes (the others keep 'denoising')")
    objective_options: dict[str, Any] = Field(default_factory=dict, description="options of the objective")

    _omit_defaults = ("objective", "objective_options")

    @field_validator("given", "condition")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"names repeat: {v}")
        return v


class TrainingConfig(_Section):
    """Optimisation, EMA, checkpoints and logs."""

    seed: int = 0
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_steps: int = Field(1000, gt=0)
    max_minutes: float | None = Field(None, gt=0.0, description="stop after this wall time (checkpoint kept)")
    warmup_steps: int = Field(0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    grad_clip: float | None = Field(1.0, gt=0.0)
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0, description="decay of the moving average of the "
                             "weights that sampling uses by default; 1 / (1 - ema_decay) steps is its horizon")
    ema_warmup: bool = Field(True, description="let the EMA decay grow with the step n as min(ema_decay, "
                             "(1 + n) / (10 + n)), so that a short run's average covers its last tenth "
                             "instead of keeping the untrained starting weights; false: ema_decay "
                             "from the first step")
    val_every: int = Field(200, gt=0)
    checkpoint_every: int = Field(500, gt=0)
    snapshot_minutes: float | None = Field(
        None, gt=0.0, description="also keep a copy of the checkpoint every this many minutes of training "
        "(out_dir/snapshots/), e.g. to plot a metric against training time")
    log_every: int = Field(50, gt=0)
    out_dir: str = "runs/default"
    device: str = "auto"


class SamplingConfig(_Section):
    """Defaults for ``graphdiff sample``."""

    num_samples: int = Field(100, gt=0)
    steps: int = Field(200, gt=0)
    sampler: Literal["ancestral", "ddim"] = "ancestral"
    corrector_steps: int = Field(0, ge=0, description="Langevin corrector steps for torus fields")
    guidance_scale: float = Field(0.0, description="classifier-free guidance weight w (0: none)")
    batch_size: int = Field(256, gt=0)
    seed: int = 0
    use_ema: bool = True


class RunConfig(_Section):
    """A whole run."""

    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


def format_errors(exc: ValidationError, where: str) -> str:
    """One line per error of a pydantic validation, ``"<where>: <field.path>: <reason>"``.

    Unknown keys say so ("check the spelling"); a wrong value is quoted unless it is a table or
    a list. Used for run configs and every other config read from a user.
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        got = err.get("input")
        if err["type"] not in ("missing", "extra_forbidden") and not isinstance(got, (dict, list)):
            msg += f" (got {got!r})"
        lines.append(f"{where}: {loc}: {msg}")
    return "\n".join(lines)


def parse_config(raw: dict[str, Any], where: str = "<config>", base_dir: Path | None = None) -> RunConfig:
    """Validate a config dictionary; errors name ``where`` and each bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a table/mapping, got {type(raw).__name__}")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, where)) from None
    if base_dir is not None:
        resolve_paths(cfg, base_dir)
    return cfg


def resolve_paths(cfg: Any, base_dir: Path) -> None:
    """Make a config's relative data sources and ``training.out_dir`` relative to ``base_dir``
    (the config file's folder). URIs such as ``qm9://train`` name a dataset, not a path: they
    are kept as written."""
    for key in ("source", "train_source", "val_source"):
        value = getattr(cfg.data, key)
        if value and "://" not in value and not Path(value).is_absolute():
            setattr(cfg.data, key, str((base_dir / value).resolve()))
    if not Path(cfg.training.out_dir).is_absolute():
        cfg.training.out_dir = str((base_dir / cfg.training.out_dir).resolve())


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON file into a dict, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
            return {} if data is None else data
        if suffix == ".json":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml, .yml or .json")


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config file (TOML, YAML or JSON)."""
    path = Path(path)
    return parse_config(read_mapping(path), where=str(path), base_dir=path.resolve().parent)


def dump_config(cfg: RunConfig, fmt: Literal["toml", "yaml", "json"] = "yaml") -> str:
    """Render a config with every default filled in.

    The output parses back (:func:`parse_config`) to an equal config in every format.

    Raises
    ------
    ConfigError
        For ``fmt="toml"`` when a value is ``None`` where that would not read back as ``None``
        (TOML has no null), naming the field; YAML and JSON can write it.
    """
    data = cfg.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2)
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False)
    text = _to_toml(data)
    back = RunConfig.model_validate(tomllib.loads(text)).model_dump(mode="json")
    lost = _lost_nulls(data, back)
    if lost:
        raise ConfigError(
            f"cannot write {', '.join(lost)} = null as TOML (TOML has no null); "
            "use YAML or JSON, or set a value"
        )
    return text


def _lost_nulls(data: Any, back: Any, path: str = "") -> list[str]:
    """Dotted paths of ``None`` values in ``data`` that do not read back as ``None``."""
    lost: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            sub = f"{path}.{k}" if path else str(k)
            other = back.get(k) if isinstance(back, dict) else None
            if v is None:
                if not (isinstance(back, dict) and k in back and other is None):
                    lost.append(sub)
            else:
                lost.extend(_lost_nulls(v, other, sub))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            other = back[i] if isinstance(back, list) and i < len(back) else None
            if v is None:
                lost.append(f"{path}[{i}]")
            else:
                lost.extend(_lost_nulls(v, other, f"{path}[{i}]"))
    return lost


_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _toml_str(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(k: str) -> str:
    return k if k and set(k) <= _BARE else _toml_str(k)


def _to_toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for config dicts (tables of scalars, lists and nested tables).

    ``None`` values are left out (TOML has no null); :func:`dump_config` checks that this
    loses nothing.
    """

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return _toml_str(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v if x is not None) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{_toml_key(k)} = {scalar(x)}" for k, x in v.items()
                                   if x is not None) + "}"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    out: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        simple = {k: v for k, v in d.items() if v is not None and not (isinstance(v, dict) and v and
                                                                       all(isinstance(x, dict) for x in v.values()))}
        nested = {k: v for k, v in d.items() if k not in simple and v is not None}
        if prefix:
            out.append(f"[{prefix}]")
        out.extend(f"{_toml_key(k)} = {scalar(v)}" for k, v in simple.items())
        out.append("")
        for k, v in nested.items():
            table(f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v)

    for section, values in data.items():
        table(_toml_key(section), values)
    return "\n".join(out)


def check_registered_names(cfg: Any, file: str | Path) -> None:
    """Check the registered names a config refers to (domain, schedules, denoiser, encoder,
    objectives, fields, constraint) without importing what they name.

    Parameters
    ----------
    cfg:
        A run config (or a predictor config: the same ``data``, ``diffusion`` and ``model``
        sections).
    file:
        The config's file, named in the messages.

    Raises
    ------
    ConfigError
        Naming the file, the key and the unknown name (with the valid ones).
    """
    from graphdiff.errors import RegistryError
    from graphdiff.plugins import get_manager

    manager = get_manager()
    # names are checked against the registries and fields against the domain's metadata, so
    # that nothing is imported (a domain registered without ``fields`` metadata is loaded)
    try:
        entry = manager.registry("domains").entry(cfg.data.domain)
    except RegistryError as exc:
        raise ConfigError(f"{file}: data.domain: {exc}") from None
    fields = list(entry.metadata["fields"]) if "fields" in entry.metadata else list(entry.obj.spec.names)
    for key in ("given", "generate", "fields"):
        names = getattr(cfg.diffusion, key) or []
        for name in names:
            if name not in fields:
                raise ConfigError(f"{file}: diffusion.{key}: {name!r} is not a field of domain "
                                  f"{cfg.data.domain!r} (fields: {', '.join(fields)})")
    for fname, fcfg in cfg.diffusion.fields.items():
        try:
            manager.registry("schedules").entry(fcfg.schedule)
        except RegistryError as exc:
            raise ConfigError(f"{file}: diffusion.fields.{fname}.schedule: {exc}") from None
    if cfg.model.denoiser != "auto":
        try:
            manager.registry("denoisers").entry(cfg.model.denoiser)
        except RegistryError as exc:
            raise ConfigError(f"{file}: model.denoiser: {exc}") from None
    names = [("encoders", "model.encoder", cfg.model.encoder),
             ("objectives", "diffusion.objective", cfg.diffusion.objective)]
    names += [("objectives", f"diffusion.fields.{f}.objective", c.objective) for f, c in cfg.diffusion.fields.items()]
    for kind, key, value in names:
        if value is None:
            continue
        try:
            manager.registry(kind).entry(value)
        except RegistryError as exc:
            raise ConfigError(f"{file}: {key}: {exc}") from None
    if cfg.diffusion.constraint is not None:
        try:
            manager.registry("constraints").entry(cfg.diffusion.constraint)
        except RegistryError as exc:
            raise ConfigError(f"{file}: diffusion.constraint: {exc}") from None
