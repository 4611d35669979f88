"""Entry point of the crystals plugin (``[project.entry-points.graphdiff] crystals``): its hooks.

Everything is registered by where it lives (``"module:attribute"``) with the facts listings
need, so that loading the plugin imports neither pymatgen nor torch; each object is imported on
first use. ``graphdiff.testing.assert_lazy_registrations`` checks the facts against the objects.
"""

from __future__ import annotations

from typing import Any

from graphdiff import hookimpl
from graphdiff.registry import factory

#: name -> (attribute of graphdiff_crystals.targets, description, units, differentiable)
TARGETS = {
    "crystals-density": ("DENSITY", "mass density of the crystal", "g/cm^3", True),
    "crystals-volume_per_atom": ("VOLUME_PER_ATOM", "cell volume per atom", "Å^3/atom", True),
    "crystals-num_elements": ("NUM_ELEMENTS", "number of distinct elements", "", False),
    "crystals-chgnet_energy": ("CHGNET_ENERGY", "CHGNet energy of the unrelaxed structure", "eV/atom", True),
}


@hookimpl
def register_domains(register: Any) -> None:
    """Register the ``crystals`` domain (pymatgen ``Structure`` <-> graph, CSV/CIF/POSCAR/JSON I/O)."""
    register("crystals", factory("graphdiff_crystals.domain:CrystalDomain"),
             description="periodic crystal structures (pymatgen Structure): atom types, fractional "
                         "coordinates, lattice",
             fields=("atom_types", "frac_coords", "lattice"))


@hookimpl
def register_targets(register: Any) -> None:
    """Register ``crystals-density`` (g/cm³), ``crystals-volume_per_atom`` (Å³/atom),
    ``crystals-num_elements`` and ``crystals-chgnet_energy`` (eV/atom) on structures, and each
    property of the bundled predictors (``graphdiff_crystals/predictors``, e.g.
    ``perov5-heat_ref``; only their headers are read here, the networks on first use)."""
    from graphdiff.predictor_files import register_bundled_predictors

    for name, (attribute, description, units, differentiable) in TARGETS.items():
        register(name, f"graphdiff_crystals.targets:{attribute}", description=description,
                 domain="crystals", units=units, differentiable=differentiable)
    register_bundled_predictors(register, "graphdiff_crystals")


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``crystals-csp`` (CDVAE match rate and RMSE of predicted structures) and
    ``crystals-dng`` (CDVAE de novo metrics: validity, COV-R/COV-P, property Wasserstein
    distances, plus uniqueness and novelty), both with the physical sanity of
    :mod:`graphdiff_crystals.sanity` (short contacts, space groups); ``crystals-sanity`` (that
    sanity alone, quick) and ``crystals-energy`` (CHGNet energies per atom of generated and
    reference structures, unrelaxed)."""
    register("crystals-csp", "graphdiff_crystals.metrics:csp_metric",
             description="CSP match rate and RMSE (CDVAE protocol), short contacts, space groups")
    register("crystals-dng", "graphdiff_crystals.dng_metrics:dng_metric",
             description="De novo validity, coverage, Wasserstein, uniqueness, novelty (CDVAE protocol), "
                         "short contacts, space groups")
    register("crystals-sanity", "graphdiff_crystals.sanity:sanity_metric",
             description="Physical sanity: short contacts against the references' per-pair minimum distances "
                         "(-0.1 Å), space groups (symprec 0.1) against the references'")
    register("crystals-energy", "graphdiff_crystals.sanity_energy:energy_metric",
             description="CHGNet energy per atom (unrelaxed) of generated vs reference structures: mean, median, "
                         "Wasserstein distance")


@hookimpl
def register_baselines(register: Any) -> None:
    """Register the CSP baselines ``crystals-retrieval`` (a random training structure with the
    same number of atoms), ``crystals-substitution`` (a training structure of the same
    prototype with the elements swapped in by electronegativity rank) and ``crystals-frequency``
    (the same, from the commonest prototypes first)."""
    register("crystals-retrieval", "graphdiff_crystals.baselines:retrieval",
             description="CSP baseline: random training structures with the same number of atoms")
    register("crystals-substitution", "graphdiff_crystals.baselines:substitution",
             description="CSP baseline: same-prototype training structures, elements swapped by electronegativity")
    register("crystals-frequency", "graphdiff_crystals.baselines:frequency",
             description="CSP baseline: the commonest training prototypes of the key first, elements swapped in")


@hookimpl
def register_checkpoints(register: Any) -> None:
    """Register the bundled checkpoints shipped in ``graphdiff_crystals/checkpoints`` (read from
    their JSON manifests)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_crystals", "crystals")


@hookimpl
def register_commands(register: Any) -> None:
    """Register ``graphdiff stability``: CHGNet relaxation, energy above the convex hull and the
    stable / metastable / unique / novel / S.U.N. rates of generated crystals."""
    register("stability", "graphdiff_crystals.stability:stability_command",
             description="Stability of generated crystals: CHGNet relaxation, energy above the convex hull, "
                         "and the stable / metastable / unique / novel / S.U.N. rates.")


@hookimpl
def register_references(register: Any) -> None:
    """Register ``xrd``: a powder diffraction pattern that CSP candidates are ranked against
    (``graphdiff sample --task csp --input REF.csv --xrd PATTERN``)."""
    register("xrd", factory("graphdiff_crystals.xrd:reference"),
             description="A powder X-ray diffraction pattern: a two-column 2θ/intensity file, or a "
                         "structure file (CIF, POSCAR) to simulate one from.",
             domain="crystals",
             columns=tuple(f"xrd_{i:02d}" for i in range(40)),
             options={"wavelength": (float, 1.54184, "X-ray wavelength of the --xrd pattern(s), Å "
                                                     "(Cu Kα 1.54184; Mo Kα 0.71073).")},
             similarity_description="the cosine of Gaussian-broadened patterns (σ = 0.2° 2θ), best over "
                                    "a rescaling of the candidate's cell within ±3 % and a common 2θ "
                                    "shift within ±0.5°")


@hookimpl
def register_features(register: Any) -> None:
    """Register the ``elements`` class-feature table (standardised Magpie descriptors of each
    element; :mod:`graphdiff_crystals.elements`), for any categorical field labelled with
    element symbols: ``[model.options] class_features = {atom_types = "elements"}``."""
    register("elements", "graphdiff_crystals.elements:element_features",
             description="22 standardised Magpie descriptors of each element (matminer)")


@hookimpl
def register_extras(register: Any) -> None:
    """Declare the optional features a notebook can ask for with :func:`graphdiff.extras.require`."""
    from graphdiff.extras import Extra

    install = "pip install -e plugins/graphdiff-crystals"
    register("crystals", Extra(("pymatgen",), install, "the crystals domain plugin"),
             description="the crystals domain plugin")
    register("stability", Extra(("chgnet",), install, "CHGNet (relaxation and energies)"),
             description="CHGNet (relaxation and energies)")


@hookimpl
def register_lattices(register: Any) -> None:
    """Register the lattice codec ``crystals``: how the domain's ``lattice`` field becomes lattice
    matrices (:data:`graphdiff_crystals.lattice.CODEC`), for the radius graph of the periodic denoiser."""
    register("crystals", "graphdiff_crystals.lattice:CODEC",
             description="[log C11, log C22, log C33, C21, C31, C32]: the Cholesky factor of the metric "
                         "tensor (O(3)-invariant)", dim=6, field="lattice")
