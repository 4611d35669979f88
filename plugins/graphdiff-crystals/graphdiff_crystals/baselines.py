"""Model-free baselines for crystal structure prediction (``graphdiff evaluate --baseline``).

Both follow the ``register_baselines`` contract::

    baseline(references, train, k, seed=0) -> list[record]

and return, for each reference, up to ``k`` candidate records ``{"id": <reference id>,
"obj": Structure, "sample": rank}`` (rank 0 first), built from the training structures only.
They say how much of a CSP score needs no model at all:

``retrieval`` (``crystals-retrieval``)
    ``k`` distinct random training structures with the reference's number of atoms, taken as
    they are (their own elements). It matches only where the training set already holds the
    answer (a polymorph of the same composition).

``substitution`` (``crystals-substitution``)
    Training structures with the reference's *prototype* — the same anonymous formula for the
    same number of atoms — with their elements replaced by the reference's, matched by
    electronegativity rank. The ``k`` candidates are ``k`` *distinct* prototypes: a prototype
    that would give the same structure as an earlier candidate is skipped. On Perov-5, where every
    crystal is a (slightly distorted) cubic perovskite cell, the candidates are the cubic template
    with the site assignments the training set holds, the commoner ones tending to come first;
    the first two usually cover both cation orderings. (Bundled sample, 500 training / 100 test
    rows: about 52 % matched at k = 1, 90 % at k = 2 and 97 % at k = 20, where the remaining 3 %
    are references whose composition fails the SMACT check, so no candidate can count.)

``frequency`` (``crystals-frequency``)
    The reference's elements substituted, as ``substitution`` does, into the ``k`` *commonest*
    training prototypes of its key: the training structures of the key are grouped into distinct
    prototypes (:func:`prototypes`) and ranked by how many training structures each groups. No
    randomness: the answer a frequency count gives without any model. On Carbon-24, where every
    structure is carbon, it is the ``k`` most frequent structures of the reference's size.

The grouping of training structures into distinct prototypes costs about one
``StructureMatcher`` comparison per training structure and distinct prototype of its key (a few
seconds per thousand Perov-5 structures); only keys some reference has are grouped.

Randomness: each reference gets its own ``numpy`` Generator seeded with ``(seed, crc32(id))``,
so a reference's candidates do not depend on the other references or their order, and the same
``seed`` gives the same candidates.

A reference with no training structure of its size (retrieval) or prototype (substitution) gets
no candidate; the metric counts it as unmatched and ``graphdiff evaluate`` reports how many
there were (``baseline_references_without_candidates``). Fewer than ``k`` candidates are returned
where fewer distinct ones exist (repeating one cannot change a match rate).
"""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Any, Sequence

import numpy as np

__all__ = ["retrieval", "substitution", "frequency", "prototypes", "prototype_key", "substitute", "element_map"]


# ---------------------------------------------------------------------------- helpers
def _rng(seed: int, ref_id: Any) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(ref_id).encode())])


def _amounts(structure: Any) -> dict[str, int]:
    """Element symbol -> number of atoms in the cell (oxidation states ignored)."""
    comp = structure.composition.element_composition
    return {el.symbol: int(round(amt)) for el, amt in comp.items()}


def prototype_key(structure: Any) -> tuple[int, str]:
    """``(number of atoms, anonymous formula)``: structures with equal keys share a prototype.

    pymatgen's ``Composition.anonymized_formula`` reduces the formula (ABC3 for 5- and 10-atom
    perovskite cells alike); with the atom count beside it the key is the anonymous formula of
    the full cell, so a substituted candidate always has the reference's atom count.
    """
    return len(structure), structure.composition.anonymized_formula


def _en_key(symbol: str) -> tuple[float, str]:
    from pymatgen.core import Element

    with warnings.catch_warnings():  # noble gases: "No Pauling electronegativity", X = nan
        warnings.simplefilter("ignore")
        x = Element(symbol).X
    return (x if math.isfinite(x) else math.inf, symbol)


def _ranked(amounts: dict[str, int]) -> list[str]:
    """Elements ordered by (count, electronegativity, symbol): the prototype's site classes."""
    return sorted(amounts, key=lambda s: (amounts[s], *_en_key(s)))


def element_map(prototype: Any, target: Any) -> dict[str, str]:
    """Prototype element -> target element, for two structures with the same :func:`prototype_key`.

    Elements are paired within groups of equal count by Pauling electronegativity rank (the
    least electronegative with the least electronegative); equal electronegativities, and
    elements without one (noble gases, ranked last), are ordered by symbol.
    """
    if prototype_key(prototype) != prototype_key(target):
        raise ValueError(f"different prototypes: {prototype_key(prototype)} vs {prototype_key(target)}")
    return dict(zip(_ranked(_amounts(prototype)), _ranked(_amounts(target))))


def substitute(prototype: Any, target: Any) -> Any:
    """The prototype's cell and fractional coordinates with the target's elements (see
    :func:`element_map`).

    The prototype's lattice is kept as it is, volume included: the CDVAE matcher compares with
    ``scale=True`` (both cells scaled to the same volume per atom), so the volume cannot change
    a match or the normalised RMSE.
    """
    from pymatgen.core import Structure

    mapping = element_map(prototype, target)
    species = [mapping[site.specie.symbol] for site in prototype]
    return Structure(prototype.lattice, species, prototype.frac_coords)


def _labelled(structure: Any) -> Any:
    """The structure with each element replaced by a placeholder for its site class (count and
    electronegativity rank), so that two prototypes compare equal exactly when substituting any
    one composition into them gives equal structures."""
    from pymatgen.core import Element, Structure

    label = {s: Element.from_Z(i + 1).symbol for i, s in enumerate(_ranked(_amounts(structure)))}
    return Structure(structure.lattice, [label[site.specie.symbol] for site in structure],
                     structure.frac_coords)


def _same_prototype(matcher: Any, a: Any, b: Any) -> bool:
    """Two training structures are the same prototype when their site-class-labelled forms match
    with the metric's own ``StructureMatcher`` tolerances: substituting any composition into
    either then gives the same candidate as far as the metric can tell."""
    try:
        return bool(matcher.fit(a, b))
    except (ValueError, OverflowError, np.linalg.LinAlgError):  # a degenerate cell matches nothing
        return False


def _by_key(train: Sequence[Any]) -> tuple[dict[tuple[int, str], list[int]], Any]:
    """The training indices of each :func:`prototype_key`, and a ``StructureMatcher`` at the CSP
    metric's tolerances for telling prototypes apart."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from graphdiff_crystals.metrics import MATCHER_KW

    by_key: dict[tuple[int, str], list[int]] = {}
    for i, rec in enumerate(train):
        by_key.setdefault(prototype_key(rec["obj"]), []).append(i)
    return by_key, StructureMatcher(**MATCHER_KW)


def _check(k: int) -> None:
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}")


# ---------------------------------------------------------------------------- baselines
def retrieval(references: Sequence[Any], train: Sequence[Any], k: int, seed: int = 0) -> list[dict[str, Any]]:
    """``k`` distinct random training structures with each reference's number of atoms.

    Drawn without replacement from the training structures of that size (all of them, in random
    order, when there are fewer than ``k``); none when the training set has no structure of that
    size.
    """
    _check(k)
    by_size: dict[int, list[int]] = {}
    for i, rec in enumerate(train):
        by_size.setdefault(len(rec["obj"]), []).append(i)
    out: list[dict[str, Any]] = []
    for ref in references:
        pool = by_size.get(len(ref["obj"]), [])
        if not pool:
            continue
        picks = _rng(seed, ref["id"]).choice(len(pool), size=min(int(k), len(pool)), replace=False)
        out += [{"id": ref["id"], "obj": train[pool[p]]["obj"].copy(), "sample": r}
                for r, p in enumerate(picks)]
    return out


def substitution(references: Sequence[Any], train: Sequence[Any], k: int, seed: int = 0) -> list[dict[str, Any]]:
    """Each reference's elements substituted into ``k`` distinct training prototypes.

    The prototypes are the training structures with the reference's :func:`prototype_key`, taken
    in a random order (so a common prototype tends to come first), skipping any that would repeat
    an earlier candidate; elements are paired by :func:`element_map`; each candidate keeps its
    prototype's cell (see :func:`substitute`). None when no training structure has the
    reference's prototype.
    """
    _check(k)
    k = int(k)
    by_key, matcher = _by_key(train)
    labelled: dict[int, Any] = {}  # site-class-labelled training structures, made on first use
    out: list[dict[str, Any]] = []
    for ref in references:
        pool = by_key.get(prototype_key(ref["obj"]))
        if not pool:
            continue
        chosen: list[int] = []
        # the reference's own seeded order; a prototype equal to an earlier pick is skipped, so the
        # first k' candidates of a k-list are the k'-list (k only says when to stop)
        for j in _rng(seed, ref["id"]).permutation(len(pool)):
            t = pool[j]
            if t not in labelled:
                labelled[t] = _labelled(train[t]["obj"])
            if any(_same_prototype(matcher, labelled[c], labelled[t]) for c in chosen):
                continue
            chosen.append(t)
            out.append({"id": ref["id"], "obj": substitute(train[t]["obj"], ref["obj"]),
                        "sample": len(chosen) - 1})
            if len(chosen) == k:
                break
    return out


def prototypes(pool: Sequence[int], train: Sequence[Any], matcher: Any,
               labelled: dict[int, Any] | None = None) -> list[list[int]]:
    """Group training structures (indices ``pool`` into ``train``) into distinct prototypes.

    Greedy, in ``pool`` order: a structure joins the first group whose first member it matches
    (site-class-labelled, with ``matcher``), else starts a group. Returns the groups, largest
    first (ties in order of appearance); each group's first member represents it. ``labelled``
    caches the labelled structures between calls.
    """
    labelled = {} if labelled is None else labelled
    groups: list[list[int]] = []
    for t in pool:
        if t not in labelled:
            labelled[t] = _labelled(train[t]["obj"])
        for g in groups:
            if _same_prototype(matcher, labelled[g[0]], labelled[t]):
                g.append(t)
                break
        else:
            groups.append([t])
    return sorted(groups, key=len, reverse=True)  # stable: ties keep their order of appearance


def frequency(references: Sequence[Any], train: Sequence[Any], k: int, seed: int = 0) -> list[dict[str, Any]]:
    """Each reference's elements substituted into the ``k`` commonest training prototypes of its key.

    Prototypes are grouped by :func:`prototypes` (training order) and ranked by the number of
    training structures in each; a group is represented by its first member and substituted as
    in :func:`substitution`. ``seed`` is accepted for the baseline contract and not used: the
    candidates are the same for every seed. None when no training structure has the reference's
    prototype key.
    """
    _check(k)
    k = int(k)
    by_key, matcher = _by_key(train)
    labelled: dict[int, Any] = {}
    ranked: dict[tuple[int, str], list[list[int]]] = {}  # grouped on first use: only keys references have
    out: list[dict[str, Any]] = []
    for ref in references:
        key = prototype_key(ref["obj"])
        if key not in by_key:
            continue
        if key not in ranked:
            ranked[key] = prototypes(by_key[key], train, matcher, labelled)
        for rank, group in enumerate(ranked[key][:k]):
            out.append({"id": ref["id"], "obj": substitute(train[group[0]]["obj"], ref["obj"]), "sample": rank})
    return out
