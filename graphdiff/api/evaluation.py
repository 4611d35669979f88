"""Scoring generated items against references: :func:`evaluate` with the domain's registered
metric, and the domain of what is given (:func:`resolve_domain`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from graphdiff.api.samples import Samples
from graphdiff.errors import ConfigError

__all__ = ["evaluate", "resolve_domain"]


def evaluate(generated: Any, reference: Any, *, task: str, domain: str | None = None, train: Any = None,
             k: Sequence[int] | int | None = None, **options: Any) -> dict[str, Any]:
    """Score generated items against references with the domain's registered metric
    (``<domain>-<task>``: crystals ``csp`` and ``dng`` follow CDVAE's protocol).

    Parameters
    ----------
    generated, reference, train:
        Files the domain reads (paths), lists of records, lists of domain objects, or, for
        ``generated``, what :meth:`Model.complete` returns (candidates keep their input's id).
    task:
        ``"csp"``, ``"dng"``... (the metric ``<domain>-<task>``).
    domain:
        The domain's name; default: inferred from the objects (the one domain whose converter
        accepts them) or, for files, the domain that reads them.
    k:
        Candidates per reference to score (CSP: match rate at each k).
    options:
        Passed to the metric (``dataset=``, ``kernel=``).
    """
    from graphdiff.plugins import get_manager

    manager = get_manager()
    dom = resolve_domain(domain, [generated, reference])
    metric = manager.get("metrics", f"{dom.name}-{task}")
    ks = [k] if isinstance(k, int) else (list(k) if k is not None else None)
    if ks is not None and any(kk < 1 for kk in ks):
        raise ConfigError(f"k: the number of candidates must be at least 1, got {ks}")
    unreadable: list[dict[str, str]] = []
    gen = _as_records(dom, generated, unreadable=unreadable)
    ref = _as_records(dom, reference)
    tr = _as_records(dom, train) if train is not None else None
    result = dict(metric(gen, ref, train=tr, k=ks, **options))
    if unreadable:
        result.update(generated_rows_unreadable=len(unreadable), unreadable=unreadable[:20])
    return result


def resolve_domain(name: str | None, things: Sequence[Any]) -> Any:
    """The domain called ``name``, or (``None``) the one the items belong to: the only domain
    whose converter accepts the objects, or the only one that reads the files (trying the
    first item where several read the suffix). Ambiguity raises :class:`ConfigError`."""
    from graphdiff.plugins import get_manager

    return _infer_domain(name, things, get_manager())


def _infer_domain(name: str | None, things: Sequence[Any], manager: Any) -> Any:
    if name is not None:
        return manager.get("domains", name)
    registry = manager.registry("domains")
    for thing in things:
        sample = _first_object(thing)
        if sample is None:
            continue
        fits = []
        for entry in registry.entries():
            try:
                entry.obj.to_graph(sample)
            except Exception:  # noqa: BLE001 - not this domain's object
                continue
            fits.append(entry.obj)
        if len(fits) == 1:
            return fits[0]
        if len(fits) > 1:
            raise ConfigError(f"domain: {len(fits)} domains accept a {type(sample).__name__} "
                              f"({', '.join(d.name for d in fits)}); pass domain=")
    for thing in things:
        if isinstance(thing, (str, Path)):
            fits = [e.obj for e in registry.entries() if _reads(e.obj, Path(thing))]
            if len(fits) > 1:  # several read the suffix: those that read its first item
                fits = [d for d in fits if _reads_first(d, Path(thing))] or fits
            if len(fits) == 1:
                return fits[0]
            if len(fits) > 1:
                raise ConfigError(f"domain: {', '.join(d.name for d in fits)} all read {Path(thing).name}; "
                                  "pass domain= (--domain)")
    raise ConfigError("domain: cannot tell which domain these items belong to; pass domain= (--domain)")


def _reads(domain: Any, path: Path) -> bool:
    suffix = path.suffix.lower()
    return any(s == suffix or (s.endswith("*") and path.name.startswith(s[:-1]))
               for s in getattr(domain, "read_suffixes", ()))


def _reads_first(domain: Any, path: Path) -> bool:
    try:
        skipped: list[dict[str, str]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            next(iter(domain.read(path, skipped=skipped)))
    except Exception:  # noqa: BLE001 - not this domain's file
        return False
    return True


def _first_object(thing: Any) -> Any:
    if isinstance(thing, (str, Path)) or thing is None:
        return None
    for item in thing:
        if isinstance(item, list):  # candidates of one input
            if item:
                return item[0]
            continue
        return item["obj"] if isinstance(item, Mapping) and "obj" in item else item
    return None


def _as_records(domain: Any, thing: Any, unreadable: list[dict[str, str]] | None = None) -> list[dict]:
    """Records (``id``, ``obj``, ``props``) for a metric, from a file, records, objects or
    :meth:`Model.complete`'s output (each candidate with its input's id and ``sample`` rank).

    With ``unreadable`` (generated items), a file is read without the domain's checks where its
    reader has a ``validate`` option (invalid outputs are scored as invalid, not skipped), and
    rows that cannot be read at all are appended to it."""
    from graphdiff.domain import Record

    if isinstance(thing, (str, Path)):
        path = Path(thing)
        if unreadable is not None:
            import inspect

            params = inspect.signature(domain.read).parameters
            takes = "validate" in params
            return list(domain.read(path, skipped=unreadable, **({"validate": False} if takes else {})))
        return list(domain.read(path))
    out = []
    for i, item in enumerate(thing):
        if isinstance(item, Samples):
            for r, (obj, rid) in enumerate(zip(item, item.ids)):
                out.append(Record(id=rid, obj=obj, props={"sample": float(item.info[r].get("rank", r))}))
        elif isinstance(item, Mapping) and "obj" in item:
            out.append(item)
        else:
            out.append(Record(id=str(i), obj=item, props={}))
    return out
