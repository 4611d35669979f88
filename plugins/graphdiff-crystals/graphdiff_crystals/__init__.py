"""graphdiff plugin: the crystals domain.

Public API
----------
:class:`~graphdiff_crystals.domain.CrystalDomain`
    pymatgen ``Structure`` <-> graph converter, readers and writers (registered as ``"crystals"``).
:mod:`graphdiff_crystals.lattice`
    ``lattice_to_params`` / ``params_to_lattice``: the O(3)-invariant lattice parametrisation.
:func:`~graphdiff_crystals.io.sample_path`
    Path of the bundled 600-crystal Perov-5 sample CSV.
:mod:`graphdiff_crystals.testing`
    Hypothesis strategies (``structures``, ``lattices``, ``rotations``).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["CrystalDomain", "sample_path", "lattice_to_params", "params_to_lattice", "__version__"]

from graphdiff.lazy import lazy_attributes

_LAZY = {
    "CrystalDomain": "graphdiff_crystals.domain",
    "sample_path": "graphdiff_crystals.io",
    "lattice_to_params": "graphdiff_crystals.lattice",
    "params_to_lattice": "graphdiff_crystals.lattice",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
