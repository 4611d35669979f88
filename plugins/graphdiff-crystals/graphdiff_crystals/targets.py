"""Graph-level targets of crystals: scalar properties computed from a pymatgen ``Structure``."""

from __future__ import annotations

from typing import Any

from graphdiff.errors import DataError
from graphdiff.targets import Target

__all__ = ["density", "volume_per_atom", "TARGETS"]


def _structure(obj: Any) -> Any:
    from pymatgen.core.structure import IStructure

    if not isinstance(obj, IStructure):
        raise DataError(f"crystal targets take a pymatgen Structure, got {type(obj).__name__}")
    if len(obj) == 0:
        raise DataError("crystal targets need a structure with at least one atom")
    return obj


def density(structure: Any) -> float:
    """Mass density in g/cm³ (total atomic mass over cell volume)."""
    return float(_structure(structure).density)


def volume_per_atom(structure: Any) -> float:
    """Cell volume per atom in Å³."""
    s = _structure(structure)
    return float(s.volume) / len(s)


#: The targets this plugin registers.
TARGETS: tuple[Target, ...] = (
    Target("crystals-density", "crystals", density, description="mass density of the crystal", units="g/cm^3"),
    Target("crystals-volume_per_atom", "crystals", volume_per_atom, description="cell volume per atom",
           units="Å^3/atom"),
)
