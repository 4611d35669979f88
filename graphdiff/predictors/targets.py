"""Predictors as targets: each property of a predictor file becomes a registered
:class:`~graphdiff.targets.Target` (``'<name>-<property>'``), for one file
(:func:`predictor_targets`, :func:`register_predictor`) or for every file that
``$GRAPHDIFF_PREDICTORS`` (:data:`PREDICTORS_ENV`) lists (:func:`env_predictor_targets`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from graphdiff.errors import CheckpointError
from graphdiff.predictor_files import PREDICTORS_ENV  # the predictor files the core registers
from graphdiff.predictors.files import predictor_header
from graphdiff.predictors.model import Predictor

__all__ = ["predictor_targets", "register_predictor", "env_predictor_targets", "PREDICTORS_ENV"]


def predictor_targets(predictor: "Predictor | str | Path", name: str | None = None) -> list[Any]:
    """One :class:`~graphdiff.targets.Target` per property of a predictor, named
    ``'<name>-<property>'`` (``name``: the predictor's ``[predictor] name``, default
    ``'<domain>-predicted'``)."""
    from graphdiff.targets import predictor_target

    props = predictor.properties if isinstance(predictor, Predictor) else predictor_header(predictor)["properties"]
    return [predictor_target(predictor, p, name=name) for p in props]


def register_predictor(path: str | Path, name: str | None = None, manager: Any = None) -> list[str]:
    """Register a predictor's properties as targets of the running plugin manager (a plugin named
    ``predictor:<path>``); returns the target names."""
    from graphdiff.plugins import get_manager
    from graphdiff.plugins.hookspecs import hookimpl

    manager = manager or get_manager()
    targets = predictor_targets(Path(path).resolve(), name=name)

    class _Plugin:
        @hookimpl
        def register_targets(self, register):
            for t in targets:
                register(t.name, t, description=t.description)

    label = f"predictor:{Path(path).resolve()}"
    if label in manager.plugins:
        return [t.name for t in targets]
    manager.add_plugin(_Plugin(), label)
    return [t.name for t in targets]


def env_predictor_targets() -> list[Any]:
    """The targets of every predictor that :data:`PREDICTORS_ENV` lists (files, or folders whose
    ``*.pt`` predictors are all taken); the built-ins register them."""
    found = []
    for item in (os.environ.get(PREDICTORS_ENV) or "").split(os.pathsep):
        if not item.strip():
            continue
        p = Path(item.strip()).expanduser()
        files = sorted(p.glob("**/*.pt")) if p.is_dir() else [p]
        for f in files:
            try:
                found.extend(predictor_targets(f))
            except CheckpointError:
                if not p.is_dir():
                    raise
    return found
