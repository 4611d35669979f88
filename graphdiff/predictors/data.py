"""Labelled data: a domain's items with the property values a predictor learns, and the
domain look-ups that reading them needs.

:func:`read_labelled` reads a source with the domain's reader and attaches each item's values
(from a labels CSV, the source's own columns, or registered targets) as
``graph.predictor_y`` (:data:`LABELS_ATTR`), giving :class:`LabelledData`. Also here: the
domain and its registered targets by name (:func:`load_domain`, :func:`targets_of`), a target's
values on objects (:func:`target_values`), :func:`strip_graph` (a graph cut to a spec's
fields), and the facts a predictor records about its training data (:func:`classes_seen`,
:func:`label_range`).
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.data import convert_record
from graphdiff.errors import DataError
from graphdiff.graph import FieldKind, FieldSpec, GraphSpec, Level

__all__ = ["LABELS_ATTR", "LabelledData", "read_labelled", "load_domain", "targets_of", "without_gradient",
           "target_values", "strip_graph", "class_fields", "classes_seen", "label_range"]

#: attribute holding the standardisation-free targets ``float [1, K]`` (NaN: missing)
LABELS_ATTR = "predictor_y"


@dataclass
class LabelledData:
    """Graphs with their property values: ``graphs[i].predictor_y`` is ``float [1, K]`` (NaN where
    missing), ``ids[i]`` the item's id; ``skipped`` lists ``{"where", "reason"}`` of the items left
    out; ``sources`` says where each property's values came from (``column``, ``labels``,
    ``target``)."""

    graphs: list[Data]
    ids: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def subset(self, idx: Sequence[int]) -> "LabelledData":
        return LabelledData([self.graphs[i] for i in idx], [self.ids[i] for i in idx], [], self.sources)


def _read_labels(path: str | Path, id_column: str, properties: Sequence[str]
                 ) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``{id: {property: value}}`` for the property columns the labels CSV has, and its header."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such labels file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the labels as CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the labels file is empty")
    header = [h.strip() for h in rows[0]]
    if id_column not in header:
        raise DataError(f"{path}: no id column {id_column!r} (predictor.id_column); columns: {header}")
    ic = header.index(id_column)
    cols = {p: header.index(p) for p in properties if p in header}
    out: dict[str, dict[str, float]] = {}
    for n, row in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path} row {n}: {len(row)} fields but the header has {len(header)}")
        rid = row[ic].strip()
        if rid in out:
            raise DataError(f"{path} row {n}: id {rid!r} appears twice")
        values = {}
        for p, c in cols.items():
            text = row[c].strip()
            values[p] = _number(text, f"{path} row {n} (id {rid})", p) if text else math.nan
        out[rid] = values
    return out, header


def _number(value: Any, where: str, prop: str) -> float:
    """``float(value)`` or a :class:`DataError` naming the item and the property."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise DataError(f"{where}: property {prop!r} is a boolean ({value!r}), not a number")
    try:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError("not one value")
            value = value.item()
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: property {prop!r} has the non-numeric value {value!r}") from None


def target_values(target: Any, name: str, objs: Sequence[Any], ids: Sequence[str] | None) -> list[float]:
    """``target``'s value on every object: one ``batch_fn`` call where the target has one (a
    batched model), else (or when the batch fails, to find the item) one call per object; an
    item that fails or gives a value that is not finite raises :class:`DataError` naming it."""
    errors = (DataError, ValueError, TypeError, ArithmeticError, RuntimeError)
    values = None
    if getattr(target, "batch_fn", None) is not None and objs:
        try:
            values = [float(v) for v in target.batch_fn(list(objs))]
        except errors:
            values = None
    out = []
    for i, obj in enumerate(objs):
        where = f"item {ids[i]}" if ids is not None else f"item {i}"
        try:
            value = values[i] if values is not None else float(target(obj))
        except errors as exc:
            raise DataError(f"{where}: offset term {name!r} cannot be evaluated: {exc}") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: offset term {name!r} is {value}")
        out.append(value)
    return out


def load_domain(name: str) -> Any:
    """The registered domain ``name`` (its plugin loaded on first use)."""
    from graphdiff.plugins import get_manager

    return get_manager().get("domains", name)


def targets_of(domain_name: str) -> dict[str, Any]:
    """The registered targets that score ``domain_name``'s objects, by name."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")  # the domain from the metadata: others stay unloaded
    return {e.name: e.obj for e in reg.entries() if e.meta("domain") in (None, domain_name)}


def _domain_targets(domain: Any) -> dict[str, Any]:
    return targets_of(domain.name)


def without_gradient(names: Sequence[str], known: dict[str, Any]) -> list[str]:
    """The targets among ``names`` that have no ``graph_fn`` in ``known`` (or are not in it)."""
    return [n for n in names if getattr(known.get(n), "graph_fn", None) is None]


def strip_graph(graph: Data, spec: GraphSpec) -> Data:
    """A copy holding only the spec's fields (and ``edge_index``): what a predictor reads."""
    out = Data(num_nodes=graph.num_nodes)
    for f in spec.fields:
        setattr(out, f.name, getattr(graph, f.name))
    if spec.edge_field is not None:
        out.edge_index = graph.edge_index
    return out


def read_labelled(domain: Any, source: str | Path, properties: Sequence[str], *,
                  labels: str | Path | None = None, id_column: str = "id",
                  missing: str = "skip", strict: bool = False, max_items: int | None = None,
                  progress: bool = False, **options: Any) -> LabelledData:
    """Read ``source`` with the domain's reader; attach each item's property values.

    A property's values come from, in this order: the ``labels`` CSV when it has that column
    (rows matched on the item id), the source's own column of that name, or a registered target
    of the domain of that name (computed from each item). Items the reader or the converter
    rejects are skipped and reported (``strict``: raised). An item lacking a property (empty
    cell, NaN, absent from the labels) is skipped and reported (``missing="skip"``), raises a
    :class:`DataError` naming its id (``"error"``), or is kept when it has another property
    (``"mask"``). A non-numeric value raises a :class:`DataError` naming the item.
    ``progress``: bars on stderr while the items are read and converted.
    """
    if missing not in ("skip", "error", "mask"):
        raise ValueError(f"missing must be skip, error or mask, got {missing!r}")
    source = str(source)
    if "://" not in source and not Path(source).exists():
        raise DataError(f"{source}: no such file or folder")
    skipped: list[dict[str, str]] = []
    name = Path(source).name or source
    try:
        records = []
        with _bar(max_items, f"reading {name}", "item", progress) as bar:
            for rec in domain.read(source, strict=strict, skipped=skipped, **options):
                records.append(rec)
                bar.update(1)
                if max_items is not None and len(records) >= max_items:
                    break
    except DataError as exc:
        raise DataError(f"cannot read {source} as a {domain.name!r} source: {exc}") from None
    if not records:
        raise DataError(f"{source}: no usable {domain.name!r} items" + (f" ({len(skipped)} skipped: "
                        f"{skipped[0]['where']}: {skipped[0]['reason']})" if skipped else ""))
    table, header = (_read_labels(labels, id_column, properties) if labels else ({}, []))
    columns = sorted({k for r in records for k in (r.get("props") or {})})
    targets = None
    getters: dict[str, Callable[[Any, str], Any]] = {}
    sources: dict[str, str] = {}
    for p in properties:
        if labels and p in header:
            getters[p] = lambda rec, rid, p=p: table.get(rid, {}).get(p, math.nan)
            sources[p] = f"labels {Path(labels).name}"
        elif p in columns:
            getters[p] = lambda rec, rid, p=p: (rec.get("props") or {}).get(p, math.nan)
            sources[p] = "column"
        else:
            targets = _domain_targets(domain) if targets is None else targets
            if p not in targets:
                where = [f"not a numeric column of {source} (numeric columns: {', '.join(columns) or 'none'}"
                         "; a column holding any non-numeric value is not a property)"]
                if labels:
                    where.append(f"not a column of the labels {labels} (columns: {', '.join(header)})")
                where.append(f"and no target of domain {domain.name!r} has that name (targets: "
                             f"{', '.join(sorted(targets)) or 'none'})")
                raise DataError(f"property {p!r} not found: " + "; ".join(where))
            getters[p] = lambda rec, rid, t=targets[p]: t(rec["obj"])
            sources[p] = f"target {p}"
    if labels:
        known = {str(r.get("id")) for r in records}
        unknown = [k for k in table if k not in known]
        if unknown and len(unknown) == len(table):
            raise DataError(f"{labels}: none of its ids matches an item of {source} (e.g. {unknown[0]!r} "
                            f"vs item id {str(records[0].get('id'))!r})")
    graphs, ids = [], []
    bar = _bar(len(records), f"converting {name}", "item", progress)
    for k, rec in enumerate(records):
        bar.update(1)
        rid = str(rec.get("id", k))
        where = str(rec.get("source") or (rid if Path(source).name in rid else f"{Path(source).name} item {k}"))
        if rid not in where:
            where += f" (id {rid})"
        values, notes = [], []
        for p in properties:
            try:
                raw = getters[p](rec, rid)
            except Exception as exc:  # noqa: BLE001 - a target that cannot score this item
                if missing == "error":
                    raise DataError(f"{where}: target {p!r} cannot score it: {exc}") from None
                raw = math.nan
                notes.append(f"target {p!r} cannot score it: {exc}")
            values.append(_number(raw, where, p))
        lacking = [p for p, v in zip(properties, values) if not math.isfinite(v)]
        if lacking:
            if missing == "error":
                raise DataError(f"{where}: property {', '.join(map(repr, lacking))} is missing "
                                "(predictor.missing = 'skip' leaves such items out)")
            if missing == "skip" or len(lacking) == len(properties):
                skipped.append({"where": where, "reason": f"no value of {', '.join(lacking)}"
                                + (f" ({'; '.join(notes)})" if notes else "")})
                continue
        graph = convert_record(domain, {"obj": rec["obj"]}, where, strict, skipped)  # no props
        if graph is None:
            continue
        graph = strip_graph(graph, domain.spec)
        setattr(graph, LABELS_ATTR, torch.tensor([values], dtype=torch.float32))
        graphs.append(graph)
        ids.append(rid)
    bar.close()
    if not graphs:
        shown = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
        raise DataError(f"{source}: no item has the properties {list(properties)} ({len(skipped)} "
                        f"skipped: {shown})")
    return LabelledData(graphs, ids, skipped, sources)


def _bar(total: int | None, desc: str, unit: str, enabled: bool) -> Any:
    """A progress bar on stderr (tqdm; a silent one when not ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                leave=False)


def class_fields(spec: GraphSpec) -> list[FieldSpec]:
    """The node categorical fields (a crystal's or molecule's atom types)."""
    return [f for f in spec.fields if f.level is Level.NODE and f.kind is FieldKind.CATEGORICAL]


def classes_seen(graphs: Sequence[Data], spec: GraphSpec) -> dict[str, list[int]]:
    """``{field: sorted class indices}`` of the node categorical fields over ``graphs`` (stored
    with a predictor: :func:`out_of_domain` flags items with other classes)."""
    out = {}
    for f in class_fields(spec):
        seen: set[int] = set()
        for g in graphs:
            seen.update(getattr(g, f.name).long().view(-1).unique().tolist())
        out[f.name] = sorted(seen)
    return out


def label_range(data: LabelledData, properties: Sequence[str]) -> dict[str, list[float]]:
    """``{property: [min, max]}`` of the training labels (requests outside it are warned about)."""
    if not data.graphs:
        return {}
    y = torch.cat([g.predictor_y.view(1, -1) for g in data.graphs], 0)
    out = {}
    for k, prop in enumerate(properties):
        col = y[:, k][torch.isfinite(y[:, k])]
        if col.numel():
            out[prop] = [float(col.min()), float(col.max())]
    return out
