"""The core's own registrations, made through the same hooks as any plugin."""

from __future__ import annotations

from graphdiff.plugins.hookspecs import hookimpl


@hookimpl
def register_schedules(register):
    from graphdiff.schedules import BUILTIN_SCHEDULES

    for name, cls in BUILTIN_SCHEDULES.items():
        register(name, cls, description=(cls.__doc__ or "").strip().splitlines()[0])
