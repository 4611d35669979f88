"""The CLI's foundation: `plugins`, `config validate|show`, `--version`, `--help` everywhere.

Most tests use click's CliRunner on :data:`graphdiff.cli.cli`; a few run the installed
``graphdiff`` script in a subprocess to check the real entry point and environment handling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
import torch
import yaml
from click.testing import CliRunner
from torch_geometric.data import Data

import graphdiff
from graphdiff.cli import cli
from graphdiff.domain import Domain
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.plugins import get_manager, manager as manager_module, reset_manager

DOMAIN_PLUGINS = ("crystals", "molecules", "social", "traffic")
BUILTIN_SCHEDULES = {"cosine", "linear", "polynomial", "sigmoid"}
ENV_VARS = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS")


def graphdiff_script() -> str:
    """The console script installed next to the running interpreter (the project's venv)."""
    script = Path(sys.executable).with_name("graphdiff")
    found = str(script) if script.exists() else shutil.which("graphdiff")
    assert found, "the graphdiff console script is not installed"
    return found


BAD_YAML = "data:\n  domain: rings\n  batch_size: -3\n"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real runs of the installed ``graphdiff`` script, started together (each pays for
    importing torch): name -> ``CompletedProcess``; ``"bad_file"`` is the invalid config."""
    bad = tmp_path_factory.mktemp("config") / "bad.yaml"
    bad.write_text(BAD_YAML)
    off = {"GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD": "1"}
    runs: dict[str, tuple[list[str], dict[str, str]]] = {
        "plugins_off": ([graphdiff_script(), "plugins", "--json"], off),
        "validate_bad": ([graphdiff_script(), "config", "validate", str(bad)], off),
        "version": ([graphdiff_script(), "--version"], {}),
        "module_version": ([sys.executable, "-m", "graphdiff", "--version"], {}),
        "help": ([graphdiff_script(), "--help"], {}),
    }
    clean = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    procs = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**clean, **env}) for name, (cmd, env) in runs.items()}
    done: dict[str, Any] = {"bad_file": bad}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without graphdiff env variables and without a process-wide manager."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    previous = manager_module._MANAGER
    reset_manager(None)
    yield
    reset_manager(previous)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


class RingDomain(Domain):
    """Cycle graphs whose nodes carry a colour (0, 1 or 2); objects are tuples of colours."""

    name = "rings"
    description = "coloured cycles (test domain)"

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("rings", (
            FieldSpec("colour", "categorical", "node", num_classes=3),
            FieldSpec("bond", "categorical", "edge", num_classes=2),
        ))

    def to_graph(self, obj: tuple[int, ...]) -> Data:
        n = len(obj)
        src = torch.arange(n)
        dst = (src + 1) % n
        ei = (torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]) if n > 2
              else torch.zeros(2, 0, dtype=torch.long))
        return Data(num_nodes=n, colour=torch.tensor(obj, dtype=torch.long), edge_index=ei,
                    bond=torch.ones(ei.size(1), dtype=torch.long))

    def from_graph(self, data: Data) -> tuple[int, ...]:
        return tuple(int(c) for c in data.colour)


class RingPlugin:
    @graphdiff.hookimpl
    def register_domains(self, register):
        register("rings", RingDomain())


@pytest.fixture
def rings(graphdiff_plugins) -> Any:
    """A process-wide manager with built-ins and the test domain 'rings'."""
    return graphdiff_plugins(RingPlugin())


# ---------------------------------------------------------------------------- plugins
def test_plugins_json_lists_builtin_and_domain_plugins(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}

    core = plugins["graphdiff"]
    assert core["builtin"] is True and core["distribution"] == "graphdiff"
    assert core["version"] == graphdiff.__version__
    assert BUILTIN_SCHEDULES <= set(core["registered"]["schedules"])
    assert core["errors"] == []

    for name in DOMAIN_PLUGINS:
        p = plugins[name]
        dist = f"graphdiff-{name}"
        assert p["distribution"] == dist
        assert p["version"] == metadata.version(dist)
        assert p["builtin"] is False
        assert p["module"] == f"graphdiff_{name}.plugin"
        assert set(p) == {"name", "module", "distribution", "version", "builtin", "registered", "errors"}


def test_plugins_text_listing(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"graphdiff {graphdiff.__version__} (built-in)"
    core = get_manager().plugins["graphdiff"]
    expected = [f"    {kind}: {', '.join(sorted(names))}" for kind, names in sorted(core.registered.items())]
    assert lines[1:1 + len(expected)] == expected
    schedules_line = next(line for line in expected if line.startswith("    schedules: "))
    assert BUILTIN_SCHEDULES <= set(schedules_line.split(": ", 1)[1].split(", "))
    for name in DOMAIN_PLUGINS:
        assert f"{name} {metadata.version(f'graphdiff-{name}')}  [graphdiff-{name}]" in lines


def test_plugins_shows_errors(runner: CliRunner, graphdiff_plugins) -> None:
    class Broken:
        @graphdiff.hookimpl
        def register_metrics(self, register):
            raise RuntimeError("cannot load the metric")

    with pytest.warns(RuntimeWarning):
        graphdiff_plugins(Broken())
    result = runner.invoke(cli, ["plugins"])
    assert "    ERROR: hook register_metrics raised RuntimeError: cannot load the metric" in result.stdout
    data = json.loads(runner.invoke(cli, ["plugins", "--json"]).stdout)
    (broken,) = [p for p in data["plugins"] if p["name"] == "Broken"]
    assert broken["errors"] == ["hook register_metrics raised RuntimeError: cannot load the metric"]


def test_disable_autoload_subprocess_lists_only_the_builtin(script: dict[str, Any]) -> None:
    proc = script["plugins_off"]
    assert proc.returncode == 0, proc.stderr
    (only,) = json.loads(proc.stdout)["plugins"]
    assert only["name"] == "graphdiff" and only["builtin"] is True
    assert BUILTIN_SCHEDULES <= set(only["registered"]["schedules"])


def test_allow_list_env_through_cli(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "social")
    data = json.loads(runner.invoke(cli, ["plugins", "--json"]).stdout)
    assert [p["name"] for p in data["plugins"]] == ["graphdiff", "social"]


# ---------------------------------------------------------------------------- config
GOOD = """
[data]
domain = "rings"
source = "rings.txt"
batch_size = 8

[diffusion.fields.colour]
schedule = "sigmoid"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_validate_good_file(runner: CliRunner, rings: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "run.toml", GOOD)
    result = runner.invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: OK (domain 'rings')"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (GOOD.replace("batch_size = 8", "batch_size = 0"),
         ["data.batch_size: Input should be greater than 0 (got 0)"]),
        (GOOD.replace("batch_size = 8", "batchsize = 8"), ["data.batchsize: unknown key"]),
        (GOOD.replace('domain = "rings"', 'domain = "ring"'),
         ["data.domain: unknown domain 'ring'; did you mean 'rings'?"]),
        (GOOD.replace('schedule = "sigmoid"', 'schedule = "sigmod"'),
         ["diffusion.fields.colour.schedule: unknown schedule 'sigmod'; did you mean 'sigmoid'?"]),
        (GOOD.replace("[diffusion.fields.colour]", "[diffusion.fields.color]"),
         ["diffusion.fields: 'color' is not a field of domain 'rings'", "fields: colour, bond"]),
        (GOOD + '\n[diffusion]\ngiven = ["atoms"]\n', ["diffusion.given: 'atoms' is not a field"]),
        (GOOD + '\n[model]\ndenoiser = "no-such-net"\n', ["model.denoiser: unknown denoiser 'no-such-net'"]),
        ("[data\n", ["not valid TOML"]),
    ],
)
def test_config_validate_bad_file(runner: CliRunner, rings: Any, tmp_path: Path,
                                  text: str, fragments: list[str]) -> None:
    path = write(tmp_path, "bad.toml", text)
    result = runner.invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_config_validate_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["config", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.stderr


def test_config_validate_bad_file_subprocess(script: dict[str, Any]) -> None:
    proc, path = script["validate_bad"], script["bad_file"]
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"error: {path}: data.batch_size: Input should be greater than 0 (got -3)"


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_config_show_fills_defaults(runner: CliRunner, tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, "run.yaml", "data:\n  domain: rings\n  source: rings.txt\nmodel:\n  hidden: 32\n")
    args = ["config", "show", str(path)] + ([] if fmt == "yaml" else ["--format", fmt])
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    shown = {"yaml": yaml.safe_load, "toml": tomllib.loads, "json": json.loads}[fmt](result.stdout)
    assert shown["model"]["hidden"] == 32          # from the file
    assert shown["model"]["layers"] == 4           # defaults filled in
    assert shown["training"]["lr"] == 1e-3
    assert shown["sampling"]["num_samples"] == 100
    assert shown["data"]["source"] == str(tmp_path / "rings.txt")  # resolved against the file
    assert set(shown) == {"data", "model", "diffusion", "training", "sampling"}


def test_config_show_toml_null_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "run.yaml", "data:\n  domain: rings\ntraining:\n  grad_clip: null\n")
    result = runner.invoke(cli, ["config", "show", str(path), "--format", "toml"])
    assert result.exit_code == 2
    assert "training.grad_clip" in result.stderr and "TOML has no null" in result.stderr
    assert runner.invoke(cli, ["config", "show", str(path)]).exit_code == 0


def test_config_show_bad_format_option(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "run.yaml", "data:\n  domain: rings\n")
    result = runner.invoke(cli, ["config", "show", str(path), "--format", "ini"])
    assert result.exit_code == 2 and "'ini' is not one of" in result.output


# ---------------------------------------------------------------------------- version and help
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(runner: CliRunner, flag: str) -> None:
    result = runner.invoke(cli, [flag])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"graphdiff, version {graphdiff.__version__}"


def test_version_subprocess_and_module(script: dict[str, Any]) -> None:
    for name in ("version", "module_version"):
        proc = script[name]
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"graphdiff, version {graphdiff.__version__}"


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the tree, as argument paths (the root is ``()``)."""
    paths = [path]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            paths.extend(command_paths(sub, path + (name,)))
    return paths


ALL_COMMANDS = command_paths(cli)


def test_command_tree_has_the_foundation_commands() -> None:
    assert {("plugins",), ("config",), ("config", "validate"), ("config", "show")} <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "graphdiff")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_on_every_command(runner: CliRunner, path: tuple[str, ...], flag: str) -> None:
    result = runner.invoke(cli, [*path, flag], prog_name="graphdiff")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {' '.join(('graphdiff',) + path)} ")
    command: click.Command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"`graphdiff {' '.join(path)}` has no help text"
    first = command.help.strip().splitlines()[0]
    assert first[:40] in " ".join(result.stdout.split())


def test_help_subprocess(script: dict[str, Any]) -> None:
    proc = script["help"]
    assert proc.returncode == 0
    for name in ("plugins", "config"):
        assert f"  {name} " in proc.stdout


def test_targets_lists_registered_targets_by_domain():
    res = CliRunner().invoke(cli, ["targets", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["targets"]}
    from graphdiff.plugins import get_manager

    registered = {e.name for e in get_manager().registry("targets").entries()}
    assert set(rows) == registered
    for r in rows.values():
        assert set(r) == {"name", "domain", "differentiable", "units", "description"}
    if rows:
        some = next(iter(rows.values()))
        res = CliRunner().invoke(cli, ["targets", "--domain", some["domain"]])
        assert res.exit_code == 0 and some["name"] in res.output
        assert all(r["name"] not in res.output for r in rows.values() if r["domain"] != some["domain"])
    res = CliRunner().invoke(cli, ["targets", "--domain", "no-such-domain"])
    assert res.exit_code == 2 and "--domain 'no-such-domain': no such domain (known: " in res.output
