"""The predictor config: a run config plus the ``[predictor]`` section.

:class:`PredictorOptions` is that section, :class:`PredictorConfig` the whole config;
:func:`parse_predictor_config` validates a mapping and :func:`load_predictor_config` reads a
TOML, YAML or JSON file. This module imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from graphdiff.config import RunConfig, format_errors, read_mapping, resolve_paths
from graphdiff.errors import ConfigError

__all__ = ["PredictorOptions", "PredictorConfig", "parse_predictor_config", "load_predictor_config"]


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
        raise ConfigError(format_errors(exc, where)) from None
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
