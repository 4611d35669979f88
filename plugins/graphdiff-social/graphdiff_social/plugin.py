"""Entry point of the social plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl


@hookimpl
def register_domains(register):
    from graphdiff_social.domain import SocialDomain

    domain = SocialDomain()
    register(domain.name, domain, description=domain.description)


@hookimpl
def register_targets(register):
    from graphdiff_social.targets import social_targets

    for target in social_targets("social"):
        register(target.name, target, description=target.description)


@hookimpl
def register_metrics(register):
    """Register ``social-dng``: the core's graph generation metrics (MMD² of degree, clustering,
    orbit and spectrum under the GDSS or DiGress kernels; validity, uniqueness, novelty, V.U.N.),
    see :func:`graphdiff.metrics.dng_metric`."""
    from graphdiff.metrics import register_dng_metric

    register_dng_metric(register, "social")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_social/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/graphs_bench.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_social", "social")
