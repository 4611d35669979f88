"""Checkpoints shipped inside the plugin (``graphdiff_crystals/checkpoints/NAME.ckpt``).

Each checkpoint has a manifest ``NAME.json`` beside it — what it was trained on, for which task,
the command that made it and its benchmark figures — written by ``benchmarks/crystals_csp.py``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from graphdiff.checkpoints import NamedCheckpoint

__all__ = ["bundled_checkpoints", "checkpoint_dir"]


def checkpoint_dir() -> Path:
    return Path(str(resources.files("graphdiff_crystals") / "checkpoints"))


def bundled_checkpoints() -> list[NamedCheckpoint]:
    """Every ``NAME.ckpt`` with a readable ``NAME.json`` manifest."""
    folder = checkpoint_dir()
    out = []
    if not folder.is_dir():
        return out
    for manifest in sorted(folder.glob("*.json")):
        ckpt = manifest.with_suffix(".ckpt")
        if not ckpt.exists():
            continue
        info = json.loads(manifest.read_text(encoding="utf-8"))
        out.append(NamedCheckpoint(name=manifest.stem, path=ckpt, domain="crystals", task=info["task"],
                                   trained_on=info.get("trained_on", ""), figures=info.get("figures", {}),
                                   made_by=info.get("made_by", "")))
    return out
