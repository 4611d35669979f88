"""Datasets: read a domain's source into validated graphs, split, and batch deterministically."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch_geometric.data import Batch, Data

from graphdiff.errors import DataError, GraphValidationError, skipped_summary

__all__ = ["read_graphs", "cache_dir", "is_dataset_uri", "source_fingerprint", "split_graphs", "split_indices",
           "IndexView", "statistics_sample", "BatchStream"]

DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


class IndexView:
    """A lazy view of some items of an indexable dataset (items are fetched when asked for)."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Data:
        return self.dataset[self.indices[i]]

    def __getitems__(self, idx: Sequence[int]) -> list[Data]:
        real = [self.indices[i] for i in idx]
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(real) if getitems is not None else [self.dataset[i] for i in real]

    def __iter__(self) -> Iterator[Data]:
        for i in range(len(self)):
            yield self[i]


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded ``(train, val)`` index lists; see :func:`split_graphs`."""
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return perm[n_val:], perm[:n_val]


def statistics_sample(graphs: Any, limit: int = 50_000, seed: int = 0) -> list[Data]:
    """All graphs, or a seeded random ``limit`` of them, for fitting data statistics."""
    n = len(graphs)
    if n <= limit:
        return list(graphs) if isinstance(graphs, list) else [graphs[i] for i in range(n)]
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].tolist()
    return [graphs[i] for i in idx]


def convert_record(domain: Any, record: Any, where: str, strict: bool,
                   report: list[dict[str, str]], spec: Any = None) -> Data | None:
    """``domain.record_to_graph`` + validation against ``spec`` (default: the domain's); a
    failure is reported (``None`` returned) or, with ``strict``, raised as :class:`DataError`
    naming ``where``."""
    try:
        graph = domain.record_to_graph(record)
        (spec or domain.spec).validate(graph, where=where)
    except (DataError, GraphValidationError, ValueError) as exc:
        if strict:
            raise DataError(f"{where}: {exc}") from None
        report.append({"where": where, "reason": str(exc)})
        return None
    return graph


def cache_dir() -> Path:
    """Where converted graph datasets are cached: ``$GRAPHDIFF_CACHE_DIR`` or
    ``~/.cache/graphdiff/graphs``."""
    root = os.environ.get("GRAPHDIFF_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "graphdiff" / "graphs"


def is_dataset_uri(source: str | Path) -> bool:
    """Whether ``source`` names a dataset a plugin ships (``qm9://train``) rather than a path:
    it holds ``://`` and is no existing file. (A ``Path`` collapses ``//``: pass URIs as ``str``.)"""
    return "://" in str(source) and not Path(source).exists()


def source_fingerprint(source: str | Path) -> str:
    """SHA-256 over the bytes of a file, or of every file under a folder (with relative paths).

    A URI naming a dataset a plugin ships (``qm9://train``) is keyed by the URI itself: its
    content changes only with the plugin's version, which the cache key also holds."""
    h = hashlib.sha256()
    if is_dataset_uri(source):
        h.update(b"uri:" + str(source).encode())
        return h.hexdigest()
    path = Path(source)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _cache_key(domain: Any, source: str | Path, strict: bool, max_items: int | None, options: dict) -> str:
    from graphdiff import __version__

    facts = {"domain": domain.name, "domain_version": domain.version, "graphdiff": __version__,
             "plugin": _plugin_version(domain), "source": source_fingerprint(source), "strict": strict,
             "max_items": max_items, "options": options}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _plugin_version(domain: Any) -> str:
    """Version of the distribution that ships the domain's class (a converter change ships as a
    new version), or '' when unknown."""
    from importlib import metadata

    top = type(domain).__module__.split(".")[0]
    try:
        names = metadata.packages_distributions().get(top, [])
        return ",".join(f"{n}=={metadata.version(n)}" for n in names)
    except Exception:  # metadata unavailable: the domain version still keys the cache
        return ""


def read_graphs(domain: Any, source: str | Path, *, strict: bool = False, max_items: int | None = None,
                skipped: list[dict[str, str]] | None = None, cache: bool = False, progress: bool = False,
                **options: Any) -> list[Data]:
    """Read ``source`` with ``domain.read`` and convert every record to a validated graph.

    Rows the reader rejects and records whose conversion or validation fails are appended to
    ``skipped`` as ``{"where", "reason"}`` (a warning summarises them when ``skipped`` is
    ``None``); ``strict=True`` raises :class:`~graphdiff.errors.DataError` on the first instead.

    ``cache=True`` stores the converted graphs (and the skip report) under :func:`cache_dir`,
    keyed by the source's bytes, the domain's name and version, the plugin's and graphdiff's
    versions and the read options: a changed source or converter misses the cache and is
    converted again. ``progress=True`` shows a progress bar while converting.
    """
    report: list[dict[str, str]] = [] if skipped is None else skipped
    path = None
    if cache:
        path = cache_dir() / f"{domain.name}-{_cache_key(domain, source, strict, max_items, options)}.pt"
        if path.exists():
            try:
                stored = torch.load(path, weights_only=False)
                report.extend(stored["skipped"])
                _warn_skipped(skipped, report, source)
                return stored["graphs"]
            except Exception as exc:  # an unreadable cache file is rebuilt, never trusted
                warnings.warn(f"ignoring unreadable graph cache {path}: {exc}", RuntimeWarning, stacklevel=2)
    graphs = _convert_all(domain, source, strict, max_items, report, progress, options)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"graphs": graphs, "skipped": list(report), "source": str(source)}, tmp)
        os.replace(tmp, path)
    _warn_skipped(skipped, report, source)
    return graphs


def _convert_all(domain: Any, source: str | Path, strict: bool, max_items: int | None,
                 report: list[dict[str, str]], progress: bool, options: dict) -> list[Data]:
    graphs: list[Data] = []
    records = domain.read(source, strict=strict, skipped=report, **options)
    if progress:
        from tqdm.auto import tqdm

        records = tqdm(records, desc=f"read {Path(source).name}", unit="item", dynamic_ncols=True)
    for k, record in enumerate(records):
        if max_items is not None and len(graphs) >= max_items:
            break
        where = f"{source} item {k}" + (f" (id {record.get('id')})" if record.get("id") is not None else "")
        graph = convert_record(domain, record, where, strict, report)
        if graph is not None:
            graphs.append(graph)
    if not graphs:
        raise DataError(f"{source}: no usable items" + (f" ({skipped_summary(report)})" if report else
                                                        " (the reader yielded none)"))
    return graphs


def _warn_skipped(skipped: list | None, report: list[dict[str, str]], source: str | Path) -> None:
    if skipped is None and report:
        shown = "; ".join(f"{r['where']}: {r['reason']}" for r in report[:5])
        more = f" (and {len(report) - 5} more)" if len(report) > 5 else ""
        warnings.warn(f"skipped {len(report)} item(s) of {source}: {shown}{more}", RuntimeWarning,
                      stacklevel=3)


def split_graphs(graphs: Sequence[Data], val_fraction: float, seed: int = 0) -> tuple[list[Data], list[Data]]:
    """A seeded random split into ``(train, val)``; ``val`` has ``round(val_fraction · n)`` items
    (at least one when ``val_fraction > 0`` and there are two or more graphs)."""
    train_idx, val_idx = split_indices(len(graphs), val_fraction, seed)
    return [graphs[i] for i in train_idx], [graphs[i] for i in val_idx]


class BatchStream:
    """Deterministic, resumable batches over an in-memory list of graphs.

    Epoch ``e`` visits the graphs in the order of ``randperm(n, seed + e)``; with
    ``world_size > 1`` each rank takes every ``world_size``-th graph of that order (and the
    order is padded so every rank sees the same number of batches). Position ``(epoch,
    batch)`` is derived from a global step, so a resumed run sees exactly the batches it would
    have seen.
    """

    def __init__(self, graphs: Sequence[Data], batch_size: int, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False) -> None:
        if len(graphs) == 0:
            raise DataError("no graphs to batch")
        # any indexable sequence works (a list, or a DatabaseDataset that streams from disk)
        self.graphs = graphs if hasattr(graphs, "__getitem__") else list(graphs)
        self.batch_size, self.seed, self.shuffle = int(batch_size), int(seed), shuffle
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        per_rank = -(-len(self.graphs) // world_size)
        self.per_rank = per_rank
        full, rest = divmod(per_rank, self.batch_size)
        self.batches_per_epoch = max(1, full if (drop_last and full) else full + (rest > 0))

    def _order(self, epoch: int) -> list[int]:
        n = len(self.graphs)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
        else:
            order = list(range(n))
        total = self.per_rank * self.world_size
        order = (order * (total // n + 1))[:total]
        return order[self.rank::self.world_size]

    def batch_at(self, step: int) -> Batch:
        """The batch a run sees at global step ``step`` (0-based)."""
        epoch, k = divmod(step, self.batches_per_epoch)
        order = self._order(epoch)
        idx = order[k * self.batch_size:(k + 1) * self.batch_size]
        getitems = getattr(self.graphs, "__getitems__", None)
        items = getitems(idx) if getitems is not None else [self.graphs[i] for i in idx]
        return Batch.from_data_list(items)

    def epoch(self, epoch: int = 0) -> Iterator[Batch]:
        for k in range(self.batches_per_epoch):
            yield self.batch_at(epoch * self.batches_per_epoch + k)

    def __len__(self) -> int:
        return self.batches_per_epoch
