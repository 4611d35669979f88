"""Entry point of the molecules plugin: its hook implementations.

Everything is registered by where it lives (``"module:attribute"``) with the facts listings
need, so that loading the plugin imports neither torch nor RDKit; each object is imported on
first use.
"""

from __future__ import annotations

from graphdiff import hookimpl
from graphdiff.registry import factory

#: name -> (description, units); all differentiable
TARGETS = {
    "molecules-radius_of_gyration": ("mass-weighted radius of gyration", "Å"),
    "molecules-molecular_mass": ("sum of standard atomic masses", "u"),
}


@hookimpl
def register_domains(register):
    register("molecules", factory("graphdiff_molecules.domain:MoleculeDomain"),
             description="Molecules: element types and 3D positions (Å), E(3)-equivariant",
             fields=("atom_types", "positions"))


@hookimpl
def register_targets(register):
    """Register the molecules targets on structures, and each property of the bundled predictors
    (``graphdiff_molecules/predictors``, e.g. ``qm9-gap``; only their headers are read here, the
    networks on first use). An empty or absent folder registers none."""
    from graphdiff.predictor_files import register_bundled_predictors

    for name, (description, units) in TARGETS.items():
        register(name, factory("graphdiff_molecules.targets:molecule_target", name), description=description,
                 domain="molecules", units=units, differentiable=True)
    register_bundled_predictors(register, "graphdiff_molecules")


@hookimpl
def register_metrics(register):
    """Register ``molecules-dng``: EDM's atom / molecule stability, RDKit validity, uniqueness
    and novelty (``graphdiff evaluate --domain molecules --task dng``)."""
    register("molecules-dng", "graphdiff_molecules.edm_metrics:dng_metric",
             description="De novo stability, validity, uniqueness, novelty (EDM protocol)")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_molecules/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/molecules/molecules_qm9.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_molecules", "molecules")


@hookimpl
def register_extras(register):
    """Declare the optional features a notebook can ask for with :func:`graphdiff.extras.require`."""
    from graphdiff.extras import Extra

    install = "pip install -e plugins/graphdiff-molecules"
    register("molecules", Extra(("ase", "rdkit"), install, "the molecules domain plugin"),
             description="the molecules domain plugin")
    register("qm9", Extra(("qm9pack",), install, "the QM9 dataset wheel"), description="the QM9 dataset wheel")
