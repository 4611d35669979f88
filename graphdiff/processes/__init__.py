"""Per-field noise processes, one file per field kind."""

from __future__ import annotations

from typing import Any

from graphdiff.graph import FieldKind, FieldSpec
from graphdiff.processes.base import Process
from graphdiff.processes.categorical import CategoricalProcess
from graphdiff.processes.gaussian import GaussianProcess
from graphdiff.processes.positions import PositionsProcess
from graphdiff.processes.torus import TorusProcess

__all__ = [
    "Process",
    "GaussianProcess",
    "CategoricalProcess",
    "TorusProcess",
    "PositionsProcess",
    "BUILTIN_PROCESSES",
    "build_process",
]

#: field kind -> process class (registered under the kind's name)
BUILTIN_PROCESSES: dict[str, type[Process]] = {
    FieldKind.CONTINUOUS.value: GaussianProcess,
    FieldKind.CATEGORICAL.value: CategoricalProcess,
    FieldKind.TORUS.value: TorusProcess,
    FieldKind.POSITIONS.value: PositionsProcess,
}


def build_process(field: FieldSpec, cfg: Any = None) -> Process:
    """Build the registered process for ``field``'s kind from a
    :class:`~graphdiff.config.FieldProcessConfig` (defaults when ``None``)."""
    from graphdiff.config import FieldProcessConfig
    from graphdiff.plugins import get_manager

    cfg = cfg or FieldProcessConfig()
    manager = get_manager()
    cls = manager.get("processes", field.kind.value)
    if field.kind is FieldKind.TORUS:
        return cls(field, sigma_min=cfg.sigma_min, sigma_max=cfg.sigma_max)
    schedule = manager.get("schedules", cfg.schedule)(**cfg.schedule_options)
    if field.kind is FieldKind.CATEGORICAL:
        return cls(field, schedule, prior=cfg.prior)
    if cfg.skip:
        return cls(field, schedule, prediction=cfg.prediction, skip=True)
    return cls(field, schedule, prediction=cfg.prediction)
