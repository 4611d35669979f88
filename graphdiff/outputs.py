"""Where generated and converted items go: candidate ids, one file per item in a folder, skip reports.

Shared by :class:`graphdiff.graphio.GraphSink` (``graphdiff sample`` / ``interpolate``) and
``graphdiff convert``; imports no domain and no torch.

Candidates
    Several answers for one input item (``graphdiff sample --input ... -k 2``) arrive with the
    input's id and a rank (``extra["sample"]``, 0 first). :func:`candidate_values` gives each its
    own ``candidate_id`` (``{id}-{rank}``) and the columns ``rank`` (and ``share`` when given);
    writers keep the input's id as their id column (``material_id``), so that candidates group
    by input, and use ``candidate_id`` where a format names each item once (a CIF data block).
Folders
    :class:`FolderWriter` writes one file per item, named by the domain
    (:meth:`graphdiff.domain.Domain.file_stem`, e.g. ``mp-1_SrTiO3_0.cif``), in the format
    :func:`folder_suffix` picks. A folder that exists with files in it is refused unless
    ``overwrite=True``; two items never share a file.
Skips
    :class:`SkipReport` collects the items that could not be written, with their reasons, and
    writes them beside the output as JSON.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from graphdiff.errors import DataError

__all__ = ["candidate_values", "safe_name", "single_file_suffix", "folder_suffix", "folder_formats",
           "writer_takes", "check_folder", "FolderWriter", "SkipReport", "skip_report_path"]

#: keys :func:`candidate_values` puts first, in this order
CANDIDATE_KEYS = ("candidate_id", "rank", "share")


def _as_rank(value: Any) -> int | None:
    """A rank as an ``int`` (``1.0`` read back from a CSV is ``1``); ``None`` when absent or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def candidate_values(item_id: str | None, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The per-item values to store beside a generated item, candidate columns first.

    A rank (``"sample"``, graphdiff's name for it while generating, or ``"rank"``) makes the item
    a candidate of input ``item_id``: it gets ``candidate_id = f"{item_id}-{rank}"`` (unless the
    values already hold one) and ``rank``; ``"sample"`` itself is not kept. Without a rank the
    values are returned as they are (a copy).

    >>> candidate_values("mp-1", {"sample": 1, "share": 0.25, "distinct": 1})
    {'candidate_id': 'mp-1-1', 'rank': 1, 'share': 0.25, 'distinct': 1}
    """
    vals = dict(values or {})
    sample = vals.pop("sample", None)
    rank = _as_rank(vals["rank"] if "rank" in vals else sample)
    if rank is None:  # no rank (or not a whole number): nothing to name
        if sample is not None:
            vals["sample"] = sample
        return vals
    vals["rank"] = rank
    if "candidate_id" not in vals and item_id is not None:
        vals["candidate_id"] = f"{item_id}-{rank}"
    first = {k: vals.pop(k) for k in CANDIDATE_KEYS if k in vals}
    return {**first, **vals}


def safe_name(text: str) -> str:
    """``text`` as a file name: characters other than letters, digits, ``.``, ``-``, ``_`` and
    ``+`` become ``_``; no leading dot."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).lstrip(".")
    return name or "item"


def single_file_suffix(domain: Any) -> str:
    """The suffix of the file one graph of ``domain`` is written to in a folder output.

    The domain's :attr:`~graphdiff.domain.Domain.single_file_suffix` when it declares one (it
    must be one of its ``write_suffixes``); else the first of its ``write_suffixes`` that is a
    file suffix; else ``".jsonl"`` (graphdiff's domain-free JSON, for a domain without writers).

    Raises
    ------
    DataError
        When the declared suffix is not a file suffix the domain writes.
    """
    writes = tuple(getattr(domain, "write_suffixes", ()) or ())
    declared = getattr(domain, "single_file_suffix", None)
    name = getattr(domain, "name", type(domain).__name__)
    if declared is not None:
        if not (isinstance(declared, str) and declared.startswith(".")
                and declared.lower() in {w.lower() for w in writes}):
            raise DataError(f"domain {name!r}: single_file_suffix {declared!r} is not a file suffix it "
                            f"writes ({', '.join(writes) or 'it writes none'})")
        return declared
    for suffix in writes:
        if suffix.startswith("."):
            return suffix
    return ".jsonl"


def folder_formats(domain: Any) -> dict[str, str]:
    """Format name -> file suffix of everything ``domain`` writes one item per file as: its
    :attr:`~graphdiff.domain.Domain.file_formats` (``"poscar": ".vasp"``) and every file suffix
    of its ``write_suffixes`` under its own name (``"cif": ".cif"``)."""
    writes = [w for w in (getattr(domain, "write_suffixes", ()) or ()) if w.startswith(".")]
    out = {w[1:].lower(): w for w in writes}
    lowered = {w.lower() for w in writes}
    name = getattr(domain, "name", type(domain).__name__)
    for fmt, suffix in (getattr(domain, "file_formats", None) or {}).items():
        if not (isinstance(suffix, str) and suffix.lower() in lowered):
            raise DataError(f"domain {name!r}: file_formats[{fmt!r}] = {suffix!r} is not a file suffix "
                            f"it writes ({', '.join(writes) or 'it writes none'})")
        out[str(fmt).lower()] = suffix
    return out


def folder_suffix(domain: Any, fmt: str | None = None) -> str:
    """The suffix of the files a folder output of ``domain`` holds: ``fmt`` (``"cif"``,
    ``"poscar"``, ``"extxyz"``, ``"json"``..., see :func:`folder_formats`; ``"jsonl"`` is
    graphdiff's domain-free JSON lines when the domain does not write it), or the domain's
    :func:`single_file_suffix` when ``fmt`` is ``None``.

    Raises
    ------
    DataError
        When the domain does not write ``fmt``, listing the formats it writes.
    """
    if fmt is None:
        return single_file_suffix(domain)
    name = str(fmt).strip().lower().lstrip(".")
    formats = folder_formats(domain)
    if name in formats:
        return formats[name]
    if name == "jsonl":
        return ".jsonl"
    dname = getattr(domain, "name", type(domain).__name__)
    raise DataError(f"format {fmt!r}: domain {dname!r} writes one item per file as "
                    f"{', '.join(sorted({*formats, 'jsonl'}))}")


def writer_takes(write: Any) -> set[str]:
    """Which of ``append``, ``ids`` and ``extra`` a domain's ``write`` takes (all of them when it
    takes ``**options``)."""
    params = inspect.signature(write).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"append", "ids", "extra"}
    return {"append", "ids", "extra"} & set(params)


def _entries(folder: Path) -> list[str]:
    """The names in ``folder`` a user put there or an earlier run wrote (hidden ones aside)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def check_folder(folder: str | Path, *, overwrite: bool = False) -> None:
    """Refuse an output folder that is a file, or that exists with files in it unless
    ``overwrite`` (a user's earlier results are never overwritten by accident).

    Raises
    ------
    DataError
        Naming the folder, how many files it holds and one of them.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and not overwrite:
        there = _entries(folder)
        if there:
            raise DataError(
                f"{folder}: the folder exists and holds {len(there)} file(s) (e.g. {there[0]}); "
                "write to a new or empty folder, or pass --overwrite (overwrite=True) to write into "
                "it (files of the same name are replaced)")


def default_file_stem(item_id: str, rank: int | None) -> str:
    """:meth:`graphdiff.domain.Domain.file_stem` for a domain that does not name its files:
    ``{id}`` or, for a candidate, ``{id}-{rank}``."""
    return item_id if rank is None else f"{item_id}-{rank}"


class FolderWriter:
    """One file per item in ``folder``, in the format ``fmt`` (:func:`folder_suffix`).

    A file is named ``domain.file_stem(obj, id, rank)`` + suffix; an id equal to the item's
    index (what ``graphdiff sample`` gives de novo items) is written zero-padded (``00007``), so
    that names sort in generation order. A name an earlier item of this writer took gets
    ``_dup2``, ``_dup3``... .

    Parameters
    ----------
    folder:
        The folder, created with its parents when missing.
    domain:
        The writing domain.
    fmt:
        Per-file format name, or ``None`` for the domain's :func:`single_file_suffix`.
    overwrite:
        Write into a folder that already holds files (files of the same name are replaced,
        others left as they are). Without it such a folder is refused.
    shared:
        Other writers (torchrun ranks) write into the same folder at the same time: files
        already there are allowed, only a file of the same name is refused.

    Raises
    ------
    DataError
        ``folder`` exists and is not a folder; it holds files and neither ``overwrite`` nor
        ``shared`` is set; an unknown ``fmt``.
    """

    def __init__(self, folder: str | Path, domain: Any, *, fmt: str | None = None, overwrite: bool = False,
                 shared: bool = False) -> None:
        self.folder = Path(folder)
        self.domain = domain
        self.suffix = folder_suffix(domain, fmt)
        self.overwrite, self.shared = bool(overwrite), bool(shared)
        #: files written, by item index
        self.files: dict[int, Path] = {}
        #: names of per-item values (and ``id``) the domain's writer could not take
        self.unstored: set[str] = set()
        self._used: set[str] = set()
        self._takes = writer_takes(domain.write)
        check_folder(self.folder, overwrite=self.overwrite or self.shared)
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def domain_free(self) -> bool:
        """Whether the files are graphdiff's own JSON lines (the domain does not write ``.jsonl``)."""
        return self.suffix == ".jsonl" and ".jsonl" not in {
            w.lower() for w in (getattr(self.domain, "write_suffixes", ()) or ())}

    def reserve(self, index: int, item_id: str | None = None, values: Mapping[str, Any] | None = None,
                obj: Any = None) -> Path:
        """The file item ``index`` goes to; the name is taken for this writer.

        Raises
        ------
        DataError
            The file exists (from before this writer) and ``overwrite`` is not set.
        """
        base = f"{index:05d}" if item_id is None or str(item_id) == str(index) else str(item_id)
        rank = _as_rank((values or {}).get("rank"))
        namer = getattr(self.domain, "file_stem", None)
        stem = safe_name(namer(obj, base, rank) if namer is not None and obj is not None
                         else default_file_stem(base, rank))
        name, n = stem + self.suffix, 1
        while name.lower() in self._used:
            n += 1
            name = f"{stem}_dup{n}{self.suffix}"
        path = self.folder / name
        if path.exists() and not self.overwrite:
            raise DataError(f"{path}: already exists; files are never overwritten without --overwrite "
                            "(overwrite=True)")
        self._used.add(name.lower())
        self.files[index] = path
        return path

    def write(self, index: int, obj: Any, item_id: str | None = None,
              values: Mapping[str, Any] | None = None, *, path: Path | None = None, **options: Any) -> Path:
        """Write one object with ``domain.write([obj], file, ids=[item_id], extra=[values])``
        (``ids`` / ``extra`` as far as the writer takes them; what it cannot take is added to
        :attr:`unstored`). ``path``: the file :meth:`reserve` gave for it (else reserved here).
        A file left half-written by a failing writer is removed.

        Returns
        -------
        The file written.
        """
        path = self.reserve(index, item_id, values, obj) if path is None else path
        takes = self._takes
        kwargs = dict(options)
        if item_id is not None:
            if "ids" in takes:
                kwargs["ids"] = [item_id]
            elif str(item_id) != str(index):
                self.unstored.add("id")
        if values:
            if "extra" in takes:
                kwargs["extra"] = [dict(values)]
            else:
                self.unstored.update(values)
        existed = path.exists()
        try:
            self.domain.write([obj], path, **kwargs)
        except BaseException:
            self.files.pop(index, None)
            if not existed and path.is_file():
                path.unlink()
            raise
        return path


def skip_report_path(out: str | Path, *, folder: bool, start: int | None = None) -> Path:
    """Where the skip report of an output goes: ``<out>.skipped.json`` beside a file;
    ``<folder>.skipped.json`` beside a folder (not inside it, where the domain's folder reader
    would take it for an item), ``<folder>.skipped-<start>.json`` for one of several writers
    (torchrun ranks) sharing the folder."""
    path = Path(out)
    if folder:
        path = path.resolve() if not path.name else path
        tag = "" if start is None else f"-{start:05d}"
        return path.with_name(f"{path.name}.skipped{tag}.json")
    return path.with_name(path.name + ".skipped.json")


class SkipReport:
    """The items of one output that could not be written: ``{"index", "id", "reason"}`` each."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, index: int, item_id: str | None, reason: str) -> None:
        self.items.append({"index": int(index), "id": item_id, "reason": reason})

    def summary(self, total: int, what: str = "generated items", report: Path | None = None) -> str | None:
        """``"skipped 3 of 100 generated items that could not be converted: <first reasons>"``
        (up to three distinct reasons, each with how often it occurred); ``None`` when none was
        skipped."""
        if not self.items:
            return None
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item["reason"]] = counts.get(item["reason"], 0) + 1
        shown = []
        for reason, n in list(counts.items())[:3]:
            text = reason if len(reason) <= 160 else reason[:157] + "..."
            shown.append(text + (f" ({n}x)" if n > 1 else ""))
        more = len(counts) - len(shown)
        return (f"skipped {len(self.items)} of {total} {what} that could not be converted: "
                + "; ".join(shown) + (f"; and {more} other reason(s)" if more > 0 else "")
                + (f" (list: {report})" if report is not None else ""))

    def write(self, path: Path, *, output: str | Path, total: int) -> Path:
        """Write the report as JSON: ``{"output", "generated", "skipped": [{"index", "id",
        "reason"}, ...]}`` (``generated``: items given to the output, skipped ones included)."""
        doc = {"output": str(output), "generated": int(total), "skipped": self.items}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
