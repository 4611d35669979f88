"""Graph-level targets of crystals: scalar properties computed from a pymatgen ``Structure``.

Each but the number of elements also has a differentiable ``graph_fn(fields, batch) -> Tensor
[num_graphs]`` on the graph
fields (``lattice`` parameters ``[B, 6]``; ``atom_types`` as class ids ``long [N]`` or class
probabilities ``[N, 100]``), so ``graphdiff sample --target crystals-density>=3`` and
``graphdiff interpolate --target ...`` steer sampling by gradient guidance.
"""

from __future__ import annotations

from typing import Any

from graphdiff.errors import DataError
from graphdiff.targets import Target

__all__ = ["density", "volume_per_atom", "num_elements", "chgnet_energy", "chgnet_energies", "graph_density",
           "graph_volume_per_atom", "graph_chgnet_energy", "TARGETS", "DENSITY", "VOLUME_PER_ATOM",
           "NUM_ELEMENTS", "CHGNET_ENERGY"]

#: g/cm³ per amu/Å³ (pymatgen's ``Structure.density`` uses the same constant)
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


def _structure(obj: Any) -> Any:
    from pymatgen.core.structure import IStructure

    if not isinstance(obj, IStructure):
        raise DataError(f"crystal targets take a pymatgen Structure, got {type(obj).__name__}")
    if len(obj) == 0:
        raise DataError("crystal targets need a structure with at least one atom")
    return obj


def density(structure: Any) -> float:
    """Mass density in g/cm³ (total atomic mass over cell volume)."""
    return float(_structure(structure).density)


def volume_per_atom(structure: Any) -> float:
    """Cell volume per atom in Å³."""
    s = _structure(structure)
    return float(s.volume) / len(s)


def num_elements(structure: Any) -> float:
    """Number of distinct elements (CDVAE's "# elements" property)."""
    return float(len(_structure(structure).composition.elements))


_CHGNET: Any = None

#: atoms per Å³ above which CHGNet is not asked: diamond, the densest solid in atoms, has 0.18;
#: a cell squeezed far beyond that (a generator gone wrong) gives CHGNet thousands of neighbours
#: per atom within its 5 Å cutoff, which can exhaust the memory, for a meaningless number
CHGNET_MAX_NUMBER_DENSITY = 0.5
#: the heaviest element CHGNet embeds (Pu)
CHGNET_MAX_Z = 94


def chgnet_energy(structure: Any) -> float:
    """Energy per atom (eV/atom) that CHGNet (its bundled weights, loaded once, on the CPU)
    predicts for the structure as it is, unrelaxed. ``graphdiff stability`` relaxes first.
    A structure denser than :data:`CHGNET_MAX_NUMBER_DENSITY` atoms per Å³ is refused."""
    s = _chgnet_structure(structure)
    try:
        return float(_chgnet().predict_structure(s, task="e")["e"])
    except Exception as exc:  # noqa: BLE001 - elements CHGNet lacks, isolated atoms...
        raise DataError(f"CHGNet cannot score {s.composition.reduced_formula}: {type(exc).__name__}: {exc}") from exc


def chgnet_energies(structures: Any) -> list[float]:
    """:func:`chgnet_energy` of many structures in batched CHGNet calls (the same values, several
    times faster); a structure it would refuse raises the same :class:`DataError`."""
    ss = [_chgnet_structure(s) for s in structures]
    if not ss:
        return []
    try:
        preds = _chgnet().predict_structure(ss, task="e", batch_size=64)
    except Exception:  # noqa: BLE001 - one structure CHGNet cannot read: find it, one by one
        return [chgnet_energy(s) for s in ss]
    return [float(p["e"]) for p in (preds if isinstance(preds, list) else [preds])]


def _chgnet_structure(structure: Any) -> Any:
    """The structure, unless it is denser than :data:`CHGNET_MAX_NUMBER_DENSITY` (a
    :class:`DataError` naming its formula)."""
    s = _structure(structure)
    if not s.volume > 0 or len(s) / s.volume > CHGNET_MAX_NUMBER_DENSITY:
        raise DataError(f"CHGNet is not asked to score {s.composition.reduced_formula} at "
                        f"{len(s) / max(s.volume, 1e-12):.3g} atoms/Å³ (over {CHGNET_MAX_NUMBER_DENSITY}: "
                        "no solid is that dense; diamond has 0.18)")
    return s


def _chgnet() -> Any:
    """The bundled CHGNet, loaded once, on the CPU, its weights frozen (gradients flow to the
    inputs only)."""
    global _CHGNET
    if _CHGNET is None:
        from chgnet.model import CHGNet

        _CHGNET = CHGNet.load(use_device="cpu", verbose=False)
        for p in _CHGNET.parameters():
            p.requires_grad_(False)
    return _CHGNET


def graph_chgnet_energy(fields: dict[str, Any], batch: Any = None) -> Any:
    """Differentiable :func:`chgnet_energy` of each graph of a batch (eV/atom, ``[num_graphs]``),
    in the fractional coordinates and the lattice parameters.

    Each graph's neighbour list (CHGNet's 5 Å / 3 Å cut-offs) is built from its current values;
    the distances and angles are then recomputed from the differentiable tensors, as CHGNet does
    for its forces and stress, so the gradient is exact for that neighbour list. Atom types
    enter as class ids (probabilities are arg-maxed: no gradient through them). A graph denser
    than :data:`CHGNET_MAX_NUMBER_DENSITY` atoms per Å³, with an element beyond Pu (Z 94, which
    CHGNet does not embed), or that CHGNet cannot read otherwise, is given
    the constant 0 eV/atom without gradient (a clean estimate early in sampling can be such a
    cell), rather than stopping the sampler."""
    import numpy as np
    import torch
    from pymatgen.core import Lattice, Structure

    from graphdiff_crystals.lattice import params_to_lattice

    model = _chgnet()
    lattice = fields["lattice"]
    types, frac = fields["atom_types"], fields["frac_coords"]
    vec, num = _graph_index(batch, frac.shape[0], frac.device)
    ids = types.argmax(-1) if types.dim() == 2 else types.long().view(-1)
    mats = params_to_lattice(lattice.reshape(-1, 6))
    wrapped = frac - torch.floor(frac).detach()
    graphs, scored = [], []
    for b in range(num):
        idx = (vec == b).nonzero().view(-1)
        m = mats[b].detach().cpu().double().numpy()
        vol = abs(float(np.linalg.det(m)))
        z = (ids[idx] + 1).cpu().tolist()
        if (not idx.numel() or not vol > 0 or len(z) / vol > CHGNET_MAX_NUMBER_DENSITY
                or max(z) > CHGNET_MAX_Z):
            continue
        try:
            graph = model.graph_converter(Structure(Lattice(m), z, wrapped[idx].detach().cpu().double().numpy()))
        except Exception:  # noqa: BLE001 - elements CHGNet lacks, degenerate cells
            continue
        graph.atom_frac_coord = wrapped[idx].to(torch.float32).cpu()
        graph.lattice = mats[b].to(torch.float32).cpu()
        graphs.append(graph)
        scored.append(b)
    out = lattice.new_zeros(num)
    if graphs:  # one batched CHGNet call
        energy = model(graphs, task="e")["e"].view(-1).to(lattice)
        out = out.index_put((torch.tensor(scored, device=lattice.device),), energy)
    return out


def _masses(dtype: Any, device: Any) -> Any:
    """Atomic masses (amu) of Z = 1..100 as a tensor ``[100]`` (class ``k`` is ``Z = k + 1``)."""
    import torch
    from pymatgen.core.periodic_table import Element

    global _MASSES
    if _MASSES is None:
        _MASSES = torch.tensor([float(Element.from_Z(z).atomic_mass) for z in range(1, 101)],
                               dtype=torch.float64)
    return _MASSES.to(dtype=dtype, device=device)


_MASSES: Any = None


def _graph_index(batch: Any, n: int, device: Any) -> tuple[Any, int]:
    """``(graph id of each node [N], number of graphs)`` from a batch vector, an object with
    ``.batch`` (and ``.ptr`` or ``.num_graphs``), or ``None`` (one graph)."""
    import torch

    vec = getattr(batch, "batch", batch)
    if vec is None:
        return torch.zeros(n, dtype=torch.long, device=device), 1
    vec = torch.as_tensor(vec, device=device).long()
    ptr = getattr(batch, "ptr", None)
    num = getattr(batch, "num_graphs", None)
    if num is None:
        num = len(ptr) - 1 if ptr is not None else (int(vec.max()) + 1 if vec.numel() else 0)
    return vec, int(num)


def _volumes_sizes_masses(fields: dict[str, Any], batch: Any) -> tuple[Any, Any, Any]:
    import torch

    lattice = fields["lattice"]
    volume = torch.exp(lattice[..., :3].sum(-1)).reshape(-1)  # C11 C22 C33 = |det L|
    types = fields["atom_types"]
    vec, num = _graph_index(batch, types.shape[0], lattice.device)
    masses = _masses(lattice.dtype, lattice.device)
    node_mass = masses[types.long()] if types.dim() == 1 else types.to(lattice.dtype) @ masses
    mass = torch.zeros(num, dtype=lattice.dtype, device=lattice.device).index_add(0, vec, node_mass)
    sizes = torch.zeros(num, dtype=lattice.dtype, device=lattice.device).index_add(
        0, vec, torch.ones_like(node_mass))
    return volume, sizes, mass


def graph_density(fields: dict[str, Any], batch: Any = None) -> Any:
    """Differentiable :func:`density` of each graph of a batch, in g/cm³ (``[num_graphs]``)."""
    volume, _, mass = _volumes_sizes_masses(fields, batch)
    return _AMU_PER_A3_TO_G_PER_CM3 * mass / volume


def graph_volume_per_atom(fields: dict[str, Any], batch: Any = None) -> Any:
    """Differentiable :func:`volume_per_atom` of each graph of a batch, in Å³ (``[num_graphs]``)."""
    volume, sizes, _ = _volumes_sizes_masses(fields, batch)
    return volume / sizes.clamp_min(1)


DENSITY = Target("crystals-density", "crystals", density, description="mass density of the crystal",
                 units="g/cm^3", graph_fn=graph_density)
VOLUME_PER_ATOM = Target("crystals-volume_per_atom", "crystals", volume_per_atom, description="cell volume per atom",
                         units="Å^3/atom", graph_fn=graph_volume_per_atom)
NUM_ELEMENTS = Target("crystals-num_elements", "crystals", num_elements, description="number of distinct elements")
CHGNET_ENERGY = Target("crystals-chgnet_energy", "crystals", chgnet_energy,
                       description="CHGNet energy of the unrelaxed structure", units="eV/atom",
                       graph_fn=graph_chgnet_energy, batch_fn=chgnet_energies)

#: The targets this plugin registers (:mod:`graphdiff_crystals.plugin` names each by its attribute).
TARGETS: tuple[Target, ...] = (DENSITY, VOLUME_PER_ATOM, NUM_ELEMENTS, CHGNET_ENERGY)
