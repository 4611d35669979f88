"""Say which optional part to install before anything fails half-way.

Notebooks, demos and scripts call :func:`require` first::

    from graphdiff.extras import require
    require("crystals", "plots")

Each name is a feature: an optional part of the core (:data:`EXTRAS`: ``plots``, ``orbits``,
``periodic``, ``notebooks``) or one a plugin declares through the ``register_extras`` hook (a domain plugin
declares its domain, e.g. ``crystals``, and any optional part of its own). A missing one raises
:class:`MissingExtraError` naming every missing feature and the exact ``pip install`` line.

A plugin declares its features as it registers anything else::

    @graphdiff.hookimpl
    def register_extras(register):
        register("paths", Extra(("scipy",), "pip install graphdiff-paths", "the paths domain plugin"))

The core knows no plugin: a feature of a plugin that is not installed is a name nobody declares,
which :func:`require` reports as :class:`UnknownExtraError` (both a :class:`MissingExtraError`
and a ``KeyError``), listing the declared names and the closest one.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from typing import Any

from graphdiff.errors import GraphdiffError, UnknownNameError

__all__ = ["EXTRAS", "Extra", "MissingExtraError", "UnknownExtraError", "declared", "missing", "require"]


@dataclass(frozen=True)
class Extra:
    """One optional feature: the modules it needs and how to install it.

    Parameters
    ----------
    modules:
        Top-level modules that must all be importable (found without importing them).
    install:
        The command that installs them (``pip install ...``).
    what:
        What the feature is, for messages and listings.
    """

    modules: tuple[str, ...]
    install: str
    what: str


#: The core's own optional features (registered by :mod:`graphdiff.builtins`).
EXTRAS: dict[str, Extra] = {
    "orbits": Extra(("orbit_count",), 'pip install -e ".[graphs]"', "4-node orbit counts for the orbit MMD"),
    "periodic": Extra(("vesin",), 'pip install -e ".[periodic]"',
                      "neighbour lists for the radius graph of the periodic denoiser"),
    "plots": Extra(("matplotlib",), "pip install matplotlib", "plotting"),
    "notebooks": Extra(("nbclient", "ipykernel"), 'pip install -e ".[docs]"', "running the example notebooks"),
}


class MissingExtraError(GraphdiffError, ImportError):
    """An optional part of graphdiff that this code needs is not installed."""


class UnknownExtraError(MissingExtraError, UnknownNameError):
    """A feature name that neither the core nor an installed plugin declares: a typo, or a
    feature of a plugin that is not installed."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _manager(manager: Any | None) -> Any:
    if manager is not None:
        return manager
    from graphdiff.plugins import get_manager

    return get_manager()


def declared(manager: Any | None = None) -> dict[str, Extra]:
    """Every feature the core and the loaded plugins declare, ``{name: Extra}``, sorted by name.

    Parameters
    ----------
    manager:
        The plugin manager to ask (default: the process-wide one).
    """
    registry = _manager(manager).registry("extras")
    return {name: registry.get(name) for name in registry.names()}


def _unknown(names: list[str], known: dict[str, Extra], manager: Any) -> UnknownExtraError:
    lines = []
    for name in names:
        close = difflib.get_close_matches(name, list(known), n=1)
        lines.append(f"  {name!r}" + (f": did you mean {close[0]!r}?" if close else ""))
    notes = []
    if getattr(manager, "autoload", True) is False:
        notes.append("plugin discovery is off (GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD), so no plugin declared any")
    if getattr(manager, "allow", None) is not None:
        notes.append("only the plugins GRAPHDIFF_PLUGINS names were loaded")
    if getattr(manager, "errors", None):
        notes.append("some plugins failed to load (see `graphdiff plugins`)")
    return UnknownExtraError(
        "unknown optional part(s) of graphdiff: neither the core nor an installed plugin declares\n"
        + "\n".join(lines)
        + f"\nknown: {', '.join(known) or '(none)'}"
        + "".join(f"\n({note})" for note in notes)
        + "\nA domain plugin declares its features once it is installed: install the plugin that provides "
          "them (`make install` at the repository root installs the bundled ones).")


def missing(*names: str, manager: Any | None = None) -> list[str]:
    """The names among ``names`` whose modules are not all importable.

    Raises
    ------
    UnknownExtraError
        For names that neither the core nor an installed plugin declares.
    """
    mgr = _manager(manager)
    known = declared(mgr)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise _unknown(unknown, known, mgr)
    return [n for n in names if not all(_installed(m) for m in known[n].modules)]


def require(*names: str, manager: Any | None = None) -> None:
    """Raise :class:`MissingExtraError` naming what to install if any of ``names`` is missing.

    Parameters
    ----------
    names:
        Feature names (``"crystals"``, ``"plots"``...).
    manager:
        The plugin manager whose declarations count (default: the process-wide one).

    Raises
    ------
    MissingExtraError
        Naming each missing feature, its missing modules and its install line.
    UnknownExtraError
        For names nobody declares (a typo, or a feature of a plugin that is not installed).
    """
    mgr = _manager(manager)
    absent = missing(*names, manager=mgr)
    if not absent:
        return
    known = declared(mgr)
    lines = []
    for name in absent:
        extra = known[name]
        gone = [m for m in extra.modules if not _installed(m)]
        lines.append(f"  {name}: {extra.what} (missing module {', '.join(gone)}) -> {extra.install}")
    raise MissingExtraError("this needs optional parts of graphdiff that are not installed:\n" + "\n".join(lines)
                            + "\n(`make install` at the repository root installs all of them)")
