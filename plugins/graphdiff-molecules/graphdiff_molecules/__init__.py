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
:func:`read_qm9`, :func:`qm9_split`
    QM9 from the qm9pack wheel as records, and EDM's train/valid/test split
    (:mod:`graphdiff_molecules.qm9`; the domain also reads ``qm9://train``).
:func:`dng_metric`
    EDM's de novo metrics (stability, RDKit validity, uniqueness, novelty), registered as
    ``molecules-dng`` (:mod:`graphdiff_molecules.edm_metrics`).
:mod:`graphdiff_molecules.targets`, :mod:`graphdiff_molecules.testing`
    Targets and hypothesis strategies.
"""

from graphdiff_molecules.domain import QM9_ELEMENTS, MoleculeDomain
from graphdiff_molecules.edm_metrics import dng_metric
from graphdiff_molecules.io import read_xyz, write_molecules
from graphdiff_molecules.periodic import molecule_to_structure, structure_to_molecule

__version__ = "0.1.0"


def __getattr__(name: str):
    # lazy: ``python -m graphdiff_molecules.qm9`` must not find the module imported already
    if name in ("read_qm9", "qm9_split"):
        from graphdiff_molecules import qm9

        return getattr(qm9, name)
    raise AttributeError(f"module 'graphdiff_molecules' has no attribute {name!r}")


__all__ = ["MoleculeDomain", "QM9_ELEMENTS", "molecule_to_structure", "structure_to_molecule",
           "read_xyz", "write_molecules", "read_qm9", "qm9_split", "dng_metric", "__version__"]
