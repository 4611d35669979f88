"""Graph-level targets of the ``molecules`` domain, with differentiable versions for guidance."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from ase.data import atomic_masses, atomic_numbers

from graphdiff.errors import DataError
from graphdiff.targets import Target
from graphdiff_molecules.domain import as_symbols_positions

__all__ = ["radius_of_gyration", "molecular_mass", "molecule_targets", "molecule_target", "masses_of"]


def masses_of(symbols: Sequence[str]) -> np.ndarray:
    """Standard atomic masses (u) of element symbols, ``float64 [n]``."""
    try:
        return np.array([atomic_masses[atomic_numbers[s]] for s in symbols], dtype=np.float64)
    except KeyError as exc:
        raise DataError(f"unknown element symbol {exc.args[0]!r}") from exc


def _symbols_positions(obj: Any, target: str) -> tuple[list[str], np.ndarray]:
    symbols, pos = as_symbols_positions(obj, f"target {target!r}")
    if not symbols:
        raise DataError(f"target {target!r}: the molecule has no atoms")
    return symbols, pos


def radius_of_gyration(molecule: Any) -> float:
    """Mass-weighted radius of gyration in Å: ``sqrt(sum m_i |r_i - r_cm|^2 / sum m_i)``.

    Invariant to rotations and translations; 0 for one atom; ``d / 2`` for two equal atoms
    ``d`` apart.
    """
    symbols, pos = _symbols_positions(molecule, "radius_of_gyration")
    m = masses_of(symbols)
    com = (m[:, None] * pos).sum(axis=0) / m.sum()
    return float(np.sqrt((m * ((pos - com) ** 2).sum(axis=1)).sum() / m.sum()))


def molecular_mass(molecule: Any) -> float:
    """Sum of standard atomic masses, in u (g/mol); water gives 18.015."""
    symbols, _ = _symbols_positions(molecule, "molecular_mass")
    return float(masses_of(symbols).sum())


def _batch_vector(batch: Any, n: int, device: torch.device) -> tuple[torch.Tensor, int]:
    vec = getattr(batch, "batch", batch)
    if vec is None:
        vec = torch.zeros(n, dtype=torch.long, device=device)
    vec = torch.as_tensor(vec, device=device).long()
    num = getattr(batch, "num_graphs", None)
    return vec, int(num) if num is not None else (int(vec.max()) + 1 if vec.numel() else 0)


def _node_masses(types: torch.Tensor, masses: torch.Tensor) -> torch.Tensor:
    """``[N]`` masses from class ids ``long [N]`` or class probabilities / one-hot ``[N, K]``."""
    masses = masses.to(device=types.device)
    if types.dim() == 1:
        return masses[types.long()]
    return types.to(masses.dtype) @ masses


def _graph_mass(fields: dict[str, torch.Tensor], batch: Any, masses: torch.Tensor) -> torch.Tensor:
    types = fields["atom_types"]
    m = _node_masses(types, masses.to(fields["positions"].dtype))
    vec, num = _batch_vector(batch, m.shape[0], m.device)
    return torch.zeros(num, dtype=m.dtype, device=m.device).index_add(0, vec, m)


def _graph_rg(fields: dict[str, torch.Tensor], batch: Any, masses: torch.Tensor) -> torch.Tensor:
    pos = fields["positions"]
    m = _node_masses(fields["atom_types"], masses.to(pos.dtype))
    vec, num = _batch_vector(batch, m.shape[0], m.device)
    total = torch.zeros(num, dtype=m.dtype, device=m.device).index_add(0, vec, m)
    com = torch.zeros(num, 3, dtype=pos.dtype, device=pos.device).index_add(0, vec, m[:, None] * pos)
    com = com / total[:, None]
    sq = (m * ((pos - com[vec]) ** 2).sum(dim=1))
    rg2 = torch.zeros(num, dtype=m.dtype, device=m.device).index_add(0, vec, sq) / total
    return torch.sqrt(rg2.clamp_min(1e-12))


def molecule_targets(domain: str = "molecules", elements: Sequence[str] = ("H", "C", "N", "O", "F"),
                     ) -> list[Target]:
    """The targets of a molecules domain over ``elements``, named ``"<domain>-<target>"``.

    Each has a differentiable ``graph_fn(fields, batch) -> [num_graphs]`` taking
    ``fields["atom_types"]`` (class ids ``long [N]``, or class probabilities ``[N, K]``:
    expected masses) and ``fields["positions"]`` (``[N, 3]``), with ``batch`` the graph id of
    each node (``long [N]``, or an object with ``.batch``/``.num_graphs``; ``None``: one graph).
    """
    masses = torch.tensor(masses_of(elements), dtype=torch.float64)
    return [
        Target(f"{domain}-radius_of_gyration", domain, radius_of_gyration,
               description="mass-weighted radius of gyration", units="Å",
               graph_fn=lambda fields, batch: _graph_rg(fields, batch, masses)),
        Target(f"{domain}-molecular_mass", domain, molecular_mass,
               description="sum of standard atomic masses", units="u",
               graph_fn=lambda fields, batch: _graph_mass(fields, batch, masses)),
    ]


def molecule_target(name: str, domain: str = "molecules", elements: Sequence[str] | None = None) -> Target:
    """The target of :func:`molecule_targets` called ``name`` (``"<domain>-molecular_mass"``...),
    over ``elements`` (default: QM9's); what the plugin registers by location."""
    from graphdiff_molecules.domain import QM9_ELEMENTS

    found = {t.name: t for t in molecule_targets(domain, QM9_ELEMENTS if elements is None else elements)}
    if name not in found:
        raise KeyError(f"no molecules target {name!r}; targets: {', '.join(found)}")
    return found[name]
