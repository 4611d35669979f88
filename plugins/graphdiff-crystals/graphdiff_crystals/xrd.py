r"""Powder X-ray diffraction patterns: read, simulate, compare, encode.

A pattern is a list of (2θ, intensity) points at a wavelength: a measured profile (a two-column
text file) or the peaks pymatgen's :class:`~pymatgen.analysis.diffraction.xrd.XRDCalculator`
simulates for a structure (Cu Kα, 1.54184 Å, by default).

**Similarity** (:func:`similarity`), used to rank generated candidates against a given pattern:
both patterns are put on a common 2θ grid (0.02° steps over ``two_theta_range``), broadened with
a Gaussian of standard deviation ``sigma`` (0.2° by default: wider than an instrument's peaks,
so that a candidate whose lattice is slightly off still overlaps), normalised to unit length,
and compared by their cosine, maximised over a common shift of 2θ within ±``max_shift``
(0.5° by default: a zero-point error of the diffractometer). The result lies in [0, 1]; 1 is
the same pattern. Because the cosine weighs peaks by their intensity, missing weak peaks and
noise change it little (tested in ``tests/test_xrd.py``).

**Encoding** (:func:`encode`), the condition of a pattern-conditioned model: the pattern at
Cu Kα, broadened as above, values under 5 % of its maximum set to zero (noise and background),
summed into ``ENCODING_BINS`` bins of 2θ over 10-90°, square-rooted (so that weak peaks count)
and scaled to a maximum of 1: columns ``xrd_00 .. xrd_39``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphdiff.errors import DataError

__all__ = ["CU_KA", "Pattern", "XRDReference", "read_pattern", "simulate", "simulate_for_rescaling", "rescaled",
           "profile", "similarity", "encode", "ENCODING_BINS", "ENCODING_COLUMNS", "check_wavelength"]

#: Cu Kα (weighted Kα1/Kα2 mean, pymatgen's ``"CuKa"``), Å
CU_KA = 1.54184
#: 2θ range (degrees) patterns are compared and encoded over
TWO_THETA_RANGE = (10.0, 90.0)
GRID_STEP = 0.02
ENCODING_BINS = 40
ENCODING_COLUMNS = [f"xrd_{i:02d}" for i in range(ENCODING_BINS)]
WAVELENGTH_RANGE = (0.1, 3.0)

_STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".json", ".extxyz")


@dataclass(frozen=True)
class Pattern:
    """Points of a powder pattern: ``two_theta`` (degrees, increasing), ``intensity`` (>= 0),
    at ``wavelength`` (Å); ``source`` says where it came from."""

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float = CU_KA
    source: str = ""

    def d_spacings(self) -> np.ndarray:
        """Bragg spacings d = λ / (2 sin θ), Å."""
        return self.wavelength / (2 * np.sin(np.radians(self.two_theta) / 2))

    def at_wavelength(self, wavelength: float) -> "Pattern":
        """The same reflections seen at another wavelength (same d-spacings); reflections that
        the new wavelength cannot reach (λ > 2d) are left out."""
        wavelength = check_wavelength(wavelength)
        if math.isclose(wavelength, self.wavelength, rel_tol=1e-9):
            return self
        s = wavelength / (2 * self.d_spacings())
        keep = s < 1
        tt = 2 * np.degrees(np.arcsin(s[keep]))
        return Pattern(tt, self.intensity[keep], wavelength, self.source)


def check_wavelength(wavelength: float) -> float:
    """A wavelength in Å within ``WAVELENGTH_RANGE`` (0.1-3 Å: Ag Kα 0.56 to Cr Kα 2.29 and
    synchrotron energies), else :class:`DataError`."""
    try:
        w = float(wavelength)
    except (TypeError, ValueError):
        raise DataError(f"wavelength {wavelength!r} is not a number (Å)") from None
    lo, hi = WAVELENGTH_RANGE
    if not (lo <= w <= hi):
        raise DataError(f"wavelength {w:g} Å is out of range: give {lo:g}-{hi:g} Å "
                        f"(Cu Kα is {CU_KA} Å, Mo Kα 0.71073 Å)")
    return w


def simulate(structure: Any, wavelength: float = CU_KA,
             two_theta_range: tuple[float, float] = TWO_THETA_RANGE) -> Pattern:
    """The peaks of ``structure``'s powder pattern, by pymatgen's ``XRDCalculator`` (intensities
    scaled to a maximum of 100; an empty pattern when no reflection falls in the range)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    w = check_wavelength(wavelength)
    try:
        p = XRDCalculator(wavelength=w).get_pattern(structure, scaled=True,
                                                    two_theta_range=two_theta_range)
        tt, inten = np.asarray(p.x, float), np.asarray(p.y, float)
    except (ValueError, ZeroDivisionError, IndexError):  # no reflection in range, odd cell
        tt, inten = np.zeros(0), np.zeros(0)
    order = np.argsort(tt)
    return Pattern(tt[order], np.clip(inten[order], 0, None), w, "simulated")


def read_pattern(path: str | Path, wavelength: float = CU_KA,
                 two_theta_range: tuple[float, float] = TWO_THETA_RANGE) -> Pattern:
    """Read a pattern file, or simulate the pattern of a structure file.

    A structure file (``.cif``, ``.vasp``, ``.poscar``, ``POSCAR*``, ``.json``, ``.extxyz``; one
    structure) is simulated at ``wavelength``. Anything else is read as text: two columns, 2θ
    (degrees) and intensity, separated by spaces, tabs, commas or semicolons (further columns,
    e.g. an error estimate, are ignored); blank lines and lines starting with ``#``, ``!`` or
    ``;`` are skipped, and so is one header line before the first number. 2θ must not decrease
    (rows at the same 2θ, several reflections of a peak list, are summed); intensities must be
    finite (negative values, from a background subtraction, count as 0). ``wavelength`` is the
    one the pattern was measured at.

    Raises
    ------
    DataError
        Naming the file and the line: a missing file, a non-numeric or one-column row, 2θ not
        increasing or outside (0, 180), fewer than 2 points, no positive intensity, a wavelength
        out of range.
    """
    path = Path(path)
    w = check_wavelength(wavelength)
    if not path.is_file():
        raise DataError(f"{path}: no such pattern file")
    name = path.name.lower()
    if path.suffix.lower() in _STRUCTURE_SUFFIXES or name.startswith(("poscar", "contcar")):
        from graphdiff_crystals.io import read_records

        skipped: list[dict[str, str]] = []
        records = list(read_records(path, skipped=skipped))
        if len(records) != 1:
            why = f"; skipped: {skipped[0]['reason']}" if skipped else ""
            raise DataError(f"{path}: a structure file for a pattern must hold exactly one structure, "
                            f"it holds {len(records)}{why}")
        sim = simulate(records[0]["obj"], w, two_theta_range)
        return Pattern(sim.two_theta, sim.intensity, w, f"simulated from {path}")
    return _read_text_pattern(path, w)


def _read_text_pattern(path: Path, wavelength: float) -> Pattern:
    import re

    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the pattern file: {exc}") from exc
    tt: list[float] = []
    inten: list[float] = []
    header_seen = False
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text[0] in "#!;":
            continue
        parts = [p for p in re.split(r"[\s,;]+", text) if p]
        try:
            values = [float(p) for p in parts[:2]]
        except ValueError:
            if not tt and not header_seen:  # one header line before the data
                header_seen = True
                continue
            raise DataError(f"{path} line {n}: expected two numbers (2θ, intensity), got {text!r}") from None
        if len(values) < 2:
            raise DataError(f"{path} line {n}: expected two columns (2θ, intensity), got {text!r}")
        x, y = values
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DataError(f"{path} line {n}: non-finite value in {text!r}")
        if not (0 < x < 180):
            raise DataError(f"{path} line {n}: 2θ = {x:g}° is outside (0, 180)")
        if tt and x < tt[-1]:
            raise DataError(f"{path} line {n}: 2θ must increase, {x:g} follows {tt[-1]:g} "
                            "(sort the file by its first column)")
        if tt and x == tt[-1]:  # two reflections at one angle (a peak list): one point, summed
            inten[-1] += max(y, 0.0)
            continue
        tt.append(x)
        inten.append(max(y, 0.0))
    if len(tt) < 2:
        raise DataError(f"{path}: a pattern needs at least 2 points (2θ, intensity), found {len(tt)}")
    if max(inten) <= 0:
        raise DataError(f"{path}: no positive intensity in {len(tt)} points")
    return Pattern(np.asarray(tt), np.asarray(inten), wavelength, str(path))


def profile(pattern: Pattern, sigma: float = 0.2,
            two_theta_range: tuple[float, float] = TWO_THETA_RANGE, step: float = GRID_STEP) -> np.ndarray:
    """The pattern broadened by a Gaussian of standard deviation ``sigma`` (degrees) on the
    grid ``two_theta_range`` by ``step``, scaled to unit Euclidean norm (all zeros when no
    intensity falls in the range). Points are spread linearly onto the two nearest grid nodes
    first, so sticks and dense profiles are treated alike."""
    lo, hi = two_theta_range
    n = int(round((hi - lo) / step)) + 1
    grid = np.zeros(n)
    pos = (pattern.two_theta - lo) / step
    inside = (pos >= 0) & (pos <= n - 1)
    pos, w = pos[inside], pattern.intensity[inside]
    left = np.floor(pos).astype(int)
    frac = pos - left
    np.add.at(grid, left, w * (1 - frac))
    right = np.minimum(left + 1, n - 1)
    np.add.at(grid, right, w * frac)
    half = int(math.ceil(4 * sigma / step))
    x = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    out = np.convolve(grid, kernel, mode="same")
    norm = np.linalg.norm(out)
    return out / norm if norm > 0 else out


def similarity(a: Pattern | np.ndarray, b: Pattern | np.ndarray, *, sigma: float = 0.2,
               max_shift: float = 0.5, step: float = GRID_STEP) -> float:
    """Cosine of the two broadened profiles (:func:`profile`), maximised over a common 2θ shift
    within ±``max_shift`` degrees; in [0, 1]. Arguments may be patterns or profiles already
    computed with the same ``sigma`` and ``step``; ``a`` may also be a stack of profiles
    ``[..., grid]``, which gives an array of similarities, one per profile."""
    pa = a if isinstance(a, np.ndarray) else profile(a, sigma, step=step)
    pb = b if isinstance(b, np.ndarray) else profile(b, sigma, step=step)
    if pa.ndim == 1 and (not pa.any() or not pb.any()):
        return 0.0
    lag = int(round(max_shift / step))
    n = pa.shape[-1]
    best = np.zeros(pa.shape[:-1])
    for k in range(-lag, lag + 1):  # shifts of up to 25 nodes: a direct loop beats an FFT here
        v = pa[..., k:] @ pb[:n - k] if k >= 0 else pa[..., :n + k] @ pb[-k:]
        best = np.maximum(best, v)
    best = np.minimum(1.0, best)
    return float(best) if pa.ndim == 1 else best


def encode(pattern: Pattern, bins: int = ENCODING_BINS,
           two_theta_range: tuple[float, float] = TWO_THETA_RANGE) -> dict[str, float]:
    """The condition columns ``xrd_00 ..`` of a pattern: its broadened profile at Cu Kα
    (:func:`profile`), values under 5 % of the maximum set to zero, summed into ``bins`` equal
    2θ bins over ``two_theta_range``, square-rooted, scaled to a maximum of 1 (all zeros for an
    empty pattern). The grid's node count minus one must divide by ``bins``."""
    p = pattern.at_wavelength(CU_KA)
    lo, hi = two_theta_range
    prof = profile(p, two_theta_range=two_theta_range)  # sticks and measured profiles alike
    if prof.max() > 0:
        prof = np.where(prof >= 0.05 * prof.max(), prof, 0.0)  # below 5 %: noise, background
    hist = np.sqrt(prof.reshape(-1)[: (len(prof) - 1)].reshape(bins, -1).sum(1))
    if hist.max() > 0:
        hist = hist / hist.max()
    return {f"xrd_{i:02d}": float(v) for i, v in enumerate(hist)}


def simulate_for_rescaling(structure: Any, wavelength: float, max_strain: float) -> Pattern:
    """:func:`simulate` over :data:`TWO_THETA_RANGE` widened so that the reflections that a
    rescaling of the cell by up to ±``max_strain`` moves into the range are kept."""
    lo, hi = TWO_THETA_RANGE
    wide = (max(1.0, lo * (1 - 2 * max_strain)), min(179.0, hi * (1 + 2 * max_strain) + 5))
    return simulate(structure, wavelength, wide)


def rescaled(pattern: Pattern, scale: float) -> Pattern:
    """The pattern of the same cell rescaled isotropically by ``scale``: every reflection at
    d·``scale`` (those that no longer diffract at this wavelength dropped)."""
    w = pattern.wavelength
    arg = w / (2 * pattern.d_spacings() * scale)
    keep = arg < 1
    return Pattern(2 * np.degrees(np.arcsin(arg[keep])), pattern.intensity[keep], w)


@dataclass
class XRDReference:
    """A given pattern that candidates are compared with (its profile computed once)."""

    pattern: Pattern
    sigma: float = 0.2
    max_shift: float = 0.5
    _profile: np.ndarray | None = field(default=None, repr=False)

    @property
    def profile(self) -> np.ndarray:
        if self._profile is None:
            self._profile = profile(self.pattern, self.sigma)
        return self._profile

    max_strain: float = 0.03
    strain_step: float = 0.002

    def similarity(self, structure: Any) -> float:
        """Similarity (:func:`similarity`) of ``structure``'s simulated pattern, at this
        pattern's wavelength, to this pattern, best over an isotropic rescaling of the
        structure's cell within ±``max_strain`` (a generated or relaxed cell is rarely exact to
        better than a few per cent, and the site order, which the intensities tell, matters
        more than the exact size; the rescaled pattern is the same reflections at d·s)."""
        sim = simulate_for_rescaling(structure, self.pattern.wavelength, self.max_strain)
        if not len(sim.two_theta):
            return 0.0
        best = 0.0
        n = int(round(self.max_strain / self.strain_step))
        for k in range(-n, n + 1):
            scaled = rescaled(sim, 1 + k * self.strain_step)
            best = max(best, similarity(profile(scaled, self.sigma), self.profile, sigma=self.sigma,
                                        max_shift=self.max_shift))
        return best

    def encode(self) -> dict[str, float]:
        return encode(self.pattern)


def load_reference(path: str | Path, wavelength: float = CU_KA) -> XRDReference:
    """Load a pattern file (or simulate a structure file's pattern) as an :class:`XRDReference`."""
    return XRDReference(read_pattern(path, wavelength))


def reference() -> Any:
    """The ``xrd`` :class:`graphdiff.references.Reference` the crystals plugin registers."""
    from graphdiff.references import Reference

    return Reference(
        name="xrd", domain="crystals", load=load_reference,
        similarity=lambda structure, ref: ref.similarity(structure),
        encode=lambda ref: ref.encode(), columns=tuple(ENCODING_COLUMNS),
        options={"wavelength": (float, CU_KA, "X-ray wavelength of the --xrd pattern(s), Å "
                                "(Cu Kα 1.54184; Mo Kα 0.71073).")},
        description="A powder X-ray diffraction pattern: a two-column 2θ/intensity file, or a "
                    "structure file (CIF, POSCAR) to simulate one from.",
        similarity_description="the cosine of Gaussian-broadened patterns (σ = 0.2° 2θ), best over "
                               "a rescaling of the candidate's cell within ±3 % and a common 2θ "
                               "shift within ±0.5°")
