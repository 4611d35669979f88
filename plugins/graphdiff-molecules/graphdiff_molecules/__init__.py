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

__version__ = "0.1.0"

__all__ = ["MoleculeDomain", "QM9_ELEMENTS", "molecule_to_structure", "structure_to_molecule",
           "read_xyz", "write_molecules", "read_qm9", "qm9_split", "dng_metric", "__version__"]

# Imported on first use: the plugin's entry point (graphdiff_molecules.plugin) imports this
# package, and ``graphdiff --help`` must not pay for torch and RDKit; ``python -m
# graphdiff_molecules.qm9`` must not find the module imported already.
from graphdiff.lazy import lazy_attributes

_LAZY = {
    "MoleculeDomain": "graphdiff_molecules.domain",
    "QM9_ELEMENTS": "graphdiff_molecules.domain",
    "dng_metric": "graphdiff_molecules.edm_metrics",
    "read_xyz": "graphdiff_molecules.io",
    "write_molecules": "graphdiff_molecules.io",
    "molecule_to_structure": "graphdiff_molecules.periodic",
    "structure_to_molecule": "graphdiff_molecules.periodic",
    "read_qm9": "graphdiff_molecules.qm9",
    "qm9_split": "graphdiff_molecules.qm9",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
