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
    """Register ``crystals-density`` (g/cm³) and ``crystals-volume_per_atom`` (Å³/atom) on
    structures, and each property of the bundled predictors (``graphdiff_crystals/predictors``,
    e.g. ``perov5-heat_ref``; only their headers are read here, the networks on first use)."""
    from importlib import resources

    from graphdiff.predictors import predictor_targets

    for target in TARGETS:
        register(target.name, target, description=f"{target.description} ({target.units})")
    folder = resources.files("graphdiff_crystals") / "predictors"
    for path in sorted(folder.iterdir() if folder.is_dir() else [], key=lambda p: p.name):
        if path.name.endswith(".pt"):
            for target in predictor_targets(str(path)):
                register(target.name, target, description=target.description)


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``crystals-csp`` (CDVAE match rate and RMSE of predicted structures) and
    ``crystals-dng`` (CDVAE de novo metrics: validity, COV-R/COV-P, property Wasserstein
    distances, plus uniqueness and novelty)."""
    from graphdiff_crystals.dng_metrics import dng_metric
    from graphdiff_crystals.metrics import csp_metric

    register("crystals-csp", csp_metric, description="CSP match rate and RMSE (CDVAE protocol)")
    register("crystals-dng", dng_metric,
             description="De novo validity, coverage, Wasserstein, uniqueness, novelty (CDVAE protocol)")


@hookimpl
def register_baselines(register: Any) -> None:
    """Register the CSP baselines ``crystals-retrieval`` (a random training structure with the
    same number of atoms), ``crystals-substitution`` (a training structure of the same
    prototype with the elements swapped in by electronegativity rank) and ``crystals-frequency``
    (the same, from the commonest prototypes first)."""
    from graphdiff_crystals.baselines import frequency, retrieval, substitution

    register("crystals-retrieval", retrieval,
             description="CSP baseline: random training structures with the same number of atoms")
    register("crystals-substitution", substitution,
             description="CSP baseline: same-prototype training structures, elements swapped by electronegativity")
    register("crystals-frequency", frequency,
             description="CSP baseline: the commonest training prototypes of the key first, elements swapped in")


@hookimpl
def register_checkpoints(register: Any) -> None:
    """Register the bundled checkpoints shipped in ``graphdiff_crystals/checkpoints``."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_crystals", "crystals")


@hookimpl
def register_commands(register: Any) -> None:
    """Register ``graphdiff stability``: CHGNet relaxation, energy above the convex hull and the
    stable / metastable / unique / novel / S.U.N. rates of generated crystals."""
    from graphdiff_crystals.stability import stability_command

    register("stability", stability_command,
             description="CHGNet relaxation, E_hull (pymatgen PhaseDiagram) and S.U.N. rates of generated crystals")


@hookimpl
def register_references(register: Any) -> None:
    """Register ``xrd``: a powder diffraction pattern that CSP candidates are ranked against
    (``graphdiff sample --task csp --input REF.csv --xrd PATTERN``)."""
    from graphdiff_crystals.xrd import reference

    ref = reference()
    register(ref.name, ref, description=ref.description)


@hookimpl
def register_features(register: Any) -> None:
    """Register the ``elements`` class-feature table (standardised Magpie descriptors of each
    element; :mod:`graphdiff_crystals.elements`), for any categorical field labelled with
    element symbols: ``[model.options] class_features = {atom_types = "elements"}``."""
    from graphdiff_crystals.elements import element_features

    register("elements", element_features,
             description="22 standardised Magpie descriptors of each element (matminer)")
