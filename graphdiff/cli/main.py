"""The ``graphdiff`` command group, its error handling and the commands that need no model
(``plugins``, ``targets``, ``config``)."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from click.utils import make_default_short_help

from graphdiff import __version__
from graphdiff.errors import ConfigError, GraphdiffError


class _Group(click.Group):
    """Turns graphdiff's typed errors into one clean line and exit code 2, and serves the
    commands plugins register (``register_commands``) beside the core ones; a plugin command
    named like a core command is ignored (the core one stays). A plugin command is imported
    only when it runs (or shows its own help): the command list shows its registered
    description."""

    def _plugin_commands(self) -> dict[str, Any]:
        """The plugin commands' registry entries, by name (their objects not loaded)."""
        from graphdiff.plugins import get_manager

        return {e.name: e for e in get_manager().registry("commands").entries() if e.name not in self.commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        entry = self._plugin_commands().get(name)
        return None if entry is None else entry.obj

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        plugin = self._plugin_commands()
        rows: list[tuple[str, Any]] = []
        for name in self.list_commands(ctx):
            if name in plugin and not plugin[name].loaded:
                rows.append((name, plugin[name].description))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, make_default_short_help(what, limit) if isinstance(what, str)
                                 else what.get_short_help_str(limit)) for name, what in rows])

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        """Run the command. A graphdiff error, and a file the system refuses (a folder where a
        file is expected, no permission, a full disk), end in one line ``error: ...`` and exit
        status 2; Ctrl-C in ``error: interrupted`` and 130. Warnings print as ``warning: ...``
        lines. With ``--debug`` (``GRAPHDIFF_DEBUG=1``) the traceback and Python's own warning
        format are kept."""
        import warnings

        with warnings.catch_warnings():
            if not _debug_on():
                warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except GraphdiffError as exc:
                _fail(str(exc))
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    raise  # output piped into `head`: click exits quietly
                _fail(_os_error_message(exc))
            except KeyboardInterrupt:
                _fail("interrupted", status=130)
            except Exception as exc:
                message = _validation_message(exc)
                if message is None:
                    raise
                _fail(message)


def _fail(message: str, status: int = 2) -> None:
    """Print ``error: message`` (after the traceback in debug mode) and exit with ``status``."""
    if _debug_on():
        import traceback

        traceback.print_exc()
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def _validation_message(exc: Exception) -> str | None:
    """The fields and reasons of a pydantic ``ValidationError`` (a value given on the command
    line that a config field refuses, e.g. ``train --max-steps -1``), else ``None``."""
    if type(exc).__name__ != "ValidationError" or not type(exc).__module__.startswith("pydantic"):
        return None
    from graphdiff.config import format_errors

    title = str(getattr(exc, "title", "") or "")
    section = title[:-len("Config")].lower() if title.endswith("Config") and title != "RunConfig" else ""
    prefix = f"{section}." if section else ""
    lines = format_errors(exc, "").splitlines()  # type: ignore[arg-type]  # ": <field>: <reason>"
    return "; ".join(prefix + line[2:] for line in lines)


def _os_error_message(exc: OSError) -> str:
    """``<path>: <reason>`` for an error the system raised, in the words of the case at hand."""
    name = exc.filename
    if name is None:
        return str(exc.strerror or exc)
    path = Path(os.fsdecode(name))
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and path.is_file():
        reason = "is a file, not a folder"
    elif exc.errno == errno.EISDIR:
        reason = "is a folder, not a file"
    else:
        reason = exc.strerror or str(exc)
    return f"{path}: {reason}" + (f" ({exc.filename2})" if exc.filename2 else "")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """``warnings.showwarning`` for the command line: one ``warning: ...`` line on stderr."""
    click.echo(f"warning: {message}", err=True)


def _debug_on() -> bool:
    """Whether tracebacks are wanted (``--debug`` or ``GRAPHDIFF_DEBUG``)."""
    return os.environ.get("GRAPHDIFF_DEBUG", "").strip() not in ("", "0")


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ["GRAPHDIFF_DEBUG"] = "1"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="graphdiff")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_debug,
              help="Show the full traceback of an error (for bug reports; also GRAPHDIFF_DEBUG=1).")
def cli() -> None:
    """Diffusion models that generate graphs: crystals, molecules, social and traffic networks.

    Domains come from plugins; `graphdiff plugins` lists what is installed.
    """


# ---------------------------------------------------------------------------- plugins
@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--check", is_flag=True,
              help="Also import everything the plugins register by location (as first use would) and "
                   "report what fails to load; exit status 1 when something does.")
def plugins_cmd(as_json: bool, check: bool) -> None:
    """List plugins: name, version, distribution and what each registers."""
    from graphdiff.plugins import get_manager

    manager = get_manager()
    infos = manager.list_plugins()
    failures = manager.check() if check else []
    if as_json:
        click.echo(json.dumps({"plugins": [p.to_dict(tracebacks=_debug_on()) for p in infos]}, indent=2))
        if failures:
            sys.exit(1)
        return
    for p in infos:
        head = f"{p.name} {p.version or '?'}"
        head += " (built-in)" if p.builtin else f"  [{p.distribution or 'no distribution'}]"
        click.echo(head)
        for kind, names in sorted(p.registered.items()):
            if names:
                click.echo(f"    {kind}: {', '.join(sorted(names))}")
        for err in p.errors:
            click.echo(f"    ERROR: {err}")
            if err in p.tracebacks and _debug_on():
                click.echo("".join(f"        {line}\n" for line in p.tracebacks[err].rstrip().splitlines()),
                           nl=False)
    if any(set(p.tracebacks) & set(p.errors) for p in infos) and not _debug_on():
        click.echo("(run `graphdiff --debug plugins` or set GRAPHDIFF_DEBUG=1 to see the tracebacks)", err=True)
    if failures:
        sys.exit(1)


@cli.command("targets")
@click.option("--domain", help="Only the targets of this domain.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def targets_cmd(domain: str | None, as_json: bool) -> None:
    """List registered targets: graph-level properties to condition, guide or score on.

    A target named in a run config's `diffusion.condition` is computed for every training item
    when the data has no column of that name; `graphdiff sample --target NAME=VALUE` asks for it.
    """
    from graphdiff.plugins import get_manager

    # read from the registrations' metadata: the targets' modules are not imported
    target_facts = [_facts(e, domain=None, differentiable=False, units="", description="")
                    for e in get_manager().registry("targets").entries()]
    known = set(get_manager().registry("domains").names()) | {f["domain"] for f in target_facts if f["domain"]}
    if domain is not None and domain not in known:
        raise ConfigError(f"--domain {domain!r}: no such domain (known: {', '.join(sorted(known)) or 'none'})")
    rows = [{"name": f["name"], "domain": f["domain"], "differentiable": bool(f["differentiable"]),
             "units": f["units"] or "", "description": f["description"]}
            for f in target_facts if domain is None or f["domain"] == domain]
    ref_facts = [_facts(e, domain=None, similarity_description="", columns=(), description="")
                 for e in get_manager().registry("references").entries()]
    refs = [{"name": f["name"], "domain": f["domain"], "option": f"--{f['name']}",
             "similarity": f["similarity_description"], "condition_columns": len(f["columns"] or ()),
             "description": f["description"]}
            for f in ref_facts if domain is None or f["domain"] == domain]
    if as_json:
        click.echo(json.dumps({"targets": rows, "references": refs}, indent=2))
        return
    if not rows:
        click.echo("no targets registered" + (f" for domain {domain!r}" if domain else ""))
    for r in rows:
        flags = " (differentiable)" if r["differentiable"] else ""
        units = f" [{r['units']}]" if r["units"] else ""
        click.echo(f"{r['name']}  {r['domain']}{flags}: {r['description']}{units}")
    if refs:
        click.echo("\nreferences (graphdiff sample --input ITEMS --<name> FILE: candidates ranked by similarity):")
    for r in refs:
        click.echo(f"{r['name']}  {r['domain']} ({r['option']}): {r['description']} Similarity: "
                   f"{r['similarity']}.")


def _facts(entry: Any, **defaults: Any) -> dict[str, Any]:
    """``{"name", **facts}`` of a registry entry for a listing: each from the registration's
    metadata, else from the object (loading it); the registered description comes first. An
    object that fails to load is listed with what its registration says (the defaults for the
    rest) and a warning on stderr naming the plugin."""
    from graphdiff.errors import LazyLoadError

    out: dict[str, Any] = {"name": entry.name}
    for key, default in defaults.items():
        if key == "description" and entry.description:
            out[key] = entry.description
            continue
        try:
            out[key] = entry.meta(key, default)
        except LazyLoadError as exc:
            click.echo(f"warning: {exc}", err=True)
            out.update({k: entry.meta(k, d, load=False) for k, d in defaults.items() if k not in out})
            if entry.description:
                out["description"] = entry.description
            break
    return out


# ---------------------------------------------------------------------------- config
@cli.group("config")
def config_group() -> None:
    """Validate and show run configurations (TOML, YAML or JSON)."""


@config_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_validate(file: Path) -> None:
    """Check FILE; print each error with the file and field it concerns."""
    from graphdiff.config import check_registered_names, load_config

    cfg = load_config(file)
    check_registered_names(cfg, file)
    _check_conditions(cfg, file)
    click.echo(f"{file}: OK (domain {cfg.data.domain!r})")


@config_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "toml", "json"]), default="yaml",
              show_default=True, help="Output format.")
def config_show(file: Path, fmt: str) -> None:
    """Print FILE with every default filled in."""
    from graphdiff.config import dump_config, load_config

    click.echo(dump_config(load_config(file), fmt))  # type: ignore[arg-type]


def check_names(cfg, file: Path) -> None:
    """:func:`graphdiff.config.check_registered_names`, under the name ``train``
    (:mod:`graphdiff.cli.engine`) imports."""
    from graphdiff.config import check_registered_names

    check_registered_names(cfg, file)


def _check_conditions(cfg, file: Path) -> None:
    """What ``train`` checks of ``diffusion.condition`` and the data sources, without reading
    the data: each condition must be a registered target of the domain (computed from every
    item) or a property the data holds: a column of a CSV source's header, a property of a
    graph database source. Sources that are missing, and conditions that only reading another
    kind of source can settle, are warnings on stderr (the data may live on another machine)."""
    from graphdiff.plugins import get_manager

    data = cfg.data
    sources = [(key, getattr(data, key)) for key in ("train_source", "val_source", "source")
               if getattr(data, key)]
    if data.train_source:  # source is then unused
        sources = [(k, v) for k, v in sources if k != "source"]
    for key, src in sources:
        if "://" not in src and not Path(src).exists():
            click.echo(f"warning: {file}: data.{key}: {src}: no such file or folder (train reads it)", err=True)
    if not cfg.diffusion.condition:
        return
    domain = cfg.data.domain
    targets = []
    for entry in get_manager().registry("targets").entries():
        owner = entry.meta("domain", None, load=False)
        if owner in (None, domain):
            targets.append(entry.name)
    key, src = next(((k, v) for k, v in sources if k != "val_source"), ("source", None))
    columns, what = _source_properties(src)
    import difflib

    listing = f"`graphdiff targets --domain {domain}` lists its targets"
    for name in cfg.diffusion.condition:
        if name in targets or (columns is not None and name in columns):
            continue
        close = difflib.get_close_matches(name, [*(columns or []), *targets], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if columns is not None:
            raise ConfigError(f"{file}: diffusion.condition: {name!r} is neither {what} of data.{key} "
                              f"({src}: {', '.join(columns) or 'none'}) nor a registered target of domain "
                              f"{domain!r}{hint} ({listing})")
        if src is None or not Path(src).exists() or "://" in src:
            continue  # no data to look at: the missing source is already warned about
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        click.echo(f"warning: {file}: diffusion.condition: {name!r} is not a registered target of domain "
                   f"{domain!r}{hint}: train checks that every item of data.{key} ({src}) holds it ({listing})",
                   err=True)


def _source_properties(src: str | None) -> tuple[list[str] | None, str]:
    """``(names, what)``: the property names a source holds where they can be read without
    converting it (a CSV's header, a graph database's property columns), else ``None``."""
    if src is None or "://" in src:
        return None, ""
    path = Path(src)
    if not path.is_file():
        return None, ""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import csv

        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            return None, ""
        return [h for h in header if h.strip()], "a column"
    if suffix in (".db", ".sqlite", ".sqlite3"):
        import sqlite3

        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute("PRAGMA table_info(graphs)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return None, ""
        if not rows:  # not a graph database (e.g. an ASE database a domain reads)
            return None, ""
        return [r[1][2:] for r in rows if r[1].startswith("p_")], "a property"
    return None, ""


def main() -> None:
    cli(prog_name="graphdiff")
