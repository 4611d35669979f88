"""Distinct, ranked candidates per input item (``graphdiff sample --samples-per-row K``).

A user asking for K structures of one composition wants K *different* answers, best first, not K
copies of the likeliest one. For each input item this module draws ``draws`` samples, groups
them into classes of equivalent objects with the domain's :meth:`~graphdiff.domain.Domain.equivalent`
(for crystals: pymatgen's ``StructureMatcher``), draws more for items with fewer than K classes
(up to ``max_draws``), and returns one representative per class, ranked by

1. validity (:meth:`~graphdiff.domain.Domain.valid`), then
2. when a ``score`` is given (e.g. the similarity of a candidate's diffraction pattern to the
   item's measured one, :mod:`graphdiff.references`), that score, larger first, then
3. the share of the item's draws that fell into the class — a Monte-Carlo estimate of the
   probability the model gives that answer, i.e. the model's own ranking of its candidates.

A class is represented by its best-scoring member when a ``score`` is given; otherwise, when the
domain defines :meth:`~graphdiff.domain.Domain.distance` and the class has at least three
members, by its *medoid*: the member with the smallest summed distance to the others, the draw at
the centre of the model's samples of that answer (for crystals, the least distorted one: every
draw carries its own sampling noise, and the medoid is the one that agrees best with the rest).
With fewer members, or without a distance, the class's first draw represents it.

Items for which the model offers fewer than K distinct answers get repeats of their best classes
after the distinct ones, flagged ``distinct = 0``: nothing is hidden and every item still gets K rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from torch_geometric.data import Data

__all__ = ["Candidate", "group_equivalent", "medoid", "rank_candidates", "distinct_candidates"]


@dataclass
class _Class:
    members: list[int] = field(default_factory=list)
    valid: bool = True


@dataclass(frozen=True)
class Candidate:
    """One answer for one input item."""

    graph: Data
    rank: int           #: 0 = best
    share: float        #: fraction of the item's draws equivalent to this answer
    distinct: bool      #: False for a repeat filling the K slots
    valid: bool
    draws: int          #: samples drawn for the item
    score: float = float("nan")  #: the ranking score of the class's representative (NaN: none)


def group_equivalent(objs: Sequence[Any], equivalent: Callable[[Any, Any], bool],
                     valid: Sequence[bool]) -> list[_Class]:
    """Greedy grouping: each valid object joins the first valid class whose first member it is
    equivalent to; invalid objects are never compared (each is its own class)."""
    classes: list[_Class] = []
    for i, obj in enumerate(objs):
        for c in classes:
            if valid[i] and c.valid and equivalent(objs[c.members[0]], obj):
                c.members.append(i)
                break
        else:
            classes.append(_Class([i], valid[i]))
    return classes


def medoid(members: Sequence[int], objs: Sequence[Any], distance: Callable[[Any, Any], float | None]) -> int:
    """The member (an index into ``objs``) with the smallest summed ``distance`` to the other
    members (ties: the earliest). A pair the distance cannot compare (``None`` or not finite)
    counts as the largest distance seen in the class (1.0 if none was). Fewer than three
    members: the first."""
    members = list(members)
    if len(members) < 3:
        return members[0]
    m = len(members)
    d: list[list[float | None]] = [[0.0] * m for _ in range(m)]
    known = []
    for a in range(m):
        for b in range(a + 1, m):
            try:
                v = distance(objs[members[a]], objs[members[b]])
            except Exception:  # an uncomparable pair is far, never fatal
                v = None
            v = float(v) if v is not None and math.isfinite(v) else None
            d[a][b] = d[b][a] = v
            if v is not None:
                known.append(v)
    far = max(known) if known else 1.0
    totals = [sum(far if v is None else v for v in row) for row in d]
    return members[min(range(m), key=lambda a: (totals[a], a))]


def rank_candidates(graphs: Sequence[Data], classes: list[_Class], k: int,
                    scores: Sequence[float] | None = None, objs: Sequence[Any] | None = None,
                    distance: Callable[[Any, Any], float | None] | None = None) -> list[Candidate]:
    """Valid before invalid, then (with ``scores``, one per graph; NaN ranks last) the larger
    score of the class's best member, then larger share first (ties: earlier first); repeats
    fill to ``k``. With scores, a class is represented by its best-scoring member; without, by
    its :func:`medoid` under ``distance`` (with ``objs``, the domain objects of ``graphs``) when
    both are given and the class is valid, else by its first member."""
    n = len(graphs)

    def best(c: _Class) -> tuple[int, float]:
        if scores is None:
            if distance is not None and objs is not None and c.valid:
                return medoid(c.members, objs, distance), float("nan")
            return c.members[0], float("nan")
        m = max(c.members, key=lambda i: (scores[i] == scores[i], scores[i] if scores[i] == scores[i] else 0.0))
        return m, scores[m]

    reps = [best(c) for c in classes]

    def key(j: int) -> tuple:
        s = reps[j][1]
        return (not classes[j].valid, -(s if s == s else float("-inf")), -len(classes[j].members),
                classes[j].members[0])

    order = sorted(range(len(classes)), key=key)
    out = [Candidate(graphs[reps[j][0]], r, len(classes[j].members) / n, True, classes[j].valid, n,
                     reps[j][1]) for r, j in enumerate(order[:k])]
    # fewer distinct answers than asked: further members of the best classes, best first
    extra = iter([(j, m) for j in order for m in classes[j].members if m != reps[j][0]])
    while len(out) < k:
        nxt = next(extra, None)
        if nxt is None:
            break
        j, m = nxt
        out.append(Candidate(graphs[m], len(out), len(classes[j].members) / n, False, classes[j].valid, n,
                             scores[m] if scores is not None else float("nan")))
    return out


def distinct_candidates(sample: Callable[[list[Data]], list[Data]], templates: Sequence[Data], k: int,
                        domain: Any, *, draws: int, max_draws: int, rows_per_round: int = 64,
                        progress: bool = False,
                        score: Callable[[int, Any], float] | None = None,
                        medoids: bool = True) -> Iterator[tuple[int, list[Candidate]]]:
    """Yield ``(item index, its k ranked candidates)`` for every template, in order.

    ``sample(templates)`` returns one generated graph per template (the caller fixes steps,
    sampler and seeds). Rows are processed ``rows_per_round`` at a time so memory stays bounded.
    ``score(item index, domain object)`` (optional) ranks an item's valid classes before their
    share of draws. ``medoids=False`` represents every class by its first draw even when the
    domain has a distance.
    """
    if k < 1 or draws < 1 or max_draws < draws:
        raise ValueError(f"need k >= 1, draws >= 1 and max_draws >= draws (got {k}, {draws}, {max_draws})")
    distance = _domain_distance(domain) if medoids else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(templates), desc="rows", unit="row", dynamic_ncols=True)
    for lo in range(0, len(templates), rows_per_round):
        rows = list(range(lo, min(len(templates), lo + rows_per_round)))
        graphs: dict[int, list[Data]] = {i: [] for i in rows}
        objs: dict[int, list[Any]] = {i: [] for i in rows}
        valid: dict[int, list[bool]] = {i: [] for i in rows}
        classes: dict[int, list[_Class]] = {}
        pending = rows
        while pending:
            batch = [i for i in pending for _ in range(draws)]
            new = sample([templates[i] for i in batch])
            for i, g in zip(batch, new):
                graphs[i].append(g)
                obj, ok = _convert(domain, g)
                objs[i].append(obj)
                valid[i].append(ok)
            pending = []
            for i in {i for i in batch}:
                classes[i] = group_equivalent(objs[i], domain.equivalent, valid[i])
                if len(classes[i]) < k and len(graphs[i]) + draws <= max_draws:
                    pending.append(i)
            pending.sort()
        for i in rows:
            scores = None
            if score is not None:
                scores = [score(i, o) if ok else float("nan") for o, ok in zip(objs[i], valid[i])]
            yield i, rank_candidates(graphs[i], classes[i], k, scores, objs[i], distance)
            if bar:
                bar.update(1)
    if bar:
        bar.close()


def _domain_distance(domain: Any) -> Callable[[Any, Any], float | None] | None:
    """The domain's :meth:`~graphdiff.domain.Domain.distance` when it defines one (not the base
    class's, which knows none)."""
    from graphdiff.domain import Domain

    fn = getattr(type(domain), "distance", None)
    if fn is None or fn is Domain.distance:
        return None
    return domain.distance


def _convert(domain: Any, g: Data) -> tuple[Any, bool]:
    """The domain object of a generated graph and whether it is valid (unconvertible: invalid)."""
    try:
        obj = domain.from_graph(g)
    except Exception:  # an unconvertible sample is an invalid answer, ranked last, never dropped
        return None, False
    return obj, bool(domain.valid(obj))
