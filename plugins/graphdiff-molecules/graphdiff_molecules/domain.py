"""The ``molecules`` domain: atoms with element types and Cartesian positions (Å)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers
from scipy.spatial import cKDTree
from torch_geometric.data import Data

from graphdiff.domain import Domain, Record
from graphdiff.errors import DataError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level

__all__ = ["MoleculeDomain", "QM9_ELEMENTS", "as_symbols_positions"]

#: The elements of QM9, in class-id order.
QM9_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")


def _is_rdkit_mol(obj: Any) -> bool:
    if not type(obj).__module__.startswith("rdkit"):
        return False
    from rdkit import Chem

    return isinstance(obj, Chem.Mol)


def _rdkit_symbols_positions(mol: Any, where: str) -> tuple[list[str], np.ndarray]:
    """Symbols and 3-D positions of an RDKit ``Mol`` (its default conformer)."""
    symbols = [atom.GetSymbol() for atom in mol.GetAtoms()]
    if not symbols:
        return [], np.zeros((0, 3), dtype=np.float64)
    if mol.GetNumConformers() == 0:
        raise DataError(f"{where}: the RDKit molecule has no conformer, so no 3D coordinates; "
                        "embed one (rdkit.Chem.AllChem.EmbedMolecule) or read a file with 3D "
                        "coordinates")
    conf = mol.GetConformer()
    pos = np.asarray(conf.GetPositions(), dtype=np.float64).reshape(-1, 3)
    if not conf.Is3D() and len(symbols) > 1 and not np.any(pos[:, 2]):
        raise DataError(f"{where}: the molecule has 2D coordinates only (every z is 0 and the file "
                        "does not mark them 3D); the molecules domain needs 3D coordinates: "
                        "generate a conformer (e.g. rdkit.Chem.AllChem.EmbedMolecule) first")
    return symbols, pos


def as_symbols_positions(obj: Any, where: str) -> tuple[list[str], np.ndarray]:
    """Element symbols and Cartesian positions of an ASE ``Atoms``, a pymatgen ``Molecule`` or
    an RDKit ``Mol``.

    Parameters
    ----------
    obj:
        ``ase.Atoms``, ``pymatgen.core.Molecule`` (cell and periodicity are ignored) or
        ``rdkit.Chem.Mol`` (the atoms as stored, explicit hydrogens included, at the positions
        of its default conformer; bonds and charges are ignored).
    where:
        Text naming the object in messages.

    Returns
    -------
    symbols, positions:
        ``n`` element symbols and ``float64 [n, 3]`` positions in Å.

    Raises
    ------
    DataError
        For another type (a periodic pymatgen ``Structure`` is pointed to
        :func:`graphdiff_molecules.periodic.structure_to_molecule`), a disordered site, or an
        RDKit molecule with atoms but no 3D coordinates (no conformer, or a 2D one: every z
        is 0 and the conformer is not marked 3D).
    """
    if isinstance(obj, Atoms):
        return obj.get_chemical_symbols(), np.asarray(obj.get_positions(), dtype=np.float64).reshape(-1, 3)
    try:
        from pymatgen.core import IMolecule, IStructure
    except ImportError:  # pragma: no cover - pymatgen is a dependency
        IMolecule = IStructure = ()  # type: ignore[assignment]
    if isinstance(obj, IStructure):
        raise DataError(f"{where}: got a periodic pymatgen Structure; convert it with "
                        "graphdiff_molecules.structure_to_molecule first")
    if isinstance(obj, IMolecule):
        symbols = []
        for i, site in enumerate(obj):
            if not site.is_ordered:
                raise DataError(f"{where}: site {i} is disordered ({site.species}); molecules need "
                                "one element per site")
            symbols.append(site.specie.symbol)
        return symbols, np.asarray(obj.cart_coords, dtype=np.float64).reshape(-1, 3)
    if _is_rdkit_mol(obj):
        return _rdkit_symbols_positions(obj, where)
    raise DataError(f"{where}: expected an ase.Atoms, a pymatgen Molecule or an RDKit Mol, got "
                    f"{type(obj).__name__}")


class MoleculeDomain(Domain):
    """Molecules: element types over a fixed vocabulary and Cartesian positions in Å.

    Fields
    ------
    ``atom_types``
        Node categorical, one class per element of ``elements`` (class ``k`` is
        ``elements[k]``; ``FieldSpec.labels`` holds the symbols).
    ``positions``
        Node ``positions`` kind, dim 3, Cartesian Å. :meth:`to_graph` stores them as given
        (the diffusion process centres them); :meth:`from_graph` returns them as stored.

    Conversion
    ----------
    :meth:`to_graph` takes an ``ase.Atoms``, a pymatgen ``Molecule`` or an RDKit ``Mol`` with
    a 3D conformer (cell, periodicity, bonds, charges and other properties are not modelled and
    are ignored); :meth:`from_graph` returns a non-periodic ``ase.Atoms`` (:meth:`to_pymatgen`
    gives a pymatgen ``Molecule``).

    Parameters
    ----------
    elements:
        Element vocabulary in class-id order (default QM9's H, C, N, O, F).
    min_distance:
        Atoms closer than this (Å) are rejected as overlapping (default 0.1).
    max_atoms:
        Largest molecule accepted (``None``: no limit).
    dtype:
        Floating dtype of ``positions`` (default ``torch.float32``: ~1e-7 relative, well under
        1e-6 Å for molecules within ~16 Å of the origin).
    atol:
        Position tolerance of :meth:`equal` in Å (plus the rounding of ``dtype``).
    name:
        Registry name (default ``"molecules"``).
    """

    version = "1"
    description = "Molecules: element types and 3D positions (Å), E(3)-equivariant"
    #: ``qm9://SPLIT``: QM9 from the qm9pack wheel (see :mod:`graphdiff_molecules.qm9`).
    #: ``.sdf`` / ``.mol``: RDKit (3D, explicit hydrogens); ``.db``: an ASE database. A folder
    #: of XYZ / SDF / MOL files is read too (``graphdiff convert FOLDER ... --from molecules``:
    #: ``<folder>`` is not declared, as the crystals domain reads folders of structures).
    read_suffixes = (".xyz", ".extxyz", ".sdf", ".mol", ".db", "qm9://*")
    #: ``POSCAR`` / ``CONTCAR``: files with those names (no suffix), see :meth:`write`.
    write_suffixes = (".xyz", ".extxyz", ".sdf", ".vasp", ".poscar", ".cif", "POSCAR", "CONTCAR")

    def __init__(self, elements: Sequence[str] = QM9_ELEMENTS, *, min_distance: float = 0.1,
                 max_atoms: int | None = None, dtype: torch.dtype = torch.float32,
                 atol: float = 1e-6, name: str = "molecules") -> None:
        elements = tuple(elements)
        unknown = [e for e in elements if e not in atomic_numbers or e == "X"]
        if unknown:
            raise ValueError(f"elements {unknown} are not chemical element symbols")
        if len(set(elements)) != len(elements):
            raise ValueError(f"elements {list(elements)} repeat a symbol")
        if len(elements) < 2:
            raise ValueError("the element vocabulary needs at least 2 elements")
        if min_distance < 0:
            raise ValueError(f"min_distance must be >= 0, got {min_distance}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        self.name = name
        self.elements = elements
        self.min_distance = float(min_distance)
        self.max_atoms = max_atoms
        self.dtype = dtype
        self.atol = float(atol)
        self._index = {e: k for k, e in enumerate(elements)}
        self._spec = GraphSpec(
            name=name,
            fields=(
                FieldSpec("atom_types", FieldKind.CATEGORICAL, Level.NODE,
                          num_classes=len(elements), labels=elements),
                FieldSpec("positions", FieldKind.POSITIONS, Level.NODE, dim=3),
            ),
            max_nodes=max_atoms,
        )

    @property
    def spec(self) -> GraphSpec:
        """Fields ``atom_types`` (node categorical over :attr:`elements`) and ``positions``."""
        return self._spec

    def __repr__(self) -> str:
        return f"<Domain {self.name} v{self.version} elements={','.join(self.elements)}>"

    # ------------------------------------------------------------------ checks
    def check(self, obj: Any, where: str = "molecule") -> tuple[list[str], np.ndarray]:
        """Check that ``obj`` is a molecule this domain holds.

        Returns
        -------
        symbols, positions:
            As :func:`as_symbols_positions`.

        Raises
        ------
        DataError
            For an unsupported type, no atoms, more than ``max_atoms``, elements outside the
            vocabulary (naming them, their atoms and the vocabulary), NaN/inf positions (naming
            the atom), or two atoms closer than ``min_distance`` (naming the pair).
        """
        symbols, pos = as_symbols_positions(obj, where)
        n = len(symbols)
        if n == 0:
            raise DataError(f"{where}: the molecule has no atoms")
        if self.max_atoms is not None and n > self.max_atoms:
            raise DataError(f"{where}: {n} atoms, more than the {self.max_atoms} the {self.name!r} "
                            "domain allows (max_atoms)")
        bad = {}
        for i, s in enumerate(symbols):
            if s not in self._index:
                bad.setdefault(s, []).append(i)
        if bad:
            listed = "; ".join(f"{s!r} (atom{'s' if len(ix) > 1 else ''} "
                               f"{', '.join(map(str, ix[:5]))}{' ...' if len(ix) > 5 else ''})"
                               for s, ix in bad.items())
            raise DataError(f"{where}: element(s) not in the vocabulary of the {self.name!r} domain "
                            f"({', '.join(self.elements)}): {listed}")
        finite = np.isfinite(pos).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise DataError(f"{where}: atom {i} ({symbols[i]}) has a non-finite position "
                            f"{pos[i].tolist()}")
        if n > 1 and self.min_distance > 0:
            pairs = cKDTree(pos).query_pairs(self.min_distance, output_type="ndarray")
            if len(pairs):
                dist = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1)
                k = int(np.argmin(dist))
                i, j = (int(x) for x in sorted(pairs[k]))
                raise DataError(
                    f"{where}: atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {dist[k]:.4g} Å "
                    f"apart, closer than min_distance={self.min_distance} Å (overlapping atoms; "
                    f"{len(pairs)} such pair(s))")
        return symbols, pos

    # ------------------------------------------------------------------ conversion
    def to_graph(self, obj: Any) -> Data:
        """Convert a molecule to a graph of this domain.

        Parameters
        ----------
        obj:
            ``ase.Atoms`` or pymatgen ``Molecule``.

        Returns
        -------
        Data
            ``num_nodes = n``; ``atom_types`` ``long [n]`` (index into :attr:`elements`);
            ``positions`` ``[n, 3]`` (``dtype``, Å, as given: not centred).

        Raises
        ------
        DataError
            See :meth:`check`.
        """
        symbols, pos = self.check(obj, f"{self.name}.to_graph input")
        types = torch.tensor([self._index[s] for s in symbols], dtype=torch.long)
        return Data(num_nodes=len(symbols), atom_types=types,
                    positions=torch.as_tensor(pos, dtype=self.dtype).reshape(-1, 3))

    def _symbols_positions(self, data: Data) -> tuple[list[str], np.ndarray]:
        self.spec.validate(data, where=f"{self.name}.from_graph input")
        symbols = [self.elements[k] for k in data.atom_types.tolist()]
        pos = data.positions.detach().cpu().to(torch.float64).numpy().reshape(-1, 3)
        return symbols, pos

    def from_graph(self, data: Data) -> Atoms:
        """Convert one graph back to a non-periodic ``ase.Atoms`` (positions as stored, Å).

        Raises
        ------
        graphdiff.errors.GraphValidationError
            When ``data`` does not match :attr:`spec`.
        """
        symbols, pos = self._symbols_positions(data)
        return Atoms(symbols=symbols, positions=pos, pbc=False)

    def to_pymatgen(self, data: Data) -> Any:
        """Like :meth:`from_graph`, as a pymatgen ``Molecule``."""
        from pymatgen.core import Molecule

        symbols, pos = self._symbols_positions(data)
        return Molecule(symbols, pos)

    def equal(self, a: Any, b: Any) -> bool:
        """Same element symbols in the same order and positions within ``atol`` (1e-6 Å).

        The tolerance adds the rounding of the storage ``dtype`` (``2 eps |x|``). Either side
        may be an ``ase.Atoms`` or a pymatgen ``Molecule``; cells are not compared.
        """
        try:
            sa, pa = as_symbols_positions(a, "a")
            sb, pb = as_symbols_positions(b, "b")
        except DataError:
            return False
        if sa != sb or pa.shape != pb.shape:
            return False
        tol = self.atol + 2 * torch.finfo(self.dtype).eps * np.abs(pa)
        return bool(np.all(np.abs(pa - pb) <= tol))

    # ------------------------------------------------------------------ I/O
    def read(self, path: str | Path, *, strict: bool = False,
             skipped: list[dict[str, str]] | None = None, validate: bool = True) -> Iterator[Record]:
        """Yield one :class:`~graphdiff.domain.Record` per molecule of ``path``.

        XYZ / extended XYZ (any suffix but the ones below)
            Frames are counted from 0 (as ``ase.io.read(index=...)``). A truncated or malformed
            frame, or (with ``validate``) a molecule :meth:`check` rejects, is skipped and
            reported as ``"file.xyz frame 3 (line 12)"`` in ``skipped`` (``strict=True``:
            raised); the frames before and after it are kept. Records hold ``id`` (a string
            ``id`` in the frame's info, else ``"file.xyz frame 3"``), ``obj`` (``ase.Atoms``)
            and ``props`` (numeric ``info`` entries and scalar calculator results such as
            ``energy``). See :func:`graphdiff_molecules.io.read_xyz`.
        ``.sdf`` / ``.mol``
            Block by block with RDKit (unsanitised, explicit hydrogens kept, positions of the
            3D conformer); a block RDKit cannot parse or without 3D coordinates is reported as
            ``"file.sdf block 3 (line 40)"``. ``id``: the molecule's name, else
            ``"file.sdf block 3"``; ``props``: the numeric data fields. See
            :mod:`graphdiff_molecules.sdf`.
        A folder
            Its ``.xyz`` / ``.extxyz`` / ``.sdf`` / ``.mol`` files in name order, ids
            ``"folder/file.sdf block 3"`` (or the molecule's own name); other entries are
            named in a warning. See :func:`graphdiff_molecules.io.read_folder_records`.
        ``.db``
            An ASE database: ``id`` the row's ``name`` key, else ``"file.db row 7"``;
            ``props`` the numeric key-value pairs (and calculator results); bad rows reported
            as ``"file.db row 7"``. See :func:`graphdiff_molecules.io.read_ase_db_records`.

        ``path = "qm9://train"`` (also ``valid``, ``test``, ``all``; ``qm9://train?seed=1``)
        reads QM9 from the qm9pack wheel with EDM's split, see :func:`graphdiff_molecules.qm9.read_qm9`.
        """
        from graphdiff_molecules.io import read_records
        from graphdiff_molecules.qm9 import parse_qm9_source, read_qm9

        check = self.check if validate else None
        qm9 = parse_qm9_source(path) if isinstance(path, (str, Path)) else None
        if qm9 is not None:
            yield from read_qm9(qm9["split"], seed=qm9["seed"], strict=strict, skipped=skipped,
                                check=check)
            return
        yield from read_records(path, check, strict=strict, skipped=skipped)

    def holds_items(self, path: str | Path) -> bool:
        """Whether ``path`` holds molecules: an ASE database (``.db``) does unless its rows are
        crystals (periodic and bonded across the cell: the crystals domain's;
        :func:`graphdiff_molecules.io.db_holds_molecules`); any other file of a molecule format does."""
        if Path(path).suffix.lower() != ".db":
            return True
        from graphdiff_molecules.io import db_holds_molecules

        return db_holds_molecules(path)

    def write(self, objs: list[Any], path: str | Path, *, props: list[dict[str, Any]] | None = None,
              vacuum: float | None = 10.0, cell: Any = None, ids: list[str] | None = None,
              extra: list[dict[str, Any]] | None = None, append: bool = False) -> None:
        """Write molecules; the format follows the file name.

        ``.extxyz``
            Extended XYZ, all molecules as frames; ``props[k]`` (and ``extra[k]``, and
            ``ids[k]`` as ``id``) go into frame ``k``'s info.
        ``.xyz``
            XYZ frames: plain when there is nothing to store, else with extended-XYZ info lines
            holding ``props``, ``extra`` and ``ids`` as in ``.extxyz``.
        ``.sdf``
            One block per molecule: ``ids[k]`` as its name, ``props[k]`` and ``extra[k]`` as
            data fields, bonds perceived from the geometry by RDKit and the data field
            ``bond_orders`` saying how (``determined`` / ``connectivity-only`` / ``none``), see
            :mod:`graphdiff_molecules.sdf`. Positions are written with 4 decimals.
        ``POSCAR``/``CONTCAR``/``.vasp``/``.poscar``, ``.cif``
            One molecule in a periodic box, see
            :func:`graphdiff_molecules.periodic.molecule_to_structure` (``vacuum``, ``cell``).

        ``append=True`` adds frames to an XYZ / extxyz / SDF file an earlier call wrote.
        """
        from graphdiff_molecules.io import write_molecules

        write_molecules(list(objs), path, props=props, vacuum=vacuum, cell=cell, ids=ids,
                        extra=extra, append=append)

    def describe(self, objs: list[Any]) -> list[dict[str, Any]]:
        """EDM's per-molecule checks, stored beside generated molecules by ``graphdiff sample``:
        ``atom_stable_fraction``, ``mol_stable``, ``valid`` (RDKit sanitises the bonds EDM's
        distance tables give) and ``smiles`` (of the largest fragment; ``""`` when invalid)."""
        from graphdiff_molecules.edm_metrics import dng_metric, per_item_checks

        return per_item_checks(dng_metric(list(objs))["per_item"])

    # ------------------------------------------------------------------ other domains
    #: :meth:`convert_from` turns crystals (pymatgen ``Structure``) into molecules.
    converts_from = ("crystals",)

    def convert_from(self, obj: Any, source: str) -> Atoms:
        """A molecule from an object of another domain: a ``crystals`` structure (a molecule in
        a box, e.g. a POSCAR) becomes the molecule it holds, made whole across the cell
        boundary (:func:`graphdiff_molecules.periodic.structure_to_molecule`); a periodic one
        (bonded across the boundary: a bulk crystal, a chain, a layer) raises
        :class:`DataError` rather than losing its lattice
        (:func:`graphdiff_molecules.periodic.periodic_bond`). An RDKit ``Mol``
        (from any source) becomes an ``ase.Atoms`` at its conformer's positions; a ``Mol``
        without 3D coordinates raises :class:`DataError`."""
        if _is_rdkit_mol(obj):
            where = f"{self.name}.convert_from({source!r}) input"
            symbols, pos = as_symbols_positions(obj, where)
            try:
                return Atoms(symbols=symbols, positions=pos, pbc=False)
            except (KeyError, ValueError) as exc:
                raise DataError(f"{where}: not chemical elements: {sorted(set(symbols))} "
                                f"({type(exc).__name__}: {exc})") from None
        if source not in self.converts_from:
            return super().convert_from(obj, source)
        from graphdiff_molecules.periodic import periodic_bond, structure_to_molecule

        bond = periodic_bond(obj)
        if bond is not None:  # a crystal has no molecule to take out: never drop its lattice silently
            d, i, j = bond
            names = [s.specie.symbol for s in obj] if hasattr(obj, "sites") else obj.get_chemical_symbols()
            raise DataError(
                f"a periodic structure, not a molecule in a box: atom {i} ({names[i]}) bonds to a periodic "
                f"image of atom {j} ({names[j]}) across the cell boundary ({d:.3g} Å), and a molecule file "
                "holds no lattice; write extended XYZ (.extxyz), CIF or POSCAR to keep the crystal")
        return structure_to_molecule(obj)
