"""Named, bundled checkpoints that plugins ship and register (``register_checkpoints``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NamedCheckpoint", "find_named", "list_named"]


@dataclass(frozen=True)
class NamedCheckpoint:
    """A trained model shipped inside a plugin.

    Parameters
    ----------
    name:
        The name users pass instead of a path (``--checkpoint perov5-csp``).
    path:
        The file (inside the plugin's package data).
    domain, task:
        What it generates (``"crystals"``, ``"csp"``).
    trained_on:
        The data it was trained on, in words.
    figures:
        Benchmark figures (name -> value), from the plugin's benchmark results.
    made_by:
        The command that made it.
    """

    name: str
    path: Path
    domain: str
    task: str
    trained_on: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    made_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "domain": self.domain, "task": self.task,
                "trained_on": self.trained_on, "figures": dict(self.figures), "made_by": self.made_by}


def list_named() -> list[NamedCheckpoint]:
    from graphdiff.plugins import get_manager

    return [e.obj for e in get_manager().registry("checkpoints").entries()]


def find_named(name: str) -> NamedCheckpoint | None:
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("checkpoints")
    return registry.get(name) if name in registry else None
