"""Domain-free graph files: JSON lines of fields (``.jsonl``) and torch lists (``.pt``).

Every domain can be written this way; domain formats (CIF, XYZ, GraphML...) go through
``domain.write``. :class:`GraphSink` streams chunks to either without holding them all, or to a
folder with one file per graph in the domain's single-graph format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.errors import DataError
from graphdiff.graph import GraphSpec, Level

__all__ = ["graph_to_json", "graph_from_json", "GraphSink", "is_folder_target", "single_file_suffix"]


def graph_to_json(data: Data, spec: GraphSpec) -> dict[str, Any]:
    """A JSON-ready dict of one graph's fields, properties and edges."""
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
            elif f.level is Level.NODE and f.kind.value != "categorical":
                value = value.view(-1, f.dim)
            setattr(data, f.name, value)
    if "edge_index" in obj:
        data.edge_index = torch.tensor(obj["edge_index"], dtype=torch.long).view(2, -1)
    for key, value in obj.get("props", {}).items():
        setattr(data, key, torch.tensor([value], dtype=torch.float32))
    return data


def is_folder_target(path: str | Path) -> bool:
    """Whether an output path names a folder: it ends in ``/`` (or the OS separator) or is an
    existing directory. Pass the path as the user typed it: ``Path`` drops a trailing ``/``."""
    text = os.fspath(path)
    return text.endswith(tuple(s for s in ("/", os.sep, os.altsep) if s)) or Path(text).is_dir()


def single_file_suffix(domain: Any) -> str:
    """The suffix of the file one graph of ``domain`` is written to in a folder output.

    The domain's :attr:`~graphdiff.domain.Domain.single_file_suffix` when it declares one (it
    must be one of its ``write_suffixes``); else the first of its ``write_suffixes`` that is a
    file suffix; else ``".jsonl"`` (graphdiff's domain-free JSON, for a domain without writers).

    Raises
    ------
    DataError
        When the declared suffix is not a file suffix the domain writes.
    """
    writes = tuple(getattr(domain, "write_suffixes", ()) or ())
    declared = getattr(domain, "single_file_suffix", None)
    name = getattr(domain, "name", type(domain).__name__)
    if declared is not None:
        if not (isinstance(declared, str) and declared.startswith(".")
                and declared.lower() in {w.lower() for w in writes}):
            raise DataError(f"domain {name!r}: single_file_suffix {declared!r} is not a file suffix it "
                            f"writes ({', '.join(writes) or 'it writes none'})")
        return declared
    for suffix in writes:
        if suffix.startswith("."):
            return suffix
    return ".jsonl"


class GraphSink:
    """Write generated graphs chunk by chunk to ``path``.

    ``.jsonl`` -> one graph per line (domain-free); ``.pt`` -> a list of graphs (gathered,
    for small outputs); any other suffix -> ``domain.write(objects, path, append=...)``, chunk
    by chunk when the domain's writer takes ``append``/``ids``/``extra``; otherwise the objects
    are held and written once by :meth:`close`.

    A folder (``path`` ends in ``/`` or is an existing directory, see :func:`is_folder_target`)
    gets one file per graph, ``<index:05d><suffix>`` with the domain's natural single-graph
    format (:func:`single_file_suffix`: GraphML for graph domains, CIF for crystals...), each
    written by ``domain.write([obj], file)`` as soon as its chunk arrives. ``start`` is the index
    of the first graph (a torchrun rank's offset, so that ranks share one folder). Existing files
    are never overwritten: a folder holding a file of the same name raises :class:`DataError`.
    Ids and per-graph values (``extra``) go to the writer when it takes them; the names of those
    it could not take are collected in :attr:`unstored`. ``describe=True`` adds the domain's
    per-item description (:meth:`~graphdiff.domain.Domain.describe`, e.g. a molecule's
    stability and SMILES) to ``extra`` in the domain's own formats (not ``.jsonl``/``.pt``).
    """

    def __init__(self, path: str | Path, domain: Any, *, start: int = 0, describe: bool = False) -> None:
        self.domain = domain
        self.describe = describe
        self.count = 0
        self.start = int(start)
        self.unstored: set[str] = set()
        self._pt: list[Data] = []
        self._held: list[tuple[Any, str | None, dict[str, Any] | None]] = []
        if is_folder_target(path):
            self._init_folder(Path(path))
            return
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.mode = "jsonl" if suffix == ".jsonl" and ".jsonl" not in domain.write_suffixes else (
            "pt" if suffix == ".pt" else "domain")
        if self.mode == "domain" and suffix not in domain.write_suffixes:
            raise DataError(f"{path}: domain {domain.name!r} writes "
                            f"{', '.join(domain.write_suffixes) or 'no formats'}; graphdiff itself "
                            "writes .jsonl and .pt"
                            + ("; end the path with '/' to write one file per graph into a folder"
                               if not suffix else ""))
        if self.path.parent:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _init_folder(self, folder: Path) -> None:
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder}: exists and is not a folder")
        self.path = folder
        self.mode = "folder"
        self.suffix = single_file_suffix(self.domain)
        self._free = self.suffix == ".jsonl" and ".jsonl" not in self.domain.write_suffixes
        first = self.file_for(self.start)
        if first.exists():
            raise DataError(f"{first}: already exists; write generated graphs to an empty folder "
                            "(files are never overwritten)")
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def next_index(self) -> int:
        """The index of the next graph written (``start + count``)."""
        return self.start + self.count

    def file_for(self, index: int) -> Path:
        """The file graph ``index`` gets in folder mode."""
        return self.path / f"{index:05d}{self.suffix}"

    def _described(self, objs: list[Any], extra: Sequence[dict[str, Any]] | None
                   ) -> Sequence[dict[str, Any]] | None:
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
        return [{**d, **(extra[k] if extra is not None and extra[k] else {})} for k, d in enumerate(desc)]

    def write(self, graphs: Sequence[Data], ids: Sequence[str] | None = None,
              extra: Sequence[dict[str, Any]] | None = None, objs: Sequence[Any] | None = None) -> None:
        """Append ``graphs``; ``objs``, when given, are their domain objects already converted
        (``domain.from_graph``), so that a caller who needed them does not convert twice."""
        if objs is not None and len(objs) != len(graphs):
            raise ValueError(f"{len(objs)} objects for {len(graphs)} graphs")
        if self.mode == "folder":
            self._write_files(graphs, ids, extra, objs)
        elif self.mode == "jsonl":
            with self.path.open("a" if self.count else "w", encoding="utf-8") as fh:
                for k, g in enumerate(graphs):
                    fh.write(json.dumps(self._json_record(g, ids, extra, k)) + "\n")
        elif self.mode == "pt":
            self._pt.extend(graphs)
        else:
            objs = list(objs) if objs is not None else [self.domain.from_graph(g) for g in graphs]
            extra = self._described(objs, extra)
            if self._streams():
                self.domain.write(objs, self.path, append=self.count > 0, ids=ids, extra=extra)
            else:  # a writer that cannot append: hold the objects and write once at close
                self._held.extend(zip(objs, ids or [None] * len(objs), extra or [None] * len(objs)))
        self.count += len(graphs)

    def _json_record(self, graph: Data, ids: Sequence[str] | None,
                     extra: Sequence[dict[str, Any]] | None, k: int) -> dict[str, Any]:
        rec = graph_to_json(graph, self.domain.spec)
        if ids is not None:
            rec["id"] = ids[k]
        if extra is not None:
            rec.update(extra[k])
        return rec

    def _write_files(self, graphs: Sequence[Data], ids: Sequence[str] | None,
                     extra: Sequence[dict[str, Any]] | None, objs: Sequence[Any] | None = None) -> None:
        takes = self._takes() if not self._free else {"ids", "extra"}
        if self._free:
            objs = None
        elif objs is None:
            objs = [self.domain.from_graph(g) for g in graphs]
        if objs is not None:
            extra = self._described(objs, extra)
        for k, g in enumerate(graphs):
            index = self.next_index + k
            target = self.file_for(index)
            if target.exists():
                raise DataError(f"{target}: already exists; write generated graphs to an empty "
                                "folder (files are never overwritten)")
            if self._free:
                target.write_text(json.dumps(self._json_record(g, ids, extra, k)) + "\n", encoding="utf-8")
                continue
            kwargs: dict[str, Any] = {}
            if ids is not None:
                if "ids" in takes:
                    kwargs["ids"] = [ids[k]]
                elif str(ids[k]) != str(index):
                    self.unstored.add("id")
            if extra is not None and extra[k]:
                if "extra" in takes:
                    kwargs["extra"] = [extra[k]]
                else:
                    self.unstored.update(extra[k])
            self.domain.write([objs[k]], target, **kwargs)

    def _takes(self) -> set[str]:
        """Which of ``append``, ``ids`` and ``extra`` the domain's writer takes."""
        import inspect

        params = inspect.signature(self.domain.write).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return {"append", "ids", "extra"}
        return {"append", "ids", "extra"} & set(params)

    def _streams(self) -> bool:
        """Whether the domain's writer takes ``append``, ``ids`` and ``extra``."""
        return self._takes() == {"append", "ids", "extra"}

    def close(self) -> None:
        if self.mode == "pt":
            torch.save(self._pt, self.path)
        elif self._held:
            takes = self._takes()
            kwargs: dict[str, Any] = {}
            ids = [i for _, i, _ in self._held]
            extra = [e for _, _, e in self._held]
            if any(i is not None for i in ids):
                if "ids" in takes:
                    kwargs["ids"] = ids
                else:
                    self.unstored.add("id")
            if any(extra):
                if "extra" in takes:
                    kwargs["extra"] = [e or {} for e in extra]
                else:
                    self.unstored.update(k for e in extra if e for k in e)
            self.domain.write([o for o, _, _ in self._held], self.path, **kwargs)
            self._held = []
