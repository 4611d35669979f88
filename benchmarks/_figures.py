r"""Figures read from results files, for tables that are written rather than typed.

A :class:`Fig` names a results file (``benchmarks/_provenance.py``'s layout), the entry's key,
the run and the path of a value; a :class:`Calc` derives a figure from others (a ratio, a
margin); a :class:`Best` takes the extreme over a file's entries. A :class:`Row` of a table fills
its cells' ``{name}`` placeholders with its figures, formatted by their specs (:func:`fmt`), and
checks them against its :class:`Target`\ s. A missing file, entry, run or value raises
:class:`MissingFigure` naming it. ``benchmarks/tables.py`` holds the tables.
"""

from __future__ import annotations

import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _provenance import BENCH, entries, latest  # noqa: E402

class MissingFigure(LookupError):
    """A figure whose results file, entry, run or value is not there."""


def fmt(value: Any, spec: str) -> str:
    """``"%N"``: a share as a percentage with N decimals; ``"±N"``: a signed number with N
    decimals and a true minus sign; ``","``: an integer with thousands separators; else a
    format spec (``".3f"``, ``"d"``, ``"g"``)."""
    if value is None:
        raise MissingFigure("a figure is null")
    if spec.startswith("%"):
        return f"{100 * float(value):.{int(spec[1:])}f}"
    if spec.startswith("±"):
        return f"{float(value):+.{int(spec[1:])}f}".replace("-", "\u2212")
    if spec == ",":
        return f"{int(value):,}"
    return format(value, spec)


def one_entry(results: Path, file: str, key: Mapping[str, Any]) -> dict:
    """The one entry of results file ``file`` whose key matches ``key``; :class:`MissingFigure`
    when the file is missing or holds none or several."""
    if not (results / file).is_file():
        raise MissingFigure(f"{file}: no such results file")
    found = entries(results / file, **key)
    if len(found) != 1:
        raise MissingFigure(f"{file} {dict(key)}: {len(found)} entries have this key")
    return found[0]


def dig(run: Any, path: str, where: str) -> Any:
    """The value at ``path`` in ``run``: ``/``-separated names, list indexes, ``[a=x,b=y]`` for
    the list element whose fields have those values (a ``/`` inside the brackets belongs to a
    value), and ``len()`` for a length."""
    value = run
    for part in re.split(r"/(?![^\[]*\])", path):  # a "/" inside [a=x/y] is part of the value
        if part == "len()":
            value = len(value)
        elif part.startswith("[") and part.endswith("]"):
            want = dict(kv.split("=", 1) for kv in part[1:-1].split(","))
            found = [x for x in value if all(str(x.get(k)) == v for k, v in want.items())]
            if len(found) != 1:
                raise MissingFigure(f"{where}: {len(found)} elements match {part} in {path}")
            value = found[0]
        elif isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise MissingFigure(f"{where}: no {part!r} in {path}")
    return value


@dataclass(frozen=True)
class Fig:
    """A value of one run of one entry: the entry whose key holds ``key``, its latest run (or the
    latest whose fields hold ``run``), the value at ``path``."""

    file: str
    key: Mapping[str, Any]
    path: str
    spec: str = ".3f"
    run: Mapping[str, Any] | None = None

    def value(self, results: Path) -> Any:
        where = f"{self.file} {dict(self.key)}"
        entry = one_entry(results, self.file, self.key)
        runs = [r for r in entry["runs"] if all(r.get(k) == v for k, v in (self.run or {}).items())]
        if not runs:
            raise MissingFigure(f"{where}: no run with {dict(self.run or {})}")
        return dig(runs[-1], self.path, where)


@dataclass(frozen=True)
class Calc:
    """A figure made from others: ``fn(*values)``."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    spec: str = ".3f"

    def value(self, results: Path) -> Any:
        return self.fn(*(a.value(results) for a in self.args))


@dataclass(frozen=True)
class Best:
    """The largest (``agg``) value at ``path`` over the latest runs of a file's entries that
    ``where`` accepts."""

    file: str
    path: str
    where: Callable[[dict], bool]
    spec: str = ".3f"
    agg: Callable[[list], Any] = max

    def value(self, results: Path) -> Any:
        if not (results / self.file).is_file():
            raise MissingFigure(f"{self.file}: no such results file")
        runs = [latest(e) for e in entries(results / self.file)]
        values = [dig(r, self.path, self.file) for r in runs if self.where(r)]
        if not values:
            raise MissingFigure(f"{self.file}: no run qualifies for {self.path}")
        return self.agg(values)


@dataclass(frozen=True)
class Target:
    """A target of a row: its words and whether the row's figures meet it."""

    text: str
    met: Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Row:
    task: str
    graphdiff: str
    published: str
    details: str
    figs: Mapping[str, Any] = field(default_factory=dict)
    targets: Sequence[Target] = ()


def values(row: Row, results: Path | None = None) -> dict[str, Any]:
    """The raw figures of a row, by name (from ``results``, default the benchmarks folder, :data:`BENCH`)."""
    results = results or BENCH
    out = {}
    for name, fig in row.figs.items():
        try:
            out[name] = fig.value(results)
        except MissingFigure as exc:
            raise MissingFigure(f"{row.task.split(',')[0]}: {{{name}}}: {exc}") from None
    return out


def fill(text: str, row: Row, vals: Mapping[str, Any]) -> str:
    names = [n for _, n, _, _ in string.Formatter().parse(text) if n]
    missing = [n for n in names if n not in row.figs]
    if missing:
        raise MissingFigure(f"{row.task.split(',')[0]}: {missing} name no figure")
    return text.format(**{n: fmt(vals[n], row.figs[n].spec) for n in names})


def render_row(row: Row, results: Path | None = None) -> str:
    vals = values(row, results)
    target = "; ".join(t.text for t in row.targets) or "–"
    met = " / ".join("yes" if t.met(vals) else "no" for t in row.targets) or "–"
    cells = [fill(row.task, row, vals), fill(row.graphdiff, row, vals), fill(row.published, row, vals),
             target, met, row.details]
    return "| " + " | ".join(cells) + " |"


def typed_numbers(template: str) -> list[str]:
    """Numbers in a graphdiff cell that are typed rather than read from a results file (outside
    ``{placeholders}``, code spans and link targets)."""
    text = re.sub(r"\{[^}]*\}", "", template)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.findall(r"\d+(?:\.\d+)?", text)
