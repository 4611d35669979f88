"""Entry point of the traffic plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl


@hookimpl
def register_domains(register):
    from graphdiff_traffic.domain import TrafficDomain

    domain = TrafficDomain()
    register(domain.name, domain, description=domain.description)


@hookimpl
def register_targets(register):
    from graphdiff_traffic.targets import traffic_targets

    for target in traffic_targets("traffic"):
        register(target.name, target, description=target.description)
