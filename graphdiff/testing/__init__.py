"""Test helpers for plugin authors: strategies, fixtures and assertions.

* :mod:`graphdiff.testing.strategies` — hypothesis strategies for random graphs of any
  :class:`~graphdiff.graph.GraphSpec`.
* :func:`assert_roundtrip` — ``domain.from_graph(domain.to_graph(obj))`` equals ``obj``.
* :func:`assert_refuses_non_ase_databases` — a ``.db`` reader refuses, untouched, files that are
  not ASE databases.
* :func:`assert_permutation_equivariant`, :func:`assert_rotation_equivariant`,
  :func:`assert_periodic_invariant`, :func:`assert_condition_masking` — numerical symmetry
  checks of a denoiser on :func:`random_noisy_graphs`.
* :func:`assert_lazy_registrations` — what a plugin registered by location loads, and agrees
  with the description and metadata it was registered with.
* :func:`isolated_manager` / the ``graphdiff_plugins`` pytest fixture — a fresh plugin manager
  with autoload off, into which a test registers plugin objects by hand.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from graphdiff.testing.asserts import assert_refuses_non_ase_databases, assert_roundtrip
from graphdiff.testing.registrations import assert_lazy_registrations
from graphdiff.testing.symmetry import (
    assert_condition_masking,
    assert_periodic_invariant,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    random_noisy_graphs,
)

__all__ = [
    "assert_roundtrip",
    "assert_refuses_non_ase_databases",
    "assert_lazy_registrations",
    "isolated_manager",
    "assert_permutation_equivariant",
    "assert_rotation_equivariant",
    "assert_periodic_invariant",
    "assert_condition_masking",
    "random_noisy_graphs",
]


@contextmanager
def isolated_manager(*plugins: Any, builtins: bool = True, strict: bool = False) -> Iterator[Any]:
    """A fresh, loaded :class:`~graphdiff.plugins.PluginManager` with no entry-point discovery,
    installed as the process-wide manager for the duration of the ``with`` block.

    Each positional argument is a plugin object (a module or any object with hook
    implementations); it is registered under its ``__name__`` (or class name).
    """
    from graphdiff.plugins import PluginManager, reset_manager

    pm = PluginManager(autoload=False, strict=strict, builtins=builtins).load()
    for plugin in plugins:
        pm.add_plugin(plugin, getattr(plugin, "__name__", type(plugin).__name__))
    previous = reset_manager(pm)
    try:
        yield pm
    finally:
        reset_manager(previous)
