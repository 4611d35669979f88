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
