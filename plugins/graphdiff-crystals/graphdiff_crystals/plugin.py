"""Entry point of the crystals plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl
