"""Checkpoints shipped inside the plugin (``graphdiff_crystals/checkpoints/NAME.ckpt``).

Each checkpoint has a manifest ``NAME.json`` beside it — what it was trained on, for which task,
the command that made it and its benchmark figures — written by ``benchmarks/crystals/crystals_csp.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from graphdiff.checkpoints import NamedCheckpoint, bundled_in

__all__ = ["bundled_checkpoints", "checkpoint_dir"]


def checkpoint_dir() -> Path:
    return Path(str(resources.files("graphdiff_crystals") / "checkpoints"))


def bundled_checkpoints() -> list[NamedCheckpoint]:
    """Every ``NAME.ckpt`` with a readable ``NAME.json`` manifest."""
    return bundled_in("graphdiff_crystals", "crystals")
