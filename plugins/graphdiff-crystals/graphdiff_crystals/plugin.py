"""Entry point of the crystals plugin (``[project.entry-points.graphdiff] crystals``): its hooks."""

from __future__ import annotations

from typing import Any

from graphdiff import hookimpl

from graphdiff_crystals.domain import CrystalDomain
from graphdiff_crystals.targets import TARGETS


@hookimpl
def register_domains(register: Any) -> None:
    """Register the ``crystals`` domain (pymatgen ``Structure`` <-> graph, CSV/CIF/POSCAR/JSON I/O)."""
    register("crystals", CrystalDomain(), description=CrystalDomain.description)


@hookimpl
def register_targets(register: Any) -> None:
    """Register ``crystals-density`` (g/cm³) and ``crystals-volume_per_atom`` (Å³/atom) on structures."""
    for target in TARGETS:
        register(target.name, target, description=f"{target.description} ({target.units})")
