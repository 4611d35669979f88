"""Batched CHGNet relaxation: FIRE on atom positions and cell for many crystals at once.

What it computes is ASE's ``FIRE`` (default parameters: ``dt=0.1``, ``maxstep=0.2``,
``dtmax=1``, ``Nmin=5``, ``finc=1.1``, ``fdec=0.5``, ``astart=0.1``, ``fa=0.99``) on ASE's
``FrechetCellFilter`` coordinates, which is what chgnet's ``StructOptimizer`` runs, but with
one CHGNet call per step for a whole batch of structures instead of one call per structure:

Cell filter (``FrechetCellFilter``)
    The degrees of freedom of a structure of ``N`` atoms are the atom positions in the
    undeformed (initial) cell, ``r0 = r F^-T``, and ``N log F``, where ``F`` is the deformation
    gradient (``cell = cell0 F^T``). Their "forces" are ``f F`` for the atoms and
    ``(dE/d log F) / N`` for the cell, ``dE/d log F`` being the exact derivative of the
    energy through the matrix exponential (the adjoint Fréchet derivative of ``expm``
    applied to ``virial F^-T``, ``virial = -V sigma``).
Convergence
    A structure is converged when every row of those forces, the ``N`` atom rows and the 3
    cell rows, has a norm below ``fmax`` (eV/Å; the cell rows are energies per atom), exactly
    ASE's criterion with the filter. ``relax_cell=False`` moves the atoms only and tests the
    atom forces only.
Batching
    At most ``batch_size`` structures are in flight; every step converts each to a CHGNet
    graph (``CrystalGraphConverter``, algorithm ``"fast"``, isolated atoms an error) and
    calls CHGNet's public ``forward`` once on the batch. Forces and stress come from one
    backward pass of the total energies (``dE/d frac`` and ``dE/d lattice``, turned into
    Cartesian forces and the stress ``L^T dE/dL / V``) instead of chgnet's two passes with
    ``create_graph=True``: the same numbers (within float32 noise), about twice as fast. A
    structure that converges, runs out of steps or time, or fails leaves the batch and the
    next waiting one enters.
Failures
    A structure whose graph cannot be built (isolated atoms), that has elements CHGNet does
    not cover, or on which CHGNet raises or returns non-finite numbers gets an ``error`` and
    leaves; a batch that raises is redone one structure at a time so that only the
    culprit fails.
Displacements
    ``displacement_rms`` / ``displacement_max`` (Å) measure how far atoms moved relative to the
    cell: the change of each atom's fractional coordinates, taken to its minimum image and
    expressed in the final cell (so a uniform strain of the cell moves no atom).
Threads
    torch's intra-op threads spin-wait for each other: on a machine whose cores are busy with
    other processes, two threads were 3-6 times *slower* than one (2-core machine, load 7-10).
    ``threads="auto"`` (the default) therefore uses at most as many threads as there are idle
    cores by the 1-minute load average (at least one), and torch's setting on an idle machine.
    OpenBLAS threads are worse: scipy's ``expm`` of a 3x3 matrix took 8 ms instead of 9 µs on
    the busy machine. The matrix exponential and its Fréchet derivative here are plain numpy
    (Taylor series with scaling and squaring, exact to float64 rounding for these small
    matrices), and BLAS runs one thread during a relaxation (``threadpoolctl``, when installed).
Overlapping atoms
    CHGNet, like other machine-learned potentials, was trained on physical structures: for two
    atoms much closer than a bond it can give forces that pull them together until they sit on
    top of each other. ``separate`` (off by default here, on for generated structures in
    ``CrystalDomain.relax``) first moves every pair closer than ``separate`` times the sum of
    their covalent radii apart along the line between them (cell fixed, a few geometric
    iterations, :func:`separate_close_atoms`); CHGNet's FIRE then starts from there, and the
    displacements are measured from the structure as given.
Time
    ``time_s`` of a structure is its own share of the work: its graph conversions plus its
    atoms' share of every batched CHGNet call. ``time_limit`` (seconds) is checked against it.

:func:`relax_batch` is the entry point; :func:`load_chgnet` caches the model per process.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["FIRE_PARAMETERS", "load_chgnet", "chgnet_energy_forces_stress", "relax_batch", "displacements",
           "separate_close_atoms", "auto_threads", "blas_one_thread", "expm", "expm_frechet_adjoint"]

#: ASE's FIRE defaults (``ase.optimize.FIRE``), which chgnet's StructOptimizer uses.
FIRE_PARAMETERS = {"dt": 0.1, "maxstep": 0.2, "dtmax": 1.0, "Nmin": 5, "finc": 1.1, "fdec": 0.5,
                   "astart": 0.1, "fa": 0.99}
#: eV/Å³ -> GPa (chgnet's factor)
_GPA = 160.21766208

_MODELS: dict[tuple[str, str | None], Any] = {}


def load_chgnet(model: str = "0.3.0", device: str | None = None) -> Any:
    """The pretrained CHGNet ``model`` on ``device``, loaded once per process (cached).

    Parameters
    ----------
    model:
        A chgnet model name (``"0.3.0"``, ``"0.2.0"``, ``"r2scan"``).
    device:
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None`` (chgnet picks).
    """
    key = (model, device)
    if key not in _MODELS:
        from chgnet.model import CHGNet

        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODELS[key] = CHGNet.load(model_name=model, use_device=device, verbose=False).eval()
    return _MODELS[key]


def auto_threads() -> int:
    """torch intra-op threads for a relaxation now: torch's setting, but no more than the cores
    left idle by the 1-minute load average (at least 1). See the module docstring."""
    import os

    import torch

    n = torch.get_num_threads()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        idle = cores - os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return n
    return max(1, min(n, int(idle + 0.5)))


def blas_one_thread() -> Any:
    """A context in which BLAS libraries run one thread (``threadpoolctl``; a no-op without it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def expm(a: np.ndarray) -> np.ndarray:
    """The matrix exponential of a small square matrix: Taylor series (order 16) of ``a / 2^s``
    with ``||a / 2^s||_inf <= 1/4``, squared ``s`` times (scipy's Padé routine costs milliseconds
    on a busy machine through BLAS threads)."""
    a = np.asarray(a, dtype=float)
    norm = float(np.abs(a).sum(axis=1).max())
    s = int(np.ceil(np.log2(norm / 0.25))) if norm > 0.25 else 0
    a = a / 2.0 ** s
    out = term = np.eye(a.shape[0])
    for k in range(1, 17):
        term = term @ a / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def expm_frechet_adjoint(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``D`` with ``D[m, n] = sum(L(x, E_mn) * g)``, ``L(x, e)`` the Fréchet derivative of ``expm``
    at ``x`` in direction ``e``: the derivative at ``x^T`` in direction ``g``, read off the
    upper-right block of ``expm([[x^T, g], [0, x^T]])``."""
    n = x.shape[0]
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = block[n:, n:] = x.T
    block[:n, n:] = g
    return expm(block)[:n, n:]


def _converter(model: Any) -> Any:
    """A graph converter with the model's cutoffs, the fast algorithm and isolated atoms an error
    (its own object: the model's converter, which StructOptimizer reconfigures, is left alone)."""
    conv = getattr(model, "_graphdiff_relax_converter", None)
    if conv is None:
        from chgnet.graph import CrystalGraphConverter

        gc = model.graph_converter
        with contextlib.redirect_stdout(io.StringIO()):
            conv = CrystalGraphConverter(atom_graph_cutoff=gc.atom_graph_cutoff, bond_graph_cutoff=gc.bond_graph_cutoff,
                                         algorithm="fast", on_isolated_atoms="error", verbose=False)
        model._graphdiff_relax_converter = conv
    return conv


def chgnet_energy_forces_stress(model: Any, graphs: Sequence[Any]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Energy per atom (eV/atom), forces (eV/Å, ``(N, 3)``) and stress (eV/Å³, ``(3, 3)``, ASE's
    sign: positive when the cell wants to shrink) of CHGNet ``graphs`` in one batched call.

    One forward pass (``task="e"``) and one backward pass of the summed total energies with
    respect to every graph's fractional coordinates and lattice: ``F = -dE/dfrac L^-1`` (rows
    are vectors) and ``sigma = L^T dE/dL / V``, the same as chgnet's ``task="efs"`` (which
    differentiates with respect to Cartesian positions and a strain, twice, with
    ``create_graph=True``).
    """
    import torch

    device = next(model.parameters()).device
    graphs = [g.to(device) for g in graphs]
    out = model.forward(graphs, task="e")
    natoms = torch.tensor([g.atomic_number.shape[0] for g in graphs], dtype=out["e"].dtype, device=device)
    inputs = [g.atom_frac_coord for g in graphs] + [g.lattice for g in graphs]
    grads = torch.autograd.grad((out["e"] * natoms).sum(), inputs)
    e = out["e"].detach().cpu().numpy().astype(float)
    results = []
    for i, g in enumerate(graphs):
        lat = g.lattice.detach().cpu().numpy().astype(float)
        d_frac = grads[i].cpu().numpy().astype(float)
        d_lat = grads[len(graphs) + i].cpu().numpy().astype(float)
        forces = -d_frac @ np.linalg.inv(lat).T
        stress = lat.T @ d_lat / abs(np.linalg.det(lat))
        results.append((float(e[i]), forces, 0.5 * (stress + stress.T)))
    return results


# ---------------------------------------------------------------------------- one structure's state
@dataclass
class _State:
    """FIRE on FrechetCellFilter coordinates of one structure (see the module docstring)."""

    index: int
    species: list[Any]
    cell0: np.ndarray               # initial cell, rows are lattice vectors
    r0: np.ndarray                  # positions in the undeformed cell, (N, 3)
    frac_initial: np.ndarray
    relax_cell: bool
    log_f: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))  # log of the deformation gradient
    vel: np.ndarray | None = None
    dt: float = FIRE_PARAMETERS["dt"]
    a: float = FIRE_PARAMETERS["astart"]
    n_pos: int = 0                  # FIRE's Nsteps: steps since the last reset
    steps: int = 0
    time_s: float = 0.0
    energy: float | None = None     # per atom, at the current geometry
    fmax_now: float | None = None
    converged: bool = False
    timed_out: bool = False
    error: str | None = None

    @property
    def natoms(self) -> int:
        return len(self.r0)

    def deform(self) -> np.ndarray:
        """The deformation gradient ``F = expm(log F)`` (cached until ``log_f`` changes)."""
        cached = getattr(self, "_deform", None)
        if cached is None or cached[0] is not self.log_f:
            cached = (self.log_f, expm(self.log_f) if self.relax_cell else np.eye(3))
            self._deform = cached
        return cached[1]

    def geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cell, Cartesian positions)`` now."""
        f = self.deform()
        return self.cell0 @ f.T, self.r0 @ f.T

    def structure(self) -> Any:
        from pymatgen.core import Lattice, Structure

        cell, pos = self.geometry()
        return Structure(Lattice(cell), self.species, pos, coords_are_cartesian=True)

    def filter_forces(self, forces: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """The generalised forces of the filter's coordinates, ``(N + 3, 3)`` (``(N, 3)`` with a
        fixed cell), as ASE's ``FrechetCellFilter.get_forces`` gives them."""
        if not self.relax_cell:
            return forces
        f = self.deform()
        cell, _ = self.geometry()
        virial = -abs(np.linalg.det(cell)) * stress
        ucf_cell_grad = virial @ np.linalg.inv(f.T)
        dglf = expm_frechet_adjoint(self.log_f, ucf_cell_grad)  # d E / d log F
        return np.vstack([forces @ f, dglf / self.natoms])

    def fire_step(self, gforces: np.ndarray) -> None:
        """One step of ASE's FIRE (``ase.optimize.FIRE.step``) on the filter's coordinates."""
        p = FIRE_PARAMETERS
        g = gforces.ravel()
        if self.vel is None:
            self.vel = np.zeros_like(g)
        else:
            vf = float(np.vdot(g, self.vel))
            if vf > 0.0:
                self.vel = (1.0 - self.a) * self.vel + self.a * g / np.sqrt(np.vdot(g, g)) * np.sqrt(
                    np.vdot(self.vel, self.vel))
                if self.n_pos > p["Nmin"]:
                    self.dt = min(self.dt * p["finc"], p["dtmax"])
                    self.a *= p["fa"]
                self.n_pos += 1
            else:
                self.vel[:] = 0.0
                self.a = p["astart"]
                self.dt *= p["fdec"]
                self.n_pos = 0
        self.vel = self.vel + self.dt * g
        dr = self.dt * self.vel
        norm = float(np.sqrt(np.vdot(dr, dr)))
        if norm > p["maxstep"]:
            dr = p["maxstep"] * dr / norm
        dr = dr.reshape(-1, 3)
        self.r0 = self.r0 + dr[:self.natoms]
        if self.relax_cell:
            self.log_f = self.log_f + dr[self.natoms:] / self.natoms
        self.steps += 1


def displacements(frac_initial: np.ndarray, frac_final: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Distance (Å) each atom moved relative to the cell: the change of its fractional
    coordinates at its minimum image (over the 27 nearest images), in the Cartesian metric of
    ``cell`` (rows are lattice vectors)."""
    d = np.asarray(frac_final, float) - np.asarray(frac_initial, float)
    d -= np.round(d)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    cart = (d[:, None, :] + shifts[None]) @ np.asarray(cell, float)
    return np.linalg.norm(cart, axis=2).min(axis=1)


def separate_close_atoms(structure: Any, factor: float = 0.7, max_iter: int = 200) -> tuple[Any, int]:
    """Move apart the atoms of ``structure`` that are closer than ``factor`` times the sum of
    their covalent radii (Cordero et al. 2008, pymatgen's ``CovalentRadius``; a radius of 0.25 Å
    for an element without one), under periodic boundaries, with the cell fixed.

    Each iteration moves both atoms of every such pair half the missing distance (plus 1 %)
    apart along the line between their nearest images, all pairs at once; it stops when no pair
    is too close or after ``max_iter`` iterations.

    Returns
    -------
    tuple
        ``(structure, pairs)``: a new structure (``structure`` itself when nothing was too close)
        and how many pairs were too close at the start.
    """
    from pymatgen.core import Structure

    from graphdiff_crystals.sanity import _covalent_radius

    radii = np.array([_covalent_radius(sp.symbol) or 0.25 for sp in structure.species])
    reach = 2 * factor * float(radii.max())
    current, first = structure, None
    lattice = np.asarray(structure.lattice.matrix, float)
    for _ in range(max_iter):
        centre, neighbour, images, dist = current.get_neighbor_list(reach)
        keep = centre < neighbour
        centre, neighbour, images, dist = centre[keep], neighbour[keep], images[keep], dist[keep]
        need = factor * (radii[centre] + radii[neighbour])
        close = dist < need
        if first is None:
            first = int(close.sum())
        if not close.any():
            break
        cart = current.cart_coords
        c, n = centre[close], neighbour[close]
        vec = cart[n] + images[close] @ lattice - cart[c]
        unit = vec / np.maximum(dist[close], 1e-6)[:, None]
        push = unit * (0.505 * (need[close] - dist[close]))[:, None]
        shift = np.zeros_like(cart)
        np.add.at(shift, c, -push)
        np.add.at(shift, n, push)
        current = Structure(current.lattice, current.species, cart + shift, coords_are_cartesian=True,
                            to_unit_cell=True)
    return current, int(first or 0)


def _clean(structure: Any) -> Any:
    """A copy without site properties and oxidation states."""
    from pymatgen.core import Structure

    s = Structure(structure.lattice, [site.specie for site in structure], structure.frac_coords)
    with contextlib.suppress(Exception):
        s.remove_oxidation_states()
    return s


def _result(state: _State | None, error: str | None = None) -> dict[str, Any]:
    if state is None or state.error is not None or state.energy is None:
        return {"structure": None, "energy": None, "energy_per_atom": None, "displacement_rms": None,
                "displacement_max": None, "steps": 0 if state is None else state.steps, "converged": False,
                "timed_out": False, "time_s": None if state is None else state.time_s, "fmax": None,
                "error": error or (state.error if state is not None else None) or "no energy"}
    final = state.structure()
    disp = displacements(state.frac_initial, final.frac_coords, final.lattice.matrix)
    return {"structure": final, "energy": state.energy * state.natoms, "energy_per_atom": state.energy,
            "displacement_rms": float(np.sqrt(np.mean(disp ** 2))), "displacement_max": float(disp.max()),
            "steps": state.steps, "converged": state.converged, "timed_out": state.timed_out,
            "time_s": state.time_s, "fmax": state.fmax_now, "error": None}


# ---------------------------------------------------------------------------- the batched loop
def relax_batch(structures: Sequence[Any], *, fmax: float = 0.1, steps: int = 500, batch_size: int = 16,
                relax_cell: bool = True, model: Any = None, model_name: str = "0.3.0", device: str | None = None,
                time_limit: float | None = None, threads: int | str | None = "auto", progress: bool = False,
                callback: Callable[[dict[str, Any]], None] | None = None,
                desc: str = "relaxing", separate: float | None = None) -> list[dict[str, Any]]:
    """Relax pymatgen ``structures`` with CHGNet, FIRE on positions and cell, in batches.

    Parameters
    ----------
    structures:
        pymatgen ``Structure`` objects (site properties and oxidation states are dropped).
    fmax:
        Converged when every atom force and cell-force row is below this (eV/Å); see the
        module docstring.
    steps:
        Most FIRE steps per structure (``steps + 1`` CHGNet evaluations at most).
    batch_size:
        Structures in flight, evaluated by one CHGNet call per step.
    relax_cell:
        ``False``: move the atoms only, keep the cell.
    model:
        A loaded CHGNet (default: :func:`load_chgnet` of ``model_name`` on ``device``).
    time_limit:
        Seconds of a structure's own share of the work (see the module docstring) after which
        it stops, keeps its last step and is marked ``timed_out``; ``None``: no limit.
    threads:
        torch intra-op threads during the call (restored after): a number, ``"auto"`` (fewer
        on a busy machine, see the module docstring) or ``None`` (torch's setting).
    progress:
        A bar on stderr counting FIRE steps (all structures together).
    callback:
        Called after every batched step with ``{"step_calls", "steps", "done", "total",
        "converged", "active"}``.
    separate:
        Before relaxing, move apart atoms closer than this times the sum of their covalent radii
        (:func:`separate_close_atoms`; see the module docstring); ``None``: relax as given.

    Returns
    -------
    list of dict
        One per structure, in input order: ``structure`` (relaxed, ``None`` on failure),
        ``energy`` (eV), ``energy_per_atom`` (eV/atom), ``displacement_rms`` and
        ``displacement_max`` (Å), ``steps``, ``converged``, ``timed_out``, ``time_s``,
        ``fmax`` (the largest force row at the end, eV/Å), ``separated`` (pairs moved apart
        first, with ``separate``) and ``error`` (``None`` unless it failed).

    Raises
    ------
    ValueError
        When ``fmax``, ``steps`` or ``batch_size`` is out of range.
    """
    if not fmax > 0:
        raise ValueError(f"relax_batch: fmax must be > 0 eV/Å, got {fmax!r}")
    if steps < 0:
        raise ValueError(f"relax_batch: steps must be >= 0, got {steps!r}")
    if batch_size < 1:
        raise ValueError(f"relax_batch: batch_size must be >= 1, got {batch_size!r}")
    if separate is not None and not separate > 0:
        raise ValueError(f"relax_batch: separate must be > 0 or None, got {separate!r}")
    import torch
    from tqdm.auto import tqdm

    model = model if model is not None else load_chgnet(model_name, device)
    conv = _converter(model)
    n_elements = int(getattr(getattr(getattr(model, "atom_embedding", None), "embedding", None), "num_embeddings", 94))
    results: list[dict[str, Any] | None] = [None] * len(structures)
    separated = [0] * len(structures)
    waiting: list[_State] = []
    for i, s in enumerate(structures):
        try:
            clean = _clean(s)
            zs = [sp.Z for sp in clean.species]
            bad = [k for k, z in enumerate(zs) if not 1 <= z <= n_elements]
            if bad:
                raise ValueError(f"site {bad[0]} is {clean.species[bad[0]]} (Z = {zs[bad[0]]}); CHGNet covers "
                                 f"Z = 1..{n_elements}")
            start, moved = separate_close_atoms(clean, separate) if separate is not None else (clean, 0)
            separated[i] = moved
            waiting.append(_State(i, list(clean.species), clean.lattice.matrix.copy(), start.cart_coords.copy(),
                                  clean.frac_coords.copy(), relax_cell))
        except Exception as exc:  # noqa: BLE001 - reported per structure
            results[i] = _result(None, f"not relaxed: {type(exc).__name__}: {exc}")
    waiting.reverse()  # pop() takes them in input order
    active: list[_State] = []
    counts = {"step_calls": 0, "steps": 0, "done": sum(r is not None for r in results), "total": len(structures),
              "converged": 0, "active": 0}
    old_threads = torch.get_num_threads()
    if threads == "auto":
        threads = auto_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    bar = tqdm(desc=desc, unit="step", disable=not progress, file=sys.stderr, dynamic_ncols=True)

    def finish(st: _State) -> None:
        results[st.index] = _result(st)
        counts["done"] += 1
        counts["converged"] += int(st.converged)

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), blas_one_thread():
            warnings.simplefilter("ignore")
            while waiting or active:
                while waiting and len(active) < batch_size:
                    active.append(waiting.pop())
                evaluated = _evaluate(model, conv, active)
                still: list[_State] = []
                for st, ef in zip(active, evaluated):
                    if ef is None:  # failed: st.error says why
                        finish(st)
                        continue
                    e, forces, stress = ef
                    if not (math.isfinite(e) and np.isfinite(forces).all() and np.isfinite(stress).all()):
                        st.error = "the relaxation diverged (non-finite CHGNet energy, forces or stress)"
                        finish(st)
                        continue
                    st.energy = e
                    gforces = st.filter_forces(forces, stress)
                    st.fmax_now = float(np.linalg.norm(gforces, axis=1).max())
                    st.converged = st.fmax_now < fmax
                    out_of_time = time_limit is not None and st.time_s > time_limit
                    if st.converged or st.steps >= steps or out_of_time:
                        st.timed_out = bool(out_of_time and not st.converged and st.steps < steps)
                        finish(st)
                        continue
                    st.fire_step(gforces)
                    counts["steps"] += 1
                    bar.update(1)
                    still.append(st)
                active = still
                counts["step_calls"] += 1
                counts["active"] = len(active)
                bar.set_postfix(done=f"{counts['done']}/{counts['total']}", converged=counts["converged"],
                                refresh=False)
                if callback is not None:
                    callback(dict(counts))
    finally:
        bar.close()
        if threads is not None:
            torch.set_num_threads(old_threads)
    for i, res in enumerate(results):
        if res is not None:
            res["separated"] = separated[i]
    return results  # type: ignore[return-value]


def _evaluate(model: Any, conv: Any, states: list[_State]) -> list[tuple[float, np.ndarray, np.ndarray] | None]:
    """CHGNet energy, forces and stress of every state in one call; a state whose graph fails,
    or that fails CHGNet alone, gets ``None`` and its ``error``. Adds each state's share of
    the time to ``time_s``."""
    out: list[tuple[float, np.ndarray, np.ndarray] | None] = [None] * len(states)
    graphs, ok = [], []
    for k, st in enumerate(states):
        t0 = time.perf_counter()
        try:
            graphs.append(conv(st.structure(), graph_id=str(st.index)))
            ok.append(k)
        except Exception as exc:  # noqa: BLE001 - reported per structure
            st.error = f"CHGNet graph construction failed at step {st.steps}: {type(exc).__name__}: {exc}"
        st.time_s += time.perf_counter() - t0
    if not ok:
        return out
    t0 = time.perf_counter()
    try:
        res = chgnet_energy_forces_stress(model, graphs)
    except Exception:  # noqa: BLE001 - redo one by one so that only the culprit fails
        res = None
    if res is not None:
        dt = time.perf_counter() - t0
        n_total = sum(states[k].natoms for k in ok)
        for k, r in zip(ok, res):
            out[k] = r
            states[k].time_s += dt * states[k].natoms / n_total
        return out
    for k, g in zip(ok, graphs):
        t1 = time.perf_counter()
        try:
            out[k] = chgnet_energy_forces_stress(model, [g])[0]
        except Exception as exc:  # noqa: BLE001 - reported per structure
            states[k].error = f"CHGNet failed at step {states[k].steps}: {type(exc).__name__}: {exc}"
        states[k].time_s += time.perf_counter() - t1
    return out
