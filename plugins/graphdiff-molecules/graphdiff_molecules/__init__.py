"""graphdiff plugin: the molecules domain (element types + Cartesian positions in Å).

Public API
----------
:class:`MoleculeDomain`
    The domain (registered as ``"molecules"`` over QM9's H, C, N, O, F; any vocabulary through
    ``MoleculeDomain(elements=...)``).
:func:`molecule_to_structure`, :func:`structure_to_molecule`
    A molecule in a periodic box (pymatgen ``Structure``, POSCAR / CIF) and back.
:func:`read_xyz`
    Frames of an XYZ / extxyz file (the domain's ``read`` reports bad frames and goes on).
:mod:`graphdiff_molecules.targets`, :mod:`graphdiff_molecules.testing`
    Targets and hypothesis strategies.
"""

from graphdiff_molecules.domain import QM9_ELEMENTS, MoleculeDomain
from graphdiff_molecules.io import read_xyz, write_molecules
from graphdiff_molecules.periodic import molecule_to_structure, structure_to_molecule

__version__ = "0.1.0"

__all__ = ["MoleculeDomain", "QM9_ELEMENTS", "molecule_to_structure", "structure_to_molecule",
           "read_xyz", "write_molecules", "__version__"]
