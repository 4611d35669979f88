"""Entry point of the traffic plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl
