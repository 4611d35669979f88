"""CHGNet energies of generated crystals against references: the ``chgnet_energy`` figures of
:mod:`graphdiff_crystals.sanity` and the metric ``crystals-energy`` (``graphdiff evaluate --task
energy``).

Energy per atom (eV/atom) CHGNet (its bundled weights, on the CPU) predicts for each structure as
it is (``predict_structure`` in batches, no relaxation: ``graphdiff stability`` relaxes), of the
generated structures and of at most ``max_references`` (:data:`ENERGY_MAX_REFERENCES`, 200)
reference structures drawn with ``seed``: mean, median, standard deviation and the Wasserstein
distance between the two sets. Structures CHGNet is not asked to score (denser than 0.5 atoms/Å³,
elements beyond Pu, non-finite cells) or cannot score are counted in ``num_failed``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from graphdiff.progress import track

__all__ = ["ENERGY_MAX_REFERENCES", "energy_summary", "energy_metric"]

#: Reference structures CHGNet scores at most (drawn with ``seed`` when there are more).
ENERGY_MAX_REFERENCES = 200


def _chgnet_energies(structures: Sequence[Any], batch_size: int = 64,
                     progress: bool = False, desc: str = "crystals: CHGNet energies") -> list[float | str]:
    """CHGNet energy per atom of each structure (unrelaxed), or the reason it has none."""
    from graphdiff_crystals.targets import CHGNET_MAX_Z, _chgnet, _chgnet_structure

    out: list[float | str] = []
    todo: list[tuple[int, Any]] = []
    for i, s in enumerate(structures):
        try:
            if not (np.isfinite(s.lattice.matrix).all() and np.isfinite(s.frac_coords).all()):
                raise ValueError("non-finite lattice or coordinates")
            s = _chgnet_structure(s)
            heavy = [el.symbol for el in s.composition.elements if el.Z > CHGNET_MAX_Z]
            if heavy:
                raise ValueError(f"CHGNet has no embedding for {', '.join(heavy)} (beyond Pu)")
        except Exception as exc:  # noqa: BLE001 - counted in num_failed
            out.append(f"{type(exc).__name__}: {exc}")
            continue
        out.append(math.nan)
        todo.append((i, s))
    if not todo:
        return out
    import warnings

    model = _chgnet()
    with warnings.catch_warnings():  # CHGNet warns about its own frozen tensors on every call
        warnings.simplefilter("ignore", UserWarning)
        _predict(model, todo, out, batch_size, progress, desc)
    return [e if isinstance(e, str) or math.isfinite(e) else f"non-finite energy {e}" for e in out]


def _predict(model: Any, todo: list[tuple[int, Any]], out: list[float | str], batch_size: int, progress: bool,
             desc: str) -> None:
    """CHGNet on ``todo`` (``(index, structure)``) in batches, into ``out[index]``; a batch that
    fails is retried one structure at a time, so that one bad structure fails alone."""
    batches = [todo[j:j + batch_size] for j in range(0, len(todo), batch_size)]
    for batch in track(batches, desc=desc, total=len(batches), unit="batch", enabled=progress):
        try:
            preds = model.predict_structure([s for _, s in batch], task="e", batch_size=batch_size)
            preds = preds if isinstance(preds, list) else [preds]
            for (i, _), p in zip(batch, preds):
                out[i] = float(np.asarray(p["e"]).reshape(-1)[0])
        except Exception:  # noqa: BLE001 - one structure CHGNet cannot read: find it, one by one
            for i, s in batch:
                try:
                    out[i] = float(np.asarray(model.predict_structure(s, task="e")["e"]).reshape(-1)[0])
                except Exception as exc:  # noqa: BLE001
                    out[i] = f"{type(exc).__name__}: {exc}"


def _energy_side(values: Sequence[float | str]) -> dict[str, Any]:
    ok = [v for v in values if not isinstance(v, str)]
    failed = [v for v in values if isinstance(v, str)]
    return {"num": len(values), "num_scored": len(ok), "num_failed": len(failed),
            "first_failure": failed[0] if failed else None,
            "mean": float(np.mean(ok)) if ok else None, "median": float(np.median(ok)) if ok else None,
            "std": float(np.std(ok)) if ok else None}


def energy_summary(generated: Sequence[Any], reference: Sequence[Any], *,
                   max_references: int = ENERGY_MAX_REFERENCES, seed: int | None = 0, batch_size: int = 64,
                   progress: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """CHGNet energy per atom (eV/atom, unrelaxed) of the generated structures and of at most
    ``max_references`` references (a draw without replacement with ``seed`` when there are more):
    ``(summary, per_item)`` with ``summary = {"generated": {"mean", "median", "std", "num_scored",
    "num_failed"...}, "reference": {...}, "wasserstein", "units", "model", "references"}`` and
    ``per_item = [{"chgnet_energy": eV/atom or None}]`` for the generated structures."""
    from scipy.stats import wasserstein_distance

    if max_references < 1:
        raise ValueError(f"energy_max_references must be at least 1, got {max_references}")
    ref = list(reference)
    if len(ref) > max_references:
        pick = np.sort(np.random.default_rng(seed).choice(len(ref), max_references, replace=False))
        ref = [ref[int(i)] for i in pick]
        how = f"{max_references} of {len(reference)} reference structures drawn with seed {seed}"
    else:
        how = f"all {len(ref)} reference structures"
    gen_e = _chgnet_energies(generated, batch_size, progress, "crystals: CHGNet energies (generated)")
    ref_e = _chgnet_energies(ref, batch_size, progress, "crystals: CHGNet energies (reference)")
    g = [v for v in gen_e if not isinstance(v, str)]
    r = [v for v in ref_e if not isinstance(v, str)]
    try:
        from importlib.metadata import version

        model = f"CHGNet {version('chgnet')}, bundled weights, unrelaxed (predict_structure)"
    except Exception:  # noqa: BLE001
        model = "CHGNet, bundled weights, unrelaxed (predict_structure)"
    summary = {"units": "eV/atom", "model": model, "references": how,
               "generated": _energy_side(gen_e), "reference": _energy_side(ref_e),
               "wasserstein": float(wasserstein_distance(g, r)) if g and r else None}
    return summary, [{"chgnet_energy": None if isinstance(v, str) else v} for v in gen_e]


def energy_metric(generated: Sequence[Any], references: Sequence[Any], train: Sequence[Any] | None = None,
                  k: Any = None, dataset: str | None = None, *,
                  energy_max_references: int = ENERGY_MAX_REFERENCES, seed: int | None = 0,
                  progress: bool = False, **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --task energy`` (metric ``crystals-energy``): CHGNet energy per atom
    (unrelaxed) of the generated structures and of at most ``energy_max_references`` (200)
    references drawn with ``seed``: mean, median and their Wasserstein distance, under
    ``chgnet_energy``. ``train``, ``k`` are ignored; ``dataset`` is only recorded."""
    from graphdiff_crystals.sanity import _records

    gids, gen = _records(generated)
    _, ref = _records(references)
    summary, rows = energy_summary(gen, ref, max_references=energy_max_references, seed=seed, progress=progress)
    return {"task": "energy", "dataset": dataset, "num_generated": len(gen), "num_references": len(ref),
            "chgnet_energy": summary, "per_item": [{"id": i, **r} for i, r in zip(gids, rows)]}
