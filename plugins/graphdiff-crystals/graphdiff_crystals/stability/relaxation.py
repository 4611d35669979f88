"""CHGNet relaxation of crystals for ``graphdiff stability``: settings, the relaxer, worker
processes and the cache of relaxed energies.

CHGNet (the pretrained ``0.3.0`` model that ships in the ``chgnet`` wheel), FIRE on atom
positions and cell in ASE's ``FrechetCellFilter`` coordinates, stopped at ``fmax`` (eV/Å) or
``steps``, by one of two engines (``RelaxSettings.engine``):

``"batched"`` (default)
    :func:`graphdiff_crystals.stability.batch_relax.relax_batch`: the same FIRE and filter,
    many structures per CHGNet call and one backward pass for forces and stress; the time
    limit is checked against each structure's own share of the work.
``"ase"``
    chgnet's own ``StructOptimizer`` parts: its ASE calculator, ASE's FIRE optimizer and
    ``FrechetCellFilter``, one structure at a time, stepped with ``Optimizer.irun`` so that a
    wall-clock limit per structure is checked after every step.

A structure that runs out of time keeps the energy and structure of its last step and is
marked ``timed_out`` (never dropped). Static energies of the unrelaxed structures are
predicted in batches (``CHGNet.predict_structure`` on lists).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["RelaxSettings", "Relaxer", "relax_structures", "RelaxCache", "structure_key", "ENGINES"]

#: relaxation engines: name -> what runs (see the module docstring)
ENGINES = {"batched": "graphdiff batched FIRE + FrechetCellFilter (graphdiff_crystals.stability.batch_relax)",
           "ase": "chgnet StructOptimizer (CHGNetCalculator, ASE FIRE + FrechetCellFilter)"}


@dataclass
class RelaxSettings:
    """How every structure (generated, training, elemental reference) is relaxed.

    ``relax=False`` gives static CHGNet energies of the structures as they are.
    ``time_limit`` is in seconds per structure (``None``: no limit): wall clock with
    ``engine="ase"``, the structure's own share of the work with ``engine="batched"``.
    ``engine``: ``"batched"`` or ``"ase"`` (:data:`ENGINES`); ``batch_size``: structures per
    CHGNet call of the batched engine (does not change the results).
    """

    fmax: float = 0.1
    steps: int = 500
    time_limit: float | None = 300.0
    relax: bool = True
    relax_cell: bool = True
    optimizer: str = "FIRE"
    cell_filter: str = "FrechetCellFilter"
    model: str = "0.3.0"
    device: str | None = None
    engine: str = "batched"
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"RelaxSettings.engine: unknown engine {self.engine!r}; choose from {sorted(ENGINES)}")
        if self.engine == "batched" and self.relax and (self.optimizer != "FIRE"
                                                         or self.cell_filter != "FrechetCellFilter"):
            raise ValueError(f"RelaxSettings: the batched engine runs FIRE with FrechetCellFilter only, not "
                             f"{self.optimizer} with {self.cell_filter}; use engine='ase'")

    def protocol(self) -> dict[str, Any]:
        """The settings that change a relaxed energy (the cache key), plus versions."""
        try:
            from importlib.metadata import version

            chgnet_version = version("chgnet")
        except Exception:  # noqa: BLE001 - metadata missing: still usable
            chgnet_version = None
        return {
            "model": f"CHGNet {self.model}", "chgnet_version": chgnet_version, "relax": self.relax,
            "optimizer": self.optimizer if self.relax else None,
            "cell_filter": self.cell_filter if self.relax and self.relax_cell else None,
            "relax_cell": self.relax_cell if self.relax else None,
            "fmax_eV_per_A": self.fmax if self.relax else None,
            "max_steps": self.steps if self.relax else None,
            "engine": ENGINES[self.engine] if self.relax else None,
        }

    def protocol_key(self) -> str:
        return hashlib.sha256(json.dumps(self.protocol(), sort_keys=True).encode()).hexdigest()[:16]


def _clean_structure(structure: Any) -> Any:
    """A copy without site properties (magmoms, selective dynamics) and oxidation states."""
    from pymatgen.core import Structure

    s = Structure(structure.lattice, [site.specie for site in structure], structure.frac_coords)
    with contextlib.suppress(Exception):
        s.remove_oxidation_states()
    return s


def _failure(error: str, t0: float | None = None) -> dict[str, Any]:
    return {"structure": None, "energy": None, "energy_per_atom": None, "relax_steps": 0, "converged": False,
            "timed_out": False, "relax_time_s": None if t0 is None else time.perf_counter() - t0, "error": error}


class Relaxer:
    """CHGNet (loaded once per process) with chgnet's ``StructOptimizer`` calculator and optimizer
    class (``engine="ase"``) or the batched relaxer (``engine="batched"``)."""

    def __init__(self, settings: RelaxSettings) -> None:
        from chgnet.model import StructOptimizer

        from graphdiff_crystals.stability.batch_relax import load_chgnet

        self.settings = settings
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = load_chgnet(settings.model, settings.device)
            # on_isolated_atoms="error": an atom with no neighbour within CHGNet's cutoff makes the
            # graph meaningless; such a structure gets an error row instead of a number.
            self.optimizer = StructOptimizer(model=self.model, optimizer_class=settings.optimizer,
                                             use_device=settings.device, on_isolated_atoms="error")
        self.calculator = self.optimizer.calculator

    @property
    def version(self) -> str:
        return str(self.model.version)

    def static_energies(self, structures: Sequence[Any], batch_size: int = 16,
                        progress: bool = False) -> list[tuple[float | None, str | None]]:
        """``(energy_per_atom, error)`` of each structure as it is, predicted in batches; a batch
        that fails is redone one structure at a time so one bad structure fails alone.
        ``progress``: a bar on stderr (structures done)."""
        out: list[tuple[float | None, str | None]] = []
        with _progress(len(structures), "static energies", progress and len(structures) > batch_size) as bar:
            for start in range(0, len(structures), max(1, batch_size)):
                self._static_batch(structures[start:start + batch_size], batch_size, out)
                bar.update(min(batch_size, len(structures) - start))
        return out

    def _static_batch(self, batch: Sequence[Any], batch_size: int,
                      out: list[tuple[float | None, str | None]]) -> None:
        if batch:
            chunk = [_clean_structure(s) for s in batch]
            try:
                preds = self._predict(chunk, batch_size)
                out += [self._per_atom(p, s) for p, s in zip(preds, chunk)]
            except Exception:  # noqa: BLE001 - redo one by one
                for s in chunk:
                    try:
                        out.append(self._per_atom(self._predict([s], 1)[0], s))
                    except Exception as exc:  # noqa: BLE001 - reported per structure
                        out.append((None, f"CHGNet failed: {type(exc).__name__}: {exc}"))

    def _predict(self, structures: list[Any], batch_size: int) -> list[dict[str, Any]]:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            preds = self.model.predict_structure(structures, task="e", batch_size=batch_size)
        return preds if isinstance(preds, list) else [preds]

    def _per_atom(self, pred: dict[str, Any], structure: Any) -> tuple[float | None, str | None]:
        e = float(np.asarray(pred["e"]).reshape(-1)[0])
        if not self.model.is_intensive:
            e /= len(structure)
        if not math.isfinite(e):
            return None, "CHGNet returned a non-finite energy"
        return e, None

    def relax(self, structure: Any) -> dict[str, Any]:
        """Relax one structure; never raises.

        Returns ``{"structure", "energy" (eV), "energy_per_atom", "relax_steps", "converged",
        "timed_out", "relax_time_s", "error"}``; on failure ``structure`` and the energies are
        ``None`` and ``error`` says why.
        """
        from pymatgen.io.ase import AseAtomsAdaptor

        st = self.settings
        if st.relax and st.engine == "batched":
            return self.relax_many([structure])[0]
        t0 = time.perf_counter()
        try:
            clean = _clean_structure(structure)
            if not st.relax:
                (e, err), = self.static_energies([clean], 1)
                if err:
                    return _failure(err, t0)
                return {"structure": clean, "energy": e * len(clean), "energy_per_atom": e, "relax_steps": 0,
                        "converged": None, "timed_out": False, "relax_time_s": time.perf_counter() - t0,
                        "error": None}
            atoms = AseAtomsAdaptor().get_atoms(clean)
            atoms.calc = self.calculator
            from graphdiff_crystals.stability.batch_relax import blas_one_thread

            # one BLAS thread: the filter's scipy logm/expm calls on 3x3 matrices take milliseconds
            # each with OpenBLAS threads on a busy machine
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), blas_one_thread():
                warnings.simplefilter("ignore")
                target = atoms
                if st.relax_cell:
                    from ase import filters

                    target = getattr(filters, st.cell_filter)(atoms)
                opt = self.optimizer.optimizer_class(target, logfile=None)
                converged = timed_out = False
                # irun yields once after the first force evaluation, then after every step
                for converged in opt.irun(fmax=st.fmax, steps=st.steps):
                    if converged:
                        break
                    if st.time_limit is not None and time.perf_counter() - t0 > st.time_limit:
                        timed_out = opt.nsteps < st.steps
                        break
                energy = float(atoms.get_potential_energy())
            final = _clean_structure(AseAtomsAdaptor.get_structure(atoms))
            result = {"structure": final, "energy": energy, "energy_per_atom": energy / len(final),
                      "relax_steps": int(opt.nsteps), "converged": bool(converged), "timed_out": bool(timed_out),
                      "relax_time_s": time.perf_counter() - t0, "error": None}
            if not (math.isfinite(energy) and np.isfinite(final.lattice.matrix).all()
                    and np.isfinite(final.frac_coords).all()):
                return _failure("the relaxation diverged (non-finite energy, cell or coordinates)", t0)
            return result
        except Exception as exc:  # noqa: BLE001 - one structure must not stop the run
            return _failure(f"CHGNet relaxation failed: {type(exc).__name__}: {exc}", t0)

    def relax_many(self, structures: Sequence[Any], *, progress: bool = False,
                   callback: Any = None) -> list[dict[str, Any]]:
        """Relax several structures (results as :meth:`relax`'s, plus ``displacement_rms`` and
        ``displacement_max`` in Å from the batched engine), in order; never raises for one
        structure. The batched engine relaxes ``settings.batch_size`` at a time; the ASE one
        one after the other. ``callback(n)`` is called with the number of structures finished
        so far (batched engine: after every step)."""
        st = self.settings
        if not (st.relax and st.engine == "batched"):
            out = []
            for s in structures:
                out.append(self.relax(s))
                if callback is not None:
                    callback(len(out))
            return out
        from graphdiff_crystals.stability.batch_relax import relax_batch

        res = relax_batch(list(structures), fmax=st.fmax, steps=st.steps, batch_size=st.batch_size,
                          relax_cell=st.relax_cell, model=self.model, time_limit=st.time_limit, progress=progress,
                          callback=None if callback is None else (lambda c: callback(c["done"])))
        out = []
        for r in res:
            if r["error"] is not None:
                fail = _failure(f"CHGNet relaxation failed: {r['error']}")
                fail.update(relax_steps=r["steps"], relax_time_s=r["time_s"])
                out.append(fail)
                continue
            out.append({"structure": _clean_structure(r["structure"]), "energy": r["energy"],
                        "energy_per_atom": r["energy_per_atom"], "relax_steps": r["steps"],
                        "converged": r["converged"], "timed_out": r["timed_out"], "relax_time_s": r["time_s"],
                        "displacement_rms": r["displacement_rms"], "displacement_max": r["displacement_max"],
                        "error": None})
        return out


# ---------------------------------------------------------------------------- worker processes
_WORKER: Relaxer | None = None


def _worker_init(settings: dict[str, Any], threads: int) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(max(1, threads))
    _WORKER = Relaxer(RelaxSettings(**settings))


def _worker_relax(index: int, structure: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from pymatgen.core import Structure

    assert _WORKER is not None
    res = _WORKER.relax(Structure.from_dict(structure))
    if res["structure"] is not None:
        res["structure"] = res["structure"].as_dict()
    return index, res


def _worker_relax_many(indices: list[int], structures: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    from pymatgen.core import Structure

    assert _WORKER is not None
    out = []
    for i, res in zip(indices, _WORKER.relax_many([Structure.from_dict(s) for s in structures])):
        if res["structure"] is not None:
            res["structure"] = res["structure"].as_dict()
        out.append((i, res))
    return out


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="structure", disable=not enabled or total == 0,
                file=sys.stderr, dynamic_ncols=True)


def relax_structures(structures: Sequence[Any], settings: RelaxSettings, *, workers: int = 1,
                     relaxer: Relaxer | None = None, progress: bool = False, desc: str = "relaxing",
                     cache: "RelaxCache | None" = None) -> list[dict[str, Any]]:
    """Relax every structure (see :meth:`Relaxer.relax` for the result of each), in order.

    ``workers > 1`` relaxes in that many processes (spawned; each loads CHGNet once and uses
    ``cpu_count // workers`` threads; the batched engine hands each a batch of
    ``settings.batch_size`` structures at a time). Results found in ``cache`` are not
    recomputed; new ones (except timed-out ones, which a later run with more time should
    redo) are stored.
    """
    results: list[dict[str, Any] | None] = [None] * len(structures)
    todo = []
    for i, s in enumerate(structures):
        hit = cache.get(s) if cache is not None else None
        if hit is not None:
            results[i] = hit
        else:
            todo.append(i)
    bar = _progress(len(structures), desc, progress)
    bar.update(len(structures) - len(todo))

    def done(i: int, res: dict[str, Any]) -> None:
        results[i] = res
        if cache is not None:
            cache.put(structures[i], res)
        bar.update(1)

    try:
        if workers > 1 and len(todo) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            from pymatgen.core import Structure

            from concurrent.futures.process import BrokenProcessPool

            threads = max(1, (os.cpu_count() or 1) // workers)
            try:
                with ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(asdict(settings), threads)) as pool:
                    if settings.relax and settings.engine == "batched":
                        size = max(1, settings.batch_size)
                        chunks = [todo[k:k + size] for k in range(0, len(todo), size)]
                        futures = [pool.submit(_worker_relax_many, chunk,
                                               [_clean_structure(structures[i]).as_dict() for i in chunk])
                                   for chunk in chunks]
                    else:
                        futures = [pool.submit(_worker_relax, i, _clean_structure(structures[i]).as_dict())
                                   for i in todo]
                    for fut in as_completed(futures):
                        got = fut.result()
                        for i, res in (got if isinstance(got, list) else [got]):
                            if res["structure"] is not None:
                                res["structure"] = Structure.from_dict(res["structure"])
                            done(i, res)
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory, no __main__ guard)
                warnings.warn(f"the relaxation worker pool broke ({exc}); relaxing the remaining structures "
                              "in this process", RuntimeWarning, stacklevel=2)
        relaxer_needed = [i for i in todo if results[i] is None]
        if relaxer_needed:
            relaxer = relaxer or Relaxer(settings)
            if settings.relax and settings.engine == "batched":
                # chunks of several batches: the batch refills as structures finish; the cache is
                # written between chunks
                size = max(1, settings.batch_size) * 4
                for k in range(0, len(relaxer_needed), size):
                    chunk = relaxer_needed[k:k + size]
                    finished = [0]

                    def tick(n: int, finished: list[int] = finished) -> None:
                        bar.update(n - finished[0])
                        finished[0] = n

                    for i, res in zip(chunk, relaxer.relax_many([structures[i] for i in chunk], callback=tick)):
                        results[i] = res
                        if cache is not None:
                            cache.put(structures[i], res)
                    bar.update(len(chunk) - finished[0])
            else:
                for i in relaxer_needed:
                    done(i, relaxer.relax(structures[i]))
    finally:
        bar.close()
        if cache is not None:
            cache.save()
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------------------- cache
def structure_key(structure: Any) -> str:
    """A hash of the species, lattice and fractional coordinates (rounded to 1e-6)."""
    payload = {"species": [str(sp) for sp in structure.species],
               "lattice": np.round(structure.lattice.matrix, 6).tolist(),
               "frac": np.round(structure.frac_coords, 6).tolist()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class RelaxCache:
    """Relaxed energies (not structures) in a JSON file, per relaxation protocol.

    Layout: ``{"<protocol key>": {"protocol": {...}, "results": {"<structure key>": {...}}}}``.
    Written atomically every ``save_every`` new results and at the end.
    """

    FIELDS = ("energy", "energy_per_atom", "relax_steps", "converged", "timed_out", "relax_time_s", "error")

    def __init__(self, path: str | Path, settings: RelaxSettings, save_every: int = 20) -> None:
        self.path = Path(path)
        self.key = settings.protocol_key()
        self.save_every = save_every
        self._dirty = 0
        self.hits = 0
        self.doc: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.doc = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                warnings.warn(f"{self.path}: unreadable relaxation cache ({exc}); starting a new one", stacklevel=2)
                self.doc = {}
        self.section = self.doc.setdefault(self.key, {"protocol": settings.protocol(), "results": {}})["results"]

    def get(self, structure: Any) -> dict[str, Any] | None:
        hit = self.section.get(structure_key(structure))
        if hit is None:
            return None
        self.hits += 1
        return {**hit, "structure": None, "cached": True}

    def put(self, structure: Any, result: dict[str, Any]) -> None:
        if result.get("timed_out") or result.get("cached"):
            return
        self.section[structure_key(structure)] = {k: result.get(k) for k in self.FIELDS}
        self._dirty += 1
        if self._dirty >= self.save_every:
            self.save()

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.doc))
        os.replace(tmp, self.path)
        self._dirty = 0
