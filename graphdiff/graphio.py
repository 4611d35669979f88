"""Domain-free graph files: JSON lines of fields (``.jsonl``) and torch lists (``.pt``).

Every domain can be written this way; domain formats (CIF, XYZ, GraphML...) go through
``domain.write``. :class:`GraphSink` streams chunks to either without holding them all, or to a
folder with one file per graph; it names candidates, skips graphs that cannot be converted and
reports them (naming, folders and skip reports: :mod:`graphdiff.outputs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.db_format import tag_value, untag_value
from graphdiff.errors import DataError, GraphdiffError
from graphdiff.graph import GraphSpec, Level
from graphdiff.outputs import (FolderWriter, SkipReport, candidate_values, folder_suffix, single_file_suffix,
                               skip_report_path, writer_takes)

__all__ = ["graph_to_json", "graph_from_json", "GraphSink", "is_folder_target", "single_file_suffix"]


def graph_to_json(data: Data, spec: GraphSpec) -> dict[str, Any]:
    """A JSON-ready dict of one graph's fields, properties and edges, and under ``"values"`` its
    plain attributes (a social graph's ``node_labels``), tagged so that tuples stay tuples
    (:func:`graphdiff.db_format.tag_value`)."""
    out: dict[str, Any] = {"num_nodes": int(data.num_nodes), "fields": {}, "props": {}}
    for f in spec.fields:
        value = getattr(data, f.name, None)
        if value is not None:
            out["fields"][f.name] = value.tolist()
            if value.dtype == torch.float64:
                out.setdefault("dtypes", {})[f.name] = "float64"
    if spec.edge_field is not None and getattr(data, "edge_index", None) is not None:
        out["edge_index"] = data.edge_index.tolist()
    for key in data.keys():
        value = getattr(data, key)
        if key not in out["fields"] and key not in ("edge_index", "num_nodes", "batch", "ptr") \
                and isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
            out["props"][key] = float(value)
        elif key not in ("item_id", "num_nodes") and not isinstance(value, torch.Tensor):
            out.setdefault("values", {})[key] = tag_value(value, f"attribute {key!r}")
    return out


def graph_from_json(obj: dict[str, Any], spec: GraphSpec) -> Data:
    data = Data(num_nodes=int(obj["num_nodes"]))
    for f in spec.fields:
        if f.name in obj["fields"]:
            float_type = torch.float64 if obj.get("dtypes", {}).get(f.name) == "float64" else torch.float32
            dtype = torch.long if f.kind.value == "categorical" else float_type
            value = torch.tensor(obj["fields"][f.name], dtype=dtype)
            if f.level is Level.GRAPH and f.kind.value != "categorical":
                value = value.view(1, f.dim)
            elif f.level in (Level.NODE, Level.EDGE) and f.kind.value != "categorical":
                value = value.view(-1, f.dim)  # node values [n, dim]; edge values [E, dim]
            setattr(data, f.name, value)
    if "edge_index" in obj:
        data.edge_index = torch.tensor(obj["edge_index"], dtype=torch.long).view(2, -1)
    for key, value in obj.get("props", {}).items():
        setattr(data, key, torch.tensor([value], dtype=torch.float32))
    for key, value in obj.get("values", {}).items():
        setattr(data, key, untag_value(value))
    return data


def is_folder_target(path: str | Path) -> bool:
    """Whether an output path names a folder: it ends in ``/`` (or the OS separator) or is an
    existing directory. Pass the path as the user typed it: ``Path`` drops a trailing ``/``."""
    text = os.fspath(path)
    return text.endswith(tuple(s for s in ("/", os.sep, os.altsep) if s)) or Path(text).is_dir()



class GraphSink:
    """Write generated graphs chunk by chunk to ``path``.

    ``.jsonl`` -> one graph per line (domain-free); ``.pt`` -> a list of graphs (gathered,
    for small outputs); any other suffix -> ``domain.write(objects, path, append=...)``, chunk
    by chunk when the domain's writer takes ``append``/``ids``/``extra``; otherwise the objects
    are held and written once by :meth:`close`.

    A folder (``path`` ends in ``/`` or is an existing directory, see :func:`is_folder_target`;
    or a name without a suffix when ``format`` is given) gets one file per graph
    (:class:`graphdiff.outputs.FolderWriter`), in the format ``format`` names or else the
    domain's natural single-graph format (:func:`single_file_suffix`: GraphML for graph domains,
    CIF for crystals...), each written by ``domain.write([obj], file)`` as soon as its chunk
    arrives. Files are named by the domain from the item's id (and rank):
    ``mp-1_SrTiO3_0.cif`` for a crystal candidate, ``ref-3.graphml``; an id equal to the graph's
    index (de novo items) is zero-padded, ``00007.graphml``. ``start`` is the index of the first
    graph (a torchrun rank's offset, so that ranks share one folder).

    Candidates: an item whose ``extra`` holds a rank (``"sample"``) is a candidate of the input
    whose id it carries; it gets ``candidate_id = "{id}-{rank}"`` and the values ``rank`` (and
    ``share``) instead of ``sample`` (:func:`graphdiff.outputs.candidate_values`). The id stays
    the writer's id (a CSV's ``material_id``, so that candidates group by input); the candidate id
    names the item where a format names each item once (a CIF data block, a file).

    Graphs that cannot be converted (``domain.from_graph`` raises, whatever the exception; in a
    folder also a writer's :class:`~graphdiff.errors.GraphdiffError`) are skipped and counted in
    :attr:`skipped` with their index, id and reason; :meth:`close` writes them to
    :attr:`skip_report` (``<out>.skipped.json`` beside the output) and :meth:`skip_summary`
    gives the line to print. With ``strict=True`` the first one raises
    :class:`~graphdiff.errors.DataError` instead. ``.jsonl`` and ``.pt`` outputs store the graphs
    themselves and skip nothing.

    Ids and per-graph values (``extra``) go to the writer when it takes them; the names of those
    it could not take are collected in :attr:`unstored`. ``describe=True`` adds the domain's
    per-item description (:meth:`~graphdiff.domain.Domain.describe`, e.g. a molecule's
    stability and SMILES) to ``extra`` in the domain's own formats (not ``.jsonl``/``.pt``).

    Parameters
    ----------
    path:
        The output file or folder, as the user typed it (a trailing ``/`` makes a folder).
    domain:
        The domain of the graphs.
    start:
        Index of the first graph.
    describe:
        Store the domain's per-item description beside each item.
    format:
        Per-file format of a folder output (``"cif"``, ``"poscar"``, ``"extxyz"``, ``"json"``...,
        :func:`graphdiff.outputs.folder_suffix`); for a file it must agree with the suffix.
    overwrite:
        Write into a folder that already holds files (files of the same name are replaced);
        without it such a folder raises :class:`~graphdiff.errors.DataError`.
    strict:
        Raise on the first graph that cannot be converted instead of skipping it.
    shared:
        Several writers (torchrun ranks) share the folder: files already in it are allowed and
        each writes its own skip report. ``None`` (default): when ``WORLD_SIZE`` > 1.

    Attributes
    ----------
    count:
        Graphs given to :meth:`write` so far, skipped ones included (ids and indices follow it).
    written:
        Graphs written.
    skipped:
        ``[{"index", "id", "reason"}, ...]`` of the graphs not written.
    """

    def __init__(self, path: str | Path, domain: Any, *, start: int = 0, describe: bool = False,
                 format: str | None = None, overwrite: bool = False, strict: bool = False,
                 shared: bool | None = None) -> None:
        self.domain = domain
        self.describe = describe
        self.strict = bool(strict)
        self.overwrite = bool(overwrite)
        self.shared = (int(os.environ.get("WORLD_SIZE", "1") or 1) > 1) if shared is None else bool(shared)
        self.count = 0
        self.written = 0
        self.start = int(start)
        self.skip_report: Path | None = None
        self._skips = SkipReport()
        self._unstored: set[str] = set()
        self._folder: FolderWriter | None = None
        self._pt: list[Data] = []
        self._held: list[tuple[Any, str | None, dict[str, Any] | None]] = []
        self._closed = False
        text = os.fspath(path)
        if is_folder_target(text) or (format is not None and not Path(text).suffix
                                      and not Path(text).is_file()):
            self._init_folder(Path(text), format)
            return
        self.path = Path(text)
        self.suffix = self.path.suffix
        suffix = self.path.suffix.lower()
        if format is not None and folder_suffix(domain, format).lower() != suffix:
            raise DataError(f"{path}: format {format!r} writes {folder_suffix(domain, format)} files, "
                            f"not {suffix or 'a name without a suffix'}; the format chooses the files of "
                            "a folder output: end the path with '/'")
        self.mode = "jsonl" if suffix == ".jsonl" and ".jsonl" not in domain.write_suffixes else (
            "pt" if suffix == ".pt" else "domain")
        if self.mode == "domain" and suffix not in domain.write_suffixes:
            raise DataError(f"{path}: domain {domain.name!r} writes "
                            f"{', '.join(domain.write_suffixes) or 'no formats'}; graphdiff itself "
                            "writes .jsonl and .pt"
                            + ("; end the path with '/' to write one file per graph into a folder"
                               if not suffix else ""))
        self._report_at = skip_report_path(self.path, folder=False)
        if self.path.parent:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _init_folder(self, folder: Path, fmt: str | None) -> None:
        self.path = folder
        self.mode = "folder"
        self._folder = FolderWriter(folder, self.domain, fmt=fmt, overwrite=self.overwrite, shared=self.shared)
        self.suffix = self._folder.suffix
        self._free = self._folder.domain_free
        self._report_at = skip_report_path(folder, folder=True, start=self.start if self.shared else None)

    # ------------------------------------------------------------------ what was written
    @property
    def next_index(self) -> int:
        """The index of the next graph written (``start + count``)."""
        return self.start + self.count

    @property
    def unstored(self) -> set[str]:
        """Names of per-graph values (and ``id``) the domain's writer could not store."""
        return self._folder.unstored if self._folder is not None else self._unstored

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """``{"index", "id", "reason"}`` of each graph that could not be converted or written."""
        return self._skips.items

    @property
    def files(self) -> list[Path]:
        """The files written: a folder's, in index order; else the output file once written."""
        if self._folder is not None:
            return [self._folder.files[i] for i in sorted(self._folder.files)]
        return [self.path] if self.written or self.mode == "pt" and self._closed else []

    def file_for(self, index: int) -> Path:
        """The file graph ``index`` went to in folder mode (for an index not written: the name
        it would have had without an id, ``<index:05d><suffix>``)."""
        if self._folder is not None and index in self._folder.files:
            return self._folder.files[index]
        return self.path / f"{index:05d}{self.suffix}"

    def skip_summary(self) -> str | None:
        """One line for the user, ``"skipped 3 of 100 generated items that could not be
        converted: <first reasons>"``; ``None`` when nothing was skipped."""
        return self._skips.summary(self.count, report=self.skip_report)

    # ------------------------------------------------------------------ writing
    def write(self, graphs: Sequence[Data], ids: Sequence[str] | None = None,
              extra: Sequence[dict[str, Any]] | None = None, objs: Sequence[Any] | None = None) -> None:
        """Append ``graphs``; ``ids`` and ``extra`` hold one id and one dict of values per graph;
        ``objs``, when given, are their domain objects already converted
        (``domain.from_graph``; an entry ``None`` is converted here), so that a caller who
        needed them does not convert twice."""
        n = len(graphs)
        for what, seq in (("ids", ids), ("extra dicts", extra), ("objects", objs)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{len(seq)} {what} for {n} graphs")
        item_ids = [None if ids is None else str(ids[k]) for k in range(n)]
        values = [candidate_values(item_ids[k], extra[k] if extra is not None else None) for k in range(n)]
        base = self.next_index
        if self.mode == "jsonl":
            with self.path.open("a" if self.count else "w", encoding="utf-8") as fh:
                for k, g in enumerate(graphs):
                    fh.write(json.dumps(self._json_record(g, item_ids[k], values[k])) + "\n")
            self.written += n
        elif self.mode == "pt":
            self._pt.extend(graphs)
            self.written += n
        elif self.mode == "folder" and self._free:
            for k, g in enumerate(graphs):
                path = self._folder.reserve(base + k, item_ids[k], values[k])
                path.write_text(json.dumps(self._json_record(g, item_ids[k], values[k])) + "\n",
                                encoding="utf-8")
            self.written += n
        else:
            kept = self._convert(graphs, objs, item_ids, values, base)
            self._write_objects(kept, item_ids, values, base, ids is not None, extra is not None)
        self.count += n

    def _convert(self, graphs: Sequence[Data], objs: Sequence[Any] | None, item_ids: list[str | None],
                 values: list[dict[str, Any]], base: int) -> list[tuple[int, Any]]:
        """``(k, object)`` for each graph that converts; the others are skipped (or raise)."""
        kept = []
        for k, g in enumerate(graphs):
            obj = objs[k] if objs is not None else None
            if obj is None:
                try:
                    obj = self.domain.from_graph(g)
                    if obj is None:
                        raise DataError("from_graph returned None")
                except Exception as exc:  # noqa: BLE001 - any failure skips this one graph
                    self._skip(base + k, item_ids[k], values[k], "cannot be converted", exc)
                    continue
            kept.append((k, obj))
        return kept

    def _skip(self, index: int, item_id: str | None, values: dict[str, Any], what: str,
              exc: BaseException) -> None:
        reason = str(exc) if isinstance(exc, GraphdiffError) else f"{type(exc).__name__}: {exc}"
        name = values.get("candidate_id", item_id)
        if self.strict:
            raise DataError(f"generated item {index}" + (f" (id {name})" if name is not None else "")
                            + f" {what} to a {self.domain.name} object: {reason}") from exc
        self._skips.add(index, name, reason)

    def _write_objects(self, kept: list[tuple[int, Any]], item_ids: list[str | None],
                       values: list[dict[str, Any]], base: int, has_ids: bool, has_extra: bool) -> None:
        if not kept:
            return
        objs = [o for _, o in kept]
        vals = self._described(objs, [values[k] for k, _ in kept])
        if self.mode == "folder":
            for (k, obj), v in zip(kept, vals):
                path = self._folder.reserve(base + k, item_ids[k], v, obj)  # a name clash is an error
                try:
                    self._folder.write(base + k, obj, item_ids[k], v, path=path)
                except GraphdiffError as exc:
                    self._skip(base + k, item_ids[k], values[k], "cannot be written", exc)
                    continue
                self.written += 1
            return
        ids = [item_ids[k] for k, _ in kept] if has_ids else None
        extra = vals if (has_extra or any(vals)) else None
        if self._streams():
            self.domain.write(objs, self.path, append=self.written > 0, ids=ids, extra=extra)
        else:  # a writer that cannot append: hold the objects and write once at close
            self._held.extend(zip(objs, ids or [None] * len(objs), extra or [None] * len(objs)))
        self.written += len(objs)

    def _described(self, objs: list[Any], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``extra`` with the domain's per-item description (:meth:`Domain.describe`) added,
        when the sink was made with ``describe=True`` and the domain describes its objects."""
        if not self.describe:
            return extra
        desc = self.domain.describe(objs) if hasattr(self.domain, "describe") else None
        if not desc:
            return extra
        if len(desc) != len(objs):
            raise DataError(f"domain {self.domain.name!r}: describe() gave {len(desc)} rows for "
                            f"{len(objs)} objects")
        return [{**e, **d, **e} for d, e in zip(desc, extra)]

    def _json_record(self, graph: Data, item_id: str | None, values: dict[str, Any]) -> dict[str, Any]:
        rec = graph_to_json(graph, self.domain.spec)
        if item_id is not None:
            rec["id"] = item_id
        rec.update(values)
        return rec

    def _takes(self) -> set[str]:
        """Which of ``append``, ``ids`` and ``extra`` the domain's writer takes."""
        return writer_takes(self.domain.write)

    def _streams(self) -> bool:
        """Whether the domain's writer takes ``append``, ``ids`` and ``extra``."""
        return self._takes() == {"append", "ids", "extra"}

    def close(self) -> None:
        """Write what is held (``.pt``, a writer that cannot append) and the skip report."""
        if self._closed:
            return
        self._closed = True
        if self.mode == "pt":
            torch.save(self._pt, self.path)
        elif self._held:
            self._write_held()
        elif self.mode == "domain" and self.count and not self.written and self.path.is_file():
            self.path.unlink()  # every item was skipped: no output rather than an earlier run's
        if self._skips.items:
            self.skip_report = self._skips.write(self._report_at, output=self.path, total=self.count)
        elif self._report_at.is_file() and not self.shared:
            self._report_at.unlink()  # an earlier run's report does not describe this output

    def _write_held(self) -> None:
        takes = self._takes()
        kwargs: dict[str, Any] = {}
        ids = [i for _, i, _ in self._held]
        extra = [e for _, _, e in self._held]
        if any(i is not None for i in ids):
            if "ids" in takes:
                kwargs["ids"] = ids
            else:
                self._unstored.add("id")
        if any(extra):
            if "extra" in takes:
                kwargs["extra"] = [e or {} for e in extra]
            else:
                self._unstored.update(k for e in extra if e for k in e)
        self.domain.write([o for o, _, _ in self._held], self.path, **kwargs)
        self._held = []
