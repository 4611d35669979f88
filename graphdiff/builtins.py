"""The core's own registrations, made through the same hooks as any plugin."""

from __future__ import annotations

from graphdiff.plugins.hookspecs import hookimpl


@hookimpl
def register_schedules(register):
    from graphdiff.schedules import BUILTIN_SCHEDULES

    for name, cls in BUILTIN_SCHEDULES.items():
        register(name, cls, description=(cls.__doc__ or "").strip().splitlines()[0])


@hookimpl
def register_processes(register):
    from graphdiff.processes import BUILTIN_PROCESSES

    for kind, cls in BUILTIN_PROCESSES.items():
        register(kind, cls, description=(cls.__doc__ or "").strip().splitlines()[0])


@hookimpl
def register_denoisers(register):
    from graphdiff.nn import BUILTIN_DENOISERS

    for name, cls in BUILTIN_DENOISERS.items():
        register(name, cls, description=(cls.__doc__ or "").strip().splitlines()[0])


@hookimpl
def register_constraints(register):
    from graphdiff.constraints import BUILTIN_CONSTRAINTS

    for name, constraint in BUILTIN_CONSTRAINTS.items():
        register(name, constraint, description=constraint.description)


@hookimpl
def register_targets(register):
    # trained property predictors listed in $GRAPHDIFF_PREDICTORS (see graphdiff.predictors);
    # only their headers are read here, their networks are built on first use
    import os

    if not os.environ.get("GRAPHDIFF_PREDICTORS"):
        return
    from graphdiff.predictors import env_predictor_targets

    for target in env_predictor_targets():
        register(target.name, target, description=target.description)
