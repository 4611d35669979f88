"""Graph file formats: suffixes, and the node-label encoding shared by readers and writers.

See :mod:`graphdiff.nxgraph.io` for the formats and the rules on exact node labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Hashable

import networkx as nx
from networkx.readwrite.gml import literal_destringizer, literal_stringizer

from graphdiff.errors import DataError

__all__ = ["SUFFIX_FORMATS", "FORMAT_SUFFIX", "LITERAL_MARK", "EDGELIST_HEADER", "format_of",
           "needs_literals", "encode_label", "decode_marked", "relabel", "to_tuples", "to_python_scalar"]

#: File suffix -> format name.
SUFFIX_FORMATS: dict[str, str] = {
    ".graphml": "graphml",
    ".gml": "gml",
    ".edgelist": "edgelist",
    ".txt": "edgelist",
    ".json": "json",
    ".jsonl": "jsonl",
}
#: Format name -> the suffix its files get when written to a folder.
FORMAT_SUFFIX = {"graphml": ".graphml", "gml": ".gml", "edgelist": ".edgelist", "json": ".json",
                 "jsonl": ".jsonl"}

#: Graph attribute marking a GraphML/GML file whose node labels are Python literals.
LITERAL_MARK = "graphdiff_labels"
#: First line of an edge list whose node labels are Python literals.
EDGELIST_HEADER = "# graphdiff: labels=literal"


def format_of(path: str | Path) -> str | None:
    """The format name of a file, from its suffix (``None`` when unsupported)."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def needs_literals(graph: nx.Graph, text_only: bool = False) -> bool:
    """Whether labels must be written as literals: some are not ``str`` (or, for XML/GML
    text, some hold non-printable characters that the file could not carry as they are)."""
    if text_only:
        return not all(isinstance(u, str) and u.isprintable() for u in graph.nodes)
    return not all(isinstance(u, str) for u in graph.nodes)


def encode_label(label: Any) -> str:
    """A node label as Python-literal text (``0``, ``'a'``, ``(1,'b')``).

    Raises
    ------
    DataError
        When the label has no literal form that evaluates back to it.
    """
    try:
        text = literal_stringizer(label)
    except ValueError as exc:
        raise DataError(f"node label {label!r} cannot be written as a Python literal: {exc}") from exc
    if literal_destringizer(text) != label:
        raise DataError(f"node label {label!r} does not survive writing as a literal ({text!r})")
    return text


def to_tuples(value: Any) -> Any:
    """JSON lists back to tuples (labels are hashable, so they were tuples)."""
    if isinstance(value, list):
        return tuple(to_tuples(v) for v in value)
    return value


def relabel(graph: nx.Graph, fn: Callable[[Any], Hashable], where: str) -> nx.Graph:
    """A copy of ``graph`` with every node label ``u`` replaced by ``fn(u)``.

    Raises
    ------
    DataError
        When ``fn`` fails on a label (naming it) or maps two labels to one.
    """
    mapping = {}
    for u in graph.nodes:
        try:
            mapping[u] = fn(u)
        except Exception as exc:  # noqa: BLE001 - any conversion failure names the label
            raise DataError(f"{where}: node label {u!r} cannot be converted: {exc}") from exc
    if len(set(mapping.values())) != len(mapping):
        raise DataError(f"{where}: converting the node labels made two of them equal")
    return nx.relabel_nodes(graph, mapping, copy=True)


def decode_marked(graph: nx.Graph, where: str, node_type: Callable[[str], Any] | None) -> nx.Graph:
    """Labels of a graph read from GraphML/GML: literals evaluated back when the file is marked
    (:data:`LITERAL_MARK`, removed), else ``node_type(label)`` when given, else unchanged."""
    if graph.graph.get(LITERAL_MARK) == "literal":
        graph = relabel(graph, literal_destringizer, where)
        del graph.graph[LITERAL_MARK]
    elif node_type is not None:
        graph = relabel(graph, node_type, where)
    return graph


def to_python_scalar(value: Any) -> Any:
    """NumPy scalars to Python scalars, for writers that only know Python types."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return item()
    return value
