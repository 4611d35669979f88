"""Checks of the arguments the API takes."""

from __future__ import annotations

from typing import Any

from graphdiff.errors import ConfigError


def positive(name: str, value: Any) -> int:
    """``value`` when it is a whole number >= 1; else :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return value
