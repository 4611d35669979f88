"""What generation returns: :class:`Samples`, a list of domain objects with what was learnt
about each on the way."""

from __future__ import annotations

from typing import Any, Sequence

from graphdiff.errors import ConfigError

__all__ = ["Samples"]


class Samples(list):
    """Generated domain objects (a ``list``), with what was learnt about each on the way.

    Attributes
    ----------
    info:
        One dict per object: its candidate ``rank`` and ``share`` of the draws (``complete``),
        the requested and achieved target values (``targets=``), judged values (``judges=``), the
        ranking score (``rank_by=``), ``lambda`` along an interpolation path...
    ids:
        One id per object: the input's id (``complete``), the position (``sample``).
    graphs:
        The generated graphs (``torch_geometric`` ``Data``) the objects were converted from.
    skipped:
        Generated graphs the domain could not convert to objects: ``{"index", "id", "reason",
        "graph"}`` each. They are not in the list; nothing is dropped without a record.
    unrelaxed:
        With ``relax={"keep_unrelaxed": True}``: the objects as generated, before relaxation
        (one per object, in the same order); else ``None``.
    """

    def __init__(self, objs: Sequence[Any] = (), *, info: Sequence[dict] | None = None,
                 ids: Sequence[str] | None = None, graphs: Sequence[Any] | None = None,
                 skipped: Sequence[dict] | None = None) -> None:
        super().__init__(objs)
        self.info: list[dict[str, Any]] = list(info) if info is not None else [{} for _ in objs]
        self.ids: list[str] = list(ids) if ids is not None else [str(i) for i in range(len(objs))]
        self.graphs: list[Any] = list(graphs) if graphs is not None else []
        self.skipped: list[dict[str, Any]] = list(skipped or [])
        self.unrelaxed: list[Any] | None = None

    def extend_samples(self, other: "Samples") -> None:
        """Append another run's objects with their info, ids, graphs and skipped items."""
        if other.unrelaxed is not None:
            self.unrelaxed = (self.unrelaxed if self.unrelaxed is not None else list(self)) + other.unrelaxed
            self.unrelaxed_graphs = (getattr(self, "unrelaxed_graphs", None) or list(self.graphs)) \
                + other.unrelaxed_graphs
        self.extend(other)
        self.info += other.info
        self.ids += other.ids
        self.graphs += other.graphs
        self.skipped += other.skipped

    def in_order(self) -> tuple[list[Any], list[str], list[dict], list[Any]]:
        """``(graphs, ids, info, objects)`` of every generated graph in the order it was drawn,
        the skipped ones included (their object ``None``, their info ``{}``): what a writer
        needs to name and count every item (:class:`graphdiff.graphio.GraphSink` skips and
        reports those without an object)."""
        items = [(s["index"], s["graph"], s["id"], {}, None) for s in self.skipped]
        order = getattr(self, "positions", None) or list(range(len(self)))
        items += [(p, g, i, info, o) for p, g, i, info, o in zip(order, self.graphs, self.ids, self.info, self)]
        items.sort(key=lambda t: t[0])
        return [t[1] for t in items], [t[2] for t in items], [t[3] for t in items], [t[4] for t in items]

    def as_unrelaxed(self) -> "Samples":
        """These samples as generated, before relaxation (needs ``keep_unrelaxed``): same ids,
        info and order, the unrelaxed objects and graphs."""
        if self.unrelaxed is None:
            raise ConfigError("no unrelaxed objects kept: sample with relax={'keep_unrelaxed': True}")
        out = Samples(self.unrelaxed, info=self.info, ids=self.ids, graphs=self.unrelaxed_graphs,
                      skipped=self.skipped)
        if hasattr(self, "positions"):
            out.positions = self.positions
        return out

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        kinds = sorted({type(o).__name__ for o in self})
        return f"<Samples: {len(self)} {'/'.join(kinds) or 'items'}{skipped}>"
