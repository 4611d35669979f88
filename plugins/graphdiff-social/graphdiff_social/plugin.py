"""Entry point of the social plugin: its hook implementations."""

from __future__ import annotations

from graphdiff import hookimpl
