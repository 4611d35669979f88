"""Typed errors. Every message says what is wrong and where (file, row, field, plugin)."""

from __future__ import annotations


class GraphdiffError(Exception):
    """Base class of every error graphdiff raises on purpose."""


class RegistryError(GraphdiffError, KeyError):
    """A name is unknown to a registry, or registered twice."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnknownNameError(RegistryError):
    """A look-up used a name no plugin registered."""


class DuplicateNameError(RegistryError):
    """Two registrations used the same name in one registry."""


class AmbiguousNameError(RegistryError):
    """A look-up used a name that two or more plugins registered: none of them is used, and the
    message names every plugin that claims it (see :mod:`graphdiff.plugins.manager`)."""


class PluginError(GraphdiffError):
    """A plugin failed to import, has a bad hook, or registered something invalid."""


class ConfigError(GraphdiffError, ValueError):
    """A run configuration is invalid; the message names the file and the field."""


class GraphValidationError(GraphdiffError, ValueError):
    """A graph does not match its domain's :class:`~graphdiff.graph.GraphSpec`."""


class DataError(GraphdiffError, ValueError):
    """Input data could not be read or converted; the message names the source and row."""


def skipped_summary(skipped: list[dict[str, str]], first: int = 3) -> str:
    """``"200 skipped; the first: <where>: <reason>; ..."`` for a message about a skip report
    (``{"where", "reason"}`` rows): the count and the first ``first`` reasons, so that an error
    such as "no usable items" says why."""
    if not skipped:
        return "none skipped"
    shown = "; ".join(f"{s.get('where', '?')}: {s.get('reason', '?')}" for s in skipped[:first])
    more = f"; and {len(skipped) - first} more" if len(skipped) > first else ""
    return f"{len(skipped)} skipped; {'the first' if len(skipped) > 1 else 'it'}: {shown}{more}"


class CheckpointError(GraphdiffError):
    """A checkpoint is corrupt, missing, or belongs to another configuration."""


class TrainingError(GraphdiffError, RuntimeError):
    """Training cannot go on (for example a non-finite loss)."""


class LazyLoadError(PluginError):
    """An object a plugin registered by where it lives (``"module:attribute"``) failed to import,
    or is not what its registry accepts, on first use.

    ``origin`` names the plugin (distribution and entry point), ``detail`` says what failed."""

    def __init__(self, message: str, *, origin: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.origin = origin
        self.detail = detail
