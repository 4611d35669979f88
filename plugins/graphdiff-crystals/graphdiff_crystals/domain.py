"""The crystals domain: pymatgen ``Structure`` <-> graph.

Graph layout (one crystal of ``n`` atoms)
-----------------------------------------
``atom_types``
    node, categorical (100 classes), ``long [n]``: ``Z - 1`` for the elements ``Z = 1..100``.
``frac_coords``
    node, torus (dim 3), ``float64 [n, 3]``: fractional coordinates in ``[0, 1)``.
``lattice``
    graph, continuous (dim 6), ``float64 [1, 6]``: ``[log C11, log C22, log C33, C21, C31, C32]``.

plus ``num_nodes`` and, through :meth:`CrystalDomain.record_to_graph`, one ``float32 [1]``
attribute per numeric property of a record (a CSV column such as ``heat_all``).

``lattice`` is the O(3)-invariant parametrisation of :mod:`graphdiff_crystals.lattice`; the
fractional coordinates are those of the *right-handed* basis (``c`` negated when
``det L < 0``, see :func:`graphdiff_crystals.lattice.right_handed`), so the graph describes the
same crystal, never its mirror image. :meth:`CrystalDomain.from_graph` rebuilds the structure
exactly in the canonical cell (``a`` along x, ``b`` in the xy-plane).

Storage dtype: ``frac_coords`` and ``lattice`` are stored in **float64**, so that the round trip
holds to 1e-6 for every coordinate and lattice parameter (float32 has a spacing of ~1e-6 at
lengths of 8-16 Å). The diffusion engine casts fields to its own dtype.

What is dropped by the conversion: oxidation states (``Fe2+`` becomes ``Fe``), site and
structure properties (magnetic moments, labels), and the lattice orientation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from pymatgen.core import Element, Lattice, Structure
from pymatgen.core.structure import IStructure
from torch_geometric.data import Batch, Data

from graphdiff.domain import Domain, Record
from graphdiff.errors import DataError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level

from graphdiff_crystals.lattice import (lattice_to_params, params_to_lattice, periodic_close_pairs, right_handed,
                                        wrap_frac)

__all__ = ["CrystalDomain", "MAX_Z", "ELEMENT_SYMBOLS", "RESERVED_NAMES", "property_attribute"]

#: Heaviest element accepted (fermium); classes are ``Z - 1`` for ``Z = 1..MAX_Z``.
MAX_Z = 100
#: Generated structures are relaxed (``CrystalDomain.relax``) after moving apart the atoms closer
#: than this times the sum of their covalent radii.
SEPARATE_FACTOR = 0.7
#: Class labels of ``atom_types``: ``ELEMENT_SYMBOLS[Z - 1]``.
ELEMENT_SYMBOLS: tuple[str, ...] = tuple(Element.from_Z(z).symbol for z in range(1, MAX_Z + 1))
#: Attribute names a property may not take (fields and PyG's structural attributes).
RESERVED_NAMES = frozenset(
    {"atom_types", "frac_coords", "lattice", "num_nodes", "edge_index", "edge_attr", "batch",
     "ptr", "x", "pos", "y", "face", "id"}
)


def property_attribute(name: str) -> str:
    """The ``Data`` attribute that stores the property column ``name``.

    Python identifiers are kept as they are (``heat_all``); other names are made into one by
    replacing every run of non-word characters with ``_`` (``"band gap (eV)"`` becomes
    ``band_gap_eV``) and prefixing ``p_`` when the result starts with a digit.

    Raises
    ------
    DataError
        If the name is empty after cleaning or is reserved (:data:`RESERVED_NAMES`).
    """
    attr = name if name.isidentifier() else re.sub(r"\W+", "_", name).strip("_")
    if attr and attr[0].isdigit():
        attr = "p_" + attr
    if not attr or not attr.isidentifier():
        raise DataError(f"property {name!r} cannot be stored as a graph attribute (no usable name)")
    if attr in RESERVED_NAMES:
        raise DataError(
            f"property {name!r} would be stored as the reserved graph attribute {attr!r}; "
            f"rename the column (reserved: {', '.join(sorted(RESERVED_NAMES))})"
        )
    return attr


def _comparable(a: Any, b: Any) -> bool:
    """Both are structures a ``StructureMatcher`` can safely compare (Niggli reduction of a wild
    cell can run for hours)."""
    from graphdiff_crystals.metrics import sane_cell

    return (isinstance(a, (Structure, IStructure)) and isinstance(b, (Structure, IStructure))
            and sane_cell(a) and sane_cell(b))


class CrystalDomain(Domain):
    """Periodic crystals as graphs: atom types, fractional coordinates and lattice.

    Parameters
    ----------
    max_nodes:
        Largest number of atoms per cell (default 100). The standard generative benchmarks
        hold at most 52 atoms (Perov-5: 5, MP-20: 20, Carbon-24: 24, MPTS-52: 52); 100 leaves
        room for larger conventional cells while bounding the quadratic cost of the
        denoiser's all-pairs periodic edges and the memory of one batch.
    min_distance:
        Two atoms (or an atom and its own periodic image) closer than this many Å are
        rejected as overlapping (default 0.5 Å; the shortest real bond, H-H, is 0.74 Å).
    min_volume:
        Smallest accepted cell volume in Å³ (default 1e-3): below it the lattice is degenerate.
    tol:
        Tolerance of :meth:`equal` (lattice parameters and fractional coordinates).
    """

    name = "crystals"
    version = "1"
    #: crystal structure prediction gives the composition (atom types); de novo gives nothing
    tasks = {"csp": ("atom_types",), "dng": ()}
    description = "periodic crystal structures (pymatgen Structure): atom types, fractional coordinates, lattice"
    read_suffixes = (".csv", ".cif", ".vasp", ".poscar", "POSCAR*", "CONTCAR*", ".json", ".extxyz", ".db",
                     "<folder>")
    default_denoiser = "periodic"
    write_suffixes = (".csv", ".cif", ".json", ".extxyz", ".db", ".vasp", ".poscar", "<folder>")
    #: one generated structure per file (``graphdiff sample --out DIR/``): CIF
    single_file_suffix = ".cif"
    #: ``--format poscar`` for a folder writes ``.vasp`` files (read by pymatgen, ASE and VASP tools)
    file_formats = {"poscar": ".vasp"}

    def __init__(self, *, max_nodes: int = 100, min_distance: float = 0.5, min_volume: float = 1e-3,
                 tol: float = 1e-6) -> None:
        self.max_nodes = int(max_nodes)
        self.min_distance = float(min_distance)
        self.min_volume = float(min_volume)
        self.tol = float(tol)
        self._spec = GraphSpec(
            name=self.name,
            fields=(
                FieldSpec("atom_types", FieldKind.CATEGORICAL, Level.NODE, num_classes=MAX_Z,
                          labels=ELEMENT_SYMBOLS),
                FieldSpec("frac_coords", FieldKind.TORUS, Level.NODE, dim=3),
                FieldSpec("lattice", FieldKind.CONTINUOUS, Level.GRAPH, dim=6),
            ),
            max_nodes=self.max_nodes,
        )

    @property
    def spec(self) -> GraphSpec:
        """``atom_types`` (categorical, 100 classes), ``frac_coords`` (torus, 3), ``lattice`` (continuous, 6)."""
        return self._spec

    # ------------------------------------------------------------------ checks
    def check_structure(self, structure: Any, where: str = "structure") -> None:
        """Raise :class:`DataError` unless ``structure`` can be converted to a graph.

        Parameters
        ----------
        structure:
            A pymatgen ``Structure``.
        where:
            Names the structure in the message (a file and row).

        Raises
        ------
        DataError
            ``"{where}: {problem}"`` with the problem from :meth:`structure_problem`.
        """
        problem = self.structure_problem(structure)
        if problem is not None:
            raise DataError(f"{where}: {problem}")

    def structure_problem(self, structure: Any) -> str | None:
        """Why ``structure`` cannot be converted to a graph, or ``None`` when it can.

        Checks, in order: type, periodicity, number of atoms (``1..max_nodes``), ordered sites
        (no disorder, no partial occupancy, no vacancies), real elements with ``Z <= 100`` (no
        dummy species), a finite lattice with volume ``>= min_volume``, finite coordinates,
        and no two atoms (nor an atom and its own periodic image) closer than
        ``min_distance`` under periodic boundary conditions.
        """
        if not isinstance(structure, IStructure):
            return f"expected a pymatgen Structure, got {type(structure).__name__}"
        if not all(structure.lattice.pbc):
            return f"crystals must be periodic in all three directions, pbc={structure.lattice.pbc}"
        n = len(structure)
        if n == 0:
            return "the structure has no atoms"
        if n > self.max_nodes:
            return f"{n} atoms, more than the {self.max_nodes} the crystals domain allows"
        for i, site in enumerate(structure):
            if not site.is_ordered:
                return (f"site {i} is disordered or partially occupied ({site.species}); only ordered "
                        "structures (one element per site, occupancy 1) can be converted")
            try:
                _element_z(site.specie)
            except DataError as exc:
                return f"site {i}: {exc}"
        matrix = structure.lattice.matrix
        if not np.all(np.isfinite(matrix)):
            return "the lattice has non-finite entries: " + np.array2string(matrix).replace("\n", "")
        volume = abs(float(np.linalg.det(matrix)))
        if not volume >= self.min_volume:
            return f"degenerate lattice, volume {volume:.3g} Å³ < {self.min_volume:g} Å³"
        bad = ~np.isfinite(structure.frac_coords)
        if bad.any():
            return f"site {int(np.argwhere(bad)[0, 0])} has non-finite (NaN/inf) coordinates"
        lengths = np.linalg.norm(matrix, axis=1)
        if lengths.max() > MAX_CELL_LENGTH:
            return (f"degenerate lattice: a cell vector is {lengths.max():.3g} Å long "
                    f"(> {MAX_CELL_LENGTH:g} Å)")
        areas = np.linalg.norm(np.cross(matrix[[1, 2, 0]], matrix[[2, 0, 1]]), axis=1)
        thickness = volume / areas.max()
        if thickness < self.min_distance:
            return (f"degenerate lattice: the cell is only {thickness:.3g} Å thick "
                    f"(< the {self.min_distance:g} Å minimum distance)")
        return self._overlap_problem(structure)

    def _overlap_problem(self, structure: IStructure) -> str | None:
        if self.min_distance <= 0:
            return None
        pairs = periodic_close_pairs(structure.lattice.matrix, structure.frac_coords, self.min_distance)
        if not pairs:
            return None
        i, j, d = min(pairs, key=lambda p: p[2])
        if i == j:
            return (f"site {i} ({structure[i].specie}) is {d:.3f} Å from its own periodic image, "
                    f"closer than {self.min_distance} Å (a lattice vector is too short)")
        return (f"sites {i} ({structure[i].specie}) and {j} ({structure[j].specie}) overlap: "
                f"{d:.3f} Å apart under periodic boundaries, closer than {self.min_distance} Å")

    # ------------------------------------------------------------------ conversion
    def to_graph(self, obj: Any) -> Data:
        """Convert a pymatgen ``Structure`` to a graph.

        Parameters
        ----------
        obj:
            An ordered ``Structure`` passing :meth:`check_structure`.

        Returns
        -------
        ``Data`` with ``atom_types`` ``long [n]``, ``frac_coords`` ``float64 [n, 3]`` in
        ``[0, 1)`` (right-handed basis) and ``lattice`` ``float64 [1, 6]``, ``num_nodes = n``.

        Raises
        ------
        DataError
            Saying what is wrong with the structure.
        """
        self.check_structure(obj)
        lat, frac = right_handed(np.array(obj.lattice.matrix, dtype=np.float64),
                                 np.array(obj.frac_coords, dtype=np.float64))
        params = lattice_to_params(torch.from_numpy(lat))
        z = [_element_z(site.specie) for site in obj]
        return Data(
            atom_types=torch.tensor(z, dtype=torch.long) - 1,
            frac_coords=wrap_frac(torch.from_numpy(np.ascontiguousarray(frac))),
            lattice=params.reshape(1, 6),
            num_nodes=len(z),
        )

    def from_graph(self, data: Data) -> Structure:
        """Rebuild the ``Structure`` of one graph, exactly, in the canonical cell.

        Parameters
        ----------
        data:
            One graph (not a batch) with ``atom_types`` (``long [n]`` class ids, or
            ``float [n, 100]`` scores that are arg-maxed), ``frac_coords`` ``[n, 3]`` (any
            real values; wrapped into ``[0, 1)``) and ``lattice`` ``[1, 6]`` or ``[6]``.

        Returns
        -------
        ``Structure`` with lattice ``params_to_lattice(lattice)`` (``a`` along x, ``b`` in the
        xy-plane) and the elements ``Z = atom_types + 1``.

        Raises
        ------
        DataError
            On a batch, a missing field, a wrong shape or dtype, class ids outside
            ``[0, 100)``, or non-finite values.
        """
        if isinstance(data, Batch) and data.num_graphs != 1:
            raise DataError(f"crystal graph: from_graph takes one graph, got a batch of {data.num_graphs}")
        fields = {}
        for name in ("atom_types", "frac_coords", "lattice"):
            value = getattr(data, name, None)
            if not isinstance(value, torch.Tensor):
                raise DataError(f"crystal graph: field {name!r} is missing or not a tensor")
            fields[name] = value.detach().cpu()
        types, frac, lat = fields["atom_types"], fields["frac_coords"], fields["lattice"]
        if types.dim() == 2 and types.size(1) == MAX_Z and types.is_floating_point():
            types = types.argmax(dim=1)
        if types.dim() != 1 or types.is_floating_point():
            raise DataError(f"crystal graph: atom_types must be integer class ids [n], got "
                            f"{types.dtype} {list(types.shape)}")
        n = types.numel()
        if n == 0:
            raise DataError("crystal graph: no atoms")
        if data.num_nodes is not None and data.num_nodes != n:
            raise DataError(f"crystal graph: num_nodes is {data.num_nodes} but atom_types has {n} entries")
        if int(types.min()) < 0 or int(types.max()) >= MAX_Z:
            raise DataError(f"crystal graph: atom_types must lie in [0, {MAX_Z}), got "
                            f"[{int(types.min())}, {int(types.max())}]")
        if tuple(frac.shape) != (n, 3) or not frac.is_floating_point():
            raise DataError(f"crystal graph: frac_coords must be float [{n}, 3], got {frac.dtype} {list(frac.shape)}")
        if lat.numel() != 6 or not lat.is_floating_point():
            raise DataError(f"crystal graph: lattice must be float [1, 6], got {lat.dtype} {list(lat.shape)}")
        frac64 = frac.to(torch.float64)
        params = lat.reshape(6).to(torch.float64)
        for name, value in (("frac_coords", frac64), ("lattice", params)):
            if not bool(torch.isfinite(value).all()):
                raise DataError(f"crystal graph: field {name!r} has non-finite values")
        matrix = params_to_lattice(params).numpy()
        if not np.all(np.isfinite(matrix)):
            raise DataError(f"crystal graph: lattice parameters {params.tolist()} overflow")
        species = [Element.from_Z(int(z) + 1) for z in types.tolist()]
        return Structure(Lattice(matrix), species, wrap_frac(frac64).numpy())

    def canonicalize(self, structure: Structure) -> Structure:
        """``structure`` in its canonical cell: right-handed, ``a`` along x, ``b`` in the xy-plane,
        fractional coordinates in ``[0, 1)``; the same crystal (no mirroring)."""
        return self.from_graph(self.to_graph(structure))

    def record_to_graph(self, record: Record | dict[str, Any]) -> Data:
        """Convert a :class:`~graphdiff.domain.Record` (from :meth:`read`) to a graph with its properties.

        Each ``record["props"]`` entry ``name -> value`` becomes the attribute
        :func:`property_attribute` ``(name)`` holding ``torch.float32 [1]`` (NaN for a missing
        value). The record's ``id`` is not stored on the graph.

        Raises
        ------
        DataError
            Naming the record when the structure cannot be converted or a property name is
            reserved.
        """
        rid = record.get("id", "?")
        try:
            data = self.to_graph(record["obj"])
        except DataError as exc:
            raise DataError(f"record {rid}: {exc}") from exc
        for key, value in (record.get("props") or {}).items():
            attr = property_attribute(str(key))
            setattr(data, attr, torch.tensor([float(value)], dtype=torch.float32))
        return data

    def input_graph(self, item: Any, task: str | None = None, *, formula_units: int | None = None) -> Data:
        """The template of one crystal structure prediction input: a formula string
        (``"SrTiO3"``; the formula as written is the cell, ``"Sr2Ti2O6"`` a 10-atom cell), a
        pymatgen ``Composition``, a ``Structure`` (its sites), a record of :meth:`read_inputs`
        or :meth:`read`, or a graph. ``formula_units=Z`` makes a formula's cell ``Z`` units of
        its reduced formula (see :mod:`graphdiff_crystals.compositions`).

        Raises
        ------
        DataError
            The formula does not parse (or is not whole atoms), the structure is disordered or
            otherwise not convertible.
        """
        from pymatgen.core import Composition

        from graphdiff_crystals.compositions import composition_graph, parse_formula

        if isinstance(item, dict) and "obj" in item:
            obj = item["obj"]
            if isinstance(obj, Composition):
                return composition_graph(parse_formula(obj, formula_units), self.max_nodes)
            return self.record_to_graph(item)
        if isinstance(item, (str, Composition)):
            return composition_graph(parse_formula(item, formula_units), self.max_nodes)
        if isinstance(item, Data):
            return item
        if formula_units is not None:
            raise DataError("formula_units applies to formulas and compositions, not to a "
                            f"{type(item).__name__}")
        if isinstance(item, (Structure, IStructure)) and not item.is_ordered:
            raise DataError(f"structure {item.composition.reduced_formula}: partial occupancies (a "
                            "disordered structure); CSP needs whole atoms on each site")
        return self.to_graph(item)

    def read_inputs(self, path: str | Path, *, strict: bool = False,
                    skipped: list[dict[str, str]] | None = None, **options: Any) -> Iterator[Record]:
        """Inputs of crystal structure prediction from a file: a file of compositions (a
        ``.txt`` file of formulas, one per line as ``FORMULA`` or ``ID FORMULA``; a CSV file with
        a ``formula`` or ``composition`` column and no ``cif`` column), or anything
        :meth:`read` reads (its structures give their compositions). ``formula_units`` applies to
        files of compositions."""
        from graphdiff_crystals.compositions import is_composition_file, read_compositions

        units = options.pop("formula_units", None)
        if is_composition_file(path):
            return read_compositions(path, strict=strict, skipped=skipped, formula_units=units)
        if units is not None:
            raise DataError(f"{path}: formula_units applies to a file of formulas; this file holds structures")
        return self.read(path, strict=strict, skipped=skipped, **options)

    # ------------------------------------------------------------------ comparison
    def equivalent(self, a: Any, b: Any) -> bool:
        """The same crystal up to symmetry, cell choice and a volume scale, by the CSP match
        criterion: pymatgen's ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)``
        (:data:`graphdiff_crystals.metrics.MATCHER_KW`, CDVAE's). Keeps the K CSP candidates of
        a row distinct in the sense the CSP match rate counts: two candidates it would count as
        the same structure never take two of the K slots. (With pymatgen's tighter defaults a
        distorted draw of one polymorph can form a group of its own and push the next polymorph
        out of the K; on 100 held-out Perov-5 rows with 10 draws this lowered k = 2 from 97 % to
        95 %.)"""
        from pymatgen.analysis.structure_matcher import StructureMatcher

        from graphdiff_crystals.metrics import MATCHER_KW

        if not _comparable(a, b) or a.composition.reduced_composition != b.composition.reduced_composition:
            return False
        try:
            return bool(StructureMatcher(**MATCHER_KW).fit(a, b))
        except (ValueError, OverflowError, np.linalg.LinAlgError):  # a degenerate cell matches nothing
            return False

    def distance(self, a: Any, b: Any) -> float | None:
        """The RMS displacement between two equivalent crystals after ``StructureMatcher`` (the
        tolerances of :meth:`equivalent`) has aligned them, normalised by ``(V / n)^(1/3)``
        (pymatgen's ``get_rms_dist``, the CSP RMSE's measure); ``None`` when they do not match
        or a cell is degenerate."""
        from pymatgen.analysis.structure_matcher import StructureMatcher

        from graphdiff_crystals.metrics import MATCHER_KW

        if not _comparable(a, b):
            return None
        try:
            rms = StructureMatcher(**MATCHER_KW).get_rms_dist(a, b)
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            return None
        return None if rms is None else float(rms[0])

    def valid(self, obj: Any) -> bool:
        """CDVAE structural validity: every interatomic distance > 0.5 Å and volume ≥ 0.1 Å³."""
        from graphdiff_crystals.metrics import structure_valid

        return isinstance(obj, (Structure, IStructure)) and structure_valid(obj)

    def target_range(self, target: Any, meta: dict[str, Any]) -> tuple[float, float, str] | None:
        """Range of a structure target (density, volume per atom, number of elements) over the
        training data a checkpoint records: its dataset's bundled sample, else its training file
        (:mod:`graphdiff_crystals.target_ranges`); ``None`` where neither is at hand."""
        from graphdiff_crystals.target_ranges import target_range

        return target_range(target, meta)

    def training_ranges(self, graphs: Any) -> dict[str, list[float]]:
        """Density, volume per atom and number of elements over the training graphs, ``{name:
        [min, max, count]}`` (:func:`graphdiff_crystals.target_ranges.training_ranges`); stored in
        the checkpoint by ``graphdiff train``. Graphs that do not convert are left out."""
        from graphdiff_crystals.target_ranges import training_ranges

        def structures():
            for g in graphs:
                try:
                    yield self.from_graph(g)
                except Exception:  # noqa: BLE001 - an unconvertible graph is left out of the counts
                    continue

        return training_ranges(structures())

    #: :meth:`relax` is implemented (CHGNet)
    relaxes = True

    def relax(self, objs: list[Any], *, fmax: float = 0.1, steps: int = 500, batch_size: int = 16,
              progress: bool = True) -> list[dict[str, Any]]:
        """Relax structures with CHGNet (0.3.0): FIRE on atom positions and cell (ASE's
        ``FrechetCellFilter`` coordinates), many structures per CHGNet call
        (:func:`graphdiff_crystals.stability.batch_relax.relax_batch`; CHGNet is loaded once
        per process). Atoms closer than 0.7 times the sum of their covalent radii are first moved
        apart (:func:`~graphdiff_crystals.stability.batch_relax.separate_close_atoms`): CHGNet,
        like other learned potentials, can pull such atoms onto each other.

        Parameters
        ----------
        objs:
            pymatgen ``Structure`` objects (anything else gets an ``error``).
        fmax:
            Converged when every atom force and every row of the cell's stress term is below
            this (eV/Å).
        steps:
            Most FIRE steps per structure.
        batch_size:
            Structures evaluated together per CHGNet call.
        progress:
            A bar on stderr counting FIRE steps.

        Returns
        -------
        list of dict
            One per structure, in order: ``obj`` (relaxed ``Structure``, ``None`` on failure),
            ``energy_per_atom`` (eV/atom, CHGNet), ``displacement_rms`` and
            ``displacement_max`` (Å, atoms relative to the cell, minimum image, in the final
            cell), ``steps``, ``converged`` and ``error`` (why it failed, else ``None``).
        """
        from graphdiff_crystals.stability.batch_relax import relax_batch

        objs = list(objs)
        ok = [i for i, o in enumerate(objs) if isinstance(o, IStructure)]
        done = relax_batch([objs[i] for i in ok], fmax=fmax, steps=steps, batch_size=batch_size, progress=progress,
                           separate=SEPARATE_FACTOR)
        out: list[dict[str, Any]] = [
            {"obj": None, "energy_per_atom": None, "displacement_rms": None, "displacement_max": None, "steps": 0,
             "converged": False, "error": f"item {i}: expected a pymatgen Structure, got {type(o).__name__}"}
            for i, o in enumerate(objs)]
        for i, r in zip(ok, done):
            out[i] = {"obj": r["structure"], "energy_per_atom": r["energy_per_atom"],
                      "displacement_rms": r["displacement_rms"], "displacement_max": r["displacement_max"],
                      "steps": r["steps"], "converged": r["converged"],
                      "error": None if r["error"] is None else f"item {i}: {r['error']}"}
        return out

    def equal(self, a: Any, b: Any, *, tol: float | None = None, ordered: bool = True) -> bool:
        """Whether two structures are the same crystal in the same description.

        True when both have the same elements (in order when ``ordered``), canonical lattice
        parameters within ``tol`` and fractional coordinates (of the right-handed basis) equal
        within ``tol`` modulo 1. Rotations of the whole cell do not matter; mirror images,
        different cells (supercells, other bases) and permuted sites (when ``ordered``) do.

        Parameters
        ----------
        a, b:
            ``Structure`` objects (anything else compares unequal).
        tol:
            Absolute tolerance, default :attr:`tol` (1e-6).
        ordered:
            Compare site by site (default); ``False`` pairs each site of ``a`` with an equal
            site of ``b`` (for formats that reorder sites, such as CIF).
        """
        tol = self.tol if tol is None else float(tol)
        if not (isinstance(a, IStructure) and isinstance(b, IStructure)) or len(a) != len(b):
            return False
        try:
            za = np.array([_element_z(s.specie) for s in a])
            zb = np.array([_element_z(s.specie) for s in b])
        except DataError:
            return False
        la, fa = right_handed(a.lattice.matrix, a.frac_coords)
        lb, fb = right_handed(b.lattice.matrix, b.frac_coords)
        if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lb))):
            return False
        with np.errstate(divide="ignore", invalid="ignore"):
            pa, pb = lattice_to_params(la), lattice_to_params(lb)
        if not (np.all(np.isfinite(pa)) and np.all(np.isfinite(pb))):
            return False
        if not np.allclose(pa, pb, rtol=0.0, atol=tol):
            return False
        if ordered:
            return bool(np.array_equal(za, zb) and _frac_close(fa, fb, tol).all())
        if not np.array_equal(np.sort(za), np.sort(zb)):
            return False
        close = _frac_close(fa[:, None, :], fb[None, :, :], tol).all(-1) & (za[:, None] == zb[None, :])
        used = np.zeros(len(b), dtype=bool)
        for i in range(len(a)):
            free = np.flatnonzero(close[i] & ~used)
            if free.size == 0:
                return False
            used[free[0]] = True
        return True

    # ------------------------------------------------------------------ I/O
    def read(self, path: str | Path, *, strict: bool = False, skipped: list[dict[str, str]] | None = None,
             validate: bool = True, **options: Any) -> Iterator[Record]:
        """Yield records (``id``, ``obj`` = Structure, ``props``, ``source``) from a file or folder.

        See :func:`graphdiff_crystals.io.read_records` for the formats and options. Every
        structure is checked with :meth:`check_structure` (``validate=False`` turns that off), so
        records that would fail :meth:`to_graph` are skipped and reported here.
        """
        from graphdiff_crystals.io import read_records

        check = self.structure_problem if validate else None
        return read_records(path, strict=strict, skipped=skipped, check=check, **options)

    def holds_items(self, path: str | Path) -> bool:
        """Whether ``path`` holds crystals: an ASE database (``.db``) does when it has a periodic
        row with a cell (:func:`graphdiff_crystals.asedb.holds_crystals`); any other file of a
        crystal format does."""
        path = Path(path)
        if path.suffix.lower() != ".db":
            return True
        from graphdiff_crystals.asedb import holds_crystals

        return holds_crystals(path)

    def write(self, objs: list[Any], path: str | Path, **options: Any) -> None:
        """Write structures (or records) to ``path``; see :func:`graphdiff_crystals.io.write_structures`."""
        from graphdiff_crystals.io import write_structures

        write_structures(objs, path, **options)

    def file_stem(self, obj: Any, item_id: str, rank: int | None = None) -> str:
        """``{id}_{reduced formula}``, and ``_{rank}`` for a candidate: ``mp-1_SrTiO3_0``; an id
        that is the formula is not repeated, ``SrTiO3_0`` (:func:`graphdiff_crystals.writers.file_stem`)."""
        from graphdiff_crystals.writers import file_stem

        return file_stem(obj, item_id, rank)


#: Longest cell vector accepted (Å): longer ones come from failed generations, not crystals,
#: and make neighbour searches explode.
MAX_CELL_LENGTH = 1000.0



def _is_dummy(sp: Any) -> bool:
    from pymatgen.core.periodic_table import DummySpecies

    return isinstance(sp, DummySpecies)


def _element_z(sp: Any) -> int:
    """Atomic number of an element or (oxidation-decorated) species; DataError otherwise."""
    if _is_dummy(sp):
        raise DataError(f"{sp!s} is a dummy species, not a chemical element")
    el = getattr(sp, "element", sp)
    z = getattr(el, "Z", None)
    if not isinstance(z, (int, np.integer)):
        raise DataError(f"{sp!s} is not a chemical element")
    if not 1 <= z <= MAX_Z:
        raise DataError(f"{sp!s} has Z = {z}; only elements Z = 1..{MAX_Z} are supported")
    return int(z)


def _frac_close(fa: np.ndarray, fb: np.ndarray, tol: float) -> np.ndarray:
    """Element-wise ``|fa - fb|`` modulo 1 within ``tol`` (broadcasting)."""
    d = np.asarray(fa, dtype=np.float64) - np.asarray(fb, dtype=np.float64)
    d = d - np.round(d)
    return np.abs(d) <= tol

