"""The ``graphdiff`` command line (also ``python -m graphdiff``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from graphdiff import __version__
from graphdiff.errors import GraphdiffError


class _Group(click.Group):
    """Turns graphdiff's typed errors into one clean line and exit code 2, and serves the
    commands plugins register (``register_commands``) beside the core ones; a plugin command
    named like a core command is ignored (the core one stays)."""

    def _plugin_commands(self) -> dict[str, click.Command]:
        from graphdiff.plugins import get_manager

        return {e.name: e.obj for e in get_manager().registry("commands").entries()
                if e.name not in self.commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        return cmd if cmd is not None else self._plugin_commands().get(name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except GraphdiffError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="graphdiff")
def cli() -> None:
    """Diffusion models that generate graphs: crystals, molecules, social and traffic networks.

    Domains come from plugins; `graphdiff plugins` lists what is installed.
    """


# ---------------------------------------------------------------------------- plugins
@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plugins_cmd(as_json: bool) -> None:
    """List plugins: name, version, distribution and what each registers."""
    from graphdiff.plugins import get_manager

    manager = get_manager()
    infos = manager.list_plugins()
    if as_json:
        click.echo(json.dumps({"plugins": [p.to_dict() for p in infos]}, indent=2))
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


@cli.command("targets")
@click.option("--domain", help="Only the targets of this domain.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def targets_cmd(domain: str | None, as_json: bool) -> None:
    """List registered targets: graph-level properties to condition, guide or score on.

    A target named in a run config's `diffusion.condition` is computed for every training item
    when the data has no column of that name; `graphdiff sample --target NAME=VALUE` asks for it.
    """
    from graphdiff.plugins import get_manager

    entries = [e for e in get_manager().registry("targets").entries()
               if domain is None or getattr(e.obj, "domain", None) == domain]
    rows = [{"name": e.name, "domain": getattr(e.obj, "domain", None),
             "differentiable": bool(getattr(e.obj, "differentiable", False)),
             "units": getattr(e.obj, "units", ""), "description": getattr(e.obj, "description", "") or e.description}
            for e in entries]
    refs = [{"name": e.name, "domain": e.obj.domain, "option": f"--{e.obj.name}",
             "similarity": e.obj.similarity_description, "condition_columns": len(e.obj.columns),
             "description": e.obj.description}
            for e in get_manager().registry("references").entries()
            if domain is None or e.obj.domain == domain]
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
    try:
        domain = manager.get("domains", cfg.data.domain)
    except RegistryError as exc:
        raise ConfigError(f"{file}: data.domain: {exc}") from None
    spec = domain.spec
    for key in ("given", "generate", "fields"):
        names = getattr(cfg.diffusion, key) or []
        for name in names:
            if name not in spec:
                raise ConfigError(f"{file}: diffusion.{key}: {name!r} is not a field of domain "
                                  f"{spec.name!r} (fields: {', '.join(spec.names)})")
    for fname, fcfg in cfg.diffusion.fields.items():
        try:
            manager.get("schedules", fcfg.schedule)
        except RegistryError as exc:
            raise ConfigError(f"{file}: diffusion.fields.{fname}.schedule: {exc}") from None
    if cfg.model.denoiser != "auto":
        try:
            manager.get("denoisers", cfg.model.denoiser)
        except RegistryError as exc:
            raise ConfigError(f"{file}: model.denoiser: {exc}") from None
    if cfg.diffusion.constraint is not None:
        try:
            manager.get("constraints", cfg.diffusion.constraint)
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
