"""Writing networkx graphs: GraphML, GML, edge lists, node-link JSON (see :mod:`graphdiff.nxgraph.io`)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import networkx as nx

from graphdiff.errors import DataError
from graphdiff.nxgraph.formats import (
    EDGELIST_HEADER,
    FORMAT_SUFFIX,
    LITERAL_MARK,
    SUFFIX_FORMATS,
    encode_label,
    format_of,
    needs_literals,
    to_python_scalar,
)

__all__ = ["write_graphs", "with_graph_values"]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    converted = to_python_scalar(value)
    if converted is not value:
        return converted
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _node_link_text(graph: nx.Graph, where: str, indent: int | None) -> str:
    try:
        return json.dumps(nx.node_link_data(graph, edges="edges"), default=_json_default, indent=indent)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: cannot write as node-link JSON: {exc}") from exc


def _edgelist_text(graph: nx.Graph, where: str) -> str:
    if graph.is_directed() or graph.is_multigraph():
        raise DataError(f"{where}: an edge list holds one simple undirected graph, got "
                        f"{type(graph).__name__}; write GraphML or JSON instead")
    literal = needs_literals(graph)
    names: dict[Any, str] = {}
    for u in graph.nodes:
        name = encode_label(u) if literal else u
        if not name or any(c.isspace() for c in name) or name.startswith("#"):
            raise DataError(f"{where}: node {u!r} cannot be written to an edge list (its label is "
                            "empty, holds whitespace or starts with '#'); write GraphML or JSON")
        names[u] = name
    lines = [EDGELIST_HEADER] if literal else []
    lines += [names[u] for u in graph.nodes if graph.degree(u) == 0]
    for u, v, attrs in graph.edges(data=True):
        line = f"{names[u]} {names[v]}"
        if attrs:
            values = {k: to_python_scalar(x) for k, x in attrs.items()}
            text = repr(values)
            try:
                same = ast.literal_eval(text) == values
            except (ValueError, SyntaxError):
                same = False
            if not same or "\n" in text:
                raise DataError(f"{where}: attributes of edge ({u!r}, {v!r}) cannot be written as a "
                                "Python literal; write GraphML or JSON")
            line += " " + text
        lines.append(line)
    return "\n".join(lines) + "\n"


def _write_one(graph: nx.Graph, path: Path, fmt: str) -> None:
    where = str(path)
    if fmt == "edgelist":
        _atomic_write_text(path, _edgelist_text(graph, where))
        return
    if fmt == "json":
        _atomic_write_text(path, _node_link_text(graph, where, indent=None) + "\n")
        return
    if needs_literals(graph, text_only=True):
        mapping = {u: encode_label(u) for u in graph.nodes}
        graph = nx.relabel_nodes(graph, mapping, copy=True)
        graph.graph[LITERAL_MARK] = "literal"
    tmp = path.with_name(path.name + ".tmp")
    try:
        if fmt == "graphml":
            nx.write_graphml(graph, tmp)
        else:
            nx.write_gml(graph, tmp)
    except Exception as exc:  # noqa: BLE001 - networkx raises TypeError/NetworkXError on bad data
        tmp.unlink(missing_ok=True)
        raise DataError(f"{where}: cannot write as {fmt.upper()}: {type(exc).__name__}: {exc}") from exc
    os.replace(tmp, path)


def with_graph_values(graphs: list[nx.Graph], ids: list[str] | None = None,
                      extra: list[dict] | None = None, where: str = "") -> list[nx.Graph]:
    """Copies of ``graphs`` whose graph-level attributes hold ``ids[k]`` (as ``id``) and the
    values of ``extra[k]`` (the :meth:`graphdiff.domain.Domain.write` contract): GraphML, GML
    and node-link JSON keep graph attributes; the originals are not changed."""
    graphs = list(graphs)
    for what, values in (("ids", ids), ("extra dicts", extra)):
        if values is not None and len(values) != len(graphs):
            raise DataError(f"{where}: {len(values)} {what} for {len(graphs)} graphs")
    if ids is None and extra is None:
        return graphs
    out = []
    for k, g in enumerate(graphs):
        g = g.copy()
        if ids is not None:
            g.graph["id"] = str(ids[k])
        for key, value in (extra[k] if extra is not None and extra[k] else {}).items():
            g.graph[key] = value
        out.append(g)
    return out


def write_graphs(graphs: list[nx.Graph], path: str | Path, *, fmt: str | None = None) -> list[Path]:
    """Write graphs to a file, or to a folder with one file per graph.

    Parameters
    ----------
    graphs:
        networkx graphs.
    path:
        A file whose suffix names the format (:data:`SUFFIX_FORMATS`), or a folder (an
        existing folder, or a path without suffix, created) that receives
        ``graph_00000.<suffix>``, ``graph_00001.<suffix>``...
    fmt:
        Format for a folder (default ``"graphml"``); for a file it must agree with the suffix.

    Returns
    -------
    The files written.

    Raises
    ------
    DataError
        For an unsupported suffix, several graphs for a one-graph format (GraphML, GML, edge
        list: give a folder instead, or use ``.json``/``.jsonl``), or a graph the format cannot
        hold (an attribute value type, an edge-list label with whitespace); naming the file.
    """
    path = Path(path)
    graphs = list(graphs)
    if path.is_dir() or not path.suffix:
        fmt = fmt or "graphml"
        if fmt not in FORMAT_SUFFIX:
            raise DataError(f"unknown graph format {fmt!r}; formats: {', '.join(FORMAT_SUFFIX)}")
        path.mkdir(parents=True, exist_ok=True)
        written = []
        for k, graph in enumerate(graphs):
            target = path / f"graph_{k:05d}{FORMAT_SUFFIX[fmt]}"
            _write_one(graph, target, "json" if fmt == "jsonl" else fmt)
            written.append(target)
        return written
    file_fmt = format_of(path)
    if file_fmt is None:
        raise DataError(f"{path}: unsupported suffix {path.suffix!r}; graph files end in "
                        + ", ".join(SUFFIX_FORMATS))
    if fmt is not None and fmt != file_fmt:
        raise DataError(f"{path}: format {fmt!r} does not match the suffix {path.suffix!r}")
    if file_fmt == "jsonl":
        text = "".join(_node_link_text(g, f"{path} graph {k}", None) + "\n" for k, g in enumerate(graphs))
        _atomic_write_text(path, text)
        return [path]
    if file_fmt == "json" and len(graphs) != 1:
        items = [json.loads(_node_link_text(g, f"{path} graph {k}", None)) for k, g in enumerate(graphs)]
        _atomic_write_text(path, json.dumps(items) + "\n")
        return [path]
    if len(graphs) != 1:
        raise DataError(f"{path}: a {file_fmt} file holds one graph, got {len(graphs)}; give a "
                        "folder path (one file per graph) or a .json/.jsonl file")
    _write_one(graphs[0], path, file_fmt)
    return [path]
