"""References: observations that generated items are matched against.

A domain plugin registers a :class:`Reference` kind (``register_references``), e.g. the
crystals plugin's ``xrd``: a powder diffraction pattern. ``graphdiff sample`` then takes
``--<name> FILE`` (one reference for every input item) and reads an input column ``<name>``
holding a file per item (relative to the input file); for each item with a reference:

* the item's candidates are ranked by validity, then by their similarity to the reference,
  then by the share of draws (see :mod:`graphdiff.candidates`), and the output gets a column
  ``<name>_similarity``;
* a model trained with the reference's encoding as conditions (:attr:`Reference.columns`,
  numeric columns of its training data) is conditioned on the item's encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from graphdiff.errors import ConfigError, DataError

__all__ = ["Reference", "RowReferences", "load_row_references"]


@dataclass(frozen=True)
class Reference:
    """A kind of observation a domain's generated items can be compared with.

    Parameters
    ----------
    name:
        Option and column name (``"xrd"``): ``graphdiff sample --xrd FILE``.
    domain:
        The domain whose objects it compares.
    load:
        ``load(path, **options) -> loaded``: read and check a file; raise
        :class:`~graphdiff.errors.DataError` naming the file (and line) on bad input.
    similarity:
        ``similarity(obj, loaded) -> float``, larger is closer (in [0, 1] by convention).
    encode:
        Optional ``encode(loaded) -> {column: float}``: the conditions of a model trained on them.
    columns:
        The names ``encode`` returns.
    options:
        Extra options of ``load``: ``{name: (type, default, help)}``; the CLI offers each as
        ``--<reference name>-<option>`` (underscores become dashes).
    description, similarity_description:
        For listings and help: what it is, and how the similarity is computed.
    """

    name: str
    domain: str
    load: Callable[..., Any]
    similarity: Callable[[Any, Any], float]
    encode: Callable[[Any], dict[str, float]] | None = None
    columns: tuple[str, ...] = ()
    options: dict[str, tuple[type, Any, str]] = field(default_factory=dict)
    description: str = ""
    similarity_description: str = ""


@dataclass
class RowReferences:
    """One reference kind's loaded references, one per input item (``None``: the item has none)."""

    reference: Reference
    loaded: list[Any]

    @property
    def column(self) -> str:
        """Output column of the candidates' similarity."""
        return f"{self.reference.name}_similarity"

    def score(self, row: int, obj: Any) -> float:
        """Similarity of ``obj`` to row ``row``'s reference (NaN without one, or when it fails)."""
        ref = self.loaded[row]
        if ref is None or obj is None:
            return float("nan")
        try:
            return float(self.reference.similarity(obj, ref))
        except Exception:  # noqa: BLE001 - an item the similarity cannot score ranks last
            return float("nan")

    def value(self, score: float) -> float:
        """The column's value of a ranking score (the similarity itself)."""
        return score

    def conditions(self, model_condition: Sequence[str]) -> list[dict[str, float]] | None:
        """Each row's encoding restricted to the model's conditions (``None`` when the model is
        not conditioned on this reference's columns; a row without a reference gets ``{}``)."""
        used = [c for c in self.reference.columns if c in model_condition]
        if not used or self.reference.encode is None:
            return None
        encoded: dict[int, dict[str, float]] = {}  # rows sharing one loaded file are encoded once
        out = []
        for ref in self.loaded:
            if ref is None:
                out.append({})
                continue
            if id(ref) not in encoded:
                enc = self.reference.encode(ref)
                encoded[id(ref)] = {c: float(enc[c]) for c in used if c in enc}
            out.append(dict(encoded[id(ref)]))
        return out


def load_row_references(reference: Reference, records: Sequence[dict], *, given: str | Path | None,
                        input_path: Path | None, options: dict[str, Any] | None = None) -> RowReferences:
    """Load each record's reference: its text column ``reference.name`` (a path relative to the
    input file's folder) where present and non-empty, else the file ``given`` (all rows).

    Raises
    ------
    DataError
        Naming the item and the file when a file is missing or does not load.
    """
    options = options or {}
    cache: dict[str, Any] = {}
    base = input_path.parent if input_path is not None else Path(".")

    def load(path: Path, where: str) -> Any:
        key = str(path.resolve())
        if key not in cache:
            if not path.is_file():
                raise DataError(f"{where}: {reference.name} file {path} does not exist")
            try:
                cache[key] = reference.load(path, **options)
            except DataError as exc:
                raise DataError(f"{where}: {exc}") from exc
        return cache[key]

    if given is not None:
        load(Path(given), f"--{reference.name}")
    loaded = []
    for i, rec in enumerate(records):
        cell = str((rec.get("text") or {}).get(reference.name, "") or "").strip()
        where = f"input item {i} (id {rec.get('id', i)})"
        if cell:
            path = Path(cell)
            loaded.append(load(path if path.is_absolute() else base / path, where))
        elif given is not None:
            loaded.append(load(Path(given), f"--{reference.name}"))
        else:
            loaded.append(None)
    if all(x is None for x in loaded):
        raise ConfigError(f"no {reference.name} reference: give --{reference.name} FILE or an input "
                          f"column {reference.name!r} naming a file per row")
    return RowReferences(reference, loaded)
