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


@hookimpl
def register_constraints(register):
    """Register ``no-crossings``: straight road segments between the nodes' ``coords`` never
    cross (:class:`graphdiff.constraints.NoCrossings`), kept through sampling by projection."""
    from graphdiff.constraints import NoCrossings
    from graphdiff_traffic.domain import TrafficDomain

    constraint = NoCrossings(TrafficDomain.coord_field)
    register(constraint.name, constraint, description=constraint.description)


@hookimpl
def register_metrics(register):
    """Register ``traffic-dng``: the core's graph generation metrics (MMD² of degree, clustering,
    orbit and spectrum under the GDSS or DiGress kernels; validity, uniqueness, novelty, V.U.N.),
    see :func:`graphdiff.metrics.dng_metric`."""
    from graphdiff.metrics import register_dng_metric

    register_dng_metric(register, "traffic")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_traffic/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/graphs_bench.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_traffic", "traffic")
