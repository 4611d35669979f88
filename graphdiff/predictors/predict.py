"""Prediction with a trained predictor: loading it once per file version, predicting a file
of items, and saying where it extrapolates.

:func:`as_predictor` takes a loaded :class:`~graphdiff.predictors.model.Predictor` or a file
(loaded once per file version); :func:`predict_file` predicts every item of a domain file into a
CSV; :func:`out_of_domain` / :func:`out_of_domain_objects` say why the predictor extrapolates on
an item (node classes or sizes its training data never had, :func:`training_classes`).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch_geometric.data import Data

from graphdiff.data import convert_record
from graphdiff.errors import CheckpointError, DataError
from graphdiff.predictors.data import class_fields, load_domain
from graphdiff.predictors.model import Predictor

__all__ = ["as_predictor", "training_classes", "out_of_domain", "out_of_domain_objects", "predict_file"]

_CACHE: dict[tuple[str, float], Predictor] = {}


def as_predictor(p: "Predictor | str | Path") -> Predictor:
    """``p`` itself when it is a loaded predictor, else the predictor in the file ``p`` (loaded
    once per file version)."""
    return p if isinstance(p, Predictor) else _cached_load(str(Path(p).resolve()))


def _cached_load(path: str) -> Predictor:
    """:meth:`Predictor.load`, once per file version (targets call it per object)."""
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        raise CheckpointError(f"{path}: no such predictor file") from None
    if key not in _CACHE:
        _CACHE[key] = Predictor.load(path)
    return _CACHE[key]


def training_classes(predictor: "Predictor | str | Path") -> dict[str, set[int] | None]:
    """``{field: class indices seen in training}`` of each node categorical field of a predictor
    (a crystal's or molecule's ``atom_types``; ``None`` where it cannot be known).

    A predictor trained by this version records them (``meta["classes_seen"]``, from every
    training item). For an older file they are read from the field's fitted marginal prior: a
    class absent from the training data keeps only the prior's floor (1e-4 of the mass, shared),
    a class seen once in up to a million nodes stands clear above it; a field without a marginal
    prior gives ``None``."""
    model = as_predictor(predictor)
    recorded = (model.meta or {}).get("classes_seen") or {}
    out: dict[str, set[int] | None] = {}
    for f in class_fields(model.spec):
        if f.name in recorded:
            out[f.name] = {int(c) for c in recorded[f.name]}
            continue
        proc = model.processes[f.name] if f.name in model.processes else None
        if getattr(proc, "prior_kind", None) != "marginal":
            out[f.name] = None
            continue
        m = proc.m.detach().double().cpu()
        floor = 1e-4 / (1 + 1e-4 * f.num_classes)
        out[f.name] = set(torch.nonzero(m > floor * 1.001).view(-1).tolist())
    return out


def out_of_domain(predictor: "Predictor | str | Path", graphs: Sequence[Data]) -> list[str]:
    """Per graph, why the predictor extrapolates on it (``""``: inside its training data): node
    classes the training items never had (``"atom_types not in the training data: C"``), and
    more nodes than any training item had. The prediction is still made; this says how far to
    trust it."""
    model = as_predictor(predictor)
    seen = training_classes(model)
    largest = int(model.max_nodes_seen) if hasattr(model, "max_nodes_seen") else 0
    out = []
    for g in graphs:
        reasons = []
        for name, known in seen.items():
            if known is None or getattr(g, name, None) is None:
                continue
            new = sorted(set(getattr(g, name).long().view(-1).unique().tolist()) - known)
            if new:
                labels = model.spec[name].labels
                shown = [labels[c] if labels and 0 <= c < len(labels) else str(c) for c in new]
                reasons.append(f"{name} not in the training data: {', '.join(shown)}")
        n = int(g.num_nodes)
        if largest and n > largest:
            reasons.append(f"{n} nodes, more than any training item ({largest})")
        out.append("; ".join(reasons))
    return out


def out_of_domain_objects(predictor: "Predictor | str | Path", objs: Sequence[Any],
                          domain: Any = None) -> list[str]:
    """:func:`out_of_domain` of domain objects (converted with the predictor's domain, or
    ``domain``); an object that cannot be converted gets the reason it cannot."""
    model = as_predictor(predictor)
    domain = domain or load_domain(model.domain)
    out = []
    for i, obj in enumerate(objs):
        try:
            graph = domain.to_graph(obj)
        except Exception as exc:  # noqa: BLE001 - reported for this item
            out.append(f"cannot convert item {i}: {type(exc).__name__}: {exc}")
            continue
        out += out_of_domain(model, [graph])
    return out


def _id_column_name(path: Path, ids: Sequence[str]) -> str:
    """The input CSV's column holding the items' ids (the first few suffice), else ``"id"``."""
    wanted = set(list(ids)[:5])
    if path.suffix.lower() != ".csv" or not wanted:
        return "id"
    try:
        csv.field_size_limit(1 << 30)
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            seen: list[set[str]] = [set() for _ in header]
            for row in reader:
                for c, value in enumerate(row[:len(header)]):
                    seen[c].add(value.strip())
                found = [c for c in range(len(header)) if header[c] and wanted <= seen[c]]
                if found:
                    return header[found[0]]
    except (OSError, csv.Error, UnicodeDecodeError):
        pass
    return "id"


def predict_file(predictor: "Predictor | str | Path", input_path: str | Path, out_path: str | Path, *,
                 strict: bool = False, id_column: str | None = None, batch_size: int = 256,
                 flagged: list[dict[str, str]] | None = None, **options: Any) -> tuple[int, list[dict[str, str]]]:
    """Predict every item of ``input_path`` (read with the predictor's domain) into the CSV
    ``out_path``: the input's id column, then per property ``NAME`` and ``NAME_std``, then
    ``out_of_domain``: why the predictor extrapolates on the item (:func:`out_of_domain`: node
    classes, e.g. elements, that no training item had; more nodes than any had), empty when it
    does not.

    Items are read, converted and predicted ``batch_size`` at a time; the output appears (by
    a rename) only when every item is done. Returns the number of rows written and the skipped
    items (reader or converter rejects; ``strict``: raised instead). ``flagged`` receives
    ``{"id", "where", "reason"}`` for each item out of the training domain.
    """
    model = as_predictor(predictor)
    domain = load_domain(model.domain)
    from graphdiff.data import is_dataset_uri

    out_path = Path(out_path)
    if not is_dataset_uri(str(input_path)):  # a dataset URI stays a string: a Path collapses "//"
        input_path = Path(input_path)
        if not input_path.exists():
            raise DataError(f"{input_path}: no such file or folder")
    trained = model.meta.get("domain_version")
    if trained is not None and str(trained) != str(domain.version):
        warnings.warn(f"the predictor was trained on version {trained} of domain {model.domain!r}; "
                      f"version {domain.version} is installed (its graphs may differ)", RuntimeWarning,
                      stacklevel=2)
    props = model.properties
    skipped: list[dict[str, str]] = []
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    count = 0
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)

            def flush(graphs: list[Data], ids: list[str], wheres: list[str]) -> None:
                nonlocal count
                if count == 0:
                    column = id_column or _id_column_name(Path(str(input_path)), ids)
                    if column in props or column in {f"{p}_std" for p in props}:
                        column = f"{column}_id"
                    writer.writerow([column] + [c for p in props for c in (p, f"{p}_std")] + ["out_of_domain"])
                mean, std = model.predict(graphs, batch_size, ids)
                reasons = out_of_domain(model, graphs)
                for i, rid in enumerate(ids):
                    writer.writerow([rid] + [repr(float(v)) for j in range(len(props))
                                             for v in (mean[i, j], std[i, j])] + [reasons[i]])
                    if reasons[i] and flagged is not None:
                        flagged.append({"id": rid, "where": wheres[i], "reason": reasons[i]})
                count += len(ids)

            graphs, ids, wheres = [], [], []
            try:
                for k, rec in enumerate(domain.read(input_path, strict=strict, skipped=skipped, **options)):
                    rid = str(rec.get("id", k))
                    where = str(rec.get("source") or rid)
                    g = convert_record(domain, {"obj": rec["obj"]}, where, strict, skipped, spec=model.spec)
                    if g is None:
                        continue
                    graphs.append(g)
                    ids.append(rid)
                    wheres.append(where)
                    if len(graphs) == batch_size:
                        flush(graphs, ids, wheres)
                        graphs, ids, wheres = [], [], []
            except DataError as exc:
                raise DataError(f"{input_path}: cannot read it as a {model.domain!r} file (the predictor "
                                f"predicts {model.domain!r} items): {exc}") from None
            if graphs:
                flush(graphs, ids, wheres)
        if count == 0:
            shown = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
            raise DataError(f"{input_path}: no {model.domain!r} item to predict"
                            + (f" ({len(skipped)} skipped: {shown})" if skipped else ""))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return count, skipped
