"""Entry point of the molecules plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl
