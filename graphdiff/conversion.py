"""Converting files between the formats the installed domains read and write: :func:`convert`
(``graphdiff.convert``, and the ``graphdiff convert IN OUT`` command) reads a file with one domain's
reader and writes it with a domain's writer.

The reading domain is the one whose ``read_suffixes`` match ``IN`` (or ``--from``); the writing
domain is the reading domain when it writes ``OUT``'s format, else a domain that writes it and
converts the reader's objects (:attr:`graphdiff.domain.Domain.converts_from`, e.g. molecules
from crystals: a POSCAR holding a molecule becomes an XYZ file).

Suffix patterns (``read_suffixes`` / ``write_suffixes``): ``".cif"`` matches the end of the
file name (case-insensitive); ``"<folder>"`` a folder (for writing also a name without a
suffix); anything else is a shell pattern matched against the file name and the whole argument
(``"POSCAR*"``, ``"qm9://*"``).
"""

from __future__ import annotations

import fnmatch
import inspect
import os
from pathlib import Path
from typing import Any

from graphdiff.errors import ConfigError, DataError

__all__ = ["convert", "matches", "parse_cell"]


def matches(patterns: tuple[str, ...] | list[str], target: str, *, reading: bool) -> bool:
    """Whether a domain's suffix ``patterns`` cover ``target`` (a path or a source like
    ``qm9://train``); see the module docstring."""
    path = Path(target)
    name = path.name
    for pattern in patterns:
        if pattern == "<folder>":
            if path.is_dir() or (not reading and not path.suffix and not path.exists()):
                return True
        elif pattern.startswith("."):
            if name.lower().endswith(pattern.lower()) and len(name) > len(pattern):
                return True
        elif fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(str(target), pattern):
            return True
    return False


def _describe(domains: dict[str, Any], attr: str) -> str:
    parts = [f"{name} ({', '.join(getattr(d, attr, ()) or ())})"
             for name, d in domains.items() if getattr(d, attr, ())]
    return "; ".join(parts) or "nothing"


def _suffix_of(target: str) -> str:
    path = Path(target)
    if "://" in target:
        return target.split("://", 1)[0] + "://"
    return path.suffix.lower() or f"a name without a suffix ({path.name!r})"


def parse_cell(text: str | None) -> Any:
    """``--cell``: one side length (cube), three lengths (orthorhombic) or nine numbers (the rows
    of the 3 × 3 lattice matrix), in Å, separated by commas or spaces."""
    if text is None:
        return None
    try:
        values = [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"--cell {text!r}: expected 1, 3 or 9 numbers (Å)") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 3:
        return values
    if len(values) == 9:
        return [values[0:3], values[3:6], values[6:9]]
    raise ConfigError(f"--cell {text!r}: expected 1, 3 or 9 numbers (Å), got {len(values)}")


def _accepts(fn: Any, name: str, *, contract: bool = False) -> bool:
    """Whether ``fn`` takes the keyword ``name``: named in its signature, or (for the
    :meth:`graphdiff.domain.Domain.write` contract keywords ``ids``, ``extra``) taken by its
    ``**options``."""
    params = inspect.signature(fn).parameters
    return name in params or (contract and any(p.kind is p.VAR_KEYWORD for p in params.values()))


def _routes(reader: Any, writers: dict[str, Any]) -> list[Any]:
    """Writers that can take the reader's objects: the reader itself first, else converters."""
    if reader.name in writers:
        return [writers[reader.name]]
    return [w for w in writers.values() if reader.name in (getattr(w, "converts_from", ()) or ())]


def _choose(source: str, out: str, domains: dict[str, Any], from_name: str | None,
            writers: dict[str, Any]) -> tuple[Any, Any]:
    """The reading and the writing domain (one of ``writers``, the domains that write ``out``),
    or a :class:`ConfigError` saying why there is none."""
    if from_name is not None:
        if from_name not in domains:
            raise ConfigError(f"convert --from {from_name}: no such domain; domains: "
                              f"{', '.join(domains) or '(none installed)'}")
        readers = [domains[from_name]]
    else:
        readers = [d for d in domains.values() if matches(d.read_suffixes, source, reading=True)]
        if not readers:
            raise ConfigError(f"convert: no domain reads {_suffix_of(source)} (IN {source}). Readable: "
                              f"{_describe(domains, 'read_suffixes')}; or name the reader with --from DOMAIN")
        if len(readers) > 1 and Path(source).is_file():  # one suffix, several domains: the content decides
            holding = [d for d in readers if d.holds_items(source)]
            readers = holding or readers
    options = {r.name: _routes(r, writers) for r in readers}
    usable = [r for r in readers if options[r.name]]
    if not usable:
        names = ", ".join(r.name for r in readers)
        raise ConfigError(
            f"convert: no domain offers this conversion: {source} is read by {names}; "
            f"{_suffix_of(out)} is written by {', '.join(writers)}, and none of these converts "
            f"{names} objects (a domain lists the domains it converts from in converts_from)")
    if len(usable) > 1:  # a reader that writes OUT itself beats one that needs a conversion
        direct = [r for r in usable if r.name in writers]
        if len(direct) == 1:
            usable = direct
    if len(usable) > 1:
        names = ", ".join(r.name for r in usable)
        raise ConfigError(f"convert: {source} is ambiguous: domains {names} all read it and can "
                          f"write {out}; say which reads it with --from "
                          + " or --from ".join(r.name for r in usable))
    reader = usable[0]
    routes = options[reader.name]
    if len(routes) > 1:
        raise ConfigError(f"convert: several domains ({', '.join(w.name for w in routes)}) write "
                          f"{out} from {reader.name} objects; convert to a format only one writes")
    return reader, routes[0]


def _file_writers(domains: dict[str, Any], target: str) -> dict[str, Any]:
    """The domains whose write suffixes match the file ``target`` (a folder pattern aside)."""
    return {n: d for n, d in domains.items()
            if matches(tuple(w for w in d.write_suffixes if w != "<folder>"), target, reading=False)}


def _folder_writers(domains: dict[str, Any], fmt: str | None) -> dict[str, Any]:
    """The domains that write one item per file in the format ``fmt`` (default: their
    single-graph format); graphdiff's domain-free ``.jsonl`` needs graphs, not objects."""
    from graphdiff.outputs import folder_suffix

    out = {}
    for name, d in domains.items():
        if not any(w.startswith(".") for w in d.write_suffixes):
            continue
        try:
            suffix = folder_suffix(d, fmt)
        except DataError:
            continue
        if suffix.lower() in {w.lower() for w in d.write_suffixes}:
            out[name] = d
    return out


def _is_folder(out: str, to: str | None, fmt: str | None, domains: dict[str, Any]) -> bool:
    """Whether ``out`` names a folder: ``--format`` was given, it ends in ``/`` or is a
    directory, or it is a new name without a suffix that no domain writes as a file
    (``POSCAR`` is a file) and no ``--to`` names a format for."""
    from graphdiff.graphio import is_folder_target

    if fmt is not None or is_folder_target(out):
        return True
    path = Path(out)
    return (to is None and not path.suffix and not path.exists() and "://" not in out
            and not _file_writers(domains, out))


def _values(record: dict[str, Any], rid: str) -> dict[str, Any]:
    """What is stored beside a converted item: its numeric properties and, for a generated
    candidate, its candidate id and rank (:func:`graphdiff.outputs.candidate_values`)."""
    from graphdiff.outputs import candidate_values

    values = dict(record.get("props") or {})
    cid = (record.get("text") or {}).get("candidate_id")
    if cid:
        values["candidate_id"] = cid
    return candidate_values(rid, values)


def convert(source: str, out: str | Path, *, from_name: str | None = None, to: str | None = None,
            vacuum: float | None = None, cell: Any = None, strict: bool = False,
            max_items: int | None = None, format: str | None = None,
            overwrite: bool = False) -> dict[str, Any]:
    """Read ``source`` and write ``out``, as ``graphdiff convert IN OUT`` does.

    ``out`` is a file, or a folder with one file per item; pass it
    as the user typed it (a trailing ``/`` makes a folder). ``format`` is the per-file format
    of a folder (``cif``, ``poscar``, ``extxyz``, ``json``...); ``overwrite`` lets a folder that
    holds files be written into. Returns a report ``{"reader", "writer", "read", "written",
    "skipped", "converted", "files"}`` (``files``: those written).
    """
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("domains")
    domains = {name: registry.get(name) for name in registry.names()}
    out_text = os.fspath(out)
    if format is not None and to is not None:
        raise ConfigError("--to names the format of one output file, --format the format of the "
                          "files in an output folder: give one of them")
    if "://" not in source and not Path(source).exists():
        raise DataError(f"{source}: no such file or folder")
    folder = _is_folder(out_text, to, format, domains)
    out = Path(out_text)
    target = out
    if folder:
        if out.is_file():
            raise ConfigError(f"convert: {out} is a file; --format writes one file per item into a "
                              "folder: give a folder (a new name, or one ending in '/')")
        writers = _folder_writers(domains, format)
        if not writers:
            what = f"{format} files" if format is not None else "one file per item"
            raise ConfigError(f"convert: no domain writes {what} into a folder (OUT {out_text}). "
                              f"Writable: {_describe(domains, 'write_suffixes')}")
    else:
        if to is not None:
            fmt = to.strip().lower().lstrip(".")
            if not fmt:
                raise ConfigError("--to: give a format such as xyz, extxyz, cif, poscar, csv")
            suffix = "." + fmt
            if out.suffix.lower() != suffix:  # written under a name with the suffix, then renamed
                target = out.with_name(f".{out.name}.convert{os.getpid()}{suffix}")
        writers = _file_writers(domains, str(target))
        if not writers:
            raise ConfigError(f"convert: no domain writes {_suffix_of(str(target))} (OUT {out_text}). "
                              f"Writable: {_describe(domains, 'write_suffixes')}; or give --to FORMAT, "
                              "or --format FORMAT for a folder")
    reader, writer = _choose(source, out_text if folder else str(target), domains, from_name, writers)

    write_opts: dict[str, Any] = {}
    for opt, value in (("vacuum", vacuum), ("cell", cell)):
        if value is not None:
            if not _accepts(writer.write, opt):
                raise ConfigError(f"--{opt} sets the box of a molecule written as POSCAR/CIF; the "
                                  f"{writer.name!r} writer takes no {opt!r} option")
            write_opts[opt] = value

    skipped: list[dict[str, str]] = []
    records = []
    for record in reader.read(source, strict=strict, skipped=skipped):
        records.append(record)
        if max_items is not None and len(records) >= max_items:
            break
    if not records:
        detail = f": {skipped[0]['where']}: {skipped[0]['reason']}" if skipped else ""
        raise DataError(f"{source}: nothing to convert ({len(skipped)} item(s) skipped{detail})")
    objs = [r["obj"] for r in records]
    if writer is not reader:
        converted = []
        for k, (rec, obj) in enumerate(zip(records, objs)):
            try:
                converted.append(writer.convert_from(obj, reader.name))
            except DataError as exc:
                raise DataError(f"{source} item {k} (id {rec.get('id')}): cannot convert from "
                                f"{reader.name} to {writer.name}: {exc}") from exc
        objs = converted
    ids = [str(r.get("id", k)) for k, r in enumerate(records)]
    values = [_values(r, rid) for r, rid in zip(records, ids)]
    report = {"reader": reader.name, "writer": writer.name, "read": len(records), "written": len(objs),
              "skipped": skipped, "converted": writer is not reader, "unstored": set()}
    if folder:
        from graphdiff.outputs import FolderWriter

        files = FolderWriter(out, writer, fmt=format, overwrite=overwrite)
        for k, (obj, rid, vals) in enumerate(zip(objs, ids, values)):
            files.write(k, obj, rid, vals, **write_opts)
        report.update(files=[files.files[k] for k in sorted(files.files)], unstored=files.unstored)
        return report
    if _accepts(writer.write, "ids", contract=True):
        write_opts["ids"] = ids
    if any(values) and _accepts(writer.write, "extra", contract=True):
        write_opts["extra"] = values
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer.write(objs, target, **write_opts)
        if target != out:
            os.replace(target, out)
    except DataError as exc:
        if target == out:
            raise
        hint = (f" (one file per item: graphdiff convert {source} {out}/ --format "
                f"{to.strip().lower().lstrip('.')})" if len(objs) > 1 else "")
        raise DataError(str(exc).replace(str(target), str(out)) + hint) from exc
    finally:
        if target != out and target.exists() and target.is_file():
            target.unlink()
    report["files"] = [out]
    return report
