"""``graphdiff db ...``: build, inspect and export on-disk graph databases (:mod:`graphdiff.db`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from graphdiff.cli.main import cli
from graphdiff.errors import DataError, RegistryError


@cli.group("db")
def db_group() -> None:
    """On-disk graph databases: one SQLite file of a domain's validated graphs.

    Build one from a source file once, then train or sample from it without re-reading and
    re-converting the source. See docs/database.md.
    """


@db_group.command("build")
@click.argument("source")
@click.option("--domain", "-d", "domain_name", required=True,
              help="Domain that reads SOURCE (see `graphdiff plugins`), e.g. crystals.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Database file to create, or to add SOURCE to / resume an interrupted build into.")
@click.option("--strict", is_flag=True, help="Fail on the first bad item instead of skipping and recording it.")
@click.option("--chunk", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Graphs per transaction (what an interruption can lose at most).")
@click.option("--max-items", type=click.IntRange(min=0), help="Stop after this many items (a partial build).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def db_build(source: str, domain_name: str, out: Path, strict: bool, chunk: int, max_items: int | None,
             quiet: bool) -> None:
    """Read SOURCE with a domain's reader into the database OUT.

    SOURCE is a file or folder, or a dataset a plugin ships (qm9://test). Every item is
    converted and validated; bad ones are skipped and recorded with the reason (see `graphdiff
    db info`). Running the same command again resumes an interrupted build: items already stored
    are kept, none is stored twice. Another SOURCE adds to OUT. A build that fails with nothing
    stored says so and leaves nothing to resume (a new OUT is removed); one whose every item was
    skipped fails, keeping OUT with the reasons.
    """
    from graphdiff import load_domain
    from graphdiff.data import is_dataset_uri
    from graphdiff.db import GraphDatabase

    if not is_dataset_uri(source) and not Path(source).exists():
        raise DataError(f"{source}: no such file or folder")
    try:
        domain = load_domain(domain_name)
    except RegistryError as exc:
        raise DataError(f"--domain: {exc}") from None
    report = GraphDatabase.build(domain, source, out, strict=strict, chunk=chunk, progress=not quiet,
                                 max_items=max_items)
    state = "complete" if report.complete else "partial (run again to go on)"
    click.echo(f"{out}: {report.stored} graph(s) stored, {report.already} already there, "
               f"{report.skipped} skipped, from {report.read} item(s) read in {report.seconds:.1f} s; "
               f"source {state}")
    if report.skipped:
        click.echo(f"see the skipped items with: graphdiff db info {out}")
    if report.stored == 0 and report.already == 0:
        with GraphDatabase.open(out) as database:
            empty, first = len(database) == 0, database.skipped()[:1]
        if empty:  # a database of skip reports only: say so, and fail
            raise DataError(f"{out}: nothing stored: all {report.skipped} item(s) of {source} were skipped"
                            + (f" (first: {first[0]['where']}: {first[0]['reason']})" if first else "")
                            + f"; the database keeps only why (graphdiff db info {out})")


@db_group.command("info")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--skipped", "show_skipped", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many skipped items to list (with --json: all of them are included when > 0).")
def db_info(db: Path, as_json: bool, show_skipped: int) -> None:
    """Summarise DB: domain, sources, counts, skipped items, properties and graph sizes."""
    from graphdiff.db import GraphDatabase

    with GraphDatabase.open(db) as database:
        info = database.info()
        skipped = database.skipped() if show_skipped else []
    if as_json:
        info["skipped"] = skipped
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(_format_info(info, skipped[:show_skipped]))


def _format_info(info: dict[str, Any], skipped: list[dict[str, str]]) -> str:
    lines = [f"{info['path']}: {info['num_graphs']} graph(s) of domain {info['domain']!r} "
             f"version {info['domain_version']} ({info['file_bytes'] / 2**20:.1f} MiB)",
             f"  created {info['created']}, updated {info['updated']}, graphdiff {info['graphdiff_version']}",
             "  fields: " + ", ".join(f"{f['name']} ({f['kind']}@{f['level']})" for f in info["fields"]),
             "  sources:"]
    for src, st in info["sources"].items():
        lines.append(f"    {src}: {st['graphs']} graph(s), {st['skipped']} skipped, "
                     + ("complete" if st.get("complete") else "INCOMPLETE (build again to resume)"))
    lines.append(f"  skipped: {info['num_skipped']}")
    lines += [f"    {s['where']}: {s['reason']}" for s in skipped]
    if info["num_skipped"] > len(skipped):
        lines.append(f"    ... ({info['num_skipped'] - len(skipped)} more; --json lists them all)")
    if info["properties"]:
        lines.append("  properties:        count   nan  missing         min         max        mean")
        for name, p in info["properties"].items():
            nums = " ".join(f"{v:11.4g}" if v is not None else f"{'-':>11}" for v in (p["min"], p["max"], p["mean"]))
            lines.append(f"    {name:<14} {p['count']:8d} {p['nan']:5d} {p['missing']:8d} {nums}")
    nodes = info["num_nodes"]
    if nodes["histogram"]:
        lines.append(f"  nodes per graph: min {nodes['min']}, max {nodes['max']}, mean {nodes['mean']:.2f}")
        lines += _histogram(nodes["histogram"])
    return "\n".join(lines)


def _histogram(hist: dict[int, int], bins: int = 12, width: int = 40) -> list[str]:
    """Text bars of a node-count histogram, grouped into at most ``bins`` ranges."""
    lo, hi = min(hist), max(hist)
    step = max(1, -(-(hi - lo + 1) // bins))
    groups: dict[int, int] = {}
    for n, c in hist.items():
        groups[lo + (n - lo) // step * step] = groups.get(lo + (n - lo) // step * step, 0) + c
    top = max(groups.values())
    out = []
    for start in range(lo, hi + 1, step):
        count = groups.get(start, 0)
        label = f"{start}" if step == 1 else f"{start}-{start + step - 1}"
        out.append(f"    {label:>9} {count:9d} " + "#" * max(count > 0, round(width * count / top)))
    return out


@db_group.command("export")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path),
              help="Output file: .jsonl (graph fields, any domain) or a format the domain writes (e.g. .csv, .cif).")
@click.option("--chunk", type=click.IntRange(min=1), default=1000, show_default=True, help="Graphs read per query.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def db_export(db: Path, out: Path, chunk: int, quiet: bool) -> None:
    """Write every graph of DB to OUT; the format follows OUT's suffix.

    `.jsonl` writes one graph per line (fields, edges, properties, id) for any domain. Other
    suffixes go through the installed domain's writer, which must be the version DB was built
    with.
    """
    from graphdiff.db import GraphDatabase

    with GraphDatabase.open(db) as database:
        count = database.export(out, chunk=chunk, progress=not quiet)
    click.echo(f"{out}: {count} graph(s) written")
