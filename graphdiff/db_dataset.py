"""A torch ``Dataset`` that streams graphs from a graph database (see :mod:`graphdiff.db`)."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.db import GraphDatabase

# ---------------------------------------------------------------------------- torch dataset
class DatabaseDataset(torch.utils.data.Dataset):
    """A map-style torch ``Dataset`` over a graph database, read from disk item by item.

    Each process (and each thread) opens its own read-only SQLite connection on first use, so
    the dataset can be created before ``fork`` (DataLoader workers) or pickled (``spawn``). The
    length is fixed when the dataset is made (:meth:`refresh` re-reads it). ``__getitems__``
    fetches a whole batch with one query, which torch's DataLoader uses; iterating streams.
    Every graph carries every property column of the database (``fill`` where it had none),
    so graphs from sources with different columns can share a batch.

    Parameters
    ----------
    path:
        The database file.
    domain:
        Optional domain (or name) the database must belong to.
    transform:
        Optional callable applied to each graph.
    fill:
        Value of a property a graph lacks (``float32 [1]``); ``None`` leaves it absent.
    """

    def __init__(self, path: str | Path, *, domain: Any = None, transform: Any = None,
                 fill: float | None = math.nan) -> None:
        self.path, self.transform, self.fill = Path(path), transform, fill
        with GraphDatabase.open(self.path, domain=domain) as db:
            self.spec, self.length, self.properties = db.spec, len(db), db.property_names()
        self._local = threading.local()

    def _finish(self, graph: Data) -> Data:
        if self.fill is not None:
            for name in self.properties:
                if name not in graph:
                    setattr(graph, name, torch.tensor([self.fill], dtype=torch.float32))
        return self.transform(graph) if self.transform else graph

    def _db(self) -> GraphDatabase:
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != pid:  # after fork the parent's connection is not ours
            self._local.db, self._local.pid = GraphDatabase.open(self.path), pid
        return self._local.db

    def refresh(self) -> int:
        """Re-read the number of graphs (after a writer appended) and return it."""
        db = self._db()
        self.length, self.properties = len(db), db.property_names()
        return self.length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Data:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} graphs")
        return self.__getitems__([index % self.length])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Data]:
        return [self._finish(g) for g in self._db().get_many(list(indices))]

    def __iter__(self) -> Iterator[Data]:
        return map(self._finish, self._db().iter_graphs(stop=self.length))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
