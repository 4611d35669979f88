"""The domain contract: a converter between domain objects and graphs, plus I/O.

A plugin registers one :class:`Domain` instance per domain through ``register_domains``.
``domain.to_graph(obj)`` and ``domain.from_graph(data)`` must round-trip (see
:func:`graphdiff.testing.assert_roundtrip`).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterator, Sequence

from torch_geometric.data import Data

from graphdiff.errors import ConfigError, DataError
from graphdiff.graph import GraphSpec

__all__ = ["Domain", "Record", "report_skip"]


def report_skip(skipped: list[dict[str, str]] | None, where: str, reason: str, strict: bool) -> None:
    """Record one skipped item, following the :meth:`Domain.read` contract.

    With ``strict=True`` raise :class:`DataError` (``"where: reason"``); otherwise append
    ``{"where": ..., "reason": ...}`` to ``skipped``, or warn when ``skipped`` is ``None``.
    A ``reason`` that already starts with ``"where: "`` is not prefixed twice.
    """
    prefix = f"{where}: "
    if reason.startswith(prefix):
        reason = reason[len(prefix):]
    if strict:
        raise DataError(f"{where}: {reason}")
    if skipped is None:
        warnings.warn(f"skipped {where}: {reason}", RuntimeWarning, stacklevel=3)
    else:
        skipped.append({"where": where, "reason": reason})


class Record(dict):
    """One item read from a source: ``id``, ``obj`` (the domain object), ``props`` (floats)."""


class Domain(ABC):
    """A kind of graph that graphdiff can learn and generate.

    Subclasses set :attr:`name`, :attr:`version` (bump when the converter's output changes:
    caches and databases key on it) and implement :attr:`spec`, :meth:`to_graph` and
    :meth:`from_graph`. Readers and writers are optional; :attr:`read_suffixes` and
    :attr:`write_suffixes` list the file extensions they handle, and
    :attr:`single_file_suffix` names the one a single graph is written to when generated graphs
    go to a folder (``graphdiff sample --out DIR/``).
    """

    name: str = ""
    version: str = "1"
    description: str = ""
    read_suffixes: tuple[str, ...] = ()
    write_suffixes: tuple[str, ...] = ()
    #: suffix of the domain's natural one-graph file format (``".graphml"``, ``".cif"``,
    #: ``".xyz"``), one of :attr:`write_suffixes`: ``graphdiff sample --out DIR/`` (and
    #: ``interpolate``) write each generated graph to ``DIR/<file_stem><suffix>`` through
    #: :meth:`write` (see :meth:`file_stem`). ``None`` (the default): the first entry of
    #: :attr:`write_suffixes` that is a file suffix (starts with ``"."``), or, for a domain
    #: without writers, graphdiff's own domain-free ``.jsonl`` (one line per file). See
    #: :func:`graphdiff.outputs.single_file_suffix`.
    single_file_suffix: str | None = None
    #: format names -> file suffixes (each one of :attr:`write_suffixes`) for a folder output's
    #: ``--format``, where the name is not the suffix itself (crystals: ``"poscar": ".vasp"``);
    #: every file suffix of :attr:`write_suffixes` is a format under its own name anyway. See
    #: :func:`graphdiff.outputs.folder_formats`.
    file_formats: dict[str, str] = {}
    #: denoiser used when a config says ``model.denoiser = "auto"`` (``None``: chosen from the
    #: spec: ``periodic`` with a torus field, ``egnn`` with positions, else ``graph_transformer``)
    default_denoiser: str | None = None
    #: generation tasks: name -> the fields an input item gives (``graphdiff sample --task``);
    #: ``dng`` (de novo) gives none. A domain adds its own, e.g. crystals' ``csp`` (composition).
    tasks: dict[str, tuple[str, ...]] = {"dng": ()}

    @property
    @abstractmethod
    def spec(self) -> GraphSpec:
        """The fields of this domain's graphs."""

    @abstractmethod
    def to_graph(self, obj: Any) -> Data:
        """Convert a domain object to a graph carrying every field of :attr:`spec`."""

    @abstractmethod
    def from_graph(self, data: Data) -> Any:
        """Convert a graph (one, not a batch) back to a domain object, exactly."""

    def read(self, path: str | Path, *, strict: bool = False, skipped: list[dict[str, str]] | None = None,
             **options: Any) -> Iterator[Record]:
        """Yield :class:`Record` items (``id``, ``obj``, ``props``) from ``path``.

        A bad row is skipped and appended to ``skipped`` as ``{"where": "file.csv row 17",
        "reason": "..."}`` (and warned about when ``skipped`` is ``None``); with ``strict=True``
        the first bad row raises :class:`DataError` naming the row instead. Nothing is dropped
        silently.

        A reader may declare a keyword ``validate: bool = True``: when it does, ``graphdiff
        evaluate`` (:func:`graphdiff.evaluate`) reads generated items with ``validate=False``, so
        that items the domain's checks would reject (overlapping atoms, say) are scored as
        invalid rather than skipped. A reader without it is called without it.
        """
        raise DataError(
            f"domain {self.name!r} cannot read {str(path)!r}: it has no reader"
            + (f" (it reads {', '.join(self.read_suffixes)})" if self.read_suffixes else "")
        )

    def record_to_graph(self, record: Record | dict[str, Any]) -> Data:
        """Convert a read record to a graph carrying its properties as ``float [1]`` attributes."""
        import torch

        data = self.to_graph(record["obj"])
        for key, value in (record.get("props") or {}).items():
            setattr(data, key, torch.tensor([float(value)], dtype=torch.float32))
        if record.get("id") is not None:
            data.item_id = str(record["id"])
        return data

    def input_graph(self, item: Any, task: str | None = None, **options: Any) -> Data:
        """The template graph of one input of a conditional task (``Model.complete``,
        ``graphdiff sample --input``): a graph carrying at least the fields the task gives.

        ``item`` is what a user of the domain naturally has: a domain object, a :class:`Record`
        (from :meth:`read_inputs`), or a ready graph (``Data``, returned as it is). Domains
        override this to accept more (crystals: a formula string or a pymatgen ``Composition``,
        giving only the atom types). ``options`` are the domain's own (crystals:
        ``formula_units``); an unknown one raises :class:`DataError`.

        Raises
        ------
        DataError
            Naming what is wrong with the item (the caller adds which item it was).
        """
        if options:
            raise DataError(f"domain {self.name!r} takes no input options (got {sorted(options)})")
        if isinstance(item, Data):
            return item
        if isinstance(item, dict) and "obj" in item:
            return self.record_to_graph(item)
        return self.to_graph(item)

    def read_inputs(self, path: str | Path, *, strict: bool = False,
                    skipped: list[dict[str, str]] | None = None, **options: Any) -> Iterator[Record]:
        """Records of the inputs of a conditional task from a file (``graphdiff sample --input``).

        Default: :meth:`read`. Domains override it to read inputs that are not whole objects
        (crystals: a text file of formulas, or a CSV with a ``formula`` column and no CIFs);
        each record's ``obj`` is then whatever :meth:`input_graph` accepts."""
        return self.read(path, strict=strict, skipped=skipped, **options)

    def write(self, objs: list[Any], path: str | Path, *, append: bool = False,
              ids: list[str] | None = None, extra: list[dict[str, Any]] | None = None,
              **options: Any) -> None:
        """Write domain objects to ``path`` in the format its suffix names.

        ``append=True`` adds to a file an earlier call wrote (generation streams in chunks);
        ``ids`` names each object (e.g. the ``material_id`` column); ``extra`` holds per-object
        values to store beside it (columns, info fields) where the format allows.

        Generated candidates (several answers per input item) carry their input's id in ``ids``
        and, in ``extra``, ``candidate_id`` (``"{id}-{rank}"``, unique), ``rank`` (0 first) and
        possibly ``share`` (:func:`graphdiff.outputs.candidate_values`). A table (CSV, extxyz)
        keeps ``ids`` as its id column, so that candidates group by input, and stores the others
        as columns; a format that names each object once (a CIF data block, a POSCAR comment)
        names it by ``candidate_id``.
        """
        raise DataError(f"domain {self.name!r} cannot write {str(path)!r}: it has no writer")

    def file_stem(self, obj: Any, item_id: str, rank: int | None = None) -> str:
        """The name (without suffix) of the file ``obj`` gets in a folder output (``graphdiff
        sample --out DIR/``, ``graphdiff convert IN DIR/``): ``item_id``, or ``"{item_id}-{rank}"``
        for a candidate. ``item_id`` is the input's id, or the zero-padded index of a de novo
        item (``"00007"``). Domains override it to say more (crystals:
        ``"{id}_{reduced formula}_{rank}"``); characters unfit for a file name become ``_``."""
        return item_id if rank is None else f"{item_id}-{rank}"

    def describe(self, objs: list[Any]) -> list[dict[str, Any]] | None:
        """Per-object quality values stored beside generated objects (``graphdiff sample``
        writes them where the output format allows, e.g. an extxyz info line or CSV columns).

        Returns one dict of scalars per object, or ``None`` (the default) for nothing. A domain
        describes what a user checks first in a generated item (molecules: EDM stability,
        validity and SMILES).
        """
        return None

    #: names of the domains whose objects :meth:`convert_from` turns into this domain's (used by
    #: ``graphdiff convert`` when the domain that reads a file cannot write the output format)
    converts_from: tuple[str, ...] = ()

    def holds_items(self, path: str | Path) -> bool:
        """Whether the file ``path``, of one of :attr:`read_suffixes`, holds this domain's items,
        judged from its content where one suffix serves several domains (an ASE ``.db`` holds
        crystals or molecules); ``graphdiff convert`` asks when more than one domain reads a
        file's suffix. Default: ``True`` (the suffix decides)."""
        return True

    def convert_from(self, obj: Any, source: str) -> Any:
        """An object of this domain made from ``obj``, an object of the domain named ``source``
        (one of :attr:`converts_from`), e.g. a molecule from a crystal structure holding it.
        Raises :class:`DataError` when ``obj`` cannot be converted. Default: no conversion."""
        raise DataError(f"domain {self.name!r} does not convert objects of domain {source!r}"
                        + (f" (it converts {', '.join(self.converts_from)})" if self.converts_from else ""))

    def equal(self, a: Any, b: Any) -> bool:
        """Whether two domain objects are the same (used by round-trip checks)."""
        return bool(a == b)

    def equivalent(self, a: Any, b: Any) -> bool:
        """Whether two generated objects are the same answer up to the domain's symmetries (used to
        keep the K candidates of one input distinct). Default: :meth:`equal`; domains override it
        (crystals: ``StructureMatcher``; graphs: isomorphism)."""
        return self.equal(a, b)

    def distance(self, a: Any, b: Any) -> float | None:
        """How far apart two :meth:`equivalent` objects are (``None``: not comparable). Used to
        represent a class of equivalent draws by its medoid (:mod:`graphdiff.candidates`).
        Default: the domain knows no distance and a class is represented by its first draw."""
        return None

    def valid(self, obj: Any) -> bool:
        """Whether a generated object is physically / structurally valid (ranks candidates).
        Default: every object is."""
        return True

    def target_range(self, target: Any, meta: dict[str, Any]) -> tuple[float, float, str] | None:
        """``(low, high, where)``: the range of registered ``target`` over the training data of
        a model whose checkpoint metadata is ``meta`` (``where`` says what the range was computed
        over), or ``None`` when the domain cannot tell. A request beyond it is warned about
        before sampling (:func:`graphdiff.runner.warn_outside_training_range`). Default: the
        range :meth:`training_ranges` recorded in ``meta["target_ranges"]`` at training time,
        else ``None``."""
        found = (meta.get("target_ranges") or {}).get(getattr(target, "name", None))
        if not found:
            return None
        low, high, count = found
        return float(low), float(high), f"over the {int(count)} graphs the model was trained on"

    def training_ranges(self, graphs: Sequence[Data]) -> dict[str, list[float]]:
        """``{target name: [min, max, count]}`` over training graphs, for the domain's targets
        cheap enough to score every training item (``graphdiff train`` stores it in the
        checkpoint's metadata as ``target_ranges``; :meth:`target_range` reads it). Default:
        nothing."""
        return {}

    #: whether :meth:`relax` is implemented (``graphdiff sample --relax`` checks it before sampling)
    relaxes: bool = False

    def relax(self, objs: list[Any], *, fmax: float = 0.1, steps: int = 500, batch_size: int = 16,
              progress: bool = True) -> list[dict[str, Any]]:
        """Relax generated objects to a nearby energy minimum (``graphdiff sample --relax``,
        ``Model.sample(relax=True)``); domains that can set :attr:`relaxes` and override it
        (crystals: CHGNet, FIRE on positions and cell).

        Parameters
        ----------
        objs:
            Domain objects, as :meth:`from_graph` returns them.
        fmax:
            Converged when every force (and the cell's stress term) is below this, in the
            domain's units (crystals: eV/Å).
        steps:
            Most optimiser steps per object.
        batch_size:
            Objects relaxed together.
        progress:
            A bar on stderr.

        Returns
        -------
        list of dict
            One per object, in order: ``obj`` (the relaxed object, ``None`` when it failed),
            ``energy_per_atom`` (or ``None``), ``displacement_rms`` and ``displacement_max``
            (how far atoms moved; ``None`` when not applicable), ``steps``, ``converged`` and
            ``error`` (why it failed, else ``None``). A failure on one object never stops the
            others.
        """
        raise ConfigError(f"domain {self.name!r} cannot relax its objects (no relax method)")

    def __repr__(self) -> str:
        return f"<Domain {self.name} v{self.version}>"
