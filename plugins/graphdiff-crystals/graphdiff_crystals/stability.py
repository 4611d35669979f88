"""Thermodynamic stability of generated crystals: CHGNet relaxation, energy above the convex hull,
and the S.U.N. rates (stable, unique, novel) of MatterGen.

``graphdiff stability --generated GEN.csv (--entries MP.json | --train TRAIN.csv) --out OUT.json``
(registered by the crystals plugin through ``register_commands``) runs :func:`run_stability`.
See ``docs/stability.md`` for the protocol; in short:

Relaxation
    CHGNet (the pretrained ``0.3.0`` model that ships in the ``chgnet`` wheel) through chgnet's
    own ``StructOptimizer`` parts: its ASE calculator, the FIRE optimizer and ASE's
    ``FrechetCellFilter`` (cell and positions), stopped at ``fmax`` (eV/Å) or ``steps``. The
    optimizer is stepped with ``Optimizer.irun`` so that a wall-clock limit per structure is
    checked after every step; a structure that runs out of time keeps the energy and structure
    of its last step and is marked ``timed_out`` (never dropped). Static energies of the
    unrelaxed structures are predicted in batches (``CHGNet.predict_structure`` on lists).

Energies and the correction scheme
    CHGNet is trained on MPtrj, whose energy labels are Materials Project GGA/GGA+U energies
    with ``MaterialsProject2020Compatibility`` (MP2020) corrections applied (chgnet's README).
    Its predictions are therefore already on the MP2020-corrected scale and are used as they
    are (applying MP2020 again would count the anion and U corrections twice). Supplied DFT
    entries are put on the same scale with MP2020 (``--entries-correction``, default ``auto``:
    entries that carry VASP run parameters are (re)processed with
    ``MaterialsProject2020Compatibility().process_entries(clean=True)``, which is idempotent
    for the MP API's GGA/GGA+U entries and rejects r2SCAN ones; entries without run
    parameters are taken as already on that scale).

Hull
    ``--entries``: ComputedEntry / ComputedStructureEntry dicts (as the MP API returns them).
    ``--train``: the training structures relaxed with the same protocol (cached), plus for
    every element the lowest-energy relaxed pure-element training structure, else a relaxed
    standard structure of the element (:func:`standard_element_structure`: ASE's reference
    state, a published crystal, or a molecule in a box), else one the user gives with
    ``--element-refs``. ``E_hull = PhaseDiagram(refs).get_e_above_hull(entry,
    allow_negative=True)`` per chemical system; a composition with an element that has no
    elemental reference gets ``e_hull = None`` and a reason.

S.U.N. (MatterGen, Zeni et al. 2025; ``mattergen/evaluation/metrics``)
    stable: ``E_hull <= 0``; metastable: ``E_hull <= 0.1`` eV/atom (MatterGen's
    ``DEFAULT_STABILITY_THRESHOLD``, the threshold of its published "S.U.N." numbers);
    unique: the first of a set of ``StructureMatcher`` duplicates among the generated
    structures; novel: matching no training structure. SUN = stable & unique & novel, MSUN =
    metastable & unique & novel. Every rate is over *all* generated structures, unreadable and
    failed ones included (MatterGen divides by the number of submitted structures).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "STABLE_THRESHOLD", "METASTABLE_THRESHOLD", "E_HULL_TOL", "RelaxSettings", "Relaxer", "relax_structures",
    "RelaxCache", "load_entries", "correct_entries", "ReferenceHull", "standard_element_structure",
    "hull_from_entries", "hull_from_train", "stability_report", "run_stability", "stability_command",
    "ENERGY_PROTOCOL",
]

#: E_hull (eV/atom) at or below which a structure is stable (on the reference hull or below it).
STABLE_THRESHOLD = 0.0
#: E_hull (eV/atom) at or below which a structure is metastable (MatterGen's stability threshold).
METASTABLE_THRESHOLD = 0.1
#: Numerical tolerance (eV/atom) of both comparisons: CHGNet computes in float32 (about 1e-7 relative,
#: a few 1e-7 eV/atom), and a structure equal to a reference entry must count as stable.
E_HULL_TOL = 1e-5

#: What the energies are and which correction scheme is used, for the output's ``protocol``.
ENERGY_PROTOCOL = (
    "CHGNet energies are used as predicted: CHGNet is trained on MPtrj, whose energy labels are Materials "
    "Project GGA/GGA+U energies with MaterialsProject2020Compatibility (MP2020) corrections already applied, "
    "so its predictions sit on the MP2020-corrected scale; applying MP2020 to them again would count the "
    "anion and U corrections twice. The correction scheme of every entry (generated and reference) is "
    "therefore MP2020: built into CHGNet for CHGNet energies, applied with pymatgen's "
    "MaterialsProject2020Compatibility to supplied DFT entries that carry VASP run parameters."
)

_MP2020 = "MaterialsProject2020Compatibility"


# ============================================================================ relaxation
@dataclass
class RelaxSettings:
    """How every structure (generated, training, elemental reference) is relaxed.

    ``relax=False`` gives static CHGNet energies of the structures as they are.
    ``time_limit`` is in seconds of wall clock per structure (``None``: no limit).
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
    """CHGNet (loaded once) with chgnet's ``StructOptimizer`` calculator and optimizer class."""

    def __init__(self, settings: RelaxSettings) -> None:
        from chgnet.model import CHGNet, StructOptimizer

        self.settings = settings
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = CHGNet.load(model_name=settings.model, use_device=settings.device, verbose=False)
            # on_isolated_atoms="error": an atom with no neighbour within CHGNet's cutoff makes the
            # graph meaningless; such a structure gets an error row instead of a number.
            self.optimizer = StructOptimizer(model=self.model, optimizer_class=settings.optimizer,
                                             use_device=settings.device, on_isolated_atoms="error")
        self.calculator = self.optimizer.calculator

    @property
    def version(self) -> str:
        return str(self.model.version)

    def static_energies(self, structures: Sequence[Any], batch_size: int = 16) -> list[tuple[float | None, str | None]]:
        """``(energy_per_atom, error)`` of each structure as it is, predicted in batches; a batch
        that fails is redone one structure at a time so one bad structure fails alone."""
        out: list[tuple[float | None, str | None]] = []
        for start in range(0, len(structures), max(1, batch_size)):
            chunk = [_clean_structure(s) for s in structures[start:start + batch_size]]
            try:
                preds = self._predict(chunk, batch_size)
                out += [self._per_atom(p, s) for p, s in zip(preds, chunk)]
            except Exception:  # noqa: BLE001 - redo one by one
                for s in chunk:
                    try:
                        out.append(self._per_atom(self._predict([s], 1)[0], s))
                    except Exception as exc:  # noqa: BLE001 - reported per structure
                        out.append((None, f"CHGNet failed: {type(exc).__name__}: {exc}"))
        return out

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
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
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


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="structure", disable=not enabled or total == 0,
                file=sys.stderr, dynamic_ncols=True)


def relax_structures(structures: Sequence[Any], settings: RelaxSettings, *, workers: int = 1,
                     relaxer: Relaxer | None = None, progress: bool = False, desc: str = "relaxing",
                     cache: "RelaxCache | None" = None) -> list[dict[str, Any]]:
    """Relax every structure (see :meth:`Relaxer.relax` for the result of each), in order.

    ``workers > 1`` relaxes in that many processes (spawned; each loads CHGNet once and uses
    ``cpu_count // workers`` threads). Results found in ``cache`` are not recomputed; new
    ones (except timed-out ones, which a later run with more time should redo) are stored.
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
                    futures = [pool.submit(_worker_relax, i, _clean_structure(structures[i]).as_dict())
                               for i in todo]
                    for fut in as_completed(futures):
                        i, res = fut.result()
                        if res["structure"] is not None:
                            res["structure"] = Structure.from_dict(res["structure"])
                        done(i, res)
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory, no __main__ guard)
                warnings.warn(f"the relaxation worker pool broke ({exc}); relaxing the remaining structures "
                              "in this process", RuntimeWarning, stacklevel=2)
        relaxer_needed = [i for i in todo if results[i] is None]
        if relaxer_needed:
            relaxer = relaxer or Relaxer(settings)
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


# ============================================================================ reference entries
def _entry_from_item(item: Any) -> Any:
    from monty.json import MontyDecoder
    from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

    if isinstance(item, ComputedEntry):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"expected an entry object, got {type(item).__name__}")
    if "@class" in item:
        obj = MontyDecoder().process_decoded(item)
        if not isinstance(obj, ComputedEntry):
            raise ValueError(f"a {item['@class']} is not a ComputedEntry")
        return obj
    if "entry" in item and isinstance(item["entry"], dict):  # a document wrapping one entry
        return _entry_from_item(item["entry"])
    if "composition" in item and "energy" in item:
        full = {"correction": 0.0, "energy_adjustments": [], "parameters": {}, "data": {}, "entry_id": None, **item}
        if "structure" in item:
            return ComputedStructureEntry.from_dict(full)
        return ComputedEntry.from_dict(full)
    raise ValueError("neither a ComputedEntry/ComputedStructureEntry dict ('@class') nor a "
                     f"{{'composition', 'energy'}} object; keys: {sorted(item)[:10]}")


def load_entries(path: str | Path) -> tuple[list[Any], list[dict[str, str]]]:
    """Reference entries from a JSON file and the items that could not be used.

    Accepts a list of ``ComputedEntry`` / ``ComputedStructureEntry`` dicts (``[e.as_dict() for
    e in mpr.get_entries_in_chemsys(...)]`` or monty's ``dumpfn(entries, ...)``), optionally
    wrapped as ``{"data": [...]}`` or ``{"entries": [...]}``, documents with an ``entry`` key,
    MP thermo documents (every entry of their ``entries`` mapping: GGA, GGA+U, r2SCAN; the
    correction step keeps the MP2020-compatible ones), or plain ``{"composition", "energy",
    "entry_id"}`` objects (energy in eV, total).
    """
    from graphdiff.errors import DataError

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the entries as JSON: {exc}") from exc
    if isinstance(doc, dict):
        for key in ("data", "entries"):
            if isinstance(doc.get(key), list):
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list):
        raise DataError(f"{path}: expected a list of entries, got {type(doc).__name__}")
    items: list[Any] = []
    for item in doc:  # MP thermo documents: {"entries": {"GGA": {...}, "GGA+U": {...}, "R2SCAN": {...}}}
        if isinstance(item, dict) and isinstance(item.get("entries"), dict) and "@class" not in item:
            items += [e for e in item["entries"].values() if e is not None]
        else:
            items.append(item)
    entries, bad = [], []
    for k, item in enumerate(items):
        ident = item.get("entry_id") if isinstance(item, dict) else None
        where = f"{path.name} item {k}" + (f" ({ident})" if ident else "")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entry = _entry_from_item(item)
            if not math.isfinite(entry.energy) or entry.composition.num_atoms <= 0:
                raise ValueError(f"non-finite energy ({entry.energy}) or empty composition")
        except Exception as exc:  # noqa: BLE001 - reported per item
            bad.append({"where": where, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        if entry.entry_id is None:
            entry.entry_id = f"{path.name}:{k}"
        entries.append(entry)
    if not entries:
        raise DataError(f"{path}: no usable entry ({len(bad)} unreadable"
                        + (f"; first: {bad[0]['where']}: {bad[0]['reason']}" if bad else "") + ")")
    return entries, bad


def _has_run_parameters(entry: Any) -> bool:
    params = getattr(entry, "parameters", None) or {}
    return bool(params.get("run_type")) or "potcar_spec" in params or "potcar_symbols" in params


def correct_entries(entries: Sequence[Any], mode: str = "auto",
                    progress: bool = False) -> tuple[list[Any], list[dict[str, str]], dict[str, Any]]:
    """Put reference entries on the MP2020 scale of CHGNet energies.

    ``mode``: ``"mp2020"`` processes every entry with ``MaterialsProject2020Compatibility``
    (``clean=True``: earlier corrections, including MP's GGA/r2SCAN mixing adjustments, are
    removed first); ``"none"`` uses every energy as given; ``"auto"`` processes entries that
    carry VASP run parameters (``run_type``, POTCARs: DFT entries such as the MP API's) and
    uses the others (e.g. CHGNet energies) as given.

    Returns ``(used, excluded, info)``: the entries for the hull, ``{"id", "formula",
    "reason"}`` for each entry MP2020 rejected (r2SCAN run, wrong POTCAR or U value...), and
    counts.
    """
    if mode not in ("auto", "mp2020", "none"):
        raise ValueError(f"unknown entries correction {mode!r}; use auto, mp2020 or none")
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    compat = MaterialsProject2020Compatibility()
    used, excluded = [], []
    n_corrected = n_as_given = 0
    bar = _progress(len(entries), "correcting entries (MP2020)", progress and mode != "none" and len(entries) > 500)
    try:
        for e in entries:
            bar.update(1)
            if mode == "none" or (mode == "auto" and not _has_run_parameters(e)):
                used.append(e)
                n_as_given += 1
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = compat.process_entries([e], clean=True, inplace=False, on_error="raise")
                if not out:
                    raise ValueError("rejected")
                used.append(out[0])
                n_corrected += 1
            except Exception as exc:  # noqa: BLE001 - CompatibilityError and missing parameters
                excluded.append({"id": str(e.entry_id), "formula": e.composition.reduced_formula,
                                 "reason": f"{_MP2020} rejected it: {exc}"})
    finally:
        bar.close()
    info = {"mode": mode, "scheme": _MP2020, "num_corrected_with_mp2020": n_corrected,
            "num_used_as_given": n_as_given, "num_excluded": len(excluded)}
    return used, excluded, info


class ReferenceHull:
    """Reference entries and the energy above their convex hull, one ``PhaseDiagram`` per
    chemical system (built from the entries whose elements are a subset of it)."""

    def __init__(self, entries: Iterable[Any], source: str, description: str) -> None:
        self.entries = [e for e in entries if math.isfinite(e.energy_per_atom)]
        self.source = source
        self.description = description
        self.by_chemsys: dict[frozenset[str], list[Any]] = defaultdict(list)
        for e in self.entries:
            self.by_chemsys[frozenset(el.symbol for el in e.composition.elements)].append(e)
        self.elements = {el for key in self.by_chemsys for el in key}
        self.terminal = {next(iter(key)) for key in self.by_chemsys if len(key) == 1}
        self._pds: dict[frozenset[str], Any] = {}

    def elemental_reference(self, element: str) -> Any | None:
        """The lowest-energy pure-element entry of ``element`` (None without one)."""
        pure = self.by_chemsys.get(frozenset([element]), [])
        return min(pure, key=lambda e: e.energy_per_atom) if pure else None

    def missing_reason(self, elements: Iterable[str]) -> str | None:
        missing = sorted(set(elements) - self.terminal)
        if not missing:
            return None
        parts = []
        absent = [el for el in missing if el not in self.elements]
        only_compounds = [el for el in missing if el in self.elements]
        if absent:
            parts.append(f"{', '.join(absent)} not in the reference entries")
        if only_compounds:
            parts.append(f"no pure-element reference for {', '.join(only_compounds)} "
                         "(only in compounds of the reference entries)")
        return "the hull does not cover this composition: " + "; ".join(parts)

    def phase_diagram(self, chemsys: frozenset[str]) -> Any:
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        if chemsys not in self._pds:
            refs = [e for k in range(1, len(chemsys) + 1) for sub in combinations(sorted(chemsys), k)
                    for e in self.by_chemsys.get(frozenset(sub), [])]
            self._pds[chemsys] = PhaseDiagram(refs)
        return self._pds[chemsys]

    def e_above_hull(self, composition: Any, energy: float) -> tuple[float | None, str | None]:
        """``(E_hull in eV/atom, None)`` of ``energy`` (total, eV) at ``composition``, or
        ``(None, reason)`` when the reference entries do not cover its elements."""
        from pymatgen.entries.computed_entries import ComputedEntry

        chemsys = frozenset(el.symbol for el in composition.elements)
        reason = self.missing_reason(chemsys)
        if reason:
            return None, reason
        try:
            value = self.phase_diagram(chemsys).get_e_above_hull(ComputedEntry(composition, energy),
                                                                 allow_negative=True)
        except Exception as exc:  # noqa: BLE001 - reported per structure
            return None, f"PhaseDiagram failed: {type(exc).__name__}: {exc}"
        if value is None or not math.isfinite(value):
            return None, "PhaseDiagram gave no energy above the hull"
        return float(value), None

    def summary(self, elements: Iterable[str]) -> dict[str, Any]:
        refs = {}
        for el in sorted(set(elements)):
            e = self.elemental_reference(el)
            refs[el] = None if e is None else {"id": str(e.entry_id), "energy_per_atom": float(e.energy_per_atom)}
        return {"source": self.source, "description": self.description, "num_entries": len(self.entries),
                "num_elements": len(self.elements), "elemental_references": refs,
                "elements_without_reference": sorted(el for el, r in refs.items() if r is None)}


def hull_from_entries(path: str | Path, correction: str = "auto",
                      progress: bool = False) -> tuple[ReferenceHull, dict[str, Any]]:
    """The hull of the entries in ``path`` after :func:`correct_entries`."""
    entries, unreadable = load_entries(path)
    used, excluded, info = correct_entries(entries, correction, progress=progress)
    if correction == "none":
        how = "energies used as given (no correction applied; they must already be on the MP2020 scale)"
    elif correction == "mp2020":
        how = f"{info['num_corrected_with_mp2020']} entries (re)processed with {_MP2020}"
    else:
        how = (f"{info['num_corrected_with_mp2020']} DFT entries (with VASP run parameters) (re)processed with "
               f"{_MP2020}, {info['num_used_as_given']} entries without run parameters used as given "
               "(taken as already on the MP2020 scale)")
    desc = (f"{len(used)} user-supplied reference entries from {Path(path).name} ({how}; "
            f"{len(excluded)} rejected by {_MP2020} and {len(unreadable)} unreadable left out)")
    hull = ReferenceHull(used, "entries", desc)
    return hull, {"correction": info, "excluded_entries": excluded, "unreadable_entries": unreadable}


# ---------------------------------------------------------------------------- hull from training data
#: Ground-state crystals of elements ASE's ``reference_states`` cannot build: space group
#: number, lattice (a, b, c in Å; hexagonal settings for 152 and 166), species and Wyckoff
#: positions from the published crystal structures.
_ELEMENT_CRYSTALS: dict[str, tuple[str, int, tuple[float, float, float], list[list[float]]]] = {
    "B": ("alpha-B, R-3m (12-atom icosahedra)", 166, (4.908, 4.908, 12.567),
          [[0.11886, -0.11886, 0.89133], [0.19686, -0.19686, 0.02432]]),
    "P": ("black P, Cmce", 64, (3.3136, 10.478, 4.3763), [[0.0, 0.10168, 0.08056]]),
    "Mn": ("alpha-Mn, I-43m (58 atoms)", 217, (8.911, 8.911, 8.911),
           [[0.0, 0.0, 0.0], [0.3179, 0.3179, 0.3179], [0.3571, 0.3571, 0.0347], [0.0896, 0.0896, 0.2819]]),
    "Ga": ("alpha-Ga, Cmce", 64, (4.5197, 7.6633, 4.5260), [[0.0, 0.1549, 0.0810]]),
    "Se": ("trigonal Se, P3_121 (helical chains)", 152, (4.366, 4.366, 4.954), [[0.2254, 0.0, 1 / 3]]),
    "Te": ("trigonal Te, P3_121 (helical chains)", 152, (4.457, 4.457, 5.929), [[0.2636, 0.0, 1 / 3]]),
}

#: Elements whose solid is a molecular crystal: the molecule's bond length (Å). Their reference
#: is one molecule in a cubic box (:data:`MOLECULE_BOX` Å), so the weak binding between
#: molecules in the solid is left out.
_ELEMENT_DIATOMICS = {"H": 0.74, "N": 1.10, "O": 1.21, "F": 1.42, "Cl": 1.99, "Br": 2.28, "I": 2.67}
MOLECULE_BOX = 12.0


def _molecule_in_box(symbol: str, cart: Any) -> Any:
    from pymatgen.core import Lattice, Structure

    cart = np.asarray(cart, dtype=float)
    cart = cart - cart.mean(axis=0) + MOLECULE_BOX / 2
    return Structure(Lattice.cubic(MOLECULE_BOX), [symbol] * len(cart), cart, coords_are_cartesian=True)


def _s8_crown(bond: float = 2.05, angle: float = 108.0) -> Any:
    """The S8 crown ring: alternate atoms on two parallel squares turned by 45°."""
    second = 2 * bond * math.sin(math.radians(angle / 2))  # the distance across one bond angle
    radius = second / math.sqrt(2)
    chord = 2 * radius * math.sin(math.radians(22.5))
    height = math.sqrt(bond ** 2 - chord ** 2)
    return _molecule_in_box("S", [[radius * math.cos(k * math.pi / 4), radius * math.sin(k * math.pi / 4),
                                   height / 2 * (-1) ** k] for k in range(8)])


def standard_element_structure(symbol: str) -> tuple[Any, str] | None:
    """A standard structure of a pure element and where it comes from, or None.

    First ASE's ``reference_states`` (``ase.build.bulk``: the element's usual crystal structure
    and experimental lattice constant). For elements ASE cannot build: the published ground-state
    crystal of B, P, Mn, Ga, Se and Te (:data:`_ELEMENT_CRYSTALS`), and for the elements that
    form molecular solids, one molecule in a 12 Å box (H2, N2, O2, F2, Cl2, Br2, I2 and the S8
    ring). He, Pm, At, Rn, Fr, Ra, Pa, Pu and Am-Fm give None: add a structure of them with
    ``--element-refs`` or use ``--entries``. Every structure is relaxed before it is used.
    """
    try:
        from ase.build import bulk
        from ase.data import atomic_numbers, reference_states
        from pymatgen.io.ase import AseAtomsAdaptor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = bulk(symbol)
        state = reference_states[atomic_numbers[symbol]] or {}
        return AseAtomsAdaptor.get_structure(atoms), f"ASE reference state ({state.get('symmetry', '?')})"
    except Exception:  # noqa: BLE001 - ASE has none: the tables below, or nothing
        pass
    from pymatgen.core import Lattice, Structure

    if symbol in _ELEMENT_CRYSTALS:
        name, number, (a, b, c), sites = _ELEMENT_CRYSTALS[symbol]
        lattice = Lattice.hexagonal(a, c) if number in (152, 166) else Lattice.orthorhombic(a, b, c)
        return Structure.from_spacegroup(number, lattice, [symbol] * len(sites), sites), f"published crystal ({name})"
    if symbol in _ELEMENT_DIATOMICS:
        d = _ELEMENT_DIATOMICS[symbol]
        return (_molecule_in_box(symbol, [[0, 0, 0], [0, 0, d]]),
                f"{symbol}2 molecule in a {MOLECULE_BOX:g} A box (molecular solid; binding between molecules left out)")
    if symbol == "S":
        return _s8_crown(), f"S8 ring in a {MOLECULE_BOX:g} A box (molecular solid; binding between rings left out)"
    return None


def _entry(structure_or_comp: Any, energy: float, entry_id: str) -> Any:
    from pymatgen.entries.computed_entries import ComputedEntry

    comp = getattr(structure_or_comp, "composition", structure_or_comp)
    return ComputedEntry(comp, energy, entry_id=entry_id)


def hull_from_train(train: Sequence[tuple[str, Any]], settings: RelaxSettings, *, cache: RelaxCache | None = None,
                    element_refs: Sequence[tuple[str, Any]] = (), workers: int = 1, relaxer: Relaxer | None = None,
                    progress: bool = False) -> tuple[ReferenceHull, dict[str, Any]]:
    """The hull of the training structures relaxed with ``settings`` plus elemental references.

    For every element of the training set: the lowest-energy relaxed pure-element training
    structure; without one, a relaxed standard structure (:func:`standard_element_structure`);
    ``element_refs`` (``(id, Structure)``) are relaxed and added as well. Elements left without
    any are listed (their compositions get no E_hull).
    """
    structures = [s for _, s in train]
    results = relax_structures(structures, settings, workers=workers, relaxer=relaxer, progress=progress,
                               desc="relaxing training set", cache=cache)
    entries, failed = [], []
    n_timed_out = 0
    for (tid, s), res in zip(train, results):
        if res["error"] is not None:
            failed.append({"id": tid, "reason": res["error"]})
            continue
        n_timed_out += bool(res["timed_out"])
        entries.append(_entry(s, res["energy"], f"train:{tid}"))
    elements = sorted({el.symbol for e in entries for el in e.composition.elements})
    have = {e.composition.elements[0].symbol for e in entries if len(e.composition.elements) == 1}

    extra: list[tuple[str, Any, str]] = [(f"element-ref:{rid}", s, "--element-refs") for rid, s in element_refs]
    given = {el.symbol for _, s, _ in extra for el in s.composition.elements if len(s.composition.elements) == 1}
    for el in elements:
        if el in have or el in given:
            continue
        built = standard_element_structure(el)
        if built is not None:
            extra.append((f"standard:{el}", built[0], built[1]))
    ref_notes = []
    if extra:
        ref_results = relax_structures([s for _, s, _ in extra], settings, workers=workers, relaxer=relaxer,
                                       progress=progress, desc="relaxing elemental references", cache=cache)
        for (rid, s, src), res in zip(extra, ref_results):
            if res["error"] is not None:
                ref_notes.append({"id": rid, "source": src, "error": res["error"]})
                continue
            entries.append(_entry(s, res["energy"], rid))
            ref_notes.append({"id": rid, "source": src, "formula": s.composition.reduced_formula,
                              "energy_per_atom": res["energy_per_atom"], "timed_out": res["timed_out"]})
    hull_probe = ReferenceHull(entries, "train", "")
    missing = sorted(el for el in elements if hull_probe.elemental_reference(el) is None)
    desc = (f"{len(train) - len(failed)} training structures relaxed with CHGNet "
            f"({'relaxed' if settings.relax else 'static, unrelaxed'}; same protocol as the generated ones; "
            f"{len(failed)} failed and left out, {n_timed_out} timed out and kept with their last-step energy) "
            f"plus {sum('error' not in r for r in ref_notes)} relaxed elemental reference structure(s) "
            "(standard structures: ASE's reference states, published crystals, molecules in a box; and "
            "--element-refs) for elements without a "
            "pure-element training structure; energies are CHGNet's (MP2020 scale), no DFT data")
    if missing:
        desc += f"; no elemental reference for {', '.join(missing)} (compositions with them get no E_hull)"
    hull = ReferenceHull(entries, "train", desc)
    return hull, {"train_failed": failed, "train_timed_out": n_timed_out, "extra_elemental_references": ref_notes,
                  "train_elements_without_reference": missing,
                  "cache": None if cache is None else {"path": str(cache.path), "hits": cache.hits}}


# ============================================================================ the report
def _cif(structure: Any) -> str | None:
    if structure is None:
        return None
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


def _rate(n: int, d: int) -> float | None:
    return n / d if d else None


def stability_report(generated: Sequence[tuple[str, Any]], hull: ReferenceHull, settings: RelaxSettings, *,
                     train: Sequence[tuple[str, Any]] | None = None, unreadable: Sequence[dict[str, str]] = (),
                     workers: int = 1, batch_size: int = 16, max_atoms: int = 200, relaxer: Relaxer | None = None,
                     progress: bool = False, hull_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Relax ``generated`` (``(id, Structure)``), score it against ``hull`` and return the report.

    ``train`` (``(id, Structure)``, as given, not relaxed) is the novelty reference; without it
    novelty, SUN and MSUN are ``None``. ``unreadable`` items (``{"where", "reason"}``) count in
    every denominator. See the module docstring and ``docs/stability.md``.
    """
    from graphdiff_crystals.dng_metrics import uniqueness_novelty
    from graphdiff_crystals.domain import CrystalDomain

    t_start = time.perf_counter()
    checker = CrystalDomain(max_nodes=max_atoms)
    rows: list[dict[str, Any]] = []
    todo: list[int] = []
    for gid, s in generated:
        row: dict[str, Any] = {"id": gid, "formula": None, "num_atoms": None}
        try:
            row["formula"] = s.composition.reduced_formula
            row["num_atoms"] = len(s)
            problem = checker.structure_problem(s)
        except Exception as exc:  # noqa: BLE001 - reported
            problem = f"{type(exc).__name__}: {exc}"
        row["error"] = None if problem is None else f"not evaluated: {problem}"
        rows.append(row)
        if problem is None:
            todo.append(len(rows) - 1)

    relaxer = relaxer if relaxer is not None else Relaxer(settings)
    structures = [generated[i][1] for i in todo]
    initial = relaxer.static_energies(structures, batch_size) if structures else []
    if settings.relax:
        results = relax_structures(structures, settings, workers=workers, relaxer=relaxer, progress=progress,
                                   desc="relaxing generated")
    else:
        results = []
        for s, (e, err) in zip(structures, initial):
            clean = _clean_structure(s)
            results.append(_failure(err) if err else
                           {"structure": clean, "energy": e * len(clean), "energy_per_atom": e, "relax_steps": 0,
                            "converged": None, "timed_out": False, "relax_time_s": 0.0, "error": None})

    final_structures: list[Any] = [None] * len(rows)
    for i, (e0, err0), res in zip(todo, initial, results):
        row = rows[i]
        s0 = generated[i][1]
        row["energy_per_atom_initial"] = e0
        row["e_hull_initial"] = None
        if e0 is not None:
            row["e_hull_initial"] = hull.e_above_hull(s0.composition, e0 * len(s0))[0]
        row.update({k: res[k] for k in ("energy", "energy_per_atom", "relax_steps", "converged", "timed_out",
                                        "relax_time_s")})
        row["error"] = res["error"]
        final_structures[i] = res["structure"]
        row["relaxed_cif"] = _cif(res["structure"])
        if res["error"] is None:
            value, reason = hull.e_above_hull(res["structure"].composition, res["energy"])
            row["e_hull"], row["e_hull_reason"] = value, reason

    # --- uniqueness among the generated (relaxed) structures, novelty against the training set
    have = [i for i, s in enumerate(final_structures) if s is not None]
    un = uniqueness_novelty([final_structures[i] for i in have], [s for _, s in train] if train is not None else None,
                            ids=[str(i) for i in have],
                            train_ids=[t for t, _ in train] if train is not None else None)
    for i, res in zip(have, un):
        rows[i]["unique"] = res["unique"]
        rows[i]["duplicate_of"] = None if res["duplicate_of"] is None else rows[int(res["duplicate_of"])]["id"]
        rows[i]["_dup_index"] = None if res["duplicate_of"] is None else int(res["duplicate_of"])
        rows[i]["novel"] = res["novel"]
        rows[i]["matches_train"] = res["matches_train"]
    if train is not None:  # a duplicate is as novel as the structure it repeats (MatterGen scores every one)
        for i in have:
            j = rows[i].get("_dup_index")
            if j is not None:
                rows[i]["novel"] = rows[j]["novel"]
                rows[i]["matches_train"] = rows[j]["matches_train"]

    keys = ("id", "formula", "num_atoms", "relaxed_cif", "energy", "energy_per_atom", "e_hull", "e_hull_reason",
            "stable", "metastable", "unique", "duplicate_of", "novel", "matches_train", "sun", "msun",
            "timed_out", "converged", "relax_steps", "relax_time_s", "energy_per_atom_initial", "e_hull_initial",
            "error")
    for row in rows:
        eh = row.get("e_hull")
        row["stable"] = None if eh is None else bool(eh <= STABLE_THRESHOLD + E_HULL_TOL)
        row["metastable"] = None if eh is None else bool(eh <= METASTABLE_THRESHOLD + E_HULL_TOL)
        if row.get("error") and not row.get("e_hull_reason"):
            row["e_hull_reason"] = "no energy: " + row["error"]
        un_ok = row.get("unique") is True and row.get("novel") is True
        row["sun"] = None if train is None else bool(un_ok and row["stable"])
        row["msun"] = None if train is None else bool(un_ok and row["metastable"])
        for k in keys:
            row.setdefault(k, None)
        row.pop("_dup_index", None)
    rows = [{k: row[k] for k in keys} for row in rows]

    n_total = len(rows) + len(unreadable)

    def count(key: str) -> int:
        return sum(1 for r in rows if r[key] is True)

    ehs = [r["e_hull"] for r in rows if r["e_hull"] is not None]
    times = [r["relax_time_s"] for r in rows if r["relax_time_s"] is not None]
    counts = {"num_generated": n_total, "num_unreadable": len(unreadable),
              "num_errors": sum(1 for r in rows if r["error"]), "num_timed_out": count("timed_out"),
              "num_with_e_hull": len(ehs), "num_without_e_hull": n_total - len(ehs),
              "num_stable": count("stable"), "num_metastable": count("metastable"), "num_unique": count("unique"),
              "num_novel": count("novel") if train is not None else None,
              "num_sun": count("sun") if train is not None else None,
              "num_msun": count("msun") if train is not None else None}
    rates = {f"{k}_rate": (None if counts[f"num_{k}"] is None else _rate(counts[f"num_{k}"], n_total))
             for k in ("stable", "metastable", "unique", "novel", "sun", "msun")}
    summary = {**rates, **counts,
               "e_hull_mean": float(np.mean(ehs)) if ehs else None,
               "e_hull_median": float(np.median(ehs)) if ehs else None,
               "denominator": ("all generated structures, unreadable and failed ones included (as MatterGen "
                               "divides by every submitted structure)")}
    notes = []
    if train is None:
        notes.append("novelty, SUN and MSUN need the training set (--train); not computed")
    if counts["num_timed_out"]:
        notes.append(f"{counts['num_timed_out']} structure(s) ran out of time: their energy and structure are "
                     "those of the last step (an upper bound of the relaxed energy); they are scored as they are")
    if counts["num_without_e_hull"] - len(unreadable) - counts["num_errors"] > 0:
        notes.append("some compositions are not covered by the reference hull (elements without an elemental "
                     "reference): e_hull is null and e_hull_reason says why; they count as not stable")
    elements = {el.symbol for _, s in generated for el in s.composition.elements}
    hull_summary = hull.summary(elements)
    hull_summary.update(hull_info or {})
    protocol = {
        "relaxation": {**settings.protocol(), "time_limit_s_per_structure": settings.time_limit,
                       "how": ("chgnet StructOptimizer's CHGNetCalculator and optimizer with ASE's "
                               f"{settings.cell_filter} (cell and positions), stepped with Optimizer.irun and "
                               "stopped at fmax, max_steps or the time limit (checked after every step)")
                       if settings.relax else "no relaxation: static CHGNet energies of the structures as given"},
        "model_version": relaxer.version,
        "energy": ENERGY_PROTOCOL,
        "correction_scheme": _MP2020,
        "hull": hull.description,
        "e_hull": ("pymatgen PhaseDiagram(reference entries of the structure's chemical system and its "
                   "subsystems).get_e_above_hull(entry, allow_negative=True), eV/atom; the generated entries are "
                   "not added to the hull"),
        "thresholds_eV_per_atom": {"stable": STABLE_THRESHOLD, "metastable": METASTABLE_THRESHOLD,
                                   "tolerance": E_HULL_TOL},
        "sun": ("MatterGen (Zeni et al., Nature 2025; mattergen/evaluation/metrics): SUN = stable and unique and "
                "novel; MSUN = metastable (E_hull <= 0.1 eV/atom, MatterGen's own stability threshold, so "
                "MatterGen's published '% S.U.N.' corresponds to msun_rate) and unique and novel; rates over all "
                "generated structures"),
        "matcher": ("uniqueness and novelty: graphdiff_crystals.dng_metrics.uniqueness_novelty, pymatgen "
                    "StructureMatcher() with default tolerances (ltol=0.2, stol=0.3, angle_tol=5) on the relaxed "
                    "structures; novelty against the training structures as given; a duplicate takes the "
                    "novelty of the structure it repeats (MatterGen uses its own disorder-aware matcher)"),
    }
    return {
        "command": "stability",
        "protocol": protocol,
        "hull": hull_summary,
        "summary": summary,
        "timing": {"total_s": time.perf_counter() - t_start,
                   "relax_s_per_structure_mean": statistics.fmean(times) if times else None,
                   "relax_s_per_structure_median": statistics.median(times) if times else None,
                   "relax_s_per_structure_max": max(times) if times else None, "workers": workers},
        "notes": notes,
        "unreadable": list(unreadable),
        "rows": rows,
    }


def run_stability(generated_path: str | Path, *, entries_path: str | Path | None = None,
                  train_path: str | Path | None = None, settings: RelaxSettings | None = None,
                  entries_correction: str = "auto", element_refs_path: str | Path | None = None,
                  cache_path: str | Path | None = None, workers: int = 1, batch_size: int = 16,
                  max_atoms: int = 200, progress: bool = False,
                  log: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Read the inputs, build the hull, relax and score; returns ``(report, relaxed records)``.

    The hull comes from ``entries_path`` when given, else from ``train_path`` (relaxed, cached
    in ``cache_path``); ``train_path`` is also the novelty reference whenever given.
    """
    from graphdiff.errors import DataError
    from graphdiff_crystals.domain import CrystalDomain

    if entries_path is None and train_path is None:
        raise DataError("the hull needs reference entries (--entries MP.json) or a training set (--train TRAIN.csv)")
    settings = settings or RelaxSettings()
    log = log or (lambda msg: None)
    domain = CrystalDomain(max_nodes=max_atoms)
    unreadable: list[dict[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generated = [(r["id"], r["obj"]) for r in domain.read(generated_path, skipped=unreadable, validate=False)]
    if not generated and not unreadable:
        raise DataError(f"{generated_path}: no structures")
    train = None
    train_unreadable: list[dict[str, str]] = []
    if train_path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = [(r["id"], r["obj"]) for r in domain.read(train_path, skipped=train_unreadable)]
        if not train:
            raise DataError(f"{train_path}: no usable training structure ({len(train_unreadable)} unreadable)")
    element_refs: list[tuple[str, Any]] = []
    if element_refs_path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            element_refs = [(r["id"], r["obj"]) for r in domain.read(element_refs_path)]
        impure = [rid for rid, s in element_refs if len(s.composition.elements) != 1]
        if impure:
            raise DataError(f"{element_refs_path}: --element-refs takes pure-element structures; "
                            f"not pure: {impure[:5]}")

    relaxer = Relaxer(settings)
    if entries_path is not None:
        log(f"reading reference entries from {entries_path}")
        hull, info = hull_from_entries(entries_path, entries_correction, progress=progress)
    else:
        cache = RelaxCache(cache_path, settings) if cache_path is not None else None
        log(f"building the hull from {len(train)} training structures"  # type: ignore[arg-type]
            + (f" (cache {cache_path})" if cache_path else ""))
        hull, info = hull_from_train(train, settings, cache=cache, element_refs=element_refs,  # type: ignore[arg-type]
                                     workers=workers, relaxer=relaxer, progress=progress)
    if train_unreadable:
        info["train_unreadable"] = train_unreadable
    gen_elements = {el.symbol for _, s in generated for el in s.composition.elements}
    missing = sorted(gen_elements - hull.terminal)
    if missing:
        log(f"warning: no elemental reference in the hull for {', '.join(missing)}: generated structures with "
            "them get e_hull = null (give --entries covering them, or --element-refs with --train)")
    report = stability_report(generated, hull, settings, train=train, unreadable=unreadable, workers=workers,
                              batch_size=batch_size, max_atoms=max_atoms, relaxer=relaxer, progress=progress,
                              hull_info=info)
    report["inputs"] = {"generated": str(generated_path),
                        "entries": None if entries_path is None else str(entries_path),
                        "train": None if train_path is None else str(train_path),
                        "element_refs": None if element_refs_path is None else str(element_refs_path)}
    from pymatgen.core import Structure

    relaxed = [(r["id"], Structure.from_str(r["relaxed_cif"], fmt="cif")) for r in report["rows"]
               if r["relaxed_cif"] is not None]
    return report, relaxed


# ============================================================================ CLI
def _build_command() -> Any:
    import click

    @click.command("stability")
    @click.option("--generated", "generated", required=True, type=click.Path(exists=True, path_type=Path),
                  help="Generated structures (any format the crystals domain reads, e.g. a CDVAE-style CSV).")
    @click.option("--entries", "entries", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Reference entries JSON (ComputedEntry/ComputedStructureEntry dicts as the MP API returns "
                       "them): the hull.")
    @click.option("--train", "train", type=click.Path(exists=True, path_type=Path),
                  help="Training structures: the novelty reference, and the hull (relaxed with CHGNet) when "
                       "--entries is not given.")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Report JSON: protocol, hull, summary and one row per structure.")
    @click.option("--entries-correction", type=click.Choice(["auto", "mp2020", "none"]), default="auto",
                  show_default=True,
                  help="MP2020 for the --entries: auto = entries with VASP run parameters are (re)processed with "
                       "MaterialsProject2020Compatibility, others used as given.")
    @click.option("--element-refs", type=click.Path(exists=True, path_type=Path),
                  help="Pure-element structures to relax and add to a --train hull (for elements without a "
                       "pure-element training structure or standard structure, e.g. O2, N2, Cl2).")
    @click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path),
                  help="Cache of relaxed training energies [default: OUT with .relax-cache.json].")
    @click.option("--fmax", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
                  help="Force convergence (eV/Å).")
    @click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
                  help="Maximum relaxation steps per structure.")
    @click.option("--time-limit", type=click.FloatRange(min=0), default=300.0, show_default=True,
                  help="Wall-clock seconds per structure; a structure out of time keeps its last step and is "
                       "marked timed_out.")
    @click.option("--no-relax", is_flag=True, help="Static CHGNet energies of the structures as given.")
    @click.option("--fixed-cell", is_flag=True, help="Relax positions only.")
    @click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                  help="Relaxation processes.")
    @click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
                  help="Structures per batch of static CHGNet energies.")
    @click.option("--max-atoms", type=click.IntRange(min=1), default=200, show_default=True,
                  help="Larger structures get an error row.")
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
    @click.option("--save-relaxed", type=click.Path(path_type=Path),
                  help="Also write the relaxed structures (any format the crystals domain writes).")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
    def stability_cmd(generated: Path, entries: Path | None, train: Path | None, out: Path, entries_correction: str,
                      element_refs: Path | None, cache: Path | None, fmax: float, steps: int, time_limit: float,
                      no_relax: bool, fixed_cell: bool, workers: int, batch_size: int, max_atoms: int, device: str,
                      save_relaxed: Path | None, quiet: bool) -> None:
        """Stability of generated crystals: CHGNet relaxation, energy above the convex hull, and the
        stable / metastable / unique / novel / S.U.N. rates.

        The hull is built from --entries (e.g. Materials Project entries) or, without them, from the
        --train structures relaxed the same way plus elemental references. Energies are on the
        MP2020-corrected scale (CHGNet is trained on MP2020-corrected MPtrj energies). See
        docs/stability.md.
        """
        if entries is None and train is None:
            raise click.UsageError("give --entries MP.json (the hull) or --train TRAIN.csv (hull from the "
                                   "training set), or both (hull from --entries, novelty against --train)")
        if element_refs is not None and entries is not None:
            raise click.UsageError("--element-refs completes a --train hull; with --entries the hull is the entries")
        settings = RelaxSettings(fmax=fmax, steps=steps, time_limit=time_limit, relax=not no_relax,
                                 relax_cell=not fixed_cell, device=None if device == "auto" else device)
        cache_path = cache
        if cache_path is None and entries is None:
            cache_path = out.with_name(out.stem + ".relax-cache.json")

        def log(msg: str) -> None:
            click.echo(msg, err=True)

        report, relaxed = run_stability(generated, entries_path=entries, train_path=train, settings=settings,
                                        entries_correction=entries_correction, element_refs_path=element_refs,
                                        cache_path=cache_path, workers=workers, batch_size=batch_size,
                                        max_atoms=max_atoms, progress=not quiet, log=log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=_json_default))
        if save_relaxed is not None:
            from graphdiff_crystals.io import write_structures

            write_structures([{"id": rid, "obj": s} for rid, s in relaxed], save_relaxed)
        s = report["summary"]
        n = s["num_generated"]

        def frac(key: str) -> str:
            k = s[f"num_{key}"]
            return "n/a (needs --train)" if k is None else f"{k}/{n} ({100 * k / n:.1f}%)" if n else "0/0"

        click.echo(f"hull: {report['hull']['description']}")
        click.echo(f"structures: {n} ({s['num_unreadable']} unreadable, {s['num_errors']} failed, "
                   f"{s['num_timed_out']} timed out, {s['num_without_e_hull']} without E_hull)")
        click.echo(f"stable (E_hull <= 0): {frac('stable')}   metastable (<= 0.1 eV/atom): {frac('metastable')}")
        click.echo(f"unique: {frac('unique')}   novel: {frac('novel')}")
        click.echo(f"SUN: {frac('sun')}   MSUN: {frac('msun')}")
        t = report["timing"]
        if t["relax_s_per_structure_mean"] is not None and not no_relax:
            click.echo(f"relaxation: {t['relax_s_per_structure_mean']:.2f} s per structure on average "
                       f"(median {t['relax_s_per_structure_median']:.2f} s), total {t['total_s']:.1f} s")
        click.echo(f"wrote {out}" + (f" and {save_relaxed}" if save_relaxed else ""))

    return stability_cmd


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


stability_command = _build_command()
