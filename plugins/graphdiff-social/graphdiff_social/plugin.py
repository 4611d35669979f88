"""Entry point of the social plugin: its hook implementations.

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
    "average_clustering": ("mean local clustering coefficient", ""),
    "modularity": ("modularity of greedy (CNM) communities", ""),
    "density": ("edges over node pairs", ""),
}

#: the domains the targets score: ``social-weighted`` holds the same graphs plus an edge weight,
#: which the (structural) targets ignore
DOMAINS = ("social", "social-weighted")

@hookimpl
def register_domains(register):
    register("social", factory("graphdiff_social.domain:SocialDomain"),
             description="Social networks: simple undirected graphs (structure only) from networkx",
             fields=("edges",))
    register("social-weighted", factory("graphdiff_social.domain:SocialDomain", edge_attr="weight",
                                        name="social-weighted"),
             description="Social networks with edge weights: the structure and each edge's numeric 'weight'",
             fields=("edges", "weight"))


@hookimpl
def register_targets(register):
    for domain in DOMAINS:
        for target, (description, units) in TARGETS.items():
            name = f"{domain}-{target}"
            register(name, factory("graphdiff_social.targets:social_target", name, domain),
                     description=description, domain=domain, units=units, differentiable=False)


@hookimpl
def register_metrics(register):
    """Register ``social-dng``: the core's graph generation metrics (MMD² of degree, clustering,
    orbit and spectrum under the GDSS or DiGress kernels; validity, uniqueness, novelty, V.U.N.),
    see :func:`graphdiff.metrics.dng_metric`."""
    register("social-dng", "graphdiff.metrics.graph_metrics:dng_metric",
             description="Graph MMD² (degree, clustering, orbit, spectral; GDSS or DiGress kernels) and V.U.N.")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_social/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/graphs/graphs_bench.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_social", "social")


@hookimpl
def register_extras(register):
    """Declare the domain as a feature a notebook can ask for with :func:`graphdiff.extras.require`."""
    from graphdiff.extras import Extra

    register("social", Extra(("networkx",), "pip install -e plugins/graphdiff-social",
                             "the social-network domain plugin"),
             description="the social-network domain plugin")
