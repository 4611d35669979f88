"""Tables of figures in the documentation, written from the results files.

A :class:`Table` is a markdown table between two markers in a page::

    <!-- table NAME: written by python benchmarks/tables.py from the results files -->
    | ... |
    <!-- end of table NAME -->

Each :class:`Line` of a table reads its figures from one entry of a results file (its
:class:`Src`: file, key, and optionally which run), and more entries by alias. A cell is a
template whose ``{...}`` fields are figures:

- ``{path}`` or ``{path|spec}``: the value at ``path`` (``_figures.dig``'s paths) of the line's
  entry, formatted by ``spec`` (``_figures.fmt``: ``%1`` a share as a percentage, ``.3f`` the
  default, ``,`` thousands, ``±2`` signed; a trailing ``~`` drops a ``.0``, a trailing ``?``
  writes a null value as a dash);
- ``{alias:path|spec}``: the same from the line's source named ``alias``;
- ``{$name|spec}``: the line's named figure (a :class:`_figures.Fig`, ``Calc`` or ``Best``).

A :class:`Cite` is a line of published figures (a paper's): text, no results entry. Under the
table a generated note names every results file and entry the figures come from, and, where the
table has :class:`Check`\\ s (the targets README states, with the figures they are judged on),
whether each is met. A missing file, entry or value raises ``MissingFigure`` naming it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _figures import Fig, MissingFigure, dig, fmt, one_entry, values  # noqa: E402

FIELD = re.compile(r"\{([^{}]+)\}")


def start_marker(name: str) -> str:
    return f"<!-- table {name}: written by python benchmarks/tables.py from the results files -->"


def end_marker(name: str) -> str:
    return f"<!-- end of table {name} -->"


@dataclass(frozen=True)
class Src:
    """An entry of a results file: the one whose key holds ``key``; its latest run, or the latest
    whose fields hold ``run``."""

    file: str
    key: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] | int | None = None

    def label(self) -> str:
        parts = []
        if set(self.key) == {"recorded_as"}:
            parts.append(f"`{self.key['recorded_as']}`")
        elif self.key:
            parts.append("`" + ", ".join(f"{k}={v}" for k, v in self.key.items()) + "`")
        if isinstance(self.run, int):
            parts.append(f"run {self.run}" if self.run >= 0 else "latest run")
        elif self.run:
            parts.append("run with " + ", ".join(f"{k}={v}" for k, v in self.run.items()))
        return ", ".join(parts) or "its entry"

    def fetch(self, results: Path) -> dict:
        where = f"{self.file} {dict(self.key)}"
        runs_of_entry = one_entry(results, self.file, self.key)["runs"]
        if isinstance(self.run, int):  # a run by its place in the entry (0: the oldest)
            if not -len(runs_of_entry) <= self.run < len(runs_of_entry):
                raise MissingFigure(f"{where}: no run {self.run}")
            return runs_of_entry[self.run]
        runs = [r for r in runs_of_entry if all(r.get(k) == v for k, v in (self.run or {}).items())]
        if not runs:
            raise MissingFigure(f"{where}: no run with {dict(self.run or {})}")
        return runs[-1]


@dataclass(frozen=True)
class Line:
    """A row of figures: ``cells`` are templates read from ``src`` (and the ``more`` sources by
    alias, the named ``figs``)."""

    src: Src | None
    cells: Sequence[str]
    more: Mapping[str, Src] = field(default_factory=dict)
    figs: Mapping[str, Any] = field(default_factory=dict)

    def sources(self) -> list[Src]:
        out = [self.src] if self.src else []
        out += list(self.more.values())
        for fig in self.figs.values():
            out += _fig_sources(fig)
        return out


def _fig_sources(fig: Any) -> list[Src]:
    if isinstance(fig, Fig):
        return [Src(fig.file, fig.key)]
    out: list[Src] = []
    for arg in getattr(fig, "args", ()):
        out += _fig_sources(arg)
    if hasattr(fig, "where") and hasattr(fig, "file"):  # a Best: every entry of its file
        out.append(Src(fig.file, {"*": "*"}))
    return out


@dataclass(frozen=True)
class Cite:
    """A row of published figures, kept as text (a citation, not a result of this project)."""

    cells: Sequence[str]


@dataclass(frozen=True)
class Check:
    """A target as README states it, and whether the table's figures meet it: ``met`` takes the
    values of ``figs`` by name."""

    text: str
    figs: Mapping[str, Any]
    met: Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    head: Sequence[str]
    lines: Sequence[Line | Cite]
    checks: Sequence[Check] = ()
    note: str = ""
    #: README's benchmark-table rows (the start of their task) whose targets this table's figures are judged by
    readme: Sequence[str] = ()
    #: the indentation of a table inside a list item
    indent: str = ""

    def sources(self) -> list[Src]:
        out: list[Src] = []
        for line in self.lines:
            if isinstance(line, Line):
                out += line.sources()
        for check in self.checks:
            for fig in check.figs.values():
                out += _fig_sources(fig)
        return out


def field_value(spec: str, line: Line, results: Path, cache: dict) -> tuple[Any, str, str]:
    """The value of a cell's field, its format spec, and where it was read (file, entry, path)."""
    body, _, fspec = spec.partition("|")
    if body.startswith("$"):
        fig = line.figs[body[1:]]
        return fig.value(results), fspec or getattr(fig, "spec", ".3f"), body
    alias, sep, path = body.partition(":")
    if sep and alias in line.more:
        src = line.more[alias]
    else:
        src, path = line.src, body
    if src is None:
        raise MissingFigure(f"{{{spec}}}: the line has no results entry")
    run = src.run if isinstance(src.run, int) else dict(src.run or {})
    ident = (src.file, json.dumps(dict(src.key), sort_keys=True), json.dumps(run, sort_keys=True))
    if ident not in cache:
        cache[ident] = src.fetch(results)
    where = f"{src.file} {dict(src.key)}"
    return dig(cache[ident], path, where), fspec or ".3f", f"{where} {path}"


def fill(template: str, line: Line, results: Path, cache: dict) -> tuple[str, list[str]]:
    """A cell's text and the places its figures were read from."""
    used: list[str] = []

    def one(m: re.Match) -> str:
        value, spec, where = field_value(m.group(1), line, results, cache)
        used.append(where)
        if spec.endswith("?"):  # "…?": a null value (a ratio of nothing) is a dash
            if value is None:
                return "–"
            spec = spec[:-1]
        try:
            if spec.endswith("~"):  # "%1~": one decimal, none for a whole number (100 %, not 100.0 %)
                text = fmt(value, spec[:-1])
                return text[:-2] if text.endswith(".0") else text
            return fmt(value, spec)
        except (TypeError, ValueError) as exc:
            raise MissingFigure(f"{where}: {value!r} is not a figure for {spec!r} ({exc})") from None

    return FIELD.sub(one, template), used


def _row(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def render(table: Table, results: Path,
           readme_rows: Sequence[Any] = ()) -> tuple[str, dict[tuple[int, int], list[str]]]:
    """The table between its markers, and where each cell's figures come from
    (``(row, column)``: places). ``readme_rows``: README's table rows (``_figures.Row``), whose
    targets are judged for the tables that name them."""
    cache: dict = {}
    where: dict[tuple[int, int], list[str]] = {}
    head = list(table.head)
    if any(FIELD.search(c) for c in head):  # figures in the header are read from the first line's entries
        first = table.lines[0]
        if not isinstance(first, Line):
            raise ValueError(f"table {table.name}: figures in the header need a first line with results")
        for j, template in enumerate(head):
            head[j], used = fill(template, first, results, cache)
            if used:
                where[(0, j)] = used
    rows = [_row(head), "|" + "---|" * len(head)]
    for i, line in enumerate(table.lines):
        if len(line.cells) != len(table.head):
            raise ValueError(f"table {table.name}: row {i} has {len(line.cells)} cells for {len(table.head)} columns")
        if isinstance(line, Cite):
            rows.append(_row(line.cells))
            continue
        cells = []
        for j, template in enumerate(line.cells):
            try:
                text, used = fill(template, line, results, cache)
            except MissingFigure as exc:
                raise MissingFigure(f"{table.doc}, table {table.name}: {exc}") from None
            cells.append(text)
            if used:
                where[(i + 2, j)] = used
        rows.append(_row(cells))
    notes = []
    if table.note:
        notes.append(table.note)
    notes.append(_sources_note(table))
    for check in table.checks:
        vals = {}
        for name, fig in check.figs.items():
            try:
                vals[name] = fig.value(results)
            except MissingFigure as exc:
                raise MissingFigure(f"{table.doc}, table {table.name}: target {check.text!r}: {exc}") from None
        notes.append(f"Target: {check.text}: **{'met' if check.met(vals) else 'not met'}**.")
    judged = []
    for task in table.readme:
        found = [r for r in readme_rows if r.task.startswith(task)]
        if len(found) != 1:
            raise MissingFigure(f"{table.doc}, table {table.name}: {len(found)} README rows start with {task!r}")
        vals = values(found[0], results)
        judged += [f"{t.text} (**{'met' if t.met(vals) else 'not met'}**)" for t in found[0].targets]
    if judged:
        notes.append("README's targets for these figures, judged on its row's figures: " + "; ".join(judged) + ".")
    body = ["", *rows, "", " ".join(notes), "", end_marker(table.name)]
    text = "\n".join([start_marker(table.name), *(table.indent + ln if ln else ln for ln in body)])
    return text, where


def _sources_note(table: Table) -> str:
    files: dict[str, list[str]] = {}
    for src in table.sources():
        labels = files.setdefault(src.file, [])
        label = "all entries" if dict(src.key) == {"*": "*"} else src.label()
        if label not in labels:
            labels.append(label)
    parts = [f"`benchmarks/{f}` ({'; '.join(ls)})" for f, ls in files.items()]
    return "Figures from " + ", ".join(parts) + "." if parts else ""


def region(text: str, name: str, doc: str) -> tuple[int, int]:
    """Where table ``name`` lies in a page's text (its markers included)."""
    start, end = text.find(start_marker(name)), text.find(end_marker(name))
    if start < 0 or end < start:
        raise MissingFigure(f"{doc}: no table {name!r} between its markers ({start_marker(name)!r})")
    return start, end + len(end_marker(name))


def split_cells(row: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` stays inside a cell)."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def differences(table: Table, written: str, rendered: str, where: Mapping[tuple[int, int], list[str]]) -> list[str]:
    """Messages naming each figure of ``written`` that is not what the results give."""
    def table_rows(text: str) -> list[str]:
        return [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]

    old, new = table_rows(written), table_rows(rendered)
    out = []
    if len(old) != len(new):
        out.append(f"{table.doc}, table {table.name}: {len(old)} rows written, the results give {len(new)}")
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        ca, cb = split_cells(a), split_cells(b)
        if len(ca) != len(cb):
            out.append(f"{table.doc}, table {table.name}, row {i - 1}: {a!r} should be {b!r}")
            continue
        label = cb[0] or f"row {i - 1}"
        for j, (x, y) in enumerate(zip(ca, cb)):
            if x != y:
                col = table.head[j] if j < len(table.head) else j
                src = "; ".join(where.get((i, j), [])) or "text of the table"
                out.append(f"{table.doc}, table {table.name}, {label!r}, column {col!r}: written {x!r}, "
                           f"the results give {y!r} (from {src})")
    rest_old = [ln for ln in written.splitlines() if not ln.strip().startswith("|")]
    rest_new = [ln for ln in rendered.splitlines() if not ln.strip().startswith("|")]
    if rest_old != rest_new:
        out.append(f"{table.doc}, table {table.name}: the note under the table differs: "
                   f"{[ln for ln in rest_old if ln not in rest_new]} should be "
                   f"{[ln for ln in rest_new if ln not in rest_old]}")
    return out


# ----------------------------------------------------------------------------------------------
# Pages: every table rendered, then compared or written


@dataclass
class Page:
    """A docs page, its text as read, and its tables as the results give them."""

    path: Path
    doc: str
    text: str
    tables: list[tuple[Table, str, dict]]


def rendered_pages(tables: Sequence[Table], results: Path, root: Path, readme_rows: Sequence[Any] = ()) -> list[Page]:
    """Every table rendered from ``results``, grouped by page (``root / table.doc``)."""
    pages: dict[str, Page] = {}
    for table in tables:
        if table.doc not in pages:
            path = root / table.doc
            pages[table.doc] = Page(path, table.doc, path.read_text(), [])
        text, where = render(table, results, readme_rows)
        pages[table.doc].tables.append((table, text, where))
    return list(pages.values())


def differences_of(pages: Sequence[Page]) -> list[str]:
    """Messages naming each figure of a page's table that differs from its rendering."""
    out: list[str] = []
    for page in pages:
        for table, rendered, where in page.tables:
            try:
                start, end = region(page.text, table.name, page.doc)
            except MissingFigure as exc:
                out.append(str(exc))
                continue
            if page.text[start:end] != rendered:
                out += differences(table, page.text[start:end], rendered, where) or [
                    f"{page.doc}, table {table.name}: differs from what the results give"]
    return out


def check(tables: Sequence[Table], results: Path, root: Path, readme_rows: Sequence[Any] = ()) -> list[str]:
    return differences_of(rendered_pages(tables, results, root, readme_rows))


def write(pages: Sequence[Page]) -> int:
    """Write every table between its markers; the number of tables written."""
    count = 0
    for page in pages:
        text = page.text
        for table, rendered, _ in page.tables:
            start, end = region(text, table.name, page.doc)
            text = text[:start] + rendered + text[end:]
            count += 1
        if text != page.text:
            page.path.write_text(text)
    return count
