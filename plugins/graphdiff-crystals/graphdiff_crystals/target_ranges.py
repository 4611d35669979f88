"""The range of a crystal target over a model's training data: what ``graphdiff sample --target``
warns against (:meth:`graphdiff_crystals.domain.CrystalDomain.target_range`,
:func:`graphdiff.runner.warn_outside_training_range`).

``graphdiff train`` records the range of every :data:`RANGE_TARGETS` target over the training
structures in the checkpoint's metadata (``target_ranges``, :func:`training_ranges`), and the
bundled checkpoints carry the ranges over their training files (written by
``benchmarks/crystals/crystals_checkpoint_ranges.py``). For an older checkpoint without them, the range
is computed from what the checkpoint records of its training data (``Model.trained_on``:
``dataset`` and ``source``), in this order:

1. the plugin's bundled sample of that ``dataset`` (:func:`graphdiff_crystals.io.sample_path`:
   200 Carbon-24 or 600 Perov-5 structures drawn from the CDVAE ``val.csv`` the bundled
   checkpoints were trained on): the same data on every machine, read in about a second. Being
   a sample, its range can be narrower than the training data's (Carbon-24 density: 2.55–3.67
   g/cm³ over the sample, 2.22–3.67 over the 1,626 structures of the bundled checkpoint's
   training file), and the warning says what it was computed over;
2. otherwise the ``source`` file, where it exists on this machine (its first
   :data:`MAX_ITEMS` structures);
3. otherwise none, and no warning.

Only the structure targets cheap enough to compute at request time are covered
(:data:`RANGE_TARGETS`); CHGNet energies and predictor targets are not (a predictor's own
trained range is checked by the core).
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from pathlib import Path
from typing import Any

__all__ = ["RANGE_TARGETS", "MAX_ITEMS", "training_source", "target_range", "training_ranges"]

#: Targets whose range over the training structures is computed (cheap: no model).
RANGE_TARGETS = ("crystals-density", "crystals-volume_per_atom", "crystals-num_elements")
#: Most structures of a ``source`` file read for a range.
MAX_ITEMS = 1000


def training_source(meta: dict[str, Any]) -> tuple[Path, str] | None:
    """``(path, description)`` of the structures standing for a checkpoint's training data
    (see the module docstring), or ``None``."""
    from graphdiff_crystals.io import sample_path

    dataset = meta.get("dataset")
    if dataset:
        try:
            path = sample_path(str(dataset))
        except ValueError:
            path = None
        if path is not None and path.is_file():
            return path, (f"of {path.name}, a bundled sample of this model's training data ({dataset}; the "
                          "full data may reach a little further)")
    source = meta.get("source")
    if source and Path(str(source)).is_file():
        return Path(str(source)), f"of its training file {Path(str(source)).name}"
    return None


@functools.lru_cache(maxsize=32)
def _values(path: str, mtime: float, name: str) -> tuple[float, float, int]:
    """``(min, max, count)`` of registered target ``name`` over the first :data:`MAX_ITEMS`
    structures of ``path`` (``mtime`` keys the cache)."""
    from graphdiff.plugins import get_manager
    from graphdiff_crystals.domain import CrystalDomain

    target = get_manager().get("targets", name)
    values = []
    with warnings.catch_warnings():  # rows the reader skips are not this warning's business
        warnings.simplefilter("ignore")
        for rec in itertools.islice(CrystalDomain().read(path, skipped=[]), MAX_ITEMS):
            try:
                v = float(target(rec["obj"]))
            except Exception:  # noqa: BLE001 - a structure the target cannot score is left out
                continue
            if math.isfinite(v):
                values.append(v)
    if not values:
        raise ValueError(f"{name} scores none of the structures of {Path(path).name}")
    return min(values), max(values), len(values)


def training_ranges(structures: Any) -> dict[str, list[float]]:
    """``{name: [min, max, count]}`` of each :data:`RANGE_TARGETS` target over ``structures``
    (an iterable of pymatgen ``Structure``); structures a target cannot score are left out of
    its count."""
    from graphdiff.plugins import get_manager

    targets = [get_manager().get("targets", name) for name in RANGE_TARGETS]
    values: dict[str, list[float]] = {name: [] for name in RANGE_TARGETS}
    for structure in structures:
        for target in targets:
            try:
                v = float(target(structure))
            except Exception:  # noqa: BLE001 - a structure the target cannot score is left out
                continue
            if math.isfinite(v):
                values[target.name].append(v)
    return {name: [min(v), max(v), len(v)] for name, v in values.items() if v}


def target_range(target: Any, meta: dict[str, Any]) -> tuple[float, float, str] | None:
    """``(low, high, where)`` of ``target`` (one of :data:`RANGE_TARGETS`) over the training
    structures of a checkpoint with metadata ``meta``: the ``target_ranges`` it recorded, else
    computed from its training data found here (see the module docstring); ``None`` for another
    target or when neither is at hand."""
    name = getattr(target, "name", None)
    if name not in RANGE_TARGETS:
        return None
    recorded = (meta.get("target_ranges") or {}).get(name)
    if recorded:
        low, high, count = recorded
        return float(low), float(high), f"over the {int(count)} structures of the model's training file"
    found = training_source(meta)
    if found is None:
        return None
    path, what = found
    low, high, count = _values(str(path), path.stat().st_mtime, name)
    first = "the first " if count >= MAX_ITEMS else ""
    return low, high, f"over {first}{count} structures {what}"
