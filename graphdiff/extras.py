"""Say which optional part to install before anything fails half-way.

Notebooks, demos and scripts call :func:`require` first::

    from graphdiff.extras import require
    require("crystals", "plots")

Each name is a feature of graphdiff (a domain plugin or an optional extra); a missing one raises
:class:`MissingExtraError` naming every missing feature and the exact ``pip install`` line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from graphdiff.errors import GraphdiffError

__all__ = ["EXTRAS", "Extra", "MissingExtraError", "missing", "require"]


@dataclass(frozen=True)
class Extra:
    """One optional feature: the modules it needs and how to install it."""

    modules: tuple[str, ...]
    install: str
    what: str


EXTRAS: dict[str, Extra] = {
    "crystals": Extra(("graphdiff_crystals", "pymatgen"), "pip install -e plugins/graphdiff-crystals",
                      "the crystals domain plugin"),
    "molecules": Extra(("graphdiff_molecules", "ase", "rdkit"), "pip install -e plugins/graphdiff-molecules",
                       "the molecules domain plugin"),
    "social": Extra(("graphdiff_social", "networkx"), "pip install -e plugins/graphdiff-social",
                    "the social-network domain plugin"),
    "traffic": Extra(("graphdiff_traffic",), "pip install -e plugins/graphdiff-traffic",
                     "the road-network domain plugin"),
    "qm9": Extra(("qm9pack",), "pip install -e plugins/graphdiff-molecules", "the QM9 dataset wheel"),
    "stability": Extra(("chgnet",), "pip install -e plugins/graphdiff-crystals",
                       "CHGNet (relaxation and energies)"),
    "orbits": Extra(("orbit_count",), 'pip install -e ".[graphs]"', "4-node orbit counts for the orbit MMD"),
    "plots": Extra(("matplotlib",), "pip install matplotlib", "plotting"),
    "notebooks": Extra(("nbclient", "ipykernel"), 'pip install -e ".[docs]"', "running the example notebooks"),
}


class MissingExtraError(GraphdiffError, ImportError):
    """An optional part of graphdiff that this code needs is not installed."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(*names: str) -> list[str]:
    """The names among ``names`` whose modules are not all importable."""
    unknown = [n for n in names if n not in EXTRAS]
    if unknown:
        raise KeyError(f"unknown extra {unknown[0]!r}; known: {', '.join(sorted(EXTRAS))}")
    return [n for n in names if not all(_installed(m) for m in EXTRAS[n].modules)]


def require(*names: str) -> None:
    """Raise :class:`MissingExtraError` naming what to install if any of ``names`` is missing."""
    absent = missing(*names)
    if not absent:
        return
    lines = []
    for name in absent:
        extra = EXTRAS[name]
        gone = [m for m in extra.modules if not _installed(m)]
        lines.append(f"  {name}: {extra.what} (missing module {', '.join(gone)}) -> {extra.install}")
    raise MissingExtraError("this needs optional parts of graphdiff that are not installed:\n" + "\n".join(lines)
                            + "\n(`make install` at the repository root installs all of them)")
