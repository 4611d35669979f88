"""Crystal structure prediction metrics, following the CDVAE evaluation protocol.

Match rate and RMSE (Xie et al. 2022, ``scripts/compute_metrics.py``; DiffCSP tables):
a generated structure *matches* its reference when pymatgen's
``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`` finds a mapping; the RMSE is
``get_rms_dist(...)[0]`` (already normalised by ``(V / n)^(1/3)``), averaged over matched pairs.
With ``k`` candidates per reference the best (smallest RMS) valid candidate counts.

Only *valid* candidates may match: structurally valid (every interatomic distance under periodic
boundaries > 0.5 Å and volume ≥ 0.1 Å³) and compositionally valid (SMACT charge neutrality
with electronegativity ordering, as CDVAE's ``smact_validity``; single-element and all-metal
compositions count as valid).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from graphdiff.progress import track
from graphdiff_crystals.sanity import CONTACT_TOLERANCE, ENERGY_MAX_REFERENCES, SYMPREC

__all__ = ["structure_valid", "composition_valid", "match_rate", "MATCHER_KW"]

MATCHER_KW = {"stol": 0.5, "angle_tol": 10, "ltol": 0.3}


def sane_cell(structure: Any, max_skew: float = 10.0) -> bool:
    """A cell ``StructureMatcher`` can reduce quickly: finite, 0.5–1000 Å³ per atom, and no
    length over ``max_skew`` times the cube root of the volume. Valid candidates outside this
    (needle or pancake cells of an untrained model) count as unmatched rather than being handed
    to a Niggli reduction that may not finish; CDVAE's protocol has no such guard, and no real
    crystal of the benchmarks falls outside it."""
    lat = structure.lattice
    if not np.isfinite(lat.matrix).all():
        return False
    vol = abs(float(np.linalg.det(lat.matrix)))
    if not 0.5 <= vol / max(len(structure), 1) <= 1000.0:
        return False
    return max(lat.abc) <= max_skew * vol ** (1 / 3)


def structure_valid(structure: Any, cutoff: float = 0.5) -> bool:
    """All interatomic distances (periodic) above ``cutoff`` Å and volume ≥ 0.1 Å³."""
    lat = structure.lattice
    if not np.isfinite(lat.matrix).all() or not np.isfinite(structure.frac_coords).all():
        return False
    if structure.volume < 0.1 or min(lat.abc) <= 0:
        return False
    if len(structure) == 1:
        return True
    try:
        dist = structure.distance_matrix + np.eye(len(structure)) * 10.0
    except (OverflowError, ValueError, np.linalg.LinAlgError):  # a degenerate cell: no valid distances
        return False
    return bool((dist > cutoff).all())


def composition_valid(structure: Any) -> bool:
    """SMACT charge-balance + Pauling electronegativity validity of the composition, with the
    SMACT 2014 oxidation-state set (``"smact14"``: smact 2.x's default, which the CDVAE,
    DiffCSP and MatterGen tables used); single elements and all-metal alloys are valid."""
    from smact.screening import smact_validity

    return bool(smact_validity(structure.composition, use_pauling_test=True, include_alloys=True,
                               oxidation_states_set="smact14"))


def match_rate(generated: Sequence[Sequence[Any]], references: Sequence[Any], k: int | None = None,
               check_composition: bool = True, progress: bool = False) -> dict[str, Any]:
    """CSP match rate and RMSE with up to ``k`` candidates per reference.

    Parameters
    ----------
    generated:
        For each reference, its candidate structures (in the order they were generated).
    references:
        The true structures.
    k:
        Use the first ``k`` candidates of each reference (default: all).
    progress:
        Show a bar over the references on stderr.

    Returns
    -------
    ``{"match_rate", "rmse", "k", "num", "per_item": [{"matched", "rms", "valid"}...]}``;
    ``rmse`` is ``None`` when nothing matched.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} candidate lists for {len(references)} references")
    matcher = StructureMatcher(**MATCHER_KW)
    per_item, rms_values = [], []
    label = f"crystals-csp: matching (k={k})" if k else "crystals-csp: matching"
    for cands, ref in track(zip(generated, references), desc=label, total=len(references),
                            unit="reference", enabled=progress):
        cands = list(cands)[:k] if k else list(cands)
        best, valid = None, []
        for cand in cands:
            ok = structure_valid(cand) and (not check_composition or composition_valid(cand))
            valid.append(ok)
            if not ok:
                continue
            if not sane_cell(cand):  # a needle/pancake cell: Niggli reduction could run for hours
                continue
            try:
                rms = matcher.get_rms_dist(cand, ref)
            except (OverflowError, ValueError, np.linalg.LinAlgError):  # degenerate cell: no match
                rms = None
            if rms is not None and (best is None or rms[0] < best):
                best = float(rms[0])
        per_item.append({"matched": best is not None, "rms": best, "valid": valid})
        if best is not None:
            rms_values.append(best)
    n = len(references)
    return {
        "k": k if k else max((len(c) for c in generated), default=0),
        "num": n,
        "match_rate": len(rms_values) / n if n else 0.0,
        "rmse": float(np.mean(rms_values)) if rms_values else None,
        "per_item": per_item,
    }


def csp_metric(generated: Sequence[Any], references: Sequence[Any], train: Any = None,
               k: Sequence[int] | None = None, dataset: str | None = None, progress: bool = False, *,
               contact_tolerance: float = CONTACT_TOLERANCE, symprec: float = SYMPREC, energy: bool = False,
               energy_max_references: int = ENERGY_MAX_REFERENCES, seed: int | None = 0,
               **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --task csp``: records in, CDVAE match rate / RMSE at each ``k`` out.

    ``generated`` and ``references`` are records (``id``, ``obj``); generated rows whose id
    equals a reference's id are that reference's candidates, in file order. A reference with no
    candidate counts as unmatched. ``dataset`` (``evaluate --dataset``) is only recorded in the
    output; ``progress`` shows a bar over the references for each ``k`` on stderr; other keywords
    meant for other metrics are ignored.

    Beside the match rates, the physical sanity of *all* candidates
    (:func:`graphdiff_crystals.sanity.sanity_report`): ``short_contacts`` (reference minima from
    ``references`` and ``train``, tolerance ``contact_tolerance`` Å), ``space_groups``
    (``symprec`` Å) and, with ``energy=True``, ``chgnet_energy`` (at most
    ``energy_max_references`` references, drawn with ``seed``).
    """
    groups: dict[str, list[Any]] = {}
    for rec in generated:
        groups.setdefault(str(rec["id"]), []).append(rec["obj"])
    ids = [str(r["id"]) for r in references]
    refs = [r["obj"] for r in references]
    cands = [groups.get(i, []) for i in ids]
    unknown = sorted(set(groups) - set(ids))
    ks = sorted(set(k)) if k else sorted({1, max((len(c) for c in cands), default=1)})
    out: dict[str, Any] = {"task": "csp", "dataset": dataset, "num_references": len(refs),
                           "references_without_candidates": sum(not c for c in cands),
                           "generated_ids_not_in_reference": unknown[:20], "metrics": {}}
    per_item = None
    for kk in ks:
        res = match_rate(cands, refs, k=kk, progress=progress)
        out["metrics"][f"k={kk}"] = {"match_rate": res["match_rate"], "rmse": res["rmse"]}
        per_item = res["per_item"]
    from graphdiff_crystals.sanity import sanity_report

    train_recs = list(train) if train is not None else None
    sanity, _ = sanity_report([r["obj"] for r in generated], refs,
                              [r["obj"] for r in train_recs] if train_recs is not None else None,
                              reference_ids=ids, train_ids=[str(r["id"]) for r in train_recs] if train_recs else None,
                              contact_tolerance=contact_tolerance, symprec=symprec, energy=energy,
                              energy_max_references=energy_max_references, seed=seed, progress=progress)
    out.update(sanity)
    out["per_item"] = [{"id": i, **p} for i, p in zip(ids, per_item or [])]
    return out
