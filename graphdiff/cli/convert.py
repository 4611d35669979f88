"""``graphdiff convert IN OUT``: the command over :func:`graphdiff.conversion.convert`."""

from __future__ import annotations

from pathlib import Path

import click

from graphdiff.cli.main import cli
from graphdiff.conversion import convert, matches, parse_cell

__all__ = ["convert_cmd", "convert", "matches", "parse_cell"]


@cli.command("convert")
@click.argument("source", metavar="IN")
@click.argument("out", metavar="OUT")
@click.option("--from", "from_name", metavar="DOMAIN",
              help="Domain that reads IN (default: the one whose read suffixes match IN).")
@click.option("--to", "to", metavar="FORMAT",
              help="Output format (a suffix such as xyz, extxyz, cif, poscar, csv) when OUT's name "
                   "does not say it.")
@click.option("--format", "fmt", metavar="FORMAT",
              help="OUT is a folder with one file per item in this format: cif, poscar, extxyz, "
                   "json (crystals); xyz, sdf... (molecules); graphml, gml, json (graphs) "
                   "[default for a folder: the domain's own, e.g. cif, xyz, graphml].")
@click.option("--overwrite", is_flag=True,
              help="Write into an output folder that already holds files (files of the same name "
                   "are replaced; others are left as they are).")
@click.option("--vacuum", type=float,
              help="Molecule -> POSCAR/CIF: Å of vacuum around the molecule in a cubic box "
                   "[the writer's default: 10].")
@click.option("--cell", help="Molecule -> POSCAR/CIF: the box, one side, three lengths or nine "
                             "numbers (Å); overrides --vacuum.")
@click.option("--max", "max_items", type=click.IntRange(min=1), help="Convert at most N items.")
@click.option("--strict", is_flag=True, help="Fail on the first bad item instead of skipping it.")
def convert_cmd(source: str, out: str, from_name: str | None, to: str | None, fmt: str | None,
                overwrite: bool, vacuum: float | None, cell: str | None, max_items: int | None,
                strict: bool) -> None:
    """Convert IN to OUT between the formats the installed domains read and write.

    IN is read by the domain whose read suffixes match it (or --from DOMAIN) and OUT written by
    the domain whose write suffixes match it: the same domain when it writes that format, else
    one that converts the reader's objects (molecules convert crystals: a POSCAR holding a
    molecule becomes XYZ; a periodic crystal is refused, since XYZ holds no lattice: write
    .extxyz). OUT ending in '/', an existing folder, a new name without a suffix, or --format,
    gives a folder with one file per item, named from its id (crystals: ID_FORMULA.cif,
    ID_FORMULA_RANK.cif for generated candidates); a folder that holds files needs --overwrite.
    Examples:

    \b
      graphdiff convert water.xyz POSCAR --vacuum 8      # molecule in a box
      graphdiff convert POSCAR water.xyz                 # and back (crystals -> molecules)
      graphdiff convert NaCl.cif NaCl.vasp               # crystals
      graphdiff convert gen.csv gen/ --format poscar     # a folder of POSCARs (.vasp)
      graphdiff convert qm9://test qm9_test.extxyz       # QM9 (molecules plugin)
    """
    report = convert(source, out, from_name=from_name, to=to, vacuum=vacuum, cell=parse_cell(cell),
                     strict=strict, max_items=max_items, format=fmt, overwrite=overwrite)
    for item in report["skipped"][:5]:
        click.echo(f"skipped {item['where']}: {item['reason']}", err=True)
    if len(report["skipped"]) > 5:
        click.echo(f"... and {len(report['skipped']) - 5} more skipped", err=True)
    via = (f"{report['reader']} -> {report['writer']}" if report["converted"] else report["reader"])
    where = out
    files = report["files"]
    if files and files[0] != Path(out):
        folder = str(files[0].parent)
        where = f"{folder}/ ({files[0].name}" + (f" .. {files[-1].name})" if len(files) > 1 else ")")
    click.echo(f"converted {report['written']} item(s) from {source} to {where} ({via}"
               + (f"; {len(report['skipped'])} skipped" if report["skipped"] else "") + ")")
    if report["unstored"]:
        click.echo(f"note: the files hold the items only; not stored: {', '.join(sorted(report['unstored']))}",
                   err=True)
