"""Thermodynamic stability of generated crystals: CHGNet relaxation, energy above the convex hull,
and the S.U.N. rates (stable, unique, novel) of MatterGen.

``graphdiff stability --generated GEN.csv (--entries MP.json | --train TRAIN.csv) --out OUT.json``
(registered by the crystals plugin through ``register_commands``) runs :func:`run_stability`.
See ``docs/stability.md`` for the protocol. The parts:

:mod:`~graphdiff_crystals.stability.relaxation`
    CHGNet relaxation settings and engines (batched, or chgnet's ``StructOptimizer``
    calculator with ASE's FIRE and ``FrechetCellFilter``), a time limit per structure, worker
    processes and the cache of relaxed energies.
:mod:`~graphdiff_crystals.stability.batch_relax`
    The batched relaxer: FIRE on ``FrechetCellFilter`` coordinates for many structures per
    CHGNet call (also ``CrystalDomain.relax``); CHGNet loaded once per process.
:mod:`~graphdiff_crystals.stability.entries`
    Reference entries (``--entries``: the Materials Project API's JSON) and the MP2020 scale
    CHGNet energies are on.
:mod:`~graphdiff_crystals.stability.references`
    Elemental references: standard structures of the elements, and the shipped CHGNet
    references (``data/chgnet_elemental_references.json``) a ``--train`` hull takes for the
    elements the training set gives none of.
:mod:`~graphdiff_crystals.stability.hull`
    The reference hull and E_hull per chemical system, from entries or from a training set.
:mod:`~graphdiff_crystals.stability.report`
    Relaxing and scoring the generated structures; the rates, each over the structures it could
    be computed for ("scored M of N").
:mod:`~graphdiff_crystals.stability.cli`
    The ``graphdiff stability`` command.

Everything public is importable from ``graphdiff_crystals.stability`` itself.
"""

from __future__ import annotations

from graphdiff_crystals.stability.batch_relax import load_chgnet, relax_batch
from graphdiff_crystals.stability.cli import stability_command, summary_lines
from graphdiff_crystals.stability.entries import ENERGY_PROTOCOL, correct_entries, load_entries
from graphdiff_crystals.stability.hull import ReferenceHull, hull_from_entries, hull_from_train
from graphdiff_crystals.stability.references import (MOLECULE_BOX, SHIPPED_REFERENCES, shipped_reference_entries,
                                                     shipped_references, standard_element_structure)
from graphdiff_crystals.stability.relaxation import (ENGINES, RelaxCache, Relaxer, RelaxSettings, relax_structures,
                                                     structure_key)
from graphdiff_crystals.stability.report import (E_HULL_TOL, METASTABLE_THRESHOLD, RATES, STABLE_THRESHOLD,
                                                 run_stability, stability_report, summarise)

__all__ = [
    "STABLE_THRESHOLD", "METASTABLE_THRESHOLD", "E_HULL_TOL", "RATES", "RelaxSettings", "Relaxer", "relax_structures",
    "RelaxCache", "structure_key", "load_entries", "correct_entries", "ReferenceHull", "standard_element_structure",
    "shipped_references", "shipped_reference_entries", "SHIPPED_REFERENCES", "MOLECULE_BOX",
    "hull_from_entries", "hull_from_train", "stability_report", "summarise", "run_stability", "stability_command",
    "summary_lines", "ENERGY_PROTOCOL", "relax_batch", "load_chgnet", "ENGINES",
]
