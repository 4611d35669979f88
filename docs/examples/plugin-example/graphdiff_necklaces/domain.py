"""The necklaces domain: a ring of beads, each bead one of three colours.

A necklace of ``n`` beads is the cycle graph ``C_n`` with a colour on every node:

========  ===========  =====  ==========================================
field     kind         level  stored as
========  ===========  =====  ==========================================
``bead``  categorical  node   ``long [n]``: 0 red, 1 green, 2 blue
``link``  categorical  edge   ``edge_index [2, 2n]`` + ``long [2n]``, class 1
========  ===========  =====  ==========================================

``from_graph`` also receives *generated* graphs, which need not be rings: it walks the ring from
node 0 and raises :class:`~graphdiff.errors.DataError` for anything else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch_geometric.data import Data

from graphdiff.domain import Domain, Record, report_skip
from graphdiff.errors import DataError
from graphdiff.graph import FieldSpec, GraphSpec

COLOURS = ("red", "green", "blue")
LETTERS = "RGB"  # the text format: one necklace per line, e.g. "RGRGRG"


@dataclass(frozen=True)
class Necklace:
    """Bead colours (indices into :data:`COLOURS`) in order around the ring."""

    beads: tuple[int, ...]

    def __str__(self) -> str:
        return "".join(LETTERS[b] for b in self.beads)


class NecklacesDomain(Domain):
    """Necklaces of 3 to ``max_nodes`` beads."""

    name = "necklaces"
    version = "1"
    description = "rings of 3-16 beads, each bead red, green or blue"
    read_suffixes = (".necklaces",)
    write_suffixes = (".necklaces",)

    def __init__(self, max_nodes: int = 16) -> None:
        self._spec = GraphSpec(
            name="necklaces",
            fields=(FieldSpec("bead", kind="categorical", level="node", num_classes=len(COLOURS), labels=COLOURS),
                    FieldSpec("link", kind="categorical", level="edge", num_classes=2)),
            max_nodes=max_nodes,
        )

    @property
    def spec(self) -> GraphSpec:
        return self._spec

    def to_graph(self, obj: Necklace) -> Data:
        n = len(obj.beads)
        if not 3 <= n <= self._spec.max_nodes:
            raise DataError(f"necklaces: a necklace has 3 to {self._spec.max_nodes} beads, got {n}")
        if any(b not in range(len(COLOURS)) for b in obj.beads):
            raise DataError(f"necklaces: bead colours are 0..{len(COLOURS) - 1}, got {obj.beads}")
        i = torch.arange(n)
        j = (i + 1) % n
        return Data(num_nodes=n, bead=torch.tensor(obj.beads, dtype=torch.long),
                    edge_index=torch.stack([torch.cat([i, j]), torch.cat([j, i])]),
                    link=torch.ones(2 * n, dtype=torch.long))

    def from_graph(self, data: Data) -> Necklace:
        n = int(data.num_nodes)
        neighbours: list[set[int]] = [set() for _ in range(n)]
        for a, b in data.edge_index.t().tolist():
            neighbours[a].add(b)
            neighbours[b].add(a)
        degrees = [len(s) for s in neighbours]
        if n < 3 or any(d != 2 for d in degrees):
            raise DataError(f"necklaces: not a ring: {n} beads with degrees {degrees}")
        order, previous = [0], None
        while True:
            step = sorted(neighbours[order[-1]] - {previous})[0]
            if step == 0:
                break
            previous = order[-1]
            order.append(step)
        if len(order) != n:
            raise DataError(f"necklaces: not one ring: the ring through bead 0 has {len(order)} of {n} beads")
        return Necklace(tuple(int(data.bead[k]) for k in order))

    def equal(self, a: Necklace, b: Necklace) -> bool:
        """The same necklace: equal up to turning it (rotation) and flipping it (reflection)."""
        if len(a.beads) != len(b.beads):
            return False
        twice = b.beads + b.beads
        n = len(a.beads)
        return any(twice[k:k + n] in (a.beads, a.beads[::-1]) for k in range(n))

    # ------------------------------------------------------------------ I/O: one necklace per line
    def read(self, path: str | Path, *, strict: bool = False, skipped: list[dict[str, str]] | None = None,
             **options: Any) -> Iterator[Record]:
        path = Path(path)
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{path.name} line {k}"
            if not 3 <= len(text) <= self._spec.max_nodes or set(text) - set(LETTERS):
                report_skip(skipped, where, f"{text!r} is not 3-{self._spec.max_nodes} of the letters "
                            f"{LETTERS}", strict)
                continue
            yield Record(id=where, obj=Necklace(tuple(LETTERS.index(c) for c in text)), props={})

    def write(self, objs: list[Necklace], path: str | Path, *, append: bool = False,
              ids: list[str] | None = None, extra: list[dict[str, Any]] | None = None, **options: Any) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.writelines(f"{obj}\n" for obj in objs)


def alternating_necklaces(num: int, seed: int = 0) -> list[Necklace]:
    """``num`` necklaces of 6, 8, 10 or 12 beads whose colours alternate between two of the three
    (``RGRGRG``, ``BRBRBRBR``...): example data with a pattern a model can learn."""
    rng = random.Random(seed)
    out = []
    for _ in range(num):
        n = rng.choice((6, 8, 10, 12))
        first, second = rng.sample(range(len(COLOURS)), 2)
        out.append(Necklace(tuple(first if k % 2 == 0 else second for k in range(n))))
    return out
