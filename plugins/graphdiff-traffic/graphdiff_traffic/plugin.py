"""Entry point of the traffic plugin: its hook implementations.

Everything is registered by where it lives (``"module:attribute"``) with the facts listings
need, so that loading the plugin imports neither torch nor networkx; each object is imported on
first use.
"""

from __future__ import annotations

from graphdiff import hookimpl
from graphdiff.registry import factory

#: target -> (description, units), registered as ``<domain>-<target>`` for each of :data:`DOMAINS`;
#: none differentiable
TARGETS = {
    "global_efficiency": ("topological global efficiency (mean inverse hop distance)", ""),
    "mean_edge_length": ("mean straight-line road segment length", "m"),
    "spatial_efficiency": ("route directness: straight-line over route efficiency", ""),
}

#: the domains the targets score: ``traffic-lengths`` holds the same networks plus each road's
#: kept length, which the targets ignore (they read the structure and the node x/y)
DOMAINS = ("traffic", "traffic-lengths")

@hookimpl
def register_domains(register):
    register("traffic", factory("graphdiff_traffic.domain:TrafficDomain"),
             description="Road networks: planar undirected graphs with node x/y in metres",
             fields=("edges", "coords"))
    register("traffic-lengths", factory("graphdiff_traffic.domain:TrafficDomain", edge_lengths=True,
                                        name="traffic-lengths"),
             description="Road networks with each road's length kept (an edge value), not derived from x/y",
             fields=("edges", "coords", "length"))


@hookimpl
def register_targets(register):
    for domain in DOMAINS:
        for target, (description, units) in TARGETS.items():
            name = f"{domain}-{target}"
            register(name, factory("graphdiff_traffic.targets:traffic_target", name, domain),
                     description=description, domain=domain, units=units, differentiable=False)


@hookimpl
def register_constraints(register):
    """Register ``no-crossings``: straight road segments between the nodes' ``coords`` never
    cross (:class:`graphdiff.constraints.NoCrossings`), kept through sampling by projection."""
    register("no-crossings", factory("graphdiff.constraints:NoCrossings", "coords"),
             description="straight edges between the nodes' 'coords' positions never cross (road networks); "
                         "the projector rejects an edge that would cross another")


@hookimpl
def register_metrics(register):
    """Register ``traffic-dng``: the core's graph generation metrics (MMD² of degree, clustering,
    orbit and spectrum under the GDSS or DiGress kernels; validity, uniqueness, novelty, V.U.N.),
    see :func:`graphdiff.metrics.dng_metric`."""
    register("traffic-dng", "graphdiff.metrics.graph_metrics:dng_metric",
             description="Graph MMD² (degree, clustering, orbit, spectral; GDSS or DiGress kernels) and V.U.N.")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_traffic/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/graphs/graphs_bench.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_traffic", "traffic")


@hookimpl
def register_extras(register):
    """Declare the domain as a feature a notebook can ask for with :func:`graphdiff.extras.require`."""
    from graphdiff.extras import Extra

    register("traffic", Extra(("networkx", "scipy"), "pip install -e plugins/graphdiff-traffic",
                              "the road-network domain plugin"),
             description="the road-network domain plugin")
