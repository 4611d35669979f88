"""Reference entries for the hull of ``graphdiff stability``: reading them (the Materials Project
API's JSON and other layouts) and putting them on the MP2020 scale of CHGNet energies.

CHGNet is trained on MPtrj, whose energy labels are Materials Project GGA/GGA+U energies with
``MaterialsProject2020Compatibility`` (MP2020) corrections applied (chgnet's README). Its
predictions are therefore already on the MP2020-corrected scale and are used as they are
(applying MP2020 again would count the anion and U corrections twice). Supplied DFT entries are
put on the same scale with MP2020 (:func:`correct_entries`).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Sequence

from graphdiff_crystals.stability.relaxation import _progress

__all__ = ["load_entries", "correct_entries", "ENERGY_PROTOCOL"]

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
