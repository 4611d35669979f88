"""Elemental references of the hull of ``graphdiff stability``: standard structures of the pure
elements (relaxed at run time) and the CHGNet reference energies shipped with the plugin.

:func:`standard_element_structure` builds a structure of an element: ASE's reference state, a
published ground-state crystal, or a molecule in a box. :func:`shipped_references` reads
``graphdiff_crystals/data/chgnet_elemental_references.json``: for each element CHGNet covers, the
energy per atom of its lowest-energy relaxed structure among a few candidates (the standard
structure and fcc / bcc / hcp / diamond guesses), relaxed with the default protocol of
``graphdiff stability`` by ``benchmarks/crystals/crystals_elemental_refs.py``, which records the protocol
and the run's provenance in the file. A hull built from ``--train`` takes them for the elements
the training set does not give a reference of (:func:`graphdiff_crystals.stability.hull.hull_from_train`).
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from importlib.resources import files
from typing import Any

import numpy as np

__all__ = ["standard_element_structure", "shipped_references", "shipped_reference_entries", "MOLECULE_BOX",
           "SHIPPED_REFERENCES"]

#: the package data file of the shipped CHGNet elemental references
SHIPPED_REFERENCES = "chgnet_elemental_references.json"
_FORMAT = "graphdiff-elemental-references"


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

# ---------------------------------------------------------------------------- shipped references
@functools.lru_cache(maxsize=1)
def shipped_references() -> dict[str, Any]:
    """The shipped CHGNet elemental references: ``{"protocol", "elements": {symbol:
    {"energy_per_atom", "structure", ...}}, "provenance", ...}`` (``elements`` empty when the
    package data file is missing or unreadable; a warning says why)."""
    path = files("graphdiff_crystals") / "data" / SHIPPED_REFERENCES
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != _FORMAT or not isinstance(doc.get("elements"), dict):
            raise ValueError(f"not a {_FORMAT} file")
    except (OSError, ValueError) as exc:
        warnings.warn(f"{SHIPPED_REFERENCES}: no shipped elemental references ({exc})", RuntimeWarning, stacklevel=2)
        return {"elements": {}, "protocol": {}}
    return doc


def shipped_reference_entries(elements: Any, model: str = "0.3.0") -> tuple[list[Any], dict[str, str]]:
    """One ``ComputedEntry`` per element of ``elements`` that has a shipped reference (one atom
    at its energy per atom, id ``chgnet-ref:<symbol>``), and for each element left without one,
    why. References of another CHGNet model than ``model`` are not used."""
    from pymatgen.core import Composition
    from pymatgen.entries.computed_entries import ComputedEntry

    doc = shipped_references()
    shipped_model = str(doc.get("protocol", {}).get("model", "")).removeprefix("CHGNet ")
    entries, missing = [], {}
    for el in sorted(set(elements)):
        if shipped_model and shipped_model != str(model):
            missing[el] = f"the shipped references are of CHGNet {shipped_model}, not {model}"
            continue
        ref = doc["elements"].get(el) or {}
        e = ref.get("energy_per_atom")
        if e is None or not math.isfinite(float(e)):
            missing[el] = "no shipped CHGNet reference for it"
            continue
        entries.append(ComputedEntry(Composition({el: 1}), float(e), entry_id=f"chgnet-ref:{el}",
                                     data={"structure": ref.get("structure")}))
    return entries, missing
