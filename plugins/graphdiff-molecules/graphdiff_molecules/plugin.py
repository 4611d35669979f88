"""Entry point of the molecules plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl


@hookimpl
def register_domains(register):
    from graphdiff_molecules.domain import MoleculeDomain

    domain = MoleculeDomain()
    register(domain.name, domain, description=domain.description)


@hookimpl
def register_targets(register):
    """Register the molecules targets on structures, and each property of the bundled predictors
    (``graphdiff_molecules/predictors``, e.g. ``qm9-gap``; only their headers are read here, the
    networks on first use). An empty or absent folder registers none."""
    from importlib import resources

    from graphdiff.predictors import predictor_targets

    from graphdiff_molecules.domain import QM9_ELEMENTS
    from graphdiff_molecules.targets import molecule_targets

    for target in molecule_targets("molecules", QM9_ELEMENTS):
        register(target.name, target, description=target.description)
    folder = resources.files("graphdiff_molecules") / "predictors"
    for path in sorted(folder.iterdir() if folder.is_dir() else [], key=lambda p: p.name):
        if path.name.endswith(".pt"):
            for target in predictor_targets(str(path)):
                register(target.name, target, description=target.description)


@hookimpl
def register_metrics(register):
    """Register ``molecules-dng``: EDM's atom / molecule stability, RDKit validity, uniqueness
    and novelty (``graphdiff evaluate --domain molecules --task dng``)."""
    from graphdiff_molecules.edm_metrics import dng_metric

    register("molecules-dng", dng_metric,
             description="De novo stability, validity, uniqueness, novelty (EDM protocol)")


@hookimpl
def register_checkpoints(register):
    """Register the checkpoints shipped in ``graphdiff_molecules/checkpoints`` (each with a JSON
    manifest written by ``benchmarks/molecules_qm9.py``)."""
    from graphdiff.checkpoints import register_bundled

    register_bundled(register, "graphdiff_molecules", "molecules")
