"""The ``elements`` class-feature table: Magpie descriptors of the chemical elements.

A categorical node field whose classes are elements (its ``labels`` are element symbols, as
the crystals and molecules domains' ``atom_types`` are) gets, per class, the 22 elemental
properties of matminer's ``magpie`` preset (Ward et al., npj Comput. Mater. 2, 16028 (2016)):
atomic number, Mendeleev number, atomic weight, melting point, group, period, covalent radius,
electronegativity, the numbers of s/p/d/f valence and unfilled electrons and their totals, and
the DFT ground-state volume per atom, band gap, magnetic moment and space group of the element.
Each column is standardised over the elements H..Fm (Z = 1..100), so no descriptor dominates
by its units. Where Magpie has no value for an element it gives the mean of the others
(matminer's own fill), which standardises to about 0.

Use it in a model config::

    [model.options]
    class_features = {atom_types = "elements"}

Denoisers and predictors then embed each atom's descriptors beside its element, so elements
seen rarely in training borrow what was learnt about chemically similar ones.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

__all__ = ["MAGPIE_PROPERTIES", "element_table", "element_features"]

#: matminer's ``ElementProperty.from_preset("magpie")`` properties, in its order.
MAGPIE_PROPERTIES: tuple[str, ...] = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)

#: Elements the standardisation runs over.
_MAX_Z = 100


@lru_cache(maxsize=1)
def element_table() -> tuple[tuple[str, ...], torch.Tensor]:
    """``(symbols, table)``: the symbols of Z = 1..100 and their standardised Magpie descriptors,
    ``float [100, 22]``."""
    from matminer.utils.data import MagpieData
    from pymatgen.core import Element

    data = MagpieData()
    symbols, rows = [], []
    for z in range(1, _MAX_Z + 1):
        el = Element.from_Z(z)
        symbols.append(el.symbol)
        rows.append([float(data.get_elemental_property(el, p)) for p in MAGPIE_PROPERTIES])
    raw = torch.tensor(rows, dtype=torch.float64)
    std = raw.std(0, unbiased=False)
    table = (raw - raw.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    return tuple(symbols), table.float()


def element_features(field: Any) -> torch.Tensor:
    """The ``elements`` table for ``field`` (a categorical field whose ``labels`` are element
    symbols): ``float [field.num_classes, 22]``, row ``c`` describing the element of class ``c``.

    Raises
    ------
    ValueError
        When the field has no labels, or a label is not an element symbol of H..Fm.
    """
    labels = getattr(field, "labels", None)
    if not labels:
        raise ValueError(f"feature table 'elements': field {getattr(field, 'name', field)!r} has no "
                         "class labels; its classes must be labelled with element symbols")
    symbols, table = element_table()
    index = {s: i for i, s in enumerate(symbols)}
    bad = [lab for lab in labels if lab not in index]
    if bad:
        raise ValueError(f"feature table 'elements': field {field.name!r} has classes that are not "
                         f"elements H..Fm: {bad[:5]}")
    return table[[index[lab] for lab in labels]].clone()
