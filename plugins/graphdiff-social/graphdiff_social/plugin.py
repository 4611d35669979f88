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
