"""The ``graphdiff`` command line (also ``python -m graphdiff``)."""

from __future__ import annotations

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
        try:
            return super().invoke(ctx)
        except GraphdiffError as exc:
            if os.environ.get("GRAPHDIFF_DEBUG", "").strip() not in ("", "0"):
                import traceback

                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


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
        click.echo(json.dumps({"plugins": [p.to_dict() for p in infos]}, indent=2))
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

    domains = get_manager().registry("domains").names()
    if domain is not None and domain not in domains:
        raise ConfigError(f"--domain {domain!r}: no such domain (installed: {', '.join(sorted(domains)) or 'none'})")
    # read from the registrations' metadata: the targets' modules are not imported
    target_facts = [_facts(e, domain=None, differentiable=False, units="", description="")
                    for e in get_manager().registry("targets").entries()]
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
    from graphdiff.config import load_config

    cfg = load_config(file)
    _check_names(cfg, file)
    click.echo(f"{file}: OK (domain {cfg.data.domain!r})")


@config_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "toml", "json"]), default="yaml",
              show_default=True, help="Output format.")
def config_show(file: Path, fmt: str) -> None:
    """Print FILE with every default filled in."""
    from graphdiff.config import dump_config, load_config

    click.echo(dump_config(load_config(file), fmt))  # type: ignore[arg-type]


def _check_names(cfg, file: Path) -> None:
    """Check the registered names a config refers to (domain, schedules, denoiser, fields, constraint)."""
    from graphdiff.errors import ConfigError, RegistryError
    from graphdiff.plugins import get_manager

    manager = get_manager()
    # names are checked against the registries and fields against the domain's metadata, so
    # that nothing is imported (a domain registered without ``fields`` metadata is loaded)
    try:
        entry = manager.registry("domains").entry(cfg.data.domain)
    except RegistryError as exc:
        raise ConfigError(f"{file}: data.domain: {exc}") from None
    fields = list(entry.metadata["fields"]) if "fields" in entry.metadata else list(entry.obj.spec.names)
    for key in ("given", "generate", "fields"):
        names = getattr(cfg.diffusion, key) or []
        for name in names:
            if name not in fields:
                raise ConfigError(f"{file}: diffusion.{key}: {name!r} is not a field of domain "
                                  f"{cfg.data.domain!r} (fields: {', '.join(fields)})")
    for fname, fcfg in cfg.diffusion.fields.items():
        try:
            manager.registry("schedules").entry(fcfg.schedule)
        except RegistryError as exc:
            raise ConfigError(f"{file}: diffusion.fields.{fname}.schedule: {exc}") from None
    if cfg.model.denoiser != "auto":
        try:
            manager.registry("denoisers").entry(cfg.model.denoiser)
        except RegistryError as exc:
            raise ConfigError(f"{file}: model.denoiser: {exc}") from None
    if cfg.diffusion.constraint is not None:
        try:
            manager.registry("constraints").entry(cfg.diffusion.constraint)
        except RegistryError as exc:
            raise ConfigError(f"{file}: diffusion.constraint: {exc}") from None


from graphdiff import cli_engine  # noqa: E402,F401  (registers the engine commands)
from graphdiff import cli_db  # noqa: E402,F401
from graphdiff import cli_convert  # noqa: E402,F401
from graphdiff import cli_predict  # noqa: E402,F401


def main() -> None:
    cli(prog_name="graphdiff")


if __name__ == "__main__":
    main()
