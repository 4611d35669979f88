"""De novo generation (DNG) metrics for crystals, following the CDVAE evaluation protocol.

Source: CDVAE (Xie, Fu et al. 2022), ``scripts/compute_metrics.py`` (classes ``Crystal`` and
``GenEval``, dictionary ``COV_Cutoffs``) and ``scripts/eval_utils.py`` (``compute_cov``,
``filter_fps``, ``get_fp_pdist``, the ``CompScaler``), the code behind the generation tables of
CDVAE, DiffCSP and later papers. ``graphdiff evaluate --task dng`` calls :func:`dng_metric`.

Per generated structure (CDVAE's ``Crystal``)
---------------------------------------------
- **structure validity**: every periodic interatomic distance > 0.5 Å and volume ≥ 0.1 Å³
  (:func:`graphdiff_crystals.metrics.structure_valid`, CDVAE's ``structure_validity``);
- **composition validity**: SMACT charge neutrality with Pauling electronegativity ordering,
  single elements and all-metal alloys valid
  (:func:`graphdiff_crystals.metrics.composition_valid`, CDVAE's ``smact_validity``);
- **fingerprints**: the structure fingerprint is the mean over sites of matminer's
  ``CrystalNNFingerprint.from_preset("ops")`` (61 numbers); the composition fingerprint is
  matminer's ``ElementProperty.from_preset("magpie")`` (132 numbers) of the composition, without
  NaN imputation (as the matminer CDVAE used), later standardised with CDVAE's fixed
  ``CompScalerMeans`` / ``CompScalerStds`` (``cdvae/common/constants.py``; NaN → 0 after scaling).
  A structure whose fingerprint cannot be computed is **invalid** (CDVAE: "counts crystal as
  invalid if fingerprint cannot be constructed") and is left out of the coverage sums; here it
  is reported in ``per_item`` with the reason (never dropped silently);
- **valid** = structure valid and composition valid and fingerprint computed.

Set metrics (CDVAE's ``GenEval``)
---------------------------------
- **validity**: the fraction of *all* generated structures that are structurally /
  compositionally / overall valid.
- **coverage** (``compute_cov``), on *all* generated structures whose fingerprints exist (CDVAE
  passes ``self.crys``, not the valid subset, to ``compute_cov``) against all references:
  with ``D_s`` / ``D_c`` the Euclidean distance matrices of structure / scaled composition
  fingerprints (generated × reference),
  ``COV-R = mean_ref[min_gen D_s <= struc_cutoff and min_gen D_c <= comp_cutoff]`` (each minimum
  taken separately, as CDVAE does) and
  ``COV-P = #gen[min_ref D_s <= struc_cutoff and min_ref D_c <= comp_cutoff] / num_generated``
  (the denominator counts the generated structures before the fingerprint filter). Also
  reported: ``amsd_recall/precision`` and ``amcd_recall/precision``, the means of those minimum
  structure / composition distances.
- **cutoffs** (``COV_Cutoffs``): mp20 ``struc 0.4, comp 10``; carbon ``struc 0.2, comp 4``;
  perovskite ``struc 0.2, comp 4``.
- **property distributions**: the Wasserstein distance (``scipy.stats.wasserstein_distance``)
  between the densities (g/cm³, pymatgen ``Structure.density``) and between the numbers of
  distinct elements of ``n_samples`` (1000) *valid* generated structures and of all references.
  CDVAE draws the 1000 at random (``np.random.choice``, no seed) and stops when fewer than 1000
  are valid; here the first 1000 valid are used (or a seeded random draw with ``seed=``), and
  with fewer valid structures all of them are used and a note says so.
- **diversity** (``get_struct_diversity`` / ``get_comp_diversity``): the mean pairwise distance
  of the structure / scaled composition fingerprints of those same valid samples.

Not in CDVAE's ``GenEval`` (DiffCSP / MatterGen style)
------------------------------------------------------
- **uniqueness**: the fraction of valid generated structures that match no earlier valid
  generated structure (compared with the earlier *unique* ones);
- **novelty**: the fraction of valid unique generated structures that match no training
  structure (only with ``train``; ``None`` otherwise).

Both use pymatgen's ``StructureMatcher()`` with its **default tolerances** (``ltol=0.2,
stol=0.3, angle_tol=5``, primitive cells, scaled volumes) and compare only structures of the
same reduced composition (the matcher never matches different reduced compositions, so the
grouping changes nothing but the time).

Physical sanity (:mod:`graphdiff_crystals.sanity`)
----------------------------------------------------
- **short_contacts**: ``short_contact_free``, the fraction of generated structures with no
  element pair closer than its shortest distance in the references (and ``train``) minus 0.1 Å
  (pairs the references lack: 0.7 × the sum of covalent radii), with the minima used;
- **space_groups**: spglib at ``symprec=0.1``: fraction P1, the commonest space groups of the
  generated and reference structures, and the total variation distance between them;
- **chgnet_energy** (``energy=True`` only): CHGNet energies per atom, unrelaxed.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from graphdiff.progress import track
from graphdiff_crystals.sanity import CONTACT_TOLERANCE, ENERGY_MAX_REFERENCES, SYMPREC

__all__ = [
    "COV_CUTOFFS", "DATASET_ALIASES", "N_SAMPLES", "structure_fingerprint", "composition_fingerprint",
    "fingerprints", "scale_composition_fingerprints", "coverage", "resolve_cutoffs",
    "uniqueness_novelty", "dng_metric",
]

#: CDVAE's ``COV_Cutoffs`` (``scripts/compute_metrics.py``).
COV_CUTOFFS: dict[str, dict[str, float]] = {
    "mp20": {"struc": 0.4, "comp": 10.0},
    "carbon": {"struc": 0.2, "comp": 4.0},
    "perovskite": {"struc": 0.2, "comp": 4.0},
}

#: Dataset names accepted by ``dataset=`` and the CDVAE cutoff set each one uses.
DATASET_ALIASES: dict[str, str] = {
    "perov_5": "perovskite", "perov-5": "perovskite", "perov5": "perovskite", "perovskite": "perovskite",
    "carbon_24": "carbon", "carbon-24": "carbon", "carbon24": "carbon", "carbon": "carbon",
    "mp_20": "mp20", "mp-20": "mp20", "mp20": "mp20",
}

#: Valid generated structures used for the property distributions (CDVAE's ``n_samples``).
N_SAMPLES = 1000

# Standardisation of the 132 magpie features, as published with CDVAE
# (cdvae/common/constants.py, CompScalerMeans / CompScalerStds; MIT License,
# Copyright (c) 2021 Tian Xie, Xiang Fu). Order: matminer's magpie feature_labels(), i.e. for
# each of the 22 element properties: minimum, maximum, range, mean, avg_dev, mode.
_COMP_MEANS = (
    21.194441759304013, 58.20212663122281, 37.0076848719188, 36.52738520455582, 13.350626389725019,
    29.468922184630255, 28.71735137747704, 78.8868535524408, 50.16950217496375, 59.56764743604155,
    19.020429484306277, 61.335572740454325, 47.14515893344343, 141.75135923307818, 94.60620029962553,
    85.95794070476977, 34.07300576173523, 68.06189371516912, 637.9862061297893, 1817.2394155466848,
    1179.2532094169414, 1127.2743149568837, 431.51034284549826, 909.1060025135899, 3.7744320927984534,
    13.673707104881585, 9.899275012083132, 9.620186927095652, 3.8426065581251856, 9.96950217496375,
    3.305461575640406, 5.483035282745288, 2.1775737071048815, 4.215114560306594, 0.8206087101824266,
    3.732092798453359, 109.16732721121315, 179.5570323827936, 70.38970517158047, 136.0978305229613,
    27.027545809538527, 119.16713388110198, 1.2721433060967857, 2.4614001837260617, 1.1892568776289631,
    1.9844483610247092, 0.4691462290494881, 2.100143582306204, 1.4829869502174964, 1.9899951667472209,
    0.5070082165297245, 1.7956250375970633, 0.2056251946617602, 1.745867568873852, 0.05650072498791687,
    2.3618656355727405, 2.3053649105848235, 1.2829636137262992, 0.9995555685850794, 1.5150314161430642,
    0.7731271145480909, 7.4648139197680035, 6.691686805219913, 4.010677272036105, 2.612307566507693,
    3.303528274528758, 0.2739487675205413, 5.889753504108265, 5.615804736587724, 2.3244356612494683,
    2.1426251769710905, 1.4464475592073465, 4.739246012566457, 14.578395360077332, 9.839149347510874,
    9.413701584608935, 3.537059747455868, 8.550410826486225, 0.008119864668922184, 0.43286611889801835,
    0.4247462542290962, 0.16687837041055423, 0.17139889490813626, 0.10898985016916385,
    0.06283228612856452, 2.6573707104881583, 2.594538424359594, 1.219602938224228, 1.0596390454742999,
    1.1120831319478008, 0.14842919284678588, 3.8473658772353794, 3.6989366843885936, 1.4541605082183982,
    1.3862277372859781, 0.8018849685838569, 0.03542774287095215, 2.4474625422909617, 2.4120347994200095,
    0.7745217539010397, 0.9145812330586208, 0.3198646689221846, 1.552730787820203, 6.910681488641856,
    5.357950700821653, 3.615163570754227, 1.9072256165179793, 2.6702271628806185, 14.608536589568727,
    34.83222477045747, 20.223688180890715, 22.47901710732293, 7.17674504190757, 18.641837024143584,
    0.009066988883518605, 0.9185191396809959, 0.9094521507974755, 0.4368550481994018,
    0.38905942883427047, 0.48375558240695804, 0.0012985909686158003, 0.21708593995837092,
    0.21578734898975546, 0.08167977375391729, 0.08155386250705281, 0.06036340747305611,
    116.32010633156113, 217.5905751570807, 101.27046882551957, 162.87154200548844, 41.920624308665566,
    136.4664572257129,
)
_COMP_STDS = (
    16.35781741152948, 20.189540126474725, 20.516298414514758, 16.816765336550194, 7.966591328222124,
    22.270791076753067, 21.802116630115243, 12.804546460581966, 24.756629388687983, 13.930306216047477,
    10.214535652334533, 27.801612936980938, 39.74031558353379, 54.269739685575814, 53.70466607591569,
    42.852342044453444, 20.78341194242935, 56.28783510219931, 563.8004405882157, 732.0722574247563,
    736.2122907972664, 606.351603075103, 272.62646060896407, 810.6156779688841, 3.0362262146833428,
    3.2075174256751606, 4.0633818989245665, 2.9738244769894764, 1.7805586029644034, 5.643243225066782,
    1.1994336274579853, 0.8939013979423364, 1.2297581799896975, 1.0066021334519983, 0.49129747526397105,
    1.4159553146070951, 31.754756468836774, 28.054241463256226, 38.16336054795611, 25.83485338379922,
    15.388376641904662, 39.67137484594156, 0.31988340032011076, 0.6833658037760536, 0.7464197945553585,
    0.4881349085029781, 0.3176591553643101, 0.8601748146737138, 0.5864801661863596, 0.10048913710210677,
    0.5836289120986499, 0.2811748167435902, 0.2468696279341553, 0.5007375747433073, 0.37237566669029587,
    1.7235989187720187, 1.7058836077743305, 1.1558859351244697, 0.7677842566598179, 1.9203550253462733,
    2.1289400248865182, 3.5326064169848332, 3.708508303762512, 2.8709941136664567, 1.6110681295257014,
    4.310192504023775, 1.6644182118209292, 6.228287671164213, 6.1200848808512305, 3.1986202996110302,
    2.4492978142248867, 4.030497343977163, 3.662028270049814, 6.8192125550358345, 6.614243783887738,
    4.334987449618594, 2.568319610320196, 5.9494890200106925, 0.08974370432893491, 0.4954725441517777,
    0.494304434278516, 0.2309340434963803, 0.2072873961103969, 0.31162647950590266, 0.39805702757060923,
    1.8111691089355726, 1.7973395144505941, 0.9486995373104102, 0.7538753151875139, 1.5233177017753785,
    0.7952606701778913, 3.711190225170556, 3.638721437232604, 1.7171165424006831, 1.4307904413917036,
    2.1047820817622904, 0.49193748323158065, 4.064840532426175, 4.035286619587313, 1.4858577214526643,
    1.5799117659864677, 1.6130080156145745, 1.555249156140194, 4.776932951077492, 4.569790780459629,
    2.224617778217326, 1.7217507416156546, 2.5969733650703763, 7.215001918238936, 19.252513469778584,
    18.775394044177858, 9.447222764774764, 6.7467931836261235, 11.106825644766616, 0.27206794253092115,
    1.6449321034573106, 1.6236282792648686, 0.8506917026741503, 0.7020945355184042, 1.2281895279350408,
    0.04134438177238229, 0.5508855867341717, 0.5486095551438679, 0.24239297524046477,
    0.2127779137935831, 0.3036750942874694, 80.06063945615361, 21.345794811194104, 80.16475677581042,
    52.58533928558554, 35.40836791039412, 85.980205895116,
)


# ---------------------------------------------------------------------------- fingerprints
@functools.lru_cache(maxsize=1)
def _structure_featurizer() -> Any:
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    return CrystalNNFingerprint.from_preset("ops")


@functools.lru_cache(maxsize=1)
def _composition_featurizer() -> Any:
    from matminer.featurizers.composition.composite import ElementProperty

    try:  # matminer >= 0.9 imputes missing element data by default; CDVAE's matminer did not
        return ElementProperty.from_preset("magpie", impute_nan=False)
    except TypeError:  # older matminer: no imputation, no keyword
        return ElementProperty.from_preset("magpie")


def structure_fingerprint(structure: Any) -> np.ndarray:
    """Mean over sites of matminer's ``CrystalNNFingerprint.from_preset("ops")`` (61 floats).

    Raises whatever CrystalNN raises on a structure it cannot handle, and ``ValueError`` for an
    empty, non-finite or degenerate (volume < 0.1 Å³, CDVAE's "unrealistically small lattice")
    structure, which is not handed to CrystalNN at all.
    """
    if len(structure) == 0:
        raise ValueError("the structure has no atoms")
    matrix = structure.lattice.matrix
    if not (np.isfinite(matrix).all() and np.isfinite(structure.frac_coords).all()):
        raise ValueError("non-finite lattice or coordinates")
    if not abs(float(np.linalg.det(matrix))) >= 0.1:
        raise ValueError("unrealistically small lattice (volume < 0.1 Å³)")
    featurizer = _structure_featurizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sites = [featurizer.featurize(structure, i) for i in range(len(structure))]
    fp = np.asarray(sites, dtype=float).mean(axis=0)
    if not np.isfinite(fp).all():
        raise ValueError("non-finite CrystalNN fingerprint")
    return fp


def composition_fingerprint(structure_or_composition: Any) -> np.ndarray:
    """matminer's magpie ``ElementProperty`` of the composition (132 floats, NaN where element
    data is missing; unscaled: see :func:`scale_composition_fingerprints`)."""
    comp = getattr(structure_or_composition, "composition", structure_or_composition)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(_composition_featurizer().featurize(comp), dtype=float)


def fingerprints(structure: Any) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """``(structure_fp, composition_fp, None)``, or ``(None, None, reason)`` when either fails
    (CDVAE drops both fingerprints of a crystal whose structure fingerprint fails)."""
    try:
        comp_fp = composition_fingerprint(structure)
    except Exception as exc:  # noqa: BLE001 - any featurizer failure makes the item invalid
        return None, None, f"composition fingerprint failed: {type(exc).__name__}: {exc}"
    try:
        struc_fp = structure_fingerprint(structure)
    except Exception as exc:  # noqa: BLE001
        return None, None, f"structure fingerprint failed: {type(exc).__name__}: {exc}"
    return struc_fp, comp_fp, None


def scale_composition_fingerprints(comp_fps: Iterable[Sequence[float]]) -> np.ndarray:
    """CDVAE's ``CompScaler.transform``: ``(x - mean) / std`` with the published magpie
    statistics, NaN replaced by 0 afterwards."""
    x = np.asarray(list(comp_fps), dtype=float).reshape(-1, len(_COMP_MEANS))
    scaled = (x - np.asarray(_COMP_MEANS)) / np.asarray(_COMP_STDS)
    return np.where(np.isnan(scaled), 0.0, scaled)


# ---------------------------------------------------------------------------- coverage
def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(a, b)


def coverage(gen_struct_fps: Sequence[Any], gen_comp_fps: Sequence[Any], ref_struct_fps: Sequence[Any],
             ref_comp_fps: Sequence[Any], struc_cutoff: float, comp_cutoff: float,
             num_generated: int | None = None) -> dict[str, Any]:
    """CDVAE's ``compute_cov``: COV-R, COV-P and the mean minimum distances.

    Parameters
    ----------
    gen_struct_fps, gen_comp_fps:
        Per generated structure its structure fingerprint and *unscaled* magpie fingerprint, or
        ``None`` where it failed; an item with either ``None`` is left out (``filter_fps``) but
        still counts in the COV-P denominator.
    ref_struct_fps, ref_comp_fps:
        The same for the references (items with a ``None`` are left out).
    struc_cutoff, comp_cutoff:
        Distance thresholds (structure fingerprint, scaled composition fingerprint).
    num_generated:
        COV-P denominator (default: ``len(gen_struct_fps)``, i.e. before filtering).

    Returns
    -------
    ``{"cov_recall", "cov_precision", "amsd_recall", "amsd_precision", "amcd_recall",
    "amcd_precision", "num_generated", "num_generated_fingerprinted",
    "num_reference_fingerprinted"}``; with no usable generated (or reference) fingerprint the
    coverages are 0 and the mean distances ``None``.
    """
    if len(gen_struct_fps) != len(gen_comp_fps) or len(ref_struct_fps) != len(ref_comp_fps):
        raise ValueError("structure and composition fingerprint lists differ in length")
    n_gen = len(gen_struct_fps) if num_generated is None else int(num_generated)
    gen = [(s, c) for s, c in zip(gen_struct_fps, gen_comp_fps) if s is not None and c is not None]
    ref = [(s, c) for s, c in zip(ref_struct_fps, ref_comp_fps) if s is not None and c is not None]
    out: dict[str, Any] = {"cov_recall": 0.0, "cov_precision": 0.0, "amsd_recall": None,
                           "amsd_precision": None, "amcd_recall": None, "amcd_precision": None,
                           "num_generated": n_gen, "num_generated_fingerprinted": len(gen),
                           "num_reference_fingerprinted": len(ref)}
    if not gen or not ref:
        return out
    gs = np.asarray([s for s, _ in gen], dtype=float)
    rs = np.asarray([s for s, _ in ref], dtype=float)
    gc = scale_composition_fingerprints(c for _, c in gen)
    rc = scale_composition_fingerprints(c for _, c in ref)
    struc_d, comp_d = _pairwise(gs, rs), _pairwise(gc, rc)
    struc_recall, struc_precision = struc_d.min(axis=0), struc_d.min(axis=1)
    comp_recall, comp_precision = comp_d.min(axis=0), comp_d.min(axis=1)
    recalled = (struc_recall <= struc_cutoff) & (comp_recall <= comp_cutoff)
    precise = (struc_precision <= struc_cutoff) & (comp_precision <= comp_cutoff)
    out.update({
        "cov_recall": float(recalled.mean()),
        "cov_precision": float(precise.sum() / n_gen) if n_gen else 0.0,
        "amsd_recall": float(struc_recall.mean()), "amsd_precision": float(struc_precision.mean()),
        "amcd_recall": float(comp_recall.mean()), "amcd_precision": float(comp_precision.mean()),
    })
    return out


def resolve_cutoffs(references: Sequence[Any], dataset: str | None = None, struc_cutoff: float | None = None,
                    comp_cutoff: float | None = None) -> tuple[float, float, str]:
    """``(struc_cutoff, comp_cutoff, why)``.

    Explicit cutoffs win; otherwise ``dataset`` (one of :data:`DATASET_ALIASES`) picks CDVAE's
    set; otherwise the set is inferred from the reference structures: all single-element →
    carbon, else mp20 (a perovskite reference set needs ``dataset="perov_5"`` to get CDVAE's
    perovskite cutoffs).
    """
    if dataset is not None:
        key = DATASET_ALIASES.get(str(dataset).strip().lower())
        if key is None and (struc_cutoff is None or comp_cutoff is None):
            raise ValueError(f"unknown dataset {dataset!r} for the DNG coverage cutoffs; known: "
                             f"{', '.join(sorted(DATASET_ALIASES))} (or give struc_cutoff and comp_cutoff)")
        why = f"CDVAE COV_Cutoffs['{key}'] for dataset {dataset!r}" if key else f"dataset {dataset!r}"
    else:
        single = bool(references) and all(len(s.composition.elements) == 1 for s in references)
        key = "carbon" if single else "mp20"
        why = (f"CDVAE COV_Cutoffs['{key}'], inferred: "
               + ("every reference structure has a single element" if single
                  else "the references are not all single-element (pass --dataset perov_5 for the "
                       "perovskite cutoffs)"))
    struc = COV_CUTOFFS[key]["struc"] if key else None
    comp = COV_CUTOFFS[key]["comp"] if key else None
    given = []
    if struc_cutoff is not None:
        struc = float(struc_cutoff)
        given.append(f"struc_cutoff={struc:g}")
    if comp_cutoff is not None:
        comp = float(comp_cutoff)
        given.append(f"comp_cutoff={comp:g}")
    if given:
        why = "explicit " + ", ".join(given) + ("" if len(given) == 2 else f"; the other from {why}")
    return float(struc), float(comp), why


# ---------------------------------------------------------------------------- uniqueness / novelty
def _reduced_key(structure: Any) -> tuple[str, int]:
    """Reduced formula and the number of sites of the primitive cell: StructureMatcher (with its
    default ``primitive_cell=True``) compares primitive cells found with the same call, so two
    structures with different keys never match — an exact prefilter that keeps large same-formula
    sets (Carbon-24) fast."""
    try:
        n = len(structure.get_primitive_structure())
    except Exception:  # noqa: BLE001 - a degenerate cell: keyed by its own size
        n = len(structure)
    return structure.composition.reduced_formula, n


def _fits(matcher: Any, a: Any, b: Any) -> bool:
    from graphdiff_crystals.metrics import sane_cell

    if not (sane_cell(a) and sane_cell(b)):  # Niggli reduction of a wild cell may not finish
        return False
    try:
        return bool(matcher.fit(a, b))
    except Exception:  # noqa: BLE001 - a matcher failure on a degenerate cell is "no match"
        return False


def uniqueness_novelty(structures: Sequence[Any], train: Sequence[Any] | None = None,
                       ids: Sequence[str] | None = None,
                       train_ids: Sequence[str] | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """For each structure: ``{"unique", "duplicate_of", "novel", "matches_train"}``.

    ``unique``: no earlier structure of the list matches (compared with the earlier unique ones).
    ``novel``: for unique structures when ``train`` is given, no training structure matches
    (``None`` otherwise). Matching: ``StructureMatcher()`` with pymatgen's default tolerances,
    only within the same reduced composition and primitive-cell size (see :func:`_reduced_key`).
    ``progress`` shows a bar over the structures on stderr (once for uniqueness, once for novelty).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(structures))]
    seen: dict[tuple[str, int], list[int]] = {}
    out: list[dict[str, Any]] = []
    keys = [_reduced_key(s) for s in structures]
    for i, s in track(enumerate(structures), desc="crystals-dng: uniqueness", total=len(structures),
                      unit="structure", enabled=progress):
        group = seen.setdefault(keys[i], [])
        dup = next((j for j in group if _fits(matcher, structures[j], s)), None)
        if dup is None:
            group.append(i)
        out.append({"unique": dup is None, "duplicate_of": None if dup is None else ids[dup],
                    "novel": None, "matches_train": None})
    if train is not None:
        tids = [str(t) for t in train_ids] if train_ids is not None else [str(t) for t in range(len(train))]
        by_key: dict[tuple[str, int], list[int]] = {}
        for t, s in enumerate(train):
            by_key.setdefault(_reduced_key(s), []).append(t)
        for i, s in track(enumerate(structures), desc="crystals-dng: novelty", total=len(structures),
                          unit="structure", enabled=progress):
            if not out[i]["unique"]:
                continue
            hit = next((t for t in by_key.get(keys[i], []) if _fits(matcher, s, train[t])), None)
            out[i]["novel"] = hit is None
            out[i]["matches_train"] = None if hit is None else tids[hit]
    return out


# ---------------------------------------------------------------------------- the metric
def _as_records(items: Sequence[Any] | None) -> list[tuple[str, Any]]:
    recs = []
    for n, item in enumerate(items or []):
        if isinstance(item, dict):
            recs.append((str(item.get("id", n)), item["obj"]))
        else:
            recs.append((str(n), item))
    return recs


def _safe(fn: Any, *args: Any) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - reported per item
        return None, f"{type(exc).__name__}: {exc}"


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def dng_metric(generated: Sequence[Any], references: Sequence[Any], train: Sequence[Any] | None = None,
               k: Any = None, dataset: str | None = None, *, struc_cutoff: float | None = None,
               comp_cutoff: float | None = None, n_samples: int = N_SAMPLES, seed: int | None = None,
               contact_tolerance: float = CONTACT_TOLERANCE, symprec: float = SYMPREC, energy: bool = False,
               energy_max_references: int = ENERGY_MAX_REFERENCES, progress: bool = False,
               **_: Any) -> dict[str, Any]:
    """``graphdiff evaluate --task dng``: CDVAE's generation metrics plus uniqueness and novelty.

    Parameters
    ----------
    generated, references, train:
        Records (``{"id", "obj": Structure}``) or bare structures. ``references`` is the test set
        of the dataset; ``train`` (optional) is only used for novelty.
    k:
        Ignored (CSP only).
    dataset:
        Picks CDVAE's coverage cutoffs (``perov_5``, ``carbon_24``, ``mp_20`` and spellings in
        :data:`DATASET_ALIASES`); see :func:`resolve_cutoffs` for the default.
    struc_cutoff, comp_cutoff:
        Explicit coverage cutoffs (override ``dataset``).
    n_samples:
        Valid generated structures used for the Wasserstein distances and diversity (CDVAE: 1000).
    seed:
        ``None``: the first ``n_samples`` valid structures; an integer: a seeded random draw
        without replacement, as CDVAE's ``np.random.choice``.
    contact_tolerance, symprec:
        Physical sanity (:mod:`graphdiff_crystals.sanity`): the short-contact tolerance below
        each element pair's reference minimum (Å; the minima come from ``references`` and
        ``train``) and spglib's ``symprec`` (Å) for the space groups.
    energy, energy_max_references:
        Add CHGNet energies per atom (unrelaxed) of the generated structures and of at most
        ``energy_max_references`` references (drawn with ``seed``, 0 when ``None``); off by default.
    progress:
        Show bars on stderr over the generated structures (validity, fingerprints), the
        references (fingerprints) and the valid structures (uniqueness, novelty).

    Returns
    -------
    ``{"task": "dng", "num_generated", "num_valid", "validity", "coverage", "wasserstein",
    "diversity", "uniqueness", "novelty", "short_contacts", "space_groups", ["chgnet_energy"],
    "notes", "per_item"}``; see the module docstring and :mod:`graphdiff_crystals.sanity`.
    """
    from scipy.stats import wasserstein_distance

    from graphdiff_crystals.metrics import composition_valid, structure_valid

    gen = _as_records(generated)
    ref = _as_records(references)
    trn = _as_records(train) if train is not None else None
    notes: list[str] = []
    struc_c, comp_c, why = resolve_cutoffs([s for _, s in ref], dataset, struc_cutoff, comp_cutoff)

    # --- per generated structure: CDVAE's Crystal
    per_item: list[dict[str, Any]] = []
    gen_sfp: list[Any] = []
    gen_cfp: list[Any] = []
    for gid, s in track(gen, desc="crystals-dng: generated", unit="structure", enabled=progress):
        item: dict[str, Any] = {"id": gid}
        reasons = []
        sv, err = _safe(structure_valid, s)
        item["structure_valid"] = bool(sv)
        if err:
            reasons.append(f"structure check failed: {err}")
        elif not sv:
            reasons.append("structure invalid: atoms closer than 0.5 Å or volume < 0.1 Å³")
        cv, err = _safe(composition_valid, s)
        item["composition_valid"] = bool(cv)
        if err:
            reasons.append(f"composition check failed: {err}")
        elif not cv:
            reasons.append("composition invalid: no SMACT charge-neutral, electronegativity-ordered assignment")
        sfp, cfp, fp_reason = fingerprints(s)
        item["fingerprint_ok"] = fp_reason is None
        if fp_reason:
            reasons.append(fp_reason + " (left out of coverage)")
        gen_sfp.append(sfp)
        gen_cfp.append(cfp)
        item["valid"] = item["structure_valid"] and item["composition_valid"] and item["fingerprint_ok"]
        item["invalid_reason"] = "; ".join(reasons) or None
        item["formula"] = _safe(lambda x: x.composition.reduced_formula, s)[0]
        density = _safe(lambda x: float(x.density), s)[0]
        item["density"] = _finite_or_none(density)
        item["num_elements"] = _safe(lambda x: len(set(x.species)), s)[0]
        per_item.append(item)
    n_gen = len(gen)
    valid_idx = [i for i, it in enumerate(per_item) if it["valid"]]

    validity = {
        "structure": float(np.mean([it["structure_valid"] for it in per_item])) if n_gen else None,
        "composition": float(np.mean([it["composition_valid"] for it in per_item])) if n_gen else None,
        "overall": float(np.mean([it["valid"] for it in per_item])) if n_gen else None,
    }

    # --- references: fingerprints (for coverage) and properties (for Wasserstein)
    ref_sfp, ref_cfp, ref_failed = [], [], []
    for rid, s in track(ref, desc="crystals-dng: references", unit="structure", enabled=progress):
        sfp, cfp, reason = fingerprints(s)
        ref_sfp.append(sfp)
        ref_cfp.append(cfp)
        if reason:
            ref_failed.append({"id": rid, "reason": reason})
    if ref_failed:
        notes.append(f"{len(ref_failed)} reference structure(s) have no fingerprint and are left out of coverage")

    # --- coverage (CDVAE: all generated crystals, fingerprint failures filtered, denominator kept)
    cov = coverage(gen_sfp, gen_cfp, ref_sfp, ref_cfp, struc_c, comp_c, num_generated=n_gen)
    cov.update({"struc_cutoff": struc_c, "comp_cutoff": comp_c, "cutoffs_from": why,
                "reference_fingerprint_failures": ref_failed[:20]})

    # --- property distributions on n_samples valid structures (CDVAE's valid_samples)
    if len(valid_idx) > n_samples:
        if seed is None:
            sample_idx, how = valid_idx[:n_samples], f"the first {n_samples} valid generated structures"
        else:
            pick = np.random.default_rng(seed).choice(len(valid_idx), n_samples, replace=False)
            sample_idx, how = [valid_idx[p] for p in pick], f"{n_samples} valid structures drawn with seed {seed}"
    else:
        sample_idx, how = valid_idx, f"all {len(valid_idx)} valid generated structures"
        if len(valid_idx) < n_samples:
            notes.append(f"only {len(valid_idx)} valid generated structures, fewer than CDVAE's n_samples="
                         f"{n_samples} (CDVAE refuses to evaluate then); property distributions use all of them")
    ref_density = [d for d in (_safe(lambda x: float(x.density), s)[0] for _, s in ref)
                   if d is not None and math.isfinite(d)]
    ref_nelem = [len(set(s.species)) for _, s in ref]
    gen_density = [per_item[i]["density"] for i in sample_idx if per_item[i]["density"] is not None]
    gen_nelem = [per_item[i]["num_elements"] for i in sample_idx]
    wd = {"density": None, "num_elements": None, "num_samples": len(sample_idx), "samples": how,
          "num_references": len(ref)}
    if gen_density and ref_density:
        wd["density"] = float(wasserstein_distance(gen_density, ref_density))
    if gen_nelem and ref_nelem:
        wd["num_elements"] = float(wasserstein_distance(gen_nelem, ref_nelem))

    # --- diversity of the same samples (CDVAE's struct_div / comp_div)
    diversity: dict[str, Any] = {"structure": None, "composition": None}
    if len(sample_idx) >= 2:
        from scipy.spatial.distance import pdist

        diversity["structure"] = float(pdist(np.asarray([gen_sfp[i] for i in sample_idx])).mean())
        scaled = scale_composition_fingerprints(gen_cfp[i] for i in sample_idx)
        diversity["composition"] = float(pdist(scaled).mean())

    # --- uniqueness / novelty on all valid generated structures
    un = uniqueness_novelty([gen[i][1] for i in valid_idx], [s for _, s in trn] if trn is not None else None,
                            ids=[gen[i][0] for i in valid_idx],
                            train_ids=[t for t, _ in trn] if trn is not None else None, progress=progress)
    for it in per_item:
        it.update({"unique": None, "duplicate_of": None, "novel": None, "matches_train": None})
    for i, res in zip(valid_idx, un):
        per_item[i].update(res)
    n_unique = sum(r["unique"] for r in un)
    uniqueness = n_unique / len(un) if un else None
    if trn is None:
        novelty = None
        notes.append("novelty needs the training set (--train); not computed")
    else:
        novelty = sum(bool(r["novel"]) for r in un if r["unique"]) / n_unique if n_unique else None

    # --- physical sanity (not CDVAE): short contacts, space groups, CHGNet energies
    from graphdiff_crystals.sanity import sanity_report

    sanity, sanity_rows = sanity_report([s for _, s in gen], [s for _, s in ref],
                                        [s for _, s in trn] if trn is not None else None,
                                        reference_ids=[r for r, _ in ref],
                                        train_ids=[t for t, _ in trn] if trn is not None else None,
                                        contact_tolerance=contact_tolerance, symprec=symprec, energy=energy,
                                        energy_max_references=energy_max_references,
                                        seed=0 if seed is None else seed, progress=progress)
    for it, row in zip(per_item, sanity_rows):
        it.update(row)

    return {
        "task": "dng",
        "num_generated": n_gen,
        "num_valid": len(valid_idx),
        "num_references": len(ref),
        "num_train": len(trn) if trn is not None else None,
        "validity": validity,
        "coverage": cov,
        "wasserstein": wd,
        "diversity": diversity,
        "uniqueness": uniqueness,
        "novelty": novelty,
        **sanity,
        "matcher": ("uniqueness/novelty: pymatgen StructureMatcher() default tolerances "
                    "(ltol=0.2, stol=0.3, angle_tol=5)"),
        "notes": notes,
        "per_item": per_item,
    }
