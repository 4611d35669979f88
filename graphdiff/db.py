"""The on-disk graph database: one SQLite file of validated graphs, built, appended and streamed.

A database holds the graphs of one domain (name and version fixed at creation) read from one or
more sources. It is a single SQLite file in WAL mode: any number of readers (threads, processes,
DataLoader workers) read while one writer appends.

=========== =================================================================================
table       columns
=========== =================================================================================
``meta``    ``key, value`` (text): ``format``, ``format_version``, ``domain``,
            ``domain_version``, ``spec`` (GraphSpec JSON), ``created``, ``updated``,
            ``graphdiff_version``, ``num_graphs``
``sources`` ``id, name`` (the resolved source path, or a label), ``started``, ``finished``,
            ``complete`` (whether a build read the whole source)
``graphs``  ``row`` (1-based, contiguous), ``item_id`` (text, unique per source), ``source``
            (id), ``num_nodes``, ``blob`` (tensors, see :func:`encode_tensors`; plain values
            such as node labels as one JSON entry, see :func:`encode_values`) and one ``REAL``
            column ``p_<name>`` per float property (``'nan'`` text for NaN, ``NULL``: absent)
``skipped`` ``source`` (id), ``location``, ``reason``: what a build skipped and why
=========== =================================================================================

Graph ``i`` (0-based) is the row ``i + 1``. Rows are never deleted, so indices are stable.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.errors import DataError, GraphdiffError
from graphdiff.graph import GraphSpec
from graphdiff.data import convert_record, is_dataset_uri
from graphdiff.db_format import VALUES_KEY, DatabaseError, decode_tensors, decode_values, encode_tensors, encode_values

__all__ = ["GraphDatabase", "DatabaseDataset", "DatabaseError", "BuildReport", "encode_tensors",
           "decode_tensors"]

FORMAT, FORMAT_VERSION = "graphdiff-graph-db", "1"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, started TEXT NOT NULL,
                      finished TEXT, complete INTEGER NOT NULL DEFAULT 0);
CREATE TABLE graphs (row INTEGER PRIMARY KEY, item_id TEXT NOT NULL, source INTEGER NOT NULL,
                     num_nodes INTEGER NOT NULL, blob BLOB NOT NULL, UNIQUE (source, item_id));
CREATE INDEX graphs_num_nodes ON graphs (num_nodes);
CREATE TABLE skipped (source INTEGER NOT NULL, location TEXT NOT NULL, reason TEXT NOT NULL,
                      UNIQUE (source, location, reason));
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------- serialisation
def _is_prop(key: str, value: Any, spec: GraphSpec) -> bool:
    return (isinstance(value, torch.Tensor) and value.dtype == torch.float32 and tuple(value.shape) == (1,)
            and key not in spec)


def _split(data: Data, spec: GraphSpec, where: str) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Tensors for the blob and float properties for the ``p_*`` columns of one graph.

    Plain attributes (a social graph's ``node_labels``, say) go into the blob as one JSON
    entry (:func:`~graphdiff.db_format.encode_values`); other objects raise :class:`DatabaseError`.
    """
    tensors, props, values = {}, {}, {}
    for key in data.keys():
        value = getattr(data, key)
        if key in ("num_nodes", "item_id"):
            continue
        if _is_prop(key, value, spec):
            if not key.isidentifier():
                raise DatabaseError(f"{where}: property name {key!r} is not an identifier")
            props[key] = float(value)
        elif isinstance(value, torch.Tensor):
            if key == VALUES_KEY:
                raise DatabaseError(f"{where}: attribute name {key!r} is reserved")
            tensors[key] = value
        else:
            values[key] = value
    if values:
        tensors[VALUES_KEY] = encode_values(values, where)
    return tensors, props


def _cell(value: float | None) -> float | str | None:
    """A property as stored: SQLite turns NaN into NULL, so NaN is kept as the text ``'nan'``."""
    return None if value is None else ("nan" if math.isnan(value) else value)


@dataclass
class BuildReport:
    """What :meth:`GraphDatabase.build` did with one source."""

    source: str
    read: int = 0        #: records the reader yielded (rows it rejected count in ``skipped`` only)
    stored: int = 0      #: graphs inserted by this run
    already: int = 0     #: graphs an earlier (interrupted) run had stored, left as they were
    skipped: int = 0     #: items reported to the ``skipped`` table by this run
    complete: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- database
class GraphDatabase:
    """A SQLite file of one domain's graphs. Use :meth:`create`, :meth:`open` or :meth:`build`.

    ``len(db)`` graphs; ``db[i]`` is graph ``i`` as ``Data`` (fields, other tensors and float
    properties as ``float32 [1]``; ``num_nodes`` set). Close it (or use ``with``) when done.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path, self._conn, self.readonly = path, conn, readonly
        self._meta = self._read_meta()
        self.spec = GraphSpec.from_dict(json.loads(self._meta["spec"]))

    # ------------------------------------------------------------------ opening
    @staticmethod
    def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
        """A connection in autocommit mode. Read-only ones use ``query_only`` where the file and
        folder are writable (so the last one to close removes the ``-wal``/``-shm`` files), else
        SQLite's ``mode=ro``."""
        writable = os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)
        uri = path.resolve().as_uri() + ("?mode=ro" if readonly and not writable else "")
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60.0)
        conn.execute("PRAGMA busy_timeout = 60000")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        return conn

    @classmethod
    def create(cls, path: str | Path, domain: Any, *, exist_ok: bool = False) -> "GraphDatabase":
        """Create an empty database for ``domain`` (anything with ``name``, ``version`` and ``spec``).

        With ``exist_ok``, an existing database is opened for writing instead (and must belong
        to the same domain name and version).
        """
        path = Path(path)
        if path.exists():
            if exist_ok:
                return cls.open(path, readonly=False, domain=domain)
            raise DatabaseError(f"{path}: already exists; open it, or build into it to resume or add a source")
        _check_parent(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path, readonly=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            now = _now()
            from graphdiff import __version__
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "domain": domain.name,
                    "domain_version": str(domain.version), "spec": json.dumps(domain.spec.to_dict()),
                    "created": now, "updated": now, "graphdiff_version": __version__,
                    "num_graphs": "0"}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            path.unlink(missing_ok=True)
            raise
        return cls(path, conn, readonly=False)

    @classmethod
    def open(cls, path: str | Path, readonly: bool = True, domain: Any = None) -> "GraphDatabase":
        """Open an existing database; with ``domain`` (a Domain or a name) check it matches.

        Raises
        ------
        DatabaseError
            When the file is missing, is not SQLite, is not a graphdiff database, or was built
            for another domain name or version.
        """
        path = Path(path)
        if not path.is_file():
            raise DatabaseError(f"{path}: no such database file")
        conn = cls._connect(path, readonly)
        try:
            db = cls(path, conn, readonly)
            if domain is not None:
                db.check_domain(domain)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseError(f"{path}: not a graphdiff database ({exc})") from None
        except BaseException:
            conn.close()
            raise
        return db

    def _read_meta(self) -> dict[str, str]:
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"{self.path}: not a graphdiff database (an SQLite file without its "
                                f"tables: {exc})") from None
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise DatabaseError(f"{self.path}: not a graphdiff database of format version {FORMAT_VERSION} "
                                f"(format {meta.get('format')!r}, version {meta.get('format_version')!r})")
        return meta

    def check_domain(self, domain: Any) -> None:
        """Raise :class:`DatabaseError` unless ``domain`` (a Domain or a name) is the stored one."""
        name = domain if isinstance(domain, str) else domain.name
        version = None if isinstance(domain, str) else str(domain.version)
        stored = (self._meta["domain"], self._meta["domain_version"])
        if name != stored[0] or (version is not None and version != stored[1]):
            given = f"{name!r}" + (f" version {version}" if version is not None else "")
            raise DatabaseError(f"{self.path}: built for domain {stored[0]!r} version {stored[1]}, not {given}; "
                                "rebuild the database with this domain")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "GraphDatabase":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<GraphDatabase {self.path} {self.domain} v{self.domain_version}: {len(self)} graphs>"

    @property
    def domain(self) -> str:
        return self._meta["domain"]

    @property
    def domain_version(self) -> str:
        return self._meta["domain_version"]

    def meta(self) -> dict[str, Any]:
        """The ``meta`` table, freshly read (``spec`` decoded)."""
        meta: dict[str, Any] = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        meta["spec"], meta["num_graphs"] = json.loads(meta["spec"]), int(meta["num_graphs"])
        return meta

    def sources(self) -> dict[str, dict[str, Any]]:
        """``name -> {"started", "finished", "complete", "graphs", "skipped"}`` per source."""
        rows = self._conn.execute(
            "SELECT name, started, finished, complete, (SELECT count(*) FROM graphs g WHERE g.source = s.id), "
            "(SELECT count(*) FROM skipped k WHERE k.source = s.id) FROM sources s ORDER BY id").fetchall()
        return {r[0]: {"started": r[1], "finished": r[2], "complete": bool(r[3]), "graphs": r[4], "skipped": r[5]}
                for r in rows}

    def _source_id(self, name: str, create: bool = False) -> int | None:
        if create:
            self._conn.execute("INSERT OR IGNORE INTO sources (name, started) VALUES (?, ?)", (name, _now()))
        row = self._conn.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = 'num_graphs'").fetchone()[0])

    def _rows(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[int, str, Data]]:
        """``(row, item_id, graph)`` of each row a ``SELECT * FROM graphs ...`` query returns.

        The rows are fetched at once (ending the statement's read snapshot) and decoded one
        by one as they are consumed, so a batch of decoded graphs never sits in memory.
        """
        cur = self._conn.execute(sql, args)
        props = [(k, d[0][2:]) for k, d in enumerate(cur.description) if d[0].startswith("p_")]
        for row in cur.fetchall():
            tensors = decode_tensors(row[4])
            values = decode_values(tensors.pop(VALUES_KEY)) if VALUES_KEY in tensors else {}
            data = Data(num_nodes=row[3], **tensors, **values)
            for k, name in props:
                if row[k] is not None:
                    setattr(data, name, torch.tensor([float(row[k])], dtype=torch.float32))
            yield row[0], row[1], data

    def __getitem__(self, index: int) -> Data:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"graph index {index} out of range for a database of {n} graphs")
        return self.get_many([index % n])[0]

    def get_many(self, indices: Sequence[int], with_ids: bool = False) -> list[Any]:
        """Graphs (or ``(item_id, graph)`` pairs) at 0-based ``indices``, in that order."""
        rows = [int(i) + 1 for i in indices]
        found: dict[int, Any] = {}
        for k in range(0, len(rows), 500):
            part = sorted(set(rows[k:k + 500]))
            for row, rid, data in self._rows(f"SELECT * FROM graphs WHERE row IN ({','.join('?' * len(part))})",
                                             part):
                found[row] = (rid, data) if with_ids else data
        missing = [r - 1 for r in rows if r not in found]
        if missing:
            raise IndexError(f"graph index {missing[0]} is not in {self.path} ({len(self)} graphs)")
        return [found[r] for r in rows]

    def iter_graphs(self, batch: int = 1000, *, start: int = 0, stop: int | None = None,
                    with_ids: bool = False) -> Iterator[Any]:
        """Stream graphs ``start..stop`` (default: all stored when the iteration starts).

        Reads ``batch`` rows per query, so memory stays bounded by one batch; yields ``Data``
        (or ``(item_id, Data)`` with ``with_ids``).
        """
        stop = len(self) if stop is None else min(stop, len(self))
        row = start
        while row < stop:
            for _, rid, data in self._rows("SELECT * FROM graphs WHERE row > ? AND row <= ? ORDER BY row",
                                           (row, min(row + batch, stop))):
                yield (rid, data) if with_ids else data
            row += batch

    def ids(self, source: str | None = None) -> list[str]:
        """Item ids in row order (of one source when given)."""
        sql, args = "SELECT item_id FROM graphs", ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (self._source_id(source),)
        return [r[0] for r in self._conn.execute(sql + " ORDER BY row", args)]

    def skipped(self, source: str | None = None) -> list[dict[str, str]]:
        """Skip reports ``{"source", "where", "reason"}`` in the order they were stored."""
        sql, args = "SELECT s.name, k.location, k.reason FROM skipped k JOIN sources s ON s.id = k.source", ()
        if source is not None:
            sql, args = sql + " WHERE s.name = ?", (source,)
        return [{"source": s, "where": w, "reason": r}
                for s, w, r in self._conn.execute(sql + " ORDER BY k.rowid", args)]

    def property_names(self) -> list[str]:
        return [r[1][2:] for r in self._conn.execute("PRAGMA table_info(graphs)") if r[1].startswith("p_")]

    # ------------------------------------------------------------------ writing
    def _writable(self) -> None:
        if self.readonly:
            raise DatabaseError(f"{self.path}: opened read-only; open it with readonly=False to write")

    def append(self, items: Iterable[tuple[str, Data]], source: str, *, validate: bool = True,
               chunk: int = 1000) -> int:
        """Insert ``(item_id, graph)`` pairs from ``source``; one transaction per ``chunk`` pairs.

        Raises
        ------
        DatabaseError
            On an item id already stored for ``source`` (that chunk is rolled back; earlier
            chunks stay) or an attribute that cannot be stored.
        GraphValidationError
            When ``validate`` and a graph does not match the spec.
        """
        self._writable()
        total, pending = 0, []
        for item_id, data in items:
            if validate:
                self.spec.validate(data, where=f"{source} id {item_id}")
            pending.append((str(item_id), data, f"{source} id {item_id}"))
            if len(pending) >= chunk:
                total += self._insert(pending, source)
                pending = []
        return total + (self._insert(pending, source) if pending else 0)

    def _insert(self, items: list[tuple[str, Data, str]], source: str,
                skipped: Sequence[dict[str, str]] = ()) -> int:
        rows, props_seen = [], {}
        for item_id, data, where in items:
            tensors, props = _split(data, self.spec, where)
            props_seen.update(dict.fromkeys(props))
            rows.append((item_id, int(data.num_nodes), encode_tensors(tensors), props))
        with self._transaction():
            have = set(self.property_names())
            for name in props_seen:
                if name not in have:
                    self._conn.execute(f'ALTER TABLE graphs ADD COLUMN "p_{name}" REAL')
            n, sid = len(self), self._source_id(source, create=True)
            cols = ["row", "item_id", "source", "num_nodes", "blob"] + [f'"p_{p}"' for p in props_seen]
            sql = f"INSERT INTO graphs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            values = [(n + k + 1, rid, sid, nn, blob, *(_cell(pr.get(p)) for p in props_seen))
                      for k, (rid, nn, blob, pr) in enumerate(rows)]
            ids = [r[0] for r in rows]
            dup = next(iter(self._existing(source, ids)), None) or (
                next((i for i, c in Counter(ids).items() if c > 1), None))
            if dup is not None:
                raise DatabaseError(f"{self.path}: item id {dup!r} of source {source!r} is stored already "
                                    "or repeated in this chunk; ids are unique per source")
            self._conn.executemany(sql, values)
            self._conn.executemany("INSERT OR IGNORE INTO skipped VALUES (?, ?, ?)",
                                   [(sid, s["where"], s["reason"]) for s in skipped])
            self._set_meta(num_graphs=str(n + len(rows)), updated=_now())
        return len(rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``: waits for, then excludes, other writers)."""
        self._writable()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._meta = self._read_meta()
            raise
        self._conn.execute("COMMIT")

    def _set_meta(self, **values: str) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())
        self._meta.update(values)

    def _existing(self, source: str, ids: list[str]) -> dict[str, int]:
        """``item_id -> row`` of those ``ids`` stored for ``source``."""
        found: dict[str, int] = {}
        sid = self._source_id(source)
        for k in range(0, len(ids) if sid is not None else 0, 500):
            part = ids[k:k + 500]
            found.update(self._conn.execute(
                f"SELECT item_id, row FROM graphs WHERE source = ? AND item_id IN ({','.join('?' * len(part))})",
                (sid, *part)).fetchall())
        return found

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, domain: Any, source: str | Path, path: str | Path, *, strict: bool = False,
              chunk: int = 1000, progress: bool = True, max_items: int | None = None,
              **read_options: Any) -> BuildReport:
        """Read ``source`` with ``domain.read`` into the database at ``path`` (created when missing).

        Records stream through ``record_to_graph`` and ``spec.validate`` and are inserted
        ``chunk`` at a time, each chunk one transaction. Bad items go to the ``skipped`` table
        (``strict=True``: the first raises :class:`DataError`). Building again into the same
        file *resumes*: items of this source already stored (by item id) are left as they are,
        the rest are added, so an interrupted build loses and duplicates nothing. The source is
        keyed by its resolved path; a dataset URI a plugin reads (``qm9://test``) by the URI
        itself. ``max_items`` stops after that many records (a partial build a later run
        completes).

        A build that fails (the source cannot be read, ``strict`` meets a bad item, an
        interruption) with nothing of the source stored leaves nothing to resume: the source is
        not recorded, and a database file this call created and that holds nothing is removed;
        the error says so. A source that yields no item at all raises :class:`DataError` the
        same way.
        """
        if is_dataset_uri(source):
            source = str(source)
        elif not Path(source).exists():
            raise DataError(f"{source}: no such file or folder")
        else:
            source = Path(source)
        path = Path(path)
        new = not path.exists()
        key = source if isinstance(source, str) else str(source.resolve())
        db = cls.create(path, domain, exist_ok=True)
        try:
            report = db._build(domain, source, strict, chunk, progress, max_items, read_options)
        except BaseException as exc:
            what = db._drop_if_empty(key, path, new)
            if what is None or not isinstance(exc, Exception):
                raise
            raise _restated(exc, f"db build {path.name}: nothing stored from {source} ({what}): {exc}") from exc
        if report.read == 0 and report.skipped == 0 and report.already == 0:
            what = db._drop_if_empty(key, path, new)
            if what is not None:
                raise DataError(f"{source}: no {domain.name!r} item to store ({what})")
        db.close()
        return report

    def _drop_if_empty(self, key: str, path: Path, new: bool) -> str | None:
        """After a failed build of the source ``key``: when none of its graphs is stored, forget
        it (so that it is not taken for a build to resume), close, and remove the file when this
        build ``new``ly created it and it holds no graph; returns what was done (``None``: the
        source has graphs, it stays resumable, the database is closed)."""
        try:
            sid = self._source_id(key)
            stored = 0 if sid is None else self._conn.execute(
                "SELECT count(*) FROM graphs WHERE source = ?", (sid,)).fetchone()[0]
            if stored:
                return None
            if sid is not None:
                with self._transaction():
                    self._conn.execute("DELETE FROM skipped WHERE source = ?", (sid,))
                    self._conn.execute("DELETE FROM sources WHERE id = ?", (sid,))
            empty = new and len(self) == 0
        finally:
            self.close()
        if empty:
            for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                part.unlink(missing_ok=True)
            return f"{path} removed"
        return f"{path} keeps its other sources; this one is not recorded, there is nothing to resume"

    def _build(self, domain: Any, source: Path | str, strict: bool, chunk: int, progress: bool,
               max_items: int | None, read_options: dict[str, Any]) -> BuildReport:
        """Build from ``source``: a path, or a dataset URI (a ``str``) kept as written."""
        self._writable()
        uri = isinstance(source, str)
        key, t0 = source if uri else str(source.resolve()), time.perf_counter()
        name = source if uri else source.name
        report, first_new = BuildReport(key), len(self) + 1
        self._mark_source(key, complete=False)
        sid = self._source_id(key)
        skipped: list[dict[str, str]] = []
        pending: list[tuple[str, Data, str]] = []
        from tqdm.auto import tqdm

        # the reader streams, so the total is known only for a partial build (--max-items)
        bar = tqdm(desc=f"db build {name}", unit="item", total=max_items, disable=not progress,
                   dynamic_ncols=True)
        try:
            for k, record in enumerate(domain.read(source, strict=strict, skipped=skipped, **read_options)):
                if max_items is not None and k >= max_items:
                    break
                report.read += 1
                bar.update()
                rid = str(record["id"]) if record.get("id") is not None else str(k)
                where = str(record.get("source") or f"{name} item {k} (id {rid})")
                if self._conn.execute("SELECT 1 FROM graphs WHERE source = ? AND item_id = ? AND row < ?",
                                      (sid, rid, first_new)).fetchone():
                    report.already += 1  # stored by an earlier run: not converted again
                    continue
                graph = convert_record(domain, record, where, strict, skipped)
                if graph is None:
                    continue
                pending.append((rid, graph, where))
                if len(pending) >= chunk:
                    self._flush(pending, skipped, key, report)
                    bar.set_postfix(stored=report.stored, skipped=report.skipped, refresh=False)
            else:
                report.complete = True
        finally:  # keep what was read, also when interrupted: the next build resumes after it
            bar.close()
            self._flush(pending, skipped, key, report)
        if report.complete:
            self._mark_source(key, complete=True)
        report.seconds = time.perf_counter() - t0
        return report

    def _flush(self, pending: list[tuple[str, Data, str]], skipped: list[dict[str, str]], key: str,
               report: BuildReport) -> None:
        """Insert ``pending`` but for repeated ids (reported as skipped) with the skip reports;
        both lists are emptied first, so a failed insert is not retried."""
        items, skips = list(pending), list(skipped)
        pending.clear()
        skipped.clear()
        stored = self._existing(key, [rid for rid, _, _ in items])
        fresh, seen = [], set()
        for rid, graph, where in items:
            if rid in stored or rid in seen:
                skips.append({"where": where, "reason": f"duplicate id {rid!r}: an earlier item of this "
                                                        "source has it (only the first is stored)"})
            else:
                seen.add(rid)
                fresh.append((rid, graph, where))
        if fresh or skips:
            report.stored += self._insert(fresh, key, skips)
            report.skipped += len(skips)

    def _mark_source(self, key: str, complete: bool) -> None:
        with self._transaction():
            sid = self._source_id(key, create=True)
            self._conn.execute("UPDATE sources SET complete = ?, finished = ? WHERE id = ?",
                               (int(complete), _now() if complete else None, sid))
            self._set_meta(updated=_now())

    # ------------------------------------------------------------------ summary and export
    def info(self) -> dict[str, Any]:
        """Counts, skip counts, domain, sources, property statistics and a node-count histogram.

        ``properties[name]`` holds ``count`` (non-NaN values), ``nan``, ``missing``, ``min``,
        ``max`` and ``mean``; ``num_nodes["histogram"]`` maps a node count to its graphs.
        """
        q, names, props = self._conn.execute, self.property_names(), {}
        meta = self.meta()
        if names:  # one scan for every property: count, min, max, mean of numbers, NaN and NULL counts
            parts = [f"{fn}(CASE WHEN typeof(\"p_{n}\") = 'real' THEN \"p_{n}\" END)"
                     for n in names for fn in ("count", "min", "max", "avg")]
            parts += [f"count(CASE WHEN typeof(\"p_{n}\") = '{t}' THEN 1 END)" for n in names for t in ("text", "null")]
            row = q(f"SELECT {', '.join(parts)} FROM graphs").fetchone()
            for k, name in enumerate(names):
                count, lo, hi, mean = row[4 * k:4 * k + 4]
                nan, missing = row[4 * len(names) + 2 * k:4 * len(names) + 2 * k + 2]
                props[name] = {"count": count, "nan": nan, "missing": missing, "min": lo, "max": hi, "mean": mean}
        hist = {int(n): c for n, c in q("SELECT num_nodes, count(*) FROM graphs GROUP BY num_nodes")}
        total = sum(hist.values())
        nodes = {"min": min(hist, default=None), "max": max(hist, default=None),
                 "mean": sum(n * c for n, c in hist.items()) / total if total else None, "histogram": hist}
        return {"path": str(self.path), "domain": meta["domain"], "domain_version": meta["domain_version"],
                "graphdiff_version": meta["graphdiff_version"], "created": meta["created"],
                "updated": meta["updated"], "num_graphs": meta["num_graphs"],
                "num_skipped": q("SELECT count(*) FROM skipped").fetchone()[0], "sources": self.sources(),
                "file_bytes": sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()),
                "fields": [{k: v for k, v in f.items() if k != "labels"} for f in meta["spec"]["fields"]],
                "properties": props, "num_nodes": nodes}

    def export(self, path: str | Path, fmt: str | None = None, *, domain: Any = None, chunk: int = 1000,
               progress: bool = False) -> int:
        """Write every graph to ``path``; return how many were written.

        ``fmt`` (default: the suffix) is ``"jsonl"`` (:func:`graphdiff.graphio.graph_to_json`
        lines plus ``id``; no domain needed) or ``"domain"``: ``domain.write``
        (default: the installed domain of the stored name, which must have the stored version),
        in ``chunk``-sized calls with ``append=True`` when its writer takes ``append``; a writer
        without it gets every object in one call (memory grows with the database). ``ids`` go
        along when the writer accepts them, properties (NaN where a graph has none) as ``extra``
        (or ``props``) likewise; a writer taking ``**options`` is held to the
        :meth:`~graphdiff.domain.Domain.write` contract (``append``, ``ids``, ``extra``).
        """
        from tqdm.auto import tqdm

        path = Path(path)
        fmt = fmt or ("jsonl" if path.suffix.lower() == ".jsonl" else "domain")
        if fmt not in ("jsonl", "domain"):
            raise DatabaseError(f"unknown export format {fmt!r}; use 'jsonl' or 'domain'")
        _check_parent(path)
        if fmt == "jsonl" and path.is_dir():
            raise DatabaseError(f"{path}: is a folder; give a .jsonl file name")
        if fmt == "domain":  # an unwritable suffix is refused before the bar starts
            domain = self._export_domain(domain, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = tqdm(self.iter_graphs(chunk, with_ids=True), total=len(self), desc=f"export {path.name}",
                      unit="graph", disable=not progress, dynamic_ncols=True)
        if fmt == "jsonl":
            from graphdiff.graphio import graph_to_json

            count = 0
            with path.open("w", encoding="utf-8") as fh:
                for rid, graph in stream:
                    fh.write(json.dumps({"id": rid, **graph_to_json(graph, self.spec)}) + "\n")
                    count += 1
            return count
        kwargs, streams = _write_keywords(domain)
        written, objs, ids, props, names = 0, [], [], [], self.property_names()
        for rid, graph in stream:
            objs.append(domain.from_graph(graph))
            ids.append(rid)  # every property column on every item (NaN where absent): uniform CSV columns
            props.append({k: float(getattr(graph, k, math.nan)) for k in names})
            if streams and len(objs) >= chunk:
                written = _write(domain, objs, ids, props, path, kwargs, written)
        if objs or not written:
            written = _write(domain, objs, ids, props, path, kwargs, written)
        return written

    def _export_domain(self, domain: Any, path: Path) -> Any:
        if domain is None:
            import graphdiff

            domain = graphdiff.load_domain(self.domain)
        self.check_domain(domain)
        suffix = path.suffix.lower()
        if suffix not in domain.write_suffixes and not (path.is_dir() or "<folder>" in domain.write_suffixes
                                                        and not suffix):
            raise DatabaseError(f"{path}: domain {domain.name!r} writes {', '.join(domain.write_suffixes) or 'nothing'}"
                                "; graphdiff itself writes .jsonl")
        return domain


def _restated(exc: Exception, msg: str) -> Exception:
    """``exc``'s kind of error (a graphdiff error keeps its class) with the message ``msg``."""
    if isinstance(exc, GraphdiffError):
        try:
            return type(exc)(msg)
        except TypeError:  # an error class that takes other arguments
            pass
    return DatabaseError(msg)


def _check_parent(path: Path) -> None:
    """Refuse a path whose nearest existing ancestor is a file (it cannot be created)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DatabaseError(f"{path}: {parent} is a file, not a folder")
            return


def _write_keywords(domain: Any) -> tuple[set[str], bool]:
    """The contract keywords ``domain.write`` accepts, and whether it can append."""
    import inspect

    params = inspect.signature(domain.write).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    names = {n for n in ("append", "ids", "extra", "props") if n in params}
    if var_kw:  # ``**options``: the writer follows the Domain.write contract (append, ids, extra)
        names |= {"append", "ids", "extra"}
    return names, "append" in names


def _write(domain: Any, objs: list, ids: list, props: list, path: Path, kwargs: set[str], written: int) -> int:
    options: dict[str, Any] = {"append": written > 0, "ids": list(ids), "extra": list(props),
                               "props": list(props)}
    domain.write(list(objs), path, **{k: v for k, v in options.items() if k in kwargs})
    written += len(objs)
    for part in (objs, ids, props):
        part.clear()
    return written


from graphdiff.db_dataset import DatabaseDataset  # noqa: E402  (re-exported)
