"""Named, bundled checkpoints that plugins ship and register (``register_checkpoints``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["NamedCheckpoint", "bundled_in", "find_named", "list_named", "register_bundled"]


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


def bundled_in(package: str, domain: str, folder: str = "checkpoints") -> list[NamedCheckpoint]:
    """Every ``NAME.ckpt`` with a ``NAME.json`` manifest in ``package``'s ``folder``.

    The manifest holds ``task`` and optionally ``trained_on``, ``figures``, ``made_by`` (a
    benchmark script writes it beside the checkpoint). A plugin's ``register_checkpoints`` hook
    registers what this returns."""
    where = Path(str(resources.files(package) / folder))
    out: list[NamedCheckpoint] = []
    if not where.is_dir():
        return out
    for manifest in sorted(where.glob("*.json")):
        ckpt = manifest.with_suffix(".ckpt")
        if not ckpt.exists():
            continue
        info = json.loads(manifest.read_text(encoding="utf-8"))
        out.append(NamedCheckpoint(name=manifest.stem, path=ckpt, domain=domain, task=info["task"],
                                   trained_on=info.get("trained_on", ""), figures=info.get("figures", {}),
                                   made_by=info.get("made_by", "")))
    return out


def register_bundled(register: Any, package: str, domain: str, folder: str = "checkpoints") -> None:
    """The body of a plugin's ``register_checkpoints`` hook: register every checkpoint
    :func:`bundled_in` finds in ``package``."""
    for ckpt in bundled_in(package, domain, folder):
        register(ckpt.name, ckpt, description=f"{ckpt.domain} {ckpt.task}: {ckpt.trained_on}")
