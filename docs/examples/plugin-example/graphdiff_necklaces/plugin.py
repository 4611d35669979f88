"""Entry point of graphdiff-necklaces: the hooks graphdiff calls when it starts."""

from __future__ import annotations

import graphdiff
from graphdiff.targets import Target

from graphdiff_necklaces.domain import Necklace, NecklacesDomain


def colour_changes(necklace: Necklace) -> float:
    """Share of neighbouring beads with different colours (1 for an alternating necklace)."""
    n = len(necklace.beads)
    return sum(necklace.beads[k] != necklace.beads[(k + 1) % n] for k in range(n)) / n


@graphdiff.hookimpl
def register_domains(register):
    register("necklaces", NecklacesDomain(), description=NecklacesDomain.description)


@graphdiff.hookimpl
def register_targets(register):
    register("necklaces-colour_changes",
             Target(name="necklaces-colour_changes", domain="necklaces", fn=colour_changes,
                    description="share of neighbouring beads with different colours"))
