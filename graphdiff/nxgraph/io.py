"""Reading and writing networkx graphs: GraphML, GML, edge lists and node-link JSON.

Formats (chosen by suffix)
--------------------------
``.graphml``
    GraphML (one or more ``<graph>`` elements per file).
``.gml``
    GML, one graph per file.
``.edgelist``, ``.txt``
    Whitespace-separated edge list, one graph per file: ``u v`` per edge, optionally followed
    by a Python dict literal of edge attributes (``u v {'weight': 3}``) or one number, read as
    ``weight``. A line holding a single label is an isolated node (networkx's own reader ignores
    such lines; it loses isolated nodes). Lines starting with ``#`` are comments. Edge lists
    are read as undirected graphs.
``.json``
    node-link JSON (:func:`networkx.node_link_data` with ``edges="edges"``; files using the
    older ``"links"`` key are read too): one graph object, or a list of them.
``.jsonl``
    node-link JSON, one graph per line.

Pickle is never read or written.

Exact node labels
-----------------
GraphML, GML and edge lists store node labels as text. When every label is a ``str`` (and, for
GraphML and GML, a printable one) they are written as they are. Otherwise each label is
written as a Python literal (``0``, ``'a'``, ``(1,2)``) and the file is marked (graph
attribute ``graphdiff_labels="literal"``, or a first line ``# graphdiff: labels=literal`` in
an edge list); reading a marked file evaluates the literals back, so ``int`` and ``tuple``
labels survive a round trip. Unmarked files written
by other tools give ``str`` labels (or ``node_type(label)`` when a ``node_type`` is given).
JSON keeps ``int``, ``float`` and ``str`` labels as they are; ``tuple`` labels, which JSON
writes as lists, are turned back into tuples.

Errors
------
A file that cannot be parsed raises :class:`~graphdiff.errors.DataError` naming the file (and
line, where known) and the element at fault. Nothing the file holds is merged or dropped
silently: a repeated node pair in an edge list (a directed graph's or a multigraph's edges), a
node listed twice or an edge to an unlisted node in node-link JSON or GraphML, a GraphML value
that is not of its declared type, are errors naming the line, item, node or edge. GraphML is read
by :mod:`graphdiff.nxgraph.graphml`, which names the ``<node>``/``<edge>``/``<key>`` at fault
and applies GraphML key defaults. :func:`read_graph_records` applies the skip-report contract of
:meth:`graphdiff.domain.Domain.read` to the graphs of a file or a folder.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import networkx as nx
from networkx.readwrite.gml import literal_destringizer

from graphdiff.domain import Record, report_skip
from graphdiff.errors import DataError
from graphdiff.nxgraph.formats import (
    EDGELIST_HEADER,
    LITERAL_MARK,
    SUFFIX_FORMATS,
    decode_marked,
    format_of,
    to_tuples,
)
from graphdiff.nxgraph.graphml import iter_graphml
from graphdiff.nxgraph.writers import write_graphs

__all__ = [
    "SUFFIX_FORMATS",
    "LITERAL_MARK",
    "format_of",
    "iter_graph_file",
    "read_graph_file",
    "read_graph_records",
    "write_graphs",
    "report_skip",
]

Checker = Callable[[nx.Graph, str], nx.Graph]


# ---------------------------------------------------------------------------- skip reports

# ---------------------------------------------------------------------------- readers
def _read_edgelist(path: Path, node_type: Callable[[str], Any] | None) -> nx.Graph:
    graph = nx.Graph()
    literal = False
    first_line: dict[frozenset, int] = {}  # node pair -> line of its edge
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if lineno == 1 and text == EDGELIST_HEADER:
                literal = True
                continue
            if not text or text.startswith("#"):
                continue
            where = f"{path} line {lineno}"
            parts = text.split(None, 2)
            try:
                labels = [literal_destringizer(p) if literal else p for p in parts[:2]]
            except ValueError as exc:
                raise DataError(f"{where}: bad node label: {exc}") from exc
            if not literal and node_type is not None:
                try:
                    labels = [node_type(p) for p in labels]
                except Exception as exc:  # noqa: BLE001
                    raise DataError(f"{where}: node label cannot be converted: {exc}") from exc
            if len(labels) == 1:
                graph.add_node(labels[0])
                continue
            attrs: dict[str, Any] = {}
            if len(parts) == 3:
                rest = parts[2].strip()
                try:
                    if rest.startswith("{"):
                        attrs = ast.literal_eval(rest)
                        if not isinstance(attrs, dict):
                            raise ValueError("not a dict")
                    else:
                        attrs = {"weight": float(rest)}
                except (ValueError, SyntaxError) as exc:
                    raise DataError(
                        f"{where}: expected 'u v', 'u v NUMBER' or 'u v {{dict}}', got {text!r}"
                    ) from exc
            pair = frozenset(labels[:2])
            if pair in first_line:
                raise DataError(
                    f"{where}: edge ({labels[0]!r}, {labels[1]!r}) repeats the edge of line "
                    f"{first_line[pair]}; an edge list is read as a simple undirected graph, one line "
                    "per node pair (does the file hold a directed graph or parallel edges?)")
            first_line[pair] = lineno
            graph.add_edge(labels[0], labels[1], **attrs)
    return graph


def _check_node_link(obj: dict[str, Any], edges_key: str, where: str) -> None:
    """What ``networkx.node_link_graph`` would merge or add silently, raised naming the item:
    nodes without an id or listed twice, edges without ends, to unlisted nodes, or repeated
    (in a graph not marked ``multigraph``)."""
    nodes, edges = obj["nodes"], obj[edges_key]
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise DataError(f"{where}: 'nodes' and {edges_key!r} must be lists")
    seen: dict[Any, int] = {}
    for k, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node:
            raise DataError(f"{where}: node {k} has no 'id'")
        label = to_tuples(node["id"])
        try:
            if label in seen:
                raise DataError(f"{where}: node {label!r} is listed twice (nodes {seen[label]} and {k})")
        except TypeError:
            raise DataError(f"{where}: node {k} has an unhashable id {node['id']!r}") from None
        seen[label] = k
    directed, multigraph = bool(obj.get("directed", False)), bool(obj.get("multigraph", False))
    pairs: dict[Any, int] = {}
    for k, edge in enumerate(edges):
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            raise DataError(f"{where}: edge {k} has no 'source' or no 'target'")
        u, v = to_tuples(edge["source"]), to_tuples(edge["target"])
        for end in (u, v):
            try:
                listed = end in seen
            except TypeError:
                listed = False
            if not listed:
                raise DataError(f"{where}: edge {k} ({u!r}, {v!r}): node {end!r} is not in 'nodes'")
        key = (u, v) if directed else frozenset((u, v))
        if key in pairs and not multigraph:
            raise DataError(
                f"{where}: edge {k} ({u!r}, {v!r}) repeats edge {pairs[key]} in a graph not marked "
                "'multigraph'; a simple graph has one edge per node pair"
                + ("" if directed else " (is it a directed graph's edge list, both directions?)"))
        pairs.setdefault(key, k)


def _node_link(obj: Any, where: str) -> nx.Graph:
    if not isinstance(obj, dict) or "nodes" not in obj:
        raise DataError(f"{where}: not a node-link graph object (no 'nodes' key)")
    edges_key = "edges" if "edges" in obj else "links"
    obj = dict(obj)
    obj.setdefault(edges_key, [])
    _check_node_link(obj, edges_key, where)
    obj["nodes"] = [dict(n, id=to_tuples(n.get("id"))) for n in obj["nodes"]]
    obj[edges_key] = [dict(e, source=to_tuples(e.get("source")), target=to_tuples(e.get("target")))
                      for e in obj[edges_key]]
    try:
        return nx.node_link_graph(obj, directed=False, multigraph=False, edges=edges_key)
    except Exception as exc:  # noqa: BLE001 - networkx raises KeyError/TypeError/NetworkXError
        raise DataError(f"{where}: bad node-link graph: {type(exc).__name__}: {exc}") from exc


def iter_graph_file(path: str | Path, *, node_type: Callable[[str], Any] | None = None,
                    ) -> Iterator[tuple[str, nx.Graph | DataError]]:
    """Yield ``(where, graph_or_error)`` for every graph of one file.

    A graph that cannot be built (a bad line of a ``.jsonl`` file, a bad item of a ``.json``
    list) is yielded as a :class:`DataError`; the file's other graphs still come.

    Parameters
    ----------
    path:
        A file with a suffix of :data:`SUFFIX_FORMATS`.
    node_type:
        Optional conversion of text labels in files that are not marked as literal.

    Raises
    ------
    DataError
        When the file is missing, has an unsupported suffix, or cannot be parsed at all;
        the message names the file.
    """
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise DataError(f"{path}: unsupported suffix {path.suffix!r}; graph files end in "
                        + ", ".join(SUFFIX_FORMATS))
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path} line {lineno}"
                try:
                    yield where, _node_link(json.loads(line), where)
                except json.JSONDecodeError as exc:
                    yield where, DataError(f"{where}: invalid JSON: {exc}")
                except DataError as exc:
                    yield where, exc
        return
    if fmt == "json":
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: invalid JSON: {exc}") from exc
        items = obj if isinstance(obj, list) else [obj]
        for k, item in enumerate(items):
            where = f"{path} item {k}" if isinstance(obj, list) else str(path)
            try:
                yield where, _node_link(item, where)
            except DataError as exc:
                yield where, exc
        return
    if fmt == "edgelist":
        try:
            graph = _read_edgelist(path, node_type)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not a text edge list: {exc}") from exc
        yield str(path), graph
        return
    if fmt == "graphml":
        for where, graph in iter_graphml(path):
            if isinstance(graph, DataError):
                yield where, graph
                continue
            try:
                yield where, decode_marked(graph, where, node_type)
            except DataError as exc:
                yield where, exc
        return
    # gml
    try:
        try:
            graph = nx.read_gml(path, label="label")
        except nx.NetworkXError as exc:
            if "label" not in str(exc):
                raise
            graph = nx.read_gml(path, label="id")  # files whose nodes have no 'label'
    except Exception as exc:  # noqa: BLE001 - NetworkXError, UnicodeDecodeError...
        raise DataError(f"{path}: corrupt or invalid GML: {type(exc).__name__}: {exc}") from exc
    try:
        yield str(path), decode_marked(graph, str(path), node_type)
    except DataError as exc:
        yield str(path), exc


def read_graph_file(path: str | Path, *, node_type: Callable[[str], Any] | None = None) -> list[nx.Graph]:
    """All graphs of one file; any bad graph raises :class:`DataError` naming it."""
    graphs = []
    for _, item in iter_graph_file(path, node_type=node_type):
        if isinstance(item, DataError):
            raise item
        graphs.append(item)
    return graphs


def read_graph_records(path: str | Path, check: Checker, *, strict: bool = False,
                       skipped: list[dict[str, str]] | None = None, recursive: bool = False,
                       node_type: Callable[[str], Any] | None = None,
                       suffixes: Iterable[str] | None = None) -> Iterator[Record]:
    """Yield a :class:`~graphdiff.domain.Record` per valid graph of a file or a folder.

    Parameters
    ----------
    path:
        A graph file, or a folder of graph files (read in sorted name order).
    check:
        ``check(graph, where) -> graph``: validates (and may convert) one graph, raising
        :class:`DataError` for a graph the domain cannot hold.
    strict, skipped:
        The skip-report contract of :meth:`graphdiff.domain.Domain.read`: a bad graph, a bad
        file inside a folder, a file with an unsupported suffix or a sub-folder (unless
        ``recursive``) is reported in ``skipped`` (or warned about when ``skipped`` is
        ``None``); ``strict=True`` raises on the first instead.
    recursive:
        Also read the files of sub-folders.
    node_type:
        See :func:`iter_graph_file`.
    suffixes:
        The suffixes to read (default: all of :data:`SUFFIX_FORMATS`); other files of a folder
        are reported as unsupported, and a single file with another suffix raises.

    Raises
    ------
    DataError
        When ``path`` does not exist, or is a single file that cannot be parsed at all (there
        is nothing else to read), naming the file.

    Records hold ``id`` (the file's path relative to the folder, plus ``line k``/``item k``
    for files of several graphs), ``obj`` (the checked graph) and ``props`` (empty).
    """
    root = Path(path)
    allowed = tuple(s.lower() for s in suffixes) if suffixes is not None else tuple(SUFFIX_FORMATS)
    if root.is_dir():
        entries = sorted(root.rglob("*") if recursive else root.iterdir())
        for entry in entries:
            if entry.is_dir():
                if not recursive:
                    report_skip(skipped, str(entry), "a folder (pass recursive=True to read it)", strict)
                continue
            if format_of(entry) is None or entry.suffix.lower() not in allowed:
                report_skip(skipped, str(entry), f"unsupported suffix {entry.suffix!r} (graph files "
                            f"end in {', '.join(allowed)})", strict)
                continue
            try:
                yield from _file_records(entry, root, check, strict, skipped, node_type)
            except DataError as exc:  # the file as a whole could not be read
                if strict:
                    raise
                report_skip(skipped, str(entry), str(exc), strict)
        return
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if root.suffix.lower() not in allowed:
        raise DataError(f"{root}: unsupported suffix {root.suffix!r}; this reader reads "
                        + ", ".join(allowed))
    yield from _file_records(root, root.parent, check, strict, skipped, node_type)


def _file_records(path: Path, root: Path, check: Checker, strict: bool,
                  skipped: list[dict[str, str]] | None,
                  node_type: Callable[[str], Any] | None) -> Iterator[Record]:
    rel = str(path.relative_to(root))
    for where, item in iter_graph_file(path, node_type=node_type):
        record_id = rel + where[len(str(path)):]
        if isinstance(item, DataError):
            report_skip(skipped, where, str(item), strict)
            continue
        try:
            graph = check(item, where)
        except DataError as exc:
            report_skip(skipped, where, str(exc), strict)
            continue
        yield Record(id=record_id, obj=graph, props={})
