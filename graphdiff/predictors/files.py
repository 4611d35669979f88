"""The predictor file: its format, its header, and where predictor files are found.

A predictor file is one ``torch.save`` archive marked :data:`PREDICTOR_FORMAT`
(:meth:`~graphdiff.predictors.model.Predictor.save` writes it). :func:`read_file` reads it,
:func:`predictor_header` says what it predicts without building its networks, and
:func:`resolve_predictor` finds a file by path, by a bundled predictor's name
(:func:`bundled_predictors`) or by the name of one of its targets
(:func:`predictor_target_files`). This module imports no torch until a file is read
(:mod:`graphdiff.predictor_files` reads headers without torch at all).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from graphdiff.errors import CheckpointError

__all__ = ["PREDICTOR_FORMAT", "read_file", "predictor_header", "bundled_predictors", "predictor_target_files",
           "resolve_predictor"]

PREDICTOR_FORMAT = "graphdiff-predictor"
_HEADERS: dict[tuple[str, float], dict[str, Any]] = {}


def read_file(path: Path, mmap: bool = False) -> dict[str, Any]:
    """The dict a predictor file holds (``mmap``: its tensors memory-mapped); a file that is
    not a predictor raises :class:`~graphdiff.errors.CheckpointError` saying what it is."""
    from graphdiff.model import load_torch_file

    ckpt = load_torch_file(path, "predictor", mmap=mmap)
    if not isinstance(ckpt, dict) or ckpt.get("format") != PREDICTOR_FORMAT:
        kind = ("a diffusion model checkpoint" if isinstance(ckpt, dict)
                and ckpt.get("format") == "graphdiff-checkpoint" else "not a graphdiff predictor")
        raise CheckpointError(f"{path}: {kind}, not a predictor (train one with "
                              "`graphdiff predictor train CONFIG`)")
    return ckpt


def predictor_header(path: str | Path) -> dict[str, Any]:
    """What a predictor file predicts, without building its networks (no plugin look-ups):
    ``{"domain", "properties", "name", "meta", "arch"}``."""
    path = Path(path).resolve()
    try:
        key = (str(path), os.stat(path).st_mtime)
    except OSError:
        raise CheckpointError(f"{path}: no such predictor file") from None
    if key not in _HEADERS:
        ckpt = read_file(path, mmap=True)
        try:
            arch, meta = json.loads(ckpt["arch"]), json.loads(ckpt.get("meta") or "{}")
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: unreadable predictor header ({exc})") from None
        _HEADERS[key] = {"domain": arch["domain"], "properties": list(arch["properties"]),
                         "name": meta.get("name"), "meta": meta, "arch": arch,
                         "members": int(arch["ensemble"])}
    return _HEADERS[key]


def bundled_predictors() -> dict[str, Path]:
    """``{name: file}`` of the predictor files the installed plugins register as targets (a
    bundled predictor's name is its file's stem: ``perov5-heat``, ``qm9-gap``)."""
    from graphdiff.plugins import get_manager

    out: dict[str, Path] = {}
    for entry in get_manager().registry("targets").entries():
        src = entry.meta("source", None, load=False)  # predictor targets say so at registration
        if src:
            out.setdefault(Path(src).stem, Path(src))
    return dict(sorted(out.items()))


def predictor_target_files() -> dict[str, Path]:
    """``{target name: predictor file}`` of the registered targets that read a predictor file
    (``perov5-heat_ref``: the bundled ``perov5-heat``), so that a predictor is found by the name
    of any of its targets as well as by its own."""
    from graphdiff.plugins import get_manager

    out: dict[str, Path] = {}
    for entry in get_manager().registry("targets").entries():
        src = entry.meta("source", None, load=False)
        if src:
            out[entry.name] = Path(src)
    return dict(sorted(out.items()))


def resolve_predictor(ref: str | Path) -> Path:
    """A predictor file from a path, a bundled predictor's name (:func:`bundled_predictors`:
    ``perov5-heat``) or the name of one of its registered targets
    (:func:`predictor_target_files`: ``perov5-heat_ref``), so that one name works wherever a
    predictor or a target is accepted.

    A reference that names none of these raises :class:`~graphdiff.errors.CheckpointError`
    listing the bundled names and their targets."""
    path = Path(ref)
    if path.is_file():
        return path.resolve()
    bundled = bundled_predictors()
    if str(ref) in bundled:
        return bundled[str(ref)]
    by_target = predictor_target_files()
    if str(ref) in by_target:
        return by_target[str(ref)]
    targets: dict[Path, list[str]] = {}
    for name, file in by_target.items():
        targets.setdefault(file.resolve(), []).append(name)
    names = ", ".join(f"{stem}" + (f" (targets {', '.join(t)})" if (t := [x for x in targets.get(f.resolve(), [])
                                                                          if x != stem]) else "")
                      for stem, f in bundled.items()) or "none installed"
    raise CheckpointError(f"{ref}: no such predictor file, nor a bundled predictor or predictor target "
                          f"(bundled: {names})")
