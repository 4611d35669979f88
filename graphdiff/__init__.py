"""graphdiff: diffusion models that generate graphs.

One diffusion loop serves every graph domain; domains (crystals, molecules, social and traffic
networks) arrive as plugins found through the ``graphdiff`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from graphdiff.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "load_domain", "registry", "load", "Model", "Samples", "evaluate",
           "load_predictor", "convert"]

#: the Python API (graphdiff.api), imported on first use so that ``import graphdiff`` stays light
_API = {"load", "Model", "Samples", "evaluate", "load_predictor", "PredictorModel"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from graphdiff import api

        return getattr(api, name)
    if name == "convert":  # graphdiff.conversion.convert, the `graphdiff convert` command's function
        from graphdiff.conversion import convert

        return convert
    raise AttributeError(f"module 'graphdiff' has no attribute {name!r}")


def registry(kind: str) -> Any:
    """The registry of one extension kind (``"domains"``, ``"schedules"``...)."""
    from graphdiff.plugins import get_manager

    return get_manager().registry(kind)


def load_domain(name: str) -> Any:
    """The registered :class:`~graphdiff.domain.Domain` called ``name``."""
    return registry("domains").get(name)
