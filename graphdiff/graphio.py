"""Domain-free graph files: JSON lines of fields (``.jsonl``) and torch lists (``.pt``).

Every domain can be written this way; domain formats (CIF, XYZ, GraphML...) go through
``domain.write``. :class:`GraphSink` streams chunks to either without holding them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.errors import DataError
from graphdiff.graph import GraphSpec, Level

__all__ = ["graph_to_json", "graph_from_json", "GraphSink"]


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


class GraphSink:
    """Write generated graphs chunk by chunk to ``path``.

    ``.jsonl`` -> one graph per line (domain-free); ``.pt`` -> a list of graphs (gathered,
    for small outputs); any other suffix -> ``domain.write(objects, path, append=...)``, chunk
    by chunk when the domain's writer takes ``append``/``ids``/``extra``; otherwise the objects
    are held and written once by :meth:`close`.
    """

    def __init__(self, path: str | Path, domain: Any) -> None:
        self.path = Path(path)
        self.domain = domain
        self.count = 0
        self._pt: list[Data] = []
        self._held: list[tuple[Any, str | None, dict[str, Any] | None]] = []
        suffix = self.path.suffix.lower()
        self.mode = "jsonl" if suffix == ".jsonl" and ".jsonl" not in domain.write_suffixes else (
            "pt" if suffix == ".pt" else "domain")
        if self.mode == "domain" and not (suffix in domain.write_suffixes or str(path).endswith("/")):
            raise DataError(f"{path}: domain {domain.name!r} writes "
                            f"{', '.join(domain.write_suffixes) or 'no formats'}; graphdiff itself "
                            "writes .jsonl and .pt")
        if self.path.parent:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, graphs: Sequence[Data], ids: Sequence[str] | None = None,
              extra: Sequence[dict[str, Any]] | None = None) -> None:
        if self.mode == "jsonl":
            with self.path.open("a" if self.count else "w", encoding="utf-8") as fh:
                for k, g in enumerate(graphs):
                    rec = graph_to_json(g, self.domain.spec)
                    if ids is not None:
                        rec["id"] = ids[k]
                    if extra is not None:
                        rec.update(extra[k])
                    fh.write(json.dumps(rec) + "\n")
        elif self.mode == "pt":
            self._pt.extend(graphs)
        else:
            objs = [self.domain.from_graph(g) for g in graphs]
            if self._streams():
                self.domain.write(objs, self.path, append=self.count > 0, ids=ids, extra=extra)
            else:  # a writer that cannot append: hold the objects and write once at close
                self._held.extend(zip(objs, ids or [None] * len(objs), extra or [None] * len(objs)))
        self.count += len(graphs)

    def _streams(self) -> bool:
        """Whether the domain's writer takes ``append``, ``ids`` and ``extra``."""
        import inspect

        params = inspect.signature(self.domain.write).parameters
        has_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        return has_kwargs or {"append", "ids", "extra"} <= set(params)

    def close(self) -> None:
        if self.mode == "pt":
            torch.save(self._pt, self.path)
        elif self._held:
            self.domain.write([o for o, _, _ in self._held], self.path)
            self._held = []
