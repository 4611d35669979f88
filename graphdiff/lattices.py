"""Periodic cells stored as graph-level fields: how the core reads a domain's lattice.

A domain whose graphs live in a periodic cell stores the cell as a graph-level continuous field
in a form of its own choosing (crystals: six O(3)-invariant parameters). A model that needs the
geometry of a noisy state, such as the radius graph of
:class:`graphdiff.nn.periodic.PeriodicDenoiser`, turns that field into lattice matrices through
a :class:`LatticeCodec` that a plugin registers (hook ``register_lattices``); the core holds no
lattice parametrisation of its own.

A plugin registers its codec by where it lives, so that start-up imports nothing::

    @graphdiff.hookimpl
    def register_lattices(register):
        register("crystals", "graphdiff_crystals.lattice:CODEC", description="...")

and a denoiser names it in its options (``[model.options] lattice = "crystals"``); when it names
none, the only registered codec is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["LatticeCodec", "lattice_codec"]


@dataclass(frozen=True)
class LatticeCodec:
    """How a graph-level continuous field holds the periodic cell of each graph.

    Parameters
    ----------
    dim:
        Width of the field.
    to_matrix:
        ``to_matrix(params) -> lattice``: ``params`` ``[..., dim]`` (any reals, as a noisy
        state holds them) to lattice matrices ``[..., 3, 3]`` whose rows are the lattice vectors
        (Cartesian positions are ``frac @ lattice``). Batched over leading dimensions and
        differentiable (gradient guidance flows through it). It may bound the cell, so that a
        very noisy state cannot ask a neighbour search for an absurd cell.
    field:
        The usual name of the field: a model takes the graph-level continuous field of width
        ``dim`` with this name, or the only one of that width.
    description:
        What the parametrisation is, for listings.
    """

    dim: int
    to_matrix: Callable[[Any], Any]
    field: str = "lattice"
    description: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.dim, int) and self.dim >= 1):
            raise ValueError(f"LatticeCodec: dim must be an integer >= 1, got {self.dim!r}")
        if not callable(self.to_matrix):
            raise TypeError(f"LatticeCodec: to_matrix must be callable, got {type(self.to_matrix).__name__}")


def lattice_codec(name: str | None, where: str) -> tuple[str, LatticeCodec]:
    """The registered codec ``name`` (default: the only one registered), with its name.

    Parameters
    ----------
    name:
        A name of the ``lattices`` registry, or ``None``.
    where:
        Text naming the caller in messages (a denoiser's class).

    Raises
    ------
    ValueError
        For an unknown name, or when ``name`` is ``None`` and not exactly one codec is
        registered; the message lists the registered ones.
    """
    from graphdiff.errors import RegistryError
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("lattices")
    if name is None:
        names = registry.names()
        if len(names) != 1:
            found = f"registered: {', '.join(names)}" if names else "no installed plugin registers one"
            raise ValueError(f"{where}: the radius graph reads the lattice through a lattice codec; "
                             f"name one with the option lattice = NAME ({found})")
        name = names[0]
    try:
        return name, registry.get(name)
    except RegistryError as exc:
        raise ValueError(f"{where}: lattice: {exc}") from None
