"""Predictor files at start-up: what they predict, read without torch, and their properties
registered as targets that load the predictor on first use.

A predictor file (:meth:`graphdiff.predictors.Predictor.save`) is a ``torch.save`` zip archive
whose pickled dict holds JSON strings (``arch``, ``meta``...) beside the tensors. Its header is
read here by unpickling that dict with every tensor left out, so listing a predictor's targets
(``graphdiff targets``, ``graphdiff --help``) costs milliseconds, not an import of torch; a file
this reader does not recognise is read with torch instead (:func:`graphdiff.predictors.predictor_header`).
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

from graphdiff.errors import CheckpointError, ConfigError
from graphdiff.registry import factory

__all__ = ["read_header", "predictor_facts", "register_predictor_targets", "register_bundled_predictors",
           "register_env_predictors", "canonical_target_name", "PREDICTORS_ENV"]

#: environment variable: predictor files (or folders of ``*.pt`` predictors), separated by
#: ``os.pathsep``, whose properties the core registers as targets
PREDICTORS_ENV = "GRAPHDIFF_PREDICTORS"
_FORMAT = "graphdiff-predictor"
_HEADERS: dict[tuple[str, float], dict[str, Any]] = {}


class _Unknown(Exception):
    """The file is not laid out as this reader expects (the torch reader decides)."""


class _NoTensors(pickle.Unpickler):
    """Unpickles a ``torch.save`` dict without torch: tensors and storages become ``None``;
    anything but torch's rebuild functions and plain containers is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" or module.startswith("torch."):
            return _none
        raise _Unknown(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> None:
        return None


def _none(*args: Any, **kwargs: Any) -> None:
    return None


def _plain_dict(path: Path) -> dict[str, Any]:
    """The pickled dict of a ``torch.save`` zip archive, tensors left out."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise _Unknown("no single data.pkl")
            raw = archive.read(pickles[0])
    except zipfile.BadZipFile as exc:
        raise _Unknown(str(exc)) from None
    try:
        obj = _NoTensors(io.BytesIO(raw)).load()
    except _Unknown:
        raise
    except Exception as exc:  # noqa: BLE001 - an unpickling failure: let torch have a go
        raise _Unknown(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise _Unknown("not a dict")
    return obj


def read_header(path: str | Path) -> dict[str, Any]:
    """What a predictor file predicts, without torch where the file allows it:
    ``{"domain", "properties", "name", "meta", "arch", "members"}``, as
    :func:`graphdiff.predictors.predictor_header` returns it.

    Raises
    ------
    CheckpointError
        When the file is missing, unreadable, or not a predictor.
    """
    path = Path(path).resolve()
    try:
        key = (str(path), os.stat(path).st_mtime)
    except OSError:
        raise CheckpointError(f"{path}: no such predictor file") from None
    if key in _HEADERS:
        return _HEADERS[key]
    try:
        ckpt = _plain_dict(path)
    except _Unknown:
        from graphdiff.predictors import predictor_header

        return predictor_header(path)
    if ckpt.get("format") != _FORMAT:
        kind = "a diffusion model checkpoint" if ckpt.get("format") == "graphdiff-checkpoint" else \
            "not a graphdiff predictor"
        raise CheckpointError(f"{path}: {kind}, not a predictor (train one with "
                              "`graphdiff predictor train CONFIG`)")
    try:
        arch, meta = json.loads(ckpt["arch"]), json.loads(ckpt.get("meta") or "{}")
        head = {"domain": arch["domain"], "properties": list(arch["properties"]), "name": meta.get("name"),
                "meta": meta, "arch": arch, "members": int(arch["ensemble"])}
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: unreadable predictor header ({exc})") from None
    _HEADERS[key] = head
    return head


def predictor_facts(head: dict[str, Any], prop: str, path: str | None, name: str | None = None) -> dict[str, Any]:
    """The facts of the target of one property of a predictor (header ``head`` as
    :func:`read_header` gives it; ``arch`` may hold only ``offset`` and ``noisy``):
    ``{"name", "domain", "description", "value_range", "offset_targets", "noisy"}``.

    ``name`` is the prefix of the target's name (default: the predictor's ``[predictor] name``,
    else ``'<domain>-predicted'``); ``offset_targets`` are the registered targets its baseline
    reads (``composition`` left out). Raises :class:`~graphdiff.errors.ConfigError` for a
    property the predictor does not predict."""
    if prop not in head["properties"]:
        raise ConfigError(f"the predictor {path or ''} predicts {head['properties']}, not {prop!r}")
    meta = head.get("meta") or {}
    arch = head.get("arch") or {}
    prefix = name or meta.get("name") or f"{head['domain']}-predicted"
    calib = (meta.get("calibration") or {}).get(prop) or {}
    offset_targets = [t for t in (arch.get("offset") or ()) if t != "composition"]
    noisy = bool(arch.get("noisy"))
    note = f"; validation MAE {calib['mae']:.4g}, R2 {calib['r2']:.3f}" if calib.get("n") else ""
    note += f"; learns the residual of a baseline on {', '.join(offset_targets)}" if offset_targets else ""
    note += "; time-aware" if noisy else ""
    where = f" ({path})" if path else ""
    rng = (meta.get("label_range") or {}).get(prop)
    return {"name": f"{prefix}-{prop}", "domain": head["domain"],
            "description": f"{prop} predicted by a {head['members']}-member GNN ensemble{where}{note}",
            "value_range": (float(rng[0]), float(rng[1])) if rng else None,
            "offset_targets": offset_targets, "noisy": noisy}


def _differentiable(facts: dict[str, Any], registry: Any) -> bool | None:
    """Whether the target will have a gradient (``None``: not known yet). It has none when its
    baseline reads a target without one, unless it is time-aware."""
    if facts["noisy"] or not facts["offset_targets"]:
        return True
    if registry is None:
        return None
    for target in facts["offset_targets"]:
        if target not in registry:
            return None  # registered later, or never: the target itself decides on first use
        entry = registry.entry(target)
        if entry.meta("domain", load=False) not in (None, facts["domain"]):
            return False
        if "differentiable" in entry.metadata:
            if not entry.metadata["differentiable"]:
                return False
        elif entry.loaded:
            if getattr(entry.obj, "graph_fn", None) is None:
                return False
        else:
            return None
    return True


def register_predictor_targets(register: Any, path: str | Path, name: str | None = None,
                               alias: str | None = None) -> list[str]:
    """Register each property of the predictor file ``path`` as a target
    (:func:`graphdiff.targets.predictor_target`) that loads the predictor on first use; the
    header is read now. Returns the target names. For a ``register_targets`` hook.

    ``alias``: a second name for the target of a predictor of one property (a bundled
    predictor's own name, ``perov5-heat`` beside ``perov5-heat_ref``), registered with the same
    target, so that the predictor's name works wherever a target is accepted; passed over for a
    predictor of several properties (which property would it be?) or when it is a target's name."""
    path = str(Path(path).resolve())
    head = read_header(path)
    names = []
    for prop in head["properties"]:
        facts = predictor_facts(head, prop, path, name=name)
        metadata: dict[str, Any] = {"domain": facts["domain"], "units": "", "source": path}
        differentiable = _differentiable(facts, getattr(register, "registry", None))
        if differentiable is not None:
            metadata["differentiable"] = differentiable
        located = factory("graphdiff.targets:predictor_target", path, prop, name=name)
        register(facts["name"], located, description=facts["description"], **metadata)
        names.append(facts["name"])
        if alias and len(head["properties"]) == 1 and alias != facts["name"]:
            register(alias, located, description=facts["description"], alias_of=facts["name"], **metadata)
    return names


def canonical_target_name(name: str) -> str:
    """The name of the target ``name`` stands for: a predictor's second name (``perov5-heat``,
    registered with ``alias_of``) gives its target's own (``perov5-heat_ref``); any other name
    is returned as it is."""
    try:
        from graphdiff.plugins import get_manager

        registry = get_manager().registry("targets")
        if name in registry:
            return str(registry.entry(name).metadata.get("alias_of") or name)
    except Exception:  # noqa: BLE001 - no plugins to ask: the name as given
        pass
    return name


def register_bundled_predictors(register: Any, package: str, folder: str = "predictors") -> None:
    """The predictor part of a plugin's ``register_targets`` hook: register the properties of
    every ``*.pt`` predictor in ``package``'s ``folder`` (none when it is empty or absent), and,
    for a predictor of one property whose target is named otherwise, its file's stem as a second
    name of that target (``perov5-heat`` for ``perov5-heat_ref``: the name ``graphdiff predict``
    takes works in ``--target`` and ``--judge`` too)."""
    where = resources.files(package) / folder
    for item in sorted(where.iterdir() if where.is_dir() else [], key=lambda p: p.name):
        if item.name.endswith(".pt"):
            register_predictor_targets(register, str(item), alias=item.name[:-len(".pt")])


def register_env_predictors(register: Any) -> None:
    """Register the properties of every predictor :data:`PREDICTORS_ENV` lists: files (one that
    is not a readable predictor raises :class:`~graphdiff.errors.CheckpointError`), and every
    ``*.pt`` predictor under a folder (other ``*.pt`` files there are passed over)."""
    for item in (os.environ.get(PREDICTORS_ENV) or "").split(os.pathsep):
        if not item.strip():
            continue
        p = Path(item.strip()).expanduser()
        if not p.is_dir():
            register_predictor_targets(register, p)
            continue
        for f in sorted(p.glob("**/*.pt")):
            try:
                read_header(f)
            except CheckpointError:
                continue
            register_predictor_targets(register, f)
