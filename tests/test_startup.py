"""Start-up imports nothing heavy: commands that need no model leave torch, torch_geometric and
pymatgen out of ``sys.modules``, and what the installed plugins register by location agrees with
what loads.

Each command runs in a fresh interpreter (this test process has torch imported already), with
every installed plugin discovered as a user's ``graphdiff`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from graphdiff.cli import cli
from graphdiff.plugins import PluginManager

HEAVY = ("torch", "torch_geometric", "pymatgen")
ENV_VARS = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS",
            "GRAPHDIFF_PREDICTORS")

# Runs `graphdiff ARGS...` in this interpreter, then reports the exit code and which of the heavy
# modules were imported, as the last line of stderr.
RUNNER = """
import json, sys
from graphdiff.cli import cli
code = 0
try:
    cli.main(args=sys.argv[1:], prog_name="graphdiff")
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (HEAVY,)

CONFIG = """\
[data]
domain = "social"
source = "graphs.jsonl"

[diffusion]
generate = ["edges"]

[model]
hidden = 16
layers = 1
"""


def _help_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """``(*path, "--help")`` for the group and every command and subcommand under it."""
    ctx = click.Context(group, info_name="graphdiff")
    out = [(*prefix, "--help")]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out.extend(_help_commands(cmd, (*prefix, name)))
        else:
            out.append((*prefix, name, "--help"))
    return out


def _commands(config: Path) -> list[tuple[str, ...]]:
    return [
        ("--version",),
        ("plugins",), ("plugins", "--json"),
        ("checkpoints",), ("checkpoints", "--json"),
        ("targets",), ("targets", "--json"), ("targets", "--domain", "crystals"),
        ("config", "validate", str(config)), ("config", "show", str(config)),
        *_help_commands(cli),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], dict]:
    """Every command of :func:`_commands`, each in its own interpreter (a few at a time)."""
    folder = tmp_path_factory.mktemp("startup")
    config = folder / "run.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    results: dict[tuple[str, ...], dict] = {}
    pending = _commands(config)
    while pending:
        batch, pending = pending[:4], pending[4:]
        procs = {args: subprocess.Popen([sys.executable, "-c", RUNNER, *args], cwd=folder, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in batch}
        for args, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            lines = err.strip().splitlines()
            report = json.loads(lines[-1]) if lines else {"code": proc.returncode, "heavy": None}
            results[args] = {**report, "stdout": out, "stderr": err}
    return results


def test_every_help_is_covered(runs: dict[tuple[str, ...], dict]) -> None:
    helps = {args for args in runs if args[-1] == "--help"}
    assert ("--help",) in helps and ("sample", "--help") in helps
    assert ("config", "validate", "--help") in helps and ("predictor", "train", "--help") in helps
    assert ("stability", "--help") in helps  # a plugin's command


@pytest.mark.parametrize("args", [("--help",), ("sample", "--help"), ("plugins", "--json")])
def test_named_commands_import_no_heavy_module(runs: dict[tuple[str, ...], dict], args: tuple[str, ...]) -> None:
    run = runs[args]
    assert run["code"] == 0, run["stderr"]
    assert run["heavy"] == [], f"graphdiff {' '.join(args)} imported {run['heavy']}"


def test_no_command_that_needs_no_model_imports_a_heavy_module(runs: dict[tuple[str, ...], dict]) -> None:
    failed = {" ".join(a): r["stderr"][-2000:] for a, r in runs.items() if r["code"] != 0}
    assert not failed, failed
    heavy = {" ".join(a): r["heavy"] for a, r in runs.items() if r["heavy"]}
    assert not heavy, f"these commands imported {', '.join(HEAVY)}: {heavy}"


def test_the_outputs_come_from_the_metadata(runs: dict[tuple[str, ...], dict]) -> None:
    """What the light commands print is what the objects would say."""
    assert "stability" in runs[("--help",)]["stdout"]
    sample_help = runs[("sample", "--help")]["stdout"]
    assert "--xrd FILE" in sample_help and "--xrd-wavelength FLOAT" in sample_help
    plugins = {p["name"]: p for p in json.loads(runs[("plugins", "--json")]["stdout"])["plugins"]}
    assert {"graphdiff", "crystals", "molecules", "social", "traffic"} <= set(plugins)
    assert all(p["errors"] == [] for p in plugins.values()), plugins
    targets = {t["name"]: t for t in json.loads(runs[("targets", "--json")]["stdout"])["targets"]}
    assert targets["crystals-density"] == {"name": "crystals-density", "domain": "crystals",
                                           "differentiable": True, "units": "g/cm^3",
                                           "description": "mass density of the crystal"}
    assert targets["perov5-heat_ref"]["differentiable"] is True
    (validate,) = [r for a, r in runs.items() if a[:2] == ("config", "validate") and a[-1] != "--help"]
    assert "OK (domain 'social')" in validate["stdout"]


def test_installed_plugins_register_what_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object registered by location imports, passes its registry's check, and has the
    description and metadata it was registered with."""
    from graphdiff.testing import assert_lazy_registrations

    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    pm = PluginManager(autoload=True, strict=True).load()
    assert pm.errors == []
    checked = {p: assert_lazy_registrations(pm, p) for p in pm.plugins}
    for plugin in ("graphdiff", "crystals", "molecules", "social", "traffic"):
        assert checked[plugin], f"{plugin} registers nothing by location"
    assert "domains:crystals" in checked["crystals"] and "targets:perov5-heat_ref" in checked["crystals"]
