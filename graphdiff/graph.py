"""What a diffusable graph carries: :class:`GraphSpec` and its :class:`FieldSpec` fields.

A domain declares the fields of its graphs. Each field has a *kind* (which noise process
diffuses it) and a *level* (where it lives in the graph). Graphs travel as
:class:`torch_geometric.data.Data` objects whose attributes are named after the fields:

========== ============== =============================================================
level      kind           tensor stored on ``Data`` (one graph, ``n`` nodes)
========== ============== =============================================================
node       categorical    ``long`` ``[n]`` with values in ``[0, num_classes)``
node       continuous     ``float`` ``[n, dim]``
node       torus          ``float`` ``[n, dim]`` with values in ``[0, 1)``
node       positions      ``float`` ``[n, dim]`` (Cartesian; centred by the process)
graph      continuous     ``float`` ``[1, dim]``
graph      categorical    ``long`` ``[1]``
edge       categorical    ``edge_index`` ``long [2, E]`` (both directions, no self-loops)
                          and the field ``long [E]`` with values in ``[1, num_classes)``;
                          class 0 means "no edge" and is never stored.
edge       continuous     ``float [E, dim]`` aligned with ``edge_index``: a value on every
                          stored edge, the same on ``(i, j)`` and ``(j, i)`` (a road's
                          length, a bond's length, a tie's weight).
========== ============== =============================================================

Edge fields are diffused densely over all unordered node pairs (DiGress-style). A spec
holds at most one *categorical* edge field (:attr:`GraphSpec.edge_field`): the edges'
existence and class, stored with ``edge_index``; the absent pairs are class 0. Besides it, a
spec may hold any number of *continuous* edge fields (:attr:`GraphSpec.edge_value_fields`),
values that live on the existing edges; they need the categorical edge field in the spec.
A continuous edge field is diffused over all pairs too, but trained only on the pairs that
are edges in the data, and a generated graph keeps its values on the pairs that the generated
categorical field makes edges.

Graph-level *properties* (conditions, targets) are stored as ``Data.y``-like attributes named
in :attr:`GraphSpec.properties`, each ``float [1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable

import torch
from torch_geometric.data import Data

from graphdiff.errors import GraphValidationError

__all__ = ["FieldKind", "Level", "FieldSpec", "GraphSpec"]


class FieldKind(str, Enum):
    """Which noise process diffuses a field."""

    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"
    TORUS = "torus"
    POSITIONS = "positions"


class Level(str, Enum):
    """Where a field lives."""

    NODE = "node"
    EDGE = "edge"
    GRAPH = "graph"


_ALLOWED = {
    (FieldKind.CONTINUOUS, Level.NODE),
    (FieldKind.CONTINUOUS, Level.GRAPH),
    (FieldKind.CATEGORICAL, Level.NODE),
    (FieldKind.CATEGORICAL, Level.GRAPH),
    (FieldKind.CATEGORICAL, Level.EDGE),
    (FieldKind.CONTINUOUS, Level.EDGE),
    (FieldKind.TORUS, Level.NODE),
    (FieldKind.POSITIONS, Level.NODE),
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a graph.

    Parameters
    ----------
    name:
        Attribute name on the ``Data`` object (a Python identifier).
    kind:
        :class:`FieldKind` (or its string value).
    level:
        :class:`Level` (or its string value).
    dim:
        Feature width for continuous, torus and positions fields (ignored for categorical).
    num_classes:
        Number of classes for categorical fields (ignored otherwise). For edge fields class 0
        is "no edge".
    labels:
        Optional class names of a categorical field (e.g. element symbols), ``num_classes`` long.
    """

    name: str
    kind: FieldKind
    level: Level
    dim: int = 1
    num_classes: int = 0
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FieldKind(self.kind))
        object.__setattr__(self, "level", Level(self.level))
        if not self.name.isidentifier():
            raise ValueError(f"field name {self.name!r} is not a Python identifier")
        if (self.kind, self.level) not in _ALLOWED:
            raise ValueError(
                f"field {self.name!r}: kind {self.kind.value!r} is not supported at level "
                f"{self.level.value!r}; supported pairs: "
                + ", ".join(sorted(f"{k.value}@{lv.value}" for k, lv in _ALLOWED))
            )
        if self.kind is FieldKind.CATEGORICAL:
            if self.num_classes < 2:
                raise ValueError(f"categorical field {self.name!r} needs num_classes >= 2")
            if self.labels is not None and len(self.labels) != self.num_classes:
                raise ValueError(
                    f"field {self.name!r}: {len(self.labels)} labels for {self.num_classes} classes"
                )
        elif self.dim < 1:
            raise ValueError(f"field {self.name!r} needs dim >= 1, got {self.dim}")
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def width(self) -> int:
        """Width of the field as a model input/output (classes for categorical, else ``dim``)."""
        return self.num_classes if self.kind is FieldKind.CATEGORICAL else self.dim

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "level": self.level.value,
            "dim": self.dim,
            "num_classes": self.num_classes,
            "labels": list(self.labels) if self.labels is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FieldSpec":
        labels = d.get("labels")
        return cls(
            name=d["name"],
            kind=d["kind"],
            level=d["level"],
            dim=int(d.get("dim", 1)),
            num_classes=int(d.get("num_classes", 0)),
            labels=tuple(labels) if labels is not None else None,
        )


@dataclass(frozen=True)
class GraphSpec:
    """The fields a domain's graphs carry, plus named graph-level property columns.

    Parameters
    ----------
    name:
        Domain name, for messages.
    fields:
        The diffusable fields.
    properties:
        Names of optional graph-level scalar properties (conditioning targets).
    max_nodes:
        Largest graph the domain accepts (``None``: no limit).
    """

    name: str
    fields: tuple[FieldSpec, ...]
    properties: tuple[str, ...] = ()
    max_nodes: int | None = None
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "properties", tuple(self.properties))
        names = [f.name for f in self.fields]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"graph spec {self.name!r}: duplicate field names {sorted(dup)}")
        for n in list(names) + list(self.properties):
            problem = _name_problem(n)
            if problem:
                raise ValueError(f"graph spec {self.name!r}: field or property name {n!r} {problem}")
        edge_classes = [f.name for f in self.fields if f.level is Level.EDGE and f.kind is FieldKind.CATEGORICAL]
        if len(edge_classes) > 1:
            raise ValueError(f"graph spec {self.name!r}: at most one categorical edge-level field "
                             f"(the edges' existence and class), got {edge_classes}")
        edge_values = [f.name for f in self.fields if f.level is Level.EDGE and f.kind is FieldKind.CONTINUOUS]
        if edge_values and not edge_classes:
            raise ValueError(
                f"graph spec {self.name!r}: continuous edge field(s) {edge_values} hold values on edges, "
                "so the spec needs a categorical edge field saying which node pairs are edges, e.g. "
                "FieldSpec('edges', 'categorical', 'edge', num_classes=2)")
        clash = set(names) & set(self.properties)
        if clash:
            raise ValueError(f"graph spec {self.name!r}: {sorted(clash)} are fields and properties")
        if not self.fields:
            raise ValueError(f"graph spec {self.name!r} has no fields")
        self._by_name.update({f.name: f for f in self.fields})

    def __getitem__(self, name: str) -> FieldSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"graph spec {self.name!r} has no field {name!r}; fields: {list(self._by_name)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def edge_field(self) -> FieldSpec | None:
        """The categorical edge field (which node pairs are edges, and their class), or ``None``."""
        return next((f for f in self.fields if f.level is Level.EDGE and f.kind is FieldKind.CATEGORICAL),
                    None)

    @property
    def edge_value_fields(self) -> list[FieldSpec]:
        """The continuous edge fields (values on the edges of :attr:`edge_field`), in spec order."""
        return [f for f in self.fields if f.level is Level.EDGE and f.kind is FieldKind.CONTINUOUS]

    def of_kind(self, kind: FieldKind | str) -> list[FieldSpec]:
        kind = FieldKind(kind)
        return [f for f in self.fields if f.kind is kind]

    def at_level(self, level: Level | str) -> list[FieldSpec]:
        level = Level(level)
        return [f for f in self.fields if f.level is level]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fields": [f.to_dict() for f in self.fields],
            "properties": list(self.properties),
            "max_nodes": self.max_nodes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GraphSpec":
        return cls(
            name=d["name"],
            fields=tuple(FieldSpec.from_dict(f) for f in d["fields"]),
            properties=tuple(d.get("properties", ())),
            max_nodes=d.get("max_nodes"),
        )

    # ------------------------------------------------------------------ validation
    def validate(self, data: Data, where: str = "graph", fields: Iterable[str] | None = None) -> None:
        """Check that ``data`` carries the fields of this spec with the right shapes and values.

        Parameters
        ----------
        data:
            One graph (not a batch).
        where:
            Text naming the graph in error messages (a file and row, an index...).
        fields:
            Only check these fields (default: all).

        Raises
        ------
        GraphValidationError
            Naming ``where``, the field and what is wrong.
        """
        n = data.num_nodes
        if n is None or n < 1:
            raise GraphValidationError(f"{where}: graph has no nodes")
        if self.max_nodes is not None and n > self.max_nodes:
            raise GraphValidationError(
                f"{where}: {n} nodes, more than the {self.max_nodes} the {self.name!r} domain allows"
            )
        wanted = [self[f] for f in fields] if fields is not None else list(self.fields)
        for f in wanted:
            value = getattr(data, f.name, None)
            if value is None:
                raise GraphValidationError(f"{where}: field {f.name!r} is missing")
            if not isinstance(value, torch.Tensor):
                raise GraphValidationError(
                    f"{where}: field {f.name!r} must be a tensor, got {type(value).__name__}"
                )
            self._check_field(f, value, data, n, where)
        for p in self.properties:
            value = getattr(data, p, None)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise GraphValidationError(f"{where}: property {p!r} must be a one-element tensor")

    def _check_field(self, f: FieldSpec, value: torch.Tensor, data: Data, n: int, where: str) -> None:
        label = f"{where}: field {f.name!r}"
        if f.level is Level.EDGE:
            ei = getattr(data, "edge_index", None)
            if ei is None or ei.dim() != 2 or ei.size(0) != 2:
                raise GraphValidationError(f"{label}: edge fields need edge_index of shape [2, E]")
            expected: tuple[int, ...] = (ei.size(1),)
            if ei.numel() and (ei.min() < 0 or ei.max() >= n):
                raise GraphValidationError(f"{label}: edge_index refers to nodes outside [0, {n})")
            if ei.numel() and bool((ei[0] == ei[1]).any()):
                raise GraphValidationError(f"{label}: self-loops are not allowed")
            if f.kind is FieldKind.CONTINUOUS:
                expected = (ei.size(1), f.dim)
        elif f.level is Level.GRAPH:
            expected = (1,) if f.kind is FieldKind.CATEGORICAL else (1, f.dim)
        else:
            expected = (n,) if f.kind is FieldKind.CATEGORICAL else (n, f.dim)
        if tuple(value.shape) != expected:
            raise GraphValidationError(
                f"{label}: shape {list(value.shape)}, expected {list(expected)}"
            )
        if f.kind is FieldKind.CATEGORICAL:
            if value.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
                raise GraphValidationError(f"{label}: categorical values must be integers")
            low = 1 if f.level is Level.EDGE else 0
            if value.numel() and (value.min() < low or value.max() >= f.num_classes):
                raise GraphValidationError(
                    f"{label}: class ids must lie in [{low}, {f.num_classes}), "
                    f"got [{int(value.min())}, {int(value.max())}]"
                )
        else:
            if not value.is_floating_point():
                raise GraphValidationError(f"{label}: values must be floating point")
            bad = ~torch.isfinite(value)
            if bool(bad.any()):
                idx = int(bad.nonzero()[0, 0])
                raise GraphValidationError(f"{label}: non-finite value (NaN or inf) at row {idx}")
            if f.kind is FieldKind.TORUS and value.numel():
                if float(value.min()) < 0.0 or float(value.max()) >= 1.0:
                    raise GraphValidationError(f"{label}: torus values must lie in [0, 1)")
            if f.level is Level.EDGE:
                _check_symmetric(value, data.edge_index, n, label)


def _check_symmetric(value: torch.Tensor, edge_index: torch.Tensor, n: int, label: str) -> None:
    """Check that every edge ``(i, j)`` of ``edge_index [2, E]`` also appears as ``(j, i)`` with
    the same row of ``value [E, dim]``; raise naming the first edge that does not."""
    if not edge_index.numel():
        return
    u, v = edge_index[0].long(), edge_index[1].long()
    keys = u * n + v
    order = torch.argsort(keys)
    pos = torch.searchsorted(keys[order], v * n + u).clamp(max=keys.numel() - 1)
    rev = order[pos]
    missing = keys[rev] != v * n + u
    if bool(missing.any()):
        k = int(missing.nonzero()[0, 0])
        raise GraphValidationError(f"{label}: edge ({int(u[k])}, {int(v[k])}) (column {k} of edge_index) "
                                   f"has no reverse ({int(v[k])}, {int(u[k])}); continuous edge fields need "
                                   "both directions of every edge")
    differ = (value != value[rev]).flatten(1).any(1)
    if bool(differ.any()):
        k = int(differ.nonzero()[0, 0])
        r = int(rev[k])
        raise GraphValidationError(f"{label}: not symmetric: edge ({int(u[k])}, {int(v[k])}) (row {k}) holds "
                                   f"{value[k].tolist()} but ({int(v[k])}, {int(u[k])}) (row {r}) holds "
                                   f"{value[r].tolist()}; an undirected edge has one value")


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a ``Data`` attribute holding a field, or ``None``."""
    if name in {"edge_index", "batch", "ptr", "num_nodes", "edge_attr", "y", "face"}:
        return "is a structural attribute of torch_geometric's Data"
    if hasattr(Data, name) and name not in {"x", "pos"}:  # x and pos are plain stored attributes
        return "clashes with an attribute or method of torch_geometric's Data"
    if "index" in name or "batch" in name:
        return "contains 'index' or 'batch', which torch_geometric shifts when batching"
    return None


def wrap01(x: torch.Tensor) -> torch.Tensor:
    """Wrap values into ``[0, 1)`` exactly (``x - floor(x)``, with 1.0 mapped to 0.0)."""
    y = x - torch.floor(x)
    return torch.where(y >= 1.0, torch.zeros_like(y), y)

